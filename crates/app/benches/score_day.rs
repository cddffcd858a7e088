//! One day's scoring of the tournament service, end to end (issue 6): `rounds` rounds in
//! their scoring period, each with a frozen pack of `models` submissions over `rows` live
//! ids, scored by one [`Service::tick`] that computes every round's next daily score (CORR,
//! MMC, BMC, FNC over `features` features) and saves one row per (round, model) in SQLite.
//!
//! ```sh
//! cargo bench -p numerus-app --bench score_day                                  # 25 x 10,000 x 6,700
//! cargo bench -p numerus-app --bench score_day -- rounds=3 models=500           # a quick one
//! NUMERUS_BENCH_ROUNDS=3 NUMERUS_BENCH_MODELS=500 cargo bench -p numerus-app --bench score_day
//! ```
//!
//! Settings, as `name=value` arguments or `NUMERUS_BENCH_<NAME>` variables: `rounds` (25),
//! `models` (10000), `rows` (6700), `features` (40), `seed` (1), `service_models` (how many
//! models are created one by one through `Service::create_model`; the rest in one ledger
//! batch; default all), `per_round_submissions` (1: one submission record per model and
//! round; 0: one per model, in the first round, referenced by every round's pack; the
//! tick never reads them), `breakdown_rounds` (rounds timed step by step after the tick), `dir`
//! (where the temporary data directory goes; the system's temp dir).
//!
//! Setup (not timed): a data directory with the SQLite store, one account with the models,
//! and for each round its live file, benchmark, pack of seeded random predictions (some
//! staked), meta model, round record (phase `scoring`, every due score but the last done)
//! and one selected submission per model. The Classic calendar has at most 18 rounds whose
//! second or later daily score is due at once (20 scoring days after a 2-day lag, one
//! round per market day); when more rounds are asked for, the calendar's `scoring_days` is
//! raised until that many are in flight, which changes nothing a day's scoring does.
//!
//! Timed: the one `tick` (wall clock, CPU time, peak RSS from `VmHWM` reset just before),
//! then — separately, labelled "breakdown" — the same steps for `breakdown_rounds` rounds
//! (default all) through the public pieces (pack read, hash check and decode, targets,
//! inputs, each metric, the SQLite save). The data directory is deleted at the end.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faer::Mat;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use numerus_app::blobs::{BlobDir, sha256_hex};
use numerus_app::market::Market;
use numerus_app::pack::{DayInputs, Entry, Pack, daily_scores};
use numerus_app::{Definition, Error, Service, tables};
use numerus_frames::{Column, Table, write_table};
use numerus_ledger::staking::{Effect, Model};
use numerus_ledger::{Batch, BatchId, Digest, ModelId, Store, TournamentId, UserId};
use numerus_scoring::{Era, EraInput, EraTarget, Score};
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::calendar::{Calendar, Schedule, Stage};
use numerus_tournament::records::{
    DailyScore, Records, RoundPhase, RoundRecord, SubmissionRecord, SubmissionState,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// A Wednesday 14:30 UTC: the day's scores (14:00) are due and the day's round has closed
/// (13:00), so the tick neither opens nor closes a round.
const NOW: &str = "2026-03-04T14:30:00Z";

struct Config {
    rounds: usize,
    models: usize,
    rows: usize,
    features: usize,
    seed: u64,
    service_models: usize,
    per_round_submissions: bool,
    breakdown_rounds: usize,
    dir: PathBuf,
}

impl Config {
    fn read() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let known = [
            "rounds",
            "models",
            "rows",
            "features",
            "seed",
            "service_models",
            "per_round_submissions",
            "breakdown_rounds",
            "dir",
        ];
        for arg in &args {
            let name = arg.split('=').next().unwrap_or("");
            if !arg.starts_with('-') && !known.contains(&name) {
                eprintln!(
                    "score_day: ignoring argument {arg:?} (settings: {known:?}, as name=value)"
                );
            }
        }
        let text = |name: &str| -> Option<String> {
            let prefix = format!("{name}=");
            args.iter()
                .rev()
                .find_map(|arg| arg.strip_prefix(&prefix).map(str::to_owned))
                .or_else(|| std::env::var(format!("NUMERUS_BENCH_{}", name.to_uppercase())).ok())
        };
        let number = |name: &str, default: u64| -> u64 {
            text(name).map_or(default, |value| {
                value
                    .replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={value} is not a whole number"))
            })
        };
        let models = number("models", 10_000) as usize;
        let rounds = number("rounds", 25) as usize;
        Self {
            rounds,
            models,
            rows: number("rows", 6_700) as usize,
            features: number("features", 40) as usize,
            seed: number("seed", 1),
            service_models: number("service_models", models as u64) as usize,
            per_round_submissions: number("per_round_submissions", 1) != 0,
            breakdown_rounds: number("breakdown_rounds", rounds as u64) as usize,
            dir: text("dir").map_or_else(std::env::temp_dir, PathBuf::from),
        }
    }
}

