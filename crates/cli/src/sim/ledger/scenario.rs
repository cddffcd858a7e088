//! What happens in the simulated tournament: who takes part, one business day per
//! round, the platform's round operations, participants' requests, and bad requests.

use std::collections::{BTreeMap, BTreeSet};

use indicatif::ProgressBar;
use jiff::{SignedDuration, Timestamp};
use numerus_ledger::audit::audit;
use numerus_ledger::staking::{Model, PayoutConfig, SubmissionStatus, User};
use numerus_ledger::{AccountId, ModelId, Nmr, Rate, Release, RoundKey, TournamentId, UserId};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::operation::{Operation, Scores};
use super::shadow::{Expected, Refusal, Stage};
use super::{Settings, Simulation, Stop, check};

/// Numerai Classic.
const TOURNAMENT: TournamentId = TournamentId(8);
/// The genesis: the platform's reserve and the market.
const GENESIS_TREASURY: Nmr = Nmr::from_whole(3_000_000);
/// See [`GENESIS_TREASURY`].
const GENESIS_OUTSIDE: Nmr = Nmr::from_whole(8_000_000);
/// Extra business days a round may take to resolve beyond the horizon.
pub(super) const HORIZON_SPREAD: u32 = 5;
/// Percent of users who join during the run rather than before it.
const LATE_JOINERS_PERCENT: u32 = 25;
/// Oldest account age at the start, in days (the withdrawal rule needs 30).
const BACKDATED_DAYS_MAX: i64 = 120;
/// The stake threshold of a round per model in the tournament, before its variation.
const THRESHOLD_PER_MODEL: Nmr = Nmr::from_whole(50);
/// Percent of rounds whose threshold is above everything staked.
const THRESHOLD_ABOVE_STAKES_PERCENT: u32 = 5;
/// What the platform buys back at a time when the treasury cannot pay a settlement.
const TREASURY_TOP_UP: Nmr = Nmr::from_whole(100_000);
/// Percent of models the churn gate zeroes in a round.
const CHURNED_PERCENT: u32 = 3;
/// How far a score strays from the model's skill, either way.
const SCORE_NOISE: f64 = 0.04;
/// The clip of every round's payout rate.
const CLIP: &str = "0.05";
/// The payout multipliers rounds choose from, by score name.
const MULTIPLIER_SETS: [&[(&str, &str)]; 3] = [
    &[("corr20", "0.75"), ("mmc20", "2.25")],
    &[("corr20", "0.5"), ("mmc20", "2")],
    &[("corr20", "1")],
];
/// Ids no participant or model ever has (both count from 1).
const NOBODY: UserId = UserId(0);
/// See [`NOBODY`].
const NO_MODEL: ModelId = ModelId(0);
/// The withdrawal rule's small amount, 0.1 NMR, as the scenario aims at it.
const SMALL_WITHDRAWAL: Nmr = Nmr::from_base_units(100_000_000_000_000_000);
const ONE_UNIT: Nmr = Nmr::from_base_units(1);
const DAY: SignedDuration = SignedDuration::from_hours(24);
const HOUR: SignedDuration = SignedDuration::from_hours(1);

/// A user as the scenario plans them.
#[derive(Debug)]
struct Participant {
    user: UserId,
    /// The round on whose day the user joins; 0: before the first.
    joins_in_round: u32,
    /// How old the account already is when it joins before the first round.
    backdated_days: i64,
    models: Vec<ModelId>,
}

/// How a model behaves.
#[derive(Debug, Clone, Copy)]
struct Habit {
    /// Percent of rounds it submits on time (80 on average over models).
    on_time_percent: u32,
    /// The centre of its scores (scores are f64 as a scorer writes them; they become
    /// exact once, through `Rate::from_f64`).
    skill: f64,
}

/// Everyone who takes part, planned up front from the seed.
#[derive(Debug)]
pub(super) struct Cast {
    participants: Vec<Participant>,
    habits: BTreeMap<ModelId, Habit>,
    /// Users created so far.
    users: Vec<UserId>,
    /// Models created so far.
    models: Vec<ModelId>,
}

