//! The fuzz targets, their seeds and the mutator, shared by the fuzzer
//! (`benches/fuzz.rs`: `cargo bench --bench fuzz -- <target|all> --runs N`)
//! and the short deterministic run in the test suite (`tests/fuzz_short.rs`).
//!
//! A black-box mutation fuzzer on stable Rust: no coverage feedback (that
//! needs nightly's sanitizer instrumentation), so it leans on good seeds
//! (the real files in `../shared/data`, `tests/data`, `config/demo` and
//! built-in minimal ones) and on dictionaries of the tokens each format
//! turns on. Input number `i` of a run is a pure function of (seed, target,
//! `i`): any finding can be made again from the numbers printed with it.
//!
//! Each target calls the public functions production calls, in the order
//! production calls them (see each target's `about`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use govwatch::config::PageConfig;
use govwatch::index::{SearchIndex, SearchRequest, WriterOptions, query, snippet, tokenizer};
use govwatch::model::{ItemKind, Level, ParsedItem, Role};
use govwatch::normalize::{self, SourceInfo, docno, html, time, title};
use govwatch::sources::export::{self, Cell, Names, RowOutcome};
use govwatch::sources::page::{self, Selectors};
use govwatch::sources::{charset, feed};
use url::Url;

// ---------------------------------------------------------------- random

/// splitmix64: small, fast, good enough to pick mutations.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

fn fnv(s: &[u8]) -> u64 {
    s.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

/// The random stream of input `i` of `target` in a run with `seed`.
pub fn input_rng(seed: u64, target: &str, i: u64) -> Rng {
    let mut r = Rng::new(seed ^ fnv(target.as_bytes()) ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
    r.next_u64();
    r
}

// ---------------------------------------------------------------- targets

/// What one input does to a target.
pub type RunFn = Box<dyn Fn(&[u8])>;

pub struct Target {
    pub name: &'static str,
    /// The production functions it calls.
    pub about: &'static str,
    /// Mutated inputs are cut to this many bytes (seeds too).
    pub max_len: usize,
    /// Tokens the format turns on, inserted by the mutator.
    pub dict: &'static [&'static str],
    /// XLSX: mutate the parts inside the zip (and sometimes the zip itself).
    pub zipped: bool,
    /// Seeds from files: which extensions, under which folders.
    pub seed_exts: &'static [&'static str],
    pub builtin: fn() -> Vec<Vec<u8>>,
    /// Builds the state a target needs (selectors, a small search index) once.
    pub prepare: fn() -> RunFn,
}

pub fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "feed",
            about: "sources::feed::parse (charset::decode, feed-rs, html_to_text, time::parse), then normalize::to_item per item",
            max_len: 16 << 10,
            dict: FEED_DICT,
            zipped: false,
            seed_exts: &["xml", "fragment", "rss", "atom"],
            builtin: builtin_feeds,
            prepare: prepare_feed,
        },
        Target {
            name: "page-list",
            about: "charset::decode, then sources::page::parse_list (default and configured selectors), then normalize::to_item",
            max_len: 16 << 10,
            dict: HTML_DICT,
            zipped: false,
            seed_exts: &["html", "htm"],
            builtin: builtin_pages,
            prepare: prepare_page_list,
        },
        Target {
            name: "page-detail",
            about: "charset::decode, then sources::page::parse_detail (CMS containers, article::main_element, meta and 文号 fields)",
            max_len: 16 << 10,
            dict: HTML_DICT,
            zipped: false,
            seed_exts: &["html", "htm"],
            builtin: builtin_pages,
            prepare: prepare_page_detail,
        },
        Target {
            name: "html-text",
            about: "normalize::html::html_to_text, links_in, parse_fragment, tidy_text (feed descriptions, calendar notices)",
            max_len: 16 << 10,
            dict: HTML_DICT,
            zipped: false,
            seed_exts: &["html", "htm", "fragment"],
            builtin: builtin_pages,
            prepare: prepare_html_text,
        },
        Target {
            name: "charset",
            about: "sources::charset::decode (header charsets of every kind), markup_charset, replacement_warning, repair_utf8_read_as_gbk",
            max_len: 8 << 10,
            dict: CHARSET_DICT,
            zipped: false,
            seed_exts: &["xml", "fragment", "html", "csv", "txt"],
            builtin: builtin_charset,
            prepare: prepare_charset,
        },
        Target {
            name: "csv",
            about: "export::decode_csv, csv_rows, find_header (first 30 rows), read_row per row, normalize::to_item: the import path",
            max_len: 16 << 10,
            dict: CSV_DICT,
            zipped: false,
            seed_exts: &["csv"],
            builtin: builtin_csv,
            prepare: prepare_csv,
        },
        Target {
            name: "xlsx",
            about: "export::read_workbook (calamine), find_header (first 30 rows), read_row per row, normalize::to_item: the import path",
            max_len: 256 << 10,
            dict: XLSX_DICT,
            zipped: true,
            seed_exts: &["xlsx"],
            builtin: builtin_xlsx,
            prepare: prepare_xlsx,
        },
        Target {
            name: "docno",
            about: "normalize::docno::find_all, find, numbers, normalize_field, is_none_marker; normalize::title::facts",
            max_len: 2 << 10,
            dict: DOCNO_DICT,
            zipped: false,
            seed_exts: &[],
            builtin: builtin_docno,
            prepare: prepare_docno,
        },
        Target {
            name: "date",
            about: "normalize::time::parse, find_in, parse_with_format; export::parse_time_cell, from_serial",
            max_len: 1 << 10,
            dict: DATE_DICT,
            zipped: false,
            seed_exts: &[],
            builtin: builtin_dates,
            prepare: prepare_date,
        },
        Target {
            name: "query",
            about: "index::query::parse, tokenizer (n-grams, jieba words), snippet::make, and SearchIndex::search on a small index",
            max_len: 512,
            dict: QUERY_DICT,
            zipped: false,
            seed_exts: &[],
            builtin: builtin_queries,
            prepare: prepare_query,
        },
    ]
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    time::china().with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

fn to_items(kind: ItemKind, role: Role, items: Vec<ParsedItem>) {
    let src = SourceInfo { id: "fuzz", unit: "fuzz", kind, role, level: Level::County };
    for p in items {
        std::hint::black_box(normalize::to_item(src, p, now()));
    }
}

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/rss+xml"),
    Some("text/xml; charset=gb2312"),
    Some("text/html; charset=utf-8"),
    Some("text/html; charset=\"GBK\""),
    Some("application/atom+xml; charset=big5"),
    Some("text/plain; charset=utf-16"),
    Some("text/html; charset=x-no-such-charset"),
    Some("text/html;charset="),
];

/// A content type chosen by the input's length, so that each input is one call.
fn content_type(b: &[u8]) -> Option<&'static str> {
    CONTENT_TYPES[b.len() % CONTENT_TYPES.len()]
}

