//! Settling one round of 10,000 staked models on SQLite, end to end: planning from the
//! store, the ledger's rules, the log append and the durable commit.
//!
//! `cargo bench -p numerus-store-sqlite --bench settle` (set `NUMERUS_BENCH_MODELS` for
//! another size). Each sample copies a prepared database (models staked, round closed
//! and scored) and settles its round once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use numerus_ledger::staking::{Effect, Model, OpenGate, PayoutConfig, SubmissionStatus, User};
use numerus_ledger::{
    AccountId, Batch, BatchId, Digest, Ledger, ModelId, Nmr, Rate, RoundKey, Store, TournamentId,
    Transfer, TransferCode, TransferId, UserId,
};
use numerus_store_sqlite::SqliteStore;

const ROUND: RoundKey = RoundKey {
    tournament: TournamentId(8),
    number: 1,
};

fn models() -> u64 {
    std::env::var("NUMERUS_BENCH_MODELS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000)
}

fn t0() -> Timestamp {
    "2026-01-06T12:00:00Z".parse().unwrap()
}

fn batch(id: &str, transfers: Vec<Transfer>, effects: Vec<Effect>) -> Batch {
    let id = BatchId::parse(id).unwrap();
    Batch {
        digest: Digest::of(&id),
        id,
        at: t0(),
        transfers,
        effects,
    }
}

/// A database with `count` models of 3 per user, each staking 1–100 NMR, round 1
/// closed with every model on time and scored.
fn prepare(path: &Path, count: u64) -> BTreeMap<ModelId, BTreeMap<String, Rate>> {
    let mut ledger = Ledger::new(SqliteStore::open(path).unwrap());
    ledger
        .genesis(Nmr::from_whole(3_000_000), Nmr::from_whole(8_000_000), t0())
        .unwrap();
    let users = count.div_ceil(3);
    let mut effects = Vec::new();
    for user in 0..users {
        effects.push(Effect::CreateUser(User {
            id: UserId(user),
            name: format!("user{user}"),
            created_at: t0(),
        }));
    }
    for model in 0..count {
        let name = format!("model{model}");
        effects.push(Effect::CreateModel(Model {
            id: ModelId(model),
            user: UserId(model / 3),
            name,
            tournament: ROUND.tournament,
        }));
    }
    ledger
        .store_mut()
        .apply(&batch("setup/accounts", Vec::new(), effects))
        .unwrap();
    let mut transfers = Vec::new();
    for model in 0..count {
        let stake = Nmr::from_whole(1 + model % 100);
        let (wallet, id) = (AccountId::Wallet(UserId(model / 3)), |what: &str| {
            TransferId::parse(&format!("{what}/{model}")).unwrap()
        });
        transfers.push(Transfer::posted(
            id("fund"),
            AccountId::Treasury,
            wallet,
            stake,
            TransferCode::Emission,
        ));
        transfers.push(Transfer::posted(
            id("stake"),
            wallet,
            AccountId::Stake(ModelId(model)),
            stake,
            TransferCode::StakeIncrease,
        ));
    }
    ledger
        .store_mut()
        .apply(&batch("setup/stakes", transfers, Vec::new()))
        .unwrap();
    let config = PayoutConfig {
        multipliers: BTreeMap::from([
            ("corr20".to_owned(), "0.75".parse().unwrap()),
            ("mmc20".to_owned(), "2.25".parse().unwrap()),
        ]),
        clip: "0.05".parse().unwrap(),
        stake_threshold: Nmr::from_whole(72_000),
    };
    let close = t0() + SignedDuration::from_hours(1);
    ledger
        .open_round(
            ROUND,
            close,
            t0() + SignedDuration::from_hours(24 * 28),
            config,
            t0(),
        )
        .unwrap();
    let submissions = (0..count)
        .map(|model| (ModelId(model), SubmissionStatus::OnTime))
        .collect();
    ledger
        .close_round(ROUND, &submissions, &OpenGate, close)
        .unwrap();
    ledger.score_round(ROUND, close).unwrap();
    // Scores spread over [-0.06, 0.06]: some pay, some burn, some clip.
    (0..count)
        .map(|model| {
            let corr = Rate::from_f64(((model * 37 % 121) as f64 - 60.0) / 1_000.0).unwrap();
            let mmc = Rate::from_f64(((model * 11 % 41) as f64 - 20.0) / 1_000.0).unwrap();
            (
                ModelId(model),
                BTreeMap::from([("corr20".to_owned(), corr), ("mmc20".to_owned(), mmc)]),
            )
        })
        .collect()
}

fn settle(c: &mut Criterion) {
    let count = models();
    let dir = std::env::temp_dir().join(format!("numerus-bench-settle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("template.sqlite");
    let scores = prepare(&template, count);
    // Fold the WAL into the main file so one file copy is the whole database.
    rusqlite::Connection::open(&template)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let resolve = t0() + SignedDuration::from_hours(24 * 28);
    let mut sample = 0u32;
    let mut group = c.benchmark_group("settle");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(count));
    group.bench_function(format!("round of {count} staked models"), |b| {
        b.iter_batched(
            || {
                sample += 1;
                let path: PathBuf = dir.join(format!("sample{sample}.sqlite"));
                std::fs::copy(&template, &path).unwrap();
                Ledger::new(SqliteStore::open(&path).unwrap())
            },
            |mut ledger| ledger.settle_round(ROUND, &scores, resolve).unwrap(),
            BatchSize::PerIteration,
        );
    });
    group.finish();
    // How many transfers one settlement writes, to turn the time into transfers/s.
    let settled = SqliteStore::open(&dir.join("sample1.sqlite")).unwrap();
    let transfers = settled.transfers(0, usize::MAX).unwrap();
    let settlement = transfers
        .iter()
        .filter(|logged| logged.batch.as_str() == "round/8/1/settle")
        .count();
    eprintln!("settle: one round of {count} models writes {settlement} transfers");
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, settle);
criterion_main!(benches);
