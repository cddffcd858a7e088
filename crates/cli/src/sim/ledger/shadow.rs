//! The simulator's own book: what every account, round and release request must hold,
//! worked out by plain arithmetic from the rules as the ledger documents them, never
//! by calling the ledger's code.
//!
//! [`Shadow::predict`] says what a call must do — the exact transfers it posts and the
//! records it changes, or the error it is refused with — before the call is made;
//! [`Shadow::commit`] books a prediction once the ledger has applied the call.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use jiff::Timestamp;
use numerus_ledger::staking::{ModelSettlement, PayoutConfig, SubmissionStatus};
use numerus_ledger::{
    AccountId, Balance, LedgerError, ModelId, Nmr, Rate, Release, RoundKey, Transfer, TransferCode,
    UserId,
};

use numerus_store_sqlite::StoreError;

use super::operation::{Operation, Scores};
use super::payout;

/// Numerai's withdrawal rule, stated again here: accounts younger than this many days
/// may not withdraw [`SMALL_WITHDRAWAL_MAX`] or less.
const YOUNG_ACCOUNT_DAYS: i64 = 30;
/// 0.1 NMR.
const SMALL_WITHDRAWAL_MAX: Nmr = Nmr::from_base_units(100_000_000_000_000_000);
const SECONDS_PER_DAY: i64 = 86_400;
/// Settled rounds whose per-model records stay in the book for later comparisons (a
/// duplicate delivery of their settlement); older ones keep only the round's record.
const SETTLED_DETAILS_KEPT: usize = 64;

/// Where a transfer stands towards holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HoldStep {
    /// Moves the amount now.
    Posted,
    /// Reserves the amount.
    Hold,
    /// Completes a hold.
    Post,
    /// Cancels a hold.
    Void,
}

/// A transfer as the simulator expects it, without the ledger's choice of id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    /// Why.
    pub code: TransferCode,
    /// From.
    pub debit: AccountId,
    /// To.
    pub credit: AccountId,
    /// How much.
    pub amount: Nmr,
    /// Posted, held, or settling a hold.
    pub step: HoldStep,
    /// The round it is booked in (payouts, burns, releases at settlement).
    pub round: Option<RoundKey>,
}

impl Movement {
    fn posted(code: TransferCode, debit: AccountId, credit: AccountId, amount: Nmr) -> Movement {
        Movement {
            code,
            debit,
            credit,
            amount,
            step: HoldStep::Posted,
            round: None,
        }
    }

    fn in_round(mut self, round: RoundKey) -> Movement {
        self.round = Some(round);
        self
    }

    fn with_step(mut self, step: HoldStep) -> Movement {
        self.step = step;
        self
    }

    /// What a logged transfer moved.
    pub fn of(transfer: &Transfer) -> Movement {
        let step = match transfer.mode {
            numerus_ledger::Mode::Posted => HoldStep::Posted,
            numerus_ledger::Mode::Pending => HoldStep::Hold,
            numerus_ledger::Mode::Post(_) => HoldStep::Post,
            numerus_ledger::Mode::Void(_) => HoldStep::Void,
        };
        Movement {
            code: transfer.code,
            debit: transfer.debit,
            credit: transfer.credit,
            amount: transfer.amount,
            step,
            round: transfer.round,
        }
    }

    /// An order to compare lists of movements as multisets.
    pub fn sort_key(&self) -> impl Ord + use<> {
        (
            self.code.as_str(),
            self.debit,
            self.credit,
            self.amount,
            self.step,
            self.round,
        )
    }
}

impl fmt::Display for Movement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} NMR {} -> {} ({:?}",
            self.code.as_str(),
            self.amount,
            self.debit,
            self.credit,
            self.step
        )?;
        match self.round {
            Some(round) => write!(f, ", round {round})"),
            None => write!(f, ")"),
        }
    }
}

/// Why the ledger must refuse a call; each matches one [`LedgerError`] variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A zero amount or price.
    NotPositive,
    /// The account cannot send that much.
    Insufficient(AccountId),
    /// The account does not exist.
    UnknownAccount(AccountId),
    /// No such user.
    UnknownUser,
    /// No such model.
    UnknownModel,
    /// No such round.
    UnknownRound,
    /// A release above the stake.
    ReleaseAboveStake,
    /// A small withdrawal from a young account.
    WithdrawalTooEarly,
    /// A malformed transaction hash.
    BadTxHash,
    /// A flow the transfer code does not allow.
    FlowNotAllowed,
    /// A genesis after the genesis.
    GenesisDone,
    /// Minting beyond the maximum supply.
    MaxSupply,
    /// A known id with other arguments.
    Conflict,
    /// Before the round's time.
    TooEarly,
    /// The round is in the wrong state.
    RoundState,
    /// A final score missing.
    MissingScore,
    /// The withdrawal is no longer held.
    HoldNotPending,
    /// No such withdrawal.
    HoldNotFound,
    /// The store stopped inside the transaction: a crash the simulator injected.
    InjectedCrash,
}

/// What a call that must change nothing answers: the planning functions' error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unapplied {
    /// The same call was applied before.
    AlreadyApplied,
    /// Refused with this error.
    Refused(Refusal),
}