fn prepare_feed() -> RunFn {
    let base = Url::parse("http://www.example.gov.cn/col/rss/").unwrap();
    Box::new(move |b| {
        if let Ok(out) = feed::parse(b, content_type(b), Some(&base)) {
            to_items(ItemKind::Feed, Role::Superior, out.items);
        }
    })
}

fn configured_selectors() -> Selectors {
    let cfg = PageConfig {
        item: Some("ul li, tr".into()),
        title: Some("a[title], a".into()),
        link: Some("a".into()),
        date: Some("span, td:last-child".into()),
        date_format: Some("%Y-%m-%d".into()),
        next: Some("a.next".into()),
        body: Some("#zoom, .TRS_Editor".into()),
        ..Default::default()
    };
    Selectors::new(&cfg).expect("fuzz selectors are valid")
}

fn prepare_page_list() -> RunFn {
    let url = Url::parse("http://www.example.gov.cn/xxgk/tzgg/index.html").unwrap();
    let default = Selectors::new(&PageConfig::default()).unwrap();
    let configured = configured_selectors();
    Box::new(move |b| {
        let d = charset::decode(b, content_type(b));
        let sel = if b.len() % 2 == 0 { &default } else { &configured };
        if let Ok(list) = page::parse_list(&d.text, &url, sel) {
            to_items(ItemKind::Page, Role::Portal, list.items);
        }
    })
}

fn prepare_page_detail() -> RunFn {
    let url = Url::parse("http://www.example.gov.cn/xxgk/tzgg/202611/t20261120_3318.html").unwrap();
    let default = Selectors::new(&PageConfig::default()).unwrap();
    let configured = configured_selectors();
    Box::new(move |b| {
        let d = charset::decode(b, content_type(b));
        let sel = if b.len() % 2 == 0 { &default } else { &configured };
        let detail = page::parse_detail(&d.text, Some(&url), sel);
        let mut item = ParsedItem { title: "栏目条目".into(), ..Default::default() };
        page::merge_detail(&mut item, detail);
        to_items(ItemKind::Page, Role::Portal, vec![item]);
    })
}

fn prepare_html_text() -> RunFn {
    let base = Url::parse("http://www.example.gov.cn/a/b.html").unwrap();
    Box::new(move |b| {
        let s = lossy(b);
        std::hint::black_box(html::html_to_text(&s));
        std::hint::black_box(html::links_in(&s, Some(&base)));
        std::hint::black_box(html::parse_fragment(&s).flattened.warning());
        std::hint::black_box(html::tidy_text(&s));
    })
}

fn prepare_charset() -> RunFn {
    Box::new(|b| {
        let d = charset::decode(b, content_type(b));
        std::hint::black_box(charset::replacement_warning(&d.text));
        std::hint::black_box(charset::repair_utf8_read_as_gbk(&d.text));
        std::hint::black_box(charset::markup_charset(b));
        // The input as a Content-Type header, as a server could send it.
        let header = lossy(&b[..b.len().min(200)]);
        if let Some(label) = charset::header_charset(&header) {
            std::hint::black_box(charset::encoding_for_label(&label));
        }
    })
}

/// The import's reading of a table (import::import_inner without the store):
/// the header within the first 30 rows, then every row, then the items.
fn import_rows(rows: Vec<Result<Vec<Cell>, String>>) {
    let head: Vec<Vec<Cell>> = rows.iter().take(30).map(|r| r.clone().unwrap_or_default()).collect();
    let Ok(header) = export::find_header(&head, &Names::default()) else { return };
    std::hint::black_box(header.says_answered());
    let mut items = Vec::new();
    for (i, r) in rows.into_iter().enumerate().skip(header.data_start) {
        if let Ok(cells) = r
            && let RowOutcome::Record(rec) = export::read_row(&cells, i, &header)
        {
            items.push(rec.item);
        }
    }
    to_items(ItemKind::Hotline, Role::Hotline, items);
}

fn prepare_csv() -> RunFn {
    Box::new(|b| {
        let (text, _warnings) = export::decode_csv(b);
        import_rows(export::csv_rows(&text, &export::Limits::default()).map(|r| r.map_err(|e| e.reason)).collect());
    })
}

fn prepare_xlsx() -> RunFn {
    Box::new(|b| {
        if let Ok(sheet) = export::read_workbook(b, &export::Limits::default()) {
            import_rows(sheet.rows().map(|(_, cells)| Ok(cells)).collect());
        }
    })
}

fn prepare_docno() -> RunFn {
    Box::new(|b| {
        let s = lossy(b);
        // Title | stated 文号 | text, as an item carries them.
        let mut parts = s.splitn(3, '|');
        let (t, stated, text) = (parts.next().unwrap_or(""), parts.next(), parts.next().unwrap_or(&s));
        for d in docno::find_all(&s) {
            // The normal form is itself a 文号 with the same normal form.
            let again = docno::normalize_field(&d.norm);
            std::hint::black_box(again);
        }
        std::hint::black_box(docno::find(&s));
        std::hint::black_box(docno::numbers(t, stated, text));
        std::hint::black_box(docno::normalize_field(&s));
        std::hint::black_box(docno::is_none_marker(&s));
        std::hint::black_box(title::facts(&s));
    })
}

