//! Migrations, applied in order and recorded in SQLite's `user_version`.
//!
//! Amounts are stored as decimal text of base units (`u128` does not fit SQLite's
//! 64-bit integers); they are only ever added in Rust, so no SQL arithmetic is lost.

/// Every migration, in order; index + 1 is the schema version it brings.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    debits_posted TEXT NOT NULL,
    credits_posted TEXT NOT NULL,
    debits_pending TEXT NOT NULL,
    credits_pending TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO accounts VALUES ('genesis', '0', '0', '0', '0'), ('outside', '0', '0', '0', '0'),
                            ('treasury', '0', '0', '0', '0'), ('burn', '0', '0', '0', '0');

CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    applied_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    batch_id TEXT NOT NULL REFERENCES batches(id),
    applied_at TEXT NOT NULL,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    amount TEXT NOT NULL,
    code TEXT NOT NULL,
    mode TEXT NOT NULL,
    hold_id TEXT,
    round_tournament INTEGER,
    round_number INTEGER,
    reference TEXT
);
CREATE INDEX transfers_by_debit ON transfers(debit, seq);
CREATE INDEX transfers_by_credit ON transfers(credit, seq);
CREATE INDEX transfers_by_code ON transfers(code, round_tournament, round_number);

CREATE TABLE holds (
    transfer_id TEXT PRIMARY KEY REFERENCES transfers(id),
    state TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    tournament INTEGER NOT NULL,
    UNIQUE (tournament, name)
);
CREATE INDEX models_by_tournament ON models(tournament, id);

CREATE TABLE stake_rounds (
    tournament INTEGER NOT NULL,
    number INTEGER NOT NULL,
    close_at TEXT NOT NULL,
    resolve_at TEXT NOT NULL,
    config TEXT NOT NULL,
    stage TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (tournament, number)
);

CREATE TABLE round_stakes (
    tournament INTEGER NOT NULL,
    number INTEGER NOT NULL,
    model_id INTEGER NOT NULL REFERENCES models(id),
    at_risk TEXT NOT NULL,
    stake_at_close TEXT NOT NULL,
    zero_reason TEXT,
    settlement TEXT,
    PRIMARY KEY (tournament, number, model_id),
    FOREIGN KEY (tournament, number) REFERENCES stake_rounds(tournament, number)
);
CREATE INDEX round_stakes_by_model ON round_stakes(model_id);

CREATE TABLE release_requests (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    model_id INTEGER NOT NULL REFERENCES models(id),
    amount TEXT NOT NULL,
    remaining TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    at_risk_in TEXT NOT NULL,
    release_tournament INTEGER,
    release_number INTEGER,
    released_at TEXT
);
CREATE INDEX release_requests_open ON release_requests(model_id, seq) WHERE released_at IS NULL;
CREATE INDEX release_requests_due ON release_requests(release_tournament, release_number, seq)
    WHERE released_at IS NULL;

CREATE TABLE buybacks (
    seq INTEGER PRIMARY KEY,
    transfer_id TEXT NOT NULL UNIQUE REFERENCES transfers(id),
    nmr TEXT NOT NULL,
    price_usd TEXT NOT NULL,
    fiat_usd_cents TEXT NOT NULL
);
"#,
    // 2: the tournament service's records (API keys, rounds, submissions, scores, jobs).
    r#"
CREATE TABLE api_keys (
    public_id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE rounds (
    tournament INTEGER NOT NULL,
    number INTEGER NOT NULL,
    open_at TEXT NOT NULL,
    close_at TEXT NOT NULL,
    score_at TEXT NOT NULL,
    resolve_at TEXT NOT NULL,
    data_date TEXT NOT NULL,
    phase TEXT NOT NULL,
    scored_days INTEGER NOT NULL,
    blobs TEXT NOT NULL,
    PRIMARY KEY (tournament, number)
);
CREATE INDEX rounds_unresolved ON rounds(tournament, number) WHERE phase <> 'resolved';

CREATE TABLE submissions (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models(id),
    tournament INTEGER NOT NULL,
    round INTEGER NOT NULL,
    filename TEXT NOT NULL,
    blob TEXT,
    ranks TEXT,
    received_at TEXT NOT NULL,
    deadline TEXT NOT NULL,
    state TEXT NOT NULL,
    late INTEGER NOT NULL,
    reason TEXT,
    FOREIGN KEY (tournament, round) REFERENCES rounds(tournament, number)
);
CREATE INDEX submissions_by_round ON submissions(tournament, round, id);
CREATE INDEX submissions_by_model ON submissions(model_id, id);
CREATE INDEX submissions_received ON submissions(deadline) WHERE state = 'received';

CREATE TABLE daily_scores (
    tournament INTEGER NOT NULL,
    round INTEGER NOT NULL,
    day INTEGER NOT NULL,
    model_id INTEGER NOT NULL REFERENCES models(id),
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    scores TEXT NOT NULL,
    PRIMARY KEY (tournament, round, day, model_id)
) WITHOUT ROWID;
CREATE INDEX daily_scores_by_model ON daily_scores(model_id, round, day);

CREATE TABLE jobs (
    name TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    deadline TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    finished_at TEXT,
    error TEXT
) WITHOUT ROWID;
CREATE INDEX jobs_unfinished ON jobs(started_at) WHERE finished_at IS NULL;
"#,
    // 3: per-model settings a participant sets through the API (webhook, bio, link).
    r#"
CREATE TABLE model_settings (
    model INTEGER NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (model, name)
) WITHOUT ROWID;
"#,
];
