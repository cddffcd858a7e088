//! One step: a ledger call, delivered plainly or through a fault, then every check.

use std::collections::BTreeSet;
use std::sync::Barrier;

use jiff::Timestamp;
use numerus_ledger::{Ledger, LedgerError, ModelId, Outcome};
use numerus_store_sqlite::{Fault, SqliteStore};
use rand::RngExt;

use super::operation::Operation;
use super::shadow::{Expected, Refusal};
use super::{Simulation, Stop, check};

/// Percent of applied calls interrupted by a crash inside their transaction.
const CRASH_INSIDE_PERCENT: u32 = 2;
/// Percent of applied calls whose reply is lost after the commit.
const LOST_REPLY_PERCENT: u32 = 2;
/// The same for settlements, the calls that move the most.
const SETTLEMENT_CRASH_INSIDE_PERCENT: u32 = 10;
/// See [`SETTLEMENT_CRASH_INSIDE_PERCENT`].
const SETTLEMENT_LOST_REPLY_PERCENT: u32 = 10;
/// Percent of settlements attempted by two processes at once.
const CONCURRENT_SETTLEMENT_PERCENT: u32 = 20;
/// Percent of calls followed by a duplicate delivery of an earlier request.
const DUPLICATE_PERCENT: u32 = 3;
/// Percent of calls followed by an earlier id reused with other arguments.
const CONFLICT_PERCENT: u32 = 1;
/// Earlier requests kept for duplicate deliveries.
const HISTORY_MAX: usize = 512;

/// How a call reaches the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// Once, and the reply arrives.
    Plain,
    /// The process dies inside the transaction; after a restart the call is retried.
    CrashInside,
    /// The transaction commits but the reply is lost; after a restart the call is retried.
    LostReply,
    /// Two processes make the same call at once.
    Concurrent,
}

fn describe(expected: &Expected) -> String {
    match expected {
        Expected::Applied(_) => "Applied".to_owned(),
        Expected::AlreadyApplied => "AlreadyApplied".to_owned(),
        Expected::Refused(refusal) => format!("a {refusal:?} error"),
    }
}

fn describe_result(result: &Result<Outcome, LedgerError>) -> String {
    match result {
        Ok(outcome) => format!("{outcome:?}"),
        Err(error) => format!("error {error:?} ({error})"),
    }
}

impl Simulation {
    /// Makes `operation` at the current time as a participant or the platform would —
    /// sometimes through a fault — and checks everything after.
    pub(super) fn perform(&mut self, operation: Operation) -> Result<(), Stop> {
        let expected = self.shadow.predict(&operation, self.now);
        let applies = matches!(expected, Expected::Applied(_));
        let refused = matches!(expected, Expected::Refused(_));
        match self.delivery(&operation, applies) {
            Delivery::Plain => self.send_and_check(&operation, expected)?,
            Delivery::CrashInside => self.crash_inside(&operation, expected)?,
            Delivery::LostReply => self.lose_reply(&operation, expected)?,
            Delivery::Concurrent => self.settle_concurrently(&operation, expected)?,
        }
        if applies {
            self.remember(operation);
        }
        if refused {
            self.counters.refusals += 1;
        }
        self.deliver_earlier_requests()
    }

    /// Makes `operation`, which the shadow must predict to be refused with `refusal`:
    /// a bad request the scenario built on purpose.
    pub(super) fn refuse(&mut self, operation: Operation, refusal: Refusal) -> Result<(), Stop> {
        match self.shadow.predict(&operation, self.now) {
            Expected::Refused(predicted) if predicted == refusal => self.perform(operation),
            other => Err(self.violation(format!(
                "simulator: the bad request {operation} was built to be refused with {refusal:?} \
                 but the shadow predicts {}",
                describe(&other)
            ))),
        }
    }

    fn delivery(&mut self, operation: &Operation, applies: bool) -> Delivery {
        if !self.settings.faults || !applies {
            return Delivery::Plain;
        }
        let settles = matches!(operation, Operation::SettleRound { .. });
        let (crash, lost, concurrent) = if settles {
            (
                SETTLEMENT_CRASH_INSIDE_PERCENT,
                SETTLEMENT_LOST_REPLY_PERCENT,
                CONCURRENT_SETTLEMENT_PERCENT,
            )
        } else {
            (CRASH_INSIDE_PERCENT, LOST_REPLY_PERCENT, 0)
        };
        let draw = self.rng.random_range(0..100);
        if draw < crash {
            Delivery::CrashInside
        } else if draw < crash + lost {
            Delivery::LostReply
        } else if draw < crash + lost + concurrent {
            Delivery::Concurrent
        } else {
            Delivery::Plain
        }
    }

