//! A planned email → subject, plain text, HTML and an .xlsx workbook. Pure:
//! templates are read once (`Templates::load`), rendering does no IO.
//!
//! The built-in templates are in `templates/`; a folder configured as
//! `alerts.templates` replaces any of them by file name. Variables are the
//! fields of [`View`]; `.html` templates escape what they print. An email
//! is `digest.txt` / `digest.html` whatever it holds; they include
//! `report.txt` / `report.html` for the 通报 section.
//!
//! Every group of findings shows its worst rows (`alerts.max_rows_per_group`,
//! then `alerts.max_rows` shared out without ever leaving a heading empty)
//! and says how many more the attachment has; the workbook has every row,
//! a sheet per section.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset, NaiveDate};
use minijinja::Environment;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook};
use serde::Serialize;

use super::mask::mask;
use super::{Entry, Kind, Planned, class, is_veto, words};
use crate::config::{AlertsConfig, WebConfig};
use crate::rules::{Rule, State};

/// The templates an administrator may replace, with the built-in text.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("subject.txt", include_str!("templates/subject.txt")),
    ("digest.txt", include_str!("templates/digest.txt")),
    ("digest.html", include_str!("templates/digest.html")),
    ("report.txt", include_str!("templates/report.txt")),
    ("report.html", include_str!("templates/report.html")),
];

/// How long a summary may be, in characters.
const SUMMARY_CHARS: usize = 60;
/// The 催办 and the 通报 list at most this many findings per late unit (the most pressing); the attachment has all.
const REPORT_ROWS_PER_UNIT: usize = 10;
/// However many groups share `alerts.max_rows`, each shows at least this many of its rows.
const MIN_ROWS_PER_GROUP: usize = 3;

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates, with those in `dir` (if any) in their place.
    /// Every template is compiled and tried on a sample email, so that a
    /// mistake shows at `config check`, not at nine in the morning.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        let mut env = Environment::new();
        // A block tag on its own line leaves no blank line behind.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        // A variable the view does not have is an error, found on the sample
        // emails below (an override written for another version would
        // otherwise send emails with nothing in them).
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, text) in BUILT_IN {
            env.add_template(name, text).with_context(|| format!("built-in template {name}"))?;
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir)
                .with_context(|| format!("cannot read the templates folder {}", dir.display()))?;
            for e in entries {
                let path = e?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
                if !BUILT_IN.iter().any(|(n, _)| *n == name) {
                    if name.ends_with(".html") || name.ends_with(".txt") {
                        let known: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                        anyhow::bail!("{}: not a template govwatch uses; known: {}", path.display(), known.join(", "));
                    }
                    continue;
                }
                let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                env.add_template_owned(name.clone(), text).with_context(|| format!("{}", path.display()))?;
            }
        }
        let t = Templates { env };
        for kind in [Kind::Digest, Kind::Report, Kind::Immediate] {
            let sample = sample(kind);
            t.render(&sample, &AlertsConfig::default(), &WebConfig::default(), sample_time())
                .with_context(|| format!("the templates fail on a sample {} email", kind.as_str()))?;
        }
        Ok(t)
    }

    /// Renders a planned email at `now`.
    pub fn render(
        &self,
        p: &Planned,
        s: &AlertsConfig,
        web: &WebConfig,
        now: DateTime<FixedOffset>,
    ) -> Result<Rendered> {
        let mut view = View::of(p, s, web, now);
        let subject = self.env.get_template("subject.txt")?.render(&view).context("subject.txt")?;
        view.subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if view.subject.is_empty() {
            anyhow::bail!("subject.txt rendered nothing");
        }
        let text = self.env.get_template("digest.txt")?.render(&view).context("digest.txt")?;
        let html = self.env.get_template("digest.html")?.render(&view).context("digest.html")?;
        let xlsx = match &view.attachment {
            Some(_) => Some(workbook(&view).context("writing the .xlsx attachment")?),
            None => None,
        };
        Ok(Rendered { subject: view.subject.clone(), text, html, attachment: view.attachment.clone(), xlsx })
    }
}

/// A rendered email.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The attachment's file name and bytes.
    pub attachment: Option<String>,
    pub xlsx: Option<Vec<u8>>,
}

