//! The reads the inspection rules need: each source's health and what the
//! store has of it, and the portal pages that carry given links.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use rusqlite::OptionalExtension;

use super::Store;
use crate::model::{ItemId, Refs};
use crate::rules::inspect::{Health, Page, Stats};

fn time(s: Option<String>) -> Option<DateTime<FixedOffset>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
}

impl Store {
    /// Every polled source's health, by id.
    pub fn inspection_health(&self) -> Result<HashMap<String, Health>> {
        Ok(self
            .source_health()?
            .into_iter()
            .map(|h| {
                (
                    h.id,
                    Health {
                        last_success_at: time(h.last_success_at),
                        last_status: h.last_status,
                        last_error: h.last_error,
                        last_error_at: time(h.last_error_at),
                        consecutive_failures: h.consecutive_failures,
                        items_seen: h.items_seen,
                    },
                )
            })
            .collect())
    }

    /// What the store has of one source: counts and its newest dated item
    /// (from the `(source, published_ts)` index); with `last_new`, also when
    /// its latest item was first seen (a scan of the source's rows).
    pub fn source_stats(&self, source: &str, last_new: bool) -> Result<Stats> {
        let conn = self.conn();
        let (items, undated, newest_ts): (i64, i64, Option<i64>) = conn
            .prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(published_ts IS NULL), 0), MAX(published_ts) FROM items WHERE source = ?1",
            )?
            .query_row([source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let newest = match newest_ts {
            Some(ts) => {
                let title: Option<String> = conn
                    .prepare_cached("SELECT title FROM items WHERE source = ?1 AND published_ts = ?2 LIMIT 1")?
                    .query_row(rusqlite::params![source, ts], |r| r.get(0))
                    .optional()?;
                chrono::DateTime::from_timestamp(ts, 0)
                    .map(|at| (at.with_timezone(&crate::normalize::time::china()), title.unwrap_or_default()))
            }
            None => None,
        };
        let last_new_at = if last_new {
            let s: Option<String> = conn
                .prepare_cached("SELECT MAX(first_seen_at) FROM items WHERE source = ?1")?
                .query_row([source], |r| r.get(0))?;
            time(s)
        } else {
            None
        };
        Ok(Stats { items: items as u64, undated: undated as u64, newest, last_new_at })
    }

    /// Portal pages whose own link or a link in their body is one of `urls`,
    /// with those links.
    pub fn pages_linking(&self, urls: &HashSet<String>) -> Result<Vec<Page>> {
        if urls.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, source, unit, link, refs FROM items WHERE role = 'portal'")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, source, unit, link, refs) = row?;
            let refs: Refs = serde_json::from_str(&refs).unwrap_or_default();
            let links: Vec<String> = std::iter::once(link).chain(refs.links).filter(|l| urls.contains(l)).collect();
            if !links.is_empty() {
                out.push(Page { item_id: ItemId::from_i64(id), source, unit, links });
            }
        }
        Ok(out)
    }

    /// Every link portal pages carry (their own and their bodies'), http(s) only.
    pub fn portal_links(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT link, refs FROM items WHERE role = 'portal'")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for row in rows {
            let (link, refs) = row?;
            let refs: Refs = serde_json::from_str(&refs).unwrap_or_default();
            for l in std::iter::once(link).chain(refs.links) {
                let web = l.starts_with("http://") || l.starts_with("https://");
                if web && seen.insert(l.clone()) {
                    out.push(l);
                }
            }
        }
        Ok(out)
    }
}
