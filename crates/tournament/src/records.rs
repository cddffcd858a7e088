//! What the tournament service keeps, and the port a store implements to keep it.
//!
//! Accounts and models are the ledger's (`numerus_ledger::staking::{User, Model}`); this
//! module adds what the ledger does not know: API keys, rounds as the calendar and the data
//! see them, submissions and their states, daily scores, and jobs with deadlines.
//!
//! Every method that changes several records does so in one transaction, so a process that
//! stops between two calls leaves each call's work either whole or absent.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::keys::StoredKey;

/// A store failure (the adapter's error, boxed: the domain does not know SQL).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreFailure(pub Box<dyn std::error::Error + Send + Sync>);

/// Where a round is in the service's hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundPhase {
    /// Opened: live data published, uploads on time.
    Open,
    /// Past its close: uploads are late; at-risk amounts are fixed.
    Closed,
    /// Its first daily score is computed: the selection is frozen.
    Scoring,
    /// Its final score is computed and it is settled.
    Resolved,
}

impl RoundPhase {
    /// The phase's name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            RoundPhase::Open => "open",
            RoundPhase::Closed => "closed",
            RoundPhase::Scoring => "scoring",
            RoundPhase::Resolved => "resolved",
        }
    }

    /// The phase named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            RoundPhase::Open,
            RoundPhase::Closed,
            RoundPhase::Scoring,
            RoundPhase::Resolved,
        ]
        .into_iter()
        .find(|phase| phase.name() == name)
    }
}

/// A round as the service records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// The tournament's id (8 Classic, 11 Signals, 12 Crypto).
    pub tournament: u32,
    /// The round's number.
    pub number: u32,
    /// `openTime`.
    pub open_at: Timestamp,
    /// `closeTime` and `closeStakingTime`.
    pub close_at: Timestamp,
    /// `scoreTime`: the first daily score.
    pub score_at: Timestamp,
    /// `resolveTime`: the final score.
    pub resolve_at: Timestamp,
    /// The market date of its live data.
    pub data_date: Date,
    /// Where it is.
    pub phase: RoundPhase,
    /// Daily scores computed so far (0 to the calendar's `scoring_days`).
    pub scored_days: u32,
    /// Blobs the round is built from and produces, by role: `live`, `benchmark`,
    /// `predictions` (the frozen selection), `meta_model`, `targets/DAY`.
    pub blobs: BTreeMap<String, String>,
}

/// Where a submission is. Every state but `Received` is final or moves on at a known time
/// (a reaper ends a `Received` past its deadline), so none can hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionState {
    /// Bytes arrived; validation under way.
    Received,
    /// Valid (a transient state: it is selected in the same transaction).
    Validated,
    /// The model's latest valid upload in the round: the one scored.
    Selected,
    /// A later valid upload replaced it.
    Superseded,
    /// Its round's scoring started with it.
    Scored,
    /// Its round resolved with it.
    Resolved,
    /// Invalid, for the recorded reason.
    Rejected,
}

impl SubmissionState {
    /// Every state.
    pub const ALL: [SubmissionState; 7] = [
        SubmissionState::Received,
        SubmissionState::Validated,
        SubmissionState::Selected,
        SubmissionState::Superseded,
        SubmissionState::Scored,
        SubmissionState::Resolved,
        SubmissionState::Rejected,
    ];

    /// The state's name as stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            SubmissionState::Received => "received",
            SubmissionState::Validated => "validated",
            SubmissionState::Selected => "selected",
            SubmissionState::Superseded => "superseded",
            SubmissionState::Scored => "scored",
            SubmissionState::Resolved => "resolved",
            SubmissionState::Rejected => "rejected",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }
}

/// One upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    /// Its id (assigned by the store).
    pub id: u64,
    /// The model.
    pub model: u64,
    /// The tournament.
    pub tournament: u32,
    /// The round it counts for.
    pub round: u32,
    /// The file name the participant gave.
    pub filename: String,
    /// The stored bytes (a blob id: SHA-256 and extension), once valid.
    pub blob: Option<String>,
    /// Its tie-kept rank codes over the round's live ids (`u32` LE, the live file's order),
    /// made while validating, so freezing a round reads no upload again.
    pub ranks: Option<String>,
    /// When it arrived.
    pub received_at: Timestamp,
    /// A `Received` upload not validated by then is rejected by the reaper.
    pub deadline: Timestamp,
    /// Where it is.
    pub state: SubmissionState,
    /// Uploaded after the round closed: scored, never staked.
    pub late: bool,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// One model's scores in a round on one scoring day (or, for day 0, the scores that do not
/// depend on returns: CWMM, MCWNM, APCWNM). A `None` value is undefined for the recorded
/// reason-free cause (a constant column, too few rows, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyScore {
    /// The round.
    pub round: u32,
    /// The scoring day (1-based; the last is final).
    pub day: u32,
    /// The model.
    pub model: u64,
    /// The submission scored.
    pub submission: u64,
    /// Scores by name.
    pub values: BTreeMap<String, Option<f64>>,
}

