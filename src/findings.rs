//! Evaluating the rules over the store: read what they need, run them (pure,
//! in `rules`), and record the result with each finding's history.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, Duration, FixedOffset};

use crate::calendar::Calendar;
use crate::config::Config;
use crate::rules::opinion::{self, WatchList};
use crate::rules::repost::{self, Obligation, Scope};
use crate::rules::{Finding, State, Warn, deadlines, inspect};
use crate::store::Store;
use crate::store::findings::History;

/// How far back opinion and portal items are read: older opinion items have
/// long been answered or reported.
const OPINION_WINDOW_DAYS: i64 = 60;

/// The findings at `now`, sorted overdue first, then by deadline. With
/// `record`, the store keeps them (first seen, state changes) and open
/// findings that no longer arise are resolved; a replay of the past
/// (`--now`) should not record.
pub fn evaluate(
    cfg: &Config,
    cal: &Calendar,
    store: &Store,
    now: DateTime<FixedOffset>,
    record: bool,
) -> Result<(Vec<Finding>, HashMap<String, History>)> {
    let rows = store.case_rows()?;
    let mut findings = deadlines::evaluate(&rows, &cfg.rules, cal, now);
    let watch: Vec<WatchList> = cfg
        .units
        .iter()
        .filter(|u| !u.watch_terms.is_empty() || !u.major_terms.is_empty())
        .map(|u| WatchList::new(&u.id, &u.watch_terms, &u.major_terms))
        .collect();
    findings.extend(repost::findings(
        &reposts(cfg, cal, store, now)?,
        cal,
        Warn { working_days: cfg.rules.warn_working_days, hours: cfg.rules.warn_hours },
        now,
    ));
    if !watch.is_empty() {
        let since = now - Duration::days(OPINION_WINDOW_DAYS);
        let opinions = store.seen_items("opinion", since)?;
        let portal = store.seen_items("portal", since)?;
        let responses = store.responses()?;
        findings.extend(opinion::evaluate(&opinions, &watch, &portal, &responses, &cfg.rules, cal, now));
    }
    let rank = |s: State| match s {
        State::Overdue => 0,
        State::DueSoon => 1,
        State::Resolved => 2,
    };
    let inspection = inspect(cfg, cal, store, now)?;
    findings.extend(inspection.findings);
    findings.sort_by(|a, b| {
        rank(a.state).cmp(&rank(b.state)).then(a.deadline.cmp(&b.deadline)).then(a.fingerprint.cmp(&b.fingerprint))
    });
    let history = if record {
        store.record_findings(&findings, &inspection.held, now)?
    } else {
        store.finding_states()?.into_iter().map(|(fp, (_, h))| (fp, h)).collect()
    };
    Ok((findings, history))
}

/// Every (superior item, obligated portal) at `now`: superior items of the
/// last `rules.repost.window_days` in their sources' scope, against the
/// portals' items since then.
pub fn reposts(cfg: &Config, cal: &Calendar, store: &Store, now: DateTime<FixedOffset>) -> Result<Vec<Obligation>> {
    let duties = repost::duties(cfg);
    if duties.is_empty() {
        return Ok(Vec::new());
    }
    let since = now - Duration::days(cfg.rules.repost.window_days as i64);
    let scopes: HashMap<&str, Scope> = cfg
        .sources
        .iter()
        .filter(|s| s.role == crate::model::Role::Superior)
        .map(|s| (s.id.as_str(), Scope::of(s)))
        .collect();
    let superiors: Vec<repost::Doc> = store
        .repost_docs("superior", since)?
        .into_iter()
        .filter(|d| scopes.get(d.source.as_str()).is_some_and(|sc| sc.covers(&d.title, &d.categories)))
        .collect();
    let portal = store.repost_docs("portal", since - Duration::days(1))?;
    Ok(repost::obligations(&superiors, &portal, &duties, cal, now))
}

/// The website inspection at `now`: each enabled source's health and what
/// the store has of it, the pages carrying links the checker found dead, and
/// the items the personal-data scan flagged.
pub fn inspect(cfg: &Config, cal: &Calendar, store: &Store, now: DateTime<FixedOffset>) -> Result<inspect::Inspection> {
    let s = &cfg.inspection;
    if !s.enabled {
        return Ok(inspect::Inspection::default());
    }
    let mut health = store.inspection_health()?;
    let mut input = inspect::Input::default();
    for src in cfg.sources.iter().filter(|c| c.enabled) {
        let stats = if src.column_category().is_some() || src.expected_interval_days.is_some() {
            store.source_stats(&src.id, src.expected_interval_days.is_some())?
        } else {
            inspect::Stats::default()
        };
        let health = health.remove(&src.id).unwrap_or_default();
        input.sources.push(inspect::SourceView { cfg: src, health, stats });
    }
    if s.personal_data {
        store.scan_pii()?;
        let portals: std::collections::HashSet<&str> = cfg
            .sources
            .iter()
            .filter(|c| c.enabled && c.role == crate::model::Role::Portal)
            .map(|c| c.id.as_str())
            .collect();
        input.exposures = store.pii_exposures()?.into_iter().filter(|e| portals.contains(e.source.as_str())).collect();
    }
    input.dead = dead_links(cfg, store)?;
    let urls = input.dead.keys().cloned().collect();
    input.pages = store.pages_linking(&urls)?;
    Ok(inspect::evaluate(&input, s, cal, now))
}

/// Links the checker found dead: `dead_after_failures` failures over
/// `dead_after_days` days with no success since.
fn dead_links(cfg: &Config, store: &Store) -> Result<HashMap<String, inspect::DeadLink>> {
    let l = &cfg.inspection.links;
    if !l.enabled {
        return Ok(HashMap::new());
    }
    Ok(store
        .link_records()?
        .into_iter()
        .filter(|(_, r)| r.is_dead(l.dead_after_failures, l.dead_after_days))
        .filter_map(|(url, r)| {
            let since = r.first_failure_at?;
            let reason = match (r.last_status, r.last_error) {
                (_, Some(e)) => e,
                (Some(st), None) => format!("HTTP {st}"),
                (None, None) => "检查失败".to_string(),
            };
            Some((url, inspect::DeadLink { reason, since, failures: r.failures }))
        })
        .collect())
}
