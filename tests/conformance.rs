//! Real material from ../shared/data: feed-parser conformance cases, real
//! government feeds, and saved government list and article pages. Each test
//! says "NOT RUN" when the shared data is absent.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Timelike};
use govwatch::config::PageConfig;
use govwatch::model::{ItemKind, Level, Precision, Role};
use govwatch::normalize::{SourceInfo, time, to_item};
use govwatch::sources::charset;
use govwatch::sources::feed::{self, FeedOutput};
use govwatch::sources::page::{self, Selectors};
use url::Url;

use crate::support;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// The `Header: Content-type: …` line of a feedparser case, if any.
fn header_content_type(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().find_map(|l| l.trim().strip_prefix("Header:").map(str::trim)).and_then(|h| {
        let (k, v) = h.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-type").then(|| v.trim().to_string())
    })
}

fn parse_file(path: &Path) -> Result<FeedOutput, String> {
    let bytes = std::fs::read(path).unwrap();
    let ct = header_content_type(&bytes);
    let base = Url::parse("http://conformance.test/feed.xml").unwrap();
    match std::panic::catch_unwind(|| feed::parse(&bytes, ct.as_deref(), Some(&base))) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => panic!("{}: the parser panicked", path.display()),
    }
}

#[test]
fn every_conformance_case_parses_or_fails_with_a_clear_error() {
    let Some(root) = support::shared("data/feed-conformance") else { return };
    let mut parsed = 0;
    let mut errors = Vec::new();
    for dir in ["feedparser", "feed-rs", "w3c-feedvalidator"] {
        for f in files(&root.join(dir)).into_iter().filter(|f| f.extension().is_some_and(|e| e == "xml")) {
            match parse_file(&f) {
                Ok(_) => parsed += 1,
                Err(e) => {
                    assert!(e.len() > 10, "{}: unclear error {e:?}", f.display());
                    errors.push(format!("{}: {e}", f.file_name().unwrap().to_string_lossy()));
                }
            }
        }
    }
    eprintln!("{parsed} cases parsed; {} gave errors:\n  {}", errors.len(), errors.join("\n  "));
    assert!(parsed >= 60, "only {parsed} cases parsed");
    // Broken documents are errors, not empty successes.
    let fp = root.join("feedparser");
    assert!(parse_file(&fp.join("illformed__rss_empty_document.xml")).is_err());
    assert!(parse_file(&fp.join("illformed__aaa_illformed.xml")).is_err());
}

#[test]
fn chinese_and_unicode_encodings_decode() {
    let Some(root) = support::shared("data/feed-conformance/feedparser") else { return };
    let out = parse_file(&root.join("illformed__chardet__gb2312.xml")).unwrap();
    assert_eq!(out.items[0].title, "不归移民漫画系列：专业工作", "GB2312 with no encoding information");
    assert!(
        parse_file(&root.join("encoding__http_application_atom_xml_gb2312_charset_overrides_encoding.xml")).is_ok()
    );
    // Empty <rss></rss> documents in several encodings: decoded, then refused clearly.
    for f in ["encoding__utf-8-bom.xml", "encoding__utf-16le-bom.xml", "encoding__big5.xml"] {
        let bytes = std::fs::read(root.join(f)).unwrap();
        assert!(charset::decode(&bytes, None).text.starts_with("<?xml"), "{f}");
        assert_eq!(parse_file(&root.join(f)).unwrap_err(), "不是订阅源（RSS/Atom）：<rss> 元素中没有 <channel>", "{f}");
    }
    // The header's charset overrides the XML declaration, and GB2312 is read as GB18030.
    let bytes =
        std::fs::read(root.join("encoding__http_application_atom_xml_gb2312_charset_overrides_encoding.xml")).unwrap();
    let d = charset::decode(&bytes, header_content_type(&bytes).as_deref());
    assert_eq!(d.encoding.name(), "UTF-8", "the bytes are ASCII, hence valid UTF-8: {:?}", d.warnings);
    // An item with nothing but a date is skipped, and the warning says so.
    let only_date = parse_file(&root.join("wellformed__rss__item_pubDate.xml")).unwrap();
    assert!(only_date.items.is_empty());
    assert!(only_date.warnings.iter().any(|w| w == "第 1 条没有标题、链接和正文，已跳过"), "{:?}", only_date.warnings);
}

