//! `numerus account`, `numerus model`, `numerus round` and `numerus leaderboard`: the
//! tournament service's records in a data directory, for operators and auditors.
//!
//! Operating commands (`account create`, `model create`) are stamped with the wall clock
//! (the CLI is the edge where it is read); reading commands never create anything.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use jiff::Timestamp;
use numerus_app::standings::PAYOUT;
use numerus_app::{Definition, Service};
use numerus_ledger::{ModelId, Store};
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::records::Records;
use rand::RngExt;

use crate::ledger::DATABASE_FILE;

/// Where the service's records are and which tournament they are of.
#[derive(Debug, Args)]
struct Place {
    /// The data directory (its `numerus.sqlite` and `blobs/`).
    #[arg(long, default_value = "numerus-data", global = true)]
    data_dir: PathBuf,
    /// The tournament's definition (TOML); by default the data directory's tournament.toml,
    /// or Numerai Classic's.
    #[arg(long, value_name = "FILE", global = true)]
    definition: Option<PathBuf>,
}

impl Place {
    fn definition(&self) -> anyhow::Result<Definition> {
        match &self.definition {
            None => crate::serve::definition_of(&self.data_dir),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Definition::from_toml(&text).with_context(|| path.display().to_string())
            }
        }
    }

    /// The service over an existing data directory.
    fn existing(&self) -> anyhow::Result<Service<SqliteStore>> {
        let database = self.data_dir.join(DATABASE_FILE);
        if !database.is_file() {
            bail!(
                "no Numerus data at {}; pass --data-dir of a data directory (e.g. one left by `numerus sim tournament`)",
                self.data_dir.display()
            );
        }
        self.open()
    }

    /// The service, creating the data directory if needed.
    fn open(&self) -> anyhow::Result<Service<SqliteStore>> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let database = self.data_dir.join(DATABASE_FILE);
        let store = SqliteStore::open(&database)
            .with_context(|| format!("opening {}", database.display()))?;
        Ok(Service::new(self.definition()?, store, &self.data_dir)?)
    }
}

/// Arguments of `numerus account`.
#[derive(Debug, Args)]
pub struct AccountArgs {
    #[command(flatten)]
    place: Place,
    #[command(subcommand)]
    command: AccountCommand,
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Create an account and its API key (every scope); prints the key's secret once.
    Create {
        /// The account's name: 1 to 64 letters, digits, `_` or `-`.
        #[arg(long)]
        username: String,
    },
}

/// Arguments of `numerus model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(flatten)]
    place: Place,
    #[command(subcommand)]
    command: ModelCommand,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Create a model for an account in the tournament (several per account are allowed).
    Create {
        /// The owning account.
        #[arg(long)]
        account: String,
        /// The model's name, unique in the tournament.
        #[arg(long)]
        name: String,
    },
}

/// Arguments of `numerus round`.
#[derive(Debug, Args)]
pub struct RoundArgs {
    #[command(flatten)]
    place: Place,
    #[command(subcommand)]
    command: RoundCommand,
}

