//! Submission validation, as numerai-tools 0.7.2's `submissions.py` does it, with errors that
//! name the row, the column and the fix.
//!
//! The checks, in numerai-tools' order:
//! 1. **headers** — exactly an id column and a prediction column from the tournament's
//!    allowed names, in that order (Signals first drops one optional date column);
//! 2. **ids** — no missing id; rows whose id is not live are dropped (and counted); among the
//!    live rows no id twice; at least [`MinIds`] of them (Classic: every live id);
//! 3. **values** — on the live rows: no NaN; within [0, 1] up to numpy's `isclose` at either
//!    end (1e-8 below 0, 1e-8 + 1e-5 above 1); a standard deviation (ddof 1) that
//!    `isclose(0, std)` does not call zero.
//!
//! [`validate`] works on a [`Table`] already read from the uploaded bytes (CSV or Parquet,
//! by `numerus_frames`); it returns the live rows sorted by id, ready to be stored and scored.

use std::collections::{HashMap, HashSet};

use numerus_frames::{Table, Values};
use serde::{Deserialize, Serialize};

/// numpy's `isclose(a, b)` defaults: `|a − b| ≤ ATOL + RTOL·|b|`, which numerai-tools'
/// checks use.
const ATOL: f64 = 1e-8;
const RTOL: f64 = 1e-5;

/// `numpy.isclose(a, b)`.
fn isclose(a: f64, b: f64) -> bool {
    (a - b).abs() <= ATOL + RTOL * b.abs()
}

/// How many live ids a submission must predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinIds {
    /// Every live id (Classic).
    All,
    /// At least this many (Signals, Crypto: 100).
    AtLeast(usize),
}

/// What a tournament accepts, as its definition states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRule {
    /// Allowed names of the id column.
    pub id_columns: Vec<String>,
    /// Allowed names of the prediction column.
    pub prediction_columns: Vec<String>,
    /// Optional date columns, dropped before the header check.
    #[serde(default)]
    pub date_columns: Vec<String>,
    /// How many live ids must be predicted.
    pub min_ids: MinIds,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| (*name).to_string()).collect()
}

impl SubmissionRule {
    /// Classic: `id` and `prediction` or `probability`, every live id.
    pub fn classic() -> Self {
        Self {
            id_columns: names(&["id"]),
            prediction_columns: names(&["prediction", "probability"]),
            date_columns: Vec::new(),
            min_ids: MinIds::All,
        }
    }

    /// Signals: a ticker column, `prediction` or `signal`, an optional date, 100 live tickers.
    pub fn signals() -> Self {
        Self {
            id_columns: names(&[
                "ticker",
                "sedol",
                "bloomberg_ticker",
                "composite_figi",
                "numerai_ticker",
            ]),
            prediction_columns: names(&["prediction", "signal"]),
            date_columns: names(&["friday_date", "date"]),
            min_ids: MinIds::AtLeast(100),
        }
    }

    /// Crypto: `symbol` and `prediction` or `signal`, 100 live symbols.
    pub fn crypto() -> Self {
        Self {
            id_columns: names(&["symbol"]),
            prediction_columns: names(&["prediction", "signal"]),
            date_columns: Vec::new(),
            min_ids: MinIds::AtLeast(100),
        }
    }
}

/// A valid submission: its live rows, sorted by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The id column's name.
    pub id_column: String,
    /// The prediction column's name.
    pub prediction_column: String,
    /// Live ids, sorted.
    pub ids: Vec<String>,
    /// Their predictions.
    pub predictions: Vec<f64>,
    /// Rows dropped because their id is not live.
    pub unknown_ids: usize,
}

