//! Parse benchmark: feeds and column pages through govwatch's own parsing
//! paths (`sources::feed::parse`; `sources::charset::decode` then
//! `sources::page::parse_list` / `parse_detail`), bytes in, items out.
//!
//! ```text
//! cargo bench --bench parse
//! cargo bench --bench parse -- --seconds 3 --feed-items 500
//! ```
//!
//! Inputs: the demo files in `config/demo/` (always there), the real files
//! in `$GOVWATCH_SHARED/data/feeds/generated-gov/*.xml` and
//! `$GOVWATCH_SHARED/data/gov-html/*.html` when that folder exists, and
//! generated documents (a large RSS feed of Chinese items, UTF-8 and
//! GB18030, and a long list page), and hostile ones (issue 18: deep nesting,
//! stray end tags, open formatting elements, foster-parented table text).
//!
//! Started without `--bench` (as `cargo test --all-targets` does), it runs
//! every input a few times only, as a smoke test.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, TimeZone};
use govwatch::config::PageConfig;
use govwatch::normalize::time::china;
use govwatch::sources::page::{Selectors, parse_detail, parse_list};
use govwatch::sources::{charset, feed};
use url::Url;

use common::{Machine, Table, fmt_bytes, loadavg, per_sec, started_by_cargo_bench, thousands};

const USAGE: &str = "\
usage: cargo bench --bench parse -- [options]

  --seconds S       time spent on each input (default 1; at least 3 parses)
  --feed-items N    items in the generated feeds (default 200)
  --list-items N    entries in the generated list page (default 100)
  --help            this text

Real inputs are read from $GOVWATCH_SHARED/data (default ../shared/data next
to the crate) when present.";

struct Options {
    seconds: f64,
    feed_items: usize,
    list_items: usize,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options { seconds: 1.0, feed_items: 200, list_items: 100 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--seconds" => {
                let v = value("--seconds")?;
                o.seconds = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or_else(|| format!("--seconds: not a positive number: {v:?}"))?;
            }
            "--feed-items" => {
                let v = value("--feed-items")?;
                o.feed_items = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--feed-items: not a positive number: {v:?}"))?;
            }
            "--list-items" => {
                let v = value("--list-items")?;
                o.list_items = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--list-items: not a positive number: {v:?}"))?;
            }
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(o)
}

/// What to do with an input.
enum Parser {
    Feed,
    List(PageConfig),
    Detail,
}

impl Parser {
    fn name(&self) -> &'static str {
        match self {
            Parser::Feed => "feed::parse",
            Parser::List(_) => "decode + parse_list",
            Parser::Detail => "decode + parse_detail",
        }
    }
}

struct Input {
    group: &'static str,
    name: String,
    bytes: Vec<u8>,
    parser: Parser,
    base: Url,
}

