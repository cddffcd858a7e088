//! The audit: replay every logged transfer from nothing and compare.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::account::{AccountId, Balance, ModelId, RoundKey};
use crate::book::{self, Hold, HoldState, LedgerView};
use crate::error::LedgerError;
use crate::money::Nmr;
use crate::staking::RoundState;
use crate::store::Store;
use crate::supply::SupplyReport;
use crate::transfer::{Batch, Digest, Mode, TransferId};

/// Transfers read from the log per page.
const AUDIT_PAGE: usize = 10_000;

/// What the audit found.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// Transfers replayed.
    pub transfers: u64,
    /// Accounts compared.
    pub accounts: usize,
    /// Minted, from the replay.
    pub minted: Nmr,
    /// Burned, from the replay.
    pub burned: Nmr,
    /// Every difference or broken invariant, in words; empty when clean.
    pub problems: Vec<String>,
}

impl AuditReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Default)]
struct Replay {
    balances: BTreeMap<AccountId, Balance>,
    holds: BTreeMap<TransferId, Hold>,
    seen: BTreeSet<TransferId>,
}

impl LedgerView for Replay {
    fn balance(&self, account: AccountId) -> Result<Option<Balance>, LedgerError> {
        // Accounts come into being with their users and models; the log has only
        // transfers, so every account starts at zero here.
        Ok(Some(
            self.balances.get(&account).copied().unwrap_or_default(),
        ))
    }

    fn hold(&self, id: &TransferId) -> Result<Option<Hold>, LedgerError> {
        Ok(self.holds.get(id).cloned())
    }

    fn transfer_exists(&self, id: &TransferId) -> Result<bool, LedgerError> {
        Ok(self.seen.contains(id))
    }
}

impl Replay {
    fn apply(&mut self, batch: &Batch) -> Result<(), LedgerError> {
        let plan = book::plan(batch, self)?;
        self.balances.extend(plan.balances);
        for transfer in &batch.transfers {
            self.seen.insert(transfer.id.clone());
            if transfer.mode == Mode::Pending {
                let hold = Hold {
                    transfer: transfer.clone(),
                    state: HoldState::Pending,
                };
                self.holds.insert(transfer.id.clone(), hold);
            }
        }
        for (id, state) in plan.holds {
            if let Some(hold) = self.holds.get_mut(&id) {
                hold.state = state;
            }
        }
        Ok(())
    }
}

/// Replays the store's transfer log batch by batch under the ledger's rules,
/// recomputes every balance and hold, and compares them with the stored ones; checks
/// `Σ balances + burned = minted ≤ max supply`, that pending holds balance, that each
/// model's pending-release account equals what its open requests still hold, and that
/// every settled round's records match its transfers.
///
/// # Errors
/// Only the store's failures; findings are in the report.
pub fn audit<S: Store + ?Sized>(store: &S) -> Result<AuditReport, LedgerError> {
    let mut replay = Replay::default();
    let mut problems = Vec::new();
    let mut count = 0u64;
    let mut after = 0u64;
    let mut pending_batch: Option<Batch> = None;
    let flush = |batch: Option<Batch>, replay: &mut Replay, problems: &mut Vec<String>| {
        if let Some(batch) = batch
            && let Err(error) = replay.apply(&batch)
        {
            problems.push(format!("batch {} does not replay: {error}", batch.id));
        }
    };
    loop {
        let page = store.transfers(after, AUDIT_PAGE)?;
        if page.is_empty() {
            break;
        }
        for logged in page {
            if logged.seq != after + 1 {
                problems.push(format!(
                    "the log jumps from position {after} to {}",
                    logged.seq
                ));
            }
            after = logged.seq;
            count += 1;
            match &mut pending_batch {
                Some(batch) if batch.id == logged.batch => batch.transfers.push(logged.transfer),
                _ => {
                    let next = Batch {
                        id: logged.batch.clone(),
                        digest: Digest([0; 32]),
                        at: logged.at,
                        transfers: vec![logged.transfer],
                        effects: Vec::new(),
                    };
                    flush(pending_batch.replace(next), &mut replay, &mut problems);
                }
            }
        }
    }
    flush(pending_batch.take(), &mut replay, &mut problems);

    let stored = store.balances()?;
    compare_balances(&replay, &stored, &mut problems);
    compare_holds(&replay, &store.holds()?, &mut problems);
    let burned_by_round = store.burned_by_round()?;
    let supply = SupplyReport::new(&stored, &burned_by_round);
    if !supply.balanced {
        problems.push(format!(
            "supply does not balance: minted {} but the accounts and burns hold a different total (or minted > {})",
            supply.minted,
            Nmr::MAX_SUPPLY
        ));
    }
    let round_burns = burned_by_round
        .values()
        .try_fold(Nmr::ZERO, |sum, amount| sum.checked_add(*amount));
    if round_burns.is_none_or(|sum| sum > supply.burned) {
        problems.push("burns per round add up to more than the burn account holds".to_owned());
    }
    check_pending_releases(store, &stored, &mut problems)?;
    check_settlements(store, &burned_by_round, &mut problems)?;
    Ok(AuditReport {
        transfers: count,
        accounts: stored.len(),
        minted: supply.minted,
        burned: supply.burned,
        problems,
    })
}