impl From<Refusal> for Unapplied {
    fn from(refusal: Refusal) -> Unapplied {
        Unapplied::Refused(refusal)
    }
}

impl Refusal {
    /// Whether `result` is an error and this refusal.
    pub fn matches_result(self, result: &Result<numerus_ledger::Outcome, LedgerError>) -> bool {
        result.as_ref().is_err_and(|error| self.matches(error))
    }

    /// Whether `error` is this refusal.
    pub fn matches(self, error: &LedgerError) -> bool {
        use LedgerError as E;
        match (self, error) {
            (Refusal::Insufficient(expected), E::Insufficient { account, .. }) => {
                expected == *account
            }
            (Refusal::UnknownAccount(expected), E::UnknownAccount { account }) => {
                expected == *account
            }
            (Refusal::NotPositive, E::NotPositive { .. })
            | (Refusal::UnknownUser, E::UnknownUser { .. })
            | (Refusal::UnknownModel, E::UnknownModel { .. })
            | (Refusal::UnknownRound, E::UnknownRound { .. })
            | (Refusal::ReleaseAboveStake, E::ReleaseAboveStake { .. })
            | (Refusal::WithdrawalTooEarly, E::WithdrawalTooEarly { .. })
            | (Refusal::BadTxHash, E::BadTxHash(_))
            | (Refusal::FlowNotAllowed, E::FlowNotAllowed { .. })
            | (Refusal::GenesisDone, E::GenesisDone)
            | (Refusal::MaxSupply, E::MaxSupply { .. })
            | (Refusal::Conflict, E::Conflict { .. })
            | (Refusal::TooEarly, E::TooEarly { .. })
            | (Refusal::RoundState, E::RoundState { .. })
            | (Refusal::MissingScore, E::MissingScore(_))
            | (Refusal::HoldNotPending, E::HoldNotPending { .. })
            | (Refusal::HoldNotFound, E::HoldNotFound { .. }) => true,
            (Refusal::InjectedCrash, E::Store(source)) => matches!(
                source.downcast_ref::<StoreError>(),
                Some(StoreError::Injected(_))
            ),
            _ => false,
        }
    }
}

/// What a call must do.
#[derive(Clone, Debug)]
pub enum Expected {
    /// Apply now: post these movements and change the records so.
    Applied(Change),
    /// Nothing: the same call was applied before.
    AlreadyApplied,
    /// Nothing: refused with this error.
    Refused(Refusal),
}

/// An applied call: its transfers and its record changes.
#[derive(Clone, Debug)]
pub struct Change {
    /// The transfers, in any order.
    pub movements: Vec<Movement>,
    /// The records it changes.
    pub record: Record,
}

impl Change {
    /// About how many rows the store writes for this change, never fewer: its batch,
    /// up to two balances and one log row per transfer, and its records. A crash
    /// injected after fewer writes interrupts the change; one injected after more may
    /// come too late to.
    pub fn writes_at_most(&self) -> u32 {
        let records = match &self.record {
            Record::Nothing => 0,
            Record::CloseRound(_, stakes) => stakes.len() + 1,
            Record::SettleRound(settlement) => {
                settlement.models.len()
                    + settlement.reductions.len()
                    + settlement.completed.len()
                    + 1
            }
            _ => 2,
        };
        let writes = 1 + 3 * self.movements.len() + records;
        u32::try_from(writes).unwrap_or(u32::MAX)
    }
}

/// A record change of an applied call.
#[derive(Clone, Debug)]
pub enum Record {
    /// Only transfers.
    Nothing,
    /// The genesis happened.
    Genesis,
    /// A new user, created at this time.
    User(UserId, Timestamp),
    /// A new model of this user.
    Model(ModelId, UserId),
    /// A new held withdrawal.
    Withdrawal(String),
    /// A held withdrawal completed (with its transaction hash) or cancelled.
    WithdrawalSettled(String, Option<String>),
    /// A release request still waiting for its round (`None` when paid at once).
    Release(Option<OpenRelease>),
    /// A buyback's market figures.
    Buyback(BuybackRecord),
    /// A new round.
    OpenRound(RoundKey, Box<ShadowRound>),
    /// At-risk amounts fixed.
    CloseRound(RoundKey, BTreeMap<ModelId, AtRisk>),
    /// The payout factor fixed.
    ScoreRound(RoundKey, Rate),
    /// A round paid, burned and its due releases paid out.
    SettleRound(Box<Settlement>),
}

/// A buyback as the ledger must record it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuybackRecord {
    /// NMR bought.
    pub nmr: Nmr,
    /// Dollars per NMR.
    pub price_usd: Rate,
    /// Dollars spent, in cents, toward zero.
    pub cents: u128,
}

/// A model's stake in a round, fixed at close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtRisk {
    /// What the round can pay on or burn.
    pub at_risk: Nmr,
    /// The stake at close, whatever the submission.
    pub stake_at_close: Nmr,
}

