//! Feeds (RSS 0.9x/1.0/2.0, Atom, JSON Feed) → parsed items. Pure: bytes in,
//! items and warnings out.
//!
//! feed-rs does the parsing; around it govwatch decides the charset itself
//! (`charset`), reads dates the Chinese way (`normalize::time`: no zone means
//! Asia/Shanghai, `CST` means +08:00), resolves links, turns HTML into text,
//! and survives what feed-rs would refuse or panic on.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, FixedOffset, NaiveTime, Timelike, Utc};
use regex::Regex;
use thiserror::Error;
use url::Url;

use super::charset;
use crate::model::{ParsedItem, Precision, Published};
use crate::normalize::canonical_link;
use crate::normalize::html::{html_to_text, tidy_text};
use crate::normalize::text::is_han;
use crate::normalize::time::{self, china};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FeedError {
    #[error("文档为空")]
    Empty,
    #[error("不是订阅源（RSS/Atom）：{0}")]
    NotAFeed(String),
    #[error("订阅源格式损坏：{0}")]
    Broken(String),
}

#[derive(Debug, Default)]
pub struct FeedOutput {
    pub title: Option<String>,
    pub items: Vec<ParsedItem>,
    /// Things worth showing in the source's health: charset overrides,
    /// unreadable dates.
    pub warnings: Vec<String>,
}

/// Parses a feed. `content_type` is the HTTP header (for the charset);
/// `base` resolves relative links.
pub fn parse(bytes: &[u8], content_type: Option<&str>, base: Option<&Url>) -> Result<FeedOutput, FeedError> {
    let decoded = charset::decode(bytes, content_type);
    let mut warnings = decoded.warnings;
    let text = prepare_xml(&decoded.text);
    if text.trim().is_empty() {
        return Err(FeedError::Empty);
    }

    let parsed_dates: Arc<Mutex<HashMap<i64, Published>>> = Arc::default();
    let bad_dates: Arc<Mutex<Vec<String>>> = Arc::default();
    let (pd, bd) = (parsed_dates.clone(), bad_dates.clone());
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base.map(Url::as_str))
        // An empty id marks "the feed gave none" (feed-rs would invent one).
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(move |s: &str| match time::parse(s) {
            Some(p) => {
                let utc = p.at.with_timezone(&Utc);
                pd.lock().unwrap_or_else(|e| e.into_inner()).insert(utc.timestamp(), p);
                Some(utc)
            }
            None => {
                bd.lock().unwrap_or_else(|e| e.into_inner()).push(s.trim().to_string());
                None
            }
        })
        .build();
    let feed = match catch_unwind(AssertUnwindSafe(|| parser.parse(text.as_bytes()))) {
        Ok(Ok(feed)) => feed,
        Ok(Err(e)) => return Err(classify(&e.to_string(), &text)),
        Err(_) => {
            return Err(FeedError::Broken("解析器无法读取此文档".into()));
        }
    };
    let parsed_dates = parsed_dates.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for bad in bad_dates.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        warnings.push(format!("无法识别的日期 {bad:?}：该条目已保留，但没有发布时间"));
    }

    let chinese = feed.language.as_deref().is_some_and(|l| l.to_ascii_lowercase().starts_with("zh"))
        || feed.entries.iter().any(|e| e.title.as_ref().is_some_and(|t| t.content.chars().any(is_han)));
    let mut midnight = 0;
    let mut items = Vec::with_capacity(feed.entries.len());
    for (n, e) in feed.entries.into_iter().enumerate() {
        let title = e.title.as_ref().map(text_of).unwrap_or_default();
        let link = e
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .or(e.links.first())
            .and_then(|l| canonical_link(base, &l.href));
        let summary = e.summary.as_ref().map(text_of).unwrap_or_default();
        let content = e.content.as_ref().and_then(|c| c.body.as_deref()).map(html_to_text).unwrap_or_default();
        let text = if content.chars().count() > summary.chars().count() { content } else { summary };
        let links: Vec<String> =
            [e.summary.as_ref().map(|t| t.content.as_str()), e.content.as_ref().and_then(|c| c.body.as_deref())]
                .into_iter()
                .flatten()
                .flat_map(|h| crate::normalize::html::links_in(h, base))
                .collect();
        let published = e.published.or(e.updated).map(|utc| {
            let p = parsed_dates.get(&utc.timestamp()).copied().unwrap_or(Published {
                at: utc.fixed_offset(),
                precision: Precision::Time,
                zone_assumed: false,
            });
            if chinese && is_utc_midnight(&p.at) {
                midnight += 1;
                beijing_date(&p.at)
            } else {
                p
            }
        });
        if title.is_empty() && link.is_none() && text.is_empty() {
            warnings.push(format!("第 {} 条没有标题、链接和正文，已跳过", n + 1));
            continue;
        }
        let publisher = e.source.clone().filter(|s| !s.trim().is_empty()).or_else(|| source_line(&text));
        items.push(ParsedItem {
            guid: Some(e.id).filter(|g| !g.trim().is_empty()),
            title,
            text,
            link,
            published,
            doc_no: None,
            publisher,
            categories: e.categories.iter().map(|c| c.label.clone().unwrap_or_else(|| c.term.clone())).collect(),
            links,
        });
    }
    if midnight > 0 {
        warnings.push(format!(
            "{midnight} 个写作 00:00:00 UTC 的日期按北京时间的日期读取（该网站把本地日期标成了 +0000 时区）"
        ));
    }
    let mut title = feed.title.as_ref().map(text_of);
    repair_mojibake(title.as_mut(), &mut items, &mut warnings);
    let titles: String = items.iter().map(|i| i.title.as_str()).collect();
    warnings.extend(charset::replacement_warning(&titles));
    if items.is_empty() {
        warnings.push("订阅源中没有条目".into());
    }
    Ok(FeedOutput { title, items, warnings })
}

