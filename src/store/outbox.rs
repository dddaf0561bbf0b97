//! The outbox and what was mailed: every email is stored, whole, before it
//! is sent; the findings it listed are marked in the same transaction, so a
//! finding is mailed at most once per round whatever happens after.

use std::collections::HashMap;

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Serialize;

use super::Store;
use super::db::{Db, params};
use crate::alerts::{History, Line, Mark};
use crate::model::{ItemId, ItemKind};
use crate::rules::State;
use crate::rules::deadlines::urgency_is_urgent;

/// An email ready to be queued.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub message_id: String,
    pub round: String,
    pub kind: &'static str,
    pub unit: String,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub message: Vec<u8>,
    pub marks: Vec<Mark>,
}

/// A round to record with its emails.
#[derive(Debug, Clone)]
pub struct RoundRecord {
    pub round: String,
    pub at: DateTime<FixedOffset>,
    pub day: NaiveDate,
    pub unroutable: usize,
}

/// Why queueing did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum Queued {
    /// Queued: the outbox ids.
    Done(Vec<i64>),
    /// This round was already queued (by an earlier run, before a restart).
    AlreadyRun,
    /// Something else was queued since the plan was made: plan again.
    Stale,
}

/// One outbox row, without the message.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub message_id: String,
    pub round: String,
    pub kind: String,
    pub unit: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub findings: i64,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// An email due to be sent.
#[derive(Debug, Clone)]
pub struct Sendable {
    pub id: i64,
    pub sender: String,
    pub recipients: Vec<String>,
    pub message: Vec<u8>,
    pub attempts: i64,
    pub created_at: DateTime<FixedOffset>,
    pub unit: String,
    pub kind: String,
}

fn parse_state(s: Option<String>) -> Option<State> {
    s.and_then(|s| s.parse().ok())
}

fn day(s: Option<String>) -> Option<NaiveDate> {
    s.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
}

impl Store {
    /// The stored findings an email may list: every open one, and resolved
    /// ones mailed while open, not yet reported resolved, resolved since `since`.
    pub fn alert_lines(&self, since: DateTime<FixedOffset>) -> Result<Vec<Line>> {
        self.read(|db| {
            db.query_map(
                "SELECT f.fingerprint, f.rule, f.state, f.item_id, f.unit, f.deadline, f.overdue_working_days, f.late, \
                 f.basis, COALESCE(i.kind, 'page'), COALESCE(i.title, f.subject, ''), \
                 COALESCE(substr(i.text, 1, 400), ''), \
                 COALESCE(c.number, i.doc_no), COALESCE(c.received_at, i.published_at, i.first_seen_at), \
                 CASE WHEN i.id IS NULL THEN COALESCE(f.link, '') END, c.urgency \
                 FROM findings f LEFT JOIN items i ON i.id = f.item_id LEFT JOIN cases c ON c.item_id = f.item_id \
                 LEFT JOIN mail_state s ON s.fingerprint = f.fingerprint \
                 WHERE f.held = 0 AND (f.state != 'resolved' \
                    OR (s.open_day IS NOT NULL AND s.resolved = 0 AND f.state_changed_at >= ?1)) \
                   AND (i.id IS NOT NULL OR f.subject IS NOT NULL)",
                params![since.to_rfc3339()],
                |r| {
                    let bad = |i: usize, e: String| anyhow::anyhow!("column {i}: {e}");
                    let time = |i: usize, s: Option<String>| -> Result<Option<DateTime<FixedOffset>>> {
                        s.map(|s| DateTime::parse_from_rfc3339(&s).map_err(|e| bad(i, e.to_string()))).transpose()
                    };
                    Ok(Line {
                        fingerprint: r.get(0)?,
                        rule: r.get::<String>(1)?.parse().map_err(|e| bad(1, e))?,
                        state: r.get::<String>(2)?.parse().map_err(|e| bad(2, e))?,
                        item_id: ItemId::from_i64(r.get(3)?),
                        unit: r.get(4)?,
                        deadline: time(5, r.get(5)?)?.ok_or_else(|| bad(5, "no deadline".into()))?,
                        overdue_working_days: r.get::<Option<i64>>(6)?.unwrap_or(0),
                        late: r.get(7)?,
                        basis: r.get::<Option<String>>(8)?.unwrap_or_default(),
                        kind: r.get::<String>(9)?.parse::<ItemKind>().map_err(|e| bad(9, e))?,
                        title: r.get(10)?,
                        text: r.get(11)?,
                        number: r.get(12)?,
                        received_at: time(13, r.get(13)?)?,
                        link: r.get(14)?,
                        urgent: r.get::<Option<String>>(15)?.as_deref().is_some_and(urgency_is_urgent),
                    })
                },
            )
        })
        .context("failed to read findings for the alerts")
    }

