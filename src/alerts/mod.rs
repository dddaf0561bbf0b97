//! Alerts, the pure part: which emails a round owes, to whom, listing what.
//! `plan` takes the open (and newly resolved) findings with what an email
//! shows of their items, what was mailed before, the units, the settings,
//! the calendar and the round — and returns the emails to queue. No IO, no
//! clock; `mailer` does the reading, queueing and sending; `render` turns a
//! planned email into text, HTML and a workbook; `words` says how an item
//! of each rule is worded.
//!
//! **What goes out.** Every unit's list of what it owes (its digest), sent
//! when at least one of its open findings is *due*: never mailed, changed
//! state or escalation since last mailed, or last mailed
//! `repeat_working_days` working days ago. Findings overdue `escalate_after`
//! working days are shown to the supervising unit (催办); overdue
//! `report_after` working days go, per supervising unit, into a summary of
//! its late units (通报). A finding mailed while open is reported once more
//! when resolved.
//!
//! **One email per address per round.** Everything a round sends to one
//! address is one email, in sections: the unit's own digest, the units it
//! supervises that are late (催办), the 通报. Addresses that get the same
//! sections share the email. Each (finding, round, kind) is mailed at most
//! once: the marks a planned email carries are stored with it in one
//! transaction.
//!
//! **The urgent first.** Within a digest the 单项否决 kinds and published
//! personal data come first, then urgent orders (紧急程度 紧急), then the
//! overdue by most working days, then what is due soon ([`class`]).

pub mod mask;
pub mod render;
pub mod words;

use std::collections::{BTreeMap, HashMap, HashSet};

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
    /// An urgent order (紧急程度 紧急/特急/加急): marked 【紧急】, listed first.
    pub urgent: bool,
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

    /// 0 none, 1 催办 (shown to the supervisor), 2 通报 (reported to the supervisor).
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

/// Kinds that fail an inspection by themselves (单项否决: a message
/// unanswered for three months) and published personal data: first in
/// every email.
pub fn is_veto(rule: Rule) -> bool {
    matches!(rule, Rule::MessageUnanswered3Months | Rule::PersonalData)
}

/// How pressing a finding is, the most pressing first: 0 单项否决 kinds and
/// personal data, 1 urgent orders, 2 overdue, 3 due soon (and resolved).
pub fn class(l: &Line) -> u8 {
    if is_veto(l.rule) {
        0
    } else if l.urgent && l.state != State::Resolved {
        1
    } else if l.state == State::Overdue {
        2
    } else {
        3
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

/// What an email is, by its first section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Opens with a unit's list of what it owes (then, for a supervising
    /// unit, its late units and the 通报).
    Digest,
    /// New overdue findings, sent as soon as they are seen.
    Immediate,
    /// For a supervising unit that owes nothing itself: its late units (催办)
    /// and the 通报.
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
    /// `digest`, `immediate`, `report`, `resolved`, or `copy` (shown to the
    /// supervising unit as 催办; changes no history).
    pub kind: &'static str,
    pub state: State,
    pub level: u8,
}

/// A unit's own section of an email: what it owes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub unit: String,
    pub unit_name: String,
    /// Sent to the fallback addresses: the unit has none.
    pub via_fallback: bool,
    /// Some findings are shown to the supervising unit (催办).
    pub escalated: bool,
    pub supervisor_name: Option<String>,
    /// Open findings, the most pressing first ([`class`], then most overdue).
    pub open: Vec<Entry>,
    /// Findings resolved since they were mailed.
    pub resolved: Vec<Entry>,
}

/// One email to queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub kind: Kind,
    pub round: String,
    pub date: NaiveDate,
    /// The units whose mail this is (usually one; several when units share
    /// an address or have none and go to the fallback): id and name.
    pub addressees: Vec<(String, String)>,
    /// The addressees' ids joined with `+`: unique in a round, the outbox's `unit`.
    pub unit: String,
    /// The addressees' names joined with `、`.
    pub unit_name: String,
    pub to: Vec<String>,
    /// Sent to the fallback addresses.
    pub via_fallback: bool,
    /// The addressees' own sections.
    pub digests: Vec<Digest>,
    /// 催办: findings of supervised units overdue `escalate_after` working
    /// days, grouped by unit (most such findings first), not in `report`.
    pub copies: Vec<Entry>,
    /// 通报: findings of supervised units overdue `report_after` working
    /// days, grouped by unit (most late findings first), the most overdue first.
    pub report: Vec<Entry>,
    /// Ids and names of the units in `copies` and `report`.
    pub units: Vec<(String, String)>,
    pub marks: Vec<Mark>,
}