/// Why a submission is rejected. The `Display` text names the row (1-based, among the data
/// rows), the column and the fix; [`Rejection::code`] is numerai-tools' error prefix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// The columns are not an allowed id column and an allowed prediction column.
    #[error(
        "the columns are {found:?}; a submission has exactly two, the id column (one of \
         {ids:?}) then the prediction column (one of {predictions:?}) — e.g. write \
         `df[[\"id\", \"prediction\"]].to_csv(path, index=False)`"
    )]
    Headers {
        /// The columns found.
        found: Vec<String>,
        /// Allowed id columns.
        ids: Vec<String>,
        /// Allowed prediction columns.
        predictions: Vec<String>,
    },
    /// An id is missing.
    #[error("row {row}: the `{column}` is empty; every row needs an id")]
    MissingId {
        /// The row.
        row: usize,
        /// The id column.
        column: String,
    },
    /// A live id appears twice.
    #[error("`{column}` {id} appears on rows {first} and {second}; keep one row per id")]
    DuplicateId {
        /// The id column.
        column: String,
        /// The id.
        id: String,
        /// Its first row.
        first: usize,
        /// Its second row.
        second: usize,
    },
    /// Too few live ids.
    #[error(
        "{found} of the rows have a live id, {needed} are needed{example}; predict the \
         current round's live file (its ids change every round)"
    )]
    TooFewIds {
        /// Live ids found.
        found: usize,
        /// Live ids needed.
        needed: usize,
        /// An example of a missing live id, as text.
        example: String,
    },
    /// A prediction is NaN.
    #[error("row {row}: `{column}` is missing (NaN); predict every live id")]
    NotANumber {
        /// The row.
        row: usize,
        /// The prediction column.
        column: String,
    },
    /// A prediction is outside [0, 1].
    #[error(
        "row {row}: `{column}` is {value}; predictions must lie in [0, 1] (rank them, e.g. `preds.rank(pct=True)`)"
    )]
    OutOfRange {
        /// The row.
        row: usize,
        /// The prediction column.
        column: String,
        /// The value.
        value: f64,
    },
    /// All predictions (nearly) equal.
    #[error(
        "`{column}` has a standard deviation of {std:e}; a submission must rank the ids, not give them all one value"
    )]
    Constant {
        /// The prediction column.
        column: String,
        /// Its standard deviation.
        std: f64,
    },
}

impl Rejection {
    /// numerai-tools' error prefix: `invalid_submission_headers`, `_ids` or `_values`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Headers { .. } => "invalid_submission_headers",
            Rejection::MissingId { .. }
            | Rejection::DuplicateId { .. }
            | Rejection::TooFewIds { .. } => "invalid_submission_ids",
            Rejection::NotANumber { .. }
            | Rejection::OutOfRange { .. }
            | Rejection::Constant { .. } => "invalid_submission_values",
        }
    }
}

/// Checks a file's column names (before its values are read): the names of its id and
/// prediction columns, or why they are wrong.
pub fn check_headers(
    rule: &SubmissionRule,
    found: &[String],
) -> Result<(String, String), Rejection> {
    let columns: Vec<&String> = found
        .iter()
        .filter(|name| !rule.date_columns.contains(name))
        .collect();
    let headers = || Rejection::Headers {
        found: found.to_vec(),
        ids: rule.id_columns.clone(),
        predictions: rule.prediction_columns.clone(),
    };
    let [id, prediction] = columns[..] else {
        return Err(headers());
    };
    if !rule.id_columns.contains(id) || !rule.prediction_columns.contains(prediction) {
        return Err(headers());
    }
    Ok((id.clone(), prediction.clone()))
}

