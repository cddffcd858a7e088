//! `numerus sim ledger`: a deterministic simulation of the NMR ledger over many
//! overlapping rounds, with faults, checked after every step against an independent
//! shadow book.
//!
//! One seeded ChaCha8 stream decides everything: who joins when, who stakes, releases,
//! deposits and withdraws what, the payout configs, submissions, scores, bad requests
//! and faults. The clock is simulated (one round per business day, from
//! 2026-01-06T12:00:00Z), so the same seed replays the same run step for step, and a
//! violation names the seed and the step that reproduce it.
//!
//! After every call the simulator compares, to the base unit: the transfers the call
//! logged with the ones the shadow predicted (every payout and burn recomputed with
//! big integers from the rule in `numerus_ledger::staking`), every account's four
//! totals, the supply (`Σ balances + burned = minted ≤ max supply`), and the records
//! the call touched (rounds, at-risk amounts, settlements, release requests). At the
//! end it runs the ledger's own audit over the file.

mod check;
mod operation;
mod payout;
mod scenario;
mod shadow;
mod step;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::ProgressBar;

use crate::terminal::{self, grouped};
use jiff::Timestamp;
use numerus_ledger::{AccountId, Ledger};
use numerus_store_sqlite::SqliteStore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use check::LogFollower;
use operation::Operation;
use scenario::Cast;
use shadow::Shadow;

/// The database's file name inside the data directory.
const DATABASE_FILE: &str = "numerus.sqlite";
/// The simulated clock's start: a Tuesday, the first round day of a week.
const START: &str = "2026-01-06T12:00:00Z";

/// Arguments of `numerus sim ledger` (its help text is the doc of `Simulator::Ledger`).
#[derive(Debug, clap::Args)]
pub struct LedgerSimArgs {
    /// Seed of every random choice: the same seed replays the same run, step for step.
    #[arg(long)]
    seed: u64,
    /// Rounds to open, one per simulated business day (Tuesday to Saturday).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rounds: u32,
    /// Models staking in the tournament, spread over about a third as many users.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    models: u64,
    /// Inject faults: crashes inside and after store transactions (then a restart and a
    /// retry), duplicated and reordered deliveries of earlier requests, conflicting
    /// reuses of their ids, and two processes settling one round at once.
    #[arg(long)]
    faults: bool,
    /// Directory for the ledger database (DIR/numerus.sqlite), created if missing; it
    /// must not hold a database already. Default: a fresh directory under the system's
    /// temporary directory, named after the seed.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Business days from a round's opening to its resolution, at least: each round takes
    /// this plus 0 to 5 more, so about this many to five more rounds are in flight at once
    /// (Numerai has 20 to 25), and some rounds resolve before rounds opened earlier.
    #[arg(long, value_name = "ROUNDS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    horizon: u32,
}

/// Why a simulation stopped early.
#[derive(Debug)]
enum Stop {
    /// The ledger broke a rule or disagreed with the shadow.
    Violation {
        /// The step (ledger call) where it showed.
        step: u64,
        /// The round being simulated.
        round: u32,
        /// What, with the expected and the actual values.
        what: String,
    },
    /// The simulation could not be set up.
    Setup(anyhow::Error),
}

/// What a finished run counted.
#[derive(Debug, Default)]
struct Counters {
    /// Crashes injected inside a store transaction, each followed by a restart and a retry.
    crashes_inside: u64,
    /// Replies lost after a commit, each followed by a restart and a retry.
    lost_replies: u64,
    /// Earlier requests delivered again.
    duplicates: u64,
    /// Earlier ids reused with other arguments.
    conflicts: u64,
    /// Rounds settled by two processes at once.
    concurrent_settlements: u64,
    /// Bad requests refused with the expected error.
    refusals: u64,
}

impl Counters {
    fn faults(&self) -> u64 {
        self.crashes_inside
            + self.lost_replies
            + self.duplicates
            + self.conflicts
            + self.concurrent_settlements
    }
}

/// The run's fixed parameters.
#[derive(Debug, Clone, Copy)]
struct Settings {
    seed: u64,
    rounds: u32,
    models: u64,
    faults: bool,
    horizon: u32,
}

/// A simulation in progress: the ledger under test, the shadow book, the clock and
/// the random stream.
struct Simulation {
    settings: Settings,
    rng: ChaCha8Rng,
    /// The simulated clock; only ever moves forward.
    now: Timestamp,
    database: PathBuf,
    ledger: Ledger<SqliteStore>,
    shadow: Shadow,
    log: LogFollower,
    /// Ledger calls made so far.
    step: u64,
    /// The round being simulated (0 during setup).
    round: u32,
    /// Applied requests that may be delivered again (faults (c)).
    history: Vec<Operation>,
    counters: Counters,
    cast: Cast,
    next_id: u64,
}

