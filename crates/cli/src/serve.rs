//! `numerus serve` and `numerus demo`.
//!
//! A data directory a server runs on holds, besides the service's files:
//!
//! ```text
//! DIR/numerus.toml        [server] settings, the [clock] and the [market] (see below)
//! DIR/tournament.toml     the tournament's definition (Classic's when absent)
//! DIR/private/server.key  the key that signs file URLs (made on first start; keep it private)
//! ```
//!
//! ```toml
//! [server]                    # see numerus_http::config; NUMERUS_<SETTING> overrides
//! addr = "127.0.0.1:5000"
//!
//! [clock]                     # "wall" (real time), or "fast" (a demo's accelerated time)
//! kind = "wall"
//!
//! [market]                    # where rounds get live data and targets
//! kind = "synthetic"          # the demo's seeded market in DIR/market
//! seed = 42
//! # or: kind = "dataset", panel = "…/panel.parquet", recipe = "…/private/v1/recipe.json",
//! #     key = "…/private/id.key" (what `numerus data build` wrote)
//! ```

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use jiff::civil::Time;
use jiff::{SignedDuration, Timestamp};
use numerus_app::market::{DatasetMarket, Market, SyntheticSpec, open_synthetic, synthetic};
use numerus_app::{Definition, Service};
use numerus_dataset::ids::IdKey;
use numerus_frames::{ReadOptions, read_table};
use numerus_http::client::{Client, ClientError};
use numerus_http::files::Files;
use numerus_http::signing::Signer;
use numerus_http::{Clock, Config, Shared};
use numerus_ledger::{AccountId, ModelId, Nmr, UserId};
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::calendar::{Calendar, Day, Opening};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::ledger::DATABASE_FILE;
use crate::participants::{Family, Training, csv, percentile_ranks, predict};
use crate::secret::{read_hex_key, write_private};
use crate::tournament::finish;

/// The data directory's settings file.
const SETTINGS_FILE: &str = "numerus.toml";
/// The tournament definition file of a data directory.
pub const DEFINITION_FILE: &str = "tournament.toml";

/// Flags of `numerus serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The data directory (made by `numerus demo`, or prepared by an operator).
    #[arg(long, default_value = "numerus-data")]
    data_dir: PathBuf,
    /// Where to listen (overrides [server] addr and NUMERUS_ADDR), e.g. 0.0.0.0:5000.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Settings file to use instead of DIR/numerus.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Flags of `numerus demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The demo's data directory: made on first run, resumed on later runs.
    #[arg(long, default_value = "numerus-demo")]
    data_dir: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:5000")]
    addr: SocketAddr,
    /// Seed of the market and the built-in participants.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Real seconds per simulated day (a round opens on each weekday).
    #[arg(long, default_value_t = 6.0)]
    day_seconds: f64,
    /// Built-in participants (each with one to three models) that use the API.
    #[arg(long, default_value_t = 8)]
    participants: usize,
    /// Business days of synthetic market after the first round (the demo runs that long).
    #[arg(long, default_value_t = 500)]
    market_days: usize,
}

/// `[clock]` and `[market]` of the settings file (the `[server]` table is the http crate's).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    #[serde(default = "wall")]
    clock: Clock,
    market: MarketSettings,
}