/// feed-rs ships expected output for its fixtures: titles and links must agree.
#[test]
fn feed_rs_fixtures_agree_with_their_expected_output() {
    let Some(root) = support::shared("data/feed-conformance/feed-rs") else { return };
    let mut compared = 0;
    for json in files(&root).into_iter().filter(|f| f.to_string_lossy().ends_with(".serde.json")) {
        let xml = PathBuf::from(json.to_string_lossy().replace(".serde.json", ".xml"));
        let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let bytes = std::fs::read(&xml).unwrap();
        let out = feed::parse(&bytes, None, None).unwrap_or_else(|e| panic!("{}: {e}", xml.display()));
        let entries = expected["entries"].as_array().unwrap();
        assert_eq!(out.items.len(), entries.len(), "{}", xml.display());
        for (got, want) in out.items.iter().zip(entries) {
            let title = want["title"]["content"].as_str().unwrap_or("");
            assert_eq!(got.title, govwatch::normalize::html::tidy_text(title), "{}", xml.display());
            if let Some(href) = want["links"].as_array().and_then(|l| l.first()).and_then(|l| l["href"].as_str()) {
                let want_link = govwatch::normalize::canonical_link(None, href);
                assert_eq!(got.link, want_link, "{}", xml.display());
            }
            if let Some(p) = want["published"].as_str().or(want["updated"].as_str()) {
                let want_at = chrono::DateTime::parse_from_rfc3339(p).unwrap();
                assert_eq!(got.published.map(|p| p.at), Some(want_at), "{}", xml.display());
            }
            compared += 1;
        }
    }
    assert!(compared >= 10, "compared only {compared} entries");
}

#[test]
fn w3c_dates_reject_impossible_days_and_read_cst_as_china() {
    let Some(root) = support::shared("data/feed-conformance/w3c-feedvalidator") else { return };
    let read = |name: &str, tag: &str| -> String {
        let t = std::fs::read_to_string(root.join(name)).unwrap();
        let open = format!("<{tag}>");
        let from = t.rfind(&open).unwrap() + open.len();
        t[from..from + t[from..].find('<').unwrap()].to_string()
    };
    let cst = time::parse(&read("rss20__data-types-datetime__pubdate_cst.xml", "pubDate")).unwrap();
    assert_eq!(cst.at.to_rfc3339(), "2002-12-31T14:20:20+08:00");
    for (name, tag) in [
        ("rss20__data-types-datetime__invalid_pubdate_day.xml", "pubDate"),
        ("atom__3.3__published_bad_day.xml", "published"),
    ] {
        assert_eq!(time::parse(&read(name, tag)), None, "{name}");
    }
    // Lenient where Chinese sites need it: a date alone, a space instead of T.
    assert!(time::parse(&read("atom__3.3__published_date_only.xml", "published")).is_some());
    assert!(time::parse(&read("atom__3.3__published_no_t.xml", "published")).is_some());
}

#[test]
fn real_government_feeds_come_out_right() {
    let Some(dir) = support::shared("data/feeds/generated-gov") else { return };
    let src = SourceInfo { id: "s", unit: "u", kind: ItemKind::Feed, role: Role::Superior, level: Level::City };
    let now = time::china().from_utc_datetime(&chrono::Utc::now().naive_utc());
    for (file, count) in [("sh-gov-rss_shanghai-policy.xml", 47), ("sz-gov-rss_shenzhen-policy.xml", 166)] {
        let out = parse_file(&dir.join(file)).unwrap();
        assert_eq!(out.items.len(), count, "{file}");
        let mut with_doc_no = 0;
        for it in &out.items {
            assert!(it.title.chars().any(govwatch::normalize::text::is_han), "{file}: {:?}", it.title);
            assert!(!it.title.contains('<') && !it.text.contains("<br"), "{file}: markup left in {:?}", it.title);
            let link = it.link.as_deref().unwrap();
            assert!(link.starts_with("http://") || link.starts_with("https://"), "{file}: {link}");
            let p = it.published.unwrap_or_else(|| panic!("{file}: {} has no date", it.title));
            assert_eq!(p.at.offset().local_minus_utc(), 8 * 3600, "{file}: {}", p.at);
            assert_eq!(p.at.time().num_seconds_from_midnight(), 0, "{file}: these feeds give dates");
            if file.starts_with("sh") {
                assert_eq!(p.precision, Precision::Date, "00:00:00 +0000 is a Beijing date");
            }
            // Found as the item's own or as one it cites (which is which:
            // `own_docnos.rs`, against numbers written by hand).
            let refs = to_item(src, it.clone(), now).refs;
            if refs.own_doc_no.is_some() || !refs.doc_nos.is_empty() {
                with_doc_no += 1;
            }
        }
        assert!(with_doc_no >= count / 5, "{file}: 文号 found in only {with_doc_no} items");
        // The calendar date is the one the feed wrote, not shifted by eight hours.
        let raw = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut written: Vec<String> = raw
            .split("<item>")
            .skip(1)
            .map(|it| {
                let from = it.find("<pubDate>").unwrap() + "<pubDate>".len();
                let w = &it[from..from + it[from..].find('<').unwrap()];
                chrono::DateTime::parse_from_rfc2822(w).unwrap().format("%Y-%m-%d").to_string()
            })
            .collect();
        let mut ours: Vec<String> =
            out.items.iter().map(|i| i.published.unwrap().at.format("%Y-%m-%d").to_string()).collect();
        written.sort();
        ours.sort();
        assert_eq!(ours, written, "{file}");
    }
}

#[test]
fn mis_encoded_fragments_are_flagged_not_fatal() {
    let Some(dir) = support::shared("data/feeds/issue-fragments") else { return };
    for f in files(&dir) {
        let r = parse_file(&f);
        if let Err(e) = &r {
            assert!(e.len() > 10, "{}: {e}", f.display());
        }
        if f.to_string_lossy().contains("replacement-chars") {
            let bytes = std::fs::read(&f).unwrap();
            let text = charset::decode(&bytes, None).text;
            assert!(charset::replacement_warning(&text).is_some(), "GBK-as-UTF-8 loss is reported");
        }
    }
}

