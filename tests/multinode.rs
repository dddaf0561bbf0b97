//! Several govwatch nodes on one PostgreSQL store (issue 19, the acceptance
//! run): two `govwatch run` processes with their own data folder, index and
//! console port share a real PostgreSQL database and 50 loopback feeds. One
//! is killed with SIGKILL while polls are in flight. Every item is stored
//! once; the survivor polls the dead node's sources within
//! `daemon.lease_secs`; each node's index equals a substring scan of the
//! store; each email goes out once.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use govwatch::index::{SearchIndex, SearchRequest, WriterOptions};
use govwatch::model::ItemId;
use govwatch::normalize::normalize_text;
use govwatch::store::Store;

use crate::support::daemon::{Daemon, Options, demo_config};
use crate::support::smtp::{SmtpOptions, SmtpServer, SmtpTls, message_id};
use crate::support::{Canned, TestServer, rss};

const FEEDS: usize = 50;
const PER_FEED: usize = 4;
const LEASE_SECS: u64 = 4;
const TOPICS: [&str; PER_FEED] = ["政务公开", "12345热线", "营商环境", "安全生产"];

fn feed(k: usize) -> String {
    let items: Vec<(String, String, String, String)> = (0..PER_FEED)
        .map(|j| {
            (
                format!("第{k}号信息源公告{j}：关于{}工作的通知", TOPICS[j]),
                format!("http://feeds.test/{k}/{j}.html"),
                format!("各乡镇：第{k}批{}事项已办理，编号GW-{k:03}-{j}。", TOPICS[j]),
                format!("Mon, 30 Nov 2026 0{}:00:00 +0800", j + 1),
            )
        })
        .collect();
    rss(&format!("信息源{k}"), &items)
}

/// A fresh database on the test process's throwaway cluster, or None (said loudly).
pub fn pg_url(prefix: &str) -> Option<String> {
    govwatch::store::pg_cluster::test_database(prefix)
}

/// The stored items and a search of each node's index agree with a
/// substring scan of the store, for every query.
fn index_matches_store(store: &Store, index_dir: &std::path::Path, queries: &[&str]) {
    let items: Vec<_> = store.items_after_rev(0, usize::MAX >> 1).unwrap().into_iter().map(|r| r.item).collect();
    let index = SearchIndex::open(index_dir, WriterOptions { threads: 1, heap_bytes: 16 << 20 }).unwrap();
    assert_eq!(index.num_docs() as usize, items.len(), "{}: one document per stored item", index_dir.display());
    for q in queries {
        let nq = normalize_text(q);
        let expected: BTreeSet<ItemId> = items
            .iter()
            .filter(|i| normalize_text(&i.title).contains(&nq) || normalize_text(&i.text).contains(&nq))
            .map(|i| i.id)
            .collect();
        assert!(!expected.is_empty(), "{q}: the query finds something");
        let mut req = SearchRequest::new(*q);
        req.limit = items.len() + 1;
        req.exact_total = true;
        let got: BTreeSet<ItemId> = index.search(&req).unwrap().hits.iter().map(|h| h.id).collect();
        assert_eq!(got, expected, "{}: {q}", index_dir.display());
    }
}

