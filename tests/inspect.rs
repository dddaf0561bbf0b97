//! Website inspection (网站检查) as the binary does it: stale columns and
//! published personal data on the demo, dead links against a real HTTP
//! server on loopback (a blip is not a dead link), and an unreachable
//! source reported as the cause instead of its stale column.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{self, Canned, TestServer};

fn govwatch(state: &Path, config: &str, args: &[&str]) -> Output {
    Command::new(support::bin())
        .args(args)
        .args(["--config", config])
        .current_dir(support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", state.join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", state.join("index"))
        .env_remove("GOVWATCH_CONFIG")
        .output()
        .expect("govwatch runs")
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", out(o), String::from_utf8_lossy(&o.stderr));
    out(o)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn findings(state: &Path, config: &str, now: &str) -> Vec<Value> {
    let o = govwatch(state, config, &["findings", "--now", now, "--json"]);
    let v: Value = serde_json::from_str(&ok(&o)).unwrap();
    v.as_array().unwrap().clone()
}

fn of_rule<'a>(f: &'a [Value], rule: &str) -> Vec<&'a Value> {
    f.iter().filter(|f| f["rule"] == rule).collect()
}

const DEMO: &str = "config/demo.toml";
/// The demo's article with a citizen's ID card and mobile number in it.
const RAW_ID: &str = "11010519491231002X";

#[test]
fn the_demo_column_not_updated_for_two_weeks_and_a_published_id_number_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    ok(&govwatch(s, DEMO, &["poll"]));

    // 工作动态 (news) last published 2026-11-20: more than 14 days by 12-05.
    let f = findings(s, DEMO, "2026-12-05 09:00");
    let stale = of_rule(&f, "column_stale");
    let gzdt: Vec<_> = stale.iter().filter(|f| f["source"] == "xian-gzdt").collect();
    assert_eq!(gzdt.len(), 1, "{stale:#?}");
    assert_eq!(gzdt[0]["state"], "overdue", "{:#}", gzdt[0]);
    assert!(gzdt[0]["basis"].as_str().unwrap().contains("2026-11-20"), "{:#}", gzdt[0]);
    // 通知公告 (notices, six months) with its newest item of 11-20 is fine.
    assert!(stale.iter().all(|f| f["source"] != "xian-tzgg"), "{stale:#?}");
    // Ten days earlier 工作动态 was not stale yet.
    let early = findings(s, DEMO, "2026-11-25 09:00");
    assert!(of_rule(&early, "column_stale").iter().all(|f| f["source"] != "xian-gzdt"), "{early:#?}");
    // A replay of a moment before the poll that found the ID number does not show it (issue 16 item 9).
    let before = findings(s, DEMO, "2026-01-05 09:00");
    assert!(of_rule(&before, "personal_data").is_empty(), "{before:#?}");

    // The ID card with a valid check digit is flagged, masked; the article
    // with an invalid one (…0021) is not. The scan found it when the poll
    // above stored the article (the real clock): it is replayed from then on.
    let after_poll = (chrono::Utc::now() + chrono::Duration::hours(1))
        .with_timezone(&govwatch::normalize::time::china())
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let f = findings(s, DEMO, &after_poll);
    let pii = of_rule(&f, "personal_data");
    assert_eq!(pii.len(), 1, "{pii:#?}");
    assert_eq!(pii[0]["source"], "xian-gzdt");
    assert_eq!(pii[0]["state"], "overdue", "mailed at once, not on a deadline");
    let basis = pii[0]["basis"].as_str().unwrap();
    assert!(basis.contains("身份证号 110105********002X") && basis.contains("139****5678"), "{basis}");
    let all = serde_json::to_string(&f).unwrap();
    assert!(!all.contains(RAW_ID) && !all.contains("13912345678"), "a number leaked: {all}");

    // The unit's email lists it, masked too.
    let o = govwatch(s, DEMO, &["alerts", "preview", "--unit", "bangongshi", "--now", &after_poll]);
    let mail = ok(&o);
    assert!(mail.contains("公开内容含个人信息") && mail.contains("110105********002X"), "{mail}");
    assert!(!mail.contains(RAW_ID), "{mail}");
}

