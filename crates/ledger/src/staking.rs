//! Staking records and the payout rule.
//!
//! # The payout rule, and its one rounding
//!
//! For a round with payout config `(multipliers mᵢ, clip c, stake threshold θ)`:
//!
//! ```text
//! payout_factor = min(1, θ / total_at_risk)                     fixed at score time
//! rate          = clip(payout_factor · Σ mᵢ·scoreᵢ, −c, +c)
//! payout        = at_risk · rate
//! ```
//!
//! All of it is integer arithmetic on 18-decimal fixed point. Scores enter as
//! [`Rate`]s (the f64 a scorer produced, rounded to the nearest 10⁻¹⁸ once, by
//! [`Rate::from_f64`]). Two roundings follow, both **toward zero**, both to 18 places:
//! the payout factor when it is fixed, and `rate` after the exact clip; then
//! `at_risk · rate` is rounded toward zero to the base unit
//! ([`Nmr::times_rate_toward_zero`]). Toward zero means the treasury never pays more
//! and a stake never burns more than the exact formula says.
//!
//! # Who earns and who burns
//!
//! - `at_risk` is the model's stake at round close (pending releases excluded), and
//!   zero without a valid on-time submission or when the round's gate says so.
//! - A positive payout is paid from the treasury into the stake (compounded) on the
//!   part of `at_risk` that has not since been asked to be released: pending amounts
//!   earn nothing.
//! - A negative payout burns `at_risk · |rate|` from the stake and, if the stake no
//!   longer holds enough, from the pending releases that were at risk in this round
//!   (those asked for after it closed; oldest request first). A round never burns more
//!   than that: the stake plus those pending amounts (the cap binds only when many
//!   overlapping rounds burn at once).

use std::collections::BTreeMap;

use ethnum::{I256, U256};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::account::{ModelId, RoundKey, TournamentId, UserId};
use crate::money::{BASE_UNITS_PER_NMR, Nmr, Rate, SignedNmr};
use crate::transfer::TransferId;

/// A participant account as the ledger knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique name.
    pub name: String,
    /// When the account was created (the withdrawal age rule reads it).
    pub created_at: Timestamp,
}

/// A model as the ledger knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// Id.
    pub id: ModelId,
    /// The owning account; releases and payouts of the stake go to its wallet.
    pub user: UserId,
    /// Name, unique per tournament.
    pub name: String,
    /// The tournament it predicts in.
    pub tournament: TournamentId,
}

/// How a round pays, stored with the round as data (never a constant in code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutConfig {
    /// Multiplier of each payout score, by score name (`corr20`, `mmc20`, ...).
    pub multipliers: BTreeMap<String, Rate>,
    /// The clip `c` of the payout rate: it stays within ±c.
    pub clip: Rate,
    /// The stake threshold θ of the payout factor.
    pub stake_threshold: Nmr,
}

/// A payout config that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No payout scores.
    #[error("the payout config names no score; give at least one multiplier, e.g. corr20 = 0.75")]
    NoScores,
    /// A clip outside (0, 1].
    #[error("clip {0} is outside (0, 1]; Numerai's is 0.05")]
    Clip(Rate),
    /// A zero stake threshold.
    #[error("the stake threshold is zero; it must be positive (Numerai Classic: 72000)")]
    Threshold,
}

impl PayoutConfig {
    /// Checks the config can be used.
    ///
    /// # Errors
    /// [`ConfigError`] naming the problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.multipliers.is_empty() {
            return Err(ConfigError::NoScores);
        }
        if self.clip <= Rate::ZERO || self.clip > Rate::ONE {
            return Err(ConfigError::Clip(self.clip));
        }
        if self.stake_threshold.is_zero() {
            return Err(ConfigError::Threshold);
        }
        Ok(())
    }
}

/// A score a settlement needs but was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {score} score for model {model}; the round's payout config needs it")]
pub struct MissingScore {
    /// The model.
    pub model: u64,
    /// The score's name.
    pub score: String,
}

/// `min(1, threshold / total_at_risk)`, rounded toward zero to 18 places; 1 when
/// nothing is at risk.
pub fn payout_factor(stake_threshold: Nmr, total_at_risk: Nmr) -> Rate {
    if total_at_risk.is_zero() || stake_threshold >= total_at_risk {
        return Rate::ONE;
    }
    let factor = U256::from(stake_threshold.base_units()) * U256::from(BASE_UNITS_PER_NMR)
        / U256::from(total_at_risk.base_units());
    Rate::from_units(factor.as_i128())
}