/// The data directory, removed when dropped (also on a panic).
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A seed for one stream: `seed` mixed with the stream's coordinates (splitmix64).
fn stream(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Peak resident memory of this process (VmHWM), bytes.
fn peak_rss() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kib| kib * 1024)
}

/// CPU time (user, system) of this process so far, seconds (clock ticks of 1/100 s).
fn cpu_seconds() -> (f64, f64) {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // After the name: the state is field 3; utime and stime are fields 14 and 15.
            let fields: Vec<String> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user / 100.0, system / 100.0))
        })
        .unwrap_or((0.0, 0.0))
}

/// Minor page faults of this process so far (field 10 of /proc/self/stat).
fn minor_faults() -> u64 {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(7)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// CPU time every process of the machine has used so far (the non-idle time of
/// /proc/stat's `cpu` line), seconds.
fn machine_cpu_seconds() -> f64 {
    fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let line = stat.lines().find(|line| line.starts_with("cpu "))?;
            let ticks: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|field| field.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal ...: all but idle and iowait.
            let busy: f64 = ticks
                .iter()
                .enumerate()
                .filter(|&(index, _)| index != 3 && index != 4)
                .map(|(_, value)| value)
                .sum();
            Some(busy / 100.0)
        })
        .unwrap_or(0.0)
}

/// Our CPU time and the machine's, to tell how much other processes took meanwhile.
struct CpuMeter {
    own: (f64, f64),
    machine: f64,
}

impl CpuMeter {
    fn start() -> Self {
        Self {
            own: cpu_seconds(),
            machine: machine_cpu_seconds(),
        }
    }

    /// Our CPU seconds (user, system) and other processes' since `start`.
    fn read(&self) -> (f64, f64, f64) {
        let (user, system) = cpu_seconds();
        let (user, system) = (user - self.own.0, system - self.own.1);
        let machine = machine_cpu_seconds() - self.machine;
        (user, system, (machine - user - system).max(0.0))
    }
}

/// The load averages (1, 5, 15 minutes), as /proc/loadavg has them.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` 5); false when it cannot.
fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// The rounds to score: the newest `wanted` rounds whose second or later daily score is
/// due at `now` (the first freezes the selection from the submission files, another path),
/// and the definition whose calendar has them in flight.
fn pick_rounds(wanted: usize, now: Timestamp) -> (Definition, Vec<Schedule>) {
    let mut definition = Definition::classic();
    loop {
        let calendar = Calendar::new(definition.calendar.clone()).expect("a valid calendar");
        let eligible: Vec<Schedule> = calendar
            .in_flight(now)
            .expect("the calendar answers")
            .into_iter()
            .filter(
                |schedule| matches!(schedule.stage(now), Stage::Scoring { scored } if scored >= 2),
            )
            .collect();
        if eligible.len() >= wanted {
            let picked = eligible[eligible.len() - wanted..].to_vec();
            return (definition, picked);
        }
        assert!(
            definition.calendar.scoring_days < 260,
            "no calendar has {wanted} rounds in flight"
        );
        definition.calendar.scoring_days += 1;
    }
}