/// A column page on the test server listing one item per link.
fn column(server: &TestServer, links: &[&str]) -> String {
    let mut html = String::from("<html><head><meta charset=\"utf-8\"></head><body><ul>");
    for (i, l) in links.iter().enumerate() {
        html.push_str(&format!(
            "<li><a href=\"{}\" title=\"测试文章{i}\">测试文章{i}</a><span>2026-11-2{i}</span></li>",
            server.url(l)
        ));
    }
    html + "</ul></body></html>"
}

fn write_config(dir: &Path, server: &TestServer, name: &str, extra: &str) -> String {
    let toml = format!(
        "{units}\n[fetch]\nretry_base_ms = 20\nretries = 0\n\n[inspection]\nunhealthy_after_failures = 2\n\n\
         [inspection.links]\ndead_after_failures = 2\ndead_after_days = 0\nrecheck_hours = 0\n\n{extra}\n{source}",
        units = support::UNITS,
        source = support::source("col", "page", &server.url("/col/"), &format!("name = \"{name}\"")),
    );
    let path = dir.join("govwatch.toml");
    std::fs::write(&path, toml).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_link_is_dead_after_repeated_failures_and_a_blip_is_not_a_dead_link() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let server = TestServer::start();
    let html = column(&server, &["/fine.html", "/gone.html", "/blip.html"]);
    server.route("/col/", vec![Canned::ok("text/html; charset=utf-8", html)]);
    server.route("/fine.html", vec![Canned::ok("text/html", "ok")]);
    // /gone.html is not routed: 404 every time. /blip.html fails one check
    // (HEAD and the GET after it), then answers.
    server.route("/blip.html", vec![Canned::status(503), Canned::status(503), Canned::ok("text/html", "ok")]);
    let cfg = write_config(s, &server, "测试栏目", "");
    ok(&govwatch(s, &cfg, &["poll"]));

    let run = |s: &Path| -> Value {
        // Checks are stored to the second: with recheck_hours = 0 the next
        // run must come in a later second to find them due again.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        serde_json::from_str(&ok(&govwatch(s, &cfg, &["links", "check", "--json"]))).unwrap()
    };
    let r = run(s);
    assert_eq!((r["links"].as_u64(), r["checked"].as_u64(), r["failed"].as_u64()), (Some(3), Some(3), Some(2)), "{r}");
    // One failure each: nothing is dead yet.
    let now = "2026-12-01 09:00";
    assert!(of_rule(&findings(s, &cfg, now), "dead_link").is_empty());

    let r = run(s);
    assert_eq!((r["checked"].as_u64(), r["failed"].as_u64()), (Some(3), Some(1)), "{r}");
    let f = findings(s, &cfg, now);
    let dead = of_rule(&f, "dead_link");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let basis = dead[0]["basis"].as_str().unwrap();
    assert!(basis.contains("/gone.html") && basis.contains("404"), "{basis}");
    assert!(!basis.contains("/blip.html") && !basis.contains("/fine.html"), "{basis}");
    assert!(server.seen("/blip.html").len() >= 3, "HEAD, GET, then HEAD again");

    // A column that drops an item does not drop it from the store: its link
    // is still checked (the page may still be published).
    server.route("/col/", vec![Canned::ok("text/html; charset=utf-8", column(&server, &["/fine.html"]))]);
    ok(&govwatch(s, &cfg, &["poll"]));
    let r = run(s);
    assert_eq!((r["links"].as_u64(), r["checked"].as_u64()), (Some(3), Some(3)), "{r}");
}

