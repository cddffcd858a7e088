//! Stake changes as a participant asks for them (numerapi's `v2ChangeStake` and
//! `releaseStake`): only on the account's own models, through the ledger's idempotent batches.

use jiff::Timestamp;
use numerus_ledger::{LedgerError, ModelId, Nmr, Outcome, Release, Store};
use numerus_tournament::records::Records;

use crate::Error;
use crate::service::Service;

/// A stake change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StakeChange {
    /// Move this much from the wallet to the stake, at once.
    Increase(Nmr),
    /// Ask for this much back: it leaves the stake now and reaches the wallet when the
    /// model's last active round settles (it can still burn until then).
    Decrease(Nmr),
    /// Ask for the whole stake back, the same way.
    Drain,
}

impl<S: Store + Records> Service<S> {
    /// Applies `change` to `account`'s model `model`. `request` names the request: a retry
    /// with the same name and change applies nothing twice.
    ///
    /// # Errors
    /// [`Error::Refused`] for another account's model, an amount the wallet or stake does not
    /// hold, or a zero amount — each naming the fix.
    pub fn change_stake(
        &mut self,
        account: u64,
        model: u64,
        change: StakeChange,
        request: &str,
        now: Timestamp,
    ) -> Result<Outcome, Error> {
        let owned = self
            .ledger()
            .store()
            .model(ModelId(model))?
            .filter(|found| found.user.0 == account && found.tournament.0 == self.definition().id);
        if owned.is_none() {
            return Err(Error::Refused(format!(
                "model {model} is not one of your models in {}; list yours with `account {{ models {{ id name }} }}`",
                self.definition().name
            )));
        }
        let request = format!("{account}/{request}");
        let outcome = match change {
            StakeChange::Increase(amount) => {
                self.ledger_mut()
                    .increase_stake(&request, ModelId(model), amount, now)
            }
            StakeChange::Decrease(amount) => self.ledger_mut().release_stake(
                &request,
                ModelId(model),
                Release::Amount(amount),
                now,
            ),
            StakeChange::Drain => {
                self.ledger_mut()
                    .release_stake(&request, ModelId(model), Release::Drain, now)
            }
        };
        outcome.map_err(|error| match error {
            LedgerError::Insufficient {
                available, needed, ..
            } => Error::Refused(format!(
                "the wallet holds {available} NMR, {needed} NMR were asked for; deposit more or stake less"
            )),
            LedgerError::ReleaseAboveStake {
                stake, requested, ..
            } => Error::Refused(format!(
                "the stake is {stake} NMR, {requested} NMR were asked back; decrease by at most the stake, or drain it"
            )),
            LedgerError::NotPositive { what } => {
                Error::Refused(format!("{what} must be more than 0 NMR"))
            }
            other => Error::Ledger(other),
        })
    }
}
