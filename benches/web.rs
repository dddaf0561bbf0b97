//! Web console benchmark (issue 7): the search page and `/api/search` under
//! load from a second process on loopback, with 1,000,000 items.
//!
//! ```text
//! apt-get install wrk                                  # or: cargo install oha
//! cargo bench --bench web                              # fill 1,000,000 items, then measure
//! cargo bench --bench web -- --reuse                   # measure on the folder a previous run left
//! cargo bench --bench web -- --reuse --dir bench-data/daemon   # … or the daemon benchmark's folder
//! cargo bench --bench web -- --backend both --pg postgresql://govwatch@127.0.0.1:55432/
//! cargo bench --bench web -- --help
//! ```
//!
//! 1. The store and index are filled as the daemon benchmark fills them
//!    (`corpus/fill.rs`: the corpus from the seed documents, bound to
//!    `--sources` feed sources of one unit, `upsert_items`, then
//!    `SearchIndex::sync`), or reused (`--reuse`).
//! 2. A configuration with those sources and one user (role `officer`, who
//!    sees citizens' numbers masked; hashed with the library's
//!    `hash_password`, as `govwatch user add` does) is written, and the real
//!    binary (`CARGO_BIN_EXE_govwatch`, which cargo builds in the same profile
//!    for this program) runs `govwatch serve` on 127.0.0.1, port 0 (the
//!    address is read from its log). `/healthz` must answer 200.
//! 3. One login over loopback (GET /login for the CSRF cookie and field, POST
//!    /login): the session cookie. Login is rate-limited, so once.
//! 4. Each URL is fetched once first and must answer 200 with hits (the JSON's
//!    `total` and `hits`, the page's `class="hit"` rows): wrk counts a 3xx as
//!    success, and a redirect to /login would make a fine-looking benchmark
//!    of nothing. The response size is kept to compare with wrk's bytes per
//!    request afterwards.
//! 5. `wrk -t2 -c50 -d20s --latency` (or `oha -c 50 -z 20s`) as a second
//!    process, one run per URL, plus one run per endpoint that cycles over
//!    every query (a Lua script). The server's CPU time is read from
//!    `/proc/<pid>/stat` around each run.
//!
//! `--backend postgres` (or `both`, side by side in one run) serves from a
//! PostgreSQL store instead (issue 19): a fresh database on the base URL of
//! `--pg URL` or `GOVWATCH_BENCH_PG` (as `GOVWATCH_TEST_PG`), filled the same
//! way, `[storage] backend = "postgres"` in the configuration, dropped at the
//! end. With `both`, SQLite runs first, then PostgreSQL, each with its own
//! server, and a table sets them side by side.
//!
//! The work folder (default `bench-data/web/`, git-ignored) is replaced on
//! each run unless `--reuse`. Started without `--bench` (as `cargo test
//! --all-targets` does) it runs a smoke test on 500 items in a temporary
//! folder: the login and the 200 checks, and a 1-second load run if wrk or
//! oha is installed; no timing claims. It runs on SQLite, and on PostgreSQL
//! too when `GOVWATCH_BENCH_PG` is set (it says which).

mod common;
mod corpus;

use common::progress;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use corpus::fill::{UNIT, fill, fill_store, source_id};

use common::{Databases, hide_password, transport};
use common::{Machine, Table, fmt_bytes, fmt_secs, loadavg, number_arg, started_by_cargo_bench, thousands};

/// The user the benchmark logs in as.
const USER: &str = "bench";
/// The date filter: 90 days before the corpus's newest item (2026-11-20).
const SINCE: &str = "2026-08-22";
/// The target from the issue.
const TARGET_P99_MS: f64 = 50.0;

/// (label, query string after `q=`-encoding): what an officer types.
const QUERIES: &[(&str, &str, Option<&str>)] = &[
    ("热线", "热线", None),
    ("办结率", "办结率", None),
    ("政务公开", "政务公开", None),
    ("信息公开 办结率 (two words)", "信息公开 办结率", None),
    ("政务公开, since=2026-08-22", "政务公开", Some(SINCE)),
];

const USAGE: &str = "\
usage: cargo bench --bench web -- [options]

  --items N          items to store and index (default 1000000); with --reuse,
                     the folder must hold at least this many
  --sources N        feed sources the items are bound to, all listed in the
                     configuration (default 5000, as the daemon benchmark)
  --connections N    concurrent connections (default 50)
  --threads N        wrk threads (default 2)
  --duration S       seconds per load run (default 20)
  --warmup S         seconds of untimed load before the runs (default 5)
  --tool wrk|oha     the load generator (default: wrk if installed, else oha)
  --backend B        sqlite, postgres, or both side by side (default sqlite)
  --pg URL           PostgreSQL base URL for --backend postgres|both; a fresh
                     database is created on it (default $GOVWATCH_BENCH_PG)
  --reuse            use the store and index a previous run (of this or of the
                     daemon benchmark) left in --dir; no filling (SQLite only)
  --dir PATH         work folder (default bench-data/web/ in the crate root;
                     replaced unless --reuse)
  --seeds DIR        seed documents for the items (default $GOVWATCH_SHARED/seeds;
                     without them the items are made of a few built-in sentences)
  --help             this text

