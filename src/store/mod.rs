//! The store: SQLite on disk, the single source of truth. The search index is
//! derived from it and can be rebuilt from it at any time.
//!
//! One file per table family (`items.rs`, `sources.rs`); the schema lives in
//! ordered migrations below, each applied once and recorded in
//! `PRAGMA user_version`. WAL mode with `synchronous=NORMAL`: a committed
//! transaction survives a process crash; a power cut may lose the last few.
//!
//! **Revisions.** Every insert or change of an item takes the next value of a
//! store-wide revision counter (`items.rev`). The index remembers the highest
//! revision it has committed, so bringing it up to date is "index every row
//! with a higher revision" — after a crash too.

pub mod copy;
pub mod db;
pub mod findings;
pub mod imports;
pub mod inspect;
pub mod items;
pub mod links;
pub mod nodes;
pub mod outbox;
#[doc(hidden)]
pub mod pg_cluster;
pub mod sessions;
pub mod sources;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
#[cfg(test)]
use std::sync::MutexGuard;

use anyhow::{Context, Result};
use rusqlite::Connection;

pub use db::Dialect;
use db::{Db, params};

pub use items::{Revision, UpsertCounts, UpsertOutcome};
pub use sources::SourceHealth;

/// Ordered schema migrations. Append; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: items, source state, counters.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    INSERT INTO meta (key, value) VALUES ('next_rev', '1');

    CREATE TABLE items (
        seq                    INTEGER PRIMARY KEY,   -- insertion order: keeps inserts appending
        id                     INTEGER NOT NULL UNIQUE, -- ItemId: hash of (source, key)
        source                 TEXT NOT NULL,
        key                    TEXT NOT NULL,
        unit                   TEXT NOT NULL,
        kind                   TEXT NOT NULL,
        role                   TEXT NOT NULL,
        level                  TEXT NOT NULL,
        title                  TEXT NOT NULL,
        text                   TEXT NOT NULL,
        link                   TEXT,
        published_at           TEXT,                  -- RFC 3339 with the zone it was given in
        published_ts           INTEGER,               -- unix seconds, for ranges
        published_precision    TEXT,                  -- date | time
        published_zone_assumed INTEGER,               -- 1 when Asia/Shanghai was assumed
        doc_no                 TEXT,
        doc_no_norm            TEXT,
        publisher              TEXT,
        categories             TEXT NOT NULL DEFAULT '[]', -- JSON array
        first_seen_at          TEXT NOT NULL,
        last_changed_at        TEXT NOT NULL,
        content_hash           TEXT NOT NULL,
        rev                    INTEGER NOT NULL,      -- the revision of the last write
        created_rev            INTEGER NOT NULL       -- the revision of the insert
    );
    CREATE INDEX items_rev ON items (rev);
    CREATE INDEX items_source ON items (source, published_ts);
    CREATE INDEX items_doc_no ON items (doc_no_norm) WHERE doc_no_norm IS NOT NULL;

    CREATE TABLE sources (
        id                   TEXT PRIMARY KEY,
        etag                 TEXT,
        last_modified        TEXT,
        last_attempt_at      TEXT,
        last_success_at      TEXT,
        last_status          TEXT,                    -- ok | not_modified | error
        last_error           TEXT,
        last_error_at        TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_attempt_at      TEXT,                    -- backoff: not before this time
        items_seen           INTEGER,                 -- items parsed by the last successful poll
        warnings             TEXT NOT NULL DEFAULT '[]' -- JSON array, from the last poll
    );
    "#,
    // 2: work orders and messages from exports, what could not be read, what was imported;
    // findings of the deadline rules and recorded responses.
    r#"
    CREATE TABLE cases (
        seq                INTEGER PRIMARY KEY,       -- insertion order: keeps inserts appending
        item_id            INTEGER NOT NULL UNIQUE,   -- items.id (a hash: scattered, so not the key)
        source             TEXT NOT NULL,
        number             TEXT NOT NULL,             -- 工单编号 / 留言编号
        received_at        TEXT,
        received_ts        INTEGER,
        received_precision TEXT,
        category           TEXT,
        handler            TEXT,                      -- 承办单位 as written
        deadline_at        TEXT,                      -- the export's own deadline
        deadline_ts        INTEGER,
        deadline_precision TEXT,
        closed_at          TEXT,
        closed_ts          INTEGER,
        closed_precision   TEXT,
        status             TEXT,
        reply              TEXT,
        extension          TEXT,
        urgency            TEXT
    );
    CREATE INDEX cases_source ON cases (source, number);

    CREATE TABLE quarantine (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        file        TEXT NOT NULL,
        file_sha256 TEXT NOT NULL,
        row         INTEGER NOT NULL,                 -- as the spreadsheet numbers it (1 = first row)
        column_name TEXT,
        reason      TEXT NOT NULL,
        value       TEXT,
        at          TEXT NOT NULL,
        UNIQUE (source, file_sha256, row)
    );

    CREATE TABLE imports (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        file        TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        size        INTEGER,                          -- with mtime: a drop-folder file unchanged since
        mtime       INTEGER,                          -- its import is not read again
        started_at  TEXT NOT NULL,
        finished_at TEXT,                             -- NULL: interrupted (it is read again next time)
        rows        INTEGER,
        new         INTEGER,
        updated     INTEGER,
        unchanged   INTEGER,
        quarantined INTEGER,
        error       TEXT
    );
    CREATE INDEX imports_sha ON imports (source, sha256);

    CREATE TABLE findings (
        fingerprint          TEXT PRIMARY KEY,
        rule                 TEXT NOT NULL,
        item_id              INTEGER NOT NULL,
        unit                 TEXT NOT NULL,
        state                TEXT NOT NULL,           -- due_soon | overdue | resolved
        deadline             TEXT,
        overdue_working_days INTEGER,
        late                 INTEGER,                 -- resolved: 1 late, 0 on time
        basis                TEXT,
        first_seen_at        TEXT NOT NULL,
        state_changed_at     TEXT NOT NULL,
        evaluated_at         TEXT NOT NULL
    );
    CREATE INDEX findings_unit ON findings (unit, state);

    CREATE TABLE responses (
        id           INTEGER PRIMARY KEY,
        item_id      INTEGER NOT NULL,
        responded_at TEXT NOT NULL,
        note         TEXT
    );
    CREATE INDEX responses_item ON responses (item_id);
    "#,
    // 3: what items refer to (their own and cited 文号, links), for matching reposts.
    r#"
    ALTER TABLE items ADD COLUMN refs TEXT NOT NULL DEFAULT '{}';
    "#,
    // 4: alerts — the outbox (every email before it is sent), what each email
    // listed, each finding's last mailing, and the rounds run.
    r#"
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        message_id      TEXT NOT NULL UNIQUE,
        round           TEXT NOT NULL,
        kind            TEXT NOT NULL,            -- digest | immediate | report
        unit            TEXT NOT NULL,
        sender          TEXT NOT NULL,            -- envelope
        recipients      TEXT NOT NULL,            -- envelope: JSON array (To and Cc)
        subject         TEXT NOT NULL,
        findings        INTEGER NOT NULL,
        message         BLOB NOT NULL,            -- the message exactly as it is sent
        state           TEXT NOT NULL,            -- queued | sent | failed
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ts INTEGER NOT NULL,         -- unix seconds
        last_error      TEXT,
        created_at      TEXT NOT NULL,
        sent_at         TEXT,
        UNIQUE (round, kind, unit)
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_ts);

    CREATE TABLE mailed (
        fingerprint TEXT NOT NULL,
        kind        TEXT NOT NULL,                -- digest | immediate | report | resolved
        round       TEXT NOT NULL,
        outbox_id   INTEGER NOT NULL REFERENCES outbox (id),
        state       TEXT NOT NULL,
        level       INTEGER NOT NULL,             -- 0, 1 催办, 2 通报
        PRIMARY KEY (fingerprint, kind, round)
    ) WITHOUT ROWID;
    CREATE INDEX mailed_outbox ON mailed (outbox_id);

    CREATE TABLE mail_state (
        fingerprint TEXT PRIMARY KEY,
        open_day    TEXT,                         -- last listed open: the round's date
        open_state  TEXT,
        open_level  INTEGER,
        report_day  TEXT,                         -- last in a 通报
        resolved    INTEGER NOT NULL DEFAULT 0    -- reported as resolved
    ) WITHOUT ROWID;

    CREATE TABLE rounds (
        round      TEXT PRIMARY KEY,
        at         TEXT NOT NULL,
        emails     INTEGER NOT NULL,
        findings   INTEGER NOT NULL,
        unroutable INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO meta (key, value) VALUES ('mail_generation', '0');
    "#,
    // 5: website inspection — findings about a column or a source (no item of
    // their own) carry their subject and link; findings held back while their
    // source is unreachable (inhibition); the link checker's memory per URL.
    r#"
    ALTER TABLE findings ADD COLUMN subject TEXT;
    ALTER TABLE findings ADD COLUMN link TEXT;
    ALTER TABLE findings ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE link_checks (
        url              TEXT PRIMARY KEY,
        first_failure_at TEXT,                    -- first failure since the last success
        last_failure_at  TEXT,
        failures         INTEGER NOT NULL DEFAULT 0, -- failures since the last success
        last_success_at  TEXT,
        last_checked_at  TEXT,
        last_status      INTEGER,                 -- HTTP status of the last check, if any
        last_error       TEXT                     -- why the last check failed
    ) WITHOUT ROWID;
    "#,
    // 6: personal data found in published portal items (masked summaries
    // only, never the numbers), kept current by an incremental scan by rev.
    r#"
    CREATE TABLE pii_hits (
        item_id INTEGER PRIMARY KEY,
        summary TEXT NOT NULL                     -- masked, e.g. 身份证号 110105********002X
    );
    INSERT OR IGNORE INTO meta (key, value) VALUES ('pii_scanned_rev', '0');
    "#,
    RETIRE_PER_COLUMN_REPOSTS,
    CASES_ANSWER_UNKNOWN,
    NODES_SQLITE,
];

