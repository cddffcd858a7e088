//! The embedded store of Numerus: one SQLite file in WAL mode, with durable commits.
//!
//! [`SqliteStore`] implements the ledger's [`Store`] port. Each batch is one
//! `BEGIN IMMEDIATE` transaction: the idempotency check, the ledger's rules
//! ([`numerus_ledger::book::plan`], run over the transaction's own reads), the log
//! append, the balances and the staking records all commit together or not at all,
//! and `synchronous = FULL` makes a commit survive a crash or power loss. Several
//! processes may share a file: writers queue on SQLite's lock (busy timeout 10 s).
//!
//! ```
//! use numerus_ledger::{Ledger, Nmr, Store};
//! use numerus_store_sqlite::SqliteStore;
//!
//! let dir = std::env::temp_dir().join(format!("numerus-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let mut ledger = Ledger::new(SqliteStore::open(&dir.join("ledger.sqlite"))?);
//! ledger.genesis(Nmr::from_whole(3_000_000), Nmr::from_whole(8_000_000), jiff::Timestamp::UNIX_EPOCH)?;
//! let supply = numerus_ledger::SupplyReport::new(&ledger.store().balances()?, &Default::default());
//! assert!(supply.balanced);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod records;
mod schema;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use numerus_ledger::book::{Hold, HoldState, LedgerView};
use numerus_ledger::staking::{Buyback, Model, ReleaseRequest, RoundStake, StakeRound, User};
use numerus_ledger::{
    AccountId, Balance, Batch, BatchId, Digest, LedgerError, LoggedTransfer, Mode, ModelId, Nmr,
    Outcome, RoundKey, Store, TournamentId, Transfer, TransferCode, TransferId, UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

/// How long a writer waits for another process's transaction before failing.
const BUSY_TIMEOUT_MAX: Duration = Duration::from_secs(10);

/// A store failure: SQLite's, or a stored value that does not parse (a damaged file).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("{context}: {source}")]
    Sqlite {
        /// What was being done.
        context: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value that does not parse.
    #[error(
        "the database holds a value that does not parse ({0}); it was damaged or written by other software"
    )]
    Corrupt(String),
    /// A file from a newer Numerus.
    #[error(
        "{path} has schema version {found}, newer than this numerus ({known}); upgrade numerus"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// A fault injected by a simulator ([`SqliteStore::inject_fault`]).
    #[error("injected fault: the process stopped after {0} writes of a transaction")]
    Injected(u32),
}

pub(crate) fn sql(context: &str) -> impl FnOnce(rusqlite::Error) -> LedgerError + '_ {
    move |source| {
        LedgerError::store(StoreError::Sqlite {
            context: context.to_owned(),
            source,
        })
    }
}

pub(crate) fn corrupt(what: impl Into<String>) -> LedgerError {
    LedgerError::store(StoreError::Corrupt(what.into()))
}

pub(crate) fn parse<T: FromStr>(text: &str, what: &str) -> Result<T, LedgerError> {
    text.parse()
        .map_err(|_| corrupt(format!("{what} {text:?}")))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, LedgerError> {
    serde_json::from_str(text).map_err(|error| corrupt(format!("{what}: {error}")))
}

/// A fault for simulators and tests: the next transaction fails after this many
/// writes, as if the process had died there, and rolls back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Writes (SQL statements that change rows) that succeed before the failure.
    pub fail_after_writes: u32,
}

/// The ledger in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    fault: Option<Fault>,
    /// Transactions to let through before the fault applies.
    fault_skip: u32,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// [`LedgerError::Store`] if the file cannot be opened or migrated, or is newer
    /// than this build.
    pub fn open(path: &Path) -> Result<SqliteStore, LedgerError> {
        let connection = Connection::open(path).map_err(sql("opening the database"))?;
        connection
            .busy_timeout(BUSY_TIMEOUT_MAX)
            .map_err(sql("setting the busy timeout"))?;
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
            )
            .map_err(sql("configuring the database"))?;
        let mut store = SqliteStore {
            connection,
            fault: None,
            fault_skip: 0,
        };
        store.migrate(path)?;
        Ok(store)
    }

    fn migrate(&mut self, path: &Path) -> Result<(), LedgerError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting the migration"))?;
        let version: i64 = transaction
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(sql("reading the schema version"))?;
        let known = schema::MIGRATIONS.len() as i64;
        if version > known {
            return Err(LedgerError::store(StoreError::TooNew {
                path: path.to_owned(),
                found: version,
                known,
            }));
        }
        for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            transaction
                .execute_batch(migration)
                .map_err(sql("migrating the schema"))?;
            transaction
                .pragma_update(None, "user_version", index as i64 + 1)
                .map_err(sql("recording the schema version"))?;
        }
        transaction
            .commit()
            .map_err(sql("committing the migration"))
    }

    /// Makes the next [`Store::apply`] fail after `fault.fail_after_writes` writes
    /// (`None` clears it). The transaction rolls back, as after a crash.
    pub fn inject_fault(&mut self, fault: Option<Fault>) {
        self.fault = fault;
        self.fault_skip = 0;
    }

    /// As [`SqliteStore::inject_fault`], for the transaction after `skip` others (ledger
    /// batches and the tournament records' multi-row writes both count): a crash between two
    /// transactions of one job, or in the middle of a later one.
    pub fn inject_fault_after(&mut self, skip: u32, fault: Fault) {
        self.fault = Some(fault);
        self.fault_skip = skip;
    }

    /// The fault for the transaction starting now, if it is the one to fail.
    pub(crate) fn take_fault(&mut self) -> Option<Fault> {
        if self.fault_skip > 0 {
            self.fault_skip -= 1;
            return None;
        }
        self.fault.take()
    }
}

