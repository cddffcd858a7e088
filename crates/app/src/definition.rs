//! A tournament as data: its id and name, calendar, submission rule, how rounds pay and what
//! they score. Classic is [`Definition::classic`]; any other is a TOML file of the same shape.
//!
//! ```toml
//! id = 8
//! name = "classic"
//! target = "target"                     # the live targets' payout column
//! upload_deadline_seconds = 600         # a received upload not validated by then is rejected
//! job_deadline_seconds = 3600           # a scoring or resolution job overdue after this is retried
//!
//! [calendar]                            # see numerus_tournament::calendar
//! anchor = { number = 1175, date = "2026-01-06" }
//! ...
//!
//! [payout]                              # per round, stored with each round when it opens
//! multipliers = { corr = "0.75", mmc = "2.25" }
//! clip = "0.05"
//! stake_threshold = "72000"
//! ```

use std::collections::BTreeMap;

use numerus_ledger::staking::PayoutConfig;
use numerus_ledger::{Nmr, Rate};
use numerus_tournament::calendar::{Calendar, CalendarRule};
use numerus_tournament::submission::SubmissionRule;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The scores computed each scoring day (depend on the returns).
pub const DAILY_SCORES: [&str; 4] = ["corr", "mmc", "bmc", "fnc"];

/// The scores computed once per round, when its selection is frozen (independent of returns;
/// stored as day 0).
pub const ROUND_SCORES: [&str; 3] = ["cwmm", "mcwnm", "apcwnm"];

/// A tournament's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// Numerai's tournament number (8 Classic, 11 Signals, 12 Crypto).
    pub id: u32,
    /// Its name.
    pub name: String,
    /// The target column rounds are scored and paid on.
    pub target: String,
    /// A received upload not validated within this many seconds is rejected by the reaper.
    pub upload_deadline_seconds: i64,
    /// A job not finished within this many seconds is overdue and retried.
    pub job_deadline_seconds: i64,
    /// When rounds open, close and score.
    pub calendar: CalendarRule,
    /// How rounds pay (copied into each round when it opens).
    pub payout: PayoutConfig,
    /// The fund: a portfolio per round from its meta model, its returns, and each staked
    /// model's TC at resolution. Absent: no fund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund: Option<crate::fund::FundConfig>,
}

impl Definition {
    /// Numerai Classic in 2026: the round calendar of `CalendarRule::classic`, paid on
    /// `0.75·CORR + 2.25·MMC` of the 20-day target, clipped at ±5 %, threshold 72,000 NMR.
    pub fn classic() -> Self {
        let rate = |text: &str| text.parse::<Rate>().expect("a constant rate");
        Self {
            id: 8,
            name: "classic".into(),
            target: "target".into(),
            upload_deadline_seconds: 600,
            job_deadline_seconds: 3600,
            calendar: CalendarRule::classic(),
            payout: PayoutConfig {
                multipliers: BTreeMap::from([
                    ("corr".to_string(), rate("0.75")),
                    ("mmc".to_string(), rate("2.25")),
                ]),
                clip: rate("0.05"),
                stake_threshold: Nmr::from_whole(72_000),
            },
            fund: None,
        }
    }