/// `clip(payout_factor · Σ mᵢ·scoreᵢ, −c, +c)`, exact, then rounded toward zero to 18 places.
///
/// # Errors
/// [`MissingScore`] when `scores` lacks a score the config pays on.
pub fn payout_rate(
    config: &PayoutConfig,
    payout_factor: Rate,
    model: ModelId,
    scores: &BTreeMap<String, Rate>,
) -> Result<Rate, MissingScore> {
    // Σ mᵢ·sᵢ has scale 10³⁶; times the factor, 10⁵⁴; both fit I256 for any
    // multipliers and scores a Rate can hold.
    let mut weighted = I256::ZERO;
    for (name, multiplier) in &config.multipliers {
        let score = scores.get(name).ok_or_else(|| MissingScore {
            model: model.0,
            score: name.clone(),
        })?;
        weighted += I256::from(multiplier.units()) * I256::from(score.units());
    }
    let scaled = weighted * I256::from(payout_factor.units());
    let unit36 = I256::from(BASE_UNITS_PER_NMR) * I256::from(BASE_UNITS_PER_NMR);
    let limit = I256::from(config.clip.units()) * unit36;
    let clipped = scaled.clamp(-limit, limit);
    Ok(Rate::from_units((clipped / unit36).as_i128()))
}

/// How one model's round settles, in amounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSettlement {
    /// The payout rate.
    pub rate: Rate,
    /// The part of at-risk that earns: at-risk minus what has since been asked to be released.
    pub earning_at_risk: Nmr,
    /// Paid from the treasury into the stake.
    pub paid: Nmr,
    /// Burned from the stake.
    pub burned_from_stake: Nmr,
    /// Burned from pending releases.
    pub burned_from_pending: Nmr,
}

impl ModelSettlement {
    /// The net signed amount: paid, or minus what was burned.
    pub fn net(&self) -> SignedNmr {
        if self.paid.is_zero() {
            let burned = self
                .burned_from_stake
                .checked_add(self.burned_from_pending)
                .unwrap_or(Nmr::MAX_SUPPLY);
            SignedNmr {
                negative: !burned.is_zero(),
                magnitude: burned,
            }
        } else {
            SignedNmr {
                negative: false,
                magnitude: self.paid,
            }
        }
    }
}

/// Applies the payout rule to one model (see the module docs).
///
/// `released_since_close` is what the model has asked to release after the round
/// closed and is still pending (amounts that were at risk in this round); `stake` is the
/// model's stake now.
pub fn settle_model(
    at_risk: Nmr,
    released_since_close: Nmr,
    stake: Nmr,
    rate: Rate,
) -> ModelSettlement {
    let earning_at_risk = at_risk.saturating_sub(released_since_close);
    let mut settlement = ModelSettlement {
        rate,
        earning_at_risk,
        paid: Nmr::ZERO,
        burned_from_stake: Nmr::ZERO,
        burned_from_pending: Nmr::ZERO,
    };
    if rate > Rate::ZERO {
        settlement.paid = earning_at_risk.times_rate_toward_zero(rate).magnitude;
    } else if rate < Rate::ZERO {
        let burn = at_risk.times_rate_toward_zero(rate).magnitude;
        settlement.burned_from_stake = burn.min(stake);
        settlement.burned_from_pending = burn.saturating_sub(stake).min(released_since_close);
    }
    settlement
}

/// A round's record in the ledger: when it closes and resolves and how it pays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakeRound {
    /// Which round.
    pub key: RoundKey,
    /// Submission deadline: at-risk amounts are fixed then.
    pub close_at: Timestamp,
    /// When its final scores are known; settlement is refused before.
    pub resolve_at: Timestamp,
    /// How it pays.
    pub config: PayoutConfig,
    /// Where it is.
    pub state: RoundState,
}

/// The ledger's view of a round's life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RoundState {
    /// Accepting stakes and submissions.
    Open,
    /// At-risk amounts fixed.
    Closed {
        /// When.
        closed_at: Timestamp,
        /// Σ at-risk.
        total_at_risk: Nmr,
    },
    /// Payout factor fixed.
    Scored {
        /// Σ at-risk.
        total_at_risk: Nmr,
        /// `min(1, θ / total_at_risk)`.
        payout_factor: Rate,
    },
    /// Payouts and burns applied and due releases paid.
    Settled {
        /// Σ at-risk.
        total_at_risk: Nmr,
        /// The factor used.
        payout_factor: Rate,
        /// When.
        settled_at: Timestamp,
    },
}

