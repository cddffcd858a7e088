//! The tournament service's records ([`Records`]) in the same SQLite file as the ledger.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use numerus_tournament::keys::{Scope, StoredKey};
use numerus_tournament::records::{
    DailyScore, JobRecord, Records, RoundPhase, RoundRecord, StoreFailure, SubmissionRecord,
    SubmissionState,
};
use rusqlite::{Params, Row, TransactionBehavior, params};

use crate::{SqliteStore, StoreError};

fn failure(context: &str) -> impl FnOnce(rusqlite::Error) -> StoreFailure + '_ {
    move |source| {
        StoreFailure(Box::new(StoreError::Sqlite {
            context: context.to_owned(),
            source,
        }))
    }
}

fn corrupt(what: impl Into<String>) -> StoreFailure {
    StoreFailure(Box::new(StoreError::Corrupt(what.into())))
}

fn time(text: &str) -> Result<Timestamp, StoreFailure> {
    text.parse()
        .map_err(|_| corrupt(format!("a timestamp {text:?}")))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreFailure> {
    serde_json::from_str(text).map_err(|error| corrupt(format!("{what}: {error}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialize")
}

const ROUND_COLUMNS: &str = "tournament, number, open_at, close_at, score_at, resolve_at, data_date, phase, scored_days, blobs";

type RoundRow = (
    u32,
    u32,
    String,
    String,
    String,
    String,
    String,
    String,
    u32,
    String,
);

fn round_record(row: RoundRow) -> Result<RoundRecord, StoreFailure> {
    let (tournament, number, open, close, score, resolve, date, phase, scored_days, blobs) = row;
    Ok(RoundRecord {
        tournament,
        number,
        open_at: time(&open)?,
        close_at: time(&close)?,
        score_at: time(&score)?,
        resolve_at: time(&resolve)?,
        data_date: date
            .parse()
            .map_err(|_| corrupt(format!("a date {date:?}")))?,
        phase: RoundPhase::parse(&phase).ok_or_else(|| corrupt(format!("a phase {phase:?}")))?,
        scored_days,
        blobs: from_json(&blobs, "a round's blobs")?,
    })
}

const SUBMISSION_COLUMNS: &str = "id, model_id, tournament, round, filename, blob, ranks, received_at, deadline, state, late, reason";

type SubmissionRow = (
    u64,
    u64,
    u32,
    u32,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    bool,
    Option<String>,
);

fn submission_record(row: SubmissionRow) -> Result<SubmissionRecord, StoreFailure> {
    let (
        id,
        model,
        tournament,
        round,
        filename,
        blob,
        ranks,
        received,
        deadline,
        state,
        late,
        reason,
    ) = row;
    Ok(SubmissionRecord {
        id,
        model,
        tournament,
        round,
        filename,
        blob,
        ranks,
        received_at: time(&received)?,
        deadline: time(&deadline)?,
        state: SubmissionState::parse(&state)
            .ok_or_else(|| corrupt(format!("a submission state {state:?}")))?,
        late,
        reason,
    })
}

type ScoreRow = (u32, u32, u64, u64, String);

fn daily_score(row: ScoreRow) -> Result<DailyScore, StoreFailure> {
    let (round, day, model, submission, values) = row;
    Ok(DailyScore {
        round,
        day,
        model,
        submission,
        values: from_json(&values, "daily scores")?,
    })
}

const JOB_COLUMNS: &str = "name, started_at, deadline, attempts, finished_at, error";

type JobRow = (String, String, String, u32, Option<String>, Option<String>);

fn job_record(row: JobRow) -> Result<JobRecord, StoreFailure> {
    let (name, started, deadline, attempts, finished, error) = row;
    Ok(JobRecord {
        name,
        started_at: time(&started)?,
        deadline: time(&deadline)?,
        attempts,
        finished_at: finished.as_deref().map(time).transpose()?,
        error,
    })
}

fn tuple<T: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>>(
    row: &Row<'_>,
) -> rusqlite::Result<T> {
    // Rows are read into tuples, then parsed outside rusqlite.
    T::try_from(row)
}

impl SqliteStore {
    /// Every row of `query` with `params`, parsed by `parse`.
    fn rows<T, R, P>(
        &self,
        query: &str,
        params: P,
        parse: impl Fn(R) -> Result<T, StoreFailure>,
    ) -> Result<Vec<T>, StoreFailure>
    where
        P: Params,
        R: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
    {
        let mut statement = self
            .connection
            .prepare_cached(query)
            .map_err(failure("preparing a query"))?;
        let rows = statement
            .query_map(params, |row| tuple::<R>(row))
            .map_err(failure("querying records"))?;
        rows.map(|row| parse(row.map_err(failure("reading a record"))?))
            .collect()
    }

    fn first<T, R, P>(
        &self,
        query: &str,
        params: P,
        parse: impl Fn(R) -> Result<T, StoreFailure>,
    ) -> Result<Option<T>, StoreFailure>
    where
        P: Params,
        R: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
    {
        Ok(self.rows(query, params, parse)?.into_iter().next())
    }

    /// Runs `write` in one immediate transaction; an injected fault makes it fail (rolled
    /// back) after that many statements.
    fn transact(
        &mut self,
        context: &str,
        write: impl FnOnce(
            &rusqlite::Transaction<'_>,
            &mut dyn FnMut() -> Result<(), StoreFailure>,
        ) -> Result<(), StoreFailure>,
    ) -> Result<(), StoreFailure> {
        let fault = self.take_fault();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failure(context))?;
        let mut writes = 0u32;
        let mut count = || {
            writes += 1;
            match fault {
                Some(fault) if writes > fault.fail_after_writes => Err(StoreFailure(Box::new(
                    StoreError::Injected(fault.fail_after_writes),
                ))),
                _ => Ok(()),
            }
        };
        write(&transaction, &mut count)?;
        transaction.commit().map_err(failure(context))
    }
}

impl Records for SqliteStore {
    fn account_named(&self, name: &str) -> Result<Option<u64>, StoreFailure> {
        self.first(
            "SELECT id FROM users WHERE name = ?1",
            [name],
            |(id,): (u64,)| Ok(id),
        )
    }

    fn accounts(&self) -> Result<Vec<(u64, String)>, StoreFailure> {
        self.rows("SELECT id, name FROM users ORDER BY id", [], Ok)
    }

    fn model_named(&self, tournament: u32, name: &str) -> Result<Option<(u64, u64)>, StoreFailure> {
        self.first(
            "SELECT id, user_id FROM models WHERE tournament = ?1 AND name = ?2",
            params![tournament, name],
            Ok,
        )
    }

    fn next_ids(&self) -> Result<(u64, u64), StoreFailure> {
        let next = |table: &str| -> Result<u64, StoreFailure> {
            let found = self.first(
                &format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"),
                [],
                |(id,): (u64,)| Ok(id),
            )?;
            Ok(found.unwrap_or(1))
        };
        Ok((next("users")?, next("models")?))
    }

    fn insert_key(
        &mut self,
        account: u64,
        key: &StoredKey,
        now: Timestamp,
    ) -> Result<(), StoreFailure> {
        let scopes: Vec<&str> = key.scopes.iter().map(|scope| scope.name()).collect();
        self.connection
            .execute(
                "INSERT INTO api_keys (public_id, user_id, secret_sha256, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.public_id, account, key.secret_sha256, scopes.join(" "), now.to_string()],
            )
            .map_err(failure("storing an API key"))?;
        Ok(())
    }

    fn key(&self, public_id: &str) -> Result<Option<(u64, StoredKey)>, StoreFailure> {
        self.first(
            "SELECT user_id, public_id, secret_sha256, scopes FROM api_keys WHERE public_id = ?1",
            [public_id],
            |(account, public_id, secret_sha256, scopes): (u64, String, String, String)| {
                let scopes = scopes
                    .split_whitespace()
                    .map(|name| {
                        Scope::ALL
                            .into_iter()
                            .find(|scope| scope.name() == name)
                            .ok_or_else(|| corrupt(format!("a scope {name:?}")))
                    })
                    .collect::<Result<BTreeSet<Scope>, StoreFailure>>()?;
                Ok((
                    account,
                    StoredKey {
                        public_id,
                        secret_sha256,
                        scopes,
                    },
                ))
            },
        )
    }

    fn put_round(&mut self, round: &RoundRecord) -> Result<(), StoreFailure> {
        self.connection
            .execute(
                &format!("INSERT OR REPLACE INTO rounds ({ROUND_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    round.tournament,
                    round.number,
                    round.open_at.to_string(),
                    round.close_at.to_string(),
                    round.score_at.to_string(),
                    round.resolve_at.to_string(),
                    round.data_date.to_string(),
                    round.phase.name(),
                    round.scored_days,
                    to_json(&round.blobs),
                ],
            )
            .map_err(failure("storing a round"))?;
        Ok(())
    }

    fn round_record(
        &self,
        tournament: u32,
        number: u32,
    ) -> Result<Option<RoundRecord>, StoreFailure> {
        self.first(
            &format!("SELECT {ROUND_COLUMNS} FROM rounds WHERE tournament = ?1 AND number = ?2"),
            [tournament, number],
            round_record,
        )
    }

    fn round_records(
        &self,
        tournament: u32,
        unresolved: bool,
    ) -> Result<Vec<RoundRecord>, StoreFailure> {
        let filter = if unresolved {
            " AND phase <> 'resolved'"
        } else {
            ""
        };
        self.rows(
            &format!(
                "SELECT {ROUND_COLUMNS} FROM rounds WHERE tournament = ?1{filter} ORDER BY number DESC"
            ),
            [tournament],
            round_record,
        )
    }

    fn insert_submission(&mut self, submission: &SubmissionRecord) -> Result<u64, StoreFailure> {
        self.connection
            .execute(
                "INSERT INTO submissions (model_id, tournament, round, filename, blob, received_at, deadline, state, late, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    submission.model,
                    submission.tournament,
                    submission.round,
                    submission.filename,
                    submission.blob,
                    submission.received_at.to_string(),
                    submission.deadline.to_string(),
                    submission.state.name(),
                    submission.late,
                    submission.reason,
                ],
            )
            .map_err(failure("recording an upload"))?;
        Ok(self.connection.last_insert_rowid() as u64)
    }

    fn submission(&self, id: u64) -> Result<Option<SubmissionRecord>, StoreFailure> {
        self.first(
            &format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE id = ?1"),
            [id],
            submission_record,
        )
    }

    fn select_submission(
        &mut self,
        id: u64,
        blob: &str,
        ranks: Option<&str>,
    ) -> Result<(), StoreFailure> {
        self.transact("selecting a submission", |tx, count| {
            count()?;
            // The latest upload received wins, whichever finished validating first.
            tx.execute(
                "UPDATE submissions SET state = 'superseded' WHERE state = 'selected' AND id < ?1 \
                 AND (model_id, tournament, round) = (SELECT model_id, tournament, round FROM submissions WHERE id = ?1)",
                [id],
            )
            .map_err(failure("superseding a submission"))?;
            count()?;
            let changed = tx
                .execute(
                    "UPDATE submissions SET blob = ?2, ranks = ?3, state = CASE WHEN EXISTS ( \
                         SELECT 1 FROM submissions AS later WHERE later.state = 'selected' AND later.id > ?1 \
                         AND (later.model_id, later.tournament, later.round) = \
                             (SELECT model_id, tournament, round FROM submissions WHERE id = ?1)) \
                     THEN 'superseded' ELSE 'selected' END \
                     WHERE id = ?1 AND state = 'received'",
                    params![id, blob, ranks],
                )
                .map_err(failure("selecting a submission"))?;
            if changed != 1 {
                return Err(corrupt(format!(
                    "submission {id} is not awaiting validation"
                )));
            }
            Ok(())
        })
    }

    fn reject_submission(&mut self, id: u64, reason: &str) -> Result<(), StoreFailure> {
        self.connection
            .execute(
                "UPDATE submissions SET state = 'rejected', reason = ?2 WHERE id = ?1 AND state = 'received'",
                params![id, reason],
            )
            .map_err(failure("rejecting a submission"))?;
        Ok(())
    }

    fn round_submissions(
        &self,
        tournament: u32,
        round: u32,
    ) -> Result<Vec<SubmissionRecord>, StoreFailure> {
        self.rows(
            &format!(
                "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE tournament = ?1 AND round = ?2 ORDER BY id"
            ),
            [tournament, round],
            submission_record,
        )
    }

    fn model_submissions(&self, model: u64) -> Result<Vec<SubmissionRecord>, StoreFailure> {
        self.rows(
            &format!(
                "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE model_id = ?1 ORDER BY id DESC"
            ),
            [model],
            submission_record,
        )
    }

    fn overdue_submissions(&self, now: Timestamp) -> Result<Vec<SubmissionRecord>, StoreFailure> {
        self.rows(
            &format!(
                "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE state = 'received' AND deadline <= ?1 ORDER BY id"
            ),
            [now.to_string()],
            submission_record,
        )
    }

    fn save_scores(
        &mut self,
        round: &RoundRecord,
        scores: &[DailyScore],
        state: Option<SubmissionState>,
        job: &str,
        now: Timestamp,
    ) -> Result<(), StoreFailure> {
        self.transact("saving daily scores", |tx, count| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO daily_scores (tournament, round, day, model_id, submission_id, scores) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(failure("preparing to save scores"))?;
            for score in scores {
                count()?;
                insert
                    .execute(params![
                        round.tournament,
                        score.round,
                        score.day,
                        score.model,
                        score.submission,
                        to_json(&score.values),
                    ])
                    .map_err(failure("saving a score"))?;
            }
            if let Some(state) = state {
                count()?;
                let from = match state {
                    SubmissionState::Resolved => "scored",
                    _ => "selected",
                };
                tx.execute(
                    "UPDATE submissions SET state = ?3 WHERE tournament = ?1 AND round = ?2 AND state = ?4",
                    params![round.tournament, round.number, state.name(), from],
                )
                .map_err(failure("moving submissions on"))?;
            }
            count()?;
            tx.execute(
                "UPDATE rounds SET phase = ?3, scored_days = ?4, blobs = ?5 WHERE tournament = ?1 AND number = ?2",
                params![
                    round.tournament,
                    round.number,
                    round.phase.name(),
                    round.scored_days,
                    to_json(&round.blobs),
                ],
            )
            .map_err(failure("updating the round"))?;
            count()?;
            tx.execute(
                "UPDATE jobs SET finished_at = ?2, error = NULL WHERE name = ?1",
                params![job, now.to_string()],
            )
            .map_err(failure("finishing the job"))?;
            Ok(())
        })
    }

    fn round_scores(&self, tournament: u32, round: u32) -> Result<Vec<DailyScore>, StoreFailure> {
        self.rows(
            "SELECT round, day, model_id, submission_id, scores FROM daily_scores \
             WHERE tournament = ?1 AND round = ?2 ORDER BY day, model_id",
            [tournament, round],
            daily_score,
        )
    }

    fn model_scores(&self, model: u64) -> Result<Vec<DailyScore>, StoreFailure> {
        self.rows(
            "SELECT round, day, model_id, submission_id, scores FROM daily_scores \
             WHERE model_id = ?1 ORDER BY round, day",
            [model],
            daily_score,
        )
    }

    fn start_job(
        &mut self,
        name: &str,
        now: Timestamp,
        deadline: Timestamp,
    ) -> Result<JobRecord, StoreFailure> {
        self.connection
            .execute(
                "INSERT INTO jobs (name, started_at, deadline, attempts) VALUES (?1, ?2, ?3, 1) \
                 ON CONFLICT (name) DO UPDATE SET started_at = ?2, deadline = ?3, attempts = attempts + 1, finished_at = NULL, error = NULL",
                params![name, now.to_string(), deadline.to_string()],
            )
            .map_err(failure("starting a job"))?;
        self.job(name)?
            .ok_or_else(|| corrupt(format!("job {name} vanished")))
    }

    fn finish_job(&mut self, name: &str, now: Timestamp) -> Result<(), StoreFailure> {
        self.connection
            .execute(
                "UPDATE jobs SET finished_at = ?2, error = NULL WHERE name = ?1",
                params![name, now.to_string()],
            )
            .map_err(failure("finishing a job"))?;
        Ok(())
    }

    fn fail_job(&mut self, name: &str, error: &str, _now: Timestamp) -> Result<(), StoreFailure> {
        self.connection
            .execute(
                "UPDATE jobs SET error = ?2 WHERE name = ?1",
                params![name, error],
            )
            .map_err(failure("recording a job's failure"))?;
        Ok(())
    }

    fn unfinished_jobs(&self) -> Result<Vec<JobRecord>, StoreFailure> {
        self.rows(
            &format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE finished_at IS NULL ORDER BY started_at"
            ),
            [],
            job_record,
        )
    }

    fn job(&self, name: &str) -> Result<Option<JobRecord>, StoreFailure> {
        self.first(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE name = ?1"),
            [name],
            job_record,
        )
    }

    fn set_model_setting(
        &mut self,
        model: u64,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), StoreFailure> {
        let result = match value {
            Some(value) => self.connection.execute(
                "INSERT INTO model_settings (model, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (model, name) DO UPDATE SET value = excluded.value",
                params![model, name, value],
            ),
            None => self.connection.execute(
                "DELETE FROM model_settings WHERE model = ?1 AND name = ?2",
                params![model, name],
            ),
        };
        result.map_err(failure("saving a model setting"))?;
        Ok(())
    }

    fn model_settings(&self, model: u64) -> Result<BTreeMap<String, String>, StoreFailure> {
        Ok(self
            .rows(
                "SELECT name, value FROM model_settings WHERE model = ?1",
                [model],
                Ok,
            )?
            .into_iter()
            .collect())
    }
}
