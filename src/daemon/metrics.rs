//! What `/metrics` says, in the Prometheus text format (0.0.4).
//!
//! Counters that only the running process knows (polls by outcome) live in
//! [`Counters`]; everything else is read from the store when scraped, so a
//! restart never resets a gauge. [`render`] is pure: a [`Snapshot`] in, text
//! out.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::poll::PollStatus;
use crate::store::SourceHealth;

/// Polls of one source since the process started.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct PollCounts {
    pub ok: u64,
    pub not_modified: u64,
    pub error: u64,
}

/// The process's own counters.
#[derive(Debug, Default)]
pub struct Counters {
    polls: Mutex<BTreeMap<String, PollCounts>>,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
}

impl Counters {
    pub fn poll(&self, source: &str, status: PollStatus) {
        let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        let c = polls.entry(source.to_string()).or_default();
        match status {
            PollStatus::Ok => c.ok += 1,
            PollStatus::NotModified => c.not_modified += 1,
            PollStatus::Error => c.error += 1,
            PollStatus::Skipped => {}
        }
    }

    pub fn polls(&self) -> BTreeMap<String, PollCounts> {
        self.polls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reloads(&self) -> (u64, u64) {
        (self.reloads_ok.load(Ordering::Relaxed), self.reloads_failed.load(Ordering::Relaxed))
    }
}

/// Everything one scrape reports.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: String,
    pub started_unix: i64,
    pub polls: BTreeMap<String, PollCounts>,
    /// Configured sources (so that a source never polled still shows).
    pub sources: Vec<String>,
    pub health: Vec<SourceHealth>,
    pub items_by_source: BTreeMap<String, u64>,
    /// (rule, state, count).
    pub findings: Vec<(String, String, i64)>,
    /// (queued, sent, failed).
    pub emails: (i64, i64, i64),
    pub last_round_unix: Option<i64>,
    pub index_bytes: u64,
    pub index_docs: u64,
    /// Store revisions not yet in the index.
    pub index_lag: i64,
    pub reloads: (u64, u64),
    /// Console password checks: (done, most at once, allowed at once).
    pub login_checks: (u64, usize, usize),
}

