//! The tournament service: accounts, models and keys; uploads; and the scheduler's `tick`,
//! which opens, closes, scores and resolves rounds as the injected clock passes their times.
//!
//! Every step is idempotent and reads what to do from the records, so a process killed at any
//! point and started again carries on to the same result:
//!
//! | step | what it writes | re-run after a crash |
//! |---|---|---|
//! | open | live blobs, the round record, then the ledger round | finds the record, re-applies the ledger round (`AlreadyApplied`) |
//! | close | the ledger's at-risk snapshot (one batch), then the phase | the batch is `AlreadyApplied` |
//! | score day k | blobs (pack, meta model, targets), then day k's scores, the round's day count and the job's end in one transaction | recomputes the same blobs (same hashes) and scores |
//! | resolve | the ledger settlement (one batch), then the phase and the submissions' state in one transaction | the settlement is `AlreadyApplied` |

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use faer::Mat;
use jiff::{SignedDuration, Timestamp};
use numerus_frames::{ReadOptions, read_table};
use numerus_ledger::staking::{Model, OpenGate, RoundState, SubmissionStatus, User};
use numerus_ledger::{Ledger, ModelId, Rate, RoundKey, Store, TournamentId, UserId};
use numerus_scoring::rank::{RankScratch, rank_codes};
use numerus_tournament::calendar::{Calendar, Schedule};
use numerus_tournament::keys::{NewKey, Scope, parse_header};
use numerus_tournament::records::{
    DailyScore, Records, RoundPhase, RoundRecord, SubmissionRecord, SubmissionState,
};
use numerus_tournament::submission::{Accepted, validate};
use rayon::prelude::*;

use crate::blobs::BlobDir;
use crate::definition::Definition;
use crate::fund;
use crate::market::Market;
use crate::pack::{DayInputs, Entry, Pack, daily_scores, read_codes, round_scores, write_codes};
use crate::{Error, tables};

/// What one `tick` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Rounds opened.
    pub opened: Vec<u32>,
    /// Rounds closed.
    pub closed: Vec<u32>,
    /// Daily scores computed: (round, day).
    pub scored: Vec<(u32, u32)>,
    /// Rounds resolved and settled.
    pub resolved: Vec<u32>,
    /// Uploads the reaper rejected.
    pub reaped: Vec<u64>,
    /// Jobs found past their deadline (they are run again when still due).
    pub overdue_jobs: Vec<String>,
    /// Work that is due but waits for data (e.g. targets not yet in the market).
    pub waiting: Vec<String>,
}

/// The service over a store `S` (the ledger's and the records' port).
pub struct Service<S> {
    definition: Definition,
    calendar: Calendar,
    ledger: Ledger<S>,
    blobs: BlobDir,
    scratch: PathBuf,
    live_ids: HashMap<u32, Arc<Vec<String>>>,
    /// Targets files by market date: one file serves every round scored through that date.
    targets: HashMap<jiff::civil::Date, String>,
}

impl<S> std::fmt::Debug for Service<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Service")
            .field("tournament", &self.definition.name)
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

fn seconds(count: i64) -> SignedDuration {
    SignedDuration::from_secs(count)
}

impl<S: Store + Records> Service<S> {
    /// The service for `definition` over `store`, keeping files under `data_dir`
    /// (`blobs/`, `tmp/`).
    ///
    /// # Errors
    /// [`Error::Definition`], [`Error::Io`].
    pub fn new(definition: Definition, store: S, data_dir: &Path) -> Result<Self, Error> {
        definition.check()?;
        let calendar = Calendar::new(definition.calendar.clone())
            .map_err(|error| Error::Definition(error.to_string()))?;
        let scratch = data_dir.join("tmp");
        fs::create_dir_all(&scratch).map_err(Error::io("create", &scratch))?;
        Ok(Self {
            definition,
            calendar,
            ledger: Ledger::new(store),
            blobs: BlobDir::new(data_dir.join("blobs")),
            scratch,
            live_ids: HashMap::new(),
            targets: HashMap::new(),
        })
    }

    /// The definition.
    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// The calendar.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The ledger (and through it the store).
    pub fn ledger(&self) -> &Ledger<S> {
        &self.ledger
    }

    /// The ledger, mutably: deposits, stakes and releases go straight to it.
    pub fn ledger_mut(&mut self) -> &mut Ledger<S> {
        &mut self.ledger
    }

    /// The blob store.
    pub fn blobs(&self) -> &BlobDir {
        &self.blobs
    }

