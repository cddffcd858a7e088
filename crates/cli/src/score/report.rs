//! Writing a [`Report`]: `scores.json` and the table on stdout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::compute::{Report, Values};
use super::metric::Metric;

/// The schema tag of `scores.json`.
pub const SCHEMA: &str = "numerus-scores/1";

fn values_json(values: &Values) -> Value {
    Value::Object(values.iter().map(|(k, &v)| (k.clone(), json!(v))).collect())
}

fn nested_json(by_era: &BTreeMap<String, Values>) -> Value {
    Value::Object(
        by_era
            .iter()
            .map(|(era, v)| (era.clone(), values_json(v)))
            .collect(),
    )
}

fn by_metric_json(map: &BTreeMap<Metric, BTreeMap<String, Values>>) -> Value {
    Value::Object(
        map.iter()
            .map(|(m, eras)| (m.name().to_owned(), nested_json(eras)))
            .collect(),
    )
}

/// The report as `scores.json`.
pub fn to_json(report: &Report) -> Value {
    let summary: Map<String, Value> = report
        .summaries()
        .into_iter()
        .map(|(metric, submissions)| {
            let entries = submissions
                .into_iter()
                .map(|(s, summary)| {
                    let value = json!({
                        "mean": summary.mean,
                        "std": summary.std,
                        "sharpe": summary.sharpe,
                        "max_drawdown": summary.max_drawdown,
                    });
                    (s, value)
                })
                .collect();
            (metric.name().to_owned(), Value::Object(entries))
        })
        .collect();
    let mut pairs = Map::new();
    if !report.pairs.is_empty() {
        pairs.insert("churn".to_owned(), nested_json(&report.pairs));
    }
    let undefined: Vec<Value> = report
        .undefined
        .iter()
        .map(|u| {
            json!({
                "metric": u.metric,
                "era": u.era,
                "submission": u.submission,
                "code": u.reason.code(),
                "reason": u.reason.to_string(),
            })
        })
        .collect();
    json!({
        "schema": SCHEMA,
        "per_era": by_metric_json(&report.per_era),
        "pairs": pairs,
        "cross_era": by_metric_json(&report.cross_era),
        "series": by_metric_json(&report.series),
        "summary": summary,
        "undefined": undefined,
    })
}

/// A readable table: one row per submission, the mean of each per-era metric, and the
/// sharpe and max drawdown of CORR.
pub fn table(report: &Report, submissions: &[String]) -> String {
    let summaries = report.summaries();
    let metrics: Vec<Metric> = summaries.keys().copied().collect();
    let width = submissions
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(10)
        .max(10);
    let mut out = String::new();
    let _ = write!(out, "{:<width$}", "submission");
    for metric in &metrics {
        let _ = write!(out, " {:>12}", metric.name());
    }
    let corr = summaries.get(&Metric::NumeraiCorr);
    if corr.is_some() {
        let _ = write!(out, " {:>12} {:>12}", "corr_sharpe", "corr_max_dd");
    }
    out.push('\n');
    for submission in submissions {
        let _ = write!(out, "{submission:<width$}");
        for metric in &metrics {
            match summaries[metric].get(submission) {
                Some(s) => {
                    let _ = write!(out, " {:>12.6}", s.mean);
                }
                None => {
                    let _ = write!(out, " {:>12}", "-");
                }
            }
        }
        if let Some(corr) = corr {
            match corr.get(submission) {
                Some(s) => {
                    let sharpe = s.sharpe.map_or("-".to_owned(), |v| format!("{v:.4}"));
                    let _ = write!(out, " {sharpe:>12} {:>12.6}", s.max_drawdown);
                }
                None => {
                    let _ = write!(out, " {:>12} {:>12}", "-", "-");
                }
            }
        }
        out.push('\n');
    }
    out
}
