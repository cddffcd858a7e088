//! The payout rule once more, from its statement in `numerus_ledger::staking` alone,
//! in exact big-integer arithmetic.
//!
//! The simulator checks the ledger against these functions and never against the
//! ledger's own: a rounding in the wrong direction, a clip applied before the payout
//! factor or an intermediate that overflows shows up as a difference of at least one
//! base unit.

use std::collections::BTreeMap;

use num_bigint::BigInt;
use numerus_ledger::money::BASE_UNITS_PER_NMR;
use numerus_ledger::staking::PayoutConfig;
use numerus_ledger::{Nmr, Rate};

/// 10¹⁸ as a big integer: one NMR in base units, and one in 18-decimal rate units.
fn one() -> BigInt {
    BigInt::from(BASE_UNITS_PER_NMR)
}

/// A big integer known to fit an `i128` (every rate this module returns is within ±1
/// or within ± the clip).
fn to_rate(units: &BigInt) -> Rate {
    Rate::from_units(i128::try_from(units).expect("a clipped rate fits an i128"))
}

/// `min(1, threshold / total_at_risk)` rounded toward zero to 18 places; 1 when
/// nothing is at risk.
pub fn payout_factor(stake_threshold: Nmr, total_at_risk: Nmr) -> Rate {
    if total_at_risk.is_zero() {
        return Rate::ONE;
    }
    // Both operands are positive, so integer division is the rounding toward zero.
    let ratio = BigInt::from(stake_threshold.base_units()) * one()
        / BigInt::from(total_at_risk.base_units());
    to_rate(&ratio.min(one()))
}

/// `clip(payout_factor · Σ multiplierᵢ·scoreᵢ, −clip, +clip)`, computed exactly in units
/// of 10⁻⁵⁴, then rounded toward zero to 18 places; `None` when `scores` lacks a score
/// the config pays on.
pub fn payout_rate(
    config: &PayoutConfig,
    payout_factor: Rate,
    scores: &BTreeMap<String, Rate>,
) -> Option<Rate> {
    let mut weighted = BigInt::ZERO;
    for (name, multiplier) in &config.multipliers {
        let score = scores.get(name)?;
        weighted += BigInt::from(multiplier.units()) * BigInt::from(score.units());
    }
    let exact = weighted * BigInt::from(payout_factor.units());
    let units_54 = one() * one() * one();
    let limit = BigInt::from(config.clip.units()) * one() * one();
    let clipped = exact.clamp(-limit.clone(), limit);
    // BigInt division truncates, which is rounding toward zero on either sign.
    Some(to_rate(&(clipped * one() / units_54)))
}

/// `|amount × rate|` rounded toward zero to the base unit.
pub fn amount_times_rate(amount: Nmr, rate: Rate) -> Nmr {
    let product = BigInt::from(amount.base_units()) * BigInt::from(rate.units());
    let magnitude = product.magnitude() / one().magnitude();
    Nmr::from_base_units(u128::try_from(&magnitude).expect("a payout stays below the supply"))
}

/// The dollars a buyback of `nmr` at `price_usd` per NMR costs, in whole cents,
/// rounded toward zero.
pub fn buyback_cents(nmr: Nmr, price_usd: Rate) -> u128 {
    let product =
        BigInt::from(nmr.base_units()) * BigInt::from(price_usd.units()) * BigInt::from(100);
    let cents = product / (one() * one());
    u128::try_from(&cents).expect("a positive price gives positive cents")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    fn config(clip: &str) -> PayoutConfig {
        PayoutConfig {
            multipliers: BTreeMap::from([
                ("corr20".to_owned(), rate("0.75")),
                ("mmc20".to_owned(), rate("2.25")),
            ]),
            clip: rate(clip),
            stake_threshold: Nmr::from_whole(72_000),
        }
    }

    fn scores(corr: &str, mmc: &str) -> BTreeMap<String, Rate> {
        BTreeMap::from([
            ("corr20".to_owned(), rate(corr)),
            ("mmc20".to_owned(), rate(mmc)),
        ])
    }

    #[test]
    fn the_factor_is_one_up_to_the_threshold_and_rounds_toward_zero_above_it() {
        let threshold = Nmr::from_whole(72_000);
        assert_eq!(payout_factor(threshold, Nmr::ZERO), Rate::ONE);
        assert_eq!(payout_factor(threshold, Nmr::from_whole(72_000)), Rate::ONE);
        assert_eq!(
            payout_factor(threshold, Nmr::from_whole(216_000)),
            rate("0.333333333333333333")
        );
    }

    #[test]
    fn rates_clip_after_the_factor_and_round_toward_zero_on_both_sides() {
        let third = rate("0.333333333333333333");
        // 0.75·0.02 + 2.25·0.004 = 0.024, times a third = 0.007999999999999999992.
        assert_eq!(
            payout_rate(&config("0.05"), third, &scores("0.02", "0.004")),
            Some(rate("0.007999999999999999"))
        );
        assert_eq!(
            payout_rate(&config("0.05"), third, &scores("-0.02", "-0.004")),
            Some(rate("-0.007999999999999999"))
        );
        // 0.75·0.1 + 2.25·0.1 = 0.3, clipped only after the factor: 0.5·0.3 = 0.15 → 0.05.
        assert_eq!(
            payout_rate(&config("0.05"), rate("0.5"), &scores("0.1", "0.1")),
            Some(rate("0.05"))
        );
        assert_eq!(
            payout_rate(&config("0.05"), Rate::ONE, &scores("0", "0")),
            Some(Rate::ZERO)
        );
        assert_eq!(
            payout_rate(&config("0.05"), Rate::ONE, &BTreeMap::new()),
            None
        );
    }

    #[test]
    fn amounts_round_toward_zero_to_the_base_unit() {
        let seven = Nmr::from_base_units(7);
        assert_eq!(amount_times_rate(seven, rate("-0.5")).base_units(), 3);
        assert_eq!(amount_times_rate(seven, rate("0.5")).base_units(), 3);
        assert_eq!(
            amount_times_rate(Nmr::from_whole(100), rate("0.05")),
            Nmr::from_whole(5)
        );
        assert_eq!(buyback_cents(Nmr::from_whole(3), rate("1.234")), 370);
    }
}
