//! The port a ledger store implements (SQLite now, PostgreSQL later).

use std::collections::BTreeMap;

use crate::account::{AccountId, Balance, ModelId, RoundKey, TournamentId, UserId};
use crate::book::{Hold, LedgerView};
use crate::error::LedgerError;
use crate::money::Nmr;
use crate::staking::{Buyback, Model, ReleaseRequest, RoundStake, StakeRound, User};
use crate::transfer::{Batch, BatchId, Digest, Outcome, Transfer};

/// A transfer as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedTransfer {
    /// Position in the log, from 1, in the order transfers were applied.
    pub seq: u64,
    /// The batch it came in.
    pub batch: BatchId,
    /// When its batch was applied.
    pub at: jiff::Timestamp,
    /// The transfer.
    pub transfer: Transfer,
}

/// Durable ledger state.
///
/// [`Store::apply`] is the only write. It must, in one transaction: return
/// `AlreadyApplied` if a batch with the same id and digest exists and `Conflict` if one
/// with another digest does; otherwise run [`crate::book::plan`] over the
/// transaction's own view, append the transfers to the log, write the plan's balances
/// and holds and the batch's effects, and commit durably. An error anywhere leaves
/// nothing behind.
pub trait Store: LedgerView {
    /// Applies `batch` all-or-nothing (see the trait docs).
    ///
    /// # Errors
    /// A broken rule ([`crate::book::plan`]), a conflict, or the store's failure.
    fn apply(&mut self, batch: &Batch) -> Result<Outcome, LedgerError>;

    /// The digest a batch id was applied with, if it was.
    ///
    /// # Errors
    /// The store's failure.
    fn batch_digest(&self, id: &BatchId) -> Result<Option<Digest>, LedgerError>;

    /// Every account with its balance, in account order.
    ///
    /// # Errors
    /// The store's failure.
    fn balances(&self) -> Result<Vec<(AccountId, Balance)>, LedgerError>;

    /// A user.
    ///
    /// # Errors
    /// The store's failure.
    fn user(&self, id: UserId) -> Result<Option<User>, LedgerError>;

    /// A model.
    ///
    /// # Errors
    /// The store's failure.
    fn model(&self, id: ModelId) -> Result<Option<Model>, LedgerError>;

    /// Every model of a tournament, by id.
    ///
    /// # Errors
    /// The store's failure.
    fn models(&self, tournament: TournamentId) -> Result<Vec<Model>, LedgerError>;

    /// A round.
    ///
    /// # Errors
    /// The store's failure.
    fn round(&self, key: RoundKey) -> Result<Option<StakeRound>, LedgerError>;

    /// Every round, by key.
    ///
    /// # Errors
    /// The store's failure.
    fn rounds(&self) -> Result<Vec<StakeRound>, LedgerError>;

    /// The at-risk records of a round, by model.
    ///
    /// # Errors
    /// The store's failure.
    fn round_stakes(&self, key: RoundKey) -> Result<Vec<RoundStake>, LedgerError>;

    /// A model's closed, unsettled rounds where it has something at risk.
    ///
    /// # Errors
    /// The store's failure.
    fn active_rounds(&self, model: ModelId) -> Result<Vec<StakeRound>, LedgerError>;

    /// A model's release requests not yet paid out, oldest first.
    ///
    /// # Errors
    /// The store's failure.
    fn open_releases(&self, model: ModelId) -> Result<Vec<ReleaseRequest>, LedgerError>;

    /// Every release request not yet paid out, oldest first.
    ///
    /// # Errors
    /// The store's failure.
    fn all_open_releases(&self) -> Result<Vec<ReleaseRequest>, LedgerError>;

    /// The release requests paid out when `round` settles, oldest first.
    ///
    /// # Errors
    /// The store's failure.
    fn releases_due(&self, round: RoundKey) -> Result<Vec<ReleaseRequest>, LedgerError>;

    /// NMR burned in each round (burn transfers tagged with the round).
    ///
    /// # Errors
    /// The store's failure.
    fn burned_by_round(&self) -> Result<BTreeMap<RoundKey, Nmr>, LedgerError>;

    /// Every buyback, in order.
    ///
    /// # Errors
    /// The store's failure.
    fn buybacks(&self) -> Result<Vec<Buyback>, LedgerError>;

    /// Up to `limit` logged transfers after position `after`, in log order.
    ///
    /// # Errors
    /// The store's failure.
    fn transfers(&self, after: u64, limit: usize) -> Result<Vec<LoggedTransfer>, LedgerError>;

    /// The last `limit` transfers that debit or credit `account`, newest first.
    ///
    /// # Errors
    /// The store's failure.
    fn account_transfers(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<LoggedTransfer>, LedgerError>;

    /// Every hold, in log order.
    ///
    /// # Errors
    /// The store's failure.
    fn holds(&self) -> Result<Vec<Hold>, LedgerError>;
}
