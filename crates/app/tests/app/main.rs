//! The tournament service on a real SQLite file, real blobs and a synthetic market: uploads
//! and their states, the round lifecycle, crash recovery and replay bundles.

mod bundle;
mod lifecycle;
mod recovery;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jiff::{SignedDuration, Timestamp};
use numerus_app::market::{DatasetMarket, SyntheticSpec, synthetic};
use numerus_app::{Definition, Service};
use numerus_frames::{ReadOptions, read_table};
use numerus_ledger::{ModelId, Nmr, UserId};
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::calendar::{Calendar, Schedule};
use numerus_tournament::records::Records;

/// A directory under the target dir, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The first round the tests run: the Classic calendar's anchor.
pub const FIRST: u32 = 1175;

/// One synthetic market shared by every test (100 stocks, 20 features).
pub fn market() -> &'static DatasetMarket {
    static MARKET: OnceLock<DatasetMarket> = OnceLock::new();
    MARKET.get_or_init(|| {
        let dir = scratch("market");
        let data_date = calendar().round(FIRST).unwrap().data_date;
        let (market, _) = synthetic(
            &dir,
            &SyntheticSpec {
                stocks: 100,
                features: 20,
                seed: 7,
                history_days: 560,
                extra_days: 40,
                first_data_date: data_date,
            },
        )
        .unwrap();
        market
    })
}

/// The Classic calendar.
pub fn calendar() -> Calendar {
    Calendar::new(Definition::classic().calendar).unwrap()
}

/// Round `number`'s schedule.
pub fn schedule(number: u32) -> Schedule {
    calendar().round(number).unwrap()
}

/// The service of an existing data dir (a restarted process).
pub fn service_at(dir: &Path) -> Service<SqliteStore> {
    let store = SqliteStore::open(&dir.join("numerus.sqlite")).unwrap();
    Service::new(Definition::classic(), store, dir).unwrap()
}

/// A service in a fresh data dir with `models` models (ids 1..), each of its own account with
/// 1,000 NMR deposited and 100 staked.
pub fn service(dir: &Path, models: usize) -> Service<SqliteStore> {
    service_with(dir, models, Definition::classic())
}

/// [`service`] for another definition.
pub fn service_with(dir: &Path, models: usize, definition: Definition) -> Service<SqliteStore> {
    let store = SqliteStore::open(&dir.join("numerus.sqlite")).unwrap();
    let mut service = Service::new(definition, store, dir).unwrap();
    let t0 = schedule(FIRST).open - SignedDuration::from_hours(48);
    service
        .ledger_mut()
        .genesis(Nmr::from_whole(3_000_000), Nmr::from_whole(8_000_000), t0)
        .unwrap();
    for index in 0..models {
        let name = format!("user{index}");
        let mut random = [0u8; 64];
        random[0] = index as u8;
        random[40] = index as u8;
        let (account, _) = service.create_account(&name, &random, t0).unwrap();
        service
            .ledger_mut()
            .deposit(
                UserId(account),
                Nmr::from_whole(1_000),
                &format!("0x{:064x}", index + 1),
                t0,
            )
            .unwrap();
        let model = service
            .create_model(&name, &format!("model{index}"), t0)
            .unwrap();
        service
            .ledger_mut()
            .increase_stake(
                &format!("s{model}"),
                ModelId(model),
                Nmr::from_whole(100),
                t0,
            )
            .unwrap();
    }
    service
}

/// The live ids of an opened round.
pub fn live_ids(service: &Service<SqliteStore>, number: u32) -> Vec<String> {
    let round = service
        .ledger()
        .store()
        .round_record(8, number)
        .unwrap()
        .unwrap();
    let table = read_table(
        &service.blobs().path(&round.blobs["live"]),
        &ReadOptions {
            text_columns: &["id", "era", "data_type"],
            select: None,
        },
    )
    .unwrap();
    table
        .column("id")
        .unwrap()
        .values
        .as_text()
        .unwrap()
        .to_vec()
}

/// A valid CSV of predictions: a seeded permutation of the ranks.
pub fn predictions(ids: &[String], seed: u64) -> Vec<u8> {
    let n = ids.len() as u64;
    let mut text = String::from("id,prediction\n");
    for (row, id) in ids.iter().enumerate() {
        let position = (row as u64 * (2 * seed + 1) + seed * 7) % n;
        text.push_str(&format!("{id},{}\n", (position as f64 + 0.5) / n as f64));
    }
    text.into_bytes()
}

/// `minutes` after `time`.
pub fn after(time: Timestamp, minutes: i64) -> Timestamp {
    time + SignedDuration::from_mins(minutes)
}

/// Ticks at every daily score of round `number` (a minute after each).
pub fn run_to_resolution(service: &mut Service<SqliteStore>, number: u32) {
    for time in schedule(number).scores {
        service.tick(market(), after(time, 1)).unwrap();
    }
}
