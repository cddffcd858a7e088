//! What the server tests and the upload benchmark share: a market that makes live files only
//! (the given ids, one feature; no targets — enough for uploads), and a server started on a
//! runtime with its tournament clock standing still.

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use numerus_app::market::Market;
use numerus_app::{Error, Service};
use numerus_frames::{Column, Table, Values, write_table};
use numerus_http::files::Files;
use numerus_http::signing::Signer;
use numerus_http::{Clock, Config, Shared};
use numerus_store_sqlite::SqliteStore;

/// Serves `service` over data directory `dir` on a loopback port of `runtime`, the tournament
/// clock standing at `now` (a day lasts a trillion real seconds); returns the base URL, and
/// the sender that stops the server and the task to await.
pub fn serve_locally(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    service: Service<SqliteStore>,
    market: LiveOnly,
    now: Timestamp,
    config: Config,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let objects = object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap();
    let files = Files::new(
        Arc::new(objects),
        dir,
        Signer::new([5; 32], config.signed_url_seconds),
        base.clone(),
        runtime.handle().clone(),
        [6; 32],
    );
    let clock = Clock::Fast {
        real_start: Timestamp::now(),
        simulated_start: now,
        day_seconds: 1e12,
    };
    let shared = Arc::new(Shared::new(service, Box::new(market), clock, files, config));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = runtime.spawn(numerus_http::serve(shared, listener, async {
        let _ = stopped.await;
    }));
    (base, stop, task)
}

/// Live files for every date up to `through`; no targets.
pub struct LiveOnly {
    /// The live ids, in file order.
    pub ids: Vec<String>,
    /// The last date with data.
    pub through: Date,
}

impl Market for LiveOnly {
    fn available_through(&self) -> Option<Date> {
        Some(self.through)
    }

    fn live(&self, date: Date, dir: &Path) -> Result<(), Error> {
        let rows = self.ids.len();
        let text = |values: Vec<String>| Values::Text(values);
        let live = Table {
            columns: vec![
                Column {
                    name: "id".into(),
                    values: text(self.ids.clone()),
                },
                Column {
                    name: "era".into(),
                    values: text(vec![date.to_string(); rows]),
                },
                Column {
                    name: "data_type".into(),
                    values: text(vec!["live".into(); rows]),
                },
                Column {
                    name: "feature_a".into(),
                    values: Values::Number((0..rows).map(|row| (row % 5) as f64).collect()),
                },
            ],
        };
        let preds = Table {
            columns: vec![
                Column {
                    name: "id".into(),
                    values: text(self.ids.clone()),
                },
                Column {
                    name: "prediction".into(),
                    values: Values::Number(
                        (0..rows).map(|r| (r as f64 + 0.5) / rows as f64).collect(),
                    ),
                },
            ],
        };
        write_table(&dir.join("live.parquet"), &live)?;
        write_table(&dir.join("live_example_preds.parquet"), &preds)?;
        Ok(())
    }

    fn targets(&self, _: Date, _: &Path) -> Result<(), Error> {
        Err(Error::Market("this market has no targets".into()))
    }
}