    fn store(&self) -> &S {
        self.ledger.store()
    }

    fn tournament(&self) -> u32 {
        self.definition.id
    }

    fn key(&self, number: u32) -> RoundKey {
        RoundKey {
            tournament: TournamentId(self.tournament()),
            number,
        }
    }

    // ----- accounts, models, keys -------------------------------------------------------

    /// Creates account `username` with a key of every scope, from 64 caller-supplied random
    /// bytes; returns its id and the key (the only time its secret exists in clear).
    ///
    /// # Errors
    /// [`Error::Refused`] for a taken or unusable name.
    pub fn create_account(
        &mut self,
        username: &str,
        random: &[u8; 64],
        now: Timestamp,
    ) -> Result<(u64, NewKey), Error> {
        check_name(username, "account")?;
        if self.store().account_named(username)?.is_some() {
            return Err(Error::Refused(format!(
                "the account name {username:?} is taken; choose another"
            )));
        }
        let (id, _) = self.store().next_ids()?;
        self.ledger.create_user(
            User {
                id: UserId(id),
                name: username.to_owned(),
                created_at: now,
            },
            now,
        )?;
        let (public, secret) = random.split_at(32);
        let key = NewKey::new(
            public.try_into().expect("32 bytes"),
            secret.try_into().expect("32 bytes"),
            Scope::ALL.into_iter().collect::<BTreeSet<_>>(),
        );
        self.ledger.store_mut().insert_key(id, &key.stored, now)?;
        Ok((id, key))
    }

