//! Every word an officer reads is Chinese: the officer-facing commands run on
//! the demo configuration, then the console's pages, and none may show an
//! English label (issue 17, item 5). Ids the officer types (`xian-portal`,
//! `bangongshi`), URLs, file paths, email addresses, commands and
//! configuration keys the text points to are allowed; `--json` output and
//! `--help` are not checked (they are contracts for tools and administrators).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::support;
use crate::support::daemon::{Daemon, Options, demo_config};
use crate::web::{ADMIN, Client, OFFICER};

/// English words that must not reach an officer (whole words, any case).
/// The issue's list, the names of every enum the glossary translates, and
/// the words the CLI and console used to print.
const FORBIDDEN: &[&str] = &[
    // The issue's list.
    "manual",
    "digest",
    "sent",
    "title",
    "doc_no",
    "feed",
    "superior",
    "portal",
    "county",
    "warning",
    "overdue",
    // States, rules, roles, kinds, levels, health, mail kinds.
    "due_soon",
    "due",
    "soon",
    "resolved",
    "pending",
    "on_time",
    "late",
    "hotline",
    "messages",
    "message",
    "opinion",
    "export",
    "page",
    "national",
    "province",
    "city",
    "town",
    "department",
    "ok",
    "failing",
    "never_polled",
    "disabled",
    "not_modified",
    "skipped",
    "queued",
    "failed",
    "immediate",
    "report",
    "repost",
    "column_stale",
    "column_empty",
    "dead_link",
    "personal_data",
    "source_unhealthy",
    "hotline_deadline",
    "opinion_response",
    "officer",
    "admin",
    "matched_by",
    "link",
    // Words of the old CLI and console output.
    "error",
    "daemon",
    "running",
    "not",
    "source",
    "sources",
    "findings",
    "finding",
    "outbox",
    "round",
    "none",
    "yet",
    "unit",
    "units",
    "rule",
    "state",
    "status",
    "item",
    "items",
    "index",
    "up",
    "date",
    "to",
    "behind",
    "no",
    "schedule",
    "holiday",
    "counted",
    "is",
    "the",
    "of",
    "and",
    "or",
    "a",
    "an",
    "at",
    "for",
    "in",
    "on",
    "with",
    "rows",
    "row",
    "quarantined",
    "matches",
    "entries",
    "selector",
    "nothing",
    "server",
    "answered",
    "timed",
    "cannot",
    "connect",
    "such",
    "file",
    "directory",
    "empty",
    "needs",
    "number",
    "unknown",
    "expected",
    "mail",
    "email",
    "address",
    "password",
    "user",
    "add",
    "lines",
    "configuration",
    "known",
];

fn forbidden() -> &'static std::collections::HashSet<&'static str> {
    static SET: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| FORBIDDEN.iter().copied().collect())
}

/// What an officer may see in Latin letters, removed before the words are
/// looked at: links, addresses, paths, commands to type, configuration keys
/// and snippets, MIME and markup boilerplate of emails, and the ids below.
fn allowed() -> &'static [Regex] {
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    RES.get_or_init(|| {
        [
            r"(?:https?|file)://[^\s，。；、（）()<>「」“”]+",
            r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
            r"(?:[\w.-]*/)+[\w.-]+",
            // Commands the text tells an officer to run, with their options.
            r"govwatch(?: [a-z][a-z-]*)*(?: --[a-z-]+(?: [\w.-]+)?)*",
            r"--[a-z][a-z-]*",
            // An option's value explained in Chinese: `queued（待发送）`.
            r"\b[a-z_]+（\p{Han}+）",
            r"systemctl [a-z]+ govwatch",
            // Configuration keys and snippets (`[calendar]`, `page.follow_limit`, `kind = "export"`).
            r"\[\[?[a-z_.]+\]\]?",
            r"\b[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)+\b",
            r#"\b[a-z_]+ = "[^"]*""#,
        ]
        .iter()
        .map(|r| Regex::new(r).unwrap())
        .collect()
    })
}

