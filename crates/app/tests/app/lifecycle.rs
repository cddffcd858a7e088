//! Uploads, their states, and a round from opening to settlement.

use numerus_app::Error;
use numerus_app::pack::Pack;
use numerus_ledger::staking::RoundState;
use numerus_ledger::{RoundKey, Store, TournamentId, audit};
use numerus_tournament::keys::Scope;
use numerus_tournament::records::{Records, RoundPhase, SubmissionRecord, SubmissionState};

use crate::{
    FIRST, after, live_ids, market, predictions, run_to_resolution, schedule, scratch, service,
};

fn key(number: u32) -> RoundKey {
    RoundKey {
        tournament: TournamentId(8),
        number,
    }
}

fn blob_files(dir: &std::path::Path) -> usize {
    walk(&dir.join("blobs"))
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|entry| {
                let path = entry.unwrap().path();
                if path.is_dir() { walk(&path) } else { 1 }
            })
            .sum()
    })
}

#[test]
fn upload_before_the_round_is_published_is_refused() {
    let dir = scratch("refused_before_open");
    let mut service = service(&dir, 1);
    let open = schedule(FIRST).open;
    let error = service
        .upload(1, "p.csv", b"id,prediction\n", after(open, 1))
        .unwrap_err();
    assert!(
        matches!(error, Error::Refused(ref text) if text.contains("not open yet")),
        "{error}"
    );
    assert!(
        service
            .ledger()
            .store()
            .round_submissions(8, FIRST)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_later_valid_upload_supersedes_the_selected_one() {
    let dir = scratch("supersede");
    let mut service = service(&dir, 1);
    let open = schedule(FIRST).open;
    let report = service.tick(market(), after(open, 1)).unwrap();
    assert_eq!(report.opened, [FIRST]);
    let ids = live_ids(&service, FIRST);
    let first = service
        .upload(1, "a.csv", &predictions(&ids, 1), after(open, 2))
        .unwrap();
    assert_eq!(first.state, SubmissionState::Selected);
    assert!(!first.late);
    let second = service
        .upload(1, "b.csv", &predictions(&ids, 2), after(open, 3))
        .unwrap();
    assert_eq!(second.state, SubmissionState::Selected);
    let first = service
        .ledger()
        .store()
        .submission(first.id)
        .unwrap()
        .unwrap();
    assert_eq!(first.state, SubmissionState::Superseded);
}

#[test]
fn the_latest_upload_received_wins_when_checks_finish_out_of_order() {
    let dir = scratch("out-of-order");
    let mut service = service(&dir, 1);
    let open = schedule(FIRST).open;
    service.tick(market(), after(open, 1)).unwrap();
    let ids = live_ids(&service, FIRST);
    // A server checks uploads outside its lock: the later one may finish first.
    let earlier = service.begin_upload(1, "a.csv", after(open, 2)).unwrap();
    let later = service.begin_upload(1, "b.csv", after(open, 3)).unwrap();
    let checked_later = later.check(&predictions(&ids, 2));
    let later = service.finish_upload(later, checked_later).unwrap();
    let checked_earlier = earlier.check(&predictions(&ids, 1));
    let earlier = service.finish_upload(earlier, checked_earlier).unwrap();
    assert_eq!(later.state, SubmissionState::Selected);
    assert_eq!(earlier.state, SubmissionState::Superseded);
    let later = service
        .ledger()
        .store()
        .submission(later.id)
        .unwrap()
        .unwrap();
    assert_eq!(later.state, SubmissionState::Selected);
}

#[test]
fn a_restart_rejects_uploads_never_validated_and_removes_interrupted_writes() {
    let dir = scratch("recover");
    let mut service = service(&dir, 1);
    let open = schedule(FIRST).open;
    service.tick(market(), after(open, 1)).unwrap();
    let ids = live_ids(&service, FIRST);
    let taken = service
        .upload(1, "a.csv", &predictions(&ids, 1), after(open, 2))
        .unwrap();
    // The process dies between recording an upload and validating it, and mid-write.
    let interrupted = service.begin_upload(1, "b.csv", after(open, 3)).unwrap();
    let shard = dir.join("blobs").join("ab");
    std::fs::create_dir_all(&shard).unwrap();
    std::fs::write(shard.join(".abcdef.csv.partial"), b"half a fi").unwrap();
    drop(service);

    let mut service = crate::service_at(&dir);
    assert_eq!(service.recover().unwrap(), [interrupted.id]);
    let store = service.ledger().store();
    let record = store.submission(interrupted.id).unwrap().unwrap();
    assert_eq!(record.state, SubmissionState::Rejected);
    assert!(record.reason.unwrap().contains("upload it again"));
    assert_eq!(
        store.submission(taken.id).unwrap().unwrap().state,
        SubmissionState::Selected
    );
    assert!(!shard.join(".abcdef.csv.partial").exists());
    assert_eq!(service.recover().unwrap(), Vec::<u64>::new());
}

#[test]
fn an_invalid_upload_is_rejected_with_its_reason_and_its_bytes_are_not_kept() {
    let dir = scratch("invalid");
    let mut service = service(&dir, 1);
    let open = schedule(FIRST).open;
    service.tick(market(), after(open, 1)).unwrap();
    let ids = live_ids(&service, FIRST);
    let blobs_before = blob_files(&dir);
    let text: String = String::from_utf8(predictions(&ids, 1))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(line, row)| match line {
            4 => format!("{},nan\n", ids[3]),
            _ => format!("{row}\n"),
        })
        .collect();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("nan.csv", text.into_bytes(), "row 4"),
        (
            "columns.csv",
            b"id,pred\nn1,0.5\n".to_vec(),
            "the columns are",
        ),
        (
            "short.csv",
            predictions(&ids[..ids.len() - 1], 1),
            "live id",
        ),
        (
            "garbage.parquet",
            b"not parquet at all".to_vec(),
            "does not read",
        ),
    ];
    for (name, bytes, expected) in cases {
        let error = service.upload(1, name, &bytes, after(open, 2)).unwrap_err();
        let Error::Invalid {
            reason, submission, ..
        } = &error
        else {
            panic!("{name}: {error}");
        };
        assert!(reason.contains(expected), "{name}: {reason}");
        let record = service
            .ledger()
            .store()
            .submission(*submission)
            .unwrap()
            .unwrap();
        assert_eq!(record.state, SubmissionState::Rejected);
        assert_eq!(record.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(record.blob, None);
    }
    assert_eq!(
        blob_files(&dir),
        blobs_before,
        "a rejected upload stored bytes"
    );
    let error = service
        .upload(1, "p.txt", b"x", after(open, 2))
        .unwrap_err();
    assert!(
        error.to_string().contains("neither .csv nor .parquet"),
        "{error}"
    );
}

#[test]
fn a_late_upload_is_scored_but_not_staked() {
    let dir = scratch("late");
    let mut service = service(&dir, 3);
    let round = schedule(FIRST);
    service.tick(market(), after(round.open, 1)).unwrap();
    let ids = live_ids(&service, FIRST);
    service
        .upload(1, "a.csv", &predictions(&ids, 1), after(round.open, 2))
        .unwrap();
    service
        .upload(2, "b.csv", &predictions(&ids, 2), after(round.open, 3))
        .unwrap();
    service.tick(market(), after(round.close, 1)).unwrap();
    let late = service
        .upload(3, "c.csv", &predictions(&ids, 3), after(round.close, 5))
        .unwrap();
    assert!(late.late);
    assert_eq!(late.state, SubmissionState::Selected);
    // A model that was on time cannot replace its selection after the close.
    let error = service
        .upload(1, "again.csv", &predictions(&ids, 4), after(round.close, 6))
        .unwrap_err();
    assert!(
        error.to_string().contains("on-time submission selected"),
        "{error}"
    );

    service
        .tick(market(), after(round.score_time(), 1))
        .unwrap();
    let stakes = service.ledger().store().round_stakes(key(FIRST)).unwrap();
    let at_risk = |model: u64| stakes.iter().find(|s| s.model.0 == model).unwrap().at_risk;
    assert!(!at_risk(1).is_zero());
    assert!(at_risk(3).is_zero());
    let record = service
        .ledger()
        .store()
        .round_record(8, FIRST)
        .unwrap()
        .unwrap();
    let pack =
        Pack::from_bytes(&service.blobs().read(&record.blobs["predictions"]).unwrap()).unwrap();
    let entry = pack.entries.iter().find(|entry| entry.model == 3).unwrap();
    assert!(entry.late);
    assert_eq!(entry.at_risk, "0");
    let scores = service.ledger().store().round_scores(8, FIRST).unwrap();
    let day_one: Vec<_> = scores.iter().filter(|score| score.day == 1).collect();
    assert_eq!(day_one.len(), 3, "the late submission is scored");
    // The meta model is the two staked submissions' only: the late one moves nothing.
    let stakes_only = Pack {
        entries: pack.entries.iter().filter(|e| !e.late).cloned().collect(),
        codes: pack
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.late)
            .flat_map(|(column, _)| pack.column(column).to_vec())
            .collect(),
        ids: pack.ids.clone(),
    };
    assert_eq!(pack.meta_model(), stakes_only.meta_model());
}

