//! Deadlines of work orders, messages and disclosure applications. Pure.
//!
//! * hotline: the export's own deadline column when present; otherwise a
//!   number of working days by 诉求类型 (咨询 2, 求助 10, 建议 10, 投诉 15,
//!   举报 15 by default), hours for urgent orders; 延期 respected;
//! * messages: a configured number of working days, and a separate hard
//!   flag for a message unanswered for three months;
//! * disclosure applications (依申请公开): 20 working days, +20 when extended.
//!
//! Not every row owes an answer by a deadline ([`standing`]): a row from an
//! export that cannot say whether it was answered (no 办结时间, 状态 or 答复意见
//! column) is intake only — searchable and counted, never overdue — unless
//! its source says otherwise (`intake_only`); and a row received more than
//! `history_days` before its source's first import is history: its answer,
//! if it has one, counts in the statistics, but it is never open, so never
//! overdue and never mailed. An office's first import of an archive is not a
//! flood of ancient overdue items.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, Months};
use serde::Serialize;

use super::{Finding, Rule, Warn, end_of_day, fingerprint, local_date, state_at};
use crate::calendar::Calendar;
use crate::config::RulesConfig;
use crate::model::{Case, ItemId, ItemKind, Precision, Published};
use crate::normalize::time;

/// What the rules need of a work order or message (no text: a million of
/// these are evaluated at once).
#[derive(Debug, Clone, Serialize)]
pub struct CaseRow {
    pub item_id: ItemId,
    /// The export source it came from.
    pub source: String,
    pub unit: String,
    pub kind: ItemKind,
    pub case: Case,
}

/// Words of 状态 that mean the order is closed even when no 办结时间 is given.
const CLOSED_STATUS: &[&str] = &["办结", "已答复", "已回复", "已完成", "结案", "已处理", "已反馈", "已办理", "关闭"];

/// Whether (and when) the case was answered: `Some(Some(t))` at t,
/// `Some(None)` at an unknown time (a 状态 that says so, or a reply with no
/// time), `None` still open.
pub fn answered(case: &Case) -> Option<Option<DateTime<FixedOffset>>> {
    if let Some(c) = case.closed_at {
        return Some(Some(c.at));
    }
    let status = case.status.as_deref().unwrap_or("");
    if status.contains("未办结") || status.contains("未答复") || status.contains("未回复") {
        return None;
    }
    let replied = case.reply.as_deref().is_some_and(|r| !r.trim().is_empty());
    (replied || CLOSED_STATUS.iter().any(|w| status.contains(w))).then_some(None)
}

/// How an export source's rows are held to deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceTracking {
    /// The source's `intake_only`: `Some(true)` never a deadline, `Some(false)`
    /// deadlines even for rows whose export cannot say they were answered,
    /// `None` deadlines only for rows whose export can.
    pub intake_only: Option<bool>,
    /// When the source's first import began: rows received more than
    /// `history_days` before it are history (from that moment on).
    pub first_import: Option<DateTime<FixedOffset>>,
    pub history_days: u32,
}

impl SourceTracking {
    /// Rows received before this are history (`None`: no first import yet).
    pub fn history_before(&self) -> Option<DateTime<FixedOffset>> {
        self.first_import.map(|f| f - Duration::days(self.history_days as i64))
    }
}

/// Each export source's [`SourceTracking`]; a source not listed has the defaults.
#[derive(Debug, Clone, Default)]
pub struct Tracking {
    pub sources: HashMap<String, SourceTracking>,
}

/// What the deadline rules make of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Held to its deadline.
    Live,
    /// Received long before its source's first import: its answer counts
    /// (a resolved finding), its absence does not (no open finding).
    History,
    /// Its export cannot say whether it was answered: no deadline at all.
    IntakeOnly,
}

/// The standing of a row at `now`. History starts with the first import: a
/// replay of an earlier moment (`findings --now`) sees every row as live.
pub fn standing(row: &CaseRow, t: &SourceTracking, now: DateTime<FixedOffset>) -> Standing {
    if t.intake_only.unwrap_or(row.case.answer_unknown) {
        return Standing::IntakeOnly;
    }
    match (t.first_import, t.history_before(), row.case.received_at) {
        (Some(first), Some(before), Some(received)) if now >= first && received.at < before => Standing::History,
        _ => Standing::Live,
    }
}

fn is_urgent(case: &Case) -> bool {
    case.urgency.as_deref().is_some_and(urgency_is_urgent)
}