/// What templates see. An email has up to three kinds of section: the
/// addressees' own digests (`digests`, usually one), the supervised units
/// that are late (`copies`, 催办) and the 通报 (`units`); `report.txt` and
/// `report.html` render the 通报 and are included by the `digest` templates.
#[derive(Debug, Serialize)]
pub struct View {
    /// `digest`, `immediate` or `report` (no digest of its own).
    pub kind: &'static str,
    pub subject: String,
    /// The addressees' ids (joined with `+`) and names (joined with `、`).
    pub unit: String,
    pub unit_name: String,
    pub unit_url: String,
    /// 2026年11月23日
    pub date: String,
    /// 2026-11-23 09:00
    pub generated_at: String,
    pub via_fallback: bool,
    /// The units without an address whose mail this is (sent to the fallback).
    pub fallback_units: String,
    /// A digest is shown to its supervisor (催办).
    pub escalated: bool,
    pub supervisor_name: Option<String>,
    pub escalate_after: u32,
    pub report_after: u32,
    /// What the subject starts with: 【紧急】【催办】【通报】.
    pub tags: String,
    /// The addressees' own findings, all digests together.
    pub counts: Counts,
    pub digests: Vec<DigestView>,
    /// 催办: late supervised units with their most pressing findings.
    pub copies: Vec<UnitRows>,
    pub copies_count: usize,
    /// Opens the 催办 section (with its number when the email has several sections).
    pub copies_heading: String,
    /// 通报: late supervised units with their most overdue findings.
    pub units: Vec<UnitRows>,
    pub report_count: usize,
    pub report_heading: String,
    /// `所辖 2 个单位 3 项事项超期 3 个工作日以上`: empty without 催办 or 通报.
    pub supervision: String,
    /// `所辖 2 个单位超期 3 项`, for a subject that says the unit's own first.
    pub supervision_short: String,
    /// Where rows not in the body are: 见附件 / 见网页.
    pub more_where: &'static str,
    /// Findings not listed in the body (they are in the attachment and on the console).
    pub omitted: usize,
    /// The attachment's file name, when one is attached.
    pub attachment: Option<String>,
    /// Every row of every section, for the attachment: (sheet, rows).
    #[serde(skip)]
    pub sheets: Vec<(&'static str, Vec<Row>)>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub open: usize,
    pub overdue: usize,
    pub due_soon: usize,
    pub resolved: usize,
    pub new: usize,
    pub escalated: usize,
    /// Urgent orders (紧急程度 紧急).
    pub urgent: usize,
    /// 单项否决 kinds and published personal data.
    pub veto: usize,
    /// Published personal data.
    pub personal_data: usize,
}

/// One unit's own section.
#[derive(Debug, Serialize)]
pub struct DigestView {
    /// `一、本单位待办事项` when the email has other sections; empty otherwise.
    pub heading: String,
    /// 本单位, or the unit's name when the email carries several units' digests.
    pub who: String,
    /// What an immediate email says first: the items are overdue, or (published
    /// personal data) must be taken care of now. Empty in a digest.
    pub intro: &'static str,
    pub unit: String,
    pub unit_name: String,
    pub unit_url: String,
    pub via_fallback: bool,
    pub escalated: bool,
    pub supervisor_name: Option<String>,
    pub counts: Counts,
    /// Open findings in groups, the most pressing group first: 单项否决 kinds
    /// and personal data, urgent orders, each rule's overdue (most working
    /// days first), each rule's due soon. Every group shows its worst rows.
    pub groups: Vec<Group>,
    pub resolved: Vec<Row>,
    pub omitted: usize,
}

#[derive(Debug, Serialize)]
pub struct Group {
    /// The rule's id, or `urgent`.
    pub rule: &'static str,
    /// 公开内容含个人信息, 紧急工单, 热线工单办理时限 …
    pub title: &'static str,
    /// 已超期 / 即将到期 / empty (the group holds both).
    pub label: &'static str,
    /// Findings of this group, listed or not.
    pub count: usize,
    pub rows: Vec<Row>,
    /// Not listed in the body: `另有 N 项见附件`.
    pub more: usize,
}

#[derive(Debug, Serialize)]
pub struct UnitRows {
    pub n: usize,
    pub unit: String,
    pub name: String,
    pub url: String,
    pub max_overdue: i64,
    /// The unit's late findings, listed or not.
    pub count: usize,
    pub rows: Vec<Row>,
    pub more: usize,
    /// `（列出最紧要的 10 项）` when not all are listed; else empty.
    pub listed_note: String,
}

/// One finding, formatted and masked.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub n: usize,
    /// The rule, in Chinese.
    pub rule: &'static str,
    pub unit: String,
    pub unit_name: String,
    /// 工单编号, 留言编号 or 文号; none for items without one.
    pub number: Option<String>,
    pub summary: String,
    /// 收到 or 发布.
    pub received_label: &'static str,
    pub received: Option<String>,
    /// 期限, or 发现 for published personal data.
    pub deadline_label: &'static str,
    pub deadline: String,
    /// 已超期, 即将到期, 已发现, 已办结 …
    pub state: &'static str,
    /// The state with how long and, in a unit's own digest, whether its
    /// supervisor sees it: `已超期 4 个工作日（催办）`.
    pub status: String,
    /// The same without 催办/通报 (the sections that are the 催办 and the 通报).
    pub status_plain: String,
    pub overdue: i64,
    /// 催办 / 通报 / empty.
    pub level: &'static str,
    pub new: bool,
    /// An urgent order: 【紧急】.
    pub urgent: bool,
    /// A 单项否决 kind or published personal data.
    pub veto: bool,
    pub basis: String,
    /// `（basis）`, or empty without one.
    pub basis_note: String,
    pub url: String,
}

