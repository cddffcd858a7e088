//! `numerus sim tournament`: the real tournament service on a simulated clock over a
//! synthetic market, with seeded participants who train simple models, upload (some late,
//! some invalid, some twice), stake and release; then every resolved round is checked.
//!
//! Layout of `--data-dir DIR` after a run (inspect it with `numerus ledger --data-dir DIR`
//! and `numerus round --data-dir DIR`):
//!
//! ```text
//! DIR/numerus.sqlite          ledger, accounts, rounds, submissions, scores, jobs
//! DIR/blobs/                  live files, uploads, targets, packs, meta models (by SHA-256)
//! DIR/market/panel.parquet    the whole synthetic market (the service reads it day by day)
//! DIR/market/history.parquet  the market before the first round ...
//! DIR/data/v1/                ... and the dataset built from it, which participants train on
//! ```

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail, ensure};
use jiff::{SignedDuration, Timestamp};
use numerus_app::market::{DatasetMarket, SyntheticSpec, synthetic};
use numerus_app::pack::Pack;
use numerus_app::stakes::StakeChange;
use numerus_app::standings::PAYOUT;
use numerus_app::tables;
use numerus_app::{Definition, Service};
use numerus_frames::{ReadOptions, read_table};
use numerus_ledger::staking::RoundStake;
use numerus_ledger::{
    AccountId, LedgerView, ModelId, Nmr, RoundKey, Store, TournamentId, UserId, audit,
};
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::records::{Records, RoundPhase, SubmissionState};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::participants::{Family, Training, csv, percentile_ranks, predict};
use crate::terminal::progress_bar;

/// Business days of market history before the first simulated round (features look back 271
/// days; the rest become training eras).
const WARMUP_DAYS: usize = 620;
/// Market days after the last simulated day, so every round opened in the run resolves.
const TAIL_DAYS: usize = 26;

/// Flags of `numerus sim tournament`.
#[derive(Debug, clap::Args)]
pub struct TournamentSimArgs {
    /// Seed of the market, the participants and everything they do.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Business days to simulate (rounds open on each opening day; those opened in the run
    /// are followed until they resolve).
    #[arg(long, default_value_t = 60)]
    days: usize,
    /// Participant accounts (each with one to three models).
    #[arg(long, default_value_t = 12)]
    participants: usize,
    /// Stocks in the synthetic market.
    #[arg(long, default_value_t = 300)]
    stocks: usize,
    /// Engineered features in the dataset.
    #[arg(long, default_value_t = 40)]
    features: usize,
    /// Where to keep the run (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
}

struct SimModel {
    id: u64,
    name: String,
    weights: Vec<f64>,
    family: Family,
}

