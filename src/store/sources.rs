//! The `sources` table: per-source HTTP validators and health.
//!
//! Errors are data (as in miniflux): a failed poll is saved on the source's
//! row and shown by `govwatch sources`, and the next attempt time lives on the
//! row too, so a restart keeps the backoff.

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::Store;
use super::db::{Row, params};

/// HTTP validators for conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

const HEALTH_COLUMNS: &str = "id, last_attempt_at, last_success_at, last_status, last_error, last_error_at, \
                              consecutive_failures, next_attempt_at, items_seen, warnings";

fn health_row(r: &Row<'_>) -> Result<SourceHealth> {
    let warnings: String = r.get(9)?;
    Ok(SourceHealth {
        id: r.get(0)?,
        last_attempt_at: r.get(1)?,
        last_success_at: r.get(2)?,
        last_status: r.get(3)?,
        last_error: r.get(4)?,
        last_error_at: r.get(5)?,
        consecutive_failures: r.get(6)?,
        next_attempt_at: r.get(7)?,
        items_seen: r.get(8)?,
        warnings: serde_json::from_str(&warnings).unwrap_or_default(),
    })
}

/// A source's health, as stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceHealth {
    pub id: String,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    /// `ok`, `not_modified` or `error`.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub consecutive_failures: u32,
    pub next_attempt_at: Option<String>,
    pub items_seen: Option<u64>,
    pub warnings: Vec<String>,
}

impl SourceHealth {
    /// The time before which the source should not be polled again (backoff).
    pub fn next_attempt(&self) -> Option<DateTime<FixedOffset>> {
        self.next_attempt_at.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok())
    }

    /// The error the source is failing with now: its last error while its
    /// polls fail, `None` once a poll has succeeded since. The stored
    /// `last_error` stays as history (a flapping source), but a healthy
    /// source is not shown with an error.
    pub fn current_error(&self) -> Option<&str> {
        self.last_error.as_deref().filter(|_| self.consecutive_failures > 0)
    }
}

impl Store {
    pub fn validators(&self, source: &str) -> Result<Validators> {
        let v = self.read(|db| {
            db.query_opt("SELECT etag, last_modified FROM sources WHERE id = ?1", params![source], |r| {
                Ok(Validators { etag: r.get(0)?, last_modified: r.get(1)? })
            })
        })?;
        Ok(v.unwrap_or_default())
    }

    /// Records a successful poll (`not_modified` when the server said 304).
    /// `items_seen` is `None` for a 304, which keeps the previous count.
    pub fn record_success(
        &self,
        source: &str,
        now: DateTime<FixedOffset>,
        not_modified: bool,
        items_seen: Option<u64>,
        validators: Option<&Validators>,
        warnings: &[String],
    ) -> Result<()> {
        let now = now.to_rfc3339();
        let warnings = serde_json::to_string(warnings)?;
        self.write_unlocked(|db| {
            db.execute("INSERT INTO sources (id) VALUES (?1) ON CONFLICT (id) DO NOTHING", params![source])?;
            db.execute(
                "UPDATE sources SET last_attempt_at = ?2, last_success_at = ?2, last_status = ?3, \
                 consecutive_failures = 0, next_attempt_at = NULL, items_seen = COALESCE(?4, items_seen), \
                 warnings = ?5 WHERE id = ?1",
                params![source, now, if not_modified { "not_modified" } else { "ok" }, items_seen, warnings],
            )?;
            if let Some(v) = validators {
                db.execute(
                    "UPDATE sources SET etag = ?2, last_modified = ?3 WHERE id = ?1",
                    params![source, v.etag, v.last_modified],
                )?;
            }
            Ok(())
        })
    }

    /// Records a failed poll and when to try again; returns the new count of
    /// consecutive failures.
    pub fn record_failure(
        &self,
        source: &str,
        now: DateTime<FixedOffset>,
        error: &str,
        next_attempt: impl FnOnce(u32) -> DateTime<FixedOffset>,
    ) -> Result<u32> {
        let now_s = now.to_rfc3339();
        self.write_unlocked(|db| {
            db.execute("INSERT INTO sources (id) VALUES (?1) ON CONFLICT (id) DO NOTHING", params![source])?;
            // The row stays locked until the transaction ends: two nodes
            // recording failures of one source count both.
            let failures: u32 = db.query_value(
                "UPDATE sources SET last_attempt_at = ?2, last_status = 'error', last_error = ?3, \
                 last_error_at = ?2, consecutive_failures = consecutive_failures + 1 WHERE id = ?1 \
                 RETURNING consecutive_failures",
                params![source, now_s, error],
            )?;
            db.execute(
                "UPDATE sources SET next_attempt_at = ?2 WHERE id = ?1",
                params![source, next_attempt(failures).to_rfc3339()],
            )?;
            Ok(failures)
        })
    }

    /// Health of every source that has been polled at least once.
    pub fn source_health(&self) -> Result<Vec<SourceHealth>> {
        self.read(|db| {
            db.query_map(&format!("SELECT {HEALTH_COLUMNS} FROM sources ORDER BY id"), params![], health_row)
        })
    }

    /// One source's health: one row by its key (the daemon asks before every poll).
    pub fn health_of(&self, source: &str) -> Result<Option<SourceHealth>> {
        self.read(|db| {
            db.query_opt(&format!("SELECT {HEALTH_COLUMNS} FROM sources WHERE id = ?1"), params![source], health_row)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::time::china;
    use chrono::{Duration, TimeZone};

    #[test]
    fn failures_count_up_and_success_resets() {
        crate::store::testing::each_backend("sources", |store| {
            let now = china().with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
            let n =
                store.record_failure("s", now, "connection refused", |n| now + Duration::minutes(n as i64)).unwrap();
            assert_eq!(n, 1);
            let n = store.record_failure("s", now, "timed out", |n| now + Duration::minutes(n as i64)).unwrap();
            assert_eq!(n, 2);
            let h = store.health_of("s").unwrap().unwrap();
            assert_eq!(h.last_error.as_deref(), Some("timed out"));
            assert_eq!(h.next_attempt(), Some(now + Duration::minutes(2)));
            let v = Validators { etag: Some("\"abc\"".into()), last_modified: None };
            store.record_success("s", now, false, Some(7), Some(&v), &["w".into()]).unwrap();
            let h = store.health_of("s").unwrap().unwrap();
            assert_eq!((h.consecutive_failures, h.items_seen, h.next_attempt()), (0, Some(7), None));
            assert_eq!(h.last_error.as_deref(), Some("timed out"), "the last error stays as history");
            assert_eq!(h.current_error(), None, "but it is not the source's error any more");
            assert_eq!(store.validators("s").unwrap(), v);
            store.record_success("s", now, true, None, None, &[]).unwrap();
            let h = store.health_of("s").unwrap().unwrap();
            assert_eq!((h.last_status.as_deref(), h.items_seen), (Some("not_modified"), Some(7)));
            assert_eq!(store.validators("s").unwrap(), v, "a 304 keeps the validators");
        });
    }
}