/// Whether a 紧急程度 / 是否紧急 cell says urgent (紧急, 特急, 加急, 急件, 是).
pub fn urgency_is_urgent(u: &str) -> bool {
    let u = u.trim();
    ["紧急", "特急", "加急", "急件", "是"].iter().any(|w| u.contains(w)) && !u.contains("不紧急") && !u.contains("一般")
}

/// Whether a case is a disclosure application (by its category).
pub fn is_disclosure(case: &Case, cfg: &RulesConfig) -> bool {
    case.category.as_deref().is_some_and(|c| cfg.disclosure.categories.iter().any(|w| c.contains(w.as_str())))
}

/// An export deadline given as a date means the end of that day.
fn deadline_from(p: Published) -> DateTime<FixedOffset> {
    match p.precision {
        Precision::Date => end_of_day(local_date(p.at)),
        Precision::Time => p.at,
    }
}

/// What 延期 says: extra working days, a new deadline, or just "yes".
#[derive(Debug, Clone, PartialEq)]
pub enum Extension {
    Days(u32),
    Until(DateTime<FixedOffset>),
    Yes,
}

pub fn parse_extension(raw: Option<&str>) -> Option<Extension> {
    let s = raw?.trim();
    if s.is_empty() || ["否", "无", "不延期", "0", "N", "n", "no", "-"].contains(&s) {
        return None;
    }
    if let Some(p) = time::parse(s).or_else(|| time::find_in(s)) {
        return Some(Extension::Until(deadline_from(p)));
    }
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    if let Ok(n) = digits.parse::<u32>() {
        return (n > 0).then_some(Extension::Days(n));
    }
    Some(Extension::Yes)
}

/// The deadline of a case and how it was set; `None` without a receipt time.
/// The `bool` says whether it is counted in hours (urgent orders).
pub fn deadline(
    row: &CaseRow,
    rule: Rule,
    cfg: &RulesConfig,
    cal: &Calendar,
) -> Option<(DateTime<FixedOffset>, bool, String)> {
    let case = &row.case;
    let received = case.received_at?.at;
    let received_day = local_date(received);
    let days_from = |days: u32| end_of_day(cal.add_working_days(received_day, days));
    let (mut deadline, in_hours, mut basis) = match rule {
        Rule::MessageUnanswered3Months => {
            let months = cfg.messages.unanswered_months;
            let at = received.checked_add_months(Months::new(months)).unwrap_or(received);
            return Some((at, true, format!("{months} 个月未答复")));
        }
        _ if case.deadline_at.is_some() => {
            (deadline_from(case.deadline_at.expect("checked")), false, "导出的办理时限".to_string())
        }
        Rule::DisclosureDeadline => {
            (days_from(cfg.disclosure.days), false, format!("依申请公开 {} 个工作日", cfg.disclosure.days))
        }
        Rule::MessageReply => {
            (days_from(cfg.messages.reply_days), false, format!("留言 {} 个工作日", cfg.messages.reply_days))
        }
        Rule::HotlineDeadline if is_urgent(case) => (
            received + chrono::Duration::hours(cfg.hotline.urgent_hours as i64),
            true,
            format!("紧急 {} 小时", cfg.hotline.urgent_hours),
        ),
        Rule::HotlineDeadline => {
            let category = case.category.as_deref().unwrap_or("");
            let word =
                cfg.hotline.days.iter().filter(|(w, _)| category.contains(w.as_str())).max_by_key(|(w, _)| w.len());
            match word {
                Some((w, d)) => (days_from(*d), false, format!("{w} {d} 个工作日")),
                None => (days_from(cfg.hotline.default_days), false, format!("{} 个工作日", cfg.hotline.default_days)),
            }
        }
        Rule::OpinionResponse
        | Rule::Repost
        | Rule::ColumnStale
        | Rule::ColumnEmpty
        | Rule::DeadLink
        | Rule::PersonalData
        | Rule::SourceUnhealthy => return None,
    };
    match parse_extension(case.extension.as_deref()) {
        None => {}
        Some(Extension::Until(t)) => {
            deadline = deadline.max(t);
            basis.push_str(&format!("，延期至 {}", t.format("%Y-%m-%d")));
        }
        Some(ext) => {
            let days = match ext {
                Extension::Days(n) => n,
                _ if rule == Rule::DisclosureDeadline => cfg.disclosure.extension_days,
                _ => cfg.hotline.extension_days,
            };
            deadline = end_of_day(cal.add_working_days(local_date(deadline), days));
            basis.push_str(&format!("，延期 {days} 个工作日"));
        }
    }
    Some((deadline, in_hours, basis))
}

