//! Benchmarks of the hot kernels of `numerus_scoring`, one group per kernel, on a seeded
//! synthetic era.
//!
//! The era has 5,000 rows and 200 submissions by default, which keeps `cargo bench` to a
//! few minutes on two cores; set `NUMERUS_BENCH_SUBMISSIONS` to score more (the tournament
//! shape is 1,000 or more). FNC and the wide projector use a 2,000-row era with 500
//! features, a smaller stand-in for the 2,376 features of a real era.
//!
//! Metric groups time two things:
//! - `cold`: a fresh [`Era`] per iteration, so the metric pays for its shared work too
//!   (ranking every column, factorizing the neutralizers): what one `numerus score
//!   --metrics NAME` pays per era.
//! - `warm`: the same `Era` every iteration, its shared work already cached: the metric's
//!   own per-submission cost.
//!
//! Throughput is reported in submissions per second.
//!
//! ```text
//! cargo bench -p numerus-scoring --bench kernels
//! NUMERUS_BENCH_SUBMISSIONS=1000 cargo bench -p numerus-scoring --bench kernels -- numerai_corr
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use faer::Mat;
use numerus_scoring::neutralize::Projector;
use numerus_scoring::rank::RankedColumns;
use numerus_scoring::{Era, EraInput, Score};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows of the main synthetic era.
const ROWS: usize = 5_000;
/// Submissions unless `NUMERUS_BENCH_SUBMISSIONS` says otherwise.
const SUBMISSIONS_DEFAULT: usize = 200;
/// Neutralizer columns (Numerai's neutralizer files have about this many).
const NEUTRALIZERS: usize = 50;
/// Rows of the FNC era and of the wide projector.
const WIDE_ROWS: usize = 2_000;
/// Features of the FNC era and of the wide projector.
const WIDE_FEATURES: usize = 500;
/// One seed for every fixture, so every run benchmarks the same numbers.
const SEED: u64 = 20_240_101;

fn submissions() -> usize {
    std::env::var("NUMERUS_BENCH_SUBMISSIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&count| count > 0)
        .unwrap_or(SUBMISSIONS_DEFAULT)
}

/// One era's inputs, owned, shaped like Numerai's: predictions are `f32` values in [0, 1]
/// widened to `f64` (as read from a Parquet file), the target is bucketed in
/// {0, .25, .5, .75, 1}, features are integers 0..4, neutralizers and sample weights are
/// continuous and every submission is staked.
struct Fixture {
    predictions: Mat<f64>,
    target: Vec<f64>,
    meta_model: Vec<f64>,
    features: Mat<f64>,
    neutralizers: Mat<f64>,
    sample_weights: Vec<f64>,
    stakes: Vec<Option<f64>>,
}

impl Fixture {
    fn new(rows: usize, submissions: usize, features: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let signal: Vec<f64> = (0..rows).map(|_| rng.random::<f64>()).collect();
        let target = signal
            .iter()
            .map(|&s| {
                let noisy = (s + rng.random::<f64>()) / 2.0;
                (noisy * 5.0).floor().min(4.0) / 4.0
            })
            .collect();
        let prediction = |signal: f64, rng: &mut ChaCha8Rng| {
            let value = 0.5 * signal + 0.5 * rng.random::<f64>();
            f64::from(value as f32)
        };
        let predictions = Mat::from_fn(rows, submissions, |i, _| prediction(signal[i], &mut rng));
        let meta_model = signal.iter().map(|&s| prediction(s, &mut rng)).collect();
        let features = Mat::from_fn(rows, features, |_, _| f64::from(rng.random_range(0..5u8)));
        let neutralizers = Mat::from_fn(rows, NEUTRALIZERS, |_, _| rng.random::<f64>() - 0.5);
        let sample_weights = (0..rows).map(|_| 0.5 + rng.random::<f64>()).collect();
        let stakes = (0..submissions)
            .map(|_| Some(1.0 + 99.0 * rng.random::<f64>()))
            .collect();
        Self {
            predictions,
            target,
            meta_model,
            features,
            neutralizers,
            sample_weights,
            stakes,
        }
    }

    fn input(&self) -> EraInput<'_> {
        EraInput {
            meta_model: Some(&self.meta_model),
            features: (self.features.ncols() > 0).then(|| self.features.as_ref()),
            neutralizers: Some(self.neutralizers.as_ref()),
            sample_weights: Some(&self.sample_weights),
            stakes: Some(&self.stakes),
            ..EraInput::new(self.predictions.as_ref(), &self.target)
        }
    }
}