/// Renders the Prometheus text exposition format.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    family(
        "govwatch_build_info",
        "gauge",
        "The running version.",
        vec![(labels(&[("version", &s.version)]), "1".into())],
    );
    family(
        "govwatch_start_time_seconds",
        "gauge",
        "When the daemon started (Unix time).",
        vec![(String::new(), s.started_unix.to_string())],
    );
    let mut polls = Vec::new();
    let mut errors = Vec::new();
    for src in &s.sources {
        let c = s.polls.get(src).copied().unwrap_or_default();
        for (status, n) in [("ok", c.ok), ("not_modified", c.not_modified), ("error", c.error)] {
            polls.push((labels(&[("source", src), ("status", status)]), n.to_string()));
        }
        errors.push((labels(&[("source", src)]), c.error.to_string()));
    }
    family("govwatch_polls_total", "counter", "Polls since the daemon started, by source and outcome.", polls);
    family(
        "govwatch_fetch_errors_total",
        "counter",
        "Polls that failed (fetch or parse) since the daemon started, by source.",
        errors,
    );
    let mut last_success = Vec::new();
    let mut failures = Vec::new();
    for h in &s.health {
        if let Some(t) = h.last_success_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
            last_success.push((labels(&[("source", &h.id)]), t.timestamp().to_string()));
        }
        failures.push((labels(&[("source", &h.id)]), h.consecutive_failures.to_string()));
    }
    family(
        "govwatch_source_last_success_timestamp_seconds",
        "gauge",
        "The last successful poll of each source (Unix time).",
        last_success,
    );
    family(
        "govwatch_source_consecutive_failures",
        "gauge",
        "Failed polls in a row, by source (0 when healthy).",
        failures,
    );
    family(
        "govwatch_items",
        "gauge",
        "Items in the store, by source.",
        s.items_by_source.iter().map(|(src, n)| (labels(&[("source", src)]), n.to_string())).collect(),
    );
    family(
        "govwatch_findings",
        "gauge",
        "Findings as last evaluated, by rule and state (due_soon, overdue, resolved).",
        s.findings
            .iter()
            .map(|(rule, state, n)| (labels(&[("rule", rule), ("state", state)]), n.to_string()))
            .collect(),
    );
    let (queued, sent, failed) = s.emails;
    family(
        "govwatch_emails",
        "gauge",
        "Emails in the outbox, by state.",
        [("queued", queued), ("sent", sent), ("failed", failed)]
            .into_iter()
            .map(|(state, n)| (labels(&[("state", state)]), n.to_string()))
            .collect(),
    );
    family(
        "govwatch_last_alert_round_timestamp_seconds",
        "gauge",
        "When the last scheduled alert round was queued (Unix time; absent before the first).",
        s.last_round_unix.map(|t| (String::new(), t.to_string())).into_iter().collect(),
    );
    family(
        "govwatch_index_size_bytes",
        "gauge",
        "Size of the search index on disk.",
        vec![(String::new(), s.index_bytes.to_string())],
    );
    family(
        "govwatch_index_documents",
        "gauge",
        "Documents in the search index.",
        vec![(String::new(), s.index_docs.to_string())],
    );
    family(
        "govwatch_index_lag_revisions",
        "gauge",
        "Store revisions not yet in the search index (0 when caught up).",
        vec![(String::new(), s.index_lag.to_string())],
    );
    family(
        "govwatch_config_reloads_total",
        "counter",
        "SIGHUP reloads since the daemon started, by outcome.",
        vec![
            (labels(&[("result", "ok")]), s.reloads.0.to_string()),
            (labels(&[("result", "failed")]), s.reloads.1.to_string()),
        ],
    );
    family(
        "govwatch_login_checks_total",
        "counter",
        "Console password checks (argon2) since the daemon started.",
        vec![(String::new(), s.login_checks.0.to_string())],
    );
    family(
        "govwatch_login_checks_peak",
        "gauge",
        "The most console password checks that have run at once.",
        vec![(String::new(), s.login_checks.1.to_string())],
    );
    family(
        "govwatch_login_checks_limit",
        "gauge",
        "Console password checks allowed at once (one per core); more wait.",
        vec![(String::new(), s.login_checks.2.to_string())],
    );
    out
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"");
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let counters = Counters::default();
        counters.poll("gov-feed", PollStatus::Ok);
        counters.poll("gov-feed", PollStatus::Error);
        counters.poll("gov-feed", PollStatus::Skipped);
        let s = Snapshot {
            version: "0.1.0".into(),
            started_unix: 1_800_000_000,
            polls: counters.polls(),
            sources: vec!["gov-feed".into(), "odd\"id".into()],
            health: vec![SourceHealth {
                id: "gov-feed".into(),
                last_success_at: Some("2026-11-30T09:00:00+08:00".into()),
                consecutive_failures: 1,
                ..Default::default()
            }],
            items_by_source: [("gov-feed".to_string(), 12)].into(),
            findings: vec![("hotline".into(), "overdue".into(), 3)],
            emails: (2, 5, 1),
            last_round_unix: None,
            index_bytes: 4096,
            index_docs: 12,
            index_lag: 0,
            reloads: (1, 0),
            login_checks: (7, 2, 2),
        };
        let text = render(&s);
        for line in [
            "govwatch_polls_total{source=\"gov-feed\",status=\"ok\"} 1",
            "govwatch_polls_total{source=\"gov-feed\",status=\"error\"} 1",
            "govwatch_polls_total{source=\"odd\\\"id\",status=\"ok\"} 0",
            "govwatch_fetch_errors_total{source=\"gov-feed\"} 1",
            "govwatch_source_last_success_timestamp_seconds{source=\"gov-feed\"} 1796000400",
            "govwatch_items{source=\"gov-feed\"} 12",
            "govwatch_findings{rule=\"hotline\",state=\"overdue\"} 3",
            "govwatch_emails{state=\"failed\"} 1",
            "govwatch_index_size_bytes 4096",
            "govwatch_login_checks_total 7",
            "govwatch_login_checks_peak 2",
            "govwatch_login_checks_limit 2",
            "# TYPE govwatch_polls_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // A family with no samples still declares itself; no sample line for it.
        assert!(text.contains("# TYPE govwatch_last_alert_round_timestamp_seconds gauge"));
        assert!(!text.lines().any(|l| l.starts_with("govwatch_last_alert_round_timestamp_seconds ")));
    }
}
