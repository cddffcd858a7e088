//! Comparisons of what the store holds with what the shadow book says it must hold.
//!
//! Each returns the first difference in words, with the expected and the actual value.

use std::collections::BTreeMap;

use numerus_ledger::staking::{ReleaseRequest, RoundState, StakeRound};
use numerus_ledger::{
    AccountId, Balance, LedgerError, ModelId, Nmr, RoundKey, Store, SupplyReport,
};

use super::shadow::{Movement, OpenRelease, Shadow, Stage};

/// Transfers read from the log per query.
const LOG_PAGE: usize = 100_000;

/// A difference between the store and the shadow, in words.
pub type Difference = String;

fn read<T>(what: &str, result: Result<T, LedgerError>) -> Result<T, Difference> {
    result.map_err(|error| format!("reading {what} from the store failed: {error}"))
}

/// Follows the transfer log: each call's new transfers are compared with the
/// movements the shadow predicted for it.
#[derive(Debug, Default)]
pub struct LogFollower {
    last_seq: u64,
}

impl LogFollower {
    /// Transfers in the log so far.
    pub fn transfers(&self) -> u64 {
        self.last_seq
    }

    /// Checks that the transfers logged since the last call are exactly `expected`
    /// (in any order; none when the call changed nothing).
    pub fn check<S: Store>(&mut self, store: &S, expected: &[Movement]) -> Result<(), Difference> {
        let mut actual = Vec::new();
        loop {
            let page = read("the transfer log", store.transfers(self.last_seq, LOG_PAGE))?;
            let Some(last) = page.last() else { break };
            self.last_seq = last.seq;
            actual.extend(page.iter().map(|logged| Movement::of(&logged.transfer)));
        }
        let mut expected = expected.to_vec();
        actual.sort_by_key(Movement::sort_key);
        expected.sort_by_key(Movement::sort_key);
        if actual == expected {
            return Ok(());
        }
        let (missing, unexpected) = differences(&expected, &actual);
        Err(format!(
            "transfers differ: expected but not logged {}, logged but not expected {}",
            listed(&missing),
            listed(&unexpected)
        ))
    }
}

/// The movements only in `expected` and those only in `actual`, both sorted.
fn differences<'a>(
    expected: &'a [Movement],
    actual: &'a [Movement],
) -> (Vec<&'a Movement>, Vec<&'a Movement>) {
    let (mut missing, mut unexpected) = (Vec::new(), Vec::new());
    let (mut left, mut right) = (expected.iter().peekable(), actual.iter().peekable());
    loop {
        match (left.peek(), right.peek()) {
            (Some(want), Some(got)) if want == got => {
                left.next();
                right.next();
            }
            (Some(want), Some(got)) if want.sort_key() < got.sort_key() => {
                missing.extend(left.next());
            }
            (Some(_), Some(_)) | (None, Some(_)) => unexpected.extend(right.next()),
            (Some(_), None) => missing.extend(left.next()),
            (None, None) => return (missing, unexpected),
        }
    }
}

fn listed(movements: &[&Movement]) -> String {
    let shown: Vec<String> = movements.iter().map(ToString::to_string).collect();
    format!("[{}]", shown.join("; "))
}

/// Every account's four totals equal the shadow's, and the supply balances:
/// `Σ balances + burned = minted ≤ max supply`.
pub fn balances<S: Store>(store: &S, shadow: &Shadow) -> Result<(), Difference> {
    let stored = read("the balances", store.balances())?;
    let expected = shadow.balances();
    for (account, balance) in &stored {
        match expected.get(account) {
            Some(want) if want == balance => {}
            Some(want) => {
                return Err(format!(
                    "{account}: expected {}, the store holds {}",
                    totals(want),
                    totals(balance)
                ));
            }
            None => return Err(format!("{account} exists in the store but should not")),
        }
    }
    if stored.len() != expected.len() {
        let missing = expected
            .keys()
            .find(|account| !stored.iter().any(|(stored, _)| stored == *account));
        return Err(format!("account {missing:?} is missing from the store"));
    }
    supply(&stored)
}

/// The four totals of a balance, in words.
fn totals(balance: &Balance) -> String {
    format!(
        "debits {} / credits {} posted, debits {} / credits {} pending",
        balance.debits_posted,
        balance.credits_posted,
        balance.debits_pending,
        balance.credits_pending
    )
}

/// `Σ balances + burned = minted ≤ max supply`, worked out here and by the ledger's
/// own supply report.
fn supply(stored: &[(AccountId, Balance)]) -> Result<(), Difference> {
    // The per-round burns only label the report; reading them scans every burn, so
    // they are compared once, at the end (`final_records`).
    let report = SupplyReport::new(stored, &BTreeMap::new());
    let mut minted = 0u128;
    let mut held = 0u128;
    for (account, balance) in stored {
        if *account == AccountId::Genesis {
            minted = balance.debits_posted.base_units();
        } else {
            held += balance
                .credits_posted
                .base_units()
                .checked_sub(balance.debits_posted.base_units())
                .ok_or_else(|| format!("{account} is overdrawn: {}", totals(balance)))?;
        }
    }
    if held != minted || minted > Nmr::MAX_SUPPLY.base_units() {
        return Err(format!(
            "supply: balances and burns hold {} NMR but {} NMR were minted (max {})",
            Nmr::from_base_units(held),
            Nmr::from_base_units(minted),
            Nmr::MAX_SUPPLY
        ));
    }
    if !report.balanced {
        return Err(format!("the supply report does not balance: {report:?}"));
    }
    Ok(())
}