/// "UTF-8 read as GBK" is reversible: closed into whole documents, these
/// fragments come out in readable Chinese.
#[test]
fn utf8_read_as_gbk_upstream_is_turned_back() {
    let Some(dir) = support::shared("data/feeds/issue-fragments") else { return };
    let read = |name: &str, close: &str| {
        let mut b = std::fs::read(dir.join(name)).unwrap();
        b.extend_from_slice(close.as_bytes());
        feed::parse(&b, None, None).unwrap()
    };
    let out = read("rsshub-16388_people-sn_gbk-decoded-utf8-mojibake.xml.fragment", "</channel></rss>");
    let titles: Vec<&str> = out.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles, ["网站首页", "党网·时政"]);
    assert!(out.title.as_deref().unwrap().starts_with("陕西频道--人民网_网上的人民日"), "{:?}", out.title);
    assert!(out.warnings.iter().any(|w| w.contains("已还原")), "{:?}", out.warnings);
    let out = read("openrin-rin-150_utf8-declared-double-encoded.xml.fragment", "</item></channel></rss>");
    assert!(out.items[0].title.starts_with("针"), "{:?}", out.items[0].title);
    assert!(out.items[0].title.contains("国内配置 CDN"), "{:?}", out.items[0].title);
    assert!(out.items[0].title.ends_with("Cloudflare Pages 访问"), "{:?}", out.items[0].title);
}

fn html(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    charset::decode(&bytes, Some("text/html")).text
}

#[test]
fn saved_government_pages_parse() {
    let Some(dir) = support::shared("data/gov-html") else { return };
    // The 邯郸 信息公开 list: a table, configured with selectors.
    let cfg = PageConfig { item: Some("table tr".into()), date: Some("td:last-child".into()), ..Default::default() };
    let url = Url::parse("http://hdzfxxgk.hd.gov.cn/zfwj/jinqixxgk/index.html").unwrap();
    let list =
        page::parse_list(&html(&dir.join("handan_hdzfxxgk_jinqixxgk_list.html")), &url, &Selectors::new(&cfg).unwrap())
            .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].title, "邯郸市教育局关于印发《邯郸市学校安全工作目标管理考核办法》的通知");
    assert_eq!(
        list.items[0].link.as_deref(),
        Some("http://hdzfxxgk.hd.gov.cn/gszbm/auto23716/202008/t20200805_1353179.html")
    );
    assert_eq!(list.items[0].published.unwrap().at.to_rfc3339(), "2020-08-05T00:00:00+08:00");
    assert_eq!(list.next.as_deref(), Some("http://hdzfxxgk.hd.gov.cn/zfwj/jinqixxgk/index_1.html"));

    // Its article page: metadata from <meta> and the 文号 field (无: none).
    let d = page::parse_detail(
        &html(&dir.join("handan_hdzfxxgk_detail.html")),
        Url::parse("http://hdzfxxgk.hd.gov.cn/gszbm/auto23716/202008/t20200802_1352104.html").ok().as_ref(),
        &Selectors::new(&PageConfig::default()).unwrap(),
    );
    assert_eq!(d.title.as_deref(), Some("邯郸市教育局关于印发《全市教育系统安全专项整治三年行动实施方案》的通知"));
    assert_eq!(d.published.unwrap().at.to_rfc3339(), "2020-08-02T00:00:00+08:00");
    assert_eq!(d.publisher.as_deref(), Some("邯郸市教育局"));
    assert_eq!(d.doc_no.as_deref(), Some("无"));

    // Three other sites, with the default selectors (li holding a link and a date).
    let default = Selectors::new(&PageConfig::default()).unwrap();
    for (file, n, first_title, first_date) in [
        (
            "gerapy_dfa66_announcement_list.html",
            10,
            "东方阿尔法优势产业混合型发起式证券投资基金可投资于科创板股票的公告",
            "2020-07-02",
        ),
        // Declares gb2312, is UTF-8: the titles must still be right.
        (
            "gerapy_rtfund_xxpl_list.html",
            15,
            "融通关于旗下部分开放式基金新增华瑞保险销售有限公司为销售机构并参加其费率优惠活动的公告",
            "2020-07-09",
        ),
        (
            "gerapy_hrfund_announcement_list.html",
            10,
            "华融基金管理有限公司关于旗下基金参加南京苏宁基金销售有限公司申购补差费费率优惠活动的公告",
            "2020-04-30",
        ),
    ] {
        let url = Url::parse("http://www.example.com/list/index.html").unwrap();
        let l = page::parse_list(&html(&dir.join(file)), &url, &default).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(l.items.len() >= n, "{file}: {} entries", l.items.len());
        assert_eq!(l.items[0].title, first_title, "{file}");
        assert_eq!(l.items[0].published.unwrap().at.format("%Y-%m-%d").to_string(), first_date, "{file}");
    }
}