const FORMATS: &[&str] =
    &["%Y-%m-%d", "%Y年%m月%d日", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M", "%Y%m%d", "%s", "%+", "%Y-%m-%d %z"];

fn prepare_date() -> RunFn {
    Box::new(|b| {
        let s = lossy(b);
        std::hint::black_box(time::parse(&s));
        std::hint::black_box(time::find_in(&s));
        std::hint::black_box(time::parse_with_format(&s, FORMATS[b.len() % FORMATS.len()]));
        let _ = std::hint::black_box(export::parse_time_cell(&Cell::Text(s.clone())));
        if let Ok(f) = s.trim().parse::<f64>() {
            std::hint::black_box(export::from_serial(f));
            let _ = std::hint::black_box(export::parse_time_cell(&Cell::Float(f)));
            let _ = std::hint::black_box(export::parse_time_cell(&Cell::Serial(f)));
        }
        if let Ok(i) = s.trim().parse::<i64>() {
            let _ = std::hint::black_box(export::parse_time_cell(&Cell::Int(i)));
        }
    })
}

/// Items of the small index the query target searches.
const INDEXED: &[(&str, &str)] = &[
    (
        "关于做好2026年政务公开工作的通知",
        "各区政府：为深入贯彻《条例》，现就做好政务公开工作通知如下。国办发〔2026〕12号",
    ),
    ("12345热线办结率达99%", "市民热线 12345 办结率达99%，群众满意度持续提升。ABC-123 x86_64"),
    ("依申请公开办理情况", "依申请公开 政务微信 信息公开年报 政務公開"),
    ("关于印发某办法的通知（國辦發〔2020〕53號）", "第一条 为了规范……第二条 本办法自2020年10月1日起施行。"),
    ("Road closure notice", "The road will be closed 2026-11-20 09:00 to 18:00. Call 0311-12345678."),
];

fn prepare_query() -> RunFn {
    let dir = tempfile::tempdir().expect("a temporary folder for the fuzz index");
    let idx = SearchIndex::open(&dir.path().join("index"), WriterOptions { threads: 1, heap_bytes: 15 << 20 })
        .expect("the fuzz index opens");
    let src = SourceInfo { id: "fuzz", unit: "fuzz", kind: ItemKind::Feed, role: Role::Superior, level: Level::City };
    let items: Vec<_> = INDEXED
        .iter()
        .enumerate()
        .map(|(i, (t, x))| {
            let p = ParsedItem {
                guid: Some(format!("g{i}")),
                title: t.to_string(),
                text: x.to_string(),
                ..Default::default()
            };
            normalize::to_item(src, p, now())
        })
        .collect();
    idx.add_items_and_commit(items.iter(), items.len() as i64).expect("the fuzz index takes its items");
    Box::new(move |b| {
        let _keep = &dir;
        let q = lossy(b);
        let terms = query::parse(&q);
        let texts: Vec<&str> = terms.iter().map(|t| t.text.as_str()).collect();
        for t in &texts {
            tokenizer::ngram_tokens(t, |tok| {
                std::hint::black_box(tok);
            });
            for w in tokenizer::jieba_words(t) {
                std::hint::black_box(tokenizer::word_home(&w));
            }
        }
        std::hint::black_box(snippet::make(INDEXED[1].1, &texts, 120).to_html());
        std::hint::black_box(snippet::highlight_original(INDEXED[2].1, INDEXED[2].1, &texts).to_html());
        let mut req = SearchRequest::new(q);
        req.exact_total = b.len() % 2 == 0;
        std::hint::black_box(idx.search(&req).expect("a search on the fuzz index answers"));
    })
}

// ---------------------------------------------------------------- dictionaries

const COMMON_DICT: &[&str] = &[
    "<",
    ">",
    "&",
    "\"",
    "'",
    "\n",
    "\r\n",
    "\r",
    "\t",
    " ",
    "\u{3000}",
    "\0",
    "\u{FEFF}",
    "\u{200B}",
    "\u{FFFD}",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "&amp;",
    "&#",
    "&#x",
    "&#0;",
    "&#xD800;",
    "&#1114112;",
    "&#99999999999999999999;",
    "&nbsp;",
    "&lt;",
    "〔",
    "〕",
    "号",
    "第",
    "年",
    "月",
    "日",
    "：",
    "，",
    "、",
    "（",
    "）",
    "2020",
    "0",
    "-1",
    "99999999999999999999",
    "18446744073709551616",
    "1e308",
    "NaN",
    "%s",
    "%n",
    "\\",
    "..",
    "/",
    "http://",
    "file:///etc/passwd",
    "javascript:",
    "政务公开",
    "國辦發",
];

const HTML_DICT: &[&str] = &[
    "<div>",
    "</div>",
    "<ul>",
    "</ul>",
    "<li>",
    "</li>",
    "<a href=\"",
    "\">",
    "</a>",
    "<span>",
    "</span>",
    "<p>",
    "</p>",
    "<br>",
    "<table>",
    "<tr>",
    "<td>",
    "</td>",
    "</tr>",
    "</table>",
    "<script>",
    "</script>",
    "<style>",
    "</style>",
    "<title>",
    "<meta charset=\"gbk\">",
    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">",
    "<meta name=\"PubDate\" content=\"",
    "<meta name=\"ArticleTitle\" content=\"",
    "<meta name=\"ContentSource\" content=\"",
    "<base href=\"",
    "<select>",
    "<template>",
    "<svg>",
    "<math>",
    "<frameset>",
    "<noscript>",
    "<textarea>",
    "<plaintext>",
    "<b>",
    "<i>",
    "<font>",
    "<nobr>",
    "<form>",
    "<iframe>",
    "<object>",
    "<html>",
    "<body>",
    "</body>",
    "<head>",
    "class=\"TRS_Editor\"",
    "id=\"zoom\"",
    "class=\"next\"",
    "title=\"",
    "发布日期：",
    "发文字号：",
    "文号：",
    "来源：",
    "发布机构：",
    "下一页",
    "2026-11-20",
    "2026年11月20日",
    "<a href=\"t20261120_1.html\">",
    "&#x3000;",
];

const FEED_DICT: &[&str] = &[
    "<rss version=\"2.0\">",
    "</rss>",
    "<channel>",
    "</channel>",
    "<item>",
    "</item>",
    "<title>",
    "</title>",
    "<link>",
    "</link>",
    "<description>",
    "</description>",
    "<pubDate>",
    "</pubDate>",
    "<guid>",
    "</guid>",
    "<guid isPermaLink=\"false\">",
    "<entry>",
    "</entry>",
    "<feed xmlns=\"http://www.w3.org/2005/Atom\">",
    "</feed>",
    "<content type=\"html\">",
    "<summary type=\"xhtml\">",
    "<updated>",
    "<published>",
    "<id>",
    "<link href=\"",
    "\" rel=\"alternate\"/>",
    "xml:base=\"",
    "<dc:date>",
    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"",
    "<rdf:RDF>",
    "<source>",
    "<?xml version=\"1.0\" encoding=\"gb2312\"?>",
    "<?xml version=\"1.0\" encoding=\"utf-16\"?>",
    "<!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>",
    "&a;",
    "&b;",
    "<category>",
    "<enclosure url=\"",
    "<author>",
    "Mon, 02 Nov 2026 09:00:00 +0800",
    "02 Nov 2026 00:00:00 +0000",
    "2026-11-02T09:00:00Z",
    "31 Jun 2026",
    "CST",
    "+0800",
    "{\"version\":\"https://jsonfeed.org/version/1\",\"items\":[",
    "&lt;p&gt;",
    "<![CDATA[<p>",
    "</p>]]>",
];

const CHARSET_DICT: &[&str] = &[
    "<?xml version=\"1.0\" encoding=\"",
    "\"?>",
    "<meta charset=",
    "charset=",
    "gb2312",
    "GBK",
    "gb18030",
    "big5",
    "utf-8",
    "UTF-16LE",
    "iso-8859-1",
    "windows-1252",
    "shift_jis",
    "x-user-defined",
    "replacement",
    "\u{FEFF}",
    "姝ｅ父",
    "鏀垮姟",
    "政务",
    "正常",
    "锟斤拷",
    "�",
];

const CSV_DICT: &[&str] = &[
    ",",
    "\"",
    "\"\"",
    "\r\n",
    "\n",
    ",,,,,,,,,,",
    "工单编号",
    "来电时间",
    "诉求内容",
    "承办单位",
    "办结时间",
    "状态",
    "留言编号",
    "留言主题",
    "留言时间",
    "留言详情",
    "答复意见",
    "答复时间",
    "诉求类型",
    "延期",
    "紧急程度",
    "_x000D_",
    "_x000A_",
    "=HYPERLINK(\"",
    "2019/4/25 9:32:09",
    "2019-13-45",
    "42894.730092592603",
    "-1e308",
    "1e308",
    "2958466",
    "-693594",
    "99999999999999999999",
    "已办结",
    "处理中",
    "13912345678",
    "\u{FEFF}",
];

const XLSX_DICT: &[&str] = &[
    "<c r=\"",
    "\" t=\"s\">",
    "\" t=\"inlineStr\"><is><t>",
    "</t></is></c>",
    "<v>",
    "</v>",
    "</c>",
    "<row r=\"",
    "\">",
    "</row>",
    "<dimension ref=\"",
    "A1:E5",
    "<si><t>",
    "</t></si>",
    "\" t=\"d\">",
    "\" t=\"e\">",
    "\" t=\"b\">",
    "\" t=\"str\">",
    "\" t=\"n\">",
    " s=\"",
    "<f>",
    "</f>",
    "<f t=\"shared\" ref=\"A1:A9\" si=\"0\"/>",
    "count=\"",
    "uniqueCount=\"",
    "<sheet name=\"",
    "\" sheetId=\"",
    "\" r:id=\"rId",
    "<mergeCell ref=\"",
    "numFmtId=\"",
    "<numFmt numFmtId=\"164\" formatCode=\"yyyy/m/d h:mm\"/>",
    "<xf numFmtId=\"14\"/>",
    "Target=\"",
    "worksheets/sheet1.xml",
    "42894.7300925926",
    "-1",
    "1E+308",
    "NaN",
    "AA100",
    "工单编号",
    "来电时间",
    "留言编号",
    "_x000D_",
];

const DOCNO_DICT: &[&str] = &[
    "〔",
    "〕",
    "[",
    "]",
    "(",
    ")",
    "（",
    "）",
    "【",
    "】",
    "{",
    "}",
    "„",
    "‟",
    "〖",
    "〗",
    "《",
    "》",
    "「",
    "」",
    "⟦",
    "⟧",
    "⦅",
    "⦆",
    "“",
    "”",
    "号",
    "號",
    "第",
    "、",
    "国办发",
    "國辦發",
    "沪府规",
    "甘区政办发",
    "2020",
    "1949",
    "2099",
    "19",
    "20",
    "0000053",
    "99999",
    "999999",
    "１２",
    "〇",
    " ",
    "|",
    "发文字号",
    "根据",
    "文号为",
    "详见",
    "按照",
    "无",
    "——",
    "字",
    "令",
    "函",
];

const DATE_DICT: &[&str] = &[
    "年",
    "月",
    "日",
    "号",
    "时",
    "分",
    "秒",
    "-",
    "/",
    ":",
    ".",
    "T",
    "Z",
    " ",
    "+08:00",
    "+0800",
    "-12:00",
    "+14:00",
    "CST",
    "GMT",
    "UTC",
    "上午",
    "下午",
    "2026",
    "1900",
    "0000",
    "9999",
    "262143",
    "13",
    "32",
    "00",
    "24:00:00",
    "23:59:60",
    "02-29",
    "2023-02-29",
    "１２",
    "二〇二六",
    "Mon, ",
    "Feb ",
    "31 Jun",
    "42894.73",
    "2958466",
    "-693594",
    "1e20",
    "发布日期：",
    "成文日期",
    "\u{3000}",
];

const QUERY_DICT: &[&str] = &[
    "\"",
    "“",
    "”",
    "-",
    " ",
    "\u{3000}",
    "*",
    "?",
    "AND",
    "OR",
    "NOT",
    "(",
    ")",
    "~",
    "^",
    ":",
    "title:",
    "+",
    "\\",
    "政务公开",
    "办结率",
    "12345",
    "國辦發",
    "a",
    "x86_64",
    "ABC-123",
    "🙂",
    "\u{0301}",
    "ﬁ",
    "Ⅻ",
    "①",
];

// ---------------------------------------------------------------- built-in seeds

fn b(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn builtin_feeds() -> Vec<Vec<u8>> {
    b(&[
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>政策文件</title><link>http://www.example.gov.cn/</link>\
         <item><title>关于印发某办法的通知（国办发〔2020〕53号）</title><link>/a/1.html</link><guid>g1</guid>\
         <description>&lt;p&gt;各区政府：&lt;/p&gt;&lt;a href=\"fj.pdf\"&gt;附件&lt;/a&gt;</description>\
         <pubDate>Mon, 02 Nov 2026 09:00:00 +0800</pubDate></item></channel></rss>",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>动态</title>\
         <entry><title type=\"html\">&lt;b&gt;政务&lt;/b&gt;公开</title><id>urn:1</id><link href=\"http://x.gov.cn/1\"/>\
         <updated>2026-11-02T09:00:00Z</updated><content type=\"html\">&lt;p&gt;正文&lt;/p&gt;</content></entry></feed>",
        "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>t</title></channel><item><title>通知</title>\
         <link>http://x.gov.cn/2</link><dc:date>2026-11-02</dc:date></item></rdf:RDF>",
        "{\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"t\",\"items\":[{\"id\":\"1\",\"title\":\"通知\",\
         \"content_html\":\"<p>x</p>\",\"date_published\":\"2026-11-02T09:00:00+08:00\"}]}",
    ])
}

fn builtin_pages() -> Vec<Vec<u8>> {
    b(&[
        "<html><head><meta charset=\"utf-8\"><title>通知公告</title></head><body><ul class=\"list\">\
         <li><a href=\"./202611/t20261120_3318.html\" title=\"关于开展政务公开检查的通知\">关于开展政务公开…</a><span>2026-11-20</span></li>\
         <li><a href=\"../b/2.html\">第二条</a><span>2026年11月19日</span></li></ul><a class=\"next\" href=\"index_1.html\">下一页</a></body></html>",
        "<html><head><meta name=\"ArticleTitle\" content=\"关于印发办法的通知\"><meta name=\"PubDate\" content=\"2026-11-20 09:30\">\
         <meta name=\"ContentSource\" content=\"县政府办公室\"></head><body><div class=\"nav\"><a href=\"/\">首页</a></div>\
         <table><tr><td>发文字号：</td><td>县政办发〔2026〕12号</td></tr></table><div class=\"TRS_Editor\"><p>各乡镇人民政府：</p>\
         <p>现将有关事项通知如下。</p><a href=\"fj/1.pdf\">附件1</a></div><div id=\"zoom\">正文</div></body></html>",
        "<table><tr><td><a href=\"1.html\">工作动态</a></td><td>2026-11-20</td></tr></table><div><div><div><p>发布日期：2026-11-20</p></div></div></div>",
    ])
}

fn builtin_charset() -> Vec<Vec<u8>> {
    let mut v = b(&[
        "<?xml version=\"1.0\" encoding=\"gb2312\"?><rss><channel><title>政务公开</title></channel></rss>",
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gbk\"></head><body>政务公开</body></html>",
        "\u{FEFF}工单编号,来电时间\nA1,2026-11-20",
        "姝ｅ父鏀垮姟鍏紑",
    ]);
    let (gbk, _, _) = encoding_rs::GBK.encode("<html><meta charset=gb2312><p>关于做好政务公开工作的通知</p></html>");
    v.push(gbk.into_owned());
    let mut mixed = encoding_rs::GBK.encode("标题：政务公开 ").0.into_owned();
    mixed.extend_from_slice("正常的UTF-8标题".as_bytes());
    v.push(mixed);
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain("<?xml version=\"1.0\"?><rss/>".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    v.push(utf16);
    v
}

fn builtin_csv() -> Vec<Vec<u8>> {
    let mut v = b(&[
        "工单编号,来电时间,诉求类型,诉求内容,承办单位,办结时间,状态\nGD001,2026-11-02 09:12,投诉,反映小区物业乱收停车费，电话13912345678,县住建局,2026-11-12 16:00,已办结\n\
         GD002,2026/11/3 14:30,求助,\"路灯不亮\n请求维修\",县住建局,,处理中\n",
        "2020年10月12345热线工单明细表,,,\n工单信息,,承办单位,办理情况\n工单编号,来电 时间,,办结时间\nA001,42894.730092592603,区教育局,\n",
        "留言编号,留言主题,留言时间,留言详情,答复意见,答复时间\n2549,物业管理有问题,2019/4/25 9:32:09,小区物业乱收费_x000D_,已转办,2019/5/10 14:31:26\n",
    ]);
    v.push(encoding_rs::GBK.encode("工单编号,来电时间,诉求内容\nG1,2026-11-02,咨询\n").0.into_owned());
    v
}

/// A small hotline export written by rust_xlsxwriter: strings, numbers,
/// dates as Excel serials, an empty cell, a title row above the header.
fn builtin_xlsx() -> Vec<Vec<u8>> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy/m/d h:mm");
    let rows: &[(&str, &str, &str, &str)] = &[
        ("GD001", "2026-11-02T09:12:00", "反映小区物业乱收停车费", "县住建局"),
        ("GD002", "2026-11-03T14:30:00", "路灯不亮请求维修", "县城管局"),
    ];
    ws.write_string(0, 0, "2026年11月12345热线工单明细表").unwrap();
    for (c, h) in ["工单编号", "来电时间", "诉求内容", "承办单位", "办结时间"].iter().enumerate() {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    for (r, (n, t, x, u)) in rows.iter().enumerate() {
        let r = r as u32 + 2;
        ws.write_string(r, 0, *n).unwrap();
        ws.write_datetime_with_format(r, 1, ExcelDateTime::parse_from_str(t).unwrap(), &date).unwrap();
        ws.write_string(r, 2, *x).unwrap();
        ws.write_string(r, 3, *u).unwrap();
        ws.write_number(r, 4, 46_335.5).unwrap();
    }
    ws.write_number(4, 0, 2549).unwrap();
    ws.write_boolean(4, 3, true).unwrap();
    vec![wb.save_to_buffer().unwrap()]
}

fn builtin_docno() -> Vec<Vec<u8>> {
    b(&[
        "关于印发某办法的通知（国办发〔2020〕53号）",
        "國辦發[2020]053號",
        "甘区政办发201756号",
        "沪发改 规范〔2021〕5号|无|根据国办发〔2020〕53号和国发〔2019〕28、29号文件精神",
        "关于转发省政府办公厅关于做好政务公开工作的通知|县政办发〔 202 4 〕1号|详见附件",
        "沪经信规 范 〔 2025〕1号",
        "国办发„2020‟53号 国办发{2020}053号 国办发【2020】53号",
    ])
}

fn builtin_dates() -> Vec<Vec<u8>> {
    b(&[
        "2026-11-20",
        "2026-11-20 09:30:00",
        "2026/11/2 9:30",
        "2026年11月20日",
        "2026年11月20日 09时30分",
        "Mon, 02 Nov 2026 09:00:00 +0800",
        "02 Nov 2026 00:00:00 +0000",
        "2026-11-20T09:30:00+08:00",
        "2026-11-20T01:30:00Z",
        "发布日期：2026-11-20 来源：县政府办",
        "42894.730092592603",
        "44000",
        "20261120",
        "　2020年08月02日\t",
    ])
}

fn builtin_queries() -> Vec<Vec<u8>> {
    b(&[
        "热线 办结率",
        "\"政务 公开\" -微信",
        "-\"政务公开\"　依申請公開",
        "\"未闭合",
        "x86_64 ABC-123",
        "国办发〔2026〕12号",
        "a",
    ])
}

// ---------------------------------------------------------------- seeds from files

/// The folders seeds are read from: the crate's own (`tests/data`,
/// `config/demo`) and, when given, the shared real data.
pub fn seed_dirs(shared_data: Option<&Path>) -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![repo.join("tests/data"), repo.join("config/demo")];
    v.extend(shared_data.map(Path::to_path_buf));
    v
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Lines of text files that hold something the target reads (文号, dates),
/// as seeds for the small targets.
fn lines_with(files: &[PathBuf], keep: impl Fn(&str) -> bool, max: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for f in files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["tsv", "txt", "csv", "xml", "md"].contains(&ext) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        for l in text.lines().filter(|l| keep(l)) {
            let l: String = l.chars().take(300).collect();
            v.push(l.into_bytes());
            if v.len() >= max {
                return v;
            }
        }
    }
    v
}

/// Cuts a seed to `max` bytes.
fn cut(mut v: Vec<u8>, max: usize) -> Vec<u8> {
    v.truncate(max);
    v
}

/// A target's seeds: built-in ones, then files from `dirs` (sorted, so the
/// corpus and hence every input is the same from run to run).
pub fn seeds(t: &Target, dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let mut v = (t.builtin)();
    let mut files = Vec::new();
    for d in dirs {
        files_under(d, &mut files);
    }
    for f in &files {
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if !t.seed_exts.contains(&ext.as_str()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(f) else { continue };
        if t.zipped {
            if bytes.len() <= t.max_len {
                v.push(bytes);
            }
        } else {
            v.push(cut(bytes, t.max_len));
        }
    }
    match t.name {
        "docno" => v.extend(lines_with(&files, |l| l.contains('号'), 400)),
        "date" => v.extend(lines_with(&files, |l| l.contains("20") && (l.contains('-') || l.contains('年')), 300)),
        "query" => v.extend(lines_with(&files, |l| l.contains('"') || l.contains("公开"), 100)),
        _ => {}
    }
    v
}

// ---------------------------------------------------------------- mutation

/// Byte sequences that break decoders: truncated and overlong UTF-8, lone
/// surrogates, GBK/GB18030 pairs and four-byte forms, byte-order marks.
const BAD_BYTES: &[&[u8]] = &[
    &[0xE6],
    &[0xE6, 0x94],
    &[0x80],
    &[0xBF, 0xBF],
    &[0xC0, 0xAF],
    &[0xED, 0xA0, 0x80],
    &[0xF4, 0x90, 0x80, 0x80],
    &[0xFF],
    &[0xFE, 0xFF],
    &[0xFF, 0xFE],
    &[0xEF, 0xBB, 0xBF],
    &[0xB9, 0xFA],
    &[0x81, 0x30, 0x81, 0x30],
    &[0x84, 0x31, 0xA4, 0x39],
    &[0xA1],
    &[0x81, 0x7F],
    &[0xD5, 0xFE, 0xCE, 0xF1],
    &[0x00, 0x00],
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "127",
    "128",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999999",
    "1e308",
    "1e-308",
    "-0",
    "0.0000001",
    "1048576",
    "16384",
    "XFD",
    "1900",
    "2099",
    "9999",
];

/// Constructs repeated until a budget: deep nesting, bracket runs, entity runs.
const REPEATS: &[&str] = &[
    "<div>",
    "<b>",
    "<table>",
    "<li>",
    "<a href=x>",
    "<i><b>",
    "</div>",
    "<p>",
    "<font>",
    "<svg><g>",
    "&amp;",
    "&#x5B57;",
    "〔",
    "[",
    "(",
    "\"",
    ",",
    "\n",
    "<item>",
    "<c r=\"A1\"><v>1</v></c>",
    "号",
    " ",
    "-",
    "<![CDATA[",
];

fn mutate_once(buf: &mut Vec<u8>, rng: &mut Rng, dict: &[&str], corpus: &[Vec<u8>], max_len: usize) {
    let pos = |rng: &mut Rng, buf: &Vec<u8>| rng.below(buf.len() + 1);
    match rng.below(16) {
        0 if !buf.is_empty() => {
            let i = rng.below(buf.len());
            buf[i] ^= 1 << rng.below(8);
        }
        1 if !buf.is_empty() => {
            let i = rng.below(buf.len());
            buf[i] = rng.next_u64() as u8;
        }
        2 if !buf.is_empty() => {
            let i = rng.below(buf.len());
            buf[i] = *rng.pick(b"<>&\";'/=\n\0\x7f\x80\xff 0");
        }
        3 if !buf.is_empty() => {
            // Delete a range: mostly short, sometimes long.
            let at = rng.below(buf.len());
            let most = if rng.one_in(8) { buf.len() - at } else { (buf.len() - at).min(16) };
            let n = 1 + rng.below(most);
            buf.drain(at..at + n);
        }
        4 => {
            let at = pos(rng, buf);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            buf.splice(at..at, bytes);
        }
        5 if !buf.is_empty() => {
            // Duplicate a range somewhere else.
            let a = rng.below(buf.len());
            let n = 1 + rng.below((buf.len() - a).min(256));
            let chunk = buf[a..a + n].to_vec();
            let at = pos(rng, buf);
            buf.splice(at..at, chunk);
        }
        6 => {
            // Splice: a piece of another seed, inserted or replacing the tail.
            let other = rng.pick(corpus);
            if !other.is_empty() {
                let a = rng.below(other.len());
                let n = 1 + rng.below((other.len() - a).min(1024));
                let at = pos(rng, buf);
                if rng.one_in(2) {
                    buf.truncate(at);
                }
                buf.splice(at..at, other[a..a + n].iter().copied());
            }
        }
        7 | 8 => {
            let tok = if rng.one_in(3) { rng.pick(COMMON_DICT) } else { rng.pick(dict) };
            let at = pos(rng, buf);
            buf.splice(at..at, tok.bytes());
        }
        9 => {
            // A number: inserted, or replacing a run of digits.
            let n = rng.pick(NUMBERS).as_bytes();
            let digits: Vec<usize> =
                buf.iter().enumerate().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
            if !digits.is_empty() && rng.one_in(2) {
                let start = *rng.pick(&digits);
                let end = buf[start..].iter().position(|c| !c.is_ascii_digit()).map_or(buf.len(), |e| start + e);
                buf.splice(start..end, n.iter().copied());
            } else {
                let at = pos(rng, buf);
                buf.splice(at..at, n.iter().copied());
            }
        }
        10 => {
            // Deep nesting / long runs, up to the length budget.
            let tok = rng.pick(REPEATS).as_bytes();
            let room = max_len.saturating_sub(buf.len()) / tok.len().max(1);
            let k = 1 + rng.below(room.clamp(1, 4000));
            let at = pos(rng, buf);
            buf.splice(at..at, tok.iter().copied().cycle().take(k * tok.len()));
        }
        11 => {
            let at = pos(rng, buf);
            buf.splice(at..at, rng.pick(BAD_BYTES).iter().copied());
        }
        12 if !buf.is_empty() => {
            // Re-encode a stretch as GBK: a document whose charset changes midway.
            let a = rng.below(buf.len());
            let n = 1 + rng.below((buf.len() - a).min(512));
            let s = String::from_utf8_lossy(&buf[a..a + n]).into_owned();
            let enc = if rng.one_in(2) { encoding_rs::GBK } else { encoding_rs::BIG5 };
            let bytes = enc.encode(&s).0.into_owned();
            buf.splice(a..a + n, bytes);
        }
        13 if !buf.is_empty() => {
            // Overwrite a range with a copy of another.
            let a = rng.below(buf.len());
            let b = rng.below(buf.len());
            let n = 1 + rng.below((buf.len() - a.max(b)).min(64));
            let chunk = buf[a..a + n].to_vec();
            buf[b..b + n].copy_from_slice(&chunk);
        }
        14 => {
            let at = pos(rng, buf);
            buf.truncate(at);
        }
        _ => {
            // An entity or character reference of any size.
            let e = match rng.below(4) {
                0 => format!("&#{};", rng.next_u64() >> rng.below(64)),
                1 => format!("&#x{:X};", rng.next_u64() >> rng.below(64)),
                2 => "&amp;".repeat(1 + rng.below(64)),
                _ => format!(
                    "&{};",
                    ["nbsp", "lt", "gt", "quot", "copy", "ldquo", "hellip", "nosuch", "amp;amp"][rng.below(9)]
                ),
            };
            let at = pos(rng, buf);
            buf.splice(at..at, e.bytes());
        }
    }
}

/// Applies a few random mutations (occasionally many) to `buf`.
pub fn mutate(buf: &mut Vec<u8>, rng: &mut Rng, dict: &[&str], corpus: &[Vec<u8>], max_len: usize) {
    let n = if rng.one_in(8) { 1 + rng.below(32) } else { 1 + rng.below(4) };
    for _ in 0..n {
        mutate_once(buf, rng, dict, corpus, max_len);
        if buf.len() > max_len {
            buf.truncate(max_len);
        }
    }
}

/// An XLSX file unpacked: its parts in order.
pub type Parts = Vec<(String, Vec<u8>)>;

pub fn unzip(bytes: &[u8]) -> Option<Parts> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut parts = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).ok()?;
        let mut data = Vec::new();
        f.read_to_end(&mut data).ok()?;
        let name = f.name().map(|n| n.into_owned()).unwrap_or_default();
        parts.push((name, data));
    }
    Some(parts)
}

