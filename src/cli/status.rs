//! `govwatch status`: is it running, and is it well — read from the store
//! (and the lock file), so it works whether or not the daemon runs.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::config::Config;
use crate::daemon::lock;
use crate::index;

#[derive(Debug, Serialize)]
pub struct Status {
    pub daemon: Daemon,
    pub items: u64,
    pub index: IndexStatus,
    pub sources: Sources,
    pub last_round: Option<LastRound>,
    pub emails: Emails,
    pub findings: Findings,
    /// Export sources with rows that are intake only or history.
    pub intake: Vec<SourceIntake>,
    /// Where the store is: the SQLite file, or PostgreSQL's host, port and database.
    pub store: String,
    /// The `govwatch run` processes that used this store lately (one on
    /// SQLite; several sharing a PostgreSQL store), newest heartbeat first.
    pub nodes: Vec<NodeStatus>,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub listen: Option<String>,
    pub started_at: String,
    /// The last heartbeat (RFC 3339, Asia/Shanghai) and its age in seconds.
    pub last_heartbeat: String,
    pub heartbeat_age_secs: i64,
    /// `running` (beating within `daemon.lease_secs`), `stopped` (said so) or
    /// `lost` (stopped beating without saying so: killed, or cut off).
    pub state: &'static str,
    /// Leases it holds now (sources, `leader`, import files).
    pub leases: i64,
    /// The store revision its search index holds.
    pub index_rev: i64,
}

#[derive(Debug, Serialize)]
pub struct SourceIntake {
    pub source: String,
    #[serde(flatten)]
    pub intake: crate::rules::deadlines::Intake,
}

#[derive(Debug, Serialize)]
pub struct Daemon {
    pub running: bool,
    /// The lock file's line: `pid N, started …`.
    pub holder: Option<String>,
    pub data_dir: String,
}

