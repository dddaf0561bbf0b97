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

pub mod findings;
pub mod imports;
pub mod inspect;
pub mod items;
pub mod links;
pub mod outbox;
#[doc(hidden)]
pub mod pg_cluster;
pub mod sources;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use rusqlite::Connection;

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
];

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

/// A handle on the SQLite store. Cheap operations lock one connection; the
/// daemon's writes are few and batched, so one connection is enough.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) `data_dir/govwatch.sqlite3` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("failed to create the data folder {}", data_dir.display()))?;
        let path = data_dir.join("govwatch.sqlite3");
        let conn = Connection::open(&path).with_context(|| format!("failed to open the store {}", path.display()))?;
        Self::setup(conn, path)
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
        migrate(&mut conn).with_context(|| format!("failed to migrate the store {}", path.display()))?;
        let store = Store { conn: Mutex::new(conn), path };
        store.rederive_refs().with_context(|| {
            format!("failed to work out the 文号 of the stored items again in {}", store.path.display())
        })?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection; a poisoned lock (a panic mid-write) is still usable
    /// because SQLite rolled the transaction back.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn migrations_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let store = Store::open(dir.path()).unwrap();
        let v: i64 = store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
    }
}