impl Cast {
    /// About one user per three models; most join before the first round.
    pub(super) fn new(rng: &mut ChaCha8Rng, settings: Settings) -> Cast {
        let user_count = settings.models.div_ceil(3);
        let mut participants: Vec<Participant> = (1..=user_count)
            .map(|id| {
                let late = settings.rounds >= 2 && rng.random_range(0..100) < LATE_JOINERS_PERCENT;
                Participant {
                    user: UserId(id),
                    joins_in_round: if late {
                        rng.random_range(2..=settings.rounds)
                    } else {
                        0
                    },
                    backdated_days: rng.random_range(0..=BACKDATED_DAYS_MAX),
                    models: Vec::new(),
                }
            })
            .collect();
        let mut habits = BTreeMap::new();
        for id in 1..=settings.models {
            let owner = rng.random_range(0..participants.len());
            participants[owner].models.push(ModelId(id));
            let habit = Habit {
                on_time_percent: rng.random_range(60..=100),
                // A little above zero: amounts asked back earn nothing but still burn,
                // and this keeps payouts and burns about even over long runs.
                skill: rng.random_range(-0.015..0.025),
            };
            habits.insert(ModelId(id), habit);
        }
        Cast {
            participants,
            habits,
            users: Vec::new(),
            models: Vec::new(),
        }
    }
}

/// Sunday is 0. 1970-01-01 was a Thursday.
fn weekday(time: Timestamp) -> i64 {
    (time.as_second().div_euclid(86_400) + 4).rem_euclid(7)
}

/// The next day with a round: Tuesday to Saturday, as Numerai's daily rounds.
fn next_round_day(day: Timestamp) -> Timestamp {
    let mut next = day + DAY;
    while !(2..=6).contains(&weekday(next)) {
        next += DAY;
    }
    next
}

fn round_key(number: u32) -> RoundKey {
    RoundKey {
        tournament: TOURNAMENT,
        number,
    }
}

/// A kind of participant request, with its share of the traffic.
#[derive(Clone, Copy, Debug)]
enum Request {
    Stake,
    Release,
    Drain,
    Deposit,
    Withdraw,
    EndWithdrawal,
    Buyback,
    Emission,
    Bad,
}

const REQUEST_WEIGHTS: [(Request, u32); 9] = [
    (Request::Stake, 30),
    (Request::Release, 6),
    (Request::Drain, 2),
    (Request::Deposit, 18),
    (Request::Withdraw, 9),
    (Request::EndWithdrawal, 9),
    (Request::Buyback, 3),
    (Request::Emission, 3),
    (Request::Bad, 8),
];

impl Simulation {
    /// The whole run: setup, every round, the settlement of the rounds still in
    /// flight, and the final checks.
    pub(super) fn run(&mut self, progress: &ProgressBar) -> Result<(), Stop> {
        self.setup()?;
        let mut day = self.now;
        for number in 1..=self.settings.rounds {
            self.round = number;
            self.now = day;
            self.round_day(number)?;
            progress.inc(1);
            day = next_round_day(day);
        }
        progress.set_message("settling the rounds in flight");
        self.wind_down(day)?;
        self.finish()
    }

    fn setup(&mut self) -> Result<(), Stop> {
        self.perform(Operation::Genesis {
            treasury: GENESIS_TREASURY,
            outside: GENESIS_OUTSIDE,
        })?;
        self.join_participants(0)
    }

    /// Creates the users who join in round `number`, their models, a first deposit and
    /// first stakes.
    fn join_participants(&mut self, number: u32) -> Result<(), Stop> {
        for index in 0..self.cast.participants.len() {
            let participant = &self.cast.participants[index];
            if participant.joins_in_round != number {
                continue;
            }
            let (user, models) = (participant.user, participant.models.clone());
            let backdated = if number == 0 {
                participant.backdated_days
            } else {
                0
            };
            let created_at = self.now - DAY * i32::try_from(backdated).unwrap_or(0);
            let name = format!("user-{}", user.0);
            self.perform(Operation::CreateUser(User {
                id: user,
                name,
                created_at,
            }))?;
            self.cast.users.push(user);
            self.join_models(user, &models)?;
        }
        Ok(())
    }

    fn join_models(&mut self, user: UserId, models: &[ModelId]) -> Result<(), Stop> {
        for model in models {
            self.perform(Operation::CreateModel(Model {
                id: *model,
                user,
                name: format!("model-{}", model.0),
                tournament: TOURNAMENT,
            }))?;
            self.cast.models.push(*model);
        }
        let amount = self.amount_between(Nmr::from_whole(100), Nmr::from_whole(3_000));
        let tx_hash = self.tx_hash();
        self.perform(Operation::Deposit {
            user,
            amount,
            tx_hash,
        })?;
        for model in models {
            let wallet = self.shadow.available(AccountId::Wallet(user));
            if !wallet.is_zero() {
                let amount = self.amount_up_to(wallet);
                let id = self.fresh_id("stake");
                self.perform(Operation::IncreaseStake {
                    id,
                    model: *model,
                    amount,
                })?;
            }
        }
        Ok(())
    }

