//! `govwatch store copy`: an existing install's SQLite store into an empty
//! PostgreSQL database, table by table, every column, ids and revisions as
//! they are.
//!
//! The source is read inside one SQLite read transaction, so what is copied
//! (and counted at the end) is one moment of the store even if a command
//! writes to it meanwhile; the CLI also holds the daemon's lock
//! (`daemon::lock`), so `govwatch run` cannot. The destination is migrated
//! by [`Store::open_postgres`] and must be empty: any row in any table but
//! `meta` (which a new store already has) refuses the copy before it writes
//! anything. Rows go over in batches of [`BATCH`], each batch one write
//! transaction; a copy that fails half-way leaves a database that the next
//! attempt refuses (drop and create it again).
//!
//! Identity columns keep their values and PostgreSQL's sequences behind them
//! are moved past the highest, so later inserts do not collide; `meta` is
//! copied as it is (`next_rev`, `mail_generation`, `refs_version`,
//! `pii_scanned_rev` …), so revisions continue where the SQLite store
//! stopped and an index built from it stays in step. The runtime state of
//! running nodes ([`NOT_COPIED`]) is not copied. At the end every table is
//! counted on both sides; a difference is an error.
//!
//! Text PostgreSQL cannot hold is changed as every write to it changes it
//! (NUL becomes U+FFFD; bytes that are not UTF-8, which govwatch never
//! writes, are read as U+FFFD too).

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::db::{Db, Value, params};
use super::{Backend, Store};

/// The tables copied, in an order that keeps references valid (`mailed`
/// refers to `outbox`).
pub const COPIED: &[&str] = &[
    "meta",
    "sources",
    "items",
    "cases",
    "imports",
    "quarantine",
    "findings",
    "responses",
    "outbox",
    "mailed",
    "mail_state",
    "rounds",
    "link_checks",
    "pii_hits",
];

/// Runtime state of the nodes running on a store: who runs, what each
/// holds, who is logged in to the console. Not copied: the nodes that start
/// on the new database make their own.
pub const NOT_COPIED: &[&str] = &["nodes", "leases", "web_sessions", "login_attempts"];

/// Rows per write transaction.
pub const BATCH: usize = 5_000;

/// Values bound to one INSERT at most (PostgreSQL allows 65,535).
const VALUES_PER_STATEMENT: usize = 30_000;

/// One table copied.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    /// Rows in the SQLite store, and (checked equal) in PostgreSQL after the copy.
    pub rows: u64,
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// The destination: host, port and database (never the password).
    pub destination: String,
    pub tables: Vec<TableCopy>,
    /// Tables left out (runtime state, see [`NOT_COPIED`]).
    pub not_copied: Vec<&'static str>,
    pub took_ms: u64,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Copies the SQLite store `src` into the PostgreSQL store `dst`, which must
/// be empty (see the module docs). `progress(table, done, total)` is called
/// when a table begins and after each batch.
pub fn copy_sqlite_to(src: &Store, dst: &Store, mut progress: impl FnMut(&str, u64, u64)) -> Result<CopyReport> {
    let started = Instant::now();
    let Backend::Sqlite(source) = &src.backend else {
        bail!("只能从 SQLite 数据库复制，{} 不是", src.path().display());
    };
    let Backend::Postgres(pool) = &dst.backend else {
        bail!("只能复制到 PostgreSQL 数据库，{} 不是", dst.path().display());
    };
    let destination = pool.data.label().to_string();

    let mut conn = source.lock().unwrap_or_else(|e| e.into_inner());
    // One snapshot of the source for the copy and the counts.
    let snapshot = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;

    check_tables(&snapshot)?;
    let holding = dst.read(|db| {
        let mut holding = Vec::new();
        for table in COPIED.iter().chain(NOT_COPIED).filter(|t| **t != "meta") {
            let any: Option<i64> = db.query_opt(&format!("SELECT 1 FROM {table} LIMIT 1"), params![], |r| r.get(0))?;
            if any.is_some() {
                holding.push(*table);
            }
        }
        Ok(holding)
    })?;
    if !holding.is_empty() {
        bail!(
            "目标数据库 {destination} 不是空的：表 {} 中已有数据。store copy 只复制到空数据库，\
             没有写入任何内容；请新建一个空数据库（CREATE DATABASE）再复制",
            holding.join("、")
        );
    }

    let mut tables = Vec::with_capacity(COPIED.len());
    for &table in COPIED {
        let rows = copy_table(&snapshot, dst, table, &mut progress).with_context(|| {
            format!("复制表 {table} 到 {destination} 失败；目标数据库已有部分数据，请删除后新建再复制")
        })?;
        tables.push(TableCopy { table, rows });
    }

    // Counted again on both sides, table by table.
    let mut differ = Vec::new();
    for t in &tables {
        let here: u64 = count(&snapshot, t.table)?;
        let there: u64 = if t.table == "meta" {
            meta_matching(&snapshot, dst)?
        } else {
            dst.read(|db| db.query_value(&format!("SELECT COUNT(*) FROM {}", t.table), params![]))?
        };
        if here != there || here != t.rows {
            differ.push(format!("{}（SQLite {here} 行，PostgreSQL {there} 行）", t.table));
        }
    }
    if !differ.is_empty() {
        bail!("复制到 {destination} 后核对行数不一致：{}", differ.join("；"));
    }
    Ok(CopyReport {
        destination,
        tables,
        not_copied: NOT_COPIED.to_vec(),
        took_ms: started.elapsed().as_millis() as u64,
    })
}

