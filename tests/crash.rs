//! kill -9 at any moment: the real daemon, busy polling a growing feed on a
//! loopback HTTP server, importing a large hotline export, evaluating the
//! rules and mailing through a loopback SMTP server, is killed again and
//! again at random moments — mid-poll, mid-import, mid-commit, mid-send.
//! After each kill nothing stored is lost; a restart brings the index back
//! to agreement with the store by itself; and no email is doubled beyond the
//! documented window (at most the one in flight at each kill).
//!
//! `GOVWATCH_CRASH_KILLS` (default 12) and `GOVWATCH_CRASH_SEED` (default:
//! the clock, printed) make it longer or repeatable.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, Options, demo_config};
use crate::support::smtp::{SmtpOptions, SmtpServer, SmtpTls, message_id};
use crate::support::{Canned, TestServer};

const EXPORT_ROWS: usize = 12_000;
const FEED_STEPS: usize = 400;
const ITEMS_PER_STEP: usize = 25;

/// A feed listing the newest `n` items (each step adds some).
fn feed(n: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>压力测试</title>\
         <link>http://example.gov.cn/</link>",
    );
    for i in (n.saturating_sub(300)..n).rev() {
        s.push_str(&format!(
            "<item><title>关于第{i}号政务公开事项的通知</title><link>http://example.gov.cn/t/{i}.html</link>\
             <description>政务公开 第{i}号 事项的说明文字。</description>\
             <pubDate>Mon, 02 Nov 2026 09:{:02}:00 +0800</pubDate></item>",
            i % 60
        ));
    }
    s.push_str("</channel></rss>");
    s
}

/// A hotline export like the demo's, with `rows` work orders, many overdue.
fn export(path: &Path, rows: usize) {
    let units = ["县教育局", "县住建局", "城关镇人民政府", "县医疗保障局"];
    let kinds = ["咨询", "投诉", "求助", "建议"];
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all("\u{feff}示范县12345热线工单明细（压力测试）,,,,,,,\n".as_bytes()).unwrap();
    writeln!(f, "工单编号,来电时间,诉求类型,诉求内容,承办单位,办结时间,状态,紧急程度").unwrap();
    for i in 0..rows {
        writeln!(
            f,
            "GD2026{:06},2026/10/{} 9:{:02}:00,{},第{i}号诉求：小区道路破损需要维修,{},,处理中,",
            i,
            1 + i % 28,
            i % 60,
            kinds[i % 4],
            units[(i / 7) % 4]
        )
        .unwrap();
    }
}

/// The ids stored in the store at `var` (its SQLite file, or the PostgreSQL
/// database the test hook maps it to).
fn stored_ids(var: &Path) -> BTreeSet<i64> {
    crate::support::store_rows(var, "SELECT id FROM items", &[]).into_iter().map(|r| r[0].parse().unwrap()).collect()
}