/// 9: several govwatch nodes on one store (issue 19). Written once per
/// dialect (`NODES_POSTGRES`): the node table and its heartbeats; leases
/// (a source's polls, the leader's jobs, an export file's import) held by a
/// node until they expire; the outbox row a node is sending; console
/// sessions and login attempts, so that any node serves any request.
/// Times of leases and claims are unix milliseconds.
const NODES_SQLITE: &str = r#"
    CREATE TABLE nodes (
        id           TEXT PRIMARY KEY,            -- host:pid:random, new at every start
        host         TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        listen       TEXT,                        -- the console's address, if served
        started_at   TEXT NOT NULL,
        heartbeat_ms INTEGER NOT NULL,
        index_rev    INTEGER NOT NULL DEFAULT 0,  -- the revision its index holds
        stopped_at   TEXT                         -- a clean stop; NULL while running (or killed)
    );
    CREATE TABLE leases (
        name        TEXT PRIMARY KEY,             -- source:ID | leader | import:SOURCE:FILE
        node        TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL,
        acquired_at TEXT NOT NULL
    );
    CREATE INDEX leases_node ON leases (node);
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claim_expires_ms INTEGER;
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,              -- sha256 of the cookie's token, hex
        user_name  TEXT NOT NULL,
        role       TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        proxied    INTEGER NOT NULL DEFAULT 0,    -- the trusted proxy's one session per user
        created_ms INTEGER NOT NULL,
        seen_ms    INTEGER NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions (user_name, proxied);
    CREATE TABLE login_attempts (
        key   TEXT NOT NULL,                      -- ip:ADDRESS | user:NAME
        at_ms INTEGER NOT NULL,
        id    TEXT NOT NULL                       -- the attempt, so a success takes back its own
    );
    CREATE INDEX login_attempts_key ON login_attempts (key, at_ms);
