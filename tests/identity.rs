//! Item identity on real material: documents that share a feed's guid and
//! link, or a column list's link, are each stored; polling twice writes
//! nothing; the poll report counts the collisions and says so in Chinese.

use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use govwatch::config::Config;
use govwatch::normalize::time::china;
use govwatch::poll::{PollStatus, Poller};
use govwatch::store::Store;

use crate::support::{self, Canned, TestServer};

struct Env {
    _dir: tempfile::TempDir,
    cfg: Config,
    store: Arc<Store>,
    poller: Poller,
}

fn env(sources: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(&format!("{}{sources}", support::UNITS), dir.path());
    let store = Arc::new(Store::open(&cfg.storage.data_dir).unwrap());
    let poller = Poller::new(&cfg, store.clone()).unwrap();
    Env { _dir: dir, cfg, store, poller }
}

fn t0() -> DateTime<FixedOffset> {
    china().with_ymd_and_hms(2026, 4, 16, 9, 0, 0).unwrap()
}

/// The real Shenzhen policy feed (166 items) gives ten different documents of
/// 南山区企业服务 one guid and one link, the column page
/// `https://www.inanshan.org.cn/ztfw/zcfw/zchj`. Every one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shenzhen_documents_sharing_a_guid_and_link_are_all_stored() {
    let Some(path) = support::shared("data/feeds/generated-gov/sz-gov-rss_shenzhen-policy.xml") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let server = TestServer::start();
    server.route("/sz.xml", vec![Canned::ok("application/rss+xml", bytes)]);
    let e = env(&support::source("sz", "feed", &server.url("/sz.xml"), ""));
    let r = e.poller.poll(&e.cfg.sources[0], t0()).await;
    assert_eq!(r.status, PollStatus::Ok, "{r:?}");
    assert_eq!((r.items_seen, r.counts.new, r.collisions, r.duplicates), (166, 166, 10, 0), "{r:?}");
    assert_eq!(e.store.count_items().unwrap(), 166, "every distinct document stored");
    let hint = r.warnings.iter().find(|w| w.contains("共用同一标识")).expect("a hint about the shared identifier");
    assert!(hint.contains("10 条不同的信息") && hint.contains("https://www.inanshan.org.cn/ztfw/zcfw/zchj"), "{hint}");
    assert!(hint.contains("按标题和发布日期分别保存"), "the hint says how they are told apart: {hint}");
    assert!(!r.warnings.iter().any(|w| w.contains("told apart by their links")), "{:?}", r.warnings);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!((json["collisions"].as_u64(), json["duplicates"].as_u64()), (Some(10), Some(0)), "poll --json");
    // The two 六个一 notices share a title but not a date: two documents.
    let items: Vec<_> = e.store.items_after_rev(0, 1000).unwrap().into_iter().map(|r| r.item).collect();
    let six = items.iter().filter(|i| i.title.contains("南山区支持创新创业“六个一”行动方案")).count();
    assert_eq!(six, 2);

    // The same feed again writes nothing.
    let rev = e.store.max_rev().unwrap();
    let r = e.poller.poll(&e.cfg.sources[0], t0() + Duration::minutes(30)).await;
    assert_eq!((r.counts.new, r.counts.updated, r.counts.unchanged), (0, 0, 166), "{r:?}");
    assert_eq!(e.store.max_rev().unwrap(), rev);
}

/// A column list that links two different notices to one URL (the list's own
/// page, as some CMS templates do for entries without a page) and lists a
/// pinned notice twice. Written for govwatch after the shape of the
/// Shenzhen feed's entries; the titles are the feed's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_list_with_a_link_twice_keeps_both_documents() {
    let server = TestServer::start();
    let list = r#"<html><body><ul class="news">
        <li><a href="/zchj/">深圳市南山区人民政府关于印发《南山区股份合作公司综合监管办法》的通知</a><span>2025-09-29</span></li>
        <li><a href="/art/1.html">关于申报2026年度科技企业“贴息券”项目的通知</a><span>2026-04-09</span></li>
        <li><a href="/zchj/">深圳市南山区人民政府关于印发《南山区支持产业发展“六个券”行动方案》的通知</a><span>2025-11-20</span></li>
        <li><a href="/art/1.html">关于申报2026年度科技企业“贴息券”项目的通知</a><span>2026-04-09</span></li>
        </ul></body></html>"#;
    server.route("/col/", vec![Canned::ok("text/html; charset=utf-8", list)]);
    let e = env(&support::source("col", "page", &server.url("/col/"), "[sources.page]\nitem = \"ul.news li\"\n"));
    let r = e.poller.poll(&e.cfg.sources[0], t0()).await;
    assert_eq!((r.status, r.items_seen, r.counts.new), (PollStatus::Ok, 4, 3), "{r:?}");
    assert_eq!((r.collisions, r.duplicates), (2, 1), "{r:?}");
    assert!(r.warnings.iter().any(|w| w.contains("重复列出")), "{:?}", r.warnings);
    let r = e.poller.poll(&e.cfg.sources[0], t0() + Duration::minutes(30)).await;
    assert_eq!((r.counts.new, r.counts.updated, r.counts.unchanged), (0, 0, 3), "{r:?}");
}