#[test]
fn uploads_stop_when_the_round_is_scored() {
    let dir = scratch("frozen");
    let mut service = service(&dir, 1);
    let round = schedule(FIRST);
    service.tick(market(), after(round.open, 1)).unwrap();
    let ids = live_ids(&service, FIRST);
    service
        .tick(market(), after(round.score_time(), 1))
        .unwrap();
    // The calendar's current round is a later one by then; it has not been opened by a tick.
    let error = service
        .upload(
            1,
            "a.csv",
            &predictions(&ids, 1),
            after(round.score_time(), 2),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Refused(_)), "{error}");
}

#[test]
fn the_reaper_rejects_an_upload_left_unvalidated() {
    let dir = scratch("reaper");
    let mut service = service(&dir, 1);
    let open = schedule(FIRST).open;
    service.tick(market(), after(open, 1)).unwrap();
    // As if the process died between recording an upload and validating it.
    let stuck = SubmissionRecord {
        id: 0,
        model: 1,
        tournament: 8,
        round: FIRST,
        filename: "stuck.csv".into(),
        blob: None,
        ranks: None,
        received_at: after(open, 2),
        deadline: after(open, 12),
        state: SubmissionState::Received,
        late: false,
        reason: None,
    };
    let id = service
        .ledger_mut()
        .store_mut()
        .insert_submission(&stuck)
        .unwrap();
    assert!(
        service
            .tick(market(), after(open, 11))
            .unwrap()
            .reaped
            .is_empty()
    );
    assert_eq!(
        service.tick(market(), after(open, 12)).unwrap().reaped,
        [id]
    );
    let record = service.ledger().store().submission(id).unwrap().unwrap();
    assert_eq!(record.state, SubmissionState::Rejected);
    assert!(record.reason.unwrap().contains("upload it again"));
}

