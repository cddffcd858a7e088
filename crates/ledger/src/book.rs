//! The double-entry rules: what a batch does to balances, or why it cannot apply.
//!
//! [`plan`] is pure: it reads balances and holds through a [`LedgerView`] and returns
//! the new balances of every account the batch touches. A store calls it inside its
//! transaction and writes the plan; the audit calls it to replay the log. So the rules
//! exist once, whatever the backend.

use std::collections::{BTreeMap, BTreeSet};

use crate::account::{AccountId, AccountKind, Balance};
use crate::error::LedgerError;
use crate::money::Nmr;
use crate::staking::Effect;
use crate::transfer::{Batch, Mode, Transfer, TransferId};

/// Where a held transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// Reserved.
    Pending,
    /// Completed.
    Posted,
    /// Cancelled.
    Voided,
}

impl HoldState {
    /// The state's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Pending => "pending",
            HoldState::Posted => "posted",
            HoldState::Voided => "voided",
        }
    }

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<HoldState> {
        [HoldState::Pending, HoldState::Posted, HoldState::Voided]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A pending transfer and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The pending transfer.
    pub transfer: Transfer,
    /// Where it is.
    pub state: HoldState,
}

/// Reads a ledger's state for [`plan`].
pub trait LedgerView {
    /// The balance of `account`, or `None` if it does not exist.
    ///
    /// # Errors
    /// The store's failure.
    fn balance(&self, account: AccountId) -> Result<Option<Balance>, LedgerError>;
    /// The hold created by transfer `id`, if any.
    ///
    /// # Errors
    /// The store's failure.
    fn hold(&self, id: &TransferId) -> Result<Option<Hold>, LedgerError>;
    /// Whether a transfer with this id exists.
    ///
    /// # Errors
    /// The store's failure.
    fn transfer_exists(&self, id: &TransferId) -> Result<bool, LedgerError>;
}

/// What a batch does: the new balances of the accounts it touches and the holds it
/// creates or settles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// New balances (including accounts the batch creates).
    pub balances: BTreeMap<AccountId, Balance>,
    /// Accounts the batch creates.
    pub created: BTreeSet<AccountId>,
    /// Holds created or settled: (hold id, new state).
    pub holds: Vec<(TransferId, HoldState)>,
}

/// Accounts an effect creates.
pub fn created_accounts(effect: &Effect) -> Vec<AccountId> {
    match effect {
        Effect::CreateUser(user) => vec![AccountId::Wallet(user.id)],
        Effect::CreateModel(model) => vec![
            AccountId::Stake(model.id),
            AccountId::PendingRelease(model.id),
        ],
        _ => Vec::new(),
    }
}

struct Planner<'v, V: ?Sized> {
    view: &'v V,
    plan: Plan,
    transfer_ids: BTreeSet<TransferId>,
    holds: BTreeMap<TransferId, Hold>,
}