    /// Reads a definition from TOML and checks it.
    ///
    /// # Errors
    /// [`Error::Definition`] naming the field.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let definition: Self = toml::from_str(text)
            .map_err(|error| Error::Definition(format!("it does not parse: {error}")))?;
        definition.check()?;
        Ok(definition)
    }

    /// The definition as TOML, which [`Definition::from_toml`] reads back.
    ///
    /// # Errors
    /// [`Error::Definition`] if a field cannot be written.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|error| Error::Definition(error.to_string()))
    }

    /// Checks the parts that can be wrong.
    ///
    /// # Errors
    /// [`Error::Definition`] naming the field.
    pub fn check(&self) -> Result<(), Error> {
        Calendar::new(self.calendar.clone())
            .map_err(|error| Error::Definition(error.to_string()))?;
        self.payout
            .validate()
            .map_err(|error| Error::Definition(error.to_string()))?;
        for name in self.payout.multipliers.keys() {
            if name == "tc" && self.fund.is_some() {
                continue;
            }
            if !DAILY_SCORES.contains(&name.as_str()) {
                return Err(Error::Definition(format!(
                    "the payout names a score `{name}`, which is not computed daily; use one of {DAILY_SCORES:?} (or `tc` with a [fund] table)"
                )));
            }
        }
        if let Some(fund) = &self.fund {
            fund.constraints
                .check()
                .map_err(|error| Error::Definition(format!("[fund.constraints] {error}")))?;
        }
        if self.upload_deadline_seconds <= 0 || self.job_deadline_seconds <= 0 {
            return Err(Error::Definition(
                "upload_deadline_seconds and job_deadline_seconds must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The submission rule of this tournament's files.
    pub fn submission_rule(&self) -> SubmissionRule {
        match self.id {
            11 => SubmissionRule::signals(),
            12 => SubmissionRule::crypto(),
            _ => SubmissionRule::classic(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classic, written out as an operator would.
    const CLASSIC: &str = r#"
id = 8
name = "classic"
target = "target"
upload_deadline_seconds = 600
job_deadline_seconds = 3600

[calendar]
anchor = { number = 1175, date = "2026-01-06" }
openings = [
  { day = "tuesday", open = "12:00", window_minutes = 60 },
  { day = "wednesday", open = "12:00", window_minutes = 60 },
  { day = "thursday", open = "12:00", window_minutes = 60 },
  { day = "friday", open = "12:00", window_minutes = 60 },
  { day = "saturday", open = "12:00", window_minutes = 1560 },
]
market_days = ["monday", "tuesday", "wednesday", "thursday", "friday"]
lag_days = 2
scoring_days = 20
score_delay_days = 1
score_time = "14:00"

[payout]
multipliers = { corr = "0.75", mmc = "2.25" }
clip = "0.05"
stake_threshold = "72000"
"#;

    #[test]
    fn classic_reads_from_its_toml() {
        assert_eq!(
            Definition::from_toml(CLASSIC).unwrap(),
            Definition::classic()
        );
    }

    #[test]
    fn a_payout_on_a_score_not_computed_daily_is_refused_by_name() {
        let text = CLASSIC.replace("mmc = ", "tc = ");
        let error = Definition::from_toml(&text).unwrap_err().to_string();
        assert!(error.contains("`tc`"), "{error}");
    }

    #[test]
    fn tc_can_be_paid_on_only_when_the_tournament_runs_a_fund() {
        let mut definition = Definition::classic();
        definition
            .payout
            .multipliers
            .insert("tc".into(), "1.0".parse().unwrap());
        let error = definition.check().unwrap_err().to_string();
        assert!(error.contains("[fund]"), "{error}");
        definition.fund = Some(crate::fund::FundConfig {
            factors: 5,
            constraints: numerus_optimizer::Constraints::default(),
        });
        definition.check().unwrap();
        let text = definition.to_toml().unwrap();
        assert_eq!(Definition::from_toml(&text).unwrap(), definition);
        definition.fund.as_mut().unwrap().constraints.risk_aversion = 0.0;
        assert!(
            definition
                .check()
                .unwrap_err()
                .to_string()
                .contains("risk_aversion")
        );
    }

    #[test]
    fn unusable_deadlines_and_clips_are_refused() {
        let mut definition = Definition::classic();
        definition.job_deadline_seconds = 0;
        assert!(
            definition
                .check()
                .unwrap_err()
                .to_string()
                .contains("positive")
        );
        let mut definition = Definition::classic();
        definition.payout.clip = Rate::ZERO;
        assert!(definition.check().unwrap_err().to_string().contains("clip"));
        let error = Definition::from_toml("id = 8").unwrap_err().to_string();
        assert!(error.contains("does not parse"), "{error}");
    }
}
