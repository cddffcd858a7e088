//! The in-memory table: named columns of text or numbers, all the same length.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use crate::Error;

/// A table of named columns, all of the same length (one entry per row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The columns, in file order; names are unique.
    pub columns: Vec<Column>,
}

/// One named column of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column name, as in the file header or schema.
    pub name: String,
    /// The values, one per row.
    pub values: Values,
}

/// The values of a [`Column`]: text or numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Text such as ids, eras and model names.
    Text(Vec<String>),
    /// Numbers such as features, targets and predictions; NaN marks a missing value.
    Number(Vec<f64>),
}

/// The name and kind of a column of a [`TableReader`](crate::TableReader), before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// The column name, as in the file header or schema.
    pub name: String,
    /// Whether the column reads as [`Values::Text`] (else [`Values::Number`]).
    pub text: bool,
}

/// What [`read_table`](crate::read_table) reads, and as what.
#[derive(Clone, Copy, Default)]
pub struct ReadOptions<'a> {
    /// Columns always read as text (e.g. "id", "era", "submission"); in CSV "0001" stays "0001".
    pub text_columns: &'a [&'a str],
    /// Keep only the columns for which this returns true (projection: unread columns are never
    /// decoded). None = all.
    pub select: Option<&'a dyn Fn(&str) -> bool>,
}

impl fmt::Debug for ReadOptions<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ReadOptions")
            .field("text_columns", &self.text_columns)
            .field("select", &self.select.map(|_| "Fn(&str) -> bool"))
            .finish()
    }
}

impl ReadOptions<'_> {
    /// Whether the column `name` is read at all.
    pub(crate) fn selects(&self, name: &str) -> bool {
        self.select.is_none_or(|select| select(name))
    }

    /// Whether the column `name` is read as text.
    pub(crate) fn is_text(&self, name: &str) -> bool {
        self.text_columns.contains(&name)
    }
}

impl Table {
    /// The number of rows (0 for a table without columns).
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, |column| column.values.len())
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column named `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// The number columns whose names start with `prefix` (`"feature_"`), in file order.
    pub fn numbers_with_prefix(&self, prefix: &str) -> Vec<&[f64]> {
        self.columns
            .iter()
            .filter(|column| column.name.starts_with(prefix))
            .filter_map(|column| column.values.as_numbers())
            .collect()
    }

    /// Checks that the columns have unique names and equal lengths, as a file for `path` needs.
    pub(crate) fn check_shape(&self, path: &Path) -> Result<(), Error> {
        check_unique_names(path, self.columns.iter().map(|column| column.name.as_str()))?;
        let rows = self.len();
        match self
            .columns
            .iter()
            .find(|column| column.values.len() != rows)
        {
            None => Ok(()),
            Some(column) => Err(Error::RaggedColumns {
                path: path.to_path_buf(),
                column: column.name.clone(),
                rows: column.values.len(),
                first_column: self.columns[0].name.clone(),
                first_rows: rows,
            }),
        }
    }
}

impl Column {
    /// A text column.
    pub fn text(name: impl Into<String>, values: Vec<String>) -> Self {
        Self {
            name: name.into(),
            values: Values::Text(values),
        }
    }

    /// A number column.
    pub fn number(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            values: Values::Number(values),
        }
    }
}

impl Values {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(values) => values.len(),
            Self::Number(values) => values.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text values, or `None` for a number column.
    pub fn as_text(&self) -> Option<&[String]> {
        match self {
            Self::Text(values) => Some(values),
            Self::Number(_) => None,
        }
    }

    /// The numbers, or `None` for a text column.
    pub fn as_numbers(&self) -> Option<&[f64]> {
        match self {
            Self::Text(_) => None,
            Self::Number(values) => Some(values),
        }
    }

    /// Appends `more` (of the same kind) to these values, which will hold `total` values in all.
    pub(crate) fn append(&mut self, more: Self, total: usize) {
        match (self, more) {
            (Self::Text(values), Self::Text(more)) => append(values, more, total),
            (Self::Number(values), Self::Number(more)) => append(values, more, total),
            _ => unreachable!("a column decodes to the same kind in every batch"),
        }
    }
}

/// Appends `more` to `values`, which will hold `total` values in all.
///
/// A first batch that holds every value becomes the column as it is; otherwise room for all of
/// them is reserved once, so the column is never reallocated (which would hold it twice).
fn append<T>(values: &mut Vec<T>, more: Vec<T>, total: usize) {
    if values.is_empty() && more.len() == total {
        *values = more;
        return;
    }
    values.reserve_exact(total.saturating_sub(values.len()).max(more.len()));
    values.extend(more);
}

/// Fails with [`Error::DuplicateColumn`] if a name appears twice.
pub(crate) fn check_unique_names<'a>(
    path: &Path,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(Error::DuplicateColumn {
                path: path.to_path_buf(),
                column: name.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_without_columns_is_empty() {
        assert!(Table::default().is_empty());
        assert_eq!(Table::default().len(), 0);
    }

    #[test]
    fn ragged_columns_are_refused_with_both_lengths() {
        let table = Table {
            columns: vec![
                Column::number("a", vec![1.0, 2.0]),
                Column::text("b", vec!["x".into()]),
            ],
        };
        let message = table
            .check_shape(Path::new("t.csv"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("\"b\" has 1 rows"), "{message}");
        assert!(message.contains("\"a\" has 2"), "{message}");
    }

    #[test]
    fn a_whole_first_batch_is_moved_in_and_later_batches_fit_the_room_reserved() {
        let whole = vec![1.0, 2.0, 3.0];
        let address = whole.as_ptr();
        let mut values = Values::Number(Vec::new());
        values.append(Values::Number(whole), 3);
        assert_eq!(values.as_numbers().unwrap().as_ptr(), address);

        let mut values = Vec::new();
        append(&mut values, vec![1.0], 3);
        assert_eq!(values.capacity(), 3);
        append(&mut values, vec![2.0, 3.0], 3);
        assert_eq!(values, [1.0, 2.0, 3.0]);
        assert_eq!(values.capacity(), 3);
    }

    #[test]
    fn duplicate_names_are_refused() {
        let error = check_unique_names(Path::new("t.csv"), ["a", "b", "a"]).unwrap_err();
        assert!(error.to_string().contains("\"a\""));
    }
}
