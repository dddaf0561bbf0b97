//! Search finds exactly the items whose normalized title or text contains the
//! query — checked against a plain substring scan — and highlights it.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeZone;
use govwatch::index::{SearchIndex, SearchRequest, WriterOptions};
use govwatch::model::{Item, ItemId, ItemKind, Level, ParsedItem, Role};
use govwatch::normalize::{SourceInfo, normalize_text, time::china, to_item};
use govwatch::poll::Poller;
use govwatch::store::Store;

use crate::support::{self, TestServer};

/// The `<b>…</b>` segments of a highlighted fragment.
fn highlighted(html: &str) -> Vec<String> {
    html.split("<b>").skip(1).filter_map(|s| s.split_once("</b>").map(|(h, _)| h.to_string())).collect()
}

/// Runs every query and compares with a substring scan of the stored items.
fn check_queries(store: &Store, index: &SearchIndex, queries: &[&str]) {
    let items: Vec<Item> = store.items_after_rev(0, usize::MAX >> 1).unwrap().into_iter().map(|r| r.item).collect();
    let normalized: Vec<(ItemId, String, String)> =
        items.iter().map(|i| (i.id, normalize_text(&i.title), normalize_text(&searchable_text(i)))).collect();
    let mut failures = Vec::new();
    let mut total_hits = 0;
    for q in queries {
        // A quoted query is one term, spaces included.
        let nq = normalize_text(q.strip_prefix('"').and_then(|q| q.strip_suffix('"')).unwrap_or(q));
        let expected: BTreeSet<ItemId> =
            normalized.iter().filter(|(_, t, x)| t.contains(&nq) || x.contains(&nq)).map(|(id, _, _)| *id).collect();
        let mut req = SearchRequest::new(*q);
        req.limit = items.len() + 1;
        req.exact_total = true;
        let res = index.search(&req).unwrap();
        let got: BTreeSet<ItemId> = res.hits.iter().map(|h| h.id).collect();
        total_hits += got.len();
        if got != expected || res.total != expected.len() {
            let missing: Vec<String> = expected
                .difference(&got)
                .take(3)
                .map(|id| {
                    normalized.iter().find(|n| n.0 == *id).map(|n| format!("{}|{}", n.1, n.2)).unwrap_or_default()
                })
                .collect();
            let extra: Vec<String> = got.difference(&expected).take(3).map(|id| id.to_string()).collect();
            failures.push(format!(
                "query {q:?} (normalized {nq:?}): expected {} hits, got {} (total {}); missing e.g. {missing:?}; extra {extra:?}",
                expected.len(),
                got.len(),
                res.total
            ));
            continue;
        }
        for h in &res.hits {
            let marks = [highlighted(&h.snippet), highlighted(&h.title_html)].concat();
            if !marks.iter().any(|m| normalize_text(m).contains(&nq)) {
                failures.push(format!(
                    "query {q:?}: hit {} does not highlight it: title {:?} snippet {:?}",
                    h.id, h.title_html, h.snippet
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} queries failed:\n{}", failures.len(), queries.len(), failures.join("\n"));
    assert!(total_hits > 0, "no query found anything: the check would pass vacuously");
}

/// What an item's text is searched as: a work order is also found by its
/// reply, category and number (README, `govwatch search`).
fn searchable_text(i: &Item) -> String {
    let mut all = i.text.clone();
    if let Some(c) = &i.case {
        for extra in [c.reply.as_deref(), c.category.as_deref(), Some(c.number.as_str())].into_iter().flatten() {
            all.push('\n');
            all.push_str(extra);
        }
    }
    all
}

/// Items with these (title, text) pairs, stored and indexed.
fn store_and_index(store: &Store, index: &SearchIndex, texts: impl Iterator<Item = (String, String)>) {
    let src = SourceInfo { id: "s", unit: "u", kind: ItemKind::Feed, role: Role::Portal, level: Level::County };
    let now = china().with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let items: Vec<Item> = texts
        .enumerate()
        .map(|(i, (title, text))| {
            to_item(
                src,
                ParsedItem { title, text, link: Some(format!("http://x.gov.cn/{i}")), ..Default::default() },
                now,
            )
        })
        .collect();
    store.upsert_items(&items).unwrap();
    index.sync(store).unwrap();
}

/// A published time with its zone, as a feed gives it.
fn published_at(rfc3339: &str) -> govwatch::model::Published {
    govwatch::model::Published {
        at: chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap(),
        precision: govwatch::model::Precision::Time,
        zone_assumed: false,
    }
}

fn open(dir: &std::path::Path) -> (Arc<Store>, SearchIndex) {
    let store = Arc::new(Store::open(&dir.join("var")).unwrap());
    let index = SearchIndex::open(&dir.join("index"), WriterOptions { threads: 1, heap_bytes: 32 << 20 }).unwrap();
    (store, index)
}

/// Runs without the shared data: tricky texts written for this test.
#[test]
fn synthetic_texts_match_a_substring_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (store, index) = open(dir.path());
    let texts = [
        ("12345热线十月运行情况", "按时办结率达98.6%，满意率97.2%。拨打12345热线或关注政务微信。"),
        ("政務(wù)公開年度報(bào)告", "咸寧高新區(qū)認(rèn)真貫徹《條例》，依申請公開辦理及時。"),
        ("热，线分开写", "办，结率 不连续；办结 率 中间有空格。"),
        ("２０１６年度工作要点", "第２季度完成；2016年政务公开工作总结。ＡＢＣ公司"),
        ("依申请公开", "依申请公开依申请公开，重复出现的词也要全部标出。"),
        ("无关标题", "这一条讲的是环境保护和垃圾分类，不含查询词。"),
        ("微信公众号", "政务微信、政务微博、政务新媒体。"),
        ("<script>alert('热线')</script>", "标题里有脚本的条目，热线字样在正文也有。"),
    ];
    store_and_index(&store, &index, texts.iter().map(|(t, x)| (t.to_string(), x.to_string())));
    check_queries(
        &store,
        &index,
        &[
            "热线",
            "办结率",
            "微信",
            "依申请公开",
            "政务公开",
            "政務公開",
            "年度报告",
            "12345热线",
            "2016年",
            "第2季度",
            "第2",
            "abc公司",
            "热",
            "率",
            "办结",
            "结率",
            "政务微信",
            "新媒体",
            "依申请",
            "申请公开",
            "公开",
            "报告",
            "条例",
            "高新区",
            "满意率",
            "分开写",
            "重复出现",
            "垃圾分类",
            "环境保护",
            "不连续",
            "script",
            "年度",
            "季度",
        ],
    );
}

/// Issue 16 item 7: letters and digits are found inside longer runs, as Han
/// text is — part of an order number, of a 文号, of a code. Each text below
/// is written after a real form (said next to it); the queries are what
/// officers type: pieces of numbers, Latin, digits, Han next to digits, 文号
/// parts with their brackets.
#[test]
fn letters_and_digits_inside_longer_runs_match_a_substring_scan() {
    let dir = tempfile::tempdir().unwrap();
    let (store, index) = open(dir.path());
    let texts = [
        // The cases: a test marker and a 12345 work-order number.
        ("rowmarker123 导入测试", "工单编号：GD2026041501，来电人反映小区路灯不亮。"),
        ("关于QS20261105002号工单的回复", "市民来电反映噪声扰民，工单QS20261105002已转办。"),
        // 文号 as 国办 and 冀教办 write them (the Handan detail page: 冀教办〔2020〕012号).
        ("国务院办公厅关于印发…的通知", "国办发〔2026〕25号。各省、自治区、直辖市人民政府。"),
        ("转发国办发〔2026〕2号文件", "现将国办发〔2026〕2号转发给你们，请结合实际贯彻执行。"),
        ("邯郸市教育局通知", "文号：冀教办〔2020〕012号；另见冀教办[2020]12号。"),
        // The Shanghai feed's numbers (沪经信规范〔2019〕9号) and a standard with letters and digits.
        ("上海市经济信息化委文件", "沪经信规范〔2019〕9号；公文格式执行GB/T 9704-2012。"),
        // tipdm messages: user ids and districts written A3区, K8次列车.
        ("A3区大道西行便道占道施工", "留言用户A00074011：A3区燕子山安置房项目，K8次列车晚点。"),
        // Mixed words in news: 5G, COVID-19, ISO9001, v1.0; full-width letters and digits.
        ("５Ｇ基站建设进展", "全市建成5G基站1200个；COVID-19疫情防控；通过ISO9001认证；系统v1.0上线。"),
        // Other scripts are runs too (a bilingual notice's Russian and Japanese words).
        ("对外交流", "俄文Москва，日文データ公開。"),
        ("无关标题", "这一条讲的是环境保护和垃圾分类，不含查询词。"),
    ];
    store_and_index(&store, &index, texts.iter().map(|(t, x)| (t.to_string(), x.to_string())));
    check_queries(
        &store,
        &index,
        &[
            "rowmarker",
            "owmarker12",
            "marker123",
            "GD20260415",
            "gd2026041501",
            "20260415",
            "2026041501",
            "0415",
            "qs20261105002",
            "QS2026110500",
            "1105002",
            "〔2026〕2",
            "〔2026〕25",
            "〔2026〕2号",
            "发〔2026〕",
            "国办发〔2026〕",
            "2026〕",
            "〔2020〕012号",
            "012号",
            "[2020]12",
            "规范〔2019〕9号",
            "9704-2012",
            "\"t 9704\"",
            "gb/t",
            "5g基站",
            "5g",
            "g基",
            "建成5",
            "covid-19",
            "d-1",
            "iso900",
            "v1.0",
            "1.0",
            "a3区",
            "3区",
            "a0007401",
            "k8次",
            "8次列车",
            "Москв",
            "сква",
            "データ",
            "ータ公",
            "2",
            "a",
            "g",
            "1200个",
            "200",
            // Sentence punctuation is not indexed: these are checked against the stored text.
            "1200个；covid",
            "个；c",
            "；covid-19",
        ],
    );
    // Issue 16 item 9: a highlighted title is the title as published, not its lower-cased search form.
    let hit = |q: &str| index.search(&SearchRequest::new(q)).unwrap().hits.into_iter().next().unwrap();
    assert_eq!(hit("qs20261105002").title_html, "关于<b>QS20261105002</b>号工单的回复");
    assert_eq!(hit("2026110").title_html, "关于QS<b>2026110</b>5002号工单的回复");
    assert_eq!(hit("5g基站").title_html, "<b>５Ｇ基站</b>建设进展");
}

/// The acceptance: on the real message exports (tipdm, imported as
/// production imports them) and the real Shenzhen and Shanghai policy feeds,
/// pieces of numbers, user ids and 文号 find exactly what a substring scan
/// finds. Queries: hand-picked forms, and pieces cut from every 30th item's
/// own letter-and-digit runs (so the data, not the code, chooses them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_exports_and_feeds_match_a_substring_scan_on_letters_and_digits() {
    let Some(data) = support::shared("data") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let feeds = data.join("feeds/generated-gov");
    let server = TestServer::start();
    let mut toml = support::UNITS.to_string();
    for name in ["sz-gov-rss_shenzhen-policy.xml", "sh-gov-rss_shanghai-policy.xml"] {
        let bytes = std::fs::read(feeds.join(name)).unwrap();
        server.route(&format!("/{name}"), vec![support::Canned::ok("application/rss+xml", bytes)]);
        let id = name.split('_').next().unwrap();
        toml.push_str(&support::source(id, "feed", &server.url(&format!("/{name}")), ""));
    }
    toml.push_str(&format!(
        "[[sources]]\nid = \"liuyan\"\nkind = \"export\"\nurl = \"{}\"\nunit = \"bangongshi\"\nrole = \"messages\"\nlevel = \"county\"\n",
        dir.path().join("drop").display()
    ));
    let cfg = support::config(&toml, dir.path());
    let (store, index) = open(dir.path());
    let now = china().with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    let poller = Poller::new(&cfg, store.clone()).unwrap();
    for src in cfg.sources.iter().filter(|s| s.kind == govwatch::model::SourceKind::Feed) {
        let report = poller.poll(src, now).await;
        assert_eq!(report.error, None, "{}", src.id);
    }
    let messages = data.join("hotline/tipdm2020-zhihuizhengwu/attach2_messages_labelled.csv");
    let liuyan = cfg.sources.iter().find(|s| s.id == "liuyan").unwrap();
    let report = govwatch::import::import_file(&cfg, &store, liuyan, &messages, now, &mut |_| {});
    assert_eq!(report.error, None);
    assert!(report.new > 400, "{report:?}");
    index.sync(&store).unwrap();

    let items: Vec<Item> = store.items_after_rev(0, usize::MAX >> 1).unwrap().into_iter().map(|r| r.item).collect();
    let mut queries: Vec<String> =
        ["a00074", "0074011", "a3区", "a市", "k8", "〔2020〕", "〔2021〕5号", "2019〕9", "深府", "规〔", "2020", "a0"]
            .iter()
            .map(|q| q.to_string())
            .collect();
    for (n, item) in items.iter().enumerate().filter(|(n, _)| n % 30 == 0) {
        let text = normalize_text(&format!("{} {}", item.title, searchable_text(item)));
        let runs: Vec<&str> = text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|r| r.len() >= 4 && r.chars().any(|c| c.is_ascii_digit()))
            .collect();
        let Some(run) = runs.get(n % runs.len().max(1)) else { continue };
        // A middle piece, and the run with the Han character after it when there is one.
        let cut = (n / 30) % (run.len() - 2) + 1;
        queries.push(run[cut.min(run.len() - 3)..].chars().take(6).collect());
        if let Some(at) = text.find(run) {
            let tail: String = text[at..].chars().take(run.chars().count() + 1).collect();
            queries.push(tail);
        }
    }
    queries.sort();
    queries.dedup();
    assert!(queries.len() >= 40, "{} queries", queries.len());
    let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
    check_queries(&store, &index, &refs);
}

/// The acceptance check on real text: the seeds' paragraphs, served over HTTP
/// as feed items, polled, stored and indexed the way production does it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_paragraphs_served_as_a_feed_match_a_substring_scan() {
    let Some(seeds) = support::shared("seeds") else {
        return;
    };
    let mut paragraphs: Vec<(String, String)> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&seeds).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().chars().take(3).collect::<String>();
        let text = std::fs::read_to_string(f).unwrap();
        for (k, para) in text.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
            paragraphs.push((format!("seed-{name} #{k}"), para.to_string()));
        }
    }
    assert!(paragraphs.iter().any(|(t, _)| t.starts_with("seed-000")), "seed 000 is included");
    let items: Vec<(String, String, String, String)> = paragraphs
        .iter()
        .enumerate()
        .map(|(i, (t, p))| {
            (t.clone(), format!("http://seeds.test/p/{i}"), p.clone(), "Mon, 02 Nov 2026 09:00:00 +0800".into())
        })
        .collect();
    let server = TestServer::start();
    server.route("/seeds.xml", vec![support::Canned::ok("application/rss+xml", support::rss("seeds", &items))]);

    let dir = tempfile::tempdir().unwrap();
    let toml = format!("{}{}", support::UNITS, support::source("seeds", "feed", &server.url("/seeds.xml"), ""));
    let cfg = support::config(&toml, dir.path());
    let (store, index) = open(dir.path());
    let poller = Poller::new(&cfg, store.clone()).unwrap();
    let now = china().with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    let report = poller.poll(&cfg.sources[0], now).await;
    assert_eq!(report.error, None);
    assert_eq!(report.counts.new, paragraphs.len(), "one item per paragraph");
    index.sync(&store).unwrap();

    // Nothing was lost on the way in: each stored text is its paragraph, tidied.
    let stored = store.items_after_rev(0, 1 << 30).unwrap();
    for it in stored.iter().map(|r| &r.item) {
        let i: usize = it.link.as_deref().unwrap().rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(it.text, govwatch::normalize::html::tidy_text(&paragraphs[i].1), "paragraph {i}");
    }

    let queries = [
        "热线",
        "办结率",
        "微信",
        "依申请公开",
        "政务公开",
        "信息公开",
        "年度报告",
        "政策解读",
        "政府信息",
        "主动公开",
        "回应关切",
        "领导小组",
        "新闻发布",
        "网站",
        "公开",
        "办理",
        "监督",
        "考核",
        "培训",
        "群众",
        "申请",
        "条例",
        "政务服务",
        "便民",
        "公开栏目",
        "互联网",
        "工作要点",
        "重点领域",
        "财政预决算",
        "行政复议",
        "政务微博",
        "五公开",
        "政務公開",
        "高新区",
    ];
    assert!(queries.len() >= 30);
    check_queries(&store, &index, &queries);
}

