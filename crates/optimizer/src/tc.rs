//! True Contribution: how much each model's stake moved the fund's realized return, through
//! the meta model and the optimizer.
//!
//! The signal is the stake-weighted mean of the models' gaussianized ranks,
//! `s = Σ_k σ_k·g_k / S` with `S = Σ_k σ_k`, so `∂s/∂σ_k = (g_k − s)/S`. The portfolio
//! `w(s)` solves the QP of the crate docs; the fund's realized return is `R = wᵀr` (`r`: the
//! stocks' realized returns over the round, or its resolved target). We define
//!
//! ```text
//! TC_k = S · ∂R/∂σ_k = (g_k − s)ᵀ · (∂w/∂s)ᵀ · r
//! ```
//!
//! the change in the fund's return per unit of model `k`'s *share* of the total stake (so
//! TC does not shrink as the total stake grows, and a model's TC times the share of stake it
//! adds is the return it adds). A model predicting exactly the meta model has TC 0.
//!
//! `∂w/∂s` comes from the KKT conditions at the solution (implicit differentiation). With
//! the active set fixed — the variables at 0 or at their cap are held, the active general
//! constraints (gross, net, factor and group rows) hold with equality — and `P = γI`,
//!
//! ```text
//! ∂x/∂q = −(1/γ) · S_Fᵀ (I − E_Fᵀ (E_F E_Fᵀ)⁺ E_F) S_F
//! ```
//!
//! where `S_F` selects the free variables and `E_F` is the active rows restricted to them.
//! With `x = [u; v]`, `w = Jx` (`J = [I, −I]`) and `q = −Jᵀs`, `∂w/∂s = (1/γ)·J S_Fᵀ Π S_F Jᵀ`:
//! symmetric, so one projection of `Jᵀr` gives `v = (∂w/∂s)ᵀ r`, and every model's TC is the
//! dot product `(g_k − s)ᵀ v` — thousands of models cost one matrix-vector product after one
//! small SVD (of `E_F`, at most `3 + 2F + 2G` rows). Where the active set changes (a
//! measure-zero set of signals) `w` is not differentiable and this is the one-sided
//! derivative of the identified active set.

use faer::Mat;

use crate::problem::Problem;
use crate::solve::{Portfolio, coefficient};

/// `v = (∂w/∂s)ᵀ r` of a solved portfolio for returns `r`: TC of any signal change `d` is
/// `dᵀv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// One value per stock.
    pub v: Vec<f64>,
    /// Free variables in the active set.
    pub free: usize,
    /// Active general constraints.
    pub active: usize,
}

/// Singular values below this share of the largest are treated as zero (dependent rows).
const RANK_CUT: f64 = 1e-10;

impl Sensitivity {
    /// The sensitivity of `portfolio` (solved for `problem`) to its signal, for returns `r`.
    ///
    /// # Panics
    /// If `returns` does not have one value per stock.
    pub fn of(problem: &Problem, portfolio: &Portfolio, returns: &[f64]) -> Self {
        let n = problem.len();
        assert_eq!(returns.len(), n, "one return per stock");
        let free: Vec<usize> = (0..2 * n)
            .filter(|&j| !portfolio.at_zero[j] && !portfolio.at_cap[j])
            .collect();
        // y = S_F Jᵀ r
        let y: Vec<f64> = free
            .iter()
            .map(|&j| if j < n { returns[j] } else { -returns[j - n] })
            .collect();
        let rows = &portfolio.active;
        let projected = if rows.is_empty() || free.is_empty() {
            y
        } else {
            // Columns of E_Fᵀ: each active row over the free variables.
            let et = Mat::<f64>::from_fn(free.len(), rows.len(), |i, r| {
                coefficient(problem, rows[r], free[i])
            });
            let basis = match et.thin_svd() {
                Ok(svd) => {
                    let singular = svd.S().column_vector();
                    let largest = (0..singular.nrows())
                        .map(|i| singular[i])
                        .fold(0.0, f64::max);
                    let rank = (0..singular.nrows())
                        .filter(|&i| singular[i] > RANK_CUT * largest)
                        .count();
                    svd.U().subcols(0, rank).to_owned()
                }
                Err(_) => Mat::<f64>::zeros(free.len(), 0),
            };
            // y − U Uᵀ y
            let mut out = y.clone();
            for c in 0..basis.ncols() {
                let column = basis.col(c);
                let dot: f64 = (0..free.len()).map(|i| column[i] * y[i]).sum();
                for (i, value) in out.iter_mut().enumerate() {
                    *value -= dot * column[i];
                }
            }
            out
        };
        let gamma = portfolio.risk_aversion;
        let mut v = vec![0.0; n];
        for (&j, value) in free.iter().zip(&projected) {
            if j < n {
                v[j] += value / gamma;
            } else {
                v[j - n] -= value / gamma;
            }
        }
        Sensitivity {
            v,
            free: free.len(),
            active: rows.len(),
        }
    }
}

/// Each model's TC (see the module docs): `predictions[k]` is model `k`'s gaussianized ranks
/// over the problem's stocks, `stakes[k]` its stake; the problem's signal must be their
/// stake-weighted mean, and `portfolio` its solution.
///
/// # Panics
/// If the lengths disagree.
pub fn true_contribution(
    problem: &Problem,
    portfolio: &Portfolio,
    returns: &[f64],
    predictions: &[Vec<f64>],
) -> Vec<f64> {
    let sensitivity = Sensitivity::of(problem, portfolio, returns);
    let base: f64 = problem
        .signal
        .iter()
        .zip(&sensitivity.v)
        .map(|(s, v)| s * v)
        .sum();
    predictions
        .iter()
        .map(|g| {
            assert_eq!(g.len(), problem.len(), "one prediction per stock");
            g.iter()
                .zip(&sensitivity.v)
                .map(|(g, v)| g * v)
                .sum::<f64>()
                - base
        })
        .collect()
}