impl Planned {
    /// Findings listed (open, resolved, 催办 and 通报).
    pub fn listed(&self) -> usize {
        self.digests.iter().map(|d| d.open.len() + d.resolved.len()).sum::<usize>()
            + self.copies.len()
            + self.report.len()
    }

    /// The unit's own open findings, all sections together.
    pub fn open(&self) -> impl Iterator<Item = &Entry> {
        self.digests.iter().flat_map(|d| d.open.iter())
    }
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

/// The most pressing first: [`class`], then the most overdue, then the
/// earliest deadline; then the oldest item, by its number.
pub(crate) fn ordered(entries: &mut [Entry]) {
    type Key<'a> = (u8, i64, DateTime<FixedOffset>, Rule, Option<DateTime<FixedOffset>>, Option<&'a str>);
    fn key(e: &Entry) -> Key<'_> {
        let l = &e.line;
        (class(l), -l.overdue_working_days, l.deadline, l.rule, l.received_at, l.number.as_deref())
    }
    entries.sort_by(|a, b| key(a).cmp(&key(b)).then_with(|| a.line.fingerprint.cmp(&b.line.fingerprint)));
}

/// Entries grouped by unit, the unit with the most first; within a unit the most pressing first.
fn by_unit(entries: &mut [Entry]) {
    ordered(entries);
    let mut count: HashMap<String, usize> = HashMap::new();
    for e in entries.iter() {
        *count.entry(e.line.unit.clone()).or_default() += 1;
    }
    entries.sort_by(|a, b| count[&b.line.unit].cmp(&count[&a.line.unit]).then_with(|| a.line.unit.cmp(&b.line.unit)));
}

/// A part of an email, with where it goes.
#[derive(Clone)]
enum Piece {
    Digest(Digest, Kind),
    /// 催办 of one unit's findings, for its supervisor.
    Copy(Vec<Entry>),
    /// 通报 of a supervisor's late units.
    Report(Vec<Entry>),
}

#[derive(Clone)]
struct Routed {
    piece: Piece,
    /// The unit the piece is for: the digest's unit, or the supervisor.
    addressee: String,
    addressee_name: String,
    emails: Vec<String>,
    via_fallback: bool,
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
    let mut pieces: Vec<Routed> = Vec::new();
    let mut copies: Vec<Routed> = Vec::new();
    let kind = if round.immediate { Kind::Immediate } else { Kind::Digest };
    for (unit, mut m) in per_unit {
        if !m.due && m.resolved.is_empty() {
            continue;
        }
        let w = who(&by_id, &unit, s);
        if w.emails.is_empty() {
            plan.unroutable.push((unit, m.open.len() + m.resolved.len()));
            continue;
        }
        ordered(&mut m.open);
        ordered(&mut m.resolved);
        let escalated = !round.immediate && m.open.iter().any(|e| e.level >= 1) && w.supervisor.is_some();
        if escalated && let Some(sup) = w.supervisor {
            // Shown to the supervisor in its own email of this round (催办),
            // but for what its 通报 of this round lists (the same addresses get both).
            let to = who(&by_id, &sup.id, s);
            let reported = reports.get(&sup.id).is_some_and(|r| r.1);
            let shown: Vec<Entry> =
                m.open.iter().filter(|e| e.level == 1 || (e.level == 2 && !reported)).cloned().collect();
            if !to.emails.is_empty() && !shown.is_empty() {
                copies.push(Routed {
                    piece: Piece::Copy(shown),
                    addressee: sup.id.clone(),
                    addressee_name: to.name,
                    emails: to.emails,
                    via_fallback: to.via_fallback,
                });
            }
        }
        pieces.push(Routed {
            piece: Piece::Digest(
                Digest {
                    unit: unit.clone(),
                    unit_name: w.name.clone(),
                    via_fallback: w.via_fallback,
                    escalated,
                    supervisor_name: w.supervisor.filter(|_| escalated).map(|u| u.name.clone()),
                    open: m.open,
                    resolved: m.resolved,
                },
                kind,
            ),
            addressee: unit,
            addressee_name: w.name,
            emails: w.emails,
            via_fallback: w.via_fallback,
        });
    }
    // The units with the most escalated findings first.
    copies.sort_by_key(|r| match &r.piece {
        Piece::Copy(e) => std::cmp::Reverse(e.len()),
        _ => std::cmp::Reverse(0),
    });
    pieces.extend(copies);
    for (sup, (mut entries, due)) in reports {
        if !due {
            continue;
        }
        let w = who(&by_id, &sup, s);
        if w.emails.is_empty() {
            plan.unroutable.push((sup, entries.len()));
            continue;
        }
        by_unit(&mut entries);
        pieces.push(Routed {
            piece: Piece::Report(entries),
            addressee: sup,
            addressee_name: w.name,
            emails: w.emails,
            via_fallback: w.via_fallback,
        });
    }

