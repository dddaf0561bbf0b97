//! The `govwatch` binary as administrators, duty officers and other tools
//! drive it: exit statuses, messages, `--json` contracts, the demo.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;

/// `govwatch ARGS` in the repository root (where the demo's relative paths
/// point), with its state in `state`.
fn govwatch(state: &Path, args: &[&str]) -> Output {
    Command::new(support::bin())
        .args(args)
        .current_dir(support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", state.join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", state.join("index"))
        .env_remove("GOVWATCH_CONFIG")
        .output()
        .expect("govwatch runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const DEMO: &str = "config/demo.toml";

#[test]
fn config_check_reports_every_problem_at_once_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[[units]]
id = "bangongshi"
name = "区政府办公室"
emails = ["not-an-address"]

[[units]]
id = "gongkaiban"
name = "区政务公开办"

[[sources]]
id = "a"
kind = "feed"
url = "https://www.gov.cn/rss.xml"
unit = "bangongshi"
role = "superior"
level = "national"

[[sources]]
id = "b"
kind = "feed"
url = "https://example.gov.cn/rss.xml"
unit = "bangongshi"
role = "portal"
level = "county"

[[sources]]
id = "c"
kind = "feed"
url = "https://example.gov.cn/c.xml"
unit = "bangongshi"
role = "portal"
level = "county"
schedule = "*/30 * * * *"

[[sources]]
id = "d"
kind = "page"
url = "https://example.gov.cn/tzgg/"
unit = "jiaoyuju"
role = "portal"
level = "county"
"#,
    )
    .unwrap();
    let o = govwatch(dir.path(), &["config", "check", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("错误：sources[3].unit：没有单位 \"jiaoyuju\"；已配置的单位：bangongshi, gongkaiban"),
        "{out}"
    );
    assert!(out.contains("错误：units[0].emails[0]：\"not-an-address\" 不是邮箱地址"), "{out}");
    assert!(out.contains("错误：sources[2].schedule：\"*/30 * * * *\" 只有 5 段"), "{out}");
    assert!(out.contains("3 个错误"), "{out}");

    // Any other command refuses to start on such a configuration, also with 2.
    let o = govwatch(dir.path(), &["poll", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("配置有错误"), "{}", stderr(&o));

    let o = govwatch(dir.path(), &["config", "check", "--config", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/file.toml 处没有配置文件"), "{}", stderr(&o));
}

#[test]
fn demo_config_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let o = govwatch(dir.path(), &["config", "check", "--config", DEMO]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // No problem; only the note on how the demo's website owes reposts.
    let out = stdout(&o);
    let (notes, last) = out.trim().rsplit_once('\n').unwrap_or(("", out.trim()));
    assert_eq!(last, "config/demo.toml：配置无误（5 个单位，6 个数据源）");
    assert!(notes.lines().all(|l| l.starts_with("说明：网站")), "{out}");
}

#[test]
fn the_example_config_documents_a_valid_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let o = govwatch(dir.path(), &["config", "check", "--config", "config/govwatch.example.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn demo_poll_search_sources_reindex() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let o = govwatch(s, &["poll", "--config", DEMO]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    for (id, new) in
        [("sheng-zhengce", 4), ("xian-portal", 6), ("xian-tzgg", 5), ("rexian-gongdan", 8), ("xian-luntan", 3)]
    {
        let line = out.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("no line for {id}: {out}"));
        assert!(line.contains(&format!("成功  新增 {new}  更新 0")), "{line}");
    }
    // The demo's export names two handlers that are not configured units: routed, and said so.
    assert!(out.contains("承办单位「县医疗保障局」不是已配置的单位（1 行已归入 示范县12345热线中心）"), "{out}");
    let o = govwatch(s, &["poll", "--config", DEMO, "--json"]);
    let reports: Value = serde_json::from_slice(&o.stdout).unwrap();
    for r in reports.as_array().unwrap() {
        assert_eq!(r["status"], "not_modified", "{r}");
        assert_eq!((r["new"].as_u64(), r["updated"].as_u64()), (Some(0), Some(0)));
    }

    // The search contract: one JSON array of objects with these fields.
    let o = govwatch(s, &["search", "热线", "--config", DEMO, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hits: Value = serde_json::from_slice(&o.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 8, "{hits:#?}");
    for h in hits {
        for key in ["id", "title", "url", "source", "unit", "kind", "published_at", "score", "snippet"] {
            assert!(h.get(key).is_some(), "missing {key} in {h}");
        }
        assert!(
            h["snippet"].as_str().unwrap().contains("<b>热线</b>") || h["title"].as_str().unwrap().contains("热线")
        );
    }
    // Title matches first.
    let titles: Vec<&str> = hits.iter().map(|h| h["title"].as_str().unwrap()).collect();
    let first_without = titles.iter().position(|t| !t.contains("热线")).unwrap();
    assert!(titles[first_without..].iter().all(|t| !t.contains("热线")), "{titles:?}");

    // The GBK column page and its followed article pages came through intact.
    let o = govwatch(s, &["search", "考核办法", "--config", DEMO, "--json", "--source", "xian-tzgg"]);
    let hits: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(hits[0]["title"], "示范县人民政府办公室关于印发《示范县政务服务便民热线工单办理考核办法》的通知");
    assert_eq!(hits[0]["published_at"], "2026-11-20T10:30:00+08:00");

    // Filters: unit, kind, date range.
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["search", "--config", DEMO, "--json"];
        a.extend_from_slice(args);
        let o = govwatch(s, &a);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array().unwrap().iter().map(|h| h["source"].as_str().unwrap().to_string()).collect()
    };
    assert!(ids(&["热线", "--unit", "gongkaiban"]).iter().all(|s| s == "xian-tzgg" || s == "xian-luntan"));
    assert!(ids(&["热线", "--kind", "page"]).iter().all(|s| s == "xian-tzgg"));
    assert_eq!(ids(&["热线", "--since", "2026-11-19", "--until", "2026-11-19"]), vec!["xian-portal"]);
    // The portal has three items with 热线; one of them also says 微信.
    assert_eq!(ids(&["热线", "--source", "xian-portal"]).len(), 3);
    assert_eq!(ids(&["热线 -微信", "--source", "xian-portal"]).len(), 2);

    let o = govwatch(s, &["search", "热线", "--config", DEMO, "--since", "2026-13-01"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("不是日期：\"2026-13-01\""), "{}", stderr(&o));

    let o = govwatch(s, &["sources", "--config", DEMO, "--json"]);
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    let tzgg = rows.as_array().unwrap().iter().find(|r| r["id"] == "xian-tzgg").unwrap();
    assert_eq!((tzgg["items_stored"].as_u64(), tzgg["items_seen"].as_u64()), (Some(5), Some(5)), "{tzgg}");
    assert_eq!(tzgg["consecutive_failures"], 0);
    assert_eq!(tzgg["last_status"], "not_modified");
    let o = govwatch(s, &["sources", "--config", DEMO]);
    assert!(stdout(&o).contains("状态 正常"), "{}", stdout(&o));

    let before = ids(&["政务公开"]);
    let o = govwatch(s, &["reindex", "--config", DEMO]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("索引已重建：28 条"), "{}", stdout(&o));
    assert_eq!(ids(&["政务公开"]), before);

    let o = govwatch(s, &["poll", "--config", DEMO, "--source", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(
        "--source nope：没有这个数据源；已配置的数据源：sheng-zhengce, xian-portal, xian-tzgg, xian-gzdt, rexian-gongdan, xian-luntan"
    ));
}

#[test]
fn a_failing_source_makes_poll_exit_1_and_shows_in_sources() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.toml");
    let toml = format!(
        "{}{}{}",
        support::UNITS,
        support::source("ok", "feed", "config/demo/xian-portal.xml", ""),
        support::source("missing", "feed", "config/demo/no-such-file.xml", "")
    );
    std::fs::write(&cfg, toml).unwrap();
    let o = govwatch(dir.path(), &["poll", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("ok       成功  新增 6"), "{}", stdout(&o));
    assert!(stdout(&o).contains("missing  失败  config/demo/no-such-file.xml：文件不存在"), "{}", stdout(&o));
    let o = govwatch(dir.path(), &["sources", "--config", cfg.to_str().unwrap()]);
    assert!(stdout(&o).contains("抓取失败（连续 1 次）"), "{}", stdout(&o));
}

/// Issue 16 item 9: a source that failed and then recovered is healthy, and
/// `sources`, `sources --json` (`error`) and `status` no longer show its old
/// error as if it still failed (`last_error` keeps it as history).
#[test]
fn a_source_that_recovered_shows_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.xml");
    let cfg = dir.path().join("g.toml");
    let toml = format!("{}{}", support::UNITS, support::source("wobbly", "feed", feed.to_str().unwrap(), ""));
    std::fs::write(&cfg, toml).unwrap();
    let cfg = cfg.to_str().unwrap();
    assert_eq!(govwatch(dir.path(), &["poll", "--config", cfg]).status.code(), Some(1));
    let failing = stdout(&govwatch(dir.path(), &["sources", "--config", cfg]));
    assert!(failing.contains("失败（连续 1 次）") && failing.contains("最近错误"), "{failing}");
    let st = stdout(&govwatch(dir.path(), &["status", "--config", cfg]));
    assert!(st.contains("文件不存在"), "a failing source's error is shown: {st}");

    std::fs::copy(support::repo().join("config/demo/xian-portal.xml"), &feed).unwrap();
    assert_eq!(govwatch(dir.path(), &["poll", "--config", cfg]).status.code(), Some(0));
    let healthy = stdout(&govwatch(dir.path(), &["sources", "--config", cfg]));
    assert!(healthy.contains("状态 正常"), "{healthy}");
    assert!(!healthy.contains("最近错误") && !healthy.contains("文件不存在"), "{healthy}");
    let rows: Value =
        serde_json::from_slice(&govwatch(dir.path(), &["sources", "--config", cfg, "--json"]).stdout).unwrap();
    assert_eq!(rows[0]["error"], Value::Null, "{rows}");
    assert!(rows[0]["last_error"].as_str().unwrap().contains("文件不存在"), "history is kept: {rows}");
    let st = stdout(&govwatch(dir.path(), &["status", "--config", cfg]));
    assert!(!st.contains("文件不存在"), "{st}");
}

#[cfg(unix)]
#[test]
fn run_polls_the_demo_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let mut child = Command::new(support::bin())
        .args(["run", "--config", DEMO])
        .env("GOVWATCH__WEB__LISTEN", "127.0.0.1:0")
        .current_dir(support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", s.join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", s.join("index"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The daemon polls every source once at start.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = govwatch(s, &["sources", "--config", DEMO, "--json"]);
        let rows: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let polled = rows.as_array().map_or(0, |r| r.iter().filter(|r| r["last_status"] == "ok").count());
        if polled == 6 {
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let mut log = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
            panic!(
                "the daemon did not poll the demo sources in time; sources: {}{}\ndaemon log:\n{log}",
                stdout(&o),
                stderr(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the daemon did not stop within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(exit.success(), "exit {exit:?}; log:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    // What the daemon stored is searchable after it stopped.
    let o = govwatch(s, &["search", "依申请公开", "--config", DEMO, "--json"]);
    let hits: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!hits.as_array().unwrap().is_empty());
}
