//! The ledger calls the simulator makes, as data, so that one call can be sent once,
//! sent again after a crash, or delivered again much later as a duplicate.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::Timestamp;
use numerus_ledger::staking::{Gate, GateDecision, Model, PayoutConfig, SubmissionStatus, User};
use numerus_ledger::{
    AccountId, Ledger, LedgerError, ModelId, Nmr, Outcome, Rate, Release, RoundKey, Store, UserId,
};

/// A round's final scores: per model, per score name.
pub type Scores = BTreeMap<ModelId, BTreeMap<String, Rate>>;

/// The smallest amount: one base unit, what a conflicting retry changes.
const ONE_UNIT: Nmr = Nmr::from_base_units(1);

/// One call of the ledger's API with every argument but the clock.
#[derive(Clone, Debug)]
pub enum Operation {
    /// Mints the supply.
    Genesis {
        /// To the treasury.
        treasury: Nmr,
        /// To the market.
        outside: Nmr,
    },
    /// Registers a participant.
    CreateUser(User),
    /// Registers a model.
    CreateModel(Model),
    /// Credits a deposit seen on chain.
    Deposit {
        /// Whose wallet.
        user: UserId,
        /// How much.
        amount: Nmr,
        /// The chain transaction (the deposit's id).
        tx_hash: String,
    },
    /// Holds a withdrawal.
    RequestWithdrawal {
        /// The request's id.
        id: String,
        /// Whose wallet.
        user: UserId,
        /// How much.
        amount: Nmr,
        /// Where to.
        address: String,
    },
    /// Completes a held withdrawal.
    CompleteWithdrawal {
        /// The request's id.
        id: String,
        /// The chain transaction.
        tx_hash: String,
    },
    /// Cancels a held withdrawal.
    CancelWithdrawal {
        /// The request's id.
        id: String,
    },
    /// Moves NMR from the owner's wallet to a model's stake.
    IncreaseStake {
        /// The request's id.
        id: String,
        /// The model.
        model: ModelId,
        /// How much.
        amount: Nmr,
    },
    /// Asks to release part or all of a stake.
    ReleaseStake {
        /// The request's id.
        id: String,
        /// The model.
        model: ModelId,
        /// How much.
        release: Release,
    },
    /// Records NMR bought back into the treasury.
    Buyback {
        /// How much.
        nmr: Nmr,
        /// Dollars per NMR.
        price_usd: Rate,
        /// The chain transaction (the buyback's id).
        tx_hash: String,
    },
    /// Pays NMR out of the treasury.
    Emit {
        /// The request's id.
        id: String,
        /// To a wallet or the market.
        to: AccountId,
        /// How much.
        amount: Nmr,
        /// Why.
        reason: String,
    },
    /// Opens a round.
    OpenRound {
        /// Which round.
        key: RoundKey,
        /// The submission deadline.
        close_at: Timestamp,
        /// When its scores are final.
        resolve_at: Timestamp,
        /// How it pays.
        config: PayoutConfig,
    },
    /// Fixes at-risk amounts.
    CloseRound {
        /// Which round.
        key: RoundKey,
        /// What each model submitted (absent: nothing).
        submissions: BTreeMap<ModelId, SubmissionStatus>,
        /// The models the churn gate zeroes.
        churned: BTreeSet<ModelId>,
    },
    /// Fixes the payout factor.
    ScoreRound {
        /// Which round.
        key: RoundKey,
    },
    /// Pays and burns a resolved round.
    SettleRound {
        /// Which round.
        key: RoundKey,
        /// The final scores.
        scores: Scores,
    },
}

/// A gate like Signals' churn rule: the models it names have nothing at risk.
struct ChurnGate<'a>(&'a BTreeSet<ModelId>);

impl Gate for ChurnGate<'_> {
    fn decide(&self, _round: RoundKey, model: ModelId) -> GateDecision {
        if self.0.contains(&model) {
            GateDecision::Zero("churn above the limit".to_owned())
        } else {
            GateDecision::Pass
        }
    }
}

fn plus_one_unit(amount: Nmr) -> Nmr {
    amount.checked_add(ONE_UNIT).unwrap_or(ONE_UNIT)
}

impl Operation {
    /// Makes the call on `ledger` at `now`.
    ///
    /// # Errors
    /// Whatever the ledger answers.
    pub fn send<S: Store>(
        &self,
        ledger: &mut Ledger<S>,
        now: Timestamp,
    ) -> Result<Outcome, LedgerError> {
        match self {
            Operation::Genesis { treasury, outside } => ledger.genesis(*treasury, *outside, now),
            Operation::CreateUser(user) => ledger.create_user(user.clone(), now),
            Operation::CreateModel(model) => ledger.create_model(model.clone(), now),
            Operation::Deposit {
                user,
                amount,
                tx_hash,
            } => ledger.deposit(*user, *amount, tx_hash, now),
            Operation::RequestWithdrawal {
                id,
                user,
                amount,
                address,
            } => ledger.request_withdrawal(id, *user, *amount, address, now),
            Operation::CompleteWithdrawal { id, tx_hash } => {
                ledger.complete_withdrawal(id, tx_hash, now)
            }
            Operation::CancelWithdrawal { id } => ledger.cancel_withdrawal(id, now),
            Operation::IncreaseStake { id, model, amount } => {
                ledger.increase_stake(id, *model, *amount, now)
            }
            Operation::ReleaseStake { id, model, release } => {
                ledger.release_stake(id, *model, *release, now)
            }
            Operation::Buyback {
                nmr,
                price_usd,
                tx_hash,
            } => ledger.buyback(*nmr, *price_usd, tx_hash, now),
            Operation::Emit {
                id,
                to,
                amount,
                reason,
            } => ledger.emit(id, *to, *amount, reason, now),
            Operation::OpenRound {
                key,
                close_at,
                resolve_at,
                config,
            } => ledger.open_round(*key, *close_at, *resolve_at, config.clone(), now),
            Operation::CloseRound {
                key,
                submissions,
                churned,
            } => ledger.close_round(*key, submissions, &ChurnGate(churned), now),
            Operation::ScoreRound { key } => ledger.score_round(*key, now),
            Operation::SettleRound { key, scores } => ledger.settle_round(*key, scores, now),
        }
    }