    /// Creates model `name` of account `username` in this tournament; returns its id.
    ///
    /// # Errors
    /// [`Error::Refused`] for an unknown account or a taken name.
    pub fn create_model(
        &mut self,
        username: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<u64, Error> {
        check_name(name, "model")?;
        let account = self.store().account_named(username)?.ok_or_else(|| {
            Error::Refused(format!(
                "there is no account {username:?}; create it with `numerus account create --username {username}`"
            ))
        })?;
        if self.store().model_named(self.tournament(), name)?.is_some() {
            return Err(Error::Refused(format!(
                "the model name {name:?} is taken in {}; choose another",
                self.definition.name
            )));
        }
        let (_, id) = self.store().next_ids()?;
        self.ledger.create_model(
            Model {
                id: ModelId(id),
                user: UserId(account),
                name: name.to_owned(),
                tournament: TournamentId(self.tournament()),
            },
            now,
        )?;
        Ok(id)
    }

    /// The account an `Authorization` header belongs to, if its key has `scope`.
    ///
    /// # Errors
    /// [`Error::Refused`] naming what is wrong with the key.
    pub fn authenticate(&self, header: &str, scope: Scope) -> Result<u64, Error> {
        let refused = |error: &dyn std::fmt::Display| Error::Refused(error.to_string());
        let (public, secret) = parse_header(header).map_err(|error| refused(&error))?;
        let (account, key) = self.store().key(public)?.ok_or_else(|| {
            Error::Refused("unknown API key: check NUMERAI_PUBLIC_ID".to_string())
        })?;
        key.authorize(secret, scope)
            .map_err(|error| refused(&error))?;
        Ok(account)
    }

    // ----- uploads ----------------------------------------------------------------------

    /// Accepts an upload of `bytes` (CSV or Parquet, by `filename`'s extension) for `model`
    /// in the current round: on time while it is open, late after it closes until its first
    /// score. The upload is recorded as `received`, validated, and either stored (content-
    /// addressed) and selected — superseding the model's earlier selection in the round — or
    /// rejected with the reason; its record is returned.
    ///
    /// This is [`Service::begin_upload`], [`UploadTicket::check`] and
    /// [`Service::finish_upload`] in one call; a server runs the check, the costly part,
    /// without holding the service.
    ///
    /// # Errors
    /// [`Error::Refused`] when no round takes uploads or the model is unknown;
    /// [`Error::Invalid`] for an invalid file (its record says `rejected` and why).
    pub fn upload(
        &mut self,
        model: u64,
        filename: &str,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<SubmissionRecord, Error> {
        let ticket = self.begin_upload(model, filename, now)?;
        let checked = ticket.check(bytes);
        self.finish_upload(ticket, checked)
    }

    /// The first step of an upload: refuses an unknown model, a file that is neither CSV nor
    /// Parquet, a round that takes no uploads, and a late upload that could not count; then
    /// records the upload as `received` and returns what the check needs.
    ///
    /// # Errors
    /// [`Error::Refused`] naming the fix.
    pub fn begin_upload(
        &mut self,
        model: u64,
        filename: &str,
        now: Timestamp,
    ) -> Result<UploadTicket, Error> {
        let known = self.store().model(ModelId(model))?;
        if known.is_none_or(|found| found.tournament.0 != self.tournament()) {
            return Err(Error::Refused(format!(
                "there is no model {model} in {}; create it with `numerus model create`",
                self.definition.name
            )));
        }
        let extension = match Path::new(filename).extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => "csv",
            Some(e) if e.eq_ignore_ascii_case("parquet") => "parquet",
            _ => {
                return Err(Error::Refused(format!(
                    "{filename:?} is neither .csv nor .parquet; upload predictions as CSV or Parquet"
                )));
            }
        };
        let round = self.accepting_round(now)?;
        let late = now >= round.close_at;
        if late {
            let on_time = self
                .store()
                .round_submissions(self.tournament(), round.number)?
                .into_iter()
                .any(|s| s.model == model && s.state == SubmissionState::Selected && !s.late);
            if on_time {
                return Err(Error::Refused(format!(
                    "round {} has closed and model {model} has an on-time submission selected; \
                     a late upload would not count — predict round {} when it opens",
                    round.number,
                    round.number + 1
                )));
            }
        }
        let live_ids = self.live_ids(&round)?;
        let mut record = SubmissionRecord {
            id: 0,
            model,
            tournament: self.tournament(),
            round: round.number,
            filename: filename.to_owned(),
            blob: None,
            ranks: None,
            received_at: now,
            deadline: now + seconds(self.definition.upload_deadline_seconds),
            state: SubmissionState::Received,
            late,
            reason: None,
        };
        record.id = self.ledger.store_mut().insert_submission(&record)?;
        Ok(UploadTicket {
            id: record.id,
            extension,
            live_ids,
            rule: self.definition.submission_rule(),
            blobs: self.blobs.clone(),
            scratch: self.scratch.clone(),
        })
    }

    /// The last step of an upload: selects it (superseding the model's earlier selection in
    /// the round) or rejects it with the check's reason; returns its record.
    ///
    /// # Errors
    /// The check's [`Error::Invalid`] for a rejected file; the store's.
    pub fn finish_upload(
        &mut self,
        ticket: UploadTicket,
        checked: Result<CheckedUpload, Error>,
    ) -> Result<SubmissionRecord, Error> {
        match checked {
            Ok(CheckedUpload { blob, ranks }) => {
                self.ledger
                    .store_mut()
                    .select_submission(ticket.id, &blob, Some(&ranks))?;
            }
            Err(rejection) => {
                let reason = match &rejection {
                    Error::Invalid { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                self.ledger
                    .store_mut()
                    .reject_submission(ticket.id, &reason)?;
                return Err(rejection);
            }
        }
        Ok(self
            .store()
            .submission(ticket.id)?
            .expect("the upload was just recorded"))
    }

    /// The round an upload now goes to.
    fn accepting_round(&self, now: Timestamp) -> Result<RoundRecord, Error> {
        let schedule = self.calendar.current(now).ok().flatten().ok_or_else(|| {
            Error::Refused("no round has opened yet; wait for the first round".into())
        })?;
        let round = self
            .store()
            .round_record(self.tournament(), schedule.number)?
            .ok_or_else(|| {
                if now < schedule.close {
                    Error::Refused(format!(
                        "round {} is not open yet (its data is being published); try again in a minute",
                        schedule.number
                    ))
                } else {
                    Error::Refused(format!(
                        "round {} was not opened (the scheduler did not run in its window); {}",
                        schedule.number,
                        self.next_opening(schedule.number)
                    ))
                }
            })?;
        if now >= round.score_at
            || matches!(round.phase, RoundPhase::Scoring | RoundPhase::Resolved)
        {
            return Err(Error::Refused(format!(
                "round {} is being scored and takes no more uploads; {}",
                round.number,
                self.next_opening(round.number)
            )));
        }
        Ok(round)
    }

    /// "round N+1 opens at T", for refusals that send the participant to the next round.
    fn next_opening(&self, number: u32) -> String {
        let open = self
            .calendar
            .round(number + 1)
            .map(|next| next.open.to_string())
            .unwrap_or_default();
        format!("round {} opens at {open}", number + 1)
    }

    /// The live ids of a round (cached).
    fn live_ids(&mut self, round: &RoundRecord) -> Result<Arc<Vec<String>>, Error> {
        if let Some(ids) = self.live_ids.get(&round.number) {
            return Ok(ids.clone());
        }
        let live = tables::read_blob_table(&self.blobs, blob(round, "live")?, None)?;
        let ids = Arc::new(tables::text(&live, "id")?.to_vec());
        self.live_ids.insert(round.number, ids.clone());
        Ok(ids)
    }

    /// Cleans up after a process that stopped abruptly, before serving again: uploads it
    /// received but never validated are rejected (their senders got no answer), and the
    /// temporary files of interrupted writes are removed. Only for the one process that takes
    /// uploads, when it starts. Returns the rejected uploads' ids.
    ///
    /// # Errors
    /// The store's; [`Error::Io`].
    pub fn recover(&mut self) -> Result<Vec<u64>, Error> {
        let interrupted = self.store().overdue_submissions(Timestamp::MAX)?;
        for upload in &interrupted {
            self.ledger.store_mut().reject_submission(
                upload.id,
                "the server stopped before this upload was validated; upload it again",
            )?;
        }
        self.blobs.remove_partials()?;
        if let Ok(entries) = fs::read_dir(&self.scratch) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
            }
        }
        Ok(interrupted.into_iter().map(|upload| upload.id).collect())
    }

    // ----- the scheduler ----------------------------------------------------------------

    /// Does everything due at `now`: rejects uploads stuck past their deadline, opens the
    /// current round, closes rounds past their close, computes every daily score due whose
    /// targets the market has, and resolves and settles rounds whose final score is in.
    ///
    /// # Errors
    /// The first failure; what was done before it stays done, and the next tick resumes.
    pub fn tick(&mut self, market: &dyn Market, now: Timestamp) -> Result<TickReport, Error> {
        let mut report = TickReport::default();
        for overdue in self.store().overdue_submissions(now)? {
            self.ledger.store_mut().reject_submission(
                overdue.id,
                "the server stopped before this upload was validated; upload it again",
            )?;
            report.reaped.push(overdue.id);
        }
        // A job past its deadline was interrupted (or is stuck): say so on its record; the
        // steps below run it again, since its work is still due.
        for job in self.store().unfinished_jobs()? {
            if job.deadline <= now && job.error.is_none() {
                let error = format!(
                    "did not finish by {} (attempt {}); retried at {now}",
                    job.deadline, job.attempts
                );
                self.ledger.store_mut().fail_job(&job.name, &error, now)?;
                report.overdue_jobs.push(job.name);
            }
        }
        if let Some(schedule) = self.calendar.current(now).ok().flatten() {
            let opened = self
                .store()
                .round_record(self.tournament(), schedule.number)?;
            if opened.is_none() && now < schedule.close {
                if market
                    .available_through()
                    .is_some_and(|last| last >= schedule.data_date)
                {
                    self.open(market, &schedule)?;
                    report.opened.push(schedule.number);
                } else {
                    report.waiting.push(format!(
                        "round {} waits for market data of {}",
                        schedule.number, schedule.data_date
                    ));
                }
            }
        }
        let mut rounds = self.store().round_records(self.tournament(), true)?;
        rounds.reverse();
        for mut round in rounds {
            let schedule = self
                .calendar
                .round(round.number)
                .map_err(|error| Error::Definition(error.to_string()))?;
            if round.phase == RoundPhase::Open {
                // A round recorded but not yet in the ledger (a crash between the two).
                self.open_in_ledger(&round)?;
                if now >= round.close_at {
                    self.close(&mut round, now)?;
                    report.closed.push(round.number);
                }
            }
            while round.scored_days < schedule.scores.len() as u32 {
                let day = round.scored_days + 1;
                let index = day as usize - 1;
                if schedule.scores[index] > now {
                    break;
                }
                let through = schedule.scored_through[index];
                if market.available_through().is_none_or(|last| last < through) {
                    report.waiting.push(format!(
                        "round {} day {day} waits for market data of {through}",
                        round.number
                    ));
                    break;
                }
                self.score_day(market, &mut round, &schedule, day, now)?;
                report.scored.push((round.number, day));
            }
            if round.scored_days == schedule.scores.len() as u32
                && round.phase != RoundPhase::Resolved
            {
                self.resolve(&mut round, now)?;
                report.resolved.push(round.number);
            }
        }
        Ok(report)
    }

    fn open(&mut self, market: &dyn Market, schedule: &Schedule) -> Result<(), Error> {
        let dir = self.scratch.join(format!("live-{}", schedule.number));
        fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        market.live(schedule.data_date, &dir)?;
        let live = self.blobs.put_file(&dir.join("live.parquet"))?;
        let benchmark = self
            .blobs
            .put_file(&dir.join("live_example_preds.parquet"))?;
        let _ = fs::remove_dir_all(&dir);
        let round = RoundRecord {
            tournament: self.tournament(),
            number: schedule.number,
            open_at: schedule.open,
            close_at: schedule.close,
            score_at: schedule.score_time(),
            resolve_at: schedule.resolve_time(),
            data_date: schedule.data_date,
            phase: RoundPhase::Open,
            scored_days: 0,
            blobs: BTreeMap::from([("live".into(), live), ("benchmark".into(), benchmark)]),
        };
        self.ledger.store_mut().put_round(&round)?;
        self.open_in_ledger(&round)?;
        Ok(())
    }

    fn open_in_ledger(&mut self, round: &RoundRecord) -> Result<(), Error> {
        let key = self.key(round.number);
        if self.store().round(key)?.is_none() {
            self.ledger.open_round(
                key,
                round.close_at,
                round.resolve_at,
                self.definition.payout.clone(),
                round.open_at,
            )?;
        }
        Ok(())
    }

    /// Fixes at-risk amounts: a model's stake if it has an on-time selected submission.
    fn close(&mut self, round: &mut RoundRecord, now: Timestamp) -> Result<(), Error> {
        let submissions = self
            .store()
            .round_submissions(self.tournament(), round.number)?;
        let statuses: BTreeMap<ModelId, SubmissionStatus> = submissions
            .iter()
            .filter(|submission| submission.state == SubmissionState::Selected)
            .map(|submission| {
                let status = if submission.late {
                    SubmissionStatus::Late
                } else {
                    SubmissionStatus::OnTime
                };
                (ModelId(submission.model), status)
            })
            .collect();
        if self
            .store()
            .round(self.key(round.number))?
            .is_some_and(|r| matches!(r.state, RoundState::Open))
        {
            self.ledger.close_round(
                self.key(round.number),
                &statuses,
                &OpenGate,
                now.max(round.close_at),
            )?;
        }
        round.phase = RoundPhase::Closed;
        self.ledger.store_mut().put_round(round)?;
        Ok(())
    }

    /// Freezes the selection into a pack and computes the meta model and the round scores.
    fn freeze(&mut self, round: &mut RoundRecord) -> Result<(Pack, Vec<DailyScore>), Error> {
        let stakes: HashMap<u64, String> = self
            .store()
            .round_stakes(self.key(round.number))?
            .into_iter()
            .map(|stake| (stake.model.0, stake.at_risk.base_units().to_string()))
            .collect();
        let ids = self.live_ids(round)?;
        let selected: Vec<SubmissionRecord> = self
            .store()
            .round_submissions(self.tournament(), round.number)?
            .into_iter()
            .filter(|submission| submission.state == SubmissionState::Selected)
            .collect();
        // Each upload's ranks were made when it was validated; an upload stored without
        // them is read and ranked again. In parallel: a round can have thousands.
        let rule = self.definition.submission_rule();
        let blobs = &self.blobs;
        let columns: Vec<Vec<u32>> = selected
            .par_iter()
            .map(|submission| -> Result<Vec<u32>, Error> {
                if let Some(ranks) = &submission.ranks {
                    let codes = read_codes(&blobs.read(ranks)?);
                    if codes.len() == ids.len() {
                        return Ok(codes);
                    }
                }
                let table = tables::read_blob_table(
                    blobs,
                    submission.blob.as_deref().unwrap_or(""),
                    Some(&rule.id_columns),
                )?;
                let accepted = validate(&rule, &ids, &table).map_err(|rejection| {
                    Error::Corrupt(format!(
                        "stored submission {} no longer validates ({rejection}); the blob store is damaged",
                        submission.id
                    ))
                })?;
                Ok(live_rank_codes(&ids, &accepted))
            })
            .collect::<Result<_, _>>()?;
        let mut entries = Vec::new();
        for submission in &selected {
            let at_risk = if submission.late {
                "0".to_string()
            } else {
                stakes
                    .get(&submission.model)
                    .cloned()
                    .unwrap_or_else(|| "0".into())
            };
            entries.push(Entry {
                model: submission.model,
                submission: submission.id,
                late: submission.late,
                at_risk,
            });
        }
        let pack = Pack {
            ids: ids.to_vec(),
            entries,
            codes: columns.concat(),
        };
        round.blobs.insert(
            "predictions".into(),
            self.blobs.put(&pack.to_bytes(), "bin")?,
        );
        let meta_model = pack.meta_model();
        if let Some(meta) = &meta_model {
            let table = tables::meta_model_table(&pack.ids, meta);
            round.blobs.insert(
                "meta_model".into(),
                tables::put_table(&self.blobs, &self.scratch, &table)?,
            );
        }
        if let (Some(config), Some(meta)) = (self.definition.fund.clone(), &meta_model) {
            let features = self.live_features(round)?;
            let (weights, figures) = fund::portfolio(meta, &features, &config)?;
            let table = fund::weights_table(&pack.ids, &weights);
            round.blobs.insert(
                "portfolio".into(),
                tables::put_table(&self.blobs, &self.scratch, &table)?,
            );
            let json = serde_json::to_vec(&figures)
                .map_err(|error| Error::Corrupt(format!("the fund's figures: {error}")))?;
            round
                .blobs
                .insert("fund".into(), self.blobs.put(&json, "json")?);
        }
        let scores = round_scores(&pack, meta_model.as_deref());
        let day_zero = score_rows(round.number, 0, &pack.entries, scores).collect();
        Ok((pack, day_zero))
    }

    /// Runs job `name`: records its start and deadline, does `work` (which finishes the job
    /// in its own last transaction), and records why it failed if it does.
    fn run_job(
        &mut self,
        name: &str,
        now: Timestamp,
        work: impl FnOnce(&mut Self) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let deadline = now + seconds(self.definition.job_deadline_seconds);
        self.ledger.store_mut().start_job(name, now, deadline)?;
        let result = work(self);
        if let Err(error) = &result {
            self.ledger
                .store_mut()
                .fail_job(name, &error.to_string(), now)?;
        }
        result
    }

    fn score_day(
        &mut self,
        market: &dyn Market,
        round: &mut RoundRecord,
        schedule: &Schedule,
        day: u32,
        now: Timestamp,
    ) -> Result<(), Error> {
        let job = format!("score/{}/{}/{day}", self.tournament(), round.number);
        self.run_job(&job, now, |this| {
            this.score_day_job(market, round, schedule, day, &job, now)
        })
    }

    fn score_day_job(
        &mut self,
        market: &dyn Market,
        round: &mut RoundRecord,
        schedule: &Schedule,
        day: u32,
        job: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let mut scores = Vec::new();
        let pack = if day == 1 {
            // The payout factor is fixed at score time, then the selection is frozen.
            let key = self.key(round.number);
            if self
                .store()
                .round(key)?
                .is_some_and(|r| matches!(r.state, RoundState::Closed { .. }))
            {
                self.ledger.score_round(key, now.max(round.score_at))?;
            }
            let (pack, day_zero) = self.freeze(round)?;
            scores.extend(day_zero);
            pack
        } else {
            Pack::from_bytes(&self.blobs.read(blob(round, "predictions")?)?)?
        };
        let targets = self.targets_of(market, schedule.scored_through[day as usize - 1])?;
        round
            .blobs
            .insert(format!("targets/{day:02}"), targets.clone());
        let target = tables::day_target(
            &self.blobs,
            &targets,
            &self.definition.target,
            round.data_date,
            day,
            &pack.ids,
        )?;
        let inputs = self.day_inputs(round, &pack)?;
        // On the final day, each staked model's TC through the round's portfolio.
        let contributions = match &self.definition.fund {
            Some(config)
                if day as usize == schedule.scores.len()
                    && round.blobs.contains_key("portfolio") =>
            {
                let features = self.live_features(round)?;
                let realized = fund::realized(
                    &self.blobs,
                    &targets,
                    &self.definition.target,
                    round.data_date,
                    day,
                    &pack.ids,
                )?;
                fund::contributions(&pack, &features, config, &realized)?
            }
            _ => Vec::new(),
        };
        let entries = pack.entries.clone();
        let values = daily_scores(
            pack,
            DayInputs {
                target: &target,
                meta_model: inputs.meta_model.as_deref(),
                benchmark: Some(&inputs.benchmark),
                features: Some(inputs.features.as_ref()),
            },
        );
        scores.extend(score_rows(round.number, day, &entries, values));
        for (model, tc) in contributions {
            if let Some(row) = scores
                .iter_mut()
                .find(|row| row.day == day && row.model == model)
            {
                row.values
                    .insert("tc".into(), Some(tc).filter(|v| v.is_finite()));
            }
        }
        round.scored_days = day;
        round.phase = RoundPhase::Scoring;
        let state = (day == 1).then_some(SubmissionState::Scored);
        self.ledger
            .store_mut()
            .save_scores(round, &scores, state, job, now)?;
        Ok(())
    }

    /// The targets known on market date `date` (made once, then reused by every round).
    fn targets_of(
        &mut self,
        market: &dyn Market,
        date: jiff::civil::Date,
    ) -> Result<String, Error> {
        if let Some(id) = self.targets.get(&date) {
            return Ok(id.clone());
        }
        let dir = self.scratch.join(format!("targets-{date}"));
        fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
        market.targets(date, &dir)?;
        let id = self.blobs.put_file(&dir.join("targets.parquet"))?;
        let _ = fs::remove_dir_all(&dir);
        self.targets.insert(date, id.clone());
        Ok(id)
    }

    /// The round's live features by name, in live-file order.
    fn live_features(&self, round: &RoundRecord) -> Result<Vec<(String, Vec<f64>)>, Error> {
        let live = tables::read_blob_table(&self.blobs, blob(round, "live")?, None)?;
        Ok(live
            .columns
            .iter()
            .filter(|column| column.name.starts_with("feature_"))
            .filter_map(|column| {
                column
                    .values
                    .as_numbers()
                    .map(|values| (column.name.clone(), values.to_vec()))
            })
            .collect())
    }

    fn day_inputs(&self, round: &RoundRecord, pack: &Pack) -> Result<RoundInputs, Error> {
        let meta_model = match round.blobs.get("meta_model") {
            Some(id) => Some(tables::aligned_column(
                &self.blobs,
                id,
                "numerai_meta_model",
                &pack.ids,
            )?),
            None => None,
        };
        let benchmark = tables::aligned_column(
            &self.blobs,
            blob(round, "benchmark")?,
            "prediction",
            &pack.ids,
        )?;
        let live = tables::read_blob_table(&self.blobs, blob(round, "live")?, None)?;
        let features = live.numbers_with_prefix("feature_");
        let features = Mat::from_fn(pack.rows(), features.len(), |row, column| {
            features[column][row]
        });
        Ok(RoundInputs {
            meta_model,
            benchmark,
            features,
        })
    }

    /// Settles the round on its final scores, then marks it and its submissions resolved.
    fn resolve(&mut self, round: &mut RoundRecord, now: Timestamp) -> Result<(), Error> {
        let job = format!("resolve/{}/{}", self.tournament(), round.number);
        self.run_job(&job, now, |this| this.resolve_job(round, &job, now))?;
        // Nothing reads a resolved round's live ids again: a long-running server keeps only
        // the rounds in flight.
        self.live_ids.remove(&round.number);
        Ok(())
    }

    fn resolve_job(
        &mut self,
        round: &mut RoundRecord,
        job: &str,
        now: Timestamp,
    ) -> Result<(), Error> {
        let key = self.key(round.number);
        if self
            .store()
            .round(key)?
            .is_some_and(|r| matches!(r.state, RoundState::Scored { .. }))
        {
            let scores = self.payout_scores(round)?;
            self.ledger
                .settle_round(key, &scores, now.max(round.resolve_at))?;
        }
        round.phase = RoundPhase::Resolved;
        self.ledger.store_mut().save_scores(
            round,
            &[],
            Some(SubmissionState::Resolved),
            job,
            now,
        )?;
        Ok(())
    }

    /// Each at-risk model's final payout scores; an undefined score counts as 0 (the stake
    /// neither earns nor burns on it).
    pub fn payout_scores(
        &self,
        round: &RoundRecord,
    ) -> Result<BTreeMap<ModelId, BTreeMap<String, Rate>>, Error> {
        let last = round.scored_days;
        let finals: HashMap<u64, DailyScore> = self
            .store()
            .round_scores(self.tournament(), round.number)?
            .into_iter()
            .filter(|score| score.day == last)
            .map(|score| (score.model, score))
            .collect();
        let mut scores = BTreeMap::new();
        for stake in self.store().round_stakes(self.key(round.number))? {
            if stake.at_risk.is_zero() {
                continue;
            }
            let mut named = BTreeMap::new();
            for name in self.definition.payout.multipliers.keys() {
                let value = finals
                    .get(&stake.model.0)
                    .and_then(|score| score.values.get(name).copied().flatten())
                    .unwrap_or(0.0);
                let rate = Rate::from_f64(value).map_err(|error| {
                    Error::Corrupt(format!("a stored score does not convert: {error}"))
                })?;
                named.insert(name.clone(), rate);
            }
            scores.insert(stake.model, named);
        }
        Ok(scores)
    }
}

struct RoundInputs {
    meta_model: Option<Vec<f64>>,
    benchmark: Vec<f64>,
    features: Mat<f64>,
}

/// One stored row per pack entry: its scores of `day`.
fn score_rows<'e>(
    round: u32,
    day: u32,
    entries: &'e [Entry],
    values: Vec<BTreeMap<String, Option<f64>>>,
) -> impl Iterator<Item = DailyScore> + 'e {
    entries
        .iter()
        .zip(values)
        .map(move |(entry, values)| DailyScore {
            round,
            day,
            model: entry.model,
            submission: entry.submission,
            values,
        })
}