/// A small deterministic generator, so a failing seed can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_doubles_no_email() {
    let kills: usize = std::env::var("GOVWATCH_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let seed: u64 = std::env::var("GOVWATCH_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("crash test: {kills} kills, GOVWATCH_CRASH_SEED={seed}");
    let mut rng = Lcg(seed);

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let drop_dir = state.join("drop");
    std::fs::create_dir_all(&drop_dir).unwrap();
    export(&drop_dir.join("工单.csv"), EXPORT_ROWS);
    let http = TestServer::start();
    http.route(
        "/feed.xml",
        (1..=FEED_STEPS).map(|k| Canned::ok("application/rss+xml", feed(k * ITEMS_PER_STEP))).collect(),
    );
    let smtp = SmtpServer::start(SmtpOptions { tls: SmtpTls::None, ..Default::default() });
    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let (smtp_port, feed_url, drop_url) = (smtp.port(), http.url("/feed.xml"), drop_dir.display().to_string());
    let busy = |with_sources: bool| {
        let (feed_url, drop_url) = (feed_url.clone(), drop_url.clone());
        move |demo: String| {
            let mut s = demo
                .replace("rounds = [\"09:00\"]", "rounds = [\"00:00\"]\nimmediate = true")
                .replace(
                    "[mail]\ntransport = \"file\"\ndir = \"var/mail\"\n",
                    &format!(
                        "[mail]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
                        smtp_port
                    ),
                )
                .replace("url = \"config/demo/rexian\"", &format!("url = \"{drop_url}\""))
                .replace("schedule = \"0 */10 * * * *\"", "schedule = \"* * * * * *\"")
                .replace("schedule = \"0 * * * * *\"", "schedule = \"* * * * * *\"");
            s.push_str(&format!("\n[calendar]\ndays = [{{ date = {today}, off = false, name = \"测试\" }}]\n"));
            if with_sources {
                s.push_str(&format!(
                    "\n[[sources]]\nid = \"busy-feed\"\nkind = \"feed\"\nurl = \"{}\"\nunit = \"gongkaiban\"\n\
                     role = \"portal\"\nlevel = \"county\"\nschedule = \"* * * * * *\"\n",
                    feed_url
                ));
            } else {
                // The recovery run: no source, so nothing new is stored while we compare.
                let first = s.find("[[sources]]").unwrap();
                s.truncate(first);
            }
            s
        }
    };
    assert!(demo_config(state, busy(true)).exists());
    let cfg_busy = state.join("busy.toml");
    std::fs::rename(state.join("govwatch.toml"), &cfg_busy).unwrap();
    let cfg_quiet = demo_config(state, busy(false));
    let var = state.join("var");
    // The daemon has made its store (its SQLite file; on PostgreSQL, its folder).
    let made = || {
        var.join("govwatch.sqlite3").exists()
            || (std::env::var_os("GOVWATCH_TEST_POSTGRES_BASE").is_some() && var.exists())
    };

    let mut known: BTreeSet<i64> = BTreeSet::new();
    for k in 0..kills {
        let mut d = Daemon::spawn(&Options { config: &cfg_busy, state, env: vec![] });
        let wait = Duration::from_millis(100 + rng.next(5000));
        std::thread::sleep(wait);
        d.child.kill().unwrap(); // SIGKILL
        d.child.wait().unwrap();
        let log = d.log();
        assert!(!log.contains("panicked"), "run {k} panicked:\n{log}");
        if !made() {
            continue;
        }
        let ids = stored_ids(&var);
        let lost: Vec<_> = known.difference(&ids).take(5).collect();
        assert!(lost.is_empty(), "kill {k} after {wait:?} lost stored items {lost:?} (seed {seed})\n{log}");
        println!("kill {k} after {wait:?}: {} items stored, {} emails received", ids.len(), smtp.received().len());
        known = ids;
    }

    // One more busy run, until the whole export is in, killed too.
    let mut d = Daemon::spawn(&Options { config: &cfg_busy, state, env: vec![] });
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let n: i64 = if made() {
            crate::support::store_rows(&var, "SELECT COUNT(*) FROM items WHERE source = 'rexian-gongdan'", &[])[0][0]
                .parse()
                .unwrap()
        } else {
            0
        };
        if n as usize >= EXPORT_ROWS {
            assert_eq!(n as usize, EXPORT_ROWS, "one item per work order, however often the import was cut");
            break;
        }
        assert!(Instant::now() < deadline, "the export was not imported ({n} of {EXPORT_ROWS}):\n{}", d.log());
    }
    std::thread::sleep(Duration::from_millis(rng.next(2000)));
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let ids = stored_ids(&var);
    assert!(known.is_subset(&ids), "the last kill lost stored items (seed {seed})");
    known = ids;

    // A restart with nothing to poll: the index must catch up by itself.
    let mut d = Daemon::spawn(&Options { config: &cfg_quiet, state, env: vec![] });
    d.ready(Duration::from_secs(120));
    let store = govwatch::store::Store::open(&state.join("var")).unwrap();
    let items = store.count_items().unwrap();
    let max_rev = store.max_rev().unwrap();
    assert!(items as usize >= known.len());
    let index = govwatch::index::SearchIndex::open(
        &state.join("index"),
        govwatch::index::WriterOptions { threads: 1, heap_bytes: 16 << 20 },
    )
    .unwrap();
    assert_eq!(index.indexed_rev(), max_rev, "the index caught up to the store's revision (seed {seed})");
    assert_eq!(index.num_docs(), items, "one document per stored item, no duplicates (seed {seed})");
    // Every email queued goes out, and none more than the kills allow.
    let deadline = Instant::now() + Duration::from_secs(60);
    let outbox = loop {
        let rows = store.outbox(None, 100_000).unwrap();
        if rows.iter().all(|r| r.state == "sent") {
            break rows;
        }
        assert!(Instant::now() < deadline, "outbox not delivered: {rows:?}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    d.stop(Duration::from_secs(20));
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for m in smtp.received() {
        *by_id.entry(message_id(&m.data)).or_default() += 1;
    }
    assert!(!outbox.is_empty(), "the busy runs queued emails (rounds and immediate alerts)");
    for row in &outbox {
        let id = format!("<{}>", row.message_id.trim_matches(['<', '>']));
        assert!(by_id.contains_key(&id), "outbox email {} never reached the server (seed {seed})", row.message_id);
    }
    let doubled: usize = by_id.values().map(|n| n - 1).sum();
    assert!(doubled <= kills, "{doubled} emails sent twice in {kills} kills (seed {seed}): {by_id:?}");
    assert_eq!(by_id.len(), outbox.len(), "every email received is in the outbox");
    println!(
        "after {kills} kills: {items} items, index agrees; {} emails, {doubled} sent twice (the documented window)",
        outbox.len()
    );
}
