//! A market that makes live files only (the given ids, one feature) and no targets: enough
//! for uploads, which is what the server tests and the upload benchmark exercise.

use std::path::Path;

use jiff::civil::Date;
use numerus_app::Error;
use numerus_app::market::Market;
use numerus_frames::{Column, Table, Values, write_table};

/// Live files for every date up to `through`; no targets.
pub struct LiveOnly {
    /// The live ids, in file order.
    pub ids: Vec<String>,
    /// The last date with data.
    pub through: Date,
}

impl Market for LiveOnly {
    fn available_through(&self) -> Option<Date> {
        Some(self.through)
    }

    fn live(&self, date: Date, dir: &Path) -> Result<(), Error> {
        let rows = self.ids.len();
        let text = |values: Vec<String>| Values::Text(values);
        let live = Table {
            columns: vec![
                Column {
                    name: "id".into(),
                    values: text(self.ids.clone()),
                },
                Column {
                    name: "era".into(),
                    values: text(vec![date.to_string(); rows]),
                },
                Column {
                    name: "data_type".into(),
                    values: text(vec!["live".into(); rows]),
                },
                Column {
                    name: "feature_a".into(),
                    values: Values::Number((0..rows).map(|row| (row % 5) as f64).collect()),
                },
            ],
        };
        let preds = Table {
            columns: vec![
                Column {
                    name: "id".into(),
                    values: text(self.ids.clone()),
                },
                Column {
                    name: "prediction".into(),
                    values: Values::Number(
                        (0..rows).map(|r| (r as f64 + 0.5) / rows as f64).collect(),
                    ),
                },
            ],
        };
        write_table(&dir.join("live.parquet"), &live)?;
        write_table(&dir.join("live_example_preds.parquet"), &preds)?;
        Ok(())
    }

    fn targets(&self, _: Date, _: &Path) -> Result<(), Error> {
        Err(Error::Market("this market has no targets".into()))
    }
}
