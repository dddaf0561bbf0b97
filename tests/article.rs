//! Article pages give their body, not their navigation (issue 16 item 8):
//! the real saved pages, and a column followed end to end.

use chrono::TimeZone;
use govwatch::config::PageConfig;
use govwatch::index::{SearchIndex, SearchRequest, WriterOptions};
use govwatch::normalize::time::china;
use govwatch::poll::Poller;
use govwatch::sources::{charset, page};
use govwatch::store::Store;
use scraper::{Html, Selector};
use std::sync::Arc;
use url::Url;

use crate::support::{self, Canned, TestServer};

fn read(path: &std::path::Path) -> String {
    charset::decode(&std::fs::read(path).unwrap(), Some("text/html")).text
}

/// The texts a page shows as links (its menus, its lists).
fn link_texts(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let a = Selector::parse("a").unwrap();
    doc.select(&a)
        .map(|e| e.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| t.chars().count() >= 2)
        .collect()
}

/// Every saved page of the shared data, read as an article page with the
/// default settings: what comes out is prose or nothing — never a line that
/// the page shows as a link. The 邯郸 detail page was saved without its body
/// (the article is not in the file): it gives none, where the generic
/// `.content` container gave its whole menu (网站首页 走进邯郸 市长之窗 … 清晨热线).
#[test]
fn every_saved_page_gives_its_prose_or_nothing_never_its_menu() {
    let Some(dir) = support::shared("data/gov-html") else { return };
    let sel = page::Selectors::new(&PageConfig::default()).unwrap();
    let mut pages = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "html") {
            continue;
        }
        pages += 1;
        let html = read(&path);
        let d = page::parse_detail(&html, Url::parse("http://www.example.gov.cn/a/1.html").ok().as_ref(), &sel);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(text) = &d.text {
            let links = link_texts(&html);
            for line in text.lines() {
                assert!(
                    !links.iter().any(|l| l == line.trim()),
                    "{name}: the link text {line:?} came out as body:\n{text}"
                );
            }
        }
        if name == "handan_hdzfxxgk_detail.html" {
            assert_eq!(d.text, None, "{name}: a page with no article has no body");
            assert!(d.links.is_empty(), "{name}: no menu links as body links: {:?}", d.links);
            // Its metadata still comes from the page's fields.
            assert_eq!(d.publisher.as_deref(), Some("邯郸市教育局"));
        }
    }
    assert_eq!(pages, 5, "the five saved pages");
}

/// A column followed end to end (list → entry pages over loopback HTTP →
/// store → index): one entry is the real 邯郸 detail page, the other a body
/// in a container no CMS list knows (the 两江新区 layout, `div.zwxl-main`).
/// `热线` must not find the 邯郸 page through its menu's 清晨热线; the other
/// page's body is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_article_page_is_indexed_by_its_body_not_its_menu() {
    let Some(dir) = support::shared("data/gov-html") else { return };
    let server = TestServer::start();
    let list = "<html><body><ul class=\"list\">\
        <li><a href=\"/art/1.html\">邯郸市教育局关于印发《全市教育系统安全专项整治三年行动实施方案》的通知</a><span>2020-08-02</span></li>\
        <li><a href=\"/art/2.html\">关于两江新区2020年第一批拟入库科技型企业的公示</a><span>2020-05-11</span></li>\
        </ul></body></html>";
    server.route("/col/", vec![Canned::ok("text/html; charset=utf-8", list)]);
    let handan = std::fs::read(dir.join("handan_hdzfxxgk_detail.html")).unwrap();
    server.route("/art/1.html", vec![Canned::ok("text/html; charset=utf-8", handan)]);
    let liangjiang = r#"<html><body>
        <div class="top"><a href="/">首页</a><a href="/zwgk/">政务公开</a><a href="/hdjl/">12345热线</a></div>
        <div class="zwxl-left"><ul><li><a href="/1">两江新区政务服务热线运行情况</a></li><li><a href="/2">两江新区2019年政府信息公开工作年度报告</a></li></ul></div>
        <div class="zwxl-main"><h1>关于两江新区2020年第一批拟入库科技型企业的公示</h1>
          <p>根据《重庆市科技型企业认定管理办法》，经企业申报、区县初审，现将拟入库科技型企业名单予以公示。</p>
          <p>公示期为5个工作日。如有异议，请于公示期内以书面形式反映。</p></div>
        <div class="footer">主办单位：重庆两江新区管理委员会</div></body></html>"#;
    server.route("/art/2.html", vec![Canned::ok("text/html; charset=utf-8", liangjiang)]);

    let tmp = tempfile::tempdir().unwrap();
    let extra = "[sources.page]\nitem = \"ul.list li\"\nfollow = true\n";
    let toml = format!("{}{}", support::UNITS, support::source("col", "page", &server.url("/col/"), extra));
    let cfg = support::config(&toml, tmp.path());
    let store = Arc::new(Store::open(&tmp.path().join("var")).unwrap());
    let index =
        SearchIndex::open(&tmp.path().join("index"), WriterOptions { threads: 1, heap_bytes: 32 << 20 }).unwrap();
    let poller = Poller::new(&cfg, store.clone()).unwrap();
    let report = poller.poll(&cfg.sources[0], china().with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()).await;
    assert_eq!((report.error.as_deref(), report.counts.new), (None, 2), "{report:?}");
    index.sync(&store).unwrap();

    let found = |q: &str| -> Vec<String> {
        index.search(&SearchRequest::new(q)).unwrap().hits.into_iter().map(|h| h.title).collect()
    };
    assert_eq!(found("热线"), Vec::<String>::new(), "menus and link lists are not the body");
    assert_eq!(found("走进邯郸"), Vec::<String>::new());
    assert_eq!(found("年度报告"), Vec::<String>::new());
    assert_eq!(found("书面形式"), vec!["关于两江新区2020年第一批拟入库科技型企业的公示".to_string()]);
    // The 邯郸 page is still there, found by its title.
    assert_eq!(found("安全专项整治").len(), 1);
}
