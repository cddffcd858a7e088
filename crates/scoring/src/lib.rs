//! Numerai tournament scoring, exact to numerai-tools 0.7.2 and batched.
//!
//! Two tiers:
//! - [`metrics`]: one call per metric for one submission, e.g.
//!   [`metrics::numerai_corr`]`(&predictions, &target)`.
//! - [`Era`]: every metric for every submission of an era at once. It takes the era's
//!   matrix (ids × submissions) and computes the shared work once: the target rows, the
//!   rank codes of every column (turned into gaussians by table lookup), one SVD of the
//!   feature or neutralizer matrix reused by every submission. Columns run in parallel
//!   (rayon), matrix products in faer.
//!
//! A degenerate input is never a NaN and never a panic: each score is a [`Score`], either
//! a finite number or an [`Undefined`] reason (constant column, too few rows, too little
//! overlap, a residual that is only rounding noise, ...).
//!
//! Definitions are numerai-tools' (see `reference/scoring.md` and ARCHITECTURE.md):
//! tie-kept ranks `(r − 0.5)/n`, [`ndtri`] for the gaussian, `sign(x)|x|^1.5`, and
//! neutralization by least squares with numpy's `rcond = 1e-6` truncation.
//!
//! ```
//! use numerus_scoring::metrics;
//!
//! let predictions = [0.1, 0.4, 0.35, 0.8, 0.6];
//! let target = [0.0, 0.5, 0.25, 1.0, f64::NAN];
//! let corr = metrics::numerai_corr(&predictions, &target).unwrap();
//! assert!(corr > 0.9);
//!
//! let constant = [0.5; 5];
//! let undefined = metrics::numerai_corr(&constant, &target).unwrap_err();
//! assert_eq!(undefined.code(), "constant_column");
//! ```

pub mod cross_era;
mod era;
mod gaussian;
pub mod metrics;
pub mod neutralize;
pub mod rank;
pub mod stats;
pub mod summary;
mod undefined;

pub use era::{Era, EraInput, EraTarget, MissingInput, Signals};
pub use gaussian::ndtri;
pub use undefined::{Score, Undefined};

/// The version of numerai-tools whose definitions this crate reproduces.
pub const NUMERAI_TOOLS_VERSION: &str = "0.7.2";