    // One email per address: addresses that get the same pieces share one.
    let mut per_address: Vec<(String, Vec<usize>)> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    for (i, r) in pieces.iter().enumerate() {
        for a in &r.emails {
            let k = *slot.entry(a.clone()).or_insert_with(|| {
                per_address.push((a.clone(), Vec::new()));
                per_address.len() - 1
            });
            if per_address[k].1.last() != Some(&i) {
                per_address[k].1.push(i);
            }
        }
    }
    let mut emails: Vec<(Vec<usize>, Vec<String>)> = Vec::new();
    let mut by_list: HashMap<Vec<usize>, usize> = HashMap::new();
    for (address, list) in per_address {
        match by_list.get(&list) {
            Some(&k) => emails[k].1.push(address),
            None => {
                by_list.insert(list.clone(), emails.len());
                emails.push((list, vec![address]));
            }
        }
    }
    // A piece in one email (the usual case) moves there; one in several is copied.
    let mut uses = vec![0usize; pieces.len()];
    for &i in emails.iter().flat_map(|(list, _)| list) {
        uses[i] += 1;
    }
    let mut pieces: Vec<Option<Routed>> = pieces.into_iter().map(Some).collect();
    for (list, to) in emails {
        let parts: Vec<Routed> = list
            .iter()
            .filter_map(|&i| {
                uses[i] -= 1;
                if uses[i] == 0 { pieces[i].take() } else { pieces[i].clone() }
            })
            .collect();
        plan.emails.push(email(parts, to, &by_id, s, round, today));
    }
    plan
}

