//! The `imports` and `quarantine` tables: which export files were read, and
//! the rows that could not be.

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Store;
use crate::import::ImportReport;
use crate::sources::export::Quarantined;

/// An export source's rows, counted (see [`Store::case_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaseCounts {
    pub rows: u64,
    pub answer_unknown: u64,
    pub old: u64,
    pub old_answer_known: u64,
}

/// A quarantined row as listed by `govwatch quarantine`.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    pub source: String,
    pub file: String,
    pub row: usize,
    pub column: Option<String>,
    pub reason: String,
    pub value: Option<String>,
    pub at: String,
}

impl Store {
    /// Records that an import began; returns its id.
    pub fn import_started(
        &self,
        source: &str,
        file: &str,
        sha256: &str,
        stamp: Option<(u64, i64)>,
        now: DateTime<FixedOffset>,
    ) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO imports (source, file, sha256, size, mtime, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![source, file, sha256, stamp.map(|s| s.0 as i64), stamp.map(|s| s.1), now.to_rfc3339()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Records how an import ended (`error` set when the file could not be read).
    pub fn import_finished(
        &self,
        id: i64,
        r: &ImportReport,
        now: DateTime<FixedOffset>,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE imports SET finished_at = ?2, rows = ?3, new = ?4, updated = ?5, unchanged = ?6, quarantined = ?7, \
             error = ?8 WHERE id = ?1",
            params![
                id,
                now.to_rfc3339(),
                r.rows as i64,
                r.new as i64,
                r.updated as i64,
                r.unchanged as i64,
                r.quarantined as i64,
                error
            ],
        )?;
        Ok(())
    }

    /// When each source's first import began (its history horizon counts back from it).
    pub fn first_imports(&self) -> Result<std::collections::HashMap<String, DateTime<FixedOffset>>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT source, started_at FROM imports")?;
        let mut out: std::collections::HashMap<String, DateTime<FixedOffset>> = std::collections::HashMap::new();
        for r in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (source, at) = r?;
            if let Ok(at) = DateTime::parse_from_rfc3339(&at) {
                let e = out.entry(source).or_insert(at);
                *e = (*e).min(at);
            }
        }
        Ok(out)
    }

    /// An export source's rows counted for `sources`, `status` and the
    /// console: (rows, rows whose export cannot say whether they were
    /// answered, rows received before `history_before`, those of them whose export can).
    pub fn case_counts(&self, source: &str, history_before: Option<DateTime<FixedOffset>>) -> Result<CaseCounts> {
        let cutoff = history_before.map(|t| t.timestamp());
        Ok(self.conn().query_row(
            "SELECT COUNT(*), COALESCE(SUM(answer_unknown), 0), \
             COALESCE(SUM(received_ts < ?2), 0), COALESCE(SUM(received_ts < ?2 AND answer_unknown = 0), 0) \
             FROM cases WHERE source = ?1",
            params![source, cutoff],
            |r| {
                Ok(CaseCounts {
                    rows: r.get::<_, i64>(0)? as u64,
                    answer_unknown: r.get::<_, i64>(1)? as u64,
                    old: r.get::<_, i64>(2)? as u64,
                    old_answer_known: r.get::<_, i64>(3)? as u64,
                })
            },
        )?)
    }

    /// Whether `file` in this state (size, mtime) was imported to the end.
    pub fn imported(&self, source: &str, file: &str, stamp: (u64, i64)) -> Result<bool> {
        let conn = self.conn();
        let found: Option<i64> = conn
            .query_row(
                "SELECT id FROM imports WHERE source = ?1 AND file = ?2 AND size = ?3 AND mtime = ?4 \
                 AND finished_at IS NOT NULL LIMIT 1",
                params![source, file, stamp.0 as i64, stamp.1],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Stores quarantined rows; the same row of the same file again replaces its entry.
    pub fn quarantine(
        &self,
        source: &str,
        file: &str,
        sha256: &str,
        rows: &[Quarantined],
        now: DateTime<FixedOffset>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO quarantine (source, file, file_sha256, row, column_name, reason, value, at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let at = now.to_rfc3339();
            for q in rows {
                stmt.execute(params![source, file, sha256, q.row as i64, q.column, q.reason, q.value, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets what earlier versions of `file` put in quarantine.
    pub fn clear_quarantine(&self, source: &str, file: &str) -> Result<()> {
        self.conn().execute("DELETE FROM quarantine WHERE source = ?1 AND file = ?2", params![source, file])?;
        Ok(())
    }

    /// Quarantined rows, newest first.
    pub fn quarantined(&self, source: Option<&str>) -> Result<Vec<QuarantineEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT source, file, row, column_name, reason, value, at FROM quarantine \
             WHERE ?1 IS NULL OR source = ?1 ORDER BY at DESC, file, row",
        )?;
        let rows = stmt.query_map([source], |r| {
            Ok(QuarantineEntry {
                source: r.get(0)?,
                file: r.get(1)?,
                row: r.get::<_, i64>(2)? as usize,
                column: r.get(3)?,
                reason: r.get(4)?,
                value: r.get(5)?,
                at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
