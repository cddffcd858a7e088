//! Exact decimal quantities: [`Nmr`] amounts in base units and signed [`Rate`]s.
//!
//! NMR is an ERC-20 token with 18 decimals, so its smallest indivisible unit is
//! 10⁻¹⁸ NMR. Numerus counts in exactly that unit: every amount that can exist on
//! chain is representable, deposits and withdrawals round-trip without loss, and
//! nothing is ever rounded when NMR enters or leaves. The maximum supply,
//! 11,000,000 NMR, is 1.1·10²⁵ base units, beyond `u64` (1.8·10¹⁹), so amounts are
//! `u128` (3.4·10³⁸: room for the sum of every balance many times over; every
//! addition is still checked).
//!
//! Scores, multipliers, the clip and the payout factor are [`Rate`]s: signed
//! decimals with the same 18 places, held as an `i128` count of 10⁻¹⁸. The payout
//! arithmetic that mixes the two runs in 256-bit integers (`ethnum`) and rounds in
//! one stated way (see [`crate::staking`]).

use std::fmt;
use std::str::FromStr;

use ethnum::{I256, U256};

/// Serializes a type as its `Display` text and deserializes it with its `FromStr`:
/// amounts, rates and account ids travel as exact strings.
macro_rules! serde_as_text {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$type, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_as_text;

/// Decimal places of NMR and of [`Rate`].
pub const DECIMALS: u32 = 18;
/// Base units in one NMR (10¹⁸).
pub const BASE_UNITS_PER_NMR: u128 = 1_000_000_000_000_000_000;

/// Why a decimal string is not an amount or a rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text is not a plain decimal number.
    #[error(
        "{text:?} is not a decimal number: write digits with an optional '.' and fraction, like \"12.5\""
    )]
    NotADecimal {
        /// The rejected text.
        text: String,
    },
    /// More fractional digits than the 18 the unit has.
    #[error("{text:?} has {places} decimal places; NMR and rates have at most 18")]
    TooManyDecimals {
        /// The rejected text.
        text: String,
        /// Fractional digits found.
        places: usize,
    },
    /// A sign on an amount, which is never negative.
    #[error("{text:?} is negative; an NMR amount is never below zero")]
    Negative {
        /// The rejected text.
        text: String,
    },
    /// Larger than the type holds.
    #[error("{text:?} is too large")]
    TooLarge {
        /// The rejected text.
        text: String,
    },
    /// A float that is NaN or infinite.
    #[error("{value} is not a finite number")]
    NotFinite {
        /// The rejected value, printed.
        value: String,
    },
}