/// Parses once; the number of items (1 for a detail page that gave a body
/// or a title) or an error.
fn parse_once(input: &Input, sel: Option<&Selectors>) -> Result<usize, String> {
    match &input.parser {
        Parser::Feed => {
            feed::parse(&input.bytes, None, Some(&input.base)).map(|o| o.items.len()).map_err(|e| e.to_string())
        }
        Parser::List(_) => {
            let d = charset::decode(&input.bytes, None);
            parse_list(&d.text, &input.base, sel.expect("selectors")).map(|p| p.items.len()).map_err(|e| e.to_string())
        }
        Parser::Detail => {
            let d = charset::decode(&input.bytes, None);
            let detail = parse_detail(&d.text, None, sel.expect("selectors"));
            Ok(usize::from(detail.text.is_some() || detail.title.is_some()))
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !started_by_cargo_bench(&args);
    let mut opts = if smoke {
        parse_args(&[]).expect("defaults parse")
    } else {
        match parse_args(&args) {
            Ok(o) => o,
            Err(e) if e.is_empty() => {
                println!("{USAGE}");
                return;
            }
            Err(e) => {
                eprintln!("error: {e}\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    };
    if smoke {
        eprintln!(
            "parse bench: not started by `cargo bench`; running each input briefly as a smoke test \
             (run `cargo bench --bench parse` for the benchmark)"
        );
        opts.seconds = 0.01;
    }

    let repo = common::repo();
    let demo = repo.join("config/demo");
    let shared = common::shared_dir();
    let mut inputs: Vec<Input> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // Demo files: always there.
    let demo_list = PageConfig {
        item: Some("ul.list li".into()),
        title: Some("a".into()),
        link: Some("a".into()),
        date: Some("span".into()),
        ..PageConfig::default()
    };
    for f in ["gov-province.xml", "xian-portal.xml"] {
        add_file(&mut inputs, "demo", &demo.join(f), Parser::Feed);
    }
    for f in ["xian-tzgg.html", "xian-tzgg_1.html"] {
        add_file(&mut inputs, "demo", &demo.join(f), Parser::List(demo_list.clone()));
    }
    for f in sorted_files(&demo.join("xian-tzgg"), "html") {
        add_file(&mut inputs, "demo", &f, Parser::Detail);
    }

    // Real files, when the shared folder is there.
    let feeds_dir = shared.join("data/feeds/generated-gov");
    let html_dir = shared.join("data/gov-html");
    if feeds_dir.is_dir() {
        for f in sorted_files(&feeds_dir, "xml") {
            add_file(&mut inputs, "real", &f, Parser::Feed);
        }
    } else {
        notes.push(format!(
            "SKIPPED: real feeds — {} is missing (set GOVWATCH_SHARED to the folder holding data/)",
            feeds_dir.display()
        ));
    }
    if html_dir.is_dir() {
        for f in sorted_files(&html_dir, "html") {
            let detail = f.file_name().is_some_and(|n| n.to_string_lossy().contains("detail"));
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
            let parser = if detail {
                Parser::Detail
            } else if name.is_some_and(|n| n.starts_with("handan_")) {
                // The 邯郸 信息公开 list is a table (as in tests/conformance.rs).
                Parser::List(PageConfig {
                    item: Some("table tr".into()),
                    date: Some("td:last-child".into()),
                    ..PageConfig::default()
                })
            } else {
                // The default selectors: every <li> holding a link and a date.
                Parser::List(PageConfig::default())
            };
            add_file(&mut inputs, "real", &f, parser);
        }
    } else {
        notes.push(format!(
            "SKIPPED: real column pages — {} is missing (set GOVWATCH_SHARED to the folder holding data/)",
            html_dir.display()
        ));
    }

    // Generated documents.
    let base = Url::parse("https://www.shifanxian.gov.cn.example/zwgk/tzgg/").expect("url");
    let rss = generated_rss(opts.feed_items);
    inputs.push(Input {
        group: "generated",
        name: format!("RSS 2.0, {} items, UTF-8", opts.feed_items),
        bytes: rss.clone().into_bytes(),
        parser: Parser::Feed,
        base: base.clone(),
    });
    let gb = rss.replacen("encoding=\"UTF-8\"", "encoding=\"GB18030\"", 1);
    let (gb_bytes, _, _) = encoding_rs::GB18030.encode(&gb);
    inputs.push(Input {
        group: "generated",
        name: format!("RSS 2.0, {} items, GB18030", opts.feed_items),
        bytes: gb_bytes.into_owned(),
        parser: Parser::Feed,
        base: base.clone(),
    });
    inputs.push(Input {
        group: "generated",
        name: format!("list page, {} entries, UTF-8", opts.list_items),
        bytes: generated_list(opts.list_items).into_bytes(),
        parser: Parser::List(demo_list.clone()),
        base: base.clone(),
    });

    // Hostile documents (issue 18): nesting that overflowed the stack and
    // made html5ever quadratic, stray end tags that make it scan the open
    // elements, open formatting elements re-created in every paragraph, and
    // table text it foster-parents. A tenth of the size in a smoke test.
    let scale = if smoke { 10 } else { 1 };
    let deep = 200_000 / scale;
    let nested = |n: usize, text: &str| "<div>".repeat(n) + text + &"</div>".repeat(n);
    let feed = format!(
        "<rss version=\"2.0\"><channel><title>嵌套</title><item><title>两万层嵌套</title><link>http://x.gov.cn/1</link><description>{}</description></item></channel></rss>",
        nested(deep, "嵌套正文").replace('<', "&lt;").replace('>', "&gt;")
    );
    inputs.push(Input {
        group: "hostile",
        name: format!("RSS description, {deep} nested div"),
        bytes: feed.into_bytes(),
        parser: Parser::Feed,
        base: base.clone(),
    });
    let page = |body: String| format!("<html><body><div class=\"TRS_Editor\">{body}</div></body></html>").into_bytes();
    inputs.push(Input {
        group: "hostile",
        name: format!("entry page, {deep} nested div"),
        bytes: page(nested(deep, "正文")),
        parser: Parser::Detail,
        base: base.clone(),
    });
    let pairs = 100_000 / scale;
    inputs.push(Input {
        group: "hostile",
        name: format!("entry page, {pairs} × <div></span>"),
        bytes: page("<div></span>".repeat(pairs) + "正文"),
        parser: Parser::Detail,
        base: base.clone(),
    });
    let paragraphs = 5_000 / scale;
    let fonts: String = (0..200).map(|i| format!("<font class=f{i}>")).collect();
    inputs.push(Input {
        group: "hostile",
        name: format!("entry page, 200 open <font> × {paragraphs} <p>"),
        bytes: page(format!("<p>{fonts}</p>{}", "<p>段落</p>".repeat(paragraphs))),
        parser: Parser::Detail,
        base: base.clone(),
    });
    let pieces = 50_000 / scale;
    inputs.push(Input {
        group: "hostile",
        name: format!("list page, {pieces} foster-parented table texts"),
        bytes: format!(
            "<html><body><table>{}</table>{}</body></html>",
            "表格外的文字<b>加粗</b>".repeat(pieces),
            generated_list(opts.list_items)
        )
        .into_bytes(),
        parser: Parser::List(demo_list),
        base,
    });

    // Run.
    let machine = Machine::read();
    let load_before = loadavg();
    let budget = Duration::from_secs_f64(opts.seconds);
    let mut t = Table::new(&["input", "parser", "size", "items", "parses", "ms per parse", "items/s", "MB/s"]);
    let (mut total_items, mut total_bytes, mut total_time) = (0usize, 0usize, Duration::ZERO);
    for input in &inputs {
        eprintln!("parse: {} {}", input.group, input.name);
        let sel = match &input.parser {
            Parser::List(cfg) => Some(Selectors::new(cfg).expect("valid selectors")),
            Parser::Detail => Some(Selectors::new(&PageConfig::default()).expect("defaults")),
            Parser::Feed => None,
        };
        let name = format!("{}: {}", input.group, input.name);
        // Warm-up, and the item count.
        let items = match parse_once(input, sel.as_ref()) {
            Ok(n) => n,
            Err(e) => {
                t.row(vec![
                    name,
                    input.parser.name().into(),
                    fmt_bytes(input.bytes.len() as u64),
                    format!("error: {e}"),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                    "–".into(),
                ]);
                continue;
            }
        };
        let mut runs = 0u32;
        let started = Instant::now();
        while runs < 3 || started.elapsed() < budget {
            let n = parse_once(input, sel.as_ref()).unwrap_or(0);
            std::hint::black_box(n);
            runs += 1;
        }
        let elapsed = started.elapsed();
        let per = elapsed / runs;
        total_items += items * runs as usize;
        total_bytes += input.bytes.len() * runs as usize;
        total_time += elapsed;
        t.row(vec![
            name,
            input.parser.name().into(),
            fmt_bytes(input.bytes.len() as u64),
            items.to_string(),
            thousands(runs as u64),
            format!("{:.3}", per.as_secs_f64() * 1000.0),
            per_sec(items as f64, per),
            format!("{:.1}", input.bytes.len() as f64 / 1e6 / per.as_secs_f64()),
        ]);
    }

    println!("\n# govwatch parse benchmark{}\n", if smoke { " (smoke test)" } else { "" });
    println!("{}", machine.markdown());
    println!(
        "Load average before / after: {load_before} / {}. Each input: one warm-up parse, then parses for {:.2} s \
         (at least 3). Items = items the parser returned (a detail page counts 1 when it gave a title or body). \
         Pages are decoded with `charset::decode` inside the timed loop, as `poll` does.\n",
        loadavg(),
        opts.seconds
    );
    for n in &notes {
        println!("{n}\n");
    }
    println!("{}", t.render());
    if !total_time.is_zero() {
        println!(
            "All inputs together: {} items/s, {:.1} MB/s.",
            per_sec(total_items as f64, total_time),
            total_bytes as f64 / 1e6 / total_time.as_secs_f64()
        );
    }
}

fn sorted_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn add_file(inputs: &mut Vec<Input>, group: &'static str, path: &Path, parser: Parser) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("parse: cannot read {}: {e}; skipped", path.display());
            return;
        }
    };
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let base = Url::from_file_path(&abs).unwrap_or_else(|_| Url::parse("https://www.example.gov.cn/").expect("url"));
    inputs.push(Input {
        group,
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        bytes,
        parser,
        base,
    });
}

/// Sentences for generated documents (written for this benchmark).
const SENTENCES: &[&str] = &[
    "为进一步做好政府信息公开工作，切实保障人民群众的知情权、参与权和监督权，现将有关事项通知如下",
    "各乡镇人民政府、县政府各部门要高度重视，明确分管领导和具体责任人，确保各项工作落到实处",
    "本季度县12345政务服务便民热线共受理群众诉求三千余件，按时办结率达到百分之九十八以上",
    "对群众反映集中的供暖、物业、交通出行等问题，热线中心已逐件转办并跟踪督办",
    "依申请公开办理要严格按照法定时限答复，答复内容应当准确、完整，并告知申请人救济途径",
    "政府门户网站要及时转载上级政策文件，做好政策解读，杜绝空白栏目和长期不更新栏目",
    "各单位要于每年一月三十一日前完成政府信息公开工作年度报告的编制和发布工作",
    "主动公开的政府信息应当通过政府网站、政务新媒体、政务公开专区等渠道及时发布",
    "对涉及群众切身利益的重大决策事项，要通过听证会、座谈会、网络征求意见等方式广泛听取意见",
    "县政务公开办将定期开展检查评估，检查结果纳入年度绩效考核",
    "请各单位于本月二十五日前将工作落实情况报送县政府办公室，联系电话见附件",
    "本通知自印发之日起施行，此前有关规定与本通知不一致的，以本通知为准",
];

fn text(seed: usize, chars: usize) -> String {
    let mut out = String::new();
    let mut k = seed;
    while out.chars().count() < chars {
        out.push_str(SENTENCES[k % SENTENCES.len()]);
        out.push('。');
        k = k.wrapping_mul(7).wrapping_add(3);
    }
    out
}

fn generated_rss(n: usize) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n<channel>\n\
         <title>示范县人民政府 通知公告（生成数据）</title>\n\
         <link>https://www.shifanxian.gov.cn.example/</link>\n\
         <description>govwatch parse benchmark</description>\n<language>zh-CN</language>\n",
    );
    let newest = china().with_ymd_and_hms(2026, 11, 20, 17, 30, 0).single().expect("valid time");
    for i in 0..n {
        let at = newest - ChronoDuration::hours(7 * i as i64);
        let title: String = text(i, 30).chars().take(24).collect();
        let body = text(i + 5, 340);
        let (a, b) = body.split_at(body.char_indices().nth(170).map(|(b, _)| b).unwrap_or(0));
        s.push_str(&format!(
            "<item>\n<title>关于{title}的通知</title>\n\
             <link>https://www.shifanxian.gov.cn.example/zwgk/tzgg/{ym}/t{ymd}_{i}.html</link>\n\
             <guid isPermaLink=\"false\">tzgg-{i}</guid>\n\
             <pubDate>{date}</pubDate>\n<category>通知公告</category>\n\
             <description><![CDATA[<p>示政办发〔2026〕{no}号</p><p>{a}</p><p>{b}</p>]]></description>\n</item>\n",
            ym = at.format("%Y%m"),
            ymd = at.format("%Y%m%d"),
            date = at.format("%a, %d %b %Y %H:%M:%S %z"),
            no = i + 1,
        ));
    }
    s.push_str("</channel>\n</rss>\n");
    s
}

fn generated_list(n: usize) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>通知公告 - 示范县人民政府</title></head><body>\n\
         <div class=\"nav\"><ul><li><a href=\"/\">首页</a></li><li><a href=\"/zwgk/\">政务公开</a></li></ul></div>\n\
         <ul class=\"list\">\n",
    );
    let newest = china().with_ymd_and_hms(2026, 11, 20, 0, 0, 0).single().expect("valid time");
    for i in 0..n {
        let at = newest - ChronoDuration::days(i as i64 / 3);
        let title: String = text(i, 40).chars().take(34).collect();
        let short: String = title.chars().take(20).collect();
        s.push_str(&format!(
            "<li><a href=\"./{ym}/t{ymd}_{i}.html\" title=\"{title}\" target=\"_blank\">{short}...</a><span>{d}</span></li>\n",
            ym = at.format("%Y%m"),
            ymd = at.format("%Y%m%d"),
            d = at.format("%Y-%m-%d"),
        ));
    }
    s.push_str("</ul>\n<div class=\"page\"><a href=\"index_1.html\">下一页</a></div>\n</body></html>\n");
    s
}