pub fn zip_parts(parts: &Parts, deflate: bool) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let opts = SimpleFileOptions::default().compression_method(method);
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in parts {
        if w.start_file(name.as_str(), opts).is_err() || w.write_all(data).is_err() {
            continue;
        }
    }
    w.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// An XLSX input: a seed's parts, one or more of them mutated (the
/// worksheet and shared strings most often), packed again; sometimes the
/// zip itself is edited (sizes, offsets, names, truncation).
fn mutate_xlsx(seed: &Parts, rng: &mut Rng, dict: &[&str], corpus: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut parts = seed.clone();
    let rounds = 1 + rng.below(2);
    for _ in 0..rounds {
        if parts.is_empty() {
            break;
        }
        let weighted: Vec<usize> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, (n, _))| {
                let w = if n.contains("worksheets/") || n.contains("sharedStrings") {
                    6
                } else if n.ends_with(".xml") || n.ends_with(".rels") {
                    2
                } else {
                    1
                };
                std::iter::repeat_n(i, w)
            })
            .collect();
        let i = *rng.pick(&weighted);
        match rng.below(12) {
            0 => {
                parts.remove(i);
            }
            1 => {
                let p = parts[i].clone();
                parts.push(p);
            }
            2 => {
                parts[i].0 = rng
                    .pick(&[
                        "xl/worksheets/sheet1.xml",
                        "xl/sharedStrings.xml",
                        "xl/workbook.xml",
                        "[Content_Types].xml",
                        "xl/_rels/workbook.xml.rels",
                        "../../x",
                        "",
                    ])
                    .to_string()
            }
            _ => mutate(&mut parts[i].1, rng, dict, corpus, max_len),
        }
    }
    let mut out = zip_parts(&parts, rng.one_in(4));
    if rng.one_in(5) && !out.is_empty() {
        // Zip-level edits: a 16- or 32-bit field set to an extreme value, or plain byte mutations.
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(out.len());
            match rng.below(3) {
                0 => {
                    let v: [u8; 4] =
                        *rng.pick(&[[0xFF; 4], [0; 4], [0xFF, 0xFF, 0xFF, 0x7F], [0x00, 0x00, 0x00, 0x40]]);
                    let n = (out.len() - at).min(4);
                    out[at..at + n].copy_from_slice(&v[..n]);
                }
                1 => out[at] ^= 1 << rng.below(8),
                _ => mutate_once(&mut out, rng, dict, corpus, max_len),
            }
        }
    }
    out
}