fn wall() -> Clock {
    Clock::Wall
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum MarketSettings {
    Synthetic {
        seed: u64,
    },
    Dataset {
        panel: PathBuf,
        recipe: PathBuf,
        key: PathBuf,
        #[serde(default = "fifty")]
        min_stocks: usize,
    },
}

fn fifty() -> usize {
    50
}

/// Runs `numerus serve`.
pub fn serve(args: &ServeArgs) -> ExitCode {
    init_logs();
    let result = (|| -> anyhow::Result<()> {
        let runtime = runtime()?;
        let settings_path = args
            .config
            .clone()
            .unwrap_or_else(|| args.data_dir.join(SETTINGS_FILE));
        let server = start(&runtime, &args.data_dir, &settings_path, args.addr)?;
        println!("Numerus is running at {}", server.base_url);
        runtime.block_on(server.until_stopped())
    })();
    finish(result)
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A running server.
struct Running {
    base_url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn until_stopped(self) -> anyhow::Result<()> {
        self.task
            .await
            .context("the server task failed")?
            .context("the server stopped")
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("stopping: finishing requests in flight");
}

/// Opens the data directory's service, market and settings and starts serving.
fn start(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    settings_path: &Path,
    addr: Option<SocketAddr>,
) -> anyhow::Result<Running> {
    let database = dir.join(DATABASE_FILE);
    ensure!(
        database.is_file(),
        "no Numerus data at {}; start a demo there with `numerus demo --data-dir {}`, or pass the data directory of your tournament",
        dir.display(),
        dir.display()
    );
    let text = fs::read_to_string(settings_path).with_context(|| {
        format!(
            "reading {} (the server's settings: [server], [clock], [market]; see `numerus serve --help`)",
            settings_path.display()
        )
    })?;
    let settings: Settings = toml::from_str(&text)
        .with_context(|| format!("{} does not parse", settings_path.display()))?;
    let mut config = Config::from_toml(&text)
        .map_err(|error| anyhow::anyhow!("{}: {error}", settings_path.display()))?
        .with_environment(std::env::vars())
        .map_err(|error| anyhow::anyhow!(error))?;
    if let Some(addr) = addr {
        config.addr = addr;
    }
    let definition = definition_of(dir)?;
    let store =
        SqliteStore::open(&database).with_context(|| format!("opening {}", database.display()))?;
    let mut service = Service::new(definition, store, dir)?;
    let interrupted = service.recover()?;
    if !interrupted.is_empty() {
        tracing::warn!(
            uploads = ?interrupted,
            "uploads the last run received but never validated are rejected (their senders got no answer)"
        );
    }
    let market: Box<dyn Market + Send + Sync> = match &settings.market {
        MarketSettings::Synthetic { seed } => Box::new(open_synthetic(dir, *seed)?),
        MarketSettings::Dataset {
            panel,
            recipe,
            key,
            min_stocks,
        } => Box::new(dataset_market(dir, panel, recipe, key, *min_stocks)?),
    };
    let signing_key = secret_key(&dir.join("private").join("server.key"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.addr))
        .with_context(|| format!("listening on {}", config.addr))?;
    let bound = listener.local_addr()?;
    let base_url = config.base_url(bound);
    let objects = object_store::local::LocalFileSystem::new_with_prefix(dir)
        .with_context(|| format!("opening {} as an object store", dir.display()))?;
    let mut nonce_key = [0u8; 32];
    rand::rng().fill(&mut nonce_key);
    let files = Files::new(
        Arc::new(objects),
        dir,
        Signer::new(signing_key, config.signed_url_seconds),
        base_url.clone(),
        runtime.handle().clone(),
        nonce_key,
    );
    let swept = files
        .sweep_staged(Timestamp::now(), config.signed_url_seconds)
        .context("removing expired staged uploads")?;
    if swept > 0 {
        tracing::info!(swept, "removed staged uploads whose links expired");
    }
    let shared = Arc::new(Shared::new(service, market, settings.clock, files, config));
    tracing::info!(%base_url, data_dir = %dir.display(), "serving");
    let task = runtime.spawn(numerus_http::serve(shared, listener, shutdown_signal()));
    Ok(Running { base_url, task })
}

fn dataset_market(
    dir: &Path,
    panel: &Path,
    recipe: &Path,
    key: &Path,
    min_stocks: usize,
) -> anyhow::Result<DatasetMarket> {
    let resolve = |path: &Path| {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            dir.join(path)
        }
    };
    let text = fs::read_to_string(resolve(recipe))
        .with_context(|| format!("reading {}", recipe.display()))?;
    let recipe = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a version recipe", recipe.display()))?;
    Ok(DatasetMarket::open(
        &resolve(panel),
        recipe,
        IdKey::new(read_hex_key(&resolve(key))?),
        min_stocks,
    )?)
}

/// The 32-byte secret at `path`, made from the operating system's randomness if absent.
fn secret_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if path.exists() {
        return read_hex_key(path);
    }
    let key: [u8; 32] = rand::rng().random();
    write_private(path, &hex::encode(key))?;
    Ok(key)
}

/// The definition of a data directory: its tournament.toml, or Classic's.
pub fn definition_of(dir: &Path) -> anyhow::Result<Definition> {
    let path = dir.join(DEFINITION_FILE);
    if !path.exists() {
        return Ok(Definition::classic());
    }
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Definition::from_toml(&text).with_context(|| path.display().to_string())
}

// ----- the demo ---------------------------------------------------------------------------------

/// Business days of market history before the first round (features look back 271 days; the
/// rest become training eras).
const HISTORY_DAYS: usize = 620;

/// A built-in participant, as saved in DIR/private/participants.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Participant {
    account: String,
    public_id: String,
    secret: String,
    models: Vec<DemoModel>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemoModel {
    id: u64,
    name: String,
    /// 0..10 as `Family::draw` maps it, with k for top-k.
    family: String,
}

/// Classic's rules on a calendar made for watching: a round opens every weekday just after
/// midnight and stays open 23 hours, so on an accelerated clock participants have most of
/// each day to submit.
fn demo_definition() -> Definition {
    let mut definition = Definition::classic();
    definition.calendar.openings = [
        Day::Tuesday,
        Day::Wednesday,
        Day::Thursday,
        Day::Friday,
        Day::Saturday,
    ]
    .into_iter()
    .map(|day| Opening {
        day,
        open: Time::constant(0, 30, 0, 0),
        window_minutes: 23 * 60,
    })
    .collect();
    // Deadlines are in tournament time: on a clock running thousands of times faster than
    // real time, Classic's ten minutes would reap uploads while they are being validated.
    definition.upload_deadline_seconds = 6 * 3600;
    definition.job_deadline_seconds = 6 * 3600;
    // The fund: a portfolio per round from the meta model, neutral to the first 10 features,
    // with a penalty strong enough to keep positions off their caps (so TC is informative).
    definition.fund = Some(numerus_app::fund::FundConfig {
        factors: 10,
        constraints: numerus_optimizer::Constraints {
            gross: 1.0,
            net: 0.0,
            net_tolerance: 0.01,
            position_cap: 0.05,
            factor_tolerance: 0.02,
            group_tolerance: 0.0,
            risk_aversion: 10.0,
        },
    });
    definition
}

/// Runs `numerus demo`.
pub fn demo(args: &DemoArgs) -> ExitCode {
    init_logs();
    let result = (|| -> anyhow::Result<()> {
        ensure!(
            args.day_seconds >= 1.0,
            "--day-seconds must be at least 1 (participants need time to submit)"
        );
        ensure!(
            (0..=200).contains(&args.participants),
            "--participants must be between 0 and 200"
        );
        let dir = &args.data_dir;
        let settings_path = dir.join(SETTINGS_FILE);
        if settings_path.exists() {
            eprintln!(
                "resuming the demo in {} (its clock, market and participants; delete the directory for a new one)",
                dir.display()
            );
        } else {
            if dir.exists() && fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "{} is not empty and is not a demo; give a new --data-dir",
                    dir.display()
                );
            }
            create_demo(args)?;
        }
        let runtime = runtime()?;
        let server = start(&runtime, dir, &settings_path, Some(args.addr))?;
        let participants: Vec<Participant> = serde_json::from_str(
            &fs::read_to_string(dir.join("private").join("participants.json"))
                .context("reading the demo's participants")?,
        )?;
        let settings: Settings = toml::from_str(&fs::read_to_string(&settings_path)?)?;
        let day_seconds = match settings.clock {
            Clock::Fast { day_seconds, .. } => day_seconds,
            Clock::Wall => 86_400.0,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (index, participant) in participants.into_iter().enumerate() {
            let base = server.base_url.clone();
            let stop = Arc::clone(&stop);
            let seed = args.seed ^ (index as u64 + 1) << 32;
            let work = dir.join("participants").join(&participant.account);
            threads.push(std::thread::spawn(move || {
                run_participant(&base, &participant, seed, day_seconds, &work, &stop);
            }));
        }
        banner(&server.base_url, dir);
        let result = runtime.block_on(server.until_stopped());
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            let _ = thread.join();
        }
        result
    })();
    finish(result)
}

