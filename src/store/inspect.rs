//! The reads the inspection rules need: each source's health and what the
//! store has of it, and the portal pages that carry given links.

use std::collections::{HashMap, HashSet};

use super::Store;
use super::db::params;
use crate::model::{ItemId, Refs};
use crate::rules::inspect::{Exposure, Health, Page, Stats};
use crate::rules::pii;
use anyhow::Result;
use chrono::{DateTime, FixedOffset};

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
        self.read(|db| {
            let (items, undated, newest_ts): (u64, u64, Option<i64>) = db.query_row(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN published_ts IS NULL THEN 1 ELSE 0 END), 0), \
                 MAX(published_ts) FROM items WHERE source = ?1",
                params![source],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let newest = match newest_ts {
                Some(ts) => {
                    let title: Option<String> = db.query_opt(
                        "SELECT title FROM items WHERE source = ?1 AND published_ts = ?2 LIMIT 1",
                        params![source, ts],
                        |r| r.get(0),
                    )?;
                    chrono::DateTime::from_timestamp(ts, 0)
                        .map(|at| (at.with_timezone(&crate::normalize::time::china()), title.unwrap_or_default()))
                }
                None => None,
            };
            let last_new_at = if last_new {
                time(db.query_value("SELECT MAX(first_seen_at) FROM items WHERE source = ?1", params![source])?)
            } else {
                None
            };
            Ok(Stats { items, undated, newest, last_new_at })
        })
    }

    /// Portal pages whose own link or a link in their body is one of `urls`,
    /// with those links.
    pub fn pages_linking(&self, urls: &HashSet<String>) -> Result<Vec<Page>> {
        if urls.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String, String, String, String)> = self.read(|db| {
            db.query_map("SELECT id, source, unit, link, refs FROM items WHERE role = 'portal'", params![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
        })?;
        let mut out = Vec::new();
        for (id, source, unit, link, refs) in rows {
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
        let rows: Vec<(String, String)> = self.read(|db| {
            db.query_map("SELECT link, refs FROM items WHERE role = 'portal'", params![], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (link, refs) in rows {
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

    /// Scans portal items written since the last scan (by rev) for personal
    /// data not published on purpose (`allow` and the official-contact
    /// rule, `pii::scan_published`) and keeps `pii_hits` current: a hit is
    /// stored as its masked summary, an item edited clean loses its row.
    /// When the allow-list or those rules changed since the last scan, every
    /// portal item is scanned again. Returns how many items were scanned.
    /// Batched, so a first scan of a large store does not hold the
    /// connection for long.
    pub fn scan_pii(&self, allow: &pii::AllowList) -> Result<usize> {
        const BATCH: i64 = 2000;
        let rules = format!("{}:{}", pii::PUBLISHED_RULES_VERSION, allow.fingerprint());
        self.write(|tx| {
            let scanned_under: Option<String> =
                tx.query_opt("SELECT value FROM meta WHERE key = 'pii_rules'", params![], |r| r.get(0))?;
            if scanned_under.as_deref() != Some(rules.as_str()) {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('pii_rules', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![rules],
                )?;
                tx.execute("UPDATE meta SET value = '0' WHERE key = 'pii_scanned_rev'", params![])?;
            }
            Ok(())
        })?;
        let mut scanned = 0;
        loop {
            let done = self.write(|tx| {
                let from: i64 =
                    tx.query_value("SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'pii_scanned_rev'", params![])?;
                let rows: Vec<(i64, i64, String, String)> = tx.query_map(
                    "SELECT id, rev, title, text FROM items WHERE rev > ?1 AND role = 'portal' ORDER BY rev LIMIT ?2",
                    params![from, BATCH],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
                let Some(last) = rows.last().map(|r| r.1) else {
                    // Nothing portal-side left: remember the newest rev so other
                    // sources' writes are not read again.
                    let max: Option<i64> = tx.query_value("SELECT MAX(rev) FROM items", params![])?;
                    if let Some(max) = max.filter(|m| *m > from) {
                        tx.execute(
                            "UPDATE meta SET value = ?1 WHERE key = 'pii_scanned_rev'",
                            params![max.to_string()],
                        )?;
                    }
                    return Ok(true);
                };
                for (id, _, title, text) in &rows {
                    let hits = pii::scan_published(&format!("{title}\n{text}"), allow);
                    if hits.is_empty() {
                        tx.execute("DELETE FROM pii_hits WHERE item_id = ?1", params![id])?;
                    } else {
                        tx.execute(
                            "INSERT INTO pii_hits (item_id, summary) VALUES (?1, ?2) \
                             ON CONFLICT (item_id) DO UPDATE SET summary = excluded.summary",
                            params![id, pii::summary(&hits, 3)],
                        )?;
                    }
                }
                tx.execute("UPDATE meta SET value = ?1 WHERE key = 'pii_scanned_rev'", params![last.to_string()])?;
                scanned += rows.len();
                Ok(false)
            })?;
            if done {
                return Ok(scanned);
            }
        }
    }

    /// The personal data found so far, with the item's source, unit and
    /// when the store first saw it.
    pub fn pii_exposures(&self) -> Result<Vec<Exposure>> {
        let rows: Vec<(i64, String, String, String, String)> = self.read(|db| {
            db.query_map(
                "SELECT p.item_id, i.source, i.unit, i.first_seen_at, p.summary \
                 FROM pii_hits p JOIN items i ON i.id = p.item_id ORDER BY p.item_id",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
        })?;
        let mut out = Vec::new();
        for (id, source, unit, seen, summary) in rows {
            let Some(found_at) = time(Some(seen)) else { continue };
            out.push(Exposure { item_id: ItemId::from_i64(id), source, unit, found_at, summary });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ItemKind, Level, ParsedItem, Role};
    use crate::normalize::{SourceInfo, time::china, to_item};
    use chrono::TimeZone;

    fn item(role: Role, link: &str, text: &str) -> crate::model::Item {
        let src = SourceInfo { id: "s1", unit: "u1", kind: ItemKind::Page, role, level: Level::County };
        let now = china().with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        to_item(
            src,
            ParsedItem { title: "公示".into(), link: Some(link.into()), text: text.into(), ..Default::default() },
            now,
        )
    }

    #[test]
    fn the_personal_data_scan_is_incremental_and_follows_edits() {
        crate::store::testing::each_backend("inspect", |store| {
            let leak = item(Role::Portal, "http://x/1", "申请人身份证号11010519491231002X，电话13912345678");
            let bad_digit = item(Role::Portal, "http://x/2", "身份证号110105194912310021");
            let hotline = item(Role::Hotline, "http://x/3", "来电人身份证号11010519491231002X");
            store.upsert_items(&[leak.clone(), bad_digit, hotline]).unwrap();
            assert_eq!(store.scan_pii(&pii::AllowList::default()).unwrap(), 2, "portal items only");
            let found = store.pii_exposures().unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].item_id, leak.id);
            assert_eq!(found[0].summary, "身份证号 110105********002X；手机号 139****5678");
            assert_eq!(found[0].found_at, leak.first_seen_at);
            assert_eq!(store.scan_pii(&pii::AllowList::default()).unwrap(), 0, "nothing new, nothing read");

            // The page is edited clean: the exposure goes.
            store.upsert_items(&[item(Role::Portal, "http://x/1", "申请人身份证号已删除")]).unwrap();
            assert_eq!(store.scan_pii(&pii::AllowList::default()).unwrap(), 1);
            assert!(store.pii_exposures().unwrap().is_empty());
        });
    }

    /// A number put on the allow-list stops being reported at the next scan
    /// (everything is scanned again), and comes back when it leaves the list.
    #[test]
    fn a_changed_allow_list_rescans_what_was_scanned() {
        crate::store::testing::each_backend("inspect", |store| {
            let duty = item(Role::Portal, "http://x/1", "国庆期间请拨打 13812345678 咨询。");
            store.upsert_items(&[duty.clone(), item(Role::Portal, "http://x/2", "无号码")]).unwrap();
            let none = pii::AllowList::default();
            assert_eq!(store.scan_pii(&none).unwrap(), 2);
            assert_eq!(store.pii_exposures().unwrap().len(), 1);
            let allow = pii::AllowList::new(["138-1234-5678"]);
            assert_eq!(store.scan_pii(&allow).unwrap(), 2, "a new list: everything again");
            assert!(store.pii_exposures().unwrap().is_empty());
            assert_eq!(store.scan_pii(&allow).unwrap(), 0, "the same list: nothing new");
            assert_eq!(store.scan_pii(&none).unwrap(), 2);
            assert_eq!(store.pii_exposures().unwrap()[0].item_id, duty.id);
        });
    }
}
