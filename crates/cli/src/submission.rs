//! `numerus submission check`: validate a predictions file against a live file before
//! uploading it, with the tournament's rules (numerai-tools' checks).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use numerus_frames::{ReadOptions, column_names, read_table};
use numerus_tournament::submission::{Rejection, SubmissionRule, check_headers, validate};

/// The flags of `numerus submission`.
#[derive(Debug, clap::Args)]
pub struct SubmissionArgs {
    #[command(subcommand)]
    command: SubmissionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SubmissionCommand {
    /// Check a predictions file (CSV or Parquet) against a live file; exit 1 if it would be
    /// rejected, printing why (numerai-tools' code, then the row, column and fix).
    Check(CheckArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Tournament {
    Classic,
    Signals,
    Crypto,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The predictions file.
    #[arg(long)]
    file: PathBuf,
    /// The round's live file (its ids, or `numerai_ticker` / `symbol` column, are the universe).
    #[arg(long)]
    live: PathBuf,
    /// Which tournament's rules.
    #[arg(long, value_enum, default_value = "classic")]
    tournament: Tournament,
}

/// Runs `numerus submission`.
pub fn run(args: &SubmissionArgs) -> ExitCode {
    let SubmissionCommand::Check(args) = &args.command;
    match check(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<bool> {
    let (rule, key) = match args.tournament {
        Tournament::Classic => (SubmissionRule::classic(), "id"),
        Tournament::Signals => (SubmissionRule::signals(), "numerai_ticker"),
        Tournament::Crypto => (SubmissionRule::crypto(), "symbol"),
    };
    let text: Vec<&str> = rule
        .id_columns
        .iter()
        .chain(&rule.date_columns)
        .map(String::as_str)
        .collect();
    let only_key = |name: &str| name == key;
    let live_options = ReadOptions {
        text_columns: &[key],
        select: Some(&only_key),
    };
    let live = read_table(&args.live, &live_options)
        .with_context(|| format!("reading the live ids ({key}) of {}", args.live.display()))?;
    let live_ids = live
        .column(key)
        .and_then(|column| column.values.as_text())
        .context("no live ids")?
        .to_vec();
    let options = ReadOptions {
        text_columns: &text,
        select: None,
    };
    // The headers first, from the header row or schema alone: a wrong header must not be
    // reported as an unreadable value.
    let names =
        column_names(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if let Err(rejection) = check_headers(&rule, &names) {
        println!("{}: {rejection}", rejection.code());
        return Ok(false);
    }
    let upload = match read_table(&args.file, &options) {
        Ok(upload) => upload,
        // A missing id is the submission's fault, reported as the tournament would.
        Err(numerus_frames::Error::MissingText { row, column, .. }) => {
            let rejection = Rejection::MissingId { row, column };
            println!("{}: {rejection}", rejection.code());
            return Ok(false);
        }
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", args.file.display()));
        }
    };
    match validate(&rule, &live_ids, &upload) {
        Ok(accepted) => {
            println!(
                "valid: {} live ids predicted in `{}`, {} rows with ids not live ignored",
                accepted.ids.len(),
                accepted.prediction_column,
                accepted.unknown_ids
            );
            Ok(true)
        }
        Err(rejection) => {
            println!("{}: {rejection}", rejection.code());
            Ok(false)
        }
    }
}