/// Where a round is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Accepting stakes.
    Open,
    /// At-risk amounts fixed, at this time.
    Closed(Timestamp),
    /// Payout factor fixed.
    Scored(Rate),
    /// Paid and burned, at this time, with this factor.
    Settled(Rate, Timestamp),
}

/// A round as the simulator knows it.
#[derive(Clone, Debug)]
pub struct ShadowRound {
    /// The submission deadline.
    pub close_at: Timestamp,
    /// When its scores are final.
    pub resolve_at: Timestamp,
    /// How it pays.
    pub config: PayoutConfig,
    /// Where it is.
    pub stage: Stage,
    /// Every model with a stake at close.
    pub stakes: BTreeMap<ModelId, AtRisk>,
    /// Σ at-risk.
    pub total_at_risk: Nmr,
    /// Each at-risk model's settlement, once settled.
    pub settlements: BTreeMap<ModelId, ModelSettlement>,
    /// Whether `stakes` and `settlements` were dropped, long after the settlement, to
    /// keep long runs in bounded memory.
    pub details_forgotten: bool,
}

/// A release request not yet paid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRelease {
    /// The simulator's number for it, in request order.
    pub serial: u64,
    /// The model.
    pub model: ModelId,
    /// Amount asked for.
    pub amount: Nmr,
    /// What burns have left of it.
    pub remaining: Nmr,
    /// The rounds that can still burn it and in which it earns nothing.
    pub at_risk_in: Vec<RoundKey>,
    /// The round whose settlement pays it out.
    pub release_round: Option<RoundKey>,
}

/// A round's settlement as the simulator works it out.
#[derive(Clone, Debug)]
pub struct Settlement {
    /// The round.
    pub key: RoundKey,
    /// Each at-risk model's amounts.
    pub models: BTreeMap<ModelId, ModelSettlement>,
    /// Burns from pending releases: (serial, by how much).
    pub reductions: Vec<(u64, Nmr)>,
    /// Requests paid out.
    pub completed: Vec<u64>,
    /// Σ burned.
    pub burned: Nmr,
}

/// The simulator's book.
#[derive(Debug)]
pub struct Shadow {
    balances: BTreeMap<AccountId, Balance>,
    users: BTreeMap<UserId, Timestamp>,
    models: BTreeMap<ModelId, UserId>,
    rounds: BTreeMap<RoundKey, ShadowRound>,
    /// Rounds opened and not settled: the only ones a step can still change.
    in_flight: BTreeSet<RoundKey>,
    /// The latest settled rounds whose details are still kept, oldest first.
    recently_settled: VecDeque<RoundKey>,
    releases: Vec<OpenRelease>,
    next_serial: u64,
    held_withdrawals: BTreeMap<String, Movement>,
    /// Completed (with their transaction hash, lowercase) or cancelled (`None`).
    settled_withdrawals: BTreeMap<String, Option<String>>,
    buybacks: Vec<BuybackRecord>,
    burned_by_round: BTreeMap<RoundKey, Nmr>,
    genesis_done: bool,
    batches: u64,
}

fn add(a: Nmr, b: Nmr) -> Nmr {
    a.checked_add(b)
        .expect("amounts stay below the maximum supply")
}

fn subtract(a: Nmr, b: Nmr) -> Nmr {
    a.checked_sub(b)
        .expect("the simulator never books more than an account holds")
}

/// Posted credits minus posted debits.
fn posted_of(balance: &Balance) -> Nmr {
    balance.credits_posted.saturating_sub(balance.debits_posted)
}

/// What the account can still send: posted minus held debits.
fn available_of(balance: &Balance) -> Nmr {
    posted_of(balance).saturating_sub(balance.debits_pending)
}

fn is_tx_hash(text: &str) -> bool {
    let digits = text.strip_prefix("0x").unwrap_or("");
    digits.len() == 64 && digits.bytes().all(|byte| byte.is_ascii_hexdigit())
}

fn positive(amount: Nmr) -> Result<(), Refusal> {
    if amount.is_zero() {
        Err(Refusal::NotPositive)
    } else {
        Ok(())
    }
}

/// Books `movement` on the two balances; the check of the debit is the caller's.
fn book(debit: &mut Balance, credit: &mut Balance, movement: &Movement) {
    let amount = movement.amount;
    if matches!(movement.step, HoldStep::Post | HoldStep::Void) {
        debit.debits_pending = subtract(debit.debits_pending, amount);
        credit.credits_pending = subtract(credit.credits_pending, amount);
    }
    match movement.step {
        HoldStep::Posted | HoldStep::Post => {
            debit.debits_posted = add(debit.debits_posted, amount);
            credit.credits_posted = add(credit.credits_posted, amount);
        }
        HoldStep::Hold => {
            debit.debits_pending = add(debit.debits_pending, amount);
            credit.credits_pending = add(credit.credits_pending, amount);
        }
        HoldStep::Void => {}
    }
}

