//! `numerus`: the one binary of the Numerus tournament platform.

mod sample;
mod score;

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
#[expect(clippy::large_enum_variant, reason = "parsed once per process")]
enum Command {
    /// Score prediction files against Numerai-layout data, exactly as numerai-tools 0.7.2 does.
    Score(score::ScoreArgs),
    /// Write a seeded, synthetic set of Numerai-layout files to score (data, predictions, meta model, ...).
    Sample(sample::SampleArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Score(args) => score::run(&args),
        Command::Sample(args) => match sample::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}
