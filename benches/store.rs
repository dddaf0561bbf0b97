//! Store benchmark (issue 19 item 7): PostgreSQL next to SQLite, and several
//! `govwatch run` nodes on one PostgreSQL database.
//!
//! ```text
//! GOVWATCH_BENCH_PG=postgresql://govwatch@127.0.0.1:55432/ cargo bench --bench store
//! cargo bench --bench store -- --pg postgresql://govwatch@127.0.0.1:55432/ --items 200000
//! cargo bench --bench store -- --only ingest        # ingest | cycle | failover
//! cargo bench --bench store -- --help
//! ```
//!
//! 1. **Storing and indexing.** The same generated corpus (`corpus/fill.rs`,
//!    as the daemon and web benchmarks fill their stores) through
//!    `Store::upsert_items` in batches of 10,000 and `SearchIndex::sync`, on
//!    SQLite and on a fresh PostgreSQL database, one after the other in the
//!    same run: items/s stored, items/s indexed, the store's size (the
//!    SQLite file and its WAL; `pg_database_size`).
//! 2. **A cycle of `--sources` feeds.** A loopback HTTP server in this
//!    program serves every feed (`--feed-items` items each, an ETag, 304 to
//!    a matching `If-None-Match`). The real binary runs `govwatch run` nodes
//!    with a schedule that does not fire during the run, so each node's
//!    start-up cycle is all the polling there is: SQLite with one node, then
//!    PostgreSQL (a fresh database each) with one node and with two. Measured
//!    from spawning the first node until every source's row in the store's
//!    `sources` table has `last_success_at` (read every 250 ms), and the
//!    items stored by then.
//! 3. **A killed node.** Two nodes on a fresh PostgreSQL database finish
//!    their start-up cycle and split the sources by leases; the node holding
//!    more is killed with SIGKILL. Measured from the kill until the survivor
//!    holds every orphaned source's lease and until every orphan has been
//!    polled again (`last_attempt_at` after the kill), at each `--lease`.
//!
//! PostgreSQL comes from `--pg URL` or `GOVWATCH_BENCH_PG` (a base URL ending
//! in `/`, as `GOVWATCH_TEST_PG`); a database `govwatch_bench_*` is created
//! for each run and dropped at the end. Without it only the SQLite parts run,
//! and the report says so. The work folder (default `bench-data/store/`,
//! git-ignored) is replaced on each run. Started without `--bench` (as `cargo
//! test --all-targets` does) it runs a smoke test — 500 items, 40 sources —
//! on SQLite, and on PostgreSQL too when `GOVWATCH_BENCH_PG` is set; no
//! timing claims.

mod common;
mod corpus;

use common::progress;
use common::{Databases, hide_password, transport};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Response, StatusCode};
use chrono::{Duration as ChronoDuration, TimeZone};
use govwatch::normalize::time::china;
use govwatch::store::Store;

use common::{
    Machine, Table, disk_size, fmt_bytes, fmt_secs, loadavg, number_arg, per_sec, started_by_cargo_bench, thousands,
};
use corpus::fill::{SENTENCES, UNIT, fill_store, source_id};

const USAGE: &str = "\
usage: cargo bench --bench store -- [options]

  --pg URL           PostgreSQL base URL, a database name is appended
                     (default $GOVWATCH_BENCH_PG; without it, SQLite only)
  --only PART        ingest, cycle or failover (default: all three)
  --items N          items stored and indexed on each backend (default 1000000)
  --sources N        feed sources in the cycle and failover runs (default 5000)
  --feed-items N     items in each feed (default 20)
  --lease S[,S…]     daemon.lease_secs of the failover runs (default 60,10)
  --concurrency N    [fetch] concurrency of each node (default 64)
  --per-host N       [fetch] per_host of each node (default 64)
  --pool N           [storage] pool_size of each node (default 8, the default)
  --cycle-limit S    give up waiting for a cycle after S seconds (default 900)
  --dir PATH         work folder (default bench-data/store/ in the crate root)
  --seeds DIR        seed documents for the items (default $GOVWATCH_SHARED/seeds)
  --help             this text";

struct Options {
    pg: Option<String>,
    ingest: bool,
    cycle: bool,
    failover: bool,
    items: u64,
    sources: usize,
    feed_items: usize,
    leases: Vec<u64>,
    concurrency: usize,
    per_host: usize,
    pool: usize,
    cycle_limit: Duration,
    dir: PathBuf,
    seeds: PathBuf,
    smoke: bool,
}

