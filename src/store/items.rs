//! The `items` table: upsert by id, read by revision for the index.

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;

use super::Store;
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

const COLUMNS: &str = "id, source, key, unit, kind, role, level, title, text, link, published_at, published_ts, \
     published_precision, published_zone_assumed, doc_no, doc_no_norm, publisher, categories, first_seen_at, \
     last_changed_at, content_hash";

/// An item with its case: columns 0–20 as `COLUMNS`, 21 rev, 22 created_rev, 23–35 the case, 36 refs,
/// 37 the case's `answer_unknown`.
const SELECT_ITEM: &str = "SELECT i.id, i.source, i.key, i.unit, i.kind, i.role, i.level, i.title, i.text, i.link, \
     i.published_at, i.published_ts, i.published_precision, i.published_zone_assumed, i.doc_no, i.doc_no_norm, \
     i.publisher, i.categories, i.first_seen_at, i.last_changed_at, i.content_hash, i.rev, i.created_rev, \
     c.number, c.received_at, c.received_precision, c.category, c.handler, c.deadline_at, c.deadline_precision, \
     c.closed_at, c.closed_precision, c.status, c.reply, c.extension, c.urgency, i.refs, c.answer_unknown \
     FROM items i LEFT JOIN cases c ON c.item_id = i.id";

fn write_case(tx: &Transaction<'_>, it: &Item) -> Result<()> {
    let Some(c) = &it.case else { return Ok(()) };
    let t = |p: &Option<Published>| published_columns(p.as_ref());
    let (r, d, x) = (t(&c.received_at), t(&c.deadline_at), t(&c.closed_at));
    tx.prepare_cached(
        "INSERT OR REPLACE INTO cases (item_id, source, number, received_at, received_ts, received_precision, \
         category, handler, deadline_at, deadline_ts, deadline_precision, closed_at, closed_ts, closed_precision, \
         status, reply, extension, urgency, answer_unknown) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
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
    ])?;
    Ok(())
}

fn next_rev(tx: &Transaction<'_>) -> Result<i64> {
    let v: String = tx.query_row("SELECT value FROM meta WHERE key = 'next_rev'", [], |r| r.get(0))?;
    v.parse().context("meta.next_rev is not a number")
}

