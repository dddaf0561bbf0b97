//! Superior policies that portals must repost, and whether they did. Pure.
//!
//! Every portal must repost the policies of the levels above it within a
//! short time (历阳镇 2018: 转载一般不得滞后1个工作日; some provinces 8 hours).
//! A portal item reposts a superior item when, in this order:
//! 1. **文号**: the superior's own normalized document number (the one it
//!    carries: stated, in its title or heading its text — never one it only
//!    cites, `normalize::docno::numbers`) is the portal item's own, or is
//!    cited by it — unless the
//!    portal item is an implementing document (实施意见, 实施方案 …) with a
//!    number of its own, which is not a repost of its parent;
//! 2. **title**: the normalized titles agree once wrappers are stripped
//!    (`转发…的通知`, `关于印发《…》的通知`, an appended 文号, brackets,
//!    punctuation, blanks, traditional characters);
//! 3. **link**: the portal item is, or cites, the superior item's URL.
//!
//! Matching looks portal items up in hash maps by 文号, title key and link,
//! so it stays linear as the data grows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset};
use serde::Serialize;

use super::{Finding, Rule, State, Warn, end_of_day, fingerprint, local_date, state_at, working_days_late};
use regex::Regex;

use crate::calendar::Calendar;
use crate::config::{Config, SourceConfig};
use crate::model::{ItemId, Level, Role};
pub use crate::normalize::title::AltKey;
pub use crate::normalize::title::{is_implementing, title_key};

/// What the matcher needs of an item.
#[derive(Debug, Clone)]
pub struct Doc {
    pub item_id: ItemId,
    pub source: String,
    pub unit: String,
    /// The website the item belongs to (portal items: its source's `site`,
    /// by default its unit). A repost in any column of a website counts.
    pub site: String,
    pub title: String,
    pub link: Option<String>,
    /// Published, else first seen, and which of the two it is.
    pub at: DateTime<FixedOffset>,
    pub at_is_first_seen: bool,
    /// The item's own 文号 (stated, in its title, or heading its text), normalized.
    pub own_doc_no: Option<String>,
    /// Every other 文号 its title and text cite, normalized.
    pub cited_doc_nos: Vec<String>,
    /// Every URL its text or page cites.
    pub cited_links: Vec<String>,
    /// Categories or columns the source gave.
    pub categories: Vec<String>,
    /// The title's key (`title_key`) and what it says.
    pub key: String,
    /// The key of the title converted by phrase (`title::phrase_key`), when
    /// it differs from `key`; else empty. Matching tries both.
    pub phrase_key: String,
    pub transmittal: bool,
    pub implementing: bool,
    /// The issuing organ its text names at its head (`title::head_organ`).
    pub head_organ: String,
    /// A superior item's other title keys ([`alternatives`]), worked out
    /// once when it is read; empty for portal items.
    pub alternatives: Vec<(AltKey, String, String)>,
}

/// A superior title's alternative keys (`title::alternative_keys`) from its
/// key and phrase key: what a portal may title its repost (without the
/// issuer, or the core name) when it also carries the 文号 or names the issuer.
pub fn alternatives(key: &str, phrase_key: &str) -> Vec<(AltKey, String, String)> {
    let mut out: Vec<(AltKey, String, String)> = Vec::new();
    for k in [key, phrase_key].into_iter().filter(|k| !k.is_empty()) {
        for a in crate::normalize::title::alternative_keys(k) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// How a repost was recognized. Names are a contract (`matched_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    DocNo,
    Title,
    Link,
}

impl MatchedBy {
    /// For officers' eyes (the glossary's word).
    pub fn zh(self) -> &'static str {
        crate::glossary::matched_by(self)
    }
}

/// Portal items looked up by 文号, title key and link.
pub struct PortalIndex<'a> {
    docs: &'a [Doc],
    days: Vec<chrono::NaiveDate>,
    by_doc_no: HashMap<&'a str, Vec<usize>>,
    by_cited: HashMap<&'a str, Vec<usize>>,
    by_title: HashMap<&'a str, Vec<usize>>,
    by_link: HashMap<&'a str, Vec<usize>>,
}