    /// One business day: settlements and scoring of earlier rounds, then round
    /// `number` opens, takes requests, closes, and more requests follow.
    fn round_day(&mut self, number: u32) -> Result<(), Stop> {
        let opened_at = self.now;
        self.join_participants(number)?;
        self.settle_due_rounds()?;
        self.score_closed_rounds()?;
        let key = round_key(number);
        let close_at = opened_at + HOUR;
        // Rounds resolve after different numbers of days, so some resolve before rounds
        // opened earlier: releases then wait on rounds other than the next to settle.
        let resolves_after = self.settings.horizon + self.rng.random_range(0..=HORIZON_SPREAD);
        let mut resolve_at = opened_at;
        for _ in 0..resolves_after {
            resolve_at = next_round_day(resolve_at);
        }
        let config = self.payout_config();
        self.perform(Operation::OpenRound {
            key,
            close_at,
            resolve_at,
            config,
        })?;
        self.bad_round_requests(key)?;
        let requests = (self.settings.models / 4).max(6);
        let before_close = requests * 3 / 5;
        self.participant_requests(before_close, close_at)?;
        self.now = close_at;
        self.close_round(key)?;
        self.participant_requests(requests - before_close, close_at + HOUR * 10)
    }

    /// After the last round: one business day after another until every round settled.
    fn wind_down(&mut self, mut day: Timestamp) -> Result<(), Stop> {
        while self.shadow.rounds_in_flight().next().is_some() {
            self.now = day;
            self.settle_due_rounds()?;
            self.score_closed_rounds()?;
            day = next_round_day(day);
        }
        Ok(())
    }

    /// The checks of the end: burns per round, buybacks, and the ledger's own audit.
    fn finish(&mut self) -> Result<(), Stop> {
        let store = self.ledger.store();
        check::final_records(store, &self.shadow)
            .and_then(|()| check::releases(store, &self.shadow, None))
            .map_err(|difference| self.violation(format!("at the end: {difference}")))?;
        let report = audit(store).map_err(|error| {
            self.violation(format!("the audit could not read the store: {error}"))
        })?;
        if !report.is_clean() {
            return Err(self.violation(format!(
                "the audit found {} problems: {}",
                report.problems.len(),
                report.problems.join("; ")
            )));
        }
        if report.transfers != self.log.transfers() {
            return Err(self.violation(format!(
                "the audit replayed {} transfers, the simulation logged {}",
                report.transfers,
                self.log.transfers()
            )));
        }
        Ok(())
    }

    fn payout_config(&mut self) -> PayoutConfig {
        let set = MULTIPLIER_SETS[self.rng.random_range(0..MULTIPLIER_SETS.len())];
        let multipliers = set
            .iter()
            .map(|(name, value)| {
                let multiplier = value.parse().expect("the multipliers are decimals");
                ((*name).to_owned(), multiplier)
            })
            .collect();
        PayoutConfig {
            multipliers,
            clip: CLIP.parse().expect("the clip is a decimal"),
            stake_threshold: self.stake_threshold(),
        }
    }

    /// Mostly a fixed threshold (Numerai Classic's is 72,000 NMR), here in proportion
    /// to the tournament's size, give or take half: it bounds what a round can pay and
    /// burn, and the payout factor falls below 1 once stakes grow past it. Some rounds
    /// take one above everything staked, where the factor is 1.
    fn stake_threshold(&mut self) -> Nmr {
        let percent = u128::from(self.rng.random_range(50..=150u32));
        let units = if self.rng.random_range(0..100) < THRESHOLD_ABOVE_STAKES_PERCENT {
            let staked = self.shadow.total_staked().base_units();
            staked + staked / 100 * percent
        } else {
            let base = u128::from(self.settings.models) * THRESHOLD_PER_MODEL.base_units();
            base / 100 * percent
        };
        Nmr::from_base_units(units).max(Nmr::from_whole(1))
    }