impl Store {
    /// Inserts new items and updates changed ones in one transaction. An
    /// item whose content hash, unit, role and level are unchanged is not
    /// written at all. An updated item keeps its first-seen time.
    pub fn upsert_items(&self, items: &[Item]) -> Result<UpsertOutcome> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut rev = next_rev(&tx)?;
        let first_rev = rev;
        let mut counts = UpsertCounts::default();
        {
            let mut lookup = tx.prepare_cached("SELECT content_hash, unit, role, level FROM items WHERE id = ?1")?;
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO items ({COLUMNS}, rev, created_rev, refs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
                 ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?22, ?23)"
            ))?;
            let mut update = tx.prepare_cached(
                "UPDATE items SET unit = ?2, kind = ?3, role = ?4, level = ?5, title = ?6, text = ?7, link = ?8, \
                 published_at = ?9, published_ts = ?10, published_precision = ?11, published_zone_assumed = ?12, \
                 doc_no = ?13, doc_no_norm = ?14, publisher = ?15, categories = ?16, last_changed_at = ?17, \
                 content_hash = ?18, rev = ?19, refs = ?20 WHERE id = ?1",
            )?;
            for it in items {
                let existing: Option<(String, String, String, String)> = lookup
                    .query_row([it.id.as_i64()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .optional()?;
                let p = published_columns(it.published.as_ref());
                let categories = serde_json::to_string(&it.categories)?;
                let refs = serde_json::to_string(&it.refs)?;
                match existing {
                    None => {
                        insert.execute(params![
                            it.id.as_i64(),
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
                        ])?;
                        write_case(&tx, it)?;
                        rev += 1;
                        counts.new += 1;
                    }
                    Some((hash, unit, role, level))
                        if hash == it.content_hash
                            && unit == it.unit
                            && role == it.role.as_str()
                            && level == it.level.as_str() =>
                    {
                        counts.unchanged += 1;
                    }
                    Some(_) => {
                        update.execute(params![
                            it.id.as_i64(),
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
                        ])?;
                        write_case(&tx, it)?;
                        rev += 1;
                        counts.updated += 1;
                    }
                }
            }
        }
        if rev != first_rev {
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_rev'", [rev.to_string()])?;
        }
        tx.commit()?;
        Ok(UpsertOutcome { counts, max_rev: if rev != first_rev { rev - 1 } else { 0 } })
    }

    /// Items written at a revision above `after`, oldest revision first, at most `limit`.
    pub fn items_after_rev(&self, after: i64, limit: usize) -> Result<Vec<Revision>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{SELECT_ITEM} WHERE i.rev > ?1 ORDER BY i.rev LIMIT ?2"))?;
        let rows = stmt.query_map(params![after, limit as i64], |r| {
            Ok(Revision { rev: r.get(21)?, created_rev: r.get(22)?, item: row_to_item(r)? })
        })?;
        rows.collect::<Result<Vec<_>, _>>().context("failed to read items from the store")
    }

    /// One item by id.
    pub fn item(&self, id: ItemId) -> Result<Option<Item>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{SELECT_ITEM} WHERE i.id = ?1"))?;
        Ok(stmt.query_row([id.as_i64()], row_to_item).optional()?)
    }

    /// The title and published day of an item, if stored: what
    /// `normalize::identity` needs to tell documents apart.
    pub fn stored_identity(&self, id: ItemId) -> Result<Option<crate::normalize::identity::StoredIdentity>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT title, published_at FROM items WHERE id = ?1")?;
        let row: Option<(String, Option<String>)> =
            stmt.query_row([id.as_i64()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
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
        {
            let conn = self.conn();
            let stored: Option<String> =
                conn.query_row("SELECT value FROM meta WHERE key = 'refs_version'", [], |r| r.get(0)).optional()?;
            if stored.as_deref() == Some(version.as_str()) {
                return Ok(0);
            }
        }
        let mut after = i64::MIN;
        let mut done = 0;
        loop {
            let mut conn = self.conn();
            // IMMEDIATE: a deferred read that turns into a write fails at once
            // (SQLITE_BUSY_SNAPSHOT, no busy wait) when another process opening
            // the same store wrote in between.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let batch: Vec<(i64, String, String, Option<String>, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, title, text, doc_no, refs FROM items \
                     WHERE id > ?1 AND role IN ('superior', 'portal') ORDER BY id LIMIT 5000",
                )?;
                let rows = stmt.query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let Some(last) = batch.last() else {
                tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('refs_version', ?1)", [&version])?;
                tx.commit()?;
                if done > 0 {
                    tracing::info!(items = done, "worked out the 文号 and repost references of stored items again");
                }
                return Ok(done);
            };
            after = last.0;
            {
                let mut update =
                    tx.prepare_cached("UPDATE items SET doc_no = ?2, doc_no_norm = ?3, refs = ?4 WHERE id = ?1")?;
                for (id, title, text, doc_no, refs) in &batch {
                    let old: crate::model::Refs = serde_json::from_str(refs).unwrap_or_default();
                    let (doc_no, norm, refs) = crate::normalize::rederive(title, text, doc_no.as_deref(), old.links);
                    update.execute(params![id, doc_no, norm, serde_json::to_string(&refs)?])?;
                }
            }
            tx.commit()?;
            done += batch.len();
        }
    }

    /// The highest revision in the store (0 when empty).
    pub fn max_rev(&self) -> Result<i64> {
        let conn = self.conn();
        Ok(conn.query_row("SELECT COALESCE(MAX(rev), 0) FROM items", [], |r| r.get(0))?)
    }

    pub fn count_items(&self) -> Result<u64> {
        let conn = self.conn();
        Ok(conn.query_row("SELECT COUNT(*) FROM items", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Item counts per source id.
    pub fn count_items_by_source(&self) -> Result<std::collections::HashMap<String, u64>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT source, COUNT(*) FROM items GROUP BY source")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
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

fn parse_time(s: &str, column: &str) -> rusqlite::Result<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("items.{column}: {e}").into())
    })
}

fn parse_enum<T: std::str::FromStr<Err = String>>(s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|e: String| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into()))
}

fn row_to_item(r: &Row<'_>) -> rusqlite::Result<Item> {
    let published_at: Option<String> = r.get(10)?;
    let published = match published_at {
        None => None,
        Some(s) => Some(Published {
            at: parse_time(&s, "published_at")?,
            precision: if r.get::<_, Option<String>>(12)?.as_deref() == Some("date") {
                Precision::Date
            } else {
                Precision::Time
            },
            zone_assumed: r.get::<_, Option<bool>>(13)?.unwrap_or(false),
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
        first_seen_at: parse_time(&r.get::<_, String>(18)?, "first_seen_at")?,
        last_changed_at: parse_time(&r.get::<_, String>(19)?, "last_changed_at")?,
        content_hash: r.get(20)?,
        case: row_to_case(r)?,
        refs: serde_json::from_str(&r.get::<_, String>(36)?).unwrap_or_default(),
    })
}

fn published_at(r: &Row<'_>, at: usize, precision: usize, column: &str) -> rusqlite::Result<Option<Published>> {
    let Some(s) = r.get::<_, Option<String>>(at)? else { return Ok(None) };
    Ok(Some(Published {
        at: parse_time(&s, column)?,
        precision: if r.get::<_, Option<String>>(precision)?.as_deref() == Some("date") {
            Precision::Date
        } else {
            Precision::Time
        },
        // Exports write local times: Asia/Shanghai was assumed when they were read.
        zone_assumed: true,
    }))
}

/// The case columns of a `SELECT_ITEM` row (23–35), if the item has a case.
fn row_to_case(r: &Row<'_>) -> rusqlite::Result<Option<Case>> {
    let Some(number) = r.get::<_, Option<String>>(23)? else { return Ok(None) };
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
        answer_unknown: r.get::<_, Option<bool>>(37)?.unwrap_or(false),
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
        let store = Store::open_in_memory().unwrap();
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
    }
}