/// The email made of these pieces.
fn email(
    parts: Vec<Routed>,
    to: Vec<String>,
    by_id: &HashMap<&str, &Unit>,
    s: &AlertsConfig,
    round: &Round,
    today: NaiveDate,
) -> Planned {
    let mut addressees: Vec<(String, String)> = Vec::new();
    let (mut digests, mut copies, mut report) = (Vec::new(), Vec::new(), Vec::new());
    let mut kind = Kind::Report;
    let mut marks: Vec<Mark> = Vec::new();
    let mut via_fallback = false;
    for r in parts {
        if !addressees.iter().any(|(id, _)| id == &r.addressee) {
            addressees.push((r.addressee.clone(), r.addressee_name.clone()));
        }
        via_fallback |= r.via_fallback;
        match r.piece {
            Piece::Digest(d, k) => {
                kind = k;
                let mark = |e: &Entry, kind: &'static str| Mark {
                    fingerprint: e.line.fingerprint.clone(),
                    kind,
                    state: e.line.state,
                    level: e.level,
                };
                marks.extend(d.open.iter().map(|e| mark(e, k.as_str())));
                marks.extend(d.resolved.iter().map(|e| Mark { level: 0, ..mark(e, "resolved") }));
                digests.push(d);
            }
            Piece::Copy(entries) => copies.extend(entries),
            Piece::Report(entries) => report.extend(entries),
        }
    }
    // What the 通报 of this email lists is not listed again as 催办.
    if !report.is_empty() && !copies.is_empty() {
        let reported: HashSet<&str> = report.iter().map(|r: &Entry| r.line.fingerprint.as_str()).collect();
        copies.retain(|c: &Entry| !reported.contains(c.line.fingerprint.as_str()));
    }
    let mark = |e: &Entry, kind: &'static str| Mark {
        fingerprint: e.line.fingerprint.clone(),
        kind,
        state: e.line.state,
        level: e.level,
    };
    marks.extend(copies.iter().map(|e| mark(e, "copy")));
    marks.extend(report.iter().map(|e| mark(e, "report")));
    let mut units: Vec<(String, String)> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for e in copies.iter().chain(report.iter()) {
        if seen.insert(e.line.unit.as_str()) {
            units.push((e.line.unit.clone(), who(by_id, &e.line.unit, s).name));
        }
    }
    Planned {
        kind,
        round: round.key.clone(),
        date: today,
        unit: addressees.iter().map(|a| a.0.as_str()).collect::<Vec<_>>().join("+"),
        unit_name: addressees.iter().map(|a| a.1.as_str()).collect::<Vec<_>>().join("、"),
        addressees,
        to,
        via_fallback,
        digests,
        copies,
        report,
        units,
        marks,
    }
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
            urgent: false,
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
                    "resolved" => h.resolved = true,
                    _ => {}
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
        assert_eq!(
            (jiao.to.clone(), jiao.digests[0].open.len(), jiao.digests[0].escalated),
            (vec!["jiao@x.cn".to_string()], 2, false)
        );
        assert!(jiao.open().all(|e| e.new));
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
        assert!(p.emails[0].open().all(|e| !e.new));
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
        assert_eq!(p.emails[0].open().count(), 2);
    }

    #[test]
    fn escalation_shows_the_supervisor_then_reports_to_it() {
        let (cal, s, units) = (Calendar::official(), AlertsConfig::default(), units());
        let r = Round::scheduled(at("2026-11-23 09:00"));
        // 3 working days overdue: 催办, shown to the supervisor in its own email.
        let p = plan(vec![line(1, "jiao", State::Overdue, 3)], &HashMap::new(), &units, &s, &cal, &r);
        assert_eq!(p.emails.len(), 2);
        let jiao = p.emails.iter().find(|e| e.unit == "jiao").unwrap();
        assert_eq!(jiao.to, ["jiao@x.cn"]);
        assert!(jiao.digests[0].escalated);
        assert_eq!(jiao.digests[0].supervisor_name.as_deref(), Some("ban名"));
        let ban = p.emails.iter().find(|e| e.unit == "ban").unwrap();
        assert_eq!((ban.kind, ban.to.as_slice()), (Kind::Report, &["ban@x.cn".to_string()][..]));
        assert!(ban.digests.is_empty() && ban.report.is_empty());
        assert_eq!(ban.copies.iter().map(|e| e.line.fingerprint.as_str()).collect::<Vec<_>>(), ["fp1"]);
        assert_eq!(ban.marks.iter().map(|m| m.kind).collect::<Vec<_>>(), ["copy"]);
        // 5: a 通报 to the supervisor, listing its late units; what it lists is not listed again as 催办.
        let p = plan(
            vec![
                line(1, "jiao", State::Overdue, 6),
                line(2, "zhu", State::Overdue, 5),
                line(3, "zhu", State::Overdue, 9),
                line(4, "zhu", State::Overdue, 3),
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
        assert_eq!(
            report.report.iter().map(|e| e.line.fingerprint.as_str()).collect::<Vec<_>>(),
            ["fp3", "fp2", "fp1"]
        );
        assert_eq!(report.copies.iter().map(|e| e.line.fingerprint.as_str()).collect::<Vec<_>>(), ["fp4"]);
        let kinds: Vec<(&str, &str)> = report.marks.iter().map(|m| (m.fingerprint.as_str(), m.kind)).collect();
        assert_eq!(kinds, [("fp4", "copy"), ("fp3", "report"), ("fp2", "report"), ("fp1", "report")]);
    }

    /// Issue 17: a supervisor got a copy per late unit and the 通报 besides
    /// its own digest, five or six emails a day. Now one per address.
    #[test]
    fn each_address_gets_one_email_a_round() {
        let (cal, s, mut units) = (Calendar::official(), AlertsConfig::default(), units());
        units.push(unit("wei", &["wei@x.cn"], Some("ban")));
        let r = Round::scheduled(at("2026-11-23 09:00"));
        let lines = || {
            vec![
                line(1, "ban", State::DueSoon, 0),
                line(2, "jiao", State::Overdue, 4),
                line(3, "zhu", State::Overdue, 7),
                line(4, "wei", State::Overdue, 3),
                line(5, "wei", State::Overdue, 1),
            ]
        };
        let p = plan(lines(), &HashMap::new(), &units, &s, &cal, &r);
        let mut addresses: Vec<&str> = p.emails.iter().flat_map(|e| e.to.iter().map(String::as_str)).collect();
        addresses.sort();
        assert_eq!(addresses, ["ban@x.cn", "jiao@x.cn", "wei@x.cn", "zhu@x.cn"]);
        let ban = p.emails.iter().find(|e| e.to == ["ban@x.cn"]).unwrap();
        assert_eq!((ban.kind, ban.unit.as_str()), (Kind::Digest, "ban"));
        assert_eq!(ban.digests.len(), 1);
        assert_eq!(ban.copies.iter().map(|e| e.line.fingerprint.as_str()).collect::<Vec<_>>(), ["fp2", "fp4"]);
        assert_eq!(ban.report.iter().map(|e| e.line.fingerprint.as_str()).collect::<Vec<_>>(), ["fp3"]);
        // Every finding listed is marked with this email once.
        let mut marked: Vec<(&str, &str)> = ban.marks.iter().map(|m| (m.fingerprint.as_str(), m.kind)).collect();
        marked.sort();
        assert_eq!(marked, [("fp1", "digest"), ("fp2", "copy"), ("fp3", "report"), ("fp4", "copy")]);

        // Two units sharing a mailbox: one email with both sections; a unit's
        // other address gets its own section only. Each email's `unit` is unique.
        let mut shared = units.clone();
        shared.iter_mut().find(|u| u.id == "zhu").unwrap().emails = vec!["zhu@x.cn".into(), "jiao@x.cn".into()];
        let p = plan(lines(), &HashMap::new(), &shared, &s, &cal, &r);
        let jiao = p.emails.iter().find(|e| e.to.contains(&"jiao@x.cn".to_string())).unwrap();
        assert_eq!(jiao.unit, "jiao+zhu");
        assert_eq!(jiao.unit_name, "jiao名、zhu名");
        assert_eq!(jiao.digests.iter().map(|d| d.unit.as_str()).collect::<Vec<_>>(), ["jiao", "zhu"]);
        let zhu = p.emails.iter().find(|e| e.to == ["zhu@x.cn"]).unwrap();
        assert_eq!(zhu.unit, "zhu");
        let mut keys: Vec<&str> = p.emails.iter().map(|e| e.unit.as_str()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), p.emails.len());
    }

    #[test]
    fn the_single_veto_kinds_and_urgent_orders_come_first() {
        let (cal, s, units) = (Calendar::official(), AlertsConfig::default(), units());
        let mut veto = line(1, "jiao", State::Overdue, 0);
        veto.rule = Rule::MessageUnanswered3Months;
        let mut urgent = line(2, "jiao", State::Overdue, 1);
        urgent.urgent = true;
        let lines = vec![
            line(3, "jiao", State::DueSoon, 0),
            line(4, "jiao", State::Overdue, 2),
            line(5, "jiao", State::Overdue, 40),
            urgent,
            veto,
        ];
        let p = plan(lines, &HashMap::new(), &units, &s, &cal, &Round::scheduled(at("2026-11-23 09:00")));
        let order: Vec<&str> = p.emails[0].digests[0].open.iter().map(|e| e.line.fingerprint.as_str()).collect();
        assert_eq!(order, ["fp1", "fp2", "fp5", "fp4", "fp3"]);
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
        assert_eq!((p.emails[0].digests[0].open.len(), p.emails[0].digests[0].resolved.len()), (0, 1));
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
        // Both go to the duty mailbox: one email, a section each.
        assert_eq!(p.emails.len(), 1);
        let e = &p.emails[0];
        assert!(e.via_fallback && e.to == ["duty@x.cn"]);
        assert_eq!(e.digests.iter().map(|d| d.unit_name.as_str()).collect::<Vec<_>>(), ["gone", "nomail名"]);
        assert!(e.digests.iter().all(|d| d.via_fallback));
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
        assert_eq!(p.emails[0].open().count(), 1);
        assert!(!p.emails[0].digests[0].open[0].new);
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
        assert_eq!(p.emails[0].digests[0].open[0].line.rule, Rule::PersonalData);
    }
}
