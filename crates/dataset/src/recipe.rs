//! The recipe of a dataset version: which engineered features it has, under which obfuscated
//! names, in which feature sets; and which targets.
//!
//! A feature is a [`Measure`] of one stock's recent history (a windowed return, volatility,
//! liquidity, a fundamental ratio or its change…), taken `lag` business days before the era's
//! date and optionally made relative to the stock's sector or country on that date
//! ([`Relative`]). The catalogue of every such combination is fixed; a version draws `K` of them
//! in a seeded order and names each `feature_<word>_<word>_<word>` from seeded syllables.
//!
//! The recipe is private: it says what each obfuscated name measures, so it is stored beside
//! the secret key, never with the published files.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The return windows, in business days.
pub const WINDOWS: [usize; 6] = [5, 10, 20, 60, 120, 250];
/// The lags a feature may be taken at, in business days before the era's date.
pub const LAGS: [usize; 3] = [0, 5, 20];
/// The longest history any feature reads: the longest window plus the longest lag, plus one
/// day for a return's previous close.
pub const LOOKBACK: usize = 250 + 20 + 1;

/// A fundamental column of the panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fundamental {
    /// Trailing book value.
    BookValue,
    /// Trailing earnings.
    Earnings,
    /// Trailing sales.
    Sales,
    /// Trailing dividends.
    Dividends,
}

/// What a feature measures, for one stock on one date, from its history up to that date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "measure", rename_all = "snake_case")]
pub enum Measure {
    /// Compounded return over the last `window` days.
    Return {
        /// Business days in the window.
        window: usize,
    },
    /// Compounded return over the last `window` days but the latest 20 (momentum, skipping
    /// the short-term reversal).
    Momentum {
        /// Business days in the window.
        window: usize,
    },
    /// Standard deviation of daily returns.
    Volatility {
        /// Business days in the window.
        window: usize,
    },
    /// Beta to the market (cap-weighted mean return of the panel).
    Beta {
        /// Business days in the window.
        window: usize,
    },
    /// Standard deviation of the return not explained by the market.
    IdiosyncraticVolatility {
        /// Business days in the window.
        window: usize,
    },
    /// Log of the mean traded value (close × volume).
    Liquidity {
        /// Business days in the window.
        window: usize,
    },
    /// Mean traded value over 5 days ÷ over `window` days.
    VolumeTrend {
        /// Business days in the window.
        window: usize,
    },
    /// Mean traded value ÷ market cap.
    Turnover {
        /// Business days in the window.
        window: usize,
    },
    /// Close ÷ highest close of the window, minus one.
    Drawdown {
        /// Business days in the window.
        window: usize,
    },
    /// Mean of |return| ÷ traded value (Amihud's illiquidity), scaled by 1e6.
    Illiquidity {
        /// Business days in the window.
        window: usize,
    },
    /// Return over the window ÷ its volatility.
    RiskAdjustedReturn {
        /// Business days in the window.
        window: usize,
    },
    /// Log market cap.
    Size,
    /// A fundamental ÷ market cap (book-to-price, earnings yield, sales yield, dividend yield).
    Yield {
        /// The fundamental.
        of: Fundamental,
    },
    /// Earnings ÷ book value.
    ReturnOnEquity,
    /// Earnings ÷ sales.
    Margin,
    /// Change of a fundamental over `window` days, ÷ market cap.
    Growth {
        /// The fundamental.
        of: Fundamental,
        /// Business days over which the change is taken.
        window: usize,
    },
}

impl Measure {
    /// Every measure of the catalogue, in a fixed order.
    pub fn catalogue() -> Vec<Measure> {
        let mut all = Vec::new();
        for window in WINDOWS {
            all.push(Measure::Return { window });
            all.push(Measure::Liquidity { window });
            all.push(Measure::Turnover { window });
            if window >= 10 {
                all.push(Measure::Volatility { window });
                all.push(Measure::Drawdown { window });
                all.push(Measure::Illiquidity { window });
            }
            if window >= 20 {
                all.push(Measure::Beta { window });
                all.push(Measure::IdiosyncraticVolatility { window });
                all.push(Measure::VolumeTrend { window });
                all.push(Measure::RiskAdjustedReturn { window });
            }
            if window >= 60 {
                all.push(Measure::Momentum { window });
            }
        }
        all.push(Measure::Size);
        all.push(Measure::ReturnOnEquity);
        all.push(Measure::Margin);
        for of in [
            Fundamental::BookValue,
            Fundamental::Earnings,
            Fundamental::Sales,
            Fundamental::Dividends,
        ] {
            all.push(Measure::Yield { of });
            for window in [60, 120, 250] {
                all.push(Measure::Growth { of, window });
            }
        }
        all
    }

    /// The thematic feature set the measure belongs to (Numerai's group names).
    fn theme(self) -> &'static str {
        match self {
            Measure::Yield { .. } | Measure::Size => "intelligence",
            Measure::Growth { .. } => "wisdom",
            Measure::Liquidity { .. }
            | Measure::VolumeTrend { .. }
            | Measure::Turnover { .. }
            | Measure::Illiquidity { .. } => "charisma",
            Measure::Return { window } if window <= 20 => "dexterity",
            Measure::Return { .. } | Measure::Momentum { .. } | Measure::Drawdown { .. } => {
                "strength"
            }
            Measure::Volatility { .. }
            | Measure::Beta { .. }
            | Measure::IdiosyncraticVolatility { .. } => "constitution",
            Measure::RiskAdjustedReturn { .. } => "agility",
            Measure::ReturnOnEquity | Measure::Margin => "serenity",
        }
    }
}

