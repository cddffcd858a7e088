//! The root fields numerapi 3.1.1 asks for, answered from the tournament service.
//!
//! Types follow the API's habits: decimals (NMR, payout factor) are strings, times are ISO
//! 8601 strings, ids are strings. Arguments are read by every spelling numerapi uses. A
//! tournament other than the server's is refused by name, never answered with another's data.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use numerus_app::stakes::StakeChange;
use numerus_app::standings::PAYOUT;
use numerus_app::{Error, Service};
use numerus_ledger::staking::{RoundState, payout_factor, payout_rate, settle_model};
use numerus_ledger::{
    AccountId, LedgerView, ModelId, Nmr, Rate, RoundKey, Store, TournamentId, UserId,
};
use numerus_store_sqlite::SqliteStore;
use numerus_tournament::keys::{Scope, parse_header};
use numerus_tournament::leaderboard::{REPUTATION_WINDOW_DAYS, account_reputation, reputation};
use numerus_tournament::records::{
    DailyScore, Records, RoundRecord, SubmissionRecord, SubmissionState,
};
use parking_lot::MutexGuard;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::files::{Files, current_round};
use crate::graphql::{Args, FieldRequest, Resolver};
use crate::signing::Access;

/// Tournament numbers and names as Numerai uses them.
const TOURNAMENTS: [(u32, &str); 3] = [(8, "Classic"), (11, "Signals"), (12, "Crypto")];

/// Scores shown on leaderboards, with the API's names for them.
const REPUTATION_FIELDS: [(&str, &str); 5] = [
    ("corr", "corr20Rep"),
    ("mmc", "mmcRep"),
    ("fnc", "fncRep"),
    ("bmc", "bmcRep"),
    ("tc", "tcRep"),
];

/// One request's view of the service.
pub struct Api<'a> {
    /// The service, locked for this request (released while an upload is checked).
    pub service: MutexGuard<'a, Service<SqliteStore>>,
    /// The tournament's time.
    pub now: Timestamp,
    /// Real time (signed URLs expire on it).
    pub real_now: Timestamp,
    /// Files and signed URLs.
    pub files: &'a Files,
    /// The request's `Authorization` header.
    pub authorization: Option<&'a str>,
    /// Uploads taken into the service by this request: whether each was accepted.
    pub uploads: Vec<bool>,
    /// The tournament's clock: times are reported as the real moments they happen.
    pub clock: Clock,
}

type Answer = Result<Value, String>;

fn text(error: Error) -> String {
    error.to_string()
}

fn nmr_text(base_units: u128) -> String {
    Nmr::from_base_units(base_units).to_string()
}

impl Resolver for Api<'_> {
    fn resolve(&mut self, field: &FieldRequest<'_>) -> Answer {
        let args = &field.args;
        match field.name {
            "tournaments" => Ok(Value::Array(
                TOURNAMENTS
                    .iter()
                    .filter(|(id, _)| *id == self.tournament())
                    .map(|(id, _)| json!({ "tournament": id, "name": self.service.definition().name }))
                    .collect(),
            )),
            "listDatasets" => {
                self.check_tournament(args, &["tournament"])?;
                Ok(json!(self.files.dataset_names()))
            }
            "dataset" => self.dataset(args),
            "rounds" => self.rounds(args),
            "account" => self.account(field),
            "accountProfile" => self.account_profile(args),
            "model" => self.model(field),
            "v3UserProfile" | "v2SignalsProfile" => self.profile(field),
            "submissions" => self.submissions(args),
            "submissionDownloadAuth" => self.submission_download(args),
            "submissionScores" => self.submission_scores(args),
            "v2RoundModelPerformances" => self.round_performances(args),
            "pendingModelPayouts" => self.pending_payouts(args),
            "v2Leaderboard" => self.model_leaderboard(args),
            "fund" => self.fund(),
            "accountLeaderboard" => self.account_leaderboard(args),
            "signalsLeaderboard" => Err(self.not_run(11)),
            "cryptosignalsLeaderboard" => Err(self.not_run(12)),
            "submission_upload_auth" => self.upload_auth(args),
            "submissionUploadSignalsAuth" | "createSignalsSubmission" => Err(self.not_run(11)),
            "create_submission" => self.create_submission(args),
            "v2ChangeStake" => self.change_stake(args),
            "releaseStake" => self.release_stake(args),
            "setSubmissionWebhook" => {
                self.set_setting(args, "webhook", &["newSubmissionWebhook"])?;
                // numerapi compares the result with the string "true".
                Ok(json!("true"))
            }
            "setUserBio" => {
                self.set_setting(args, "bio", &["value"])?;
                Ok(json!(true))
            }
            "setUserLink" => {
                self.set_setting(args, "link_url", &["linkUrl"])?;
                self.set_setting(args, "link_text", &["linkText"])?;
                Ok(json!(true))
            }
            "diagnosticsUploadAuth" | "createDiagnostics" | "diagnostics" => Err(
                "diagnostics are not offered by this server; score validation predictions locally with numerai-tools"
                    .to_owned(),
            ),
            "computePickleUploadAuth" | "createComputePickleUpload" | "computePickleDataVersions"
            | "computePickleDockerImages" => Err(
                "model uploads (pickles) are not run by this server; upload predictions instead"
                    .to_owned(),
            ),
            "v3StakeAuth" | "v3StakeConfig" | "v3StakeRound" | "v3StakeClaim" => Err(
                "on-chain staking (v3) is not used here: stakes live in this server's ledger; use v2ChangeStake (numerapi: stake_increase/stake_decrease)"
                    .to_owned(),
            ),
            other => Err(format!(
                "this server has no field `{other}`; the README lists the numerapi methods it answers"
            )),
        }
    }
}