/// Runs the simulation; exit 0 when every check held, 1 on a violation, 2 on a setup error.
pub fn run(args: &TournamentSimArgs) -> ExitCode {
    match simulate(args) {
        Ok(problems) if problems.is_empty() => ExitCode::SUCCESS,
        Ok(problems) => {
            for problem in problems.iter().take(20) {
                eprintln!("violation: {problem}");
            }
            eprintln!(
                "{} violation(s) with --seed {}; rerun with the same seed to reproduce",
                problems.len(),
                args.seed
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn simulate(args: &TournamentSimArgs) -> anyhow::Result<Vec<String>> {
    ensure!(args.days >= 1, "--days must be at least 1");
    ensure!(
        (1..=500).contains(&args.participants),
        "--participants must be between 1 and 500"
    );
    let dir = &args.data_dir;
    if dir.exists() && fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty; give a new directory (the run leaves its data there)",
            dir.display()
        );
    }
    fs::create_dir_all(dir.join("market"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let definition = Definition::classic();

    // The market: history before the first round (the training data), then the simulated
    // days and a tail so every round opened in the run resolves.
    let first_open = definition.calendar.anchor.number;
    let first_data_date = numerus_tournament::calendar::Calendar::new(definition.calendar.clone())?
        .round(first_open)?
        .data_date;
    eprintln!("synthesizing the market and building the dataset participants train on");
    let (market, version) = synthetic(
        dir,
        &SyntheticSpec {
            stocks: args.stocks,
            features: args.features,
            seed: args.seed,
            history_days: WARMUP_DAYS,
            extra_days: args.days + TAIL_DAYS + 4,
            first_data_date,
        },
    )?;

    // The service and its participants.
    let store = SqliteStore::open(&dir.join("numerus.sqlite"))?;
    let mut service = Service::new(definition, store, dir)?;
    let t0 = service.calendar().round(first_open)?.open - SignedDuration::from_hours(24);
    service
        .ledger_mut()
        .genesis(Nmr::from_whole(3_000_000), Nmr::from_whole(8_000_000), t0)?;
    let models = enroll(&mut service, args, &version, &mut rng, t0)?;

    // The clock: every opening, close and daily score of the rounds opened in the run.
    let last_open_number = first_open + u32::try_from(args.days)? - 1;
    let mut events = Vec::new();
    for number in first_open..=last_open_number {
        let schedule = service.calendar().round(number)?;
        events.push((
            schedule.open + SignedDuration::from_mins(1),
            number,
            Event::Open,
        ));
        events.push((
            schedule.close + SignedDuration::from_mins(1),
            number,
            Event::Close,
        ));
        for &time in &schedule.scores {
            events.push((time + SignedDuration::from_mins(1), number, Event::Tick));
        }
    }
    events.sort_by_key(|event| (event.0, event.1, event.2));
    events.dedup_by_key(|event| event.0);
    let bar = progress_bar(
        events.len() as u64,
        "simulating {bar:40} {pos}/{len} events {elapsed} (eta {eta})",
    );
    let mut counts = Counts::default();
    for &(now, _, event) in &events {
        let report = service.tick(&market, now)?;
        counts.opened += report.opened.len();
        counts.resolved += report.resolved.len();
        for number in &report.opened {
            behave(
                &mut service,
                &models,
                *number,
                now,
                &mut rng,
                &mut counts,
                false,
            )?;
        }
        if event == Event::Close {
            let current = service.calendar().current(now)?.map(|round| round.number);
            if let Some(number) = current {
                behave(
                    &mut service,
                    &models,
                    number,
                    now,
                    &mut rng,
                    &mut counts,
                    true,
                )?;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let problems = check(&service, &market)?;
    let end = events.last().map_or(t0, |event| event.0);
    print_summary(&service, &models, &counts, end)?;
    Ok(problems)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Open,
    Close,
    Tick,
}

#[derive(Debug, Default)]
struct Counts {
    opened: usize,
    resolved: usize,
    accepted: usize,
    rejected: usize,
    late: usize,
    reuploads: usize,
    stake_changes: usize,
    refused_late: usize,
}

/// Creates the accounts and models, funds the wallets and stakes, and trains each model on the
/// training file.
fn enroll(
    service: &mut Service<SqliteStore>,
    args: &TournamentSimArgs,
    version: &Path,
    rng: &mut ChaCha8Rng,
    now: Timestamp,
) -> anyhow::Result<Vec<SimModel>> {
    let train = read_table(
        &version.join("train.parquet"),
        &ReadOptions {
            text_columns: &["id", "era", "data_type"],
            select: None,
        },
    )?;
    let training = Training::of(&train)?;

    let mut models = Vec::new();
    for participant in 0..args.participants {
        let account = format!("participant_{participant:03}");
        let mut random = [0u8; 64];
        rng.fill(&mut random[..]);
        let (account_id, _) = service.create_account(&account, &random, now)?;
        let deposit = Nmr::from_whole(rng.random_range(50..2_000));
        let tx = format!(
            "0x{:064x}",
            u128::from(account_id as u32) << 64 | u128::from(args.seed as u32)
        );
        service
            .ledger_mut()
            .deposit(UserId(account_id), deposit, &tx, now)?;
        for index in 0..rng.random_range(1..=3usize) {
            let name = format!("{account}_m{index}");
            let id = service.create_model(&account, &name, now)?;
            let family = Family::draw(rng);
            let weights = training.weights(family, rng);
            if rng.random_range(0..4) > 0 {
                let stake = deposit.base_units() / 4;
                service.ledger_mut().increase_stake(
                    &format!("initial/{id}"),
                    ModelId(id),
                    Nmr::from_base_units(stake),
                    now,
                )?;
            }
            models.push(SimModel {
                id,
                name,
                weights,
                family,
            });
        }
    }
    Ok(models)
}

/// What the participants do in round `number` at `now`: on time after it opens, late (some
/// of them) after it closes; some uploads are invalid, some are second uploads; stakes move.
fn behave(
    service: &mut Service<SqliteStore>,
    models: &[SimModel],
    number: u32,
    now: Timestamp,
    rng: &mut ChaCha8Rng,
    counts: &mut Counts,
    after_close: bool,
) -> anyhow::Result<()> {
    let Some(round) = service.ledger().store().round_record(8, number)? else {
        return Ok(());
    };
    let live = read_table(
        &service.blobs().path(&round.blobs["live"]),
        &ReadOptions {
            text_columns: &["id", "era", "data_type"],
            select: None,
        },
    )?;
    let ids = live
        .column("id")
        .and_then(|column| column.values.as_text())
        .context("the live file has no ids")?
        .to_vec();
    let features: Vec<&[f64]> = live.numbers_with_prefix("feature_");
    for (index, model) in models.iter().enumerate() {
        let roll = rng.random_range(0..100);
        let upload = if after_close { roll < 6 } else { roll < 85 };
        if !upload {
            continue;
        }
        let at = now + SignedDuration::from_secs(10 + index as i64);
        let noise = rng.random_range(0.0..0.3);
        let mut values = predict(&model.weights, &features, noise, rng);
        percentile_ranks(&mut values);
        let invalid = !after_close && rng.random_range(0..100) < 5;
        let bytes = csv(
            &ids,
            &values,
            if invalid { rng.random_range(0..3) } else { 3 },
        );
        match service.upload(model.id, &format!("{}.csv", model.name), &bytes, at) {
            Ok(record) => {
                counts.accepted += 1;
                counts.late += usize::from(record.late);
            }
            Err(numerus_app::Error::Invalid { .. }) => counts.rejected += 1,
            Err(numerus_app::Error::Refused(_)) if after_close => counts.refused_late += 1,
            Err(error) => return Err(error.into()),
        }
        if !after_close && !invalid && rng.random_range(0..100) < 8 {
            // A second, corrected upload: it supersedes the first.
            percentile_ranks(&mut values);
            let again = csv(&ids, &values, 3);
            service.upload(
                model.id,
                &format!("{}_v2.csv", model.name),
                &again,
                at + SignedDuration::from_secs(600),
            )?;
            counts.reuploads += 1;
            counts.accepted += 1;
        }
        if !after_close && rng.random_range(0..100) < 4 {
            stake_change(service, model, at, rng)?;
            counts.stake_changes += 1;
        }
    }
    Ok(())
}

fn stake_change(
    service: &mut Service<SqliteStore>,
    model: &SimModel,
    at: Timestamp,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<()> {
    let store = service.ledger().store();
    let balance = |account| -> anyhow::Result<Nmr> {
        Ok(store
            .balance(account)?
            .map(|balance| balance.posted())
            .unwrap_or_default())
    };
    let owner = store.model(ModelId(model.id))?.context("model")?.user;
    let stake = balance(AccountId::Stake(ModelId(model.id)))?;
    let wallet = balance(AccountId::Wallet(owner))?;
    let change = if stake.is_zero() || rng.random_range(0..2) == 0 {
        StakeChange::Increase(Nmr::from_base_units(wallet.base_units() / 5))
    } else {
        StakeChange::Decrease(Nmr::from_base_units(stake.base_units() / 3))
    };
    let request = format!("sim/{}/{}", model.id, at.as_second());
    match service.change_stake(owner.0, model.id, change, &request, at) {
        Ok(_) | Err(numerus_app::Error::Refused(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Checks every resolved round: scores against an independent recomputation from the raw
/// uploads, payouts against the formula, submission states, and the ledger's audit.
fn check(service: &Service<SqliteStore>, market: &DatasetMarket) -> anyhow::Result<Vec<String>> {
    let _ = market;
    let mut problems = Vec::new();
    let store = service.ledger().store();
    let definition = service.definition();
    for round in store.round_records(definition.id, false)? {
        for submission in store.round_submissions(definition.id, round.number)? {
            if submission.state == SubmissionState::Received {
                problems.push(format!(
                    "round {}: submission {} still received",
                    round.number, submission.id
                ));
            }
            if round.phase == RoundPhase::Resolved
                && !matches!(
                    submission.state,
                    SubmissionState::Resolved
                        | SubmissionState::Superseded
                        | SubmissionState::Rejected
                )
            {
                problems.push(format!(
                    "round {}: submission {} is {} after resolution",
                    round.number,
                    submission.id,
                    submission.state.name()
                ));
            }
        }
        if round.phase != RoundPhase::Resolved {
            continue;
        }
        problems.extend(check_scores(service, &round)?);
        problems.extend(check_payouts(service, &round)?);
    }
    let report = audit::audit(store)?;
    problems.extend(
        report
            .problems
            .into_iter()
            .map(|problem| format!("ledger audit: {problem}")),
    );
    Ok(problems)
}

/// CORR and MMC of every scored submission on every day, recomputed one submission at a time
/// from its uploaded file (not the pack), must equal the stored scores.
fn check_scores(
    service: &Service<SqliteStore>,
    round: &numerus_tournament::records::RoundRecord,
) -> anyhow::Result<Vec<String>> {
    use numerus_scoring::metrics;
    let mut problems = Vec::new();
    let blobs = service.blobs();
    let pack = Pack::from_bytes(&blobs.read(&round.blobs["predictions"])?)?;
    let meta = round
        .blobs
        .get("meta_model")
        .map(|id| tables::aligned_column(blobs, id, "numerai_meta_model", &pack.ids))
        .transpose()?;
    let scores = service.ledger().store().round_scores(8, round.number)?;
    let mut uploads: HashMap<u64, Vec<f64>> = HashMap::new();
    for entry in &pack.entries {
        let submission = service
            .ledger()
            .store()
            .submission(entry.submission)?
            .context("submission")?;
        let blob = submission.blob.as_deref().context("blob")?;
        uploads.insert(
            entry.submission,
            tables::aligned_column(blobs, blob, "prediction", &pack.ids)?,
        );
    }
    for day in 1..=round.scored_days {
        let target = tables::day_target(
            blobs,
            &round.blobs[&format!("targets/{day:02}")],
            "target",
            round.data_date,
            day,
            &pack.ids,
        )?;
        for stored in scores.iter().filter(|score| score.day == day) {
            let predictions = &uploads[&stored.submission];
            let mut expected = vec![("corr", metrics::numerai_corr(predictions, &target).ok())];
            if let Some(meta) = &meta {
                expected.push(("mmc", metrics::mmc(predictions, meta, &target).ok()));
            }
            for (name, value) in expected {
                let got = stored.values.get(name).copied().flatten();
                let same = match (got, value) {
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-12,
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    problems.push(format!(
                        "round {} day {day} model {}: stored {name} {got:?}, recomputed {value:?}",
                        round.number, stored.model
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// Each settlement against `at_risk · clip(pf · Σ m·s, ±c)`, recomputed in big integers from
/// the stored decimals.
fn check_payouts(
    service: &Service<SqliteStore>,
    round: &numerus_tournament::records::RoundRecord,
) -> anyhow::Result<Vec<String>> {
    use num_bigint::BigInt;
    let mut problems = Vec::new();
    let key = RoundKey {
        tournament: TournamentId(8),
        number: round.number,
    };
    let store = service.ledger().store();
    let stake_round = store.round(key)?.context("ledger round")?;
    let numerus_ledger::staking::RoundState::Settled { payout_factor, .. } = stake_round.state
    else {
        problems.push(format!(
            "round {} resolved but not settled in the ledger",
            round.number
        ));
        return Ok(problems);
    };
    let scores = service.payout_scores(round)?;
    let unit = BigInt::from(10u64).pow(18);
    let big = |rate: numerus_ledger::Rate| BigInt::from(rate.units());
    for RoundStake {
        model,
        at_risk,
        settlement,
        ..
    } in store.round_stakes(key)?
    {
        if at_risk.is_zero() {
            continue;
        }
        let Some(settlement) = settlement else {
            problems.push(format!(
                "round {}: model {} at risk but not settled",
                round.number, model.0
            ));
            continue;
        };
        let mut sum = BigInt::from(0);
        for (name, multiplier) in &stake_round.config.multipliers {
            sum += big(*multiplier) * big(scores[&model][name]);
        }
        // pf · Σ m·s carries 54 decimals; toward zero to 18, then clip.
        let exact = big(payout_factor) * sum;
        let scale = &unit * &unit;
        let mut rate = &exact / &scale; // BigInt division truncates toward zero
        let clip = big(stake_round.config.clip);
        if rate > clip {
            rate = clip.clone();
        }
        if rate < -&clip {
            rate = -clip;
        }
        if rate != big(settlement.rate) {
            problems.push(format!(
                "round {} model {}: rate {} but the formula gives {rate}",
                round.number,
                model.0,
                settlement.rate.units()
            ));
        }
        let amount = BigInt::from(at_risk.base_units()) * &rate / &unit;
        let net = BigInt::from(settlement.paid.base_units())
            - BigInt::from(settlement.burned_from_stake.base_units())
            - BigInt::from(settlement.burned_from_pending.base_units());
        let earning = BigInt::from(settlement.earning_at_risk.base_units()) * &rate / &unit;
        let ok = if rate >= BigInt::from(0) {
            net == earning
        } else {
            net >= amount && net <= BigInt::from(0)
        };
        if !ok {
            problems.push(format!(
                "round {} model {}: net {net} but the formula gives {amount}",
                round.number, model.0
            ));
        }
    }
    Ok(problems)
}

fn print_summary(
    service: &Service<SqliteStore>,
    models: &[SimModel],
    counts: &Counts,
    now: Timestamp,
) -> anyhow::Result<()> {
    let store = service.ledger().store();
    let mut paid = 0u128;
    let mut burned = 0u128;
    for round in store.round_records(8, false)? {
        let key = RoundKey {
            tournament: TournamentId(8),
            number: round.number,
        };
        for stake in store.round_stakes(key)? {
            if let Some(settlement) = stake.settlement {
                paid += settlement.paid.base_units();
                burned += settlement.burned_from_stake.base_units()
                    + settlement.burned_from_pending.base_units();
            }
        }
    }
    println!(
        "rounds opened {}, resolved {}; uploads accepted {} ({} late, {} re-uploads), rejected {} invalid, refused {} late; stake changes {}",
        counts.opened,
        counts.resolved,
        counts.accepted,
        counts.late,
        counts.reuploads,
        counts.rejected,
        counts.refused_late,
        counts.stake_changes
    );
    println!(
        "paid {} NMR, burned {} NMR",
        Nmr::from_base_units(paid),
        Nmr::from_base_units(burned)
    );
    let family: HashMap<u64, Family> = models
        .iter()
        .map(|model| (model.id, model.family))
        .collect();
    println!("leaderboard (1-year reputation of the payout score, 0.75·CORR + 2.25·MMC):");
    for ranked in service.model_leaderboard(PAYOUT, now)?.iter().take(5) {
        println!(
            "  {}. {:<28} {:>9.5}  {:?}",
            ranked.rank,
            ranked.row.name,
            ranked.row.score.unwrap_or(f64::NAN),
            family[&ranked.row.id],
        );
    }
    Ok(())
}