/// Reads through any connection or transaction (both deref to `Connection`).
pub(crate) struct Reader<'c>(pub(crate) &'c Connection);

fn balance_of(row: &Row<'_>) -> rusqlite::Result<[String; 4]> {
    Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?])
}

fn parse_balance(texts: &[String; 4]) -> Result<Balance, LedgerError> {
    Ok(Balance {
        debits_posted: Nmr::from_base_units(parse(&texts[0], "an amount")?),
        credits_posted: Nmr::from_base_units(parse(&texts[1], "an amount")?),
        debits_pending: Nmr::from_base_units(parse(&texts[2], "an amount")?),
        credits_pending: Nmr::from_base_units(parse(&texts[3], "an amount")?),
    })
}

const TRANSFER_COLUMNS: &str = "seq, id, batch_id, applied_at, debit, credit, amount, code, mode, hold_id, round_tournament, round_number, reference";

type TransferRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<u32>,
    Option<u32>,
    Option<String>,
);

fn transfer_row(row: &Row<'_>) -> rusqlite::Result<TransferRow> {
    row.try_into()
}

fn logged_transfer(row: TransferRow) -> Result<LoggedTransfer, LedgerError> {
    let (
        seq,
        id,
        batch,
        at,
        debit,
        credit,
        amount,
        code,
        mode,
        hold,
        tournament,
        number,
        reference,
    ) = row;
    let hold = || -> Result<TransferId, LedgerError> {
        TransferId::parse(hold.as_deref().unwrap_or("")).map_err(|_| corrupt("a hold id"))
    };
    let mode = match mode.as_str() {
        "posted" => Mode::Posted,
        "pending" => Mode::Pending,
        "post" => Mode::Post(hold()?),
        "void" => Mode::Void(hold()?),
        other => return Err(corrupt(format!("transfer mode {other:?}"))),
    };
    let round = match (tournament, number) {
        (Some(tournament), Some(number)) => Some(RoundKey {
            tournament: TournamentId(tournament),
            number,
        }),
        _ => None,
    };
    Ok(LoggedTransfer {
        seq: seq as u64,
        batch: BatchId::parse(&batch).map_err(|_| corrupt("a batch id"))?,
        at: parse(&at, "a timestamp")?,
        transfer: Transfer {
            id: TransferId::parse(&id).map_err(|_| corrupt("a transfer id"))?,
            debit: parse(&debit, "an account")?,
            credit: parse(&credit, "an account")?,
            amount: Nmr::from_base_units(parse(&amount, "an amount")?),
            code: TransferCode::parse(&code)
                .ok_or_else(|| corrupt(format!("transfer code {code:?}")))?,
            mode,
            round,
            reference,
        },
    })
}

/// Holds with their transfers, then `tail` (a filter or an order); the hold state is
/// the column after the transfer's.
fn hold_query(tail: &str) -> String {
    format!(
        "SELECT {TRANSFER_COLUMNS}, holds.state FROM holds JOIN transfers ON transfers.id = holds.transfer_id {tail}"
    )
}

fn hold_row(row: &Row<'_>) -> rusqlite::Result<(TransferRow, String)> {
    Ok((transfer_row(row)?, row.get(13)?))
}

fn hold((row, state): (TransferRow, String)) -> Result<Hold, LedgerError> {
    Ok(Hold {
        transfer: logged_transfer(row)?.transfer,
        state: HoldState::parse(&state).ok_or_else(|| corrupt(format!("hold state {state:?}")))?,
    })
}