#[test]
fn an_unreachable_source_is_reported_once_as_the_cause_not_as_a_stale_column() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let server = TestServer::start();
    let html = column(&server, &["/a.html"]);
    server.route("/col/", vec![Canned::ok("text/html; charset=utf-8", html), Canned::status(500)]);
    let cfg = write_config(s, &server, "工作动态", "");
    ok(&govwatch(s, &cfg, &["poll"]));
    // Newest item 2026-11-20; by 2027-01-10 the news column is long stale.
    let later = "2027-01-10 09:00";
    let f = findings(s, &cfg, later);
    assert_eq!(of_rule(&f, "column_stale").len(), 1, "{f:#?}");
    assert!(of_rule(&f, "source_unhealthy").is_empty(), "{f:#?}");

    // Now the site answers 500: the column's staleness is an echo of that.
    for _ in 0..2 {
        let o = govwatch(s, &cfg, &["poll"]);
        assert_ne!(o.status.code(), Some(0), "a failed poll says so in its status");
    }
    let f = findings(s, &cfg, later);
    assert!(of_rule(&f, "column_stale").is_empty(), "held while the source cannot be read: {f:#?}");
    let sick = of_rule(&f, "source_unhealthy");
    assert_eq!(sick.len(), 1, "{f:#?}");
    assert_eq!(sick[0]["source"], "col", "{:#}", sick[0]);
    assert!(sick[0]["basis"].as_str().unwrap().contains("500"), "{:#}", sick[0]);
}

#[test]
fn the_daemon_checks_links_on_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let server = TestServer::start();
    server.route("/col/", vec![Canned::ok("text/html; charset=utf-8", column(&server, &["/a.html"]))]);
    server.route("/a.html", vec![Canned::ok("text/html", "ok")]);
    let cfg = write_config(s, &server, "测试栏目", "schedule = \"*/2 * * * * *\"");
    let mut d =
        support::daemon::Daemon::spawn(&support::daemon::Options { config: Path::new(&cfg), state: s, env: vec![] });
    d.ready(std::time::Duration::from_secs(60));
    // Runs before the first poll has stored the page find nothing to check.
    d.wait_log("link check done links=1 checked=1 failed=0", std::time::Duration::from_secs(60));
    d.stop(std::time::Duration::from_secs(15));
    assert!(!server.seen("/a.html").is_empty());
}

/// Issue 16 item 9: numbers a portal publishes on purpose are not a
/// citizen's leaked data — a labelled duty contact (as 值班安排 notices
/// write it), and a number on `inspection.personal_data_allow` — while a
/// citizen's number next to theirs is still reported. Through the binary:
/// poll a loopback feed, then `findings --json`.
#[test]
fn official_contacts_and_allowed_numbers_are_not_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let server = TestServer::start();
    let item = |n: u32, title: &str, text: &str| {
        (
            title.to_string(),
            server.url(&format!("/a/{n}.html")),
            text.to_string(),
            "Mon, 30 Nov 2026 09:00:00 +0800".to_string(),
        )
    };
    let items = [
        item(1, "关于做好2027年元旦期间值班工作的通知", "各科室：元旦期间值班联系人：李老师，联系电话：13812345678。"),
        item(2, "便民服务中心开放时间", "如需预约，请拨打 13912345678。"),
        item(3, "临时救助公示", "1. 王某某，联系电话 13712345678，救助金额 2000 元。"),
    ];
    server.route("/feed.xml", vec![Canned::ok("application/rss+xml", support::rss("县政府", &items))]);
    let toml = format!(
        "{}\n[inspection]\npersonal_data_allow = [\"139 1234 5678\"]\n\n{}",
        support::UNITS,
        support::source("xian", "feed", &server.url("/feed.xml"), "")
    );
    let config = dir.path().join("govwatch.toml");
    std::fs::write(&config, toml).unwrap();
    let config = config.to_str().unwrap();
    ok(&govwatch(s, config, &["poll"]));
    let f: Value = serde_json::from_str(&ok(&govwatch(s, config, &["findings", "--json"]))).unwrap();
    let pii = of_rule(f.as_array().unwrap(), "personal_data");
    let bases: Vec<&str> = pii.iter().map(|f| f["basis"].as_str().unwrap()).collect();
    assert_eq!(bases, ["公开内容含个人信息：手机号 137****5678"], "{pii:#?}");
}