/// Daily scores due for `schedule` at `now`.
fn due(schedule: &Schedule, now: Timestamp) -> usize {
    schedule.scores.iter().filter(|&&time| time <= now).count()
}

/// One round's live era as the market sees it.
struct LiveEra {
    data_date: Date,
    day: u32,
    through: Date,
    ids: Vec<String>,
    number: u32,
}

/// A market with the targets of the benchmark's rounds: 0, .25, .5, .75, 1 at 5/20/50/20/5 %.
struct BenchMarket {
    through: Option<Date>,
    targets: BTreeMap<Date, Table>,
}

impl BenchMarket {
    fn new(eras: &[LiveEra], seed: u64) -> Self {
        let mut by_date: BTreeMap<Date, Vec<&LiveEra>> = BTreeMap::new();
        for era in eras {
            by_date.entry(era.through).or_default().push(era);
        }
        let targets = by_date
            .into_iter()
            .map(|(date, eras)| {
                let (mut era_names, mut dates, mut days, mut targets, mut ids) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for era in eras {
                    let mut rng = ChaCha8Rng::seed_from_u64(stream(seed, u64::from(era.number), 1));
                    for id in &era.ids {
                        era_names.push(format!("era{}", era.number));
                        dates.push(era.data_date.to_string());
                        days.push(f64::from(era.day));
                        let u = rng.random::<f64>();
                        targets.push(match u {
                            u if u < 0.05 => 0.0,
                            u if u < 0.25 => 0.25,
                            u if u < 0.75 => 0.5,
                            u if u < 0.95 => 0.75,
                            _ => 1.0,
                        });
                        ids.push(id.clone());
                    }
                }
                let table = Table {
                    columns: vec![
                        Column::text("era", era_names),
                        Column::text("date", dates),
                        Column::number("day", days),
                        Column::number("target", targets),
                        Column::text("id", ids),
                    ],
                };
                (date, table)
            })
            .collect();
        Self {
            through: eras.iter().map(|era| era.through).max(),
            targets,
        }
    }
}

impl Market for BenchMarket {
    fn available_through(&self) -> Option<Date> {
        self.through
    }

    fn live(&self, date: Date, _dir: &Path) -> Result<(), Error> {
        Err(Error::Market(format!(
            "the benchmark market has no live data ({date}): no round should open"
        )))
    }

    fn targets(&self, date: Date, dir: &Path) -> Result<(), Error> {
        let table = self
            .targets
            .get(&date)
            .ok_or_else(|| Error::Market(format!("no targets for {date}")))?;
        write_table(&dir.join("targets.parquet"), table)
            .map_err(|error| Error::Market(error.to_string()))
    }
}

/// Stores `table` as a Parquet blob.
fn put_table(blobs: &BlobDir, scratch: &Path, table: &Table) -> String {
    tables::put_table(blobs, scratch, table).expect("a table stores")
}

