//! The `findings` and `responses` tables, and the slim reads the rules need
//! (cases without their text; opinion and portal items).

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::Store;
use super::db::{Db, params};
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
        self.read(|db| {
            db.query_map(
            "SELECT c.item_id, i.unit, i.kind, c.number, c.received_at, c.received_precision, c.category, c.handler, \
             c.deadline_at, c.deadline_precision, c.closed_at, c.closed_precision, c.status, c.extension, c.urgency, \
             c.source, c.answer_unknown, CASE WHEN length(trim(c.reply)) > 0 THEN '有' END \
             FROM cases c JOIN items i ON i.id = c.item_id",
            params![],
            |r| {
            let kind: String = r.get(2)?;
            Ok(CaseRow {
                item_id: ItemId::from_i64(r.get(0)?),
                source: r.get(15)?,
                unit: r.get(1)?,
                kind: kind.parse().map_err(|e: String| anyhow::anyhow!("items.kind: {e}"))?,
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
        })
        })
        .context("failed to read work orders from the store")
    }

    /// Items of sources with `role` published since `since` (first seen
    /// since, for items without a date), normalized for matching.
    pub fn seen_items(&self, role: &str, since: DateTime<FixedOffset>) -> Result<Vec<Seen>> {
        self.read(|db| {
            db.query_map(
                "SELECT id, unit, title, text, link, published_at, first_seen_at FROM items \
                 WHERE role = ?1 AND (published_ts >= ?2 OR (published_ts IS NULL AND first_seen_at >= ?3))",
                params![role, since.timestamp(), since.to_rfc3339()],
                |r| {
                    let published: Option<String> = r.get(5)?;
                    let first_seen: String = r.get(6)?;
                    let at = published
                        .and_then(|p| DateTime::parse_from_rfc3339(&p).ok())
                        .or_else(|| DateTime::parse_from_rfc3339(&first_seen).ok())
                        .unwrap_or(since);
                    Ok(Seen {
                        item_id: ItemId::from_i64(r.get(0)?),
                        unit: r.get(1)?,
                        title: normalize_text(&r.get::<String>(2)?),
                        text: normalize_text(&r.get::<String>(3)?),
                        link: r.get(4)?,
                        at,
                    })
                },
            )
        })
    }

    /// Items of sources with `role` published since `since` (first seen
    /// since, for items without a date), as the repost matcher needs them
    /// (no text): an old item first seen today, in a newly added feed, is
    /// still old. A superior item without a 文号 of
    /// its own in its title takes the first one its text gives.
    pub fn repost_docs(&self, role: &str, since: DateTime<FixedOffset>) -> Result<Vec<Doc>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as i64;
        let max_seq: i64 = self.read(|db| db.query_value("SELECT COALESCE(MAX(seq), 0) FROM items", params![]))?;
        let file = self.sqlite_file().map(|p| p.to_path_buf()).filter(|p| p.exists());
        let parallel = match self.dialect() {
            super::Dialect::Sqlite => file.is_some(),
            super::Dialect::Postgres => true,
        };
        if threads < 2 || max_seq < 200_000 || !parallel {
            return self.read(|db| read_docs(db, role, since, (0, max_seq)));
        }
        // A million portal items: read ranges of rows on every core, each
        // with its own connection (SQLite: read-only, as WAL lets readers
        // run together; PostgreSQL: from the pool).
        let chunk = max_seq / threads + 1;
        std::thread::scope(|sc| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    let file = file.clone();
                    sc.spawn(move || -> Result<Vec<Doc>> {
                        let range = (t * chunk, (t + 1) * chunk - 1);
                        match file {
                            Some(path) => {
                                let conn = rusqlite::Connection::open_with_flags(
                                    &path,
                                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                                )?;
                                conn.busy_timeout(std::time::Duration::from_secs(10))?;
                                read_docs(&mut Db::Sqlite(&conn), role, since, range)
                            }
                            None => self.read(|db| read_docs(db, role, since, range)),
                        }
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
        self.read(|db| {
            db.execute(
                "INSERT INTO responses (item_id, responded_at, note) VALUES (?1, ?2, ?3)",
                params![item.as_i64(), at.to_rfc3339(), note],
            )
        })?;
        Ok(())
    }

    /// The earliest recorded response per item.
    pub fn responses(&self) -> Result<HashMap<ItemId, DateTime<FixedOffset>>> {
        let rows: Vec<(i64, String)> = self.read(|db| {
            db.query_map("SELECT item_id, responded_at FROM responses", params![], |r| Ok((r.get(0)?, r.get(1)?)))
        })?;
        let mut out: HashMap<ItemId, DateTime<FixedOffset>> = HashMap::new();
        for (id, at) in rows {
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
        let now_s = now.to_rfc3339();
        self.write(|tx| {
            let mut history = HashMap::with_capacity(findings.len());
            for f in findings {
                let old: Option<(String, String, String)> = tx.query_opt(
                    "SELECT state, first_seen_at, state_changed_at FROM findings WHERE fingerprint = ?1",
                    params![f.fingerprint],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                let (first_seen, changed) = match old {
                    None => (now_s.clone(), now_s.clone()),
                    Some((state, first, changed)) if state == f.state.as_str() => (first, changed),
                    Some((_, first, _)) => (first, now_s.clone()),
                };
                tx.execute(
                    "INSERT INTO findings (fingerprint, rule, item_id, unit, state, deadline, \
                     overdue_working_days, late, basis, first_seen_at, state_changed_at, evaluated_at, subject, link, \
                     held) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0) \
                     ON CONFLICT (fingerprint) DO UPDATE SET rule = excluded.rule, item_id = excluded.item_id, \
                     unit = excluded.unit, state = excluded.state, deadline = excluded.deadline, \
                     overdue_working_days = excluded.overdue_working_days, late = excluded.late, \
                     basis = excluded.basis, first_seen_at = excluded.first_seen_at, \
                     state_changed_at = excluded.state_changed_at, evaluated_at = excluded.evaluated_at, \
                     subject = excluded.subject, link = excluded.link, held = 0",
                    params![
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
                    ],
                )?;
                history.insert(f.fingerprint.clone(), History { first_seen_at: first_seen, state_changed_at: changed });
            }
            for fp in held {
                tx.execute(
                    "UPDATE findings SET held = 1, evaluated_at = ?2 WHERE fingerprint = ?1",
                    params![fp, now_s],
                )?;
            }
            // Open findings the rules no longer produce have been dealt with.
            let produced: HashSet<&str> =
                findings.iter().map(|f| f.fingerprint.as_str()).chain(held.iter().map(String::as_str)).collect();
            let open: Vec<String> =
                tx.query_map("SELECT fingerprint FROM findings WHERE state != 'resolved'", params![], |r| r.get(0))?;
            for fp in open.iter().filter(|fp| !produced.contains(fp.as_str())) {
                tx.execute(
                    "UPDATE findings SET state = 'resolved', late = NULL, state_changed_at = ?2, evaluated_at = ?2 \
                     WHERE fingerprint = ?1",
                    params![fp, now_s],
                )?;
            }
            Ok(history)
        })
    }

    /// The stored findings of one item (every rule and state), for its console page.
    pub fn findings_of_item(&self, item: ItemId) -> Result<Vec<StoredFinding>> {
        self.read(|db| {
            db.query_map(
                "SELECT rule, unit, state, deadline, overdue_working_days, basis FROM findings WHERE item_id = ?1 \
                 ORDER BY state_changed_at DESC",
                params![item.as_i64()],
                |r| {
                    Ok(StoredFinding {
                        rule: r.get(0)?,
                        unit: r.get(1)?,
                        state: r.get(2)?,
                        deadline: r.get(3)?,
                        overdue_working_days: r.get::<Option<i64>>(4)?.unwrap_or(0),
                        basis: r.get::<Option<String>>(5)?.unwrap_or_default(),
                    })
                },
            )
        })
    }

    /// Emails that listed any finding of this item, newest first.
    pub fn emails_of_item(&self, item: ItemId) -> Result<Vec<ItemEmail>> {
        self.read(|db| {
            db.query_map(
                "SELECT DISTINCT o.id, o.round, o.unit, o.subject, o.state FROM findings f \
                 JOIN mailed m ON m.fingerprint = f.fingerprint JOIN outbox o ON o.id = m.outbox_id \
                 WHERE f.item_id = ?1 ORDER BY o.id DESC",
                params![item.as_i64()],
                |r| {
                    Ok(ItemEmail {
                        id: r.get(0)?,
                        round: r.get(1)?,
                        unit: r.get(2)?,
                        subject: r.get(3)?,
                        state: r.get(4)?,
                    })
                },
            )
        })
    }

    /// Stored findings counted by (rule, state), for `govwatch status` and `/metrics`.
    pub fn finding_counts(&self) -> Result<Vec<(String, String, i64)>> {
        self.read(|db| {
            db.query_map(
                "SELECT rule, state, COUNT(*) FROM findings GROUP BY rule, state ORDER BY rule, state",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
    }

    /// Stored findings (as last evaluated), for `govwatch findings` history and the digests.
    pub fn finding_states(&self) -> Result<HashMap<String, (State, History)>> {
        let rows: Vec<(String, String, String, String)> = self.read(|db| {
            db.query_map("SELECT fingerprint, state, first_seen_at, state_changed_at FROM findings", params![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
        })?;
        let mut out = HashMap::new();
        for (fp, state, first, changed) in rows {
            if let Ok(state) = state.parse() {
                out.insert(fp, (state, History { first_seen_at: first, state_changed_at: changed }));
            }
        }
        Ok(out)
    }
}

/// Items of `role` with `seq` in `range` (inclusive), as the repost matcher needs them.
fn read_docs(db: &mut Db<'_>, role: &str, since: DateTime<FixedOffset>, range: (i64, i64)) -> Result<Vec<Doc>> {
    let superior = role == "superior";
    let china = crate::normalize::time::china();
    db.query_map(
        "SELECT id, source, unit, title, link, published_ts, first_seen_at, refs, \
         CASE WHEN ?4 THEN categories ELSE '[]' END, CASE WHEN ?4 THEN doc_no_norm END FROM items \
         WHERE seq BETWEEN ?5 AND ?6 AND role = ?1 \
         AND (published_ts >= ?2 OR (published_ts IS NULL AND first_seen_at >= ?3))",
        params![role, since.timestamp(), since.to_rfc3339(), superior, range.0, range.1],
        |r| {
            let published: Option<i64> = r.get(5)?;
            let refs: Refs = serde_json::from_str(&r.get::<String>(7)?).unwrap_or_default();
            // The instant is what matching needs; shown in Asia/Shanghai.
            let (at, at_is_first_seen) = match published.and_then(|ts| chrono::DateTime::from_timestamp(ts, 0)) {
                Some(p) => (p.with_timezone(&china), false),
                None => (DateTime::parse_from_rfc3339(&r.get::<String>(6)?).unwrap_or(since), true),
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
                categories: serde_json::from_str(&r.get::<String>(8)?).unwrap_or_default(),
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
        },
    )
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
