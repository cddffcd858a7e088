//! `numerus`: the one binary of the Numerus tournament platform.

mod data;
mod fund;
mod ledger;
mod participants;
mod sample;
mod score;
mod secret;
mod serve;
mod sim;
mod submission;
mod terminal;
mod tournament;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Numerus runs crowdsourced prediction tournaments: scoring, staking and the meta model.
#[derive(Debug, Parser)]
#[command(name = "numerus", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score prediction files against Numerai-layout data, exactly as numerai-tools 0.7.2 does.
    Score(score::ScoreArgs),
    /// Write a seeded, synthetic set of Numerai-layout files to score (data, predictions, meta model, ...).
    Sample(sample::SampleArgs),
    /// Inspect and operate the NMR ledger: balances, history, supply, audit, genesis, buybacks.
    Ledger(ledger::LedgerArgs),
    /// Build tournament datasets: synthesize a market, build versions, daily live files and targets.
    Data(data::DataArgs),
    /// Check a predictions file against a round's live file, as the tournament will on upload.
    Submission(submission::SubmissionArgs),
    /// Deterministic simulators that drive the system and check its invariants after every step.
    Sim(sim::SimArgs),
    /// Create participant accounts and their API keys.
    Account(tournament::AccountArgs),
    /// Create models (several per account).
    Model(tournament::ModelArgs),
    /// Inspect rounds, export a resolved round's replay bundle, publish the meta model.
    Round(tournament::RoundArgs),
    /// Model or account leaderboard by 1-year reputation.
    Leaderboard(tournament::LeaderboardArgs),
    /// Run the numerapi-compatible server on a data directory: GraphQL at /, signed file
    /// links, web pages, /metrics, and the scheduler that opens, scores and resolves rounds.
    ///
    /// Settings come from DIR/numerus.toml, then NUMERUS_<SETTING> environment variables
    /// (e.g. NUMERUS_MAX_UPLOAD_BYTES), then the flags:
    ///
    ///   [server]  addr ("127.0.0.1:5000"), public_url (http://ADDR), signed_url_seconds (3600),
    ///             max_upload_bytes (104857600), max_request_bytes (1048576),
    ///             requests_per_second (50 per client; 0 = off), request_burst (200),
    ///             max_query_depth (8), tick_seconds (1.0)
    ///   [clock]   kind = "wall", or kind = "fast" with real_start, simulated_start, day_seconds
    ///   [market]  kind = "synthetic" with seed, or kind = "dataset" with panel, recipe, key
    ///             (the files `numerus data build` wrote) and min_stocks (50)
    ///
    /// `numerus demo` writes a complete example. Logs go to stderr (RUST_LOG=debug for more).
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),
    /// Start a complete, living tournament on this machine: a synthetic market and dataset,
    /// the server on an accelerated clock, and built-in participants that download, train,
    /// upload and stake through the API. Prints the URL and how to join with numerapi.
    Demo(serve::DemoArgs),
    /// The fund: solve the portfolio of a signal under risk constraints, and compute each
    /// model's True Contribution (TC) through the optimizer.
    Fund(fund::FundArgs),
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    match cli.command {
        Command::Score(args) => score::run(&args),
        Command::Ledger(args) => ledger::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Account(args) => tournament::account(&args),
        Command::Model(args) => tournament::model(&args),
        Command::Round(args) => tournament::round(&args),
        Command::Leaderboard(args) => tournament::leaderboard(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Demo(args) => serve::demo(&args),
        Command::Fund(args) => fund::run(&args),
        Command::Data(args) => data::run(args),
        Command::Submission(args) => submission::run(&args),
        Command::Sample(args) => match sample::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `numerus ledger supply | head -1` closes the pipe early; the next `println!` then panics.
/// Exit quietly with 141 instead, as a program killed by SIGPIPE does in a shell.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