/// A query that matches thousands of items ranks a bounded number of them and
/// estimates the total; asked for, the total is exact.
#[test]
fn broad_queries_estimate_their_total_and_keep_title_matches_first() {
    let dir = tempfile::tempdir().unwrap();
    let (store, index) = open(dir.path());
    let n = 6_000;
    store_and_index(
        &store,
        &index,
        (0..n).map(|i| {
            let title = if i % 1000 == 7 { format!("热线通报第{i}期") } else { format!("第{i}期工作简报") };
            (title, format!("本期热线受理群众诉求{i}件，按时办结。"))
        }),
    );

    let res = index.search(&SearchRequest::new("热线")).unwrap();
    assert!(res.total_is_estimate);
    assert!((res.total as f64 - n as f64).abs() / (n as f64) < 0.2, "estimate {} for {n}", res.total);
    assert_eq!(res.hits.len(), 20);
    let mut req = SearchRequest::new("热线");
    req.exact_total = true;
    let exact = index.search(&req).unwrap();
    assert_eq!((exact.total, exact.total_is_estimate), (n, false));
    // Title matches rank first among what was ranked.
    let firsts: Vec<bool> = exact.hits.iter().map(|h| h.title.contains("热线")).collect();
    assert!(firsts[..6].iter().all(|t| *t), "{firsts:?}");
    // A narrow query counts exactly without being asked.
    let narrow = index.search(&SearchRequest::new("第5999期")).unwrap();
    assert_eq!((narrow.total, narrow.total_is_estimate), (1, false));
}