/// Splits `text` into (negative, integer digits, fraction digits) after checking its shape.
fn split_decimal(text: &str) -> Result<(bool, &str, &str), DecimalError> {
    let not_a_decimal = || DecimalError::NotADecimal {
        text: text.to_owned(),
    };
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (unsigned, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let has_point = unsigned.contains('.');
    if whole.is_empty() || !digits(whole) || !digits(fraction) || (has_point && fraction.is_empty())
    {
        return Err(not_a_decimal());
    }
    if fraction.len() > DECIMALS as usize {
        return Err(DecimalError::TooManyDecimals {
            text: text.to_owned(),
            places: fraction.len(),
        });
    }
    Ok((negative, whole, fraction))
}

/// Parses checked digits into a count of 10⁻¹⁸ units.
fn units_of(text: &str, whole: &str, fraction: &str) -> Result<u128, DecimalError> {
    let too_large = || DecimalError::TooLarge {
        text: text.to_owned(),
    };
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let mut fraction_units: u128 = 0;
    for (place, digit) in fraction.bytes().enumerate() {
        fraction_units += u128::from(digit - b'0') * 10u128.pow(DECIMALS - 1 - place as u32);
    }
    whole
        .checked_mul(BASE_UNITS_PER_NMR)
        .and_then(|units| units.checked_add(fraction_units))
        .ok_or_else(too_large)
}

/// Writes a count of 10⁻¹⁸ units as a decimal without trailing fractional zeros.
fn write_units(f: &mut fmt::Formatter<'_>, negative: bool, units: u128) -> fmt::Result {
    let whole = units / BASE_UNITS_PER_NMR;
    let fraction = units % BASE_UNITS_PER_NMR;
    let sign = if negative && units != 0 { "-" } else { "" };
    if fraction == 0 {
        return write!(f, "{sign}{whole}");
    }
    let digits = format!("{fraction:018}");
    write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// An amount of NMR, in base units of 10⁻¹⁸ NMR. Never negative.
///
/// Parsed from and printed as exact decimal strings (`"12.5"`, `"0.000000000000000001"`),
/// the form the API exchanges. There is no conversion from or to `f64`.
///
/// ```
/// use numerus_ledger::Nmr;
/// let stake: Nmr = "12.5".parse().unwrap();
/// assert_eq!(stake.base_units(), 12_500_000_000_000_000_000);
/// assert_eq!(stake.to_string(), "12.5");
/// assert!("0.1234567890123456789".parse::<Nmr>().is_err()); // 19 places
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nmr(u128);

impl Nmr {
    /// Zero NMR.
    pub const ZERO: Nmr = Nmr(0);
    /// The fixed maximum supply of the token: 11,000,000 NMR.
    pub const MAX_SUPPLY: Nmr = Nmr(11_000_000 * BASE_UNITS_PER_NMR);

    /// An amount of `units` base units (10⁻¹⁸ NMR each).
    pub const fn from_base_units(units: u128) -> Nmr {
        Nmr(units)
    }

    /// A whole number of NMR.
    pub const fn from_whole(nmr: u64) -> Nmr {
        Nmr(nmr as u128 * BASE_UNITS_PER_NMR)
    }

    /// The amount in base units.
    pub const fn base_units(self) -> u128 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Nmr) -> Option<Nmr> {
        self.0.checked_add(other.0).map(Nmr)
    }

    /// `self − other`, or `None` when `other` is larger.
    pub fn checked_sub(self, other: Nmr) -> Option<Nmr> {
        self.0.checked_sub(other.0).map(Nmr)
    }

    /// `self − other`, or zero when `other` is larger.
    pub fn saturating_sub(self, other: Nmr) -> Nmr {
        Nmr(self.0.saturating_sub(other.0))
    }

    /// `self × rate`, rounded toward zero to the base unit; the sign is the rate's.
    ///
    /// This is the one rounding of an amount times a rate in Numerus: payouts, burns
    /// and fiat values all go through it.
    pub fn times_rate_toward_zero(self, rate: Rate) -> SignedNmr {
        let product = I256::from(self.0) * I256::from(rate.0) / I256::from(BASE_UNITS_PER_NMR);
        // |rate| ≤ 1.7·10²⁰ so |product| < 2¹²⁸·170: fits after the division for every
        // amount up to the maximum supply; larger ones saturate (never reached: the
        // ledger holds at most the maximum supply).
        let magnitude = product.unsigned_abs();
        let magnitude = if magnitude > U256::from(u128::MAX) {
            u128::MAX
        } else {
            magnitude.as_u128()
        };
        SignedNmr {
            negative: product < 0 && magnitude != 0,
            magnitude: Nmr(magnitude),
        }
    }
}

impl FromStr for Nmr {
    type Err = DecimalError;

    fn from_str(text: &str) -> Result<Nmr, DecimalError> {
        let (negative, whole, fraction) = split_decimal(text)?;
        let units = units_of(text, whole, fraction)?;
        if negative && units != 0 {
            return Err(DecimalError::Negative {
                text: text.to_owned(),
            });
        }
        Ok(Nmr(units))
    }
}

impl fmt::Display for Nmr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_units(f, false, self.0)
    }
}

serde_as_text!(Nmr);