/// A job's record: started, and by when it must have finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its name: what it does, e.g. `score/8/1180/3`.
    pub name: String,
    /// When the latest attempt started.
    pub started_at: Timestamp,
    /// When it is overdue.
    pub deadline: Timestamp,
    /// Attempts so far.
    pub attempts: u32,
    /// When it finished; `None` while running (or after a crash).
    pub finished_at: Option<Timestamp>,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
}

/// The port the service keeps its records through (SQLite by default).
pub trait Records {
    /// The id of the account named `name`.
    fn account_named(&self, name: &str) -> Result<Option<u64>, StoreFailure>;

    /// Every account: id and name, by id.
    fn accounts(&self) -> Result<Vec<(u64, String)>, StoreFailure>;

    /// The id and owner of the model named `name` in `tournament`.
    fn model_named(&self, tournament: u32, name: &str) -> Result<Option<(u64, u64)>, StoreFailure>;

    /// The next free account id and model id.
    fn next_ids(&self) -> Result<(u64, u64), StoreFailure>;

    /// Stores an API key for `account`.
    fn insert_key(
        &mut self,
        account: u64,
        key: &StoredKey,
        now: Timestamp,
    ) -> Result<(), StoreFailure>;

    /// The key with this public id and its account.
    fn key(&self, public_id: &str) -> Result<Option<(u64, StoredKey)>, StoreFailure>;

    /// Inserts or replaces a round.
    fn put_round(&mut self, round: &RoundRecord) -> Result<(), StoreFailure>;

    /// A round.
    fn round_record(
        &self,
        tournament: u32,
        number: u32,
    ) -> Result<Option<RoundRecord>, StoreFailure>;

    /// Rounds of a tournament, newest first; only unresolved ones with `unresolved`.
    fn round_records(
        &self,
        tournament: u32,
        unresolved: bool,
    ) -> Result<Vec<RoundRecord>, StoreFailure>;

    /// Records a new upload (its `id` is ignored) and returns its id.
    fn insert_submission(&mut self, submission: &SubmissionRecord) -> Result<u64, StoreFailure>;

    /// A submission.
    fn submission(&self, id: u64) -> Result<Option<SubmissionRecord>, StoreFailure>;

    /// Marks a `Received` upload valid and selected, with its blob and its ranks' blob: the
    /// model's selected submission in that round (if any) becomes `Superseded`, in the same
    /// transaction. The latest upload received wins: if a later one of the model's was
    /// selected first (uploads validated concurrently), this one is `Superseded` at once.
    fn select_submission(
        &mut self,
        id: u64,
        blob: &str,
        ranks: Option<&str>,
    ) -> Result<(), StoreFailure>;

    /// Marks a `Received` upload rejected for `reason`.
    fn reject_submission(&mut self, id: u64, reason: &str) -> Result<(), StoreFailure>;

    /// Submissions of a round, oldest first.
    fn round_submissions(
        &self,
        tournament: u32,
        round: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreFailure>;

    /// Submissions of a model, newest first.
    fn model_submissions(&self, model: u64) -> Result<Vec<SubmissionRecord>, StoreFailure>;

    /// Uploads still `Received` whose deadline is at or before `now`.
    fn overdue_submissions(&self, now: Timestamp) -> Result<Vec<SubmissionRecord>, StoreFailure>;

    /// Records a round's scores of `day` and the round's new state (with its scored day
    /// count), moving the round's `Selected` submissions to `state` (`Scored` on the first day,
    /// `Resolved` on the last), and finishes `job`: all in one transaction.
    fn save_scores(
        &mut self,
        round: &RoundRecord,
        scores: &[DailyScore],
        state: Option<SubmissionState>,
        job: &str,
        now: Timestamp,
    ) -> Result<(), StoreFailure>;

    /// The scores of a round (every day), by day then model.
    fn round_scores(&self, tournament: u32, round: u32) -> Result<Vec<DailyScore>, StoreFailure>;

    /// The scores of a model (every round and day), by round then day.
    fn model_scores(&self, model: u64) -> Result<Vec<DailyScore>, StoreFailure>;

    /// Starts (or restarts) job `name`, due by `deadline`; returns its record.
    fn start_job(
        &mut self,
        name: &str,
        now: Timestamp,
        deadline: Timestamp,
    ) -> Result<JobRecord, StoreFailure>;

    /// Records a job's success.
    fn finish_job(&mut self, name: &str, now: Timestamp) -> Result<(), StoreFailure>;

    /// Records a job's failure.
    fn fail_job(&mut self, name: &str, error: &str, now: Timestamp) -> Result<(), StoreFailure>;

    /// Jobs that have not finished, by start time.
    fn unfinished_jobs(&self) -> Result<Vec<JobRecord>, StoreFailure>;

    /// A job.
    fn job(&self, name: &str) -> Result<Option<JobRecord>, StoreFailure>;

    /// Sets (or, with `None`, clears) a model's setting `name` (`webhook`, `bio`, `link_url`…).
    fn set_model_setting(
        &mut self,
        model: u64,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), StoreFailure>;

    /// A model's settings by name.
    fn model_settings(&self, model: u64) -> Result<BTreeMap<String, String>, StoreFailure>;
}