/// In relevance order the items with every term in their title come first,
/// wherever they are in the index (here the last three of 6,000 matches,
/// past what a search ranks of the others), and scores descend down the
/// pages; a page past the title matches continues with the others.
#[test]
fn title_matches_come_first_from_the_whole_index() {
    let dir = tempfile::tempdir().unwrap();
    let (store, index) = open(dir.path());
    let n = 6_000;
    store_and_index(
        &store,
        &index,
        (0..n).map(|i| {
            if i >= n - 3 {
                // A long text that mentions the word once: a low text score.
                (format!("热线通报第{i}期"), format!("本期{}热线。", "受理群众诉求，按时办结。".repeat(20)))
            } else {
                // Short texts full of the word: high text scores.
                (format!("第{i}期工作简报"), format!("热线热线热线{i}"))
            }
        }),
    );
    let res = index.search(&SearchRequest::new("热线")).unwrap();
    let titles: Vec<&str> = res.hits.iter().map(|h| h.title.as_str()).collect();
    assert!(titles[..3].iter().all(|t| t.starts_with("热线通报")), "{titles:?}");
    assert!(titles[3..].iter().all(|t| !t.starts_with("热线通报")), "{titles:?}");
    let scores: Vec<f32> = res.hits.iter().map(|h| h.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "scores not descending: {scores:?}");

    let mut two = SearchRequest::new("热线");
    two.limit = 2;
    let first = index.search(&two).unwrap();
    two.offset = 2;
    let second = index.search(&two).unwrap();
    let ids = |r: &govwatch::index::SearchResults| r.hits.iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!([ids(&first), ids(&second)].concat(), ids(&res)[..4].to_vec());
}

