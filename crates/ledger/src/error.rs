//! The ledger's one error type.

use jiff::Timestamp;

use crate::account::{AccountId, ModelId, RoundKey, UserId};
use crate::money::{DecimalError, Nmr};
use crate::staking::{ConfigError, MissingScore};
use crate::transfer::{BadId, BatchId, TransferCode, TransferId};

/// Everything that can stop a ledger operation. Whatever the error, nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A transfer of zero.
    #[error("transfer {transfer} moves zero NMR; amounts must be positive")]
    ZeroAmount {
        /// The transfer.
        transfer: TransferId,
    },
    /// Debit and credit are the same account.
    #[error("transfer {transfer} debits and credits the same account {account}")]
    SameAccount {
        /// The transfer.
        transfer: TransferId,
        /// The account.
        account: AccountId,
    },
    /// A flow its code does not allow.
    #[error("transfer {transfer}: a {} transfer cannot move NMR from {debit} to {credit}", code.as_str())]
    FlowNotAllowed {
        /// The transfer.
        transfer: TransferId,
        /// Its code.
        code: TransferCode,
        /// Debit account.
        debit: AccountId,
        /// Credit account.
        credit: AccountId,
    },
    /// An account that does not exist.
    #[error("account {account} does not exist; create its user or model first")]
    UnknownAccount {
        /// The account.
        account: AccountId,
    },
    /// More than the account can send.
    #[error("{account} has {available} NMR available; transfer {transfer} needs {needed} NMR")]
    Insufficient {
        /// The account.
        account: AccountId,
        /// What it can send.
        available: Nmr,
        /// What was asked.
        needed: Nmr,
        /// The transfer.
        transfer: TransferId,
    },
    /// Minting beyond the maximum supply.
    #[error("minting {requested} NMR would exceed the maximum supply of {max} NMR")]
    MaxSupply {
        /// Total that would be minted.
        requested: Nmr,
        /// The maximum supply.
        max: Nmr,
    },
    /// A genesis after the genesis.
    #[error("the genesis has already minted the supply; it happens once")]
    GenesisDone,
    /// A transfer id used before.
    #[error("transfer id {transfer} is already used")]
    DuplicateTransfer {
        /// The transfer.
        transfer: TransferId,
    },
    /// Posting or voiding a hold that does not exist.
    #[error("transfer {transfer} settles hold {hold}, which does not exist")]
    HoldNotFound {
        /// The settling transfer.
        transfer: TransferId,
        /// The hold it names.
        hold: TransferId,
    },
    /// Posting or voiding a hold that is no longer pending.
    #[error("hold {hold} is already {state}")]
    HoldNotPending {
        /// The hold.
        hold: TransferId,
        /// `posted` or `voided`.
        state: &'static str,
    },
    /// Posting or voiding with other accounts, amount or code than the hold's.
    #[error(
        "transfer {transfer} does not match hold {hold}: accounts, amount and code must be the hold's"
    )]
    HoldMismatch {
        /// The settling transfer.
        transfer: TransferId,
        /// The hold.
        hold: TransferId,
    },
    /// Holding a transfer whose code is final by nature.
    #[error("transfer {transfer}: a {} transfer cannot be held pending", code.as_str())]
    NotHoldable {
        /// The transfer.
        transfer: TransferId,
        /// Its code.
        code: TransferCode,
    },
    /// The same batch id with different content.
    #[error(
        "batch {batch} was already applied with different content; use a new id for a new request"
    )]
    Conflict {
        /// The batch.
        batch: BatchId,
    },
    /// An unknown user.
    #[error("user {} does not exist", user.0)]
    UnknownUser {
        /// The user.
        user: UserId,
    },
    /// An unknown model.
    #[error("model {} does not exist", model.0)]
    UnknownModel {
        /// The model.
        model: ModelId,
    },
    /// A user id or name taken.
    #[error("user {} or its name already exists", user.0)]
    UserExists {
        /// The user.
        user: UserId,
    },
    /// A model id taken.
    #[error("model {} already exists", model.0)]
    ModelExists {
        /// The model.
        model: ModelId,
    },
    /// An unknown round.
    #[error("round {round} is not in the ledger; open it first")]
    UnknownRound {
        /// The round.
        round: RoundKey,
    },
    /// A round opened twice.
    #[error("round {round} is already open")]
    RoundExists {
        /// The round.
        round: RoundKey,
    },
    /// A round in the wrong state for the operation.
    #[error("round {round} is {actual}; {operation} needs it {expected}")]
    RoundState {
        /// The round.
        round: RoundKey,
        /// What was attempted.
        operation: &'static str,
        /// The state it needs.
        expected: &'static str,
        /// The state it is in.
        actual: &'static str,
    },
    /// Too early for the operation.
    #[error("round {round} cannot be {operation} before {not_before} (now {now})")]
    TooEarly {
        /// The round.
        round: RoundKey,
        /// What was attempted.
        operation: &'static str,
        /// When it becomes possible.
        not_before: Timestamp,
        /// The clock's time.
        now: Timestamp,
    },
    /// A release larger than the stake.
    #[error("model {} has {stake} NMR staked; it cannot release {requested} NMR (drain releases everything)", model.0)]
    ReleaseAboveStake {
        /// The model.
        model: ModelId,
        /// Its stake.
        stake: Nmr,
        /// What was asked.
        requested: Nmr,
    },
    /// A withdrawal the age rule forbids.
    #[error(
        "user {} is {age_days} days old; withdrawals of at most {small_max} NMR need an account at least {min_age_days} days old",
        user.0
    )]
    WithdrawalTooEarly {
        /// The user.
        user: UserId,
        /// Its age in whole days.
        age_days: i64,
        /// The age needed.
        min_age_days: i64,
        /// The amount at or below which the age rule applies.
        small_max: Nmr,
    },
    /// A malformed chain transaction hash.
    #[error("{0:?} is not a transaction hash: write 0x and 64 hex digits")]
    BadTxHash(String),
    /// A payout score missing.
    #[error(transparent)]
    MissingScore(#[from] MissingScore),
    /// A bad payout config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A bad amount.
    #[error(transparent)]
    Decimal(#[from] DecimalError),
    /// A bad id.
    #[error(transparent)]
    BadId(#[from] BadId),
    /// A zero amount in a request.
    #[error("{what} must be positive")]
    NotPositive {
        /// What was zero.
        what: &'static str,
    },
    /// The store failed (I/O, a lost connection, an interrupted process).
    #[error("ledger store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl LedgerError {
    /// Wraps a store adapter's error.
    pub fn store(error: impl std::error::Error + Send + Sync + 'static) -> LedgerError {
        LedgerError::Store(Box::new(error))
    }
}
