//! The `items` table: upsert by id, read by revision for the index.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::Store;
use super::db::{Db, Row, Value, params, row};
use crate::model::{Case, Item, ItemId, Precision, Published};

/// What an upsert did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// An item as of one write, for whoever follows the store's changes.
#[derive(Debug, Clone)]
pub struct Revision {
    /// The revision of this write.
    pub rev: i64,
    /// The revision at which the item was first inserted: an item created
    /// after a reader's last revision is new to that reader.
    pub created_rev: i64,
    pub item: Item,
}

#[derive(Debug, Default)]
pub struct UpsertOutcome {
    pub counts: UpsertCounts,
    /// The highest revision written (0 when nothing changed).
    pub max_rev: i64,
}

/// An item with its case: columns 0–20 as the `items` table begins, 21 rev, 22 created_rev, 23–35 the case, 36 refs,
/// 37 the case's `answer_unknown`.
const SELECT_ITEM: &str = "SELECT i.id, i.source, i.key, i.unit, i.kind, i.role, i.level, i.title, i.text, i.link, \
     i.published_at, i.published_ts, i.published_precision, i.published_zone_assumed, i.doc_no, i.doc_no_norm, \
     i.publisher, i.categories, i.first_seen_at, i.last_changed_at, i.content_hash, i.rev, i.created_rev, \
     c.number, c.received_at, c.received_precision, c.category, c.handler, c.deadline_at, c.deadline_precision, \
     c.closed_at, c.closed_precision, c.status, c.reply, c.extension, c.urgency, i.refs, c.answer_unknown \
     FROM items i LEFT JOIN cases c ON c.item_id = i.id";

/// Writes a case: every column but `seq` (the row's first insertion) is replaced.
const WRITE_CASE: &str = "INSERT INTO cases (item_id, source, number, received_at, received_ts, received_precision, \
     category, handler, deadline_at, deadline_ts, deadline_precision, closed_at, closed_ts, closed_precision, \
     status, reply, extension, urgency, answer_unknown) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
     ON CONFLICT (item_id) DO UPDATE SET source = excluded.source, number = excluded.number, \
     received_at = excluded.received_at, received_ts = excluded.received_ts, \
     received_precision = excluded.received_precision, category = excluded.category, \
     handler = excluded.handler, deadline_at = excluded.deadline_at, deadline_ts = excluded.deadline_ts, \
     deadline_precision = excluded.deadline_precision, closed_at = excluded.closed_at, \
     closed_ts = excluded.closed_ts, closed_precision = excluded.closed_precision, status = excluded.status, \
     reply = excluded.reply, extension = excluded.extension, urgency = excluded.urgency, \
     answer_unknown = excluded.answer_unknown";

/// The values of `WRITE_CASE` for an item with a case.
fn case_row(it: &Item) -> Option<Vec<Value>> {
    let c = it.case.as_ref()?;
    let t = |p: &Option<Published>| published_columns(p.as_ref());
    let (r, d, x) = (t(&c.received_at), t(&c.deadline_at), t(&c.closed_at));
    Some(row![
        it.id.as_i64(),
        it.source,
        c.number,
        r.0,
        r.1,
        r.2,
        c.category,
        c.handler,
        d.0,
        d.1,
        d.2,
        x.0,
        x.1,
        x.2,
        c.status,
        c.reply,
        c.extension,
        c.urgency,
        c.answer_unknown,
    ])
}

/// The next revision to give. Only inside `Store::write`: write transactions
/// run one at a time, so revisions commit in the order they are given.
fn next_rev(tx: &mut Db<'_>) -> Result<i64> {
    let v: String = tx.query_value("SELECT value FROM meta WHERE key = 'next_rev'", params![])?;
    v.parse().context("meta.next_rev is not a number")
}

