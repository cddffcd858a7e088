//! Why a score has no value: a typed status, never a NaN and never a panic.

use std::fmt;

/// The reason a metric is undefined for one submission (or pair) in one era.
#[derive(Debug, Clone, PartialEq)]
pub enum Undefined {
    /// Every prediction of the column ties, so it has no ranking to score.
    ConstantColumn,
    /// The reference column (target, meta model, benchmark) has no variance.
    ConstantReference {
        /// Which reference: "target", "meta model", "benchmark", ...
        what: &'static str,
    },
    /// Too few rows for the computation.
    TooFewRows {
        /// Rows available.
        rows: usize,
        /// Rows needed (more than this many).
        needed: usize,
    },
    /// The inputs share too few ids (numerai-tools asserts at least 80 %).
    TooLittleOverlap {
        /// Ids in common.
        common: usize,
        /// Ids in the larger input.
        total: usize,
    },
    /// After neutralization nothing but rounding noise is left.
    ResidualIsNoise,
    /// The submission has no stake, so it takes no part in the stake-weighted metric.
    NoStake,
    /// The stakes sum to zero.
    ZeroTotalStake,
    /// No row of the era has a target.
    NoTargetRows,
    /// Every feature is constant over the rows scored.
    NoDefinedFeatures,
    /// The era has no other submission to compare with.
    NoOtherSubmissions,
    /// A factorization did not converge.
    FactorizationFailed,
}

impl Undefined {
    /// A stable machine-readable code (written to `scores.json`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::ConstantColumn => "constant_column",
            Self::ConstantReference { .. } => "constant_reference",
            Self::TooFewRows { .. } => "too_few_rows",
            Self::TooLittleOverlap { .. } => "too_little_overlap",
            Self::ResidualIsNoise => "residual_is_noise",
            Self::NoStake => "no_stake",
            Self::ZeroTotalStake => "zero_total_stake",
            Self::NoTargetRows => "no_target_rows",
            Self::NoDefinedFeatures => "no_defined_features",
            Self::NoOtherSubmissions => "no_other_submissions",
            Self::FactorizationFailed => "factorization_failed",
        }
    }
}

impl fmt::Display for Undefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConstantColumn => write!(
                f,
                "every prediction ties: a constant column has no ranking to score"
            ),
            Self::ConstantReference { what } => {
                write!(f, "the {what} is constant over the rows scored")
            }
            Self::TooFewRows { rows, needed } => {
                write!(f, "{rows} rows is too few: more than {needed} are needed")
            }
            Self::TooLittleOverlap { common, total } => write!(
                f,
                "only {common} of {total} ids overlap; at least 80% must (as numerai-tools asserts)"
            ),
            Self::ResidualIsNoise => {
                write!(f, "after neutralization only rounding noise is left")
            }
            Self::NoStake => write!(f, "the submission has no stake"),
            Self::ZeroTotalStake => write!(f, "the stakes sum to zero"),
            Self::NoTargetRows => write!(f, "no row of the era has a target"),
            Self::NoDefinedFeatures => write!(f, "every feature is constant over the rows scored"),
            Self::NoOtherSubmissions => write!(f, "there is no other submission in the era"),
            Self::FactorizationFailed => write!(f, "the SVD of the exposures did not converge"),
        }
    }
}

/// A score: a finite number, or the reason there is none.
pub type Score = Result<f64, Undefined>;

/// numerai-tools' `filter_sort_index` check: `common / len >= 1 − 0.2`, computed in the
/// same floating-point operations so that the boundary falls where numerai-tools puts it.
pub(crate) fn overlap_ok(common: usize, total: usize) -> bool {
    total == 0 || common as f64 / total as f64 >= 1.0 - 0.2
}

/// [`overlap_ok`] against every given input size, as a [`Score`]-friendly result.
pub(crate) fn check_overlap(common: usize, totals: &[usize]) -> Result<(), Undefined> {
    match totals.iter().find(|&&total| !overlap_ok(common, total)) {
        Some(&total) => Err(Undefined::TooLittleOverlap { common, total }),
        None => Ok(()),
    }
}
