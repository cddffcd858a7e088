//! `numerus ledger`: read and operate the NMR ledger in a data directory.
//!
//! Reading commands (`balances`, `history`, `supply`, `audit`) never create anything;
//! operating commands (`genesis`, `buyback`, `emit`) apply one idempotent batch each,
//! stamped with the wall clock (the CLI is the edge where the clock is read).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use numerus_ledger::{
    AccountId, Ledger, LedgerError, LedgerView, Nmr, Outcome, Rate, Store, SupplyReport, audit,
};
use numerus_store_sqlite::SqliteStore;

/// The database file inside a data directory.
pub const DATABASE_FILE: &str = "numerus.sqlite";

const LONG_ABOUT: &str = "\
Amounts are NMR as exact decimals with up to 18 places (the token's own unit, 10^-18 NMR);
accounts are named genesis, outside, treasury, burn, wallet:USER, stake:MODEL and
pending:MODEL (a model's stake waiting to be released).

Exit status: 0 on success, 1 when `audit` finds a problem, 2 on bad input or a refused
operation (nothing is changed then).";

/// Arguments of `numerus ledger`.
#[derive(Debug, Args)]
#[command(long_about = LONG_ABOUT)]
pub struct LedgerArgs {
    /// The data directory; the ledger is its `numerus.sqlite`.
    #[arg(long, default_value = "numerus-data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Every account's balance (posted; held amounts of pending withdrawals shown apart).
    Balances {
        /// Only accounts of this kind: wallet, stake, pending, treasury, outside, burn, genesis.
        #[arg(long)]
        kind: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The latest transfers into or out of one account, newest first.
    History {
        /// The account, e.g. treasury, wallet:7, stake:42.
        account: AccountId,
        /// How many transfers to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Where every NMR is: minted, burned (in total and per round), treasury, staked, ...
    Supply {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replay every transfer from the log, recompute every balance and check every
    /// invariant; exits 1 on any difference.
    Audit {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Mint the supply, once: part to the treasury, the rest to the outside market.
    /// Creates the data directory and database if needed.
    Genesis {
        /// NMR for the treasury (Numerai's holds about 3,000,000).
        #[arg(long)]
        treasury: Nmr,
        /// NMR held outside the platform, on the market.
        #[arg(long)]
        outside: Nmr,
    },
    /// Record NMR bought back on the market into the treasury.
    Buyback {
        /// NMR bought.
        #[arg(long)]
        nmr: Nmr,
        /// Price paid per NMR in US dollars.
        #[arg(long)]
        price_usd: Rate,
        /// The purchase's chain transaction hash (0x and 64 hex digits); also its id.
        #[arg(long)]
        tx: String,
    },
    /// Pay NMR out of the treasury to a wallet or to the market (a grant, a sale).
    Emit {
        /// A unique id for this emission: retrying with the same id applies it once.
        #[arg(long)]
        id: String,
        /// The receiving account: wallet:USER or outside.
        #[arg(long)]
        to: AccountId,
        /// NMR to pay.
        #[arg(long)]
        amount: Nmr,
        /// Why, recorded with the transfer.
        #[arg(long)]
        reason: String,
    },
}

/// A failure that is the user's to fix (exit 2) rather than the audit's finding (exit 1).
fn refused(error: anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(2)
}

/// Runs `numerus ledger`.
pub fn run(args: LedgerArgs) -> ExitCode {
    let database = args.data_dir.join(DATABASE_FILE);
    let result = match args.command {
        LedgerCommand::Genesis { treasury, outside } => operate(&args.data_dir, |ledger, now| {
            ledger.genesis(treasury, outside, now)
        }),
        LedgerCommand::Buyback { nmr, price_usd, tx } => operate(&args.data_dir, |ledger, now| {
            ledger.buyback(nmr, price_usd, &tx, now)
        }),
        LedgerCommand::Emit {
            id,
            to,
            amount,
            reason,
        } => operate(&args.data_dir, |ledger, now| {
            ledger.emit(&id, to, amount, &reason, now)
        }),
        LedgerCommand::Balances { kind, json } => {
            existing(&database).and_then(|store| balances(&store, kind, json))
        }
        LedgerCommand::History {
            account,
            limit,
            json,
        } => existing(&database).and_then(|store| history(&store, account, limit, json)),
        LedgerCommand::Supply { json } => {
            existing(&database).and_then(|store| supply(&store, json))
        }
        LedgerCommand::Audit { json } => {
            match existing(&database).and_then(|store| run_audit(&store, json)) {
                Ok(true) => return ExitCode::SUCCESS,
                Ok(false) => return ExitCode::FAILURE,
                Err(error) => Err(error),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => refused(error),
    }
}

/// Opens the ledger of a data directory that must already hold one.
fn existing(database: &Path) -> anyhow::Result<SqliteStore> {
    if !database.is_file() {
        bail!(
            "no ledger at {}; pass --data-dir of a Numerus data directory, or create one with `numerus ledger genesis`",
            database.display()
        );
    }
    SqliteStore::open(database).with_context(|| format!("opening {}", database.display()))
}

/// Applies one operation at the wall clock's time and says what happened.
fn operate(
    data_dir: &Path,
    operation: impl FnOnce(&mut Ledger<SqliteStore>, jiff::Timestamp) -> Result<Outcome, LedgerError>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let database = data_dir.join(DATABASE_FILE);
    let store =
        SqliteStore::open(&database).with_context(|| format!("opening {}", database.display()))?;
    let mut ledger = Ledger::new(store);
    match operation(&mut ledger, jiff::Timestamp::now())? {
        Outcome::Applied => println!("applied"),
        Outcome::AlreadyApplied => println!("already applied earlier; nothing changed"),
    }
    Ok(())
}

fn kind_name(account: AccountId) -> &'static str {
    match account {
        AccountId::Genesis => "genesis",
        AccountId::Outside => "outside",
        AccountId::Treasury => "treasury",
        AccountId::Burn => "burn",
        AccountId::Wallet(_) => "wallet",
        AccountId::Stake(_) => "stake",
        AccountId::PendingRelease(_) => "pending",
    }
}

fn balances(store: &SqliteStore, kind: Option<String>, json: bool) -> anyhow::Result<()> {
    const KINDS: [&str; 7] = [
        "genesis", "outside", "treasury", "burn", "wallet", "stake", "pending",
    ];
    if let Some(kind) = &kind
        && !KINDS.contains(&kind.as_str())
    {
        bail!(
            "--kind {kind:?} is not an account kind; use one of {}",
            KINDS.join(", ")
        );
    }
    let rows: Vec<_> = store
        .balances()?
        .into_iter()
        .filter(|(account, _)| {
            kind.as_deref()
                .is_none_or(|kind| kind_name(*account) == kind)
        })
        .collect();
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|(account, balance)| {
                serde_json::json!({
                    "account": account,
                    "balance": balance.posted(),
                    "available": balance.available(),
                    "debits_posted": balance.debits_posted,
                    "credits_posted": balance.credits_posted,
                    "debits_pending": balance.debits_pending,
                    "credits_pending": balance.credits_pending,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{:<16} {:>28} {:>28}", "account", "balance", "held");
    for (account, balance) in rows {
        let shown = if account == AccountId::Genesis {
            balance.debits_posted
        } else {
            balance.posted()
        };
        let label = if account == AccountId::Genesis {
            format!("{account} (minted)")
        } else {
            account.to_string()
        };
        println!(
            "{label:<16} {:>28} {:>28}",
            shown.to_string(),
            balance.debits_pending.to_string()
        );
    }
    Ok(())
}

fn history(
    store: &SqliteStore,
    account: AccountId,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    if store.balance(account)?.is_none() {
        bail!("account {account} does not exist in this ledger");
    }
    let transfers = store.account_transfers(account, limit)?;
    if json {
        let rows: Vec<_> = transfers
            .iter()
            .map(|logged| {
                serde_json::json!({
                    "seq": logged.seq,
                    "at": logged.at.to_string(),
                    "batch": logged.batch,
                    "transfer": logged.transfer,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:>8}  {:<20}  {:<16} {:>26}  {:<16}  id",
        "seq", "at", "code", "amount", "counterparty"
    );
    for logged in transfers {
        let transfer = &logged.transfer;
        let (sign, counterparty) = if transfer.debit == account {
            ("-", transfer.credit)
        } else {
            ("+", transfer.debit)
        };
        let mode = match &transfer.mode {
            numerus_ledger::Mode::Posted => "",
            numerus_ledger::Mode::Pending => " (held)",
            numerus_ledger::Mode::Post(_) => " (hold posted)",
            numerus_ledger::Mode::Void(_) => " (hold voided)",
        };
        println!(
            "{:>8}  {:<20}  {:<16} {:>26}  {:<16}  {}{mode}",
            logged.seq,
            logged.at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
            transfer.code.as_str(),
            format!("{sign}{}", transfer.amount),
            counterparty.to_string(),
            transfer.id,
        );
    }
    Ok(())
}

fn supply(store: &SqliteStore, json: bool) -> anyhow::Result<()> {
    let report = SupplyReport::new(&store.balances()?, &store.burned_by_round()?);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let lines = [
        ("max supply", report.max_supply),
        ("minted", report.minted),
        ("burned", report.burned),
        ("circulating", report.circulating),
        ("  treasury", report.treasury),
        ("  outside", report.outside),
        ("  wallets", report.wallets),
        ("  staked", report.staked),
        ("  pending release", report.pending_release),
        ("in flight (held)", report.in_flight),
    ];
    for (label, amount) in lines {
        println!("{label:<20} {:>28}", amount.to_string());
    }
    println!(
        "{:<20} {:>28}",
        "balanced",
        if report.balanced { "yes" } else { "NO" }
    );
    if !report.burned_by_round.is_empty() {
        println!("burned per round (tournament/round):");
        for (round, amount) in &report.burned_by_round {
            println!("  {round:<18} {:>28}", amount.to_string());
        }
    }
    Ok(())
}

/// Prints the audit; `Ok(true)` when clean.
fn run_audit(store: &SqliteStore, json: bool) -> anyhow::Result<bool> {
    let report = audit::audit(store)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.is_clean() {
        println!(
            "audit clean: {} transfers replayed, {} accounts match, minted {} NMR, burned {} NMR",
            report.transfers, report.accounts, report.minted, report.burned
        );
    } else {
        println!("audit found {} problem(s):", report.problems.len());
        for problem in &report.problems {
            println!("  {problem}");
        }
    }
    Ok(report.is_clean())
}
