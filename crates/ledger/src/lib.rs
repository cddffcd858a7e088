//! NMR money for Numerus: exact amounts, a double-entry ledger, staking and payouts.
//!
//! A tour:
//! - [`Nmr`] is an amount in base units of 10⁻¹⁸ NMR (the token's own 18 decimals),
//!   parsed from and printed as exact decimal strings; [`Rate`] is a signed decimal
//!   with the same 18 places for scores, multipliers, clips and payout factors. There
//!   is no `f64` money anywhere.
//! - Every movement is a [`Transfer`] that debits one [`AccountId`] and credits
//!   another, with a [`TransferCode`] that fixes which kinds of accounts it may join.
//!   Transfers come in [`Batch`]es that apply all-or-nothing under a caller-chosen id:
//!   the same id and request again is a no-op, the same id with another request a
//!   conflict. [`book::plan`] holds the rules (overdrafts, holds, the one genesis
//!   capped at the maximum supply) for every store.
//! - [`Ledger`] is the use cases — deposits, withdrawals, stakes and releases, round
//!   close, payout factor, settlement, buybacks — over any [`Store`]; [`staking`]
//!   states the payout rule and its rounding; [`audit::audit`] replays the log and
//!   checks every invariant; [`SupplyReport`] says where every NMR is.
//!
//! No I/O, no clock: `now` is always an argument.
//!
//! ```
//! use std::collections::BTreeMap;
//! use numerus_ledger::{Nmr, Rate, staking};
//!
//! let config = staking::PayoutConfig {
//!     multipliers: BTreeMap::from([("corr20".into(), "0.75".parse()?), ("mmc20".into(), "2.25".parse()?)]),
//!     clip: "0.05".parse()?,
//!     stake_threshold: Nmr::from_whole(72_000),
//! };
//! let factor = staking::payout_factor(config.stake_threshold, Nmr::from_whole(144_000));
//! let scores = BTreeMap::from([("corr20".into(), Rate::from_f64(0.02)?), ("mmc20".into(), Rate::from_f64(0.004)?)]);
//! let rate = staking::payout_rate(&config, factor, numerus_ledger::ModelId(1), &scores)?;
//! assert_eq!(rate.to_string(), "0.012"); // 0.5 · (0.75·0.02 + 2.25·0.004)
//! assert_eq!(Nmr::from_whole(100).times_rate_toward_zero(rate).to_string(), "1.2");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod account;
pub mod audit;
pub mod book;
mod error;
pub mod money;
mod service;
pub mod staking;
mod store;
mod supply;
pub mod transfer;

pub use account::{AccountId, AccountKind, Balance, ModelId, RoundKey, TournamentId, UserId};
pub use book::LedgerView;
pub use error::LedgerError;
pub use money::{DecimalError, Nmr, Rate, SignedNmr};
pub use service::{Ledger, Release, WithdrawalPolicy};
pub use store::{LoggedTransfer, Store};
pub use supply::SupplyReport;
pub use transfer::{Batch, BatchId, Digest, Mode, Outcome, Transfer, TransferCode, TransferId};