/// The rules that apply to a case.
pub fn rules_for(row: &CaseRow, cfg: &RulesConfig) -> &'static [Rule] {
    if is_disclosure(&row.case, cfg) {
        return &[Rule::DisclosureDeadline];
    }
    match row.kind {
        ItemKind::Hotline => &[Rule::HotlineDeadline],
        ItemKind::Message => &[Rule::MessageReply, Rule::MessageUnanswered3Months],
        _ => &[],
    }
}

/// What `sources`, `status`, the console and `--json` say of an export
/// source's rows: how many are intake only, how many are history.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Intake {
    /// Every row of the source is intake only (and there is at least one,
    /// or the source says so).
    pub intake_only: bool,
    pub intake_only_rows: u64,
    pub history_rows: u64,
    pub history_days: u32,
    pub first_import: Option<DateTime<FixedOffset>>,
    /// The source's `intake_only` setting.
    #[serde(skip)]
    pub setting: Option<bool>,
}

impl Intake {
    /// From the source's tracking and its rows counted: all of them, those
    /// whose export cannot say they were answered, those received before the
    /// history horizon, and those of them whose export can.
    pub fn of(
        t: &SourceTracking,
        rows: u64,
        answer_unknown: u64,
        old: u64,
        old_known: u64,
        now: DateTime<FixedOffset>,
    ) -> Intake {
        let history_started = t.first_import.is_some_and(|f| now >= f);
        let (intake_only_rows, history_rows) = match t.intake_only {
            Some(true) => (rows, 0),
            Some(false) => (0, old),
            None => (answer_unknown, old_known),
        };
        Intake {
            intake_only: t.intake_only == Some(true) || (rows > 0 && intake_only_rows == rows),
            intake_only_rows,
            history_rows: if history_started { history_rows } else { 0 },
            history_days: t.history_days,
            first_import: t.first_import,
            setting: t.intake_only,
        }
    }

    /// One Chinese line per thing an officer should know, for `sources`,
    /// `status` and the console.
    pub fn zh(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.setting == Some(true) {
            out.push(format!(
                "仅收录（intake_only = true）：{} 条只用于检索和统计，不计办理时限、不发提醒",
                self.intake_only_rows
            ));
        } else if self.intake_only {
            out.push(format!(
                "仅收录：导出没有答复或办结信息（办结时间、状态、答复意见等列），{} 条只用于检索和统计，\
                 不计办理时限、不发提醒（如需计时限，设置 intake_only = false）",
                self.intake_only_rows
            ));
        } else if self.intake_only_rows > 0 {
            out.push(format!(
                "仅收录 {} 条：来自没有答复或办结信息的导出文件，不计办理时限、不发提醒",
                self.intake_only_rows
            ));
        }
        if self.history_rows > 0 {
            let first = self.first_import.map(|f| f.format("%Y-%m-%d").to_string()).unwrap_or_default();
            out.push(format!(
                "历史记录 {} 条：受理早于首次导入（{first}）前 {} 天，已办结的计入统计，未办结的不计超期、不发提醒",
                self.history_rows, self.history_days
            ));
        }
        out
    }
}

/// Findings for these cases at `now`, every source with the default
/// tracking (see [`evaluate_tracked`]).
pub fn evaluate(rows: &[CaseRow], cfg: &RulesConfig, cal: &Calendar, now: DateTime<FixedOffset>) -> Vec<Finding> {
    evaluate_tracked(rows, &Tracking::default(), cfg, cal, now)
}

/// Findings for these cases at `now`, each row by its [`standing`],
/// evaluated on every core.
pub fn evaluate_tracked(
    rows: &[CaseRow],
    tracking: &Tracking,
    cfg: &RulesConfig,
    cal: &Calendar,
    now: DateTime<FixedOffset>,
) -> Vec<Finding> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || rows.len() < 10_000 {
        return evaluate_chunk(rows, tracking, cfg, cal, now);
    }
    let chunk = rows.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> =
            rows.chunks(chunk).map(|c| s.spawn(move || evaluate_chunk(c, tracking, cfg, cal, now))).collect();
        parts.into_iter().flat_map(|p| p.join().expect("rule evaluation does not panic")).collect()
    })
}

