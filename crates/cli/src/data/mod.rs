//! `numerus data`: synthesize a market, build dataset versions from a panel, and keep a
//! version's live file and daily targets current.
//!
//! Layout of the dataset directory (`--out DIR`):
//!
//! ```text
//! DIR/v1/                  published: train, validation, live, example predictions,
//!                          features.json, manifest.json (what `list_datasets` serves)
//! DIR/signals/v1/, DIR/crypto/v1/   the other tournaments' versions
//! DIR/private/id.key       the secret ids are derived from (created on the first build)
//! DIR/private/v1/recipe.json        what each feature is, the eras, the example model
//! DIR/private/v1/targets/DATE.parquet   partial targets of the live eras on DATE
//! ```
//!
//! Builds write into a hidden temporary directory beside the destination and rename it into
//! place only when complete: a failed or interrupted build leaves nothing behind.

pub mod synth;
mod tournaments;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::terminal::progress_bar;
use anyhow::{Context, bail, ensure};
use jiff::civil::Date;
use numerus_dataset::classic::{ClassicSpec, VersionRecipe, build_classic};
use numerus_dataset::ids::IdKey;
use numerus_dataset::live::{build_live, build_targets};
use numerus_dataset::output::{Directory, FileEntry};
use numerus_dataset::plan::Split;
use rand::RngExt;

/// What `numerus data --help` shows after the subcommands.
const LONG_HELP: &str = "\
A panel is a Parquet file, one row per (date, ticker), sorted by date, with the columns
  date (YYYY-MM-DD, business days), ticker, country (ISO alpha-2), sector,
  close, return, volume, market_cap, book_value, earnings, sales, dividends (float64).
Convert your market data to it, or make one with `numerus data synth`.

A dataset directory holds published versions (DIR/v1, DIR/signals/v1, DIR/crypto/v1) and,
under DIR/private, the id key and each version's recipe. Never publish DIR/private: it maps
the obfuscated features and ids back to what they are.";

/// The flags of `numerus data`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = LONG_HELP)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DataCommand {
    /// Write a seeded synthetic market panel (stocks, or crypto with --crypto).
    Synth(synth::SynthArgs),
    /// Build a Classic dataset version (train, validation, live, features.json, ...) from a panel.
    Build(BuildArgs),
    /// Rebuild a version's live file (and live example predictions) for a date of the panel.
    Live(DailyArgs),
    /// Write the partial targets, as known on a date, of the live eras being scored.
    Targets(DailyArgs),
    /// Build a Signals dataset version (named factors, targets, neutralizer, sample weights) from a stock panel.
    Signals(tournaments::SignalsArgs),
    /// Build a Crypto dataset version (daily universes, targets, features) from a crypto panel.
    Crypto(tournaments::CryptoArgs),
}

/// Where a version lives.
#[derive(Debug, clap::Args)]
struct VersionArgs {
    /// The stock panel (Parquet).
    #[arg(long, value_name = "PANEL")]
    panel: PathBuf,
    /// The dataset directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The version's name: its directory under DIR.
    #[arg(long, default_value = "v1", value_parser = parse_version)]
    version: String,
    /// Refuse dates with fewer stocks than this (binning needs a few per bin).
    #[arg(long, default_value_t = 50)]
    min_stocks: usize,
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    #[command(flatten)]
    version: VersionArgs,
    /// Number of engineered features.
    #[arg(long, default_value_t = 200)]
    features: usize,
    /// Seeds which features are drawn, their order and their obfuscated names.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Share of the eras with known targets that go to validation.
    #[arg(long, default_value_t = 0.25)]
    validation_fraction: f64,
}

#[derive(Debug, clap::Args)]
struct DailyArgs {
    #[command(flatten)]
    version: VersionArgs,
    /// The date to build for (YYYY-MM-DD, a date of the panel); nothing after it is read.
    #[arg(long)]
    date: Date,
}

fn parse_version(text: &str) -> Result<String, String> {
    let ok = text.len() <= 32
        && text.starts_with('v')
        && text[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        && text.len() > 1;
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a version name; use e.g. v1, v2 or v5.2"
        ))
    }
}

