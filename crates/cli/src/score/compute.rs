//! Runs the selected metrics era by era and collects a [`Report`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use faer::Mat;
use numerus_scoring::cross_era::{self, CommonRows};
use numerus_scoring::summary::{Summary, summarize};
use numerus_scoring::{Era, EraInput, Score, Signals, Undefined};

use super::load::{EraData, Inputs};
use super::metric::Metric;

/// Values by key (era, submission, pair or id).
pub type Values = BTreeMap<String, f64>;

/// One undefined value and why.
#[derive(Debug, Clone)]
pub struct UndefinedEntry {
    pub metric: &'static str,
    pub era: String,
    pub submission: String,
    pub reason: Undefined,
}

/// Everything computed, shaped like `scores.json`.
#[derive(Debug, Default)]
pub struct Report {
    /// metric → era → submission → value.
    pub per_era: BTreeMap<Metric, BTreeMap<String, Values>>,
    /// era → "A|B" → churn.
    pub pairs: BTreeMap<String, Values>,
    /// metric → later era → submission → value.
    pub cross_era: BTreeMap<Metric, BTreeMap<String, Values>>,
    /// metric → era → id → value.
    pub series: BTreeMap<Metric, BTreeMap<String, Values>>,
    pub undefined: Vec<UndefinedEntry>,
    /// Wall time spent in each metric, shared work included where the metric triggered it.
    pub timings: BTreeMap<Metric, Duration>,
}

impl Report {
    fn record(&mut self, metric: Metric, era: &str, names: &[String], scores: Vec<Score>) {
        let target = era_values(&mut self.per_era, metric, era);
        record_into(target, &mut self.undefined, metric, era, names, scores);
    }

    fn record_cross(&mut self, metric: Metric, era: &str, names: &[String], scores: Vec<Score>) {
        let target = era_values(&mut self.cross_era, metric, era);
        record_into(target, &mut self.undefined, metric, era, names, scores);
    }

    /// Summary of each per-era metric for each submission, over eras in order.
    pub fn summaries(&self) -> BTreeMap<Metric, BTreeMap<String, Summary>> {
        self.per_era
            .iter()
            .map(|(&metric, eras)| {
                let mut series: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
                for values in eras.values() {
                    for (submission, &v) in values {
                        series.entry(submission).or_default().push(v);
                    }
                }
                let summaries = series
                    .into_iter()
                    .filter_map(|(s, v)| summarize(&v).map(|summary| (s.to_owned(), summary)))
                    .collect();
                (metric, summaries)
            })
            .collect()
    }
}

/// The values of `metric` in `era`, created empty on first use.
fn era_values<'r>(
    by_metric: &'r mut BTreeMap<Metric, BTreeMap<String, Values>>,
    metric: Metric,
    era: &str,
) -> &'r mut Values {
    by_metric
        .entry(metric)
        .or_default()
        .entry(era.to_owned())
        .or_default()
}

fn record_into(
    target: &mut Values,
    undefined: &mut Vec<UndefinedEntry>,
    metric: Metric,
    era: &str,
    names: &[String],
    scores: Vec<Score>,
) {
    for (name, score) in names.iter().zip(scores) {
        match score {
            Ok(value) if value.is_finite() => {
                target.insert(name.clone(), value);
            }
            Ok(_) => undefined.push(UndefinedEntry {
                metric: metric.name(),
                era: era.to_owned(),
                submission: name.clone(),
                reason: Undefined::ResidualIsNoise,
            }),
            Err(reason) => undefined.push(UndefinedEntry {
                metric: metric.name(),
                era: era.to_owned(),
                submission: name.clone(),
                reason,
            }),
        }
    }
}

/// What a pass over the eras needs besides the inputs.
pub struct Plan<'a> {
    pub metrics: &'a [Metric],
    /// Submission index pairs for pair churn.
    pub pairs: &'a [(usize, usize)],
    /// Called after each era.
    pub progress: &'a dyn Fn(),
}

/// The previous era's signals that cross-era metrics compare against.
#[derive(Default)]
struct Carry {
    weights: Option<Signals>,
    neutral: Option<Result<Signals, Undefined>>,
}