/// One round's setup: live file, benchmark, submissions, pack, meta model, round record.
#[allow(clippy::too_many_arguments)]
fn set_up_round(
    service: &mut Service<SqliteStore>,
    config: &Config,
    schedule: &Schedule,
    now: Timestamp,
    models: &[u64],
    shared_submissions: &mut Option<Vec<u64>>,
    scratch: &Path,
    timing: &mut SetupTiming,
) -> LiveEra {
    let number = schedule.number;
    let rows = config.rows;
    let started = Instant::now();
    let ids: Vec<String> = (0..rows).map(|row| format!("n{number}r{row:06}")).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(stream(config.seed, u64::from(number), 2));
    let mut live_columns = vec![
        Column::text("id", ids.clone()),
        Column::text("era", vec!["X".to_string(); rows]),
        Column::text("data_type", vec!["live".to_string(); rows]),
    ];
    for feature in 0..config.features {
        let values = (0..rows)
            .map(|_| f64::from(rng.random_range(0..5u8)))
            .collect();
        live_columns.push(Column::number(format!("feature_{feature:04}"), values));
    }
    let live = put_table(
        service.blobs(),
        scratch,
        &Table {
            columns: live_columns,
        },
    );
    let benchmark_values: Vec<f64> = (0..rows).map(|_| rng.random::<f64>()).collect();
    let benchmark = put_table(
        service.blobs(),
        scratch,
        &Table {
            columns: vec![
                Column::text("id", ids.clone()),
                Column::number("prediction", benchmark_values),
            ],
        },
    );
    let due = due(schedule, now);
    let mut record = RoundRecord {
        tournament: service.definition().id,
        number,
        open_at: schedule.open,
        close_at: schedule.close,
        score_at: schedule.score_time(),
        resolve_at: schedule.resolve_time(),
        data_date: schedule.data_date,
        phase: RoundPhase::Scoring,
        scored_days: u32::try_from(due - 1).expect("few days"),
        blobs: BTreeMap::from([
            ("live".to_string(), live),
            ("benchmark".to_string(), benchmark.clone()),
        ]),
    };
    let store = service.ledger_mut().store_mut();
    store.put_round(&record).expect("a round stores");
    timing.files += started.elapsed();

    // One selected submission per model (its file: the benchmark, a valid submission).
    let started = Instant::now();
    let submissions = match shared_submissions {
        Some(shared) => shared.clone(),
        None => {
            let received = schedule.open + SignedDuration::from_mins(10);
            let submissions: Vec<u64> = models
                .iter()
                .map(|&model| {
                    let id = store
                        .insert_submission(&SubmissionRecord {
                            id: 0,
                            model,
                            tournament: record.tournament,
                            round: number,
                            filename: "predictions.parquet".into(),
                            blob: None,
                            ranks: None,
                            received_at: received,
                            deadline: received + SignedDuration::from_mins(10),
                            state: SubmissionState::Received,
                            late: false,
                            reason: None,
                        })
                        .expect("a submission records");
                    store
                        .select_submission(id, &benchmark, None)
                        .expect("a submission selects");
                    id
                })
                .collect();
            timing.submissions_made += submissions.len();
            if !config.per_round_submissions {
                *shared_submissions = Some(submissions.clone());
            }
            submissions
        }
    };
    timing.submissions += started.elapsed();

    // The frozen pack: seeded random predictions, a third of the models staked.
    let started = Instant::now();
    let columns: Vec<Vec<f64>> = (0..models.len())
        .into_par_iter()
        .map(|column| {
            let mut rng = ChaCha8Rng::seed_from_u64(stream(
                config.seed,
                u64::from(number),
                3 + column as u64,
            ));
            (0..rows).map(|_| rng.random::<f64>()).collect()
        })
        .collect();
    let entries = models
        .iter()
        .zip(&submissions)
        .enumerate()
        .map(|(column, (&model, &submission))| Entry {
            model,
            submission,
            late: false,
            at_risk: if column % 3 == 0 {
                (u128::from(1 + (column as u64 * 37) % 1_000) * 1_000_000_000_000_000_000)
                    .to_string()
            } else {
                "0".into()
            },
        })
        .collect();
    let pack = Pack::new(ids.clone(), entries, &columns);
    drop(columns);
    timing.predictions += started.elapsed();
    let started = Instant::now();
    let predictions = service
        .blobs()
        .put(&pack.to_bytes(), "bin")
        .expect("the pack stores");
    let meta = pack.meta_model().expect("some models are staked");
    let meta_model = put_table(
        service.blobs(),
        scratch,
        &Table {
            columns: vec![
                Column::text("id", ids.clone()),
                Column::number("numerai_meta_model", meta),
            ],
        },
    );
    record.blobs.insert("predictions".into(), predictions);
    record.blobs.insert("meta_model".into(), meta_model);
    service
        .ledger_mut()
        .store_mut()
        .put_round(&record)
        .expect("a round stores");
    timing.files += started.elapsed();
    LiveEra {
        data_date: schedule.data_date,
        day: u32::try_from(due).expect("few days"),
        through: schedule.scored_through[due - 1],
        ids,
        number,
    }
}

