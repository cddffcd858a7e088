//! A fresh database in its own directory, with a genesis, one user and two models.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use jiff::{SignedDuration, Timestamp};
use numerus_ledger::staking::{Model, PayoutConfig, User};
use numerus_ledger::{
    AccountId, Ledger, LedgerView, ModelId, Nmr, Rate, RoundKey, Store, TournamentId, UserId,
};
use numerus_store_sqlite::SqliteStore;

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "numerus-store-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn database(&self) -> PathBuf {
        self.0.join("numerus.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const CLASSIC: TournamentId = TournamentId(8);
pub const ALICE: UserId = UserId(1);
pub const ALPHA: ModelId = ModelId(1);
pub const BETA: ModelId = ModelId(2);

pub fn nmr(text: &str) -> Nmr {
    text.parse().unwrap()
}

pub fn rate(text: &str) -> Rate {
    text.parse().unwrap()
}

/// The start of every test's clock.
pub fn t0() -> Timestamp {
    "2026-01-06T12:00:00Z".parse().unwrap()
}

pub fn days(n: i64) -> Timestamp {
    t0() + SignedDuration::from_hours(24 * n)
}

pub fn round(number: u32) -> RoundKey {
    RoundKey {
        tournament: CLASSIC,
        number,
    }
}

pub fn tx(n: u64) -> String {
    format!("0x{n:064x}")
}

/// Pays 1 × corr20, clip 5 %, threshold 1,000 NMR.
pub fn config() -> PayoutConfig {
    PayoutConfig {
        multipliers: BTreeMap::from([("corr20".to_owned(), Rate::ONE)]),
        clip: rate("0.05"),
        stake_threshold: Nmr::from_whole(1_000),
    }
}

pub fn corr(value: &str) -> BTreeMap<String, Rate> {
    BTreeMap::from([("corr20".to_owned(), rate(value))])
}

pub struct Fixture {
    pub dir: TempDir,
    pub ledger: Ledger<SqliteStore>,
    stakes: u32,
}

impl Fixture {
    /// Genesis (3M treasury, 8M outside), Alice with 1,000 NMR, her models alpha and beta.
    pub fn new() -> Fixture {
        let dir = TempDir::new();
        let mut ledger = Ledger::new(SqliteStore::open(&dir.database()).unwrap());
        ledger
            .genesis(Nmr::from_whole(3_000_000), Nmr::from_whole(8_000_000), t0())
            .unwrap();
        let alice = User {
            id: ALICE,
            name: "alice".into(),
            created_at: t0(),
        };
        ledger.create_user(alice, t0()).unwrap();
        for (id, name) in [(ALPHA, "alpha"), (BETA, "beta")] {
            let model = Model {
                id,
                user: ALICE,
                name: name.into(),
                tournament: CLASSIC,
            };
            ledger.create_model(model, t0()).unwrap();
        }
        ledger
            .deposit(ALICE, Nmr::from_whole(1_000), &tx(1), t0())
            .unwrap();
        Fixture {
            dir,
            ledger,
            stakes: 0,
        }
    }

    /// Alice stakes `amount` on `model` now.
    pub fn stake(&mut self, model: ModelId, amount: &str) {
        self.stakes += 1;
        let id = format!("stake-{}", self.stakes);
        self.ledger
            .increase_stake(&id, model, nmr(amount), t0())
            .unwrap();
    }

    pub fn posted(&self, account: AccountId) -> Nmr {
        self.ledger
            .store()
            .balance(account)
            .unwrap()
            .unwrap()
            .posted()
    }

    pub fn reopen(self) -> Fixture {
        let Fixture {
            dir,
            ledger,
            stakes,
        } = self;
        drop(ledger);
        let ledger = Ledger::new(SqliteStore::open(&dir.database()).unwrap());
        Fixture {
            dir,
            ledger,
            stakes,
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir.0
    }

    /// Everything the store holds that money depends on, for before/after comparisons.
    pub fn snapshot(&self) -> String {
        let store = self.ledger.store();
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}",
            store.balances().unwrap(),
            store.rounds().unwrap(),
            store.all_open_releases().unwrap(),
            store.transfers(0, usize::MAX).unwrap().len()
        )
    }

    /// Opens round `number` at day `day`, closing an hour later and resolving 28 days later.
    pub fn open(&mut self, number: u32, day: i64) {
        let close = days(day) + SignedDuration::from_hours(1);
        self.ledger
            .open_round(round(number), close, days(day + 28), config(), days(day))
            .unwrap();
    }
}