/// `since` and `until` take whole days in China time (+08:00), whatever zone
/// an item's time was written in; an item with no time is filed under the
/// day govwatch first saw it.
#[test]
fn the_date_filter_takes_whole_days_in_china_time() {
    use chrono::NaiveDate;
    let dir = tempfile::tempdir().unwrap();
    let (store, index) = open(dir.path());
    let src = SourceInfo { id: "s", unit: "u", kind: ItemKind::Feed, role: Role::Portal, level: Level::County };
    let seen = china().with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let times = [
        ("a", Some("2026-11-19T23:59:59+08:00")), // the 19th
        ("b", Some("2026-11-20T00:00:00+08:00")), // the 20th from here…
        ("c", Some("2026-11-19T16:30:00+00:00")), // 00:30 on the 20th in China
        ("d", Some("2026-11-20T15:59:59+00:00")), // 23:59:59 on the 20th in China
        ("e", Some("2026-11-20T23:59:59+08:00")),
        ("f", Some("2026-11-21T00:00:00+08:00")), // the 21st
        ("g", None),                              // first seen on the 2nd
    ];
    let items: Vec<Item> = times
        .iter()
        .map(|(name, at)| {
            let published = at.map(published_at);
            let parsed = ParsedItem {
                title: format!("热线通报{name}"),
                text: "本期热线受理诉求。".into(),
                link: Some(format!("http://x.gov.cn/{name}")),
                published,
                ..Default::default()
            };
            to_item(src, parsed, seen)
        })
        .collect();
    store.upsert_items(&items).unwrap();
    index.sync(&store).unwrap();
    let day = |s: &str| Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
    let found = |since: Option<NaiveDate>, until: Option<NaiveDate>| -> String {
        let mut req = SearchRequest::new("热线");
        (req.since, req.until) = (since, until);
        let mut names: Vec<String> = index
            .search(&req)
            .unwrap()
            .hits
            .iter()
            .map(|h| h.title.trim_start_matches("热线通报").to_string())
            .collect();
        names.sort();
        names.concat()
    };
    assert_eq!(found(day("2026-11-20"), day("2026-11-20")), "bcde");
    assert_eq!(found(day("2026-11-20"), None), "bcdef");
    assert_eq!(found(None, day("2026-11-19")), "ag");
    assert_eq!(found(day("2026-11-21"), day("2026-11-21")), "f");
    assert_eq!(found(day("2026-11-03"), day("2026-11-18")), "");
    assert_eq!(found(day("2026-11-02"), day("2026-11-02")), "g");
    assert_eq!(found(None, None), "abcdefg");
}

