//! The `findings` and `responses` tables, and the slim reads the rules need
//! (cases without their text; opinion and portal items).

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Store;
use crate::model::{Case, ItemId, Precision, Published, Refs};
use crate::normalize::normalize_text;
use crate::rules::deadlines::CaseRow;
use crate::rules::opinion::Seen;
use crate::rules::repost::Doc;
use crate::rules::{Finding, State};

/// When the store first saw a finding and when its state last changed.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub first_seen_at: String,
    pub state_changed_at: String,
}

fn published(at: Option<String>, precision: Option<String>) -> Option<Published> {
    let at = DateTime::parse_from_rfc3339(&at?).ok()?;
    let precision = if precision.as_deref() == Some("date") { Precision::Date } else { Precision::Time };
    Some(Published { at, precision, zone_assumed: true })
}

impl Store {
    /// Every work order and message, without its text (of its reply, only
    /// whether there is one).
    pub fn case_rows(&self) -> Result<Vec<CaseRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT c.item_id, i.unit, i.kind, c.number, c.received_at, c.received_precision, c.category, c.handler, \
             c.deadline_at, c.deadline_precision, c.closed_at, c.closed_precision, c.status, c.extension, c.urgency, \
             c.source, c.answer_unknown, CASE WHEN length(trim(c.reply)) > 0 THEN '有' END \
             FROM cases c JOIN items i ON i.id = c.item_id",
        )?;
        let rows = stmt.query_map([], |r| {
            let kind: String = r.get(2)?;
            Ok(CaseRow {
                item_id: ItemId::from_i64(r.get(0)?),
                source: r.get(15)?,
                unit: r.get(1)?,
                kind: kind.parse().map_err(|e: String| {
                    rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
                })?,
                case: Case {
                    number: r.get(3)?,
                    received_at: published(r.get(4)?, r.get(5)?),
                    category: r.get(6)?,
                    handler: r.get(7)?,
                    deadline_at: published(r.get(8)?, r.get(9)?),
                    closed_at: published(r.get(10)?, r.get(11)?),
                    status: r.get(12)?,
                    reply: r.get(17)?,
                    extension: r.get(13)?,
                    urgency: r.get(14)?,
                    answer_unknown: r.get(16)?,
                },
            })
        })?;
        rows.collect::<Result<_, _>>().context("failed to read work orders from the store")
    }

    /// Items of sources with `role` published since `since` (first seen
    /// since, for items without a date), normalized for matching.
    pub fn seen_items(&self, role: &str, since: DateTime<FixedOffset>) -> Result<Vec<Seen>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, unit, title, text, link, published_at, first_seen_at FROM items \
             WHERE role = ?1 AND (published_ts >= ?2 OR (published_ts IS NULL AND first_seen_at >= ?3))",
        )?;
        let rows = stmt.query_map(params![role, since.timestamp(), since.to_rfc3339()], |r| {
            let published: Option<String> = r.get(5)?;
            let first_seen: String = r.get(6)?;
            let at = published
                .and_then(|p| DateTime::parse_from_rfc3339(&p).ok())
                .or_else(|| DateTime::parse_from_rfc3339(&first_seen).ok())
                .unwrap_or(since);
            Ok(Seen {
                item_id: ItemId::from_i64(r.get(0)?),
                unit: r.get(1)?,
                title: normalize_text(&r.get::<_, String>(2)?),
                text: normalize_text(&r.get::<_, String>(3)?),
                link: r.get(4)?,
                at,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Items of sources with `role` published since `since` (first seen
    /// since, for items without a date), as the repost matcher needs them
    /// (no text): an old item first seen today, in a newly added feed, is
    /// still old. A superior item without a 文号 of
    /// its own in its title takes the first one its text gives.
    pub fn repost_docs(&self, role: &str, since: DateTime<FixedOffset>) -> Result<Vec<Doc>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as i64;
        let max_seq: i64 = self.conn().query_row("SELECT COALESCE(MAX(seq), 0) FROM items", [], |r| r.get(0))?;
        let on_disk = self.path().exists();
        if threads < 2 || max_seq < 200_000 || !on_disk {
            return read_docs(&self.conn(), role, since, (0, max_seq));
        }
        // A million portal items: read ranges of rows on every core, each
        // with its own read-only connection (WAL lets readers run together).
        let chunk = max_seq / threads + 1;
        let path = self.path().to_path_buf();
        std::thread::scope(|sc| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let path = path.clone();
                    sc.spawn(move || -> Result<Vec<Doc>> {
                        let conn =
                            rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                        conn.busy_timeout(std::time::Duration::from_secs(10))?;
                        read_docs(&conn, role, since, (t * chunk, (t + 1) * chunk - 1))
                    })
                })
                .collect();
            let mut all = Vec::new();
            for p in parts {
                all.extend(p.join().map_err(|_| anyhow::anyhow!("a reader thread panicked"))??);
            }
            Ok(all)
        })
    }

    /// Records a duty officer's response to an item.
    pub fn record_response(&self, item: ItemId, at: DateTime<FixedOffset>, note: Option<&str>) -> Result<()> {
        self.conn().execute(
            "INSERT INTO responses (item_id, responded_at, note) VALUES (?1, ?2, ?3)",
            params![item.as_i64(), at.to_rfc3339(), note],
        )?;
        Ok(())
    }

    /// The earliest recorded response per item.
    pub fn responses(&self) -> Result<HashMap<ItemId, DateTime<FixedOffset>>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT item_id, responded_at FROM responses")?;
        let mut out: HashMap<ItemId, DateTime<FixedOffset>> = HashMap::new();
        for r in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
            let (id, at) = r?;
            if let Ok(at) = DateTime::parse_from_rfc3339(&at) {
                let e = out.entry(ItemId::from_i64(id)).or_insert(at);
                *e = (*e).min(at);
            }
        }
        Ok(out)
    }

    /// Stores an evaluation: new findings are inserted, changed states are
    /// recorded with the time of the change, and open findings that the
    /// evaluation no longer produces are resolved. Returns each finding's history.
    ///
    /// `held` are fingerprints of findings held back (their source cannot be
    /// read now): a stored one stays as it was, marked held so that no email
    /// lists it, and is not resolved.
    pub fn record_findings(
        &self,
        findings: &[Finding],
        held: &[String],
        now: DateTime<FixedOffset>,
    ) -> Result<HashMap<String, History>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now_s = now.to_rfc3339();
        let mut history = HashMap::with_capacity(findings.len());
        {
            let mut get = tx
                .prepare_cached("SELECT state, first_seen_at, state_changed_at FROM findings WHERE fingerprint = ?1")?;
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO findings (fingerprint, rule, item_id, unit, state, deadline, overdue_working_days, \
                 late, basis, first_seen_at, state_changed_at, evaluated_at, subject, link, held) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0)",
            )?;
            for f in findings {
                let old: Option<(String, String, String)> =
                    get.query_row([&f.fingerprint], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
                let (first_seen, changed) = match old {
                    None => (now_s.clone(), now_s.clone()),
                    Some((state, first, changed)) if state == f.state.as_str() => (first, changed),
                    Some((_, first, _)) => (first, now_s.clone()),
                };
                put.execute(params![
                    f.fingerprint,
                    f.rule.as_str(),
                    f.item_id.as_i64(),
                    f.unit,
                    f.state.as_str(),
                    f.deadline.to_rfc3339(),
                    f.overdue_working_days,
                    f.late,
                    f.basis,
                    first_seen,
                    changed,
                    now_s,
                    f.subject,
                    f.link,
                ])?;
                history.insert(f.fingerprint.clone(), History { first_seen_at: first_seen, state_changed_at: changed });
            }
            let mut hold =
                tx.prepare_cached("UPDATE findings SET held = 1, evaluated_at = ?2 WHERE fingerprint = ?1")?;
            for fp in held {
                hold.execute(params![fp, now_s])?;
            }
            // Open findings the rules no longer produce have been dealt with.
            let produced: HashSet<&str> =
                findings.iter().map(|f| f.fingerprint.as_str()).chain(held.iter().map(String::as_str)).collect();
            let open: Vec<String> = {
                let mut stmt = tx.prepare("SELECT fingerprint FROM findings WHERE state != 'resolved'")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut resolve = tx.prepare_cached(
                "UPDATE findings SET state = 'resolved', late = NULL, state_changed_at = ?2, evaluated_at = ?2 \
                 WHERE fingerprint = ?1",
            )?;
            for fp in open.iter().filter(|fp| !produced.contains(fp.as_str())) {
                resolve.execute(params![fp, now_s])?;
            }
        }
        tx.commit()?;
        Ok(history)
    }

    /// The stored findings of one item (every rule and state), for its console page.
    pub fn findings_of_item(&self, item: ItemId) -> Result<Vec<StoredFinding>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT rule, unit, state, deadline, overdue_working_days, basis FROM findings WHERE item_id = ?1 \
             ORDER BY state_changed_at DESC",
        )?;
        let rows = stmt.query_map([item.as_i64()], |r| {
            Ok(StoredFinding {
                rule: r.get(0)?,
                unit: r.get(1)?,
                state: r.get(2)?,
                deadline: r.get(3)?,
                overdue_working_days: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                basis: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Emails that listed any finding of this item, newest first.
    pub fn emails_of_item(&self, item: ItemId) -> Result<Vec<ItemEmail>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT DISTINCT o.id, o.round, o.unit, o.subject, o.state FROM findings f \
             JOIN mailed m ON m.fingerprint = f.fingerprint JOIN outbox o ON o.id = m.outbox_id \
             WHERE f.item_id = ?1 ORDER BY o.id DESC",
        )?;
        let rows = stmt.query_map([item.as_i64()], |r| {
            Ok(ItemEmail { id: r.get(0)?, round: r.get(1)?, unit: r.get(2)?, subject: r.get(3)?, state: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stored findings counted by (rule, state), for `govwatch status` and `/metrics`.
    pub fn finding_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT rule, state, COUNT(*) FROM findings GROUP BY rule, state ORDER BY rule, state")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stored findings (as last evaluated), for `govwatch findings` history and the digests.
    pub fn finding_states(&self) -> Result<HashMap<String, (State, History)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT fingerprint, state, first_seen_at, state_changed_at FROM findings")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?;
        let mut out = HashMap::new();
        for r in rows {
            let (fp, state, first, changed) = r?;
            if let Ok(state) = state.parse() {
                out.insert(fp, (state, History { first_seen_at: first, state_changed_at: changed }));
            }
        }
        Ok(out)
    }
}

/// Items of `role` with `seq` in `range` (inclusive), as the repost matcher needs them.
fn read_docs(
    conn: &rusqlite::Connection,
    role: &str,
    since: DateTime<FixedOffset>,
    range: (i64, i64),
) -> Result<Vec<Doc>> {
    let superior = role == "superior";
    let mut stmt = conn.prepare_cached(
        "SELECT id, source, unit, title, link, published_ts, first_seen_at, refs, \
         CASE WHEN ?4 THEN categories ELSE '[]' END, CASE WHEN ?4 THEN doc_no_norm END FROM items \
         WHERE seq BETWEEN ?5 AND ?6 AND role = ?1 \
         AND (published_ts >= ?2 OR (published_ts IS NULL AND first_seen_at >= ?3))",
    )?;
    let china = crate::normalize::time::china();
    let rows =
        stmt.query_map(params![role, since.timestamp(), since.to_rfc3339(), superior, range.0, range.1], |r| {
            let published: Option<i64> = r.get(5)?;
            let refs: Refs = serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default();
            // The instant is what matching needs; shown in Asia/Shanghai.
            let (at, at_is_first_seen) = match published.and_then(|ts| chrono::DateTime::from_timestamp(ts, 0)) {
                Some(p) => (p.with_timezone(&china), false),
                None => (DateTime::parse_from_rfc3339(&r.get::<_, String>(6)?).unwrap_or(since), true),
            };
            let unit: String = r.get(2)?;
            Ok(Doc {
                item_id: ItemId::from_i64(r.get(0)?),
                source: r.get(1)?,
                // The default site; `findings::reposts` applies the configured ones.
                site: unit.clone(),
                unit,
                title: r.get(3)?,
                link: r.get(4)?,
                at,
                at_is_first_seen,
                // The number the item carries as its own (worked out at
                // ingest); one its text only cites is not (issue 16).
                own_doc_no: refs.own_doc_no,
                cited_doc_nos: refs.doc_nos,
                cited_links: refs.links,
                categories: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
                alternatives: if superior {
                    crate::rules::repost::alternatives(&refs.title_key, &refs.phrase_key)
                } else {
                    Vec::new()
                },
                key: refs.title_key,
                phrase_key: refs.phrase_key,
                transmittal: refs.transmittal,
                implementing: refs.implementing,
                head_organ: refs.head_organ,
            })
        })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A finding as stored (the last evaluation), for display.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFinding {
    pub rule: String,
    pub unit: String,
    pub state: String,
    pub deadline: Option<String>,
    pub overdue_working_days: i64,
    pub basis: String,
}

/// An email (outbox row) that listed a finding of an item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemEmail {
    pub id: i64,
    pub round: String,
    pub unit: String,
    pub subject: String,
    pub state: String,
}