    /// Findings evaluated but not stored (a replay at another moment), with
    /// what an email shows of their items.
    pub fn lines_for(&self, findings: &[crate::rules::Finding]) -> Result<Vec<Line>> {
        type Shown = (String, String, String, Option<String>, Option<String>, Option<String>);
        let mut out = Vec::with_capacity(findings.len());
        self.read(|db| {
            for f in findings {
                let row: Option<Shown> = db.query_opt(
                    "SELECT i.kind, i.title, substr(i.text, 1, 400), COALESCE(c.number, i.doc_no), \
                     COALESCE(c.received_at, i.published_at, i.first_seen_at), c.urgency \
                     FROM items i LEFT JOIN cases c ON c.item_id = i.id WHERE i.id = ?1",
                    params![f.item_id.as_i64()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )?;
                let (kind, title, text, number, received, link, urgency) = match (row, &f.subject) {
                    (Some((kind, title, text, number, received, urgency)), _) => {
                        (kind, title, text, number, received, None, urgency)
                    }
                    // A finding about a column or a source: no item of its own.
                    (None, Some(subject)) => (
                        "page".to_string(),
                        subject.clone(),
                        String::new(),
                        None,
                        None,
                        Some(f.link.clone().unwrap_or_default()),
                        None,
                    ),
                    (None, None) => continue,
                };
                out.push(Line {
                    fingerprint: f.fingerprint.clone(),
                    rule: f.rule,
                    state: f.state,
                    item_id: f.item_id,
                    unit: f.unit.clone(),
                    kind: kind.parse::<ItemKind>().map_err(|e| anyhow::anyhow!(e))?,
                    number,
                    title,
                    text,
                    received_at: received.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()),
                    deadline: f.deadline,
                    overdue_working_days: f.overdue_working_days,
                    late: f.late,
                    basis: f.basis.clone(),
                    link,
                    urgent: urgency.as_deref().is_some_and(urgency_is_urgent),
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// How each finding was last mailed, with the generation to pass to [`Store::queue_round`].
    pub fn mail_history(&self) -> Result<(HashMap<String, History>, i64)> {
        self.read(|db| {
            let generation = mail_generation(db)?;
            let rows = db.query_map(
                "SELECT fingerprint, open_day, open_state, open_level, report_day, resolved FROM mail_state",
                params![],
                |r| {
                    let open = match (day(r.get(1)?), parse_state(r.get(2)?)) {
                        (Some(d), Some(st)) => Some((d, st, r.get::<Option<i64>>(3)?.unwrap_or(0) as u8)),
                        _ => None,
                    };
                    Ok((r.get::<String>(0)?, History { open, report: day(r.get(4)?), resolved: r.get(5)? }))
                },
            )?;
            Ok((rows.into_iter().collect(), generation))
        })
    }

    /// Has this round been queued?
    pub fn round_done(&self, round: &str) -> Result<bool> {
        self.read(|db| Ok(db.query_opt("SELECT 1 FROM rounds WHERE round = ?1", params![round], |_| Ok(()))?.is_some()))
    }

    /// The last round queued: (round, at, emails).
    pub fn last_round(&self) -> Result<Option<(String, String, i64)>> {
        self.read(|db| {
            db.query_opt(
                "SELECT round, at, emails FROM rounds WHERE round NOT LIKE 'immediate %' ORDER BY at DESC LIMIT 1",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
    }

    /// Queues a round's emails, marks what they list and records the round,
    /// all or nothing. `generation` is what [`Store::mail_history`] returned
    /// when the round was planned: if other emails were queued since, nothing
    /// is written and the round must be planned again.
    pub fn queue_round(&self, round: &RoundRecord, mails: &[NewMail], generation: i64) -> Result<Queued> {
        self.write(|tx| {
            if tx.query_opt("SELECT 1 FROM rounds WHERE round = ?1", params![round.round], |_| Ok(()))?.is_some() {
                return Ok(Queued::AlreadyRun);
            }
            if mail_generation(tx)? != generation {
                return Ok(Queued::Stale);
            }
            let now = round.at.to_rfc3339();
            let day = round.day.format("%Y-%m-%d").to_string();
            let mut ids = Vec::with_capacity(mails.len());
            let mut findings = 0usize;
            for m in mails {
                let id: i64 = tx
                    .query_value(
                        "INSERT INTO outbox (message_id, round, kind, unit, sender, recipients, subject, findings, \
                         message, state, attempts, next_attempt_ts, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', 0, ?10, ?11) RETURNING id",
                        params![
                            m.message_id,
                            m.round,
                            m.kind,
                            m.unit,
                            m.sender,
                            serde_json::to_string(&m.recipients)?,
                            m.subject,
                            m.marks.iter().filter(|k| k.kind != "resolved").count(),
                            m.message,
                            round.at.timestamp(),
                            now,
                        ],
                    )
                    .with_context(|| format!("failed to queue the {} email to {}", m.kind, m.unit))?;
                ids.push(id);
                for k in &m.marks {
                    tx.execute(
                        "INSERT INTO mailed (fingerprint, kind, round, outbox_id, state, level) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                        params![k.fingerprint, k.kind, m.round, id, k.state.as_str(), k.level],
                    )?;
                    match k.kind {
                        "digest" | "immediate" => {
                            tx.execute(
                                "INSERT INTO mail_state (fingerprint, open_day, open_state, open_level) \
                                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (fingerprint) DO UPDATE SET \
                                 open_day = excluded.open_day, open_state = excluded.open_state, \
                                 open_level = excluded.open_level, resolved = 0",
                                params![k.fingerprint, day, k.state.as_str(), k.level],
                            )?;
                        }
                        "report" => {
                            tx.execute(
                                "INSERT INTO mail_state (fingerprint, report_day) VALUES (?1, ?2) \
                                 ON CONFLICT (fingerprint) DO UPDATE SET report_day = excluded.report_day",
                                params![k.fingerprint, day],
                            )?;
                        }
                        "resolved" => {
                            tx.execute(
                                "INSERT INTO mail_state (fingerprint, resolved) VALUES (?1, 1) \
                                 ON CONFLICT (fingerprint) DO UPDATE SET resolved = 1",
                                params![k.fingerprint],
                            )?;
                        }
                        // `copy`: shown to the supervising unit; what the unit was sent decides.
                        _ => {}
                    }
                }
                findings += m.marks.len();
            }
            tx.execute(
                "INSERT INTO rounds (round, at, emails, findings, unroutable) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![round.round, now, mails.len(), findings, round.unroutable],
            )?;
            tx.execute(
                "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'mail_generation'",
                params![],
            )?;
            Ok(Queued::Done(ids))
        })
    }

    /// Queued emails whose time has come, oldest first.
    pub fn due_mail(&self, now: DateTime<FixedOffset>, limit: usize) -> Result<Vec<Sendable>> {
        self.read(|db| {
            db.query_map(
                "SELECT id, sender, recipients, message, attempts, created_at, unit, kind FROM outbox \
                 WHERE state = 'queued' AND next_attempt_ts <= ?1 ORDER BY id LIMIT ?2",
                params![now.timestamp(), limit],
                |r| {
                    Ok(Sendable {
                        id: r.get(0)?,
                        sender: r.get(1)?,
                        recipients: serde_json::from_str(&r.get::<String>(2)?).unwrap_or_default(),
                        message: r.get(3)?,
                        attempts: r.get(4)?,
                        created_at: DateTime::parse_from_rfc3339(&r.get::<String>(5)?).unwrap_or(now),
                        unit: r.get(6)?,
                        kind: r.get(7)?,
                    })
                },
            )
        })
    }

    /// The relay accepted the email.
    pub fn mail_sent(&self, id: i64, at: DateTime<FixedOffset>) -> Result<()> {
        self.read(|db| {
            db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL, \
                 claimed_by = NULL, claim_expires_ms = NULL WHERE id = ?1",
                params![id, at.to_rfc3339()],
            )
        })?;
        Ok(())
    }

    /// Try again at `next`.
    pub fn mail_retry(&self, id: i64, next: DateTime<FixedOffset>, error: &str) -> Result<()> {
        self.read(|db| {
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ts = ?2, last_error = ?3, \
                 claimed_by = NULL, claim_expires_ms = NULL WHERE id = ?1",
                params![id, next.timestamp(), error],
            )
        })?;
        Ok(())
    }

    /// Refused for good (or given up on): shown, not retried.
    pub fn mail_failed(&self, id: i64, error: &str) -> Result<()> {
        self.read(|db| {
            db.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2, \
                 claimed_by = NULL, claim_expires_ms = NULL WHERE id = ?1",
                params![id, error],
            )
        })?;
        Ok(())
    }

    /// Puts failed emails (all, or the given ids) back in the queue; returns how many.
    pub fn requeue_failed(&self, ids: &[i64], now: DateTime<FixedOffset>) -> Result<usize> {
        self.read(|db| {
            if ids.is_empty() {
                return Ok(db.execute(
                    "UPDATE outbox SET state = 'queued', next_attempt_ts = ?1 WHERE state = 'failed'",
                    params![now.timestamp()],
                )? as usize);
            }
            let mut n = 0;
            for id in ids {
                n += db.execute(
                    "UPDATE outbox SET state = 'queued', next_attempt_ts = ?2 WHERE id = ?1 AND state = 'failed'",
                    params![id, now.timestamp()],
                )? as usize;
            }
            Ok(n)
        })
    }

    /// The outbox, newest first, optionally of one state.
    pub fn outbox(&self, state: Option<&str>, limit: usize) -> Result<Vec<OutboxRow>> {
        let china = crate::normalize::time::china();
        self.read(|db| {
            db.query_map(
                "SELECT id, message_id, round, kind, unit, recipients, subject, findings, state, attempts, \
                 next_attempt_ts, last_error, created_at, sent_at FROM outbox \
                 WHERE CAST(?1 AS TEXT) IS NULL OR state = ?1 ORDER BY id DESC LIMIT ?2",
                params![state, limit],
                |r| {
                    let state: String = r.get(8)?;
                    let next: i64 = r.get(10)?;
                    Ok(OutboxRow {
                        id: r.get(0)?,
                        message_id: r.get(1)?,
                        round: r.get(2)?,
                        kind: r.get(3)?,
                        unit: r.get(4)?,
                        recipients: serde_json::from_str(&r.get::<String>(5)?).unwrap_or_default(),
                        subject: r.get(6)?,
                        findings: r.get(7)?,
                        next_attempt_at: (state == "queued")
                            .then(|| DateTime::from_timestamp(next, 0).map(|t| t.with_timezone(&china).to_rfc3339()))
                            .flatten(),
                        state,
                        attempts: r.get(9)?,
                        last_error: r.get(11)?,
                        created_at: r.get(12)?,
                        sent_at: r.get(13)?,
                    })
                },
            )
        })
    }

    /// Emails by state: (queued, sent, failed).
    pub fn outbox_counts(&self) -> Result<(i64, i64, i64)> {
        self.read(|db| {
            db.query_row(
                "SELECT COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) FROM outbox",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
    }

    /// The stored message of an outbox row.
    pub fn outbox_message(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.read(|db| db.query_opt("SELECT message FROM outbox WHERE id = ?1", params![id], |r| r.get(0)))
    }
}

fn mail_generation(db: &mut Db<'_>) -> Result<i64> {
    Ok(db
        .query_opt("SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'mail_generation'", params![], |r| r.get(0))?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Mark;

    fn mail(round: &str, unit: &str, fp: &str) -> NewMail {
        NewMail {
            message_id: format!("<{round}.{unit}@x>"),
            round: round.into(),
            kind: "digest",
            unit: unit.into(),
            sender: "gw@x.cn".into(),
            recipients: vec![format!("{unit}@x.cn")],
            subject: "s".into(),
            message: b"m".to_vec(),
            marks: vec![Mark { fingerprint: fp.into(), kind: "digest", state: State::Overdue, level: 1 }],
        }
    }

    #[test]
    fn a_round_is_queued_once_and_a_stale_plan_writes_nothing() {
        crate::store::testing::each_backend("outbox", |store| {
            let at = DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").unwrap();
            let record = |round: &str| RoundRecord { round: round.into(), at, day: at.date_naive(), unroutable: 0 };
            let (h, generation) = store.mail_history().unwrap();
            assert!(h.is_empty());
            // Two plans made from the same history: the second is stale once the first is queued.
            assert!(
                matches!(store.queue_round(&record("r1"), &[mail("r1", "a", "fp1")], generation).unwrap(), Queued::Done(ids) if ids.len() == 1)
            );
            assert_eq!(store.queue_round(&record("r2"), &[mail("r2", "a", "fp1")], generation).unwrap(), Queued::Stale);
            assert_eq!(store.queue_round(&record("r1"), &[], generation + 1).unwrap(), Queued::AlreadyRun);
            assert_eq!(store.outbox(None, 10).unwrap().len(), 1);
            let (h, g2) = store.mail_history().unwrap();
            assert_eq!(g2, generation + 1);
            assert_eq!(h["fp1"].open, Some((at.date_naive(), State::Overdue, 1)));
            assert!(store.round_done("r1").unwrap() && !store.round_done("r2").unwrap());
        });
    }

    /// A supervisor's email lists a unit's escalated findings (`copy`) next
    /// to its own: only what the unit itself was sent moves the unit's history.
    #[test]
    fn a_copy_shown_to_the_supervisor_changes_no_history() {
        crate::store::testing::each_backend("outbox", |store| {
            let at = DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").unwrap();
            let record = RoundRecord { round: "r1".into(), at, day: at.date_naive(), unroutable: 0 };
            let mut sup = mail("r1", "ban", "own");
            sup.marks.push(Mark { fingerprint: "late".into(), kind: "copy", state: State::Overdue, level: 1 });
            let (_, generation) = store.mail_history().unwrap();
            assert!(matches!(store.queue_round(&record, &[sup], generation).unwrap(), Queued::Done(_)));
            let (h, _) = store.mail_history().unwrap();
            assert!(h.contains_key("own") && !h.contains_key("late"), "{h:?}");
            assert_eq!(store.outbox(None, 10).unwrap()[0].findings, 2);
        });
    }
}