"#;

const NODES_POSTGRES: &str = r#"
    CREATE TABLE nodes (
        id           TEXT COLLATE "C" PRIMARY KEY,
        host         TEXT COLLATE "C" NOT NULL,
        pid          BIGINT NOT NULL,
        listen       TEXT COLLATE "C",
        started_at   TEXT COLLATE "C" NOT NULL,
        heartbeat_ms BIGINT NOT NULL,
        index_rev    BIGINT NOT NULL DEFAULT 0,
        stopped_at   TEXT COLLATE "C"
    );
    CREATE TABLE leases (
        name        TEXT COLLATE "C" PRIMARY KEY,
        node        TEXT COLLATE "C" NOT NULL,
        expires_ms  BIGINT NOT NULL,
        acquired_at TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX leases_node ON leases (node);
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT COLLATE "C";
    ALTER TABLE outbox ADD COLUMN claim_expires_ms BIGINT;
    CREATE TABLE web_sessions (
        token_hash TEXT COLLATE "C" PRIMARY KEY,
        user_name  TEXT COLLATE "C" NOT NULL,
        role       TEXT COLLATE "C" NOT NULL,
        csrf       TEXT COLLATE "C" NOT NULL,
        proxied    BIGINT NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL,
        seen_ms    BIGINT NOT NULL
    );
    CREATE INDEX web_sessions_user ON web_sessions (user_name, proxied);
    CREATE TABLE login_attempts (
        key   TEXT COLLATE "C" NOT NULL,
        at_ms BIGINT NOT NULL,
        id    TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX login_attempts_key ON login_attempts (key, at_ms);
"#;

/// Reposts are owed per website (`site`), not per portal column: the
/// findings of the per-column model are retired. They are closed as they
/// stand, marked in their basis, and marked as already reported resolved,
/// so that no email reports them resolved (nothing was reposted); the next
/// evaluation makes the per-website findings.
pub(crate) const RETIRE_PER_COLUMN_REPOSTS: &str = r#"
    INSERT INTO mail_state (fingerprint, resolved)
        SELECT fingerprint, 1 FROM findings WHERE rule = 'repost'
        ON CONFLICT (fingerprint) DO UPDATE SET resolved = 1;
    UPDATE findings SET
        basis = COALESCE(basis, '') || '（已停用：转载改为按网站核对）',
        state_changed_at = CASE WHEN state = 'resolved' THEN state_changed_at
                                ELSE strftime('%Y-%m-%dT%H:%M:%S+08:00', 'now', '+8 hours') END,
        state = 'resolved',
        late = CASE WHEN state = 'resolved' THEN late END,
        held = 0
        WHERE rule = 'repost';
"#;

/// Whether an export row's file could say if it was answered (a reply or
/// closing column: 办结时间, 状态, 答复意见 …); rows it could not are intake
/// only. Rows imported before: a source none of whose rows carries any such
/// value is taken as one whose exports have no such column, and its items'
/// hashes are cleared so that the next import of a row records what its file says.
pub(crate) const CASES_ANSWER_UNKNOWN: &str = r#"
    ALTER TABLE cases ADD COLUMN answer_unknown INTEGER NOT NULL DEFAULT 0;
    UPDATE cases SET answer_unknown = 1 WHERE source NOT IN (
        SELECT DISTINCT source FROM cases
        WHERE closed_at IS NOT NULL OR status IS NOT NULL OR reply IS NOT NULL);
    UPDATE items SET content_hash = '' WHERE id IN (SELECT item_id FROM cases WHERE answer_unknown = 1);
"#;

/// The PostgreSQL schema: the SQLite schema as of migration 8, written once
/// in PostgreSQL's types (BIGINT for every integer: item ids are 64-bit
/// hashes; identity columns for SQLite's rowids; BYTEA for blobs; text
/// compared byte-wise, `COLLATE "C"`, as SQLite compares it, so that the
/// RFC 3339 times stored as text sort by time whatever the database's
/// locale). A PostgreSQL store starts at version 8: migrations 2–8 changed
/// SQLite stores that existed before them, and there were none on
/// PostgreSQL. Every migration from 9 on is written for both.
const PG_MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE meta (
        key   TEXT COLLATE "C" PRIMARY KEY,
        value TEXT COLLATE "C" NOT NULL
    );
    INSERT INTO meta (key, value) VALUES ('next_rev', '1'), ('mail_generation', '0'), ('pii_scanned_rev', '0');

    CREATE TABLE items (
        seq                    BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        id                     BIGINT NOT NULL UNIQUE,
        source                 TEXT COLLATE "C" NOT NULL,
        key                    TEXT COLLATE "C" NOT NULL,
        unit                   TEXT COLLATE "C" NOT NULL,
        kind                   TEXT COLLATE "C" NOT NULL,
        role                   TEXT COLLATE "C" NOT NULL,
        level                  TEXT COLLATE "C" NOT NULL,
        title                  TEXT COLLATE "C" NOT NULL,
        text                   TEXT COLLATE "C" NOT NULL,
        link                   TEXT COLLATE "C",
        published_at           TEXT COLLATE "C",
        published_ts           BIGINT,
        published_precision    TEXT COLLATE "C",
        published_zone_assumed BIGINT,
        doc_no                 TEXT COLLATE "C",
        doc_no_norm            TEXT COLLATE "C",
        publisher              TEXT COLLATE "C",
        categories             TEXT COLLATE "C" NOT NULL DEFAULT '[]',
        first_seen_at          TEXT COLLATE "C" NOT NULL,
        last_changed_at        TEXT COLLATE "C" NOT NULL,
        content_hash           TEXT COLLATE "C" NOT NULL,
        rev                    BIGINT NOT NULL,
        created_rev            BIGINT NOT NULL,
        refs                   TEXT COLLATE "C" NOT NULL DEFAULT '{}'
    );
    CREATE INDEX items_rev ON items (rev);
    CREATE INDEX items_source ON items (source, published_ts);
    CREATE INDEX items_doc_no ON items (doc_no_norm) WHERE doc_no_norm IS NOT NULL;

    CREATE TABLE sources (
        id                   TEXT COLLATE "C" PRIMARY KEY,
        etag                 TEXT COLLATE "C",
        last_modified        TEXT COLLATE "C",
        last_attempt_at      TEXT COLLATE "C",
        last_success_at      TEXT COLLATE "C",
        last_status          TEXT COLLATE "C",
        last_error           TEXT COLLATE "C",
        last_error_at        TEXT COLLATE "C",
        consecutive_failures BIGINT NOT NULL DEFAULT 0,
        next_attempt_at      TEXT COLLATE "C",
        items_seen           BIGINT,
        warnings             TEXT COLLATE "C" NOT NULL DEFAULT '[]'
    );

    CREATE TABLE cases (
        seq                BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        item_id            BIGINT NOT NULL UNIQUE,
        source             TEXT COLLATE "C" NOT NULL,
        number             TEXT COLLATE "C" NOT NULL,
        received_at        TEXT COLLATE "C",
        received_ts        BIGINT,
        received_precision TEXT COLLATE "C",
        category           TEXT COLLATE "C",
        handler            TEXT COLLATE "C",
        deadline_at        TEXT COLLATE "C",
        deadline_ts        BIGINT,
        deadline_precision TEXT COLLATE "C",
        closed_at          TEXT COLLATE "C",
        closed_ts          BIGINT,
        closed_precision   TEXT COLLATE "C",
        status             TEXT COLLATE "C",
        reply              TEXT COLLATE "C",
        extension          TEXT COLLATE "C",
        urgency            TEXT COLLATE "C",
        answer_unknown     BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX cases_source ON cases (source, number);

    CREATE TABLE quarantine (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        source      TEXT COLLATE "C" NOT NULL,
        file        TEXT COLLATE "C" NOT NULL,
        file_sha256 TEXT COLLATE "C" NOT NULL,
        row         BIGINT NOT NULL,
        column_name TEXT COLLATE "C",
        reason      TEXT COLLATE "C" NOT NULL,
        value       TEXT COLLATE "C",
        at          TEXT COLLATE "C" NOT NULL,
        UNIQUE (source, file_sha256, row)
    );

    CREATE TABLE imports (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        source      TEXT COLLATE "C" NOT NULL,
        file        TEXT COLLATE "C" NOT NULL,
        sha256      TEXT COLLATE "C" NOT NULL,
        size        BIGINT,
        mtime       BIGINT,
        started_at  TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C",
        rows        BIGINT,
        new         BIGINT,
        updated     BIGINT,
        unchanged   BIGINT,
        quarantined BIGINT,
        error       TEXT COLLATE "C"
    );
    CREATE INDEX imports_sha ON imports (source, sha256);

    CREATE TABLE findings (
        fingerprint          TEXT COLLATE "C" PRIMARY KEY,
        rule                 TEXT COLLATE "C" NOT NULL,
        item_id              BIGINT NOT NULL,
        unit                 TEXT COLLATE "C" NOT NULL,
        state                TEXT COLLATE "C" NOT NULL,
        deadline             TEXT COLLATE "C",
        overdue_working_days BIGINT,
        late                 BIGINT,
        basis                TEXT COLLATE "C",
        first_seen_at        TEXT COLLATE "C" NOT NULL,
        state_changed_at     TEXT COLLATE "C" NOT NULL,
        evaluated_at         TEXT COLLATE "C" NOT NULL,
        subject              TEXT COLLATE "C",
        link                 TEXT COLLATE "C",
        held                 BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX findings_unit ON findings (unit, state);

    CREATE TABLE responses (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        item_id      BIGINT NOT NULL,
        responded_at TEXT COLLATE "C" NOT NULL,
        note         TEXT COLLATE "C"
    );
    CREATE INDEX responses_item ON responses (item_id);

    CREATE TABLE outbox (
        id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        message_id      TEXT COLLATE "C" NOT NULL UNIQUE,
        round           TEXT COLLATE "C" NOT NULL,
        kind            TEXT COLLATE "C" NOT NULL,
        unit            TEXT COLLATE "C" NOT NULL,
        sender          TEXT COLLATE "C" NOT NULL,
        recipients      TEXT COLLATE "C" NOT NULL,
        subject         TEXT COLLATE "C" NOT NULL,
        findings        BIGINT NOT NULL,
        message         BYTEA NOT NULL,
        state           TEXT COLLATE "C" NOT NULL,
        attempts        BIGINT NOT NULL DEFAULT 0,
        next_attempt_ts BIGINT NOT NULL,
        last_error      TEXT COLLATE "C",
        created_at      TEXT COLLATE "C" NOT NULL,
        sent_at         TEXT COLLATE "C",
        UNIQUE (round, kind, unit)
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_ts);

    CREATE TABLE mailed (
        fingerprint TEXT COLLATE "C" NOT NULL,
        kind        TEXT COLLATE "C" NOT NULL,
        round       TEXT COLLATE "C" NOT NULL,
        outbox_id   BIGINT NOT NULL REFERENCES outbox (id),
        state       TEXT COLLATE "C" NOT NULL,
        level       BIGINT NOT NULL,
        PRIMARY KEY (fingerprint, kind, round)
    );
    CREATE INDEX mailed_outbox ON mailed (outbox_id);

    CREATE TABLE mail_state (
        fingerprint TEXT COLLATE "C" PRIMARY KEY,
        open_day    TEXT COLLATE "C",
        open_state  TEXT COLLATE "C",
        open_level  BIGINT,
        report_day  TEXT COLLATE "C",
        resolved    BIGINT NOT NULL DEFAULT 0
    );

    CREATE TABLE rounds (
        round      TEXT COLLATE "C" PRIMARY KEY,
        at         TEXT COLLATE "C" NOT NULL,
        emails     BIGINT NOT NULL,
        findings   BIGINT NOT NULL,
        unroutable BIGINT NOT NULL
    );

    CREATE TABLE link_checks (
        url              TEXT COLLATE "C" PRIMARY KEY,
        first_failure_at TEXT COLLATE "C",
        last_failure_at  TEXT COLLATE "C",
        failures         BIGINT NOT NULL DEFAULT 0,
        last_success_at  TEXT COLLATE "C",
        last_checked_at  TEXT COLLATE "C",
        last_status      BIGINT,
        last_error       TEXT COLLATE "C"
    );

    CREATE TABLE pii_hits (
        item_id BIGINT PRIMARY KEY,
        summary TEXT COLLATE "C" NOT NULL
    );
    "#,
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    NODES_POSTGRES,
];

const _: () = assert!(PG_MIGRATIONS.len() == MIGRATIONS.len(), "every migration has a PostgreSQL form");

/// Which database holds the store.
enum Backend {
    /// One connection: the daemon's writes are few and batched.
    Sqlite(Mutex<Connection>),
    Postgres(Box<PgBackend>),
}

/// The PostgreSQL connections of one process.
struct PgBackend {
    /// Reads and write transactions.
    data: db::pg::Pool,
    /// Short transactions that must not wait behind the data pool's writers
    /// or readers: heartbeats, leases, claims, source health.
    control: db::pg::Pool,
    /// Write transactions of this process, one at a time: they run one at a
    /// time across nodes anyway (the advisory lock), and one waiting for
    /// the lock must not hold more than one of the pool's connections.
    write_gate: Mutex<()>,
}

/// A handle on the store, SQLite or PostgreSQL (`[storage] backend`).
pub struct Store {
    backend: Backend,
    /// The SQLite file (`:memory:` for one in memory); for PostgreSQL, what
    /// its URL names (host, port, database; never the password).
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) `data_dir/govwatch.sqlite3` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("failed to create the data folder {}", data_dir.display()))?;
        if let Ok(base) = std::env::var(TEST_POSTGRES_BASE) {
            return Store::open_postgres(&test_database_for(&base, data_dir)?, 8);
        }
        Store::open_sqlite(data_dir)
    }

    /// Opens `data_dir/govwatch.sqlite3` itself, whatever the test hook says
    /// (`store copy` reads the SQLite file).
    pub fn open_sqlite(data_dir: &Path) -> Result<Store> {
        let path = data_dir.join("govwatch.sqlite3");
        let conn = Connection::open(&path).with_context(|| format!("failed to open the store {}", path.display()))?;
        Self::setup(conn, path)
    }

    /// Opens the store the configuration names: SQLite in `data_dir`, or the
    /// PostgreSQL database at `url`.
    pub fn open_config(storage: &crate::config::Storage) -> Result<Store> {
        match storage.backend {
            crate::config::StorageBackend::Sqlite => Store::open(&storage.data_dir),
            crate::config::StorageBackend::Postgres => {
                let url = storage.url.as_deref().filter(|u| !u.trim().is_empty()).context(
                    "storage.backend = \"postgres\" needs storage.url (or GOVWATCH__STORAGE__URL), \
                     e.g. postgresql://govwatch:PASSWORD@db.example:5432/govwatch",
                )?;
                Store::open_postgres(url, storage.pool_size)
            }
        }
    }

    /// Opens the PostgreSQL database at `url` (a libpq URL or key=value
    /// string: TLS by `sslmode`, unix sockets by `host=/path`) with at most
    /// `pool_size` connections, and migrates it.
    pub fn open_postgres(url: &str, pool_size: usize) -> Result<Store> {
        let data = db::pg::Pool::connect(url, pool_size)?;
        let control = db::pg::Pool::connect(url, 2)?;
        let path = PathBuf::from(format!("postgresql://{}", data.label()));
        let store = Store {
            backend: Backend::Postgres(Box::new(PgBackend { data, control, write_gate: Mutex::new(()) })),
            path,
        };
        store
            .write_unlocked(migrate_postgres)
            .with_context(|| format!("failed to migrate the store {}", store.path.display()))?;
        store.rederive_refs().with_context(|| {
            format!("failed to work out the 文号 of the stored items again in {}", store.path.display())
        })?;
        Ok(store)
    }

    /// An in-memory store, for tests and benchmarks of pure logic.
    pub fn open_in_memory() -> Result<Store> {
        Self::setup(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn setup(mut conn: Connection, path: PathBuf) -> Result<Store> {
        // First, so that the pragmas below wait for another process's lock too.
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        set_wal(&conn).with_context(|| format!("failed to put the store {} in WAL mode", path.display()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "cache_size", -65536)?; // 64 MiB
        conn.set_prepared_statement_cache_capacity(256);
        migrate(&mut conn).with_context(|| format!("failed to migrate the store {}", path.display()))?;
        let store = Store { backend: Backend::Sqlite(Mutex::new(conn)), path };
        store.rederive_refs().with_context(|| {
            format!("failed to work out the 文号 of the stored items again in {}", store.path.display())
        })?;
        Ok(store)
    }

    /// The SQLite file, or the PostgreSQL database's host, port and name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which database this store is in.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite file on disk, if this store is one (not in memory, not PostgreSQL).
    pub fn sqlite_file(&self) -> Option<&Path> {
        match self.backend {
            Backend::Sqlite(_) if self.path.as_os_str() != ":memory:" => Some(&self.path),
            _ => None,
        }
    }

    /// Runs `f` on a connection, outside any write transaction: each
    /// statement on its own (reads, and single-statement writes that need no
    /// other).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(m) => {
                let conn = m.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut Db::Sqlite(&conn))
            }
            Backend::Postgres(pg) => {
                let mut conn = pg.data.get()?;
                f(&mut Db::Pg(&mut conn))
            }
        }
    }

    /// As [`Store::read`], on the connections kept for heartbeats and
    /// leases (`write_unlocked`'s), which never wait behind other work.
    pub(crate) fn control<T>(&self, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(_) => self.read(f),
            Backend::Postgres(pg) => {
                let mut conn = pg.control.get()?;
                f(&mut Db::Pg(&mut conn))
            }
        }
    }

    /// Runs `f` in one write transaction, committed when `f` returns `Ok`
    /// and rolled back otherwise. Write transactions run one at a time, on
    /// PostgreSQL across every node too (see `db`).
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        self.transaction(true, f)
    }

    /// A transaction that does not wait for other writers: for short
    /// claims (leases, row locks) that must not queue behind an import.
    /// On SQLite every transaction is a write transaction.
    pub(crate) fn write_unlocked<T>(&self, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        self.transaction(false, f)
    }

    fn transaction<T>(&self, serialized: bool, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(m) => {
                let mut conn = m.lock().unwrap_or_else(|e| e.into_inner());
                // IMMEDIATE: a deferred read that turns into a write fails at
                // once (SQLITE_BUSY_SNAPSHOT, no busy wait) when another
                // process wrote in between.
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = f(&mut Db::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres(pg) => {
                let _gate = serialized.then(|| pg.write_gate.lock().unwrap_or_else(|e| e.into_inner()));
                let mut conn = if serialized { pg.data.get()? } else { pg.control.get()? };
                conn.batch("BEGIN")?;
                conn.in_tx = true;
                let out = (|| {
                    if serialized {
                        conn.execute(
                            "SELECT pg_advisory_xact_lock(?1, ?2)",
                            params![db::pg::LOCK_NAMESPACE, db::pg::LOCK_WRITE],
                        )?;
                    }
                    f(&mut Db::Pg(&mut conn))
                })();
                match out {
                    Ok(v) => {
                        conn.batch("COMMIT")?;
                        conn.in_tx = false;
                        Ok(v)
                    }
                    Err(e) => {
                        if conn.batch("ROLLBACK").is_ok() {
                            conn.in_tx = false;
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    /// Runs one statement with text values and gives every column as text
    /// (`None` for NULL), on either backend: for tests and tools that look
    /// at the tables themselves.
    #[doc(hidden)]
    pub fn query_strings(&self, sql: &str, values: &[&str]) -> Result<Vec<Vec<Option<String>>>> {
        let values: Vec<db::Value> = values.iter().map(|v| db::Value::Text(v.to_string())).collect();
        self.read(|db| {
            db.query_map(sql, &values, |r| {
                let mut row = Vec::new();
                for i in 0..r.len() {
                    row.push(r.text(i)?);
                }
                Ok(row)
            })
        })
    }

    /// The SQLite connection, for tests that look at the file's own tables.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        match &self.backend {
            Backend::Sqlite(m) => m.lock().unwrap_or_else(|e| e.into_inner()),
            Backend::Postgres(_) => panic!("conn() is SQLite's; use read()"),
        }
    }
}

/// WAL mode is stored in the file: set it once. Switching needs an exclusive
/// lock, and SQLite answers BUSY at once, without the busy handler, when
/// another process (the daemon and a CLI command starting together) holds
/// the new file; so read the mode first, and retry the switch for a while.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mode: rusqlite::Result<String> =
            conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).and_then(|m: String| {
                if m.eq_ignore_ascii_case("wal") {
                    Ok(m)
                } else {
                    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                }
            });
        match mode {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies the migrations the store lacks. The version is read inside an
/// IMMEDIATE transaction, so two processes opening a new store at once (the
/// daemon and a CLI command) cannot both apply the same migration.
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: usize = tx.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        anyhow::bail!(
            "the store is at schema version {current}, newer than this govwatch knows ({}); use a newer govwatch",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql).with_context(|| format!("migration {} failed", i + 1))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// For running the whole test suite on PostgreSQL: when this variable holds a
/// server's base URL (`postgresql://user@host:port/`), every store opened
/// by its data folder is instead the PostgreSQL database named after that
/// folder (created when missing). A test hook, not a setting: an office
/// chooses PostgreSQL with `[storage] backend`.
pub const TEST_POSTGRES_BASE: &str = "GOVWATCH_TEST_POSTGRES_BASE";

fn test_database_for(base: &str, data_dir: &Path) -> Result<String> {
    use sha2::Digest;
    let folder = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let hash = sha2::Sha256::digest(folder.to_string_lossy().as_bytes());
    let name = format!("gw_{}", hash.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>());
    let admin = db::pg::Pool::connect(&format!("{base}postgres"), 1)?;
    let mut conn = admin.get()?;
    let exists: Option<i64> =
        Db::Pg(&mut conn).query_opt("SELECT 1 FROM pg_database WHERE datname = ?1", params![name], |r| r.get(0))?;
    if exists.is_none()
        && let Err(e) = conn.batch(&format!("CREATE DATABASE {name}"))
        && !["42P04", "23505"].iter().any(|c| format!("{e:#}").contains(c))
    {
        return Err(e);
    }
    Ok(format!("{base}{name}"))
}

/// Applies the PostgreSQL migrations the database lacks, under an advisory
/// lock: nodes starting together migrate once.
fn migrate_postgres(db: &mut Db<'_>) -> Result<()> {
    db.execute("SELECT pg_advisory_xact_lock(?1, ?2)", params![db::pg::LOCK_NAMESPACE, db::pg::LOCK_MIGRATE])?;
    // No NOTICE "already exists" on every start.
    db.execute_batch("SET LOCAL client_min_messages = warning")?;
    db.execute_batch("CREATE TABLE IF NOT EXISTS govwatch_schema (version BIGINT NOT NULL)")?;
    let current: Option<i64> = db.query_opt("SELECT version FROM govwatch_schema", params![], |r| r.get(0))?;
    let current = match current {
        Some(v) => v as usize,
        None => {
            db.execute("INSERT INTO govwatch_schema (version) VALUES (0)", params![])?;
            0
        }
    };
    if current > PG_MIGRATIONS.len() {
        anyhow::bail!(
            "the store is at schema version {current}, newer than this govwatch knows ({}); use a newer govwatch",
            PG_MIGRATIONS.len()
        );
    }
    for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(current) {
        if !sql.trim().is_empty() {
            db.execute_batch(sql).with_context(|| format!("migration {} failed", i + 1))?;
        }
        db.execute("UPDATE govwatch_schema SET version = ?1", params![(i + 1) as i64])?;
    }
    Ok(())
}

/// An in-memory store that had the migrations before `migration` when
/// `prepare` wrote to it, then was opened by this version (the rest applied):
/// for testing what a migration does to the data of a store that shipped.
#[cfg(test)]
pub(crate) fn upgraded_from_before(migration: &str, prepare: impl FnOnce(&Connection)) -> Result<Store> {
    let conn = Connection::open_in_memory()?;
    let upto = MIGRATIONS.iter().position(|m| *m == migration).context("not one of the migrations")?;
    for (i, sql) in MIGRATIONS[..upto].iter().enumerate() {
        conn.execute_batch(sql)?;
        conn.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    prepare(&conn);
    Store::setup(conn, PathBuf::from(":memory:"))
}

/// Store tests run on both backends.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A new empty PostgreSQL store, or `None` (said loudly) where
    /// PostgreSQL cannot start.
    pub fn postgres(prefix: &str) -> Option<Store> {
        let url = pg_test_database(prefix)?;
        Some(Store::open_postgres(&url, 4).unwrap_or_else(|e| panic!("{e:#}")))
    }

    fn pg_test_database(prefix: &str) -> Option<String> {
        pg_cluster::test_database(prefix)
    }

    /// Runs `f` on a new empty store of each backend: SQLite in memory,
    /// then PostgreSQL.
    pub fn each_backend(prefix: &str, f: impl Fn(&Store)) {
        f(&Store::open_in_memory().unwrap());
        if let Some(store) = postgres(prefix) {
            f(&store);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_opens_of_a_new_store_migrate_once() {
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let p = dir.path().to_path_buf();
                std::thread::spawn(move || Store::open(&p).map(|_| ()).map_err(|e| format!("{e:#}")))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    }

    /// A database failover cuts every connection: the pool drops the broken
    /// ones and connects again, so the store answers again (a call caught
    /// mid-cut may fail once; the daemon redoes it at its next tick).
    #[test]
    fn a_postgres_store_connects_again_after_its_connections_are_cut() {
        let Some(store) = testing::postgres("cut") else { return };
        assert_eq!(store.count_items().unwrap(), 0);
        // Open several connections, then cut them all from the server side.
        std::thread::scope(|sc| {
            for _ in 0..3 {
                sc.spawn(|| store.max_rev().unwrap());
            }
        });
        let cut: i64 = store
            .read(|db| {
                db.query_value(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    params![],
                )
            })
            .unwrap();
        assert!(cut >= 2, "connections cut: {cut}");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut failures = 0;
        let n = loop {
            match store.count_items() {
                Ok(n) => break n,
                Err(e) => {
                    failures += 1;
                    assert!(failures < 10, "the store does not answer again: {e:#}");
                }
            }
        };
        assert_eq!(n, 0);
        assert!(store.claim("leader", "n1", 1_000, 5_000).unwrap(), "writes work again");
    }

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let store = Store::open(dir.path()).unwrap();
        let v: i64 = store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }
}
