//! Server settings: defaults, then the `[server]` table of a TOML file, then environment
//! variables `NUMERUS_<SETTING>` (e.g. `NUMERUS_MAX_UPLOAD_BYTES=1000000`).
//!
//! ```toml
//! [server]
//! addr = "127.0.0.1:5000"          # where to listen
//! public_url = "http://HOST:5000"  # how clients reach it (signed links use it); default http://ADDR
//! signed_url_seconds = 3600        # how long download and upload links live
//! max_upload_bytes = 104857600     # the largest upload (PUT) accepted: 100 MiB
//! max_request_bytes = 1048576      # the largest GraphQL request body: 1 MiB
//! requests_per_second = 50         # per client address; 0 turns the limit off
//! request_burst = 200              # requests a client may make at once before the rate applies
//! max_query_depth = 8              # deepest nesting of a GraphQL query
//! tick_seconds = 1.0               # how often (real seconds) the scheduler looks for due work
//! ```

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Server settings (see the module docs for each one's meaning and default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Config {
    pub addr: SocketAddr,
    pub public_url: Option<String>,
    pub signed_url_seconds: u64,
    pub max_upload_bytes: u64,
    pub max_request_bytes: usize,
    pub requests_per_second: u32,
    pub request_burst: u32,
    pub max_query_depth: usize,
    pub tick_seconds: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 5000)),
            public_url: None,
            signed_url_seconds: 3600,
            max_upload_bytes: 100 * 1024 * 1024,
            max_request_bytes: 1024 * 1024,
            requests_per_second: 50,
            request_burst: 200,
            max_query_depth: 8,
            tick_seconds: 1.0,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    server: Config,
}

impl Config {
    /// The `[server]` table of a TOML text over the defaults (other tables are ignored).
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str::<File>(text)
            .map(|file| file.server)
            .map_err(|error| error.to_string())
    }

    /// Applies `NUMERUS_<SETTING>` variables from `environment`.
    ///
    /// # Errors
    /// A message naming the variable that does not parse.
    pub fn with_environment(
        mut self,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            value
                .trim()
                .parse()
                .map_err(|error| format!("{name}={value:?}: {error}"))
        }
        for (name, value) in environment {
            let Some(setting) = name.strip_prefix("NUMERUS_") else {
                continue;
            };
            match setting {
                "ADDR" => self.addr = parse(&name, &value)?,
                "PUBLIC_URL" => self.public_url = Some(value.trim_end_matches('/').to_owned()),
                "SIGNED_URL_SECONDS" => self.signed_url_seconds = parse(&name, &value)?,
                "MAX_UPLOAD_BYTES" => self.max_upload_bytes = parse(&name, &value)?,
                "MAX_REQUEST_BYTES" => self.max_request_bytes = parse(&name, &value)?,
                "REQUESTS_PER_SECOND" => self.requests_per_second = parse(&name, &value)?,
                "REQUEST_BURST" => self.request_burst = parse(&name, &value)?,
                "MAX_QUERY_DEPTH" => self.max_query_depth = parse(&name, &value)?,
                "TICK_SECONDS" => self.tick_seconds = parse(&name, &value)?,
                _ => {}
            }
        }
        Ok(self)
    }

    /// The URL clients reach the server at.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_the_defaults() {
        let config = Config::from_toml(
            "[server]\nsigned_url_seconds = 60\nrequests_per_second = 5\n[clock]\nkind = \"wall\"\n",
        )
        .unwrap();
        assert_eq!(config.signed_url_seconds, 60);
        assert_eq!(config.max_upload_bytes, Config::default().max_upload_bytes);
        let config = config
            .with_environment([
                ("NUMERUS_REQUESTS_PER_SECOND".to_owned(), "0".to_owned()),
                ("HOME".to_owned(), "/root".to_owned()),
            ])
            .unwrap();
        assert_eq!(config.requests_per_second, 0);
        assert_eq!(config.signed_url_seconds, 60);
    }

    #[test]
    fn a_bad_setting_is_named() {
        let error = Config::from_toml("[server]\nmax_upload_bytes = \"big\"\n").unwrap_err();
        assert!(error.contains("max_upload_bytes"), "{error}");
        let error = Config::from_toml("[server]\nmax_uplod_bytes = 5\n").unwrap_err();
        assert!(error.contains("max_uplod_bytes"), "{error}");
        let error = Config::default()
            .with_environment([("NUMERUS_SIGNED_URL_SECONDS".to_owned(), "soon".to_owned())])
            .unwrap_err();
        assert!(error.contains("NUMERUS_SIGNED_URL_SECONDS"), "{error}");
    }
}
