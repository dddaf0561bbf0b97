//! Issue 18, items 1–3 and 7 (fetching): what a remote document says cannot
//! make govwatch read a local file, connect to a private or metadata
//! address, overflow its stack, flood its log or hammer a server that asked
//! for rest. Real servers on loopback; the hostile inputs are in
//! `support::hostile_fetch`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, TimeZone};
use govwatch::config::Config;
use govwatch::normalize::time::china;
use govwatch::poll::{PollReport, PollStatus, Poller};
use govwatch::store::Store;

use crate::support::daemon::{Daemon, Options};
use crate::support::hostile_fetch as hostile;
use crate::support::{self, Canned, TestServer, rss};

struct Env {
    dir: tempfile::TempDir,
    cfg: Config,
    store: Arc<Store>,
    poller: Poller,
}

fn env(sources: &str, tweak: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = support::config(&format!("{}{sources}", support::UNITS), dir.path());
    tweak(&mut cfg);
    let store = Arc::new(Store::open(&cfg.storage.data_dir).unwrap());
    let poller = Poller::new(&cfg, store.clone()).unwrap();
    Env { dir, cfg, store, poller }
}

impl Env {
    async fn poll_all(&self) -> Vec<PollReport> {
        let srcs: Vec<_> = self.cfg.sources.iter().collect();
        self.poller.poll_all(&srcs, t0()).await
    }

    fn items(&self) -> Vec<govwatch::model::Item> {
        self.store.items_after_rev(0, 10_000).unwrap().into_iter().map(|r| r.item).collect()
    }
}

fn t0() -> DateTime<FixedOffset> {
    china().with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

fn report<'a>(reports: &'a [PollReport], id: &str) -> &'a PollReport {
    reports.iter().find(|r| r.source == id).unwrap_or_else(|| panic!("no report for {id}: {reports:#?}"))
}

/// A part of `hostile_fetch::SECRET` (the local file's content).
const MARK: &str = "GOVWATCH-SECRET-4711";

/// Nothing stored (title, text) or reported (warnings, errors) carries the secret.
fn assert_secret_kept(items: &[govwatch::model::Item], reports: &[PollReport]) {
    for i in items {
        assert!(!i.text.contains(MARK) && !i.title.contains(MARK), "leaked into {i:#?}");
    }
    let all = format!("{reports:?}");
    assert!(!all.contains(MARK), "{all}");
}

/// Issue 18 item 1: `/etc/passwd` behind a column page's `file:///` links
/// was read, stored and shown to every officer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_page_linking_local_files_reads_none_of_them() {
    let server = TestServer::start();
    let files = tempfile::tempdir().unwrap();
    let sources = hostile::install_file_links(&server, files.path());
    let e = env(&sources, |_| {});
    let reports = e.poll_all().await;
    let items = e.items();
    assert_secret_kept(&items, &reports);
    for id in ["files", "files-based", "files-feed"] {
        assert_eq!(report(&reports, id).status, PollStatus::Ok, "{reports:#?}");
    }
    let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
    assert!(titles.contains(&"指向本地文件的条目"), "the entry stays, without its local link: {titles:?}");
    assert!(!titles.contains(&"本地下一页的条目"), "a 下一页 of file:// was read: {titles:?}");
    let redirected = report(&reports, "files");
    assert!(
        redirected.warnings.iter().any(|w| w.contains("拒绝访问") && w.contains("passwd")),
        "the redirect to a local file is refused and said: {:#?}",
        redirected.warnings
    );
    for i in &items {
        assert!(!i.link.as_deref().unwrap_or("").starts_with("file:"), "a remote page named a local file: {i:#?}");
    }
    assert!(
        redirected.warnings.iter().any(|w| w.contains("2 个链接指向本机文件")),
        "the entry's and the 下一页's file links are dropped and said: {:#?}",
        redirected.warnings
    );
    let feed_item = items.iter().find(|i| i.source == "files-feed").unwrap();
    assert_eq!(feed_item.link, None, "a feed's file:// link is no link");
}

