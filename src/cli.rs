//! The subcommands. Output meant for duty officers is in Chinese; messages for
//! administrators (config problems) follow the key-path style of
//! `config check`. `--json` output is for other tools: its field names are a
//! contract.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, Severity};
use crate::index::{self, SearchIndex, SearchRequest, Sort, WriterOptions};
use crate::normalize::time::china;
use crate::poll::{PollStatus, Poller};
use crate::store::Store;

mod alerts;
mod calendar;
mod status;

#[derive(Debug, Parser)]
#[command(
    name = "govwatch",
    version,
    about = "政务公开与 12345 热线监测 — watches portals, feeds and exports, and searches them in Chinese"
)]
pub struct Cli {
    /// Configuration file [default: /etc/govwatch/govwatch.toml if present, else config/govwatch.toml]
    #[arg(long, global = true, env = "GOVWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch sources now and print, per source, new / updated / unchanged / error
    Poll {
        /// Only this source (repeatable); default: every enabled source
        #[arg(long = "source", value_name = "ID")]
        sources: Vec<String>,
        /// Print a JSON array of per-source reports
        #[arg(long)]
        json: bool,
    },
    /// Search everything ingested (Chinese full text)
    Search(SearchArgs),
    /// Show each source's health
    Sources {
        #[arg(long)]
        json: bool,
    },
    /// Configuration commands
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Rebuild the search index from the store
    Reindex,
    /// Import hotline or message exports (CSV, XLSX) into an export source
    Import {
        /// The export source (kind = "export")
        #[arg(long = "source", value_name = "ID")]
        source: String,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print a JSON array of per-file reports
        #[arg(long)]
        json: bool,
    },
    /// List export rows that could not be read (file, row, column, reason)
    Quarantine {
        #[arg(long = "source", value_name = "ID")]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// What is due soon, overdue, or was answered late, evaluated now
    Findings(FindingsArgs),
    /// Superior policies and whether each obligated website reposted them in time
    Reposts(RepostsArgs),
    /// Record a duty officer's response to an item (a public-opinion item)
    Respond {
        /// The item id (16 hex digits, as search and findings show it)
        item: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Working days of the official calendar
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Emails to units: preview a digest, run a round now, the outbox
    Alerts {
        #[command(subcommand)]
        command: alerts::AlertsCommand,
    },
    /// Run the service: poll on schedules, evaluate, mail, serve /healthz and
    /// /metrics, until SIGTERM/SIGINT (SIGHUP reloads the configuration)
    Run,
    /// Serve the web console only (no polling), until SIGTERM/SIGINT
    Serve,
    /// Console accounts
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Is the daemon running, which sources fail, last round, outbox, open findings
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The dead-link check of the portal's pages
    Links {
        #[command(subcommand)]
        command: LinksCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Check the due links now (as the daemon does on inspection.links.schedule) and record the results
    Check {
        /// Print the run's report as JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Ask for a password and print the [[users]] entry (an argon2id hash) to paste into the configuration
    Add {
        name: String,
        #[arg(long, default_value = "officer", value_parser = ["officer", "admin"])]
        role: String,
        /// Read the password from the first line of standard input (scripts)
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Report every problem in the configuration; exit status 2 if any is an error
    Check,
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Print true if the date is a working day, else false
    IsWorkday {
        /// YYYY-MM-DD
        date: String,
    },
    /// Print the N-th working day strictly after the date (a deadline of N working days)
    Add {
        /// YYYY-MM-DD
        date: String,
        /// N ≥ 1
        n: u32,
    },
    /// Read a 国务院办公厅 holiday notice (its own text) into the schedule file of [calendar] files
    Notice {
        /// The notice as text or a saved web page ("-": standard input)
        file: PathBuf,
        /// The year it is for [default: the latest year the notice names]
        #[arg(long)]
        year: Option<i32>,
        /// An amending notice (an extension, a one-off day): add its days to the year instead of replacing it
        #[arg(long)]
        amend: bool,
        /// Print what was understood and write nothing
        #[arg(long)]
        dry_run: bool,
        /// Write to this schedule file [default: the last of [calendar] files]
        #[arg(long, value_name = "FILE")]
        into: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RepostsArgs {
    /// Only this website (its site id, or the id of one of its portal sources)
    #[arg(long, value_name = "ID")]
    pub portal: Option<String>,
    /// Only this superior source
    #[arg(long, value_name = "ID")]
    pub superior: Option<String>,
    /// Only superior items from this day on (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Evaluate at this moment instead of now ("YYYY-MM-DD HH:MM", Asia/Shanghai)
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print one JSON array, one object per (superior item, website)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    #[arg(long, value_name = "ID")]
    pub unit: Option<String>,
    /// hotline_deadline | message_reply | message_unanswered_3_months | disclosure_deadline | opinion_response
    #[arg(long, value_name = "RULE")]
    pub rule: Option<crate::rules::Rule>,
    /// due_soon | overdue | resolved
    #[arg(long, value_name = "STATE")]
    pub state: Option<crate::rules::State>,
    /// Evaluate at this moment instead of now ("YYYY-MM-DD HH:MM", Asia/Shanghai); nothing is recorded
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print one JSON array of findings
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words must all occur; "quoted phrase"; -word excludes (quote the whole query: "热线 -微信")
    #[arg(allow_hyphen_values = true)]
    pub query: String,
    #[arg(long = "source", value_name = "ID")]
    pub sources: Vec<String>,
    #[arg(long = "unit", value_name = "ID")]
    pub units: Vec<String>,
    /// feed | page | export
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// superior | portal | hotline | messages | opinion
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// national | province | city | county | town | department
    #[arg(long = "level", value_name = "LEVEL")]
    pub levels: Vec<String>,
    /// First day, YYYY-MM-DD (Asia/Shanghai)
    #[arg(long)]
    pub since: Option<String>,
    /// Last day, YYYY-MM-DD (Asia/Shanghai), included
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// relevance | newest | oldest
    #[arg(long, default_value = "relevance")]
    pub sort: Sort,
    /// Count every match even for very broad queries (slower)
    #[arg(long)]
    pub exact_count: bool,
    /// Print one JSON array of hits
    #[arg(long)]
    pub json: bool,
}

/// Exit statuses.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

/// The current time in Asia/Shanghai.
pub fn now() -> DateTime<FixedOffset> {
    let t = Utc::now().with_timezone(&china());
    t.with_nanosecond(0).unwrap_or(t)
}

/// An error that has already been reported and only sets the exit status.
#[derive(Debug)]
pub struct Reported(pub u8);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Reported {}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let path = config::resolve_path(cli.config.as_deref());
    if let Command::Config { command: ConfigCommand::Check } = cli.command {
        return config_check(&path);
    }
    if let Command::User { command: UserCommand::Add { name, role, password_stdin } } = &cli.command {
        return user_add(name, role, *password_stdin);
    }
    if let Command::Calendar { command } = &cli.command {
        // The calendar works without a configuration file (built-in schedules only).
        let cfg = if cli.config.is_some() || path.exists() { load_checked(&path)? } else { Config::default() };
        return calendar(&cfg, command);
    }
    let cfg = load_checked(&path)?;
    match cli.command {
        Command::Poll { sources, json } => poll(&cfg, &sources, json),
        Command::Search(args) => search(&cfg, &args),
        Command::Sources { json } => sources(&cfg, json),
        Command::Reindex => reindex(&cfg),
        Command::Import { source, files, json } => import(&cfg, &source, &files, json),
        Command::Quarantine { source, json } => quarantine(&cfg, source.as_deref(), json),
        Command::Findings(args) => findings(&cfg, &args),
        Command::Reposts(args) => reposts(&cfg, &args),
        Command::Respond { item, note } => respond(&cfg, &item, note.as_deref()),
        Command::Alerts { command } => alerts::run(&cfg, command),
        Command::Run => crate::daemon::run(cfg).map(|()| ExitCode::SUCCESS),
        Command::Status { json } => status::run(&cfg, json),
        Command::Serve => crate::daemon::serve(cfg).map(|()| ExitCode::SUCCESS),
        Command::Links { command: LinksCommand::Check { json } } => links_check(&cfg, json),
        Command::Config { .. } | Command::Calendar { .. } | Command::User { .. } => unreachable!("handled above"),
    }
}

/// `govwatch user add NAME`: the password twice (hidden) on a terminal, or
/// one line on stdin; prints the TOML to paste.
fn user_add(name: &str, role: &str, from_stdin: bool) -> Result<ExitCode> {
    if name.trim().is_empty() || name.contains(['"', '\\', '\n']) {
        eprintln!("错误：用户名不能为空，也不能含引号、反斜杠或换行");
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let password = if from_stdin || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let a = rpassword::prompt_password(format!("{name} 的密码："))?;
        let b = rpassword::prompt_password("再输一遍：")?;
        if a != b {
            eprintln!("错误：两次输入的密码不一致");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
        a
    };
    if password.chars().count() < 8 {
        eprintln!("错误：密码至少 8 个字符");
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    let hash = crate::web::auth::hash_password(&password)?;
    println!("[[users]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\nrole = \"{role}\"");
    eprintln!("把以上几行加入配置文件，然后执行 systemctl reload govwatch（或重启 govwatch serve）");
    Ok(ExitCode::SUCCESS)
}

/// Loads the configuration; on errors prints them all and fails with status 2.
pub fn load_checked(path: &std::path::Path) -> Result<Config> {
    let loaded = config::load(path).map_err(|e| {
        eprintln!("错误：{e:#}");
        Reported(EXIT_CONFIG)
    })?;
    for p in &loaded.problems {
        eprintln!("{p}");
    }
    if loaded.has_errors() {
        eprintln!("{}：配置有错误，govwatch config check 可一次列出全部", path.display());
        return Err(Reported(EXIT_CONFIG).into());
    }
    Ok(loaded.config)
}

fn config_check(path: &std::path::Path) -> Result<ExitCode> {
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("错误：{e:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    for p in &loaded.problems {
        println!("{p}");
    }
    // How reposts are owed: per website, whichever column carries them.
    for line in crate::rules::repost::explain(&loaded.config) {
        println!("说明：{line}");
    }
    let errors = loaded.problems.iter().filter(|p| p.severity == Severity::Error).count();
    let warnings = loaded.problems.len() - errors;
    if errors > 0 {
        println!("{}：{errors} 个错误，{warnings} 个警告", path.display());
        Ok(ExitCode::from(EXIT_CONFIG))
    } else {
        println!(
            "{}：配置无误（{} 个单位，{} 个数据源{}）",
            path.display(),
            loaded.config.units.len(),
            loaded.config.sources.len(),
            if warnings > 0 { format!("，{warnings} 个警告") } else { String::new() }
        );
        Ok(ExitCode::SUCCESS)
    }
}

pub fn open_store(cfg: &Config) -> Result<Arc<Store>> {
    Ok(Arc::new(Store::open_config(&cfg.storage)?))
}

pub fn open_index(cfg: &Config) -> Result<SearchIndex> {
    SearchIndex::open(
        &cfg.storage.index_dir,
        WriterOptions { threads: cfg.index.threads.max(1), heap_bytes: cfg.index.heap_mb.max(16) << 20 },
    )
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("failed to start the async runtime")
}

/// `govwatch links check`: one dead-link run now, progress on stderr.
fn links_check(cfg: &Config, json: bool) -> Result<ExitCode> {
    if !cfg.inspection.enabled || !cfg.inspection.links.enabled {
        eprintln!("错误：死链检查未开启（配置 [inspection] enabled 或 [inspection.links] enabled 为 false）");
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let store = open_store(cfg)?;
    let tty = std::io::stderr().is_terminal();
    let last = std::sync::atomic::AtomicUsize::new(0);
    let progress = |done: usize, total: usize| {
        // A line per 5 % on a pipe, a rewritten line on a terminal.
        let step = (total / 20).max(1);
        if done == total || done - last.load(std::sync::atomic::Ordering::Relaxed) >= step {
            last.store(done, std::sync::atomic::Ordering::Relaxed);
            if tty {
                eprint!("\r检查链接 {done}/{total}");
            } else {
                eprintln!("检查链接 {done}/{total}");
            }
        }
    };
    let r = runtime()?.block_on(crate::linkcheck::run(cfg, store, now(), progress))?;
    if tty && r.checked > 0 {
        eprintln!();
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "链接 {} 个，本次检查 {} 个：可访问 {}，失败 {}；留待下次 {}，不再出现而删除记录 {}（{:.1} 秒）",
            r.links,
            r.checked,
            r.alive,
            r.failed,
            r.left,
            r.pruned,
            r.took_ms as f64 / 1000.0
        )?;
        writeln!(
            out,
            "失败的链接须在 {} 天内失败 {} 次才列为死链：govwatch findings --rule dead_link",
            cfg.inspection.links.dead_after_days, cfg.inspection.links.dead_after_failures
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn poll(cfg: &Config, only: &[String], json: bool) -> Result<ExitCode> {
    for id in only {
        if cfg.source(id).is_none() {
            let known: Vec<&str> = cfg.sources.iter().map(|s| s.id.as_str()).collect();
            eprintln!("错误：--source {id}：没有这个数据源；已配置的数据源：{}", known.join(", "));
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    }
    let selected: Vec<_> =
        cfg.sources.iter().filter(|s| if only.is_empty() { s.enabled } else { only.contains(&s.id) }).collect();
    let store = open_store(cfg)?;
    let index = open_index(cfg)?;
    let poller = Poller::new(cfg, store.clone())?;
    let reports = runtime()?.block_on(poller.poll_all(&selected, now()));
    let sync = index.sync(&store);
    index.close_writer()?;
    let failed = reports.iter().any(|r| r.status == PollStatus::Error);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &reports)?;
        writeln!(out)?;
    } else {
        let width = reports.iter().map(|r| r.source.len()).max().unwrap_or(0);
        for r in &reports {
            match r.status {
                PollStatus::Error | PollStatus::Skipped => {
                    writeln!(out, "{:width$}  {}  {}", r.source, r.status.zh(), r.error.as_deref().unwrap_or(""))?
                }
                _ => writeln!(
                    out,
                    "{:width$}  {}  新增 {}  更新 {}  未变 {}  共 {} 条  ({:.1} 秒)",
                    r.source,
                    r.status.zh(),
                    r.counts.new,
                    r.counts.updated,
                    r.counts.unchanged,
                    r.items_seen,
                    r.took_ms as f64 / 1000.0
                )?,
            }
            for w in &r.warnings {
                writeln!(out, "{:width$}    {}：{w}", "", crate::glossary::HINT)?;
            }
        }
    }
    let sync = sync.context("条目已入库，但更新全文索引失败；请运行 govwatch reindex")?;
    if !json && sync.indexed > 0 {
        writeln!(out, "索引已更新 {} 条", sync.indexed)?;
    }
    Ok(if failed { ExitCode::from(EXIT_FAILURE) } else { ExitCode::SUCCESS })
}

fn search(cfg: &Config, a: &SearchArgs) -> Result<ExitCode> {
    let mut req = SearchRequest::new(a.query.clone());
    req.sources = a.sources.clone();
    req.units = a.units.clone();
    req.kinds = a.kinds.clone();
    req.roles = a.roles.clone();
    req.levels = a.levels.clone();
    req.since = a.since.as_deref().map(index::parse_day).transpose()?;
    req.until = a.until.as_deref().map(index::parse_day).transpose()?;
    req.limit = a.limit;
    req.offset = a.offset;
    req.sort = a.sort;
    req.exact_total = a.exact_count;
    let store = open_store(cfg)?;
    let idx = open_index(cfg)?;
    catch_up(&idx, &store);
    let res = idx.search(&req)?;
    // What of the query was left out: on stderr, so that --json stays the hits alone.
    for n in &res.notices {
        eprintln!("{}：{n}", crate::glossary::HINT);
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &res.hits)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let tty = std::io::stdout().is_terminal();
    let (open, close) = if tty { ("\x1b[1;31m", "\x1b[0m") } else { ("【", "】") };
    writeln!(
        out,
        "共 {}{} 条结果，显示第 {}–{} 条（{:.1} 毫秒）",
        if res.total_is_estimate { "约 " } else { "" },
        res.total,
        a.offset + 1.min(res.hits.len()),
        a.offset + res.hits.len(),
        res.took_ms
    )?;
    for (i, h) in res.hits.iter().enumerate() {
        let date = h.published_at.as_deref().map(index::display_time).unwrap_or_else(|| "日期不详".into());
        writeln!(out)?;
        writeln!(out, "{}. {}", a.offset + i + 1, h.title)?;
        let source = cfg.source(&h.source).map_or(h.source.as_str(), |s| s.display_name());
        let unit = cfg.unit(&h.unit).map_or(h.unit.as_str(), |u| u.name.as_str());
        // A superior's policy is the superior's: its level says whose, and the
        // unit is the one that follows it, not its owner.
        let level = h.level.parse::<crate::model::Level>().map(|l| format!("（{}）", l.zh())).unwrap_or_default();
        let label = h.role.parse::<crate::model::Role>().map_or(crate::glossary::UNIT, crate::glossary::unit_of_role);
        writeln!(out, "   {source}{level} · {label} {unit} · {date}")?;
        if let Some(u) = &h.url {
            writeln!(out, "   {u}")?;
        }
        writeln!(out, "   {}", h.fragment.render(open, close, false))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Brings a lagging index up to the store before reading it; if another
/// process holds the writer, says so and searches what is there.
fn catch_up(idx: &SearchIndex, store: &Store) {
    let Ok(store_rev) = store.max_rev() else {
        return;
    };
    if idx.indexed_rev() >= store_rev {
        return;
    }
    match idx.sync(store) {
        Ok(_) => {
            let _ = idx.close_writer();
        }
        Err(e) => eprintln!("警告：全文索引落后于数据库，此刻无法更新（检索的是已索引的部分）：{e:#}"),
    }
}

fn sources(cfg: &Config, json: bool) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    let health = store.source_health()?;
    let counts = store.count_items_by_source()?;
    let intake = crate::findings::intake(cfg, &store, now())?;
    let sites = crate::rules::repost::sites(cfg);
    #[derive(serde::Serialize)]
    struct Row<'a> {
        id: &'a str,
        name: &'a str,
        kind: &'a str,
        role: &'a str,
        level: &'a str,
        unit: &'a str,
        url: &'a str,
        enabled: bool,
        items_stored: u64,
        /// Portal sources: the website they are a column of.
        #[serde(skip_serializing_if = "Option::is_none")]
        site: Option<&'a str>,
        /// Export sources: how many rows are intake only, how many history.
        #[serde(skip_serializing_if = "Option::is_none")]
        intake: Option<&'a crate::rules::deadlines::Intake>,
        /// The error the source fails with now (`None` when healthy; the
        /// flattened `last_error` is the last one ever).
        error: Option<&'a str>,
        #[serde(flatten)]
        health: Option<&'a crate::store::SourceHealth>,
    }
    let rows: Vec<Row<'_>> = cfg
        .sources
        .iter()
        .map(|s| Row {
            id: &s.id,
            name: s.display_name(),
            kind: s.kind.as_str(),
            role: s.role.as_str(),
            level: s.level.as_str(),
            unit: &s.unit,
            url: &s.url,
            enabled: s.enabled,
            items_stored: counts.get(&s.id).copied().unwrap_or(0),
            site: (s.role == crate::model::Role::Portal).then(|| s.site_id()),
            intake: intake.get(&s.id),
            error: health.iter().find(|h| h.id == s.id).and_then(|h| h.current_error()),
            health: health.iter().find(|h| h.id == s.id),
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let t = |s: &Option<String>| s.as_deref().map(index::display_time).unwrap_or_else(|| "—".into());
    for (r, src) in rows.iter().zip(&cfg.sources) {
        use crate::glossary::health;
        let state = match r.health {
            None => health("never_polled").to_string(),
            Some(h) if h.consecutive_failures > 0 => {
                format!("{}（连续 {} 次）", health("failing"), h.consecutive_failures)
            }
            Some(h) if h.last_status.as_deref() == Some("not_modified") => format!("{}（未变化）", health("ok")),
            Some(_) => health("ok").into(),
        };
        let unit = cfg.unit(r.unit).map_or(r.unit, |u| u.name.as_str());
        writeln!(
            out,
            "{}  {}  [{} · {} · {}]  {} {unit}",
            r.id,
            r.name,
            src.kind.zh(),
            src.role.zh(),
            src.level.zh(),
            crate::glossary::unit_of_role(src.role)
        )?;
        writeln!(out, "    状态 {state}  库中 {} 条  {}", r.items_stored, if r.enabled { "" } else { "（已停用）" })?;
        if let Some(site) = r.site
            && let Some(d) = sites.iter().find(|d| d.portal == site)
            && d.columns.len() > 1
        {
            writeln!(out, "    网站「{}」的 {} 个栏目之一，上级政策在任一栏目转载一次即可", d.name, d.columns.len())?;
        }
        for line in r.intake.map(|i| i.zh()).unwrap_or_default() {
            writeln!(out, "    {line}")?;
        }
        if let Some(h) = r.health {
            writeln!(
                out,
                "    最近成功 {}  上次条目 {}",
                t(&h.last_success_at),
                h.items_seen.map_or("—".into(), |n| n.to_string())
            )?;
            if let Some(e) = h.current_error() {
                writeln!(out, "    最近错误 {}  {e}", t(&h.last_error_at))?;
            }
            if h.consecutive_failures > 0 {
                writeln!(out, "    下次重试 {}", t(&h.next_attempt_at))?;
            }
            for w in &h.warnings {
                writeln!(out, "    {}：{w}", crate::glossary::HINT)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The official calendar with this configuration's additions.
pub fn calendar_of(cfg: &Config) -> Result<crate::calendar::Calendar> {
    config::build_calendar(&cfg.calendar).map_err(|problems| {
        for p in &problems {
            eprintln!("{p}");
        }
        Reported(EXIT_CONFIG).into()
    })
}

/// Says loudly — once, on stderr, naming the years — when an answer used
/// the Monday–Friday rule for want of a schedule.
pub fn warn_uncovered(cal: &crate::calendar::Calendar, from: chrono::NaiveDate, to: chrono::NaiveDate) {
    if let Some(w) = uncovered_warning(&cal.uncovered_years(from, to)) {
        eprintln!("{w}");
    }
}

/// The warning for answers that counted these years Monday–Friday (none if
/// no year is missing).
pub fn uncovered_warning(years: &[i32]) -> Option<String> {
    if years.is_empty() {
        return None;
    }
    let list: Vec<String> = years.iter().map(|y| format!("{y} 年")).collect();
    Some(format!(
        "{}：尚未收录 {}的国务院办公厅节假日安排，这些日期暂按周一至周五计算工作日；\
         通知发布后用 govwatch calendar notice 通知文本文件 读入",
        crate::glossary::WARNING,
        list.join("、")
    ))
}

fn calendar(cfg: &Config, command: &CalendarCommand) -> Result<ExitCode> {
    let cal = calendar_of(cfg)?;
    match command {
        CalendarCommand::IsWorkday { date } => {
            let d = index::parse_day(date)?;
            warn_uncovered(&cal, d, d);
            println!("{}", cal.is_workday(d));
        }
        CalendarCommand::Notice { file, year, amend, dry_run, into } => {
            return calendar::notice(cfg, &cal, file, *year, *amend, *dry_run, into.as_deref());
        }
        CalendarCommand::Add { date, n } => {
            let d = index::parse_day(date)?;
            if *n == 0 {
                eprintln!("错误：N 至少为 1（{d} 之后第 N 个工作日）");
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
            let due = cal.add_working_days(d, *n);
            warn_uncovered(&cal, d, due);
            println!("{}", due.format("%Y-%m-%d"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn reindex(cfg: &Config) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    let idx = open_index(cfg)?;
    let total = store.count_items()?;
    eprintln!("正在用库中 {total} 条重建全文索引…");
    let started = std::time::Instant::now();
    let stats = idx.rebuild_with_progress(&store, |n| eprintln!("  {n} / {total}"))?;
    idx.close_writer()?;
    println!("索引已重建：{} 条，用时 {:.1} 秒", stats.indexed, started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

fn import(cfg: &Config, source: &str, files: &[PathBuf], json: bool) -> Result<ExitCode> {
    let Some(src) = cfg.source(source) else {
        let known: Vec<&str> =
            cfg.sources.iter().filter(|s| s.kind == crate::model::SourceKind::Export).map(|s| s.id.as_str()).collect();
        eprintln!(
            "错误：--source {source}：没有这个数据源；导出表格类数据源：{}",
            if known.is_empty() { "（无）".into() } else { known.join(", ") }
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    if src.kind != crate::model::SourceKind::Export {
        eprintln!(
            "错误：--source {source} 是{}类数据源；只能导入到 kind = \"export\"（导出表格）的数据源",
            src.kind.zh()
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let store = open_store(cfg)?;
    let now = now();
    let tty = std::io::stderr().is_terminal();
    let mut reports = Vec::new();
    for f in files {
        let mut progress = |n: usize| {
            if tty || n.is_multiple_of(100_000) {
                eprintln!("  {}: 已读取 {n} 行…", f.display());
            }
        };
        reports.push(crate::import::import_file(cfg, &store, src, f, now, &mut progress));
    }
    let idx = open_index(cfg)?;
    let sync = idx.sync(&store);
    idx.close_writer()?;
    let failed = reports.iter().any(|r| r.error.is_some());
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &reports)?;
        writeln!(out)?;
    } else {
        for r in &reports {
            match &r.error {
                Some(e) => writeln!(out, "{}: 失败：{e}（整个文件已隔离，文件本身保留不动）", r.file)?,
                None => writeln!(
                    out,
                    "{}: 读取 {} 行，新增 {}，更新 {}，未变 {}，隔离 {}（{:.1} 秒）",
                    r.file,
                    r.rows,
                    r.new,
                    r.updated,
                    r.unchanged,
                    r.quarantined,
                    r.took_ms as f64 / 1000.0
                )?,
            }
            let unit = cfg.unit(&src.unit).map_or(src.unit.as_str(), |u| u.name.as_str());
            for (name, n) in &r.unknown_units {
                writeln!(out, "    未配置的承办单位「{name}」{n} 行，已归入 {unit}")?;
            }
            if r.superseded > 0 {
                writeln!(out, "    {} 行的编号在文件后面再次出现，以后出现的为准", r.superseded)?;
            }
            if r.error.is_none() {
                for line in crate::import::standing_lines(r, src) {
                    writeln!(out, "    {line}")?;
                }
            }
            if r.quarantined > 0 {
                writeln!(out, "    隔离的行：govwatch quarantine --source {}", r.source)?;
            }
        }
    }
    sync.context("各行已入库，但更新全文索引失败；请运行 govwatch reindex")?;
    Ok(if failed { ExitCode::from(EXIT_FAILURE) } else { ExitCode::SUCCESS })
}

fn quarantine(cfg: &Config, source: Option<&str>, json: bool) -> Result<ExitCode> {
    let store = open_store(cfg)?;
    let rows = store.quarantined(source)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        writeln!(out, "没有隔离的行")?;
    }
    for q in &rows {
        let column = q.column.as_deref().map(|c| format!("「{c}」列：")).unwrap_or_default();
        let value = q.value.as_deref().map(|v| format!("（值：{v}）")).unwrap_or_default();
        let row = if q.row == 0 { "整个文件".to_string() } else { format!("第 {} 行", q.row) };
        writeln!(out, "{} {} {row}  {column}{}{value}", q.source, q.file, q.reason)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--now` as officers write it: `2026-10-09 09:00` or `2026-10-09` (Asia/Shanghai).
pub fn parse_now(s: &str) -> Result<DateTime<FixedOffset>> {
    match crate::normalize::time::parse(s) {
        Some(p) => Ok(p.at),
        None => anyhow::bail!("不是时间：{s:?}（应为 \"YYYY-MM-DD HH:MM\"，如 \"2026-10-09 09:00\"）"),
    }
}

fn findings(cfg: &Config, a: &FindingsArgs) -> Result<ExitCode> {
    let cal = calendar_of(cfg)?;
    let replay = a.now.is_some();
    let now = match &a.now {
        Some(s) => parse_now(s)?,
        None => now(),
    };
    if let Some(u) = &a.unit
        && cfg.unit(u).is_none()
    {
        let known: Vec<&str> = cfg.units.iter().map(|u| u.id.as_str()).collect();
        eprintln!("错误：--unit {u}：没有这个单位；已配置的单位：{}", known.join(", "));
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let store = open_store(cfg)?;
    let (all, history) = crate::findings::evaluate(cfg, &cal, &store, now, !replay)?;
    // The years the answers below counted in: from each deadline to now.
    let today = now.date_naive();
    let days = all.iter().map(|f| f.deadline.date_naive()).chain([today]);
    if let (Some(from), Some(to)) = (days.clone().min(), days.max()) {
        warn_uncovered(&cal, from, to);
    }
    let shown: Vec<&crate::rules::Finding> = all
        .iter()
        .filter(|f| a.unit.as_ref().is_none_or(|u| &f.unit == u))
        .filter(|f| a.rule.is_none_or(|r| f.rule == r))
        .filter(|f| a.state.is_none_or(|s| f.state == s))
        .collect();
    #[derive(serde::Serialize)]
    struct Row<'a> {
        #[serde(flatten)]
        finding: &'a crate::rules::Finding,
        title: Option<String>,
        number: Option<String>,
        source: Option<String>,
        received_at: Option<String>,
        first_seen_at: Option<&'a str>,
        state_changed_at: Option<&'a str>,
    }
    // Findings about a column or a source carry the source's subject id.
    let subjects: std::collections::HashMap<_, &str> =
        cfg.sources.iter().map(|s| (crate::rules::inspect::source_subject_id(&s.id), s.id.as_str())).collect();
    let mut rows = Vec::with_capacity(shown.len());
    for f in &shown {
        let item = store.item(f.item_id)?;
        let h = history.get(&f.fingerprint);
        rows.push(Row {
            finding: f,
            title: item.as_ref().map(|i| i.title.clone()).or_else(|| f.subject.clone()),
            number: item.as_ref().and_then(|i| i.case.as_ref().map(|c| c.number.clone())),
            source: item.as_ref().map(|i| i.source.clone()).or_else(|| subjects.get(&f.item_id).map(|s| s.to_string())),
            received_at: item
                .as_ref()
                .and_then(|i| i.case.as_ref().and_then(|c| c.received_at).or(i.published))
                .map(|p| p.at.to_rfc3339()),
            first_seen_at: h.map(|h| h.first_seen_at.as_str()),
            state_changed_at: h.map(|h| h.state_changed_at.as_str()),
        });
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let count = |s: crate::rules::State| shown.iter().filter(|f| f.state == s).count();
    use crate::rules::State;
    writeln!(
        out,
        "已超期 {} 条 · 即将到期 {} 条 · 已办结 {} 条（按 {} 计算{}）",
        count(State::Overdue),
        count(State::DueSoon),
        count(State::Resolved),
        now.format("%Y-%m-%d %H:%M"),
        if replay { "，回放，未记录" } else { "" }
    )?;
    let source_names: std::collections::HashMap<&str, &str> =
        cfg.sources.iter().filter_map(|s| s.name.as_deref().map(|n| (s.id.as_str(), n))).collect();
    for r in &rows {
        let f = r.finding;
        let unit = cfg.unit(&f.unit).map_or(f.unit.as_str(), |u| u.name.as_str());
        // No internal id as a number: an item without one is named by its title below.
        let what = match (&r.number, &f.subject) {
            (Some(n), _) => format!(" · 编号 {n}"),
            (None, Some(subject)) => format!(" · {subject}"),
            (None, None) => String::new(),
        };
        use crate::alerts::words;
        let late = match (f.state, f.late) {
            // Published personal data is found, not overdue: its time is when it was found.
            _ if f.rule == crate::rules::Rule::PersonalData => String::new(),
            (State::Overdue, _) if f.overdue_working_days == 0 => " · 超期不足 1 个工作日".to_string(),
            (State::Overdue, _) => format!(" · 超期 {} 个工作日", f.overdue_working_days),
            (State::Resolved, Some(true)) if f.rule == crate::rules::Rule::Repost => {
                format!(" · 超时转载（晚 {} 个工作日）", f.overdue_working_days)
            }
            (State::Resolved, Some(false)) if f.rule == crate::rules::Rule::Repost => " · 按时转载".to_string(),
            (State::Resolved, Some(true)) => format!(" · 超期办结（晚 {} 个工作日）", f.overdue_working_days),
            (State::Resolved, Some(false)) => " · 按时办结".to_string(),
            _ => String::new(),
        };
        writeln!(out)?;
        writeln!(
            out,
            "[{}] {} · {unit}{what} · {} {}{late}",
            words::state_word(f.rule, f.state, f.late),
            f.rule.zh(),
            if f.rule == crate::rules::Rule::PersonalData { "发现" } else { "截止" },
            f.deadline.format("%Y-%m-%d %H:%M")
        )?;
        if let Some(t) = &r.title
            && f.subject.as_ref() != Some(t)
        {
            writeln!(out, "    {t}")?;
        }
        let reply = match (f.reply_working_days, crate::alerts::words::reply_span_label(f.rule)) {
            (Some(d), Some(span)) => format!("；{span} {d} 个工作日"),
            _ => String::new(),
        };
        writeln!(out, "    依据：{}{reply}", crate::alerts::words::basis_with_names(&f.basis, &source_names))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn respond(cfg: &Config, item: &str, note: Option<&str>) -> Result<ExitCode> {
    let id: crate::model::ItemId = item.parse().map_err(anyhow::Error::msg)?;
    let store = open_store(cfg)?;
    let Some(it) = store.item(id)? else {
        eprintln!("错误：库中没有条目 {id}");
        return Ok(ExitCode::from(EXIT_FAILURE));
    };
    store.record_response(id, now(), note)?;
    println!("已记录对「{}」的回应", it.title);
    Ok(ExitCode::SUCCESS)
}

fn reposts(cfg: &Config, a: &RepostsArgs) -> Result<ExitCode> {
    if let Some(id) = &a.superior
        && !cfg.sources.iter().any(|s| &s.id == id && s.role == crate::model::Role::Superior)
    {
        let known: Vec<&str> =
            cfg.sources.iter().filter(|s| s.role == crate::model::Role::Superior).map(|s| s.id.as_str()).collect();
        let role = crate::model::Role::Superior.zh();
        eprintln!("错误：--superior {id}：没有这个{role}类数据源；{role}类数据源：{}", known.join(", "));
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    // A website by its site id, or by any of its columns.
    let site = match &a.portal {
        None => None,
        Some(id) => {
            let sites = crate::rules::repost::sites(cfg);
            match sites.iter().find(|d| &d.portal == id || d.columns.iter().any(|(c, _)| c == id)) {
                Some(d) => Some(d.portal.clone()),
                None => {
                    let known: Vec<&str> = sites.iter().map(|d| d.portal.as_str()).collect();
                    eprintln!(
                        "错误：--portal {id}：没有这个网站或网站栏目数据源；网站：{}",
                        if known.is_empty() { "（无）".to_string() } else { known.join(", ") }
                    );
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            }
        }
    };
    let cal = calendar_of(cfg)?;
    let now = match &a.now {
        Some(s) => parse_now(s)?,
        None => now(),
    };
    let since = a.since.as_deref().map(index::parse_day).transpose()?;
    let store = open_store(cfg)?;
    let mut all = crate::findings::reposts(cfg, &cal, &store, now)?;
    all.retain(|o| {
        site.as_ref().is_none_or(|p| *o.portal == **p)
            && a.superior.as_ref().is_none_or(|s| *o.superior_source == **s)
            && since.is_none_or(|d| o.superior_at.date_naive() >= d)
    });
    all.sort_by(|x, y| y.superior_at.cmp(&x.superior_at).then(x.portal.cmp(&y.portal)));
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let count = |st: &str| all.iter().filter(|o| o.state == st).count();
    writeln!(
        out,
        "按时转载 {} · 超时转载 {} · 未转载已超期 {} · 未到期 {}（按 {} 计算）",
        count("on_time"),
        count("late"),
        count("overdue"),
        count("pending"),
        now.format("%Y-%m-%d %H:%M")
    )?;
    let mut last: Option<crate::model::ItemId> = None;
    for o in &all {
        if last != Some(o.superior_item_id) {
            writeln!(out)?;
            let no = o.doc_no.as_deref().map(|d| format!("（{d}）")).unwrap_or_default();
            writeln!(out, "{}{no}", o.superior_title)?;
            let from = if o.counted_from == "first_seen" { "首次发现" } else { "发布" };
            let superior = cfg.source(&o.superior_source).map_or(&*o.superior_source, |s| s.display_name());
            writeln!(out, "  {from} {} · {superior}", o.superior_at.format("%Y-%m-%d %H:%M"))?;
            last = Some(o.superior_item_id);
        }
        let portal = &o.portal_name;
        let line = match o.state {
            "on_time" | "late" => format!(
                "{} {}（{}{}）· {}",
                if o.state == "on_time" { "按时转载" } else { "超时转载" },
                o.reposted_at.map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
                o.matched_by.map(|m| m.zh()).unwrap_or(""),
                o.repost_column.as_deref().map(|c| format!("，见「{c}」")).unwrap_or_default(),
                if o.state == "late" {
                    format!("晚 {} 个工作日", o.late_working_days)
                } else {
                    "未超时".into()
                },
            ),
            "overdue" => format!(
                "未转载，已超期 {} 个工作日（截止 {}）",
                o.late_working_days,
                o.deadline.format("%Y-%m-%d %H:%M")
            ),
            _ => format!("尚未转载，截止 {}", o.deadline.format("%Y-%m-%d %H:%M")),
        };
        writeln!(out, "  - {portal}：{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}