impl<V: LedgerView + ?Sized> Planner<'_, V> {
    fn balance(&mut self, account: AccountId) -> Result<Balance, LedgerError> {
        if let Some(balance) = self.plan.balances.get(&account) {
            return Ok(*balance);
        }
        let balance = self
            .view
            .balance(account)?
            .ok_or(LedgerError::UnknownAccount { account })?;
        self.plan.balances.insert(account, balance);
        Ok(balance)
    }

    fn hold(&mut self, transfer: &Transfer, hold_id: &TransferId) -> Result<Hold, LedgerError> {
        let hold = match self.holds.get(hold_id) {
            Some(hold) => hold.clone(),
            None => self
                .view
                .hold(hold_id)?
                .ok_or_else(|| LedgerError::HoldNotFound {
                    transfer: transfer.id.clone(),
                    hold: hold_id.clone(),
                })?,
        };
        if hold.state != HoldState::Pending {
            return Err(LedgerError::HoldNotPending {
                hold: hold_id.clone(),
                state: hold.state.as_str(),
            });
        }
        let original = &hold.transfer;
        if (
            original.debit,
            original.credit,
            original.amount,
            original.code,
        ) != (
            transfer.debit,
            transfer.credit,
            transfer.amount,
            transfer.code,
        ) {
            return Err(LedgerError::HoldMismatch {
                transfer: transfer.id.clone(),
                hold: hold_id.clone(),
            });
        }
        Ok(hold)
    }

    fn check_shape(&mut self, transfer: &Transfer) -> Result<(), LedgerError> {
        let id = || transfer.id.clone();
        if transfer.amount.is_zero() {
            return Err(LedgerError::ZeroAmount { transfer: id() });
        }
        if transfer.debit == transfer.credit {
            return Err(LedgerError::SameAccount {
                transfer: id(),
                account: transfer.debit,
            });
        }
        if !transfer
            .code
            .allows(transfer.debit.kind(), transfer.credit.kind())
        {
            return Err(LedgerError::FlowNotAllowed {
                transfer: id(),
                code: transfer.code,
                debit: transfer.debit,
                credit: transfer.credit,
            });
        }
        if transfer.mode == Mode::Pending && !transfer.code.may_be_held() {
            return Err(LedgerError::NotHoldable {
                transfer: id(),
                code: transfer.code,
            });
        }
        if !self.transfer_ids.insert(transfer.id.clone())
            || self.view.transfer_exists(&transfer.id)?
        {
            return Err(LedgerError::DuplicateTransfer { transfer: id() });
        }
        Ok(())
    }

    /// Checks that `account` can send `amount` more, by its kind's overdraft rule.
    fn check_debit(&self, transfer: &Transfer, balance: &Balance) -> Result<(), LedgerError> {
        let account = transfer.debit;
        if account.kind() == AccountKind::Genesis {
            // Genesis has no balance to protect; what it issues is capped by the supply.
            let minted = balance.debits_posted.checked_add(transfer.amount);
            return match minted {
                Some(minted) if minted <= Nmr::MAX_SUPPLY => Ok(()),
                _ => Err(LedgerError::MaxSupply {
                    requested: minted.unwrap_or(Nmr::from_base_units(u128::MAX)),
                    max: Nmr::MAX_SUPPLY,
                }),
            };
        }
        // Every other account (the burn account is never a debit: no code allows it)
        // must hold what it sends, counting what pending debits already reserve.
        if balance.available() < transfer.amount {
            return Err(LedgerError::Insufficient {
                account,
                available: balance.available(),
                needed: transfer.amount,
                transfer: transfer.id.clone(),
            });
        }
        Ok(())
    }

    fn apply(&mut self, transfer: &Transfer) -> Result<(), LedgerError> {
        self.check_shape(transfer)?;
        let mut debit = self.balance(transfer.debit)?;
        let mut credit = self.balance(transfer.credit)?;
        let amount = transfer.amount;
        let overflow = || LedgerError::MaxSupply {
            requested: Nmr::from_base_units(u128::MAX),
            max: Nmr::MAX_SUPPLY,
        };
        let add = |a: Nmr| a.checked_add(amount).ok_or_else(overflow);
        let sub = |a: Nmr| a.checked_sub(amount).ok_or_else(overflow);
        match &transfer.mode {
            Mode::Posted => {
                self.check_debit(transfer, &debit)?;
                debit.debits_posted = add(debit.debits_posted)?;
                credit.credits_posted = add(credit.credits_posted)?;
            }
            Mode::Pending => {
                self.check_debit(transfer, &debit)?;
                debit.debits_pending = add(debit.debits_pending)?;
                credit.credits_pending = add(credit.credits_pending)?;
                let hold = Hold {
                    transfer: transfer.clone(),
                    state: HoldState::Pending,
                };
                self.holds.insert(transfer.id.clone(), hold);
                self.plan
                    .holds
                    .push((transfer.id.clone(), HoldState::Pending));
            }
            Mode::Post(hold_id) | Mode::Void(hold_id) => {
                let mut hold = self.hold(transfer, hold_id)?;
                debit.debits_pending = sub(debit.debits_pending)?;
                credit.credits_pending = sub(credit.credits_pending)?;
                hold.state = if matches!(transfer.mode, Mode::Post(_)) {
                    debit.debits_posted = add(debit.debits_posted)?;
                    credit.credits_posted = add(credit.credits_posted)?;
                    HoldState::Posted
                } else {
                    HoldState::Voided
                };
                self.plan.holds.push((hold_id.clone(), hold.state));
                self.holds.insert(hold_id.clone(), hold);
            }
        }
        self.plan.balances.insert(transfer.debit, debit);
        self.plan.balances.insert(transfer.credit, credit);
        Ok(())
    }
}