#[derive(Debug, Subcommand)]
enum RoundCommand {
    /// Every recorded round, newest first: phase, times, scored days, submissions.
    List {
        /// Show only the newest N rounds.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// One round: its schedule, every submission with its state, and its final scores.
    Show {
        /// The round's number.
        number: u32,
        /// Print the round as numerapi's `rounds` query returns it (JSON) instead.
        #[arg(long)]
        json: bool,
    },
    /// Write a resolved round's replay bundle: live data, each day's targets, every scored
    /// submission, stakes, payout config, meta model, all scores and payouts, with hashes.
    Export {
        /// The round's number.
        number: u32,
        /// The bundle directory to create.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write meta_model.parquet: the stake-weighted meta model of every resolved round's live era.
    MetaModel {
        /// The Parquet file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// Arguments of `numerus leaderboard`.
#[derive(Debug, Args)]
pub struct LeaderboardArgs {
    #[command(flatten)]
    place: Place,
    /// Rank accounts (stake-weighted mean of their models) instead of models.
    #[arg(long)]
    accounts: bool,
    /// The score to rank by: payout (the round's Σ multiplier·score), corr, mmc, bmc or fnc.
    #[arg(long, default_value = PAYOUT)]
    by: String,
    /// Reputation as of this time (ISO 8601); now by default.
    #[arg(long)]
    at: Option<Timestamp>,
    /// Rows to show.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Show the Grandmasters season of this year instead: each account's season score,
    /// qualified rounds (on time, at least 1 NMR at risk; 20 needed), rank and tier.
    #[arg(long, value_name = "YEAR", conflicts_with = "accounts")]
    season: Option<i16>,
}

/// Exit 0, or print the error with its causes and exit 2.
pub(crate) fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs `numerus account`.
pub fn account(args: &AccountArgs) -> ExitCode {
    finish((|| {
        let AccountCommand::Create { username } = &args.command;
        let mut service = args.place.open()?;
        let random: [u8; 64] = rand::rng().random();
        let (id, key) = service.create_account(username, &random, Timestamp::now())?;
        println!("account {username} created (id {id})");
        println!("NUMERAI_PUBLIC_ID={}", key.public_id);
        println!("NUMERAI_SECRET_KEY={}", key.secret);
        println!("Keep the secret now: only its hash is stored, it cannot be shown again.");
        Ok(())
    })())
}

/// Runs `numerus model`.
pub fn model(args: &ModelArgs) -> ExitCode {
    finish((|| {
        let ModelCommand::Create { account, name } = &args.command;
        let mut service = args.place.existing()?;
        let id = service.create_model(account, name, Timestamp::now())?;
        println!(
            "model {name} created for {account} in {} (id {id})",
            service.definition().name
        );
        Ok(())
    })())
}

/// Runs `numerus round`.
pub fn round(args: &RoundArgs) -> ExitCode {
    finish((|| {
        let service = args.place.existing()?;
        match &args.command {
            RoundCommand::List { limit } => list(&service, limit.unwrap_or(usize::MAX)),
            RoundCommand::Show { number, json: true } => {
                let view = service
                    .round_view(*number, Timestamp::now())?
                    .with_context(|| format!("there is no round {number}"))?;
                println!("{}", serde_json::to_string_pretty(&view)?);
                Ok(())
            }
            RoundCommand::Show { number, .. } => show(&service, *number),
            RoundCommand::Export { number, out } => export(&service, *number, out),
            RoundCommand::MetaModel { out } => {
                let rows = service.publish_meta_model(out)?;
                println!("{} rows written to {}", rows, out.display());
                Ok(())
            }
        }
    })())
}

fn list(service: &Service<SqliteStore>, limit: usize) -> anyhow::Result<()> {
    let store = service.ledger().store();
    let tournament = service.definition().id;
    println!(
        "{:>6}  {:<9} {:<21} {:<21} {:<21} {:>6} {:>11}",
        "round", "phase", "open", "close", "resolve", "scored", "submissions"
    );
    for round in store
        .round_records(tournament, false)?
        .into_iter()
        .take(limit)
    {
        let submissions = store.round_submissions(tournament, round.number)?.len();
        println!(
            "{:>6}  {:<9} {:<21} {:<21} {:<21} {:>6} {:>11}",
            round.number,
            round.phase.name(),
            round.open_at.to_string(),
            round.close_at.to_string(),
            round.resolve_at.to_string(),
            round.scored_days,
            submissions
        );
    }
    Ok(())
}

fn show(service: &Service<SqliteStore>, number: u32) -> anyhow::Result<()> {
    let store = service.ledger().store();
    let tournament = service.definition().id;
    let Some(round) = store.round_record(tournament, number)? else {
        bail!("there is no round {number}; `numerus round list` shows the rounds recorded");
    };
    println!(
        "round {number}: {} — data {}, open {}, close {}, first score {}, resolve {}, {} of {} days scored",
        round.phase.name(),
        round.data_date,
        round.open_at,
        round.close_at,
        round.score_at,
        round.resolve_at,
        round.scored_days,
        service.definition().calendar.scoring_days
    );
    let finals: std::collections::HashMap<u64, _> = store
        .round_scores(tournament, number)?
        .into_iter()
        .filter(|score| score.day == round.scored_days && score.day > 0)
        .map(|score| (score.submission, score.values))
        .collect();
    println!(
        "{:>6}  {:<24} {:<10} {:<5} {:>9} {:>9} {:>9} {:>9}  reason",
        "id", "model", "state", "late", "corr", "mmc", "bmc", "fnc"
    );
    for submission in store.round_submissions(tournament, number)? {
        let name = store
            .model(ModelId(submission.model))?
            .map(|model| model.name)
            .unwrap_or_default();
        let value = |name: &str| {
            finals
                .get(&submission.id)
                .and_then(|values| values.get(name).copied().flatten())
                .map_or_else(|| "-".to_string(), |v| format!("{v:.5}"))
        };
        println!(
            "{:>6}  {:<24} {:<10} {:<5} {:>9} {:>9} {:>9} {:>9}  {}",
            submission.id,
            name,
            submission.state.name(),
            if submission.late { "yes" } else { "no" },
            value("corr"),
            value("mmc"),
            value("bmc"),
            value("fnc"),
            submission.reason.unwrap_or_default()
        );
    }
    Ok(())
}

fn export(service: &Service<SqliteStore>, number: u32, out: &Path) -> anyhow::Result<()> {
    let files = service.export_round(number, out)?;
    println!(
        "round {number}'s bundle written to {} ({} files, hashes in manifest.json)",
        out.display(),
        files.len() + 1
    );
    Ok(())
}

/// Runs `numerus leaderboard`.
pub fn leaderboard(args: &LeaderboardArgs) -> ExitCode {
    finish((|| {
        let service = args.place.existing()?;
        let now = args.at.unwrap_or_else(Timestamp::now);
        if let Some(year) = args.season {
            return print_season(&service, year, now, args.limit);
        }
        let rows = if args.accounts {
            service.account_leaderboard(&args.by, now)?
        } else {
            service.model_leaderboard(&args.by, now)?
        };
        println!(
            "{:>5}  {:<28} {:>14} {:>12}",
            "rank",
            if args.accounts { "account" } else { "model" },
            "stake (NMR)",
            format!("{} rep", args.by)
        );
        for ranked in rows.iter().take(args.limit) {
            println!(
                "{:>5}  {:<28} {:>14} {:>12}",
                ranked.rank,
                ranked.row.name,
                two_places(numerus_ledger::Nmr::from_base_units(ranked.row.stake)),
                ranked
                    .row
                    .score
                    .map_or_else(|| "-".to_string(), |score| format!("{score:.5}"))
            );
        }
        Ok(())
    })())
}

/// An amount with two decimal places, truncated (for tables; the exact value is in `numerus ledger`).
fn two_places(amount: numerus_ledger::Nmr) -> String {
    let text = amount.to_string();
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    format!("{whole}.{:0<2}", &fraction[..fraction.len().min(2)])
}

fn print_season(
    service: &Service<SqliteStore>,
    year: i16,
    now: Timestamp,
    limit: usize,
) -> anyhow::Result<()> {
    let rule = numerus_tournament::leaderboard::SeasonRule::classic();
    let season = service.season(year, now, &rule)?;
    let names: std::collections::HashMap<u64, String> =
        service.ledger().store().accounts()?.into_iter().collect();
    println!(
        "season {year}: {} rounds resolved; {} qualified rounds needed",
        season.rounds, rule.qualified_rounds_min
    );
    println!(
        "{:>5}  {:<28} {:>12} {:>10}  tier",
        "rank", "account", "score", "qualified"
    );
    for standing in season.standings.iter().take(limit) {
        println!(
            "{:>5}  {:<28} {:>12.5} {:>10}  {:?}",
            standing
                .rank
                .map_or_else(|| "-".to_string(), |rank| rank.to_string()),
            names.get(&standing.account).map_or("?", String::as_str),
            standing.score,
            standing.qualified_rounds,
            standing.tier
        );
    }
    Ok(())
}