/// An amount with a sign: a payout (positive) or a burn (negative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignedNmr {
    /// Whether the amount is below zero (never true for zero).
    pub negative: bool,
    /// The absolute amount.
    pub magnitude: Nmr,
}

impl SignedNmr {
    /// Zero.
    pub const ZERO: SignedNmr = SignedNmr {
        negative: false,
        magnitude: Nmr::ZERO,
    };
}

impl fmt::Display for SignedNmr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_units(f, self.negative, self.magnitude.0)
    }
}

impl FromStr for SignedNmr {
    type Err = DecimalError;

    fn from_str(text: &str) -> Result<SignedNmr, DecimalError> {
        let (negative, whole, fraction) = split_decimal(text)?;
        let units = units_of(text, whole, fraction)?;
        Ok(SignedNmr {
            negative: negative && units != 0,
            magnitude: Nmr(units),
        })
    }
}

serde_as_text!(SignedNmr);

/// A signed decimal with exactly 18 places: a score, a multiplier, a clip, a payout
/// factor or a price. Held as an integer count of 10⁻¹⁸.
///
/// ```
/// use numerus_ledger::Rate;
/// let clip: Rate = "0.05".parse().unwrap();
/// assert_eq!(clip.to_string(), "0.05");
/// assert_eq!(Rate::from_f64(-0.0123).unwrap().to_string(), "-0.0123");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(i128);

impl Rate {
    /// Zero.
    pub const ZERO: Rate = Rate(0);
    /// One.
    pub const ONE: Rate = Rate(BASE_UNITS_PER_NMR as i128);

    /// A rate of `units` × 10⁻¹⁸.
    pub const fn from_units(units: i128) -> Rate {
        Rate(units)
    }

    /// The rate in units of 10⁻¹⁸.
    pub const fn units(self) -> i128 {
        self.0
    }

    /// `value` as Rust prints it (the shortest decimal that reads back as the same
    /// f64: what JSON, pandas and numerai-tools show), rounded half-to-even to 18
    /// places; an error for NaN, infinities and magnitudes beyond 1.7·10²⁰.
    ///
    /// This is the one place scores cross from f64 into exact arithmetic, and it is the
    /// same on every platform: `0.1` becomes exactly 0.1, not the binary float's
    /// 0.1000000000000000055….
    pub fn from_f64(value: f64) -> Result<Rate, DecimalError> {
        if !value.is_finite() {
            return Err(DecimalError::NotFinite {
                value: value.to_string(),
            });
        }
        let text = format!("{value}");
        let negative = text.starts_with('-');
        let unsigned = text.trim_start_matches('-');
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let places = DECIMALS as usize;
        let (kept, dropped) = fraction.split_at(fraction.len().min(places));
        let too_large = || DecimalError::TooLarge { text: text.clone() };
        let mut units = i128::try_from(units_of(&text, whole, kept)?).map_err(|_| too_large())?;
        if let Some(first) = dropped.bytes().next() {
            let beyond_half =
                first > b'5' || (first == b'5' && dropped.bytes().skip(1).any(|b| b != b'0'));
            let tie = first == b'5' && dropped.bytes().skip(1).all(|b| b == b'0');
            if beyond_half || (tie && units % 2 == 1) {
                units += 1;
            }
        }
        Ok(Rate(if negative { -units } else { units }))
    }

    /// The nearest f64, for display and charts only.
    pub fn to_f64_lossy(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }
}

impl FromStr for Rate {
    type Err = DecimalError;

    fn from_str(text: &str) -> Result<Rate, DecimalError> {
        let (negative, whole, fraction) = split_decimal(text)?;
        let units = units_of(text, whole, fraction)?;
        let units = i128::try_from(units).map_err(|_| DecimalError::TooLarge {
            text: text.to_owned(),
        })?;
        Ok(Rate(if negative { -units } else { units }))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_units(f, self.0 < 0, self.0.unsigned_abs())
    }
}

