//! `numerus data signals` and `numerus data crypto`: the other tournaments' versions, built
//! from a stock panel (Signals) or a crypto panel (Crypto) into `DIR/signals/VERSION/` and
//! `DIR/crypto/VERSION/`.
//!
//! Neither needs the id key: Signals rows are keyed by public tickers, Crypto rows by symbols,
//! so nothing is written under `DIR/private`. Like `build`, each writes into a hidden
//! directory beside the destination and renames it into place only when complete.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use numerus_dataset::crypto::{CryptoSpec, build_crypto};
use numerus_dataset::plan::Split;
use numerus_dataset::signals::{SignalsSpec, build_signals};

use super::{parse_version, print_files, staged};

/// The flags of `numerus data signals`.
#[derive(Debug, clap::Args)]
pub struct SignalsArgs {
    /// The stock panel (Parquet; see `numerus data --help`).
    #[arg(long, value_name = "PANEL")]
    panel: PathBuf,
    /// The dataset directory; the version goes to DIR/signals/VERSION.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The version's name: its directory under DIR/signals.
    #[arg(long, default_value = "v1", value_parser = parse_version)]
    version: String,
    /// Share of the eras with known targets that go to validation.
    #[arg(long, default_value_t = 0.25)]
    validation_fraction: f64,
    /// Refuse dates with fewer stocks than this (binning needs a few per bin).
    #[arg(long, default_value_t = 50)]
    min_stocks: usize,
}

/// The flags of `numerus data crypto`.
#[derive(Debug, clap::Args)]
pub struct CryptoArgs {
    /// The crypto panel (Parquet: date, symbol, close, return, volume as traded value,
    /// market_cap; every calendar day), e.g. from `numerus data synth --crypto`.
    #[arg(long, value_name = "CRYPTO_PANEL")]
    panel: PathBuf,
    /// The dataset directory; the version goes to DIR/crypto/VERSION.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The version's name: its directory under DIR/crypto.
    #[arg(long, default_value = "v1", value_parser = parse_version)]
    version: String,
    /// Refuse dates with fewer tokens than this.
    #[arg(long, default_value_t = 20)]
    min_symbols: usize,
}

/// Checks that `out/tournament/version` is free and the panel exists, creates
/// `out/tournament`, and returns the version directory.
fn destination(
    out: &Path,
    tournament: &str,
    version: &str,
    panel: &Path,
    make_panel: &str,
) -> anyhow::Result<PathBuf> {
    let published = out.join(tournament).join(version);
    ensure!(
        !published.exists(),
        "{tournament} version {version} already exists at {}; choose another --version (e.g. v2) \
         or delete that directory",
        published.display()
    );
    ensure!(
        panel.is_file(),
        "no panel at {}; make one with `{make_panel}`",
        panel.display()
    );
    let parent = published.parent().expect("has a parent");
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    Ok(published)
}

/// Runs `numerus data signals`.
pub fn signals(args: &SignalsArgs) -> anyhow::Result<()> {
    let published = destination(
        &args.out,
        "signals",
        &args.version,
        &args.panel,
        "numerus data synth",
    )?;
    let spec = SignalsSpec {
        validation_fraction: args.validation_fraction,
        min_stocks: args.min_stocks,
    };
    let (report, staging) = staged(&published, "building signals", |files, progress| {
        build_signals(&args.panel, &spec, files, progress)
    })?;
    staging.commit(&published)?;
    let plan = &report.plan;
    println!(
        "built {}: {} train eras, {} embargoed, {} validation eras, {} neutralizer columns, live {}",
        published.display(),
        plan.count(Split::Train),
        plan.count(Split::Embargo),
        plan.count(Split::Validation),
        report.neutralizers.len(),
        plan.live.0
    );
    print_files(&report.files);
    Ok(())
}

/// Runs `numerus data crypto`.
pub fn crypto(args: &CryptoArgs) -> anyhow::Result<()> {
    let published = destination(
        &args.out,
        "crypto",
        &args.version,
        &args.panel,
        "numerus data synth --crypto",
    )?;
    let spec = CryptoSpec {
        min_symbols: args.min_symbols,
    };
    let (report, staging) = staged(&published, "building crypto", |files, progress| {
        build_crypto(&args.panel, &spec, files, progress)
    })?;
    staging.commit(&published)?;
    let dates = report.train_dates.map_or_else(
        || "none".to_string(),
        |(first, last)| format!("{first} to {last}"),
    );
    println!(
        "built {}: {} train dates ({dates}), live {} with {} tokens",
        published.display(),
        report.train_date_count,
        report.live_date,
        report.live_symbols
    );
    print_files(&report.files);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("numerus-tournaments-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_existing_version_is_refused() {
        let dir = scratch("existing");
        let panel = dir.join("panel.parquet");
        fs::write(&panel, b"not read").unwrap();
        for tournament in ["signals", "crypto"] {
            fs::create_dir_all(dir.join(tournament).join("v1")).unwrap();
            fs::write(dir.join(tournament).join("v1").join("keep.txt"), b"kept").unwrap();
        }
        let signals_args = SignalsArgs {
            panel: panel.clone(),
            out: dir.clone(),
            version: "v1".to_string(),
            validation_fraction: 0.25,
            min_stocks: 50,
        };
        let error = signals(&signals_args).unwrap_err().to_string();
        assert!(
            error.contains("signals version v1 already exists"),
            "{error}"
        );
        let crypto_args = CryptoArgs {
            panel,
            out: dir.clone(),
            version: "v1".to_string(),
            min_symbols: 20,
        };
        let error = crypto(&crypto_args).unwrap_err().to_string();
        assert!(
            error.contains("crypto version v1 already exists"),
            "{error}"
        );
        for tournament in ["signals", "crypto"] {
            assert_eq!(
                fs::read(dir.join(tournament).join("v1").join("keep.txt")).unwrap(),
                b"kept"
            );
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