#[derive(Default)]
struct SetupTiming {
    files: Duration,
    submissions: Duration,
    submissions_made: usize,
    predictions: Duration,
}

/// Creates one account and `count` models; returns their ids.
fn create_models(service: &mut Service<SqliteStore>, config: &Config, at: Timestamp) -> Vec<u64> {
    let (account, _key) = service
        .create_account("bench", &[7; 64], at)
        .expect("an account");
    let one_by_one = config.service_models.min(config.models);
    let started = Instant::now();
    let mut models: Vec<u64> = (0..one_by_one)
        .map(|index| {
            service
                .create_model("bench", &format!("model{index}"), at)
                .expect("a model")
        })
        .collect();
    let took = started.elapsed();
    if one_by_one > 0 {
        println!(
            "  {one_by_one} models through Service::create_model: {:.2} s ({:.2} ms each)",
            secs(took),
            1e3 * secs(took) / one_by_one as f64
        );
    }
    if config.models > one_by_one {
        let started = Instant::now();
        let (_, first) = service.ledger().store().next_ids().expect("next ids");
        let batched: Vec<Model> = (one_by_one..config.models)
            .zip(first..)
            .map(|(index, id)| Model {
                id: ModelId(id),
                user: UserId(account),
                name: format!("model{index}"),
                tournament: TournamentId(service.definition().id),
            })
            .collect();
        models.extend(batched.iter().map(|model| model.id.0));
        let id = BatchId::parse("bench/models").expect("an id");
        let batch = Batch {
            digest: Digest::of(&(&id, &batched)),
            id,
            at,
            transfers: Vec::new(),
            effects: batched.into_iter().map(Effect::CreateModel).collect(),
        };
        service
            .ledger_mut()
            .store_mut()
            .apply(&batch)
            .expect("the models' batch applies");
        println!(
            "  {} models in one ledger batch (Store::apply): {:.2} s",
            config.models - one_by_one,
            secs(started.elapsed())
        );
    }
    models
}

