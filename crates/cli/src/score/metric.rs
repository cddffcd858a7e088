//! The metrics `numerus score` knows, their names on the command line and in
//! `scores.json`, and the inputs each needs.

use std::fmt;

/// A metric of `numerus score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    NumeraiCorr,
    Mmc,
    Bmc,
    Fnc,
    NeutralCorr,
    NeutralMmc,
    Alpha,
    Mpc,
    FeatureExposure,
    Cwmm,
    Mcwnm,
    Apcwnm,
    Churn,
    Turnover,
    NeutralChurn,
    StakeWeight,
    StakeWeightRanked,
}

/// An input file a metric needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    MetaModel,
    Benchmark,
    Features,
    Neutralizers,
    SampleWeights,
    Stakes,
}

impl Need {
    /// The flag that supplies it.
    pub fn flag(self) -> &'static str {
        match self {
            Self::MetaModel => "--meta-model FILE",
            Self::Benchmark => "--benchmark FILE",
            Self::Features => "`feature_*` columns in --data",
            Self::Neutralizers => "--neutralizers FILE",
            Self::SampleWeights => "--sample-weights FILE",
            Self::Stakes => "--stakes FILE",
        }
    }
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Self; 17] = [
        Self::NumeraiCorr,
        Self::Mmc,
        Self::Bmc,
        Self::Fnc,
        Self::NeutralCorr,
        Self::NeutralMmc,
        Self::Alpha,
        Self::Mpc,
        Self::FeatureExposure,
        Self::Cwmm,
        Self::Mcwnm,
        Self::Apcwnm,
        Self::Churn,
        Self::Turnover,
        Self::NeutralChurn,
        Self::StakeWeight,
        Self::StakeWeightRanked,
    ];

    /// The metric's name in `--metrics` and in `scores.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::NumeraiCorr => "numerai_corr",
            Self::Mmc => "mmc",
            Self::Bmc => "bmc",
            Self::Fnc => "fnc",
            Self::NeutralCorr => "neutral_corr",
            Self::NeutralMmc => "neutral_mmc",
            Self::Alpha => "alpha",
            Self::Mpc => "mpc",
            Self::FeatureExposure => "feature_exposure",
            Self::Cwmm => "cwmm",
            Self::Mcwnm => "mcwnm",
            Self::Apcwnm => "apcwnm",
            Self::Churn => "churn",
            Self::Turnover => "turnover",
            Self::NeutralChurn => "neutral_churn",
            Self::StakeWeight => "stake_weight",
            Self::StakeWeightRanked => "stake_weight_ranked",
        }
    }

    /// Parses a name (`corr` is accepted for `numerai_corr`).
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        if name == "corr" {
            return Some(Self::NumeraiCorr);
        }
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The inputs beyond predictions and target that the metric needs.
    pub fn needs(self) -> &'static [Need] {
        match self {
            Self::NumeraiCorr | Self::Churn | Self::Mcwnm | Self::Apcwnm => &[],
            Self::Mmc | Self::Cwmm => &[Need::MetaModel],
            Self::Bmc => &[Need::Benchmark],
            Self::Fnc | Self::FeatureExposure => &[Need::Features],
            Self::NeutralCorr | Self::NeutralChurn => &[Need::Neutralizers],
            Self::NeutralMmc => &[Need::MetaModel, Need::Neutralizers],
            Self::Alpha | Self::Turnover => &[Need::Neutralizers, Need::SampleWeights],
            Self::Mpc => &[Need::Neutralizers, Need::SampleWeights, Need::Stakes],
            Self::StakeWeight | Self::StakeWeightRanked => &[Need::Stakes],
        }
    }

    /// Whether the metric reads the era's rank codes of every submission (FNC ranks its
    /// own neutralized columns; exposure and the raw stake-weighted series need no ranks).
    pub fn reads_rank_codes(self) -> bool {
        !matches!(self, Self::Fnc | Self::FeatureExposure | Self::StakeWeight)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