/// Every table of the SQLite store is one this version copies or leaves out
/// knowingly.
fn check_tables(conn: &rusqlite::Connection) -> Result<()> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?;
    let names: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    let unknown: Vec<&str> =
        names.iter().map(String::as_str).filter(|n| !COPIED.contains(n) && !NOT_COPIED.contains(n)).collect();
    if !unknown.is_empty() {
        bail!(
            "SQLite 数据库中有本版本 govwatch 不会复制的表：{}；请用与该数据库相同版本的 govwatch 复制",
            unknown.join("、")
        );
    }
    Ok(())
}

fn count(conn: &rusqlite::Connection, table: &str) -> Result<u64> {
    let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(n as u64)
}

/// How many of the source's `meta` rows PostgreSQL holds with the same value
/// (a new PostgreSQL store has its own rows too).
fn meta_matching(conn: &rusqlite::Connection, dst: &Store) -> Result<u64> {
    let mut stmt = conn.prepare("SELECT key, value FROM meta")?;
    let here: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let there: HashMap<String, String> = dst
        .read(|db| db.query_map("SELECT key, value FROM meta", params![], |r| Ok((r.get(0)?, r.get(1)?))))?
        .into_iter()
        .collect();
    Ok(here.iter().filter(|(k, v)| there.get(k) == Some(v)).count() as u64)
}

/// A column as PostgreSQL declares it.
struct Column {
    name: String,
    /// `text`, `bigint`, `bytea`, `double precision` …
    pg_type: String,
}

/// Copies one table; the rows copied.
fn copy_table(
    src: &rusqlite::Connection,
    dst: &Store,
    table: &'static str,
    progress: &mut impl FnMut(&str, u64, u64),
) -> Result<u64> {
    let columns = columns(src, dst, table)?;
    let total = count(src, table)?;
    progress(table, 0, total);
    let list = columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ");
    let mut stmt = src.prepare(&format!("SELECT {list} FROM {table}"))?;
    let mut rows = stmt.query([])?;
    let mut done = 0u64;
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
    loop {
        let next = rows.next()?;
        let end = next.is_none();
        if let Some(r) = next {
            let mut values = Vec::with_capacity(columns.len());
            for (i, c) in columns.iter().enumerate() {
                values.push(
                    value(r.get_ref(i)?, c).with_context(|| {
                        format!("表 {table} 第 {} 行的列 {}", done + batch.len() as u64 + 1, c.name)
                    })?,
                );
            }
            batch.push(values);
        }
        if batch.len() >= BATCH || (end && !batch.is_empty()) {
            dst.write(|db| insert(db, table, &list, columns.len(), &batch))
                .with_context(|| format!("表 {table} 第 {}–{} 行", done + 1, done + batch.len() as u64))?;
            done += batch.len() as u64;
            batch.clear();
            progress(table, done, total);
        }
        if end {
            break;
        }
    }
    move_identities(dst, table)?;
    Ok(done)
}