/// Issue 18 item 1, the other side: a source whose own url is a local file
/// (the demo's) follows its own folder's links, and nothing outside it:
/// not `../`, not an absolute `file:///`, not a symbolic link leading out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_source_reads_only_its_own_folder() {
    let outside = tempfile::tempdir().unwrap();
    let secret = hostile::secret_file(outside.path());
    let site = tempfile::tempdir().unwrap();
    let col = site.path().join("col");
    std::fs::create_dir(&col).unwrap();
    std::fs::write(col.join("t1.html"), hostile::entry_page("本栏目自己的正文")).unwrap();
    std::os::unix::fs::symlink(&secret, col.join("link.html")).unwrap();
    let rel_out = format!("../../{}/passwd", outside.path().file_name().unwrap().to_string_lossy());
    let page = hostile::list_page(
        &[
            ("t1.html", "本地正文"),
            (&rel_out, "相对路径指向文件夹外"),
            (&hostile::file_url(&secret), "绝对路径指向文件夹外"),
            ("link.html", "符号链接指向文件夹外"),
        ],
        None,
        "",
    );
    let index = col.join("index.html");
    std::fs::write(&index, page).unwrap();
    let e = env(&support::source("local", "page", index.to_str().unwrap(), hostile::FOLLOW_BODY), |_| {});
    let reports = e.poll_all().await;
    let items = e.items();
    assert_secret_kept(&items, &reports);
    let own = items.iter().find(|i| i.title == "本地正文").unwrap();
    assert_eq!(own.text, "本栏目自己的正文", "links inside the folder are followed");
    let refused =
        reports[0].warnings.iter().filter(|w| w.contains("拒绝访问") && w.contains("不在数据源所在的文件夹")).count();
    assert_eq!(refused, 3, "{:#?}", reports[0].warnings);
    drop(e.dir);
}

/// Issue 18 item 2: a followed link, a 下一页 and a redirect to another
/// private address (here 127.0.0.2, loopback but not the source's host), and
/// a redirect to the metadata address, are refused before connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_redirects_to_private_addresses_are_refused_before_connecting() {
    let server = TestServer::start();
    let victim = TestServer::start_on("127.0.0.2");
    let sources = hostile::install_private_links(&server, &victim);
    let e = env(&sources, |_| {});
    let reports = e.poll_all().await;
    assert!(victim.seen_all().is_empty(), "connected to the private address: {:?}", victim.seen_all());
    assert_secret_kept(&e.items(), &reports);

    let col = report(&reports, "private");
    assert_eq!(col.status, PollStatus::Ok, "{col:#?}");
    let refused = format!("拒绝访问 {}", victim.url("/secret.html"));
    assert!(
        col.warnings.iter().any(|w| w.contains(&refused) && w.contains("本机回环地址")),
        "the warning names the refused URL and why: {:#?}",
        col.warnings
    );
    assert!(col.warnings.iter().any(|w| w.contains(&victim.url("/list2.html"))), "{:#?}", col.warnings);

    let redirect = report(&reports, "private-redirect");
    assert_eq!(redirect.status, PollStatus::Error);
    let error = redirect.error.as_deref().unwrap();
    assert!(error.starts_with(&format!("拒绝访问 {}", victim.url("/feed.xml"))), "{error}");
    let metadata = report(&reports, "private-metadata").error.as_deref().unwrap();
    assert!(metadata.contains("169.254.169.254") && metadata.contains("链路本地"), "{metadata}");
    let h = e.store.health_of("private-redirect").unwrap().unwrap();
    assert!(h.last_error.as_deref().unwrap().contains("拒绝访问"), "the refusal is the source's health error");
}