impl<'a> PortalIndex<'a> {
    pub fn new(docs: &'a [Doc]) -> Self {
        let mut by_doc_no: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_cited: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_title: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_link: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut days = Vec::with_capacity(docs.len());
        for (i, d) in docs.iter().enumerate() {
            days.push(local_date(d.at));
            if let Some(own) = &d.own_doc_no {
                by_doc_no.entry(own.as_str()).or_default().push(i);
            }
            if !d.implementing {
                for c in d.cited_doc_nos.iter().filter(|c| d.own_doc_no.as_ref() != Some(*c)) {
                    by_cited.entry(c.as_str()).or_default().push(i);
                }
            }
            for k in [&d.key, &d.phrase_key] {
                if k.chars().count() >= 6 {
                    by_title.entry(k.as_str()).or_default().push(i);
                }
            }
            for l in d.link.iter().chain(d.cited_links.iter()) {
                by_link.entry(l.as_str()).or_default().push(i);
            }
        }
        PortalIndex { docs, days, by_doc_no, by_cited, by_title, by_link }
    }

    /// The earliest item of website `site` (any of its columns) that reposts
    /// `s`, on or after the day `s` appeared, and how it was recognized.
    pub fn find(&self, s: &Doc, site: &str) -> Option<(&'a Doc, MatchedBy)> {
        let keys: Vec<&str> = [s.key.as_str(), s.phrase_key.as_str()].into_iter().filter(|k| !k.is_empty()).collect();
        let same_title = |d: &Doc| keys.iter().any(|k| d.key == *k || d.phrase_key == *k);
        // The superior's title without its issuer, and the name of what it
        // issues: a portal's title may be either (`关于印发…的通知`,
        // `2018年政务公开工作要点`), but so may another organ's document.
        let alternatives = &s.alternatives;
        let alt_title = |d: &Doc| {
            alternatives.iter().any(|(_, k, _)| d.key == *k || d.phrase_key == *k)
                && d.own_doc_no.as_ref().is_none_or(|o| Some(o) == s.own_doc_no.as_ref())
        };
        let s_day = local_date(s.at);
        let eligible = |i: &usize| {
            let d = &self.docs[*i];
            d.site == site && self.days[*i] >= s_day && d.item_id != s.item_id
        };
        let earliest = |ids: Option<&Vec<usize>>, ok: &dyn Fn(&usize) -> bool| {
            ids.and_then(|v| v.iter().filter(|i| eligible(i) && ok(i)).min_by_key(|i| self.docs[**i].at).copied())
        };
        if let Some(n) = s.own_doc_no.as_deref() {
            // A number cited in the text is a repost only when the title says
            // so (转发…) or is the superior's: news about a document cites its
            // number too.
            let says_so =
                |i: &usize| self.docs[*i].transmittal || same_title(&self.docs[*i]) || alt_title(&self.docs[*i]);
            if let Some(i) =
                earliest(self.by_doc_no.get(n), &|_| true).or_else(|| earliest(self.by_cited.get(n), &says_so))
            {
                return Some((&self.docs[i], MatchedBy::DocNo));
            }
        }
        // Same title but a different number of its own: another document
        // (a city's 工作要点 after the province's), not a repost.
        let other_number = |i: &usize| {
            let d = &self.docs[*i];
            matches!((&s.own_doc_no, &d.own_doc_no), (Some(a), Some(b)) if a != b)
                || (d.implementing && d.own_doc_no.is_some())
        };
        let by_title = keys
            .iter()
            .filter(|k| k.chars().count() >= 6)
            .filter_map(|k| earliest(self.by_title.get(*k), &|i| !other_number(i)))
            .min_by_key(|i| self.docs[*i].at);
        // The title without its issuer, when the text names the issuer at
        // its head (a mirror's organ line above `印发…的通知`).
        let by_title = by_title.or_else(|| {
            alternatives
                .iter()
                .filter(|(kind, _, _)| *kind == AltKey::Issuerless)
                .filter_map(|(_, k, issuer)| {
                    // The whole issuer, its province in front allowed
                    // (广东省清远市人民政府办公室); a bare 人民政府办公室 is
                    // any county's.
                    let named = |i: &usize| self.docs[*i].head_organ.ends_with(issuer.as_str());
                    earliest(self.by_title.get(k.as_str()), &|i| !other_number(i) && named(i))
                })
                .min_by_key(|i| self.docs[*i].at)
        });
        if let Some(i) = by_title {
            return Some((&self.docs[i], MatchedBy::Title));
        }
        let by_link = s.link.as_deref().and_then(|l| earliest(self.by_link.get(l), &|_| true));
        by_link.map(|i| (&self.docs[i], MatchedBy::Link))
    }
}

/// When a portal must have reposted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    WorkingDays(u32),
    Hours(u32),
}

