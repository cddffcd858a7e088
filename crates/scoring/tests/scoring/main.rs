//! Behaviour of the scoring crate through its public API: defining identities, degenerate
//! inputs, and agreement between the batched and the one-call tiers. Exactness against
//! numerai-tools itself is checked by the parity suite (scripts/parity-suite).

use faer::{Mat, MatRef};
use numerus_scoring::cross_era::{self, CommonRows};
use numerus_scoring::{Era, EraInput, Score, Undefined, metrics};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded era: `rows` × `submissions` predictions in [0, 1] (rounded to 2 decimals so
/// there are ties), a bucketed target with some NaN, features 0..4, neutralizers, weights.
struct Fixture {
    predictions: Mat<f64>,
    target: Vec<f64>,
    meta_model: Vec<f64>,
    features: Mat<f64>,
    neutralizers: Mat<f64>,
    weights: Vec<f64>,
    stakes: Vec<Option<f64>>,
}

fn fixture(seed: u64, rows: usize, submissions: usize) -> Fixture {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let signal: Vec<f64> = (0..rows).map(|_| rng.random::<f64>()).collect();
    let target = signal
        .iter()
        .map(|&s| {
            if rng.random::<f64>() < 0.1 {
                f64::NAN
            } else {
                ((s + 0.5 * rng.random::<f64>()) * 2.99).floor() / 4.0
            }
        })
        .collect();
    let predictions = Mat::from_fn(rows, submissions, |i, j| {
        let noise = rng.random::<f64>() * (j as f64 + 1.0) * 0.2;
        ((signal[i] + noise) / (1.0 + 0.2 * (j as f64 + 1.0)) * 100.0).round() / 100.0
    });
    let meta_model = (0..rows)
        .map(|i| (signal[i] + rng.random::<f64>()) / 2.0)
        .collect();
    let features = Mat::from_fn(rows, 6, |_, _| f64::from(rng.random_range(0..5u8)));
    let neutralizers = Mat::from_fn(rows, 4, |_, _| rng.random::<f64>() - 0.5);
    let weights = (0..rows).map(|_| 0.5 + rng.random::<f64>()).collect();
    let stakes = (0..submissions)
        .map(|j| (j % 3 != 2).then_some(1.0 + j as f64))
        .collect();
    Fixture {
        predictions,
        target,
        meta_model,
        features,
        neutralizers,
        weights,
        stakes,
    }
}

impl Fixture {
    fn input(&self) -> EraInput<'_> {
        EraInput {
            meta_model: Some(&self.meta_model),
            features: Some(self.features.as_ref()),
            neutralizers: Some(self.neutralizers.as_ref()),
            sample_weights: Some(&self.weights),
            stakes: Some(&self.stakes),
            ..EraInput::new(self.predictions.as_ref(), &self.target)
        }
    }
}

fn every_metric(era: &Era<'_>) -> Vec<(&'static str, Vec<Score>)> {
    let (mcwnm, apcwnm) = era.peer_correlations();
    vec![
        ("numerai_corr", era.numerai_corr()),
        ("mmc", era.mmc().unwrap()),
        ("fnc", era.fnc().unwrap()),
        ("neutral_corr", era.neutral_corr().unwrap()),
        ("neutral_mmc", era.neutral_mmc().unwrap()),
        ("alpha", era.alpha().unwrap()),
        ("mpc", era.mpc().unwrap()),
        ("feature_exposure", era.feature_exposure().unwrap()),
        ("cwmm", era.cwmm().unwrap()),
        ("mcwnm", mcwnm),
        ("apcwnm", apcwnm),
    ]
}

fn column(matrix: &Mat<f64>, j: usize) -> Vec<f64> {
    matrix.col(j).iter().copied().collect()
}

#[test]
fn no_metric_ever_returns_nan_or_panics_whatever_the_era_size() {
    for rows in [0, 1, 2, 3, 5, 8, 40] {
        let f = fixture(rows as u64, rows, 4);
        let era = Era::new(f.input());
        for (name, scores) in every_metric(&era) {
            assert_eq!(scores.len(), 4, "{name}");
            for value in scores.into_iter().flatten() {
                assert!(value.is_finite(), "{name} gave {value} with {rows} rows");
            }
        }
    }
}