/// Runs `numerus data`.
pub fn run(args: DataArgs) -> ExitCode {
    let outcome = match args.command {
        DataCommand::Synth(args) => synth::run(&args),
        DataCommand::Build(args) => build(&args),
        DataCommand::Live(args) => live(&args),
        DataCommand::Targets(args) => targets(&args),
        DataCommand::Signals(args) => tournaments::signals(&args),
        DataCommand::Crypto(args) => tournaments::crypto(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A temporary directory removed on drop unless kept.
struct Staging {
    path: PathBuf,
    kept: bool,
}

impl Staging {
    fn new(beside: &Path) -> anyhow::Result<Self> {
        let name = beside
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("version");
        let path = beside.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        if path.exists() {
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, kept: false })
    }

    /// Renames the staging directory to `destination`.
    fn commit(mut self, destination: &Path) -> anyhow::Result<()> {
        fs::rename(&self.path, destination)
            .with_context(|| format!("moving the build into {}", destination.display()))?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.kept {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The id key of a dataset directory.
fn id_key(out: &Path) -> anyhow::Result<IdKey> {
    let path = key_path(out);
    ensure!(
        path.exists(),
        "{} is missing: it is created by `numerus data build` and must be kept with the data",
        path.display()
    );
    Ok(IdKey::new(crate::secret::read_hex_key(&path)?))
}

fn key_path(out: &Path) -> PathBuf {
    out.join("private").join("id.key")
}

/// The existing id key of `out`, or a new one (from the operating system's randomness) and
/// the text to save once the build that uses it has succeeded: a refused first build leaves
/// no key behind.
fn existing_or_new_key(out: &Path) -> anyhow::Result<(IdKey, Option<String>)> {
    if key_path(out).exists() {
        return Ok((id_key(out)?, None));
    }
    let bytes: [u8; 32] = rand::rng().random();
    let text: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok((IdKey::new(bytes), Some(text)))
}

/// Saves a new id key (mode 0600).
fn save_key(out: &Path, text: &str) -> anyhow::Result<()> {
    crate::secret::write_private(&key_path(out), &format!("{text}\n"))
}

/// Runs a build into a fresh staging directory beside `published`, with a progress bar
/// labelled `what`; the caller renames the staging directory into place when all is done.
fn staged<R>(
    published: &Path,
    what: &str,
    build: impl FnOnce(
        &mut Directory,
        &(dyn Fn(usize, usize) + Sync),
    ) -> Result<R, numerus_dataset::Error>,
) -> anyhow::Result<(R, Staging)> {
    let staging = Staging::new(published)?;
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}} days {{elapsed}} (eta {{eta}})");
    let bar = progress_bar(0, &template);
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let report = build(&mut Directory(staging.path.clone()), &progress)?;
    bar.finish_and_clear();
    Ok((report, staging))
}

fn build(args: &BuildArgs) -> anyhow::Result<()> {
    let created = !args.version.out.exists();
    let built = build_version(args);
    if built.is_err() && created {
        // The staging directories are gone by now; the directory made for them goes too.
        let _ = fs::remove_dir(&args.version.out);
    }
    built
}

fn build_version(args: &BuildArgs) -> anyhow::Result<()> {
    let version = &args.version;
    let published = version.out.join(&version.version);
    let private = version.out.join("private").join(&version.version);
    ensure!(
        !published.exists() && !private.exists(),
        "version {} already exists in {}; choose another --version (e.g. v2) or delete {} and {}",
        version.version,
        version.out.display(),
        published.display(),
        private.display()
    );
    ensure!(
        version.panel.is_file(),
        "no panel at {}; make one with `numerus data synth`",
        version.panel.display()
    );
    fs::create_dir_all(&version.out)
        .with_context(|| format!("creating {}", version.out.display()))?;
    let (key, new_key) = existing_or_new_key(&version.out)?;
    let spec = ClassicSpec {
        features: args.features,
        seed: args.seed,
        validation_fraction: args.validation_fraction,
        key,
        min_stocks: version.min_stocks,
    };
    let (report, staging) = staged(&published, "building", |files, progress| {
        build_classic(&version.panel, &spec, files, progress)
    })?;
    fs::create_dir_all(private.parent().expect("has a parent"))?;
    if let Some(text) = new_key {
        save_key(&version.out, &text)?;
    }
    let private_staging = Staging::new(&private)?;
    write_recipe(&private_staging.path, &report.recipe)?;
    private_staging.commit(&private)?;
    staging.commit(&published)?;
    let plan = &report.recipe.plan;
    println!(
        "built {} with {} features: {} train eras, {} embargoed, {} validation eras, live {}",
        published.display(),
        report.recipe.recipe.features.len(),
        plan.count(Split::Train),
        plan.count(Split::Embargo),
        plan.count(Split::Validation),
        plan.live.0
    );
    print_files(&report.files);
    Ok(())
}

fn write_recipe(dir: &Path, recipe: &VersionRecipe) -> anyhow::Result<()> {
    let path = dir.join("recipe.json");
    crate::secret::write_private(&path, &serde_json::to_string_pretty(recipe)?)
}

fn read_recipe(version: &VersionArgs) -> anyhow::Result<VersionRecipe> {
    let path = version
        .out
        .join("private")
        .join(&version.version)
        .join("recipe.json");
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}: is {} a version built by `numerus data build --out {}`?",
            path.display(),
            version.version,
            version.out.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a version recipe", path.display()))
}

fn print_files(files: &[FileEntry]) {
    for file in files {
        println!(
            "  {:<36} {:>10} rows {:>14} bytes  sha256 {}",
            file.name,
            file.rows,
            file.bytes,
            &file.sha256[..16]
        );
    }
}

fn live(args: &DailyArgs) -> anyhow::Result<()> {
    let version = &args.version;
    let recipe = read_recipe(version)?;
    let key = id_key(&version.out)?;
    let published = version.out.join(&version.version);
    let staging = Staging::new(&published.join("live"))?;
    let entries = build_live(
        &version.panel,
        &recipe,
        &key,
        args.date,
        version.min_stocks,
        &mut Directory(staging.path.clone()),
    )?;
    for entry in &entries {
        let target = published.join(&entry.name);
        fs::rename(staging.path.join(&entry.name), &target)
            .with_context(|| format!("replacing {}", target.display()))?;
    }
    update_manifest(&published, &entries)?;
    println!(
        "live era of {} written to {}",
        args.date,
        published.display()
    );
    print_files(&entries);
    Ok(())
}

/// Replaces the entries of `entries`' files in `dir/manifest.json`.
fn update_manifest(dir: &Path, entries: &[FileEntry]) -> anyhow::Result<()> {
    let path = dir.join("manifest.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text)?;
    let Some(files) = manifest
        .get_mut("files")
        .and_then(|files| files.as_array_mut())
    else {
        bail!("{} has no file list", path.display());
    };
    for entry in entries {
        let value = serde_json::to_value(entry)?;
        match files
            .iter_mut()
            .find(|file| file["name"] == entry.name.as_str())
        {
            Some(file) => *file = value,
            None => files.push(value),
        }
    }
    let temporary = dir.join(".manifest.json.partial");
    fs::write(&temporary, serde_json::to_string_pretty(&manifest)? + "\n")?;
    fs::rename(&temporary, &path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

fn targets(args: &DailyArgs) -> anyhow::Result<()> {
    let version = &args.version;
    let recipe = read_recipe(version)?;
    let key = id_key(&version.out)?;
    let dir = version
        .out
        .join("private")
        .join(&version.version)
        .join("targets");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let staging = Staging::new(&dir.join(args.date.to_string()))?;
    let entry = build_targets(
        &version.panel,
        &recipe,
        &key,
        args.date,
        version.min_stocks,
        &mut Directory(staging.path.clone()),
    )?;
    let target = dir.join(format!("{}.parquet", args.date));
    fs::rename(staging.path.join(&entry.name), &target)
        .with_context(|| format!("writing {}", target.display()))?;
    println!(
        "{} rows of partial targets as of {} written to {}",
        entry.rows,
        args.date,
        target.display()
    );
    Ok(())
}