fn compare_balances(replay: &Replay, stored: &[(AccountId, Balance)], problems: &mut Vec<String>) {
    let stored_map: BTreeMap<AccountId, Balance> = stored.iter().copied().collect();
    for (account, balance) in &replay.balances {
        let kept = stored_map.get(account).copied();
        if kept != Some(*balance) {
            problems.push(format!(
                "{account}: the log gives {balance:?}, the store holds {kept:?}"
            ));
        }
    }
    for (account, balance) in stored {
        if !replay.balances.contains_key(account) && *balance != Balance::default() {
            problems.push(format!(
                "{account}: the store holds {balance:?} but no transfer touches it"
            ));
        }
    }
    let debits: u128 = stored
        .iter()
        .map(|(_, b)| b.debits_pending.base_units())
        .sum();
    let credits: u128 = stored
        .iter()
        .map(|(_, b)| b.credits_pending.base_units())
        .sum();
    if debits != credits {
        problems.push(format!(
            "pending debits {debits} and pending credits {credits} differ (base units)"
        ));
    }
    for (account, balance) in stored {
        let overdrawn = balance.debits_posted.checked_add(balance.debits_pending)
            > Some(balance.credits_posted);
        if *account != AccountId::Genesis && overdrawn {
            problems.push(format!("{account} is overdrawn: {balance:?}"));
        }
    }
}

fn compare_holds(replay: &Replay, stored: &[Hold], problems: &mut Vec<String>) {
    let stored: BTreeMap<&TransferId, HoldState> = stored
        .iter()
        .map(|hold| (&hold.transfer.id, hold.state))
        .collect();
    let replayed: BTreeMap<&TransferId, HoldState> = replay
        .holds
        .iter()
        .map(|(id, hold)| (id, hold.state))
        .collect();
    if stored != replayed {
        problems.push(format!(
            "holds differ: the log gives {replayed:?}, the store holds {stored:?}"
        ));
    }
}

fn check_pending_releases<S: Store + ?Sized>(
    store: &S,
    stored: &[(AccountId, Balance)],
    problems: &mut Vec<String>,
) -> Result<(), LedgerError> {
    let mut owed: BTreeMap<ModelId, u128> = BTreeMap::new();
    for request in store.all_open_releases()? {
        *owed.entry(request.model).or_default() += request.remaining.base_units();
    }
    for (account, balance) in stored {
        if let AccountId::PendingRelease(model) = account {
            let requests = owed.remove(model).unwrap_or(0);
            if balance.posted().base_units() != requests {
                problems.push(format!(
                    "{account} holds {} NMR but its open release requests hold {}",
                    balance.posted(),
                    Nmr::from_base_units(requests)
                ));
            }
        }
    }
    for (model, requests) in owed {
        problems.push(format!(
            "model {} has open requests for {requests} base units but no pending account",
            model.0
        ));
    }
    Ok(())
}

fn check_settlements<S: Store + ?Sized>(
    store: &S,
    burned_by_round: &BTreeMap<RoundKey, Nmr>,
    problems: &mut Vec<String>,
) -> Result<(), LedgerError> {
    for round in store.rounds()? {
        if !matches!(round.state, RoundState::Settled { .. }) {
            continue;
        }
        let mut burned = Nmr::ZERO;
        for stake in store.round_stakes(round.key)? {
            let Some(settlement) = stake.settlement else {
                if !stake.at_risk.is_zero() {
                    problems.push(format!(
                        "round {}: model {} was at risk but has no settlement",
                        round.key, stake.model.0
                    ));
                }
                continue;
            };
            burned = burned
                .checked_add(settlement.burned_from_stake)
                .and_then(|sum| sum.checked_add(settlement.burned_from_pending))
                .unwrap_or(Nmr::MAX_SUPPLY);
        }
        let logged = burned_by_round.get(&round.key).copied().unwrap_or_default();
        if burned != logged {
            problems.push(format!(
                "round {}: settlements burn {burned} NMR, its burn transfers {logged}",
                round.key
            ));
        }
    }
    Ok(())
}