/// The SQLite table's columns, each with its PostgreSQL type.
fn columns(src: &rusqlite::Connection, dst: &Store, table: &str) -> Result<Vec<Column>> {
    let mut stmt = src.prepare(&format!("PRAGMA table_info({table})"))?;
    let names: Vec<String> = stmt.query_map([], |r| r.get(1))?.collect::<rusqlite::Result<_>>()?;
    let pg: HashMap<String, String> = dst
        .read(|db| {
            db.query_map(
                "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ?1",
                params![table],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })?
        .into_iter()
        .collect();
    names
        .into_iter()
        .map(|name| match pg.get(&name) {
            Some(t) => Ok(Column { pg_type: t.clone(), name }),
            None => Err(anyhow!("PostgreSQL 数据库的表 {table} 没有列 {name}（两边的数据库版本不同？）")),
        })
        .collect()
}

/// A SQLite value as the PostgreSQL column takes it.
fn value(v: rusqlite::types::ValueRef<'_>, c: &Column) -> Result<Value> {
    use rusqlite::types::ValueRef;
    let bytea = c.pg_type == "bytea";
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) if c.pg_type == "bigint" => {
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                Value::Int(f as i64)
            } else {
                bail!("数值 {f} 不是整数，而 PostgreSQL 中此列为整数")
            }
        }
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(b) | ValueRef::Blob(b) if bytea => Value::Blob(b.to_vec()),
        ValueRef::Text(b) | ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
    })
}

/// Inserts a batch, several rows to a statement.
fn insert(db: &mut Db<'_>, table: &str, list: &str, width: usize, rows: &[Vec<Value>]) -> Result<()> {
    let per_statement = (VALUES_PER_STATEMENT / width.max(1)).clamp(1, 1_000);
    for chunk in rows.chunks(per_statement) {
        let mut sql = format!("INSERT INTO {table} ({list}) VALUES ");
        let mut n = 0;
        for (r, _) in chunk.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..width {
                n += 1;
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("?{n}"));
            }
            sql.push(')');
        }
        if table == "meta" {
            // A new PostgreSQL store has its own counters: the source's replace them.
            sql.push_str(" ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        }
        let values: Vec<Value> = chunk.iter().flatten().cloned().collect();
        db.execute(&sql, &values)?;
    }
    Ok(())
}

