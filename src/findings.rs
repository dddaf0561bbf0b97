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
    let mut findings = deadlines::evaluate_tracked(&rows, &tracking(cfg, store)?, &cfg.rules, cal, now);
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

/// How each export source's rows are held to deadlines: its settings and
/// its first import.
pub fn tracking(cfg: &Config, store: &Store) -> Result<deadlines::Tracking> {
    let first = store.first_imports()?;
    Ok(deadlines::Tracking {
        sources: cfg
            .sources
            .iter()
            .filter(|s| s.kind == crate::model::SourceKind::Export)
            .map(|s| {
                let t = deadlines::SourceTracking {
                    intake_only: s.intake_only,
                    first_import: first.get(&s.id).copied(),
                    history_days: s.history_days(),
                };
                (s.id.clone(), t)
            })
            .collect(),
    })
}

/// What each export source's rows are at `now`: intake only, history (for
/// `sources`, `status`, the console).
pub fn intake(cfg: &Config, store: &Store, now: DateTime<FixedOffset>) -> Result<HashMap<String, deadlines::Intake>> {
    let tracking = tracking(cfg, store)?;
    let mut out = HashMap::new();
    for (id, t) in &tracking.sources {
        let c = store.case_counts(id, t.history_before())?;
        out.insert(id.clone(), deadlines::Intake::of(t, c.rows, c.answer_unknown, c.old, c.old_answer_known, now));
    }
    Ok(out)
}

