//! Daemon benchmark: one poll cycle over 5,000 feeds, and the resident
//! memory of `govwatch run` with 5,000 sources and 1,000,000 items.
//!
//! ```text
//! cargo bench --bench daemon                                   # 5,000 sources, 1,000,000 items
//! GOVWATCH_BENCH_SOURCES=1000 GOVWATCH_BENCH_ITEMS=100000 cargo bench --bench daemon
//! cargo bench --bench daemon -- --sources 1000 --items 100000 --per-host 16
//! cargo bench --bench daemon -- --reuse                        # keep the store of the last run
//! cargo bench --bench daemon -- --help
//! ```
//!
//! Everything runs the real binary (`CARGO_BIN_EXE_govwatch`, built by
//! cargo in the same profile as this program) as a child process, against an
//! HTTP server this program starts on 127.0.0.1 (axum, its own runtime and
//! thread). Half the feeds (even-numbered) are fixed and answer 304 Not
//! Modified when `If-None-Match` carries their ETag; the other half change on
//! every request (a sliding window: one new item per request) and always
//! answer 200.
//!
//! 1. The store is filled with generated items (`corpus/mod.rs`, from the
//!    seed documents) bound to the configured sources, and indexed.
//! 2. `govwatch poll --config FILE --json` twice: the first cycle fills the
//!    store and the validators (warm-up), the second is measured — wall time,
//!    and CPU time of the child (user + sys: the growth of this process's
//!    `cutime`/`cstime` in `/proc/self/stat` across waiting for it).
//! 3. `govwatch run --config FILE` on the same data, every source scheduled
//!    every minute, with a systemd-like NOTIFY_SOCKET and a 60 s watchdog
//!    (the unit's `WatchdogSec`): VmRSS/VmHWM from `/proc/<pid>/status` every
//!    200 ms until its start-up cycle has polled every source (or
//!    `--cycle-limit` passed) and the index has caught up (`/metrics`), then
//!    a few seconds more (steady state), then SIGTERM. `/healthz` is asked
//!    every 5 s meanwhile. Then the same with a schedule that does not fire
//!    during the run (the start-up cycle alone), as a diagnostic.
//!
//! The work folder (default `bench-data/daemon/`, git-ignored) is replaced on
//! each run unless `--reuse`. Started without `--bench` (as `cargo test
//! --all-targets` does) it runs a smoke test — 50 sources of 5 items, 500
//! items, in a temporary folder — and makes no timing claims.

mod common;
mod corpus;

use common::progress;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use chrono::{Duration as ChronoDuration, TimeZone};
use govwatch::normalize::time::china;
use govwatch::store::Store;

use common::{Machine, Table, fmt_bytes, fmt_secs, loadavg, number_arg, per_sec, started_by_cargo_bench, thousands};
use corpus::fill::{Fill, SENTENCES, UNIT, fill, source_id};

/// How often the daemon's memory is read.
const SAMPLE: Duration = Duration::from_millis(200);
/// How often `/healthz` is asked while the daemon runs.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// The unit file's `WatchdogSec` (systemd/govwatch.service).
const WATCHDOG: Duration = Duration::from_secs(60);
/// Every source's schedule in the main daemon run: every minute.
const EVERY_MINUTE: &str = "0 * * * * *";

const USAGE: &str = "\
usage: cargo bench --bench daemon -- [options]

  --sources N        feed sources, all on one loopback server
                     (default $GOVWATCH_BENCH_SOURCES, else 5000)
  --items N          items stored before the polls
                     (default $GOVWATCH_BENCH_ITEMS, else 1000000)
  --feed-items N     items in each feed (default 20)
  --concurrency N    [fetch] concurrency: sources `govwatch poll` polls at once (default 64)
  --per-host N       [fetch] per_host: requests in flight to one host (default 64)
  --cycle-limit S    give up waiting for a daemon's start-up cycle after S seconds
                     and report how far it got (default 600)
  --hold S           seconds a daemon runs on after its start-up cycle, for the
                     steady resident size (default 5)
  --no-quiet         skip the second daemon run (a schedule that does not fire
                     during the run: the start-up cycle alone)
  --reuse            keep the store and index a previous run left in --dir
                     (no filling: the poll cycles and daemons run on it)
  --dir PATH         work folder (default bench-data/daemon/ in the crate root;
                     replaced unless --reuse)
  --seeds DIR        seed documents for the items (default $GOVWATCH_SHARED/seeds;
                     without them the items are made of a few built-in sentences)
  --help             this text";

struct Options {
    sources: usize,
    items: u64,
    feed_items: usize,
    concurrency: usize,
    per_host: usize,
    cycle_limit: Duration,
    hold: Duration,
    quiet: bool,
    reuse: bool,
    dir: PathBuf,
    seeds: PathBuf,
    smoke: bool,
}

fn env_number(name: &str) -> Result<Option<usize>> {
    match std::env::var(name) {
        Ok(v) => {
            let n = v.replace(['_', ','], "").parse().with_context(|| format!("{name}: not a number: {v:?}"))?;
            Ok(Some(n))
        }
        Err(_) => Ok(None),
    }
}