    /// Closes round `key` with each model's submission as its habit has it, and the
    /// churn gate zeroing a few.
    fn close_round(&mut self, key: RoundKey) -> Result<(), Stop> {
        let mut submissions = BTreeMap::new();
        let mut churned = BTreeSet::new();
        for index in 0..self.cast.models.len() {
            let model = self.cast.models[index];
            let habit = self.cast.habits[&model];
            let status = if self.rng.random_range(0..100) < habit.on_time_percent {
                Some(SubmissionStatus::OnTime)
            } else {
                // Half late, half missing, either explicitly or by absence (both mean
                // nothing valid was uploaded).
                [
                    Some(SubmissionStatus::Late),
                    Some(SubmissionStatus::Late),
                    Some(SubmissionStatus::Missing),
                    None,
                ][self.rng.random_range(0..4)]
            };
            if let Some(status) = status {
                submissions.insert(model, status);
            }
            if self.rng.random_range(0..100) < CHURNED_PERCENT {
                churned.insert(model);
            }
        }
        self.perform(Operation::CloseRound {
            key,
            submissions,
            churned,
        })
    }

    fn score_closed_rounds(&mut self) -> Result<(), Stop> {
        let closed: Vec<RoundKey> = self
            .shadow
            .rounds_in_flight()
            .filter(|(_, round)| matches!(round.stage, Stage::Closed(_)))
            .map(|(key, _)| key)
            .collect();
        for key in closed {
            self.perform(Operation::ScoreRound { key })?;
        }
        Ok(())
    }

    /// Settles every scored round whose resolve time has passed, oldest first.
    fn settle_due_rounds(&mut self) -> Result<(), Stop> {
        let due: Vec<RoundKey> = self
            .shadow
            .rounds_in_flight()
            .filter(|(_, round)| matches!(round.stage, Stage::Scored(_)))
            .filter(|(_, round)| round.resolve_at <= self.now)
            .map(|(key, _)| key)
            .collect();
        for key in due {
            let scores = self.final_scores(key);
            if self.rng.random_range(0..100) < 10 {
                self.settle_with_a_score_missing(key, &scores)?;
            }
            let settlement = Operation::SettleRound { key, scores };
            self.fund_treasury_for(&settlement)?;
            self.perform(settlement)?;
            if self.shadow.rounds_in_flight().any(|(open, _)| open == key) {
                return Err(self.violation(format!(
                    "simulator: round {key} cannot settle even after buybacks (the market \
                     holds {} NMR); the scenario ran the economy dry",
                    self.shadow.available(AccountId::Outside)
                )));
            }
        }
        if self.rng.random_range(0..100) < 5 {
            self.settle_too_early()?;
        }
        Ok(())
    }

    /// When the treasury cannot pay `settlement`, it is refused first (changing
    /// nothing), then the platform buys NMR back on the market until it can.
    fn fund_treasury_for(&mut self, settlement: &Operation) -> Result<(), Stop> {
        let short = Refusal::Insufficient(AccountId::Treasury);
        let is_short = |simulation: &Simulation| {
            let expected = simulation.shadow.predict(settlement, simulation.now);
            matches!(expected, Expected::Refused(refusal) if refusal == short)
        };
        if !is_short(self) {
            return Ok(());
        }
        self.refuse(settlement.clone(), short)?;
        while is_short(self) {
            let market = self.shadow.available(AccountId::Outside);
            if market.is_zero() {
                break;
            }
            let tx_hash = self.tx_hash();
            self.perform(Operation::Buyback {
                nmr: market.min(TREASURY_TOP_UP),
                price_usd: Rate::ONE,
                tx_hash,
            })?;
        }
        Ok(())
    }

    /// Every at-risk model's scores for the round's config, and some for models with
    /// nothing at risk (which the ledger ignores).
    fn final_scores(&mut self, key: RoundKey) -> Scores {
        let round = self.shadow.round(key).expect("only known rounds settle");
        let names: Vec<String> = round.config.multipliers.keys().cloned().collect();
        let models: Vec<(ModelId, bool)> = round
            .stakes
            .iter()
            .map(|(model, stake)| (*model, !stake.at_risk.is_zero()))
            .collect();
        let mut scores = Scores::new();
        for (model, at_risk) in models {
            if !at_risk && self.rng.random_range(0..100) >= 10 {
                continue;
            }
            let by_name = names
                .iter()
                .map(|name| (name.clone(), self.score(model, name)))
                .collect();
            scores.insert(model, by_name);
        }
        scores
    }