/// Scores every era. FNC takes each era's features (see [`score_fnc`]): they are gone
/// from `inputs` afterwards.
pub fn score(inputs: &mut Inputs, plan: &Plan<'_>) -> Report {
    let mut report = Report::default();
    let mut carry = Carry::default();
    // One metric alone ranks each column on the fly; several share the era's rank codes.
    let keep_rank_codes = plan.metrics.iter().filter(|m| m.reads_rank_codes()).count() > 1;
    for position in 0..inputs.eras.len() {
        {
            let inputs = &*inputs;
            let data = &inputs.eras[position];
            let era = Era::new(era_input(inputs, data)).keep_rank_codes(keep_rank_codes);
            score_era(&mut report, inputs, data, &era, plan);
            let previous = position.checked_sub(1).map(|p| &inputs.eras[p]);
            carry = cross(&mut report, inputs, previous, data, &era, plan, carry);
            // The era and all it cached go here, before FNC's factorization.
        }
        if plan.metrics.contains(&Metric::Fnc) {
            score_fnc(&mut report, inputs, position);
        }
        (plan.progress)();
    }
    report
}

/// FNC of one era, after every other metric: the era's features are handed over and
/// factored in their own memory ([`Era::fnc_in_place`]), so they are never held twice,
/// the largest saving of memory in a run. Nothing after FNC reads them.
fn score_fnc(report: &mut Report, inputs: &mut Inputs, position: usize) {
    let Some(features) = inputs.eras[position].features.take() else {
        // Metric selection refuses FNC without features.
        return;
    };
    let data = &inputs.eras[position];
    let era = Era::new(era_input(inputs, data));
    let scores = timed(report, Metric::Fnc, || era.fnc_in_place(features));
    report.record(Metric::Fnc, &data.name, &inputs.submissions, scores);
}

fn era_input<'a>(inputs: &'a Inputs, data: &'a EraData) -> EraInput<'a> {
    EraInput {
        meta_model: data.meta_model.as_deref(),
        benchmark: data.benchmark.as_deref(),
        features: data.features.as_ref().map(Mat::as_ref),
        neutralizers: data.neutralizers.as_ref().map(Mat::as_ref),
        sample_weights: data.sample_weights.as_deref(),
        stakes: inputs.stakes.as_deref(),
        era_target: data.era_target,
        ..EraInput::new(data.predictions.as_ref(), &data.target)
    }
}

fn timed<T>(report: &mut Report, metric: Metric, work: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = work();
    *report.timings.entry(metric).or_default() += start.elapsed();
    out
}

fn score_era(report: &mut Report, inputs: &Inputs, data: &EraData, era: &Era<'_>, plan: &Plan<'_>) {
    let names = &inputs.submissions;
    let name = data.name.as_str();
    let missing = "inputs were checked before scoring";
    // MCWNM and APCWNM come from one peer-correlation matrix: build it once per era.
    let peers = std::cell::OnceCell::new();
    for &metric in plan.metrics {
        let scores = match metric {
            Metric::NumeraiCorr => timed(report, metric, || era.numerai_corr()),
            Metric::Mmc => timed(report, metric, || era.mmc().expect(missing)),
            Metric::Bmc => timed(report, metric, || era.bmc().expect(missing)),
            Metric::NeutralCorr => timed(report, metric, || era.neutral_corr().expect(missing)),
            Metric::NeutralMmc => timed(report, metric, || era.neutral_mmc().expect(missing)),
            Metric::Alpha => timed(report, metric, || era.alpha().expect(missing)),
            Metric::Mpc => timed(report, metric, || era.mpc().expect(missing)),
            Metric::FeatureExposure => {
                timed(report, metric, || era.feature_exposure().expect(missing))
            }
            Metric::Cwmm => timed(report, metric, || era.cwmm().expect(missing)),
            Metric::Mcwnm => timed(report, metric, || {
                peers.get_or_init(|| era.peer_correlations()).0.clone()
            }),
            Metric::Apcwnm => timed(report, metric, || {
                peers.get_or_init(|| era.peer_correlations()).1.clone()
            }),
            Metric::Churn => {
                pair_churn(report, era, name, names, plan.pairs);
                continue;
            }
            Metric::StakeWeight | Metric::StakeWeightRanked => {
                stake_weight(report, metric, era, data);
                continue;
            }
            // Scored by `cross`, and FNC by `score_fnc`, after this era is dropped.
            Metric::Turnover | Metric::NeutralChurn | Metric::Fnc => continue,
        };
        report.record(metric, name, names, scores);
    }
}

