//! The convenient tier: one call per metric for one submission.
//!
//! Each wraps a one-column [`Era`]; use the `Era` directly to score many
//! submissions at once (the shared work is then done once).

use faer::MatRef;

use crate::{Era, EraInput, Score};

fn one_column(predictions: &[f64]) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(predictions, predictions.len(), 1)
}

/// `numerai_corr` of one submission against a target (NaN = unknown) over the same ids.
pub fn numerai_corr(predictions: &[f64], target: &[f64]) -> Score {
    Era::new(EraInput::new(one_column(predictions), target))
        .numerai_corr()
        .remove(0)
}

/// MMC of one submission against a meta model.
pub fn mmc(predictions: &[f64], meta_model: &[f64], target: &[f64]) -> Score {
    let input = EraInput {
        meta_model: Some(meta_model),
        ..EraInput::new(one_column(predictions), target)
    };
    Era::new(input).mmc().expect("meta model given").remove(0)
}

/// FNC of one submission against features (rows × features).
pub fn fnc(predictions: &[f64], features: MatRef<'_, f64>, target: &[f64]) -> Score {
    let input = EraInput {
        features: Some(features),
        ..EraInput::new(one_column(predictions), target)
    };
    Era::new(input).fnc().expect("features given").remove(0)
}

/// Neutral CORR of one submission against neutralizers (rows × neutralizers).
pub fn neutral_corr(predictions: &[f64], neutralizers: MatRef<'_, f64>, target: &[f64]) -> Score {
    let input = EraInput {
        neutralizers: Some(neutralizers),
        ..EraInput::new(one_column(predictions), target)
    };
    Era::new(input)
        .neutral_corr()
        .expect("neutralizers given")
        .remove(0)
}

/// Alpha of one submission.
pub fn alpha(
    predictions: &[f64],
    neutralizers: MatRef<'_, f64>,
    sample_weights: &[f64],
    target: &[f64],
) -> Score {
    let input = EraInput {
        neutralizers: Some(neutralizers),
        sample_weights: Some(sample_weights),
        ..EraInput::new(one_column(predictions), target)
    };
    Era::new(input)
        .alpha()
        .expect("neutralizers and weights given")
        .remove(0)
}

/// Churn between two prediction vectors over the same ids: `1 − Spearman`.
pub fn churn(a: &[f64], b: &[f64]) -> Score {
    let both: Vec<f64> = a.iter().chain(b).copied().collect();
    let nan = vec![f64::NAN; a.len()];
    let era = Era::new(EraInput::new(
        MatRef::from_column_major_slice(&both, a.len(), 2),
        &nan,
    ));
    era.pair_churn(&[(0, 1)]).remove(0)
}