impl Store {
    /// Inserts new items and updates changed ones in one transaction. An
    /// item whose content hash, unit, role and level are unchanged is not
    /// written at all. An updated item keeps its first-seen time.
    pub fn upsert_items(&self, items: &[Item]) -> Result<UpsertOutcome> {
        const INSERT: &str = "INSERT INTO items (id, source, key, unit, kind, role, level, title, text, link, \
            published_at, published_ts, published_precision, published_zone_assumed, doc_no, doc_no_norm, publisher, \
            categories, first_seen_at, last_changed_at, content_hash, rev, created_rev, refs) VALUES (?1, ?2, ?3, ?4, \
            ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?22, ?23)";
        const UPDATE: &str = "UPDATE items SET unit = ?2, kind = ?3, role = ?4, level = ?5, title = ?6, text = ?7, \
            link = ?8, published_at = ?9, published_ts = ?10, published_precision = ?11, published_zone_assumed = ?12, \
            doc_no = ?13, doc_no_norm = ?14, publisher = ?15, categories = ?16, last_changed_at = ?17, \
            content_hash = ?18, rev = ?19, refs = ?20 WHERE id = ?1";
        self.write(|tx| {
            let mut rev = next_rev(tx)?;
            let first_rev = rev;
            let mut counts = UpsertCounts::default();
            // Every lookup, then every write, each sent at once (pipelined on
            // PostgreSQL: a round trip per kind of statement, not per item).
            let ids: Vec<Vec<Value>> = items.iter().map(|it| row![it.id.as_i64()]).collect();
            let stored: Vec<Vec<(String, String, String, String)>> =
                tx.query_each("SELECT content_hash, unit, role, level FROM items WHERE id = ?1", &ids, |_, r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
            // What this batch wrote, for an id it holds twice.
            let mut written: std::collections::HashMap<i64, (String, String, String, String)> =
                std::collections::HashMap::new();
            let (mut inserts, mut updates, mut cases) = (Vec::new(), Vec::new(), Vec::new());
            for (it, stored) in items.iter().zip(stored) {
                let id = it.id.as_i64();
                let existing = written.get(&id).cloned().or_else(|| stored.into_iter().next());
                let p = published_columns(it.published.as_ref());
                let categories = serde_json::to_string(&it.categories)?;
                let refs = serde_json::to_string(&it.refs)?;
                let now = (
                    it.content_hash.clone(),
                    it.unit.clone(),
                    it.role.as_str().to_string(),
                    it.level.as_str().to_string(),
                );
                match existing {
                    None => {
                        inserts.push(row![
                            id,
                            it.source,
                            it.key,
                            it.unit,
                            it.kind.as_str(),
                            it.role.as_str(),
                            it.level.as_str(),
                            it.title,
                            it.text,
                            it.link,
                            p.0,
                            p.1,
                            p.2,
                            p.3,
                            it.doc_no,
                            it.doc_no_norm,
                            it.publisher,
                            categories,
                            it.first_seen_at.to_rfc3339(),
                            it.last_changed_at.to_rfc3339(),
                            it.content_hash,
                            rev,
                            refs,
                        ]);
                        counts.new += 1;
                    }
                    Some(old) if old == now => {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some(_) => {
                        updates.push(row![
                            id,
                            it.unit,
                            it.kind.as_str(),
                            it.role.as_str(),
                            it.level.as_str(),
                            it.title,
                            it.text,
                            it.link,
                            p.0,
                            p.1,
                            p.2,
                            p.3,
                            it.doc_no,
                            it.doc_no_norm,
                            it.publisher,
                            categories,
                            it.last_changed_at.to_rfc3339(),
                            it.content_hash,
                            rev,
                            refs,
                        ]);
                        counts.updated += 1;
                    }
                }
                cases.extend(case_row(it));
                written.insert(id, now);
                rev += 1;
            }
            // Inserts before updates: an id inserted and changed again in this
            // batch is updated after it exists (each took its own revision).
            tx.execute_each(INSERT, &inserts)?;
            tx.execute_each(UPDATE, &updates)?;
            tx.execute_each(WRITE_CASE, &cases)?;
            if rev != first_rev {
                tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_rev'", params![rev.to_string()])?;
            }
            Ok(UpsertOutcome { counts, max_rev: if rev != first_rev { rev - 1 } else { 0 } })
        })
    }

    /// Items written at a revision above `after`, oldest revision first, at most `limit`.
    pub fn items_after_rev(&self, after: i64, limit: usize) -> Result<Vec<Revision>> {
        self.read(|db| {
            db.query_map(
                &format!("{SELECT_ITEM} WHERE i.rev > ?1 ORDER BY i.rev LIMIT ?2"),
                params![after, limit as i64],
                |r| Ok(Revision { rev: r.get(21)?, created_rev: r.get(22)?, item: row_to_item(r)? }),
            )
        })
        .context("failed to read items from the store")
    }

    /// One item by id.
    pub fn item(&self, id: ItemId) -> Result<Option<Item>> {
        self.read(|db| db.query_opt(&format!("{SELECT_ITEM} WHERE i.id = ?1"), params![id.as_i64()], row_to_item))
    }

    /// The title and published day of an item, if stored: what
    /// `normalize::identity` needs to tell documents apart.
    pub fn stored_identity(&self, id: ItemId) -> Result<Option<crate::normalize::identity::StoredIdentity>> {
        let row: Option<(String, Option<String>)> = self.read(|db| {
            db.query_opt("SELECT title, published_at FROM items WHERE id = ?1", params![id.as_i64()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })?;
        let china = crate::normalize::time::china();
        Ok(row.map(|(title, published)| crate::normalize::identity::StoredIdentity {
            title: title.trim().to_string(),
            day: published
                .and_then(|p| DateTime::parse_from_rfc3339(&p).ok())
                .map(|d| d.with_timezone(&china).date_naive()),
        }))
    }

    /// Works out again the 文号 and repost references of superior and
    /// portal items stored by an older govwatch (`normalize::REFS_VERSION`),
    /// in batches by id. Neither the content hash nor the revision changes:
    /// the index holds neither. Returns how many items were rewritten.
    pub fn rederive_refs(&self) -> Result<usize> {
        let version = crate::normalize::REFS_VERSION.to_string();
        let stored: Option<String> =
            self.read(|db| db.query_opt("SELECT value FROM meta WHERE key = 'refs_version'", params![], |r| r.get(0)))?;
        if stored.as_deref() == Some(version.as_str()) {
            return Ok(0);
        }
        let mut after = i64::MIN;
        let mut done = 0;
        loop {
            let finished = self.write(|tx| {
                let batch: Vec<(i64, String, String, Option<String>, String)> = tx.query_map(
                    "SELECT id, title, text, doc_no, refs FROM items \
                     WHERE id > ?1 AND role IN ('superior', 'portal') ORDER BY id LIMIT 5000",
                    params![after],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )?;
                let Some(last) = batch.last() else {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('refs_version', ?1) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        params![version],
                    )?;
                    return Ok(true);
                };
                after = last.0;
                for (id, title, text, doc_no, refs) in &batch {
                    let old: crate::model::Refs = serde_json::from_str(refs).unwrap_or_default();
                    let (doc_no, norm, refs) = crate::normalize::rederive(title, text, doc_no.as_deref(), old.links);
                    tx.execute(
                        "UPDATE items SET doc_no = ?2, doc_no_norm = ?3, refs = ?4 WHERE id = ?1",
                        params![id, doc_no, norm, serde_json::to_string(&refs)?],
                    )?;
                }
                done += batch.len();
                Ok(false)
            })?;
            if finished {
                if done > 0 {
                    tracing::info!(items = done, "worked out the 文号 and repost references of stored items again");
                }
                return Ok(done);
            }
        }
    }

    /// The highest revision in the store (0 when empty).
    pub fn max_rev(&self) -> Result<i64> {
        self.read(|db| db.query_value("SELECT COALESCE(MAX(rev), 0) FROM items", params![]))
    }

    pub fn count_items(&self) -> Result<u64> {
        self.read(|db| db.query_value("SELECT COUNT(*) FROM items", params![]))
    }

    /// Item counts per source id.
    pub fn count_items_by_source(&self) -> Result<std::collections::HashMap<String, u64>> {
        let rows = self.read(|db| {
            db.query_map("SELECT source, COUNT(*) FROM items GROUP BY source", params![], |r| {
                Ok((r.get::<String>(0)?, r.get::<u64>(1)?))
            })
        })?;
        Ok(rows.into_iter().collect())
    }
}

type PublishedCols = (Option<String>, Option<i64>, Option<&'static str>, Option<bool>);

fn published_columns(p: Option<&Published>) -> PublishedCols {
    match p {
        None => (None, None, None, None),
        Some(p) => (
            Some(p.at.to_rfc3339()),
            Some(p.at.timestamp()),
            Some(match p.precision {
                Precision::Date => "date",
                Precision::Time => "time",
            }),
            Some(p.zone_assumed),
        ),
    }
}

fn parse_time(s: &str, column: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).map_err(|e| anyhow!("items.{column}: {e}"))
}

fn parse_enum<T: std::str::FromStr<Err = String>>(s: String) -> Result<T> {
    s.parse().map_err(|e: String| anyhow!(e))
}

fn row_to_item(r: &Row<'_>) -> Result<Item> {
    let published_at: Option<String> = r.get(10)?;
    let published = match published_at {
        None => None,
        Some(s) => Some(Published {
            at: parse_time(&s, "published_at")?,
            precision: if r.get::<Option<String>>(12)?.as_deref() == Some("date") {
                Precision::Date
            } else {
                Precision::Time
            },
            zone_assumed: r.get::<Option<bool>>(13)?.unwrap_or(false),
        }),
    };
    let categories: String = r.get(17)?;
    Ok(Item {
        id: ItemId::from_i64(r.get(0)?),
        source: r.get(1)?,
        key: r.get(2)?,
        unit: r.get(3)?,
        kind: parse_enum(r.get(4)?)?,
        role: parse_enum(r.get(5)?)?,
        level: parse_enum(r.get(6)?)?,
        title: r.get(7)?,
        text: r.get(8)?,
        link: r.get(9)?,
        published,
        doc_no: r.get(14)?,
        doc_no_norm: r.get(15)?,
        publisher: r.get(16)?,
        categories: serde_json::from_str(&categories).unwrap_or_default(),
        first_seen_at: parse_time(&r.get::<String>(18)?, "first_seen_at")?,
        last_changed_at: parse_time(&r.get::<String>(19)?, "last_changed_at")?,
        content_hash: r.get(20)?,
        case: row_to_case(r)?,
        refs: serde_json::from_str(&r.get::<String>(36)?).unwrap_or_default(),
    })
}

fn published_at(r: &Row<'_>, at: usize, precision: usize, column: &str) -> Result<Option<Published>> {
    let Some(s) = r.get::<Option<String>>(at)? else { return Ok(None) };
    Ok(Some(Published {
        at: parse_time(&s, column)?,
        precision: if r.get::<Option<String>>(precision)?.as_deref() == Some("date") {
            Precision::Date
        } else {
            Precision::Time
        },
        // Exports write local times: Asia/Shanghai was assumed when they were read.
        zone_assumed: true,
    }))
}

/// The case columns of a `SELECT_ITEM` row (23–35), if the item has a case.
fn row_to_case(r: &Row<'_>) -> Result<Option<Case>> {
    let Some(number) = r.get::<Option<String>>(23)? else { return Ok(None) };
    Ok(Some(Case {
        number,
        received_at: published_at(r, 24, 25, "cases.received_at")?,
        category: r.get(26)?,
        handler: r.get(27)?,
        deadline_at: published_at(r, 28, 29, "cases.deadline_at")?,
        closed_at: published_at(r, 30, 31, "cases.closed_at")?,
        status: r.get(32)?,
        reply: r.get(33)?,
        extension: r.get(34)?,
        urgency: r.get(35)?,
        answer_unknown: r.get::<Option<bool>>(37)?.unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ItemKind, Level, ParsedItem, Role};
    use crate::normalize::{SourceInfo, time::china, to_item};
    use chrono::TimeZone;

    fn item(title: &str, link: &str, now_day: u32) -> Item {
        let src = SourceInfo { id: "s1", unit: "u1", kind: ItemKind::Feed, role: Role::Portal, level: Level::County };
        let now = china().with_ymd_and_hms(2026, 3, now_day, 9, 0, 0).unwrap();
        to_item(src, ParsedItem { title: title.into(), link: Some(link.into()), ..Default::default() }, now)
    }

    #[test]
    fn upsert_is_idempotent_and_updates_in_place() {
        crate::store::testing::each_backend("items", |store| {
            let a = item("关于政务公开的通知", "http://x/1", 2);
            let b = item("热线办结率通报", "http://x/2", 2);
            let out = store.upsert_items(&[a.clone(), b.clone()]).unwrap();
            assert_eq!(out.counts, UpsertCounts { new: 2, updated: 0, unchanged: 0 });
            assert_eq!(out.max_rev, 2);
            let again = store.upsert_items(&[a.clone(), b.clone()]).unwrap();
            assert_eq!(again.counts, UpsertCounts { new: 0, updated: 0, unchanged: 2 });
            assert_eq!(again.max_rev, 0);
            assert_eq!(store.max_rev().unwrap(), 2);

            let changed = item("关于政务公开的通知（修订）", "http://x/1", 5);
            let out = store.upsert_items(&[changed]).unwrap();
            assert_eq!(out.counts.updated, 1);
            assert_eq!(store.count_items().unwrap(), 2);
            let got = store.item(a.id).unwrap().unwrap();
            assert_eq!(got.title, "关于政务公开的通知（修订）");
            assert_eq!(got.first_seen_at, a.first_seen_at, "first-seen survives an update");
            assert_eq!(got.last_changed_at.date_naive().to_string(), "2026-03-05");
            let after = store.items_after_rev(2, 10).unwrap();
            assert_eq!(after.len(), 1);
            assert_eq!((after[0].rev, after[0].created_rev), (3, 1), "an update keeps its creation revision");
        });
    }

    /// One batch holding an item twice (stored, then changed): the writes
    /// are sent together, and the later version wins with the later revision.
    #[test]
    fn an_item_twice_in_one_batch_is_inserted_then_updated() {
        crate::store::testing::each_backend("twice", |store| {
            let a = item("关于政务公开的通知", "http://x/1", 2);
            let a2 = item("关于政务公开的通知（修订）", "http://x/1", 3);
            let same = item("关于政务公开的通知（修订）", "http://x/1", 3);
            let out = store.upsert_items(&[a.clone(), a2, same]).unwrap();
            assert_eq!(out.counts, UpsertCounts { new: 1, updated: 1, unchanged: 1 });
            assert_eq!(out.max_rev, 2);
            let got = store.items_after_rev(0, 10).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!((got[0].rev, got[0].created_rev), (2, 1));
            assert_eq!(got[0].item.title, "关于政务公开的通知（修订）");
            assert_eq!(store.count_items().unwrap(), 1);
        });
    }

    /// The revision order trap (issue 19 item 2): with two writers, a
    /// transaction holding revision 41 must not commit after one holding 42,
    /// or a reader that synced to 42 never sees 41. Two writers store items
    /// as fast as they can while a reader follows "everything above the
    /// last revision I saw", as the index does; at the end the reader has
    /// seen every item.
    #[test]
    fn a_reader_following_revisions_misses_nothing_while_two_writers_interleave() {
        fn follow(store: &Store) {
            const PER_WRITER: usize = 300;
            let done = std::sync::atomic::AtomicUsize::new(0);
            let seen = std::thread::scope(|sc| {
                for w in 0..2 {
                    let done = &done;
                    sc.spawn(move || {
                        for k in 0..PER_WRITER / 3 {
                            let batch: Vec<Item> = (0..3)
                                .map(|j| item(&format!("写入者{w}第{k}批{j}"), &format!("http://x/{w}/{k}/{j}"), 2))
                                .collect();
                            store.upsert_items(&batch).unwrap();
                        }
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    });
                }
                let reader = sc.spawn(|| {
                    let mut last = 0;
                    let mut seen = std::collections::HashSet::new();
                    loop {
                        let finished = done.load(std::sync::atomic::Ordering::SeqCst) == 2;
                        for r in store.items_after_rev(last, 50).unwrap() {
                            assert!(r.rev > last, "revisions come in order");
                            last = r.rev;
                            seen.insert(r.item.id);
                        }
                        if finished && store.items_after_rev(last, 1).unwrap().is_empty() {
                            return seen;
                        }
                    }
                });
                reader.join().unwrap()
            });
            assert_eq!(seen.len(), 2 * PER_WRITER, "the reader saw every item");
            assert_eq!(store.max_rev().unwrap(), 2 * PER_WRITER as i64, "one revision per write, none lost");
        }
        crate::store::testing::each_backend("revorder", follow);
    }

    /// On PostgreSQL a second writer waits while the first holds its
    /// revisions uncommitted: revision 2 cannot become visible before 1.
    #[test]
    fn a_second_writer_waits_for_the_first_to_commit() {
        let Some(store) = crate::store::testing::postgres("revwait") else { return };
        let (holding_tx, holding_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (b_done_tx, b_done_rx) = std::sync::mpsc::channel();
        std::thread::scope(|sc| {
            let store = &store;
            sc.spawn(move || {
                store
                    .write(|tx| {
                        let rev = next_rev(tx)?;
                        tx.execute(
                            "UPDATE meta SET value = ?1 WHERE key = 'next_rev'",
                            params![(rev + 1).to_string()],
                        )?;
                        holding_tx.send(rev).unwrap();
                        release_rx.recv().unwrap();
                        Ok(())
                    })
                    .unwrap();
            });
            let a_rev = holding_rx.recv().unwrap();
            sc.spawn(move || {
                let out = store.upsert_items(&[item("第二个写入者", "http://x/b", 2)]).unwrap();
                b_done_tx.send(out.max_rev).unwrap();
            });
            assert!(
                b_done_rx.recv_timeout(std::time::Duration::from_millis(700)).is_err(),
                "the second writer committed while the first held revision {a_rev}"
            );
            release_tx.send(()).unwrap();
            let b_rev = b_done_rx.recv().unwrap();
            assert_eq!(b_rev, a_rev + 1, "the second writer took the revision after the first's");
        });
    }
}