fn when(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&crate::normalize::time::china()).format("%Y-%m-%d %H:%M").to_string()
}

fn zh_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// What a row says the item is about (`words::summary_source`), masked and cut short.
fn summary(e: &Entry) -> String {
    let flat = words::summary_source(&e.line).split_whitespace().collect::<Vec<_>>().join(" ");
    // Mask before cutting, so that a cut never leaves half a number readable.
    let masked = mask(&flat);
    let mut out: String = masked.chars().take(SUMMARY_CHARS).collect();
    if masked.chars().count() > SUMMARY_CHARS {
        out.push('…');
    }
    out
}

fn row(n: usize, e: &Entry, names: &HashMap<String, String>, web: &WebConfig) -> Row {
    let l = &e.line;
    let basis = mask(&l.basis).into_owned();
    Row {
        n,
        rule: l.rule.zh(),
        unit: l.unit.clone(),
        unit_name: names.get(&l.unit).cloned().unwrap_or_else(|| l.unit.clone()),
        number: l.number.clone().filter(|n| !n.trim().is_empty()),
        summary: summary(e),
        received_label: words::received_label(l.rule),
        received: l.received_at.map(when),
        deadline_label: words::deadline_label(l.rule),
        deadline: when(l.deadline),
        state: words::state(l),
        status: words::status(l, e.level),
        status_plain: words::status(l, 0),
        overdue: l.overdue_working_days,
        level: match e.level {
            2 => "通报",
            1 => "催办",
            _ => "",
        },
        new: e.new,
        urgent: l.urgent && l.state != State::Resolved,
        veto: is_veto(l.rule),
        basis_note: if basis.trim().is_empty() { String::new() } else { format!("（{basis}）") },
        basis,
        url: l.url(web),
    }
}

/// How many rows each group shows: up to `per_group` each; when together
/// they pass `total`, the least pressing groups (the last) give up rows
/// first, but none below `MIN_ROWS_PER_GROUP` (or all it has). No group is
/// ever a heading without rows.
fn allot(counts: &[usize], per_group: usize, total: usize) -> Vec<usize> {
    let per_group = per_group.max(1);
    let mut n: Vec<usize> = counts.iter().map(|&c| c.min(per_group)).collect();
    let mut sum: usize = n.iter().sum();
    for i in (0..n.len()).rev() {
        if sum <= total {
            break;
        }
        let floor = counts[i].min(MIN_ROWS_PER_GROUP);
        let cut = (sum - total).min(n[i].saturating_sub(floor));
        n[i] -= cut;
        sum -= cut;
    }
    n
}

fn counts_of(open: &[&Entry], resolved: usize) -> Counts {
    let state = |st| open.iter().filter(|e| e.line.state == st).count();
    Counts {
        open: open.len(),
        overdue: state(State::Overdue),
        due_soon: state(State::DueSoon),
        resolved,
        new: open.iter().filter(|e| e.new).count(),
        escalated: open.iter().filter(|e| e.level >= 1).count(),
        urgent: open.iter().filter(|e| e.line.urgent && !is_veto(e.line.rule)).count(),
        veto: open.iter().filter(|e| is_veto(e.line.rule)).count(),
        personal_data: open.iter().filter(|e| e.line.rule == Rule::PersonalData).count(),
    }
}

/// A digest's open findings in groups, the most pressing first (they come ordered by `alerts::class`).
fn groups(open: &[Entry], s: &AlertsConfig, names: &HashMap<String, String>, web: &WebConfig) -> Vec<Group> {
    let mut groups: Vec<(Group, Vec<&Entry>)> = Vec::new();
    for e in open {
        let l = &e.line;
        let (rule, title, label) = match class(l) {
            0 if l.rule == Rule::MessageUnanswered3Months => (l.rule.as_str(), "留言超过三个月未答复（单项否决）", ""),
            0 => (l.rule.as_str(), l.rule.zh(), ""),
            1 => ("urgent", "紧急工单", ""),
            2 => (l.rule.as_str(), l.rule.zh(), "已超期"),
            _ => (l.rule.as_str(), l.rule.zh(), "即将到期"),
        };
        match groups.iter_mut().find(|(g, _)| g.rule == rule && g.label == label) {
            Some((_, members)) => members.push(e),
            None => groups.push((Group { rule, title, label, count: 0, rows: Vec::new(), more: 0 }, vec![e])),
        }
    }
    let counts: Vec<usize> = groups.iter().map(|(_, m)| m.len()).collect();
    let shown = allot(&counts, s.max_rows_per_group, s.max_rows);
    groups
        .into_iter()
        .zip(shown)
        .map(|((mut g, members), shown)| {
            g.count = members.len();
            g.rows = members.iter().take(shown).enumerate().map(|(i, e)| row(i + 1, e, names, web)).collect();
            g.more = g.count - g.rows.len();
            g
        })
        .collect()
}

