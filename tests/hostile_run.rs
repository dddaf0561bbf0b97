//! Issue 18's acceptance run: one `govwatch run` with every hostile input of
//! the issue in its sources and its drop folder, beside healthy ones. It must
//! stay up, answer /healthz, store the healthy sources' items and report the
//! bad ones as errors or quarantined files — and read no local file, connect
//! to no private address, on the way. (Each attack has its own test too:
//! tests/fetch_hostile.rs, tests/hostile_exports.rs, tests/console_hostile.rs.)

use std::time::Duration;

use govwatch::store::Store;

use crate::support::daemon::{Daemon, Options};
use crate::support::hostile_fetch as hostile;
use crate::support::hostile_files as files;
use crate::support::{self, Canned, TestServer, rss};

/// A healthy hotline export in the drop folder: two orders.
const ORDERS: &str = "工单编号,来电时间,诉求内容,承办单位,办结时间\n\
GDOK0001,2026-11-20 09:00,小区路灯不亮请尽快维修,区政府办公室,\n\
GDOK0002,2026-11-20 10:00,咨询公租房申请条件,区政府办公室,2026-11-20 15:00\n";

/// Dates a file a minute back: a drop folder leaves files changed in the
/// last seconds for the next look (they may still be being copied).
fn settled(p: &std::path::Path) {
    let f = std::fs::File::options().append(true).open(p).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(60)).unwrap();
}

#[test]
fn the_daemon_survives_every_hostile_input_at_once() {
    let server = TestServer::start();
    let victim = TestServer::start_on("127.0.0.2");
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();

    // The healthy sources.
    let good =
        rss("县政府", &[("正常的通知".into(), "http://x.gov.cn/ok".into(), "依申请公开".into(), "2026-11-20".into())]);
    server.route("/good.xml", vec![Canned::ok("application/rss+xml", good)]);
    std::fs::write(drop.join("正常工单.csv"), ORDERS).unwrap();
    // Hostile exports beside it (item 4): a 1.8 KB sheet declaring every
    // cell, one with a row two billion down, a zip bomb, a 16 MiB field, a
    // million columns.
    type Build = fn(&std::path::Path);
    let bad: [(&str, Build); 5] = [
        ("sparse.xlsx", files::sparse_dimension_xlsx),
        ("far.xlsx", files::far_row_xlsx),
        ("bomb.xlsx", files::xlsx_zip_bomb),
        ("huge.csv", files::huge_field_csv),
        ("wide.csv", files::wide_csv),
    ];
    for (name, build) in bad {
        build(&drop.join(name));
    }
    for f in std::fs::read_dir(&drop).unwrap() {
        settled(&f.unwrap().path());
    }

    // The hostile ones: remote pages leading to local files and private
    // addresses (items 1, 2), 20,000 nested divs (3), a feed that asks to
    // wait an hour and one mixing charsets (7).
    server.route("/busy.xml", vec![Canned::status(503).header("retry-after", "3600")]);
    // Titles a spreadsheet would run (item 5): stored as text like any other.
    server.route("/formulas.xml", vec![Canned::ok("application/rss+xml", crate::console_hostile::formula_feed())]);
    server.route("/mixed.xml", vec![Canned::ok("application/rss+xml; charset=gbk", hostile::mixed_charset_feed())]);
    let sources = [
        support::source("good", "feed", &server.url("/good.xml"), ""),
        hostile::install_file_links(&server, files.path()),
        hostile::install_private_links(&server, &victim),
        hostile::install_deep_html(&server),
        support::source("busy", "feed", &server.url("/busy.xml"), ""),
        support::source("mixed", "feed", &server.url("/mixed.xml"), ""),
        support::source("formulas", "feed", &server.url("/formulas.xml"), ""),
        format!(
            "[[sources]]\nid = \"gongdan\"\nkind = \"export\"\nurl = \"{}\"\nunit = \"bangongshi\"\n\
             role = \"hotline\"\nlevel = \"county\"\nhistory_days = 36500\n",
            drop.display()
        ),
    ]
    .concat();
    let cfg_path = dir.path().join("govwatch.toml");
    std::fs::write(&cfg_path, format!("{}{sources}", support::UNITS)).unwrap();

    let mut d = Daemon::spawn(&Options { config: &cfg_path, state: dir.path(), env: vec![] });
    d.ready(Duration::from_secs(120));
    for id in ["good", "files", "private", "deep-feed", "deep-page", "foster", "mixed", "formulas"] {
        d.wait_log(&format!("source={id} status=Ok"), Duration::from_secs(90));
    }
    for id in ["private-redirect", "private-metadata", "busy"] {
        d.wait_log(&format!("poll failed source={id} "), Duration::from_secs(90));
    }
    d.wait_log("source=gongdan ", Duration::from_secs(120));
    let (status, _, body) = d.get("/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon is up:\n{}", d.log());
    d.stop(Duration::from_secs(20));
    let log = d.log();
    assert!(!log.contains(hostile::SECRET), "a local file reached the log");
    assert!(victim.seen_all().is_empty(), "connected to a private address: {:?}", victim.seen_all());

    let store = Store::open(&dir.path().join("var")).unwrap();
    let items: Vec<_> = store.items_after_rev(0, 10_000).unwrap().into_iter().map(|r| r.item).collect();
    assert!(
        items.iter().all(|i| !i.text.contains("GOVWATCH-SECRET") && !i.title.contains("GOVWATCH-SECRET")),
        "a local file or private page was stored"
    );
    let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    for healthy in ["正常的通知", "两万层嵌套的条目", "网站运行正常", crate::console_hostile::FORMULAS[0]]
    {
        assert!(titles.contains(&healthy), "{healthy} stored: {titles:?}");
    }
    let numbers: Vec<String> = items.iter().filter_map(|i| i.case.as_ref().map(|c| c.number.clone())).collect();
    assert!(numbers.contains(&"GDOK0001".to_string()) && numbers.contains(&"GDOK0002".to_string()), "{numbers:?}");
    // Every hostile export is quarantined with the bound it broke; the
    // healthy one is not.
    let quarantined: Vec<(String, String)> =
        crate::support::store_rows(&dir.path().join("var"), "SELECT file, reason FROM quarantine", &[])
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
    let reason = |name: &str| -> String {
        quarantined.iter().filter(|(f, _)| f.ends_with(&format!("/{name}"))).map(|(_, r)| r.as_str()).collect()
    };
    assert!(reason("bomb.xlsx").contains("import.max_xlsx_bytes"), "{quarantined:?}");
    assert!(reason("huge.csv").contains("import.max_csv_field_bytes"), "{quarantined:?}");
    assert!(reason("wide.csv").contains("import.max_csv_columns"), "{quarantined:?}");
    assert!(!reason("sparse.xlsx").is_empty() && !reason("far.xlsx").is_empty(), "{quarantined:?}");
    assert!(reason("正常工单.csv").is_empty(), "{quarantined:?}");
    for bad in ["private-redirect", "private-metadata", "busy"] {
        let h = store.health_of(bad).unwrap().unwrap();
        assert!(h.consecutive_failures >= 1 && h.last_error.is_some(), "{bad}: {h:?}");
    }
}