impl Options {
    fn parse(args: &[String], smoke: bool) -> Result<Option<Options>> {
        let mut o = Options {
            pg: std::env::var("GOVWATCH_BENCH_PG").ok().filter(|u| !u.trim().is_empty()),
            ingest: true,
            cycle: true,
            failover: true,
            items: 1_000_000,
            sources: 5_000,
            feed_items: 20,
            leases: vec![60, 10],
            concurrency: 64,
            per_host: 64,
            pool: 8,
            cycle_limit: Duration::from_secs(900),
            dir: common::repo().join("bench-data/store"),
            seeds: common::shared_dir().join("seeds"),
            smoke,
        };
        if smoke {
            o.items = 500;
            o.sources = 40;
            o.feed_items = 3;
            o.leases = vec![3];
            o.cycle_limit = Duration::from_secs(120);
            return Ok(Some(o));
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--bench" => {}
                "--pg" => o.pg = Some(it.next().context("--pg needs a value")?.clone()),
                "--only" => {
                    let part = it.next().context("--only needs a value")?;
                    o.ingest = part == "ingest";
                    o.cycle = part == "cycle";
                    o.failover = part == "failover";
                    ensure!(o.ingest || o.cycle || o.failover, "--only is ingest, cycle or failover, not {part:?}");
                }
                "--items" => o.items = number_arg(&mut it, a)? as u64,
                "--sources" => o.sources = number_arg(&mut it, a)?,
                "--feed-items" => o.feed_items = number_arg(&mut it, a)?,
                "--lease" => {
                    let v = it.next().context("--lease needs a value")?;
                    o.leases = v
                        .split(',')
                        .map(|s| s.trim().parse::<u64>().with_context(|| format!("--lease: not a number: {s:?}")))
                        .collect::<Result<_>>()?;
                }
                "--concurrency" => o.concurrency = number_arg(&mut it, a)?,
                "--per-host" => o.per_host = number_arg(&mut it, a)?,
                "--pool" => o.pool = number_arg(&mut it, a)?,
                "--cycle-limit" => o.cycle_limit = Duration::from_secs(number_arg(&mut it, a)? as u64),
                "--dir" => o.dir = PathBuf::from(it.next().context("--dir needs a value")?),
                "--seeds" => o.seeds = PathBuf::from(it.next().context("--seeds needs a value")?),
                "--help" | "-h" => return Ok(None),
                other => bail!("unknown option {other:?}"),
            }
        }
        ensure!(o.items >= 1 && o.sources >= 2, "--items must be at least 1 and --sources at least 2");
        ensure!(o.feed_items >= 1, "--feed-items must be at least 1");
        ensure!(o.leases.iter().all(|l| *l >= 2), "--lease: daemon.lease_secs is at least 2");
        ensure!(o.concurrency >= 1 && o.per_host >= 1 && o.pool >= 1, "--concurrency, --per-host, --pool: at least 1");
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
            "store bench: not started by `cargo bench`; running a smoke test with {} items and {} sources in a \
             temporary folder, on SQLite{} (run `cargo bench --bench store` for the benchmark)",
            opts.items,
            opts.sources,
            if opts.pg.is_some() {
                " and on PostgreSQL (GOVWATCH_BENCH_PG is set)"
            } else {
                " only: GOVWATCH_BENCH_PG is not set, so the PostgreSQL parts are NOT RUN"
            }
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

// --- the run ------------------------------------------------------------------------

fn run(o: &Options) -> Result<()> {
    common::START.get_or_init(Instant::now);
    let machine = Machine::read();
    let load_before = loadavg();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_govwatch"));
    ensure!(bin.exists(), "the govwatch binary {} is missing", bin.display());
    if o.dir.exists() {
        std::fs::remove_dir_all(&o.dir).with_context(|| format!("cannot clear {}", o.dir.display()))?;
    }
    std::fs::create_dir_all(&o.dir).with_context(|| format!("cannot create {}", o.dir.display()))?;
    let dir = o.dir.canonicalize()?;
    let mut dbs = match &o.pg {
        Some(base) => {
            ensure!(base.ends_with('/'), "the PostgreSQL base URL must end in / (a database name is appended): {base}");
            Some(Databases::new(base)?)
        }
        None => {
            progress!("NOT RUN on PostgreSQL: neither --pg nor GOVWATCH_BENCH_PG is set; SQLite only");
            None
        }
    };
    let mut out = String::new();
    out.push_str("## PostgreSQL and several nodes (`cargo bench --bench store`)\n\n");
    out.push_str(&machine.markdown());
    out.push('\n');
    let mut t = Table::new(&["setting", "value"]);
    t.row(vec![
        "PostgreSQL".into(),
        match (&o.pg, &dbs) {
            (Some(u), Some(d)) => format!("{} ({}), `{}`", d.version(), transport(u), hide_password(u)),
            _ => "not run (no --pg, no GOVWATCH_BENCH_PG)".into(),
        },
    ]);
    t.row(vec!["work folder".into(), format!("`{}`", dir.display())]);
    t.row(vec!["load average at the start".into(), load_before.clone()]);
    out.push_str(&t.render());
    out.push('\n');
    let mut problems = Vec::new();

    if o.ingest {
        out.push_str(&ingest(o, &dir, dbs.as_mut())?);
    }
    if o.cycle || o.failover {
        let server = FeedServer::start(o.sources, o.feed_items)?;
        progress!("feed server on http://{}", server.addr);
        if o.cycle {
            out.push_str(&cycles(o, &dir, &bin, &server, dbs.as_mut(), &mut problems)?);
        }
        if o.failover {
            match dbs.as_mut() {
                Some(d) => out.push_str(&failovers(o, &dir, &bin, &server, d, &mut problems)?),
                None => {
                    out.push_str("### A killed node\n\nNOT RUN: it needs PostgreSQL (--pg or GOVWATCH_BENCH_PG).\n\n")
                }
            }
        }
    }
    out.push_str(&format!("Load average at the start / at the end: {load_before} / {}\n", loadavg()));
    print!("{out}");
    if !problems.is_empty() {
        let msg = format!("the run had failures (see above): {}", problems.join("; "));
        if o.smoke {
            bail!(msg);
        }
        eprintln!("{msg}");
    }
    Ok(())
}

// --- 1. storing and indexing ------------------------------------------------------------

fn ingest(o: &Options, dir: &Path, dbs: Option<&mut Databases>) -> Result<String> {
    let mut rows = Vec::new();
    {
        let d = dir.join("ingest-sqlite");
        progress!("SQLite: storing and indexing {} items…", thousands(o.items));
        let store = Store::open(&d.join("var"))?;
        let mut f = fill_store(&store, &d.join("index"), o.items, o.sources, &o.seeds)?;
        drop(store);
        f.store_bytes = disk_size(&d.join("var"));
        progress!("SQLite: stored in {}, indexed in {}", fmt_secs(f.store), fmt_secs(f.index));
        rows.push(("SQLite (one file, WAL)".to_string(), f));
    }
    if let Some(dbs) = dbs {
        let d = dir.join("ingest-postgres");
        let url = dbs.fresh("ingest")?;
        progress!("PostgreSQL: storing and indexing {} items…", thousands(o.items));
        let store = Store::open_postgres(&url, o.pool)?;
        let empty = Databases::size(&url)?;
        let mut f = fill_store(&store, &d.join("index"), o.items, o.sources, &o.seeds)?;
        drop(store);
        f.store_bytes = Databases::size(&url)?;
        progress!("PostgreSQL: stored in {}, indexed in {}", fmt_secs(f.store), fmt_secs(f.index));
        rows.push((format!("PostgreSQL ({}; {} empty and migrated)", transport(&url), fmt_bytes(empty)), f));
    }
    let mut out = String::from("### Storing and indexing\n\n");
    out.push_str(&format!(
        "{} generated items (the corpus of `benches/corpus`, bound to {} sources), `Store::upsert_items` in batches \
         of 10,000 then one `SearchIndex::sync` from revision 0, on each backend in turn; {}.\n\n",
        thousands(o.items),
        thousands(o.sources as u64),
        rows.first().map(|r| r.1.seeds.clone()).unwrap_or_default()
    ));
    let mut t = Table::new(&[
        "backend",
        "storing",
        "items/s stored",
        "indexing (sync)",
        "items/s indexed",
        "store size",
        "index size",
        "load before / after",
    ]);
    for (name, f) in &rows {
        t.row(vec![
            name.clone(),
            fmt_secs(f.store),
            per_sec(o.items as f64, f.store),
            fmt_secs(f.index),
            per_sec(o.items as f64, f.index),
            fmt_bytes(f.store_bytes),
            fmt_bytes(f.index_bytes),
            format!("{} / {}", f.load.0, f.load.1),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    Ok(out)
}

// --- the feed server ----------------------------------------------------------------

struct ServerState {
    origin: String,
    feeds: usize,
    feed_items: usize,
    ok: AtomicU64,
    not_modified: AtomicU64,
}

struct FeedServer {
    addr: SocketAddr,
    state: Arc<Mutex<Option<Arc<ServerState>>>>,
}

impl FeedServer {
    /// Serves `/feed/{i}.xml` for `i` in `0..feeds` on 127.0.0.1, on its own
    /// thread and runtime (two workers), for the rest of the program.
    fn start(feeds: usize, feed_items: usize) -> Result<FeedServer> {
        let slot: Arc<Mutex<Option<Arc<ServerState>>>> = Arc::default();
        let shared = slot.clone();
        let addr = common::serve_on_loopback("feed-server", move |addr| {
            let state = Arc::new(ServerState {
                origin: format!("http://{addr}"),
                feeds,
                feed_items,
                ok: AtomicU64::new(0),
                not_modified: AtomicU64::new(0),
            });
            *shared.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
            axum::Router::new().fallback(serve_feed).with_state(state)
        })?;
        Ok(FeedServer { addr, state: slot })
    }

    /// (200, 304) answered so far.
    fn served(&self) -> (u64, u64) {
        let g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().map(|s| (s.ok.load(Ordering::Relaxed), s.not_modified.load(Ordering::Relaxed))).unwrap_or_default()
    }
}

async fn serve_feed(State(st): State<Arc<ServerState>>, req: Request) -> Response<Body> {
    let n = req
        .uri()
        .path()
        .strip_prefix("/feed/")
        .and_then(|p| p.strip_suffix(".xml"))
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|n| *n < st.feeds);
    let Some(i) = n else {
        return Response::builder().status(StatusCode::NOT_FOUND).body(Body::from("no such feed")).expect("response");
    };
    let etag = format!("\"f{i}\"");
    if req.headers().get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        st.not_modified.fetch_add(1, Ordering::Relaxed);
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", etag)
            .body(Body::empty())
            .expect("response");
    }
    st.ok.fetch_add(1, Ordering::Relaxed);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/rss+xml; charset=utf-8")
        .header("etag", etag)
        .body(Body::from(rss(&st.origin, i, st.feed_items)))
        .expect("response")
}

/// Feed `i`: `count` items, newest first, as RSS 2.0 (as the daemon benchmark's).
fn rss(origin: &str, i: usize, count: usize) -> String {
    let base = china().with_ymd_and_hms(2026, 11, 1, 8, 0, 0).single().expect("valid time");
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>第{i}号栏目 通知公告</title>\
         <link>{origin}/feed/{i}.xml</link><language>zh-CN</language>\n"
    );
    for k in (0..count as u64).rev() {
        let at = base + ChronoDuration::minutes(10 * k as i64);
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

// --- nodes -----------------------------------------------------------------------------

/// Where the nodes of one run keep their data, and which store they share.
struct Plan<'a> {
    dir: PathBuf,
    /// PostgreSQL URL, or None for SQLite in the first node's data folder.
    url: Option<String>,
    lease_secs: Option<u64>,
    o: &'a Options,
    addr: SocketAddr,
}

impl Plan<'_> {
    fn config(&self, node: usize) -> Result<PathBuf> {
        let q = |p: PathBuf| serde_json::to_string(&p.display().to_string()).expect("a string serializes");
        let own = self.dir.join(format!("node{node}"));
        // SQLite: every node of the run would be one store; one node only.
        let mut s = format!(
            "# Written by `cargo bench --bench store`.\n\
             [storage]\ndata_dir = {}\nindex_dir = {}\n",
            q(own.join("var")),
            q(own.join("index")),
        );
        if let Some(url) = &self.url {
            s.push_str(&format!(
                "backend = \"postgres\"\nurl = {}\npool_size = {}\n",
                q(PathBuf::from(url)),
                self.o.pool
            ));
        }
        if let Some(l) = self.lease_secs {
            s.push_str(&format!("\n[daemon]\nlease_secs = {l}\n"));
        }
        s.push_str(&format!(
            "\n[web]\nlisten = \"127.0.0.1:0\"\n\n\
             [fetch]\nper_host = {}\nconcurrency = {}\n\n\
             [mail]\ntransport = \"file\"\ndir = {}\n\n\
             [[units]]\nid = \"{UNIT}\"\nname = \"区政府办公室\"\nemails = [\"gk@example.gov.cn\"]\n\n",
            self.o.per_host,
            self.o.concurrency,
            q(own.join("mail")),
        ));
        let schedule = common::quiet_schedule();
        for i in 0..self.o.sources {
            s.push_str(&format!(
                "[[sources]]\nid = \"{}\"\nkind = \"feed\"\nurl = \"http://{}/feed/{i}.xml\"\nunit = \"{UNIT}\"\n\
                 role = \"portal\"\nlevel = \"county\"\nschedule = \"{schedule}\"\n\n",
                source_id(i),
                self.addr
            ));
        }
        std::fs::create_dir_all(&own)?;
        let path = own.join("govwatch.toml");
        std::fs::write(&path, s).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The store the nodes share, opened (and migrated) before they start.
    fn store(&self) -> Result<Store> {
        match &self.url {
            Some(url) => Store::open_postgres(url, 2),
            None => Store::open(&self.dir.join("node0/var")),
        }
    }
}

/// One `govwatch run` process and what it logged.
struct Node {
    child: Child,
    pid: u32,
    log: Arc<Mutex<NodeLog>>,
}

#[derive(Default)]
struct NodeLog {
    running: Option<Instant>,
    polled: u64,
    warnings: Vec<String>,
    warning_count: u64,
    tail: Vec<String>,
}

impl Node {
    fn spawn(bin: &Path, cfg: &Path) -> Result<Node> {
        let mut cmd = Command::new(bin);
        cmd.current_dir(cfg.parent().expect("the config is in the node's folder"));
        cmd.args(["run", "--config"]).arg(cfg);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| k.starts_with("GOVWATCH_")) {
                cmd.env_remove(k);
            }
        }
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"] {
            cmd.env_remove(k);
        }
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let log: Arc<Mutex<NodeLog>> = Arc::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                if line.contains("govwatch is running") {
                    l.running.get_or_insert_with(Instant::now);
                }
                if line.contains(" polled ") {
                    l.polled += 1;
                }
                // The two start-up warnings of a configuration without users or a holiday notice.
                let expected = line.contains("no [[users]]") || line.contains("no official holiday schedule");
                if (line.contains(" WARN ") || line.contains(" ERROR ")) && !expected {
                    l.warning_count += 1;
                    if l.warnings.len() < 5 {
                        l.warnings.push(line.chars().take(300).collect());
                    }
                }
                l.tail.push(line);
                if l.tail.len() > 100 {
                    l.tail.drain(..50);
                }
            }
        });
        Ok(Node { pid: child.id(), child, log })
    }

    fn cpu_secs(&self) -> f64 {
        let Ok(s) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else { return 0.0 };
        let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else { return 0.0 };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (n(14) + n(15)) / 100.0
    }

    fn tail(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tail
            .iter()
            .rev()
            .take(20)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(st)) => Some(format!("node (pid {}) exited: {st}\n{}", self.pid, self.tail())),
            _ => None,
        }
    }

    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").arg(self.pid.to_string()).status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sources with a successful poll in the store, and with a failed last one.
