//! `numerus data synth`: writes a seeded synthetic market panel (stocks or crypto) to one
//! Parquet file, streaming day by day through a temporary file renamed into place at the end.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::terminal::{grouped, progress_bar};
use anyhow::{Context, ensure};
use jiff::civil::Date;
use numerus_dataset::panel::{PanelDay, PanelKind, PanelWriter};
use numerus_dataset::synth::{CryptoSpec, StockSpec, synthesize_crypto, synthesize_stocks};

/// What `numerus data synth --help` shows after the flags. (The one-line description comes
/// from the subcommand's doc comment in `data/mod.rs`, which clap prefers to the struct's.)
const LONG_HELP: &str = "\
The market has factor returns (a market factor with calm and turbulent regimes, sectors,
countries, styles), quarterly point-in-time fundamentals, volume, listings and delistings,
and a weak alpha that depends on characteristics computable from the panel (value, earnings
yield, dividend yield, reversal, momentum, volume shock, low volatility, post-earnings drift)
with coefficients that change regime every 6 to 18 months, plus a hidden part no column
shows. The model and its parameters are documented in crates/dataset/src/synth.rs.

The same flags give the same panel, and the first D days of a longer panel are the panel of
D days: a demo can extend its market a day at a time.

A stock panel has one row per (business date, ticker), sorted by date:
  date        YYYY-MM-DD, Monday to Friday
  ticker      1 to 5 uppercase letters, unique within a date, never reused after a delisting
  country     ISO 3166 alpha-2 country of listing (US, JP, GB, ...)
  sector      one of the eleven GICS sectors
  close       closing price (previous close x (1 + return): a total-return price)
  return      total return from the previous close; NaN on a ticker's first day
  volume      shares traded
  market_cap  close x shares outstanding
  book_value, earnings, sales, dividends
              trailing fundamentals as known on the date (they change at quarterly reports)

A crypto panel (--crypto) has one row per (calendar date, symbol), every day of the week,
with the columns date, symbol (BTC, ETH and NMR always among them), close, return,
volume (traded value in USD) and market_cap.

The panel is written to a hidden file beside --out and renamed into place when complete.
The format is described in crates/dataset/src/panel.rs; `numerus data build` reads it.";

/// The flags of `numerus data synth`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = LONG_HELP)]
pub struct SynthArgs {
    /// The panel file to write (.parquet); refused if it exists, unless --force.
    #[arg(long, value_name = "PANEL")]
    out: PathBuf,
    /// Replace --out if it exists.
    #[arg(long)]
    force: bool,
    /// Stocks listed on every date (at least 50).
    #[arg(long, default_value_t = 500, conflicts_with = "crypto")]
    stocks: usize,
    /// Days to generate: business days, or calendar days with --crypto.
    #[arg(long, default_value_t = 1300)]
    days: usize,
    /// Seed of the market: the same seed and flags give the same panel.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The first date (a stock panel starts on the first business day on or after it).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2015-01-05")]
    start: Date,
    /// Write a crypto panel (every calendar day) instead of a stock panel.
    #[arg(long)]
    crypto: bool,
    /// Crypto tokens listed on every date, BTC, ETH and NMR included (at least 20).
    #[arg(long, default_value_t = 100, requires = "crypto")]
    symbols: usize,
}

/// Runs `numerus data synth`.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    ensure!(
        args.out
            .extension()
            .is_some_and(|extension| extension == "parquet"),
        "--out {} must be a .parquet file",
        args.out.display()
    );
    ensure!(
        args.force || !args.out.exists(),
        "{} exists; pass --force to replace it",
        args.out.display()
    );
    let (kind, stock_spec, crypto_spec) = if args.crypto {
        let spec = CryptoSpec {
            symbols: args.symbols,
            days: args.days,
            start: args.start,
            seed: args.seed,
        };
        spec.validate()?;
        (PanelKind::Crypto, None, Some(spec))
    } else {
        let spec = StockSpec {
            stocks: args.stocks,
            days: args.days,
            start: args.start,
            seed: args.seed,
        };
        spec.validate()?;
        (PanelKind::Stocks, Some(spec), None)
    };
    if let Some(parent) = args
        .out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let temporary = Temporary::beside(&args.out);
    let file = File::create(&temporary.path)
        .with_context(|| format!("creating {}", temporary.path.display()))?;
    let mut writer = PanelWriter::new(BufWriter::with_capacity(1 << 20, file), kind)?;
    let bar = progress_bar(
        args.days as u64,
        "synthesizing {bar:40} {pos}/{len} days {elapsed} (eta {eta})",
    );
    let mut summary = Summary::default();
    let mut emit = |day: PanelDay| {
        writer.write_day(&day)?;
        summary.add(&day);
        bar.inc(1);
        Ok(())
    };
    let outcome = match (&stock_spec, &crypto_spec) {
        (Some(spec), _) => synthesize_stocks(spec, &mut emit),
        (_, Some(spec)) => synthesize_crypto(spec, &mut emit),
        (None, None) => unreachable!("one spec is built above"),
    };
    bar.finish_and_clear();
    outcome.context("synthesizing the market")?;
    let mut sink = writer.finish()?;
    sink.flush()
        .with_context(|| format!("writing {}", temporary.path.display()))?;
    let file = sink.into_inner().context("flushing the panel")?;
    file.sync_all()
        .with_context(|| format!("writing {}", temporary.path.display()))?;
    temporary.persist(&args.out)?;
    println!(
        "wrote {} rows ({} dates, {} to {}) to {}",
        grouped(summary.rows as u64),
        grouped(summary.dates as u64),
        summary
            .first
            .map_or_else(String::new, |date| date.to_string()),
        summary
            .last
            .map_or_else(String::new, |date| date.to_string()),
        args.out.display()
    );
    Ok(())
}

/// What was written, for the summary line.
#[derive(Debug, Default)]
struct Summary {
    rows: usize,
    dates: usize,
    first: Option<Date>,
    last: Option<Date>,
}

impl Summary {
    fn add(&mut self, day: &PanelDay) {
        self.rows += day.len();
        self.dates += 1;
        self.first.get_or_insert(day.date());
        self.last = Some(day.date());
    }
}

/// A file beside the destination, removed on drop unless persisted: an interrupted or failed
/// run leaves nothing behind, and the destination is only ever a complete panel.
struct Temporary {
    path: PathBuf,
    persisted: bool,
}

impl Temporary {
    /// A temporary path beside `destination`. Leftovers of earlier runs for the same
    /// destination, killed before they could clean up (Ctrl-C), are removed.
    fn beside(destination: &Path) -> Self {
        let name = destination
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("panel");
        let prefix = format!(".{name}.partial-");
        let directory = destination
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty());
        if let Ok(entries) = fs::read_dir(directory.unwrap_or(Path::new("."))) {
            for entry in entries.flatten() {
                let file = entry.file_name();
                let pid = file.to_str().and_then(|file| file.strip_prefix(&prefix));
                if pid.is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
                {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let path = destination.with_file_name(format!("{prefix}{}", std::process::id()));
        Self {
            path,
            persisted: false,
        }
    }

    fn persist(mut self, destination: &Path) -> anyhow::Result<()> {
        fs::rename(&self.path, destination)
            .with_context(|| format!("moving the panel to {}", destination.display()))?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}