fn round_of(row: &Row<'_>) -> rusqlite::Result<(u32, u32, String, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn stake_round(row: (u32, u32, String, String, String, String)) -> Result<StakeRound, LedgerError> {
    let (tournament, number, close_at, resolve_at, config, state) = row;
    Ok(StakeRound {
        key: RoundKey {
            tournament: TournamentId(tournament),
            number,
        },
        close_at: parse(&close_at, "a timestamp")?,
        resolve_at: parse(&resolve_at, "a timestamp")?,
        config: json(&config, "a payout config")?,
        state: json(&state, "a round state")?,
    })
}

const ROUND_COLUMNS: &str = "tournament, number, close_at, resolve_at, config, state";
const RELEASE_COLUMNS: &str = "id, model_id, amount, remaining, requested_at, at_risk_in, release_tournament, release_number, released_at";

type ReleaseRow = (
    String,
    u64,
    String,
    String,
    String,
    String,
    Option<u32>,
    Option<u32>,
    Option<String>,
);

fn release_row(row: &Row<'_>) -> rusqlite::Result<ReleaseRow> {
    row.try_into()
}

fn release_request(row: ReleaseRow) -> Result<ReleaseRequest, LedgerError> {
    let (id, model, amount, remaining, requested_at, at_risk_in, tournament, number, released_at) =
        row;
    Ok(ReleaseRequest {
        id: TransferId::parse(&id).map_err(|_| corrupt("a release id"))?,
        model: ModelId(model),
        amount: Nmr::from_base_units(parse(&amount, "an amount")?),
        remaining: Nmr::from_base_units(parse(&remaining, "an amount")?),
        requested_at: parse(&requested_at, "a timestamp")?,
        at_risk_in: json(&at_risk_in, "a round list")?,
        release_round: match (tournament, number) {
            (Some(tournament), Some(number)) => Some(RoundKey {
                tournament: TournamentId(tournament),
                number,
            }),
            _ => None,
        },
        released_at: released_at
            .map(|text| parse(&text, "a timestamp"))
            .transpose()?,
    })
}

impl Reader<'_> {
    fn collect<T, R>(
        &self,
        query: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<R>,
        convert: impl Fn(R) -> Result<T, LedgerError>,
    ) -> Result<Vec<T>, LedgerError> {
        let mut statement = self
            .0
            .prepare_cached(query)
            .map_err(sql("preparing a query"))?;
        let rows = statement
            .query_map(params, row)
            .map_err(sql("running a query"))?;
        rows.map(|row| convert(row.map_err(sql("reading a row"))?))
            .collect()
    }

    pub(crate) fn balance(&self, account: AccountId) -> Result<Option<Balance>, LedgerError> {
        let mut statement = self
            .0
            .prepare_cached(
                "SELECT debits_posted, credits_posted, debits_pending, credits_pending FROM accounts WHERE id = ?1",
            )
            .map_err(sql("preparing a balance read"))?;
        let texts = statement
            .query_row([account.to_string()], balance_of)
            .optional()
            .map_err(sql("reading a balance"))?;
        texts.as_ref().map(parse_balance).transpose()
    }

    pub(crate) fn hold(&self, id: &TransferId) -> Result<Option<Hold>, LedgerError> {
        let query = hold_query("WHERE holds.transfer_id = ?1");
        let mut holds = self.collect(&query, [id.as_str()], hold_row, hold)?;
        Ok(holds.pop())
    }

    pub(crate) fn transfer_exists(&self, id: &TransferId) -> Result<bool, LedgerError> {
        let mut statement = self
            .0
            .prepare_cached("SELECT 1 FROM transfers WHERE id = ?1")
            .map_err(sql("preparing a lookup"))?;
        statement
            .exists([id.as_str()])
            .map_err(sql("looking up a transfer"))
    }

    pub(crate) fn batch_digest(&self, id: &BatchId) -> Result<Option<Digest>, LedgerError> {
        let mut statement = self
            .0
            .prepare_cached("SELECT digest FROM batches WHERE id = ?1")
            .map_err(sql("preparing a lookup"))?;
        let digest: Option<String> = statement
            .query_row([id.as_str()], |row| row.get(0))
            .optional()
            .map_err(sql("looking up a batch"))?;
        digest
            .map(|text| Digest::from_hex(&text).ok_or_else(|| corrupt("a batch digest")))
            .transpose()
    }

    pub(crate) fn round(&self, key: RoundKey) -> Result<Option<StakeRound>, LedgerError> {
        let query = format!(
            "SELECT {ROUND_COLUMNS} FROM stake_rounds WHERE tournament = ?1 AND number = ?2"
        );
        Ok(self
            .collect(
                &query,
                params![key.tournament.0, key.number],
                round_of,
                stake_round,
            )?
            .pop())
    }

    pub(crate) fn open_releases(&self, model: ModelId) -> Result<Vec<ReleaseRequest>, LedgerError> {
        let query = format!(
            "SELECT {RELEASE_COLUMNS} FROM release_requests WHERE model_id = ?1 AND released_at IS NULL ORDER BY seq"
        );
        self.collect(&query, [model.0], release_row, release_request)
    }
}

