//! Per-submission summaries of a per-era series: mean, std, sharpe, max drawdown.

/// Summary statistics of one submission's per-era scores, in era order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// `Σx / n`.
    pub mean: f64,
    /// Population standard deviation (ddof 0), as numerai-tools' `sharpe_ratio`.
    pub std: f64,
    /// `mean / std`; `None` when `std < 1e-12`.
    pub sharpe: Option<f64>,
    /// `min_t (C_t − max_{s≤t} C_s)` of the cumulative sum `C`: ≤ 0. The running maximum
    /// starts at the first era's `C`, not at zero.
    pub max_drawdown: f64,
}

/// Below this standard deviation the sharpe ratio is undefined.
pub const SHARPE_STD_MIN: f64 = 1e-12;

/// Summarizes a series; `None` for an empty one.
#[must_use]
pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mean = crate::stats::mean(values);
    let std = crate::stats::std_population(values);
    let sharpe = (std >= SHARPE_STD_MIN).then(|| mean / std);
    let mut cumulative = 0.0;
    let mut peak = f64::NEG_INFINITY;
    let mut max_drawdown: f64 = 0.0;
    for &v in values {
        cumulative += v;
        peak = peak.max(cumulative);
        max_drawdown = max_drawdown.min(cumulative - peak);
    }
    Some(Summary {
        mean,
        std,
        sharpe,
        max_drawdown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawdown_starts_from_the_first_era_not_from_zero() {
        // C = -1, -3, -2, -4: running max -1, -1, -1, -1 → drawdown -3.
        let s = summarize(&[-1.0, -2.0, 1.0, -2.0]).unwrap();
        assert_eq!(s.max_drawdown, -3.0);
    }

    #[test]
    fn a_constant_series_has_no_sharpe() {
        let s = summarize(&[0.02, 0.02, 0.02]).unwrap();
        assert_eq!(s.sharpe, None);
        assert_eq!(s.max_drawdown, 0.0);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn sharpe_is_mean_over_population_std() {
        let s = summarize(&[1.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.std, s.sharpe), (2.0, 1.0, Some(2.0)));
    }
}