impl Shadow {
    /// A book with the four fixed accounts at zero, as a new store has.
    pub fn new() -> Shadow {
        let fixed = [
            AccountId::Genesis,
            AccountId::Outside,
            AccountId::Treasury,
            AccountId::Burn,
        ];
        Shadow {
            balances: fixed.map(|account| (account, Balance::default())).into(),
            users: BTreeMap::new(),
            models: BTreeMap::new(),
            rounds: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            recently_settled: VecDeque::new(),
            releases: Vec::new(),
            next_serial: 0,
            held_withdrawals: BTreeMap::new(),
            settled_withdrawals: BTreeMap::new(),
            buybacks: Vec::new(),
            burned_by_round: BTreeMap::new(),
            genesis_done: false,
            batches: 0,
        }
    }

    /// Every account's balance.
    pub fn balances(&self) -> &BTreeMap<AccountId, Balance> {
        &self.balances
    }

    /// Posted balance of `account` (zero if it does not exist).
    pub fn posted(&self, account: AccountId) -> Nmr {
        self.balances
            .get(&account)
            .map(posted_of)
            .unwrap_or_default()
    }

    /// What `account` can send (zero if it does not exist).
    pub fn available(&self, account: AccountId) -> Nmr {
        self.balances
            .get(&account)
            .map(available_of)
            .unwrap_or_default()
    }

    /// The owner of `model`.
    pub fn owner(&self, model: ModelId) -> Option<UserId> {
        self.models.get(&model).copied()
    }

    /// When `user` was created.
    pub fn user_created_at(&self, user: UserId) -> Option<Timestamp> {
        self.users.get(&user).copied()
    }

    /// A round.
    pub fn round(&self, key: RoundKey) -> Option<&ShadowRound> {
        self.rounds.get(&key)
    }

    /// The rounds opened and not yet settled, by key.
    pub fn rounds_in_flight(&self) -> impl Iterator<Item = (RoundKey, &ShadowRound)> {
        self.in_flight.iter().map(|key| (*key, &self.rounds[key]))
    }

    /// Open release requests, oldest first.
    pub fn open_releases(&self) -> &[OpenRelease] {
        &self.releases
    }

    /// Withdrawals held and not yet completed or cancelled, by id.
    pub fn held_withdrawals(&self) -> impl Iterator<Item = &str> {
        self.held_withdrawals.keys().map(String::as_str)
    }

    /// Withdrawals completed (`true`) or cancelled (`false`), by id.
    pub fn settled_withdrawals(&self) -> impl Iterator<Item = (&str, bool)> {
        self.settled_withdrawals
            .iter()
            .map(|(id, tx_hash)| (id.as_str(), tx_hash.is_some()))
    }

    /// Every buyback, in order.
    pub fn buybacks(&self) -> &[BuybackRecord] {
        &self.buybacks
    }

    /// NMR burned per round.
    pub fn burned_by_round(&self) -> &BTreeMap<RoundKey, Nmr> {
        &self.burned_by_round
    }

    /// Batches applied.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Σ stakes now.
    pub fn total_staked(&self) -> Nmr {
        self.balances
            .iter()
            .filter(|(account, _)| matches!(account, AccountId::Stake(_)))
            .fold(Nmr::ZERO, |sum, (_, balance)| add(sum, posted_of(balance)))
    }

    /// What `operation` must do at `now` if it has not been applied before.
    pub fn predict(&self, operation: &Operation, now: Timestamp) -> Expected {
        match self.plan(operation, now) {
            Ok(change) => Expected::Applied(change),
            Err(Unapplied::AlreadyApplied) => Expected::AlreadyApplied,
            Err(Unapplied::Refused(refusal)) => Expected::Refused(refusal),
        }
    }

    fn plan(&self, operation: &Operation, now: Timestamp) -> Result<Change, Unapplied> {
        match operation {
            Operation::Genesis { treasury, outside } => self.plan_genesis(*treasury, *outside),
            Operation::CreateUser(user) => {
                if self.users.contains_key(&user.id) {
                    return Err(Refusal::Conflict.into());
                }
                Ok(self.record_only(Record::User(user.id, user.created_at)))
            }
            Operation::CreateModel(model) => {
                if self.models.contains_key(&model.id) {
                    return Err(Refusal::Conflict.into());
                }
                if !self.users.contains_key(&model.user) {
                    return Err(Refusal::UnknownUser.into());
                }
                Ok(self.record_only(Record::Model(model.id, model.user)))
            }
            Operation::Deposit {
                user,
                amount,
                tx_hash,
            } => self.plan_deposit(*user, *amount, tx_hash),
            Operation::RequestWithdrawal {
                id, user, amount, ..
            } => self.plan_withdrawal(id, *user, *amount, now),
            Operation::CompleteWithdrawal { id, tx_hash } => {
                if !is_tx_hash(tx_hash) {
                    return Err(Refusal::BadTxHash.into());
                }
                self.plan_withdrawal_end(id, Some(tx_hash))
            }
            Operation::CancelWithdrawal { id } => self.plan_withdrawal_end(id, None),
            Operation::IncreaseStake { model, amount, .. } => self.plan_stake(*model, *amount),
            Operation::ReleaseStake { model, release, .. } => self.plan_release(*model, *release),
            Operation::Buyback {
                nmr,
                price_usd,
                tx_hash,
            } => self.plan_buyback(*nmr, *price_usd, tx_hash),
            Operation::Emit { to, amount, .. } => self.plan_emission(*to, *amount),
            Operation::OpenRound {
                key,
                close_at,
                resolve_at,
                config,
            } => self.plan_open(*key, *close_at, *resolve_at, config),
            Operation::CloseRound {
                key,
                submissions,
                churned,
            } => self.plan_close(*key, submissions, churned, now),
            Operation::ScoreRound { key } => self.plan_score(*key),
            Operation::SettleRound { key, scores } => self.plan_settlement(*key, scores, now),
        }
    }