/// Runs `numerus sim ledger`.
pub fn run(args: &LedgerSimArgs) -> ExitCode {
    let settings = Settings {
        seed: args.seed,
        rounds: args.rounds,
        models: args.models,
        faults: args.faults,
        horizon: args.horizon,
    };
    let dir = match data_dir(args) {
        Ok(dir) => dir,
        Err(error) => return setup_failed(&error),
    };
    match simulate(settings, &dir) {
        Ok(summary) => {
            println!("{summary}; data in {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(Stop::Violation { step, round, what }) => {
            eprintln!(
                "sim ledger: VIOLATION at seed {} step {step} (round {round}): {what}",
                settings.seed
            );
            eprintln!("sim ledger: the ledger is left in {}", dir.display());
            ExitCode::from(1)
        }
        Err(Stop::Setup(error)) => setup_failed(&error),
    }
}

fn setup_failed(error: &anyhow::Error) -> ExitCode {
    eprintln!("sim ledger: error: {error:#}");
    ExitCode::from(2)
}

/// The directory to simulate in: `--data-dir` (which must not hold a database yet) or
/// a fresh one under the temporary directory.
fn data_dir(args: &LedgerSimArgs) -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    if let Some(dir) = &args.data_dir {
        let database = dir.join(DATABASE_FILE);
        anyhow::ensure!(
            !database.exists(),
            "{} already holds a ledger; give an empty or new directory so the simulation starts from nothing",
            dir.display()
        );
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        return Ok(dir.clone());
    }
    // A new directory per run: the seed names it, a counter keeps earlier runs intact.
    let base = std::env::temp_dir();
    for attempt in 0u32.. {
        let dir = base.join(format!("numerus-sim-ledger-seed-{}-{attempt}", args.seed));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("creating {}", dir.display()));
            }
        }
    }
    unreachable!("one of 2³² directory names is free")
}

fn simulate(settings: Settings, dir: &Path) -> Result<String, Stop> {
    let database = dir.join(DATABASE_FILE);
    let store = SqliteStore::open(&database)
        .map_err(|error| Stop::Setup(anyhow::anyhow!("opening {}: {error}", database.display())))?;
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    let cast = Cast::new(&mut rng, settings);
    let mut simulation = Simulation {
        settings,
        rng,
        now: START.parse().expect("the start is a valid timestamp"),
        database,
        ledger: Ledger::new(store),
        shadow: Shadow::new(),
        log: LogFollower::default(),
        step: 0,
        round: 0,
        history: Vec::new(),
        counters: Counters::default(),
        cast,
        next_id: 0,
    };
    let progress = progress_bar(settings.rounds);
    let outcome = simulation.run(&progress);
    // Cleared either way, so that a violation is printed on a line of its own.
    progress.finish_and_clear();
    outcome.map(|()| simulation.summary())
}

fn progress_bar(rounds: u32) -> ProgressBar {
    let bar = terminal::progress_bar(
        u64::from(rounds),
        "{elapsed_precise} [{bar:40}] round {pos}/{len} {msg}",
    );
    bar.set_style(bar.style().progress_chars("=> "));
    bar
}

impl Simulation {
    /// A violation at the current step and round.
    fn violation(&self, what: impl Into<String>) -> Stop {
        Stop::Violation {
            step: self.step,
            round: self.round,
            what: what.into(),
        }
    }

    /// The summary line (without the data directory).
    fn summary(&self) -> String {
        let settings = self.settings;
        let counters = &self.counters;
        let minted = self.shadow.balances()[&AccountId::Genesis].debits_posted;
        format!(
            "sim ledger: seed {}, {} rounds, {} models, faults {}: {} transfers in {} batches, \
             {} faults injected and recovered ({} crashes inside a transaction, {} lost replies, \
             {} duplicates, {} conflicts, {} concurrent settlements), {} bad requests refused, \
             minted {minted} NMR, burned {} NMR, treasury {} NMR, supply balanced, audit clean",
            settings.seed,
            grouped(u64::from(settings.rounds)),
            grouped(settings.models),
            if settings.faults { "on" } else { "off" },
            grouped(self.log.transfers()),
            grouped(self.shadow.batches()),
            grouped(counters.faults()),
            grouped(counters.crashes_inside),
            grouped(counters.lost_replies),
            grouped(counters.duplicates),
            grouped(counters.conflicts),
            grouped(counters.concurrent_settlements),
            grouped(counters.refusals),
            self.shadow.posted(AccountId::Burn),
            self.shadow.posted(AccountId::Treasury),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
