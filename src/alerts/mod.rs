//! Alerts, the pure part: which emails a round owes, to whom, listing what.
//! `plan` takes the open (and newly resolved) findings with what an email
//! shows of their items, what was mailed before, the units, the settings,
//! the calendar and the round — and returns the emails to queue. No IO, no
//! clock; `mailer` does the reading, queueing and sending; `render` turns a
//! planned email into text, HTML and a workbook.
//!
//! **What goes out.** One digest per unit per round, listing every open
//! finding of the unit, sent when at least one of them is *due*: never
//! mailed, changed state or escalation since last mailed, or last mailed
//! `repeat_working_days` working days ago. Findings overdue
//! `escalate_after` working days copy the supervising unit (催办); overdue
//! `report_after` working days go, per supervising unit, into a separate
//! summary of its late units (通报). A finding mailed while open is reported
//! once more when resolved. Each (finding, round, kind) is mailed at most once:
//! the marks a planned email carries are stored with it in one transaction.

pub mod mask;
pub mod render;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Serialize;

use crate::calendar::Calendar;
use crate::config::{AlertsConfig, Unit};
use crate::model::{ItemId, ItemKind};
use crate::rules::{Rule, State, local_date};

/// One finding as an email shows it (as stored: not yet masked).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub fingerprint: String,
    pub rule: Rule,
    pub state: State,
    pub item_id: ItemId,
    pub unit: String,
    pub kind: ItemKind,
    /// 工单编号 / 留言编号, or the policy's 文号.
    pub number: Option<String>,
    pub title: String,
    /// The start of the item's text (a work order's 诉求内容).
    pub text: String,
    pub received_at: Option<DateTime<FixedOffset>>,
    pub deadline: DateTime<FixedOffset>,
    pub overdue_working_days: i64,
    /// Resolved: answered late?
    pub late: Option<bool>,
    pub basis: String,
    /// Findings about a column or a source (no item): the source's address
    /// (empty when it is not a web address); the email links there instead
    /// of an item page.
    pub link: Option<String>,
}

impl Line {
    /// Where a reader goes for this finding: the item's console page, or for
    /// a column or a source its address (the console's sources page when it
    /// has no web address).
    pub fn url(&self, web: &crate::config::WebConfig) -> String {
        match &self.link {
            None => web.item_url(&self.item_id.to_string()),
            Some(u) if u.starts_with("http") => u.clone(),
            Some(_) => web.sources_url(),
        }
    }

    /// 0 none, 1 催办 (supervisor copied), 2 通报 (reported to the supervisor).
    pub fn level(&self, s: &AlertsConfig) -> u8 {
        if self.state != State::Overdue {
            0
        } else if s.report_after > 0 && self.overdue_working_days >= s.report_after as i64 {
            2
        } else if s.escalate_after > 0 && self.overdue_working_days >= s.escalate_after as i64 {
            1
        } else {
            0
        }
    }
}

/// How a finding was last mailed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Last listed as open (digest or immediate): the round's date, the state, the level.
    pub open: Option<(NaiveDate, State, u8)>,
    /// Last listed in a 通报 to the supervising unit.
    pub report: Option<NaiveDate>,
    /// Reported as resolved.
    pub resolved: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A unit's list of what it owes (copied to its supervisor when escalated).
    Digest,
    /// New overdue findings, sent as soon as they are seen.
    Immediate,
    /// 通报: a supervising unit's summary of its units' long-overdue findings.
    Report,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Digest => "digest",
            Kind::Immediate => "immediate",
            Kind::Report => "report",
        }
    }
}

/// What a round is.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Unique per round: `2026-11-23 09:00` (scheduled), `manual 2026-11-23 10:37:12`, `immediate …`.
    pub key: String,
    pub at: DateTime<FixedOffset>,
    /// Only new overdue findings (`Kind::Immediate`), no digests or reports.
    pub immediate: bool,
    /// An immediate round limited to urgent rules (published personal data):
    /// the daemon runs it when `alerts.immediate` is off.
    pub urgent_only: bool,
}

impl Round {
    pub fn scheduled(at: DateTime<FixedOffset>) -> Round {
        Round { key: at.format("%Y-%m-%d %H:%M").to_string(), at, immediate: false, urgent_only: false }
    }