/// Validates `upload` against the live ids under `rule`.
pub fn validate(
    rule: &SubmissionRule,
    live_ids: &[String],
    upload: &Table,
) -> Result<Accepted, Rejection> {
    // 1. Headers (a Signals date column is set aside first).
    let found: Vec<String> = upload
        .columns
        .iter()
        .map(|column| column.name.clone())
        .collect();
    let (id_name, prediction_name) = check_headers(rule, &found)?;
    let column = |name: &str| upload.column(name).expect("checked above");
    let (id_column, prediction_column) = (column(&id_name), column(&prediction_name));
    let ids: Vec<String> = match &id_column.values {
        Values::Text(ids) => ids.clone(),
        Values::Number(numbers) => numbers
            .iter()
            .map(|number| {
                if number.is_nan() {
                    String::new()
                } else {
                    number.to_string()
                }
            })
            .collect(),
    };
    let Values::Number(predictions) = &prediction_column.values else {
        return Err(Rejection::OutOfRange {
            row: 1,
            column: prediction_column.name.clone(),
            value: f64::NAN,
        });
    };

    // 2. Ids: none missing; keep the live rows; no live id twice; enough of them.
    if let Some(row) = ids.iter().position(String::is_empty) {
        return Err(Rejection::MissingId {
            row: row + 1,
            column: id_column.name.clone(),
        });
    }
    let live: HashSet<&str> = live_ids.iter().map(String::as_str).collect();
    let mut first_row: HashMap<&str, usize> = HashMap::new();
    let mut rows = Vec::new();
    for (row, id) in ids.iter().enumerate() {
        if !live.contains(id.as_str()) {
            continue;
        }
        if let Some(&first) = first_row.get(id.as_str()) {
            return Err(Rejection::DuplicateId {
                column: id_column.name.clone(),
                id: id.clone(),
                first: first + 1,
                second: row + 1,
            });
        }
        first_row.insert(id, row);
        rows.push(row);
    }
    let needed = match rule.min_ids {
        MinIds::All => live.len(),
        MinIds::AtLeast(count) => count,
    };
    if rows.len() < needed {
        let example = live_ids
            .iter()
            .find(|id| !first_row.contains_key(id.as_str()))
            .map_or_else(String::new, |id| format!(" (missing e.g. {id})"));
        return Err(Rejection::TooFewIds {
            found: rows.len(),
            needed,
            example,
        });
    }
    let unknown_ids = ids.len() - rows.len();

    // 3. Values of the live rows.
    let column = || prediction_column.name.clone();
    if let Some(&row) = rows.iter().find(|&&row| predictions[row].is_nan()) {
        return Err(Rejection::NotANumber {
            row: row + 1,
            column: column(),
        });
    }
    let values: Vec<f64> = rows.iter().map(|&row| predictions[row]).collect();
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let low_ok = min >= 0.0 || isclose(min, 0.0);
    let high_ok = max <= 1.0 || isclose(max, 1.0);
    if !(low_ok && high_ok) {
        let bad = rows
            .iter()
            .copied()
            .find(|&row| {
                let value = predictions[row];
                (!low_ok && value == min) || (!high_ok && value == max)
            })
            .expect("the extreme is one of the rows");
        return Err(Rejection::OutOfRange {
            row: bad + 1,
            column: column(),
            value: predictions[bad],
        });
    }
    let std = sample_std(&values);
    if std.is_nan() || isclose(0.0, std) {
        return Err(Rejection::Constant {
            column: column(),
            std,
        });
    }

    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| ids[rows[a]].cmp(&ids[rows[b]]));
    Ok(Accepted {
        id_column: id_column.name.clone(),
        prediction_column: prediction_column.name.clone(),
        ids: order.iter().map(|&i| ids[rows[i]].clone()).collect(),
        predictions: order.iter().map(|&i| values[i]).collect(),
        unknown_ids,
    })
}

/// pandas' `Series.std()` (ddof 1); NaN below two values.
fn sample_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return f64::NAN;
    }
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

#[cfg(test)]
mod tests {
    use numerus_frames::Column;

    use super::*;