    /// Mostly around the model's skill; some exact zeros, and some large enough to hit
    /// the clip.
    fn score(&mut self, model: ModelId, name: &str) -> Rate {
        // MMC runs smaller than CORR, as Numerai's do.
        let scale = if name == "mmc20" { 0.3 } else { 1.0 };
        let skill = self.cast.habits[&model].skill;
        let value = match self.rng.random_range(0..100) {
            0..5 => 0.0,
            5..10 => {
                let size = self.rng.random_range(0.2..1.0);
                if self.rng.random_range(0..2) == 0 {
                    size
                } else {
                    -size
                }
            }
            _ => scale * (skill + self.rng.random_range(-SCORE_NOISE..SCORE_NOISE)),
        };
        Rate::from_f64(value).expect("a generated score is finite and small")
    }

    fn settle_with_a_score_missing(&mut self, key: RoundKey, scores: &Scores) -> Result<(), Stop> {
        let round = self.shadow.round(key).expect("only known rounds settle");
        let at_risk = round
            .stakes
            .iter()
            .find(|(_, stake)| !stake.at_risk.is_zero())
            .map(|(model, _)| *model);
        let Some(model) = at_risk else {
            return Ok(());
        };
        let mut partial = scores.clone();
        partial.remove(&model);
        self.refuse(
            Operation::SettleRound {
                key,
                scores: partial,
            },
            Refusal::MissingScore,
        )
    }

    fn settle_too_early(&mut self) -> Result<(), Stop> {
        let early = self
            .shadow
            .rounds_in_flight()
            .find(|(_, round)| round.resolve_at > self.now && !matches!(round.stage, Stage::Open))
            .map(|(key, _)| key);
        match early {
            Some(key) => self.refuse(
                Operation::SettleRound {
                    key,
                    scores: Scores::new(),
                },
                Refusal::TooEarly,
            ),
            None => Ok(()),
        }
    }

    /// Now and then: scoring the round just opened, or closing it before its time.
    fn bad_round_requests(&mut self, key: RoundKey) -> Result<(), Stop> {
        if self.rng.random_range(0..100) < 3 {
            self.refuse(Operation::ScoreRound { key }, Refusal::RoundState)?;
        }
        if self.rng.random_range(0..100) < 3 {
            let close = Operation::CloseRound {
                key,
                submissions: BTreeMap::new(),
                churned: BTreeSet::new(),
            };
            self.refuse(close, Refusal::TooEarly)?;
        }
        Ok(())
    }

    /// `count` participant requests spread over the time left until `until`.
    fn participant_requests(&mut self, count: u64, until: Timestamp) -> Result<(), Stop> {
        for index in 0..count {
            let left = i64::try_from(count - index).unwrap_or(i64::MAX);
            let room = until.duration_since(self.now).as_secs().max(0);
            let pause = self.rng.random_range(0..=room / (left + 1));
            self.now += SignedDuration::from_secs(pause);
            self.participant_request()?;
        }
        Ok(())
    }

    fn participant_request(&mut self) -> Result<(), Stop> {
        let total: u32 = REQUEST_WEIGHTS.iter().map(|(_, weight)| weight).sum();
        let mut draw = self.rng.random_range(0..total);
        let mut request = Request::Stake;
        for (kind, weight) in REQUEST_WEIGHTS {
            if draw < weight {
                request = kind;
                break;
            }
            draw -= weight;
        }
        match request {
            Request::Stake => self.stake_more(),
            Request::Release => self.release(false),
            Request::Drain => self.release(true),
            Request::Deposit => self.deposit(),
            Request::Withdraw => self.withdraw(),
            Request::EndWithdrawal => self.end_withdrawal(),
            Request::Buyback => self.buyback(),
            Request::Emission => self.emission(),
            Request::Bad => self.bad_request(),
        }
    }

    fn stake_more(&mut self) -> Result<(), Stop> {
        let Some(model) = self.pick_model() else {
            return self.deposit();
        };
        let owner = self.shadow.owner(model).expect("picked models exist");
        let wallet = self.shadow.available(AccountId::Wallet(owner));
        if wallet.is_zero() {
            return self.deposit_to(owner);
        }
        let amount = if self.rng.random_range(0..100) < 20 {
            wallet
        } else {
            self.amount_up_to(wallet)
        };
        let id = self.fresh_id("stake");
        self.perform(Operation::IncreaseStake { id, model, amount })
    }

    fn release(&mut self, drain: bool) -> Result<(), Stop> {
        let Some(model) = self.pick_staked_model() else {
            return self.stake_more();
        };
        let release = if drain {
            Release::Drain
        } else {
            Release::Amount(self.amount_up_to(self.shadow.posted(AccountId::Stake(model))))
        };
        let id = self.fresh_id("release");
        self.perform(Operation::ReleaseStake { id, model, release })
    }

