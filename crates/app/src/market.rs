//! Where rounds get their data: each round's live files and, as returns arrive, each day's
//! targets of the live eras being scored.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use numerus_dataset::classic::VersionRecipe;
use numerus_dataset::ids::IdKey;
use numerus_dataset::live::{build_live, build_targets};
use numerus_dataset::output::Files;
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

struct Directory<'a>(&'a Path);

impl Files for Directory<'_> {
    fn create(&mut self, name: &str) -> Result<Box<dyn Write + Send>, numerus_dataset::Error> {
        let path = self.0.join(name);
        let file = File::create(&path).map_err(|source| numerus_dataset::Error::Io {
            path,
            action: "create",
            source,
        })?;
        Ok(Box::new(BufWriter::new(file)))
    }
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
            &mut Directory(dir),
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
            &mut Directory(dir),
        )
        .map_err(market)?;
        Ok(())
    }
}