#[test]
fn batched_scores_equal_one_call_per_submission() {
    let f = fixture(1, 200, 5);
    let era = Era::new(f.input());
    let corr = era.numerai_corr();
    let mmc = era.mmc().unwrap();
    let fnc = era.fnc().unwrap();
    let alpha = era.alpha().unwrap();
    for j in 0..5 {
        let p = column(&f.predictions, j);
        assert_eq!(corr[j], metrics::numerai_corr(&p, &f.target));
        assert_eq!(mmc[j], metrics::mmc(&p, &f.meta_model, &f.target));
        let one = metrics::fnc(&p, f.features.as_ref(), &f.target);
        assert!((fnc[j].clone().unwrap() - one.unwrap()).abs() < 1e-12);
        let one = metrics::alpha(&p, f.neutralizers.as_ref(), &f.weights, &f.target);
        assert!((alpha[j].clone().unwrap() - one.unwrap()).abs() < 1e-15);
    }
}

#[test]
fn ranking_on_the_fly_gives_the_scores_of_kept_rank_codes() {
    // NaN targets make the target rows a strict subset, so ranks are over gathered rows.
    let f = fixture(5, 300, 7);
    let kept = Era::new(f.input());
    // A fresh era per metric, so that nothing is cached when the metric runs.
    let streamed = || Era::new(f.input()).keep_rank_codes(false);
    assert_eq!(streamed().numerai_corr(), kept.numerai_corr());
    assert_eq!(streamed().mmc(), kept.mmc());
    assert_eq!(streamed().alpha(), kept.alpha());
}

#[test]
fn ranks_given_from_earlier_codes_give_the_scores_of_ranking() {
    use numerus_scoring::rank::{RankScratch, RankedColumns, rank_codes};
    // With NaN targets (ranks over a subset) and without (the given codes are the target
    // rows' own), with ties and a constant column.
    for nan_targets in [true, false] {
        let mut f = fixture(11, 250, 6);
        for j in 0..250 {
            f.predictions[(j, 5)] = 0.5;
        }
        if !nan_targets {
            for t in &mut f.target {
                if t.is_nan() {
                    *t = 0.5;
                }
            }
        }
        let mut codes = vec![0u32; 250 * 6];
        for (j, out) in codes.chunks_mut(250).enumerate() {
            rank_codes(&column(&f.predictions, j), &mut RankScratch::new(), out);
        }
        let given =
            || Era::new(f.input()).with_ranks(RankedColumns::from_codes(250, codes.clone()));
        let ranked = Era::new(f.input());
        for ((name, expected), (_, got)) in every_metric(&ranked)
            .into_iter()
            .zip(every_metric(&given()))
        {
            assert_eq!(got, expected, "{name} (NaN targets: {nan_targets})");
        }
    }
}

#[test]
fn fnc_on_features_handed_over_gives_the_scores_of_fnc() {
    // Feature rows with a NaN (left out of FNC) and, in the second case, a duplicate and
    // a constant feature, which send the factorization to the SVD.
    let f = fixture(8, 300, 5);
    let mut features = f.features.clone();
    let k = features.ncols();
    for row in [3, 40, 41, 299] {
        features[(row, row % k)] = f64::NAN;
    }
    let padded = Mat::from_fn(300, k + 2, |i, j| match j {
        j if j < k => features[(i, j)],
        j if j == k => features[(i, 0)],
        _ => 2.0,
    });
    for features in [features, padded] {
        let input = EraInput {
            features: Some(features.as_ref()),
            ..f.input()
        };
        let expected = Era::new(input).fnc().unwrap();
        assert!(expected.iter().all(Result::is_ok), "{expected:?}");
        let without_features = EraInput {
            features: None,
            ..f.input()
        };
        let in_place = Era::new(without_features).fnc_in_place(features.clone());
        for (a, b) in in_place.iter().zip(&expected) {
            let (a, b) = (a.clone().unwrap(), b.clone().unwrap());
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}

#[test]
fn row_order_does_not_change_any_score() {
    let f = fixture(2, 150, 3);
    let reversed =
        |m: &Mat<f64>| Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(m.nrows() - 1 - i, j)]);
    let flip = |v: &[f64]| v.iter().rev().copied().collect::<Vec<f64>>();
    let g = Fixture {
        predictions: reversed(&f.predictions),
        target: flip(&f.target),
        meta_model: flip(&f.meta_model),
        features: reversed(&f.features),
        neutralizers: reversed(&f.neutralizers),
        weights: flip(&f.weights),
        stakes: f.stakes.clone(),
    };
    let (a, b) = (Era::new(f.input()), Era::new(g.input()));
    for ((name, x), (_, y)) in every_metric(&a).into_iter().zip(every_metric(&b)) {
        for (x, y) in x.into_iter().zip(y) {
            match (x, y) {
                (Ok(x), Ok(y)) => assert!((x - y).abs() < 1e-12, "{name}: {x} vs {y}"),
                (x, y) => assert_eq!(x, y, "{name}"),
            }
        }
    }
}