    fn deposit(&mut self) -> Result<(), Stop> {
        match self.pick_user() {
            Some(user) => self.deposit_to(user),
            None => Ok(()),
        }
    }

    fn deposit_to(&mut self, user: UserId) -> Result<(), Stop> {
        // Never more than a thousandth of the market, so long runs do not drain it.
        let market = self.shadow.available(AccountId::Outside).base_units() / 1_000;
        let amount = self
            .amount_of_magnitude(16, 20)
            .min(Nmr::from_base_units(market))
            .max(ONE_UNIT);
        let tx_hash = self.tx_hash();
        self.perform(Operation::Deposit {
            user,
            amount,
            tx_hash,
        })
    }

    /// Mostly part of the wallet; sometimes a small amount, which young accounts may
    /// not withdraw.
    fn withdraw(&mut self) -> Result<(), Stop> {
        let Some(user) = self.pick_user() else {
            return Ok(());
        };
        let wallet = self.shadow.available(AccountId::Wallet(user));
        let amount = if wallet.is_zero() || self.rng.random_range(0..100) < 25 {
            self.amount_between(ONE_UNIT, SMALL_WITHDRAWAL)
        } else {
            self.amount_up_to(wallet)
        };
        let id = self.fresh_id("withdrawal");
        let address = self.address();
        self.perform(Operation::RequestWithdrawal {
            id,
            user,
            amount,
            address,
        })
    }

    fn end_withdrawal(&mut self) -> Result<(), Stop> {
        let held = self.shadow.held_withdrawals().count();
        if held == 0 {
            return self.withdraw();
        }
        let index = self.rng.random_range(0..held);
        let id = self
            .shadow
            .held_withdrawals()
            .nth(index)
            .expect("index below the count")
            .to_owned();
        if self.rng.random_range(0..100) < 80 {
            let tx_hash = self.tx_hash();
            self.perform(Operation::CompleteWithdrawal { id, tx_hash })
        } else {
            self.perform(Operation::CancelWithdrawal { id })
        }
    }

    fn buyback(&mut self) -> Result<(), Stop> {
        let market = self.shadow.available(AccountId::Outside).base_units() / 1_000;
        let nmr = self
            .amount_of_magnitude(18, 20)
            .min(Nmr::from_base_units(market))
            .max(ONE_UNIT);
        // Between 0.5 and 50 dollars, to the millionth.
        let micro_dollars = self.rng.random_range(500_000..=50_000_000i128);
        let price_usd = Rate::from_units(micro_dollars * 1_000_000_000_000);
        let tx_hash = self.tx_hash();
        self.perform(Operation::Buyback {
            nmr,
            price_usd,
            tx_hash,
        })
    }

    fn emission(&mut self) -> Result<(), Stop> {
        let to = match self.pick_user() {
            Some(user) if self.rng.random_range(0..100) < 70 => AccountId::Wallet(user),
            _ => AccountId::Outside,
        };
        let amount = self.amount_of_magnitude(16, 19);
        let id = self.fresh_id("emission");
        self.perform(Operation::Emit {
            id,
            to,
            amount,
            reason: "grant".to_owned(),
        })
    }

    /// A request the ledger must refuse with a typed error and no change.
    fn bad_request(&mut self) -> Result<(), Stop> {
        let Some(model) = self.pick_model() else {
            return Ok(());
        };
        let owner = self.shadow.owner(model).expect("picked models exist");
        let (operation, refusal) = match self.rng.random_range(0..16) {
            0..4 => self.zero_amount(model, owner),
            4 => self.stake_above_wallet(model, owner),
            5 => self.release_above_stake(model),
            6 => self.unknown_model(),
            7 => self.second_genesis(),
            8 => self.malformed_tx_hash(owner),
            9 => (
                Operation::Emit {
                    id: self.fresh_id("emission"),
                    to: AccountId::Stake(model),
                    amount: Nmr::from_whole(1),
                    reason: "a stake is no emission target".to_owned(),
                },
                Refusal::FlowNotAllowed,
            ),
            10 => self.withdrawal_above_wallet(owner),
            11 => self.settled_withdrawal_again(model, owner),
            12 => (
                Operation::CompleteWithdrawal {
                    id: self.fresh_id("never-requested"),
                    tx_hash: self.tx_hash(),
                },
                Refusal::HoldNotFound,
            ),
            13 => self.unknown_user(),
            14 => self.drain_of_an_empty_stake(model, owner),
            _ => self.small_withdrawal_too_early(model, owner),
        };
        self.refuse(operation, refusal)
    }

