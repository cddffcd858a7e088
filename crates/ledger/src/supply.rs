//! Where every NMR is: the supply report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::account::{AccountId, Balance, RoundKey};
use crate::money::Nmr;

/// The token's supply, split by where it sits. `minted = burned + treasury +
/// outside + wallets + staked + pending_release + held` always (`balanced`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SupplyReport {
    /// The token's fixed maximum supply.
    pub max_supply: Nmr,
    /// What the genesis minted.
    pub minted: Nmr,
    /// Destroyed by burns, in total.
    pub burned: Nmr,
    /// Destroyed by burns, per round (`tournament/round`).
    pub burned_by_round: BTreeMap<String, Nmr>,
    /// `minted − burned − treasury`: NMR that is neither destroyed nor in reserve.
    pub circulating: Nmr,
    /// In the treasury.
    pub treasury: Nmr,
    /// Outside the platform (the market).
    pub outside: Nmr,
    /// In participants' wallets (including amounts held by pending withdrawals).
    pub wallets: Nmr,
    /// Staked on models.
    pub staked: Nmr,
    /// Waiting in pending release.
    pub pending_release: Nmr,
    /// Held by pending transfers on their way (counted in their debit accounts above).
    pub in_flight: Nmr,
    /// Whether the parts add up to what was minted and minted ≤ max supply.
    pub balanced: bool,
}

impl SupplyReport {
    /// The report over every account's balance and the per-round burns.
    pub fn new(
        balances: &[(AccountId, Balance)],
        burned_by_round: &BTreeMap<RoundKey, Nmr>,
    ) -> SupplyReport {
        let mut sums: BTreeMap<&str, u128> = BTreeMap::new();
        let mut minted = 0u128;
        let mut in_flight = 0u128;
        for (account, balance) in balances {
            in_flight += balance.debits_pending.base_units();
            let bucket = match account {
                AccountId::Genesis => {
                    minted = balance.debits_posted.base_units();
                    continue;
                }
                AccountId::Outside => "outside",
                AccountId::Treasury => "treasury",
                AccountId::Burn => "burned",
                AccountId::Wallet(_) => "wallets",
                AccountId::Stake(_) => "staked",
                AccountId::PendingRelease(_) => "pending",
            };
            *sums.entry(bucket).or_default() += balance.posted().base_units();
        }
        let get = |bucket: &str| Nmr::from_base_units(sums.get(bucket).copied().unwrap_or(0));
        let total: u128 = sums.values().sum();
        let burned = get("burned");
        let treasury = get("treasury");
        SupplyReport {
            max_supply: Nmr::MAX_SUPPLY,
            minted: Nmr::from_base_units(minted),
            burned,
            burned_by_round: burned_by_round
                .iter()
                .map(|(round, amount)| (round.to_string(), *amount))
                .collect(),
            circulating: Nmr::from_base_units(minted)
                .saturating_sub(burned)
                .saturating_sub(treasury),
            treasury,
            outside: get("outside"),
            wallets: get("wallets"),
            staked: get("staked"),
            pending_release: get("pending"),
            in_flight: Nmr::from_base_units(in_flight),
            balanced: total == minted && Nmr::from_base_units(minted) <= Nmr::MAX_SUPPLY,
        }
    }
}