    pub fn manual(at: DateTime<FixedOffset>) -> Round {
        Round { key: at.format("manual %Y-%m-%d %H:%M:%S").to_string(), at, immediate: false, urgent_only: false }
    }

    pub fn immediate(at: DateTime<FixedOffset>) -> Round {
        Round { key: at.format("immediate %Y-%m-%d %H:%M:%S").to_string(), at, immediate: true, urgent_only: false }
    }

    /// An immediate round that mails only findings of urgent rules.
    pub fn urgent(at: DateTime<FixedOffset>) -> Round {
        Round { urgent_only: true, ..Round::immediate(at) }
    }

    pub fn date(&self) -> NaiveDate {
        local_date(self.at)
    }
}

/// A finding in an email.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub line: Line,
    /// Never mailed before.
    pub new: bool,
    pub level: u8,
}

/// A mark stored with a queued email: (finding, what it was mailed as).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    pub fingerprint: String,
    /// `digest`, `immediate`, `report` or `resolved`.
    pub kind: &'static str,
    pub state: State,
    pub level: u8,
}

/// One email to queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub kind: Kind,
    pub round: String,
    pub date: NaiveDate,
    /// The unit the email is for (the supervising unit, for a report).
    pub unit: String,
    pub unit_name: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Sent to the fallback addresses: the unit has none.
    pub via_fallback: bool,
    /// Copied to the supervising unit (催办).
    pub escalated: bool,
    pub supervisor_name: Option<String>,
    /// Open findings, ordered by rule, then most overdue first.
    pub open: Vec<Entry>,
    /// Findings resolved since they were mailed.
    pub resolved: Vec<Entry>,
    /// For a report: each late unit's id and name, in `open` order.
    pub units: Vec<(String, String)>,
    pub marks: Vec<Mark>,
}

/// The result of planning a round.
#[derive(Debug, Default)]
pub struct Plan {
    pub emails: Vec<Planned>,
    /// Units with something to mail but no address and no fallback: (unit, findings).
    pub unroutable: Vec<(String, usize)>,
}

struct Who<'a> {
    name: String,
    emails: Vec<String>,
    via_fallback: bool,
    supervisor: Option<&'a Unit>,
}

fn who<'a>(units: &'a HashMap<&str, &'a Unit>, id: &str, s: &AlertsConfig) -> Who<'a> {
    match units.get(id) {
        Some(u) if !u.emails.is_empty() => Who {
            name: u.name.clone(),
            emails: u.emails.clone(),
            via_fallback: false,
            supervisor: u.supervisor.as_deref().and_then(|x| units.get(x).copied()),
        },
        Some(u) => Who {
            name: u.name.clone(),
            emails: s.fallback.clone(),
            via_fallback: true,
            supervisor: u.supervisor.as_deref().and_then(|x| units.get(x).copied()),
        },
        // A unit no longer configured (its findings were recorded before).
        None => Who { name: id.to_string(), emails: s.fallback.clone(), via_fallback: true, supervisor: None },
    }
}

fn ordered(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        (a.line.rule, a.line.state != State::Overdue, -a.line.overdue_working_days, a.line.deadline)
            .cmp(&(b.line.rule, b.line.state != State::Overdue, -b.line.overdue_working_days, b.line.deadline))
            .then_with(|| a.line.fingerprint.cmp(&b.line.fingerprint))
    });
}

