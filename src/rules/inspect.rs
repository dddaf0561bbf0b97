//! Website inspection (政府网站检查): stale and empty columns, dead links,
//! personal data in published items, unhealthy sources. Pure: the IO layer
//! (`findings.rs`) reads each source's health and newest items, the link
//! checker's verdicts and the personal-data scan, and passes them here with
//! `now`.
//!
//! The checklist (国办秘函〔2019〕19号) counts a news or 动态 column, and a
//! homepage, stale after two weeks without a new item and a notices or policy
//! column after six months; items without a date count as not updated. A
//! source that cannot be fetched explains its columns' silence and its pages'
//! dead links: while it fails, those findings are held back (inhibition) and
//! only the cause, `source_unhealthy`, is reported.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, Months};

use super::{Finding, Rule, State, end_of_day, fingerprint, local_date, start_of_day, working_days_late};
use crate::calendar::Calendar;
use crate::config::{ColumnCategory, InspectionConfig, SourceConfig};
use crate::model::{ItemId, SourceKind};

/// The id findings about a whole source (not one of its items) are filed under.
pub fn source_subject_id(source: &str) -> ItemId {
    crate::model::item_id(source, "govwatch:source")
}

/// A source's last polls, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub last_success_at: Option<DateTime<FixedOffset>>,
    /// `ok`, `not_modified` or `error`.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<FixedOffset>>,
    pub consecutive_failures: u32,
    /// Items the last successful poll parsed.
    pub items_seen: Option<u64>,
}

impl Health {
    /// The last poll failed: the source cannot be read now.
    pub fn unreachable(&self) -> bool {
        self.consecutive_failures > 0 && self.last_status.as_deref() == Some("error")
    }
}

/// What the store holds of a source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub items: u64,
    /// Items without a published date.
    pub undated: u64,
    /// The newest published item: when, and its title.
    pub newest: Option<(DateTime<FixedOffset>, String)>,
    /// When the store first saw its most recent new item.
    pub last_new_at: Option<DateTime<FixedOffset>>,
}

/// One configured source with its health and what the store has of it.
#[derive(Debug, Clone)]
pub struct SourceView<'a> {
    pub cfg: &'a SourceConfig,
    pub health: Health,
    pub stats: Stats,
}

/// A link the checker found dead (`store::links` decides after N failures over M days).
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLink {
    /// The last failure, for people: `404 Not Found`, `超时 15 s` …
    pub reason: String,
    /// First failure since the last success.
    pub since: DateTime<FixedOffset>,
    pub failures: u32,
}

/// A portal page and the links it carries (its own link and those in its body).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub item_id: ItemId,
    pub source: String,
    pub unit: String,
    pub links: Vec<String>,
}

/// A published portal item in which the scan found personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub item_id: ItemId,
    pub source: String,
    pub unit: String,
    /// When the store first saw the item with it.
    pub found_at: DateTime<FixedOffset>,
    /// Masked, e.g. `身份证号 110105********002X`.
    pub summary: String,
}

/// Everything the inspection rules read.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    pub sources: Vec<SourceView<'a>>,
    pub pages: Vec<Page>,
    pub dead: HashMap<String, DeadLink>,
    pub exposures: Vec<Exposure>,
}

/// The findings, and those held back because their source cannot be read now.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    pub findings: Vec<Finding>,
    /// Fingerprints of stale-column and dead-link findings of unreachable
    /// sources: not reported, not resolved either.
    pub held: Vec<String>,
}

/// The limit a column's newest item must be within, from its newest item's date.
fn limit(
    cfg: &SourceConfig,
    s: &InspectionConfig,
    newest: DateTime<FixedOffset>,
) -> Option<(DateTime<FixedOffset>, String)> {
    let category = cfg.column_category()?;
    let day = local_date(newest);
    if let Some(days) = cfg.stale_after_days {
        return Some((end_of_day(day + Duration::days(days as i64)), format!("本栏目 {days} 天")));
    }
    Some(match category {
        ColumnCategory::Notices => (
            end_of_day(day.checked_add_months(Months::new(s.notices_months)).unwrap_or(day)),
            format!("{} {} 个月", category.zh(), s.notices_months),
        ),
        _ => (end_of_day(day + Duration::days(s.news_days as i64)), format!("{} {} 天", category.zh(), s.news_days)),
    })
}