/// A group for a slow kernel: few samples of equal size (flat sampling, meant for
/// milliseconds-long runs), so that one group takes seconds, not minutes. With
/// `submissions`, criterion also reports submissions per second.
fn slow_group<'c>(
    c: &'c mut Criterion,
    name: &str,
    submissions: Option<usize>,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    if let Some(submissions) = submissions {
        group.throughput(Throughput::Elements(submissions as u64));
    }
    group
}

/// Benchmarks one era metric cold (fresh `Era`) and warm (shared work cached).
fn bench_metric(
    c: &mut Criterion,
    name: &str,
    fixture: &Fixture,
    metric: impl Fn(&Era<'_>) -> Vec<Score>,
) {
    let submissions = fixture.predictions.ncols();
    let mut group = slow_group(c, name, Some(submissions));
    group.bench_function("cold", |b| {
        b.iter(|| metric(&Era::new(black_box(fixture.input()))));
    });
    let era = Era::new(fixture.input());
    assert!(
        metric(&era).iter().all(Result::is_ok),
        "{name}: the synthetic era must score every submission"
    );
    group.bench_function("warm", |b| b.iter(|| metric(black_box(&era))));
    group.finish();
}

fn era_kernels(c: &mut Criterion) {
    let submissions = submissions();
    let fixture = Fixture::new(ROWS, submissions, 0);

    // Full-precision f64 predictions (say, computed in f64 and never stored as f32): they
    // take the general ranking path instead of the f32 fast path.
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let f64_predictions = Mat::from_fn(ROWS, submissions, |_, _| rng.random::<f64>());
    let mut group = slow_group(c, "rank_columns", Some(submissions));
    group.bench_function("all_rows", |b| {
        b.iter(|| RankedColumns::new(black_box(fixture.predictions.as_ref()), None));
    });
    group.bench_function("all_rows_f64", |b| {
        b.iter(|| RankedColumns::new(black_box(f64_predictions.as_ref()), None));
    });
    group.finish();

    bench_metric(c, "numerai_corr", &fixture, |era| era.numerai_corr());
    bench_metric(c, "mmc", &fixture, |era| era.mmc().expect("meta model"));
    bench_metric(c, "alpha", &fixture, |era| era.alpha().expect("inputs"));
    bench_metric(c, "mpc", &fixture, |era| era.mpc().expect("inputs"));
    bench_metric(c, "neutral_corr", &fixture, |era| {
        era.neutral_corr().expect("neutralizers")
    });
}

fn projector_kernels(c: &mut Criterion) {
    let fixture = Fixture::new(ROWS, 1, 0);
    let mut group = slow_group(c, "projector", None);
    group.bench_function(format!("{ROWS}x{}", NEUTRALIZERS + 1), |b| {
        b.iter(|| Projector::with_intercept(black_box(fixture.neutralizers.as_ref())));
    });
    group.finish();

    let wide = Fixture::new(WIDE_ROWS, 1, WIDE_FEATURES);
    let mut group = slow_group(c, "projector_wide", None);
    group.bench_function(format!("{WIDE_ROWS}x{}", WIDE_FEATURES + 1), |b| {
        b.iter(|| Projector::with_intercept(black_box(wide.features.as_ref())));
    });
    group.finish();
}

fn fnc_kernel(c: &mut Criterion) {
    let fixture = Fixture::new(WIDE_ROWS, submissions(), WIDE_FEATURES);
    let submissions = fixture.predictions.ncols();
    let mut group = slow_group(c, "fnc", Some(submissions));
    // FNC caches nothing in the `Era`: every call factors the features and ranks every
    // column over the feature-complete rows, so only the cold time exists.
    group.bench_function(format!("{WIDE_ROWS}x{WIDE_FEATURES}"), |b| {
        b.iter(|| {
            Era::new(black_box(fixture.input()))
                .fnc()
                .expect("features")
        });
    });
    group.finish();
}

criterion_group!(benches, era_kernels, projector_kernels, fnc_kernel);
criterion_main!(benches);