/// What `batch` does to the ledger seen through `view`, or the first rule it breaks.
///
/// Transfers apply in order, each seeing the ones before it. Mints are allowed only
/// while nothing has been minted (the genesis happens once) and never beyond the
/// maximum supply.
///
/// # Errors
/// The first broken rule, as a [`LedgerError`]; the batch must then not be applied.
pub fn plan<V: LedgerView + ?Sized>(batch: &Batch, view: &V) -> Result<Plan, LedgerError> {
    let mut planner = Planner {
        view,
        plan: Plan::default(),
        transfer_ids: BTreeSet::new(),
        holds: BTreeMap::new(),
    };
    for account in batch.effects.iter().flat_map(created_accounts) {
        if view.balance(account)?.is_some() || !planner.plan.created.insert(account) {
            return Err(match account {
                AccountId::Wallet(user) => LedgerError::UserExists { user },
                AccountId::Stake(model) | AccountId::PendingRelease(model) => {
                    LedgerError::ModelExists { model }
                }
                _ => LedgerError::UnknownAccount { account },
            });
        }
        planner.plan.balances.insert(account, Balance::default());
    }
    let mints = batch
        .transfers
        .iter()
        .any(|transfer| transfer.code == crate::transfer::TransferCode::Mint);
    if mints && !planner.balance(AccountId::Genesis)?.debits_posted.is_zero() {
        return Err(LedgerError::GenesisDone);
    }
    for transfer in &batch.transfers {
        planner.apply(transfer)?;
    }
    Ok(planner.plan)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::account::{ModelId, UserId};
    use crate::transfer::{BatchId, TransferCode};

    #[derive(Default)]
    struct Memory {
        balances: HashMap<AccountId, Balance>,
        holds: HashMap<TransferId, Hold>,
    }

    impl LedgerView for Memory {
        fn balance(&self, account: AccountId) -> Result<Option<Balance>, LedgerError> {
            Ok(self.balances.get(&account).copied())
        }
        fn hold(&self, id: &TransferId) -> Result<Option<Hold>, LedgerError> {
            Ok(self.holds.get(id).cloned())
        }
        fn transfer_exists(&self, id: &TransferId) -> Result<bool, LedgerError> {
            Ok(self.holds.contains_key(id))
        }
    }

    impl Memory {
        fn with_fixed_accounts() -> Memory {
            let mut memory = Memory::default();
            for account in [
                AccountId::Genesis,
                AccountId::Outside,
                AccountId::Treasury,
                AccountId::Burn,
            ] {
                memory.balances.insert(account, Balance::default());
            }
            memory
                .balances
                .insert(AccountId::Wallet(UserId(1)), Balance::default());
            memory
                .balances
                .insert(AccountId::Stake(ModelId(1)), Balance::default());
            memory
        }

        fn commit(&mut self, transfers: Vec<Transfer>) -> Result<(), LedgerError> {
            let batch = Batch::of_transfers(
                BatchId::parse("b").unwrap(),
                jiff::Timestamp::UNIX_EPOCH,
                transfers,
            );
            let plan = plan(&batch, self)?;
            self.balances.extend(plan.balances);
            for transfer in &batch.transfers {
                if transfer.mode == Mode::Pending {
                    self.holds.insert(
                        transfer.id.clone(),
                        Hold {
                            transfer: transfer.clone(),
                            state: HoldState::Pending,
                        },
                    );
                }
            }
            for (id, state) in plan.holds {
                self.holds.get_mut(&id).unwrap().state = state;
            }
            Ok(())
        }
    }

    fn id(text: &str) -> TransferId {
        TransferId::parse(text).unwrap()
    }

    fn nmr(whole: u64) -> Nmr {
        Nmr::from_whole(whole)
    }

    fn mint(amount: Nmr) -> Transfer {
        Transfer::posted(
            id("mint"),
            AccountId::Genesis,
            AccountId::Outside,
            amount,
            TransferCode::Mint,
        )
    }

    fn deposit(name: &str, amount: u64) -> Transfer {
        Transfer::posted(
            id(name),
            AccountId::Outside,
            AccountId::Wallet(UserId(1)),
            nmr(amount),
            TransferCode::Deposit,
        )
    }

    #[test]
    fn the_genesis_mints_at_most_the_maximum_supply_and_only_once() {
        let mut ledger = Memory::with_fixed_accounts();
        let too_much = Nmr::MAX_SUPPLY
            .checked_add(Nmr::from_base_units(1))
            .unwrap();
        assert!(matches!(
            ledger.commit(vec![mint(too_much)]),
            Err(LedgerError::MaxSupply { .. })
        ));
        ledger.commit(vec![mint(Nmr::MAX_SUPPLY)]).unwrap();
        let again = Transfer::posted(
            id("mint2"),
            AccountId::Genesis,
            AccountId::Treasury,
            nmr(1),
            TransferCode::Mint,
        );
        assert!(matches!(
            ledger.commit(vec![again]),
            Err(LedgerError::GenesisDone)
        ));
    }

    #[test]
    fn a_batch_applies_all_or_nothing() {
        let mut ledger = Memory::with_fixed_accounts();
        ledger.commit(vec![mint(nmr(100))]).unwrap();
        let before = ledger.balances.clone();
        let result = ledger.commit(vec![deposit("d1", 60), deposit("d2", 60)]);
        assert!(matches!(
            result,
            Err(LedgerError::Insufficient {
                account: AccountId::Outside,
                ..
            })
        ));
        assert_eq!(ledger.balances, before);
    }

    #[test]
    fn transfers_in_a_batch_see_the_ones_before_them() {
        let mut ledger = Memory::with_fixed_accounts();
        ledger.commit(vec![mint(nmr(100))]).unwrap();
        let stake = Transfer::posted(
            id("s"),
            AccountId::Wallet(UserId(1)),
            AccountId::Stake(ModelId(1)),
            nmr(30),
            TransferCode::StakeIncrease,
        );
        ledger.commit(vec![deposit("d", 30), stake]).unwrap();
        assert_eq!(
            ledger.balances[&AccountId::Stake(ModelId(1))].posted(),
            nmr(30)
        );
        assert_eq!(
            ledger.balances[&AccountId::Wallet(UserId(1))].posted(),
            Nmr::ZERO
        );
    }

    #[test]
    fn holds_reserve_the_amount_until_posted_or_voided() {
        let mut ledger = Memory::with_fixed_accounts();
        ledger
            .commit(vec![mint(nmr(100)), deposit("d", 10)])
            .unwrap();
        let wallet = AccountId::Wallet(UserId(1));
        let withdrawal = |name: &str, amount: u64, mode: Mode| {
            Transfer::posted(
                id(name),
                wallet,
                AccountId::Outside,
                nmr(amount),
                TransferCode::Withdrawal,
            )
            .with_mode(mode)
        };
        ledger
            .commit(vec![withdrawal("w1", 8, Mode::Pending)])
            .unwrap();
        assert_eq!(ledger.balances[&wallet].available(), nmr(2));
        assert!(matches!(
            ledger.commit(vec![withdrawal("w2", 3, Mode::Pending)]),
            Err(LedgerError::Insufficient { .. })
        ));
        assert!(matches!(
            ledger.commit(vec![withdrawal("w1-post", 7, Mode::Post(id("w1")))]),
            Err(LedgerError::HoldMismatch { .. })
        ));
        ledger
            .commit(vec![withdrawal("w1-void", 8, Mode::Void(id("w1")))])
            .unwrap();
        assert_eq!(ledger.balances[&wallet].available(), nmr(10));
        assert!(matches!(
            ledger.commit(vec![withdrawal("w1-post", 8, Mode::Post(id("w1")))]),
            Err(LedgerError::HoldNotPending {
                state: "voided",
                ..
            })
        ));
        ledger
            .commit(vec![
                withdrawal("w3", 10, Mode::Pending),
                withdrawal("w3-post", 10, Mode::Post(id("w3"))),
            ])
            .unwrap();
        assert_eq!(ledger.balances[&wallet].posted(), Nmr::ZERO);
        assert_eq!(ledger.balances[&AccountId::Outside].posted(), nmr(100));
    }

    #[test]
    fn malformed_transfers_name_their_problem() {
        let mut ledger = Memory::with_fixed_accounts();
        ledger.commit(vec![mint(nmr(100))]).unwrap();
        let zero = Transfer::posted(
            id("z"),
            AccountId::Outside,
            AccountId::Treasury,
            Nmr::ZERO,
            TransferCode::Buyback,
        );
        assert!(matches!(
            ledger.commit(vec![zero]),
            Err(LedgerError::ZeroAmount { .. })
        ));
        let wrong = Transfer::posted(
            id("w"),
            AccountId::Outside,
            AccountId::Burn,
            nmr(1),
            TransferCode::Burn,
        );
        assert!(matches!(
            ledger.commit(vec![wrong]),
            Err(LedgerError::FlowNotAllowed { .. })
        ));
        let nobody = Transfer::posted(
            id("n"),
            AccountId::Outside,
            AccountId::Wallet(UserId(9)),
            nmr(1),
            TransferCode::Deposit,
        );
        assert!(matches!(
            ledger.commit(vec![nobody]),
            Err(LedgerError::UnknownAccount { .. })
        ));
        assert!(matches!(
            ledger.commit(vec![deposit("twice", 1), deposit("twice", 1)]),
            Err(LedgerError::DuplicateTransfer { .. })
        ));
        let burn_hold = Transfer::posted(
            id("h"),
            AccountId::Stake(ModelId(1)),
            AccountId::Burn,
            nmr(1),
            TransferCode::Burn,
        )
        .with_mode(Mode::Pending);
        assert!(matches!(
            ledger.commit(vec![burn_hold]),
            Err(LedgerError::NotHoldable { .. })
        ));
    }
}