/// Round `key`'s record, at-risk amounts and settlements equal the shadow's.
pub fn round<S: Store>(store: &S, shadow: &Shadow, key: RoundKey) -> Result<(), Difference> {
    let stored = read("a round", store.round(key))?;
    let Some(expected) = shadow.round(key) else {
        return match stored {
            None => Ok(()),
            Some(_) => Err(format!(
                "round {key} exists in the store but was never opened"
            )),
        };
    };
    let Some(stored) = stored else {
        return Err(format!("round {key} is missing from the store"));
    };
    let want_state = match expected.stage {
        Stage::Open => RoundState::Open,
        Stage::Closed(closed_at) => RoundState::Closed {
            closed_at,
            total_at_risk: expected.total_at_risk,
        },
        Stage::Scored(payout_factor) => RoundState::Scored {
            total_at_risk: expected.total_at_risk,
            payout_factor,
        },
        Stage::Settled(payout_factor, settled_at) => RoundState::Settled {
            total_at_risk: expected.total_at_risk,
            payout_factor,
            settled_at,
        },
    };
    let want = StakeRound {
        key,
        close_at: expected.close_at,
        resolve_at: expected.resolve_at,
        config: expected.config.clone(),
        state: want_state,
    };
    if stored != want {
        return Err(format!(
            "round {key}: expected {want:?}, the store holds {stored:?}"
        ));
    }
    round_stakes(store, shadow, key)
}

fn round_stakes<S: Store>(store: &S, shadow: &Shadow, key: RoundKey) -> Result<(), Difference> {
    let expected = shadow.round(key).expect("checked by the caller");
    if expected.details_forgotten {
        return Ok(());
    }
    let stored = read("at-risk records", store.round_stakes(key))?;
    if stored.len() != expected.stakes.len() {
        return Err(format!(
            "round {key}: expected {} at-risk records, the store holds {}",
            expected.stakes.len(),
            stored.len()
        ));
    }
    for record in &stored {
        let Some(want) = expected.stakes.get(&record.model) else {
            return Err(format!(
                "round {key}: model {} has an at-risk record but no stake at close",
                record.model.0
            ));
        };
        let settlement = expected.settlements.get(&record.model);
        let consistent = record.at_risk == want.at_risk
            && record.stake_at_close == want.stake_at_close
            && record.zero_reason.is_some() == want.at_risk.is_zero()
            && record.settlement.as_ref() == settlement;
        if !consistent {
            return Err(format!(
                "round {key}, model {}: expected at risk {} of stake {} settled as {settlement:?}, \
                 the store holds {record:?}",
                record.model.0, want.at_risk, want.stake_at_close
            ));
        }
    }
    Ok(())
}

/// The open release requests equal the shadow's, in request order: every model's, or
/// only `model`'s (what a release request can change).
pub fn releases<S: Store>(
    store: &S,
    shadow: &Shadow,
    model: Option<ModelId>,
) -> Result<(), Difference> {
    let stored = match model {
        Some(model) => read("open release requests", store.open_releases(model))?,
        None => read("open release requests", store.all_open_releases())?,
    };
    let expected: Vec<&OpenRelease> = shadow
        .open_releases()
        .iter()
        .filter(|request| model.is_none_or(|model| request.model == model))
        .collect();
    let same = |stored: &ReleaseRequest, want: &OpenRelease| {
        stored.model == want.model
            && stored.amount == want.amount
            && stored.remaining == want.remaining
            && stored.at_risk_in == want.at_risk_in
            && stored.release_round == want.release_round
            && stored.released_at.is_none()
    };
    let first_difference = (0..stored.len().max(expected.len())).find(|index| {
        match (stored.get(*index), expected.get(*index)) {
            (Some(stored), Some(want)) => !same(stored, want),
            _ => true,
        }
    });
    match first_difference {
        None => Ok(()),
        Some(index) => Err(format!(
            "open release requests: {} expected, {} in the store; the first difference, at \
             position {index}: expected {:?}, the store holds {:?}",
            expected.len(),
            stored.len(),
            expected.get(index),
            stored.get(index)
        )),
    }
}

/// The records checked once at the end: burns per round and buybacks.
pub fn final_records<S: Store>(store: &S, shadow: &Shadow) -> Result<(), Difference> {
    let burned = read("burns per round", store.burned_by_round())?;
    if &burned != shadow.burned_by_round() {
        return Err(format!(
            "burns per round: expected {:?}, the store holds {burned:?}",
            shadow.burned_by_round()
        ));
    }
    let buybacks = read("buybacks", store.buybacks())?;
    let same = buybacks.len() == shadow.buybacks().len()
        && buybacks
            .iter()
            .zip(shadow.buybacks())
            .all(|(stored, want)| {
                stored.nmr == want.nmr
                    && stored.price_usd == want.price_usd
                    && stored.fiat_usd_cents == want.cents
            });
    if !same {
        return Err(format!(
            "buybacks: expected {:?}, the store holds {buybacks:?}",
            shadow.buybacks()
        ));
    }
    Ok(())
}