fn pair_churn(
    report: &mut Report,
    era: &Era<'_>,
    name: &str,
    names: &[String],
    pairs: &[(usize, usize)],
) {
    if pairs.is_empty() {
        return;
    }
    let scores = timed(report, Metric::Churn, || era.pair_churn(pairs));
    let keys: Vec<String> = pairs
        .iter()
        .map(|&(a, b)| format!("{}|{}", names[a], names[b]))
        .collect();
    let target = report.pairs.entry(name.to_owned()).or_default();
    record_into(
        target,
        &mut report.undefined,
        Metric::Churn,
        name,
        &keys,
        scores,
    );
}

fn stake_weight(report: &mut Report, metric: Metric, era: &Era<'_>, data: &EraData) {
    let ranked = metric == Metric::StakeWeightRanked;
    let series = timed(report, metric, || {
        era.stake_weight(ranked).expect("stakes were checked")
    });
    match series {
        Ok(values) => {
            let by_id = data.ids.iter().cloned().zip(values).collect();
            report
                .series
                .entry(metric)
                .or_default()
                .insert(data.name.clone(), by_id);
        }
        Err(reason) => report.undefined.push(UndefinedEntry {
            metric: metric.name(),
            era: data.name.clone(),
            submission: String::new(),
            reason,
        }),
    }
}

/// Cross-era metrics between the previous era and this one; returns this era's carry.
fn cross(
    report: &mut Report,
    inputs: &Inputs,
    previous: Option<&EraData>,
    data: &EraData,
    era: &Era<'_>,
    plan: &Plan<'_>,
    carry: Carry,
) -> Carry {
    let names = &inputs.submissions;
    // With a single era there is nothing to compare, so its signals are never built.
    let wants = |m: Metric| plan.metrics.contains(&m) && inputs.eras.len() > 1;
    let common = previous.map(|p| {
        let earlier: Vec<&str> = p.ids.iter().map(String::as_str).collect();
        let later: Vec<&str> = data.ids.iter().map(String::as_str).collect();
        CommonRows::new(&earlier, &later)
    });
    if let (Some(previous), Some(common)) = (previous, &common)
        && wants(Metric::Churn)
    {
        let scores = timed(report, Metric::Churn, || {
            cross_era::churn(
                previous.predictions.as_ref(),
                data.predictions.as_ref(),
                common,
            )
        });
        report.record_cross(Metric::Churn, &data.name, names, scores);
    }
    let mut next = Carry::default();
    if wants(Metric::Turnover) {
        let weights = timed(report, Metric::Turnover, || {
            era.portfolio_weights().expect("checked")
        });
        if let (Some(common), Some(earlier)) = (&common, &carry.weights) {
            let scores = cross_era::turnover(earlier, &weights, common);
            report.record_cross(Metric::Turnover, &data.name, names, scores);
        }
        next.weights = Some(weights);
    }
    if wants(Metric::NeutralChurn) {
        let neutral = timed(report, Metric::NeutralChurn, || {
            era.neutral_signal().expect("checked")
        });
        if let (Some(common), Some(earlier)) = (&common, &carry.neutral) {
            let scores = match (earlier, &neutral) {
                (Ok(a), Ok(b)) => cross_era::neutral_churn(a, b, common),
                (Err(undefined), _) | (_, Err(undefined)) => {
                    vec![Err(undefined.clone()); names.len()]
                }
            };
            report.record_cross(Metric::NeutralChurn, &data.name, names, scores);
        }
        next.neutral = Some(neutral);
    }
    next
}