fn polled(store: &Store) -> Result<(usize, usize)> {
    let h = store.source_health()?;
    let ok = h.iter().filter(|s| s.last_success_at.is_some()).count();
    let failed = h.iter().filter(|s| s.last_success_at.is_none() && s.last_status.as_deref() == Some("error")).count();
    Ok((ok, failed))
}

/// One start-up cycle, measured.
struct CycleRun {
    label: String,
    /// From spawning the first node: every node logged "running", every source polled.
    running: Option<Duration>,
    done: Option<Duration>,
    polled: usize,
    failed: usize,
    items: u64,
    polled_by_node: Vec<u64>,
    cpu_by_node: Vec<f64>,
    served: (u64, u64),
    load: (String, String),
    warnings: Vec<String>,
}

/// Starts `n` nodes on the plan's store and waits until every source has
/// been polled once. Returns the measurement and the nodes, still running.
fn start_cycle(
    label: &str,
    plan: &Plan,
    bin: &Path,
    n: usize,
    server: &FeedServer,
) -> Result<(CycleRun, Vec<Node>, Store)> {
    let o = plan.o;
    let load_before = loadavg();
    let configs: Vec<PathBuf> = (0..n).map(|k| plan.config(k)).collect::<Result<_>>()?;
    let store = plan.store()?;
    let served_before = server.served();
    progress!("{label}: {n} node(s), {} sources…", thousands(o.sources as u64));
    let t0 = Instant::now();
    let mut nodes: Vec<Node> = configs.iter().map(|c| Node::spawn(bin, c)).collect::<Result<_>>()?;
    let mut done = None;
    let mut last = (0, 0);
    let mut next_report = Duration::from_secs(30);
    while t0.elapsed() < o.cycle_limit {
        std::thread::sleep(Duration::from_millis(250));
        for node in &mut nodes {
            if let Some(e) = node.exited() {
                bail!("{label}: {e}");
            }
        }
        last = polled(&store)?;
        if last.0 + last.1 >= o.sources {
            done = Some(t0.elapsed());
            break;
        }
        if t0.elapsed() >= next_report {
            progress!("{label}: {} of {} sources polled", thousands(last.0 as u64), thousands(o.sources as u64));
            next_report += Duration::from_secs(30);
        }
    }
    let items = store.count_items()?;
    let served = server.served();
    let logs: Vec<_> = nodes.iter().map(|n| n.log.lock().unwrap_or_else(|e| e.into_inner()).running).collect();
    let running =
        logs.iter().all(Option::is_some).then(|| logs.iter().flatten().max().map(|r| r.duration_since(t0))).flatten();
    let run = CycleRun {
        label: label.to_string(),
        running,
        done,
        polled: last.0,
        failed: last.1,
        items,
        polled_by_node: nodes.iter().map(|n| n.log.lock().unwrap_or_else(|e| e.into_inner()).polled).collect(),
        cpu_by_node: nodes.iter().map(Node::cpu_secs).collect(),
        served: (served.0 - served_before.0, served.1 - served_before.1),
        load: (load_before, loadavg()),
        warnings: nodes
            .iter()
            .flat_map(|n| {
                let l = n.log.lock().unwrap_or_else(|e| e.into_inner());
                let mut w = l.warnings.clone();
                if l.warning_count > w.len() as u64 {
                    w.push(format!("… {} WARN/ERROR lines in all on this node", l.warning_count));
                }
                w
            })
            .collect(),
    };
    progress!(
        "{label}: {} of {} sources polled in {} ({} failed), {} items stored",
        thousands(run.polled as u64),
        thousands(o.sources as u64),
        run.done.map(fmt_secs).unwrap_or_else(|| "(not finished)".into()),
        run.failed,
        thousands(items)
    );
    Ok((run, nodes, store))
}

