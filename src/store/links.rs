//! The link checker's memory per URL (`link_checks`, migration 5).
//!
//! A link is not dead because one check failed: each row counts the failures
//! since the last success and when the first and the last of them happened;
//! a success resets the count. [`LinkRecord::is_dead`] decides from that.
//! Times are stored as RFC 3339 text with the offset they were given in.

use std::collections::{HashMap, HashSet};

use super::Store;
use super::db::{Row, params};
use crate::linkcheck::Outcome;
use anyhow::Result;
use chrono::{DateTime, FixedOffset};

/// Slack when measuring the span of failures: a daily schedule that runs a
/// few minutes earlier on the third day still counts as two days.
const SPAN_SLACK_MINUTES: i64 = 60;

/// One URL's check history, as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkRecord {
    pub url: String,
    /// The first failure since the last success.
    pub first_failure_at: Option<DateTime<FixedOffset>>,
    pub last_failure_at: Option<DateTime<FixedOffset>>,
    /// Failures since the last success.
    pub failures: u32,
    pub last_success_at: Option<DateTime<FixedOffset>>,
    pub last_checked_at: Option<DateTime<FixedOffset>>,
    /// The HTTP status of the last check, if it got one.
    pub last_status: Option<u16>,
    /// Why the last check failed (`None` after a success).
    pub last_error: Option<String>,
}

impl LinkRecord {
    /// Pure: dead after `after_failures` failures (at least 1) since the last
    /// success, the first and the last of them at least `over_days` days
    /// apart (less an hour of slack, so that a daily check's jitter does not
    /// postpone the verdict by a day). A success in between resets the count,
    /// so a link that fails once and then answers is never dead.
    pub fn is_dead(&self, after_failures: u32, over_days: u32) -> bool {
        if self.failures < after_failures.max(1) {
            return false;
        }
        let (Some(first), Some(last)) = (self.first_failure_at, self.last_failure_at) else {
            return false;
        };
        if over_days == 0 {
            return true;
        }
        let needed = chrono::Duration::days(over_days as i64) - chrono::Duration::minutes(SPAN_SLACK_MINUTES);
        last.signed_duration_since(first) >= needed
    }
}

fn time(s: Option<String>) -> Option<DateTime<FixedOffset>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
}

const COLUMNS: &str =
    "url, first_failure_at, last_failure_at, failures, last_success_at, last_checked_at, last_status, last_error";

fn record_row(r: &Row<'_>) -> Result<LinkRecord> {
    Ok(LinkRecord {
        url: r.get(0)?,
        first_failure_at: time(r.get(1)?),
        last_failure_at: time(r.get(2)?),
        failures: r.get::<i64>(3)?.clamp(0, u32::MAX as i64) as u32,
        last_success_at: time(r.get(4)?),
        last_checked_at: time(r.get(5)?),
        last_status: r.get::<Option<i64>>(6)?.and_then(|s| u16::try_from(s).ok()),
        last_error: r.get(7)?,
    })
}