/// Moves the sequences behind `table`'s identity columns past the highest
/// value copied, so the next insert takes the next number.
fn move_identities(dst: &Store, table: &str) -> Result<()> {
    let identity: Vec<String> = dst.read(|db| {
        db.query_map(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ?1 AND is_identity = 'YES'",
            params![table],
            |r| r.get(0),
        )
    })?;
    for column in identity {
        dst.write(|db| {
            let max: Option<i64> = db.query_value(&format!("SELECT MAX(\"{column}\") FROM {table}"), params![])?;
            if let Some(max) = max {
                let _: i64 =
                    db.query_value("SELECT setval(pg_get_serial_sequence(?1, ?2), ?3)", params![table, column, max])?;
            }
            Ok(())
        })
        .with_context(|| format!("移动表 {table} 列 {column} 的序列失败"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Mark;
    use crate::linkcheck::Outcome;
    use crate::model::{Case, Item, ItemKind, Level, ParsedItem, Precision, Published, Role};
    use crate::normalize::{SourceInfo, time::china, to_item};
    use crate::rules::{Finding, Rule, State};
    use crate::sources::export::Quarantined;
    use crate::store::outbox::{NewMail, Queued, RoundRecord};
    use chrono::{DateTime, Duration, FixedOffset, TimeZone};

    fn t0() -> DateTime<FixedOffset> {
        china().with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
    }

    fn item(source: &str, kind: ItemKind, role: Role, link: &str, title: &str, text: &str) -> Item {
        let src = SourceInfo { id: source, unit: "u1", kind, role, level: Level::County };
        to_item(
            src,
            ParsedItem { title: title.into(), link: Some(link.into()), text: text.into(), ..Default::default() },
            t0(),
        )
    }

    fn order(number: &str) -> Item {
        let mut it = item("hot", ItemKind::Hotline, Role::Hotline, &format!("gd:{number}"), "噪音投诉", "夜间施工");
        it.case = Some(Case {
            number: number.into(),
            received_at: Some(Published {
                at: t0() - Duration::days(30),
                precision: Precision::Time,
                zone_assumed: true,
            }),
            category: Some("投诉".into()),
            handler: Some("县住建局".into()),
            status: Some("办理中".into()),
            ..Default::default()
        });
        it
    }

    fn finding(it: &Item) -> Finding {
        Finding {
            fingerprint: format!("hotline_deadline:{}", it.id.as_i64()),
            rule: Rule::HotlineDeadline,
            state: State::Overdue,
            item_id: it.id,
            unit: "u1".into(),
            deadline: t0() - Duration::days(5),
            overdue_working_days: 3,
            late: None,
            resolved_at: None,
            reply_working_days: None,
            basis: "投诉 15 个工作日".into(),
            subject: None,
            link: None,
        }
    }

    fn mail(round: &str, fp: &str) -> NewMail {
        NewMail {
            message_id: format!("<{round}.u1@x>"),
            round: round.into(),
            kind: "digest",
            unit: "u1".into(),
            sender: "gw@x.cn".into(),
            recipients: vec!["u1@x.cn".into()],
            subject: "待办提醒".into(),
            message: b"Subject: =?UTF-8?B?5b6F5Yqe?=\r\n\r\n\x00\xffbytes".to_vec(),
            marks: vec![Mark { fingerprint: fp.into(), kind: "digest", state: State::Overdue, level: 1 }],
        }
    }

    /// A store filled through the normal API: every table copied has rows,
    /// and so do the runtime tables that are not copied.
    fn fill(store: &Store) -> Vec<Item> {
        let orders: Vec<Item> = (1..=7).map(|n| order(&format!("GD2026{n:04}"))).collect();
        let leak =
            item("portal", ItemKind::Page, Role::Portal, "http://x/1", "公示", "申请人身份证号11010519491231002X");
        let policy = item("sheng", ItemKind::Feed, Role::Superior, "http://s/1", "关于做好政务公开工作的通知", "正文");
        let mut all = orders.clone();
        all.extend([leak, policy]);
        store.upsert_items(&all).unwrap();
        // An update: the revision moves past the creation.
        let mut changed = orders[0].clone();
        changed.title = "噪音投诉（已转办）".into();
        changed.content_hash = "changed".into();
        store.upsert_items(&[changed]).unwrap();

        store.record_success("portal", t0(), false, Some(1), None, &["一条警告".into()]).unwrap();
        store.record_failure("sheng", t0(), "连接超时", |n| t0() + Duration::minutes(5 * n as i64)).unwrap();

        let findings: Vec<Finding> = orders.iter().map(finding).collect();
        store.record_findings(&findings, &[], t0()).unwrap();
        let at = t0();
        let record = RoundRecord { round: "r1".into(), at, day: at.date_naive(), unroutable: 1 };
        let (_, generation) = store.mail_history().unwrap();
        let Queued::Done(ids) =
            store.queue_round(&record, &[mail("r1", &findings[0].fingerprint)], generation).unwrap()
        else {
            panic!("the round was not queued")
        };
        store.mail_sent(ids[0], at + Duration::minutes(1)).unwrap();

        let id = store.import_started("hot", "a.csv", "sha-a", Some((100, 1_700_000_000)), t0()).unwrap();
        let report = crate::import::ImportReport { rows: 8, new: 7, quarantined: 1, ..Default::default() };
        store.import_finished(id, &report, t0(), None).unwrap();
        store.import_started("hot", "b.csv", "sha-b", None, t0()).unwrap();
        let bad = Quarantined {
            row: 3,
            column: Some("来电时间".into()),
            reason: "不是时间".into(),
            value: Some("下午".into()),
        };
        let whole = Quarantined { row: 0, column: None, reason: "超出上限".into(), value: None };
        store.quarantine("hot", "a.csv", "sha-a", &[bad, whole], t0()).unwrap();
        store.record_response(orders[1].id, t0(), Some("已回应")).unwrap();
        store.record_response(orders[1].id, t0() + Duration::hours(1), None).unwrap();
        store
            .record_link_checks(
                &[
                    ("http://x/dead".into(), Outcome::Failed { status: Some(404), reason: "404 Not Found".into() }),
                    ("http://x/ok".into(), Outcome::Alive { status: 200 }),
                ],
                t0(),
            )
            .unwrap();
        assert_eq!(store.scan_pii(&crate::rules::pii::AllowList::default()).unwrap(), 1);

        store
            .write(|db| {
                db.execute(
                    "INSERT INTO nodes (id, host, pid, started_at, heartbeat_ms) VALUES ('h:1:a', 'h', 1, 'x', 1)",
                    params![],
                )?;
                db.execute(
                    "INSERT INTO leases (name, node, expires_ms, acquired_at) VALUES ('leader', 'h:1:a', 1, 'x')",
                    params![],
                )?;
                db.execute(
                    "INSERT INTO web_sessions (token_hash, user_name, role, csrf, created_ms, seen_ms) \
                     VALUES ('t', 'wang', 'officer', 'c', 1, 1)",
                    params![],
                )?;
                db.execute("INSERT INTO login_attempts (key, at_ms, id) VALUES ('ip:127.0.0.1', 1, 'a')", params![])?;
                Ok(())
            })
            .unwrap();
        all
    }

    /// What the store answers, in a form to compare (rows sorted where the
    /// store gives no order).
    fn reads(store: &Store) -> Vec<String> {
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let (history, generation) = store.mail_history().unwrap();
        let outbox = store.outbox(None, 100).unwrap();
        vec![
            format!("{:?}", store.items_after_rev(0, 1000).unwrap()),
            format!("{:?}", sorted(store.case_rows().unwrap().iter().map(|c| format!("{c:?}")).collect())),
            format!("{:?}", store.alert_lines(t0() - Duration::days(400)).unwrap()),
            format!("{:?} {generation}", sorted(history.iter().map(|h| format!("{h:?}")).collect())),
            format!("{outbox:?}"),
            format!("{:?}", outbox.iter().map(|o| store.outbox_message(o.id).unwrap()).collect::<Vec<_>>()),
            format!("{:?}", store.quarantined(None).unwrap()),
            format!("{:?}", sorted(store.link_records().unwrap().values().map(|l| format!("{l:?}")).collect())),
            format!("{:?}", store.pii_exposures().unwrap()),
            format!("{:?}", store.max_rev().unwrap()),
            format!("{:?}", store.source_health().unwrap()),
            format!("{:?}", sorted(store.responses().unwrap().iter().map(|r| format!("{r:?}")).collect())),
            format!("{:?}", sorted(store.finding_states().unwrap().iter().map(|f| format!("{f:?}")).collect())),
            format!("{:?}", store.last_round().unwrap()),
            format!("{:?}", store.first_imports().unwrap()),
        ]
    }

    fn counts(store: &Store) -> Vec<(&'static str, i64)> {
        COPIED
            .iter()
            .chain(NOT_COPIED)
            .map(|t| (*t, store.read(|db| db.query_value(&format!("SELECT COUNT(*) FROM {t}"), params![])).unwrap()))
            .collect()
    }

    #[test]
    fn every_table_is_copied_or_named_as_runtime_state() {
        let store = Store::open_in_memory().unwrap();
        let conn = store.conn();
        check_tables(&conn).unwrap();
        let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap();
        let names: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(|n| n.unwrap()).collect();
        for t in COPIED.iter().chain(NOT_COPIED) {
            assert!(names.iter().any(|n| n == t), "{t} is not a table of the store");
        }
        conn.execute_batch("CREATE TABLE surprise (x INTEGER)").unwrap();
        let err = format!("{:#}", check_tables(&conn).unwrap_err());
        assert!(err.contains("不会复制的表：surprise"), "{err}");
    }

    #[test]
    fn a_filled_store_reads_the_same_on_postgresql_and_goes_on_from_there() {
        let Some(dst) = crate::store::testing::postgres("copy") else {
            eprintln!("NOT RUN: no PostgreSQL here; the copy to PostgreSQL was not tested");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let src = Store::open_sqlite(dir.path()).unwrap();
        let items = fill(&src);
        let before = reads(&src);
        // Nothing compared below is empty.
        assert_eq!(src.case_rows().unwrap().len(), 7);
        assert_eq!(src.alert_lines(t0() - Duration::days(400)).unwrap().len(), 7);
        assert_eq!((src.mail_history().unwrap().0.len(), src.outbox(Some("sent"), 9).unwrap().len()), (1, 1));
        assert_eq!((src.quarantined(None).unwrap().len(), src.link_records().unwrap().len()), (2, 2));
        assert_eq!((src.pii_exposures().unwrap().len(), src.responses().unwrap().len()), (1, 1));
        assert_eq!(src.max_rev().unwrap(), 10);

        let mut seen: Vec<(String, u64, u64)> = Vec::new();
        let report = copy_sqlite_to(&src, &dst, |t, done, total| seen.push((t.to_string(), done, total))).unwrap();

        // Every table copied, counted, and announced before its rows.
        let want: Vec<(&str, i64)> = counts(&src).into_iter().filter(|(t, _)| COPIED.contains(t)).collect();
        let got: Vec<(&str, i64)> = report.tables.iter().map(|t| (t.table, t.rows as i64)).collect();
        assert_eq!(got, want);
        assert!(got.iter().all(|(_, n)| *n > 0), "every copied table had rows to copy: {got:?}");
        for (t, n) in &got {
            assert!(seen.contains(&(t.to_string(), 0, *n as u64)), "{t} began at 0: {seen:?}");
            assert!(seen.contains(&(t.to_string(), *n as u64, *n as u64)), "{t} ended at {n}: {seen:?}");
        }
        assert_eq!(report.not_copied, NOT_COPIED);
        assert!(!report.destination.is_empty());

        // The same answers from PostgreSQL, and no runtime state came along.
        assert_eq!(reads(&dst), before);
        for (t, n) in counts(&dst) {
            if NOT_COPIED.contains(&t) {
                assert_eq!(n, 0, "{t} is runtime state");
            }
        }
        let meta = |s: &Store| -> Vec<(String, String)> {
            s.read(|db| {
                db.query_map("SELECT key, value FROM meta ORDER BY key", params![], |r| Ok((r.get(0)?, r.get(1)?)))
            })
            .unwrap()
        };
        assert_eq!(meta(&dst), meta(&src));

        // A second copy into the now non-empty database is refused, says
        // which tables hold rows, and writes nothing.
        let counted = counts(&dst);
        let err = format!("{:#}", copy_sqlite_to(&src, &dst, |_, _, _| {}).unwrap_err());
        assert!(err.contains("不是空的") && err.contains("items") && err.contains("outbox"), "{err}");
        assert!(!err.contains("meta"), "{err}");
        assert_eq!(counts(&dst), counted);

        // New rows in every identity table take numbers after the copied ones.
        let max = |s: &Store, t: &str, c: &str| -> i64 {
            s.read(|db| db.query_value(&format!("SELECT MAX({c}) FROM {t}"), params![])).unwrap()
        };
        let (seq, case_seq) = (max(&dst, "items", "seq"), max(&dst, "cases", "seq"));
        let rev = dst.max_rev().unwrap();
        let out = dst.upsert_items(&[order("GD20269999")]).unwrap();
        assert_eq!(out.max_rev, rev + 1, "revisions go on from the copied next_rev");
        assert_eq!((max(&dst, "items", "seq"), max(&dst, "cases", "seq")), (seq + 1, case_seq + 1));
        let imports = max(&dst, "imports", "id");
        assert_eq!(dst.import_started("hot", "c.csv", "sha-c", None, t0()).unwrap(), imports + 1);
        let quarantine = max(&dst, "quarantine", "id");
        let q = Quarantined { row: 9, column: None, reason: "空行".into(), value: None };
        dst.quarantine("hot", "c.csv", "sha-c", &[q], t0()).unwrap();
        assert_eq!(max(&dst, "quarantine", "id"), quarantine + 1);
        let responses = max(&dst, "responses", "id");
        dst.record_response(items[2].id, t0(), None).unwrap();
        assert_eq!(max(&dst, "responses", "id"), responses + 1);
        let outbox = max(&dst, "outbox", "id");
        let at = t0() + Duration::days(1);
        let record = RoundRecord { round: "r2".into(), at, day: at.date_naive(), unroutable: 0 };
        let (_, generation) = dst.mail_history().unwrap();
        let fp = finding(&items[3]).fingerprint;
        let queued = dst.queue_round(&record, &[mail("r2", &fp)], generation).unwrap();
        assert_eq!(queued, Queued::Done(vec![outbox + 1]));
    }

    #[test]
    fn a_database_with_rows_in_any_table_is_refused() {
        let Some(dst) = crate::store::testing::postgres("copy") else {
            eprintln!("NOT RUN: no PostgreSQL here; the copy to PostgreSQL was not tested");
            return;
        };
        let src = Store::open_in_memory().unwrap();
        src.upsert_items(&[order("GD1")]).unwrap();
        // Only a login attempt: runtime state, but the database is in use.
        dst.write(|db| db.execute("INSERT INTO login_attempts (key, at_ms, id) VALUES ('k', 1, 'a')", params![]))
            .unwrap();
        let err = format!("{:#}", copy_sqlite_to(&src, &dst, |_, _, _| {}).unwrap_err());
        assert!(err.contains("表 login_attempts 中已有数据"), "{err}");
        assert_eq!(dst.count_items().unwrap(), 0);
    }

    #[test]
    fn only_sqlite_into_postgresql() {
        let a = Store::open_in_memory().unwrap();
        let b = Store::open_in_memory().unwrap();
        let err = format!("{:#}", copy_sqlite_to(&a, &b, |_, _, _| {}).unwrap_err());
        assert!(err.contains("只能复制到 PostgreSQL 数据库"), "{err}");
    }
}
