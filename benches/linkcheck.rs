//! Link-checker benchmark: `linkcheck::check` over 100,000 links on loopback
//! (5 % dead, 1 % slow, a few refusing HEAD), then the outcomes recorded
//! into a store on disk.
//!
//! ```text
//! cargo bench --bench linkcheck                         # 100,000 links on 16 hosts
//! cargo bench --bench linkcheck -- --links 20000 --hosts 4 --slow-ms 500
//! cargo bench --bench linkcheck -- --help
//! ```
//!
//! The links are served by a child process (this program started again with
//! `--serve`, axum on its own runtime), so that the peak resident size
//! measured is the checker's and the store's alone. It listens on one port on
//! each of 127.0.0.1 … 127.0.0.H (all loopback on Linux): H hosts, each
//! limited to `per_host` requests in flight by the checker. Link `i` lives on
//! host `i mod H`; what it answers is a hash of `i`: 2.5 % answer 404 and
//! 2.5 % 410 (dead), 1 % answer 200 after `--slow-ms` (2 s), 0.3 % answer HEAD
//! with 405 and GET with 200, the rest 200 at once.
//!
//! Measured: the check with `CheckSettings::default()` (15 s, 2 per host, 32
//! in total) and `linkcheck::client` on `[fetch]` defaults — wall time,
//! links/s, the peak resident size (VmHWM, reset through
//! `/proc/self/clear_refs` before the check); the failed links must be
//! exactly the dead ones and the server must have seen a GET exactly for the
//! HEAD-refusing ones and never more than `per_host` requests at once on a
//! host. Then `Store::record_link_checks` of all outcomes at three moments a
//! day apart (the first inserts every row, the others update), `link_records`
//! and `is_dead(3, 2)` (must find the dead ones), `links_due`.
//!
//! Started without `--bench` (as `cargo test --all-targets` does) it runs a
//! smoke test — 2,000 links on 4 hosts, 200 ms slow — and makes no timing claims.

mod common;

use common::progress;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, Response};
use chrono::TimeZone;
use govwatch::config::Fetch;
use govwatch::linkcheck::{self, CheckSettings, Outcome};
use govwatch::normalize::time::china;
use govwatch::store::Store;

use common::{Machine, Table, fmt_bytes, fmt_secs, loadavg, number_arg, per_sec, started_by_cargo_bench, thousands};

const USAGE: &str = "\
usage: cargo bench --bench linkcheck -- [options]

  --links N      distinct links (default 100000)
  --hosts H      loopback hosts 127.0.0.1 … 127.0.0.H serving them (default 16)
  --slow-ms MS   delay of the slow links (1 %) (default 2000)
  --per-host N   CheckSettings::per_host (default 2)
  --total N      CheckSettings::total (default 32)
  --help         this text";

struct Options {
    links: usize,
    hosts: usize,
    slow_ms: u64,
    per_host: usize,
    total: usize,
    smoke: bool,
}

impl Options {
    fn parse(args: &[String], smoke: bool) -> Result<Option<Options>> {
        let d = CheckSettings::default();
        let mut o = Options { links: 100_000, hosts: 16, slow_ms: 2000, per_host: d.per_host, total: d.total, smoke };
        if smoke {
            o.links = 2_000;
            o.hosts = 4;
            o.slow_ms = 200;
            return Ok(Some(o));
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--bench" => {}
                "--links" => o.links = number_arg(&mut it, a)?,
                "--hosts" => o.hosts = number_arg(&mut it, a)?,
                "--slow-ms" => o.slow_ms = number_arg(&mut it, a)? as u64,
                "--per-host" => o.per_host = number_arg(&mut it, a)?,
                "--total" => o.total = number_arg(&mut it, a)?,
                "--help" | "-h" => return Ok(None),
                other => bail!("unknown option {other:?}"),
            }
        }
        ensure!(o.links >= 1, "--links must be at least 1");
        ensure!((1..=250).contains(&o.hosts), "--hosts must be 1 to 250");
        ensure!(o.per_host >= 1 && o.total >= 1, "--per-host and --total must be at least 1");
        Ok(Some(o))
    }
}

/// What link `i` answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ok,
    NotFound,
    Gone,
    Slow,
    NoHead,
}

fn kind(i: u64) -> Kind {
    let r = common::Rng::new(i ^ 0x6c69_6e6b).next_u64() % 1000;
    match r {
        0..25 => Kind::NotFound,
        25..50 => Kind::Gone,
        50..60 => Kind::Slow,
        60..63 => Kind::NoHead,
        _ => Kind::Ok,
    }
}