#[allow(clippy::too_many_arguments)]
fn finding(
    rule: Rule,
    item: ItemId,
    unit: &str,
    state: State,
    deadline: DateTime<FixedOffset>,
    days: i64,
    basis: String,
    about: Option<&SourceConfig>,
) -> Finding {
    Finding {
        fingerprint: fingerprint(rule, item, unit),
        rule,
        state,
        item_id: item,
        unit: unit.to_string(),
        deadline,
        overdue_working_days: days,
        late: None,
        resolved_at: None,
        reply_working_days: None,
        basis,
        subject: about.map(|c| {
            let what = if c.role == crate::model::Role::Portal { "栏目" } else { "来源" };
            format!("{what}「{}」", c.display_name())
        }),
        link: about.filter(|c| c.is_http()).map(|c| c.url.clone()),
    }
}

/// Stale and empty columns.
fn columns(v: &SourceView<'_>, s: &InspectionConfig, cal: &Calendar, now: DateTime<FixedOffset>) -> Option<Finding> {
    let c = v.cfg;
    let category = c.column_category()?;
    // Nothing was ever read: the source's health says why, not its columns.
    v.health.last_success_at?;
    let id = source_subject_id(&c.id);
    let Some((newest, title)) = &v.stats.newest else {
        let (rule, basis) = if v.stats.items == 0 {
            (Rule::ColumnEmpty, format!("{}栏目「{}」没有任何条目", category.zh(), c.display_name()))
        } else {
            (
                Rule::ColumnStale,
                format!("栏目「{}」的 {} 条条目均无发布日期，按未更新计", c.display_name(), v.stats.undated),
            )
        };
        return Some(finding(rule, id, &c.unit, State::Overdue, now, 0, basis, Some(c)));
    };
    let (deadline, rule_text) = limit(c, s, *newest)?;
    let warn_from = start_of_day(local_date(deadline) - Duration::days(s.warn_days as i64));
    let state = if now > deadline {
        State::Overdue
    } else if now >= warn_from {
        State::DueSoon
    } else {
        return None;
    };
    let basis = format!(
        "最新条目发布于 {}（「{title}」），{rule_text}内应有更新",
        newest.with_timezone(&crate::normalize::time::china()).format("%Y-%m-%d")
    );
    Some(finding(
        Rule::ColumnStale,
        id,
        &c.unit,
        state,
        deadline,
        working_days_late(cal, deadline, now),
        basis,
        Some(c),
    ))
}

/// Unhealthy sources, for the administrator.
fn health(v: &SourceView<'_>, s: &InspectionConfig, cal: &Calendar, now: DateTime<FixedOffset>) -> Option<Finding> {
    let c = v.cfg;
    let h = &v.health;
    let unit = s.admin_unit.as_deref().unwrap_or(&c.unit);
    let id = source_subject_id(&c.id);
    let make = |deadline: DateTime<FixedOffset>, basis: String| {
        finding(
            Rule::SourceUnhealthy,
            id,
            unit,
            State::Overdue,
            deadline,
            working_days_late(cal, deadline, now),
            basis,
            Some(c),
        )
    };
    let error = h.last_error.as_deref().unwrap_or("未知错误");
    if h.unreachable() {
        let at = h.last_error_at.unwrap_or(now);
        // A selector that stopped matching is a changed page, not a blip.
        // (The English words are what versions before 2026-12 stored.)
        if error.contains(crate::sources::page::NOTHING_MATCHED) || error.contains("matched nothing") {
            return Some(make(at, format!("页面选择器不再匹配（页面改版？）：{error}")));
        }
        if s.unhealthy_after_failures > 0 && h.consecutive_failures >= s.unhealthy_after_failures {
            return Some(make(at, format!("连续 {} 次抓取失败：{error}", h.consecutive_failures)));
        }
        return None;
    }
    if c.kind == SourceKind::Feed && h.items_seen == Some(0) && h.last_status.as_deref() == Some("ok") {
        return Some(make(h.last_success_at.unwrap_or(now), "订阅源最近一次抓取返回 0 条".to_string()));
    }
    if let Some(days) = c.expected_interval_days {
        // From the last new item, or (nothing ever) from the first poll that worked.
        let since = v.stats.last_new_at.or(h.last_success_at)?;
        let due = since + Duration::days(days as i64);
        if now > due {
            let quiet = (now - since).num_days();
            return Some(make(due, format!("已 {quiet} 天没有新条目（预期至少每 {days} 天一条）")));
        }
    }
    None
}