    fn record_only(&self, record: Record) -> Change {
        Change {
            movements: Vec::new(),
            record,
        }
    }

    /// Checks that `movements` can be booked in order: every account exists and every
    /// debit can send its amount.
    fn bookable(&self, movements: &[Movement]) -> Result<(), Refusal> {
        let mut scratch: BTreeMap<AccountId, Balance> = BTreeMap::new();
        for movement in movements {
            let balance_of = |account: AccountId| match scratch.get(&account) {
                Some(balance) => Ok(*balance),
                None => self
                    .balances
                    .get(&account)
                    .copied()
                    .ok_or(Refusal::UnknownAccount(account)),
            };
            let mut debit = balance_of(movement.debit)?;
            let mut credit = balance_of(movement.credit)?;
            let checked = matches!(movement.step, HoldStep::Posted | HoldStep::Hold);
            // Genesis is capped by the supply instead (checked by plan_genesis).
            if checked
                && movement.debit != AccountId::Genesis
                && available_of(&debit) < movement.amount
            {
                return Err(Refusal::Insufficient(movement.debit));
            }
            book(&mut debit, &mut credit, movement);
            scratch.insert(movement.debit, debit);
            scratch.insert(movement.credit, credit);
        }
        Ok(())
    }

    fn transfers_only(
        &self,
        movements: Vec<Movement>,
        record: Record,
    ) -> Result<Change, Unapplied> {
        self.bookable(&movements)?;
        Ok(Change { movements, record })
    }