fn host_ip(h: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, (h + 1) as u8))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        if let Err(e) = serve(&args[1..]) {
            eprintln!("link server: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let smoke = !started_by_cargo_bench(&args);
    let opts = match Options::parse(&args, smoke) {
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
    if smoke {
        eprintln!(
            "linkcheck bench: not started by `cargo bench`; running a smoke test with {} links on {} hosts \
             (run `cargo bench --bench linkcheck` for the benchmark)",
            opts.links, opts.hosts
        );
    }
    if let Err(e) = run(&opts) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

// --- the link server (child process) --------------------------------------------

struct Served {
    host: usize,
    slow: Duration,
    heads: Arc<AtomicU64>,
    gets: Arc<AtomicU64>,
    in_flight: Arc<Vec<AtomicUsize>>,
    max_in_flight: Arc<Vec<AtomicUsize>>,
}

/// `--serve HOSTS SLOW_MS`: serves the links, prints `ports P1 P2 …` on
/// stdout, answers `/stats` with `heads gets max-in-flight-per-host`, and
/// exits when its stdin closes (the benchmark ended, however).
fn serve(args: &[String]) -> Result<()> {
    let hosts: usize = args.first().context("--serve HOSTS SLOW_MS")?.parse()?;
    let slow = Duration::from_millis(args.get(1).context("--serve HOSTS SLOW_MS")?.parse()?);
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let heads = Arc::new(AtomicU64::new(0));
        let gets = Arc::new(AtomicU64::new(0));
        let in_flight: Arc<Vec<AtomicUsize>> = Arc::new((0..hosts).map(|_| AtomicUsize::new(0)).collect());
        let max_in_flight: Arc<Vec<AtomicUsize>> = Arc::new((0..hosts).map(|_| AtomicUsize::new(0)).collect());
        let mut ports = Vec::new();
        for host in 0..hosts {
            let listener = tokio::net::TcpListener::bind(SocketAddr::new(host_ip(host), 0))
                .await
                .with_context(|| format!("cannot listen on {}", host_ip(host)))?;
            ports.push(listener.local_addr()?.port());
            let st = Arc::new(Served {
                host,
                slow,
                heads: heads.clone(),
                gets: gets.clone(),
                in_flight: in_flight.clone(),
                max_in_flight: max_in_flight.clone(),
            });
            let app = axum::Router::new().fallback(answer).with_state(st);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("link server stopped: {e}");
                }
            });
        }
        let line = ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ");
        println!("ports {line}");
        std::io::stdout().flush()?;
        std::future::pending::<()>().await;
        Ok(())
    })
}

async fn answer(State(st): State<Arc<Served>>, req: Request) -> Response<Body> {
    let path = req.uri().path();
    if path == "/stats" {
        let max = st.max_in_flight.iter().map(|m| m.load(Ordering::Relaxed)).max().unwrap_or(0);
        let body = format!("{} {} {max}", st.heads.load(Ordering::Relaxed), st.gets.load(Ordering::Relaxed));
        return Response::builder().status(200).body(Body::from(body)).expect("response");
    }
    let head = req.method() == Method::HEAD;
    (if head { &st.heads } else { &st.gets }).fetch_add(1, Ordering::Relaxed);
    let now = st.in_flight[st.host].fetch_add(1, Ordering::Relaxed) + 1;
    st.max_in_flight[st.host].fetch_max(now, Ordering::Relaxed);
    let i = path.strip_prefix("/doc/").and_then(|p| p.strip_suffix(".html")).and_then(|p| p.parse::<u64>().ok());
    let status = match i.map(kind) {
        None | Some(Kind::NotFound) => 404,
        Some(Kind::Gone) => 410,
        Some(Kind::NoHead) if head => 405,
        Some(Kind::Slow) => {
            tokio::time::sleep(st.slow).await;
            200
        }
        Some(Kind::Ok | Kind::NoHead) => 200,
    };
    st.in_flight[st.host].fetch_sub(1, Ordering::Relaxed);
    Response::builder().status(status).body(Body::from("<html>政务公开</html>")).expect("response")
}

struct Server {
    child: Child,
    ports: Vec<u16>,
}

