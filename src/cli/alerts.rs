//! `govwatch alerts …`: preview a unit's digest, run a round now, list and
//! requeue the outbox.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use clap::{Subcommand, ValueEnum};

use super::{EXIT_CONFIG, calendar_of, now, open_store, parse_now, runtime};
use crate::alerts::render::Templates;
use crate::alerts::{Plan, Round};
use crate::config::Config;
use crate::mailer::{self, Mailer};

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Render the one email a unit's addresses would get now (its digest, its late units, its 通报)
    Preview {
        #[arg(long, value_name = "ID")]
        unit: String,
        /// digest | report (only an email with a 通报 in it)
        #[arg(long, value_enum, default_value = "digest")]
        kind: PreviewKind,
        /// Evaluate at this moment instead of now ("YYYY-MM-DD HH:MM", Asia/Shanghai)
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Print the HTML part instead of the plain text
        #[arg(long)]
        html: bool,
        /// Write to this file instead: .eml (the whole message), .html, .xlsx (the attachment), else the text
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Run a round now: evaluate the rules, queue one email per address, send the outbox
    Send {
        /// Write the emails as .eml files to a folder instead; record and send nothing
        #[arg(long)]
        dry_run: bool,
        /// The folder for --dry-run [default: <mail.dir>/dry-run]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Run the round as of this moment ("YYYY-MM-DD HH:MM", Asia/Shanghai) instead of now: for
        /// tests and for catching up; it is recorded like any round
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Print the round's report as JSON
        #[arg(long)]
        json: bool,
    },
    /// List queued, sent and failed emails, newest first
    Outbox {
        /// queued | sent | failed
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the stored message of this email
        #[arg(long, value_name = "ID")]
        show: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Put failed emails back in the queue (all, or the ids given) and send them
    Retry { ids: Vec<i64> },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PreviewKind {
    Digest,
    Report,
}

pub fn run(cfg: &Config, cmd: AlertsCommand) -> Result<ExitCode> {
    match cmd {
        AlertsCommand::Preview { unit, kind, now, html, out } => preview(cfg, &unit, kind, now.as_deref(), html, out),
        AlertsCommand::Send { dry_run, out, now: at, json } => {
            let at = match at {
                Some(s) => parse_now(&s)?,
                None => now(),
            };
            if dry_run { dry_run_round(cfg, out, at, json) } else { send(cfg, at, json) }
        }
        AlertsCommand::Outbox { state, limit, show, json } => outbox(cfg, state.as_deref(), limit, show, json),
        AlertsCommand::Retry { ids } => retry(cfg, &ids),
    }
}

fn templates(cfg: &Config) -> Result<Templates> {
    Templates::load(cfg.alerts.templates.as_deref()).context("alerts.templates")
}

fn preview(
    cfg: &Config,
    unit: &str,
    kind: PreviewKind,
    at: Option<&str>,
    html: bool,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
    if cfg.unit(unit).is_none() {
        let known: Vec<&str> = cfg.units.iter().map(|u| u.id.as_str()).collect();
        eprintln!("错误：--unit {unit}：没有这个单位；已配置的单位：{}", known.join(", "));
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let cal = calendar_of(cfg)?;
    let store = open_store(cfg)?;
    let at = match at {
        Some(s) => parse_now(s)?,
        None => now(),
    };
    // Findings at that moment, without recording anything.
    let (findings, _) = crate::findings::evaluate(cfg, &cal, &store, at, false)?;
    let mut lines = store.lines_for(&findings)?;
    crate::alerts::words::name_sources(&mut lines, &cfg.sources);
    let (history, _) = store.mail_history()?;
    let shown = mailer::preview_settings(cfg);
    let plan = crate::alerts::plan(lines, &history, &shown.units, &shown.alerts, &cal, &Round::manual(at));
    // The email the unit's addresses get (its own items, its late units, the 通报: one a round);
    // `--kind report` wants one with a 通报 in it.
    let plan = Plan {
        emails: plan
            .emails
            .into_iter()
            .filter(|p| p.addressees.iter().any(|(id, _)| id == unit))
            .filter(|p| matches!(kind, PreviewKind::Digest) || !p.report.is_empty())
            .take(1)
            .collect(),
        ..plan
    };
    let Some(p) = plan.emails.first() else {
        let name = cfg.unit(unit).map_or(unit, |u| u.name.as_str());
        let what = match kind {
            PreviewKind::Digest => "没有未办结的事项，不发待办提醒",
            PreviewKind::Report => "所辖单位没有超期到须通报的事项，不发通报",
        };
        eprintln!("{name}：截至 {}，{what}", at.format("%Y-%m-%d %H:%M"));
        return Ok(ExitCode::SUCCESS);
    };
    let rendered = mailer::render_plan(cfg, &templates(cfg)?, &plan, at)?;
    let (_, mail, r) = rendered.into_iter().next().expect("one planned email");
    let Some(path) = out else {
        let mut o = std::io::stdout().lock();
        if html {
            o.write_all(r.html.as_bytes())?;
        } else {
            writeln!(o, "收件人：{}", p.to.join(", "))?;
            writeln!(o, "主题：{}\n", r.subject)?;
            o.write_all(r.text.as_bytes())?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let bytes: Vec<u8> = match ext.as_str() {
        "eml" => mail.message,
        "html" | "htm" => r.html.into_bytes(),
        "xlsx" => match r.xlsx {
            Some(x) => x,
            None => anyhow::bail!("没有附件（配置 alerts.attach_xlsx 已关闭）"),
        },
        _ => r.text.into_bytes(),
    };
    std::fs::write(&path, bytes).with_context(|| format!("无法写入 {}", path.display()))?;
    eprintln!("{}: {}", path.display(), r.subject);
    Ok(ExitCode::SUCCESS)
}

fn dry_run_round(cfg: &Config, out: Option<PathBuf>, at: DateTime<FixedOffset>, json: bool) -> Result<ExitCode> {
    let cal = calendar_of(cfg)?;
    let store = open_store(cfg)?;
    let (findings, _) = crate::findings::evaluate(cfg, &cal, &store, at, false)?;
    let mut lines = store.lines_for(&findings)?;
    crate::alerts::words::name_sources(&mut lines, &cfg.sources);
    let (history, _) = store.mail_history()?;
    let plan = crate::alerts::plan(lines, &history, &cfg.units, &cfg.alerts, &cal, &Round::manual(at));
    let dir = out.unwrap_or_else(|| cfg.mail.dir.join("dry-run"));
    let rendered = mailer::render_plan(cfg, &templates(cfg)?, &plan, at)?;
    let mut written = Vec::new();
    for (i, (p, m, r)) in rendered.iter().enumerate() {
        let name = format!("{:03}-{}-{}.eml", i + 1, p.kind.as_str(), p.unit);
        let path = mailer::write_eml(&dir, &name, &m.message)?;
        written.push(serde_json::json!({
            "kind": p.kind.as_str(), "unit": p.unit, "to": p.to, "cc": Vec::<String>::new(),
            "subject": r.subject, "findings": p.listed(), "file": path,
        }));
    }
    let mut o = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(
            &mut o,
            &serde_json::json!({ "dry_run": true, "emails": written, "unroutable": plan.unroutable }),
        )?;
        writeln!(o)?;
    } else {
        writeln!(o, "试运行：{} 封邮件写入 {}（未记录、未发送）", written.len(), dir.display())?;
        for w in &written {
            writeln!(
                o,
                "  【{}】{} → {}：{}",
                crate::glossary::mail_kind_named(w["kind"].as_str().unwrap_or("")),
                w["unit"].as_str().unwrap_or(""),
                w["to"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default(),
                w["subject"].as_str().unwrap_or("")
            )?;
        }
    }
    unroutable_warning(&plan.unroutable);
    Ok(ExitCode::SUCCESS)
}

fn unroutable_warning(list: &[(String, usize)]) {
    for (unit, n) in list {
        eprintln!("警告：单位 {unit} 有 {n} 项事项要提醒，但没有收件地址，alerts.fallback 也为空：未发送");
    }
}

fn send(cfg: &Config, at: DateTime<FixedOffset>, json: bool) -> Result<ExitCode> {
    let cal = calendar_of(cfg)?;
    let store = open_store(cfg)?;
    let mailer = Mailer::new(cfg)?;
    crate::findings::evaluate(cfg, &cal, &store, at, true)?;
    let report = mailer::queue_round(cfg, &cal, &store, &templates(cfg)?, &Round::manual(at))?;
    let delivery = runtime()?.block_on(mailer.deliver(&store, at.max(now())))?;
    let (queued, sent, failed) = store.outbox_counts()?;
    let mut o = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(
            &mut o,
            &serde_json::json!({
                "round": report, "delivery": delivery,
                "outbox": { "queued": queued, "sent": sent, "failed": failed },
            }),
        )?;
        writeln!(o)?;
    } else {
        writeln!(
            o,
            "本轮（{}）：排队 {} 封邮件，涉及 {} 条事项",
            crate::glossary::round(&report.round),
            report.emails,
            report.findings
        )?;
        for (kind, unit, to, subject) in &report.queued {
            writeln!(o, "  【{}】{unit} → {}：{subject}", crate::glossary::mail_kind_named(kind), to.join(", "))?;
        }
        writeln!(o, "发送：成功 {} 封，待重试 {} 封，失败 {} 封", delivery.sent, delivery.retried, delivery.failed)?;
        if let Some(e) = &delivery.last_error {
            writeln!(o, "最近的错误：{e}")?;
        }
        writeln!(o, "发件箱：待发送 {queued}，已发送 {sent}，发送失败 {failed}（govwatch alerts outbox 查看）")?;
    }
    unroutable_warning(&report.unroutable);
    Ok(ExitCode::SUCCESS)
}

fn outbox(cfg: &Config, state: Option<&str>, limit: usize, show: Option<i64>, json: bool) -> Result<ExitCode> {
    if let Some(s) = state
        && !["queued", "sent", "failed"].contains(&s)
    {
        eprintln!("错误：--state {s}：应为 queued（待发送）、sent（已发送）或 failed（发送失败）");
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let store = open_store(cfg)?;
    let mut o = std::io::stdout().lock();
    if let Some(id) = show {
        match store.outbox_message(id)? {
            Some(m) => o.write_all(&m)?,
            None => {
                eprintln!("错误：发件箱中没有第 {id} 封邮件");
                return Ok(ExitCode::from(super::EXIT_FAILURE));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = store.outbox(state, limit)?;
    if json {
        serde_json::to_writer_pretty(&mut o, &rows)?;
        writeln!(o)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (queued, sent, failed) = store.outbox_counts()?;
    writeln!(o, "发件箱：待发送 {queued}，已发送 {sent}，发送失败 {failed}")?;
    for r in rows {
        use crate::glossary::{mail_kind_named, outbox_state, round};
        let state = outbox_state(&r.state);
        let kind = mail_kind_named(&r.kind);
        writeln!(o, "#{} {state} 【{kind}】{} → {}：{}", r.id, r.unit, r.recipients.join(", "), r.subject)?;
        let when =
            r.sent_at.as_deref().map_or_else(|| crate::index::display_time(&r.created_at), crate::index::display_time);
        write!(o, "    {} · {when} · 尝试 {} 次", round(&r.round), r.attempts)?;
        if let Some(n) = &r.next_attempt_at {
            write!(o, " · 下次 {}", crate::index::display_time(n))?;
        }
        writeln!(o)?;
        if let Some(e) = &r.last_error {
            writeln!(o, "    错误：{e}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn retry(cfg: &Config, ids: &[i64]) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    let n = store.requeue_failed(ids, now())?;
    println!("重新排队 {n} 封失败的邮件");
    let delivery = runtime()?.block_on(Mailer::new(cfg)?.deliver(&store, now()))?;
    println!("发送：成功 {} 封，待重试 {} 封，失败 {} 封", delivery.sent, delivery.retried, delivery.failed);
    if let Some(e) = &delivery.last_error {
        println!("最近的错误：{e}");
    }
    Ok(ExitCode::SUCCESS)
}
