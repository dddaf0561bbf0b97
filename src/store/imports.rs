//! The `imports` and `quarantine` tables: which export files were read, and
//! the rows that could not be.

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::Store;
use super::db::params;
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
        self.read(|db| {
            db.query_value(
                "INSERT INTO imports (source, file, sha256, size, mtime, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                params![source, file, sha256, stamp.map(|s| s.0), stamp.map(|s| s.1), now.to_rfc3339()],
            )
        })
    }

    /// Records how an import ended (`error` set when the file could not be read).
    pub fn import_finished(
        &self,
        id: i64,
        r: &ImportReport,
        now: DateTime<FixedOffset>,
        error: Option<&str>,
    ) -> Result<()> {
        self.read(|db| {
            db.execute(
                "UPDATE imports SET finished_at = ?2, rows = ?3, new = ?4, updated = ?5, unchanged = ?6, \
                 quarantined = ?7, error = ?8 WHERE id = ?1",
                params![id, now.to_rfc3339(), r.rows, r.new, r.updated, r.unchanged, r.quarantined, error],
            )
        })?;
        Ok(())
    }

    /// When each source's first import began (its history horizon counts back from it).
    pub fn first_imports(&self) -> Result<std::collections::HashMap<String, DateTime<FixedOffset>>> {
        let rows: Vec<(String, String)> = self.read(|db| {
            db.query_map("SELECT source, started_at FROM imports", params![], |r| Ok((r.get(0)?, r.get(1)?)))
        })?;
        let mut out: std::collections::HashMap<String, DateTime<FixedOffset>> = std::collections::HashMap::new();
        for (source, at) in rows {
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
        self.read(|db| {
            db.query_row(
                "SELECT COUNT(*), COALESCE(SUM(answer_unknown), 0), \
                 COALESCE(SUM(CASE WHEN received_ts < ?2 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN received_ts < ?2 AND answer_unknown = 0 THEN 1 ELSE 0 END), 0) \
                 FROM cases WHERE source = ?1",
                params![source, cutoff],
                |r| {
                    Ok(CaseCounts {
                        rows: r.get(0)?,
                        answer_unknown: r.get(1)?,
                        old: r.get(2)?,
                        old_answer_known: r.get(3)?,
                    })
                },
            )
        })
    }

    /// Whether `file` in this state (size, mtime) was imported to the end.
    pub fn imported(&self, source: &str, file: &str, stamp: (u64, i64)) -> Result<bool> {
        let found: Option<i64> = self.read(|db| {
            db.query_opt(
                "SELECT id FROM imports WHERE source = ?1 AND file = ?2 AND size = ?3 AND mtime = ?4 \
                 AND finished_at IS NOT NULL LIMIT 1",
                params![source, file, stamp.0, stamp.1],
                |r| r.get(0),
            )
        })?;
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
        let at = now.to_rfc3339();
        self.write(|tx| {
            for q in rows {
                tx.execute(
                    "INSERT INTO quarantine (source, file, file_sha256, row, column_name, reason, value, at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                     ON CONFLICT (source, file_sha256, row) DO UPDATE SET file = excluded.file, \
                     column_name = excluded.column_name, reason = excluded.reason, value = excluded.value, \
                     at = excluded.at",
                    params![source, file, sha256, q.row, q.column, q.reason, q.value, at],
                )?;
            }
            Ok(())
        })
    }

    /// Forgets what earlier versions of `file` put in quarantine.
    pub fn clear_quarantine(&self, source: &str, file: &str) -> Result<()> {
        self.read(|db| db.execute("DELETE FROM quarantine WHERE source = ?1 AND file = ?2", params![source, file]))?;
        Ok(())
    }

    /// Quarantined rows, newest first.
    pub fn quarantined(&self, source: Option<&str>) -> Result<Vec<QuarantineEntry>> {
        self.read(|db| {
            db.query_map(
                "SELECT source, file, row, column_name, reason, value, at FROM quarantine \
                 WHERE CAST(?1 AS TEXT) IS NULL OR source = ?1 ORDER BY at DESC, file, row",
                params![source],
                |r| {
                    Ok(QuarantineEntry {
                        source: r.get(0)?,
                        file: r.get(1)?,
                        row: r.get(2)?,
                        column: r.get(3)?,
                        reason: r.get(4)?,
                        value: r.get(5)?,
                        at: r.get(6)?,
                    })
                },
            )
        })
    }
}
