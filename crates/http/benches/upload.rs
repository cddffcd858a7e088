//! Upload throughput through the real API: clients upload 6,700-row CSV predictions for many
//! models exactly as numerapi does (upload auth → PUT to the signed URL → create_submission),
//! against a server on loopback with SQLite and a data directory, on the same machine.
//!
//! Each acknowledged upload is validated against the round's live ids, stored durably by its
//! hash with its rank codes, and selected (superseding the model's previous upload).
//!
//! ```text
//! cargo bench -p numerus-http --bench upload
//! NUMERUS_BENCH_UPLOADS=3000 NUMERUS_BENCH_CLIENTS=8 NUMERUS_BENCH_MODELS=1000 cargo bench -p numerus-http --bench upload
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use jiff::civil::Date;
use numerus_app::{Definition, Service};
use numerus_http::Config;
use numerus_http::client::Client;
use numerus_store_sqlite::SqliteStore;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 6_700;

#[path = "../tests/http/support.rs"]
mod support;
use support::{LiveOnly, serve_locally};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let uploads = setting("NUMERUS_BENCH_UPLOADS", 3_000);
    let clients = setting("NUMERUS_BENCH_CLIENTS", 8);
    let models = setting("NUMERUS_BENCH_MODELS", 1_000);
    let dir = std::env::temp_dir().join(format!("numerus-upload-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let ids: Vec<String> = (0..ROWS)
        .map(|i| format!("n{:015x}", rng.random::<u64>() ^ i as u64))
        .collect();
    let market = LiveOnly {
        ids: ids.clone(),
        through: Date::constant(2100, 1, 1),
    };
    let definition = Definition::classic();
    let store = SqliteStore::open(&dir.join("numerus.sqlite")).expect("the database");
    let mut service = Service::new(definition.clone(), store, &dir).expect("the service");
    let open = service
        .calendar()
        .round(definition.calendar.anchor.number)
        .unwrap()
        .open;
    let now = open + SignedDuration::from_mins(1);
    let (_, key) = service.create_account("bench", &[9; 64], now).unwrap();
    let mut model_ids = Vec::new();
    for index in 0..models {
        model_ids.push(
            service
                .create_model("bench", &format!("bench_{index:05}"), now)
                .unwrap(),
        );
    }
    service.tick(&market, now).expect("the round opens");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        requests_per_second: 0,
        tick_seconds: 3600.0,
        ..Config::default()
    };
    // The tournament clock stands still one minute into the round's window.
    let (base, stop, server) = serve_locally(&runtime, &dir, service, market, now, config);

    // Distinct payloads, made before the clock starts.
    let payloads: Vec<Vec<u8>> = (0..64)
        .map(|seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut text = String::from("id,prediction\n");
            for id in &ids {
                text.push_str(&format!("{id},{:.6}\n", rng.random_range(0.001..0.999)));
            }
            text.into_bytes()
        })
        .collect();
    let payloads = Arc::new(payloads);
    let model_ids = Arc::new(model_ids);
    let next = Arc::new(AtomicUsize::new(0));
    eprintln!(
        "{uploads} uploads of {ROWS} rows ({} KB each) by {clients} clients over {models} models",
        payloads[0].len() / 1024
    );
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (base, key_public, key_secret) =
                (base.clone(), key.public_id.clone(), key.secret.clone());
            let (payloads, model_ids, next) = (
                Arc::clone(&payloads),
                Arc::clone(&model_ids),
                Arc::clone(&next),
            );
            std::thread::spawn(move || {
                let client = Client::new(&base, Some((&key_public, &key_secret)));
                let mut latencies = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= uploads {
                        break;
                    }
                    let model = model_ids[index % model_ids.len()].to_string();
                    let payload = &payloads[index % payloads.len()];
                    let begin = Instant::now();
                    client
                        .upload_predictions(&model, "predictions.csv", payload)
                        .expect("an accepted upload");
                    latencies.push(begin.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let _ = runtime.block_on(server);
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(latencies.len() - 1)]
    };
    println!(
        "uploads {} in {:.2} s: {:.0} uploads/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    let _ = std::fs::remove_dir_all(&dir);
}