    fn live(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("n{i:015x}")).collect()
    }

    fn upload(id: &str, prediction: &str, ids: &[String], values: &[f64]) -> Table {
        Table {
            columns: vec![
                Column::text(id, ids.to_vec()),
                Column::number(prediction, values.to_vec()),
            ],
        }
    }

    fn spread(count: usize) -> Vec<f64> {
        (0..count)
            .map(|i| (i as f64 + 0.5) / count as f64)
            .collect()
    }

    #[test]
    fn a_complete_submission_is_accepted_sorted_with_unknown_ids_dropped() {
        let ids = live(10);
        let mut rows: Vec<String> = ids.iter().rev().cloned().collect();
        rows.push("stranger".into());
        let mut values = spread(10);
        values.push(0.5);
        let accepted = validate(
            &SubmissionRule::classic(),
            &ids,
            &upload("id", "prediction", &rows, &values),
        )
        .unwrap();
        assert_eq!(accepted.ids, ids);
        assert_eq!(accepted.predictions[0], values[9]);
        assert_eq!(accepted.unknown_ids, 1);
        assert_eq!(accepted.prediction_column, "prediction");
    }

    #[test]
    fn headers_must_be_exactly_an_id_and_a_prediction_column() {
        let ids = live(5);
        for (id, prediction) in [("ID", "prediction"), ("id", "target"), ("prediction", "id")] {
            let error = validate(
                &SubmissionRule::classic(),
                &ids,
                &upload(id, prediction, &ids, &spread(5)),
            )
            .unwrap_err();
            assert_eq!(
                error.code(),
                "invalid_submission_headers",
                "{id}, {prediction}"
            );
        }
        let mut three = upload("id", "prediction", &ids, &spread(5));
        three.columns.push(Column::number("extra", spread(5)));
        let error = validate(&SubmissionRule::classic(), &ids, &three).unwrap_err();
        assert!(error.to_string().contains("exactly two"), "{error}");
        assert!(
            validate(
                &SubmissionRule::classic(),
                &ids,
                &upload("id", "probability", &ids, &spread(5))
            )
            .is_ok()
        );
    }

    #[test]
    fn signals_drops_a_date_column_and_needs_a_hundred_live_tickers() {
        let tickers: Vec<String> = (0..150).map(|i| format!("T{i} US")).collect();
        let mut table = upload("numerai_ticker", "signal", &tickers[..120], &spread(120));
        table
            .columns
            .insert(0, Column::text("date", vec!["2026-01-05".into(); 120]));
        let accepted = validate(&SubmissionRule::signals(), &tickers, &table).unwrap();
        assert_eq!(accepted.ids.len(), 120);
        let few = upload("numerai_ticker", "signal", &tickers[..99], &spread(99));
        let error = validate(&SubmissionRule::signals(), &tickers, &few).unwrap_err();
        assert!(
            matches!(
                error,
                Rejection::TooFewIds {
                    found: 99,
                    needed: 100,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn classic_needs_every_live_id_and_names_a_missing_one() {
        let ids = live(6);
        let error = validate(
            &SubmissionRule::classic(),
            &ids,
            &upload("id", "prediction", &ids[1..], &spread(5)),
        )
        .unwrap_err();
        assert!(error.to_string().contains(&ids[0]), "{error}");
        assert_eq!(error.code(), "invalid_submission_ids");
    }

    #[test]
    fn missing_and_duplicate_ids_name_their_rows() {
        let ids = live(4);
        let mut rows = ids.clone();
        rows[2] = String::new();
        let error = validate(
            &SubmissionRule::classic(),
            &ids,
            &upload("id", "prediction", &rows, &spread(4)),
        )
        .unwrap_err();
        assert_eq!(
            error,
            Rejection::MissingId {
                row: 3,
                column: "id".into()
            }
        );
        let mut twice = ids.clone();
        twice.push(ids[1].clone());
        let error = validate(
            &SubmissionRule::classic(),
            &ids,
            &upload("id", "prediction", &twice, &spread(5)),
        )
        .unwrap_err();
        assert!(
            matches!(
                error,
                Rejection::DuplicateId {
                    first: 2,
                    second: 5,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn values_follow_numerai_tools_tolerances() {
        let ids = live(4);
        let check = |values: [f64; 4]| {
            validate(
                &SubmissionRule::classic(),
                &ids,
                &upload("id", "prediction", &ids, &values),
            )
        };
        assert!(check([0.0, 0.3, 0.6, 1.0]).is_ok());
        assert!(check([-1e-9, 0.3, 0.6, 1.0 + 1e-5]).is_ok());
        let below = check([-1e-7, 0.3, 0.6, 0.9]).unwrap_err();
        assert_eq!(
            below,
            Rejection::OutOfRange {
                row: 1,
                column: "prediction".into(),
                value: -1e-7
            }
        );
        assert!(matches!(
            check([0.1, 0.3, 1.001, 0.9]).unwrap_err(),
            Rejection::OutOfRange { row: 3, .. }
        ));
        assert!(matches!(
            check([0.1, f64::NAN, 0.2, 0.9]).unwrap_err(),
            Rejection::NotANumber { row: 2, .. }
        ));
        let constant = check([0.5; 4]).unwrap_err();
        assert_eq!(constant.code(), "invalid_submission_values");
        assert!(
            constant.to_string().contains("standard deviation"),
            "{constant}"
        );
        assert!(check([0.5, 0.5, 0.5, 0.5 + 1e-7]).is_ok());
    }

    #[test]
    fn only_live_rows_are_checked_for_values_and_duplicates() {
        let ids = live(3);
        let rows = vec![
            ids[0].clone(),
            ids[1].clone(),
            ids[2].clone(),
            "old".into(),
            "old".into(),
        ];
        let values = [0.1, 0.5, 0.9, f64::NAN, 7.0];
        let accepted = validate(
            &SubmissionRule::classic(),
            &ids,
            &upload("id", "prediction", &rows, &values),
        )
        .unwrap();
        assert_eq!(accepted.unknown_ids, 2);
    }
}
