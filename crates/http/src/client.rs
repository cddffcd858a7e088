//! A small blocking client of the API, speaking exactly what numerapi sends: the demo's
//! built-in participants and the upload load generator use it, so they exercise the same
//! public paths as any participant's script.

use serde_json::{Value, json};

/// A client of one server, with or without a key.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
    authorization: Option<String>,
}

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error message.
    #[error("{0}")]
    Api(String),
    /// The transport or the server failed.
    #[error("http: {0}")]
    Http(String),
}

fn http(error: impl std::fmt::Display) -> ClientError {
    ClientError::Http(error.to_string())
}

impl Client {
    /// A client of the server at `base` (`http://HOST:PORT`), with key `(public, secret)`.
    pub fn new(base: &str, key: Option<(&str, &str)>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent,
            authorization: key.map(|(public, secret)| format!("Token {public}${secret}")),
        }
    }

    /// Runs a GraphQL document; returns its `data`.
    ///
    /// # Errors
    /// [`ClientError::Api`] with the server's last message, as numerapi raises it.
    pub fn query(&self, query: &str, variables: Value) -> Result<Value, ClientError> {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let mut request = self
            .agent
            .post(&self.base)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.send(body.as_bytes()).map_err(http)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(http)?;
        if status != 200 {
            return Err(ClientError::Http(format!("status {status}: {text}")));
        }
        let mut value: Value = serde_json::from_str(&text).map_err(http)?;
        if let Some(errors) = value.get("errors").and_then(Value::as_array) {
            let message = errors
                .last()
                .and_then(|error| error["message"].as_str())
                .unwrap_or("unknown error");
            return Err(ClientError::Api(message.to_owned()));
        }
        Ok(value["data"].take())
    }

    /// GETs a (signed) URL's bytes.
    ///
    /// # Errors
    /// [`ClientError::Http`] for any status but 200.
    pub fn download(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        let mut response = self.agent.get(url).call().map_err(http)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(http)?;
        if status != 200 {
            return Err(ClientError::Http(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        Ok(bytes)
    }

    /// Downloads dataset `filename` (`v1/train.parquet`) of the current round.
    ///
    /// # Errors
    /// The API's or the transport's.
    pub fn download_dataset(&self, filename: &str) -> Result<Vec<u8>, ClientError> {
        let data = self.query(
            "query ($filename: String! $round: Int $tournament: Int) { dataset(filename: $filename round: $round tournament: $tournament) }",
            json!({ "filename": filename, "round": null, "tournament": 8 }),
        )?;
        let url = data["dataset"].as_str().ok_or_else(|| http("no url"))?;
        self.download(url)
    }

    /// Uploads predictions as numerapi does: upload auth, PUT, create; returns the id.
    ///
    /// # Errors
    /// The API's (an invalid file, a closed round) or the transport's.
    pub fn upload_predictions(
        &self,
        model_id: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Result<String, ClientError> {
        let auth = self.query(
            "query($filename: String! $tournament: Int! $modelId: String) { submission_upload_auth(filename: $filename tournament: $tournament modelId: $modelId) { filename url } }",
            json!({ "filename": filename, "tournament": 8, "modelId": model_id }),
        )?;
        let auth = &auth["submission_upload_auth"];
        let url = auth["url"].as_str().ok_or_else(|| http("no upload url"))?;
        let key = auth["filename"]
            .as_str()
            .ok_or_else(|| http("no upload key"))?;
        let mut response = self.agent.put(url).send(bytes).map_err(http)?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            return Err(ClientError::Http(format!("PUT status {status}: {text}")));
        }
        let created = self.query(
            "mutation($filename: String! $tournament: Int! $modelId: String $triggerId: String, $dataDatestamp: Int) { create_submission(filename: $filename tournament: $tournament modelId: $modelId triggerId: $triggerId source: \"numerapi\" dataDatestamp: $dataDatestamp) { id } }",
            json!({ "filename": key, "tournament": 8, "modelId": model_id, "triggerId": null, "dataDatestamp": null }),
        )?;
        created["create_submission"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| http("no submission id"))
    }

    /// Changes a stake as numerapi's `stake_increase` / `stake_decrease` do.
    ///
    /// # Errors
    /// The API's.
    pub fn change_stake(
        &self,
        model_id: &str,
        kind: &str,
        nmr: &str,
    ) -> Result<Value, ClientError> {
        self.query(
            "mutation($value: String! $type: String! $tournamentNumber: Int! $modelId: String) { v2ChangeStake(value: $value type: $type modelId: $modelId tournamentNumber: $tournamentNumber) { dueDate requestedAmount status type } }",
            json!({ "value": nmr, "type": kind, "modelId": model_id, "tournamentNumber": 8 }),
        )
    }

    /// The current round's number and whether it takes submissions (numerapi's
    /// `check_round_open` and `get_current_round`).
    ///
    /// # Errors
    /// The API's.
    pub fn current_round(&self) -> Result<(u64, String), ClientError> {
        let data = self.query(
            "query($tournament: Int!) { rounds(tournament: $tournament number: 0) { number status } }",
            json!({ "tournament": 8 }),
        )?;
        let round = &data["rounds"][0];
        Ok((
            round["number"].as_u64().unwrap_or(0),
            round["status"].as_str().unwrap_or("").to_owned(),
        ))
    }
}