#[derive(Debug, Serialize)]
pub struct IndexStatus {
    pub documents: Option<u64>,
    /// Store revisions not yet indexed (the daemon catches up by itself).
    pub lag: Option<i64>,
    pub size_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Sources {
    pub enabled: usize,
    pub healthy: usize,
    pub failing: usize,
    pub never_polled: usize,
    pub failing_list: Vec<FailingSource>,
}

#[derive(Debug, Serialize)]
pub struct FailingSource {
    pub id: String,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_success_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LastRound {
    pub round: String,
    pub at: String,
    pub emails: i64,
}

#[derive(Debug, Serialize)]
pub struct Emails {
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
}

#[derive(Debug, Serialize)]
pub struct Findings {
    pub overdue: i64,
    pub due_soon: i64,
    pub by_rule: Vec<RuleCount>,
}

#[derive(Debug, Serialize)]
pub struct RuleCount {
    pub rule: String,
    pub state: String,
    pub count: i64,
}

pub fn gather(cfg: &Config) -> Result<Status> {
    let holder = lock::holder(&cfg.storage.data_dir);
    let store = super::open_store(cfg)?;
    let health = store.source_health()?;
    let enabled: Vec<_> = cfg.sources.iter().filter(|s| s.enabled).collect();
    let mut sources = Sources { enabled: enabled.len(), healthy: 0, failing: 0, never_polled: 0, failing_list: vec![] };
    for s in &enabled {
        match health.iter().find(|h| h.id == s.id) {
            None => sources.never_polled += 1,
            Some(h) if h.consecutive_failures > 0 => {
                sources.failing += 1;
                sources.failing_list.push(FailingSource {
                    id: h.id.clone(),
                    consecutive_failures: h.consecutive_failures,
                    last_error: h.current_error().map(str::to_string),
                    last_success_at: h.last_success_at.clone(),
                });
            }
            Some(_) => sources.healthy += 1,
        }
    }
    // The index is only looked at, never created or rebuilt, from here.
    let dir = &cfg.storage.index_dir;
    let (documents, lag) = if dir.join("meta.json").exists() {
        match super::open_index(cfg) {
            Ok(idx) => (Some(idx.num_docs()), Some((store.max_rev()? - idx.indexed_rev()).max(0))),
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    let (queued, sent, failed) = store.outbox_counts()?;
    let by_rule: Vec<RuleCount> =
        store.finding_counts()?.into_iter().map(|(rule, state, count)| RuleCount { rule, state, count }).collect();
    let sum = |state: &str| by_rule.iter().filter(|r| r.state == state).map(|r| r.count).sum();
    let mut by_source = crate::findings::intake(cfg, &store, super::now())?;
    let intake: Vec<SourceIntake> = enabled
        .iter()
        .filter_map(|s| by_source.remove(&s.id).map(|intake| SourceIntake { source: s.id.clone(), intake }))
        .filter(|i| !i.intake.zh().is_empty())
        .collect();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let lease_ms = cfg.daemon.lease_secs as i64 * 1000;
    let nodes = store
        .nodes(now_ms)?
        .into_iter()
        .map(|n| {
            let age = now_ms - n.heartbeat_ms;
            NodeStatus {
                state: if n.stopped_at.is_some() {
                    "stopped"
                } else if age <= lease_ms {
                    "running"
                } else {
                    "lost"
                },
                last_heartbeat: chrono::DateTime::from_timestamp_millis(n.heartbeat_ms)
                    .map(|t| t.with_timezone(&crate::normalize::time::china()).to_rfc3339())
                    .unwrap_or_default(),
                heartbeat_age_secs: age / 1000,
                id: n.id,
                host: n.host,
                pid: n.pid,
                listen: n.listen,
                started_at: n.started_at,
                leases: n.leases,
                index_rev: n.index_rev,
            }
        })
        .collect();
    Ok(Status {
        store: store.path().display().to_string(),
        nodes,
        daemon: Daemon { running: holder.is_some(), holder, data_dir: cfg.storage.data_dir.display().to_string() },
        items: store.count_items()?,
        index: IndexStatus { documents, lag, size_bytes: crate::web::dir_size(dir) },
        sources,
        last_round: store.last_round()?.map(|(round, at, emails)| LastRound { round, at, emails }),
        emails: Emails { queued, sent, failed },
        findings: Findings { overdue: sum("overdue"), due_soon: sum("due_soon"), by_rule },
        intake,
    })
}

pub fn run(cfg: &Config, json: bool) -> Result<ExitCode> {
    let st = gather(cfg)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &st)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    use crate::glossary::{self, DAEMON, INDEX, OUTBOX, SOURCE};
    match &st.daemon.holder {
        Some(h) => writeln!(out, "{DAEMON}：运行中（{}）", lock::describe(h))?,
        None => writeln!(out, "{DAEMON}：未运行（数据目录 {}）", st.daemon.data_dir)?,
    }
    writeln!(out, "存储：{}", st.store)?;
    for n in &st.nodes {
        let state = match n.state {
            "running" => "运行中",
            "stopped" => "已停止",
            _ => "失联",
        };
        writeln!(
            out,
            "    节点 {}：{state}；主机 {} 进程 {}；最近心跳 {}（{} 秒前）；持有租约 {} 个；索引至修订 {}{}",
            n.id,
            n.host,
            n.pid,
            index::display_time(&n.last_heartbeat),
            n.heartbeat_age_secs,
            n.leases,
            n.index_rev,
            n.listen.as_deref().map(|l| format!("；控制台 {l}")).unwrap_or_default()
        )?;
    }
    let s = &st.sources;
    writeln!(
        out,
        "{SOURCE}：启用 {} 个，{} {}，{} {}，{} {}",
        s.enabled,
        glossary::health("ok"),
        s.healthy,
        glossary::health("failing"),
        s.failing,
        glossary::health("never_polled"),
        s.never_polled
    )?;
    for f in &s.failing_list {
        writeln!(
            out,
            "    {} 连续失败 {} 次；最近成功 {}；错误 {}",
            f.id,
            f.consecutive_failures,
            f.last_success_at.as_deref().map(index::display_time).unwrap_or_else(|| "—".into()),
            f.last_error.as_deref().unwrap_or("—")
        )?;
    }
    for i in &st.intake {
        for line in i.intake.zh() {
            writeln!(out, "    {}：{line}", i.source)?;
        }
    }
    let lag = match st.index.lag {
        Some(0) => "已同步".to_string(),
        Some(n) => format!("落后 {n} 个修订（{DAEMON}会自动补上）"),
        None => "尚未建立".to_string(),
    };
    writeln!(
        out,
        "条目：{} 条；{INDEX}：{} 篇，{:.1} MB，{lag}",
        st.items,
        st.index.documents.map_or("—".into(), |n| n.to_string()),
        st.index.size_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "未办结{}：{} {}，{} {}",
        glossary::FINDING,
        glossary::state(crate::rules::State::Overdue),
        st.findings.overdue,
        glossary::state(crate::rules::State::DueSoon),
        st.findings.due_soon
    )?;
    for r in st.findings.by_rule.iter().filter(|r| r.state != "resolved") {
        // Personal data is found, not overdue (the words of `findings` and the emails).
        let state = match (r.rule.parse::<crate::rules::Rule>(), r.state.parse::<crate::rules::State>()) {
            (Ok(rule), Ok(state)) => crate::alerts::words::state_word(rule, state, None),
            _ => glossary::state_named(&r.state),
        };
        writeln!(out, "    {}：{} {}", glossary::rule_named(&r.rule), state, r.count)?;
    }
    match &st.last_round {
        Some(r) => writeln!(
            out,
            "上一轮提醒：{}（{}，{} 封）",
            glossary::round(&r.round),
            index::display_time(&r.at),
            r.emails
        )?,
        None => writeln!(out, "上一轮提醒：尚无")?,
    }
    writeln!(
        out,
        "{OUTBOX}：{} {}，{} {}，{} {}",
        glossary::outbox_state("queued"),
        st.emails.queued,
        glossary::outbox_state("sent"),
        st.emails.sent,
        glossary::outbox_state("failed"),
        st.emails.failed
    )?;
    Ok(ExitCode::SUCCESS)
}