impl Options {
    fn parse(args: &[String], smoke: bool) -> Result<Option<Options>> {
        let mut o = Options {
            sources: 5_000,
            items: 1_000_000,
            feed_items: 20,
            concurrency: 64,
            per_host: 64,
            cycle_limit: Duration::from_secs(600),
            hold: Duration::from_secs(5),
            quiet: true,
            reuse: false,
            dir: common::repo().join("bench-data/daemon"),
            seeds: common::shared_dir().join("seeds"),
            smoke,
        };
        if smoke {
            // Whatever the test runner passed: a quick check that it all still works.
            o.sources = 50;
            o.items = 500;
            o.feed_items = 5;
            o.cycle_limit = Duration::from_secs(120);
            o.hold = Duration::from_millis(600);
            o.quiet = false;
            return Ok(Some(o));
        }
        if let Some(n) = env_number("GOVWATCH_BENCH_SOURCES")? {
            o.sources = n;
        }
        if let Some(n) = env_number("GOVWATCH_BENCH_ITEMS")? {
            o.items = n as u64;
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--bench" => {}
                "--sources" => o.sources = number_arg(&mut it, a)?,
                "--items" => o.items = number_arg(&mut it, a)? as u64,
                "--feed-items" => o.feed_items = number_arg(&mut it, a)?,
                "--concurrency" => o.concurrency = number_arg(&mut it, a)?,
                "--per-host" => o.per_host = number_arg(&mut it, a)?,
                "--cycle-limit" => o.cycle_limit = Duration::from_secs(number_arg(&mut it, a)? as u64),
                "--hold" => o.hold = Duration::from_secs(number_arg(&mut it, a)? as u64),
                "--no-quiet" => o.quiet = false,
                "--reuse" => o.reuse = true,
                "--dir" => o.dir = PathBuf::from(it.next().context("--dir needs a value")?),
                "--seeds" => o.seeds = PathBuf::from(it.next().context("--seeds needs a value")?),
                "--help" | "-h" => return Ok(None),
                other => bail!("unknown option {other:?}"),
            }
        }
        ensure!(o.sources >= 2, "--sources must be at least 2 (half of them answer 304)");
        ensure!(o.feed_items >= 1, "--feed-items must be at least 1");
        ensure!(o.concurrency >= 1 && o.per_host >= 1, "--concurrency and --per-host must be at least 1");
        ensure!(o.cycle_limit >= Duration::from_secs(10), "--cycle-limit must be at least 10 seconds");
        Ok(Some(o))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !started_by_cargo_bench(&args);
    let mut opts = match Options::parse(&args, smoke) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("error: {e:#}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let _tmp;
    if smoke {
        eprintln!(
            "daemon bench: not started by `cargo bench`; running a smoke test with {} sources and {} items in a \
             temporary folder (run `cargo bench --bench daemon` for the benchmark)",
            opts.sources, opts.items
        );
        let tmp = tempfile::tempdir().expect("temporary folder");
        opts.dir = tmp.path().to_path_buf();
        _tmp = tmp;
    }
    if let Err(e) = run(&opts) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Even-numbered feeds never change (and answer 304); odd ones always do.
fn is_fixed(i: usize) -> bool {
    i.is_multiple_of(2)
}

fn run(o: &Options) -> Result<()> {
    common::START.get_or_init(Instant::now);
    let machine = Machine::read();
    let load_before = loadavg();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_govwatch"));
    ensure!(bin.exists(), "the govwatch binary {} is missing", bin.display());
    if o.reuse {
        ensure!(
            o.dir.join("var/govwatch.sqlite3").exists() && o.dir.join("index").exists(),
            "--reuse: {} holds no store and index of a previous run",
            o.dir.display()
        );
    } else if o.dir.exists() {
        std::fs::remove_dir_all(&o.dir).with_context(|| format!("cannot clear {}", o.dir.display()))?;
    }
    std::fs::create_dir_all(&o.dir).with_context(|| format!("cannot create {}", o.dir.display()))?;
    let dir = o.dir.canonicalize()?;
    let ticks = clock_ticks();
    progress!(
        "{} sources, {} items, work folder {}, binary {}",
        thousands(o.sources as u64),
        thousands(o.items),
        dir.display(),
        bin.display()
    );

    // --- the feeds ----------------------------------------------------------
    let server = FeedServer::start(o.sources, o.feed_items)?;
    progress!("feed server on http://{}", server.addr);
    let cfg_path = dir.join("govwatch.toml");
    write_config(&cfg_path, &dir, server.addr, o, EVERY_MINUTE)?;
    let check = govwatch(&bin, &dir).args(["config", "check", "--config"]).arg(&cfg_path).output()?;
    ensure!(
        check.status.success(),
        "`govwatch config check` refused the generated configuration ({}):\n{}{}",
        check.status,
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // --- the store ------------------------------------------------------------
    let fill = if o.reuse {
        progress!("reusing the store and index in {}", dir.display());
        None
    } else {
        let f = fill(&dir, o.items, o.sources, &o.seeds)?;
        progress!(
            "stored {} items in {} ({}), indexed in {} ({})",
            thousands(o.items),
            fmt_secs(f.store),
            fmt_bytes(f.store_bytes),
            fmt_secs(f.index),
            fmt_bytes(f.index_bytes)
        );
        Some(f)
    };

    // --- poll cycles ------------------------------------------------------------
    let mut cycles = Vec::new();
    for n in 1..=2 {
        progress!("poll cycle {n} (`govwatch poll --json`)…");
        let served_before = server.stats.snapshot();
        let own_before = proc_times("self").unwrap_or_default();
        let mut cmd = govwatch(&bin, &dir);
        cmd.args(["poll", "--json", "--config"]).arg(&cfg_path);
        let run = run_measured(&mut cmd, ticks)?;
        let own_after = proc_times("self").unwrap_or_default();
        let served = server.stats.snapshot().minus(&served_before);
        let cycle = Cycle::from_run(run, served, ticks, own_after, own_before)?;
        progress!(
            "cycle {n}: {} wall, {:.2} s CPU, {} ok / {} not modified / {} errors",
            fmt_secs(cycle.run.wall),
            cycle.cpu(),
            cycle.count("ok"),
            cycle.count("not_modified"),
            cycle.count("error")
        );
        ensure!(
            cycle.reports.len() == o.sources,
            "`govwatch poll --json` reported {} sources, expected {} (exit {}):\n{}",
            cycle.reports.len(),
            o.sources,
            cycle.run.status,
            tail(&cycle.run.stderr, 40)
        );
        cycles.push(cycle);
    }
    let measured = &cycles[1];
    if measured.count("error") > 0 || !measured.run.status.success() {
        eprintln!("cycle 2 had failures (exit {}):\n{}", measured.run.status, tail(&measured.run.stderr, 40));
    }
    let store_items = count_items(&dir)?;
    let health_of = time_health_of(&dir, o.sources)?;
    progress!(
        "Store::health_of over {} source rows: {:.2} ms a call",
        thousands(health_of.rows as u64),
        health_of.per_call.as_secs_f64() * 1000.0
    );

    // --- the daemon ---------------------------------------------------------
    let mut plans = vec![(cfg_path.clone(), EVERY_MINUTE.to_string(), "every minute (the benchmark)")];
    if o.quiet {
        let quiet_cfg = dir.join("govwatch-quiet.toml");
        let schedule = common::quiet_schedule();
        write_config(&quiet_cfg, &dir, server.addr, o, &schedule)?;
        plans.push((quiet_cfg, schedule, "daily, not firing during the run (diagnostic: the start-up cycle alone)"));
    }
    let mut daemons = Vec::new();
    for (cfg, schedule, label) in plans {
        progress!(
            "`govwatch run`, schedule {schedule:?}, {} sources, {} items…",
            thousands(o.sources as u64),
            thousands(count_items(&dir)?)
        );
        let served_before = server.stats.snapshot();
        let mut d = run_daemon(&bin, &dir, &cfg, o, ticks)?;
        d.schedule = schedule;
        d.label = label;
        d.served = server.stats.snapshot().minus(&served_before);
        progress!(
            "daemon: {} of {} sources polled in {} after READY; peak RSS {}, at the end {}",
            d.log.done.len(),
            o.sources,
            opt_secs(d.cycle_time()),
            kib(d.peak_hwm),
            kib(d.steady.rss)
        );
        daemons.push(d);
    }

    // --- report -------------------------------------------------------------
    let report = Report {
        o,
        machine: &machine,
        load_before,
        dir: &dir,
        bin: &bin,
        fill: fill.as_ref(),
        cycles: &cycles,
        health_of: &health_of,
    };
    print!("{}", report.render(store_items, &daemons, ticks));
    let mut problems: Vec<String> = Vec::new();
    if measured.count("error") > 0 {
        problems.push(format!("{} polls failed in cycle 2", measured.count("error")));
    }
    for d in &daemons {
        problems.extend(d.problems(o.sources));
    }
    if !problems.is_empty() {
        let msg = format!("the run had failures (see above): {}", problems.join("; "));
        // A smoke test must fail loudly; the benchmark reports what it measured.
        if o.smoke {
            bail!(msg);
        }
        eprintln!("{msg}");
    }
    Ok(())
}

// --- the feed server ----------------------------------------------------------

/// What the server answered, per status.
#[derive(Default)]
struct ServerStats {
    /// Requests per feed (the changing feeds move their window by it).
    requests: Vec<AtomicU64>,
    ok: AtomicU64,
    not_modified: AtomicU64,
    other: AtomicU64,
    bytes: AtomicU64,
}

#[derive(Clone, Copy, Default)]
struct Served {
    ok: u64,
    not_modified: u64,
    other: u64,
    bytes: u64,
}

impl Served {
    fn minus(&self, before: &Served) -> Served {
        Served {
            ok: self.ok - before.ok,
            not_modified: self.not_modified - before.not_modified,
            other: self.other - before.other,
            bytes: self.bytes - before.bytes,
        }
    }
}

impl ServerStats {
    fn snapshot(&self) -> Served {
        Served {
            ok: self.ok.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

struct ServerState {
    stats: Arc<ServerStats>,
    origin: String,
    feed_items: usize,
    /// Numbers the changing feeds' items from here, different in every run,
    /// so that a `--reuse` run gets new items too.
    run_base: u64,
}

struct FeedServer {
    addr: SocketAddr,
    stats: Arc<ServerStats>,
}

impl FeedServer {
    /// Serves `/feed/{i}.xml` for `i` in `0..sources` on 127.0.0.1, on its
    /// own thread and runtime, for the rest of the program.
    fn start(sources: usize, feed_items: usize) -> Result<FeedServer> {
        let stats = Arc::new(ServerStats {
            requests: (0..sources).map(|_| AtomicU64::new(0)).collect(),
            ..ServerStats::default()
        });
        let run_base = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let st = stats.clone();
        let addr = common::serve_on_loopback("feed-server", move |addr| {
            let state = Arc::new(ServerState { stats: st, origin: format!("http://{addr}"), feed_items, run_base });
            axum::Router::new().fallback(serve_feed).with_state(state)
        })?;
        Ok(FeedServer { addr, stats })
    }
}

async fn serve_feed(State(st): State<Arc<ServerState>>, req: Request) -> Response<Body> {
    let n = req
        .uri()
        .path()
        .strip_prefix("/feed/")
        .and_then(|p| p.strip_suffix(".xml"))
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|n| *n < st.stats.requests.len());
    let Some(i) = n else {
        st.stats.other.fetch_add(1, Ordering::Relaxed);
        return Response::builder().status(StatusCode::NOT_FOUND).body(Body::from("no such feed")).expect("response");
    };
    let (etag, number, slot) = if is_fixed(i) {
        (format!("\"f{i}\""), 0, 0)
    } else {
        let c = st.stats.requests[i].fetch_add(1, Ordering::Relaxed);
        (format!("\"c{i}-{}-{c}\"", st.run_base), st.run_base + c, c)
    };
    let inm = req.headers().get("if-none-match").and_then(|v| v.to_str().ok());
    if inm == Some(etag.as_str()) {
        st.stats.not_modified.fetch_add(1, Ordering::Relaxed);
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", etag)
            .body(Body::empty())
            .expect("response");
    }
    let body = rss(&st.origin, i, number, slot, st.feed_items);
    st.stats.ok.fetch_add(1, Ordering::Relaxed);
    st.stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/rss+xml; charset=utf-8")
        .header("etag", etag)
        .body(Body::from(body))
        .expect("response")
}

/// Feed `i`: `count` items numbered from `number` (published in slots from
/// `slot`, ten minutes apart), newest first, as RSS 2.0.
fn rss(origin: &str, i: usize, number: u64, slot: u64, count: usize) -> String {
    let base = china().with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("valid time");
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>第{i}号栏目 通知公告</title>\
         <link>{origin}/feed/{i}.xml</link><language>zh-CN</language>\n"
    );
    for j in (0..count as u64).rev() {
        let k = number + j;
        let at = base + ChronoDuration::minutes(10 * ((slot + j) % 2000) as i64);
        let s = |n: u64| SENTENCES[((i as u64 + k + n) % SENTENCES.len() as u64) as usize];
        x.push_str(&format!(
            "<item><title>关于第{k}批政务公开重点工作的通知（栏目{i}）</title><link>{origin}/feed/{i}/t{k}.html</link>\
             <description>{}。{}。{}。本通知第{k}号。</description><pubDate>{}</pubDate></item>\n",
            s(0),
            s(3),
            s(5),
            at.to_rfc2822()
        ));
    }
    x.push_str("</channel></rss>\n");
    x
}

// --- configuration and store ---------------------------------------------------

fn write_config(path: &Path, dir: &Path, addr: SocketAddr, o: &Options, schedule: &str) -> Result<()> {
    let q = |p: PathBuf| serde_json::to_string(&p.display().to_string()).expect("a string serializes");
    let mut s = format!(
        "# Written by `cargo bench --bench daemon`.\n\
         [storage]\ndata_dir = {}\nindex_dir = {}\n\n\
         [fetch]\nper_host = {}\nconcurrency = {}\n\n\
         [mail]\ntransport = \"file\"\ndir = {}\n\n\
         [[units]]\nid = \"{UNIT}\"\nname = \"区政府办公室\"\nemails = [\"gk@example.gov.cn\"]\n\n",
        q(dir.join("var")),
        q(dir.join("index")),
        o.per_host,
        o.concurrency,
        q(dir.join("mail")),
    );
    for i in 0..o.sources {
        s.push_str(&format!(
            "[[sources]]\nid = \"{}\"\nkind = \"feed\"\nurl = \"http://{addr}/feed/{i}.xml\"\nunit = \"{UNIT}\"\n\
             role = \"portal\"\nlevel = \"county\"\nschedule = \"{schedule}\"\n\n",
            source_id(i)
        ));
    }
    std::fs::write(path, s).with_context(|| format!("cannot write {}", path.display()))
}

/// Items in the store.
fn count_items(dir: &Path) -> Result<u64> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("var/govwatch.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let n: i64 = conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
    Ok(n as u64)
}

/// What one `Store::health_of` costs — the daemon asks it before every poll.
struct HealthOf {
    rows: usize,
    per_call: Duration,
}

fn time_health_of(dir: &Path, sources: usize) -> Result<HealthOf> {
    let store = Store::open(&dir.join("var"))?;
    let rows = store.source_health()?.len();
    let calls = 20;
    let t = Instant::now();
    for n in 0..calls {
        let id = source_id(n * sources / calls);
        ensure!(store.health_of(&id)?.is_some(), "no health row for {id}");
    }
    Ok(HealthOf { rows, per_call: t.elapsed() / calls as u32 })
}

// --- child processes ----------------------------------------------------------

/// `govwatch` in `dir`, with none of the caller's GOVWATCH_* settings or
/// systemd variables.
fn govwatch(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("GOVWATCH_")) {
            c.env_remove(k);
        }
    }
    for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"] {
        c.env_remove(k);
    }
    c
}

/// Clock ticks per second of `/proc/*/stat` times.
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(100)
}

