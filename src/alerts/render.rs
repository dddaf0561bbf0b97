//! A planned email → subject, plain text, HTML and an .xlsx workbook. Pure:
//! templates are read once (`Templates::load`), rendering does no IO.
//!
//! The built-in templates are in `templates/`; a folder configured as
//! `alerts.templates` replaces any of them by file name. Variables are the
//! fields of [`View`]; `.html` templates escape what they print.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset, NaiveDate};
use minijinja::Environment;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook};
use serde::Serialize;

use super::mask::mask;
use super::{Entry, Kind, Planned};
use crate::config::{AlertsConfig, WebConfig};
use crate::model::ItemKind;

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
/// A 通报 lists at most this many findings per late unit (the most overdue); the attachment has all.
const REPORT_ROWS_PER_UNIT: usize = 10;

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
        for kind in [Kind::Digest, Kind::Report] {
            let sample = sample(kind);
            t.render(&sample, &AlertsConfig::default(), &WebConfig::default(), sample_time())
                .with_context(|| format!("the {} templates fail on a sample email", kind.as_str()))?;
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
        let base = if p.kind == Kind::Report { "report" } else { "digest" };
        let text =
            self.env.get_template(&format!("{base}.txt"))?.render(&view).with_context(|| format!("{base}.txt"))?;
        let html =
            self.env.get_template(&format!("{base}.html"))?.render(&view).with_context(|| format!("{base}.html"))?;
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

/// What templates see.
#[derive(Debug, Serialize)]
pub struct View {
    pub kind: &'static str,
    pub subject: String,
    pub unit: String,
    pub unit_name: String,
    pub unit_url: String,
    /// 2026年11月23日
    pub date: String,
    /// 2026-11-23 09:00
    pub generated_at: String,
    pub via_fallback: bool,
    pub escalated: bool,
    pub supervisor_name: Option<String>,
    pub escalate_after: u32,
    pub report_after: u32,
    pub counts: Counts,
    /// Open findings by rule (digests), at most `alerts.max_rows` in all.
    pub groups: Vec<Group>,
    pub resolved: Vec<Row>,
    /// Late units with their most overdue findings (reports).
    pub units: Vec<UnitRows>,
    /// Open findings not listed in the body (they are in the attachment and on the console).
    pub omitted: usize,
    /// Every open finding, for the attachment.
    #[serde(skip)]
    pub all: Vec<Row>,
    /// The attachment's file name, when one is attached.
    pub attachment: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub open: usize,
    pub overdue: usize,
    pub due_soon: usize,
    pub resolved: usize,
    pub new: usize,
    pub escalated: usize,
}

#[derive(Debug, Serialize)]
pub struct Group {
    pub rule: &'static str,
    pub title: &'static str,
    /// Findings of this rule, listed or not.
    pub count: usize,
    pub rows: Vec<Row>,
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
}

/// One finding, formatted and masked.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub n: usize,
    pub rule: &'static str,
    pub unit: String,
    pub unit_name: String,
    pub number: Option<String>,
    pub summary: String,
    pub received: Option<String>,
    pub deadline: String,
    pub state: &'static str,
    pub overdue: i64,
    /// 催办 / 通报 / empty.
    pub level: &'static str,
    pub new: bool,
    pub basis: String,
    pub url: String,
}

fn when(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&crate::normalize::time::china()).format("%Y-%m-%d %H:%M").to_string()
}

fn zh_date(d: NaiveDate) -> String {
    d.format("%Y年%-m月%-d日").to_string()
}

/// What a row says the item is about: a work order's or message's text,
/// else its title; masked and cut short.
fn summary(e: &Entry) -> String {
    let l = &e.line;
    let source = match l.kind {
        ItemKind::Hotline | ItemKind::Message if !l.text.trim().is_empty() => &l.text,
        _ => &l.title,
    };
    let flat = source.split_whitespace().collect::<Vec<_>>().join(" ");
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
    Row {
        n,
        rule: l.rule.zh(),
        unit: l.unit.clone(),
        unit_name: names.get(&l.unit).cloned().unwrap_or_else(|| l.unit.clone()),
        number: l.number.clone(),
        summary: summary(e),
        received: l.received_at.map(when),
        deadline: when(l.deadline),
        state: if l.state == crate::rules::State::Resolved && l.late == Some(true) {
            "逾期办结"
        } else {
            l.state.zh()
        },
        overdue: l.overdue_working_days,
        level: match e.level {
            2 => "通报",
            1 => "催办",
            _ => "",
        },
        new: e.new,
        basis: l.basis.clone(),
        url: l.url(web),
    }
}