/// The emails `round` owes. `lines` are the stored open findings and the
/// resolved ones not yet reported; `history` is keyed by fingerprint.
pub fn plan(
    lines: Vec<Line>,
    history: &HashMap<String, History>,
    units: &[Unit],
    s: &AlertsConfig,
    cal: &Calendar,
    round: &Round,
) -> Plan {
    let by_id: HashMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
    let today = round.date();
    let none = History::default();
    let repeat_due = |last: NaiveDate| {
        s.repeat_working_days == 0 || {
            last < today && cal.working_days_between(last, today) >= s.repeat_working_days as i64
        }
    };

    // Per unit: open entries, whether any is due, resolved entries.
    #[derive(Default)]
    struct UnitMail {
        open: Vec<Entry>,
        due: bool,
        resolved: Vec<Entry>,
    }
    let mut per_unit: BTreeMap<String, UnitMail> = BTreeMap::new();
    // Per supervising unit: the 通报 entries, whether any is due.
    let mut reports: BTreeMap<String, (Vec<Entry>, bool)> = BTreeMap::new();

    for line in lines {
        let h = history.get(&line.fingerprint).unwrap_or(&none);
        let level = line.level(s);
        match line.state {
            State::Resolved => {
                if s.report_resolved && h.open.is_some() && !h.resolved && !round.immediate {
                    per_unit.entry(line.unit.clone()).or_default().resolved.push(Entry { line, new: false, level: 0 });
                }
            }
            _ if round.immediate => {
                let newly_overdue =
                    line.state == State::Overdue && h.open.is_none_or(|(_, st, _)| st != State::Overdue);
                // Urgent rules (published personal data) go out at once even
                // when `alerts.immediate` is off: the daemon then runs urgent-only rounds.
                if newly_overdue && (!round.urgent_only || line.rule.urgent()) {
                    let m = per_unit.entry(line.unit.clone()).or_default();
                    m.due = true;
                    m.open.push(Entry { new: h.open.is_none(), level, line });
                }
            }
            _ => {
                let due = match h.open {
                    None => true,
                    Some((last, st, lv)) => st != line.state || level > lv || repeat_due(last),
                };
                if level == 2
                    && let Some(sup) = by_id.get(line.unit.as_str()).and_then(|u| u.supervisor.clone())
                {
                    let r = reports.entry(sup).or_default();
                    r.1 |= h.report.is_none_or(repeat_due);
                    r.0.push(Entry { line: line.clone(), new: h.report.is_none(), level });
                }
                let m = per_unit.entry(line.unit.clone()).or_default();
                m.due |= due;
                m.open.push(Entry { new: h.open.is_none(), level, line });
            }
        }
    }

    let mut plan = Plan::default();
    for (unit, mut m) in per_unit {
        if !m.due && m.resolved.is_empty() {
            continue;
        }
        let w = who(&by_id, &unit, s);
        if w.emails.is_empty() {
            plan.unroutable.push((unit, m.open.len() + m.resolved.len()));
            continue;
        }
        let escalated = !round.immediate && m.open.iter().any(|e| e.level >= 1) && w.supervisor.is_some();
        let mut cc = Vec::new();
        if escalated && let Some(sup) = w.supervisor {
            let sup_emails = if sup.emails.is_empty() { &s.fallback } else { &sup.emails };
            cc.extend(sup_emails.iter().filter(|e| !w.emails.contains(e)).cloned());
        }
        ordered(&mut m.open);
        ordered(&mut m.resolved);
        let kind = if round.immediate { Kind::Immediate } else { Kind::Digest };
        let marks = m
            .open
            .iter()
            .map(|e| Mark {
                fingerprint: e.line.fingerprint.clone(),
                kind: kind.as_str(),
                state: e.line.state,
                level: e.level,
            })
            .chain(m.resolved.iter().map(|e| Mark {
                fingerprint: e.line.fingerprint.clone(),
                kind: "resolved",
                state: State::Resolved,
                level: 0,
            }))
            .collect();
        plan.emails.push(Planned {
            kind,
            round: round.key.clone(),
            date: today,
            unit,
            unit_name: w.name,
            to: w.emails,
            cc,
            via_fallback: w.via_fallback,
            escalated,
            supervisor_name: w.supervisor.filter(|_| escalated).map(|u| u.name.clone()),
            open: m.open,
            resolved: m.resolved,
            units: Vec::new(),
            marks,
        });
    }
    for (sup, (mut entries, due)) in reports {
        if !due {
            continue;
        }
        let w = who(&by_id, &sup, s);
        if w.emails.is_empty() {
            plan.unroutable.push((sup, entries.len()));
            continue;
        }
        // Grouped by unit (most late findings first); within a unit, the most overdue first.
        let mut count: HashMap<String, usize> = HashMap::new();
        for e in &entries {
            *count.entry(e.line.unit.clone()).or_default() += 1;
        }
        entries.sort_by(|a, b| {
            let key = |e: &Entry| (-e.line.overdue_working_days, e.line.deadline);
            key(a).cmp(&key(b)).then_with(|| a.line.fingerprint.cmp(&b.line.fingerprint))
        });
        entries
            .sort_by(|a, b| count[&b.line.unit].cmp(&count[&a.line.unit]).then_with(|| a.line.unit.cmp(&b.line.unit)));
        let mut late_units: Vec<(String, String)> = Vec::new();
        for e in &entries {
            if late_units.last().is_none_or(|(id, _)| id != &e.line.unit) {
                late_units.push((e.line.unit.clone(), who(&by_id, &e.line.unit, s).name));
            }
        }
        let marks = entries
            .iter()
            .map(|e| Mark {
                fingerprint: e.line.fingerprint.clone(),
                kind: "report",
                state: e.line.state,
                level: e.level,
            })
            .collect();
        plan.emails.push(Planned {
            kind: Kind::Report,
            round: round.key.clone(),
            date: today,
            unit: sup,
            unit_name: w.name,
            to: w.emails,
            cc: Vec::new(),
            via_fallback: w.via_fallback,
            escalated: false,
            supervisor_name: None,
            open: entries,
            resolved: Vec::new(),
            units: late_units,
            marks,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    use crate::normalize::time::china;

    fn at(s: &str) -> DateTime<FixedOffset> {
        china().from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    fn unit(id: &str, emails: &[&str], supervisor: Option<&str>) -> Unit {
        Unit {
            id: id.into(),
            name: format!("{id}名"),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            supervisor: supervisor.map(str::to_string),
            aliases: vec![],
            watch_terms: vec![],
            major_terms: vec![],
        }
    }

    fn units() -> Vec<Unit> {
        vec![
            unit("ban", &["ban@x.cn"], None),
            unit("jiao", &["jiao@x.cn"], Some("ban")),
            unit("zhu", &["zhu@x.cn"], Some("ban")),
            unit("nomail", &[], Some("ban")),
        ]
    }

    fn line(n: u64, unit: &str, state: State, overdue: i64) -> Line {
        Line {
            fingerprint: format!("fp{n}"),
            rule: Rule::HotlineDeadline,
            state,
            item_id: ItemId(n),
            unit: unit.into(),
            kind: ItemKind::Hotline,
            number: Some(format!("GD{n}")),
            title: "t".into(),
            text: "x".into(),
            received_at: None,
            deadline: at("2026-11-10 23:59"),
            overdue_working_days: overdue,
            late: None,
            basis: String::new(),
            link: None,
        }
    }

    /// What the store does with a queued email's marks.
    fn remember(history: &mut HashMap<String, History>, plan: &Plan, day: NaiveDate) {
        for p in &plan.emails {
            for m in &p.marks {
                let h = history.entry(m.fingerprint.clone()).or_default();
                match m.kind {
                    "digest" | "immediate" => {
                        h.open = Some((day, m.state, m.level));
                        h.resolved = false;
                    }
                    "report" => h.report = Some(day),
                    _ => h.resolved = true,
                }
            }
        }
    }

    fn to_units(plan: &Plan, kind: Kind) -> Vec<&str> {
        plan.emails.iter().filter(|p| p.kind == kind).map(|p| p.unit.as_str()).collect()
    }

    #[test]
    fn one_digest_per_owing_unit_then_repeats_by_working_day() {
        let (cal, s, units) = (Calendar::official(), AlertsConfig::default(), units());
        let mut h = HashMap::new();
        let lines = || {
            vec![
                line(1, "jiao", State::Overdue, 1),
                line(2, "jiao", State::DueSoon, 0),
                line(3, "zhu", State::DueSoon, 0),
            ]
        };
        // Friday 2026-11-20, 09:00.
        let r = Round::scheduled(at("2026-11-20 09:00"));
        let p = plan(lines(), &h, &units, &s, &cal, &r);
        assert_eq!(to_units(&p, Kind::Digest), ["jiao", "zhu"]);
        let jiao = &p.emails[0];
        assert_eq!((jiao.to.clone(), jiao.open.len(), jiao.escalated), (vec!["jiao@x.cn".to_string()], 2, false));
        assert!(jiao.open.iter().all(|e| e.new));
        assert_eq!(jiao.marks.len(), 2);
        remember(&mut h, &p, r.date());
        // Again the same day: nothing is due.
        let p = plan(lines(), &h, &units, &s, &cal, &Round::manual(at("2026-11-20 15:00")));
        assert!(p.emails.is_empty(), "{:?}", p.emails);
        // Saturday and Sunday are not working days; Monday is one working day later.
        let p = plan(lines(), &h, &units, &s, &cal, &Round::manual(at("2026-11-22 09:00")));
        assert!(p.emails.is_empty());
        let p = plan(lines(), &h, &units, &s, &cal, &Round::scheduled(at("2026-11-23 09:00")));
        assert_eq!(to_units(&p, Kind::Digest), ["jiao", "zhu"]);
        assert!(p.emails[0].open.iter().all(|e| !e.new));
        // Every three working days instead.
        let s3 = AlertsConfig { repeat_working_days: 3, ..AlertsConfig::default() };
        let p = plan(lines(), &h, &units, &s3, &cal, &Round::scheduled(at("2026-11-24 09:00")));
        assert!(p.emails.is_empty());
        let p = plan(lines(), &h, &units, &s3, &cal, &Round::scheduled(at("2026-11-25 09:00")));
        assert_eq!(to_units(&p, Kind::Digest), ["jiao", "zhu"]);
    }

    #[test]
    fn a_change_of_state_is_mailed_at_once_and_lists_everything_open() {
        let (cal, s3, units) =
            (Calendar::official(), AlertsConfig { repeat_working_days: 3, ..AlertsConfig::default() }, units());
        let mut h = HashMap::new();
        let r = Round::scheduled(at("2026-11-20 09:00"));
        let p = plan(
            vec![line(1, "jiao", State::Overdue, 1), line(2, "jiao", State::DueSoon, 0)],
            &h,
            &units,
            &s3,
            &cal,
            &r,
        );
        remember(&mut h, &p, r.date());
        // Monday: finding 2 has become overdue; the digest lists both.
        let p = plan(
            vec![line(1, "jiao", State::Overdue, 2), line(2, "jiao", State::Overdue, 1)],
            &h,
            &units,
            &s3,
            &cal,
            &Round::scheduled(at("2026-11-23 09:00")),
        );
        assert_eq!(p.emails.len(), 1);
        assert_eq!(p.emails[0].open.len(), 2);
    }

    #[test]
    fn escalation_copies_the_supervisor_then_reports_to_it() {
        let (cal, s, units) = (Calendar::official(), AlertsConfig::default(), units());
        let r = Round::scheduled(at("2026-11-23 09:00"));
        // 3 working days overdue: 催办, the supervisor copied.
        let p = plan(vec![line(1, "jiao", State::Overdue, 3)], &HashMap::new(), &units, &s, &cal, &r);
        assert_eq!(p.emails.len(), 1);
        assert!(p.emails[0].escalated);
        assert_eq!(p.emails[0].cc, ["ban@x.cn"]);
        assert_eq!(p.emails[0].supervisor_name.as_deref(), Some("ban名"));
        // 5: a separate 通报 to the supervisor, listing its late units.
        let p = plan(
            vec![
                line(1, "jiao", State::Overdue, 6),
                line(2, "zhu", State::Overdue, 5),
                line(3, "zhu", State::Overdue, 9),
            ],
            &HashMap::new(),
            &units,
            &s,
            &cal,
            &r,
        );
        assert_eq!(to_units(&p, Kind::Report), ["ban"]);
        let report = p.emails.iter().find(|p| p.kind == Kind::Report).unwrap();
        assert_eq!(report.to, ["ban@x.cn"]);
        assert_eq!(report.units.iter().map(|u| u.0.as_str()).collect::<Vec<_>>(), ["zhu", "jiao"]);
        assert_eq!(report.open.iter().map(|e| e.line.fingerprint.as_str()).collect::<Vec<_>>(), ["fp3", "fp2", "fp1"]);
        assert!(report.marks.iter().all(|m| m.kind == "report"));
    }

    #[test]
    fn resolved_findings_are_reported_once() {
        let (cal, s, units) = (Calendar::official(), AlertsConfig::default(), units());
        let mut h = HashMap::new();
        let r = Round::scheduled(at("2026-11-20 09:00"));
        let p = plan(vec![line(1, "jiao", State::Overdue, 1)], &h, &units, &s, &cal, &r);
        remember(&mut h, &p, r.date());
        let r2 = Round::scheduled(at("2026-11-20 15:00"));
        let p = plan(vec![line(1, "jiao", State::Resolved, 1)], &h, &units, &s, &cal, &r2);
        assert_eq!(p.emails.len(), 1);
        assert_eq!((p.emails[0].open.len(), p.emails[0].resolved.len()), (0, 1));
        remember(&mut h, &p, r2.date());
        let p = plan(
            vec![line(1, "jiao", State::Resolved, 1)],
            &h,
            &units,
            &s,
            &cal,
            &Round::scheduled(at("2026-11-23 09:00")),
        );
        assert!(p.emails.is_empty());
        // Never mailed while open: nothing to report.
        let p = plan(vec![line(9, "jiao", State::Resolved, 0)], &h, &units, &s, &cal, &r2);
        assert!(p.emails.is_empty());
        let off = AlertsConfig { report_resolved: false, ..AlertsConfig::default() };
        let mut h2 = HashMap::new();
        let p = plan(vec![line(1, "jiao", State::Overdue, 1)], &h2, &units, &off, &cal, &r);
        remember(&mut h2, &p, r.date());
        assert!(plan(vec![line(1, "jiao", State::Resolved, 1)], &h2, &units, &off, &cal, &r2).emails.is_empty());
    }

    #[test]
    fn units_without_addresses_go_to_the_fallback_or_are_reported() {
        let (cal, units) = (Calendar::official(), units());
        let r = Round::scheduled(at("2026-11-23 09:00"));
        let lines = || vec![line(1, "nomail", State::Overdue, 1), line(2, "gone", State::DueSoon, 0)];
        let p = plan(lines(), &HashMap::new(), &units, &AlertsConfig::default(), &cal, &r);
        assert!(p.emails.is_empty());
        assert_eq!(p.unroutable, [("gone".to_string(), 1), ("nomail".to_string(), 1)]);
        let s = AlertsConfig { fallback: vec!["duty@x.cn".into()], ..AlertsConfig::default() };
        let p = plan(lines(), &HashMap::new(), &units, &s, &cal, &r);
        assert_eq!(p.emails.len(), 2);
        assert!(p.emails.iter().all(|e| e.via_fallback && e.to == ["duty@x.cn"]));
        assert_eq!(p.emails[1].unit_name, "nomail名");
    }

    #[test]
    fn an_immediate_round_mails_only_newly_overdue_findings() {
        let s = AlertsConfig { immediate: true, ..AlertsConfig::default() };
        let (cal, units) = (Calendar::official(), units());
        let mut h = HashMap::new();
        let r = Round::scheduled(at("2026-11-20 09:00"));
        let p = plan(vec![line(1, "jiao", State::DueSoon, 0)], &h, &units, &s, &cal, &r);
        remember(&mut h, &p, r.date());
        let lines = || {
            vec![
                line(1, "jiao", State::Overdue, 0),
                line(2, "jiao", State::DueSoon, 0),
                line(3, "zhu", State::Overdue, 0),
            ]
        };
        let ri = Round::immediate(at("2026-11-21 00:00"));
        let p = plan(lines(), &h, &units, &s, &cal, &ri);
        assert_eq!(to_units(&p, Kind::Immediate), ["jiao", "zhu"]);
        assert_eq!(p.emails[0].open.len(), 1);
        assert!(!p.emails[0].open[0].new);
        remember(&mut h, &p, ri.date());
        assert!(plan(lines(), &h, &units, &s, &cal, &Round::immediate(at("2026-11-21 00:10"))).emails.is_empty());
    }

    #[test]
    fn published_personal_data_is_mailed_at_once_even_without_immediate() {
        let (cal, s, units) = (Calendar::official(), AlertsConfig::default(), units());
        assert!(!s.immediate);
        let mut pii = line(7, "zhu", State::Overdue, 0);
        pii.rule = Rule::PersonalData;
        let lines = vec![line(3, "jiao", State::Overdue, 0), pii];
        let p = plan(lines, &HashMap::new(), &units, &s, &cal, &Round::urgent(at("2026-11-21 00:00")));
        assert_eq!(to_units(&p, Kind::Immediate), ["zhu"]);
        assert_eq!(p.emails[0].open[0].line.rule, Rule::PersonalData);
    }
}