impl Server {
    fn start(o: &Options) -> Result<Server> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["--serve", &o.hosts.to_string(), &o.slow_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the link server")?;
        let out = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line)?;
        let ports: Vec<u16> = match line.trim().strip_prefix("ports ") {
            Some(p) => p.split(' ').map(|p| p.parse()).collect::<Result<_, _>>()?,
            None => {
                let _ = child.kill();
                bail!("the link server did not start: {line:?}");
            }
        };
        Ok(Server { child, ports })
    }

    fn url(&self, i: usize) -> String {
        let h = i % self.ports.len();
        format!("http://{}:{}/doc/{i}.html", host_ip(h), self.ports[h])
    }

    /// (HEADs, GETs, most requests in flight on one host).
    fn stats(&self) -> Result<(u64, u64, u64)> {
        let mut s = std::net::TcpStream::connect(SocketAddr::new(host_ip(0), self.ports[0]))?;
        s.write_all(b"GET /stats HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
        let mut resp = String::new();
        s.read_to_string(&mut resp)?;
        let body = resp.split("\r\n\r\n").nth(1).context("no body")?;
        let n: Vec<u64> = body.split(' ').map(|v| v.trim().parse()).collect::<Result<_, _>>()?;
        ensure!(n.len() == 3, "bad stats {body:?}");
        Ok((n[0], n[1], n[2]))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- the benchmark -------------------------------------------------------------

/// (VmRSS, VmHWM) of this process, bytes.
fn memory() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let v = |k: &str| {
        s.lines().find_map(|l| l.strip_prefix(k)?.trim().trim_end_matches("kB").trim().parse::<u64>().ok()).unwrap_or(0)
            * 1024
    };
    (v("VmRSS:"), v("VmHWM:"))
}

/// Resets VmHWM to the current resident size (Linux ≥ 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn run(o: &Options) -> Result<()> {
    common::START.get_or_init(Instant::now);
    let machine = Machine::read();
    let load_before = loadavg();
    let server = Server::start(o)?;
    progress!("link server: {} hosts on 127.0.0.1 … {}, ports {:?}", o.hosts, host_ip(o.hosts - 1), server.ports);

    let urls: Vec<String> = (0..o.links).map(|i| server.url(i)).collect();
    let kinds: Vec<Kind> = (0..o.links as u64).map(kind).collect();
    let count = |k: Kind| kinds.iter().filter(|x| **x == k).count();
    let dead_expected = count(Kind::NotFound) + count(Kind::Gone);
    progress!(
        "{} links: {} dead (404/410), {} slow ({} ms), {} refusing HEAD",
        thousands(o.links as u64),
        thousands(dead_expected as u64),
        thousands(count(Kind::Slow) as u64),
        o.slow_ms,
        count(Kind::NoHead)
    );

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // The link servers are on loopback, which links may reach only when allowed.
    let client = linkcheck::client(&Fetch { allow_private: vec!["127.0.0.0/8".into()], ..Fetch::default() })?;
    let settings = CheckSettings { per_host: o.per_host, total: o.total, ..CheckSettings::default() };
    let urls_bytes: u64 = urls.iter().map(|u| u.capacity() as u64 + 24).sum();
    let (rss_before, _) = memory();
    let peak_reset = reset_peak();

    // --- check ----------------------------------------------------------------
    let step = (o.links / 10).max(1);
    let started = Instant::now();
    let results = rt.block_on(linkcheck::check(&client, urls.clone(), &settings, |done, total| {
        if done % step == 0 || done == total {
            progress!("checked {} of {}", thousands(done as u64), thousands(total as u64));
        }
    }));
    let check_time = started.elapsed();
    let (rss_after, hwm_check) = memory();
    let (heads, gets, max_in_flight) = server.stats()?;
    drop(server);
    progress!(
        "check: {} ({} links/s), peak RSS {}",
        fmt_secs(check_time),
        per_sec(o.links as f64, check_time),
        fmt_bytes(hwm_check)
    );

    ensure!(results.len() == o.links, "{} results for {} links", results.len(), o.links);
    let mut failed = 0;
    let mut wrong = Vec::new();
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for (i, (url, outcome)) in results.iter().enumerate() {
        ensure!(*url == urls[i], "results out of order at {i}");
        let dead = matches!(kinds[i], Kind::NotFound | Kind::Gone);
        if let Outcome::Failed { reason, .. } = outcome {
            failed += 1;
            *reasons.entry(reason.clone()).or_default() += 1;
        }
        if dead == outcome.is_alive() && wrong.len() < 5 {
            wrong.push(format!("{url} ({:?}): {outcome:?}", kinds[i]));
        }
    }
    let gets_expected = count(Kind::NoHead) as u64;

    // --- record -----------------------------------------------------------------
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let day0 = china().with_ymd_and_hms(2026, 11, 30, 2, 0, 0).single().context("a valid time")?;
    let mut record_times = Vec::new();
    for d in 0..3 {
        let t = Instant::now();
        store.record_link_checks(&results, day0 + chrono::Duration::days(d))?;
        record_times.push(t.elapsed());
        progress!("record_link_checks of {} outcomes (day {d}): {}", thousands(o.links as u64), fmt_secs(t.elapsed()));
    }
    let t = Instant::now();
    let records = store.link_records()?;
    let read_time = t.elapsed();
    let dead_found = records.values().filter(|r| r.is_dead(3, 2)).count();
    let t = Instant::now();
    let due = store.links_due(&urls, day0 + chrono::Duration::days(3))?;
    let due_time = t.elapsed();
    ensure!(due.len() == o.links, "links_due: {} of {}", due.len(), o.links);
    let (_, hwm_all) = memory();
    let store_bytes = common::disk_size(dir.path());

    // --- report -----------------------------------------------------------------
    let mut out = String::new();
    out.push_str(&format!(
        "## Link checking (`cargo bench --bench linkcheck`){}\n\n{}\nload average before: {load_before}, after: {}\n\n",
        if o.smoke { " — smoke test, no timing claims" } else { "" },
        machine.markdown(),
        loadavg()
    ));
    let mut t = Table::new(&[
        "links",
        "hosts",
        "settings",
        "wall",
        "links/s",
        "failed",
        "dead expected",
        "HEAD / GET",
        "max in flight per host",
        "peak RSS (check)",
    ]);
    t.row(vec![
        thousands(o.links as u64),
        o.hosts.to_string(),
        format!("timeout {} s, per_host {}, total {}", settings.timeout.as_secs(), settings.per_host, settings.total),
        fmt_secs(check_time),
        per_sec(o.links as f64, check_time),
        thousands(failed as u64),
        thousands(dead_expected as u64),
        format!("{} / {}", thousands(heads), thousands(gets)),
        max_in_flight.to_string(),
        fmt_bytes(hwm_check),
    ]);
    out.push_str(&t.render());
    out.push_str(&format!(
        "\nRSS before the check {} (the URL list: {}), after {}; peak {} (VmHWM{}).\n",
        fmt_bytes(rss_before),
        fmt_bytes(urls_bytes),
        fmt_bytes(rss_after),
        fmt_bytes(hwm_check),
        if peak_reset { ", reset before the check" } else { ", since start: clear_refs refused" }
    ));
    out.push_str(&format!(
        "Slow links: {} × {} ms = {:.0} s of waiting; spread over {} slots that is {:.1} s at least.\n\n",
        count(Kind::Slow),
        o.slow_ms,
        count(Kind::Slow) as f64 * o.slow_ms as f64 / 1000.0,
        (o.hosts * settings.per_host).min(settings.total),
        count(Kind::Slow) as f64 * o.slow_ms as f64 / 1000.0 / (o.hosts * settings.per_host).min(settings.total) as f64
    ));
    let mut t = Table::new(&["reason", "links"]);
    for (r, n) in &reasons {
        t.row(vec![r.clone(), thousands(*n as u64)]);
    }
    out.push_str(&t.render());
    let mut t = Table::new(&["store (on disk)", "time"]);
    for (d, tm) in record_times.iter().enumerate() {
        let what = if d == 0 { "inserts" } else { "updates" };
        t.row(vec![
            format!("`record_link_checks`, {} outcomes, day {d} ({what})", thousands(o.links as u64)),
            fmt_secs(*tm),
        ]);
    }
    t.row(vec![
        format!(
            "`link_records` ({} rows) + `is_dead(3, 2)`: {} dead",
            thousands(records.len() as u64),
            thousands(dead_found as u64)
        ),
        fmt_secs(read_time),
    ]);
    t.row(vec![format!("`links_due` of {} candidates", thousands(o.links as u64)), fmt_secs(due_time)]);
    out.push('\n');
    out.push_str(&t.render());
    out.push_str(&format!(
        "\nStore size {}; peak RSS of the whole run {}.\n",
        fmt_bytes(store_bytes),
        fmt_bytes(hwm_all)
    ));
    print!("{out}");

    let mut problems = Vec::new();
    if failed != dead_expected || !wrong.is_empty() {
        problems.push(format!("{failed} failed, {dead_expected} dead expected; e.g. {wrong:?}"));
    }
    if dead_found != dead_expected {
        problems.push(format!("is_dead found {dead_found}, expected {dead_expected}"));
    }
    if gets != gets_expected {
        problems.push(format!("{gets} GETs, expected {gets_expected} (the HEAD-refusing links)"));
    }
    if max_in_flight > settings.per_host as u64 {
        problems.push(format!("{max_in_flight} requests in flight on one host, per_host is {}", settings.per_host));
    }
    if !problems.is_empty() {
        bail!("the run went wrong: {}", problems.join("; "));
    }
    Ok(())
}