fn main() {
    let config = Config::read();
    let now: Timestamp = NOW.parse().expect("a timestamp");
    println!(
        "score_day: {} rounds x {} models x {} rows, {} features, seed {}",
        config.rounds, config.models, config.rows, config.features, config.seed
    );
    let (definition, schedules) = pick_rounds(config.rounds, now);
    if definition.calendar.scoring_days != Definition::classic().calendar.scoring_days {
        println!(
            "  note: the Classic calendar has fewer than {} rounds past their first score at once; \
             scoring_days raised from {} to {} so that {} are (one day's work per round is unchanged)",
            config.rounds,
            Definition::classic().calendar.scoring_days,
            definition.calendar.scoring_days,
            config.rounds
        );
    }
    println!(
        "  now {now}: rounds {}..={}, days {}",
        schedules[0].number,
        schedules[schedules.len() - 1].number,
        schedules
            .iter()
            .map(|schedule| due(schedule, now).to_string())
            .collect::<Vec<_>>()
            .join(",")
    );

    // ----- setup --------------------------------------------------------------------------
    let setup_started = Instant::now();
    let data = DataDir(
        config
            .dir
            .join(format!("numerus-bench-score-day-{}", std::process::id())),
    );
    fs::create_dir_all(&data.0).expect("the data directory");
    let scratch = data.0.join("setup");
    fs::create_dir_all(&scratch).expect("the scratch directory");
    let store = SqliteStore::open(&data.0.join("numerus.sqlite")).expect("the store opens");
    let mut service = Service::new(definition, store, &data.0).expect("the service");
    let created: Timestamp = "2026-01-01T00:00:00Z".parse().expect("a timestamp");
    let models = create_models(&mut service, &config, created);
    let mut timing = SetupTiming::default();
    let mut shared = None;
    let mut eras = Vec::new();
    for (index, schedule) in schedules.iter().enumerate() {
        eras.push(set_up_round(
            &mut service,
            &config,
            schedule,
            now,
            &models,
            &mut shared,
            &scratch,
            &mut timing,
        ));
        if (index + 1) % 5 == 0 || index + 1 == schedules.len() {
            println!(
                "  set up {}/{} rounds ({:.0} s)",
                index + 1,
                schedules.len(),
                secs(setup_started.elapsed())
            );
        }
    }
    let market = BenchMarket::new(&eras, config.seed);
    println!(
        "setup: {:.1} s (live/benchmark/pack/meta files {:.1} s, predictions + ranking {:.1} s, \
         {} submissions inserted + selected {:.1} s = {:.2} ms each), peak RSS {:.0} MiB",
        secs(setup_started.elapsed()),
        secs(timing.files),
        secs(timing.predictions),
        timing.submissions_made,
        secs(timing.submissions),
        1e3 * secs(timing.submissions) / timing.submissions_made.max(1) as f64,
        mib(peak_rss())
    );

    // ----- timed: one tick ------------------------------------------------------------------
    let peak_reset = reset_peak_rss();
    let rss_before = peak_rss();
    let load = load_average();
    let meter = CpuMeter::start();
    let faults = minor_faults();
    let started = Instant::now();
    let report = service.tick(&market, now).expect("the tick scores");
    let took = started.elapsed();
    let (user, system, others) = meter.read();
    let faults = minor_faults() - faults;
    let cpu = user + system;
    let peak = peak_rss();
    let expected: Vec<(u32, u32)> = eras.iter().map(|era| (era.number, era.day)).collect();
    let mut scored = report.scored.clone();
    scored.sort_unstable();
    assert_eq!(scored, expected, "the tick scores one day of every round");
    assert!(report.opened.is_empty() && report.closed.is_empty() && report.resolved.is_empty());
    println!(
        "tick: {:.2} s for {} rounds ({:.2} s a round, {:.0} scores/s), peak RSS {:.0} MiB{}",
        secs(took),
        config.rounds,
        secs(took) / config.rounds as f64,
        (config.rounds * config.models) as f64 / secs(took),
        mib(peak),
        if peak_reset {
            format!(" (RSS before the tick {:.0} MiB)", mib(rss_before))
        } else {
            " (VmHWM could not be reset: includes the setup)".into()
        }
    );
    println!(
        "  CPU {cpu:.1} s (user {user:.1}, system {system:.1}) = {:.2} of {} cores busy on \
         average; other processes: {others:.1} s CPU meanwhile; load average before {load}",
        cpu / secs(took),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    println!(
        "  {faults} minor page faults ({:.1} GiB of fresh 4 KiB pages)",
        faults as f64 * 4096.0 / f64::from(1u32 << 30)
    );
    let full = (config.rounds, config.models, config.rows) == (25, 10_000, 6_700);
    let target =
        60.0 * (config.rounds * config.models * config.rows) as f64 / (25.0 * 10_000.0 * 6_700.0);
    println!(
        "  target: 25 x 10,000 x 6,700 in < 60 s{} -> {}",
        if full {
            String::new()
        } else {
            format!(" (this shape's linear share: {target:.2} s)")
        },
        if secs(took) < target { "PASS" } else { "FAIL" }
    );

    // Every (round, model) has its day's scores.
    for era in &eras {
        let saved = service
            .ledger()
            .store()
            .round_scores(service.definition().id, era.number)
            .expect("scores read");
        let today: Vec<&DailyScore> = saved.iter().filter(|score| score.day == era.day).collect();
        assert_eq!(
            today.len(),
            config.models,
            "round {} day {}",
            era.number,
            era.day
        );
        assert!(
            today.iter().all(|score| ["corr", "mmc", "bmc", "fnc"]
                .iter()
                .all(|name| score.values[*name].is_some())),
            "round {}: every score is defined",
            era.number
        );
    }

    // ----- breakdown: the rounds' steps, through the public pieces ---------------------
    breakdown(
        &mut service,
        &market,
        &eras,
        config.breakdown_rounds,
        now,
        &scratch,
    );
    drop(service);
    drop(data);
}

/// A step's name and its time, summed over the rounds measured.
type Steps = Vec<(&'static str, Duration)>;

fn add(steps: &mut Steps, name: &'static str, started: Instant) {
    let took = started.elapsed();
    match steps.iter_mut().find(|(known, _)| *known == name) {
        Some((_, total)) => *total += took,
        None => steps.push((name, took)),
    }
}

/// Times the tick's steps separately for the last `count` rounds (a second measurement,
/// through the public pieces; the service's private table readers are re-implemented).
fn breakdown(
    service: &mut Service<SqliteStore>,
    market: &BenchMarket,
    eras: &[LiveEra],
    count: usize,
    now: Timestamp,
    scratch: &Path,
) {
    let blobs = service.blobs().clone();
    let mut once = Steps::new();
    let started = Instant::now();
    let dir = scratch.join("targets");
    fs::create_dir_all(&dir).expect("a directory");
    let mut targets = BTreeMap::new();
    for era in eras {
        targets.entry(era.through).or_insert_with(|| {
            market.targets(era.through, &dir).expect("targets");
            blobs
                .put_file(&dir.join("targets.parquet"))
                .expect("stored")
        });
    }
    add(&mut once, "targets: market writes, blob stores", started);

    let measured = &eras[eras.len() - count.clamp(1, eras.len())..];
    let mut steps = Steps::new();
    let meter = CpuMeter::start();
    for era in measured {
        breakdown_round(
            service,
            &blobs,
            era,
            &targets[&era.through],
            now,
            &mut steps,
        );
    }
    let (user, system, others) = meter.read();
    let rounds = measured.len() as f64;
    println!(
        "breakdown (a second measurement, not the tick: the same steps through the public \
         pieces, {} rounds {}..={}):",
        measured.len(),
        measured[0].number,
        measured[measured.len() - 1].number
    );
    println!("  {:<58} {:>9} {:>9}", "step", "total s", "a round");
    for (name, took) in &once {
        println!("  {name:<58} {:>9.3} {:>9}", secs(*took), "(once)");
    }
    let mut total = Duration::ZERO;
    for (name, took) in &steps {
        if !name.starts_with("  ") {
            total += *took;
        }
        println!(
            "  {name:<58} {:>9.3} {:>9.3}",
            secs(*took),
            secs(*took) / rounds
        );
    }
    println!(
        "  {:<58} {:>9.3} {:>9.3}",
        "sum (steps not indented)",
        secs(total),
        secs(total) / rounds
    );
    println!(
        "  (CPU user {user:.1} s, system {system:.1} s; other processes: {others:.1} s CPU meanwhile)"
    );
}

/// One round's steps, added to `steps`.
fn breakdown_round(
    service: &mut Service<SqliteStore>,
    blobs: &BlobDir,
    era: &LiveEra,
    targets: &str,
    now: Timestamp,
    steps: &mut Steps,
) {
    let tournament = service.definition().id;
    let mut round = service
        .ledger()
        .store()
        .round_record(tournament, era.number)
        .expect("a round reads")
        .expect("the round");
    let pack_id = &round.blobs["predictions"];

    let started = Instant::now();
    let bytes = fs::read(blobs.path(pack_id)).expect("the pack reads");
    add(steps, "pack: read the file", started);
    let started = Instant::now();
    assert!(pack_id.starts_with(&sha256_hex(&bytes)));
    add(steps, "pack: SHA-256 check (BlobDir::read)", started);
    let started = Instant::now();
    let pack = Pack::from_bytes(&bytes).expect("the pack decodes");
    add(steps, "pack: decode (Pack::from_bytes)", started);
    drop(bytes);

    let started = Instant::now();
    let target = tables::day_target(blobs, targets, "target", era.data_date, era.day, &pack.ids)
        .expect("the day's target reads");
    add(
        steps,
        "targets: read the file, align the round's day",
        started,
    );

    let started = Instant::now();
    let aligned = |role: &str, column: &str| {
        tables::aligned_column(blobs, &round.blobs[role], column, &pack.ids)
            .expect("a stored column reads")
    };
    let meta_model = aligned("meta_model", "numerai_meta_model");
    let benchmark = aligned("benchmark", "prediction");
    let live =
        tables::read_blob_table(blobs, &round.blobs["live"], None).expect("the live file reads");
    let columns: Vec<&[f64]> = live.numbers_with_prefix("feature_");
    let features = Mat::from_fn(pack.rows(), columns.len(), |row, column| {
        columns[column][row]
    });
    add(
        steps,
        "inputs: meta model, benchmark, live features",
        started,
    );

    let copy = pack.clone();
    let started = Instant::now();
    let values = daily_scores(
        copy,
        DayInputs {
            target: &target,
            meta_model: Some(&meta_model),
            benchmark: Some(&benchmark),
            features: Some(features.as_ref()),
        },
    );
    add(steps, "scoring: pack::daily_scores", started);

    // The same, step by step, as daily_scores does it (its order; the first metric also
    // builds what the others share).
    let started = Instant::now();
    let codes_as_values = pack.values();
    let matrix =
        faer::MatRef::from_column_major_slice(&codes_as_values, pack.rows(), pack.entries.len());
    add(steps, "  of which: pack.values() (codes -> f64)", started);
    let started = Instant::now();
    let ranked = pack.ranked();
    add(
        steps,
        "  of which: pack.ranked() (codes -> RankedColumns)",
        started,
    );
    let era_scores = Era::new(EraInput {
        meta_model: Some(&meta_model),
        benchmark: Some(&benchmark),
        features: Some(features.as_ref()),
        era_target: EraTarget::of(&target),
        ..EraInput::new(matrix.as_ref(), &target)
    })
    .with_ranks(ranked);
    let started = Instant::now();
    let corr: Vec<Score> = era_scores.numerai_corr();
    add(steps, "  of which: CORR", started);
    let started = Instant::now();
    let mmc = era_scores.mmc().expect("mmc");
    add(steps, "  of which: MMC", started);
    let started = Instant::now();
    let bmc = era_scores.bmc().expect("bmc");
    add(steps, "  of which: BMC", started);
    let started = Instant::now();
    let fnc = era_scores.fnc().expect("fnc");
    add(steps, "  of which: FNC", started);
    assert_eq!(
        corr.len() + mmc.len() + bmc.len() + fnc.len(),
        4 * pack.entries.len()
    );
    drop(era_scores);
    drop(codes_as_values);

    // The save: the next day's rows (inserts, as the tick's), in one transaction.
    let day = era.day + 1;
    let scores: Vec<DailyScore> = pack
        .entries
        .iter()
        .zip(values)
        .map(|(entry, values)| DailyScore {
            round: round.number,
            day,
            model: entry.model,
            submission: entry.submission,
            values,
        })
        .collect();
    round.scored_days = day;
    let job = format!("bench/breakdown/{}", round.number);
    let store = service.ledger_mut().store_mut();
    let started = Instant::now();
    store
        .start_job(&job, now, now + SignedDuration::from_hours(1))
        .expect("a job starts");
    store
        .save_scores(&round, &scores, None, &job, now)
        .expect("scores save");
    add(steps, "save: Records::start_job + save_scores", started);
}