/// Findings grouped by unit (as `alerts::plan` orders them), the first `REPORT_ROWS_PER_UNIT` of each listed.
fn unit_rows(entries: &[Entry], names: &HashMap<String, String>, web: &WebConfig) -> (Vec<UnitRows>, Vec<Row>) {
    let mut units: Vec<UnitRows> = Vec::new();
    let mut all = Vec::with_capacity(entries.len());
    for e in entries {
        if units.last().is_none_or(|u| u.unit != e.line.unit) {
            units.push(UnitRows {
                n: units.len() + 1,
                unit: e.line.unit.clone(),
                name: names.get(&e.line.unit).cloned().unwrap_or_else(|| e.line.unit.clone()),
                url: web.unit_url(&e.line.unit),
                max_overdue: 0,
                count: 0,
                rows: Vec::new(),
                more: 0,
                listed_note: String::new(),
            });
        }
        let Some(u) = units.last_mut() else { continue };
        u.count += 1;
        u.max_overdue = u.max_overdue.max(e.line.overdue_working_days);
        let r = row(u.count, e, names, web);
        if u.rows.len() < REPORT_ROWS_PER_UNIT {
            u.rows.push(r.clone());
        }
        all.push(r);
    }
    for u in &mut units {
        u.more = u.count - u.rows.len();
        if u.more > 0 {
            u.listed_note = format!("（列出最紧要的 {} 项）", u.rows.len());
        }
    }
    (units, all)
}

const NUMBERS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

impl View {
    pub fn of(p: &Planned, s: &AlertsConfig, web: &WebConfig, now: DateTime<FixedOffset>) -> View {
        let names: HashMap<String, String> = p
            .units
            .iter()
            .cloned()
            .chain(p.addressees.iter().cloned())
            .chain(p.digests.iter().map(|d| (d.unit.clone(), d.unit_name.clone())))
            .collect();
        let sections = p.digests.len() + usize::from(!p.copies.is_empty()) + usize::from(!p.report.is_empty());
        let mut numbered = 0;
        let mut heading = |what: String| {
            numbered += 1;
            if sections > 1 { format!("{}、{what}", NUMBERS[(numbered - 1).min(9)]) } else { String::new() }
        };
        let mut own_rows = Vec::new();
        let mut digests = Vec::with_capacity(p.digests.len());
        for d in &p.digests {
            let open: Vec<&Entry> = d.open.iter().collect();
            let groups = groups(&d.open, s, &names, web);
            let listed: usize = groups.iter().map(|g| g.rows.len()).sum();
            own_rows.extend(d.open.iter().enumerate().map(|(i, e)| row(i + 1, e, &names, web)));
            let several = p.digests.len() > 1;
            digests.push(DigestView {
                heading: heading(if several {
                    format!("{}待办事项", d.unit_name)
                } else {
                    "本单位待办事项".into()
                }),
                who: if several { d.unit_name.clone() } else { "本单位".into() },
                intro: match p.kind {
                    Kind::Immediate if d.open.iter().all(|e| e.line.rule == Rule::PersonalData) => {
                        "以下已公开的内容含有市民个人信息，请立即核实处理："
                    }
                    Kind::Immediate => "以下事项需尽快办理：",
                    _ => "",
                },
                unit: d.unit.clone(),
                unit_name: d.unit_name.clone(),
                unit_url: web.unit_url(&d.unit),
                via_fallback: d.via_fallback,
                escalated: d.escalated,
                supervisor_name: d.supervisor_name.clone(),
                counts: counts_of(&open, d.resolved.len()),
                omitted: d.open.len() - listed,
                groups,
                resolved: d.resolved.iter().enumerate().map(|(i, e)| row(i + 1, e, &names, web)).collect(),
            });
        }
        let (copies, copy_rows) = unit_rows(&p.copies, &names, web);
        let (units, report_rows) = unit_rows(&p.report, &names, web);
        let copies_heading = if copies.is_empty() { String::new() } else { heading("所辖单位催办".into()) };
        let report_heading = if units.is_empty() { String::new() } else { heading("所辖单位超期通报".into()) };
        let all_open: Vec<&Entry> = p.open().collect();
        let counts = counts_of(&all_open, p.digests.iter().map(|d| d.resolved.len()).sum());
        let late_units = {
            let mut v: Vec<&str> = p.copies.iter().chain(&p.report).map(|e| e.line.unit.as_str()).collect();
            v.sort_unstable();
            v.dedup();
            v.len()
        };
        let supervision = match (p.copies.is_empty(), p.report.is_empty()) {
            (true, true) => String::new(),
            (copies_empty, _) => format!(
                "所辖 {late_units} 个单位 {} 项事项超期 {} 个工作日以上",
                p.copies.len() + p.report.len(),
                if copies_empty { s.report_after } else { s.escalate_after }
            ),
        };
        let supervision_short = if supervision.is_empty() {
            String::new()
        } else {
            format!("所辖 {late_units} 个单位超期 {} 项", p.copies.len() + p.report.len())
        };
        let escalated = p.digests.iter().any(|d| d.escalated);
        let mut tags = String::new();
        if counts.urgent > 0 || counts.veto > 0 || p.copies.iter().chain(&p.report).any(|e| e.line.urgent) {
            tags.push_str("【紧急】");
        }
        if escalated || !p.copies.is_empty() {
            tags.push_str("【催办】");
        }
        if !p.report.is_empty() {
            tags.push_str("【通报】");
        }
        let listed_open: usize = digests.iter().map(|d| d.counts.open - d.omitted).sum::<usize>()
            + copies.iter().chain(&units).map(|u| u.rows.len()).sum::<usize>();
        let attachment = (s.attach_xlsx && (!all_open.is_empty() || !p.copies.is_empty() || !p.report.is_empty()))
            .then(|| {
                let what = if !p.digests.is_empty() {
                    "待办事项"
                } else if !p.report.is_empty() {
                    "超期通报"
                } else {
                    "催办事项"
                };
                format!("{}{what}-{}.xlsx", p.unit_name, p.date.format("%Y%m%d"))
            });
        let mut sheets = Vec::new();
        if !own_rows.is_empty() {
            sheets.push(("待办事项", own_rows));
        }
        if !copy_rows.is_empty() {
            sheets.push(("所辖单位催办", copy_rows));
        }
        if !report_rows.is_empty() {
            sheets.push(("超期通报", report_rows));
        }
        let fallback_units =
            p.digests.iter().filter(|d| d.via_fallback).map(|d| d.unit_name.as_str()).collect::<Vec<_>>().join("、");
        View {
            kind: p.kind.as_str(),
            subject: String::new(),
            unit: p.unit.clone(),
            unit_name: p.unit_name.clone(),
            unit_url: web.unit_url(p.addressees.first().map_or(p.unit.as_str(), |a| a.0.as_str())),
            date: zh_date(p.date),
            generated_at: when(now),
            via_fallback: p.via_fallback,
            fallback_units: if fallback_units.is_empty() { p.unit_name.clone() } else { fallback_units },
            escalated,
            supervisor_name: p.digests.iter().find_map(|d| d.supervisor_name.clone()),
            escalate_after: s.escalate_after,
            report_after: s.report_after,
            tags,
            copies_count: p.copies.len(),
            report_count: p.report.len(),
            omitted: all_open.len() + p.copies.len() + p.report.len() - listed_open,
            counts,
            digests,
            copies,
            copies_heading,
            units,
            report_heading,
            supervision,
            supervision_short,
            more_where: if attachment.is_some() { "见附件" } else { "见网页" },
            attachment,
            sheets,
        }
    }
}