// --- 2. the cycle --------------------------------------------------------------------

fn cycles(
    o: &Options,
    dir: &Path,
    bin: &Path,
    server: &FeedServer,
    dbs: Option<&mut Databases>,
    problems: &mut Vec<String>,
) -> Result<String> {
    let mut runs = Vec::new();
    let mut plans: Vec<(String, Option<String>, usize)> = vec![("SQLite".into(), None, 1)];
    if let Some(d) = dbs {
        plans.push(("PostgreSQL".into(), Some(d.fresh("cycle1")?), 1));
        plans.push(("PostgreSQL".into(), Some(d.fresh("cycle2")?), 2));
    }
    for (k, (label, url, n)) in plans.into_iter().enumerate() {
        let plan = Plan { dir: dir.join(format!("cycle-{k}")), url, lease_secs: None, o, addr: server.addr };
        let label = format!("{label}, {n} node{}", if n > 1 { "s" } else { "" });
        let (run, mut nodes, _store) = start_cycle(&label, &plan, bin, n, server)?;
        for node in &mut nodes {
            node.stop();
        }
        if run.done.is_none() {
            problems.push(format!("{label}: the cycle did not finish within {}", fmt_secs(o.cycle_limit)));
        }
        if run.failed > 0 {
            problems.push(format!("{label}: {} sources failed", run.failed));
        }
        runs.push(run);
    }
    let mut out = format!(
        "### A cycle of {} feeds\n\n\
         One loopback HTTP server in the benchmark process (two tokio workers) serves every feed, {} items each; \
         `govwatch run` nodes with a schedule that does not fire during the run, `[fetch] concurrency = {}`, \
         `per_host = {}`, `pool_size = {}`, default `daemon.lease_secs`. From spawning the first node (the store \
         already created and migrated) until every source has `last_success_at` in the store (read every 250 ms); \
         items/s is the items stored by then over that time.\n\n",
        thousands(o.sources as u64),
        o.feed_items,
        o.concurrency,
        o.per_host,
        o.pool
    );
    let mut t = Table::new(&[
        "store, nodes",
        "every node running",
        "every source polled",
        "sources/s",
        "items stored",
        "items/s stored",
        "polls per node (log)",
        "CPU per node",
        "served 200 / 304",
        "failed",
        "load before / after",
    ]);
    for r in &runs {
        t.row(vec![
            r.label.clone(),
            r.running.map(fmt_secs).unwrap_or_else(|| "–".into()),
            r.done.map(fmt_secs).unwrap_or_else(|| format!("**not finished**: {} polled", thousands(r.polled as u64))),
            r.done.map(|d| per_sec(r.polled as f64, d)).unwrap_or_else(|| "–".into()),
            thousands(r.items),
            r.done.map(|d| per_sec(r.items as f64, d)).unwrap_or_else(|| "–".into()),
            r.polled_by_node.iter().map(|n| thousands(*n)).collect::<Vec<_>>().join(" / "),
            r.cpu_by_node.iter().map(|c| format!("{c:.1} s")).collect::<Vec<_>>().join(" / "),
            format!("{} / {}", thousands(r.served.0), thousands(r.served.1)),
            r.failed.to_string(),
            format!("{} / {}", r.load.0, r.load.1),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    warnings(&mut out, runs.iter().map(|r| (&r.label, &r.warnings)));
    Ok(out)
}

fn warnings<'a>(out: &mut String, of: impl Iterator<Item = (&'a String, &'a Vec<String>)>) {
    for (label, w) in of {
        if !w.is_empty() {
            out.push_str(&format!(
                "WARN/ERROR lines of {label} (the first five per node):\n\n```\n{}\n```\n\n",
                w.join("\n")
            ));
        }
    }
}

// --- 3. a killed node ------------------------------------------------------------------

struct Failover {
    lease: u64,
    cycle: Option<Duration>,
    split: Vec<usize>,
    orphans: usize,
    first_taken: Option<Duration>,
    all_taken: Option<Duration>,
    first_polled: Option<Duration>,
    all_polled: Option<Duration>,
    polled: usize,
    items_before: u64,
    items_after: u64,
}

fn failovers(
    o: &Options,
    dir: &Path,
    bin: &Path,
    server: &FeedServer,
    dbs: &mut Databases,
    problems: &mut Vec<String>,
) -> Result<String> {
    let mut runs = Vec::new();
    for &lease in &o.leases {
        let url = dbs.fresh(&format!("failover{lease}"))?;
        let plan = Plan {
            dir: dir.join(format!("failover-{lease}")),
            url: Some(url),
            lease_secs: Some(lease),
            o,
            addr: server.addr,
        };
        let label = format!("PostgreSQL, 2 nodes, lease {lease} s");
        let (run, mut nodes, store) = start_cycle(&label, &plan, bin, 2, server)?;
        ensure!(run.done.is_some(), "{label}: the start-up cycle did not finish; no failover measured");
        // The split settles: every source leased, by both nodes, for a
        // whole lease period with no change.
        let ids: Vec<String> = nodes
            .iter()
            .map(|n| {
                store
                    .nodes(chrono::Utc::now().timestamp_millis())?
                    .into_iter()
                    .find(|r| r.pid == n.pid as i64 && r.stopped_at.is_none())
                    .map(|r| r.id)
                    .with_context(|| format!("no node row for pid {}", n.pid))
            })
            .collect::<Result<_>>()?;
        let held = |store: &Store| -> Result<Vec<Vec<String>>> {
            let t = chrono::Utc::now().timestamp_millis();
            let leases = store.leases()?;
            Ok(ids
                .iter()
                .map(|id| {
                    leases
                        .iter()
                        .filter(|l| &l.node == id && l.expires_ms >= t && l.name.starts_with("source:"))
                        .map(|l| l.name.trim_start_matches("source:").to_string())
                        .collect()
                })
                .collect())
        };
        let settle_start = Instant::now();
        let mut split = held(&store)?;
        let mut stable_since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = held(&store)?;
            let counts = |h: &Vec<Vec<String>>| h.iter().map(Vec::len).collect::<Vec<_>>();
            if counts(&now) != counts(&split) {
                stable_since = Instant::now();
            }
            split = now;
            let total: usize = split.iter().map(Vec::len).sum();
            if total == o.sources && stable_since.elapsed() >= Duration::from_secs(lease.min(30)) {
                break;
            }
            ensure!(
                settle_start.elapsed() < Duration::from_secs(lease * 10 + 60),
                "{label}: the leases did not settle: {:?} of {} held",
                counts(&split),
                o.sources
            );
        }
        let victim = if split[0].len() >= split[1].len() { 0 } else { 1 };
        let survivor = 1 - victim;
        let orphans: HashSet<String> = split[victim].iter().cloned().collect();
        progress!(
            "{label}: sources split {} / {}; killing the node with {} (SIGKILL)",
            split[0].len(),
            split[1].len(),
            orphans.len()
        );
        let items_before = store.count_items()?;
        let kill_wall = chrono::Utc::now();
        nodes[victim].child.kill()?;
        let killed = Instant::now();
        nodes[victim].child.wait()?;
        let (mut first_taken, mut all_taken, mut first_polled, mut all_polled) = (None, None, None, None);
        let mut polled_n = 0;
        let limit = Duration::from_secs(lease * 3 + 120).max(o.cycle_limit.min(Duration::from_secs(600)));
        while killed.elapsed() < limit && all_polled.is_none() {
            std::thread::sleep(Duration::from_millis(250));
            if let Some(e) = nodes[survivor].exited() {
                bail!("{label}: the survivor died: {e}");
            }
            let t = chrono::Utc::now().timestamp_millis();
            let taken = store
                .leases()?
                .iter()
                .filter(|l| l.node == ids[survivor] && l.expires_ms >= t)
                .filter(|l| orphans.contains(l.name.trim_start_matches("source:")))
                .count();
            if taken > 0 {
                first_taken.get_or_insert(killed.elapsed());
            }
            if taken == orphans.len() {
                all_taken.get_or_insert(killed.elapsed());
            }
            polled_n = store
                .source_health()?
                .iter()
                .filter(|h| orphans.contains(&h.id))
                .filter(|h| {
                    h.last_attempt_at
                        .as_deref()
                        .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
                        .is_some_and(|a| a > kill_wall)
                })
                .count();
            if polled_n > 0 {
                first_polled.get_or_insert(killed.elapsed());
            }
            if polled_n == orphans.len() {
                all_polled = Some(killed.elapsed());
            }
        }
        let items_after = store.count_items()?;
        progress!(
            "{label}: {} of {} orphans polled again, the last {} after the kill",
            polled_n,
            orphans.len(),
            all_polled.map(fmt_secs).unwrap_or_else(|| "(not all)".into())
        );
        if all_polled.is_none() {
            problems.push(format!("{label}: {} of {} orphans polled again", polled_n, orphans.len()));
        }
        if items_after != items_before {
            problems.push(format!("{label}: items stored changed across the failover: {items_before} → {items_after}"));
        }
        for n in &mut nodes {
            n.stop();
        }
        runs.push(Failover {
            lease,
            cycle: run.done,
            split: split.iter().map(Vec::len).collect(),
            orphans: orphans.len(),
            first_taken,
            all_taken,
            first_polled,
            all_polled,
            polled: polled_n,
            items_before,
            items_after,
        });
    }
    let mut out = format!(
        "### A killed node\n\n\
         Two nodes on a fresh PostgreSQL database, {} feeds (as above), `daemon.lease_secs` as in the table; after \
         their start-up cycle, once every source is leased and the split has not changed for a lease period (at \
         most 30 s), the node holding more is killed with SIGKILL. From the kill: the survivor holds a first and \
         every orphan's lease (`leases` read every 250 ms), and a first and every orphan has been polled again \
         (`last_attempt_at` after the kill). The feeds answer 304 to the survivor (the ETag the victim stored). A \
         lease is valid for 3/5 of `lease_secs` and renewed every 1/5, so expiry comes 2/5 to 3/5 after the kill \
         and the survivor's next heartbeat (every 1/5) takes it: 4/5 at most.\n\n",
        thousands(o.sources as u64)
    );
    let mut t = Table::new(&[
        "lease_secs",
        "start-up cycle",
        "split",
        "orphans",
        "first taken",
        "all taken",
        "bound 4/5 lease",
        "first polled again",
        "all polled again",
        "items before / after",
    ]);
    let od = |d: Option<Duration>| d.map(fmt_secs).unwrap_or_else(|| "–".into());
    for r in &runs {
        t.row(vec![
            format!("{} s", r.lease),
            od(r.cycle),
            r.split.iter().map(|n| thousands(*n as u64)).collect::<Vec<_>>().join(" / "),
            thousands(r.orphans as u64),
            od(r.first_taken),
            od(r.all_taken),
            fmt_secs(Duration::from_millis(r.lease * 800)),
            od(r.first_polled),
            match r.all_polled {
                Some(d) => fmt_secs(d),
                None => format!("**not all**: {} of {}", r.polled, r.orphans),
            },
            format!("{} / {}", thousands(r.items_before), thousands(r.items_after)),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    Ok(out)
}