/// Text of a feed `Text`: HTML turned into text, plain text tidied.
fn text_of(t: &feed_rs::model::Text) -> String {
    let sub = t.content_type.subty();
    if sub == "html" || sub == "xhtml" { html_to_text(&t.content) } else { tidy_text(&t.content) }
}

fn is_utc_midnight(at: &DateTime<FixedOffset>) -> bool {
    at.offset().local_minus_utc() == 0 && at.time().num_seconds_from_midnight() == 0 && at.nanosecond() == 0
}

/// `2026-04-14 00:00:00 +0000` from a Chinese site means the date 2026-04-14 in Beijing.
fn beijing_date(at: &DateTime<FixedOffset>) -> Published {
    let local = at.date_naive().and_time(NaiveTime::MIN).and_local_timezone(china()).single();
    match local {
        Some(at) => Published { at, precision: Precision::Date, zone_assumed: true },
        None => Published { at: *at, precision: Precision::Time, zone_assumed: false },
    }
}

/// `来源: 上海市发改委` on the first line of a description.
fn source_line(text: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r"^(?:来源|信息来源|发布机构)\s*[:：]\s*(\S{2,30})").expect("source line pattern"));
    re.captures(text.lines().next()?.trim()).map(|c| c[1].to_string())
}

/// When the feed's titles as a whole are UTF-8 read as GBK upstream (see
/// `charset::repair_utf8_read_as_gbk`), every text field is turned back.
fn repair_mojibake(title: Option<&mut String>, items: &mut [ParsedItem], warnings: &mut Vec<String>) {
    let sample: String =
        title.as_deref().map(String::as_str).into_iter().chain(items.iter().map(|i| i.title.as_str())).collect();
    if charset::repair_utf8_read_as_gbk(&sample).is_none() {
        return;
    }
    let fix = |s: &mut String| {
        if let Some(r) = charset::repair_utf8_read_as_gbk(s) {
            *s = r;
        }
    };
    if let Some(t) = title {
        fix(t);
    }
    for it in items.iter_mut() {
        fix(&mut it.title);
        fix(&mut it.text);
        it.publisher.iter_mut().for_each(fix);
        it.categories.iter_mut().for_each(fix);
    }
    warnings.push("订阅源的文字原为 UTF-8，却被当作 GBK 解码过（出现“鐨勬憜”一类乱码），已还原".into());
}

