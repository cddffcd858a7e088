//! `numerus sim`: deterministic simulators that drive the system with seeded traffic
//! and faults and check its invariants after every step.

mod ledger;
mod tournament;

use std::process::ExitCode;

/// Arguments of `numerus sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    #[command(subcommand)]
    simulator: Simulator,
}

/// The simulators.
#[derive(Debug, clap::Subcommand)]
enum Simulator {
    /// Drive the NMR ledger through overlapping rounds of stakes, releases, payouts,
    /// burns, deposits and withdrawals (with --faults: crashes, retries and races),
    /// checking every balance and payout to the base unit after every step.
    ///
    /// Everything is decided by --seed and a simulated clock, so a seed replays the same
    /// run step for step. Prints one summary line and exits 0 when every check held;
    /// prints the seed, step and round of the first violation to stderr and exits 1;
    /// exits 2 on a usage or setup error. `numerus ledger --data-dir DIR audit` inspects
    /// the ledger the run leaves behind.
    Ledger(ledger::LedgerSimArgs),
    /// Run the tournament service on a simulated clock over a synthetic market: seeded
    /// participants train simple models, upload (some late, some invalid, some twice), stake
    /// and release, while rounds open, close, score daily, resolve and settle.
    ///
    /// At the end every resolved round is checked: CORR and MMC recomputed from the raw
    /// uploads, every payout against the formula in big integers, every submission's final
    /// state, and the ledger's audit. Prints a summary (rounds, uploads, payouts, burns,
    /// leaderboard top 5); exits 0 when every check held, 1 with the violations, 2 on a
    /// setup error. The data dir it leaves can be inspected with `numerus ledger` and
    /// `numerus round`.
    Tournament(tournament::TournamentSimArgs),
}

/// Runs a simulator. Exits 0 when every check held, 1 on the first violation (the
/// seed and step are printed), 2 on a usage or setup error.
pub fn run(args: SimArgs) -> ExitCode {
    match args.simulator {
        Simulator::Ledger(args) => ledger::run(&args),
        Simulator::Tournament(args) => tournament::run(&args),
    }
}