fn evaluate_chunk(
    rows: &[CaseRow],
    tracking: &Tracking,
    cfg: &RulesConfig,
    cal: &Calendar,
    now: DateTime<FixedOffset>,
) -> Vec<Finding> {
    let warn = Warn { working_days: cfg.warn_working_days, hours: cfg.warn_hours };
    let default = SourceTracking::default();
    let mut out = Vec::new();
    for row in rows {
        let Some(received) = row.case.received_at else { continue };
        if received.at > now {
            // Not yet received at the replayed moment.
            continue;
        }
        let standing = standing(row, tracking.sources.get(&row.source).unwrap_or(&default), now);
        if standing == Standing::IntakeOnly {
            continue;
        }
        let answer = answered(&row.case);
        for &rule in rules_for(row, cfg) {
            let Some((deadline, in_hours, basis)) = deadline(row, rule, cfg, cal) else { continue };
            let Some((state, overdue, late)) = state_at(cal, deadline, in_hours, warn, answer, now) else { continue };
            if standing == Standing::History && state != super::State::Resolved {
                continue;
            }
            let resolved_at = if state == super::State::Resolved { answer.flatten() } else { None };
            out.push(Finding {
                fingerprint: fingerprint(rule, row.item_id, &row.unit),
                rule,
                state,
                item_id: row.item_id,
                unit: row.unit.clone(),
                deadline,
                overdue_working_days: overdue,
                late,
                resolved_at,
                reply_working_days: resolved_at
                    .map(|a| cal.working_days_between(local_date(received.at), local_date(a))),
                basis,
                subject: None,
                link: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::time::china;
    use crate::rules::State;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<FixedOffset> {
        china().from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    fn p(s: &str) -> Option<Published> {
        Some(Published { at: at(s), precision: Precision::Time, zone_assumed: true })
    }

    fn row(kind: ItemKind, category: &str, received: &str) -> CaseRow {
        CaseRow {
            item_id: ItemId(1),
            source: "rexian".into(),
            unit: "rexian".into(),
            kind,
            case: Case {
                number: "1".into(),
                received_at: p(received),
                category: Some(category.into()),
                ..Default::default()
            },
        }
    }

    #[test]
    fn deadlines_by_category_urgency_and_extension() {
        let cal = Calendar::official();
        let cfg = RulesConfig::default();
        // Received Thursday 2026-09-24: 中秋 and 国庆 fall inside the count.
        let r = row(ItemKind::Hotline, "咨询", "2026-09-24 10:00");
        let (d, hours, basis) = deadline(&r, Rule::HotlineDeadline, &cfg, &cal).unwrap();
        assert_eq!(
            (d.to_rfc3339().as_str(), hours, basis.as_str()),
            ("2026-09-29T23:59:59+08:00", false, "咨询 2 个工作日")
        );
        let r = row(ItemKind::Hotline, "投诉-物业", "2026-09-24 10:00");
        assert_eq!(
            deadline(&r, Rule::HotlineDeadline, &cfg, &cal).unwrap().0.to_rfc3339(),
            "2026-10-22T23:59:59+08:00"
        );
        let mut r = row(ItemKind::Hotline, "求助", "2026-09-24 10:00");
        r.case.urgency = Some("紧急".into());
        let (d, hours, _) = deadline(&r, Rule::HotlineDeadline, &cfg, &cal).unwrap();
        assert_eq!((d.to_rfc3339().as_str(), hours), ("2026-09-25T10:00:00+08:00", true));
        let mut r = row(ItemKind::Hotline, "咨询", "2026-09-24 10:00");
        r.case.extension = Some("3".into());
        let (d, _, basis) = deadline(&r, Rule::HotlineDeadline, &cfg, &cal).unwrap();
        assert_eq!(
            (d.to_rfc3339().as_str(), basis.as_str()),
            ("2026-10-09T23:59:59+08:00", "咨询 2 个工作日，延期 3 个工作日")
        );
        let mut r = row(ItemKind::Hotline, "咨询", "2026-09-24 10:00");
        r.case.deadline_at =
            Some(Published { at: at("2026-09-30 00:00"), precision: Precision::Date, zone_assumed: true });
        let (d, _, basis) = deadline(&r, Rule::HotlineDeadline, &cfg, &cal).unwrap();
        assert_eq!((d.to_rfc3339().as_str(), basis.as_str()), ("2026-09-30T23:59:59+08:00", "导出的办理时限"));
    }

    #[test]
    fn disclosure_and_messages() {
        let cal = Calendar::official();
        let cfg = RulesConfig::default();
        let mut r = row(ItemKind::Message, "依申请公开", "2026-11-02 09:00");
        assert_eq!(rules_for(&r, &cfg), &[Rule::DisclosureDeadline]);
        assert_eq!(
            deadline(&r, Rule::DisclosureDeadline, &cfg, &cal).unwrap().0.to_rfc3339(),
            "2026-11-30T23:59:59+08:00"
        );
        r.case.extension = Some("是".into());
        assert_eq!(
            deadline(&r, Rule::DisclosureDeadline, &cfg, &cal).unwrap().0.to_rfc3339(),
            "2026-12-28T23:59:59+08:00"
        );
        let m = row(ItemKind::Message, "城乡建设", "2026-08-10 09:00");
        let f = evaluate(&[m], &cfg, &cal, at("2026-11-22 09:00"));
        let rules: Vec<(Rule, State)> = f.iter().map(|f| (f.rule, f.state)).collect();
        assert_eq!(rules, vec![(Rule::MessageReply, State::Overdue), (Rule::MessageUnanswered3Months, State::Overdue)]);
    }

    #[test]
    fn standing_intake_only_history_and_replays() {
        let first = at("2026-04-20 08:00");
        let t = SourceTracking { intake_only: None, first_import: Some(first), history_days: 30 };
        let now = at("2026-04-20 09:00");
        let old = row(ItemKind::Message, "城乡建设", "2026-03-01 09:00");
        let recent = row(ItemKind::Message, "城乡建设", "2026-04-10 09:00");
        assert_eq!(standing(&old, &t, now), Standing::History);
        assert_eq!(standing(&recent, &t, now), Standing::Live);
        // Before the first import, a replay sees the row as it was then: live.
        assert_eq!(standing(&old, &t, at("2026-03-10 09:00")), Standing::Live);
        let mut unknown = recent.clone();
        unknown.case.answer_unknown = true;
        assert_eq!(standing(&unknown, &t, now), Standing::IntakeOnly);
        let forced = SourceTracking { intake_only: Some(false), ..t };
        assert_eq!(standing(&unknown, &forced, now), Standing::Live);
        let all = SourceTracking { intake_only: Some(true), ..t };
        assert_eq!(standing(&recent, &all, now), Standing::IntakeOnly);

        // History: open rows make nothing, answered ones still count.
        let cal = Calendar::official();
        let cfg = RulesConfig::default();
        let tracking = Tracking { sources: [("rexian".to_string(), t)].into_iter().collect() };
        let mut answered_late = old.clone();
        answered_late.case.closed_at = p("2026-04-01 09:00");
        let f = evaluate_tracked(&[old, answered_late, recent], &tracking, &cfg, &cal, now);
        let states: Vec<(Rule, State)> = f.iter().map(|f| (f.rule, f.state)).collect();
        assert_eq!(states, vec![(Rule::MessageReply, State::Resolved), (Rule::MessageReply, State::Overdue)], "{f:#?}");
    }

    #[test]
    fn intake_lines_for_officers() {
        let t = SourceTracking { intake_only: None, first_import: Some(at("2026-04-20 08:00")), history_days: 30 };
        let now = at("2026-04-21 09:00");
        let all = Intake::of(&t, 494, 494, 494, 0, now);
        assert!(all.intake_only);
        assert_eq!(all.zh().len(), 1);
        assert!(all.zh()[0].starts_with("仅收录：导出没有答复或办结信息"), "{:?}", all.zh());
        let archive = Intake::of(&t, 120, 0, 100, 100, now);
        assert!(!archive.intake_only);
        assert_eq!(
            archive.zh(),
            vec![
                "历史记录 100 条：受理早于首次导入（2026-04-20）前 30 天，已办结的计入统计，未办结的不计超期、不发提醒"
            ]
        );
        assert!(Intake::of(&t, 10, 0, 0, 0, now).zh().is_empty(), "nothing to say");
    }

    #[test]
    fn a_reply_answers_at_an_unknown_time() {
        let mut c = Case { reply: Some("已转交县住建局处理".into()), ..Default::default() };
        assert_eq!(answered(&c), Some(None));
        c.reply = Some("  ".into());
        assert_eq!(answered(&c), None);
        c.status = Some("未答复".into());
        c.reply = Some("拟答复意见".into());
        assert_eq!(answered(&c), None, "a status saying it is not answered wins");
    }

    #[test]
    fn closed_orders_record_lateness_and_reply_days() {
        let cal = Calendar::official();
        let cfg = RulesConfig::default();
        let mut r = row(ItemKind::Hotline, "咨询", "2026-09-24 10:00");
        r.case.closed_at = p("2026-10-09 16:00");
        let f = evaluate(&[r], &cfg, &cal, at("2026-11-22 09:00"));
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].state, f[0].late, f[0].overdue_working_days, f[0].reply_working_days),
            (State::Resolved, Some(true), 3, Some(5))
        );
        let mut r = row(ItemKind::Hotline, "咨询", "2026-09-24 10:00");
        r.case.status = Some("已办结".into());
        let f = evaluate(&[r], &cfg, &cal, at("2026-11-22 09:00"));
        assert_eq!((f[0].state, f[0].late), (State::Resolved, None));
    }
}