#[test]
fn a_round_resolves_settles_and_leaves_every_submission_final() {
    let dir = scratch("resolve");
    let mut service = service(&dir, 4);
    let round = schedule(FIRST);
    service.tick(market(), after(round.open, 1)).unwrap();
    let ids = live_ids(&service, FIRST);
    for model in 1..=3 {
        service
            .upload(
                model,
                "p.csv",
                &predictions(&ids, model),
                after(round.open, 2),
            )
            .unwrap();
    }
    let _ = service.upload(4, "bad.csv", b"id,prediction\n", after(round.open, 3));
    service.tick(market(), after(round.close, 1)).unwrap();
    assert_eq!(
        service
            .ledger()
            .store()
            .round_record(8, FIRST)
            .unwrap()
            .unwrap()
            .phase,
        RoundPhase::Closed
    );
    run_to_resolution(&mut service, FIRST);
    let record = service
        .ledger()
        .store()
        .round_record(8, FIRST)
        .unwrap()
        .unwrap();
    assert_eq!(record.phase, RoundPhase::Resolved);
    assert_eq!(record.scored_days, 20);
    let states: Vec<_> = service
        .ledger()
        .store()
        .round_submissions(8, FIRST)
        .unwrap()
        .into_iter()
        .map(|s| (s.model, s.state))
        .collect();
    assert_eq!(
        states,
        [
            (1, SubmissionState::Resolved),
            (2, SubmissionState::Resolved),
            (3, SubmissionState::Resolved),
            (4, SubmissionState::Rejected)
        ]
    );
    let ledger_round = service.ledger().store().round(key(FIRST)).unwrap().unwrap();
    assert!(matches!(ledger_round.state, RoundState::Settled { .. }));
    let stakes = service.ledger().store().round_stakes(key(FIRST)).unwrap();
    assert!(
        stakes
            .iter()
            .filter(|s| !s.at_risk.is_zero())
            .all(|s| s.settlement.is_some())
    );
    let missing = stakes.iter().find(|s| s.model.0 == 4).unwrap();
    assert!(
        missing.at_risk.is_zero(),
        "no valid upload, nothing at risk"
    );
    let audit = audit::audit(service.ledger().store()).unwrap();
    assert!(audit.problems.is_empty(), "{:?}", audit.problems);
    // Every day's scores are stored, and day 0 holds the return-independent ones.
    let scores = service.ledger().store().round_scores(8, FIRST).unwrap();
    assert_eq!(scores.len(), 21 * 3);
    assert!(
        scores
            .iter()
            .filter(|s| s.day == 0)
            .all(|s| s.values.contains_key("apcwnm"))
    );
    assert!(
        scores
            .iter()
            .filter(|s| s.day > 0)
            .all(|s| s.values["corr"].is_some())
    );
    // The round as numerapi reads it.
    let view = service
        .round_view(FIRST, after(round.resolve_time(), 2))
        .unwrap()
        .unwrap();
    assert!(view.resolved_general && view.resolved_staking);
    assert_eq!(view.status, "RESOLVED");
    assert_eq!(
        view.payout_factor.as_deref(),
        Some("1"),
        "300 NMR at risk is under the threshold"
    );
    assert_eq!(view.data_datestamp, 20260105);
    let json = serde_json::to_value(&view).unwrap();
    assert!(json.get("closeStakingTime").is_some() && json.get("resolvedStaking").is_some());
    // Leaderboards rank the three scored models, the one without scores last.
    let board = service
        .model_leaderboard("corr", after(round.resolve_time(), 1))
        .unwrap();
    assert_eq!(board.len(), 4);
    assert_eq!(board[3].row.name, "model3");
    assert!(board[3].row.score.is_none());
}