/// Items matching a date filter come in runs (a day's items are indexed
/// together): the estimated total counts in the filter's items, so a run met
/// by a sample window does not stand for the whole window.
#[test]
fn a_date_filtered_total_is_estimated_within_the_dates_items() {
    use chrono::NaiveDate;
    let dir = tempfile::tempdir().unwrap();
    let (store, index) = open(dir.path());
    let src = SourceInfo { id: "s", unit: "u", kind: ItemKind::Feed, role: Role::Portal, level: Level::County };
    let seen = china().with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let n = 30_000;
    // Runs of 10 items of November every 100; the rest in January.
    let november = |i: usize| i % 100 < 10;
    let items: Vec<Item> = (0..n)
        .map(|i| {
            let at = if november(i) { "2026-11-10T10:00:00+08:00" } else { "2026-01-10T10:00:00+08:00" };
            let parsed = ParsedItem {
                title: format!("第{i}期简报"),
                text: format!("本期热线受理诉求{i}件。"),
                link: Some(format!("http://x.gov.cn/{i}")),
                published: Some(published_at(at)),
                ..Default::default()
            };
            to_item(src, parsed, seen)
        })
        .collect();
    store.upsert_items(&items).unwrap();
    index.sync(&store).unwrap();
    let mut req = SearchRequest::new("热线");
    req.since = NaiveDate::from_ymd_opt(2026, 11, 1);
    let res = index.search(&req).unwrap();
    let expected = (0..n).filter(|i| november(*i)).count();
    assert!(res.total_is_estimate, "{} matches must exceed what is counted exactly", expected);
    let err = (res.total as f64 - expected as f64).abs() / expected as f64;
    assert!(err < 0.25, "estimate {} for {expected} ({:.0} % off)", res.total, err * 100.0);
    req.exact_total = true;
    assert_eq!(index.search(&req).unwrap().total, expected);
}