/// Rows a seed worksheet keeps: real exports have thousands, and a mutation
/// of row 9,000 teaches little that one of row 30 does not, at 100 times the cost.
const SEED_SHEET_ROWS: usize = 40;

/// A workbook's worksheets cut after [`SEED_SHEET_ROWS`] rows (the rest of the
/// workbook as it was).
fn short_sheets(mut parts: Parts) -> Parts {
    for (_, data) in parts.iter_mut() {
        let text = String::from_utf8_lossy(data);
        if !text.contains("<sheetData") {
            continue;
        }
        if let Some((at, _)) = text.match_indices("</row>").nth(SEED_SHEET_ROWS) {
            let cut = format!("{}</row></sheetData></worksheet>", &text[..at]);
            *data = cut.into_bytes();
        }
    }
    parts
}

/// A target's corpus, ready for the mutator.
pub struct Corpus {
    pub seeds: Vec<Vec<u8>>,
    /// For zipped targets: each seed's parts (seeds that do not unzip are left out).
    pub parts: Vec<Parts>,
}

impl Corpus {
    pub fn new(t: &Target, seeds: Vec<Vec<u8>>) -> Corpus {
        let parts =
            if t.zipped { seeds.iter().filter_map(|s| unzip(s)).map(short_sheets).collect() } else { Vec::new() };
        Corpus { seeds, parts }
    }