impl RoundState {
    /// The state's name: `open`, `closed`, `scored` or `settled`.
    pub fn name(&self) -> &'static str {
        match self {
            RoundState::Open => "open",
            RoundState::Closed { .. } => "closed",
            RoundState::Scored { .. } => "scored",
            RoundState::Settled { .. } => "settled",
        }
    }
}

/// What the round's submission pipeline says about a model at close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// A valid submission selected in the window.
    OnTime,
    /// Uploaded after close: scored, never staked.
    Late,
    /// Nothing valid was uploaded.
    Missing,
}

/// A gate's verdict on one model at close (Signals' churn rule is one such gate).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateDecision {
    /// The stake is at risk as usual.
    Pass,
    /// At-risk is zero, for the reason given.
    Zero(String),
}

/// The hook a tournament uses to set at-risk to zero for some models at close.
pub trait Gate {
    /// The verdict for `model` in `round`.
    fn decide(&self, round: RoundKey, model: ModelId) -> GateDecision;
}

/// The gate that passes everyone.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenGate;

impl Gate for OpenGate {
    fn decide(&self, _round: RoundKey, _model: ModelId) -> GateDecision {
        GateDecision::Pass
    }
}

/// One model's at-risk amount in a round, fixed at close.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundStake {
    /// The model.
    pub model: ModelId,
    /// The stake at close; zero when `zero_reason` is set.
    pub at_risk: Nmr,
    /// The stake at close, whatever the submission.
    pub stake_at_close: Nmr,
    /// Why at-risk is zero although the model had a stake.
    pub zero_reason: Option<String>,
    /// The settlement, once applied.
    pub settlement: Option<ModelSettlement>,
}

/// A decrease or drain request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// The caller's id of the request (also its transfer's id).
    pub id: TransferId,
    /// The model.
    pub model: ModelId,
    /// Amount asked for.
    pub amount: Nmr,
    /// What is left of it (burns from pending reduce it).
    pub remaining: Nmr,
    /// When asked.
    pub requested_at: Timestamp,
    /// The rounds the amount was at risk in when asked (closed, unsettled, with the
    /// model at risk): they can still burn it, and it earns nothing in them.
    pub at_risk_in: Vec<RoundKey>,
    /// The model's last round active at request time; paid out when it settles.
    pub release_round: Option<RoundKey>,
    /// When paid out to the wallet.
    pub released_at: Option<Timestamp>,
}

/// NMR bought back on the market into the treasury.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyback {
    /// The buyback's transfer.
    pub transfer: TransferId,
    /// NMR bought.
    pub nmr: Nmr,
    /// Price paid per NMR, in US dollars.
    pub price_usd: Rate,
    /// Dollars spent, in cents: `nmr × price` rounded toward zero to the cent.
    pub fiat_usd_cents: u128,
}