#[test]
fn two_nodes_share_a_postgres_store_and_a_killed_one_loses_nothing() {
    let Some(url) = pg_url("multinode") else { return };
    let dir = tempfile::tempdir().unwrap();
    let http = TestServer::start();
    for k in 0..FEEDS {
        // Half the feeds answer slowly: a kill finds polls in flight.
        let body = Canned::ok("application/rss+xml", feed(k));
        http.route(&format!("/feed/{k}.xml"), vec![if k % 2 == 0 { body.delay(1500) } else { body }]);
    }
    let smtp = SmtpServer::start(SmtpOptions { tls: SmtpTls::None, ..Default::default() });
    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let cfg = demo_config(dir.path(), |demo| {
        let mut s = demo.replace("rounds = [\"09:00\"]", "rounds = [\"00:00\"]").replace(
            "[mail]\ntransport = \"file\"\ndir = \"var/mail\"\n",
            &format!(
                "[mail]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
                smtp.port()
            ),
        );
        s.push_str(&format!("\n[calendar]\ndays = [{{ date = {today}, off = false, name = \"测试\" }}]\n"));
        for k in 0..FEEDS {
            s.push_str(&format!(
                "\n[[sources]]\nid = \"feed-{k:02}\"\nkind = \"feed\"\nurl = \"{}\"\nunit = \"gongkaiban\"\n\
                 role = \"portal\"\nlevel = \"county\"\nschedule = \"*/2 * * * * *\"\n",
                http.url(&format!("/feed/{k}.xml"))
            ));
        }
        s
    });
    let env = || {
        vec![
            ("GOVWATCH__STORAGE__BACKEND", "postgres".to_string()),
            ("GOVWATCH__STORAGE__URL", url.clone()),
            ("GOVWATCH__DAEMON__LEASE_SECS", LEASE_SECS.to_string()),
            // Every feed is on one loopback host.
            ("GOVWATCH__FETCH__PER_HOST", "16".to_string()),
        ]
    };
    let (state_a, state_b) = (dir.path().join("a"), dir.path().join("b"));
    let mut a = Daemon::spawn(&Options { config: &cfg, state: &state_a, env: env() });
    let mut b = Daemon::spawn(&Options { config: &cfg, state: &state_b, env: env() });
    a.ready(Duration::from_secs(60));
    b.ready(Duration::from_secs(60));
    let store = Store::open_postgres(&url, 2).unwrap();

    // Every feed stored, and today's round queued and sent.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let by_source = store.count_items_by_source().unwrap();
        let feeds_in =
            (0..FEEDS).filter(|k| by_source.get(&format!("feed-{k:02}")) == Some(&(PER_FEED as u64))).count();
        let outbox = store.outbox(None, 1000).unwrap();
        let sent = !outbox.is_empty() && outbox.iter().all(|r| r.state == "sent");
        if feeds_in == FEEDS && sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{feeds_in} of {FEEDS} feeds stored, outbox {outbox:?}\nA:\n{}\nB:\n{}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The two nodes split the feeds between them (a node that starts
    // second gets its share as the first lets the surplus go).
    let (a_log, b_log) = (a.log(), b.log());
    let held = |log: &str, leases: &[govwatch::store::nodes::LeaseRow]| {
        let t = chrono::Utc::now().timestamp_millis();
        leases.iter().filter(|l| l.name.starts_with("source:") && l.expires_ms >= t && log.contains(&l.node)).count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let leases = loop {
        let leases = store.leases().unwrap();
        let (na, nb) = (held(&a_log, &leases), held(&b_log, &leases));
        // Every source: the 50 feeds and the demo's own.
        let sources = FEEDS + 6;
        if na + nb == sources && na.abs_diff(nb) <= 1 {
            println!("the sources are split {na} / {nb}");
            break leases;
        }
        assert!(Instant::now() < deadline, "the sources are not split between the nodes: {na} / {nb}");
        std::thread::sleep(Duration::from_millis(200));
    };

    // Kill one node while slow polls are in flight.
    let held = |log: &str| held(log, &leases);
    let victim_is_a = held(&a.log()) >= held(&b.log());
    let (victim, survivor) = if victim_is_a { (&mut a, &mut b) } else { (&mut b, &mut a) };
    let victim_log = victim.log();
    let orphans: Vec<String> = leases
        .iter()
        .filter(|l| l.name.starts_with("source:feed-") && victim_log.contains(&l.node))
        .map(|l| l.name.trim_start_matches("source:").to_string())
        .collect();
    assert!(!orphans.is_empty(), "the victim holds feeds: {leases:?}");
    let path_of = |id: &str| format!("/feed/{}.xml", id.trim_start_matches("feed-").parse::<usize>().unwrap());
    // Wait for a tick of the victim's slow feeds to be in flight, then kill.
    std::thread::sleep(Duration::from_millis(2300));
    let before: HashMap<String, usize> = orphans.iter().map(|id| (id.clone(), http.seen(&path_of(id)).len())).collect();
    victim.child.kill().unwrap();
    let killed_at = Instant::now();
    victim.child.wait().unwrap();

    // The survivor takes every orphaned feed within the lease, and polls it.
    let survivor_log = survivor.log();
    let mut taken: HashMap<String, Duration> = HashMap::new();
    let mut polled: HashMap<String, Duration> = HashMap::new();
    let bound = Duration::from_secs(LEASE_SECS);
    while polled.len() < orphans.len() && killed_at.elapsed() < Duration::from_secs(60) {
        let now_held: Vec<String> = store
            .leases()
            .unwrap()
            .into_iter()
            .filter(|l| survivor_log.contains(&l.node))
            .map(|l| l.name.trim_start_matches("source:").to_string())
            .collect();
        let at = killed_at.elapsed();
        for id in &orphans {
            if !taken.contains_key(id) && now_held.contains(id) {
                taken.insert(id.clone(), at);
            }
            if !polled.contains_key(id) && http.seen(&path_of(id)).len() > before[id] {
                polled.insert(id.clone(), at);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let slowest_take = taken.values().max().copied().unwrap_or_default();
    let slowest_poll = polled.values().max().copied().unwrap_or_default();
    println!(
        "killed a node holding {} feeds: the survivor took them all within {slowest_take:?} and had polled them all \
         {slowest_poll:?} after the kill (lease {LEASE_SECS} s)",
        orphans.len()
    );
    assert_eq!(taken.len(), orphans.len(), "every orphaned feed taken over:\n{}", survivor.log());
    assert_eq!(polled.len(), orphans.len(), "every orphaned feed polled again:\n{}", survivor.log());
    assert!(slowest_take <= bound, "taken over in {slowest_take:?}, over the lease of {LEASE_SECS} s");
    // The takeover starts each poll at once; its request may then wait for
    // a fetch slot (all 50 feeds are on one host, half of them slow).
    assert!(slowest_poll <= bound + Duration::from_secs(3), "polled again only {slowest_poll:?} after the kill");
    assert!(survivor.log().contains("taking over the sources of a node that stopped beating"), "{}", survivor.log());

    // Every item stored once: each feed's items, once each.
    let items: Vec<_> = store.items_after_rev(0, usize::MAX >> 1).unwrap().into_iter().map(|r| r.item).collect();
    let mut titles: HashMap<&str, usize> = HashMap::new();
    for i in items.iter().filter(|i| i.source.starts_with("feed-")) {
        *titles.entry(i.title.as_str()).or_default() += 1;
    }
    assert_eq!(titles.len(), FEEDS * PER_FEED);
    assert!(titles.values().all(|n| *n == 1), "an item stored twice");
    assert_eq!(store.count_items().unwrap() as usize, items.len());

    // The killed node comes back (a new node on its old folder) and catches up.
    let victim_state = if victim_is_a { state_a.clone() } else { state_b.clone() };
    let mut back = Daemon::spawn(&Options { config: &cfg, state: &victim_state, env: env() });
    back.ready(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rev = store.max_rev().unwrap();
        let nodes = store.nodes(chrono::Utc::now().timestamp_millis()).unwrap();
        let live: Vec<_> = nodes.iter().filter(|n| n.stopped_at.is_none()).collect();
        if live.len() == 2 && live.iter().all(|n| n.index_rev == rev) {
            break;
        }
        assert!(Instant::now() < deadline, "indexes not caught up to {rev}: {nodes:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let queries = ["政务公开", "第7号信息源", "GW-007", "营商环境", "通知", "热线"];
    index_matches_store(&store, &state_a.join("index"), &queries);
    index_matches_store(&store, &state_b.join("index"), &queries);

    // Both nodes answer from the shared store: sources, findings, reposts,
    // and search (each from its own index), the same answers.
    let ask = |state: &std::path::Path, args: &[&str]| -> serde_json::Value {
        let out = std::process::Command::new(crate::support::bin())
            .args(args)
            .args(["--json", "--config", cfg.to_str().unwrap()])
            .current_dir(crate::support::repo())
            .env("GOVWATCH__STORAGE__DATA_DIR", state.join("var"))
            .env("GOVWATCH__STORAGE__INDEX_DIR", state.join("index"))
            .envs(env())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    for state in [&state_a, &state_b] {
        let rows = ask(state, &["sources"]);
        let stored: u64 = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["id"].as_str().unwrap().starts_with("feed-"))
            .map(|r| r["items_stored"].as_u64().unwrap())
            .sum();
        assert_eq!(stored as usize, FEEDS * PER_FEED, "sources --json counts each item once");
    }
    for args in [&["findings"][..], &["reposts"][..], &["search", "第7号信息源"][..]] {
        let (on_a, on_b) = (ask(&state_a, args), ask(&state_b, args));
        assert!(on_a.as_array().is_some_and(|a| !a.is_empty()), "{args:?} answers something: {on_a}");
        assert_eq!(on_a, on_b, "{args:?}: both nodes give the same answer");
    }

    // Each email went out once, whoever sent it.
    std::thread::sleep(Duration::from_secs(2));
    survivor.stop(Duration::from_secs(20));
    back.stop(Duration::from_secs(20));
    let outbox = store.outbox(None, 10_000).unwrap();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for m in smtp.received() {
        *by_id.entry(message_id(&m.data)).or_default() += 1;
    }
    let digests = outbox.iter().filter(|r| r.kind == "digest").count();
    assert!(digests > 0, "today's round mailed digests: {outbox:?}");
    let mut units = BTreeSet::new();
    for r in outbox.iter().filter(|r| r.kind == "digest") {
        assert!(units.insert((r.round.clone(), r.unit.clone())), "two digests to {} in {}", r.unit, r.round);
    }
    for r in &outbox {
        let id = format!("<{}>", r.message_id.trim_matches(['<', '>']));
        assert_eq!(by_id.get(&id).copied(), Some(1), "{} {} to {}: sent once", r.kind, r.round, r.unit);
    }
    assert_eq!(by_id.len(), outbox.len(), "nothing but the outbox was sent");
}