impl View {
    pub fn of(p: &Planned, s: &AlertsConfig, web: &WebConfig, now: DateTime<FixedOffset>) -> View {
        let names: HashMap<String, String> =
            p.units.iter().cloned().chain(std::iter::once((p.unit.clone(), p.unit_name.clone()))).collect();
        let mut groups: Vec<Group> = Vec::new();
        let mut units: Vec<UnitRows> = Vec::new();
        let mut all = Vec::with_capacity(p.open.len());
        let mut listed = 0;
        for e in &p.open {
            if p.kind == Kind::Report {
                if units.last().is_none_or(|u| u.unit != e.line.unit) {
                    units.push(UnitRows {
                        n: units.len() + 1,
                        unit: e.line.unit.clone(),
                        name: names.get(&e.line.unit).cloned().unwrap_or_else(|| e.line.unit.clone()),
                        url: web.unit_url(&e.line.unit),
                        max_overdue: 0,
                        count: 0,
                        rows: Vec::new(),
                    });
                }
                let u = units.last_mut().expect("just pushed");
                u.count += 1;
                u.max_overdue = u.max_overdue.max(e.line.overdue_working_days);
                let r = row(u.count, e, &names, web);
                if u.rows.len() < REPORT_ROWS_PER_UNIT {
                    u.rows.push(r.clone());
                    listed += 1;
                }
                all.push(r);
            } else {
                if groups.last().is_none_or(|g| g.rule != e.line.rule.as_str()) {
                    groups.push(Group {
                        rule: e.line.rule.as_str(),
                        title: e.line.rule.zh(),
                        count: 0,
                        rows: Vec::new(),
                    });
                }
                let g = groups.last_mut().expect("just pushed");
                g.count += 1;
                let r = row(g.count, e, &names, web);
                if listed < s.max_rows {
                    g.rows.push(r.clone());
                    listed += 1;
                }
                all.push(r);
            }
        }
        let resolved = p.resolved.iter().enumerate().map(|(i, e)| row(i + 1, e, &names, web)).collect();
        let state = |st| p.open.iter().filter(|e| e.line.state == st).count();
        let counts = Counts {
            open: p.open.len(),
            overdue: state(crate::rules::State::Overdue),
            due_soon: state(crate::rules::State::DueSoon),
            resolved: p.resolved.len(),
            new: p.open.iter().filter(|e| e.new).count(),
            escalated: p.open.iter().filter(|e| e.level >= 1).count(),
        };
        let attachment = (s.attach_xlsx && !p.open.is_empty()).then(|| {
            let what = if p.kind == Kind::Report { "超期通报" } else { "待办事项" };
            format!("{}{what}-{}.xlsx", p.unit_name, p.date.format("%Y%m%d"))
        });
        View {
            kind: p.kind.as_str(),
            subject: String::new(),
            unit: p.unit.clone(),
            unit_name: p.unit_name.clone(),
            unit_url: web.unit_url(&p.unit),
            date: zh_date(p.date),
            generated_at: when(now),
            via_fallback: p.via_fallback,
            escalated: p.escalated,
            supervisor_name: p.supervisor_name.clone(),
            escalate_after: s.escalate_after,
            report_after: s.report_after,
            counts,
            groups,
            resolved,
            units,
            omitted: p.open.len() - listed,
            all,
            attachment,
        }
    }
}

/// The rows as a workbook: one sheet, a header, filters, frozen top row.
pub fn workbook(view: &View) -> Result<Vec<u8>> {
    const HEAD: [(&str, f64); 12] = [
        ("序号", 6.0),
        ("事项类别", 18.0),
        ("承办单位", 22.0),
        ("编号", 20.0),
        ("内容摘要", 50.0),
        ("收到时间", 17.0),
        ("办理期限", 17.0),
        ("状态", 10.0),
        ("超期工作日", 11.0),
        ("提醒", 8.0),
        ("期限依据", 22.0),
        ("链接", 40.0),
    ];
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet();
    sheet.set_name(if view.kind == "report" { "超期通报" } else { "待办事项" })?;
    let head = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xF2F2F2))
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center);
    for (c, (name, width)) in HEAD.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &head)?;
        sheet.set_column_width(c as u16, *width)?;
    }
    let rows = &view.all;
    for (i, r) in rows.iter().enumerate() {
        let y = (i + 1) as u32;
        sheet.write_number(y, 0, (i + 1) as f64)?;
        sheet.write_string(y, 1, r.rule)?;
        sheet.write_string(y, 2, &r.unit_name)?;
        sheet.write_string(y, 3, r.number.as_deref().unwrap_or(""))?;
        sheet.write_string(y, 4, &r.summary)?;
        sheet.write_string(y, 5, r.received.as_deref().unwrap_or(""))?;
        sheet.write_string(y, 6, &r.deadline)?;
        sheet.write_string(y, 7, r.state)?;
        sheet.write_number(y, 8, r.overdue as f64)?;
        sheet.write_string(y, 9, r.level)?;
        sheet.write_string(y, 10, &r.basis)?;
        sheet.write_url(y, 11, r.url.as_str())?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, rows.len() as u32, (HEAD.len() - 1) as u16)?;
    Ok(wb.save_to_buffer()?)
}