/// The rows as a workbook: a sheet per section (待办事项, 所辖单位催办,
/// 超期通报) with every row, a header, filters, frozen top row.
pub fn workbook(view: &View) -> Result<Vec<u8>> {
    const HEAD: [(&str, f64); 13] = [
        ("序号", 6.0),
        ("事项类别", 18.0),
        ("承办单位", 22.0),
        ("编号", 20.0),
        ("内容摘要", 50.0),
        ("收到/发布时间", 17.0),
        ("办理期限/发现时间", 19.0),
        ("状态", 22.0),
        ("超期工作日", 11.0),
        ("提醒", 8.0),
        ("期限依据", 22.0),
        ("链接", 40.0),
        ("标记", 10.0),
    ];
    let mut wb = Workbook::new();
    let head = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xF2F2F2))
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center);
    for (name, rows) in &view.sheets {
        let sheet = wb.add_worksheet();
        sheet.set_name(*name)?;
        for (c, (name, width)) in HEAD.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *name, &head)?;
            sheet.set_column_width(c as u16, *width)?;
        }
        for (i, r) in rows.iter().enumerate() {
            let y = (i + 1) as u32;
            sheet.write_number(y, 0, (i + 1) as f64)?;
            sheet.write_string(y, 1, r.rule)?;
            sheet.write_string(y, 2, &r.unit_name)?;
            sheet.write_string(y, 3, r.number.as_deref().unwrap_or(""))?;
            sheet.write_string(y, 4, &r.summary)?;
            sheet.write_string(y, 5, r.received.as_deref().unwrap_or(""))?;
            sheet.write_string(y, 6, &r.deadline)?;
            sheet.write_string(y, 7, &r.status)?;
            // Published personal data has no deadline to be past.
            if !r.veto || r.rule != Rule::PersonalData.zh() {
                sheet.write_number(y, 8, r.overdue as f64)?;
            }
            sheet.write_string(y, 9, r.level)?;
            sheet.write_string(y, 10, &r.basis)?;
            sheet.write_url(y, 11, r.url.as_str())?;
            let mark = match (r.urgent, r.veto) {
                (true, _) => "紧急",
                (_, true) if r.rule == Rule::MessageUnanswered3Months.zh() => "单项否决",
                (_, true) => "个人信息",
                _ => "",
            };
            sheet.write_string(y, 12, mark)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofilter(0, 0, rows.len() as u32, (HEAD.len() - 1) as u16)?;
    }
    Ok(wb.save_to_buffer()?)
}