fn banner(url: &str, dir: &Path) {
    let dir = dir.display();
    println!(
        "\
Numerus demo is running at {url}   (Ctrl-C stops it; run the same command to resume)

  Web pages:   {url}/            Metrics: {url}/metrics
  Your key:    numerus account create --data-dir {dir} --username YOU
  Your model:  numerus model create --data-dir {dir} --account YOU --name YOU_model
  Then, in Python (pip install numerapi):

    import numerapi
    numerapi.base_api.API_TOURNAMENT_URL = \"{url}\"
    napi = numerapi.NumerAPI(\"PUBLIC_ID\", \"SECRET_KEY\")
    print(napi.get_current_round(), napi.list_datasets())
    napi.upload_predictions(\"predictions.csv\", model_id=napi.get_models()[\"YOU_model\"])
"
    );
}

/// Makes a new demo data directory: the market and dataset, the tournament, the participants'
/// accounts (funded and staked) and the settings.
fn create_demo(args: &DemoArgs) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    fs::create_dir_all(dir.join("market"))?;
    let definition = demo_definition();
    let calendar = Calendar::new(definition.calendar.clone())?;
    let first = calendar.round(definition.calendar.anchor.number)?;
    eprintln!(
        "synthesizing a market ({} business days) and building the dataset participants train on",
        HISTORY_DAYS + args.market_days
    );
    synthetic(
        dir,
        &SyntheticSpec {
            stocks: 300,
            features: 40,
            seed: args.seed,
            history_days: HISTORY_DAYS,
            extra_days: args.market_days,
            first_data_date: first.data_date,
        },
    )?;
    fs::write(dir.join(DEFINITION_FILE), definition.to_toml()?)?;
    let store = SqliteStore::open(&dir.join(DATABASE_FILE))?;
    let mut service = Service::new(definition, store, dir)?;
    let start = first.open - SignedDuration::from_mins(5);
    let t0 = start - SignedDuration::from_hours(24);
    service
        .ledger_mut()
        .genesis(Nmr::from_whole(3_000_000), Nmr::from_whole(8_000_000), t0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut participants = Vec::new();
    for index in 0..args.participants {
        let account = format!("demo_{index:02}");
        let mut random = [0u8; 64];
        rng.fill(&mut random[..]);
        let (id, key) = service.create_account(&account, &random, t0)?;
        let funds = Nmr::from_whole(rng.random_range(100..2_000));
        service.ledger_mut().emit(
            &format!("demo/grant/{id}"),
            AccountId::Wallet(UserId(id)),
            funds,
            "demo participant grant",
            t0,
        )?;
        let mut models = Vec::new();
        for slot in 0..rng.random_range(1..=3usize) {
            let name = format!("{account}_m{slot}");
            let model = service.create_model(&account, &name, t0)?;
            let family = Family::draw(&mut rng);
            if rng.random_range(0..4) > 0 {
                service.ledger_mut().increase_stake(
                    &format!("demo/initial/{model}"),
                    ModelId(model),
                    Nmr::from_base_units(funds.base_units() / 5),
                    t0,
                )?;
            }
            models.push(DemoModel {
                id: model,
                name,
                family: family.label(),
            });
        }
        participants.push(Participant {
            account,
            public_id: key.public_id,
            secret: key.secret,
            models,
        });
    }
    write_private(
        &dir.join("private").join("participants.json"),
        &serde_json::to_string_pretty(&participants)?,
    )?;
    let settings = Settings {
        clock: Clock::Fast {
            real_start: Timestamp::now(),
            simulated_start: start,
            day_seconds: args.day_seconds,
        },
        market: MarketSettings::Synthetic { seed: args.seed },
    };
    let server = Config {
        addr: args.addr,
        tick_seconds: (args.day_seconds / 12.0).clamp(0.1, 1.0),
        // Every built-in participant calls from this machine's address.
        requests_per_second: 1000,
        request_burst: 2000,
        ..Config::default()
    };
    let text = format!(
        "# Written by `numerus demo`; `numerus serve --data-dir {}` runs it too.\n{}\n[server]\n{}",
        dir.display(),
        toml::to_string(&settings)?,
        toml::to_string(&server)?
    );
    fs::write(dir.join(SETTINGS_FILE), text)?;
    Ok(())
}

fn parse_family(label: &str) -> Family {
    match label {
        "all" => Family::AllFeatures,
        "random" => Family::Random,
        "contrarian" => Family::Contrarian,
        other => Family::TopFeatures(
            other
                .strip_prefix("top")
                .and_then(|k| k.parse().ok())
                .unwrap_or(5),
        ),
    }
}

/// One built-in participant: downloads the training data and trains its models through the
/// API, then, in each round it sees open, downloads the live file, predicts and uploads;
/// now and then it changes a stake.
fn run_participant(
    base: &str,
    participant: &Participant,
    seed: u64,
    day_seconds: f64,
    work: &Path,
    stop: &AtomicBool,
) {
    let client = Client::new(base, Some((&participant.public_id, &participant.secret)));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pause = Duration::from_secs_f64((day_seconds / 5.0).max(0.2));
    let mut weights = None;
    let mut last_round = 0;
    while !stop.load(Ordering::Relaxed) {
        let step = (|| -> anyhow::Result<()> {
            let version = dataset_version(&client)?;
            if weights.is_none() {
                let train = fetch_table(&client, &format!("{version}/train.parquet"), work)?;
                let training = Training::of(&train)?;
                weights = Some(
                    participant
                        .models
                        .iter()
                        .map(|model| training.weights(parse_family(&model.family), &mut rng))
                        .collect::<Vec<_>>(),
                );
            }
            let (number, status) = client.current_round()?;
            if status != "OPEN" || number == last_round {
                return Ok(());
            }
            let live = fetch_table(&client, &format!("{version}/live.parquet"), work)?;
            let ids = live
                .column("id")
                .and_then(|column| column.values.as_text())
                .context("the live file has no ids")?;
            let features: Vec<&[f64]> = live.numbers_with_prefix("feature_");
            for (model, weights) in participant.models.iter().zip(weights.iter().flatten()) {
                let mut values = predict(weights, &features, rng.random_range(0.0..0.3), &mut rng);
                percentile_ranks(&mut values);
                let bytes = csv(ids, &values, 3);
                client.upload_predictions(
                    &model.id.to_string(),
                    &format!("{}.csv", model.name),
                    &bytes,
                )?;
                if rng.random_range(0..100) < 10 {
                    let kind = if rng.random_range(0..3) == 0 {
                        "decrease"
                    } else {
                        "increase"
                    };
                    // Refusals (not enough in the wallet or the stake) are part of the game.
                    let _ = client.change_stake(&model.id.to_string(), kind, "1");
                }
            }
            last_round = number;
            tracing::debug!(
                participant = participant.account,
                round = number,
                "submitted"
            );
            Ok(())
        })();
        match step {
            Ok(()) => {}
            // Refusals (no round open yet, a round closing under it) are part of the game.
            Err(error)
                if error
                    .downcast_ref::<ClientError>()
                    .is_some_and(|e| matches!(e, ClientError::Api(_))) =>
            {
                tracing::debug!(participant = participant.account, "{error:#}");
            }
            Err(error) => tracing::warn!(participant = participant.account, "{error:#}"),
        }
        std::thread::sleep(pause);
    }
}

fn dataset_version(client: &Client) -> anyhow::Result<String> {
    let data = client.query(
        "query ($round: Int $tournament: Int) { listDatasets(round: $round tournament: $tournament) }",
        serde_json::json!({ "round": null, "tournament": 8 }),
    )?;
    let names = data["listDatasets"]
        .as_array()
        .context("no dataset listing")?;
    names
        .iter()
        .filter_map(|name| name.as_str()?.strip_suffix("/train.parquet"))
        .next_back()
        .map(str::to_owned)
        .context("the server lists no train.parquet")
}

fn fetch_table(client: &Client, name: &str, work: &Path) -> anyhow::Result<numerus_frames::Table> {
    let bytes = client.download_dataset(name)?;
    fs::create_dir_all(work)?;
    let path = work.join(name.replace('/', "_"));
    fs::write(&path, bytes)?;
    Ok(read_table(
        &path,
        &ReadOptions {
            text_columns: &["id", "era", "data_type"],
            select: None,
        },
    )?)
}