/// Every (superior item, obligated website) at `now`: superior items
/// published in the last `rules.repost.window_days` (first seen, for those
/// without a date) in their sources' scope, against the websites' items
/// since then. A portal item counts for the website (`site`) of its source.
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
    let mut portal = store.repost_docs("portal", since - Duration::days(1))?;
    // Items of a source no longer configured keep their unit as their site.
    let site_of: HashMap<&str, &str> = cfg
        .sources
        .iter()
        .filter(|s| s.role == crate::model::Role::Portal)
        .map(|s| (s.id.as_str(), s.site_id()))
        .collect();
    for d in &mut portal {
        if let Some(site) = site_of.get(d.source.as_str()) {
            d.site = site.to_string();
        }
    }
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
        store.scan_pii(&crate::rules::pii::AllowList::new(s.personal_data_allow.iter().map(String::as_str)))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Round;
    use crate::model::{ItemKind, ParsedItem, Precision, Published};
    use crate::normalize::time::china;
    use crate::normalize::{SourceInfo, to_item};
    use crate::rules::{Rule, fingerprint};
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<FixedOffset> {
        china().from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    /// A store of the per-column model (issue 16): a policy owed by two
    /// columns of one unit, both findings mailed as overdue. At the upgrade
    /// they are retired for the one per-website finding — and no email
    /// reports them resolved, since nothing was reposted.
    #[test]
    fn per_column_repost_findings_retire_at_upgrade_without_resolved_emails() {
        let cfg = crate::config::from_toml_str(
            r#"
            [[units]]
            id = "bangongshi"
            name = "区政府办公室"
            emails = ["gk@xian.example.gov.cn"]
            [[sources]]
            id = "sheng"
            kind = "feed"
            url = "https://www.sheng.example.gov.cn/zxwj.xml"
            unit = "bangongshi"
            role = "superior"
            level = "province"
            [[sources]]
            id = "zcwj"
            kind = "feed"
            url = "https://www.xian.example.gov.cn/zcwj.xml"
            unit = "bangongshi"
            role = "portal"
            level = "county"
            [[sources]]
            id = "tzgg"
            kind = "feed"
            url = "https://www.xian.example.gov.cn/tzgg.xml"
            unit = "bangongshi"
            role = "portal"
            level = "county"
            "#,
        )
        .unwrap()
        .config;
        let sheng = cfg.source("sheng").unwrap();
        let info =
            SourceInfo { id: &sheng.id, unit: &sheng.unit, kind: ItemKind::Feed, role: sheng.role, level: sheng.level };
        let policy = to_item(
            info,
            ParsedItem {
                title: "示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知".into(),
                link: Some("https://www.sheng.example.gov.cn/zxwj/1.html".into()),
                published: Some(Published {
                    at: at("2026-04-13 10:00"),
                    precision: Precision::Time,
                    zone_assumed: true,
                }),
                ..Default::default()
            },
            at("2026-04-13 11:00"),
        );
        let old: Vec<String> = ["zcwj", "tzgg"].iter().map(|c| fingerprint(Rule::Repost, policy.id, c)).collect();
        let store = crate::store::upgraded_from_before(crate::store::RETIRE_PER_COLUMN_REPOSTS, |conn| {
            for (fp, column) in old.iter().zip(["zcwj", "tzgg"]) {
                conn.execute(
                    "INSERT INTO findings (fingerprint, rule, item_id, unit, state, deadline, overdue_working_days, \
                     basis, first_seen_at, state_changed_at, evaluated_at) VALUES (?1, 'repost', ?2, 'bangongshi', \
                     'overdue', '2026-04-14T23:59:59+08:00', 1, ?3, '2026-04-15T09:00:00+08:00', \
                     '2026-04-15T09:00:00+08:00', '2026-04-15T09:00:00+08:00')",
                    rusqlite::params![fp, policy.id.as_i64(), format!("{column} 应转载（自发布起算）")],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO mail_state (fingerprint, open_day, open_state, open_level) \
                     VALUES (?1, '2026-04-16', 'overdue', 0)",
                    [fp],
                )
                .unwrap();
            }
        })
        .unwrap();
        store.upsert_items(std::slice::from_ref(&policy)).unwrap();
        let cal = Calendar::official();
        let now = at("2026-04-20 09:00");
        let (findings, _) = evaluate(&cfg, &cal, &store, now, true).unwrap();
        let repost: Vec<&Finding> = findings.iter().filter(|f| f.rule == Rule::Repost).collect();
        assert_eq!(repost.len(), 1, "{repost:#?}");
        assert_eq!(repost[0].fingerprint, fingerprint(Rule::Repost, policy.id, "bangongshi"));
        let (plan, _) = crate::mailer::plan_round(&cfg, &cal, &store, &Round::scheduled(now)).unwrap();
        assert_eq!(plan.emails.len(), 1);
        let email = &plan.emails[0];
        let resolved: Vec<&crate::alerts::Entry> = email.digests.iter().flat_map(|d| d.resolved.iter()).collect();
        assert!(resolved.is_empty(), "retired findings reported as resolved: {resolved:#?}");
        assert!(email.marks.iter().all(|m| !old.contains(&m.fingerprint)), "{:#?}", email.marks);
        assert_eq!(email.open().map(|e| e.line.fingerprint.as_str()).collect::<Vec<_>>(), [&repost[0].fingerprint]);
        // What the item's console page shows of them.
        let stored = store.findings_of_item(policy.id).unwrap();
        let retired: Vec<_> = stored.iter().filter(|f| f.basis.contains("已停用")).collect();
        assert_eq!(retired.len(), 2, "{stored:#?}");
        assert!(retired.iter().all(|f| f.state == "resolved"));
    }

    /// Messages imported before exports were told apart (issue 16): a source
    /// none of whose rows says whether it was answered is intake only after
    /// the upgrade; one whose rows carry a 状态 keeps its deadlines.
    #[test]
    fn rows_imported_before_the_upgrade_from_exports_without_reply_columns_are_intake_only() {
        let cfg = crate::config::from_toml_str(
            r#"
            [[units]]
            id = "rexian"
            name = "县12345热线中心"
            [[sources]]
            id = "fujian2"
            kind = "export"
            url = "drop/a"
            unit = "rexian"
            role = "messages"
            level = "county"
            [[sources]]
            id = "gongdan"
            kind = "export"
            url = "drop/b"
            unit = "rexian"
            role = "hotline"
            level = "county"
            "#,
        )
        .unwrap()
        .config;
        let store = crate::store::upgraded_from_before(crate::store::CASES_ANSWER_UNKNOWN, |conn| {
            for (id, source, kind, status) in
                [(1, "fujian2", "message", None), (2, "gongdan", "hotline", Some("处理中"))]
            {
                conn.execute(
                    "INSERT INTO items (id, source, key, unit, kind, role, level, title, text, first_seen_at, \
                     last_changed_at, content_hash, rev, created_rev) VALUES (?1, ?2, ?1, 'rexian', ?3, 'hotline', \
                     'county', '路灯不亮', '', '2026-04-01T09:00:00+08:00', '2026-04-01T09:00:00+08:00', 'h', ?1, ?1)",
                    rusqlite::params![id, source, kind],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO cases (item_id, source, number, received_at, received_ts, received_precision, status) \
                     VALUES (?1, ?2, ?1, '2026-04-01T09:00:00+08:00', 1775005200, 'time', ?3)",
                    rusqlite::params![id, source, status],
                )
                .unwrap();
            }
        })
        .unwrap();
        let (findings, _) = evaluate(&cfg, &Calendar::official(), &store, at("2026-04-20 09:00"), false).unwrap();
        let items: Vec<i64> = findings.iter().map(|f| f.item_id.as_i64()).collect();
        assert_eq!(items, vec![2], "{findings:#?}");
        let hash: String =
            store.conn().query_row("SELECT content_hash FROM items WHERE id = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(hash, "", "the next import of the row records what its file says");
    }
}