    /// The same call as a chain watcher may report it again: its transaction hash
    /// written in upper case, which names the same transaction.
    pub fn in_upper_case(&self) -> Operation {
        let mut again = self.clone();
        if let Operation::Deposit { tx_hash, .. }
        | Operation::Buyback { tx_hash, .. }
        | Operation::CompleteWithdrawal { tx_hash, .. } = &mut again
        {
            let digits = tx_hash.trim_start_matches("0x").to_ascii_uppercase();
            *tx_hash = format!("0x{digits}");
        }
        again
    }

    /// The same call under the same id with other arguments, which the ledger must
    /// refuse as a conflict; `None` for calls whose arguments are all in their id.
    pub fn conflicting(&self) -> Option<Operation> {
        let mut other = self.clone();
        match &mut other {
            Operation::Genesis { treasury, outside } => {
                // The same total split otherwise: within the maximum supply, so only the
                // genesis-once rule can refuse it.
                if let Some(less) = treasury.checked_sub(ONE_UNIT) {
                    (*treasury, *outside) = (less, plus_one_unit(*outside));
                } else {
                    let less = outside.checked_sub(ONE_UNIT)?;
                    (*treasury, *outside) = (plus_one_unit(*treasury), less);
                }
            }
            Operation::CreateUser(user) => user.name.push_str("-renamed"),
            Operation::CreateModel(model) => model.name.push_str("-renamed"),
            Operation::Deposit { amount, .. }
            | Operation::RequestWithdrawal { amount, .. }
            | Operation::IncreaseStake { amount, .. }
            | Operation::Emit { amount, .. }
            | Operation::Buyback { nmr: amount, .. } => *amount = plus_one_unit(*amount),
            Operation::CompleteWithdrawal { tx_hash, .. } => {
                *tx_hash = format!("0x{}", "f".repeat(64));
            }
            Operation::ReleaseStake { release, .. } => {
                *release = match *release {
                    Release::Amount(amount) => Release::Amount(plus_one_unit(amount)),
                    Release::Drain => Release::Amount(ONE_UNIT),
                };
            }
            Operation::OpenRound { config, .. } => {
                config.stake_threshold = plus_one_unit(config.stake_threshold);
            }
            Operation::CloseRound { submissions, .. } => {
                let first = submissions.keys().next().copied().unwrap_or(ModelId(1));
                let flipped = match submissions.get(&first) {
                    Some(SubmissionStatus::OnTime) => SubmissionStatus::Late,
                    _ => SubmissionStatus::OnTime,
                };
                submissions.insert(first, flipped);
            }
            Operation::SettleRound { scores, .. } => {
                let model = scores.keys().next().copied().unwrap_or(ModelId(1));
                let by_name = scores.entry(model).or_default();
                let score = by_name.entry("corr20".to_owned()).or_default();
                *score = Rate::from_units(score.units() + 1);
            }
            Operation::CancelWithdrawal { .. } | Operation::ScoreRound { .. } => return None,
        }
        Some(other)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Genesis { treasury, outside } => write!(
                f,
                "genesis of {treasury} NMR to the treasury and {outside} NMR outside"
            ),
            Operation::CreateUser(user) => write!(f, "creation of user {}", user.id.0),
            Operation::CreateModel(model) => {
                write!(
                    f,
                    "creation of model {} of user {}",
                    model.id.0, model.user.0
                )
            }
            Operation::Deposit {
                user,
                amount,
                tx_hash,
            } => write!(f, "deposit {tx_hash} of {amount} NMR to user {}", user.0),
            Operation::RequestWithdrawal {
                id, user, amount, ..
            } => write!(f, "withdrawal {id} of {amount} NMR by user {}", user.0),
            Operation::CompleteWithdrawal { id, .. } => write!(f, "completion of withdrawal {id}"),
            Operation::CancelWithdrawal { id } => write!(f, "cancellation of withdrawal {id}"),
            Operation::IncreaseStake { id, model, amount } => {
                write!(
                    f,
                    "stake increase {id} of {amount} NMR on model {}",
                    model.0
                )
            }
            Operation::ReleaseStake { id, model, release } => match release {
                Release::Amount(amount) => {
                    write!(f, "release {id} of {amount} NMR from model {}", model.0)
                }
                Release::Drain => write!(f, "drain {id} of model {}", model.0),
            },
            Operation::Buyback { nmr, price_usd, .. } => {
                write!(f, "buyback of {nmr} NMR at {price_usd} USD")
            }
            Operation::Emit { id, to, amount, .. } => {
                write!(f, "emission {id} of {amount} NMR to {to}")
            }
            Operation::OpenRound { key, .. } => write!(f, "opening of round {key}"),
            Operation::CloseRound { key, .. } => write!(f, "close of round {key}"),
            Operation::ScoreRound { key } => write!(f, "scoring of round {key}"),
            Operation::SettleRound { key, .. } => write!(f, "settlement of round {key}"),
        }
    }
}