/// (utime, stime, cutime, cstime) of a process (`self` or a pid), in ticks.
fn proc_times(pid: &str) -> Option<[u64; 4]> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let f: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
    let n = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some([n(14)?, n(15)?, n(16)?, n(17)?])
}

/// Memory of a process from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Default, Debug)]
struct Mem {
    rss: u64,
    hwm: u64,
    anon: u64,
    file: u64,
    threads: u64,
}

fn proc_mem(pid: u32) -> Option<Mem> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let v = |key: &str| {
        s.lines().find_map(|l| l.strip_prefix(key)?.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Mem {
        rss: v("VmRSS:")?,
        hwm: v("VmHWM:")?,
        anon: v("RssAnon:").unwrap_or(0),
        file: v("RssFile:").unwrap_or(0),
        threads: v("Threads:").unwrap_or(0),
    })
}

struct ChildRun {
    wall: Duration,
    /// User and system CPU seconds of the child.
    user: f64,
    sys: f64,
    /// The highest VmHWM seen while it ran (sampled every 50 ms), KiB.
    peak_kib: u64,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = r.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    })
}

/// Runs a child to its end: wall time, CPU (this process's `cutime` and
/// `cstime` grow by the child's once it has been waited for) and peak RSS.
fn run_measured(cmd: &mut Command, ticks: u64) -> Result<ChildRun> {
    let ticks = ticks as f64;
    let before = proc_times("self").context("cannot read /proc/self/stat")?;
    let t = Instant::now();
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let out = read_all(child.stdout.take().expect("piped"));
    let err = read_all(child.stderr.take().expect("piped"));
    let mut peak_kib = 0;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if let Some(m) = proc_mem(child.id()) {
            peak_kib = peak_kib.max(m.hwm);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = t.elapsed();
    let after = proc_times("self").context("cannot read /proc/self/stat")?;
    Ok(ChildRun {
        wall,
        user: (after[2] - before[2]) as f64 / ticks,
        sys: (after[3] - before[3]) as f64 / ticks,
        peak_kib,
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A plain HTTP/1.0 GET with a time limit: (status, body).
fn http_get(addr: &str, path: &str, limit: Duration) -> Result<(u16, String)> {
    let sock: SocketAddr = addr.parse().with_context(|| format!("not an address: {addr}"))?;
    let mut s = TcpStream::connect_timeout(&sock, limit)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

// --- poll cycles --------------------------------------------------------------

struct PollReport {
    status: String,
    new: u64,
    updated: u64,
    unchanged: u64,
    took_ms: u64,
    error: Option<String>,
}

struct Cycle {
    run: ChildRun,
    reports: Vec<PollReport>,
    served: Served,
    /// This program's own CPU seconds meanwhile (mostly the feed server).
    server_cpu: f64,
}

impl Cycle {
    fn from_run(run: ChildRun, served: Served, ticks: u64, own_after: [u64; 4], own_before: [u64; 4]) -> Result<Cycle> {
        let json: serde_json::Value = serde_json::from_str(&run.stdout).with_context(|| {
            format!("`govwatch poll --json` printed no JSON (exit {}):\n{}", run.status, tail(&run.stderr, 40))
        })?;
        let list = json.as_array().context("`govwatch poll --json` printed no array")?;
        let reports = list
            .iter()
            .map(|r| {
                let n = |k: &str| r.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
                PollReport {
                    status: r.get("status").and_then(|v| v.as_str()).unwrap_or("?").to_string(),
                    new: n("new"),
                    updated: n("updated"),
                    unchanged: n("unchanged"),
                    took_ms: n("took_ms"),
                    error: r.get("error").and_then(|v| v.as_str()).map(str::to_string),
                }
            })
            .collect();
        let own = (own_after[0] + own_after[1]).saturating_sub(own_before[0] + own_before[1]);
        Ok(Cycle { run, reports, served, server_cpu: own as f64 / ticks as f64 })
    }

    fn count(&self, status: &str) -> usize {
        self.reports.iter().filter(|r| r.status == status).count()
    }

    fn cpu(&self) -> f64 {
        self.run.user + self.run.sys
    }

    fn sum(&self, f: impl Fn(&PollReport) -> u64) -> u64 {
        self.reports.iter().map(f).sum()
    }

    /// took_ms at the median, 99th percentile and maximum.
    fn took(&self) -> (u64, u64, u64) {
        let mut t: Vec<u64> = self.reports.iter().map(|r| r.took_ms).collect();
        t.sort_unstable();
        if t.is_empty() {
            return (0, 0, 0);
        }
        let at = |q: f64| t[((q * t.len() as f64).ceil() as usize).clamp(1, t.len()) - 1];
        (at(0.5), at(0.99), t[t.len() - 1])
    }
}

// --- the daemon -----------------------------------------------------------------

#[derive(Default)]
struct DaemonLog {
    lines: usize,
    tail: Vec<String>,
    addr: Option<String>,
    caught_up: Option<Instant>,
    listening: Option<Instant>,
    running: Option<Instant>,
    /// Sources that have finished their first poll (polled or failed).
    done: HashSet<String>,
    cycle_done: Option<Instant>,
    /// Polls by logged status, and failures.
    statuses: BTreeMap<String, u64>,
    failed: u64,
    skipped_ticks: u64,
    index_updates: Vec<(Instant, u64)>,
    /// WARN and ERROR lines (the first ones, cut to 300 characters), and how many.
    warnings: Vec<String>,
    warning_count: u64,
    longest_line: usize,
    /// The shutdown's lines.
    stopping: Vec<String>,
}

/// `key=value` in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    line[at..].split_whitespace().next()
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}… ({} bytes)", s.chars().take(n).collect::<String>(), s.len())
    }
}

impl DaemonLog {
    fn take(&mut self, line: String, sources: usize) {
        let now = Instant::now();
        self.lines += 1;
        self.longest_line = self.longest_line.max(line.len());
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            self.warning_count += 1;
            if self.warnings.len() < 10 {
                self.warnings.push(cut(&line, 300));
            }
        }
        if line.contains("index is up to date with the store") {
            self.caught_up.get_or_insert(now);
        }
        if let Some(at) = line.find("on http://") {
            let addr = line[at + "on http://".len()..].split_whitespace().next().unwrap_or("");
            self.addr.get_or_insert(addr.to_string());
            self.listening.get_or_insert(now);
        }
        if line.contains("govwatch is running") {
            self.running.get_or_insert(now);
        }
        let polled = line.contains(" polled ");
        let failed = line.contains(" poll failed ");
        if (polled || failed)
            && let Some(src) = field(&line, "source")
        {
            self.done.insert(src.to_string());
            if polled {
                *self.statuses.entry(field(&line, "status").unwrap_or("?").to_string()).or_default() += 1;
            } else {
                self.failed += 1;
            }
            if self.done.len() == sources {
                self.cycle_done.get_or_insert(now);
            }
        }
        if line.contains("skipping this tick") {
            self.skipped_ticks += 1;
        }
        if line.contains(" index updated ") {
            let n = field(&line, "indexed").and_then(|v| v.parse().ok()).unwrap_or(0);
            self.index_updates.push((now, n));
        }
        // The shutdown's own lines (not the polls and ticks still logging meanwhile).
        if (!self.stopping.is_empty() || line.contains("stopping: no new work"))
            && !line.contains(" polled ")
            && !line.contains("skipping this tick")
            && self.stopping.len() < 10
        {
            self.stopping.push(cut(&line, 300));
        }
        self.tail.push(line);
        if self.tail.len() > 200 {
            self.tail.drain(..100);
        }
    }
}

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    mem: Mem,
    /// CPU seconds so far.
    cpu: f64,
    /// Sources polled so far.
    done: usize,
}