/// Whether a feature is the raw measure or its difference from the mean of the stock's sector
/// or country on the same date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relative {
    /// The measure itself.
    Raw,
    /// Minus the mean over the stock's sector.
    Sector,
    /// Minus the mean over the stock's country.
    Country,
}

/// One engineered feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDef {
    /// The published, obfuscated name (`feature_…`).
    pub name: String,
    /// What it measures.
    pub measure: Measure,
    /// Business days before the era's date at which it is measured.
    pub lag: usize,
    /// Raw or relative to sector/country.
    pub relative: Relative,
}

/// The features of a version and its feature sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The features in file order.
    pub features: Vec<FeatureDef>,
}

/// How many distinct features the catalogue offers.
pub fn catalogue_size() -> usize {
    Measure::catalogue().len() * LAGS.len() * 3
}

impl Recipe {
    /// Draws `count` features in a seeded order and names them.
    pub fn draw(count: usize, seed: u64) -> Result<Self, Error> {
        let available = catalogue_size();
        if count == 0 || count > available {
            return Err(Error::input(format!(
                "--features {count}: choose between 1 and {available} (the number of distinct \
                 engineered features)"
            )));
        }
        let mut combinations = Vec::with_capacity(available);
        for measure in Measure::catalogue() {
            for lag in LAGS {
                for relative in [Relative::Raw, Relative::Sector, Relative::Country] {
                    combinations.push((measure, lag, relative));
                }
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        combinations.shuffle(&mut rng);
        let mut names = std::collections::HashSet::new();
        let features = combinations
            .into_iter()
            .take(count)
            .map(|(measure, lag, relative)| {
                let name = loop {
                    let name = obfuscated_name(&mut rng);
                    if names.insert(name.clone()) {
                        break name;
                    }
                };
                FeatureDef {
                    name,
                    measure,
                    lag,
                    relative,
                }
            })
            .collect();
        Ok(Self { features })
    }

    /// The feature names in file order.
    pub fn names(&self) -> Vec<String> {
        self.features
            .iter()
            .map(|feature| feature.name.clone())
            .collect()
    }

    /// The feature sets: `small` (about 1/16 of the features, at least one), `medium` (about a
    /// third), `all`, and one thematic set per kind of measure.
    pub fn feature_sets(&self) -> Vec<(String, Vec<String>)> {
        let names = self.names();
        let count = names.len();
        let small = (count / 16).max(1);
        let medium = (count / 3).max(small);
        let mut sets = vec![
            ("small".to_string(), names[..small].to_vec()),
            ("medium".to_string(), names[..medium].to_vec()),
            ("all".to_string(), names.clone()),
        ];
        for theme in [
            "intelligence",
            "wisdom",
            "charisma",
            "dexterity",
            "strength",
            "constitution",
            "agility",
            "serenity",
        ] {
            let members: Vec<String> = self
                .features
                .iter()
                .filter(|feature| feature.measure.theme() == theme)
                .map(|feature| feature.name.clone())
                .collect();
            sets.push((theme.to_string(), members));
        }
        sets
    }
}

/// `feature_` and three pronounceable made-up words, like Numerai's
/// `feature_bicameral_showery_wallaba`.
fn obfuscated_name(rng: &mut ChaCha8Rng) -> String {
    const ONSETS: [&str; 24] = [
        "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "ch",
        "cr", "gl", "pl", "sh", "st", "th", "tr",
    ];
    const VOWELS: [&str; 10] = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y", "io"];
    const CODAS: [&str; 12] = ["", "", "", "n", "l", "r", "s", "t", "m", "ck", "nd", "st"];
    let mut name = String::from("feature");
    for _ in 0..3 {
        name.push('_');
        let syllables = rng.random_range(2..=3);
        for _ in 0..syllables {
            name.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
            name.push_str(VOWELS[rng.random_range(0..VOWELS.len())]);
            name.push_str(CODAS[rng.random_range(0..CODAS.len())]);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipe_is_seeded_and_its_names_are_unique_and_obfuscated() {
        let recipe = Recipe::draw(500, 7).unwrap();
        assert_eq!(recipe, Recipe::draw(500, 7).unwrap());
        assert_ne!(recipe.names(), Recipe::draw(500, 8).unwrap().names());
        let names: std::collections::HashSet<_> = recipe.names().into_iter().collect();
        assert_eq!(names.len(), 500);
        assert!(names.iter().all(|name| name.starts_with("feature_")
            && name.split('_').count() == 4
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }

    #[test]
    fn too_many_features_is_refused_with_the_maximum() {
        let error = Recipe::draw(catalogue_size() + 1, 0)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&catalogue_size().to_string()), "{error}");
    }

    #[test]
    fn feature_sets_nest_and_themes_cover_all() {
        let recipe = Recipe::draw(96, 1).unwrap();
        let sets = recipe.feature_sets();
        let get = |name: &str| &sets.iter().find(|(set, _)| set == name).unwrap().1;
        assert_eq!(get("small").len(), 6);
        assert_eq!(get("medium").len(), 32);
        assert_eq!(get("all").len(), 96);
        let themed: usize = sets[3..].iter().map(|(_, members)| members.len()).sum();
        assert_eq!(themed, 96);
    }
}