impl Lag {
    pub fn deadline(self, cal: &Calendar, from: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        match self {
            Lag::WorkingDays(n) => end_of_day(cal.add_working_days(local_date(from), n)),
            Lag::Hours(h) => from + Duration::hours(h as i64),
        }
    }
}

/// One website's duty towards one superior item. JSON names are a contract
/// (`govwatch reposts --json`): one row per (superior item, website).
/// Shared strings are `Arc`s: there are (superior items × websites) of these.
#[derive(Debug, Clone, Serialize)]
pub struct Obligation {
    pub superior_item_id: ItemId,
    pub superior_title: Arc<str>,
    pub superior_source: Arc<str>,
    pub doc_no: Option<Arc<str>>,
    /// When the superior item appeared: published, or first seen when it gives no date.
    pub superior_at: DateTime<FixedOffset>,
    /// `published` or `first_seen`: what the deadline counts from.
    pub counted_from: &'static str,
    /// The website that owes the repost: its `site` id (by default the unit
    /// of its columns), never one of its columns.
    pub portal: Arc<str>,
    /// The website's name for people.
    pub portal_name: Arc<str>,
    /// The unit that answers for the website.
    pub unit: Arc<str>,
    /// `on_time`, `late`, `overdue` (missing past the deadline) or `pending`.
    pub state: &'static str,
    pub deadline: DateTime<FixedOffset>,
    pub repost_item_id: Option<ItemId>,
    pub repost_title: Option<String>,
    /// The column (portal source) that carried the repost.
    pub repost_source: Option<Arc<str>>,
    /// … and its name, for people.
    #[serde(skip)]
    pub repost_column: Option<Arc<str>>,
    pub reposted_at: Option<DateTime<FixedOffset>>,
    pub matched_by: Option<MatchedBy>,
    /// Working days late (reposted late), or overdue (missing).
    pub late_working_days: i64,
    /// How long the repost took, in hours.
    pub took_hours: Option<f64>,
}

/// A website and what it owes: which superior sources, with what lag.
///
/// A website is every enabled portal source (column) with the same `site`
/// (default: the source's unit). It owes each superior policy once, whichever
/// column carries the repost: the superior sources it owes are those its
/// columns owe (each column's `reposts_from`, or by level when unset), its
/// lag the first one a column sets.
#[derive(Debug, Clone)]
pub struct Duty {
    /// The site id (`portal` in `reposts --json`).
    pub portal: String,
    /// For people: the first `site_name` its columns give, else the name of
    /// the unit answering for it, else the id.
    pub name: String,
    /// The unit that answers for the website: the unit the site is named
    /// after, else the unit of its first column.
    pub unit: String,
    /// Its columns (portal source id, name), in configuration order.
    pub columns: Vec<(String, String)>,
    pub superiors: Vec<String>,
    pub lag: Lag,
}

/// The rank of a level: a portal owes the superiors of lower ranks.
/// Departments rank with counties.
pub fn rank(level: Level) -> u8 {
    match level {
        Level::National => 0,
        Level::Province => 1,
        Level::City => 2,
        Level::County | Level::Department => 3,
        Level::Town => 4,
    }
}

/// Every website of the configuration (enabled portal sources grouped by
/// site, in order of their first column), owing something or not.
pub fn sites(cfg: &Config) -> Vec<Duty> {
    let superiors: Vec<&SourceConfig> = cfg.sources.iter().filter(|s| s.role == Role::Superior && s.enabled).collect();
    let mut out: Vec<Duty> = Vec::new();
    let mut explicit_lag: Vec<bool> = Vec::new();
    for p in cfg.sources.iter().filter(|p| p.role == Role::Portal && p.enabled) {
        let site = p.site_id();
        let i = match out.iter().position(|d| d.portal == site) {
            Some(i) => i,
            None => {
                let unit = if cfg.unit(site).is_some() { site.to_string() } else { p.unit.clone() };
                let r = &cfg.rules.repost;
                out.push(Duty {
                    portal: site.to_string(),
                    name: String::new(),
                    unit,
                    columns: Vec::new(),
                    superiors: Vec::new(),
                    lag: match r.lag_hours {
                        Some(h) => Lag::Hours(h),
                        None => Lag::WorkingDays(r.lag_working_days),
                    },
                });
                explicit_lag.push(false);
                out.len() - 1
            }
        };
        let d = &mut out[i];
        d.columns.push((p.id.clone(), p.display_name().to_string()));
        if d.name.is_empty()
            && let Some(n) = p.site_name.as_deref().map(str::trim).filter(|n| !n.is_empty())
        {
            d.name = n.to_string();
        }
        let from: Vec<String> = match &p.reposts_from {
            Some(list) => list.clone(),
            None => superiors.iter().filter(|s| rank(s.level) < rank(p.level)).map(|s| s.id.clone()).collect(),
        };
        for f in from {
            if !d.superiors.contains(&f) {
                d.superiors.push(f);
            }
        }
        if !explicit_lag[i] {
            let own = match (p.repost_lag_hours, p.repost_lag_working_days) {
                (Some(h), _) => Some(Lag::Hours(h)),
                (None, Some(n)) => Some(Lag::WorkingDays(n)),
                (None, None) => None,
            };
            if let Some(l) = own {
                d.lag = l;
                explicit_lag[i] = true;
            }
        }
    }
    for d in &mut out {
        if d.name.is_empty() {
            d.name = cfg.unit(&d.unit).map_or_else(|| d.portal.clone(), |u| u.name.clone());
        }
    }
    out
}