    /// Input `i` of a run with `seed`: a seed as it is (the first inputs of a run), else a mutated one.
    pub fn input(&self, t: &Target, seed: u64, i: u64) -> Vec<u8> {
        if (i as usize) < self.seeds.len() {
            return self.seeds[i as usize].clone();
        }
        let mut rng = input_rng(seed, t.name, i);
        if t.zipped && !self.parts.is_empty() && !rng.one_in(10) {
            let p = rng.pick(&self.parts);
            return mutate_xlsx(p, &mut rng, t.dict, &self.seeds, t.max_len);
        }
        let mut buf = if self.seeds.is_empty() { Vec::new() } else { rng.pick(&self.seeds).clone() };
        mutate(&mut buf, &mut rng, t.dict, &self.seeds, t.max_len);
        buf
    }
}

// ---------------------------------------------------------------- known findings

/// Off: these shapes were allocation bombs in calamine (a cell for every
/// position between the smallest and the largest cell reference of a sheet,
/// room reserved for a shared-strings `uniqueCount` as declared) until
/// `export::read_workbook` bounded them (the sheet read cell by cell, the
/// declared count checked against `import.max_cells`). The detector stays, off,
/// so that a run can still count such inputs if calamine changes.
pub const SKIP_KNOWN_XLSX_ALLOCATION_BOMBS: bool = false;