/// The blob of `role` in a round.
fn blob<'r>(round: &'r RoundRecord, role: &str) -> Result<&'r str, Error> {
    round.blobs.get(role).map(String::as_str).ok_or_else(|| {
        Error::Corrupt(format!(
            "round {} has no {role} file recorded",
            round.number
        ))
    })
}

/// Account and model names: 1–64 letters, digits, `_` and `-`.
fn check_name(name: &str, what: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "{name:?} is not a usable {what} name: use 1 to 64 letters, digits, `_` or `-`"
        )))
    }
}

/// An accepted upload's tie-kept rank codes over the live ids, in the live file's order; a
/// live id it does not predict (Signals and Crypto need not cover them all) counts as 0.5,
/// as numerai-tools' `clean_submission` fills it.
fn live_rank_codes(live_ids: &[String], accepted: &Accepted) -> Vec<u32> {
    let position: HashMap<&str, usize> = live_ids
        .iter()
        .enumerate()
        .map(|(row, id)| (id.as_str(), row))
        .collect();
    let mut column = vec![0.5; live_ids.len()];
    for (id, value) in accepted.ids.iter().zip(&accepted.predictions) {
        column[position[id.as_str()]] = *value;
    }
    let mut codes = vec![0u32; column.len()];
    rank_codes(&column, &mut RankScratch::new(), &mut codes);
    codes
}