/// One `/healthz` request: when, and its time or what went wrong.
struct Probe {
    at: Instant,
    result: Result<Duration, String>,
}

#[derive(Default)]
struct DaemonRun {
    label: &'static str,
    schedule: String,
    spawned: Option<Instant>,
    samples: Vec<Sample>,
    log: DaemonLog,
    /// When the index caught up with the start-up cycle (`/metrics` lag 0).
    settled: Option<Instant>,
    /// When sampling ended (SIGTERM).
    ended: Option<Instant>,
    peak_hwm: u64,
    /// The median over the steady window (or the last sample when the cycle
    /// did not finish).
    steady: Mem,
    /// CPU seconds during the steady window, and its length.
    cpu_hold: f64,
    hold: Duration,
    metrics: Option<Result<(Duration, usize), String>>,
    metrics_polls: BTreeMap<String, u64>,
    probes: Vec<Probe>,
    /// READY=1 and WATCHDOG=1 datagrams.
    ready: Option<Instant>,
    pings: Vec<Instant>,
    stop_time: Option<Duration>,
    exit: Option<ExitStatus>,
    served: Served,
}

impl DaemonRun {
    fn since(&self, t: Option<Instant>) -> Option<Duration> {
        Some(t?.duration_since(self.spawned?))
    }