/// What each website owes, from the configuration: the websites that owe
/// at least one superior source.
pub fn duties(cfg: &Config) -> Vec<Duty> {
    sites(cfg).into_iter().filter(|d| !d.superiors.is_empty()).collect()
}

/// How the configuration's websites owe reposts, one Chinese line per
/// website, for `govwatch config check`.
pub fn explain(cfg: &Config) -> Vec<String> {
    sites(cfg)
        .iter()
        .map(|d| {
            let columns: Vec<&str> = d.columns.iter().map(|(id, _)| id.as_str()).collect();
            let unit = cfg.unit(&d.unit).map_or(d.unit.as_str(), |u| u.name.as_str());
            let what = if d.columns.len() > 1 {
                format!("栏目 {} 同属一个网站，每条上级政策只须在其中任一栏目转载一次", columns.join("、"))
            } else {
                format!("栏目 {}", columns.join("、"))
            };
            let owes = if d.superiors.is_empty() {
                "不承担转载（栏目都写了 reposts_from = []，或没有更高层级的上级来源）".to_string()
            } else {
                let lag = match d.lag {
                    Lag::WorkingDays(n) => format!("{n} 个工作日"),
                    Lag::Hours(h) => format!("{h} 小时"),
                };
                format!("应转载 {} 的政策，时限 {lag}，由{unit}负责", d.superiors.join("、"))
            };
            format!("网站 {}（{}）：{what}；{owes}", d.portal, d.name)
        })
        .collect()
}

/// A superior source's scope: which of its items are policies to repost.
pub struct Scope {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
    categories: Vec<String>,
}

impl Scope {
    /// Invalid patterns are skipped here; `config check` reports them.
    pub fn of(src: &SourceConfig) -> Scope {
        let compile = |v: &[String]| v.iter().filter_map(|r| Regex::new(r).ok()).collect();
        Scope {
            include: compile(&src.repost_include),
            exclude: compile(&src.repost_exclude),
            categories: src.repost_categories.clone(),
        }
    }

    pub fn covers(&self, title: &str, categories: &[String]) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(title)))
            && !self.exclude.iter().any(|r| r.is_match(title))
            && (self.categories.is_empty() || categories.iter().any(|c| self.categories.contains(c)))
    }
}

/// Every (superior item, portal) obligation at `now`, the superior items
/// shared out over the cores.
pub fn obligations(
    superiors: &[Doc],
    portal_items: &[Doc],
    duties: &[Duty],
    cal: &Calendar,
    now: DateTime<FixedOffset>,
) -> Vec<Obligation> {
    let index = PortalIndex::new(portal_items);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || superiors.len() < 1_000 {
        return obligations_of(superiors, &index, duties, cal, now);
    }
    let chunk = superiors.len().div_ceil(threads);
    let index = &index;
    std::thread::scope(|sc| {
        let parts: Vec<_> =
            superiors.chunks(chunk).map(|c| sc.spawn(move || obligations_of(c, index, duties, cal, now))).collect();
        parts.into_iter().flat_map(|p| p.join().expect("repost matching does not panic")).collect()
    })
}