fn sample_time() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").expect("valid")
}

/// A small email of each kind, to try templates on.
fn sample(kind: Kind) -> Planned {
    use super::{Line, Mark};
    use crate::model::ItemId;
    use crate::rules::{Rule, State};
    let line = |n: u64, rule, state, overdue| Line {
        fingerprint: format!("{n:016x}"),
        rule,
        state,
        item_id: ItemId(n),
        unit: "jiaoyuju".into(),
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
    };
    let open = vec![
        Entry { line: line(1, Rule::HotlineDeadline, State::Overdue, 6), new: true, level: 2 },
        Entry { line: line(2, Rule::Repost, State::DueSoon, 0), new: false, level: 0 },
    ];
    let resolved = vec![Entry { line: line(3, Rule::MessageReply, State::Resolved, 0), new: false, level: 0 }];
    Planned {
        kind,
        round: "2026-11-23 09:00".into(),
        date: sample_time().date_naive(),
        unit: "jiaoyuju".into(),
        unit_name: "示范县教育局".into(),
        to: vec!["jyj@example.gov.cn".into()],
        cc: Vec::new(),
        via_fallback: false,
        escalated: true,
        supervisor_name: Some("示范县人民政府办公室".into()),
        open,
        resolved,
        units: vec![("jiaoyuju".into(), "示范县教育局".into())],
        marks: Vec::<Mark>::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_templates_render_a_digest_in_chinese_with_masking() {
        let t = Templates::load(None).unwrap();
        let p = sample(Kind::Digest);
        let r = t.render(&p, &AlertsConfig::default(), &WebConfig::default(), sample_time()).unwrap();
        assert_eq!(r.subject, "【催办】示范县教育局待办提醒：已超期 1 项，即将到期 1 项（2026年11月23日）");
        // minijinja escapes '/' in HTML as &#x2f;, which browsers read back.
        for part in [&r.text, &r.html.replace("&#x2f;", "/")] {
            assert!(part.contains("热线工单办理时限"), "{part}");
            assert!(part.contains("GD20261120001"));
            assert!(part.contains("来电人张*反映学校食堂饭菜质量差，电话138****1234"), "{part}");
            assert!(!part.contains("13812341234"));
            assert!(part.contains("http://127.0.0.1:8080/items/0000000000000001"));
            assert!(part.contains("抄送示范县人民政府办公室"));
        }
        assert!(r.text.contains("【已办结】"));
        assert_eq!(r.attachment.as_deref(), Some("示范县教育局待办事项-20261123.xlsx"));
        let xlsx = r.xlsx.unwrap();
        assert_eq!(&xlsx[..2], b"PK");
    }

    #[test]
    fn html_escapes_what_feeds_and_exports_say() {
        let t = Templates::load(None).unwrap();
        let mut p = sample(Kind::Digest);
        p.open[0].line.text = "<script>alert(1)</script>".into();
        let r = t.render(&p, &AlertsConfig::default(), &WebConfig::default(), sample_time()).unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn a_report_lists_late_units() {
        let t = Templates::load(None).unwrap();
        let r =
            t.render(&sample(Kind::Report), &AlertsConfig::default(), &WebConfig::default(), sample_time()).unwrap();
        assert!(r.subject.starts_with("【通报】示范县教育局：所辖 1 个单位 2 项"), "{}", r.subject);
        assert!(r.text.contains("1. 示范县教育局：2 项，最长超期 6 个工作日"), "{}", r.text);
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
        std::fs::remove_file(dir.path().join("digest.html")).unwrap();
        std::fs::write(dir.path().join("digets.txt"), "x").unwrap();
        let e = format!("{:#}", Templates::load(Some(dir.path())).err().unwrap());
        assert!(e.contains("not a template govwatch uses"), "{e}");
    }
}