/// The ids of the demo's sources, units and users: what officers type.
fn ids() -> Vec<String> {
    let text = std::fs::read_to_string(support::repo().join("config/demo.toml")).unwrap();
    let re = Regex::new(r#"(?m)^(?:id|name) = "([A-Za-z0-9_.-]+)""#).unwrap();
    let mut v: Vec<String> = re.captures_iter(&text).map(|c| c[1].to_string()).collect();
    // Longest first, so that `xian-portal` goes before `xian`.
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

/// The forbidden words in `text`, each with its line.
fn english_labels(text: &str) -> Vec<String> {
    let mut t = text.to_string();
    for re in allowed() {
        t = re.replace_all(&t, " ").into_owned();
    }
    for id in ids() {
        t = t.replace(&id, " ");
    }
    // Item ids (16 hex digits) and order numbers.
    let t = Regex::new(r"\b[0-9a-f]{16}\b|\b[A-Z]{2}\d+\b").unwrap().replace_all(&t, " ");
    let word = Regex::new(r"[A-Za-z_]+").unwrap();
    let mut found = Vec::new();
    for line in t.lines() {
        for w in word.find_iter(line) {
            let w = w.as_str().to_ascii_lowercase();
            if forbidden().contains(w.trim_matches('_')) {
                found.push(format!("{w:?} in {:?}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_checker_finds_english_labels_and_lets_ids_and_links_pass() {
    assert!(english_labels("本轮 manual 2026-12-06 10:00").iter().any(|f| f.starts_with("\"manual\"")));
    assert!(!english_labels("[feed / superior / province]").is_empty());
    assert!(!english_labels("问题 / findings: 逾期 overdue 5").is_empty());
    assert!(!english_labels("warning: no official holiday schedule for 2027").is_empty());
    assert_eq!(
        english_labels(
            "依据：xian-portal 应转载 https://www.shifan.gov.cn.example/zwgk/t1.html config/demo/rexian/a.csv \
             gk@shifanxian.example（govwatch quarantine --source rexian-gongdan）page.follow_limit 条目 552a614aa3bdaeb0"
        ),
        Vec::<String>::new()
    );
}

/// `govwatch ARGS` in the repository root, with its state in `state`.
fn govwatch(state: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(support::bin());
    cmd.args(args)
        .arg("--config")
        .arg("config/demo.toml")
        .current_dir(support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", state.join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", state.join("index"))
        .env("GOVWATCH__MAIL__DIR", state.join("mail"))
        .env_remove("GOVWATCH_CONFIG");
    match stdin {
        None => cmd.output().expect("govwatch runs"),
        Some(input) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

/// A work-order export in the demo's columns with the rows that go wrong in
/// real exports (the tipdm data and the 12345 exports seen in issue 11): a
/// row without its number, a date nobody can read, a handler that is not a
/// configured unit.
const BAD_EXPORT: &str = "工单编号,来电时间,诉求类型,诉求内容,承办单位,办结时间,状态,紧急程度\n\
GD20261201001,2026/12/1 9:15:32,咨询,咨询社保卡补办需要的材料,县人社局,,处理中,\n\
,2026/12/1 10:00:00,求助,没有编号的一行,县教育局,,处理中,\n\
GD20261201003,明天上午,投诉,时间写错的一行,县住建局,,处理中,\n";

/// A command: what it is, its arguments, its standard input, the exit status it must have.
type Run<'a> = (&'a str, Vec<&'a str>, Option<&'a str>, Option<i32>);

#[test]
fn officer_facing_commands_and_pages_on_the_demo_show_no_english_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let export = s.join("12月工单.csv");
    std::fs::write(&export, BAD_EXPORT).unwrap();
    let export = export.to_str().unwrap();
    let runs: Vec<Run<'_>> = vec![
        ("config check", vec!["config", "check"], None, Some(0)),
        ("poll", vec!["poll"], None, Some(0)),
        ("poll again", vec!["poll"], None, Some(0)),
        ("import", vec!["import", "--source", "rexian-gongdan", export], None, Some(0)),
        ("import into a feed", vec!["import", "--source", "xian-portal", export], None, Some(2)),
        ("quarantine", vec!["quarantine"], None, Some(0)),
        ("search", vec!["search", "热线"], None, Some(0)),
        ("search a province", vec!["search", "转载", "--level", "province"], None, Some(0)),
        ("search a bad date", vec!["search", "热线", "--since", "2026-13-01"], None, Some(1)),
        ("findings", vec!["findings", "--now", "2026-12-07 09:00"], None, Some(0)),
        ("findings of a unit", vec!["findings", "--unit", "jiaoyuju", "--now", "2026-12-28 09:00"], None, Some(0)),
        ("findings of no unit", vec!["findings", "--unit", "nobody"], None, Some(2)),
        ("sources", vec!["sources"], None, Some(0)),
        ("reposts", vec!["reposts", "--now", "2026-12-07 09:00"], None, Some(0)),
        ("reposts of no portal", vec!["reposts", "--portal", "sheng-zhengce"], None, Some(2)),
        ("status before a round", vec!["status"], None, Some(0)),
        ("digest", vec!["alerts", "preview", "--unit", "jiaoyuju", "--now", "2026-12-07 09:00"], None, Some(0)),
        ("no digest", vec!["alerts", "preview", "--unit", "gongkaiban", "--now", "2026-12-07 09:00"], None, Some(0)),
        ("report", vec!["alerts", "preview", "--unit", "bangongshi", "--kind", "report"], None, Some(0)),
        ("dry run", vec!["alerts", "send", "--dry-run", "--now", "2026-12-07 09:00"], None, Some(0)),
        ("send", vec!["alerts", "send", "--now", "2026-12-07 09:00"], None, Some(0)),
        ("outbox", vec!["alerts", "outbox"], None, Some(0)),
        ("outbox bad state", vec!["alerts", "outbox", "--state", "lost"], None, Some(2)),
        ("status after a round", vec!["status"], None, Some(0)),
        ("is-workday", vec!["calendar", "is-workday", "2026-10-10"], None, Some(0)),
        ("add into 2027", vec!["calendar", "add", "2026-12-30", "3"], None, Some(0)),
        ("links check (off in the demo)", vec!["links", "check"], None, Some(2)),
        ("respond to no item", vec!["respond", "0000000000000000"], None, Some(1)),
        ("user add, short password", vec!["user", "add", "xiaowang", "--password-stdin"], Some("short\n"), Some(1)),
    ];
    let mut problems = Vec::new();
    for (what, args, stdin, code) in &runs {
        let o = govwatch(s, args, *stdin);
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), *code, "{what}: {args:?}\n{out}\n{err}");
        for found in english_labels(&format!("{out}\n{err}")) {
            problems.push(format!("govwatch {}: {found}", args.join(" ")));
        }
        if *what == "add into 2027" {
            // The warning names the year once, on stderr, apart from the answer.
            assert_eq!(out.trim(), "2027-01-04", "{out}");
            if err.matches("2027 年").count() != 1 {
                problems.push(format!("calendar add: the warning must name 2027 once: {err:?}"));
            }
        }
        if *what == "findings" && !err.trim().is_empty() {
            problems.push(format!("findings: no deadline of this listing is in 2027, yet: {err:?}"));
        }
    }
    // A user whose password is long enough: the TOML to paste is for the
    // configuration file (English keys); what is said around it is not.
    let o = govwatch(s, &["user", "add", "xiaowang", "--password-stdin"], Some("a-long-password\n"));
    assert!(o.status.success());
    problems.extend(english_labels(&String::from_utf8_lossy(&o.stderr)).into_iter().map(|f| format!("user add: {f}")));

    // The console, on the same data, as the duty officer and the administrator.
    let cfg = demo_config(s, |t| t);
    let mut d = Daemon::spawn(&Options { config: &cfg, state: s, env: vec![] });
    d.ready(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.get("/metrics").2.contains("govwatch_findings{rule=\"hotline_deadline\",state=\"overdue\"}") {
        assert!(Instant::now() < deadline, "no findings evaluated:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let addr = d.addr.clone().unwrap();
    let mut pages = vec![("/login".to_string(), Client::new(&addr).get("/login").text())];
    let search = |c: &mut Client, q: &str| c.get(&format!("/api/search?q={q}")).json();
    for who in [OFFICER, ADMIN] {
        let mut c = Client::new(&addr);
        assert_eq!(c.login(who).status, 303);
        let hits = search(&mut c, "%E8%BD%AC%E8%BD%BD");
        let mut paths: Vec<String> = [
            "/",
            "/search?q=%E7%83%AD%E7%BA%BF",
            "/search?q=%E8%BD%AC%E8%BD%BD&level=province",
            "/search?q=%E7%83%AD%E7%BA%BF&since=2026-13-01",
            "/findings",
            "/findings?state=due_soon",
            "/units/bangongshi",
            "/units/zhujianju",
            "/reposts",
            "/reposts?state=overdue",
            "/sources",
            "/items/0000000000000000",
        ]
        .map(String::from)
        .to_vec();
        // Items of every kind: the superior's policies, the portal's, hotline orders, the forum.
        for h in hits["hits"]
            .as_array()
            .unwrap()
            .iter()
            .chain(search(&mut c, "%E5%B7%A5%E5%8D%95")["hits"].as_array().unwrap())
        {
            paths.push(format!("/items/{}", h["id"].as_str().unwrap()));
        }
        for p in paths {
            let r = c.get(&p);
            assert!(r.status == 200 || r.status == 404 || r.status == 400, "{p}: {}", r.status);
            pages.push((p, r.text()));
        }
    }
    // The pages are the real ones, with the glossary's words.
    let page = |p: &str| pages.iter().find(|(path, _)| path == p).map(|(_, h)| visible_text(h)).unwrap();
    for (path, want) in [
        ("/sources", "订阅源 · 上级政策 · 省级"),
        ("/reposts", "文号相同"),
        (
            "/search?q=%E8%BD%AC%E8%BD%BD&level=province",
            "示范省人民政府 最新文件（省级） · 跟进单位 示范县人民政府办公室",
        ),
    ] {
        if !page(path).contains(want) {
            problems.push(format!("console {path} does not say {want:?}"));
        }
    }
    assert!(pages.iter().filter(|(p, _)| p.starts_with("/items/")).count() >= 10);
    for (path, html) in &pages {
        for found in english_labels(&visible_text(html)) {
            problems.push(format!("console {path}: {found}"));
        }
    }
    d.stop(Duration::from_secs(20));
    assert!(problems.is_empty(), "English labels where officers read:\n{}", problems.join("\n"));
}

/// The text a browser shows: tags, scripts and styles removed, entities read.
fn visible_text(html: &str) -> String {
    let no_code = Regex::new(r"(?s)<(script|style)[^>]*>.*?</(script|style)>").unwrap().replace_all(html, " ");
    let text = Regex::new(r"(?s)<[^>]*>").unwrap().replace_all(&no_code, "\n");
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#x27;", "'").replace("&amp;", "&")
}