impl LedgerView for SqliteStore {
    fn balance(&self, account: AccountId) -> Result<Option<Balance>, LedgerError> {
        Reader(&self.connection).balance(account)
    }

    fn hold(&self, id: &TransferId) -> Result<Option<Hold>, LedgerError> {
        Reader(&self.connection).hold(id)
    }

    fn transfer_exists(&self, id: &TransferId) -> Result<bool, LedgerError> {
        Reader(&self.connection).transfer_exists(id)
    }
}

impl Store for SqliteStore {
    fn apply(&mut self, batch: &Batch) -> Result<Outcome, LedgerError> {
        let fault = self.take_fault();
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql("starting a batch"))?;
        let outcome = write::apply(&transaction, batch, fault)?;
        if outcome == Outcome::Applied {
            transaction.commit().map_err(sql("committing a batch"))?;
        }
        Ok(outcome)
    }

    fn batch_digest(&self, id: &BatchId) -> Result<Option<Digest>, LedgerError> {
        Reader(&self.connection).batch_digest(id)
    }

    fn balances(&self) -> Result<Vec<(AccountId, Balance)>, LedgerError> {
        let query = "SELECT id, debits_posted, credits_posted, debits_pending, credits_pending FROM accounts";
        let mut balances = Reader(&self.connection).collect(
            query,
            [],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?],
                ))
            },
            |(id, texts)| {
                Ok((
                    parse::<AccountId>(&id, "an account")?,
                    parse_balance(&texts)?,
                ))
            },
        )?;
        balances.sort_by_key(|(account, _)| *account);
        Ok(balances)
    }

    fn user(&self, id: UserId) -> Result<Option<User>, LedgerError> {
        let query = "SELECT id, name, created_at FROM users WHERE id = ?1";
        let users = Reader(&self.connection).collect(
            query,
            [id.0],
            |row| {
                Ok((
                    row.get::<_, u64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            },
            |(id, name, created_at)| {
                Ok(User {
                    id: UserId(id),
                    name,
                    created_at: parse(&created_at, "a timestamp")?,
                })
            },
        )?;
        Ok(users.into_iter().next())
    }

    fn model(&self, id: ModelId) -> Result<Option<Model>, LedgerError> {
        let query = "SELECT id, user_id, name, tournament FROM models WHERE id = ?1";
        Ok(Reader(&self.connection)
            .collect(query, [id.0], model_row, Ok)?
            .pop())
    }

    fn models(&self, tournament: TournamentId) -> Result<Vec<Model>, LedgerError> {
        let query =
            "SELECT id, user_id, name, tournament FROM models WHERE tournament = ?1 ORDER BY id";
        Reader(&self.connection).collect(query, [tournament.0], model_row, Ok)
    }

    fn round(&self, key: RoundKey) -> Result<Option<StakeRound>, LedgerError> {
        Reader(&self.connection).round(key)
    }

    fn rounds(&self) -> Result<Vec<StakeRound>, LedgerError> {
        let query = format!("SELECT {ROUND_COLUMNS} FROM stake_rounds ORDER BY tournament, number");
        Reader(&self.connection).collect(&query, [], round_of, stake_round)
    }

    fn round_stakes(&self, key: RoundKey) -> Result<Vec<RoundStake>, LedgerError> {
        let query =
            "SELECT model_id, at_risk, stake_at_close, zero_reason, settlement FROM round_stakes
                     WHERE tournament = ?1 AND number = ?2 ORDER BY model_id";
        Reader(&self.connection).collect(
            query,
            params![key.tournament.0, key.number],
            |row| {
                Ok((
                    row.get::<_, u64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            },
            |(model, at_risk, stake_at_close, zero_reason, settlement)| {
                Ok(RoundStake {
                    model: ModelId(model),
                    at_risk: Nmr::from_base_units(parse(&at_risk, "an amount")?),
                    stake_at_close: Nmr::from_base_units(parse(&stake_at_close, "an amount")?),
                    zero_reason,
                    settlement: settlement
                        .map(|text| json(&text, "a settlement"))
                        .transpose()?,
                })
            },
        )
    }

    fn active_rounds(&self, model: ModelId) -> Result<Vec<StakeRound>, LedgerError> {
        let query = "SELECT r.tournament, r.number, r.close_at, r.resolve_at, r.config, r.state
                     FROM round_stakes s JOIN stake_rounds r ON r.tournament = s.tournament AND r.number = s.number
                     WHERE s.model_id = ?1 AND s.at_risk != '0' AND r.stage != 'settled'
                     ORDER BY r.tournament, r.number";
        Reader(&self.connection).collect(query, [model.0], round_of, stake_round)
    }

    fn open_releases(&self, model: ModelId) -> Result<Vec<ReleaseRequest>, LedgerError> {
        Reader(&self.connection).open_releases(model)
    }

    fn all_open_releases(&self) -> Result<Vec<ReleaseRequest>, LedgerError> {
        let query = format!(
            "SELECT {RELEASE_COLUMNS} FROM release_requests WHERE released_at IS NULL ORDER BY seq"
        );
        Reader(&self.connection).collect(&query, [], release_row, release_request)
    }

    fn releases_due(&self, round: RoundKey) -> Result<Vec<ReleaseRequest>, LedgerError> {
        let query = format!(
            "SELECT {RELEASE_COLUMNS} FROM release_requests
             WHERE release_tournament = ?1 AND release_number = ?2 AND released_at IS NULL ORDER BY seq"
        );
        Reader(&self.connection).collect(
            &query,
            params![round.tournament.0, round.number],
            release_row,
            release_request,
        )
    }

    fn burned_by_round(&self) -> Result<BTreeMap<RoundKey, Nmr>, LedgerError> {
        let query = "SELECT round_tournament, round_number, amount FROM transfers
                     WHERE code = 'burn' AND round_tournament IS NOT NULL";
        let burns = Reader(&self.connection).collect(
            query,
            [],
            |row| {
                Ok((
                    row.get::<_, u32>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, String>(2)?,
                ))
            },
            |(tournament, number, amount)| {
                Ok((
                    RoundKey {
                        tournament: TournamentId(tournament),
                        number,
                    },
                    parse::<u128>(&amount, "an amount")?,
                ))
            },
        )?;
        let mut sums: BTreeMap<RoundKey, Nmr> = BTreeMap::new();
        for (round, amount) in burns {
            let sum = sums.entry(round).or_default();
            *sum = sum
                .checked_add(Nmr::from_base_units(amount))
                .ok_or_else(|| corrupt("burns beyond u128"))?;
        }
        Ok(sums)
    }

    fn buybacks(&self) -> Result<Vec<Buyback>, LedgerError> {
        let query = "SELECT transfer_id, nmr, price_usd, fiat_usd_cents FROM buybacks ORDER BY seq";
        Reader(&self.connection).collect(
            query,
            [],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            },
            |(transfer, nmr, price, cents)| {
                Ok(Buyback {
                    transfer: TransferId::parse(&transfer).map_err(|_| corrupt("a transfer id"))?,
                    nmr: Nmr::from_base_units(parse(&nmr, "an amount")?),
                    price_usd: parse(&price, "a price")?,
                    fiat_usd_cents: parse(&cents, "an amount of cents")?,
                })
            },
        )
    }

    fn transfers(&self, after: u64, limit: usize) -> Result<Vec<LoggedTransfer>, LedgerError> {
        let query = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        );
        Reader(&self.connection).collect(
            &query,
            params![after as i64, limit as i64],
            transfer_row,
            logged_transfer,
        )
    }

    fn account_transfers(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<LoggedTransfer>, LedgerError> {
        let query = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE seq IN (
                 SELECT seq FROM (SELECT seq FROM transfers WHERE debit = ?1 ORDER BY seq DESC LIMIT ?2)
                 UNION SELECT seq FROM (SELECT seq FROM transfers WHERE credit = ?1 ORDER BY seq DESC LIMIT ?2))
             ORDER BY seq DESC LIMIT ?2"
        );
        Reader(&self.connection).collect(
            &query,
            params![account.to_string(), limit as i64],
            transfer_row,
            logged_transfer,
        )
    }

    fn holds(&self) -> Result<Vec<Hold>, LedgerError> {
        let query = hold_query("ORDER BY transfers.seq");
        Reader(&self.connection).collect(&query, [], hold_row, hold)
    }
}

fn model_row(row: &Row<'_>) -> rusqlite::Result<Model> {
    Ok(Model {
        id: ModelId(row.get(0)?),
        user: UserId(row.get(1)?),
        name: row.get(2)?,
        tournament: TournamentId(row.get(3)?),
    })
}