    fn plan_genesis(&self, treasury: Nmr, outside: Nmr) -> Result<Change, Unapplied> {
        let total = treasury
            .checked_add(outside)
            .filter(|total| *total <= Nmr::MAX_SUPPLY)
            .ok_or(Refusal::MaxSupply)?;
        positive(total)?;
        if self.genesis_done {
            return Err(Refusal::GenesisDone.into());
        }
        let movements = [
            (AccountId::Treasury, treasury),
            (AccountId::Outside, outside),
        ]
        .into_iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(account, amount)| {
            Movement::posted(TransferCode::Mint, AccountId::Genesis, account, amount)
        })
        .collect();
        self.transfers_only(movements, Record::Genesis)
    }

    fn plan_deposit(&self, user: UserId, amount: Nmr, tx_hash: &str) -> Result<Change, Unapplied> {
        if !is_tx_hash(tx_hash) {
            return Err(Refusal::BadTxHash.into());
        }
        positive(amount)?;
        let movement = Movement::posted(
            TransferCode::Deposit,
            AccountId::Outside,
            AccountId::Wallet(user),
            amount,
        );
        self.transfers_only(vec![movement], Record::Nothing)
    }

    fn plan_withdrawal(
        &self,
        id: &str,
        user: UserId,
        amount: Nmr,
        now: Timestamp,
    ) -> Result<Change, Unapplied> {
        positive(amount)?;
        let created_at = self.users.get(&user).ok_or(Refusal::UnknownUser)?;
        let age_days = (now.as_second() - created_at.as_second()) / SECONDS_PER_DAY;
        if age_days < YOUNG_ACCOUNT_DAYS && amount <= SMALL_WITHDRAWAL_MAX {
            return Err(Refusal::WithdrawalTooEarly.into());
        }
        let movement = Movement::posted(
            TransferCode::Withdrawal,
            AccountId::Wallet(user),
            AccountId::Outside,
            amount,
        )
        .with_step(HoldStep::Hold);
        self.transfers_only(vec![movement], Record::Withdrawal(id.to_owned()))
    }

    /// Completes (`tx_hash` given) or cancels a held withdrawal.
    fn plan_withdrawal_end(&self, id: &str, tx_hash: Option<&str>) -> Result<Change, Unapplied> {
        let tx_hash = tx_hash.map(str::to_ascii_lowercase);
        if let Some(settled) = self.settled_withdrawals.get(id) {
            return Err(match (settled, &tx_hash) {
                (None, None) => Unapplied::AlreadyApplied,
                (Some(done), Some(asked)) if done == asked => Unapplied::AlreadyApplied,
                (Some(_), Some(_)) => Refusal::Conflict.into(),
                _ => Refusal::HoldNotPending.into(),
            });
        }
        let hold = self.held_withdrawals.get(id).ok_or(Refusal::HoldNotFound)?;
        let step = if tx_hash.is_some() {
            HoldStep::Post
        } else {
            HoldStep::Void
        };
        let movement = hold.clone().with_step(step);
        let record = Record::WithdrawalSettled(id.to_owned(), tx_hash);
        self.transfers_only(vec![movement], record)
    }

    fn plan_stake(&self, model: ModelId, amount: Nmr) -> Result<Change, Unapplied> {
        positive(amount)?;
        let owner = self.owner(model).ok_or(Refusal::UnknownModel)?;
        let movement = Movement::posted(
            TransferCode::StakeIncrease,
            AccountId::Wallet(owner),
            AccountId::Stake(model),
            amount,
        );
        self.transfers_only(vec![movement], Record::Nothing)
    }

    /// The closed, unsettled rounds in which `model` has something at risk.
    fn active_rounds(&self, model: ModelId) -> Vec<(RoundKey, &ShadowRound)> {
        self.rounds_in_flight()
            .filter(|(_, round)| matches!(round.stage, Stage::Closed(_) | Stage::Scored(_)))
            .filter(|(_, round)| {
                round
                    .stakes
                    .get(&model)
                    .is_some_and(|stake| !stake.at_risk.is_zero())
            })
            .collect()
    }

    fn plan_release(&self, model: ModelId, release: Release) -> Result<Change, Unapplied> {
        let owner = self.owner(model).ok_or(Refusal::UnknownModel)?;
        let stake = self.posted(AccountId::Stake(model));
        let amount = match release {
            Release::Drain => stake,
            Release::Amount(amount) if amount > stake => {
                return Err(Refusal::ReleaseAboveStake.into());
            }
            Release::Amount(amount) => amount,
        };
        positive(amount)?;
        let active = self.active_rounds(model);
        // Paid out when the last of them resolves; ties on the time go to the larger key.
        let release_round = active
            .iter()
            .max_by_key(|(key, round)| (round.resolve_at, *key))
            .map(|(key, _)| *key);
        let pending = AccountId::PendingRelease(model);
        let mut movements = vec![Movement::posted(
            TransferCode::ReleaseRequest,
            AccountId::Stake(model),
            pending,
            amount,
        )];
        let open = match release_round {
            None => {
                let paid = Movement::posted(
                    TransferCode::Release,
                    pending,
                    AccountId::Wallet(owner),
                    amount,
                );
                movements.push(paid);
                None
            }
            Some(_) => Some(OpenRelease {
                serial: self.next_serial,
                model,
                amount,
                remaining: amount,
                at_risk_in: active.iter().map(|(key, _)| *key).collect(),
                release_round,
            }),
        };
        self.transfers_only(movements, Record::Release(open))
    }

    fn plan_buyback(&self, nmr: Nmr, price_usd: Rate, tx_hash: &str) -> Result<Change, Unapplied> {
        if !is_tx_hash(tx_hash) {
            return Err(Refusal::BadTxHash.into());
        }
        positive(nmr)?;
        if price_usd <= Rate::ZERO {
            return Err(Refusal::NotPositive.into());
        }
        let movement = Movement::posted(
            TransferCode::Buyback,
            AccountId::Outside,
            AccountId::Treasury,
            nmr,
        );
        let record = BuybackRecord {
            nmr,
            price_usd,
            cents: payout::buyback_cents(nmr, price_usd),
        };
        self.transfers_only(vec![movement], Record::Buyback(record))
    }

    fn plan_emission(&self, to: AccountId, amount: Nmr) -> Result<Change, Unapplied> {
        positive(amount)?;
        if !matches!(to, AccountId::Wallet(_) | AccountId::Outside) {
            return Err(Refusal::FlowNotAllowed.into());
        }
        let movement = Movement::posted(TransferCode::Emission, AccountId::Treasury, to, amount);
        self.transfers_only(vec![movement], Record::Nothing)
    }

    fn plan_open(
        &self,
        key: RoundKey,
        close_at: Timestamp,
        resolve_at: Timestamp,
        config: &PayoutConfig,
    ) -> Result<Change, Unapplied> {
        if self.rounds.contains_key(&key) {
            return Err(Refusal::Conflict.into());
        }
        let round = ShadowRound {
            close_at,
            resolve_at,
            config: config.clone(),
            stage: Stage::Open,
            stakes: BTreeMap::new(),
            total_at_risk: Nmr::ZERO,
            settlements: BTreeMap::new(),
            details_forgotten: false,
        };
        Ok(self.record_only(Record::OpenRound(key, Box::new(round))))
    }

    fn plan_close(
        &self,
        key: RoundKey,
        submissions: &BTreeMap<ModelId, SubmissionStatus>,
        churned: &BTreeSet<ModelId>,
        now: Timestamp,
    ) -> Result<Change, Unapplied> {
        let round = self.rounds.get(&key).ok_or(Refusal::UnknownRound)?;
        if round.stage != Stage::Open {
            return Err(Refusal::RoundState.into());
        }
        if now < round.close_at {
            return Err(Refusal::TooEarly.into());
        }
        if submissions
            .keys()
            .any(|model| !self.models.contains_key(model))
        {
            return Err(Refusal::UnknownModel.into());
        }
        let mut stakes = BTreeMap::new();
        for model in self.models.keys() {
            let stake = self.posted(AccountId::Stake(*model));
            if stake.is_zero() {
                continue;
            }
            let on_time = submissions.get(model) == Some(&SubmissionStatus::OnTime);
            let at_risk = if on_time && !churned.contains(model) {
                stake
            } else {
                Nmr::ZERO
            };
            let stake_at_close = stake;
            stakes.insert(
                *model,
                AtRisk {
                    at_risk,
                    stake_at_close,
                },
            );
        }
        Ok(self.record_only(Record::CloseRound(key, stakes)))
    }

    fn plan_score(&self, key: RoundKey) -> Result<Change, Unapplied> {
        let round = self.rounds.get(&key).ok_or(Refusal::UnknownRound)?;
        if !matches!(round.stage, Stage::Closed(_)) {
            return Err(Refusal::RoundState.into());
        }
        let factor = payout::payout_factor(round.config.stake_threshold, round.total_at_risk);
        Ok(self.record_only(Record::ScoreRound(key, factor)))
    }

    fn plan_settlement(
        &self,
        key: RoundKey,
        scores: &Scores,
        now: Timestamp,
    ) -> Result<Change, Unapplied> {
        let round = self.rounds.get(&key).ok_or(Refusal::UnknownRound)?;
        if now < round.resolve_at {
            return Err(Refusal::TooEarly.into());
        }
        let Stage::Scored(factor) = round.stage else {
            return Err(Refusal::RoundState.into());
        };
        let mut settlement = Settlement {
            key,
            models: BTreeMap::new(),
            reductions: Vec::new(),
            completed: Vec::new(),
            burned: Nmr::ZERO,
        };
        let mut movements = Vec::new();
        let no_scores = BTreeMap::new();
        for (model, stake) in &round.stakes {
            if stake.at_risk.is_zero() {
                continue;
            }
            let model_scores = scores.get(model).unwrap_or(&no_scores);
            let rate = payout::payout_rate(&round.config, factor, model_scores)
                .ok_or(Refusal::MissingScore)?;
            let amounts = self.settle_model(key, *model, stake.at_risk, rate);
            self.book_model_settlement(key, *model, &amounts, &mut settlement, &mut movements);
            settlement.models.insert(*model, amounts);
        }
        self.pay_due_releases(key, &mut settlement, &mut movements);
        self.transfers_only(movements, Record::SettleRound(Box::new(settlement)))
    }

    /// The model's requests still waiting that were asked for after round `key` closed,
    /// oldest first: amounts the round put at risk, so burnable by it, earning nothing.
    fn released_since_close(
        &self,
        key: RoundKey,
        model: ModelId,
    ) -> impl Iterator<Item = &OpenRelease> {
        self.releases
            .iter()
            .filter(move |request| request.model == model && request.at_risk_in.contains(&key))
    }

    /// One model's payout or burn in round `key`, from the rule in `staking`'s docs.
    fn settle_model(
        &self,
        key: RoundKey,
        model: ModelId,
        at_risk: Nmr,
        rate: Rate,
    ) -> ModelSettlement {
        let released_since_close = self
            .released_since_close(key, model)
            .fold(Nmr::ZERO, |sum, request| add(sum, request.remaining));
        let earning_at_risk = at_risk.saturating_sub(released_since_close);
        let mut amounts = ModelSettlement {
            rate,
            earning_at_risk,
            paid: Nmr::ZERO,
            burned_from_stake: Nmr::ZERO,
            burned_from_pending: Nmr::ZERO,
        };
        if rate > Rate::ZERO {
            amounts.paid = payout::amount_times_rate(earning_at_risk, rate);
        } else if rate < Rate::ZERO {
            // From the stake first, then from what this round put at risk and has since
            // been asked back; never more than those two hold.
            let burn = payout::amount_times_rate(at_risk, rate);
            let stake = self.posted(AccountId::Stake(model));
            amounts.burned_from_stake = burn.min(stake);
            amounts.burned_from_pending = burn.saturating_sub(stake).min(released_since_close);
        }
        amounts
    }

    /// The transfers of one model's settlement; a burn from pending releases takes the
    /// oldest of the requests at risk in this round first.
    fn book_model_settlement(
        &self,
        key: RoundKey,
        model: ModelId,
        amounts: &ModelSettlement,
        settlement: &mut Settlement,
        movements: &mut Vec<Movement>,
    ) {
        let stake = AccountId::Stake(model);
        let pending = AccountId::PendingRelease(model);
        let parts = [
            (
                TransferCode::Payout,
                AccountId::Treasury,
                stake,
                amounts.paid,
            ),
            (
                TransferCode::Burn,
                stake,
                AccountId::Burn,
                amounts.burned_from_stake,
            ),
            (
                TransferCode::Burn,
                pending,
                AccountId::Burn,
                amounts.burned_from_pending,
            ),
        ];
        for (code, debit, credit, amount) in parts {
            if !amount.is_zero() {
                movements.push(Movement::posted(code, debit, credit, amount).in_round(key));
            }
        }
        settlement.burned = add(
            settlement.burned,
            add(amounts.burned_from_stake, amounts.burned_from_pending),
        );
        self.reduce_releases(key, model, amounts.burned_from_pending, settlement);
    }

    /// Takes `burned` from the requests at risk in round `key`, oldest first.
    fn reduce_releases(
        &self,
        key: RoundKey,
        model: ModelId,
        burned: Nmr,
        settlement: &mut Settlement,
    ) {
        let mut left = burned;
        for request in self.released_since_close(key, model) {
            if left.is_zero() {
                break;
            }
            let by = left.min(request.remaining);
            if !by.is_zero() {
                settlement.reductions.push((request.serial, by));
                left = subtract(left, by);
            }
        }
    }

    /// Pays out the requests waiting for round `key`, net of this settlement's burns.
    fn pay_due_releases(
        &self,
        key: RoundKey,
        settlement: &mut Settlement,
        movements: &mut Vec<Movement>,
    ) {
        for request in &self.releases {
            if request.release_round != Some(key) {
                continue;
            }
            let burned = settlement
                .reductions
                .iter()
                .filter(|(serial, _)| *serial == request.serial)
                .fold(Nmr::ZERO, |sum, (_, by)| add(sum, *by));
            let remaining = subtract(request.remaining, burned);
            if !remaining.is_zero() {
                let owner = self.models[&request.model];
                let paid = Movement::posted(
                    TransferCode::Release,
                    AccountId::PendingRelease(request.model),
                    AccountId::Wallet(owner),
                    remaining,
                );
                movements.push(paid.in_round(key));
            }
            settlement.completed.push(request.serial);
        }
    }

    /// Books an applied change made at `now`.
    pub fn commit(&mut self, change: Change, now: Timestamp) {
        self.batches += 1;
        for movement in &change.movements {
            self.book_movement(movement);
        }
        match change.record {
            Record::Nothing => {}
            Record::Genesis => self.genesis_done = true,
            Record::User(user, created_at) => {
                self.users.insert(user, created_at);
                self.balances
                    .insert(AccountId::Wallet(user), Balance::default());
            }
            Record::Model(model, user) => {
                self.models.insert(model, user);
                for account in [AccountId::Stake(model), AccountId::PendingRelease(model)] {
                    self.balances.insert(account, Balance::default());
                }
            }
            Record::Withdrawal(id) => {
                let hold = change.movements[0].clone();
                self.held_withdrawals.insert(id, hold);
            }
            Record::WithdrawalSettled(id, tx_hash) => {
                self.held_withdrawals.remove(&id);
                self.settled_withdrawals.insert(id, tx_hash);
            }
            Record::Release(open) => {
                self.next_serial += 1;
                self.releases.extend(open);
            }
            Record::Buyback(record) => self.buybacks.push(record),
            Record::OpenRound(key, round) => {
                self.rounds.insert(key, *round);
                self.in_flight.insert(key);
            }
            Record::CloseRound(key, stakes) => self.close(key, stakes, now),
            Record::ScoreRound(key, factor) => self.round_mut(key).stage = Stage::Scored(factor),
            Record::SettleRound(settlement) => self.settle(*settlement, now),
        }
    }

    fn book_movement(&mut self, movement: &Movement) {
        let mut debit = self.balances[&movement.debit];
        let mut credit = self.balances[&movement.credit];
        book(&mut debit, &mut credit, movement);
        self.balances.insert(movement.debit, debit);
        self.balances.insert(movement.credit, credit);
    }

    fn round_mut(&mut self, key: RoundKey) -> &mut ShadowRound {
        self.rounds
            .get_mut(&key)
            .expect("the simulator books only rounds it opened")
    }

    fn close(&mut self, key: RoundKey, stakes: BTreeMap<ModelId, AtRisk>, now: Timestamp) {
        let round = self.round_mut(key);
        round.total_at_risk = stakes
            .values()
            .fold(Nmr::ZERO, |sum, stake| add(sum, stake.at_risk));
        round.stakes = stakes;
        round.stage = Stage::Closed(now);
    }

    fn settle(&mut self, settlement: Settlement, now: Timestamp) {
        for (serial, by) in &settlement.reductions {
            if let Some(request) = self.releases.iter_mut().find(|r| r.serial == *serial) {
                request.remaining = subtract(request.remaining, *by);
            }
        }
        self.releases
            .retain(|request| !settlement.completed.contains(&request.serial));
        if !settlement.burned.is_zero() {
            let burned = self.burned_by_round.entry(settlement.key).or_default();
            *burned = add(*burned, settlement.burned);
        }
        let round = self.round_mut(settlement.key);
        let Stage::Scored(factor) = round.stage else {
            unreachable!("plan_settlement settles only scored rounds")
        };
        round.stage = Stage::Settled(factor, now);
        round.settlements = settlement.models;
        self.in_flight.remove(&settlement.key);
        self.recently_settled.push_back(settlement.key);
        if self.recently_settled.len() > SETTLED_DETAILS_KEPT
            && let Some(old) = self.recently_settled.pop_front()
        {
            let round = self.round_mut(old);
            round.stakes.clear();
            round.settlements.clear();
            round.details_forgotten = true;
        }
    }
}