wrk: `apt-get install wrk` (Debian, Ubuntu), `dnf install wrk`, `brew install wrk`.
oha: `cargo install oha` or the release binaries at https://github.com/hatoo/oha.";

struct Options {
    items: u64,
    sources: usize,
    connections: usize,
    threads: usize,
    duration: Duration,
    warmup: Duration,
    tool: Option<String>,
    /// "sqlite" and/or "postgres", in the order they run.
    backends: Vec<&'static str>,
    pg: Option<String>,
    reuse: bool,
    dir: PathBuf,
    seeds: PathBuf,
    smoke: bool,
}

impl Options {
    fn parse(args: &[String], smoke: bool) -> Result<Option<Options>> {
        let mut o = Options {
            items: 1_000_000,
            sources: 5_000,
            connections: 50,
            threads: 2,
            duration: Duration::from_secs(20),
            warmup: Duration::from_secs(5),
            tool: None,
            backends: vec!["sqlite"],
            pg: std::env::var("GOVWATCH_BENCH_PG").ok().filter(|u| !u.trim().is_empty()),
            reuse: false,
            dir: common::repo().join("bench-data/web"),
            seeds: common::shared_dir().join("seeds"),
            smoke,
        };
        if smoke {
            o.items = 500;
            o.sources = 50;
            o.connections = 4;
            o.threads = 1;
            o.duration = Duration::from_secs(1);
            o.warmup = Duration::ZERO;
            if o.pg.is_some() {
                o.backends.push("postgres");
            }
            return Ok(Some(o));
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--bench" => {}
                "--items" => o.items = number_arg(&mut it, a)? as u64,
                "--sources" => o.sources = number_arg(&mut it, a)?,
                "--connections" => o.connections = number_arg(&mut it, a)?,
                "--threads" => o.threads = number_arg(&mut it, a)?,
                "--duration" => o.duration = Duration::from_secs(number_arg(&mut it, a)? as u64),
                "--warmup" => o.warmup = Duration::from_secs(number_arg(&mut it, a)? as u64),
                "--tool" => o.tool = Some(it.next().context("--tool needs a value")?.clone()),
                "--backend" => {
                    o.backends = match it.next().context("--backend needs a value")?.as_str() {
                        "sqlite" => vec!["sqlite"],
                        "postgres" => vec!["postgres"],
                        "both" => vec!["sqlite", "postgres"],
                        other => bail!("--backend is sqlite, postgres or both, not {other:?}"),
                    }
                }
                "--pg" => o.pg = Some(it.next().context("--pg needs a value")?.clone()),
                "--reuse" => o.reuse = true,
                "--dir" => o.dir = PathBuf::from(it.next().context("--dir needs a value")?),
                "--seeds" => o.seeds = PathBuf::from(it.next().context("--seeds needs a value")?),
                "--help" | "-h" => return Ok(None),
                other => bail!("unknown option {other:?}"),
            }
        }
        ensure!(o.sources >= 1 && o.items >= 1, "--sources and --items must be at least 1");
        ensure!(o.connections >= 1 && o.threads >= 1, "--connections and --threads must be at least 1");
        ensure!(o.threads <= o.connections, "wrk needs at least one connection per thread");
        ensure!(o.duration >= Duration::from_secs(1), "--duration must be at least 1 second");
        if o.backends.contains(&"postgres") {
            ensure!(o.pg.is_some(), "--backend postgres needs --pg URL or GOVWATCH_BENCH_PG");
            ensure!(!o.reuse, "--reuse is for a SQLite folder; a PostgreSQL run fills a fresh database");
        }
        if let Some(t) = &o.tool {
            ensure!(t == "wrk" || t == "oha", "--tool is wrk or oha, not {t:?}");
        }
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
            "web bench: not started by `cargo bench`; running a smoke test with {} items in a temporary folder \
             on {} (run `cargo bench --bench web` for the benchmark)",
            opts.items,
            if opts.pg.is_some() {
                "SQLite and on PostgreSQL (GOVWATCH_BENCH_PG is set)"
            } else {
                "SQLite only: GOVWATCH_BENCH_PG is not set, so PostgreSQL is NOT RUN"
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

// --- the run --------------------------------------------------------------------

/// One URL (or a set of URLs) to load.
struct Target {
    endpoint: &'static str,
    label: String,
    /// Paths (with query strings); more than one are cycled by a Lua script.
    paths: Vec<String>,
    /// From the check before the run: hits reported, body size, the index's own time.
    total: Option<String>,
    body_bytes: Option<usize>,
    took_ms: Option<f64>,
}

struct Measured {
    target: Target,
    load: Load,
    /// Server CPU seconds (user + sys) during the run.
    server_cpu: f64,
    /// The index's own time for one request right after the run (warm).
    took_after: Option<f64>,
}

/// What a load generator reported.
#[derive(Debug, Default)]
struct Load {
    requests: u64,
    seconds: f64,
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Socket errors and timeouts.
    errors: u64,
    /// Responses that were not 2xx (wrk: not 2xx or 3xx; the 3xx are ruled out by the checks).
    non_2xx: u64,
    bytes: u64,
}

fn run(o: &Options) -> Result<()> {
    common::START.get_or_init(Instant::now);
    let machine = Machine::read();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_govwatch"));
    ensure!(bin.exists(), "the govwatch binary {} is missing (cargo builds it for `cargo bench`)", bin.display());
    let tool = find_tool(o)?;
    if o.reuse {
        ensure!(
            o.dir.join("var/govwatch.sqlite3").exists() && o.dir.join("index").exists(),
            "--reuse: {} holds no store and index of a previous run (var/govwatch.sqlite3, index/)",
            o.dir.display()
        );
    } else if o.dir.exists() {
        std::fs::remove_dir_all(&o.dir).with_context(|| format!("cannot clear {}", o.dir.display()))?;
    }
    std::fs::create_dir_all(&o.dir).with_context(|| format!("cannot create {}", o.dir.display()))?;
    let dir = o.dir.canonicalize()?;
    let mut dbs = match &o.pg {
        Some(base) if o.backends.contains(&"postgres") => {
            ensure!(base.ends_with('/'), "the PostgreSQL base URL must end in / (a database name is appended): {base}");
            Some(Databases::new(base)?)
        }
        _ => None,
    };
    let mut runs = Vec::new();
    for backend in &o.backends {
        let url = match dbs.as_mut() {
            Some(d) if *backend == "postgres" => Some(d.fresh("web")?),
            _ => None,
        };
        let data = if url.is_some() { dir.join("postgres") } else { dir.clone() };
        runs.push((*backend, run_backend(o, &machine, &bin, tool.as_ref(), &data, url.as_deref())?));
    }
    if o.smoke {
        progress!(
            "smoke test passed ({})",
            runs.iter().map(|(b, r)| format!("{b}: {} load runs", r.1.len())).collect::<Vec<_>>().join(", ")
        );
        return Ok(());
    }
    for (_, (text, _)) in &runs {
        print!("{text}");
    }
    if runs.len() > 1 {
        print!("{}", side_by_side(&runs));
    }
    let failed: Vec<String> = runs
        .iter()
        .flat_map(|(b, r)| {
            r.1.iter()
                .filter(|m| m.load.errors + m.load.non_2xx > 0)
                .map(move |m| format!("{b}: {} {}", m.target.endpoint, m.target.label))
        })
        .collect();
    if !failed.is_empty() {
        eprintln!("runs with errors or non-2xx responses (see the table): {}", failed.join(", "));
    }
    Ok(())
}

/// Requests/s and p99 of each run on each backend, in one table.
fn side_by_side(runs: &[(&str, (String, Vec<Measured>))]) -> String {
    let mut head = vec!["endpoint".to_string(), "query".to_string()];
    for (b, _) in runs {
        head.push(format!("{b} requests/s"));
        head.push(format!("{b} p99 ms"));
        head.push(format!("{b} server CPU ms/request"));
    }
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&head);
    for (i, m) in runs[0].1.1.iter().enumerate() {
        let mut row = vec![format!("`{}`", m.target.endpoint), m.target.label.clone()];
        for (_, (_, ms)) in runs {
            match ms.get(i) {
                Some(m) => {
                    let l = &m.load;
                    row.push(thousands(l.rps.round() as u64));
                    row.push(format!("{:.2}", l.p99_ms));
                    row.push(format!(
                        "{:.2}",
                        if l.requests > 0 { m.server_cpu * 1000.0 / l.requests as f64 } else { 0.0 }
                    ));
                }
                None => row.extend(["–".to_string(), "–".to_string(), "–".to_string()]),
            }
        }
        t.row(row);
    }
    format!("### Side by side\n\n{}\n", t.render())
}

/// One backend's run: the data, the server, the checks and the load. The
/// report's text and the measurements.
fn run_backend(
    o: &Options,
    machine: &Machine,
    bin: &Path,
    tool: Option<&Tool>,
    dir: &Path,
    url: Option<&str>,
) -> Result<(String, Vec<Measured>)> {
    // --- the data -------------------------------------------------------------
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let backend = match url {
        Some(u) => format!("PostgreSQL ({}, `{}`)", transport(u), hide_password(u)),
        None => "SQLite".to_string(),
    };
    progress!("{backend}: {} items, work folder {}, binary {}", thousands(o.items), dir.display(), bin.display());
    let fill_note = if o.reuse {
        "reused from a previous run (`--reuse`)".to_string()
    } else {
        let f = match url {
            None => fill(dir, o.items, o.sources, &o.seeds)?,
            Some(u) => {
                let store = govwatch::store::Store::open_postgres(u, 8)?;
                let mut f = fill_store(&store, &dir.join("index"), o.items, o.sources, &o.seeds)?;
                drop(store);
                f.store_bytes = Databases::size(u)?;
                f
            }
        };
        let note = format!(
            "{} generated items ({}), bound round-robin to {} sources; stored in {}, indexed in {}; store {}, index {}",
            thousands(o.items),
            f.seeds,
            thousands(o.sources as u64),
            fmt_secs(f.store),
            fmt_secs(f.index),
            fmt_bytes(f.store_bytes),
            fmt_bytes(f.index_bytes)
        );
        progress!("{note}");
        note
    };
    let (items, sources) = count_items(dir, url)?;
    ensure!(
        items >= o.items,
        "the store in {} holds {} items, fewer than --items {}",
        dir.display(),
        thousands(items),
        thousands(o.items)
    );

    // --- the server -----------------------------------------------------------
    let password = common::Rng::new(std::process::id() as u64).next_u64().to_string() + "-bench-password";
    let cfg_path = dir.join("govwatch-web.toml");
    write_config(&cfg_path, dir, url, sources.max(o.sources), &password)?;
    let check = Command::new(bin).args(["config", "check", "--config"]).arg(&cfg_path).output()?;
    ensure!(
        check.status.success(),
        "`govwatch config check` refused the generated configuration ({}):\n{}{}",
        check.status,
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    progress!("starting `govwatch serve` on {} items…", thousands(items));
    let server = Server::start(bin, dir, &cfg_path)?;
    let addr = server.addr.clone();
    progress!("serving on http://{addr} (pid {})", server.pid());

    // --- log in and check every URL -------------------------------------------
    let session = login(&addr, &password)?;
    let cookie = format!("govwatch_session={session}");
    progress!("logged in as {USER}");
    let mut targets = Vec::new();
    for endpoint in ["/api/search", "/search"] {
        for (label, q, since) in QUERIES {
            targets.push(Target {
                endpoint,
                label: label.to_string(),
                paths: vec![search_path(endpoint, q, *since)],
                total: None,
                body_bytes: None,
                took_ms: None,
            });
        }
        targets.push(Target {
            endpoint,
            label: format!("all {} queries in turn", QUERIES.len()),
            paths: QUERIES.iter().map(|(_, q, since)| search_path(endpoint, q, *since)).collect(),
            total: None,
            body_bytes: None,
            took_ms: None,
        });
    }
    // What the machine allows at all: the same load on a static file (no
    // session lookup, no blocking pool, 2 KiB).
    targets.push(Target {
        endpoint: "/static/app.css",
        label: "baseline: a static file".into(),
        paths: vec!["/static/app.css".into()],
        total: None,
        body_bytes: None,
        took_ms: None,
    });
    for t in targets.iter_mut().filter(|t| t.paths.len() == 1) {
        let (total, bytes, took) = check_url(&addr, &t.paths[0], &cookie, !o.smoke)?;
        progress!("{} {}: 200, {} hits, {} bytes", t.endpoint, t.label, total, bytes);
        t.total = Some(total);
        t.body_bytes = Some(bytes);
        t.took_ms = took;
    }

    // --- load -----------------------------------------------------------------
    let load_before = loadavg();
    let mut results = Vec::new();
    if let Some(tool) = tool {
        let script_dir = tempfile::tempdir()?;
        if !o.warmup.is_zero() {
            progress!("warm-up: {} s of every query on both endpoints…", o.warmup.as_secs());
            let mut all: Vec<String> = Vec::new();
            for t in targets.iter().filter(|t| t.paths.len() == 1 && t.endpoint != "/static/app.css") {
                all.extend(t.paths.iter().cloned());
            }
            run_load(tool, o, &addr, &cookie, &all, o.warmup, script_dir.path())?;
        }
        for t in targets {
            progress!("{} {}: {} for {} s…", t.endpoint, t.label, tool.name, o.duration.as_secs());
            let before = server.cpu();
            let load = run_load(tool, o, &addr, &cookie, &t.paths, o.duration, script_dir.path())?;
            let server_cpu = server.cpu() - before;
            progress!(
                "  {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, {} non-2xx, server CPU {:.1} s",
                load.rps,
                load.p50_ms,
                load.p99_ms,
                load.errors,
                load.non_2xx,
                server_cpu
            );
            // Still logged in, still the real page.
            let mut took_after = None;
            for p in &t.paths {
                took_after = check_url(&addr, p, &cookie, !o.smoke).with_context(|| format!("after the run: {p}"))?.2;
            }
            results.push(Measured { target: t, load, server_cpu, took_after });
        }
    } else {
        progress!("no load generator: the responses were checked, nothing was measured");
    }
    let load_after = loadavg();
    let rss = server.rss_kib();
    drop(server);

    // --- report ---------------------------------------------------------------
    if o.smoke {
        progress!("{backend}: smoke test passed ({} load runs)", results.len());
        return Ok((String::new(), results));
    }
    let Some(tool) = tool else { unreachable!("find_tool fails the benchmark without a tool") };
    let mut text =
        report(o, machine, tool, dir, items, sources, &fill_note, &results, (&load_before, &load_after), rss);
    text = text.replacen(
        "## The web console under load (`cargo bench --bench web`)\n",
        &format!("## The web console under load (`cargo bench --bench web`): {backend}\n"),
        1,
    );
    Ok((text, results))
}

#[allow(clippy::too_many_arguments)]
fn report(
    o: &Options,
    machine: &Machine,
    tool: &Tool,
    dir: &Path,
    items: u64,
    sources: usize,
    fill_note: &str,
    results: &[Measured],
    load: (&str, &str),
    rss_kib: Option<u64>,
) -> String {
    let mut out = String::new();
    out.push_str("## The web console under load (`cargo bench --bench web`)\n\n");
    out.push_str(&machine.markdown());
    out.push('\n');
    let mut t = Table::new(&["setting", "value"]);
    t.row(vec!["items in the store and index".into(), thousands(items)]);
    t.row(vec!["sources in the configuration".into(), thousands(sources as u64)]);
    t.row(vec!["data".into(), fill_note.to_string()]);
    t.row(vec!["work folder".into(), format!("`{}`", dir.display())]);
    t.row(vec![
        "load".into(),
        format!(
            "`{}` ({}), {} connections{}, {} s per run after a {} s warm-up, from a second process on loopback",
            tool.name,
            tool.version,
            o.connections,
            if tool.name == "wrk" { format!(", {} threads", o.threads) } else { String::new() },
            o.duration.as_secs(),
            o.warmup.as_secs()
        ),
    ]);
    t.row(vec!["user".into(), format!("`{USER}`, role officer (citizens' numbers masked)")]);
    t.row(vec!["page size".into(), "20 hits (the console's default), relevance order".into()]);
    t.row(vec!["load average before / after".into(), format!("{} / {}", load.0, load.1)]);
    if let Some(k) = rss_kib {
        t.row(vec!["server RSS at the end".into(), format!("{:.1} MiB", k as f64 / 1024.0)]);
    }
    out.push_str(&t.render());
    out.push('\n');

    let mut t = Table::new(&[
        "endpoint",
        "query",
        "hits",
        "requests/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors / non-2xx",
        "bytes per response",
        "server CPU s/s",
        "server CPU ms/request",
        "p99 < 50 ms",
    ]);
    for m in results {
        let l = &m.load;
        let per_resp = l.bytes.checked_div(l.requests).unwrap_or(0);
        t.row(vec![
            format!("`{}`", m.target.endpoint),
            m.target.label.clone(),
            m.target.total.clone().unwrap_or_else(|| "–".into()),
            thousands(l.rps.round() as u64),
            format!("{:.2}", l.p50_ms),
            format!("{:.2}", l.p90_ms),
            format!("{:.2}", l.p99_ms),
            format!("{:.1}", l.max_ms),
            format!("{} / {}", l.errors, l.non_2xx),
            match m.target.body_bytes {
                Some(b) => format!("{} (checked: {b} body)", thousands(per_resp)),
                None => thousands(per_resp),
            },
            format!("{:.2}", if l.seconds > 0.0 { m.server_cpu / l.seconds } else { 0.0 }),
            format!("{:.2}", if l.requests > 0 { m.server_cpu * 1000.0 / l.requests as f64 } else { 0.0 }),
            if l.p99_ms < TARGET_P99_MS && l.errors + l.non_2xx == 0 { "yes".into() } else { "**no**".into() },
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    let mut t = Table::new(&[
        "endpoint",
        "query",
        "index time (`took_ms`) of one request alone: the first after start",
        "right after the run",
    ]);
    let took = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.2} ms"));
    for m in results.iter().filter(|m| m.target.took_ms.is_some()) {
        t.row(vec![
            format!("`{}`", m.target.endpoint),
            m.target.label.clone(),
            took(m.target.took_ms),
            took(m.took_after),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    for endpoint in ["/api/search", "/search", "/static/app.css"] {
        let of: Vec<&Measured> = results.iter().filter(|m| m.target.endpoint == endpoint).collect();
        if of.is_empty() {
            continue;
        }
        let worst = of.iter().map(|m| m.load.p99_ms).fold(0.0, f64::max);
        if endpoint.starts_with("/static/") {
            out.push_str(&format!(
                "- baseline `{endpoint}` (no search, no session, no blocking pool): p99 {worst:.2} ms at {} connections\n",
                o.connections
            ));
            continue;
        }
        let clean = of.iter().all(|m| m.load.errors + m.load.non_2xx == 0);
        out.push_str(&format!(
            "- `{endpoint}`: worst p99 {worst:.2} ms at {} connections: target p99 < {TARGET_P99_MS} ms **{}**{}\n",
            o.connections,
            if worst < TARGET_P99_MS && clean { "met" } else { "not met" },
            if clean { "" } else { " (some responses failed)" }
        ));
    }
    out
}

// --- the data and configuration ---------------------------------------------------

/// Items in the store, and the number of sources they name.
fn count_items(dir: &Path, url: Option<&str>) -> Result<(u64, usize)> {
    let by_source = match url {
        Some(u) => govwatch::store::Store::open_postgres(u, 1)?.count_items_by_source()?,
        None => {
            let conn = rusqlite::Connection::open_with_flags(
                dir.join("var/govwatch.sqlite3"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            let n: i64 = conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?;
            let s: i64 = conn.query_row("SELECT count(DISTINCT source) FROM items", [], |r| r.get(0))?;
            return Ok((n as u64, s as usize));
        }
    };
    Ok((by_source.values().sum(), by_source.len()))
}

/// The configuration: the fill's sources and unit, the console on
/// 127.0.0.1 port 0, one officer.
fn write_config(path: &Path, dir: &Path, url: Option<&str>, sources: usize, password: &str) -> Result<()> {
    let q = |p: PathBuf| serde_json::to_string(&p.display().to_string()).expect("a string serializes");
    let hash = govwatch::web::auth::hash_password(password)?;
    let mut s = format!(
        "# Written by `cargo bench --bench web`.\n\
         [storage]\ndata_dir = {}\nindex_dir = {}\n{}\n\
         [web]\nlisten = \"127.0.0.1:0\"\n\n\
         [mail]\ntransport = \"file\"\ndir = {}\n\n\
         [[users]]\nname = \"{USER}\"\npassword_hash = \"{hash}\"\nrole = \"officer\"\n\n\
         [[units]]\nid = \"{UNIT}\"\nname = \"区政府办公室\"\nemails = [\"gk@example.gov.cn\"]\n\n",
        q(dir.join("var")),
        q(dir.join("index")),
        match url {
            Some(u) => format!("backend = \"postgres\"\nurl = {}\n", q(PathBuf::from(u))),
            None => String::new(),
        },
        q(dir.join("mail")),
    );
    for i in 0..sources {
        s.push_str(&format!(
            "[[sources]]\nid = \"{}\"\nname = \"第{i}号县级门户 通知公告\"\nkind = \"feed\"\n\
             url = \"http://127.0.0.1:9/feed/{i}.xml\"\nunit = \"{UNIT}\"\nrole = \"portal\"\nlevel = \"county\"\n\n",
            source_id(i)
        ));
    }
    std::fs::write(path, s).with_context(|| format!("cannot write {}", path.display()))
}

fn search_path(endpoint: &str, q: &str, since: Option<&str>) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut p = format!("{endpoint}?q={}", enc(q));
    if let Some(d) = since {
        p.push_str(&format!("&since={d}"));
    }
    p
}

// --- the server ---------------------------------------------------------------

struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `govwatch serve`, until its log says where it listens and `/healthz` answers 200.
    fn start(bin: &Path, dir: &Path, cfg: &Path) -> Result<Server> {
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir).args(["serve", "--config"]).arg(cfg);
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| k.starts_with("GOVWATCH_")) {
                cmd.env_remove(k);
            }
        }
        // `serve` logs warnings only by default; the address is an info line.
        cmd.env("GOVWATCH_LOG", "info");
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (sink, (tx, rx)) = (log.clone(), std::sync::mpsc::channel());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("on http://") {
                    let addr = line[at + "on http://".len()..].split_whitespace().next().unwrap_or("");
                    let _ = tx.send(addr.to_string());
                }
                let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                l.push(line);
                if l.len() > 200 {
                    l.drain(..100);
                }
            }
        });
        let mut server = Server { child, addr: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Ok(a) = rx.recv_timeout(Duration::from_millis(200)) {
                server.addr = a;
                break;
            }
            if let Some(st) = server.child.try_wait()? {
                bail!("`govwatch serve` exited ({st}) before listening:\n{}", server.log_tail());
            }
            ensure!(Instant::now() < deadline, "`govwatch serve` did not listen within 300 s:\n{}", server.log_tail());
        }
        loop {
            match http(&server.addr, "GET", "/healthz", &[], "") {
                Ok(r) if r.status == 200 => break,
                Ok(r) if Instant::now() > deadline => bail!("/healthz: status {}: {}", r.status, r.body),
                Err(e) if Instant::now() > deadline => bail!("/healthz: {e:#}"),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds so far.
    fn cpu(&self) -> f64 {
        let Ok(s) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else { return 0.0 };
        let Some(rest) = s.rfind(')').map(|i| &s[i + 1..]) else { return 0.0 };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |field: usize| f.get(field - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (n(14) + n(15)) / clock_ticks()
    }

    fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        s.lines().find_map(|l| l.strip_prefix("VmRSS:")?.trim().trim_end_matches("kB").trim().parse().ok())
    }

    fn log_tail(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .take(30)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM through kill(1) (std only sends SIGKILL); the console only reads.
            let _ = Command::new("kill").arg(self.child.id().to_string()).status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
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

fn clock_ticks() -> f64 {
    static T: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .filter(|n: &f64| *n > 0.0)
            .unwrap_or(100.0)
    })
}

// --- a small HTTP client ----------------------------------------------------------

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    /// The value of a cookie the response sets.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie")).find_map(|(_, v)| {
            let (k, rest) = v.split_once('=')?;
            (k.trim() == name).then(|| rest.split(';').next().unwrap_or("").to_string())
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 request on a fresh connection (the server closes it after the response).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Result<Resp> {
    let sock: SocketAddr = addr.parse().with_context(|| format!("not an address: {addr}"))?;
    let limit = Duration::from_secs(30);
    let mut s = TcpStream::connect_timeout(&sock, limit)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Ok(Resp { status, headers, body: body.to_string() })
}

/// Logs in once as [`USER`]: the session token.
fn login(addr: &str, password: &str) -> Result<String> {
    let page = http(addr, "GET", "/login", &[], "")?;
    ensure!(page.status == 200, "GET /login: status {}", page.status);
    let csrf_cookie = page.set_cookie("govwatch_csrf").context("GET /login set no govwatch_csrf cookie")?;
    let field = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("the login page has no csrf field")?
        .to_string();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let form = format!("name={}&password={}&csrf={}&next=%2F", enc(USER), enc(password), enc(&field));
    let cookie = format!("govwatch_csrf={csrf_cookie}");
    let resp = http(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", &cookie)],
        &form,
    )?;
    ensure!(
        (300..400).contains(&resp.status),
        "POST /login: status {} (expected a redirect): {}",
        resp.status,
        resp.body.chars().take(300).collect::<String>()
    );
    resp.set_cookie("govwatch_session").filter(|t| !t.is_empty()).context("POST /login set no session cookie")
}

/// GETs a search URL with the session: it must answer 200 with hits (when
/// `need_hits`). Returns (hits as reported, body bytes, the index's took_ms
/// for the API).
fn check_url(addr: &str, path: &str, cookie: &str, need_hits: bool) -> Result<(String, usize, Option<f64>)> {
    let r = http(addr, "GET", path, &[("Cookie", cookie)], "")?;
    ensure!(
        r.status == 200,
        "{path}: status {} (location {:?}), not 200: the benchmark would measure something else",
        r.status,
        r.header("location")
    );
    let bytes = r.body.len();
    if path.starts_with("/static/") {
        Ok(("–".into(), bytes, None))
    } else if path.starts_with("/api/") {
        let v: serde_json::Value = serde_json::from_str(&r.body).with_context(|| format!("{path}: not JSON"))?;
        let total = v["total"].as_u64().with_context(|| format!("{path}: no total in {}", cut(&r.body)))?;
        let hits = v["hits"].as_array().map_or(0, |h| h.len());
        ensure!(!need_hits || hits > 0, "{path}: no hits");
        let est = if v["total_is_estimate"].as_bool() == Some(true) { "≈" } else { "" };
        Ok((format!("{est}{}", thousands(total)), bytes, v["took_ms"].as_f64()))
    } else {
        let hits = r.body.matches("<li class=\"hit\">").count();
        ensure!(!need_hits || hits > 0, "{path}: the page shows no hits: {}", cut(&r.body));
        let total = r
            .body
            .split("class=\"meta\">")
            .nth(1)
            .and_then(|s| s.split('条').next())
            .map(|s| s.trim().replace("共 ", "").replace("约 ", "≈"))
            .unwrap_or_default();
        Ok((total, bytes, None))
    }
}

fn cut(s: &str) -> String {
    s.chars().take(300).collect()
}

// --- the load generators ----------------------------------------------------------

struct Tool {
    name: &'static str,
    path: PathBuf,
    version: String,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()))
}

/// wrk, else oha; the benchmark cannot run without one (the smoke test can).
fn find_tool(o: &Options) -> Result<Option<Tool>> {
    let wanted: &[&'static str] = match o.tool.as_deref() {
        Some("wrk") => &["wrk"],
        Some("oha") => &["oha"],
        _ => &["wrk", "oha"],
    };
    for name in wanted {
        if let Some(path) = on_path(name) {
            let out = Command::new(&path).arg(if *name == "wrk" { "-v" } else { "--version" }).output();
            let version = out
                .map(|o| {
                    let s = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                    s.lines().next().unwrap_or("").trim().to_string()
                })
                .unwrap_or_default();
            return Ok(Some(Tool { name, path, version }));
        }
    }
    let msg = format!(
        "no load generator: install wrk (`sudo apt-get install wrk` on Debian/Ubuntu, `dnf install wrk`, \
         `brew install wrk`) or oha (`cargo install oha`), then run the benchmark again{}",
        o.tool.as_deref().map(|t| format!(" (--tool {t} was asked for)")).unwrap_or_default()
    );
    if o.smoke {
        eprintln!("web bench smoke test: {msg}");
        return Ok(None);
    }
    bail!("WEB BENCHMARK NOT RUN: {msg}")
}

fn run_load(
    tool: &Tool,
    o: &Options,
    addr: &str,
    cookie: &str,
    paths: &[String],
    duration: Duration,
    scratch: &Path,
) -> Result<Load> {
    let secs = duration.as_secs().max(1);
    match tool.name {
        "wrk" => {
            let mut cmd = Command::new(&tool.path);
            cmd.args(["-t", &o.threads.to_string(), "-c", &o.connections.to_string()])
                .args(["-d", &format!("{secs}s"), "--latency", "--timeout", "10s"])
                .args(["-H", &format!("Cookie: {cookie}")]);
            if paths.len() > 1 {
                // Each wrk thread cycles over the paths.
                let list: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
                let script = scratch.join("paths.lua");
                std::fs::write(
                    &script,
                    format!(
                        "local paths = {{ {} }}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  \
                         return wrk.format(nil, paths[i])\nend\n",
                        list.join(", ")
                    ),
                )?;
                cmd.arg("-s").arg(&script);
            }
            cmd.arg(format!("http://{addr}{}", paths[0]));
            let out = cmd.output().context("cannot run wrk")?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            ensure!(
                out.status.success(),
                "wrk failed ({}):\n{text}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            parse_wrk(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))
        }
        _ => {
            // oha takes one URL: several paths are measured one after another
            // (each for its share of the time) and added up.
            let share = Duration::from_secs((secs / paths.len() as u64).max(1));
            let mut sum = Load::default();
            let mut p50s = Vec::new();
            for p in paths {
                let l = run_oha(tool, o, addr, cookie, p, share)?;
                sum.requests += l.requests;
                sum.seconds += l.seconds;
                sum.errors += l.errors;
                sum.non_2xx += l.non_2xx;
                sum.bytes += l.bytes;
                sum.p90_ms = sum.p90_ms.max(l.p90_ms);
                sum.p99_ms = sum.p99_ms.max(l.p99_ms);
                sum.max_ms = sum.max_ms.max(l.max_ms);
                p50s.push(l.p50_ms);
            }
            sum.rps = if sum.seconds > 0.0 { sum.requests as f64 / sum.seconds } else { 0.0 };
            p50s.sort_by(f64::total_cmp);
            sum.p50_ms = p50s.get(p50s.len() / 2).copied().unwrap_or(0.0);
            Ok(sum)
        }
    }
}

fn run_oha(tool: &Tool, o: &Options, addr: &str, cookie: &str, path: &str, d: Duration) -> Result<Load> {
    let url = format!("http://{addr}{path}");
    let base = |fmt: &[&str]| {
        let mut c = Command::new(&tool.path);
        c.args(["--no-tui", "-c", &o.connections.to_string(), "-z", &format!("{}s", d.as_secs())])
            .args(["-H", &format!("Cookie: {cookie}")])
            .args(fmt)
            .arg(&url);
        c.output()
    };
    // Newer oha: --output-format json; older: -j.
    let mut out = base(&["--output-format", "json"]).context("cannot run oha")?;
    if !out.status.success() {
        out = base(&["-j"]).context("cannot run oha")?;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    ensure!(out.status.success(), "oha failed ({}):\n{text}{}", out.status, String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("oha's output is not JSON:\n{text}"))?;
    let s = &v["summary"];
    let ms = |x: &serde_json::Value| x.as_f64().unwrap_or(0.0) * 1000.0;
    let codes = v["statusCodeDistribution"].as_object();
    let count = |ok: bool| -> u64 {
        codes.map_or(0, |m| {
            m.iter().filter(|(k, _)| k.starts_with('2') == ok).map(|(_, n)| n.as_u64().unwrap_or(0)).sum()
        })
    };
    let errors = v["errorDistribution"].as_object().map_or(0, |m| m.values().map(|n| n.as_u64().unwrap_or(0)).sum());
    let requests = count(true) + count(false);
    let seconds = s["total"].as_f64().unwrap_or(d.as_secs_f64());
    Ok(Load {
        requests,
        seconds,
        rps: s["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50_ms: ms(&v["latencyPercentiles"]["p50"]),
        p90_ms: ms(&v["latencyPercentiles"]["p90"]),
        p99_ms: ms(&v["latencyPercentiles"]["p99"]),
        max_ms: ms(&s["slowest"]),
        errors,
        non_2xx: count(false),
        bytes: s["totalData"].as_u64().unwrap_or(0),
    })
}

/// `10.5us`, `3.20ms`, `1.02s`, `1.5m` → milliseconds.
fn wrk_ms(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return None,
    })
}

/// `1.23GB` → bytes.
fn wrk_bytes(s: &str) -> Option<u64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let k = match unit {
        "" | "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0_f64.powi(4),
        _ => return None,
    };
    Some((n * k) as u64)
}

/// Reads wrk's report (with `--latency`).
fn parse_wrk(text: &str) -> Result<Load> {
    let mut l = Load::default();
    let mut got = (false, false, false);
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["Latency", _avg, _stdev, max, ..] => l.max_ms = wrk_ms(max).unwrap_or(0.0),
            ["50%", v] => {
                l.p50_ms = wrk_ms(v).context("50%")?;
                got.0 = true;
            }
            ["90%", v] => l.p90_ms = wrk_ms(v).context("90%")?,
            ["99%", v] => {
                l.p99_ms = wrk_ms(v).context("99%")?;
                got.1 = true;
            }
            [n, "requests", "in", secs, read, "read"] => {
                l.requests = n.parse().context("requests")?;
                l.seconds = wrk_ms(secs.trim_end_matches(',')).context("duration")? / 1000.0;
                l.bytes = wrk_bytes(read).unwrap_or(0);
            }
            ["Socket", "errors:", rest @ ..] => {
                l.errors = rest.iter().filter_map(|x| x.trim_end_matches(',').parse::<u64>().ok()).sum();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => l.non_2xx = n.parse().context("non-2xx")?,
            ["Requests/sec:", n] => {
                l.rps = n.parse().context("Requests/sec")?;
                got.2 = true;
            }
            _ => {}
        }
    }
    ensure!(got.0 && got.1 && got.2, "no latency distribution or Requests/sec");
    Ok(l)
}