#[test]
fn a_copy_of_the_meta_model_contributes_nothing() {
    let f = fixture(3, 300, 1);
    let mmc = metrics::mmc(&f.meta_model, &f.meta_model, &f.target).unwrap();
    assert!(mmc.abs() < 1e-15, "mmc of the meta model itself is {mmc}");
}

#[test]
fn predicting_the_target_ranks_gives_a_high_corr() {
    let f = fixture(4, 500, 1);
    let filled: Vec<f64> = f
        .target
        .iter()
        .map(|t| if t.is_nan() { 0.5 } else { *t })
        .collect();
    let corr = metrics::numerai_corr(&filled, &f.target).unwrap();
    assert!(corr > 0.9, "{corr}");
}

#[test]
fn a_constant_submission_is_undefined_for_correlations_and_zero_for_contributions() {
    let f = fixture(5, 120, 1);
    let constant = vec![0.5; 120];
    assert_eq!(
        metrics::numerai_corr(&constant, &f.target),
        Err(Undefined::ConstantColumn)
    );
    assert_eq!(
        metrics::fnc(&constant, f.features.as_ref(), &f.target),
        Err(Undefined::ConstantColumn)
    );
    // numerai-tools gives exactly 0 here: the gaussianized ranks of a constant are all 0.
    assert_eq!(
        metrics::mmc(&constant, &f.meta_model, &f.target)
            .unwrap()
            .abs(),
        0.0
    );
    let alpha = metrics::alpha(&constant, f.neutralizers.as_ref(), &f.weights, &f.target);
    assert_eq!(alpha.unwrap().abs(), 0.0);
}

#[test]
fn fnc_needs_more_feature_complete_rows_than_features_plus_one() {
    let f = fixture(6, 7, 1);
    let p = column(&f.predictions, 0);
    assert_eq!(
        metrics::fnc(&p, f.features.as_ref(), &f.target),
        Err(Undefined::TooFewRows { rows: 7, needed: 7 })
    );
}

#[test]
fn fnc_ignores_duplicate_and_constant_features() {
    let f = fixture(7, 300, 1);
    let p = column(&f.predictions, 0);
    let plain = metrics::fnc(&p, f.features.as_ref(), &f.target).unwrap();
    let k = f.features.ncols();
    let padded = Mat::from_fn(300, k + 2, |i, j| match j {
        j if j < k => f.features[(i, j)],
        j if j == k => f.features[(i, 0)],
        _ => 2.0,
    });
    let with_degenerate = metrics::fnc(&p, padded.as_ref(), &f.target).unwrap();
    assert!(
        (plain - with_degenerate).abs() < 1e-12,
        "{plain} vs {with_degenerate}"
    );
}

#[test]
fn a_prediction_that_is_a_feature_has_only_noise_left_after_fnc() {
    // Any transform of a binary feature (rank, gaussian) is affine in it, so it lies in
    // the span of the feature and the ones column.
    let f = fixture(8, 200, 1);
    let features = Mat::from_fn(200, 3, |i, j| {
        if j == 1 {
            f64::from(f.features[(i, 0)] > 2.0)
        } else {
            f.features[(i, j)]
        }
    });
    let feature = column(&features, 1);
    assert_eq!(
        metrics::fnc(&feature, features.as_ref(), &f.target),
        Err(Undefined::ResidualIsNoise)
    );
}