fn obligations_of(
    superiors: &[Doc],
    index: &PortalIndex<'_>,
    duties: &[Duty],
    cal: &Calendar,
    now: DateTime<FixedOffset>,
) -> Vec<Obligation> {
    struct Shared {
        portal: Arc<str>,
        name: Arc<str>,
        unit: Arc<str>,
        columns: Vec<(String, Arc<str>)>,
    }
    let sites: Vec<Shared> = duties
        .iter()
        .map(|d| Shared {
            portal: Arc::from(d.portal.as_str()),
            name: Arc::from(d.name.as_str()),
            unit: Arc::from(d.unit.as_str()),
            columns: d.columns.iter().map(|(id, n)| (id.clone(), Arc::from(n.as_str()))).collect(),
        })
        .collect();
    let mut out = Vec::new();
    for s in superiors.iter().filter(|s| s.at <= now) {
        let title: Arc<str> = Arc::from(s.title.as_str());
        let source: Arc<str> = Arc::from(s.source.as_str());
        let doc_no: Option<Arc<str>> = s.own_doc_no.as_deref().map(Arc::from);
        // Most websites share one lag: work each deadline out once.
        let mut deadlines: Vec<(Lag, DateTime<FixedOffset>)> = Vec::with_capacity(2);
        for (duty, site) in duties.iter().zip(&sites).filter(|(d, _)| d.superiors.iter().any(|x| x == &s.source)) {
            let deadline = match deadlines.iter().find(|(l, _)| *l == duty.lag) {
                Some((_, d)) => *d,
                None => {
                    let d = duty.lag.deadline(cal, s.at);
                    deadlines.push((duty.lag, d));
                    d
                }
            };
            let found = index.find(s, &duty.portal).filter(|(p, _)| p.at <= now);
            let (state, late) = match found {
                Some((p, _)) if p.at <= deadline => ("on_time", 0),
                Some((p, _)) => ("late", working_days_late(cal, deadline, p.at)),
                None if now > deadline => ("overdue", working_days_late(cal, deadline, now)),
                None => ("pending", 0),
            };
            let column = found.map(|(p, _)| {
                let name = site.columns.iter().find(|(id, _)| *id == p.source).map(|(_, n)| n.clone());
                (Arc::<str>::from(p.source.as_str()), name.unwrap_or_else(|| Arc::from(p.source.as_str())))
            });
            out.push(Obligation {
                superior_item_id: s.item_id,
                superior_title: title.clone(),
                superior_source: source.clone(),
                doc_no: doc_no.clone(),
                superior_at: s.at,
                counted_from: if s.at_is_first_seen { "first_seen" } else { "published" },
                portal: site.portal.clone(),
                portal_name: site.name.clone(),
                unit: site.unit.clone(),
                state,
                deadline,
                repost_item_id: found.map(|(p, _)| p.item_id),
                repost_title: found.map(|(p, _)| p.title.clone()),
                repost_source: column.as_ref().map(|(id, _)| id.clone()),
                repost_column: column.map(|(_, n)| n),
                reposted_at: found.map(|(p, _)| p.at),
                matched_by: found.map(|(_, m)| m),
                late_working_days: late,
                took_hours: found.map(|(p, _)| (p.at - s.at).num_minutes() as f64 / 60.0),
            });
        }
    }
    out
}

