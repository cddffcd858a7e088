//! The server over real HTTP on loopback, SQLite and a data directory, with a market that
//! makes live files only: uploads, signed links, limits, authorization, pages and metrics.
//! (numerapi itself drives the server in `scripts/api-e2e`.)

use std::path::PathBuf;

use jiff::SignedDuration;
use numerus_app::{Definition, Service};
use numerus_http::Config;
use numerus_http::client::{Client, ClientError};
use numerus_store_sqlite::SqliteStore;
use serde_json::{Value, json};

const ROWS: usize = 200;

mod support;
use support::{LiveOnly, serve_locally};

struct Server {
    base: String,
    dir: PathBuf,
    alice: (String, String),
    bob: (String, String),
    alice_model: u64,
    bob_model: u64,
    ids: Vec<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where the tournament clock stands, relative to the first round.
enum At {
    /// One minute into the first round's window.
    Open,
    /// In the second round's window, but the market has no data for it yet.
    NextRoundWithoutData,
}

fn start(name: &str, at: At, config: Config) -> Server {
    let dir = std::env::temp_dir().join(format!("numerus-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let definition = Definition::classic();
    let store = SqliteStore::open(&dir.join("numerus.sqlite")).unwrap();
    let mut service = Service::new(definition.clone(), store, &dir).unwrap();
    let first = service
        .calendar()
        .round(definition.calendar.anchor.number)
        .unwrap();
    let second = service
        .calendar()
        .round(definition.calendar.anchor.number + 1)
        .unwrap();
    let ids: Vec<String> = (0..ROWS).map(|row| format!("n{row:06}")).collect();
    let market = LiveOnly {
        ids: ids.clone(),
        through: first.data_date,
    };
    let opened = first.open + SignedDuration::from_mins(1);
    let (_, alice) = service.create_account("alice", &[1; 64], opened).unwrap();
    let (_, bob) = service.create_account("bob", &[2; 64], opened).unwrap();
    let alice_model = service.create_model("alice", "alice_m", opened).unwrap();
    let bob_model = service.create_model("bob", "bob_m", opened).unwrap();
    service.tick(&market, opened).unwrap();
    let now = match at {
        At::Open => opened,
        At::NextRoundWithoutData => second.open + SignedDuration::from_mins(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (base, stop, _) = serve_locally(&runtime, &dir, service, market, now, config);
    Server {
        base,
        dir,
        alice: (alice.public_id, alice.secret),
        bob: (bob.public_id, bob.secret),
        alice_model,
        bob_model,
        ids,
        stop: Some(stop),
        runtime: Some(runtime),
    }
}

impl Server {
    fn client(&self, key: &(String, String)) -> Client {
        Client::new(&self.base, Some((&key.0, &key.1)))
    }

    fn csv(&self, seed: usize) -> Vec<u8> {
        let mut text = String::from("id,prediction\n");
        for (row, id) in self.ids.iter().enumerate() {
            let value = ((row * 7919 + seed * 104_729) % ROWS) as f64 / ROWS as f64 + 0.001;
            text.push_str(&format!("{id},{value}\n"));
        }
        text.into_bytes()
    }

    fn upload_link(&self, client: &Client, model: u64) -> (String, String) {
        let data = client
            .query(
                "query($filename: String! $tournament: Int! $modelId: String) { submission_upload_auth(filename: $filename tournament: $tournament modelId: $modelId) { filename url } }",
                json!({ "filename": "p.csv", "tournament": 8, "modelId": model.to_string() }),
            )
            .unwrap();
        let auth = &data["submission_upload_auth"];
        (
            auth["filename"].as_str().unwrap().to_owned(),
            auth["url"].as_str().unwrap().to_owned(),
        )
    }

    fn submissions(&self, client: &Client, model: u64) -> Vec<Value> {
        let data = client
            .query(
                "query($modelId: String) { model(modelId: $modelId) { submissions { id state late } } }",
                json!({ "modelId": model.to_string() }),
            )
            .unwrap();
        data["model"]["submissions"].as_array().unwrap().clone()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn api_error(result: Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::Api(message)) => message,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[test]
fn an_upload_through_the_signed_link_is_selected_and_a_later_one_supersedes_it() {
    let server = start("upload", At::Open, Config::default());
    let alice = server.client(&server.alice);
    let model = server.alice_model.to_string();
    let first = alice
        .upload_predictions(&model, "a.csv", &server.csv(1))
        .unwrap();
    let second = alice
        .upload_predictions(&model, "b.csv", &server.csv(2))
        .unwrap();
    let mut states: Vec<(String, String)> = server
        .submissions(&alice, server.alice_model)
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            (first, "superseded".to_owned()),
            (second, "selected".to_owned())
        ]
    );
}

#[test]
fn an_invalid_upload_is_refused_with_the_reason_and_not_listed() {
    let server = start("invalid", At::Open, Config::default());
    let alice = server.client(&server.alice);
    let model = server.alice_model.to_string();
    let text = String::from_utf8(server.csv(1))
        .unwrap()
        .replacen(",0.", ",nan_", 1);
    let message = api_error(alice.upload_predictions(&model, "nan.csv", text.as_bytes()));
    assert!(message.contains("prediction"), "{message}");
    let message =
        api_error(alice.upload_predictions(&model, "garbage.csv", b"\x00\x01\x02garbage"));
    assert!(!message.is_empty());
    assert!(server.submissions(&alice, server.alice_model).is_empty());
}

#[test]
fn another_accounts_model_and_a_missing_key_are_refused() {
    let server = start("authz", At::Open, Config::default());
    let bob = server.client(&server.bob);
    let message =
        api_error(bob.upload_predictions(&server.alice_model.to_string(), "x.csv", &server.csv(1)));
    assert!(message.contains("not one of your models"), "{message}");
    let anonymous = Client::new(&server.base, None);
    let message = api_error(anonymous.query("{ account { username } }", json!({})));
    assert!(message.contains("Authorization"), "{message}");
    let made_up = Client::new(
        &server.base,
        Some(("X".repeat(32).as_str(), "Y".repeat(32).as_str())),
    );
    let message = api_error(made_up.query("{ account { username } }", json!({})));
    assert!(message.contains("unknown API key"), "{message}");
    // Bob sees his own model's submissions, not Alice's.
    let message = api_error(bob.query(
        "query($m: String) { submissions(modelId: $m) { id } }",
        json!({ "m": server.alice_model.to_string() }),
    ));
    assert!(message.contains("not one of your models"), "{message}");
    assert!(
        bob.query(
            "query($m: String) { submissions(modelId: $m) { id } }",
            json!({ "m": server.bob_model.to_string() })
        )
        .is_ok()
    );
}

#[test]
fn tampered_links_are_refused_and_nothing_is_taken_from_them() {
    let server = start("tamper", At::Open, Config::default());
    let alice = server.client(&server.alice);
    let (object, url) = server.upload_link(&alice, server.alice_model);
    let tampered = url.replace("signature=", "signature=0");
    let mut response = agent().put(&tampered).send(&server.csv(1)[..]).unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        response
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("signature")
    );
    // The object is only writable by PUT with a valid link, and a download link for it does not exist.
    let read = url.replace(&object, "data/v1/train.parquet");
    assert_eq!(agent().get(&read).call().unwrap().status().as_u16(), 403);
    let message = api_error(alice.query(
        "mutation($f: String!, $m: String) { create_submission(filename: $f, tournament: 8, modelId: $m) { id } }",
        json!({ "f": object, "m": server.alice_model.to_string() }),
    ));
    assert!(message.contains("nothing was uploaded"), "{message}");
}

#[test]
fn an_expired_link_is_refused() {
    let config = Config {
        signed_url_seconds: 1,
        ..Config::default()
    };
    let server = start("expired", At::Open, config);
    let alice = server.client(&server.alice);
    let (_, url) = server.upload_link(&alice, server.alice_model);
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let mut response = agent().put(&url).send(&server.csv(1)[..]).unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(
        response
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("expired")
    );
}

#[test]
fn an_upload_above_the_limit_gets_413() {
    let config = Config {
        max_upload_bytes: 1_000,
        ..Config::default()
    };
    let server = start("too-big", At::Open, config);
    let alice = server.client(&server.alice);
    let (_, url) = server.upload_link(&alice, server.alice_model);
    let response = agent().put(&url).send(&server.csv(1)[..]).unwrap();
    assert_eq!(response.status().as_u16(), 413);
}

#[test]
fn downloads_answer_range_requests_with_partial_content() {
    let server = start("range", At::Open, Config::default());
    let alice = server.client(&server.alice);
    let data = alice.query(
        "query($f: String!) { dataset(filename: $f, round: null, tournament: 8) }",
        json!({ "f": "v1/live.parquet" }),
    );
    // This data directory has no dataset version: the listing says so by name.
    let message = api_error(data);
    assert!(message.contains("listDatasets"), "{message}");
    // A submission's stored bytes are downloadable by its owner, with Range.
    let id = alice
        .upload_predictions(&server.alice_model.to_string(), "a.csv", &server.csv(3))
        .unwrap();
    let data = alice
        .query(
            "query($id: String) { submissionDownloadAuth(id: $id) { filename url } }",
            json!({ "id": id }),
        )
        .unwrap();
    let url = data["submissionDownloadAuth"]["url"].as_str().unwrap();
    assert_eq!(alice.download(url).unwrap(), server.csv(3));
    let mut response = agent()
        .get(url)
        .header("Range", "bytes=3-12")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 206);
    assert_eq!(
        response
            .headers()
            .get("content-range")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("bytes 3-12/{}", server.csv(3).len())
    );
    assert_eq!(
        response.body_mut().read_to_vec().unwrap(),
        server.csv(3)[3..13].to_vec()
    );
    let bob = server.client(&server.bob);
    let message = api_error(bob.query(
        "query($id: String) { submissionDownloadAuth(id: $id) { url } }",
        json!({ "id": id }),
    ));
    assert!(message.contains("not one of your models"), "{message}");
}

#[test]
fn a_round_whose_data_is_not_published_refuses_uploads_with_when_to_retry() {
    let server = start("not-open", At::NextRoundWithoutData, Config::default());
    let alice = server.client(&server.alice);
    let message = api_error(alice.upload_predictions(
        &server.alice_model.to_string(),
        "a.csv",
        &server.csv(1),
    ));
    assert!(message.contains("not open yet"), "{message}");
    assert!(server.submissions(&alice, server.alice_model).is_empty());
}

#[test]
fn the_request_rate_and_query_depth_are_limited_by_their_settings() {
    let config = Config {
        requests_per_second: 1,
        request_burst: 3,
        max_query_depth: 2,
        ..Config::default()
    };
    let server = start("limits", At::Open, config);
    let alice = server.client(&server.alice);
    let message =
        api_error(alice.query("{ account { models { submissions { id } } } }", json!({})));
    assert!(message.contains("levels deep"), "{message}");
    let mut refused = None;
    for _ in 0..5 {
        if let Err(ClientError::Api(message)) = alice.query("{ tournaments { name } }", json!({})) {
            refused = Some(message);
            break;
        }
    }
    let message = refused.expect("a burst above the limit is refused");
    assert!(message.contains("too many requests"), "{message}");
}

#[test]
fn pages_and_metrics_are_served() {
    let server = start("pages", At::Open, Config::default());
    let alice = server.client(&server.alice);
    alice
        .upload_predictions(&server.alice_model.to_string(), "a.csv", &server.csv(1))
        .unwrap();
    for (path, text) in [
        ("/", "Rounds"),
        ("/rounds/1175", "Round 1175"),
        ("/leaderboard", "alice_m"),
        ("/accounts?by=corr", "bob"),
        ("/models/alice_m", "Model alice_m"),
        ("/datasets", "Datasets"),
        ("/supply", "Treasury"),
        ("/fund", "runs no fund"),
    ] {
        let mut response = agent()
            .get(format!("{}{path}", server.base))
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body = response.body_mut().read_to_string().unwrap();
        assert!(body.contains(text), "{path} lacks {text:?}");
    }
    let response = agent()
        .get(format!("{}/models/nobody", server.base))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let metrics = agent()
        .get(format!("{}/metrics", server.base))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("numerus_uploads_total{outcome=\"accepted\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("numerus_ledger_nmr"), "{metrics}");
}
