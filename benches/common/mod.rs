//! Helpers shared by the benchmark programs: where the shared real-data
//! folder is, the machine description, timing statistics and markdown
//! tables. Included by each bench with `mod common;`.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// When the benchmark started, for [`progress!`].
pub static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Prints a progress line on stderr: seconds since the first one, then the message.
#[allow(unused_macros)]
macro_rules! progress {
    ($($arg:tt)*) => {{
        eprintln!(
            "[{:>7.1}s] {}",
            $crate::common::START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64(),
            format!($($arg)*)
        );
    }};
}
#[allow(unused_imports)]
pub(crate) use progress;

/// The crate root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder of real material (`data/`, `seeds/`): `GOVWATCH_SHARED`,
/// default `../shared` next to the crate. May not exist.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("GOVWATCH_SHARED").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared"))
}

/// True when the program was started by `cargo bench` (which passes
/// `--bench`); `cargo test --all-targets` runs bench programs without it.
pub fn started_by_cargo_bench(args: &[String]) -> bool {
    args.iter().any(|a| a == "--bench")
}

/// The machine, for the report.
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub mem_gib: f64,
    pub os: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".to_string());
        let cores = cpuinfo
            .lines()
            .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
            .count()
            .max(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        let mem_kib: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:")?.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("Linux {}", s.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_string());
        Machine { cpu, cores, mem_gib: mem_kib / 1024.0 / 1024.0, os }
    }

    pub fn markdown(&self) -> String {
        format!(
            "| machine | |\n| --- | --- |\n| CPU | {} |\n| cores | {} |\n| memory | {:.1} GiB |\n| OS | {} |\n| build | {} |\n",
            self.cpu,
            self.cores,
            self.mem_gib,
            self.os,
            if cfg!(debug_assertions) {
                "debug (numbers are not representative; use `cargo bench`)"
            } else {
                "release (`cargo bench` profile)"
            }
        )
    }
}

/// The 1-, 5- and 15-minute load averages, to show whether something else
/// was using the machine.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Nearest-rank percentile (`q` in 0..=1) of sorted samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Milliseconds with a precision that suits the size.
pub fn fmt_ms(d: Duration) -> String {
    let v = ms(d);
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 { format!("{s:.2} s") } else { format!("{s:.1} s") }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate per second, rounded sensibly, with thousands separators.
pub fn per_sec(count: f64, d: Duration) -> String {
    let s = d.as_secs_f64();
    if s <= 0.0 {
        return "–".to_string();
    }
    thousands((count / s).round() as u64)
}

pub fn fmt_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", n / 1024.0 / 1024.0 / 1024.0)
    } else if n >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Total size of the files under `path` (a file or a folder).
pub fn disk_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path).map(|rd| rd.flatten().map(|e| disk_size(&e.path())).sum()).unwrap_or(0)
}

/// A markdown table built row by row.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            out.push('|');
            for c in cells {
                let _ = write!(out, " {} |", c.replace('|', "\\|"));
            }
            out.push('\n');
        };
        line(&mut out, &self.header);
        out.push('|');
        for _ in &self.header {
            out.push_str(" --- |");
        }
        out.push('\n');
        for r in &self.rows {
            line(&mut out, r);
        }
        out
    }
}

/// splitmix64: tiny, fast, good enough for test data.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The number after an option (`--items 1_000_000`).
pub fn number_arg<'a>(it: &mut impl Iterator<Item = &'a String>, name: &str) -> anyhow::Result<usize> {
    use anyhow::Context;
    let v = it.next().with_context(|| format!("{name} needs a value"))?;
    v.replace(['_', ','], "").parse().with_context(|| format!("{name}: not a number: {v:?}"))
}

// --- PostgreSQL ----------------------------------------------------------------------

use anyhow::Context as _;
use govwatch::store::db::pg::Pool;

/// PostgreSQL databases for a benchmark run (`GOVWATCH_BENCH_PG`, `--pg`):
/// fresh ones made on a base URL, all dropped at the end.
pub struct Databases {
    base: String,
    made: Vec<String>,
}

impl Databases {
    pub fn new(base: &str) -> anyhow::Result<Databases> {
        let d = Databases { base: base.to_string(), made: Vec::new() };
        d.admin().with_context(|| format!("cannot reach PostgreSQL at {}", hide_password(base)))?;
        Ok(d)
    }

    pub fn admin(&self) -> anyhow::Result<Pool> {
        Pool::connect(&format!("{}postgres", self.base), 1)
    }

    /// A fresh empty database: its URL.
    pub fn fresh(&mut self, what: &str) -> anyhow::Result<String> {
        let name = format!("govwatch_bench_{what}_{}_{}", std::process::id(), self.made.len());
        let admin = self.admin()?;
        admin.get()?.batch(&format!("DROP DATABASE IF EXISTS {name}"))?;
        admin.get()?.batch(&format!("CREATE DATABASE {name}"))?;
        self.made.push(name.clone());
        Ok(format!("{}{name}", self.base))
    }

    /// `pg_database_size` of the database at `url`.
    pub fn size(url: &str) -> anyhow::Result<u64> {
        let pool = Pool::connect(url, 1)?;
        let rows = pool.get()?.query("SELECT pg_database_size(current_database())", &[])?;
        let n: i64 = rows.first().context("no row")?.get(0);
        Ok(n as u64)
    }

    /// The server's version line.
    pub fn version(&self) -> String {
        self.admin()
            .and_then(|p| {
                let rows = p.get()?.query("SELECT version()", &[])?;
                Ok(rows.first().map(|r| r.get::<_, String>(0)).unwrap_or_default())
            })
            .unwrap_or_else(|e| format!("unknown ({e:#})"))
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let Ok(admin) = self.admin() else { return };
        for name in &self.made {
            if let Ok(mut c) = admin.get()
                && let Err(e) = c.batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            {
                eprintln!("could not drop the benchmark database {name}: {e:#}");
            }
        }
    }
}

pub fn hide_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// How the URL reaches the server.
pub fn transport(url: &str) -> &'static str {
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    if url.contains("host=/") || host.is_empty() || host.starts_with('%') {
        "unix socket"
    } else if host == "127.0.0.1" || host == "localhost" || host == "[::1]" {
        "TCP on loopback"
    } else {
        "TCP"
    }
}

/// Serves the router `make` builds (given its own address) on 127.0.0.1 at
/// a free port, on a thread and runtime of its own (two workers), for the
/// rest of the program: the loopback sources of the daemon and store
/// benchmarks. Returns once it listens.
pub fn serve_on_loopback(
    name: &str,
    make: impl FnOnce(std::net::SocketAddr) -> axum::Router + Send + 'static,
) -> anyhow::Result<std::net::SocketAddr> {
    use anyhow::Context as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(anyhow::Error::from(e)));
                return;
            }
        };
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            let addr = listener.local_addr().expect("a bound listener has an address");
            let app = make(addr);
            let _ = tx.send(Ok(addr));
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("{} stopped: {e}", std::thread::current().name().unwrap_or("server"));
            }
        });
    })?;
    rx.recv().context("the server thread died")?
}

/// A daily schedule at an hour at least eleven hours away (Asia/Shanghai):
/// it does not fire while a benchmark runs.
pub fn quiet_schedule() -> String {
    use chrono::Timelike as _;
    let hour = (chrono::Utc::now().with_timezone(&govwatch::normalize::time::china()).hour() + 12) % 24;
    format!("0 0 {hour} * * *")
}