/// Pages carrying dead links: one finding per page, naming its dead links.
fn dead_links(
    pages: &[Page],
    dead: &HashMap<String, DeadLink>,
    cal: &Calendar,
    now: DateTime<FixedOffset>,
) -> Vec<(String, Finding)> {
    const LISTED: usize = 5;
    let mut out = Vec::new();
    for p in pages {
        let mut found: Vec<(&str, &DeadLink)> =
            p.links.iter().filter_map(|l| dead.get(l).map(|d| (l.as_str(), d))).collect();
        if found.is_empty() {
            continue;
        }
        found.sort_by(|a, b| a.1.since.cmp(&b.1.since).then(a.0.cmp(b.0)));
        found.dedup_by(|a, b| a.0 == b.0);
        let since = found[0].1.since;
        let mut basis = format!("死链 {} 个：", found.len());
        let listed: Vec<String> = found
            .iter()
            .take(LISTED)
            .map(|(url, d)| {
                format!(
                    "{url}（{}，自 {} 起失败 {} 次）",
                    d.reason,
                    d.since.with_timezone(&crate::normalize::time::china()).format("%Y-%m-%d"),
                    d.failures
                )
            })
            .collect();
        basis.push_str(&listed.join("；"));
        if found.len() > LISTED {
            basis.push_str(&format!("；等 {} 个", found.len()));
        }
        let f = finding(
            Rule::DeadLink,
            p.item_id,
            &p.unit,
            State::Overdue,
            since,
            working_days_late(cal, since, now),
            basis,
            None,
        );
        out.push((p.source.clone(), f));
    }
    out
}