    /// One ledger call and its checks.
    fn send_and_check(&mut self, operation: &Operation, expected: Expected) -> Result<(), Stop> {
        self.step += 1;
        let result = operation.send(&mut self.ledger, self.now);
        // A fault is meant for one call only, even one refused before reaching the store.
        self.ledger.store_mut().inject_fault(None);
        self.check(operation, expected, &result)
    }

    /// Compares the ledger's answer and state after `operation` with the shadow's, and
    /// books the change in the shadow when it applied.
    fn check(
        &mut self,
        operation: &Operation,
        expected: Expected,
        result: &Result<Outcome, LedgerError>,
    ) -> Result<(), Stop> {
        let answered_as_expected = match (&expected, result) {
            (Expected::Applied(_), Ok(Outcome::Applied))
            | (Expected::AlreadyApplied, Ok(Outcome::AlreadyApplied)) => true,
            (Expected::Refused(refusal), Err(error)) => refusal.matches(error),
            _ => false,
        };
        if !answered_as_expected {
            return Err(self.violation(format!(
                "{operation}: expected {}, the ledger answered {}",
                describe(&expected),
                describe_result(result)
            )));
        }
        let movements = match &expected {
            Expected::Applied(change) => change.movements.as_slice(),
            _ => &[],
        };
        let logged = self.log.check(self.ledger.store(), movements);
        logged.map_err(|difference| self.violation(format!("{operation}: {difference}")))?;
        // Taken before the commit: a settlement may pay out a model's last request.
        let release_models = self.release_models(operation);
        if let Expected::Applied(change) = expected {
            self.shadow.commit(change, self.now);
        }
        self.check_state(operation, &release_models)
    }