/// Obligations as findings (rule `repost`): due soon before the deadline,
/// overdue after it, resolved once reposted.
pub fn findings(obligations: &[Obligation], cal: &Calendar, warn: Warn, now: DateTime<FixedOffset>) -> Vec<Finding> {
    obligations
        .iter()
        .filter_map(|o| {
            let in_hours = o.deadline.time() != end_of_day(local_date(o.deadline)).time();
            let answered = o.reposted_at.map(Some);
            let (state, overdue, late) = state_at(cal, o.deadline, in_hours, warn, answered, now)?;
            let by = o.matched_by.map(|m| format!("，{}", m.zh())).unwrap_or_default();
            let column = o.repost_column.as_deref().map(|c| format!("，见「{c}」")).unwrap_or_default();
            Some(Finding {
                // One per (superior item, website): the site id, never a column.
                fingerprint: fingerprint(Rule::Repost, o.superior_item_id, &o.portal),
                rule: Rule::Repost,
                state,
                item_id: o.superior_item_id,
                unit: o.unit.to_string(),
                deadline: o.deadline,
                overdue_working_days: overdue,
                late,
                resolved_at: if state == State::Resolved { o.reposted_at } else { None },
                reply_working_days: o
                    .reposted_at
                    .map(|r| cal.working_days_between(local_date(o.superior_at), local_date(r))),
                basis: format!(
                    "{}应转载，{}起算{by}{column}",
                    o.portal_name,
                    if o.counted_from == "first_seen" { "自首次发现" } else { "自发布" }
                ),
                subject: None,
                link: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::docno;
    use crate::normalize::time::china;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<FixedOffset> {
        china().from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    fn doc(id: u64, source: &str, unit: &str, title: &str, text: &str, link: &str, when: &str) -> Doc {
        let own = docno::find(title).map(|d| d.norm);
        Doc {
            item_id: ItemId(id),
            source: source.into(),
            unit: unit.into(),
            site: unit.into(),
            title: title.into(),
            link: Some(link.into()).filter(|l: &String| !l.is_empty()),
            at: at(when),
            at_is_first_seen: false,
            own_doc_no: own,
            cited_doc_nos: docno::find_all(text).into_iter().map(|d| d.norm).collect(),
            cited_links: vec![],
            categories: vec![],
            key: title_key(title),
            phrase_key: crate::normalize::title::phrase_key(title),
            transmittal: title.contains("转发"),
            implementing: is_implementing(title),
            head_organ: String::new(),
            alternatives: alternatives(&title_key(title), &crate::normalize::title::phrase_key(title)),
        }
    }

    /// The website `site` (a unit's default one) owing province source `sheng`.
    fn duty(site: &str, lag: Lag) -> Duty {
        Duty {
            portal: site.into(),
            name: site.into(),
            unit: site.into(),
            columns: vec![("xian".into(), "县政府网站".into())],
            superiors: vec!["sheng".into()],
            lag,
        }
    }

    fn config(sources: &str) -> Config {
        let units = "[[units]]\nid = \"bangongshi\"\nname = \"区政府办公室\"\n\
                     [[units]]\nid = \"gongkaiban\"\nname = \"区政务公开办\"\n\
                     [[sources]]\nid = \"sheng\"\nkind = \"feed\"\nurl = \"https://s.example.gov.cn/\"\n\
                     unit = \"bangongshi\"\nrole = \"superior\"\nlevel = \"province\"\n\
                     [[sources]]\nid = \"shi\"\nkind = \"feed\"\nurl = \"https://c.example.gov.cn/\"\n\
                     unit = \"bangongshi\"\nrole = \"superior\"\nlevel = \"city\"\n";
        crate::config::from_toml_str(&format!("{units}{sources}")).unwrap().config
    }

    fn column(id: &str, unit: &str, extra: &str) -> String {
        format!(
            "[[sources]]\nid = \"{id}\"\nkind = \"feed\"\nurl = \"https://x.example.gov.cn/{id}\"\nunit = \"{unit}\"\n\
             role = \"portal\"\nlevel = \"county\"\n{extra}\n"
        )
    }

    #[test]
    fn columns_form_websites_by_site_else_by_unit() {
        let cfg = config(
            &[
                column("zcwj", "bangongshi", "reposts_from = [\"sheng\"]"),
                column("gzdt", "bangongshi", "reposts_from = []\nrepost_lag_hours = 8"),
                column("tzgg", "gongkaiban", "site = \"menhu\"\nsite_name = \"区人民政府门户网站\""),
                column("jyj", "bangongshi", "site = \"menhu\"\nreposts_from = [\"shi\"]\nrepost_lag_working_days = 2"),
            ]
            .concat(),
        );
        let sites = sites(&cfg);
        type Summary<'a> = (&'a str, &'a str, &'a str, Vec<&'a str>, Vec<&'a str>, Lag);
        let summary: Vec<Summary> = sites
            .iter()
            .map(|d| {
                (
                    d.portal.as_str(),
                    d.name.as_str(),
                    d.unit.as_str(),
                    d.columns.iter().map(|(c, _)| c.as_str()).collect(),
                    d.superiors.iter().map(String::as_str).collect(),
                    d.lag,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("bangongshi", "区政府办公室", "bangongshi", vec!["zcwj", "gzdt"], vec!["sheng"], Lag::Hours(8)),
                (
                    "menhu",
                    "区人民政府门户网站",
                    "gongkaiban",
                    vec!["tzgg", "jyj"],
                    vec!["sheng", "shi"],
                    Lag::WorkingDays(2)
                ),
            ]
        );
        let lines = explain(&cfg);
        assert_eq!(
            lines[0],
            "网站 bangongshi（区政府办公室）：栏目 zcwj、gzdt 同属一个网站，每条上级政策只须在其中任一栏目转载一次；\
             应转载 sheng 的政策，时限 8 小时，由区政府办公室负责"
        );
        // A website owing nothing says why.
        let cfg = config(&column("gzdt", "bangongshi", "reposts_from = []"));
        assert!(duties(&cfg).is_empty());
        assert!(explain(&cfg)[0].ends_with("不承担转载（栏目都写了 reposts_from = []，或没有更高层级的上级来源）"));
    }

    #[test]
    fn title_keys_strip_the_wrappers() {
        let s = title_key("國務院辦公廳關於進一步優化地方政務服務便民熱線的指導意見（國辦發〔2020〕53號）");
        assert_eq!(s, "国务院办公厅关于进一步优化地方政务服务便民热线的指导意见");
        for repost in [
            "转发国务院办公厅关于进一步优化地方政务服务便民热线的指导意见",
            "县政府办公室关于转发《国务院办公厅关于进一步优化地方政务服务便民热线的指导意见》的通知",
            "国务院办公厅关于进一步优化地方政务服务便民热线的指导意见 国办发[2020]53号",
            "国务院办公厅关于进一步优化地方政务服务便民热线的指导意见",
        ] {
            assert_eq!(title_key(repost), s, "{repost}");
        }
        let s = title_key("示范省人民政府关于印发示范省2026年政务公开工作要点的通知");
        assert_eq!(s, "示范省人民政府关于印发示范省2026年政务公开工作要点");
        assert_eq!(title_key("转发示范省人民政府关于印发示范省2026年政务公开工作要点的通知的通知"), s);
        assert_eq!(
            title_key("县政府办公室关于转发《示范省人民政府关于印发示范省2026年政务公开工作要点的通知》的通知"),
            s
        );
        assert_ne!(title_key("关于印发示范省2026年政务公开工作要点的通知"), s, "the organ that 印发 matters");
    }

    #[test]
    fn implementing_documents_are_not_reposts() {
        let sup = doc(
            1,
            "gov",
            "gw",
            "国务院办公厅关于进一步优化地方政务服务便民热线的指导意见（国办发〔2020〕53号）",
            "",
            "http://gov.cn/53",
            "2020-12-28 10:00",
        );
        let implementing = doc(
            2,
            "xian",
            "bgs",
            "县人民政府办公室关于进一步优化政务服务便民热线的实施意见（县政办发〔2021〕3号）",
            "根据《国务院办公厅关于进一步优化地方政务服务便民热线的指导意见》（国办发〔2020〕53号），结合我县实际",
            "http://x.gov.cn/3",
            "2021-01-05 10:00",
        );
        let items = [implementing];
        let idx = PortalIndex::new(&items);
        assert!(idx.find(&sup, "bgs").is_none());
        let repost = doc(
            3,
            "xian",
            "bgs",
            "转发国务院办公厅关于进一步优化地方政务服务便民热线的指导意见的通知",
            "（国办发〔2020〕53号）",
            "http://x.gov.cn/4",
            "2020-12-29 09:00",
        );
        let items = [items[0].clone(), repost];
        let idx = PortalIndex::new(&items);
        let (p, by) = idx.find(&sup, "bgs").unwrap();
        assert_eq!((p.item_id, by), (ItemId(3), MatchedBy::DocNo));
    }

    #[test]
    fn titles_without_the_issuer_or_by_the_core_name_need_corroboration() {
        // 清远市人民政府办公室's notice as a law site mirrors it: the issuer on a
        // line of its own, the title beginning 印发 (tests/data/reposts_labelled.tsv).
        let sup = doc(
            1,
            "gov",
            "gw",
            "清远市人民政府办公室印发清远市政府信息公开工作考核办法(试行)等制度的通知",
            "",
            "",
            "2011-04-27 10:00",
        );
        let mut mirror =
            doc(2, "xian", "bgs", "印发清远市政府信息公开工作考核办法(试行)等制度的通知", "", "", "2011-04-28 09:00");
        let found = |d: &Doc, s: &Doc| {
            let items = [d.clone()];
            PortalIndex::new(&items).find(s, "bgs").map(|(p, by)| (p.item_id, by))
        };
        // Another organ's notice may be titled so: no organ named, no match.
        assert_eq!(found(&mirror, &sup), None);
        for other in ["广东省韶关市人民政府办公室", "人民政府办公室"] {
            mirror.head_organ = other.into();
            assert_eq!(found(&mirror, &sup), None, "{other}");
        }
        mirror.head_organ = "广东省清远市人民政府办公室".into();
        assert_eq!(found(&mirror, &sup), Some((ItemId(2), MatchedBy::Title)));
        // Titled by the core name, citing the superior's number and carrying
        // none of its own: the repost. With a number of its own: a county's
        // own 工作要点 citing the State Council's.
        let sup = doc(
            3,
            "gov",
            "gw",
            "国务院办公厅关于印发2018年政务公开工作要点的通知（国办发〔2018〕23号）",
            "",
            "",
            "2018-04-24 10:00",
        );
        let core = doc(
            4,
            "xian",
            "bgs",
            "2018年政务公开工作要点",
            "国务院办公厅关于印发2018年政务公开工作要点的通知 国办发〔2018〕23号",
            "",
            "2018-04-25 09:00",
        );
        assert_eq!(found(&core, &sup), Some((ItemId(4), MatchedBy::DocNo)));
        let own = doc(
            5,
            "xian",
            "bgs",
            "2018年政务公开工作要点（县政办发〔2018〕5号）",
            "根据国办发〔2018〕23号文件",
            "",
            "2018-05-25 09:00",
        );
        assert_eq!(found(&own, &sup), None);
        // Without the superior's number a title that is only the core name
        // is not enough.
        let bare = doc(6, "xian", "bgs", "2018年政务公开工作要点", "", "", "2018-04-25 09:00");
        assert_eq!(found(&bare, &sup), None);
    }

    #[test]
    fn traditional_reposts_match_with_either_vocabulary() {
        // 国办发〔2018〕26号; its title as a Taiwan-vocabulary converter writes it
        // (網際網路 for 互联网), and a mainland page shown in traditional
        // characters (檔案 stays 档案, which tw2sp would make 文件). Written for
        // govwatch from the real title.
        let sup = doc(1, "gov", "gw", "国务院办公厅关于促进“互联网+医疗健康”发展的意见", "", "", "2018-04-28 10:00");
        let tw =
            doc(2, "xian", "bgs", "國務院辦公廳關於促進「網際網路+醫療健康」發展的意見", "", "", "2018-04-29 09:00");
        let items = [tw];
        let (p, by) = PortalIndex::new(&items).find(&sup, "bgs").unwrap();
        assert_eq!((p.item_id, by), (ItemId(2), MatchedBy::Title));
        let sup = doc(3, "gov", "gw", "国务院办公厅关于加强档案工作的意见", "", "", "2018-04-28 10:00");
        let mirror = doc(4, "xian", "bgs", "國務院辦公廳關於加強檔案工作的意見", "", "", "2018-04-29 09:00");
        let items = [mirror];
        assert!(PortalIndex::new(&items).find(&sup, "bgs").is_some());
    }

    #[test]
    fn on_time_late_and_missing_across_a_weekend() {
        let cal = Calendar::official();
        let sups = [
            doc(1, "sheng", "sg", "示范省人民政府办公厅关于甲事项的通知", "", "http://s/1", "2026-11-16 10:00"),
            // Friday: one working day later is Monday 11-23, end of day.
            doc(2, "sheng", "sg", "示范省人民政府办公厅关于乙事项的通知", "", "http://s/2", "2026-11-20 10:00"),
            doc(3, "sheng", "sg", "示范省人民政府办公厅关于丙事项的通知", "", "http://s/3", "2026-11-18 10:00"),
        ];
        let portal = [
            doc(11, "xian", "bgs", "转发示范省人民政府办公厅关于甲事项的通知", "", "http://x/11", "2026-11-17 09:00"),
            doc(12, "xian", "bgs", "示范省人民政府办公厅关于乙事项的通知", "", "http://x/12", "2026-11-24 09:00"),
        ];
        let duties = [duty("bgs", Lag::WorkingDays(1))];
        let mut o = obligations(&sups, &portal, &duties, &cal, at("2026-11-25 12:00"));
        o.sort_by_key(|o| o.superior_item_id);
        let states: Vec<(&str, i64, Option<MatchedBy>)> =
            o.iter().map(|o| (o.state, o.late_working_days, o.matched_by)).collect();
        assert_eq!(
            states,
            vec![("on_time", 0, Some(MatchedBy::Title)), ("late", 1, Some(MatchedBy::Title)), ("overdue", 4, None)]
        );
        assert_eq!(o[1].deadline.to_rfc3339(), "2026-11-23T23:59:59+08:00");
        let hours = [duty("bgs", Lag::Hours(8))];
        let o = obligations(&sups[..1], &portal, &hours, &cal, at("2026-11-25 12:00"));
        assert_eq!((o[0].state, o[0].deadline.to_rfc3339().as_str()), ("late", "2026-11-16T18:00:00+08:00"));
    }
}
