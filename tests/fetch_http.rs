//! Polling real HTTP servers on loopback: conditional GET, charsets, retries,
//! limits, failures that stay contained, column pages with paging and
//! following.

use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use govwatch::config::Config;
use govwatch::index::{SearchIndex, SearchRequest, WriterOptions};
use govwatch::normalize::time::china;
use govwatch::poll::{PollStatus, Poller};
use govwatch::store::Store;

use crate::support::{self, Canned, TestServer, rss};

struct Env {
    _dir: tempfile::TempDir,
    cfg: Config,
    store: Arc<Store>,
    index: SearchIndex,
    poller: Poller,
}

fn env(sources: &str, tweak: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = support::config(&format!("{}{sources}", support::UNITS), dir.path());
    tweak(&mut cfg);
    let store = Arc::new(Store::open(&cfg.storage.data_dir).unwrap());
    let index = SearchIndex::open(&cfg.storage.index_dir, WriterOptions { threads: 1, heap_bytes: 32 << 20 }).unwrap();
    let poller = Poller::new(&cfg, store.clone()).unwrap();
    Env { _dir: dir, cfg, store, index, poller }
}

fn t0() -> DateTime<FixedOffset> {
    china().with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

fn item(t: &str, l: &str, d: &str) -> (String, String, String, String) {
    (t.into(), l.into(), d.into(), "2026-11-20 10:00:00".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_poll_is_conditional_and_writes_nothing() {
    let server = TestServer::start();
    let feed = rss(
        "县政府",
        &[
            item("关于做好政务公开工作的通知", "http://x.gov.cn/1", "依申请公开按时答复"),
            item("热线通报", "http://x.gov.cn/2", "办结率达98%"),
        ],
    );
    server.route(
        "/feed.xml",
        vec![
            Canned::ok("application/rss+xml", feed.clone())
                .header("etag", "\"v1\"")
                .header("last-modified", "Fri, 20 Nov 2026 02:00:00 GMT"),
        ],
    );
    let e = env(&support::source("f", "feed", &server.url("/feed.xml"), ""), |_| {});
    let r1 = e.poller.poll(&e.cfg.sources[0], t0()).await;
    assert_eq!((r1.status, r1.counts.new), (PollStatus::Ok, 2), "{r1:?}");
    let sync1 = e.index.sync(&e.store).unwrap();
    assert_eq!(sync1.indexed, 2);
    let rev1 = e.store.max_rev().unwrap();

    let r2 = e.poller.poll(&e.cfg.sources[0], t0() + Duration::minutes(30)).await;
    assert_eq!(r2.status, PollStatus::NotModified, "{r2:?}");
    let seen = server.seen("/feed.xml");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].headers.get("if-none-match").unwrap(), "\"v1\"");
    assert_eq!(seen[1].headers.get("if-modified-since").unwrap(), "Fri, 20 Nov 2026 02:00:00 GMT");
    assert_eq!(e.store.max_rev().unwrap(), rev1, "no item written");
    assert_eq!(e.index.sync(&e.store).unwrap().indexed, 0, "nothing to index");

    // A server without validators and the same content: fetched, but unchanged.
    server.route("/feed.xml", vec![Canned::ok("application/rss+xml", feed)]);
    let r3 = e.poller.poll(&e.cfg.sources[0], t0() + Duration::minutes(60)).await;
    assert_eq!((r3.status, r3.counts.unchanged, r3.counts.new, r3.counts.updated), (PollStatus::Ok, 2, 0, 0), "{r3:?}");
    assert_eq!(e.store.max_rev().unwrap(), rev1);

    // A changed item is updated in place, not duplicated, and re-indexed.
    let changed = rss(
        "县政府",
        &[
            item("关于做好政务公开工作的通知（修订）", "http://x.gov.cn/1", "依申请公开按时答复"),
            item("热线通报", "http://x.gov.cn/2", "办结率达98%"),
        ],
    );
    server.route("/feed.xml", vec![Canned::ok("application/rss+xml", changed)]);
    let r4 = e.poller.poll(&e.cfg.sources[0], t0() + Duration::minutes(90)).await;
    assert_eq!((r4.counts.updated, r4.counts.unchanged, r4.counts.new), (1, 1, 0), "{r4:?}");
    assert_eq!(e.store.count_items().unwrap(), 2);
    assert_eq!(e.index.sync(&e.store).unwrap().indexed, 1);
    let res = e.index.search(&SearchRequest::new("修订")).unwrap();
    assert_eq!(res.total, 1);
    assert_eq!(
        e.index.search(&SearchRequest::new("政务公开")).unwrap().total,
        1,
        "the old version is gone from the index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_page_and_feed_whose_header_and_declaration_disagree() {
    let server = TestServer::start();
    let gbk = |s: &str| encoding_rs::GB18030.encode(s).0.into_owned();
    // A column page in GBK that declares gb2312 in <meta>; the header names no charset.
    let page = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"></head><body><ul class=\"list\">\
        <li><a href=\"/tzgg/1.html\" title=\"关于开展政府信息公开工作社会评议的公告\">关于开展政府信息公开工作社会评议...</a><span>2026-11-12</span></li>\
        <li><a href=\"/tzgg/2.html\" title=\"镕铖堃：生僻字也要读对\">镕铖堃：生僻字也要读对</a><span>2026-11-10</span></li></ul></body></html>";
    server.route("/tzgg/", vec![Canned::ok("text/html", gbk(page))]);
    // A feed whose header says GBK and whose XML declaration says UTF-8; the bytes are GBK.
    let feed = rss("示范县", &[item("县政务公开办关于依申请公开工作的通报", "http://x.gov.cn/9", "办结率")]);
    server.route("/lying.xml", vec![Canned::ok("application/rss+xml; charset=GBK", gbk(&feed))]);
    // And the reverse: the header says UTF-8, the declaration GB2312; the bytes are GB2312.
    let feed2 = rss("示范县", &[item("关于调整冬季办公时间的通知", "http://x.gov.cn/10", "")])
        .replace("encoding=\"UTF-8\"", "encoding=\"gb2312\"");
    server.route("/lying2.xml", vec![Canned::ok("text/xml; charset=utf-8", gbk(&feed2))]);
    let sources = [
        support::source("col", "page", &server.url("/tzgg/"), ""),
        support::source("lying", "feed", &server.url("/lying.xml"), ""),
        support::source("lying2", "feed", &server.url("/lying2.xml"), ""),
    ]
    .concat();
    let e = env(&sources, |_| {});
    let srcs: Vec<_> = e.cfg.sources.iter().collect();
    let reports = e.poller.poll_all(&srcs, t0()).await;
    for r in &reports {
        assert_eq!(r.status, PollStatus::Ok, "{r:?}");
    }
    let items: Vec<_> = e.store.items_after_rev(0, 100).unwrap().into_iter().map(|r| r.item).collect();
    let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    assert!(titles.contains(&"关于开展政府信息公开工作社会评议的公告"), "{titles:?}");
    assert!(titles.contains(&"镕铖堃：生僻字也要读对"), "GBK-only characters survive (read as GB18030): {titles:?}");
    assert!(titles.contains(&"县政务公开办关于依申请公开工作的通报"), "{titles:?}");
    assert!(titles.contains(&"关于调整冬季办公时间的通知"), "{titles:?}");
    let col = items.iter().find(|i| i.source == "col").unwrap();
    assert!(col.link.as_deref().unwrap().starts_with(&server.url("/tzgg/")), "relative links resolve: {:?}", col.link);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_records_its_error_and_stops_nothing_else() {
    let server = TestServer::start();
    server
        .route("/good.xml", vec![Canned::ok("application/rss+xml", rss("好", &[item("正常条目", "http://x/1", "")]))]);
    server.route("/down.xml", vec![Canned::status(503)]);
    server.route(
        "/flaky.xml",
        vec![
            Canned::status(500),
            Canned::ok("application/rss+xml", rss("偶发", &[item("重试后成功", "http://x/2", "")])),
        ],
    );
    server.route("/gone.xml", vec![Canned::status(404)]);
    server.route("/html.xml", vec![Canned::ok("text/html", "<!DOCTYPE html><html><body>网站改版中</body></html>")]);
    let sources = [
        support::source("down", "feed", &server.url("/down.xml"), ""),
        support::source("good", "feed", &server.url("/good.xml"), ""),
        support::source("flaky", "feed", &server.url("/flaky.xml"), ""),
        support::source("gone", "feed", &server.url("/gone.xml"), ""),
        support::source("html", "feed", &server.url("/html.xml"), ""),
        support::source("refused", "feed", "http://127.0.0.1:9/feed.xml", ""),
    ]
    .concat();
    let e = env(&sources, |c| c.fetch.retries = 2);
    let srcs: Vec<_> = e.cfg.sources.iter().collect();
    let reports = e.poller.poll_all(&srcs, t0()).await;
    let by = |id: &str| reports.iter().find(|r| r.source == id).unwrap();
    assert_eq!(by("good").status, PollStatus::Ok);
    assert_eq!((by("flaky").status, by("flaky").counts.new), (PollStatus::Ok, 1), "5xx is retried within the poll");
    assert_eq!(server.seen("/flaky.xml").len(), 2);
    assert_eq!(server.seen("/down.xml").len(), 3, "one try and two retries");
    assert_eq!(server.seen("/gone.xml").len(), 1, "a 404 is not retried");
    let down = by("down");
    assert_eq!(down.status, PollStatus::Error);
    assert_eq!(down.error.as_deref(), Some(format!("{}：服务器返回 HTTP 503", server.url("/down.xml")).as_str()));
    assert!(by("html").error.as_deref().unwrap().contains("返回的是网页，不是订阅源"), "{:?}", by("html"));
    assert!(by("refused").error.as_deref().unwrap().contains("无法连接"), "{:?}", by("refused"));

    let h = e.store.health_of("down").unwrap().unwrap();
    assert_eq!((h.consecutive_failures, h.last_status.as_deref()), (1, Some("error")));
    let next = h.next_attempt().unwrap();
    assert_eq!(next, t0() + Duration::seconds(e.cfg.fetch.backoff_base_secs as i64));
    // Backoff doubles but is capped: a source is never parked for good.
    for _ in 0..30 {
        e.poller.poll(&e.cfg.sources[0], t0()).await;
    }
    let h = e.store.health_of("down").unwrap().unwrap();
    assert_eq!(h.consecutive_failures, 31);
    assert_eq!(h.next_attempt().unwrap(), t0() + Duration::seconds(e.cfg.fetch.backoff_max_secs as i64));
    // Recovery resets it.
    server
        .route("/down.xml", vec![Canned::ok("application/rss+xml", rss("恢复", &[item("恢复了", "http://x/3", "")]))]);
    assert_eq!(e.poller.poll(&e.cfg.sources[0], t0()).await.status, PollStatus::Ok);
    let h = e.store.health_of("down").unwrap().unwrap();
    assert_eq!((h.consecutive_failures, h.next_attempt()), (0, None));
    assert!(h.last_error.as_deref().unwrap().contains("503"), "the last error stays visible");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_size_limits_name_the_url() {
    let server = TestServer::start();
    server.route("/slow.xml", vec![Canned::ok("application/rss+xml", rss("慢", &[])).delay(3000)]);
    server.route("/big.xml", vec![Canned::ok("application/rss+xml", vec![b' '; 300_000])]);
    let sources = [
        support::source("slow", "feed", &server.url("/slow.xml"), ""),
        support::source("big", "feed", &server.url("/big.xml"), ""),
    ]
    .concat();
    let e = env(&sources, |c| {
        c.fetch.timeout_secs = 1;
        c.fetch.retries = 0;
        c.fetch.max_body_bytes = 100_000;
    });
    let started = std::time::Instant::now();
    let srcs: Vec<_> = e.cfg.sources.iter().collect();
    let reports = e.poller.poll_all(&srcs, t0()).await;
    assert!(started.elapsed() < std::time::Duration::from_millis(2900), "the timeout cut the slow server short");
    assert_eq!(
        reports[0].error.as_deref(),
        Some(format!("{}：1 秒内无响应（超时）", server.url("/slow.xml")).as_str())
    );
    assert_eq!(
        reports[1].error.as_deref(),
        Some(format!("{}：内容超过 100000 字节的上限（fetch.max_body_bytes）", server.url("/big.xml")).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_pages_follow_next_pages_and_entries_politely() {
    let server = TestServer::start();
    let list = |entries: &[(u32, &str)], next: Option<&str>| {
        let mut s = String::from("<html><body><ul class=\"news\">");
        for (n, title) in entries {
            s.push_str(&format!("<li><a href=\"/art/{n}.html\">{title}</a><span>2026-11-{:02}</span></li>", 10 + n));
        }
        s.push_str("</ul>");
        if let Some(n) = next {
            s.push_str(&format!("<div class=\"page\"><a href=\"{n}\">下一页</a></div>"));
        }
        s + "</body></html>"
    };
    server.route(
        "/col/index.html",
        vec![Canned::ok(
            "text/html; charset=utf-8",
            list(&[(1, "通知一"), (2, "通知二"), (3, "通知三")], Some("index_1.html")),
        )],
    );
    server.route(
        "/col/index_1.html",
        vec![Canned::ok(
            "text/html; charset=utf-8",
            list(&[(4, "通知四"), (5, "通知五"), (6, "通知六")], Some("index_2.html")),
        )],
    );
    server.route("/col/index_2.html", vec![Canned::ok("text/html; charset=utf-8", list(&[(7, "不该读到")], None))]);
    for n in 1..=6 {
        let detail = format!(
            "<html><head><meta name=\"ArticleTitle\" content=\"关于第{n}项工作的通知\"><meta name=\"PubDate\" content=\"2026-11-{:02} 10:30\">\
             <meta name=\"ContentSource\" content=\"县政府办公室\"></head><body><p>文号：示县政办发〔2026〕{n}号</p>\
             <div class=\"TRS_Editor\"><p>各乡镇：请做好第{n}项热线工单办理工作。</p></div></body></html>",
            10 + n
        );
        server.route(&format!("/art/{n}.html"), vec![Canned::ok("text/html; charset=utf-8", detail).delay(150)]);
    }
    let extra = "[sources.page]\nitem = \"ul.news li\"\npages = 2\nfollow = true\n";
    let e = env(&support::source("col", "page", &server.url("/col/index.html"), extra), |c| c.fetch.per_host = 2);
    let r = e.poller.poll(&e.cfg.sources[0], t0()).await;
    assert_eq!((r.status, r.counts.new, r.items_seen), (PollStatus::Ok, 6, 6), "{r:?}");
    assert!(server.seen("/col/index_2.html").is_empty(), "pages = 2 stops after two list pages");
    assert!(server.max_in_flight() <= 2, "per-host limit held: {}", server.max_in_flight());
    let items: Vec<_> = e.store.items_after_rev(0, 100).unwrap().into_iter().map(|r| r.item).collect();
    let third = items.iter().find(|i| i.link.as_deref() == Some(server.url("/art/3.html").as_str())).unwrap();
    assert_eq!(third.title, "关于第3项工作的通知");
    assert_eq!(third.published.unwrap().at.to_rfc3339(), "2026-11-13T10:30:00+08:00");
    assert_eq!(third.publisher.as_deref(), Some("县政府办公室"));
    assert_eq!(third.doc_no_norm.as_deref(), Some("示县政办发〔2026〕3号"));
    assert_eq!(third.text, "各乡镇：请做好第3项热线工单办理工作。");

    // The next poll does not fetch entry pages again and writes nothing.
    let before = server.seen("/art/3.html").len();
    let r = e.poller.poll(&e.cfg.sources[0], t0() + Duration::minutes(30)).await;
    assert_eq!((r.counts.unchanged, r.counts.new, r.counts.updated), (6, 0, 0), "{r:?}");
    assert_eq!(server.seen("/art/3.html").len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_that_stops_matching_is_a_health_error() {
    let server = TestServer::start();
    server.route(
        "/col/",
        vec![Canned::ok(
            "text/html; charset=utf-8",
            "<html><body><div class=\"newlist\"><p>改版后的页面</p></div></body></html>",
        )],
    );
    let e =
        env(&support::source("col", "page", &server.url("/col/"), "[sources.page]\nitem = \"ul.list li\"\n"), |_| {});
    let r = e.poller.poll(&e.cfg.sources[0], t0()).await;
    assert_eq!(r.status, PollStatus::Error);
    let expected = format!("选择器 \"ul.list li\"（page.item）在 {} 上没有匹配到任何内容", server.url("/col/"));
    assert_eq!(r.error.as_deref(), Some(expected.as_str()));
    let h = e.store.health_of("col").unwrap().unwrap();
    assert_eq!(h.last_error.as_deref(), Some(expected.as_str()));
}