#[test]
fn more_than_a_fifth_of_targets_missing_is_too_little_overlap() {
    let f = fixture(9, 100, 1);
    let target: Vec<f64> = (0..100)
        .map(|i| {
            if i < 25 {
                f64::NAN
            } else {
                f.target[i].max(0.0)
            }
        })
        .collect();
    let p = column(&f.predictions, 0);
    assert_eq!(
        metrics::numerai_corr(&p, &target),
        Err(Undefined::TooLittleOverlap {
            common: 75,
            total: 100
        })
    );
}

#[test]
fn churn_is_zero_for_the_same_ranking_and_two_for_the_reverse() {
    let a: Vec<f64> = (0..50).map(f64::from).collect();
    let b: Vec<f64> = a.iter().map(|x| x * 3.0 + 1.0).collect();
    let reverse: Vec<f64> = a.iter().map(|x| -x).collect();
    assert!(metrics::churn(&a, &b).unwrap().abs() < 1e-15);
    assert!((metrics::churn(&a, &reverse).unwrap() - 2.0).abs() < 1e-15);
    assert_eq!(
        metrics::churn(&a, &[1.0; 50]),
        Err(Undefined::ConstantColumn)
    );
}

#[test]
fn cross_era_metrics_need_most_ids_in_common() {
    let earlier = ["a", "b", "c", "d", "e"];
    let later = ["a", "b", "x", "y", "z"];
    let common = CommonRows::new(&earlier, &later);
    assert_eq!(common.len(), 2);
    let p = [0.1, 0.2, 0.3, 0.4, 0.5];
    let m = MatRef::from_column_major_slice(&p, 5, 1);
    assert_eq!(
        cross_era::churn(m, m, &common),
        vec![Err(Undefined::TooLittleOverlap {
            common: 2,
            total: 5
        })]
    );
    let same = CommonRows::new(&earlier, &earlier);
    assert!(cross_era::churn(m, m, &same)[0].clone().unwrap().abs() < 1e-15);
}

#[test]
fn turnover_of_unchanged_weights_is_zero() {
    let f = fixture(10, 80, 2);
    let era = Era::new(f.input());
    let weights = era.portfolio_weights().unwrap();
    let ids: Vec<String> = (0..80).map(|i| format!("id{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let common = CommonRows::new(&ids, &ids);
    let turnover = cross_era::turnover(&weights, &weights, &common);
    for t in turnover {
        assert_eq!(t.unwrap(), 0.0);
    }
    // Each column is centered with Σ|w| = 1.
    for j in 0..2 {
        let w = column(&weights.values, j);
        assert!(w.iter().sum::<f64>().abs() < 1e-12);
        assert!((w.iter().map(|x| x.abs()).sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn mpc_is_undefined_for_unstaked_submissions_and_when_stakes_sum_to_zero() {
    let f = fixture(11, 100, 3);
    let era = Era::new(f.input());
    let mpc = era.mpc().unwrap();
    assert_eq!(mpc[2], Err(Undefined::NoStake));
    assert!(mpc[0].is_ok() && mpc[1].is_ok());
    let zero = vec![Some(0.0), Some(0.0), None];
    let era = Era::new(EraInput {
        stakes: Some(&zero),
        ..f.input()
    });
    assert_eq!(era.mpc().unwrap()[0], Err(Undefined::ZeroTotalStake));
    assert_eq!(
        era.stake_weight(false).unwrap(),
        Err(Undefined::ZeroTotalStake)
    );
}

#[test]
fn the_stake_weighted_meta_model_of_one_staked_submission_is_that_submission() {
    let f = fixture(12, 60, 2);
    let stakes = vec![Some(5.0), None];
    let era = Era::new(EraInput {
        stakes: Some(&stakes),
        ..f.input()
    });
    let blended = era.stake_weight(false).unwrap().unwrap();
    for (b, p) in blended.iter().zip(column(&f.predictions, 0)) {
        assert!((b - p).abs() < 1e-15);
    }
}