    /// From READY ("govwatch is running") to the last source's first poll.
    fn cycle_time(&self) -> Option<Duration> {
        Some(self.log.cycle_done?.duration_since(self.log.running?))
    }

    fn cpu_at(&self, at: Option<Instant>) -> f64 {
        at.and_then(|at| self.samples.iter().find(|s| s.at >= at).or(self.samples.last())).map(|s| s.cpu).unwrap_or(0.0)
    }

    /// The longest time without a WATCHDOG=1, from READY=1 to SIGTERM.
    fn watchdog_gap(&self) -> Option<Duration> {
        let mut points: Vec<Instant> = self.ready.into_iter().chain(self.pings.iter().copied()).collect();
        points.push(self.ended?);
        points.windows(2).map(|w| w[1].saturating_duration_since(w[0])).max()
    }

    fn problems(&self, sources: usize) -> Vec<String> {
        let mut p = Vec::new();
        if self.log.done.len() < sources {
            p.push(format!(
                "the daemon ({}) polled {} of {sources} sources in its start-up cycle",
                self.schedule,
                self.log.done.len()
            ));
        }
        if self.log.failed > 0 {
            p.push(format!("{} polls failed in the daemon ({})", self.log.failed, self.schedule));
        }
        match self.exit {
            Some(st) if st.success() => {}
            Some(st) => p.push(format!("the daemon exited with {st} after SIGTERM")),
            None => p.push("the daemon did not exit after SIGTERM (killed)".into()),
        }
        p
    }
}

fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run_daemon(bin: &Path, dir: &Path, cfg: &Path, o: &Options, ticks: u64) -> Result<DaemonRun> {
    let ticks = ticks as f64;
    let sources = o.sources;
    // systemd's side: the notify socket, and the unit's watchdog.
    let socket_dir = tempfile::tempdir()?;
    let socket = socket_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&socket)?;
    notify.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut cmd = govwatch(bin, dir);
    cmd.args(["run", "--config"])
        .arg(cfg)
        .env("GOVWATCH__WEB__LISTEN", "127.0.0.1:0")
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let spawned = Instant::now();
    let mut d = Running { child: cmd.spawn().context("cannot start `govwatch run`")? };
    let pid = d.child.id();
    let stop = Arc::new(AtomicBool::new(false));

    let log = Arc::new(Mutex::new(DaemonLog::default()));
    let stderr = d.child.stderr.take().expect("piped");
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap_or_else(|e| e.into_inner()).take(line, sources);
        }
    });
    let notes: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let (sink, stop2) = (notes.clone(), stop.clone());
    let listener = std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while !stop2.load(Ordering::Relaxed) {
            if let Ok(n) = notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap_or_else(|e| e.into_inner()).push((Instant::now(), msg));
            }
        }
    });
    let probes: Arc<Mutex<Vec<Probe>>> = Arc::default();
    let (sink, stop3, log3) = (probes.clone(), stop.clone(), log.clone());
    let prober = std::thread::spawn(move || {
        let mut next = Instant::now();
        while !stop3.load(Ordering::Relaxed) {
            let addr = log3.lock().unwrap_or_else(|e| e.into_inner()).addr.clone();
            if let Some(addr) = addr.filter(|_| Instant::now() >= next) {
                let at = Instant::now();
                let result = match http_get(&addr, "/healthz", Duration::from_secs(15)) {
                    Ok((200, _)) => Ok(at.elapsed()),
                    Ok((status, body)) => Err(format!("status {status}: {}", cut(&body, 100))),
                    Err(e) => Err(format!("{e} after {}", fmt_secs(at.elapsed()))),
                };
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(Probe { at, result });
                next = at + HEALTH_EVERY;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let lock = || log.lock().unwrap_or_else(|e| e.into_inner());
    let log_tail = |n: usize| tail(&lock().tail.join("\n"), n);
    let mut run = DaemonRun { spawned: Some(spawned), hold: o.hold, ..DaemonRun::default() };
    let sample = |samples: &mut Vec<Sample>| {
        if let (Some(mem), Some(t)) = (proc_mem(pid), proc_times(&pid.to_string())) {
            let done = lock().done.len();
            samples.push(Sample { at: Instant::now(), mem, cpu: (t[0] + t[1]) as f64 / ticks, done });
        }
    };
    let mut last_progress = Instant::now();
    // Until the start-up cycle has polled every source, or the limit.
    loop {
        sample(&mut run.samples);
        if let Some(st) = d.child.try_wait()? {
            bail!("`govwatch run` exited ({st}) during its start-up cycle:\n{}", log_tail(60));
        }
        let (done, finished) = {
            let l = lock();
            (l.done.len(), l.cycle_done.is_some())
        };
        if finished {
            break;
        }
        if spawned.elapsed() > o.cycle_limit {
            progress!(
                "daemon: {done} of {sources} sources polled at the limit of {}; stopping it",
                fmt_secs(o.cycle_limit)
            );
            break;
        }
        if last_progress.elapsed() > Duration::from_secs(30) {
            let rss = run.samples.last().map(|s| kib(s.mem.rss)).unwrap_or_default();
            progress!("daemon: {done} of {sources} sources polled, RSS {rss}");
            last_progress = Instant::now();
        }
        std::thread::sleep(SAMPLE);
    }
    let finished = lock().cycle_done.is_some();
    let addr = lock().addr.clone().context("the daemon did not log its listen address")?;
    // Until the index holds what the cycle stored (when it finished).
    let settle_limit = Instant::now() + Duration::from_secs(if o.smoke { 60 } else { 300 });
    let mut last_scrape: Option<Instant> = None;
    loop {
        sample(&mut run.samples);
        if d.child.try_wait()?.is_some() {
            bail!("`govwatch run` exited after its start-up cycle:\n{}", log_tail(60));
        }
        if last_scrape.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            let t = Instant::now();
            last_scrape = Some(t);
            match http_get(&addr, "/metrics", Duration::from_secs(30)) {
                Ok((200, body)) => {
                    run.metrics = Some(Ok((t.elapsed(), body.len())));
                    if !finished || metric(&body, "govwatch_index_lag_revisions") == Some(0.0) {
                        run.settled = finished.then(Instant::now);
                        for l in body.lines().filter(|l| l.starts_with("govwatch_polls_total{")) {
                            let status = l.split("status=\"").nth(1).and_then(|s| s.split('"').next());
                            if let (Some(st), Some(v)) = (status, l.rsplit(' ').next()) {
                                *run.metrics_polls.entry(st.to_string()).or_default() += v.parse::<u64>().unwrap_or(0);
                            }
                        }
                        break;
                    }
                }
                Ok((status, body)) => {
                    run.metrics = Some(Err(format!("status {status}: {}", cut(&body, 100))));
                    if !finished {
                        break;
                    }
                }
                Err(e) => {
                    run.metrics = Some(Err(format!("{e} after {}", fmt_secs(t.elapsed()))));
                    if !finished {
                        break;
                    }
                }
            }
        }
        if Instant::now() > settle_limit {
            progress!("daemon: the index did not catch up within the limit");
            break;
        }
        std::thread::sleep(SAMPLE);
    }
    // The steady state.
    let hold_from = Instant::now();
    let hold_first = run.samples.len();
    while hold_from.elapsed() < o.hold {
        std::thread::sleep(SAMPLE);
        sample(&mut run.samples);
    }
    run.hold = hold_from.elapsed();
    let end = proc_mem(pid).unwrap_or_default();
    let mut steady: Vec<Mem> = run.samples[hold_first.min(run.samples.len())..].iter().map(|s| s.mem).collect();
    steady.sort_by_key(|m| m.rss);
    run.steady = steady.get(steady.len() / 2).copied().unwrap_or(end);
    run.cpu_hold = match (run.samples.get(hold_first), run.samples.last()) {
        (Some(a), Some(b)) => b.cpu - a.cpu,
        _ => 0.0,
    };
    run.peak_hwm = run.samples.iter().map(|s| s.mem.hwm).max().unwrap_or(0).max(end.hwm);
    // Stop, as systemd does.
    run.ended = Some(Instant::now());
    let t = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    while t.elapsed() < Duration::from_secs(30) {
        if let Some(st) = d.child.try_wait()? {
            run.exit = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    run.stop_time = run.exit.map(|_| t.elapsed());
    drop(d);
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let _ = listener.join();
    let _ = prober.join();
    run.log = std::mem::take(&mut *lock());
    let notes = std::mem::take(&mut *notes.lock().unwrap_or_else(|e| e.into_inner()));
    run.ready = notes.iter().find(|(_, m)| m.lines().any(|l| l == "READY=1")).map(|(t, _)| *t);
    run.pings = notes.iter().filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1")).map(|(t, _)| *t).collect();
    run.probes = std::mem::take(&mut *probes.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(run)
}

// --- the report -----------------------------------------------------------------

fn kib(k: u64) -> String {
    fmt_bytes(k * 1024)
}

fn opt_secs(d: Option<Duration>) -> String {
    d.map(fmt_secs).unwrap_or_else(|| "–".into())
}

struct Report<'a> {
    o: &'a Options,
    machine: &'a Machine,
    load_before: String,
    dir: &'a Path,
    bin: &'a Path,
    fill: Option<&'a Fill>,
    cycles: &'a [Cycle],
    health_of: &'a HealthOf,
}

impl Report<'_> {
    fn render(&self, store_items: u64, daemons: &[DaemonRun], ticks: u64) -> String {
        let o = self.o;
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "\n# govwatch daemon benchmark: {} sources, {} items{}\n",
            thousands(o.sources as u64),
            thousands(store_items),
            if o.smoke { " (smoke test: debug build, no timing claims)" } else { "" }
        ));
        line(self.machine.markdown());
        line(format!(
            "Load average before / after: {} / {}. Work folder: `{}`. Binary: `{}`.\n",
            self.load_before,
            loadavg(),
            self.dir.display(),
            self.bin.display()
        ));

        line("## Setup\n".into());
        let mut t = Table::new(&["", ""]);
        t.row(vec![
            "sources".into(),
            format!(
                "{} `kind = \"feed\"` county portals of one unit, all on one loopback HTTP server (axum, 2 worker \
                 threads, in the benchmark process)",
                thousands(o.sources as u64)
            ),
        ]);
        t.row(vec![
            "feeds".into(),
            format!(
                "RSS 2.0, {} items each (~{} per response). Even-numbered: fixed, with an ETag; `If-None-Match` with it \
                 gets 304. Odd-numbered: a sliding window that moves one item per request (1 new, {} unchanged), a new \
                 ETag each time, always 200",
                o.feed_items,
                fmt_bytes(rss("http://127.0.0.1:12345", 1, 1_700_000_000, 0, o.feed_items).len() as u64),
                o.feed_items.saturating_sub(1)
            ),
        ]);
        t.row(vec![
            "`[fetch]`".into(),
            format!(
                "`per_host = {}` (every source is on 127.0.0.1, so this bounds requests in flight), `concurrency = {}` \
                 (sources `govwatch poll` polls at once); other keys default (timeout 30 s, 2 retries)",
                o.per_host, o.concurrency
            ),
        ]);
        let fill = match self.fill {
            Some(f) => format!(
                "{} generated items ({}), bound round-robin to the sources; generated in {}, stored in {}, indexed in {} \
                 (load average {} before, {} after); store {}, index {}",
                thousands(o.items),
                f.seeds,
                fmt_secs(f.generate),
                fmt_secs(f.store),
                fmt_secs(f.index),
                f.load.0,
                f.load.1,
                fmt_bytes(f.store_bytes),
                fmt_bytes(f.index_bytes)
            ),
            None => "reused from a previous run (`--reuse`)".into(),
        };
        t.row(vec!["store before the polls".into(), fill]);
        t.row(vec![
            "CPU time".into(),
            format!(
                "child processes: user + sys from the growth of this program's `cutime`/`cstime` \
                 (`/proc/self/stat`) across waiting for the child; the daemon: its own `utime + stime` \
                 (`/proc/<pid>/stat`); {ticks} ticks/s"
            ),
        ]);
        line(t.render());

        line("## One poll cycle (`govwatch poll --config FILE --json`)\n".into());
        line(
            "The whole command as an operator runs it: start, open the store and index, poll every source \
             (`fetch.concurrency` at a time), store, bring the index up to date, commit, print. Cycle 1 fills the \
             validators and adds the feeds' items (warm-up); cycle 2 is the measured one. \"took ms\" is \
             `took_ms` per source (includes waiting for a `per_host` slot). \"server CPU\" is the benchmark \
             process's own CPU meanwhile, mostly the feed server sharing the machine.\n"
                .into(),
        );
        let mut t = Table::new(&[
            "cycle",
            "wall",
            "CPU user",
            "CPU sys",
            "CPU total",
            "polls/s",
            "200 (ok)",
            "304 (not_modified)",
            "errors",
            "new",
            "updated",
            "unchanged",
            "served 200 / 304",
            "took ms p50 / p99 / max",
            "peak RSS",
            "server CPU",
            "exit",
        ]);
        for (n, c) in self.cycles.iter().enumerate() {
            let (p50, p99, max) = c.took();
            t.row(vec![
                format!("{}{}", n + 1, if n == 0 { " (warm-up)" } else { " (measured)" }),
                fmt_secs(c.run.wall),
                format!("{:.2} s", c.run.user),
                format!("{:.2} s", c.run.sys),
                format!("{:.2} s", c.cpu()),
                per_sec(c.reports.len() as f64, c.run.wall),
                thousands(c.count("ok") as u64),
                thousands(c.count("not_modified") as u64),
                thousands(c.count("error") as u64),
                thousands(c.sum(|r| r.new)),
                thousands(c.sum(|r| r.updated)),
                thousands(c.sum(|r| r.unchanged)),
                format!(
                    "{} / {} ({}{})",
                    thousands(c.served.ok),
                    thousands(c.served.not_modified),
                    fmt_bytes(c.served.bytes),
                    if c.served.other > 0 { format!(", {} other", c.served.other) } else { String::new() }
                ),
                format!("{p50} / {p99} / {max}"),
                kib(c.run.peak_kib),
                format!("{:.2} s", c.server_cpu),
                c.run.status.code().map(|c| c.to_string()).unwrap_or_else(|| c.run.status.to_string()),
            ]);
        }
        line(t.render());
        for c in self.cycles {
            let errors: Vec<&PollReport> = c.reports.iter().filter(|r| r.error.is_some()).collect();
            if let Some(e) = errors.first() {
                line(format!(
                    "{} errors; the first: `{}`\n",
                    errors.len(),
                    e.error.as_deref().unwrap_or("").replace('`', "'")
                ));
            }
        }

        line("## The daemon (`govwatch run --config FILE`)\n".into());
        line(format!(
            "On the store the poll cycles left, `GOVWATCH__WEB__LISTEN=127.0.0.1:0`, a NOTIFY_SOCKET and \
             `WATCHDOG_USEC` of {} s (the unit's `WatchdogSec`). Memory from `/proc/<pid>/status` every {} ms. The \
             start-up cycle is over when every source has logged `polled` (or `poll failed`), or after {}; then \
             `/metrics` is read every second until `govwatch_index_lag_revisions` is 0; then the daemon runs {} \
             more (\"steady\": the median VmRSS of those samples), then SIGTERM. `/healthz` is asked every {} s \
             throughout (15 s limit). `Store::health_of` — which the daemon calls before every poll — took {:.2} ms \
             a call here, reading all {} rows of `sources` to return one.\n",
            WATCHDOG.as_secs(),
            SAMPLE.as_millis(),
            fmt_secs(o.cycle_limit),
            fmt_secs(o.hold),
            HEALTH_EVERY.as_secs(),
            self.health_of.per_call.as_secs_f64() * 1000.0,
            thousands(self.health_of.rows as u64)
        ));
        for d in daemons {
            self.daemon(&mut line, d);
        }

        if !o.smoke {
            let measured = &self.cycles[1];
            let met = |ok: bool| if ok { "yes".to_string() } else { "**no**".to_string() };
            line("## Targets\n".into());
            let mut t = Table::new(&["target", "measured", "met?"]);
            t.row(vec![
                format!("one poll cycle over {} sources < 60 s: `govwatch poll`", thousands(o.sources as u64)),
                format!(
                    "{} ({:.1} CPU s, {} polls/s, {} errors)",
                    fmt_secs(measured.run.wall),
                    measured.cpu(),
                    per_sec(measured.reports.len() as f64, measured.run.wall),
                    measured.count("error")
                ),
                met(measured.run.wall < Duration::from_secs(60) && measured.count("error") == 0),
            ]);
            for d in daemons {
                let polled = d.log.done.len();
                t.row(vec![
                    format!("… the daemon's start-up cycle, schedule `{}`", d.schedule),
                    match d.cycle_time() {
                        Some(c) => format!("{} from READY to the last source", fmt_secs(c)),
                        None => format!(
                            "not finished: {} of {} sources polled in {}",
                            thousands(polled as u64),
                            thousands(o.sources as u64),
                            opt_secs(d.since(d.ended))
                        ),
                    },
                    met(d.cycle_time().is_some_and(|c| c < Duration::from_secs(60))),
                ]);
            }
            for d in daemons {
                t.row(vec![
                    format!(
                        "daemon resident memory < 500 MB ({} sources, {} items), schedule `{}`",
                        thousands(o.sources as u64),
                        thousands(store_items),
                        d.schedule
                    ),
                    format!(
                        "peak {} (VmHWM), {} {}{}",
                        kib(d.peak_hwm),
                        if d.cycle_time().is_some() { "steady" } else { "at the end" },
                        kib(d.steady.rss),
                        if d.cycle_time().is_some() { "" } else { " — the cycle had not finished" }
                    ),
                    met(d.peak_hwm * 1024 < 500_000_000),
                ]);
            }
            line(t.render());
        }
        out
    }

    fn daemon(&self, line: &mut impl FnMut(String), d: &DaemonRun) {
        let o = self.o;
        line(format!("### Schedule `{}`: {}\n", d.schedule, d.label));
        let mut t =
            Table::new(&["moment", "since start", "VmRSS", "VmHWM", "RssAnon", "RssFile", "threads", "CPU so far"]);
        let moments = [
            ("index caught up at start (log)", d.log.caught_up),
            ("listening (log)", d.log.listening),
            ("READY=1 (notify socket)", d.ready),
            ("running, start-up cycle begins (log)", d.log.running),
            ("every source polled", d.log.cycle_done),
            ("index holds the cycle's items (`/metrics`)", d.settled),
            ("SIGTERM", d.ended),
        ];
        for (name, at) in moments {
            let s = at.and_then(|at| d.samples.iter().find(|s| s.at >= at).or(d.samples.last()));
            t.row(vec![
                name.into(),
                opt_secs(d.since(at)),
                s.map(|s| kib(s.mem.rss)).unwrap_or_default(),
                s.map(|s| kib(s.mem.hwm)).unwrap_or_default(),
                s.map(|s| kib(s.mem.anon)).unwrap_or_default(),
                s.map(|s| kib(s.mem.file)).unwrap_or_default(),
                s.map(|s| s.mem.threads.to_string()).unwrap_or_default(),
                s.map(|s| format!("{:.2} s", s.cpu)).unwrap_or_default(),
            ]);
        }
        t.row(vec![
            format!("steady (median over {})", fmt_secs(d.hold)),
            "".into(),
            kib(d.steady.rss),
            kib(d.steady.hwm),
            kib(d.steady.anon),
            kib(d.steady.file),
            d.steady.threads.to_string(),
            format!("{:.2} s in the window", d.cpu_hold),
        ]);
        line(t.render());

        // Progress over time, when the cycle was long.
        if d.samples.len() > 2 && d.since(d.ended).is_some_and(|e| e > Duration::from_secs(120)) {
            let mut t = Table::new(&["since start", "sources polled", "VmRSS", "CPU so far"]);
            let start = d.spawned.expect("set");
            let mut next = Duration::from_secs(60);
            for s in &d.samples {
                if s.at.duration_since(start) >= next {
                    t.row(vec![
                        fmt_secs(s.at.duration_since(start)),
                        thousands(s.done as u64),
                        kib(s.mem.rss),
                        format!("{:.1} s", s.cpu),
                    ]);
                    next += Duration::from_secs(60);
                }
            }
            line(t.render());
        }

        let statuses: Vec<String> = d.log.statuses.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
        let metrics_polls: Vec<String> =
            d.metrics_polls.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
        let cycle = d.cycle_time();
        let ok_probes: Vec<Duration> = d.probes.iter().filter_map(|p| p.result.as_ref().ok().copied()).collect();
        let bad_probes: Vec<&Probe> = d.probes.iter().filter(|p| p.result.is_err()).collect();
        let mut t = Table::new(&["", ""]);
        t.row(vec!["peak RSS (VmHWM)".into(), kib(d.peak_hwm)]);
        t.row(vec![
            if cycle.is_some() { "steady RSS" } else { "RSS at the end (cycle not finished)" }.into(),
            format!("{} (anonymous {}, file-backed {})", kib(d.steady.rss), kib(d.steady.anon), kib(d.steady.file)),
        ]);
        t.row(vec![
            "start-up cycle".into(),
            match cycle {
                Some(c) => format!(
                    "{} from READY to the last source polled ({} polls/s); {:.2} s CPU in it ({:.2} s before it)",
                    fmt_secs(c),
                    per_sec(o.sources as f64, c),
                    d.cpu_at(d.log.cycle_done) - d.cpu_at(d.log.running),
                    d.cpu_at(d.log.running)
                ),
                None => format!(
                    "**not finished**: {} of {} sources polled by SIGTERM, {} after start ({:.1} s CPU)",
                    thousands(d.log.done.len() as u64),
                    thousands(o.sources as u64),
                    opt_secs(d.since(d.ended)),
                    d.cpu_at(d.ended)
                ),
            },
        ]);
        t.row(vec![
            "polls logged".into(),
            format!(
                "{}; failed {}; \"previous poll still running; skipping this tick\": {}",
                statuses.join(", "),
                d.log.failed,
                thousands(d.log.skipped_ticks)
            ),
        ]);
        if !metrics_polls.is_empty() {
            t.row(vec!["`govwatch_polls_total` at the last scrape".into(), metrics_polls.join(", ")]);
        }
        t.row(vec![
            "served to the daemon".into(),
            format!(
                "200: {}, 304: {}, other: {} ({})",
                thousands(d.served.ok),
                thousands(d.served.not_modified),
                d.served.other,
                fmt_bytes(d.served.bytes)
            ),
        ]);
        t.row(vec![
            "index updates logged".into(),
            format!(
                "{} ({} documents)",
                d.log.index_updates.len(),
                thousands(d.log.index_updates.iter().map(|u| u.1).sum())
            ),
        ]);
        t.row(vec![
            "`/healthz` every 5 s".into(),
            format!(
                "{} answered (slowest {}), {} failed{}",
                ok_probes.len(),
                opt_secs(ok_probes.iter().max().copied()),
                bad_probes.len(),
                bad_probes
                    .first()
                    .map(|p| format!(
                        " (first at {}: {})",
                        opt_secs(d.since(Some(p.at))),
                        p.result.as_ref().err().map(String::as_str).unwrap_or("")
                    ))
                    .unwrap_or_default()
            ),
        ]);
        t.row(vec![
            "`/metrics` (last scrape)".into(),
            match &d.metrics {
                Some(Ok((t, bytes))) => format!("{}, {}", fmt_secs(*t), fmt_bytes(*bytes as u64)),
                Some(Err(e)) => format!("failed: {e}"),
                None => "not asked".into(),
            },
        ]);
        t.row(vec![
            "watchdog".into(),
            format!(
                "{} WATCHDOG=1 pings; longest gap from READY=1 to SIGTERM {} (systemd kills the service after {} s \
                 without one){}",
                d.pings.len(),
                opt_secs(d.watchdog_gap()),
                WATCHDOG.as_secs(),
                if d.watchdog_gap().is_some_and(|g| g > WATCHDOG) { " — **would have been killed**" } else { "" }
            ),
        ]);
        t.row(vec![
            "SIGTERM to exit".into(),
            format!(
                "{}, {}",
                opt_secs(d.stop_time),
                d.exit.map(|s| s.to_string()).unwrap_or_else(|| "did not exit (killed)".into())
            ),
        ]);
        t.row(vec![
            "log".into(),
            format!(
                "{} lines, {} WARN/ERROR, longest line {}",
                thousands(d.log.lines as u64),
                d.log.warning_count,
                fmt_bytes(d.log.longest_line as u64)
            ),
        ]);
        line(t.render());
        if !d.log.warnings.is_empty() || !d.log.stopping.is_empty() {
            line("WARN/ERROR lines (the first ten) and the shutdown, each cut to 300 characters:\n".into());
            line("```".into());
            for w in d.log.warnings.iter().chain(d.log.stopping.iter()) {
                line(w.clone());
            }
            line("```\n".into());
        }
    }
}