/// A host name is checked by what it resolves to, and the connection goes
/// to the address checked: `localhost` from a page on 127.0.0.2 is refused.
/// With `fetch.allow_private` naming the address, the link is followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_resolving_to_a_private_address_is_refused_unless_allowed() {
    let source = TestServer::start_on("127.0.0.2");
    let victim = TestServer::start();
    victim.route("/secret.html", vec![Canned::ok("text/html; charset=utf-8", hostile::entry_page("内网正文"))]);
    let link = format!("http://localhost:{}/secret.html", victim.addr.port());
    let page = hostile::list_page(&[(&link, "经主机名指向本机的条目")], None, "");
    source.route("/col/", vec![Canned::ok("text/html; charset=utf-8", page)]);
    let src = support::source("named", "page", &source.url("/col/"), hostile::FOLLOW_BODY);

    let e = env(&src, |_| {});
    let r = e.poll_all().await;
    assert!(victim.seen_all().is_empty(), "{:?}", victim.seen_all());
    assert!(
        r[0].warnings.iter().any(|w| w.contains(&format!("拒绝访问 {link}")) && w.contains("localhost 解析为")),
        "{:#?}",
        r[0].warnings
    );

    let e = env(&src, |c| c.fetch.allow_private = vec!["127.0.0.1".into(), "::1".into()]);
    let r = e.poll_all().await;
    assert_eq!(victim.seen("/secret.html").len(), 1, "allowed: {:#?}", r[0]);
    assert_eq!(e.items()[0].text, "内网正文");
}

/// The link checker checks what pages link: a page's link to a private
/// address is reported, not requested; a link to the portal's own host is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_checker_does_not_reach_private_addresses() {
    let server = TestServer::start();
    let victim = TestServer::start_on("127.0.0.2");
    victim.route("/attach.pdf", vec![Canned::ok("application/pdf", "x")]);
    server.route("/ok.html", vec![Canned::ok("text/html", "ok")]);
    let entry = format!(
        "<html><body><div class=\"body\"><p>附件：<a href=\"{}\">下载</a> <a href=\"{}\">原文</a> <a href=\"http://169.254.169.254/latest/\">元数据</a></p></div></body></html>",
        victim.url("/attach.pdf"),
        server.url("/ok.html")
    );
    server.route("/col/1.html", vec![Canned::ok("text/html; charset=utf-8", entry)]);
    server.route(
        "/col/",
        vec![Canned::ok("text/html; charset=utf-8", hostile::list_page(&[("1.html", "带附件的通知")], None, ""))],
    );
    let e = env(&support::source("col", "page", &server.url("/col/"), hostile::FOLLOW_BODY), |_| {});
    let reports = e.poll_all().await;
    assert_eq!(reports[0].status, PollStatus::Ok, "{reports:#?}");
    let r = govwatch::linkcheck::run(&e.cfg, e.store.clone(), t0(), |_, _| {}).await.unwrap();
    assert!(victim.seen_all().is_empty(), "the link checker connected: {:?}", victim.seen_all());
    assert_eq!(server.seen("/ok.html").len(), 1, "the portal's own host is checked");
    // The entry page itself and the portal's other page are alive; the two private links failed unasked.
    assert_eq!((r.checked, r.alive, r.failed), (4, 2, 2), "{r:?}");
}

/// Issue 18 item 7: `Retry-After: 3600` was capped to 60 s and the server
/// asked again within the poll. Now the poll ends at once and the source's
/// next attempt waits the hour (bounded by `fetch.retry_after_max_secs`);
/// a short Retry-After is waited for within the poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_up_to_the_configured_maximum() {
    let server = TestServer::start();
    server.route("/busy.xml", vec![Canned::status(503).header("retry-after", "3600")]);
    server.route("/capped.xml", vec![Canned::status(429).header("retry-after", "86400")]);
    server.route(
        "/short.xml",
        vec![
            Canned::status(503).header("retry-after", "1"),
            Canned::ok(
                "application/rss+xml",
                rss("稍后", &[("稍后成功".into(), "http://x/1".into(), "".into(), "2026-11-20".into())]),
            ),
        ],
    );
    let sources = [
        support::source("busy", "feed", &server.url("/busy.xml"), ""),
        support::source("capped", "feed", &server.url("/capped.xml"), ""),
        support::source("short", "feed", &server.url("/short.xml"), ""),
    ]
    .concat();
    let e = env(&sources, |c| {
        c.fetch.retries = 2;
        c.fetch.retry_after_max_secs = 7200;
    });
    let started = Instant::now();
    let reports = e.poll_all().await;
    assert!(started.elapsed() < Duration::from_secs(30), "no minute-long waits: {:?}", started.elapsed());
    assert_eq!(server.seen("/busy.xml").len(), 1, "not asked again within the poll");
    let busy = report(&reports, "busy");
    assert_eq!(busy.status, PollStatus::Error);
    assert!(busy.error.as_deref().unwrap().contains("3600 秒后再试"), "{busy:?}");
    let next = |id: &str| e.store.health_of(id).unwrap().unwrap().next_attempt().unwrap();
    assert_eq!(next("busy"), t0() + chrono::Duration::seconds(3600));
    assert_eq!(next("capped"), t0() + chrono::Duration::seconds(7200), "bounded by fetch.retry_after_max_secs");
    assert!(report(&reports, "capped").error.as_deref().unwrap().contains("retry_after_max_secs"));
    let short = report(&reports, "short");
    assert_eq!((short.status, short.counts.new), (PollStatus::Ok, 1), "{short:?}");
    let seen = server.seen("/short.xml");
    assert_eq!(seen.len(), 2);
}

