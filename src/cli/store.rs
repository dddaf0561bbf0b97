//! `govwatch store copy --to URL`: moves an install's SQLite store into an
//! empty PostgreSQL database (the copying itself is `store::copy`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use super::{EXIT_CONFIG, EXIT_FAILURE, Progress, now};
use crate::config::Config;
use crate::daemon::lock::{AlreadyRunning, InstanceLock, describe};
use crate::glossary::{DAEMON, ERROR};
use crate::store::Store;
use crate::store::copy::copy_sqlite_to;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the SQLite store of storage.data_dir into an empty PostgreSQL database (the service must be stopped)
    Copy {
        /// The PostgreSQL database, e.g. postgresql://govwatch:PASSWORD@db.example:5432/govwatch
        /// [default: storage.url, or GOVWATCH__STORAGE__URL, which keeps the password out of the process list]
        #[arg(long, value_name = "URL")]
        to: Option<String>,
    },
}

pub fn run(cfg: &Config, command: StoreCommand) -> Result<ExitCode> {
    match command {
        StoreCommand::Copy { to } => copy(cfg, to),
    }
}

fn copy(cfg: &Config, to: Option<String>) -> Result<ExitCode> {
    let Some(url) = to.or_else(|| cfg.storage.url.clone()).filter(|u| !u.trim().is_empty()) else {
        eprintln!(
            "{ERROR}：请用 --to 指定目标 PostgreSQL 数据库（如 postgresql://govwatch:密码@db.example:5432/govwatch），\
             或设置环境变量 GOVWATCH__STORAGE__URL（密码不会出现在进程列表中）"
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    };
    let data_dir = &cfg.storage.data_dir;
    let file = data_dir.join("govwatch.sqlite3");
    if !file.is_file() {
        eprintln!(
            "{ERROR}：数据目录 {} 中没有数据库 govwatch.sqlite3，没有可复制的内容（检查配置 [storage] data_dir）",
            data_dir.display()
        );
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    // The daemon's own lock: it cannot start while the copy runs, nor run
    // during it.
    let _lock = match InstanceLock::acquire(data_dir, &now().to_rfc3339()) {
        Ok(lock) => lock,
        Err(e) => {
            if let Some(held) = e.downcast_ref::<AlreadyRunning>() {
                eprintln!(
                    "{ERROR}：{DAEMON}正在数据目录 {} 上运行（{}）：复制前请先停止它（systemctl stop govwatch），\
                     复制完成前不要启动",
                    held.dir,
                    describe(&held.holder)
                );
                return Ok(ExitCode::from(EXIT_FAILURE));
            }
            return Err(e);
        }
    };
    let src = Store::open_sqlite(data_dir)?;
    let dst = Store::open_postgres(&url, 2).context("无法打开目标 PostgreSQL 数据库")?;
    let destination = dst.path().display().to_string();
    eprintln!("正在把 {} 复制到 {destination}…", file.display());
    let shown = Progress::new();
    let report = copy_sqlite_to(&src, &dst, |table, done, total| {
        shown.show(&format!("复制 {table}"), done as usize, total as usize)
    })?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "已复制到 {destination}：{} 张表，共 {} 行，逐表核对行数一致（{:.1} 秒）",
        report.tables.len(),
        report.rows(),
        report.took_ms as f64 / 1000.0
    )?;
    let width = report.tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
    for t in &report.tables {
        writeln!(out, "  {:<width$}  {} 行", t.table, t.rows)?;
    }
    writeln!(out, "未复制（各节点运行时的状态，由新库上启动的节点重新建立）：{}", report.not_copied.join("、"))?;
    writeln!(
        out,
        "下一步：在配置中设 [storage] backend = \"postgres\" 和 url（含密码时用环境变量 GOVWATCH__STORAGE__URL），\
         再启动 govwatch；原 SQLite 数据库保留不动"
    )?;
    Ok(ExitCode::SUCCESS)
}