impl Store {
    /// Records a batch of outcomes checked at `now`, in one transaction: a
    /// success resets the failures and their times; a failure counts one
    /// more, sets the last failure's time and, after a success (or for a new
    /// URL), the first's. A URL given twice is recorded twice.
    pub fn record_link_checks(&self, results: &[(String, Outcome)], now: DateTime<FixedOffset>) -> Result<()> {
        let now = now.to_rfc3339();
        self.write(|tx| {
            for (url, outcome) in results {
                match outcome {
                    Outcome::Alive { status } => {
                        tx.execute(
                            "INSERT INTO link_checks (url, failures, last_success_at, last_checked_at, last_status) \
                             VALUES (?1, 0, ?2, ?2, ?3) \
                             ON CONFLICT (url) DO UPDATE SET first_failure_at = NULL, last_failure_at = NULL, \
                             failures = 0, last_success_at = excluded.last_success_at, \
                             last_checked_at = excluded.last_checked_at, last_status = excluded.last_status, \
                             last_error = NULL",
                            params![url, now, *status],
                        )?;
                    }
                    Outcome::Failed { status, reason } => {
                        tx.execute(
                            "INSERT INTO link_checks (url, first_failure_at, last_failure_at, failures, \
                             last_checked_at, last_status, last_error) VALUES (?1, ?2, ?2, 1, ?2, ?3, ?4) \
                             ON CONFLICT (url) DO UPDATE SET \
                             first_failure_at = COALESCE(link_checks.first_failure_at, excluded.first_failure_at), \
                             last_failure_at = excluded.last_failure_at, failures = link_checks.failures + 1, \
                             last_checked_at = excluded.last_checked_at, last_status = excluded.last_status, \
                             last_error = excluded.last_error",
                            params![url, now, *status, reason],
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Every URL's record.
    pub fn link_records(&self) -> Result<HashMap<String, LinkRecord>> {
        let rows =
            self.read(|db| db.query_map(&format!("SELECT {COLUMNS} FROM link_checks"), params![], record_row))?;
        Ok(rows.into_iter().map(|r| (r.url.clone(), r)).collect())
    }

    /// One URL's record.
    pub fn link_record(&self, url: &str) -> Result<Option<LinkRecord>> {
        self.read(|db| {
            db.query_opt(&format!("SELECT {COLUMNS} FROM link_checks WHERE url = ?1"), params![url], record_row)
        })
    }

    /// The candidates not checked since `before` (or never), each once: those
    /// never checked first, in the given order, then the others from the
    /// longest unchecked — so a run can be limited to the first N and resumed.
    pub fn links_due(&self, candidates: &[String], before: DateTime<FixedOffset>) -> Result<Vec<String>> {
        let mut seen: HashSet<&str> = HashSet::with_capacity(candidates.len());
        let mut never = Vec::new();
        let mut stale: Vec<(DateTime<FixedOffset>, &str)> = Vec::new();
        self.read(|db| {
            for url in candidates {
                if !seen.insert(url.as_str()) {
                    continue;
                }
                let checked: Option<Option<String>> =
                    db.query_opt("SELECT last_checked_at FROM link_checks WHERE url = ?1", params![url], |r| r.get(0))?;
                match time(checked.flatten()) {
                    None => never.push(url.clone()),
                    Some(t) if t < before => stale.push((t, url)),
                    Some(_) => {}
                }
            }
            Ok(())
        })?;
        stale.sort_by_key(|(t, _)| *t);
        never.extend(stale.into_iter().map(|(_, u)| u.to_string()));
        Ok(never)
    }

    /// Forgets the URLs not in `keep` (no page carries them any more);
    /// returns how many were forgotten.
    pub fn prune_links(&self, keep: &HashSet<String>) -> Result<usize> {
        self.write(|tx| {
            let urls: Vec<String> = tx.query_map("SELECT url FROM link_checks", params![], |r| r.get(0))?;
            let gone: Vec<String> = urls.into_iter().filter(|u| !keep.contains(u)).collect();
            for u in &gone {
                tx.execute("DELETE FROM link_checks WHERE url = ?1", params![u])?;
            }
            Ok(gone.len())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::time::china;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<FixedOffset> {
        china().with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
    }

    fn failed(status: u16) -> Outcome {
        Outcome::Failed { status: Some(status), reason: format!("{status}") }
    }

    fn failures(times: &[DateTime<FixedOffset>]) -> LinkRecord {
        LinkRecord {
            url: "http://a.gov.cn/x".into(),
            first_failure_at: times.first().copied(),
            last_failure_at: times.last().copied(),
            failures: times.len() as u32,
            ..LinkRecord::default()
        }
    }

    #[test]
    fn fails_once_then_answers_is_not_dead() {
        crate::store::testing::each_backend("links", |store| {
            let u = "http://a.gov.cn/x".to_string();
            store.record_link_checks(&[(u.clone(), failed(503))], t0()).unwrap();
            store.record_link_checks(&[(u.clone(), Outcome::Alive { status: 200 })], t0() + Duration::days(1)).unwrap();
            let r = store.link_record(&u).unwrap().unwrap();
            assert_eq!(r.failures, 0);
            assert!(!r.is_dead(1, 0));
            assert!(!r.is_dead(3, 2));
        });
    }

    #[test]
    fn three_failures_in_one_day_are_not_dead_over_two_days() {
        let r = failures(&[t0(), t0() + Duration::hours(4), t0() + Duration::hours(8)]);
        assert!(!r.is_dead(3, 2));
        assert!(r.is_dead(3, 0));
        assert!(!r.is_dead(4, 0));
    }

    #[test]
    fn three_failures_over_two_days_are_dead() {
        let r = failures(&[t0(), t0() + Duration::days(1), t0() + Duration::days(2)]);
        assert!(r.is_dead(3, 2));
        assert!(!r.is_dead(3, 3));
        // A daily check that ran a few minutes early on the third day still counts.
        let r = failures(&[t0(), t0() + Duration::days(1), t0() + Duration::days(2) - Duration::minutes(5)]);
        assert!(r.is_dead(3, 2));
    }

    #[test]
    fn success_after_failures_resets() {
        crate::store::testing::each_backend("links", |store| {
            let u = "http://a.gov.cn/x".to_string();
            for d in 0..3 {
                store.record_link_checks(&[(u.clone(), failed(404))], t0() + Duration::days(d)).unwrap();
            }
            let r = store.link_record(&u).unwrap().unwrap();
            assert_eq!(
                (r.failures, r.first_failure_at, r.last_failure_at),
                (3, Some(t0()), Some(t0() + Duration::days(2)))
            );
            assert_eq!((r.last_status, r.last_error.as_deref()), (Some(404), Some("404")));
            assert!(r.is_dead(3, 2));
            let now = t0() + Duration::days(3);
            store.record_link_checks(&[(u.clone(), Outcome::Alive { status: 200 })], now).unwrap();
            let r = store.link_record(&u).unwrap().unwrap();
            assert_eq!(
                r,
                LinkRecord {
                    url: u.clone(),
                    failures: 0,
                    last_success_at: Some(now),
                    last_checked_at: Some(now),
                    last_status: Some(200),
                    ..LinkRecord::default()
                }
            );
            assert!(!r.is_dead(1, 0));
            // Failing again starts a new span.
            store.record_link_checks(&[(u.clone(), failed(410))], now + Duration::days(1)).unwrap();
            let r = store.link_record(&u).unwrap().unwrap();
            assert_eq!((r.failures, r.first_failure_at), (1, Some(now + Duration::days(1))));
        });
    }

    #[test]
    fn due_and_prune() {
        crate::store::testing::each_backend("links", |store| {
            let urls: Vec<String> = (0..4).map(|i| format!("http://a.gov.cn/{i}")).collect();
            store.record_link_checks(&[(urls[1].clone(), Outcome::Alive { status: 200 })], t0()).unwrap();
            store.record_link_checks(&[(urls[2].clone(), failed(404))], t0() - Duration::days(1)).unwrap();
            store
                .record_link_checks(&[(urls[3].clone(), Outcome::Alive { status: 200 })], t0() + Duration::days(1))
                .unwrap();
            let mut cands = urls.clone();
            cands.push(urls[0].clone());
            let due = store.links_due(&cands, t0() + Duration::hours(1)).unwrap();
            assert_eq!(due, vec![urls[0].clone(), urls[2].clone(), urls[1].clone()]);
            assert_eq!(store.link_records().unwrap().len(), 3);
            let keep: HashSet<String> = [urls[1].clone()].into();
            assert_eq!(store.prune_links(&keep).unwrap(), 2);
            assert_eq!(store.link_records().unwrap().keys().cloned().collect::<Vec<_>>(), vec![urls[1].clone()]);
        });
    }
}