#[test]
fn the_fund_holds_a_portfolio_per_round_and_scores_tc_at_resolution() {
    let dir = scratch("fund");
    let mut definition = numerus_app::Definition::classic();
    definition.fund = Some(numerus_app::fund::FundConfig {
        factors: 3,
        constraints: numerus_optimizer::Constraints {
            gross: 1.0,
            net: 0.0,
            net_tolerance: 0.05,
            position_cap: 0.2,
            factor_tolerance: 0.1,
            group_tolerance: 0.0,
            risk_aversion: 10.0,
        },
    });
    let mut service = crate::service_with(&dir, 3, definition);
    let round = schedule(FIRST);
    service.tick(market(), after(round.open, 1)).unwrap();
    let ids = live_ids(&service, FIRST);
    for model in 1..=3 {
        service
            .upload(
                model,
                "p.csv",
                &predictions(&ids, model),
                after(round.open, 2),
            )
            .unwrap();
    }
    service.tick(market(), after(round.close, 1)).unwrap();
    run_to_resolution(&mut service, FIRST);
    let report = service.fund_report().unwrap();
    assert_eq!(report.rounds.len(), 1);
    let fund = &report.rounds[0];
    assert_eq!(fund.solve.status, "solved");
    assert!((fund.solve.gross - 1.0).abs() < 1e-6 || fund.solve.gross < 1.0);
    assert_eq!(fund.returns.len(), 20);
    assert!(fund.resolved && report.resolved == 1);
    let finals = service.final_scores().unwrap();
    let staked: Vec<_> = finals.iter().filter(|f| f.at_risk > 0).collect();
    assert_eq!(staked.len(), 3);
    // Every staked model has a TC, and stake-weighted they cancel: Σ σ_k (g_k − s) = 0.
    let weighted: f64 = staked
        .iter()
        .map(|f| f.at_risk as f64 * f.scores["tc"])
        .sum();
    let total: f64 = staked.iter().map(|f| f.at_risk as f64).sum();
    assert!((weighted / total).abs() < 1e-9, "{weighted}");
    assert!(staked.iter().any(|f| f.scores["tc"].abs() > 1e-9));
}