impl Api<'_> {
    /// A tournament time as the API shows it: the real moment it happens, ISO 8601. On an
    /// accelerated demo clock this keeps numerapi's `check_round_open` (which compares with
    /// the local clock) right; market dates (`dataDatestamp`, eras) stay the market's.
    fn time(&self, time: Timestamp) -> String {
        self.clock.real_of(time).to_string()
    }

    fn tournament(&self) -> u32 {
        self.service.definition().id
    }

    fn not_run(&self, tournament: u32) -> String {
        let name = TOURNAMENTS
            .iter()
            .find(|(id, _)| *id == tournament)
            .map_or("that tournament", |(_, name)| name);
        format!(
            "tournament {tournament} ({name}) is not run by this server; it runs tournament {} ({})",
            self.tournament(),
            self.service.definition().name
        )
    }

    /// Refuses a tournament argument (under any of `names`) other than the server's.
    fn check_tournament(&self, args: &Args, names: &[&str]) -> Result<(), String> {
        for name in names {
            if let Some(given) = args.int(name)?
                && given != i64::from(self.tournament())
            {
                return Err(self.not_run(u32::try_from(given).unwrap_or(0)));
            }
        }
        Ok(())
    }

    /// The caller's account, if the key has `scope`.
    fn caller(&self, scope: Scope) -> Result<u64, String> {
        let header = self.authorization.ok_or_else(|| {
            "this needs an API key: send `Authorization: Token PUBLIC_ID$SECRET_KEY` (numerapi: NumerAPI(public_id, secret_key)); create one with `numerus account create`".to_owned()
        })?;
        self.service.authenticate(header, scope).map_err(text)
    }

    /// Model `id`, which must be the caller's.
    fn own_model(&self, account: u64, id: &str) -> Result<numerus_ledger::staking::Model, String> {
        let model = self.model_by_id(id)?;
        if model.user.0 != account {
            return Err(format!(
                "model {id} is not one of your models; list yours with get_models()"
            ));
        }
        Ok(model)
    }

    fn model_by_id(&self, id: &str) -> Result<numerus_ledger::staking::Model, String> {
        let parsed: u64 = id.trim().parse().map_err(|_| {
            format!("{id:?} is not a model id; model ids are numbers, see get_models()")
        })?;
        self.store()
            .model(ModelId(parsed))
            .map_err(|error| error.to_string())?
            .filter(|model| model.tournament.0 == self.tournament())
            .ok_or_else(|| {
                format!(
                    "there is no model {id} in {}",
                    self.service.definition().name
                )
            })
    }

    fn model_by_name(&self, name: &str) -> Result<numerus_ledger::staking::Model, String> {
        let found = self
            .store()
            .model_named(self.tournament(), name)
            .map_err(|error| error.to_string())?;
        let (id, _) = found.ok_or_else(|| format!("there is no model named {name:?}"))?;
        self.model_by_id(&id.to_string())
    }

    fn store(&self) -> &SqliteStore {
        self.service.ledger().store()
    }

    fn balance(&self, account: AccountId) -> Result<u128, String> {
        Ok(self
            .store()
            .balance(account)
            .map_err(|error| error.to_string())?
            .map_or(0, |balance| balance.posted().base_units()))
    }

    // ----- data and rounds ----------------------------------------------------------------

    fn dataset(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let name = args.required_text(&["filename"])?;
        let round = args
            .int("round")?
            .filter(|round| *round > 0)
            .map(|round| u32::try_from(round).map_err(|_| format!("round {round} does not exist")))
            .transpose()?;
        let object = self
            .files
            .dataset_object(&self.service, &name, round, self.now)?;
        Ok(json!(self.files.url(Access::Read, &object, self.real_now)))
    }

    fn rounds(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let records: Vec<RoundRecord> = match args.int("number")? {
            Some(0) => vec![current_round(&self.service, self.now)?],
            Some(number) => u32::try_from(number)
                .ok()
                .and_then(|number| {
                    self.store()
                        .round_record(self.tournament(), number)
                        .transpose()
                })
                .transpose()
                .map_err(|error| error.to_string())?
                .into_iter()
                .collect(),
            None => {
                let limit = args
                    .int("limit")?
                    .map_or(usize::MAX, |limit| limit.max(0) as usize);
                self.store()
                    .round_records(self.tournament(), false)
                    .map_err(|error| error.to_string())?
                    .into_iter()
                    .filter(|round| round.open_at <= self.now)
                    .take(limit)
                    .collect()
            }
        };
        let status = args.text(&["status"]).map(|status| status.to_uppercase());
        let mut rounds = Vec::new();
        for record in records {
            let value = self.round_json(&record)?;
            if status
                .as_deref()
                .is_none_or(|status| value["status"].as_str() == Some(status))
            {
                rounds.push(value);
            }
        }
        Ok(Value::Array(rounds))
    }

    fn round_json(&self, record: &RoundRecord) -> Answer {
        let view = self
            .service
            .round_view(record.number, self.now)
            .map_err(text)?
            .ok_or_else(|| format!("round {} has not opened", record.number))?;
        let mut value = serde_json::to_value(&view).map_err(|error| error.to_string())?;
        let definition = self.service.definition();
        let calendar = &definition.calendar;
        let configs: Vec<Value> = definition
            .payout
            .multipliers
            .iter()
            .enumerate()
            .map(|(index, (name, multiplier))| {
                json!({
                    "id": format!("{}-{}", record.number, name),
                    "scoreConfigId": index.to_string(),
                    "roundNumberStart": null,
                    "roundNumberEnd": null,
                    "name": name,
                    "version": "1",
                    "displayName": name,
                    "totalScoreDays": calendar.scoring_days,
                    "returnsLagDays": calendar.lag_days,
                    "dataDelayDays": calendar.score_delay_days,
                    "universe": null,
                    "isCanonScore": true,
                    "isPayout": true,
                    "scoringStart": self.time(record.score_at),
                    "scoringEnd": self.time(record.resolve_at),
                    "minMultiplier": multiplier.to_string(),
                    "maxMultiplier": multiplier.to_string(),
                    "defaultMultiplier": multiplier.to_string(),
                    "clipThreshold": definition.payout.clip.to_string(),
                    "stakeThreshold": view.stake_threshold,
                    "payoutFactor": view.payout_factor,
                })
            })
            .collect();
        let object = value.as_object_mut().expect("a round is an object");
        object.insert(
            "id".into(),
            json!(format!("{}-{}", record.tournament, record.number)),
        );
        object.insert("target".into(), json!(definition.target));
        object.insert("roundScoreConfigs".into(), Value::Array(configs));
        for time in [
            "openTime",
            "closeTime",
            "closeStakingTime",
            "scoreTime",
            "resolveTime",
        ] {
            if let Some(Value::String(stamp)) = object.get(time) {
                let normalised = stamp
                    .parse::<Timestamp>()
                    .map(|t| self.time(t))
                    .unwrap_or_else(|_| stamp.clone());
                object.insert(time.into(), json!(normalised));
            }
        }
        Ok(value)
    }

    // ----- accounts and models --------------------------------------------------------------

    fn account(&self, field: &FieldRequest<'_>) -> Answer {
        let account = self.caller(Scope::ReadUserInfo)?;
        let user = self
            .store()
            .user(UserId(account))
            .map_err(|error| error.to_string())?
            .ok_or("the key's account no longer exists")?;
        let selection = field.selection;
        let models = self.account_models(account)?;
        let mut model_values = Vec::new();
        for model in &models {
            let stake = self.balance(AccountId::Stake(model.id))?;
            let submissions = if selection.wants("models") {
                self.visible_submissions(model.id.0)?
                    .iter()
                    .map(|s| json!({ "id": s.id.to_string(), "filename": s.filename }))
                    .collect()
            } else {
                Vec::new()
            };
            model_values.push(json!({
                "id": model.id.0.to_string(),
                "name": model.name,
                "displayName": model.name,
                "tournament": model.tournament.0,
                "submissions": submissions,
                "v2Stake": { "status": if stake > 0 { "ACTIVE" } else { "INACTIVE" }, "txHash": null },
            }));
        }
        let public_id = self
            .authorization
            .and_then(|header| parse_header(header).ok())
            .map(|(public, _)| public.to_owned());
        let tokens = match &public_id {
            Some(public) => {
                let key = self
                    .store()
                    .key(public)
                    .map_err(|error| error.to_string())?;
                key.map(|(_, key)| {
                    vec![json!({
                        "name": "default",
                        "public_id": public,
                        "scopes": key.scopes.iter().map(|scope| scope.name()).collect::<Vec<_>>(),
                    })]
                })
                .unwrap_or_default()
            }
            None => Vec::new(),
        };
        let transactions = if selection.wants("walletTxns") {
            self.wallet_transactions(account)?
        } else {
            Vec::new()
        };
        Ok(json!({
            "id": account.to_string(),
            "username": user.name,
            "email": null,
            "walletAddress": null,
            "availableNmr": nmr_text(self.balance(AccountId::Wallet(UserId(account)))?),
            "mfaEnabled": false,
            "status": "VERIFIED",
            "insertedAt": self.time(user.created_at),
            "models": model_values,
            "apiTokens": tokens,
            "walletTxns": transactions,
        }))
    }

    fn account_models(&self, account: u64) -> Result<Vec<numerus_ledger::staking::Model>, String> {
        Ok(self
            .store()
            .models(TournamentId(self.tournament()))
            .map_err(|error| error.to_string())?
            .into_iter()
            .filter(|model| model.user.0 == account)
            .collect())
    }

    fn wallet_transactions(&self, account: u64) -> Result<Vec<Value>, String> {
        let transfers = self
            .store()
            .account_transfers(AccountId::Wallet(UserId(account)), 1_000)
            .map_err(|error| error.to_string())?;
        Ok(transfers
            .into_iter()
            .map(|logged| {
                let transfer = logged.transfer;
                json!({
                    "amount": transfer.amount.to_string(),
                    "from": transfer.debit.to_string(),
                    "to": transfer.credit.to_string(),
                    "status": "confirmed",
                    "time": self.time(logged.at),
                    "tournament": transfer.round.map(|round| round.tournament.0),
                    "txHash": transfer.reference,
                    "type": format!("{:?}", transfer.code),
                })
            })
            .collect())
    }

    fn account_profile(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let username = args.required_text(&["username"])?;
        let account = self
            .store()
            .account_named(&username)
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("there is no account named {username:?}"))?;
        let models: Vec<Value> = self
            .account_models(account)?
            .into_iter()
            .map(|model| json!({ "id": model.id.0.to_string(), "displayName": model.name, "name": model.name }))
            .collect();
        Ok(json!({ "username": username, "models": models }))
    }

    fn model(&self, field: &FieldRequest<'_>) -> Answer {
        let id = field.args.required_text(&["modelId", "modelid", "id"])?;
        let model = if field.selection.wants("submissions") {
            let account = self.caller(Scope::ReadSubmissionInfo)?;
            self.own_model(account, &id)?
        } else {
            self.model_by_id(&id)?
        };
        let submissions = if field.selection.wants("submissions") {
            self.visible_submissions(model.id.0)?
                .iter()
                .map(|s| self.submission_json(s))
                .collect()
        } else {
            Vec::new()
        };
        Ok(json!({
            "id": model.id.0.to_string(),
            "name": model.name,
            "tournament": model.tournament.0,
            "submissions": submissions,
        }))
    }

    fn profile(&self, field: &FieldRequest<'_>) -> Answer {
        self.check_tournament(&field.args, &["tournament"])?;
        let name = field
            .args
            .required_text(&["model_name", "modelName", "username"])?;
        let model = self.model_by_name(&name)?;
        let stake = nmr_text(self.balance(AccountId::Stake(model.id))?);
        let settings = self
            .store()
            .model_settings(model.id.0)
            .map_err(|error| error.to_string())?;
        let start = self
            .store()
            .model_submissions(model.id.0)
            .map_err(|error| error.to_string())?
            .first()
            .map(|first| self.time(first.received_at));
        let daily = if field.selection.wants("dailyModelPerformances") {
            self.daily_performances(model.id.0)?
        } else {
            Vec::new()
        };
        Ok(json!({
            "id": model.id.0.to_string(),
            "username": model.name,
            "startDate": start,
            "bio": settings.get("bio"),
            "linkUrl": settings.get("link_url"),
            "linkText": settings.get("link_text"),
            "nmrStaked": stake,
            "stakeValue": stake,
            "dailyModelPerformances": daily,
        }))
    }

    /// The model's reputation and rank in each score at every resolution date.
    fn daily_performances(&self, model: u64) -> Result<Vec<Value>, String> {
        let finals = self.service.final_scores().map_err(text)?;
        let mut dates: Vec<Timestamp> = finals
            .iter()
            .filter(|score| score.model == model)
            .map(|score| score.resolved_at)
            .collect();
        dates.sort();
        dates.dedup();
        let mut rows = Vec::new();
        for date in dates {
            let reputations = reputation(&finals, date, REPUTATION_WINDOW_DAYS);
            let mut row = serde_json::Map::new();
            row.insert("date".into(), json!(self.time(date)));
            for (score, rep, rank) in [
                ("corr", "corrRep", "corrRank"),
                ("mmc", "mmcRep", "mmcRank"),
                ("fnc", "fncRep", "fncRank"),
                ("fnc", "fncV3Rep", "fncV3Rank"),
                ("bmc", "bmcRep", "bmcRank"),
                ("tc", "tcRep", "tcRank"),
            ] {
                let mine = reputations.get(&model).and_then(|r| r.mean(score));
                let position = mine.map(|mine| {
                    1 + reputations
                        .values()
                        .filter_map(|r| r.mean(score))
                        .filter(|other| *other > mine)
                        .count()
                });
                row.insert(rep.into(), json!(mine));
                row.insert(rank.into(), json!(position));
            }
            rows.push(Value::Object(row));
        }
        Ok(rows)
    }

    // ----- submissions --------------------------------------------------------------------

    /// A model's uploads that were taken (rejected ones are not submissions).
    fn visible_submissions(&self, model: u64) -> Result<Vec<SubmissionRecord>, String> {
        Ok(self
            .store()
            .model_submissions(model)
            .map_err(|error| error.to_string())?
            .into_iter()
            .filter(|s| {
                !matches!(
                    s.state,
                    SubmissionState::Rejected | SubmissionState::Received
                )
            })
            .collect())
    }

    fn submission_json(&self, s: &SubmissionRecord) -> Value {
        json!({
            "id": s.id.to_string(),
            "filename": s.filename,
            "insertedAt": self.time(s.received_at),
            "selected": matches!(s.state, SubmissionState::Selected | SubmissionState::Scored | SubmissionState::Resolved),
            "state": s.state.name(),
            "late": s.late,
            "round": { "number": s.round, "tournament": s.tournament },
            "triggerId": null,
        })
    }

    fn submissions(&self, args: &Args) -> Answer {
        let account = self.caller(Scope::ReadSubmissionInfo)?;
        let models = match args.text(&["modelId"]) {
            Some(id) => vec![self.own_model(account, &id)?],
            None => self.account_models(account)?,
        };
        let mut out = Vec::new();
        for model in models {
            out.extend(
                self.visible_submissions(model.id.0)?
                    .iter()
                    .map(|s| self.submission_json(s)),
            );
        }
        Ok(Value::Array(out))
    }

    fn submission_download(&self, args: &Args) -> Answer {
        let account = self.caller(Scope::ReadSubmissionInfo)?;
        let id = args.required_text(&["id"])?;
        let parsed: u64 = id
            .parse()
            .map_err(|_| format!("{id:?} is not a submission id"))?;
        let submission = self
            .store()
            .submission(parsed)
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("there is no submission {id}"))?;
        self.own_model(account, &submission.model.to_string())?;
        let blob = submission.blob.as_deref().ok_or_else(|| {
            format!(
                "submission {id} was not stored ({})",
                submission.state.name()
            )
        })?;
        let object = self.files.blob_object(&self.service, blob);
        Ok(
            json!({ "filename": submission.filename, "url": self.files.url(Access::Read, &object, self.real_now) }),
        )
    }

    // ----- scores -------------------------------------------------------------------------

    /// Every score of `model` as rows: one per round, day and score name.
    fn score_rows(&self, model: u64) -> Result<Vec<(RoundRecord, DailyScore)>, String> {
        let mut rounds: HashMap<u32, Option<RoundRecord>> = HashMap::new();
        let mut rows = Vec::new();
        for score in self
            .store()
            .model_scores(model)
            .map_err(|error| error.to_string())?
        {
            let record = rounds
                .entry(score.round)
                .or_insert_with(|| {
                    self.store()
                        .round_record(self.tournament(), score.round)
                        .ok()
                        .flatten()
                })
                .clone();
            if let Some(record) = record {
                rows.push((record, score));
            }
        }
        Ok(rows)
    }

    /// Percentile of `value` among every model's `name` on `round`'s `day`.
    fn percentiles(&self, round: u32) -> Result<HashMap<(u32, String), Vec<f64>>, String> {
        let mut by_day: HashMap<(u32, String), Vec<f64>> = HashMap::new();
        for score in self
            .store()
            .round_scores(self.tournament(), round)
            .map_err(|error| error.to_string())?
        {
            for (name, value) in score.values {
                if let Some(value) = value.filter(|v| v.is_finite()) {
                    by_day.entry((score.day, name)).or_default().push(value);
                }
            }
        }
        Ok(by_day)
    }

    fn submission_scores(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let model = self.model_by_id(&args.required_text(&["modelId"])?)?;
        let wanted_name = args.text(&["displayName"]);
        let wanted_day = args.int("day")?;
        let wanted_resolved = args.boolean("resolved")?;
        let distinct = args.boolean("distinctOnRound")?.unwrap_or(false);
        let last_rounds = args.int("lastNRounds")?;
        let scoring_days = self.service.definition().calendar.scoring_days;
        let rows = self.score_rows(model.id.0)?;
        let mut round_numbers: Vec<u32> = rows.iter().map(|(round, _)| round.number).collect();
        round_numbers.sort_unstable();
        round_numbers.dedup();
        if let Some(n) = last_rounds {
            let keep = usize::try_from(n.max(0)).unwrap_or(0);
            round_numbers = round_numbers.split_off(round_numbers.len().saturating_sub(keep));
        }
        let mut percentiles: HashMap<u32, HashMap<(u32, String), Vec<f64>>> = HashMap::new();
        let mut out: Vec<Value> = Vec::new();
        for (round, score) in rows.iter().rev() {
            if !round_numbers.contains(&round.number) || score.day == 0 {
                continue;
            }
            let schedule = self
                .service
                .calendar()
                .round(round.number)
                .map_err(|e| e.to_string())?;
            let resolved = score.day == scoring_days;
            if wanted_day.is_some_and(|day| day != i64::from(score.day))
                || wanted_resolved.is_some_and(|flag| flag != resolved)
            {
                continue;
            }
            for (name, value) in &score.values {
                if wanted_name.as_deref().is_some_and(|wanted| wanted != name) {
                    continue;
                }
                if distinct
                    && out.iter().any(|row| {
                        row["roundNumber"] == json!(round.number)
                            && row["displayName"] == json!(name)
                    })
                {
                    continue;
                }
                let table = match percentiles.entry(round.number) {
                    std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::hash_map::Entry::Vacant(entry) => {
                        entry.insert(self.percentiles(round.number)?)
                    }
                };
                let percentile = value.filter(|v| v.is_finite()).and_then(|v| {
                    let all = table.get(&(score.day, name.clone()))?;
                    let below = all.iter().filter(|other| **other < v).count();
                    Some(below as f64 / all.len().max(1) as f64)
                });
                let date = schedule.scores.get(score.day as usize - 1).copied();
                out.push(json!({
                    "roundId": format!("{}-{}", round.tournament, round.number),
                    "submissionId": score.submission.to_string(),
                    "roundNumber": round.number,
                    "roundResolveTime": self.time(round.resolve_at),
                    "roundScoreTime": self.time(round.score_at),
                    "roundCloseStakingTime": self.time(round.close_at),
                    "value": value.filter(|v| v.is_finite()),
                    "percentile": percentile,
                    "displayName": name,
                    "version": "1",
                    "date": date.map(|t| self.time(t)),
                    "day": score.day,
                    "resolveDate": self.time(round.resolve_at),
                    "resolved": resolved,
                }));
            }
        }
        Ok(Value::Array(out))
    }

    fn round_performances(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let model = self.model_by_id(&args.required_text(&["modelId"])?)?;
        let rows = self.score_rows(model.id.0)?;
        let mut by_round: BTreeMap<u32, (RoundRecord, Vec<DailyScore>)> = BTreeMap::new();
        for (round, score) in rows {
            by_round
                .entry(round.number)
                .or_insert_with(|| (round, Vec::new()))
                .1
                .push(score);
        }
        for submission in self.visible_submissions(model.id.0)? {
            if let std::collections::btree_map::Entry::Vacant(entry) =
                by_round.entry(submission.round)
                && let Some(record) = self
                    .store()
                    .round_record(self.tournament(), submission.round)
                    .map_err(|error| error.to_string())?
            {
                entry.insert((record, Vec::new()));
            }
        }
        let mut out = Vec::new();
        for (number, (round, scores)) in by_round.into_iter().rev() {
            let key = RoundKey {
                tournament: TournamentId(self.tournament()),
                number,
            };
            let ledger_round = self.store().round(key).map_err(|error| error.to_string())?;
            let stake = self
                .store()
                .round_stakes(key)
                .map_err(|error| error.to_string())?
                .into_iter()
                .find(|stake| stake.model == model.id);
            let multipliers: Vec<Value> = ledger_round
                .as_ref()
                .map(|r| r.config.multipliers.clone())
                .unwrap_or_else(|| self.service.definition().payout.multipliers.clone())
                .iter()
                .enumerate()
                .map(|(index, (name, multiplier))| {
                    json!({
                        "id": format!("{number}-{name}"),
                        "scoreConfigId": index.to_string(),
                        "name": name,
                        "version": "1",
                        "displayName": name,
                        "multiplier": multiplier.to_string(),
                    })
                })
                .collect();
            let factor = match ledger_round.as_ref().map(|r| &r.state) {
                Some(
                    RoundState::Scored { payout_factor, .. }
                    | RoundState::Settled { payout_factor, .. },
                ) => Some(payout_factor.to_string()),
                _ => None,
            };
            let settled = stake
                .as_ref()
                .and_then(|stake| stake.settlement)
                .map(|settlement| settlement.net().to_string());
            let pending = if settled.is_none() {
                self.pending_payout(&round, model.id)?
            } else {
                None
            };
            let last_day = scores.iter().map(|s| s.day).max().unwrap_or(0);
            let score_json = |score: &DailyScore, name: &str, value: Option<f64>, payout: bool| {
                let date = self
                    .service
                    .calendar()
                    .round(number)
                    .ok()
                    .and_then(|schedule| schedule.scores.get(score.day as usize - 1).copied());
                json!({
                    "date": date.map(|t| self.time(t)),
                    "day": score.day,
                    "displayName": name,
                    "value": value.filter(|v| v.is_finite()),
                    "percentile": null,
                    "payoutPending": if payout { pending.clone() } else { None },
                    "payoutSettled": if payout { settled.clone() } else { None },
                })
            };
            let mut latest = Vec::new();
            let mut intra = Vec::new();
            for score in scores.iter().filter(|s| s.day > 0) {
                for (name, value) in &score.values {
                    intra.push(score_json(score, name, *value, false));
                    if score.day == last_day {
                        latest.push(score_json(score, name, *value, name == "corr"));
                    }
                }
            }
            out.push(json!({
                "roundNumber": number,
                "roundOpenTime": self.time(round.open_at),
                "roundResolveTime": self.time(round.resolve_at),
                "roundResolved": round.phase == numerus_tournament::records::RoundPhase::Resolved,
                "roundTarget": self.service.definition().target,
                "roundPayoutFactor": factor,
                "atRisk": stake.map(|stake| stake.at_risk.to_string()),
                "payoutMultipliers": multipliers,
                "submissionScores": latest,
                "intraRoundSubmissionScores": intra,
            }));
        }
        Ok(Value::Array(out))
    }

    /// What `model` would be paid in `round` on its latest daily scores, if it is at risk.
    fn pending_payout(
        &self,
        round: &RoundRecord,
        model: ModelId,
    ) -> Result<Option<String>, String> {
        let key = RoundKey {
            tournament: TournamentId(self.tournament()),
            number: round.number,
        };
        let Some(ledger_round) = self.store().round(key).map_err(|error| error.to_string())? else {
            return Ok(None);
        };
        let stakes = self
            .store()
            .round_stakes(key)
            .map_err(|error| error.to_string())?;
        let Some(stake) = stakes.iter().find(|stake| stake.model == model) else {
            return Ok(None);
        };
        if stake.at_risk.is_zero() || stake.settlement.is_some() {
            return Ok(None);
        }
        let latest = self
            .store()
            .round_scores(self.tournament(), round.number)
            .map_err(|error| error.to_string())?
            .into_iter()
            .filter(|score| score.model == model.0 && score.day > 0)
            .max_by_key(|score| score.day);
        let Some(latest) = latest else {
            return Ok(None);
        };
        let factor = match &ledger_round.state {
            RoundState::Scored { payout_factor, .. }
            | RoundState::Settled { payout_factor, .. } => *payout_factor,
            _ => {
                let total = stakes
                    .iter()
                    .try_fold(Nmr::ZERO, |sum, stake| sum.checked_add(stake.at_risk))
                    .unwrap_or(Nmr::MAX_SUPPLY);
                payout_factor(ledger_round.config.stake_threshold, total)
            }
        };
        let mut scores = BTreeMap::new();
        for name in ledger_round.config.multipliers.keys() {
            let value = latest.values.get(name).copied().flatten().unwrap_or(0.0);
            scores.insert(name.clone(), Rate::from_f64(value).unwrap_or(Rate::ZERO));
        }
        let rate = payout_rate(&ledger_round.config, factor, model, &scores)
            .map_err(|error| error.to_string())?;
        Ok(Some(
            settle_model(stake.at_risk, Nmr::ZERO, stake.at_risk, rate)
                .net()
                .to_string(),
        ))
    }

    fn pending_payouts(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let account = self.caller(Scope::ReadUserInfo)?;
        let mut actual = Vec::new();
        let mut pending = Vec::new();
        let models = self.account_models(account)?;
        for round in self.store().rounds().map_err(|error| error.to_string())? {
            if round.key.tournament.0 != self.tournament() {
                continue;
            }
            let Some(record) = self
                .store()
                .round_record(self.tournament(), round.key.number)
                .map_err(|error| error.to_string())?
            else {
                continue;
            };
            for stake in self
                .store()
                .round_stakes(round.key)
                .map_err(|error| error.to_string())?
            {
                let Some(model) = models.iter().find(|model| model.id == stake.model) else {
                    continue;
                };
                let row = |amount: String| {
                    json!({
                        "roundId": format!("{}-{}", record.tournament, record.number),
                        "roundNumber": record.number,
                        "roundResolveTime": self.time(record.resolve_at),
                        "modelId": model.id.0.to_string(),
                        "modelName": model.name,
                        "modelDisplayName": model.name,
                        "payoutNmr": amount,
                        "payoutValue": null,
                        "currencySymbol": "NMR",
                    })
                };
                if let Some(settlement) = stake.settlement {
                    actual.push(row(settlement.net().to_string()));
                } else if let Some(amount) = self.pending_payout(&record, model.id)? {
                    pending.push(row(amount));
                }
            }
        }
        Ok(json!({ "actual": actual, "pending": pending }))
    }

    // ----- leaderboards -------------------------------------------------------------------

    fn page(args: &Args) -> Result<(usize, usize), String> {
        let limit = args.int("limit")?.unwrap_or(50).clamp(0, 10_000) as usize;
        let offset = args.int("offset")?.unwrap_or(0).max(0) as usize;
        Ok((limit, offset))
    }

    fn model_leaderboard(&self, args: &Args) -> Answer {
        let (limit, offset) = Self::page(args)?;
        let ranked = self
            .service
            .model_leaderboard(PAYOUT, self.now)
            .map_err(text)?;
        let finals = self.service.final_scores().map_err(text)?;
        let reputations = reputation(&finals, self.now, REPUTATION_WINDOW_DAYS);
        let rows = ranked.into_iter().skip(offset).take(limit).map(|ranked| {
            let mine = reputations.get(&ranked.row.id);
            let mut row = serde_json::Map::new();
            row.insert("rank".into(), json!(ranked.rank));
            row.insert("username".into(), json!(ranked.row.name));
            row.insert("nmrStaked".into(), json!(nmr_text(ranked.row.stake)));
            row.insert("payoutRep".into(), json!(ranked.row.score));
            for (score, name) in REPUTATION_FIELDS {
                row.insert(name.into(), json!(mine.and_then(|r| r.mean(score))));
            }
            row.insert("corr20V2Rep".into(), row["corr20Rep"].clone());
            row.insert("fncV3Rep".into(), row["fncRep"].clone());
            for name in [
                "corj60Rep",
                "return_1_day",
                "return_13_weeks",
                "return_52_weeks",
            ] {
                row.insert(name.into(), Value::Null);
            }
            row.insert("team".into(), json!(false));
            Value::Object(row)
        });
        Ok(Value::Array(rows.collect()))
    }

    fn account_leaderboard(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let (limit, offset) = Self::page(args)?;
        let ranked = self
            .service
            .account_leaderboard(PAYOUT, self.now)
            .map_err(text)?;
        let finals = self.service.final_scores().map_err(text)?;
        let reputations = account_reputation(&finals, self.now, REPUTATION_WINDOW_DAYS);
        let rows = ranked.into_iter().skip(offset).take(limit).map(|ranked| {
            let mine = reputations.get(&ranked.row.id);
            let mean = |score: &str| json!(mine.and_then(|r| r.mean(score)));
            json!({
                "rank": ranked.rank,
                "username": ranked.row.name,
                "displayName": ranked.row.name,
                "nmrStaked": nmr_text(ranked.row.stake),
                "v2Corr20": mean("corr"),
                "corrV4": mean("corr"),
                "mmc": mean("mmc"),
                "fncV4": mean("fnc"),
                "cort20": null, "corJ60": null, "icV2": null, "ric": null,
                "return1y": null, "return3m": null, "returnAllTime": null,
                "return1yNmr": null, "return3mNmr": null, "returnAllTimeNmr": null,
            })
        });
        Ok(Value::Array(rows.collect()))
    }

    /// The fund's figures: each round's portfolio and returns, and the resolved rounds' mean,
    /// spread, Sharpe ratio and sum (not a numerapi operation; Numerus's own).
    fn fund(&self) -> Answer {
        if self.service.definition().fund.is_none() {
            return Err(
                "this tournament runs no fund (its definition has no [fund] table)".to_owned(),
            );
        }
        let report = self.service.fund_report().map_err(text)?;
        let rounds: Vec<Value> = report
            .rounds
            .iter()
            .map(|round| {
                json!({
                    "roundNumber": round.round,
                    "status": round.solve.status,
                    "positions": round.solve.positions,
                    "gross": round.solve.gross,
                    "net": round.solve.net,
                    "returns": round.returns,
                    "resolved": round.resolved,
                })
            })
            .collect();
        Ok(json!({
            "rounds": rounds,
            "resolvedRounds": report.resolved,
            "meanReturn": report.mean,
            "stdReturn": report.std,
            "sharpe": report.sharpe,
            "cumulativeReturn": report.cumulative,
        }))
    }

    // ----- uploads and stakes ---------------------------------------------------------------

    fn upload_auth(&self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let account = self.caller(Scope::UploadSubmission)?;
        let model = self.upload_model(account, args)?;
        let filename = args.required_text(&["filename"])?;
        let object = self.files.upload_object(model.id.0, &filename);
        Ok(
            json!({ "filename": object, "url": self.files.url(Access::Write, &object, self.real_now) }),
        )
    }

    /// The model an upload is for: `modelId`, or the account's only model.
    fn upload_model(
        &self,
        account: u64,
        args: &Args,
    ) -> Result<numerus_ledger::staking::Model, String> {
        match args.text(&["modelId"]) {
            Some(id) => self.own_model(account, &id),
            None => {
                let models = self.account_models(account)?;
                match models.as_slice() {
                    [only] => Ok(only.clone()),
                    [] => Err(
                        "your account has no model; create one with `numerus model create`"
                            .to_owned(),
                    ),
                    _ => {
                        Err("your account has several models; say which with model_id=".to_owned())
                    }
                }
            }
        }
    }

    fn create_submission(&mut self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournament"])?;
        let account = self.caller(Scope::UploadSubmission)?;
        let model = self.upload_model(account, args)?;
        let object = args.required_text(&["filename"])?;
        let prefix = format!("uploads/{}-", model.id.0);
        if !object.starts_with(&prefix) || object[8..].contains(['/', '\\']) {
            return Err(format!(
                "{object:?} is not an upload of model {}: pass the filename that submission_upload_auth returned for it",
                model.id.0
            ));
        }
        let bytes = self.files.staged(&object)?;
        // uploads/MODEL-NONCE-NAME: the name the participant gave, made safe.
        let name = object
            .splitn(3, '-')
            .nth(2)
            .unwrap_or("predictions.csv")
            .to_owned();
        let ticket = self
            .service
            .begin_upload(model.id.0, &name, self.now)
            .map_err(text)?;
        // Validation and the durable writes, the costly part, run without the service, so
        // other requests (and other uploads' checks) go on meanwhile.
        let checked = MutexGuard::unlocked(&mut self.service, || ticket.check(&bytes));
        let result = self.service.finish_upload(ticket, checked);
        self.files.unstage(&object);
        self.uploads.push(result.is_ok());
        let record = result.map_err(text)?;
        Ok(json!({ "id": record.id.to_string(), "firstEffectiveDate": null }))
    }

    fn stake_request_id(&self, model: ModelId) -> String {
        format!("api/{}/{}", model.0, self.real_now.as_nanosecond())
    }

    fn change_stake(&mut self, args: &Args) -> Answer {
        self.check_tournament(args, &["tournamentNumber", "tournament"])?;
        let account = self.caller(Scope::Stake)?;
        let model = self.upload_model(account, args)?;
        let value = args.required_text(&["value"])?;
        let amount: Nmr = value
            .replace(',', "")
            .parse()
            .map_err(|error| format!("value {value:?} is not an NMR amount: {error}"))?;
        let kind = args.required_text(&["type"])?.to_lowercase();
        let change = match kind.as_str() {
            "increase" => StakeChange::Increase(amount),
            "decrease" => StakeChange::Decrease(amount),
            other => {
                return Err(format!(
                    "type {other:?} is neither \"increase\" nor \"decrease\""
                ));
            }
        };
        let request = self.stake_request_id(model.id);
        self.service
            .change_stake(account, model.id.0, change, &request, self.now)
            .map_err(text)?;
        let due = self.due_date(model.id, &kind)?;
        Ok(json!({
            "id": request,
            "dueDate": due,
            "requestedAmount": amount.to_string(),
            "status": if due.is_some() { "pending" } else { "completed" },
            "type": kind,
            "drain": false,
        }))
    }

    fn release_stake(&mut self, args: &Args) -> Answer {
        let account = self.caller(Scope::Stake)?;
        let model = self.upload_model(account, args)?;
        let drain = args.boolean("drain")?.unwrap_or(false);
        let stake = Nmr::from_base_units(self.balance(AccountId::Stake(model.id))?);
        let (change, requested) = if drain {
            (StakeChange::Drain, stake)
        } else {
            let value = args.required_text(&["amount"])?;
            let amount: Nmr = value
                .replace(',', "")
                .parse()
                .map_err(|error| format!("amount {value:?} is not an NMR amount: {error}"))?;
            (StakeChange::Decrease(amount), amount)
        };
        let request = self.stake_request_id(model.id);
        self.service
            .change_stake(account, model.id.0, change, &request, self.now)
            .map_err(text)?;
        let due = self.due_date(model.id, "decrease")?;
        Ok(json!({
            "id": request,
            "dueDate": due,
            "requestedAmount": requested.to_string(),
            "status": if due.is_some() { "pending" } else { "completed" },
            "type": "decrease",
            "drain": drain,
        }))
    }

    /// When a decrease asked for now reaches the wallet: its release round's resolve time.
    fn due_date(&self, model: ModelId, kind: &str) -> Result<Option<String>, String> {
        if kind != "decrease" {
            return Ok(None);
        }
        let releases = self
            .store()
            .open_releases(model)
            .map_err(|error| error.to_string())?;
        Ok(releases
            .iter()
            .filter_map(|release| release.release_round)
            .max()
            .and_then(|round| self.service.calendar().round(round.number).ok())
            .map(|schedule| self.time(schedule.resolve_time())))
    }

    fn set_setting(&mut self, args: &Args, name: &str, argument: &[&str]) -> Result<(), String> {
        let account = self.caller(Scope::UploadSubmission)?;
        let model = self.upload_model(account, args)?;
        let value = args.text(argument);
        self.service
            .ledger_mut()
            .store_mut()
            .set_model_setting(model.id.0, name, value.as_deref())
            .map_err(|error| error.to_string())
    }
}