/// A staking record change, applied in the same store transaction as its batch's transfers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// A participant account and its wallet.
    CreateUser(User),
    /// A model and its stake and pending-release accounts.
    CreateModel(Model),
    /// A round and its payout config.
    OpenRound(StakeRound),
    /// Fixes at-risk amounts.
    CloseRound {
        /// The round.
        round: RoundKey,
        /// When.
        closed_at: Timestamp,
        /// Every model with a stake at close.
        stakes: Vec<RoundStake>,
    },
    /// Fixes the payout factor at score time.
    ScoreRound {
        /// The round.
        round: RoundKey,
        /// The factor.
        payout_factor: Rate,
    },
    /// A new release request.
    RequestRelease(ReleaseRequest),
    /// A burn taken from a pending request.
    ReduceRelease {
        /// The request.
        id: TransferId,
        /// By how much.
        by: Nmr,
    },
    /// A request paid out.
    CompleteRelease {
        /// The request.
        id: TransferId,
        /// When.
        at: Timestamp,
    },
    /// One model's settlement in a round.
    SettleModel {
        /// The round.
        round: RoundKey,
        /// The model.
        model: ModelId,
        /// The amounts.
        settlement: ModelSettlement,
    },
    /// The round is settled.
    SettleRound {
        /// The round.
        round: RoundKey,
        /// When.
        at: Timestamp,
    },
    /// A buyback's market figures.
    RecordBuyback(Buyback),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    fn classic() -> PayoutConfig {
        PayoutConfig {
            multipliers: BTreeMap::from([
                ("corr20".into(), rate("0.75")),
                ("mmc20".into(), rate("2.25")),
            ]),
            clip: rate("0.05"),
            stake_threshold: Nmr::from_whole(72_000),
        }
    }

    fn scores(corr: &str, mmc: &str) -> BTreeMap<String, Rate> {
        BTreeMap::from([("corr20".into(), rate(corr)), ("mmc20".into(), rate(mmc))])
    }

    #[test]
    fn payout_factor_is_one_below_the_threshold_and_shrinks_above_it() {
        let threshold = Nmr::from_whole(72_000);
        assert_eq!(payout_factor(threshold, Nmr::ZERO), Rate::ONE);
        assert_eq!(payout_factor(threshold, Nmr::from_whole(50_000)), Rate::ONE);
        assert_eq!(
            payout_factor(threshold, Nmr::from_whole(144_000)),
            rate("0.5")
        );
        // 72000 / 216000 = 0.333…, rounded toward zero.
        assert_eq!(
            payout_factor(threshold, Nmr::from_whole(216_000)),
            rate("0.333333333333333333")
        );
        // The largest totals cannot overflow.
        assert!(payout_factor(threshold, Nmr::MAX_SUPPLY) > Rate::ZERO);
    }

    #[test]
    fn payout_rate_weights_scores_then_clips() {
        let config = classic();
        let model = ModelId(1);
        // 0.75·0.02 + 2.25·0.004 = 0.024.
        assert_eq!(
            payout_rate(&config, Rate::ONE, model, &scores("0.02", "0.004")).unwrap(),
            rate("0.024")
        );
        assert_eq!(
            payout_rate(&config, rate("0.5"), model, &scores("0.02", "0.004")).unwrap(),
            rate("0.012")
        );
        assert_eq!(
            payout_rate(&config, Rate::ONE, model, &scores("0.1", "0.1")).unwrap(),
            rate("0.05")
        );
        assert_eq!(
            payout_rate(&config, Rate::ONE, model, &scores("-0.1", "0")).unwrap(),
            rate("-0.05")
        );
        let missing = payout_rate(&config, Rate::ONE, model, &BTreeMap::new()).unwrap_err();
        assert_eq!(missing.score, "corr20");
    }

    #[test]
    fn payout_rate_rounds_toward_zero_on_both_sides() {
        let config = PayoutConfig {
            multipliers: BTreeMap::from([("s".into(), Rate::ONE)]),
            ..classic()
        };
        let third = rate("0.333333333333333333");
        let score = |text: &str| BTreeMap::from([("s".to_owned(), rate(text))]);
        // 0.333…333 × 0.000000000000000002 = 6.66e-19 → 0 (toward zero, not to nearest).
        assert_eq!(
            payout_rate(&config, third, ModelId(1), &score("0.000000000000000002")).unwrap(),
            Rate::ZERO
        );
        assert_eq!(
            payout_rate(&config, third, ModelId(1), &score("-0.000000000000000005"))
                .unwrap()
                .units(),
            -1
        );
    }

    #[test]
    fn positive_payouts_skip_pending_amounts_and_burns_reach_into_them() {
        let hundred = Nmr::from_whole(100);
        let gain = settle_model(
            hundred,
            Nmr::from_whole(40),
            Nmr::from_whole(60),
            rate("0.05"),
        );
        assert_eq!(gain.paid, Nmr::from_whole(3));
        assert_eq!(gain.earning_at_risk, Nmr::from_whole(60));
        let loss = settle_model(hundred, hundred, Nmr::ZERO, rate("-0.05"));
        assert_eq!(
            (loss.burned_from_stake, loss.burned_from_pending),
            (Nmr::ZERO, Nmr::from_whole(5))
        );
        assert_eq!(loss.net().to_string(), "-5");
        let split = settle_model(
            hundred,
            Nmr::from_whole(98),
            Nmr::from_whole(2),
            rate("-0.05"),
        );
        assert_eq!(
            (split.burned_from_stake, split.burned_from_pending),
            (Nmr::from_whole(2), Nmr::from_whole(3))
        );
        let broke = settle_model(
            hundred,
            Nmr::from_whole(1),
            Nmr::from_whole(1),
            rate("-0.05"),
        );
        assert_eq!(broke.net().to_string(), "-2");
        assert_eq!(
            settle_model(hundred, Nmr::ZERO, hundred, Rate::ZERO).net(),
            SignedNmr::ZERO
        );
    }

    #[test]
    fn configs_that_cannot_pay_are_refused() {
        let mut config = classic();
        assert!(config.validate().is_ok());
        config.clip = rate("1.5");
        assert_eq!(config.validate(), Err(ConfigError::Clip(rate("1.5"))));
        config.clip = rate("0.05");
        config.stake_threshold = Nmr::ZERO;
        assert_eq!(config.validate(), Err(ConfigError::Threshold));
        config.multipliers.clear();
        assert_eq!(config.validate(), Err(ConfigError::NoScores));
    }
}