serde_as_text!(Rate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_print_exactly_at_every_place() {
        for text in [
            "0",
            "1",
            "12.5",
            "0.000000000000000001",
            "11000000",
            "3.141592653589793238",
        ] {
            let amount: Nmr = text.parse().unwrap();
            assert_eq!(amount.to_string(), text);
        }
        assert_eq!("1.50".parse::<Nmr>().unwrap().to_string(), "1.5");
        assert_eq!(
            "0.000000000000000001".parse::<Nmr>().unwrap().base_units(),
            1
        );
        assert_eq!(Nmr::MAX_SUPPLY.to_string(), "11000000");
    }

    #[test]
    fn malformed_amounts_are_refused_with_the_reason() {
        for text in [
            "", ".5", "5.", "1e3", "+1", " 1", "1 ", "1_000", "1.2.3", "0x10", "-",
        ] {
            assert!(
                matches!(text.parse::<Nmr>(), Err(DecimalError::NotADecimal { .. })),
                "{text:?} should not parse"
            );
        }
        assert!(matches!(
            "0.1234567890123456789".parse::<Nmr>(),
            Err(DecimalError::TooManyDecimals { places: 19, .. })
        ));
        assert!(matches!(
            "-1".parse::<Nmr>(),
            Err(DecimalError::Negative { .. })
        ));
        assert_eq!("-0".parse::<Nmr>().unwrap(), Nmr::ZERO);
        assert!(matches!(
            "999999999999999999999999999".parse::<Nmr>(),
            Err(DecimalError::TooLarge { .. })
        ));
    }

    #[test]
    fn rates_carry_a_sign_and_round_floats_to_the_nearest_eighteenth_place() {
        assert_eq!(
            "-0.05".parse::<Rate>().unwrap().units(),
            -50_000_000_000_000_000
        );
        assert_eq!(Rate::from_f64(0.1).unwrap().to_string(), "0.1");
        assert_eq!(Rate::from_f64(1e-19).unwrap(), Rate::ZERO);
        assert_eq!(Rate::from_f64(6e-19).unwrap().units(), 1);
        assert_eq!(Rate::from_f64(5e-19).unwrap().units(), 0); // a tie, to even
        assert_eq!(Rate::from_f64(1.5e-18).unwrap().units(), 2); // a tie, to even
        assert_eq!(Rate::from_f64(-2.4e-18).unwrap().units(), -2);
        assert_eq!(
            Rate::from_f64(0.0123456789).unwrap().to_string(),
            "0.0123456789"
        );
        assert!(Rate::from_f64(f64::NAN).is_err());
        assert!(Rate::from_f64(f64::INFINITY).is_err());
        assert!(Rate::from_f64(1e30).is_err());
    }

    #[test]
    fn amount_times_rate_rounds_toward_zero_on_both_sides() {
        let amount = Nmr::from_base_units(3);
        let third = Rate::from_units(333_333_333_333_333_333);
        assert_eq!(
            amount.times_rate_toward_zero(third),
            SignedNmr {
                negative: false,
                magnitude: Nmr(0)
            }
        );
        let burn = Nmr::from_whole(100).times_rate_toward_zero("-0.05".parse().unwrap());
        assert_eq!(burn.to_string(), "-5");
        let tiny = Nmr::from_base_units(7).times_rate_toward_zero("-0.5".parse().unwrap());
        assert_eq!(tiny.to_string(), "-0.000000000000000003");
        let max = Nmr::MAX_SUPPLY.times_rate_toward_zero(Rate::ONE);
        assert_eq!(max.magnitude, Nmr::MAX_SUPPLY);
    }

    #[test]
    fn amounts_travel_as_decimal_strings_in_json() {
        let amount: Nmr = "2.25".parse().unwrap();
        assert_eq!(serde_json::to_string(&amount).unwrap(), "\"2.25\"");
        assert_eq!(serde_json::from_str::<Nmr>("\"2.25\"").unwrap(), amount);
        assert!(serde_json::from_str::<Nmr>("\"2.2500000000000000001\"").is_err());
    }
}
