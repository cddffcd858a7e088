//! The ledger's use cases: each one plans a batch from the store's state and the
//! request, then applies it in one store transaction.
//!
//! Every operation takes a caller-chosen id and the injected clock's `now`. Retrying
//! an operation with the same id and the same arguments applies nothing twice and
//! returns [`Outcome::AlreadyApplied`], even after the state it read has moved on: the
//! id and the digest of the arguments are checked before anything is planned, and again
//! inside the store's transaction (so two processes settling one round at once cannot
//! both apply it).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::account::{AccountId, ModelId, RoundKey, UserId};
use crate::error::LedgerError;
use crate::money::{Nmr, Rate};
use crate::staking::{
    Buyback, Effect, Gate, GateDecision, Model, ModelSettlement, PayoutConfig, ReleaseRequest,
    RoundStake, RoundState, StakeRound, SubmissionStatus, User, payout_factor, payout_rate,
    settle_model,
};
use crate::store::Store;
use crate::transfer::{Batch, BatchId, Digest, Mode, Outcome, Transfer, TransferCode, TransferId};

/// Who may withdraw what: accounts younger than `min_account_age_days` may only
/// withdraw more than `small_max` (Numerai: 30 days, 0.1 NMR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WithdrawalPolicy {
    /// Minimum account age for small withdrawals.
    pub min_account_age_days: i64,
    /// The largest withdrawal the age rule applies to.
    pub small_max: Nmr,
}

impl Default for WithdrawalPolicy {
    fn default() -> WithdrawalPolicy {
        WithdrawalPolicy {
            min_account_age_days: 30,
            small_max: Nmr::from_base_units(100_000_000_000_000_000),
        }
    }
}

/// How much of a stake to release.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// This amount.
    Amount(Nmr),
    /// Everything staked.
    Drain,
}

/// The ledger over a store.
#[derive(Debug)]
pub struct Ledger<S> {
    store: S,
    policy: WithdrawalPolicy,
}

fn id(text: String) -> Result<TransferId, LedgerError> {
    Ok(TransferId::parse(&text)?)
}

fn batch_id(text: String) -> Result<BatchId, LedgerError> {
    Ok(BatchId::parse(&text)?)
}

fn check_tx_hash(hash: &str) -> Result<(), LedgerError> {
    let hex = hash.strip_prefix("0x").unwrap_or("");
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LedgerError::BadTxHash(hash.to_owned()));
    }
    Ok(())
}

fn positive(amount: Nmr, what: &'static str) -> Result<(), LedgerError> {
    if amount.is_zero() {
        return Err(LedgerError::NotPositive { what });
    }
    Ok(())
}

/// What `account` holds, posted; zero for an account that does not exist.
fn posted<S: Store>(store: &S, account: AccountId) -> Result<Nmr, LedgerError> {
    Ok(store
        .balance(account)?
        .map(|balance| balance.posted())
        .unwrap_or_default())
}

/// The round `key`, or [`LedgerError::UnknownRound`].
fn round_of<S: Store>(store: &S, key: RoundKey) -> Result<StakeRound, LedgerError> {
    store
        .round(key)?
        .ok_or(LedgerError::UnknownRound { round: key })
}

impl<S: Store> Ledger<S> {
    /// A ledger over `store`, with Numerai's withdrawal policy.
    pub fn new(store: S) -> Ledger<S> {
        Ledger {
            store,
            policy: WithdrawalPolicy::default(),
        }
    }

