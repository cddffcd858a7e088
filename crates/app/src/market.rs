//! Where rounds get their data: each round's live files and, as returns arrive, each day's
//! targets of the live eras being scored.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use numerus_dataset::classic::VersionRecipe;
use numerus_dataset::ids::IdKey;
use numerus_dataset::live::{build_live, build_targets};
use numerus_dataset::output::Directory;
use numerus_dataset::panel::{PanelKind, scan_dates};

use crate::Error;

/// The data a tournament runs on.
pub trait Market {
    /// The last market date with data: targets are known up to it.
    fn available_through(&self) -> Option<Date>;

    /// Writes `live.parquet` and `live_example_preds.parquet` of market date `date` into `dir`.
    ///
    /// # Errors
    /// [`Error::Market`].
    fn live(&self, date: Date, dir: &Path) -> Result<(), Error>;

    /// Writes `targets.parquet`, the targets known on `date` of the live eras being scored
    /// (columns `era`, `date`, `day`, targets, `id`), into `dir`.
    ///
    /// # Errors
    /// [`Error::Market`].
    fn targets(&self, date: Date, dir: &Path) -> Result<(), Error>;
}

/// A market read from a panel with a built dataset version's recipe and id key (what
/// `numerus data build` made).
#[derive(Debug)]
pub struct DatasetMarket {
    panel: PathBuf,
    version: VersionRecipe,
    key: IdKey,
    min_stocks: usize,
    last: Option<Date>,
}

impl DatasetMarket {
    /// The market of `panel` for `version`, with ids from `key`.
    ///
    /// # Errors
    /// [`Error::Market`] when the panel cannot be read.
    pub fn open(
        panel: &Path,
        version: VersionRecipe,
        key: IdKey,
        min_stocks: usize,
    ) -> Result<Self, Error> {
        let dates = scan_dates(panel, PanelKind::Stocks).map_err(market)?;
        Ok(Self {
            panel: panel.to_owned(),
            version,
            key,
            min_stocks,
            last: dates.last().copied(),
        })
    }
}

fn market(error: numerus_dataset::Error) -> Error {
    Error::Market(error.to_string())
}

impl Market for DatasetMarket {
    fn available_through(&self) -> Option<Date> {
        self.last
    }

    fn live(&self, date: Date, dir: &Path) -> Result<(), Error> {
        build_live(
            &self.panel,
            &self.version,
            &self.key,
            date,
            self.min_stocks,
            &mut Directory(dir.to_owned()),
        )
        .map_err(market)?;
        Ok(())
    }

    fn targets(&self, date: Date, dir: &Path) -> Result<(), Error> {
        build_targets(
            &self.panel,
            &self.version,
            &self.key,
            date,
            self.min_stocks,
            &mut Directory(dir.to_owned()),
        )
        .map_err(market)?;
        Ok(())
    }
}

/// A synthetic market for simulations and tests: a seeded stock panel whose first
/// `history_days` business days (ending the market day before `first_data_date`) build the
/// dataset participants train on, followed by `extra_days` for the rounds to run on.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    /// Stocks listed each day.
    pub stocks: usize,
    /// Engineered features of the dataset.
    pub features: usize,
    /// Seed of the market, the features and the id key.
    pub seed: u64,
    /// Business days of history before `first_data_date` (at least ~560: features look back
    /// 271 days and training needs eras with complete targets).
    pub history_days: usize,
    /// Business days from `first_data_date` on.
    pub extra_days: usize,
    /// The data date of the first round to run.
    pub first_data_date: Date,
}

/// Writes the panel (`DIR/market/panel.parquet`, plus the history alone in
/// `history.parquet`) and builds the training dataset into `DIR/data/v1`; returns the market
/// over the whole panel and the dataset directory.
///
/// # Errors
/// [`Error::Market`], [`Error::Io`].
pub fn synthetic(dir: &Path, spec: &SyntheticSpec) -> Result<(DatasetMarket, PathBuf), Error> {
    use numerus_dataset::classic::{ClassicSpec, build_classic};
    use numerus_dataset::panel::PanelWriter;
    use numerus_dataset::synth::{StockSpec, synthesize_stocks};

    let market_dir = dir.join("market");
    std::fs::create_dir_all(&market_dir).map_err(Error::io("create", &market_dir))?;
    let mut start = spec.first_data_date;
    let mut left = spec.history_days;
    while left > 0 {
        start = start
            .yesterday()
            .map_err(|_| Error::Market("the history starts before year -9999".into()))?;
        if !matches!(
            start.weekday(),
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        ) {
            left -= 1;
        }
    }
    let panel = market_dir.join("panel.parquet");
    let history = market_dir.join("history.parquet");
    let create = |path: &Path| -> Result<PanelWriter<BufWriter<File>>, Error> {
        let file = File::create(path).map_err(Error::io("create", path))?;
        PanelWriter::new(BufWriter::new(file), PanelKind::Stocks).map_err(market)
    };
    let (mut all, mut before) = (create(&panel)?, create(&history)?);
    let mut index = 0;
    synthesize_stocks(
        &StockSpec {
            stocks: spec.stocks,
            days: spec.history_days + spec.extra_days,
            start,
            seed: spec.seed,
        },
        |day| {
            all.write_day(&day)?;
            if index < spec.history_days {
                before.write_day(&day)?;
            }
            index += 1;
            Ok(())
        },
    )
    .map_err(market)?;
    for writer in [all, before] {
        writer
            .finish()
            .map_err(market)?
            .flush()
            .map_err(Error::io("write", &panel))?;
    }
    let key = synthetic_key(spec.seed);
    let version = dir.join("data").join("v1");
    std::fs::create_dir_all(&version).map_err(Error::io("create", &version))?;
    let report = build_classic(
        &history,
        &ClassicSpec {
            features: spec.features,
            seed: spec.seed,
            validation_fraction: 0.25,
            key: key.clone(),
            min_stocks: 50,
        },
        &mut Directory(version.clone()),
        &|_, _| {},
    )
    .map_err(market)?;
    let recipe = market_dir.join(RECIPE_FILE);
    let text = serde_json::to_string(&report.recipe)
        .map_err(|error| Error::Market(format!("writing the recipe: {error}")))?;
    std::fs::write(&recipe, text).map_err(Error::io("write", &recipe))?;
    let market = DatasetMarket::open(&panel, report.recipe, key, 50)?;
    Ok((market, version))
}

/// The recipe of a synthetic market's dataset, kept beside its panel so the market reopens.
const RECIPE_FILE: &str = "recipe.json";

/// The id key of a synthetic market: derived from its seed, so a seed replays the same ids.
fn synthetic_key(seed: u64) -> IdKey {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(format!("numerus id key {seed}"));
    IdKey::new(digest.into())
}

/// Reopens the market [`synthetic`] made in `dir` with `seed` (a restarted demo server).
///
/// # Errors
/// [`Error::Market`] when `dir` holds no synthetic market.
pub fn open_synthetic(dir: &Path, seed: u64) -> Result<DatasetMarket, Error> {
    let market_dir = dir.join("market");
    let recipe = market_dir.join(RECIPE_FILE);
    let text = std::fs::read_to_string(&recipe).map_err(|error| {
        Error::Market(format!(
            "{} cannot be read ({error}); is {} a demo data directory?",
            recipe.display(),
            dir.display()
        ))
    })?;
    let version = serde_json::from_str(&text)
        .map_err(|error| Error::Market(format!("{}: {error}", recipe.display())))?;
    DatasetMarket::open(
        &market_dir.join("panel.parquet"),
        version,
        synthetic_key(seed),
        50,
    )
}