/// Issue 18 item 7: a feed mixing UTF-8 and GBK bytes decoded wholly as
/// GB18030 (`正常` → `姝ｅ父`). Each part is read in its own charset, and
/// the poll report says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_mixing_utf8_and_gbk_is_read_part_by_part() {
    let server = TestServer::start();
    server.route("/mixed.xml", vec![Canned::ok("application/rss+xml; charset=gbk", hostile::mixed_charset_feed())]);
    let e = env(&support::source("mixed", "feed", &server.url("/mixed.xml"), ""), |_| {});
    let reports = e.poll_all().await;
    assert_eq!(reports[0].status, PollStatus::Ok, "{reports:#?}");
    let titles: Vec<String> = e.items().into_iter().map(|i| i.title).collect();
    assert!(titles.contains(&"网站运行正常".to_string()), "{titles:?}");
    assert!(titles.contains(&"关于做好政务公开工作的通知".to_string()), "{titles:?}");
    assert!(
        reports[0].warnings.iter().any(|w| w.contains("UTF-8") && w.contains("GB18030")),
        "{:#?}",
        reports[0].warnings
    );
}

/// Issue 18 item 3 (and 7's log noise): 20,000 nested `<div>`s in a feed
/// description aborted `govwatch run` 0.8 s after start, every start. The
/// daemon stays up, answers /healthz, stores the healthy source's items and
/// the deep ones' text, and logs no html5ever noise.
#[test]
fn nested_html_does_not_kill_the_daemon() {
    let server = TestServer::start();
    let good =
        rss("县政府", &[("正常的通知".into(), "http://x.gov.cn/ok".into(), "依申请公开".into(), "2026-11-20".into())]);
    server.route("/good.xml", vec![Canned::ok("application/rss+xml", good)]);
    let sources =
        [support::source("good", "feed", &server.url("/good.xml"), ""), hostile::install_deep_html(&server)].concat();
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("govwatch.toml");
    std::fs::write(&cfg_path, format!("{}{sources}", support::UNITS)).unwrap();
    let mut d = Daemon::spawn(&Options { config: &cfg_path, state: dir.path(), env: vec![] });
    d.ready(Duration::from_secs(120));
    for id in ["good", "deep-feed", "deep-page", "foster"] {
        d.wait_log(&format!("source={id} status=Ok"), Duration::from_secs(60));
    }
    let (status, _, body) = d.get("/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon is up:\n{}", d.log());
    d.stop(Duration::from_secs(20));
    let log = d.log();
    assert!(!log.contains("foster parenting"), "html5ever's noise reached the log");

    let store = Store::open(&dir.path().join("var")).unwrap();
    let items: Vec<_> = store.items_after_rev(0, 100).unwrap().into_iter().map(|r| r.item).collect();
    let text_of = |title: &str| items.iter().find(|i| i.title == title).map(|i| i.text.clone());
    assert_eq!(text_of("正常的通知").as_deref(), Some("依申请公开"), "{items:#?}");
    assert_eq!(text_of("两万层嵌套的条目").as_deref(), Some("嵌套正文"));
    assert_eq!(text_of("正文两万层嵌套的条目").as_deref(), Some("深层正文"));
    assert!(text_of("表格之后的条目").is_some());
    let h = store.health_of("deep-page").unwrap().unwrap();
    assert_eq!(h.consecutive_failures, 0);
}