fn sample_time() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").expect("valid")
}

/// A small email of each kind, to try templates on: a unit's digest (shown
/// to its supervisor), a supervising unit's email with its late units
/// (催办) and the 通报, or (immediate) two units' sections sent to the
/// fallback address.
fn sample(kind: Kind) -> Planned {
    use super::{Digest, Line};
    use crate::model::{ItemId, ItemKind};
    let line = |n: u64, unit: &str, rule, state, overdue| Line {
        fingerprint: format!("{n:016x}"),
        rule,
        state,
        item_id: ItemId(n),
        unit: unit.into(),
        kind: ItemKind::Hotline,
        number: Some(format!("GD2026112000{n}")),
        title: "学校食堂饭菜质量差".into(),
        text: "来电人张三反映学校食堂饭菜质量差，电话13812341234".into(),
        received_at: Some(sample_time() - chrono::Duration::days(10)),
        deadline: sample_time() - chrono::Duration::days(2),
        overdue_working_days: overdue,
        late: None,
        basis: "投诉 5 个工作日".into(),
        link: None,
        urgent: false,
    };
    let entry = |line, level| Entry { line, new: level > 0, level };
    let mut p = Planned {
        kind,
        round: "2026-11-23 09:00".into(),
        date: sample_time().date_naive(),
        addressees: vec![("jiaoyuju".into(), "示范县教育局".into())],
        unit: "jiaoyuju".into(),
        unit_name: "示范县教育局".into(),
        to: vec!["jyj@example.gov.cn".into()],
        via_fallback: false,
        digests: vec![Digest {
            unit: "jiaoyuju".into(),
            unit_name: "示范县教育局".into(),
            via_fallback: false,
            escalated: true,
            supervisor_name: Some("示范县人民政府办公室".into()),
            open: vec![
                entry(line(1, "jiaoyuju", Rule::HotlineDeadline, State::Overdue, 6), 2),
                entry(line(2, "jiaoyuju", Rule::Repost, State::DueSoon, 0), 0),
            ],
            resolved: vec![entry(line(3, "jiaoyuju", Rule::MessageReply, State::Resolved, 0), 0)],
        }],
        copies: Vec::new(),
        report: Vec::new(),
        units: Vec::new(),
        marks: Vec::new(),
    };
    if kind == Kind::Immediate {
        let mut other = p.digests[0].clone();
        (other.unit, other.unit_name, other.via_fallback) = ("weijianwei".into(), "示范县卫生健康委员会".into(), true);
        p.digests[0].via_fallback = true;
        p.digests.push(other);
        p.addressees.push(("weijianwei".into(), "示范县卫生健康委员会".into()));
        (p.unit, p.unit_name, p.via_fallback) =
            ("jiaoyuju+weijianwei".into(), "示范县教育局、示范县卫生健康委员会".into(), true);
    }
    if kind == Kind::Report {
        let mut urgent = line(4, "zhujianju", Rule::HotlineDeadline, State::Overdue, 3);
        urgent.urgent = true;
        p.addressees = vec![("bangongshi".into(), "示范县人民政府办公室".into())];
        p.unit = "bangongshi".into();
        p.unit_name = "示范县人民政府办公室".into();
        p.to = vec!["gk@example.gov.cn".into()];
        p.copies = vec![entry(urgent, 1)];
        p.report = std::mem::take(&mut p.digests).into_iter().flat_map(|d| d.open).filter(|e| e.level == 2).collect();
        p.units =
            vec![("zhujianju".into(), "示范县住房和城乡建设局".into()), ("jiaoyuju".into(), "示范县教育局".into())];
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{Digest, Line};
    use crate::model::{ItemId, ItemKind};

    fn render(p: &Planned, s: &AlertsConfig) -> Rendered {
        Templates::load(None).unwrap().render(p, s, &WebConfig::default(), sample_time()).unwrap()
    }

    /// minijinja escapes '/' in HTML as &#x2f;, which browsers read back.
    fn parts(r: &Rendered) -> [String; 2] {
        [r.text.clone(), r.html.replace("&#x2f;", "/")]
    }

    #[test]
    fn built_in_templates_render_a_digest_in_chinese_with_masking() {
        let r = render(&sample(Kind::Digest), &AlertsConfig::default());
        assert_eq!(r.subject, "【催办】示范县教育局待办提醒：已超期 1 项，即将到期 1 项（2026年11月23日）");
        for part in parts(&r) {
            assert!(part.contains("热线工单办理时限"), "{part}");
            assert!(part.contains("GD20261120001"));
            // The title, not the text: the work order has one of its own.
            assert!(part.contains("学校食堂饭菜质量差"), "{part}");
            assert!(!part.contains("13812341234"));
            assert!(part.contains("http://127.0.0.1:8080/items/0000000000000001"));
            assert!(part.contains("已同时告知示范县人民政府办公室"), "{part}");
            // A superior policy was published, not received.
            assert!(part.contains("发布"), "{part}");
        }
        assert!(r.text.contains("【已办结】"));
        assert_eq!(r.attachment.as_deref(), Some("示范县教育局待办事项-20261123.xlsx"));
        let xlsx = r.xlsx.unwrap();
        assert_eq!(&xlsx[..2], b"PK");
    }

    #[test]
    fn html_escapes_what_feeds_and_exports_say() {
        let mut p = sample(Kind::Digest);
        p.digests[0].open[0].line.title = "<script>alert(1)</script>".into();
        let r = render(&p, &AlertsConfig::default());
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
    }

    /// Issue 17: `1. 示范县教育局：…个工作日   - 热线工单办理时限：…`, the
    /// first bullet ran onto the unit's line.
    #[test]
    fn a_supervisor_reads_its_late_units_and_the_report_each_on_its_own_line() {
        let r = render(&sample(Kind::Report), &AlertsConfig::default());
        assert_eq!(
            r.subject,
            "【紧急】【催办】【通报】示范县人民政府办公室：所辖 2 个单位 2 项事项超期 3 个工作日以上（2026年11月23日）"
        );
        let lines: Vec<&str> = r.text.lines().collect();
        let unit =
            lines.iter().position(|l| l.starts_with("1. 示范县教育局：1 项，最长超期 6 个工作日")).expect(&r.text);
        assert!(lines[unit + 1].starts_with("   - 热线工单办理时限：GD20261120001"), "{}", r.text);
        let copy = lines.iter().position(|l| l.starts_with("1. 示范县住房和城乡建设局：1 项")).expect(&r.text);
        assert!(lines[copy + 1].starts_with("   - 【紧急】热线工单办理时限：GD20261120004"), "{}", r.text);
        assert!(copy < unit, "催办 before the 通报: {}", r.text);
        for part in parts(&r) {
            assert!(part.contains("一、所辖单位催办") && part.contains("二、所辖单位超期通报"), "{part}");
        }
        assert_eq!(r.attachment.as_deref(), Some("示范县人民政府办公室超期通报-20261123.xlsx"));
    }

    fn many(unit: &str, rule: Rule, state: State, n: u64, from: u64) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                line: Line {
                    fingerprint: format!("{unit}{}", from + i),
                    rule,
                    state,
                    item_id: ItemId(from + i),
                    unit: unit.into(),
                    kind: ItemKind::Hotline,
                    number: Some(format!("GD{}", from + i)),
                    title: format!("事项{}", from + i),
                    text: String::new(),
                    received_at: None,
                    deadline: sample_time(),
                    overdue_working_days: if state == State::Overdue { 200 - i as i64 } else { 0 },
                    late: None,
                    basis: String::new(),
                    link: None,
                    urgent: false,
                },
                new: false,
                level: 0,
            })
            .collect()
    }

    /// Issue 17: with a 100-row body cap, 【公开内容含个人信息】1 项, 【栏目不更新】1 项
    /// and the three-month group were headings without rows, after 100 rows
    /// of older orders; an urgent gas-leak order carried no marker.
    #[test]
    fn every_group_shows_its_worst_rows_the_urgent_first_and_no_heading_is_empty() {
        let mut open = many("u", Rule::HotlineDeadline, State::Overdue, 150, 1000);
        open.extend(many("u", Rule::HotlineDeadline, State::DueSoon, 5, 2000));
        open.extend(many("u", Rule::PersonalData, State::Overdue, 1, 3000));
        open.extend(many("u", Rule::ColumnStale, State::Overdue, 1, 4000));
        open.extend(many("u", Rule::MessageUnanswered3Months, State::Overdue, 1, 5000));
        let mut gas = many("u", Rule::HotlineDeadline, State::Overdue, 1, 6000).remove(0);
        gas.line.urgent = true;
        gas.line.overdue_working_days = 1;
        gas.line.title = "燃气管道疑似泄漏".into();
        open.push(gas);
        let mut p = sample(Kind::Digest);
        p.addressees = vec![("u".into(), "县住建局".into())];
        (p.unit, p.unit_name) = ("u".into(), "县住建局".into());
        p.digests = vec![Digest {
            unit: "u".into(),
            unit_name: "县住建局".into(),
            via_fallback: false,
            escalated: false,
            supervisor_name: None,
            open,
            resolved: Vec::new(),
        }];
        // As `alerts::plan` orders them.
        crate::alerts::ordered(&mut p.digests[0].open);
        let s = AlertsConfig::default();
        let r = render(&p, &s);
        assert!(r.subject.starts_with("【紧急】县住建局待办提醒："), "{}", r.subject);
        let heads: Vec<&str> = r.text.lines().filter(|l| l.starts_with('【')).collect();
        assert_eq!(
            heads,
            [
                "【留言超过三个月未答复（单项否决）】1 项",
                "【公开内容含个人信息】1 项",
                "【紧急工单】1 项",
                "【热线工单办理时限】已超期 150 项",
                "【栏目不更新】已超期 1 项",
                "【热线工单办理时限】即将到期 5 项",
            ],
            "{}",
            r.text
        );
        let view = View::of(&p, &s, &WebConfig::default(), sample_time());
        for g in &view.digests[0].groups {
            assert!(!g.rows.is_empty(), "{} has no rows", g.title);
            assert_eq!(g.count, g.rows.len() + g.more);
        }
        let hotline = &view.digests[0].groups[3];
        assert_eq!((hotline.rows.len(), hotline.more), (s.max_rows_per_group, 150 - s.max_rows_per_group));
        // The most overdue first.
        assert_eq!(hotline.rows[0].overdue, 200);
        assert!(r.text.contains(&format!("另有 {} 项见附件", 150 - s.max_rows_per_group)), "{}", r.text);
        assert!(r.text.contains("1. 【紧急】GD6000 燃气管道疑似泄漏"), "{}", r.text);
        assert!(r.html.contains("【紧急】</b>燃气管道疑似泄漏"), "{}", r.html);
        // Published personal data is found, not overdue.
        let pii = r.text.lines().skip_while(|l| !l.starts_with("【公开内容含个人信息】")).nth(2).unwrap();
        assert!(pii.contains("状态：已发现") && !pii.contains("超期"), "{pii}");
        // The workbook keeps every row.
        assert_eq!(view.sheets[0].1.len(), 159);
    }

    #[test]
    fn a_small_total_cap_still_leaves_rows_under_every_heading() {
        assert_eq!(allot(&[150, 1, 1, 1], 20, 100), [20, 1, 1, 1]);
        assert_eq!(allot(&[150, 40, 30], 20, 30), [20, 7, 3]);
        assert_eq!(allot(&[150, 40, 30], 20, 10), [4, 3, 3]);
        assert_eq!(allot(&[2, 1], 0, 0), [1, 1]);
    }

    /// Published personal data is mailed at once: found, to be taken care
    /// of now — not "新增超期事项" as the immediate email said.
    #[test]
    fn published_personal_data_is_worded_as_found() {
        let mut p = sample(Kind::Digest);
        p.kind = Kind::Immediate;
        let mut pii = many("jiaoyuju", Rule::PersonalData, State::Overdue, 1, 7000).remove(0);
        pii.line.overdue_working_days = 0;
        pii.line.basis = "公开内容含个人信息：手机号 139****5678".into();
        p.digests[0].open = vec![pii];
        p.digests[0].resolved.clear();
        p.digests[0].escalated = false;
        let r = render(&p, &AlertsConfig::default());
        assert_eq!(r.subject, "【紧急】示范县教育局：公开内容含个人信息 1 项，请立即处理（2026年11月23日）");
        for part in parts(&r) {
            assert!(part.contains("以下已公开的内容含有市民个人信息，请立即核实处理"), "{part}");
            assert!(part.contains("已发现，请尽快处理") && part.contains("发现"), "{part}");
            assert!(!part.contains("超期"), "{part}");
        }
    }

    #[test]
    fn two_units_in_the_duty_mailbox_each_get_their_section() {
        let mut p = sample(Kind::Immediate);
        p.kind = Kind::Digest;
        let r = render(&p, &AlertsConfig::default());
        assert!(r.subject.contains("示范县教育局、示范县卫生健康委员会待办提醒"), "{}", r.subject);
        for part in parts(&r) {
            assert!(part.contains("示范县教育局、示范县卫生健康委员会未配置接收邮箱"), "{part}");
            assert!(
                part.contains("一、示范县教育局待办事项") && part.contains("二、示范县卫生健康委员会待办事项"),
                "{part}"
            );
            assert!(part.contains("示范县卫生健康委员会有以下事项待办"), "{part}");
        }
    }

    #[test]
    fn an_override_replaces_a_template_and_a_broken_one_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("subject.txt"), "待办 {{ counts.open }} 项").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let r =
            t.render(&sample(Kind::Digest), &AlertsConfig::default(), &WebConfig::default(), sample_time()).unwrap();
        assert_eq!(r.subject, "待办 2 项");
        std::fs::write(dir.path().join("digest.html"), "{% for x in %}").unwrap();
        let e = format!("{:#}", Templates::load(Some(dir.path())).err().unwrap());
        assert!(e.contains("digest.html"), "{e}");
        // Written for the view before sections (top-level `groups`): refused, not an empty email.
        std::fs::write(dir.path().join("digest.html"), "{% for g in groups %}{{ g.title }}{% endfor %}").unwrap();
        let e = format!("{:#}", Templates::load(Some(dir.path())).err().unwrap());
        assert!(e.contains("digest.html") && e.contains("undefined"), "{e}");
        std::fs::remove_file(dir.path().join("digest.html")).unwrap();
        std::fs::write(dir.path().join("digets.txt"), "x").unwrap();
        let e = format!("{:#}", Templates::load(Some(dir.path())).err().unwrap());
        assert!(e.contains("not a template govwatch uses"), "{e}");
    }
}
