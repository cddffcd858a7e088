//! Integration tests of the dataset factory, one module per area.

mod classic;
mod crypto;
mod signals;
mod synth;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use numerus_dataset::Error;
use numerus_dataset::output::Files;
use numerus_dataset::panel::{PanelDay, PanelKind, PanelWriter};

/// A fresh directory per test under the build's scratch space.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("numerus-dataset-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Build output into a directory.
pub struct Directory(pub PathBuf);

impl Files for Directory {
    fn create(&mut self, name: &str) -> Result<Box<dyn Write + Send>, Error> {
        Ok(Box::new(BufWriter::new(
            File::create(self.0.join(name)).unwrap(),
        )))
    }
}

/// Writes `days` as a panel of `kind` at `path`.
pub fn write_panel(path: &Path, kind: PanelKind, days: &[PanelDay]) {
    let mut writer = PanelWriter::new(File::create(path).unwrap(), kind).unwrap();
    for day in days {
        writer.write_day(day).unwrap();
    }
    writer.finish().unwrap();
}