    fn zero_amount(&mut self, model: ModelId, owner: UserId) -> (Operation, Refusal) {
        let operation = match self.rng.random_range(0..4) {
            0 => Operation::IncreaseStake {
                id: self.fresh_id("stake"),
                model,
                amount: Nmr::ZERO,
            },
            1 => Operation::Deposit {
                user: owner,
                amount: Nmr::ZERO,
                tx_hash: self.tx_hash(),
            },
            2 => Operation::RequestWithdrawal {
                id: self.fresh_id("withdrawal"),
                user: owner,
                amount: Nmr::ZERO,
                address: self.address(),
            },
            _ => Operation::Emit {
                id: self.fresh_id("emission"),
                to: AccountId::Wallet(owner),
                amount: Nmr::ZERO,
                reason: "nothing".to_owned(),
            },
        };
        (operation, Refusal::NotPositive)
    }

    fn stake_above_wallet(&mut self, model: ModelId, owner: UserId) -> (Operation, Refusal) {
        let wallet = self.shadow.available(AccountId::Wallet(owner));
        let operation = Operation::IncreaseStake {
            id: self.fresh_id("stake"),
            model,
            amount: wallet.checked_add(ONE_UNIT).expect("below the supply"),
        };
        (operation, Refusal::Insufficient(AccountId::Wallet(owner)))
    }

    fn release_above_stake(&mut self, model: ModelId) -> (Operation, Refusal) {
        let stake = self.shadow.posted(AccountId::Stake(model));
        let operation = Operation::ReleaseStake {
            id: self.fresh_id("release"),
            model,
            release: Release::Amount(stake.checked_add(ONE_UNIT).expect("below the supply")),
        };
        (operation, Refusal::ReleaseAboveStake)
    }

    fn unknown_model(&mut self) -> (Operation, Refusal) {
        let operation = if self.rng.random_range(0..2) == 0 {
            Operation::IncreaseStake {
                id: self.fresh_id("stake"),
                model: NO_MODEL,
                amount: Nmr::from_whole(1),
            }
        } else {
            Operation::ReleaseStake {
                id: self.fresh_id("release"),
                model: NO_MODEL,
                release: Release::Drain,
            }
        };
        (operation, Refusal::UnknownModel)
    }

    fn unknown_user(&mut self) -> (Operation, Refusal) {
        if self.rng.random_range(0..2) == 0 {
            let operation = Operation::Deposit {
                user: NOBODY,
                amount: Nmr::from_whole(1),
                tx_hash: self.tx_hash(),
            };
            (
                operation,
                Refusal::UnknownAccount(AccountId::Wallet(NOBODY)),
            )
        } else {
            let operation = Operation::RequestWithdrawal {
                id: self.fresh_id("withdrawal"),
                user: NOBODY,
                amount: Nmr::from_whole(1),
                address: self.address(),
            };
            (operation, Refusal::UnknownUser)
        }
    }

    /// Another genesis: refused as such, or for the supply it would exceed.
    fn second_genesis(&mut self) -> (Operation, Refusal) {
        if self.rng.random_range(0..2) == 0 {
            let operation = Operation::Genesis {
                treasury: Nmr::from_whole(1),
                outside: Nmr::ZERO,
            };
            (operation, Refusal::GenesisDone)
        } else {
            let operation = Operation::Genesis {
                treasury: Nmr::MAX_SUPPLY,
                outside: ONE_UNIT,
            };
            (operation, Refusal::MaxSupply)
        }
    }

    fn malformed_tx_hash(&mut self, owner: UserId) -> (Operation, Refusal) {
        let operation = Operation::Deposit {
            user: owner,
            amount: Nmr::from_whole(1),
            tx_hash: "0x1234".to_owned(),
        };
        (operation, Refusal::BadTxHash)
    }

    fn withdrawal_above_wallet(&mut self, owner: UserId) -> (Operation, Refusal) {
        // Above the small amount too, so that the age rule does not answer first.
        let wallet = self.shadow.available(AccountId::Wallet(owner));
        let operation = Operation::RequestWithdrawal {
            id: self.fresh_id("withdrawal"),
            user: owner,
            amount: wallet
                .checked_add(Nmr::from_whole(1))
                .expect("below the supply"),
            address: self.address(),
        };
        (operation, Refusal::Insufficient(AccountId::Wallet(owner)))
    }