/// Cells calamine may allocate at most before the input counts as a known bomb
/// (8 M cells of 32 bytes = 256 MiB).
const KNOWN_BOMB_CELLS: u64 = 8 << 20;

/// Which known allocation bomb an XLSX input is, if any (see
/// [`SKIP_KNOWN_XLSX_ALLOCATION_BOMBS`]). Errs on the side of "is one".
pub fn known_xlsx_bomb(bytes: &[u8]) -> Option<&'static str> {
    let Ok(mut z) = zip::ZipArchive::new(Cursor::new(bytes)) else { return None };
    for i in 0..z.len() {
        let Ok(f) = z.by_index(i) else { continue };
        let mut data = Vec::new();
        if f.take(64 << 20).read_to_end(&mut data).is_err() {
            continue;
        }
        let text = String::from_utf8_lossy(&data);
        if text.contains("<sst") && large_attr(&text, "uniqueCount=\"", 1 << 20) {
            return Some("sharedStrings uniqueCount (calamine reserves it)");
        }
        if !text.contains("sheetData") {
            continue;
        }
        // Largest row and column a cell or row names: `<c r="XFD1048576">`, `<row r="…">`.
        let (mut rows, mut cols) = (0u64, 0u64);
        for tag in text.split('<').filter(|t| t.starts_with("c ") || t.starts_with("row ")) {
            let tag = tag.split('>').next().unwrap_or("");
            let Some(at) = tag.find(" r=\"") else { continue };
            let r = tag[at + 4..].split('"').next().unwrap_or("");
            let letters: String = r.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let digits: String = r.chars().skip(letters.len()).take_while(|c| c.is_ascii_digit()).collect();
            let col = letters
                .bytes()
                .fold(0u64, |a, c| a.saturating_mul(26).saturating_add((c.to_ascii_uppercase() - b'A' + 1) as u64));
            let row = if digits.is_empty() { 0 } else { digits.parse::<u64>().unwrap_or(u64::MAX) };
            rows = rows.max(row);
            cols = cols.max(col);
        }
        if rows.saturating_mul(cols.max(1)) > KNOWN_BOMB_CELLS || rows > KNOWN_BOMB_CELLS || cols > KNOWN_BOMB_CELLS {
            return Some("cell references far apart (calamine allocates every cell between)");
        }
    }
    None
}