    /// The models whose release requests `operation` can change: the one asking, or
    /// for a settlement every model with a request waiting. (Comparing them one model
    /// at a time keeps each check on an index, whatever the length of the run.)
    fn release_models(&self, operation: &Operation) -> BTreeSet<ModelId> {
        match operation {
            Operation::ReleaseStake { model, .. } => BTreeSet::from([*model]),
            Operation::SettleRound { .. } => self
                .shadow
                .open_releases()
                .iter()
                .map(|request| request.model)
                .collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Balances, supply, and the records `operation` may have touched: its round, and
    /// the release requests of `release_models`.
    fn check_state(
        &self,
        operation: &Operation,
        release_models: &BTreeSet<ModelId>,
    ) -> Result<(), Stop> {
        let store = self.ledger.store();
        let mut result = check::balances(store, &self.shadow);
        let round = match operation {
            Operation::OpenRound { key, .. }
            | Operation::CloseRound { key, .. }
            | Operation::ScoreRound { key }
            | Operation::SettleRound { key, .. } => Some(*key),
            _ => None,
        };
        if let Some(key) = round {
            result = result.and_then(|()| check::round(store, &self.shadow, key));
        }
        for model in release_models {
            result = result.and_then(|()| check::releases(store, &self.shadow, Some(*model)));
        }
        result.map_err(|difference| self.violation(format!("after {operation}: {difference}")))
    }

    /// Fault (a): the process dies after a random number of the transaction's writes;
    /// nothing may remain of it, and after a restart the same call applies. A crash
    /// point past the transaction's last write comes too late and the call applies.
    fn crash_inside(&mut self, operation: &Operation, expected: Expected) -> Result<(), Stop> {
        let Expected::Applied(change) = &expected else {
            unreachable!("only calls that apply are interrupted")
        };
        let fail_after_writes = self.rng.random_range(0..=change.writes_at_most());
        let fault = Fault { fail_after_writes };
        self.ledger.store_mut().inject_fault(Some(fault));
        self.step += 1;
        let result = operation.send(&mut self.ledger, self.now);
        self.ledger.store_mut().inject_fault(None);
        if !Refusal::InjectedCrash.matches_result(&result) {
            return self.check(operation, expected, &result);
        }
        self.check(
            operation,
            Expected::Refused(Refusal::InjectedCrash),
            &result,
        )?;
        self.restart()?;
        self.send_and_check(operation, expected)?;
        self.counters.crashes_inside += 1;
        Ok(())
    }

    /// Fault (b): the call commits but its reply is lost; after a restart the retry
    /// must find it applied and change nothing.
    fn lose_reply(&mut self, operation: &Operation, expected: Expected) -> Result<(), Stop> {
        self.send_and_check(operation, expected)?;
        self.restart()?;
        self.send_and_check(operation, Expected::AlreadyApplied)?;
        self.counters.lost_replies += 1;
        Ok(())
    }

    /// A new process on the same file, as after a crash.
    fn restart(&mut self) -> Result<(), Stop> {
        let store = SqliteStore::open(&self.database).map_err(|error| {
            self.violation(format!("reopening the store after a crash failed: {error}"))
        })?;
        // The old connection, the process that died, goes away here.
        self.ledger = Ledger::new(store);
        Ok(())
    }

    /// Fault (d): a second process settles the same round at the same moment; exactly
    /// one of the two applies it and the other finds it applied.
    fn settle_concurrently(
        &mut self,
        operation: &Operation,
        expected: Expected,
    ) -> Result<(), Stop> {
        self.step += 1;
        let rival_store = SqliteStore::open(&self.database).map_err(|error| {
            self.violation(format!(
                "opening a second process on the store failed: {error}"
            ))
        })?;
        let mut rival = Ledger::new(rival_store);
        let Some((mine, theirs)) = race(operation, &mut self.ledger, &mut rival, self.now) else {
            return Err(self.violation(format!("{operation}: a settling process panicked")));
        };
        let one_applied = matches!(
            (&mine, &theirs),
            (Ok(Outcome::Applied), Ok(Outcome::AlreadyApplied))
                | (Ok(Outcome::AlreadyApplied), Ok(Outcome::Applied))
        );
        if !one_applied {
            return Err(self.violation(format!(
                "{operation} by two processes at once: expected one Applied and one \
                 AlreadyApplied, they answered {} and {}",
                describe_result(&mine),
                describe_result(&theirs)
            )));
        }
        self.counters.concurrent_settlements += 1;
        self.check(operation, expected, &Ok(Outcome::Applied))
    }

    fn remember(&mut self, operation: Operation) {
        if self.history.len() < HISTORY_MAX {
            self.history.push(operation);
        } else {
            let slot = self.rng.random_range(0..HISTORY_MAX);
            self.history[slot] = operation;
        }
    }

    /// Faults (c): an earlier request delivered again, late and out of order (and its
    /// transaction hash perhaps in upper case), must change nothing; its id with other
    /// arguments must be refused as a conflict.
    fn deliver_earlier_requests(&mut self) -> Result<(), Stop> {
        if !self.settings.faults || self.history.is_empty() {
            return Ok(());
        }
        if self.rng.random_range(0..100) < DUPLICATE_PERCENT {
            let earlier = &self.history[self.rng.random_range(0..self.history.len())];
            let earlier = if self.rng.random_range(0..2) == 0 {
                earlier.in_upper_case()
            } else {
                earlier.clone()
            };
            self.send_and_check(&earlier, Expected::AlreadyApplied)?;
            self.counters.duplicates += 1;
        }
        if self.rng.random_range(0..100) < CONFLICT_PERCENT {
            let earlier = &self.history[self.rng.random_range(0..self.history.len())];
            if let Some(conflicting) = earlier.conflicting() {
                // A second genesis is refused as such, whatever its arguments.
                let refusal = match conflicting {
                    Operation::Genesis { .. } => Refusal::GenesisDone,
                    _ => Refusal::Conflict,
                };
                self.send_and_check(&conflicting, Expected::Refused(refusal))?;
                self.counters.conflicts += 1;
            }
        }
        Ok(())
    }
}

/// Makes `operation` on two ledgers from two threads released at the same instant;
/// their answers, or `None` if a thread panicked.
fn race(
    operation: &Operation,
    first: &mut Ledger<SqliteStore>,
    second: &mut Ledger<SqliteStore>,
    now: Timestamp,
) -> Option<(Result<Outcome, LedgerError>, Result<Outcome, LedgerError>)> {
    let start = Barrier::new(2);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            start.wait();
            operation.send(first, now)
        });
        let second = scope.spawn(|| {
            start.wait();
            operation.send(second, now)
        });
        Some((first.join().ok()?, second.join().ok()?))
    })
}