    /// Completing a cancelled withdrawal, or cancelling a completed one.
    fn settled_withdrawal_again(&mut self, model: ModelId, owner: UserId) -> (Operation, Refusal) {
        let settled = self.shadow.settled_withdrawals().count();
        if settled == 0 {
            return self.zero_amount(model, owner);
        }
        let index = self.rng.random_range(0..settled);
        let (id, completed) = self
            .shadow
            .settled_withdrawals()
            .nth(index)
            .expect("index below the count");
        let id = id.to_owned();
        let operation = if completed {
            Operation::CancelWithdrawal { id }
        } else {
            Operation::CompleteWithdrawal {
                id,
                tx_hash: self.tx_hash(),
            }
        };
        (operation, Refusal::HoldNotPending)
    }

    fn drain_of_an_empty_stake(&mut self, model: ModelId, owner: UserId) -> (Operation, Refusal) {
        let empty = self
            .cast
            .models
            .iter()
            .copied()
            .find(|model| self.shadow.posted(AccountId::Stake(*model)).is_zero());
        let Some(empty) = empty else {
            return self.zero_amount(model, owner);
        };
        let operation = Operation::ReleaseStake {
            id: self.fresh_id("release"),
            model: empty,
            release: Release::Drain,
        };
        (operation, Refusal::NotPositive)
    }

    fn small_withdrawal_too_early(
        &mut self,
        model: ModelId,
        owner: UserId,
    ) -> (Operation, Refusal) {
        let young = self.cast.users.iter().copied().find(|user| {
            let created_at = self
                .shadow
                .user_created_at(*user)
                .expect("created users exist");
            self.now.duration_since(created_at) < DAY * 29
        });
        let Some(young) = young else {
            return self.zero_amount(model, owner);
        };
        let operation = Operation::RequestWithdrawal {
            id: self.fresh_id("withdrawal"),
            user: young,
            amount: SMALL_WITHDRAWAL,
            address: self.address(),
        };
        (operation, Refusal::WithdrawalTooEarly)
    }

    fn pick_user(&mut self) -> Option<UserId> {
        let users = &self.cast.users;
        (!users.is_empty()).then(|| users[self.rng.random_range(0..users.len())])
    }

    fn pick_model(&mut self) -> Option<ModelId> {
        let models = &self.cast.models;
        (!models.is_empty()).then(|| models[self.rng.random_range(0..models.len())])
    }

    /// A model with something staked, found by a few random tries.
    fn pick_staked_model(&mut self) -> Option<ModelId> {
        for _ in 0..8 {
            let model = self.pick_model()?;
            if !self.shadow.posted(AccountId::Stake(model)).is_zero() {
                return Some(model);
            }
        }
        None
    }

    fn fresh_id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}-{}", self.next_id)
    }

    /// A random chain transaction hash: 0x and 64 hex digits.
    fn tx_hash(&mut self) -> String {
        let words: [u64; 4] = std::array::from_fn(|_| self.rng.random());
        format!(
            "0x{:016x}{:016x}{:016x}{:016x}",
            words[0], words[1], words[2], words[3]
        )
    }

    /// A random chain address: 0x and 40 hex digits.
    fn address(&mut self) -> String {
        let (high, low): (u128, u32) = (self.rng.random(), self.rng.random());
        format!("0x{high:032x}{low:08x}")
    }

    /// Uniform in base units over `[low, high]`.
    fn amount_between(&mut self, low: Nmr, high: Nmr) -> Nmr {
        Nmr::from_base_units(self.rng.random_range(low.base_units()..=high.base_units()))
    }

    /// Uniform in base units over `[1 unit, max]`.
    fn amount_up_to(&mut self, max: Nmr) -> Nmr {
        self.amount_between(ONE_UNIT, max.max(ONE_UNIT))
    }

    /// Between 10^low and 10^(high+1) base units, each power of ten equally likely, and
    /// every base unit in play.
    fn amount_of_magnitude(&mut self, low: u32, high: u32) -> Nmr {
        let power = 10u128.pow(self.rng.random_range(low..=high));
        Nmr::from_base_units(self.rng.random_range(power..power * 10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_run_tuesday_to_saturday() {
        let start: Timestamp = super::super::START.parse().unwrap();
        assert_eq!(weekday(start), 2, "2026-01-06 is a Tuesday");
        let mut day = start;
        let mut weekdays = Vec::new();
        for _ in 0..6 {
            day = next_round_day(day);
            weekdays.push(weekday(day));
        }
        assert_eq!(weekdays, [3, 4, 5, 6, 2, 3]);
    }
}