    /// The same ledger with another withdrawal policy.
    pub fn with_policy(mut self, policy: WithdrawalPolicy) -> Ledger<S> {
        self.policy = policy;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (for adapters' own maintenance).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Checks idempotency, then plans and applies a batch.
    fn run<R: Serialize>(
        &mut self,
        id: BatchId,
        request: &R,
        now: Timestamp,
        plan: impl FnOnce(&S) -> Result<(Vec<Transfer>, Vec<Effect>), LedgerError>,
    ) -> Result<Outcome, LedgerError> {
        let digest = Digest::of(&(id.as_str(), request));
        match self.store.batch_digest(&id)? {
            Some(existing) if existing == digest => return Ok(Outcome::AlreadyApplied),
            Some(_) => return Err(LedgerError::Conflict { batch: id }),
            None => {}
        }
        // Another process may apply the same request between the check above and the
        // plan; the plan then fails on the state it left (a settled round, a spent
        // hold). Look again before reporting the failure.
        let (transfers, effects) = match plan(&self.store) {
            Ok(planned) => planned,
            Err(error) => {
                return match self.store.batch_digest(&id)? {
                    Some(existing) if existing == digest => Ok(Outcome::AlreadyApplied),
                    Some(_) => Err(LedgerError::Conflict { batch: id }),
                    None => Err(error),
                };
            }
        };
        self.store.apply(&Batch {
            id,
            digest,
            at: now,
            transfers,
            effects,
        })
    }

    fn known_model(&self, model: ModelId) -> Result<Model, LedgerError> {
        self.store
            .model(model)?
            .ok_or(LedgerError::UnknownModel { model })
    }

    /// Mints the supply, once: `treasury` to the treasury, `outside` to the market.
    ///
    /// # Errors
    /// [`LedgerError::MaxSupply`] beyond 11,000,000 NMR; [`LedgerError::GenesisDone`]
    /// for any genesis after the first (the same one retried is `AlreadyApplied`).
    pub fn genesis(
        &mut self,
        treasury: Nmr,
        outside: Nmr,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let total = treasury
            .checked_add(outside)
            .filter(|total| *total <= Nmr::MAX_SUPPLY);
        let total = total.ok_or(LedgerError::MaxSupply {
            requested: treasury
                .checked_add(outside)
                .unwrap_or(Nmr::from_base_units(u128::MAX)),
            max: Nmr::MAX_SUPPLY,
        })?;
        positive(total, "the genesis supply")?;
        let request = (treasury, outside);
        let result = self.run(batch_id("genesis".into())?, &request, now, |_| {
            let mut transfers = Vec::new();
            for (name, account, amount) in [
                ("treasury", AccountId::Treasury, treasury),
                ("outside", AccountId::Outside, outside),
            ] {
                if !amount.is_zero() {
                    let id = id(format!("genesis/{name}"))?;
                    transfers.push(Transfer::posted(
                        id,
                        AccountId::Genesis,
                        account,
                        amount,
                        TransferCode::Mint,
                    ));
                }
            }
            Ok((transfers, Vec::new()))
        });
        match result {
            Err(LedgerError::Conflict { .. }) => Err(LedgerError::GenesisDone),
            other => other,
        }
    }

    /// Registers a participant account and its wallet.
    ///
    /// # Errors
    /// [`LedgerError::UserExists`] for a taken id or name.
    pub fn create_user(&mut self, user: User, now: Timestamp) -> Result<Outcome, LedgerError> {
        let request = user.clone();
        self.run(
            batch_id(format!("user/{}", user.id.0))?,
            &request,
            now,
            |_| Ok((Vec::new(), vec![Effect::CreateUser(user)])),
        )
    }

    /// Registers a model and its stake and pending-release accounts.
    ///
    /// # Errors
    /// [`LedgerError::UnknownUser`], [`LedgerError::ModelExists`].
    pub fn create_model(&mut self, model: Model, now: Timestamp) -> Result<Outcome, LedgerError> {
        let request = model.clone();
        self.run(
            batch_id(format!("model/{}", model.id.0))?,
            &request,
            now,
            |store| {
                if store.user(model.user)?.is_none() {
                    return Err(LedgerError::UnknownUser { user: model.user });
                }
                Ok((Vec::new(), vec![Effect::CreateModel(model)]))
            },
        )
    }

    /// Credits a deposit seen on chain. The transaction hash is the id: a deposit is
    /// recorded once however often it is reported.
    ///
    /// # Errors
    /// [`LedgerError::BadTxHash`], [`LedgerError::UnknownUser`], a zero amount, and a
    /// conflict for the same hash with another user or amount.
    pub fn deposit(
        &mut self,
        user: UserId,
        amount: Nmr,
        tx_hash: &str,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        check_tx_hash(tx_hash)?;
        positive(amount, "a deposit")?;
        let tx_hash = tx_hash.to_ascii_lowercase();
        let request = (user, amount);
        self.run(
            batch_id(format!("deposit/{tx_hash}"))?,
            &request,
            now,
            |_| {
                let transfer = Transfer::posted(
                    id(format!("deposit/{tx_hash}"))?,
                    AccountId::Outside,
                    AccountId::Wallet(user),
                    amount,
                    TransferCode::Deposit,
                )
                .with_reference(tx_hash.clone());
                Ok((vec![transfer], Vec::new()))
            },
        )
    }

    /// Holds a withdrawal from the wallet until the chain transaction is known
    /// ([`Ledger::complete_withdrawal`]) or fails ([`Ledger::cancel_withdrawal`]).
    ///
    /// # Errors
    /// [`LedgerError::WithdrawalTooEarly`] for a small withdrawal from a young account,
    /// [`LedgerError::Insufficient`] above the wallet.
    pub fn request_withdrawal(
        &mut self,
        request_id: &str,
        user: UserId,
        amount: Nmr,
        address: &str,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        positive(amount, "a withdrawal")?;
        let policy = self.policy;
        let request = (user, amount, address);
        self.run(
            batch_id(format!("withdrawal/{request_id}"))?,
            &request,
            now,
            |store| {
                let account = store.user(user)?.ok_or(LedgerError::UnknownUser { user })?;
                let age_days = now.duration_since(account.created_at).as_secs() / 86_400;
                if age_days < policy.min_account_age_days && amount <= policy.small_max {
                    return Err(LedgerError::WithdrawalTooEarly {
                        user,
                        age_days,
                        min_age_days: policy.min_account_age_days,
                        small_max: policy.small_max,
                    });
                }
                let transfer = Transfer::posted(
                    id(format!("withdrawal/{request_id}"))?,
                    AccountId::Wallet(user),
                    AccountId::Outside,
                    amount,
                    TransferCode::Withdrawal,
                )
                .with_mode(Mode::Pending)
                .with_reference(address);
                Ok((vec![transfer], Vec::new()))
            },
        )
    }

    /// Completes a held withdrawal with its chain transaction.
    ///
    /// # Errors
    /// [`LedgerError::HoldNotFound`], [`LedgerError::HoldNotPending`], [`LedgerError::BadTxHash`].
    pub fn complete_withdrawal(
        &mut self,
        request_id: &str,
        tx_hash: &str,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        check_tx_hash(tx_hash)?;
        self.settle_withdrawal(request_id, Some(tx_hash), now)
    }

    /// Cancels a held withdrawal; the amount is free in the wallet again.
    ///
    /// # Errors
    /// [`LedgerError::HoldNotFound`], [`LedgerError::HoldNotPending`].
    pub fn cancel_withdrawal(
        &mut self,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        self.settle_withdrawal(request_id, None, now)
    }

    fn settle_withdrawal(
        &mut self,
        request_id: &str,
        tx_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let hold_id = id(format!("withdrawal/{request_id}"))?;
        let (suffix, request) = match tx_hash {
            Some(hash) => ("posted", Some(hash.to_ascii_lowercase())),
            None => ("voided", None),
        };
        let outcome_id = format!("withdrawal/{request_id}/{suffix}");
        self.run(batch_id(outcome_id.clone())?, &request, now, |store| {
            let hold = store
                .hold(&hold_id)?
                .ok_or_else(|| LedgerError::HoldNotFound {
                    transfer: TransferId::parse(&outcome_id).expect("checked above"),
                    hold: hold_id.clone(),
                })?;
            let mode = if request.is_some() {
                Mode::Post(hold_id.clone())
            } else {
                Mode::Void(hold_id.clone())
            };
            let mut transfer = hold.transfer.with_mode(mode);
            transfer.id = id(outcome_id.clone())?;
            transfer.reference = request.clone().or(transfer.reference);
            Ok((vec![transfer], Vec::new()))
        })
    }

    /// Moves `amount` from the owner's wallet to the model's stake.
    ///
    /// # Errors
    /// [`LedgerError::UnknownModel`]; [`LedgerError::Insufficient`] naming the wallet
    /// when the stake is above it.
    pub fn increase_stake(
        &mut self,
        request_id: &str,
        model: ModelId,
        amount: Nmr,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        positive(amount, "a stake increase")?;
        let owner = self.known_model(model)?.user;
        let request = (model, amount);
        self.run(
            batch_id(format!("stake/{request_id}"))?,
            &request,
            now,
            |_| {
                let transfer = Transfer::posted(
                    id(format!("stake/{request_id}"))?,
                    AccountId::Wallet(owner),
                    AccountId::Stake(model),
                    amount,
                    TransferCode::StakeIncrease,
                );
                Ok((vec![transfer], Vec::new()))
            },
        )
    }

    /// Asks to release part or all of a model's stake. The amount leaves the stake at
    /// once (new rounds do not put it at risk) and waits in pending release, still
    /// burnable by the rounds it was at risk in, until the last of them settles; with no
    /// such round it goes back to the wallet now.
    ///
    /// # Errors
    /// [`LedgerError::UnknownModel`], [`LedgerError::ReleaseAboveStake`], a zero amount
    /// (or a drain of an empty stake).
    pub fn release_stake(
        &mut self,
        request_id: &str,
        model: ModelId,
        release: Release,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let owner = self.known_model(model)?.user;
        let request = (model, release);
        self.run(
            batch_id(format!("release/{request_id}"))?,
            &request,
            now,
            |store| {
                let stake = posted(store, AccountId::Stake(model))?;
                let amount = match release {
                    Release::Drain => stake,
                    Release::Amount(amount) if amount > stake => {
                        return Err(LedgerError::ReleaseAboveStake {
                            model,
                            stake,
                            requested: amount,
                        });
                    }
                    Release::Amount(amount) => amount,
                };
                positive(amount, "a stake release")?;
                let active = store.active_rounds(model)?;
                let release_round = active
                    .iter()
                    .max_by_key(|round| (round.resolve_at, round.key))
                    .map(|round| round.key);
                let request_transfer = id(format!("release/{request_id}"))?;
                let mut transfers = vec![Transfer::posted(
                    request_transfer.clone(),
                    AccountId::Stake(model),
                    AccountId::PendingRelease(model),
                    amount,
                    TransferCode::ReleaseRequest,
                )];
                let released_at = release_round.is_none().then_some(now);
                if released_at.is_some() {
                    transfers.push(Transfer::posted(
                        id(format!("released/{request_id}"))?,
                        AccountId::PendingRelease(model),
                        AccountId::Wallet(owner),
                        amount,
                        TransferCode::Release,
                    ));
                }
                let request = ReleaseRequest {
                    id: request_transfer,
                    model,
                    amount,
                    remaining: if released_at.is_some() {
                        Nmr::ZERO
                    } else {
                        amount
                    },
                    requested_at: now,
                    at_risk_in: active.iter().map(|round| round.key).collect(),
                    release_round,
                    released_at,
                };
                Ok((transfers, vec![Effect::RequestRelease(request)]))
            },
        )
    }

    /// Records NMR bought on the market into the treasury, with its price in dollars.
    /// The dollars spent are `nmr × price`, rounded toward zero to the cent.
    ///
    /// # Errors
    /// [`LedgerError::BadTxHash`], a zero amount or price, [`LedgerError::Insufficient`]
    /// when the market holds less.
    pub fn buyback(
        &mut self,
        nmr: Nmr,
        price_usd: Rate,
        tx_hash: &str,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        check_tx_hash(tx_hash)?;
        positive(nmr, "a buyback")?;
        if price_usd <= Rate::ZERO {
            return Err(LedgerError::NotPositive {
                what: "a buyback price",
            });
        }
        let tx_hash = tx_hash.to_ascii_lowercase();
        let request = (nmr, price_usd);
        self.run(
            batch_id(format!("buyback/{tx_hash}"))?,
            &request,
            now,
            |_| {
                let transfer_id = id(format!("buyback/{tx_hash}"))?;
                let cents = nmr.times_rate_toward_zero(price_usd).magnitude.base_units() * 100
                    / crate::money::BASE_UNITS_PER_NMR;
                let transfer = Transfer::posted(
                    transfer_id.clone(),
                    AccountId::Outside,
                    AccountId::Treasury,
                    nmr,
                    TransferCode::Buyback,
                )
                .with_reference(tx_hash.clone());
                let record = Buyback {
                    transfer: transfer_id,
                    nmr,
                    price_usd,
                    fiat_usd_cents: cents,
                };
                Ok((vec![transfer], vec![Effect::RecordBuyback(record)]))
            },
        )
    }

    /// Pays `amount` out of the treasury to a wallet or to the market (grants,
    /// bounties, sales): the only way besides payouts that the treasury emits.
    ///
    /// # Errors
    /// [`LedgerError::FlowNotAllowed`] for other accounts, [`LedgerError::Insufficient`].
    pub fn emit(
        &mut self,
        request_id: &str,
        to: AccountId,
        amount: Nmr,
        reason: &str,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        positive(amount, "an emission")?;
        let request = (to, amount, reason);
        self.run(
            batch_id(format!("emission/{request_id}"))?,
            &request,
            now,
            |_| {
                let transfer = Transfer::posted(
                    id(format!("emission/{request_id}"))?,
                    AccountId::Treasury,
                    to,
                    amount,
                    TransferCode::Emission,
                )
                .with_reference(reason);
                Ok((vec![transfer], Vec::new()))
            },
        )
    }

    /// Opens a round with its payout config.
    ///
    /// # Errors
    /// [`LedgerError::Config`], [`LedgerError::RoundExists`].
    pub fn open_round(
        &mut self,
        key: RoundKey,
        close_at: Timestamp,
        resolve_at: Timestamp,
        config: PayoutConfig,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        config.validate()?;
        let round = StakeRound {
            key,
            close_at,
            resolve_at,
            config,
            state: RoundState::Open,
        };
        let request = round.clone();
        self.run(
            batch_id(format!("round/{key}/open"))?,
            &request,
            now,
            |store| {
                if store.round(key)?.is_some() {
                    return Err(LedgerError::RoundExists { round: key });
                }
                Ok((Vec::new(), vec![Effect::OpenRound(round)]))
            },
        )
    }

    fn expect_state(
        round: &StakeRound,
        operation: &'static str,
        expected: &'static str,
    ) -> Result<(), LedgerError> {
        let actual = round.state.name();
        if actual != expected {
            return Err(LedgerError::RoundState {
                round: round.key,
                operation,
                expected,
                actual,
            });
        }
        Ok(())
    }

    /// Fixes every staked model's at-risk amount: its stake now, or zero without a
    /// valid on-time submission or when `gate` says so. Models not in `submissions`
    /// submitted nothing.
    ///
    /// # Errors
    /// [`LedgerError::UnknownRound`], [`LedgerError::RoundState`], [`LedgerError::TooEarly`]
    /// before the close time, [`LedgerError::UnknownModel`] for a model of another tournament.
    pub fn close_round(
        &mut self,
        key: RoundKey,
        submissions: &BTreeMap<ModelId, SubmissionStatus>,
        gate: &dyn Gate,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        self.run(
            batch_id(format!("round/{key}/close"))?,
            &(key, submissions),
            now,
            |store| {
                let round = round_of(store, key)?;
                Self::expect_state(&round, "closing", "open")?;
                if now < round.close_at {
                    return Err(LedgerError::TooEarly {
                        round: key,
                        operation: "closed",
                        not_before: round.close_at,
                        now,
                    });
                }
                let models = store.models(key.tournament)?;
                for model in submissions.keys() {
                    if models.binary_search_by_key(model, |m| m.id).is_err() {
                        return Err(LedgerError::UnknownModel { model: *model });
                    }
                }
                let mut stakes = Vec::new();
                for model in &models {
                    let stake = posted(store, AccountId::Stake(model.id))?;
                    if stake.is_zero() {
                        continue;
                    }
                    let zero_reason = match submissions
                        .get(&model.id)
                        .copied()
                        .unwrap_or(SubmissionStatus::Missing)
                    {
                        SubmissionStatus::Missing => Some("no valid submission".to_owned()),
                        SubmissionStatus::Late => Some("late submission".to_owned()),
                        SubmissionStatus::OnTime => match gate.decide(key, model.id) {
                            GateDecision::Pass => None,
                            GateDecision::Zero(reason) => Some(reason),
                        },
                    };
                    let at_risk = if zero_reason.is_some() {
                        Nmr::ZERO
                    } else {
                        stake
                    };
                    stakes.push(RoundStake {
                        model: model.id,
                        at_risk,
                        stake_at_close: stake,
                        zero_reason,
                        settlement: None,
                    });
                }
                Ok((
                    Vec::new(),
                    vec![Effect::CloseRound {
                        round: key,
                        closed_at: now,
                        stakes,
                    }],
                ))
            },
        )
    }

    /// Fixes the payout factor, `min(1, threshold / total at risk)`, at score time.
    ///
    /// # Errors
    /// [`LedgerError::UnknownRound`], [`LedgerError::RoundState`] unless closed.
    pub fn score_round(&mut self, key: RoundKey, now: Timestamp) -> Result<Outcome, LedgerError> {
        self.run(
            batch_id(format!("round/{key}/score"))?,
            &key,
            now,
            |store| {
                let round = round_of(store, key)?;
                Self::expect_state(&round, "scoring", "closed")?;
                let RoundState::Closed { total_at_risk, .. } = round.state else {
                    unreachable!("checked above")
                };
                let payout_factor = payout_factor(round.config.stake_threshold, total_at_risk);
                Ok((
                    Vec::new(),
                    vec![Effect::ScoreRound {
                        round: key,
                        payout_factor,
                    }],
                ))
            },
        )
    }

    /// Settles a resolved round: pays positive payouts from the treasury into stakes,
    /// burns negative ones, then pays out the release requests waiting for this round.
    /// One batch: all of it applies or none of it.
    ///
    /// `scores` holds each at-risk model's final scores by name; models with nothing at
    /// risk need none.
    ///
    /// # Errors
    /// [`LedgerError::TooEarly`] before the resolve time, [`LedgerError::RoundState`]
    /// unless scored, [`LedgerError::MissingScore`], [`LedgerError::Insufficient`]
    /// naming the treasury when it cannot pay.
    pub fn settle_round(
        &mut self,
        key: RoundKey,
        scores: &BTreeMap<ModelId, BTreeMap<String, Rate>>,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        let round = round_of(&self.store, key)?;
        if now < round.resolve_at {
            return Err(LedgerError::TooEarly {
                round: key,
                operation: "settled",
                not_before: round.resolve_at,
                now,
            });
        }
        self.run(
            batch_id(format!("round/{key}/settle"))?,
            &(key, scores),
            now,
            |store| {
                let round = round_of(store, key)?;
                Self::expect_state(&round, "settling", "scored")?;
                let RoundState::Scored { payout_factor, .. } = round.state else {
                    unreachable!("checked above")
                };
                settlement_batch(store, &round, payout_factor, scores, now)
            },
        )
    }
}

/// Plans one round's settlement (see [`Ledger::settle_round`]).
fn settlement_batch<S: Store>(
    store: &S,
    round: &StakeRound,
    factor: Rate,
    scores: &BTreeMap<ModelId, BTreeMap<String, Rate>>,
    now: Timestamp,
) -> Result<(Vec<Transfer>, Vec<Effect>), LedgerError> {
    let key = round.key;
    let empty = BTreeMap::new();
    let mut transfers = Vec::new();
    let mut effects = Vec::new();
    for stake in store.round_stakes(key)? {
        if stake.at_risk.is_zero() {
            continue;
        }
        let model = stake.model;
        let rate = payout_rate(
            &round.config,
            factor,
            model,
            scores.get(&model).unwrap_or(&empty),
        )?;
        // Only releases asked for after this round closed hold amounts it put at risk.
        let mut releases: Vec<ReleaseRequest> = store
            .open_releases(model)?
            .into_iter()
            .filter(|request| request.at_risk_in.contains(&key))
            .collect();
        let released_since_close = releases
            .iter()
            .try_fold(Nmr::ZERO, |sum, request| sum.checked_add(request.remaining))
            .unwrap_or(Nmr::MAX_SUPPLY);
        let stake_now = posted(store, AccountId::Stake(model))?;
        let settlement = settle_model(stake.at_risk, released_since_close, stake_now, rate);
        settlement_transfers(
            key,
            model,
            &settlement,
            &mut releases,
            &mut transfers,
            &mut effects,
        )?;
        effects.push(Effect::SettleModel {
            round: key,
            model,
            settlement,
        });
    }
    release_due(store, key, now, &mut transfers, &mut effects)?;
    effects.push(Effect::SettleRound {
        round: key,
        at: now,
    });
    Ok((transfers, effects))
}

/// The transfers of one model's settlement; burns from pending reduce the oldest of
/// `releases` (the requests at risk in this round) first.
fn settlement_transfers(
    key: RoundKey,
    model: ModelId,
    settlement: &ModelSettlement,
    releases: &mut [ReleaseRequest],
    transfers: &mut Vec<Transfer>,
    effects: &mut Vec<Effect>,
) -> Result<(), LedgerError> {
    let tag = |what: &str| id(format!("{what}/{key}/{}", model.0));
    if !settlement.paid.is_zero() {
        let transfer = Transfer::posted(
            tag("payout")?,
            AccountId::Treasury,
            AccountId::Stake(model),
            settlement.paid,
            TransferCode::Payout,
        );
        transfers.push(transfer.in_round(key));
    }
    if !settlement.burned_from_stake.is_zero() {
        let amount = settlement.burned_from_stake;
        transfers.push(
            Transfer::posted(
                tag("burn")?,
                AccountId::Stake(model),
                AccountId::Burn,
                amount,
                TransferCode::Burn,
            )
            .in_round(key),
        );
    }
    if !settlement.burned_from_pending.is_zero() {
        let amount = settlement.burned_from_pending;
        let transfer = Transfer::posted(
            tag("burn-pending")?,
            AccountId::PendingRelease(model),
            AccountId::Burn,
            amount,
            TransferCode::Burn,
        );
        transfers.push(transfer.in_round(key));
        let mut left = amount;
        for request in releases
            .iter_mut()
            .filter(|request| !request.remaining.is_zero())
        {
            let by = left.min(request.remaining);
            request.remaining = request.remaining.saturating_sub(by);
            left = left.saturating_sub(by);
            effects.push(Effect::ReduceRelease {
                id: request.id.clone(),
                by,
            });
            if left.is_zero() {
                break;
            }
        }
    }
    Ok(())
}

/// Pays out the release requests waiting for round `key`, net of this batch's burns.
fn release_due<S: Store>(
    store: &S,
    key: RoundKey,
    now: Timestamp,
    transfers: &mut Vec<Transfer>,
    effects: &mut Vec<Effect>,
) -> Result<(), LedgerError> {
    let mut reduced: BTreeMap<&TransferId, Nmr> = BTreeMap::new();
    for effect in effects.iter() {
        if let Effect::ReduceRelease { id, by } = effect {
            let entry = reduced.entry(id).or_default();
            *entry = entry.checked_add(*by).unwrap_or(Nmr::MAX_SUPPLY);
        }
    }
    let mut due = Vec::new();
    for request in store.releases_due(key)? {
        let remaining = request
            .remaining
            .saturating_sub(reduced.get(&request.id).copied().unwrap_or_default());
        due.push((request, remaining));
    }
    for (request, remaining) in due {
        if !remaining.is_zero() {
            let owner = store
                .model(request.model)?
                .ok_or(LedgerError::UnknownModel {
                    model: request.model,
                })?
                .user;
            let paid = id(format!(
                "released/{}",
                request.id.as_str().trim_start_matches("release/")
            ))?;
            let transfer = Transfer::posted(
                paid,
                AccountId::PendingRelease(request.model),
                AccountId::Wallet(owner),
                remaining,
                TransferCode::Release,
            );
            transfers.push(transfer.in_round(key));
        }
        effects.push(Effect::CompleteRelease {
            id: request.id,
            at: now,
        });
    }
    Ok(())
}
