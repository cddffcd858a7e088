//! The portfolio's constraints, as data (TOML):
//!
//! ```toml
//! gross = 1.0               # Σ|w| ≤ gross
//! net = 0.0                 # Σw within net ± net_tolerance
//! net_tolerance = 0.01
//! position_cap = 0.01       # |w_i| ≤ position_cap
//! factor_tolerance = 0.01   # |B_fᵀw| ≤ factor_tolerance for every factor
//! group_tolerance = 0.01    # |Σ_{i in g} w_i| ≤ group_tolerance for every group
//! risk_aversion = 0.05      # γ of the ½·γ·‖w‖² concentration penalty (> 0)
//! ```

use serde::{Deserialize, Serialize};

/// The constraints of the portfolio (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Constraints {
    pub gross: f64,
    pub net: f64,
    pub net_tolerance: f64,
    pub position_cap: f64,
    pub factor_tolerance: f64,
    pub group_tolerance: f64,
    pub risk_aversion: f64,
}

impl Default for Constraints {
    fn default() -> Self {
        Self {
            gross: 1.0,
            net: 0.0,
            net_tolerance: 0.01,
            position_cap: 0.01,
            factor_tolerance: 0.01,
            group_tolerance: 0.01,
            risk_aversion: 0.05,
        }
    }
}

impl Constraints {
    /// Reads and checks a TOML config.
    ///
    /// # Errors
    /// A message naming the setting.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let constraints: Self = toml::from_str(text).map_err(|error| error.to_string())?;
        constraints.check()?;
        Ok(constraints)
    }

    /// Checks that every setting is usable.
    ///
    /// # Errors
    /// A message naming the setting and what it must be.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("gross", self.gross),
            ("position_cap", self.position_cap),
            ("risk_aversion", self.risk_aversion),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!("{name} must be a positive number, not {value}"));
            }
        }
        let tolerances = [
            ("net_tolerance", self.net_tolerance),
            ("factor_tolerance", self.factor_tolerance),
            ("group_tolerance", self.group_tolerance),
        ];
        for (name, value) in tolerances {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!("{name} must be zero or more, not {value}"));
            }
        }
        if !self.net.is_finite() {
            return Err(format!("net must be a number, not {}", self.net));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_reads_from_toml_and_bad_settings_are_named() {
        let config = Constraints::from_toml(
            "gross = 2.0\nnet = 0.0\nnet_tolerance = 0.0\nposition_cap = 0.05\nfactor_tolerance = 0.0\ngroup_tolerance = 0.0\nrisk_aversion = 1.0\n",
        )
        .unwrap();
        assert_eq!(config.gross, 2.0);
        let error = Constraints::from_toml(
            "gross = -1.0\nnet = 0.0\nnet_tolerance = 0.0\nposition_cap = 0.05\nfactor_tolerance = 0.0\ngroup_tolerance = 0.0\nrisk_aversion = 1.0\n",
        )
        .unwrap_err();
        assert!(error.contains("gross"), "{error}");
        let error = Constraints::from_toml("gros = 1.0\n").unwrap_err();
        assert!(error.contains("gros"), "{error}");
    }
}
