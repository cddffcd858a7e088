//! A job killed at any point — inside a transaction or between two — resumes to the same
//! scores, settlement and balances as a run that was never interrupted.

use std::collections::BTreeMap;

use numerus_ledger::Store;
use numerus_store_sqlite::{Fault, SqliteStore};
use numerus_tournament::records::Records;

use crate::{FIRST, after, live_ids, market, predictions, schedule, scratch, service};

/// Runs two rounds from opening to resolution; before every tick, with `crashes`, first runs
/// the tick with a fault in each of its first transactions at several write counts.
fn run(name: &str, crashes: bool) -> (String, String, usize) {
    let dir = scratch(name);
    let mut service = service(&dir, 3);
    let mut times = Vec::new();
    for number in [FIRST, FIRST + 1] {
        let round = schedule(number);
        times.push((after(round.open, 1), Some(number)));
        times.push((after(round.close, 1), None));
        times.extend(round.scores.iter().map(|&time| (after(time, 1), None)));
    }
    times.sort();
    let mut failures = 0;
    for (now, opens) in times {
        if crashes {
            for skip in 0..3 {
                for writes in [0, 1, 3] {
                    service.ledger_mut().store_mut().inject_fault_after(
                        skip,
                        Fault {
                            fail_after_writes: writes,
                        },
                    );
                    failures += usize::from(service.tick(market(), now).is_err());
                    service.ledger_mut().store_mut().inject_fault(None);
                }
            }
        }
        service.tick(market(), now).unwrap();
        if let Some(number) = opens {
            {
                let ids = live_ids(&service, number);
                for model in 1..=3u64 {
                    let seed = model + u64::from(number);
                    service
                        .upload(model, "p.csv", &predictions(&ids, seed), after(now, 1))
                        .unwrap();
                }
            }
        }
    }
    let store: &SqliteStore = service.ledger().store();
    let mut scores = BTreeMap::new();
    for number in [FIRST, FIRST + 1] {
        scores.insert(number, store.round_scores(8, number).unwrap());
        assert_eq!(
            store.round_record(8, number).unwrap().unwrap().scored_days,
            20
        );
    }
    (
        format!("{scores:?}"),
        format!("{:?}", store.balances().unwrap()),
        failures,
    )
}

#[test]
fn jobs_killed_at_any_point_resume_to_identical_results() {
    let (clean_scores, clean_balances, _) = run("recovery_clean", false);
    let (scores, balances, failures) = run("recovery_crashes", true);
    assert!(
        failures > 100,
        "only {failures} injected crashes hit a transaction"
    );
    assert_eq!(scores, clean_scores);
    assert_eq!(balances, clean_balances);
}