#[test]
fn an_api_key_authenticates_with_its_own_secret_only() {
    let dir = scratch("keys");
    let mut service = service(&dir, 0);
    let (id, key) = service
        .create_account("alice", &[9u8; 64], schedule(FIRST).open)
        .unwrap();
    assert_eq!(
        service
            .authenticate(&key.header(), Scope::UploadSubmission)
            .unwrap(),
        id
    );
    let forged = format!("Token {}${}", key.public_id, "A".repeat(32));
    assert!(service.authenticate(&forged, Scope::Stake).is_err());
    let taken = service.create_account("alice", &[8u8; 64], schedule(FIRST).open);
    assert!(taken.unwrap_err().to_string().contains("taken"));
}

#[test]
fn participants_change_only_their_own_stakes_and_retries_apply_once() {
    use numerus_app::stakes::StakeChange;
    use numerus_ledger::{AccountId, LedgerView, ModelId, Nmr, Outcome};

    let dir = scratch("stakes");
    let mut service = service(&dir, 2);
    let now = schedule(FIRST).open;
    let stake = |service: &numerus_app::Service<numerus_store_sqlite::SqliteStore>| {
        service
            .ledger()
            .store()
            .balance(AccountId::Stake(ModelId(1)))
            .unwrap()
            .unwrap()
            .posted()
    };
    assert_eq!(stake(&service), Nmr::from_whole(100));
    let ten = StakeChange::Increase(Nmr::from_whole(10));
    assert_eq!(
        service.change_stake(1, 1, ten, "a", now).unwrap(),
        Outcome::Applied
    );
    assert_eq!(
        service.change_stake(1, 1, ten, "a", now).unwrap(),
        Outcome::AlreadyApplied
    );
    assert_eq!(stake(&service), Nmr::from_whole(110));
    // Account 2 cannot touch model 1.
    let error = service.change_stake(2, 1, ten, "b", now).unwrap_err();
    assert!(
        error.to_string().contains("not one of your models"),
        "{error}"
    );
    let error = service
        .change_stake(
            1,
            1,
            StakeChange::Increase(Nmr::from_whole(5_000)),
            "c",
            now,
        )
        .unwrap_err();
    assert!(error.to_string().contains("deposit more"), "{error}");
    let error = service
        .change_stake(1, 1, StakeChange::Decrease(Nmr::from_whole(500)), "d", now)
        .unwrap_err();
    assert!(error.to_string().contains("or drain it"), "{error}");
    // No round at risk: a decrease and a drain reach the wallet at once.
    service
        .change_stake(1, 1, StakeChange::Decrease(Nmr::from_whole(30)), "e", now)
        .unwrap();
    assert_eq!(stake(&service), Nmr::from_whole(80));
    service
        .change_stake(1, 1, StakeChange::Drain, "f", now)
        .unwrap();
    assert_eq!(stake(&service), Nmr::ZERO);
    let wallet = service
        .ledger()
        .store()
        .balance(AccountId::Wallet(numerus_ledger::UserId(1)))
        .unwrap()
        .unwrap()
        .posted();
    assert_eq!(wallet, Nmr::from_whole(1_000));
}