/// An upload recorded as `received`, with what checking it needs; checking needs no service.
#[derive(Debug)]
pub struct UploadTicket {
    /// The submission's id.
    pub id: u64,
    extension: &'static str,
    live_ids: Arc<Vec<String>>,
    rule: numerus_tournament::submission::SubmissionRule,
    blobs: BlobDir,
    scratch: PathBuf,
}

/// A valid upload's stored bytes and rank codes (blob ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUpload {
    /// The file as uploaded.
    pub blob: String,
    /// Its tie-kept rank codes over the live ids.
    pub ranks: String,
}

impl UploadTicket {
    /// Validates `bytes` against the round's live ids and, when valid, stores them and their
    /// rank codes durably.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the problem; [`Error::Io`] when a blob cannot be written.
    pub fn check(&self, bytes: &[u8]) -> Result<CheckedUpload, Error> {
        let (id, extension) = (self.id, self.extension);
        let path = self.scratch.join(format!("upload-{id}.{extension}"));
        fs::write(&path, bytes).map_err(Error::io("write", &path))?;
        let text: Vec<&str> = self.rule.id_columns.iter().map(String::as_str).collect();
        let table = read_table(
            &path,
            &ReadOptions {
                text_columns: &text,
                select: None,
            },
        );
        let _ = fs::remove_file(&path);
        let table = table.map_err(|error| Error::Invalid {
            code: "invalid_submission_file",
            reason: format!(
                "the file does not read as {extension}: {error}; upload a CSV or Parquet file with the columns id and prediction"
            ),
            submission: id,
        })?;
        let accepted = validate(&self.rule, &self.live_ids, &table)
            .map_err(|rejection| Error::invalid(&rejection, id))?;
        let codes = live_rank_codes(&self.live_ids, &accepted);
        let blob = self.blobs.put(bytes, extension)?;
        let mut encoded = Vec::with_capacity(4 * codes.len());
        write_codes(&codes, &mut encoded);
        let ranks = self.blobs.put(&encoded, "ranks")?;
        Ok(CheckedUpload { blob, ranks })
    }
}