/// Runs every inspection rule at `now`.
pub fn evaluate(input: &Input<'_>, s: &InspectionConfig, cal: &Calendar, now: DateTime<FixedOffset>) -> Inspection {
    let mut out = Inspection::default();
    if !s.enabled {
        return out;
    }
    let unreachable: HashMap<&str, bool> =
        input.sources.iter().map(|v| (v.cfg.id.as_str(), v.health.unreachable())).collect();
    let held = |source: &str| unreachable.get(source).copied().unwrap_or(false);
    for v in input.sources.iter().filter(|v| v.cfg.enabled) {
        if let Some(f) = columns(v, s, cal, now) {
            if held(&v.cfg.id) {
                out.held.push(f.fingerprint);
            } else {
                out.findings.push(f);
            }
        }
        out.findings.extend(health(v, s, cal, now));
    }
    for (source, f) in dead_links(&input.pages, &input.dead, cal, now) {
        if held(&source) {
            out.held.push(f.fingerprint);
        } else {
            out.findings.push(f);
        }
    }
    if s.personal_data {
        // A replay of a moment before the scan found it (`findings --now`)
        // must not show it: the finding did not exist then.
        for e in input.exposures.iter().filter(|e| e.found_at <= now) {
            let days = working_days_late(cal, e.found_at, now);
            out.findings.push(finding(
                Rule::PersonalData,
                e.item_id,
                &e.unit,
                State::Overdue,
                e.found_at,
                days,
                format!("公开内容含个人信息：{}", e.summary),
                None,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::time::china;
    use chrono::TimeZone;

    fn t(s: &str) -> DateTime<FixedOffset> {
        china().from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    fn source(id: &str, name: &str, category: Option<ColumnCategory>) -> SourceConfig {
        let mut s: SourceConfig = serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "kind": "page", "url": format!("http://www.example.gov.cn/{id}/"),
            "unit": "bangongshi", "role": "portal", "level": "county",
        }))
        .unwrap();
        s.category = category;
        s
    }

    fn healthy() -> Health {
        Health {
            last_success_at: Some(t("2026-11-30 08:00")),
            last_status: Some("ok".into()),
            items_seen: Some(20),
            ..Health::default()
        }
    }

    fn view<'a>(cfg: &'a SourceConfig, health: Health, newest: Option<&str>) -> SourceView<'a> {
        SourceView {
            cfg,
            health,
            stats: Stats {
                items: if newest.is_some() { 20 } else { 0 },
                undated: 0,
                newest: newest.map(|n| (t(n), "一条新闻".to_string())),
                last_new_at: newest.map(t),
            },
        }
    }

    fn run(views: Vec<SourceView<'_>>, now: &str) -> Inspection {
        let input = Input { sources: views, ..Input::default() };
        evaluate(&input, &InspectionConfig::default(), &Calendar::official(), t(now))
    }

    #[test]
    fn news_fifteen_days_old_is_stale_notices_are_not() {
        let news = source("dongtai", "工作动态", None);
        let notices = source("tzgg", "通知公告", None);
        let r = run(
            vec![view(&news, healthy(), Some("2026-11-15 10:00")), view(&notices, healthy(), Some("2026-11-15 10:00"))],
            "2026-11-30 09:00",
        );
        assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
        let f = &r.findings[0];
        assert_eq!((f.rule, f.state), (Rule::ColumnStale, State::Overdue));
        assert_eq!(f.subject.as_deref(), Some("栏目「工作动态」"));
        assert_eq!(f.deadline, end_of_day(chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()));
        // Fourteen days: due soon, not stale.
        let r = run(vec![view(&news, healthy(), Some("2026-11-16 10:00"))], "2026-11-30 09:00");
        assert_eq!(r.findings[0].state, State::DueSoon);
        // Notices: stale after six months.
        let r = run(vec![view(&notices, healthy(), Some("2026-05-29 10:00"))], "2026-11-30 09:00");
        assert_eq!(r.findings[0].rule, Rule::ColumnStale);
        assert_eq!(r.findings[0].state, State::Overdue);
    }

    /// Issue 16 item 9: `findings --now` before the scan found a number
    /// showed it overdue; a replay must not invent the past.
    #[test]
    fn personal_data_exists_from_when_it_was_found() {
        let input = Input {
            exposures: vec![Exposure {
                item_id: ItemId(7),
                source: "dongtai".into(),
                unit: "bangongshi".into(),
                found_at: t("2026-11-20 10:00"),
                summary: "身份证号 110105********002X".into(),
            }],
            ..Input::default()
        };
        let at = |now: &str| evaluate(&input, &InspectionConfig::default(), &Calendar::official(), t(now)).findings;
        assert!(at("2026-11-20 09:59").is_empty(), "before it was found");
        let found = at("2026-11-20 10:00");
        assert_eq!((found.len(), found[0].rule, found[0].state), (1, Rule::PersonalData, State::Overdue));
        assert_eq!(at("2026-11-24 09:00")[0].overdue_working_days, 2);
    }

    #[test]
    fn empty_and_undated_columns() {
        let news = source("dongtai", "工作动态", None);
        let r = run(vec![view(&news, healthy(), None)], "2026-11-30 09:00");
        assert_eq!(r.findings[0].rule, Rule::ColumnEmpty);
        let mut v = view(&news, healthy(), None);
        v.stats.items = 5;
        v.stats.undated = 5;
        let r = run(vec![v], "2026-11-30 09:00");
        assert_eq!(r.findings[0].rule, Rule::ColumnStale);
        assert!(r.findings[0].basis.contains("均无发布日期"));
        // A column whose category says not to check it, or that no name gives away.
        let none = source("x", "工作动态", Some(ColumnCategory::None));
        let other = source("y", "机构职能", None);
        assert!(
            run(vec![view(&none, healthy(), None), view(&other, healthy(), None)], "2026-11-30 09:00")
                .findings
                .is_empty()
        );
    }

    #[test]
    fn an_unreachable_source_reports_the_cause_not_its_echoes() {
        let news = source("dongtai", "工作动态", None);
        let failing = Health {
            last_success_at: Some(t("2026-11-01 08:00")),
            last_status: Some("error".into()),
            last_error: Some("connection refused".into()),
            last_error_at: Some(t("2026-11-30 08:00")),
            consecutive_failures: 4,
            items_seen: Some(20),
        };
        let mut input =
            Input { sources: vec![view(&news, failing.clone(), Some("2026-11-01 10:00"))], ..Input::default() };
        let page = ItemId(42);
        input.pages.push(Page {
            item_id: page,
            source: "dongtai".into(),
            unit: "bangongshi".into(),
            links: vec!["http://a/x.pdf".into()],
        });
        input.dead.insert(
            "http://a/x.pdf".into(),
            DeadLink { reason: "404 Not Found".into(), since: t("2026-11-20 02:30"), failures: 3 },
        );
        let cal = Calendar::official();
        let r = evaluate(&input, &InspectionConfig::default(), &cal, t("2026-11-30 09:00"));
        assert_eq!(r.findings.iter().map(|f| f.rule).collect::<Vec<_>>(), vec![Rule::SourceUnhealthy]);
        assert!(r.findings[0].basis.contains("连续 4 次"));
        assert_eq!(r.held.len(), 2);
        // Once it answers again, the echoes are reported and the cause is gone.
        input.sources[0].health = healthy();
        let r = evaluate(&input, &InspectionConfig::default(), &cal, t("2026-11-30 09:00"));
        let mut rules: Vec<Rule> = r.findings.iter().map(|f| f.rule).collect();
        rules.sort();
        assert_eq!(rules, vec![Rule::ColumnStale, Rule::DeadLink]);
        assert!(r.held.is_empty());
        let dead = r.findings.iter().find(|f| f.rule == Rule::DeadLink).unwrap();
        assert_eq!(dead.item_id, page);
        assert!(dead.basis.contains("http://a/x.pdf（404 Not Found"), "{}", dead.basis);
    }

    #[test]
    fn unhealthy_sources() {
        let news = source("dongtai", "工作动态", Some(ColumnCategory::None));
        let mut h = healthy();
        h.last_status = Some("error".into());
        h.consecutive_failures = 1;
        h.last_error = Some("timeout".into());
        // One failure is a blip …
        assert!(run(vec![view(&news, h.clone(), Some("2026-11-29 10:00"))], "2026-11-30 09:00").findings.is_empty());
        // … a selector that stopped matching is not.
        h.last_error = Some("selector \"ul li\" (item) matched nothing on http://x/".into());
        let r = run(vec![view(&news, h, Some("2026-11-29 10:00"))], "2026-11-30 09:00");
        assert!(r.findings[0].basis.contains("选择器"));
        // Nothing new for longer than expected.
        let mut quiet = source("q", "工作动态", Some(ColumnCategory::None));
        quiet.expected_interval_days = Some(7);
        let r = run(vec![view(&quiet, healthy(), Some("2026-11-20 10:00"))], "2026-11-30 09:00");
        assert_eq!(r.findings[0].rule, Rule::SourceUnhealthy);
        assert!(run(vec![view(&quiet, healthy(), Some("2026-11-25 10:00"))], "2026-11-30 09:00").findings.is_empty());
    }
}