/// Makes decoded text safe to hand to feed-rs: the XML declaration now says
/// UTF-8 (the text *is* UTF-8, whatever the original said), and an `<rss>`
/// root without a version is read as RSS 2.0.
fn prepare_xml(text: &str) -> String {
    static DECL: OnceLock<Regex> = OnceLock::new();
    static RSS: OnceLock<Regex> = OnceLock::new();
    let decl =
        DECL.get_or_init(|| Regex::new(r#"^(\s*<\?xml[^>]*?encoding\s*=\s*)["'][^"']*["']"#).expect("decl pattern"));
    let rss = RSS.get_or_init(|| Regex::new(r"<rss(\s[^>]*)?>").expect("rss pattern"));
    let mut out = decl.replace(text, r#"${1}"UTF-8""#).into_owned();
    if let Some(m) = rss.find(&out)
        && !m.as_str().contains("version")
    {
        let fixed = m.as_str().replacen("<rss", "<rss version=\"2.0\"", 1);
        out.replace_range(m.range(), &fixed);
    }
    out
}

fn classify(msg: &str, text: &str) -> FeedError {
    let head: String = text.trim_start().chars().take(200).collect::<String>().to_ascii_lowercase();
    if msg.contains("NoFeedRoot") || msg.contains("no root") || msg.to_ascii_lowercase().contains("unable to find") {
        if text.contains("<rss") && !text.contains("<channel") {
            return FeedError::NotAFeed("<rss> 元素中没有 <channel>".into());
        }
        if head.contains("<html") || head.contains("<!doctype html") {
            return FeedError::NotAFeed(
                "服务器返回的是网页，不是订阅源（如果这是栏目页，请用 kind = \"page\"）".into(),
            );
        }
        return FeedError::NotAFeed(format!("没有 <rss>、<feed> 或 <rdf:RDF> 根元素（{msg}）"));
    }
    FeedError::Broken(msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>上海政策</title><language>zh-CN</language>
<item><title><![CDATA[关于优化供电配套工程收费政策的通知]]></title>
<link>/fgw/20260414/d217.html</link>
<description><![CDATA[来源: 上海市发改委<br/>根据《通知》（国办函〔2020〕129号）]]></description>
<pubDate>Tue, 14 Apr 2026 00:00:00 +0000</pubDate>
<guid isPermaLink="false">g1</guid></item>
<item><title>更新时间</title><link>http://x.gov.cn/2</link><pubDate>2017-07-03 09:06:34</pubDate></item>
<item><title>CST</title><link>http://x.gov.cn/3</link><pubDate>31 Dec 2002 14:20:20 CST</pubDate></item>
<item><title>坏日期</title><link>http://x.gov.cn/4</link><pubDate>Sat, 31 Jun 2006 23:08:26 +1000</pubDate></item>
</channel></rss>"#;

    #[test]
    fn chinese_rss_comes_out_right() {
        let base = Url::parse("http://fgw.sh.gov.cn/rss.xml").unwrap();
        let out = parse(RSS.as_bytes(), Some("application/rss+xml"), Some(&base)).unwrap();
        assert_eq!(out.items.len(), 4);
        let a = &out.items[0];
        assert_eq!(a.title, "关于优化供电配套工程收费政策的通知");
        assert_eq!(a.link.as_deref(), Some("http://fgw.sh.gov.cn/fgw/20260414/d217.html"));
        assert_eq!(a.text, "来源: 上海市发改委\n根据《通知》（国办函〔2020〕129号）");
        assert_eq!(a.publisher.as_deref(), Some("上海市发改委"));
        assert_eq!(a.guid.as_deref(), Some("g1"));
        let p = a.published.unwrap();
        assert_eq!((p.at.to_rfc3339().as_str(), p.precision), ("2026-04-14T00:00:00+08:00", Precision::Date));
        assert_eq!(out.items[1].published.unwrap().at.to_rfc3339(), "2017-07-03T09:06:34+08:00");
        assert!(out.items[1].published.unwrap().zone_assumed);
        assert_eq!(out.items[2].published.unwrap().at.to_rfc3339(), "2002-12-31T14:20:20+08:00");
        assert_eq!(out.items[3].published, None);
        assert_eq!(out.items[1].guid, None, "no guid given");
        assert!(out.warnings.iter().any(|w| w.contains("31 Jun 2006")), "{:?}", out.warnings);
    }

    #[test]
    fn gbk_bytes_with_a_lying_declaration() {
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>政务公开</title><item><title>依申请公开工作年度报告</title><link>http://a.gov.cn/1</link></item></channel></rss>";
        let bytes = encoding_rs::GB18030.encode(xml).0.into_owned();
        let out = parse(&bytes, Some("text/xml; charset=gbk"), None).unwrap();
        assert_eq!(out.items[0].title, "依申请公开工作年度报告");
        assert_eq!(out.title.as_deref(), Some("政务公开"));
    }

    #[test]
    fn rss_without_version_and_duplicate_guids() {
        // Items sharing a guid are all kept, as the feed gave them: which key
        // each is stored under is `normalize::identity`'s decision.
        let xml = "<rss><channel><item><title>甲</title><guid>same</guid><link>http://a/1</link></item><item><title>乙</title><guid>same</guid><link>http://a/2</link></item></channel></rss>";
        let out = parse(xml.as_bytes(), None, None).unwrap();
        assert_eq!(out.items.len(), 2);
        assert!(out.items.iter().all(|i| i.guid.as_deref() == Some("same")));
    }

    #[test]
    fn json_feed() {
        let json = r#"{"version": "https://jsonfeed.org/version/1.1", "title": "县政府", "items": [
            {"id": "1", "url": "https://x.gov.cn/a.html", "title": "关于政务公开的通知",
             "content_html": "<p>依申请公开</p>", "date_published": "2026-11-20T10:00:00+08:00"}]}"#;
        let out = parse(json.as_bytes(), Some("application/feed+json"), None).unwrap();
        assert_eq!(out.items[0].title, "关于政务公开的通知");
        assert_eq!(out.items[0].text, "依申请公开");
        assert_eq!(out.items[0].published.unwrap().at.to_rfc3339(), "2026-11-20T10:00:00+08:00");
    }

    #[test]
    fn xml_base_cannot_make_a_link_local() {
        // Issue 18 item 1: xml:base is a URL a document gives, like <base href>.
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="file:///etc/"><title>t</title>
            <entry><title>政务公开</title><id>1</id><link href="passwd"/><updated>2026-11-20T10:00:00+08:00</updated></entry></feed>"#;
        let base = Url::parse("http://x.gov.cn/atom.xml").unwrap();
        let out = parse(atom.as_bytes(), None, Some(&base)).unwrap();
        assert_eq!(out.items.len(), 1);
        assert!(out.items[0].link.as_deref().is_none_or(|l| l.starts_with("http")), "{:?}", out.items[0].link);
    }

    #[test]
    fn deep_documents_are_errors_not_stack_overflows() {
        // Issue 18 item 3: every walk over input must be bounded. quick-xml
        // stops at 65,535 levels without recursing; serde_json recurses at
        // most 128 deep and skips unknown values iteratively.
        let n = 100_000;
        let xml = format!(
            "<rss version=\"2.0\"><channel><title>t</title><item><title>深</title>{}{}</item></channel></rss>",
            "<x>".repeat(n),
            "</x>".repeat(n)
        );
        assert!(parse(xml.as_bytes(), None, None).is_err());
        let json = format!(
            "{{\"version\": \"https://jsonfeed.org/version/1.1\", \"title\": \"t\", \"items\": [{{\"id\": \"1\", \"title\": \"深\", \"x\": {}{}}}]}}",
            "[".repeat(n),
            "]".repeat(n)
        );
        // serde_json skips an unknown deep value with a loop, not recursion: the item is read.
        let out = parse(json.as_bytes(), Some("application/feed+json"), None).unwrap();
        assert_eq!(out.items.len(), 1);
        // Deep HTML inside a description is text, not an error.
        let deep = "<div>".repeat(n) + "正文";
        let xml = format!(
            "<rss version=\"2.0\"><channel><title>t</title><item><title>深</title><description>{}</description></item></channel></rss>",
            deep.replace('<', "&lt;")
        );
        assert_eq!(parse(xml.as_bytes(), None, None).unwrap().items[0].text, "正文");
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(parse(b"   ", None, None).unwrap_err(), FeedError::Empty);
        let e = parse(b"<!DOCTYPE html><html><body>hi</body></html>", None, None).unwrap_err();
        assert!(e.to_string().contains("返回的是网页"), "{e}");
        let e = parse(b"<rss version=\"2.0\"><channel><item><title>x</title>", None, None);
        // Truncated: either parsed partially or a clear error, never a panic.
        if let Err(e) = e {
            assert!(!e.to_string().is_empty());
        }
    }
}
