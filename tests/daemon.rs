//! The daemon as a service: systemd notifications, one instance per data
//! folder, /healthz and /metrics, SIGHUP reload, the shutdown limit.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::{Daemon, Options, demo_config};

const READY_WITHIN: Duration = Duration::from_secs(60);

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits until `n` sources have been polled successfully; returns /metrics.
fn polled(d: &Daemon, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, headers, body) = d.get("/metrics");
        assert_eq!(status, 200, "{body}");
        assert!(headers["content-type"].starts_with("text/plain; version=0.0.4"), "{headers:?}");
        let ok =
            body.lines().filter(|l| l.starts_with("govwatch_polls_total{") && l.contains("status=\"ok\"} 1")).count();
        if ok >= n {
            return body;
        }
        assert!(Instant::now() < deadline, "sources not polled in time:\n{body}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `govwatch status --json` on the daemon's data.
fn status(cfg: &std::path::Path, state: &std::path::Path) -> Value {
    let o = std::process::Command::new(crate::support::bin())
        .args(["status", "--json", "--config", cfg.to_str().unwrap()])
        .current_dir(crate::support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", state.join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", state.join("index"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn tells_systemd_it_is_ready_pings_the_watchdog_and_serves_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), |s| s);
    let mut d =
        Daemon::spawn(&Options { config: &cfg, state: dir.path(), env: vec![("WATCHDOG_USEC", "400000".into())] });
    d.ready(READY_WITHIN);
    let metrics = polled(&d, 5);
    assert!(metric(&metrics, "govwatch_items{source=\"sheng-zhengce\"}").unwrap_or(0.0) > 0.0, "{metrics}");
    assert!(
        metric(&metrics, "govwatch_source_consecutive_failures{source=\"sheng-zhengce\"}") == Some(0.0),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE govwatch_findings gauge"));
    assert!(metric(&metrics, "govwatch_emails{state=\"failed\"}").is_some(), "{metrics}");

    let (status, _, body) = d.get("/healthz");
    assert_eq!(status, 200, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));

    std::thread::sleep(Duration::from_millis(900));
    let notes = d.notifications();
    let all: Vec<&str> = notes.iter().flat_map(|n| n.lines()).collect();
    assert!(all.contains(&"READY=1"), "{all:?}");
    assert!(all.iter().any(|l| l.starts_with("STATUS=running")), "{all:?}");
    // 400 ms watchdog: a ping at least every 200 ms.
    assert!(all.iter().filter(|l| **l == "WATCHDOG=1").count() >= 3, "{all:?}");
    d.stop(Duration::from_secs(15));
    let notes = d.notifications();
    assert!(notes.iter().flat_map(|n| n.lines()).any(|l| l == "STOPPING=1"), "{notes:?}");
}

#[test]
fn a_second_daemon_on_the_same_data_says_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), |s| s);
    let opts = Options { config: &cfg, state: dir.path(), env: vec![] };
    let mut first = Daemon::spawn(&opts);
    first.ready(READY_WITHIN);
    let mut second = Daemon::spawn(&opts);
    let st = second.wait_exit(Duration::from_secs(20)).expect("the second daemon exits at once");
    assert!(!st.success());
    let log = second.log();
    assert!(log.contains("另一个 govwatch 已在数据目录"), "{log}");
    assert!(log.contains(&format!("进程号 {}，启动于", first.child.id())), "{log}");
    // The first is unharmed, and `status` names it (once it has evaluated
    // the rules after its first polls).
    polled(&first, 5);
    first.wait_log("index updated", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !first.get("/metrics").2.contains("govwatch_findings{rule=\"hotline_deadline\",state=\"overdue\"}") {
        assert!(Instant::now() < deadline, "no findings evaluated:\n{}", first.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(first.get("/healthz").0, 200);
    let st = status(&cfg, dir.path());
    assert_eq!(st["daemon"]["running"], true, "{st}");
    assert!(st["daemon"]["holder"].as_str().unwrap().contains(&format!("pid {}", first.child.id())), "{st}");
    first.stop(Duration::from_secs(15));
    let st = status(&cfg, dir.path());
    assert_eq!(st["daemon"]["running"], false, "{st}");
    assert_eq!(st["sources"]["enabled"], 6, "{st}");
    assert_eq!(st["sources"]["healthy"], 6, "{st}");
    assert_eq!(st["index"]["lag"], 0, "the index was committed at stop: {st}");
    assert!(st["items"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["index"]["documents"], st["items"], "{st}");
    assert!(st["findings"]["overdue"].as_i64().unwrap() > 0, "the demo has overdue orders: {st}");
    // Once it has stopped, the folder is free again.
    let mut third = Daemon::spawn(&opts);
    third.ready(READY_WITHIN);
    third.stop(Duration::from_secs(15));
}

#[test]
fn sighup_reloads_a_sound_configuration_and_refuses_a_broken_one_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), |s| s);
    let demo = std::fs::read_to_string(&cfg).unwrap();
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir.path(), env: vec![] });
    d.ready(READY_WITHIN);

    // Broken: a source pointing at a unit that does not exist.
    let broken = demo.replacen("unit = \"", "unit = \"no-such-unit-", 1);
    assert_ne!(broken, demo);
    std::fs::write(&cfg, &broken).unwrap();
    d.signal("HUP");
    let log = d.wait_log("reload refused", Duration::from_secs(20));
    assert!(log.contains("no-such-unit-"), "the reason names the problem:\n{log}");

    // Needs a restart: the index settings (the storage folders and the
    // listen address are set by this test's environment, which wins).
    let needs_restart = format!("{demo}\n[index]\nheap_mb = 77\n");
    std::fs::write(&cfg, &needs_restart).unwrap();
    d.signal("HUP");
    d.wait_log("which needs a restart", Duration::from_secs(20));

    // Sound: one more feed (a copy of the province feed under a new id).
    let start = demo.find("[[sources]]").unwrap();
    let first_source_end = demo[start + 1..].find("[[sources]]").map_or(demo.len(), |i| start + 1 + i);
    let copy = demo[start..first_source_end].replacen("id = \"", "id = \"reloaded-", 1);
    std::fs::write(&cfg, format!("{demo}\n{copy}\n")).unwrap();
    d.signal("HUP");
    d.wait_log("configuration reloaded", Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, body) = d.get("/metrics");
        if body.lines().any(|l| l.starts_with("govwatch_polls_total{source=\"reloaded-") && l.ends_with(" 1")) {
            assert_eq!(metric(&body, "govwatch_config_reloads_total{result=\"ok\"}"), Some(1.0), "{body}");
            assert_eq!(metric(&body, "govwatch_config_reloads_total{result=\"failed\"}"), Some(2.0), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the new source was not polled after the reload:\n{body}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    d.stop(Duration::from_secs(15));
}

/// A source that never answers (a listener that accepts and stays silent)
/// does not hold the daemon past its shutdown limit.
#[test]
fn stops_within_the_shutdown_limit_even_with_a_hanging_source() {
    let dir = tempfile::tempdir().unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed.xml", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(120));
    });
    drop(held);
    let cfg = demo_config(dir.path(), |s| {
        format!(
            "{s}\n[[sources]]\nid = \"hangs\"\nkind = \"feed\"\nurl = \"{url}\"\nunit = \"gongkaiban\"\n\
             level = \"county\"\nrole = \"portal\"\n"
        )
        .replace("[storage]\n", "[daemon]\nshutdown_timeout_secs = 2\n\n[fetch]\ntimeout_secs = 120\n\n[storage]\n")
    });
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir.path(), env: vec![] });
    d.ready(READY_WITHIN);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    d.signal("TERM");
    let st = d
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", d.log()));
    let took = t.elapsed();
    assert!(st.success(), "{st}:\n{}", d.log());
    assert!(took < Duration::from_millis(3500), "took {took:?} with a 2 s limit:\n{}", d.log());
    let log = d.log();
    assert!(log.contains("abandoned") && log.contains("hangs"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}