fn large_attr(text: &str, attr: &str, limit: u64) -> bool {
    text.match_indices(attr).any(|(at, _)| {
        let digits: String = text[at + attr.len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.len() > 18 || digits.parse::<u64>().is_ok_and(|n| n > limit)
    })
}

// ---------------------------------------------------------------- running

/// What one input did.
#[derive(Debug)]
pub enum Outcome {
    Ok(Duration),
    /// Panicked: the message (and, when a hook recorded it, where).
    Panic(String),
    /// Skipped as a known finding (see [`SKIP_KNOWN_XLSX_ALLOCATION_BOMBS`]).
    Known(&'static str),
}

thread_local! {
    /// Where the last panic on this thread happened, when the fuzzer's panic hook is installed.
    pub static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_string())
}

/// Runs one input under `catch_unwind`.
pub fn run_one(t: &Target, run: &RunFn, input: &[u8], skip_known: bool) -> Outcome {
    if skip_known
        && t.zipped
        && SKIP_KNOWN_XLSX_ALLOCATION_BOMBS
        && let Ok(Some(k)) = catch_unwind(|| known_xlsx_bomb(input))
    {
        return Outcome::Known(k);
    }
    LAST_PANIC.with(|l| l.borrow_mut().take());
    let started = Instant::now();
    match catch_unwind(AssertUnwindSafe(|| run(input))) {
        Ok(()) => Outcome::Ok(started.elapsed()),
        Err(p) => {
            let at = LAST_PANIC.with(|l| l.borrow_mut().take());
            let msg = payload_message(p.as_ref());
            Outcome::Panic(match at {
                Some(at) => format!("{msg} (at {at})"),
                None => msg,
            })
        }
    }
}

/// The first line of a panic message with numbers blanked: inputs that
/// fail the same way share it.
pub fn signature(msg: &str) -> String {
    let line = msg.lines().next().unwrap_or("");
    let mut out = String::new();
    let mut last_digit = false;
    for c in line.chars().take(200) {
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
        } else {
            out.push(c);
            last_digit = false;
        }
    }
    out
}

/// Saves a finding's input under `dir/<target>/`; returns the file.
pub fn save(dir: &Path, target: &str, kind: &str, seed: u64, i: u64, input: &[u8]) -> PathBuf {
    let d = dir.join(target);
    let _ = std::fs::create_dir_all(&d);
    let p = d.join(format!("{kind}-seed{seed}-input{i}.bin"));
    let _ = std::fs::write(&p, input);
    p
}

/// What a run of one target found.
#[derive(Debug, Default)]
pub struct Report {
    pub runs: u64,
    pub known: BTreeMap<&'static str, u64>,
    /// signature → (count, first input number, saved file, message)
    pub crashes: BTreeMap<String, (u64, u64, PathBuf, String)>,
    /// Inputs slower than the limit: (input number, time, saved file).
    pub slow: Vec<(u64, Duration, PathBuf)>,
    pub slowest: Duration,
    pub elapsed: Duration,
}

impl Report {
    pub fn crash_count(&self) -> u64 {
        self.crashes.values().map(|c| c.0).sum()
    }
}

/// Runs inputs `from..to` of a target in this process, saving findings under `dir`.
#[allow(clippy::too_many_arguments)]
pub fn run_range(
    t: &Target,
    run: &RunFn,
    corpus: &Corpus,
    seed: u64,
    from: u64,
    to: u64,
    slow_limit: Duration,
    skip_known: bool,
    dir: &Path,
    mut before: impl FnMut(u64, &[u8]),
    mut after: impl FnMut(u64, &Report),
) -> Report {
    let started = Instant::now();
    let mut r = Report::default();
    for i in from..to {
        // The mutator is not under test, but a panic in it must not end the run unexplained.
        let outcome = catch_unwind(AssertUnwindSafe(|| corpus.input(t, seed, i)));
        let (input, outcome) = match outcome {
            Ok(input) => {
                before(i, &input);
                let o = run_one(t, run, &input, skip_known);
                (input, o)
            }
            Err(p) => {
                (Vec::new(), Outcome::Panic(format!("the fuzzer's input generation: {}", payload_message(p.as_ref()))))
            }
        };
        match outcome {
            Outcome::Ok(d) => {
                r.slowest = r.slowest.max(d);
                if d > slow_limit {
                    let p = save(dir, t.name, "slow", seed, i, &input);
                    r.slow.push((i, d, p));
                }
            }
            Outcome::Known(k) => *r.known.entry(k).or_default() += 1,
            Outcome::Panic(msg) => {
                let sig = signature(&msg);
                let e = r.crashes.entry(sig).or_insert_with(|| (0, i, PathBuf::new(), msg.clone()));
                e.0 += 1;
                if e.0 <= 3 {
                    let p = save(dir, t.name, "crash", seed, i, &input);
                    if e.0 == 1 {
                        e.2 = p;
                    }
                }
            }
        }
        r.runs += 1;
        after(i, &r);
    }
    r.elapsed = started.elapsed();
    r
}
