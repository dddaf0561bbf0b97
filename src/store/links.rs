//! The link checker's memory per URL (`link_checks`).
//! (Temporary reader; the full module comes from the link-checker branch.)

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, FixedOffset};

use super::Store;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkRecord {
    pub url: String,
    pub first_failure_at: Option<DateTime<FixedOffset>>,
    pub last_failure_at: Option<DateTime<FixedOffset>>,
    pub failures: u32,
    pub last_success_at: Option<DateTime<FixedOffset>>,
    pub last_checked_at: Option<DateTime<FixedOffset>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

impl LinkRecord {
    pub fn is_dead(&self, after_failures: u32, over_days: u32) -> bool {
        match (self.first_failure_at, self.last_failure_at) {
            (Some(a), Some(b)) => self.failures >= after_failures && (b - a).num_days() >= over_days as i64,
            _ => false,
        }
    }
}

fn time(s: Option<String>) -> Option<DateTime<FixedOffset>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
}

impl Store {
    pub fn link_records(&self) -> Result<HashMap<String, LinkRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT url, first_failure_at, last_failure_at, failures, last_success_at, last_checked_at, last_status, \
             last_error FROM link_checks",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(LinkRecord {
                url: r.get(0)?,
                first_failure_at: time(r.get(1)?),
                last_failure_at: time(r.get(2)?),
                failures: r.get::<_, i64>(3)? as u32,
                last_success_at: time(r.get(4)?),
                last_checked_at: time(r.get(5)?),
                last_status: r.get::<_, Option<i64>>(6)?.map(|s| s as u16),
                last_error: r.get(7)?,
            })
        })?;
        let mut out = HashMap::new();
        for r in rows {
            let r = r?;
            out.insert(r.url.clone(), r);
        }
        Ok(out)
    }
}
