//! Column list pages (信息公开 / 通知公告 / 政策文件 …) and their entries'
//! own pages → parsed items. Pure: HTML text in, items and warnings out.
//!
//! Most portals publish no feed, only a list of links with dates, paged, on a
//! CMS (TRS, 大汉, …). A source names CSS selectors for the entry, title,
//! link and date; with none given, every `li` that holds a link and a date is
//! an entry. A selector that matches nothing is an error that names the
//! selector and the URL — a redesigned page must not look like a quiet column.

use std::sync::OnceLock;

use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use thiserror::Error;
use url::Url;

use super::article;
use crate::config::PageConfig;
use crate::model::{ParsedItem, Published};
use crate::normalize::html::{element_text, tidy_text};
use crate::normalize::{canonical_link, time};

/// What a selector that matches nothing says; the inspection recognizes a
/// changed page by it.
pub const NOTHING_MATCHED: &str = "没有匹配到任何内容";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PageError {
    #[error("选择器 {selector:?}（page.{role}）在 {url} 上{NOTHING_MATCHED}")]
    NothingMatched { selector: String, role: &'static str, url: String },
    #[error(
        "{url} 上没有找到列表条目：没有同时含链接和日期的 <li>；请为该数据源设置 page.item、page.title、page.link 和 page.date 选择器"
    )]
    NoDefaultEntries { url: String },
    #[error("page.{role} 的选择器 {selector:?} 无效：{message}")]
    BadSelector { selector: String, role: &'static str, message: String },
}

/// The compiled selectors of one page source.
#[derive(Debug)]
pub struct Selectors {
    item: Option<(Selector, String)>,
    title: (Selector, String),
    link: (Selector, String),
    date: (Selector, String),
    date_format: Option<String>,
    next: Option<Selector>,
    body: Option<Selector>,
}

fn compile(css: &str, role: &'static str) -> Result<(Selector, String), PageError> {
    Selector::parse(css).map(|s| (s, css.to_string())).map_err(|e| PageError::BadSelector {
        selector: css.to_string(),
        role,
        message: e.to_string(),
    })
}

impl Selectors {
    pub fn new(cfg: &PageConfig) -> Result<Selectors, PageError> {
        Ok(Selectors {
            item: cfg.item.as_deref().map(|s| compile(s, "item")).transpose()?,
            title: compile(cfg.title.as_deref().unwrap_or("a"), "title")?,
            link: compile(cfg.link.as_deref().unwrap_or("a"), "link")?,
            date: compile(cfg.date.as_deref().unwrap_or("span"), "date")?,
            date_format: cfg.date_format.clone(),
            next: cfg.next.as_deref().map(|s| compile(s, "next")).transpose()?.map(|s| s.0),
            body: cfg.body.as_deref().map(|s| compile(s, "body")).transpose()?.map(|s| s.0),
        })
    }
}

/// What one list page gave.
#[derive(Debug, Default)]
pub struct ListPage {
    pub items: Vec<ParsedItem>,
    /// The next list page, if the page links one.
    pub next: Option<String>,
    pub warnings: Vec<String>,
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("built-in selectors are valid")
}

/// Reads one list page. `url` is where it came from (links resolve against it).
pub fn parse_list(html: &str, url: &Url, sel: &Selectors) -> Result<ListPage, PageError> {
    let parsed = crate::normalize::html::parse_document(html);
    let doc = parsed.html;
    let base = base_url(&doc, url);
    let mut out = ListPage::default();
    out.warnings.extend(parsed.flattened.warning().map(|w| format!("{url}: {w}")));
    let explicit = sel.item.is_some();
    let li = selector("li");
    let entries: Vec<ElementRef<'_>> = match &sel.item {
        Some((s, _)) => doc.select(s).collect(),
        None => doc.select(&li).collect(),
    };
    if let Some((_, css)) = &sel.item
        && entries.is_empty()
    {
        return Err(PageError::NothingMatched { selector: css.clone(), role: "item", url: url.to_string() });
    }
    let (mut no_title, mut no_link, mut no_date, mut local_links) = (0, 0, 0, 0);
    for entry in &entries {
        let title = title_of(entry, &sel.title.0);
        let href = entry.select(&sel.link.0).chain(std::iter::once(*entry)).find_map(|e| e.value().attr("href"));
        let link = href.and_then(|h| canonical_link(Some(&base), h));
        if link.is_none() && href.is_some_and(names_local_file) {
            local_links += 1;
        }
        let published = date_of(entry, &sel.date.0, sel.date_format.as_deref());
        if !explicit {
            // Default mode: only entries that look like list items count.
            if title.is_none() || link.is_none() || published.is_none() {
                continue;
            }
        }
        let Some(title) = title else {
            no_title += 1;
            continue;
        };
        if link.is_none() {
            no_link += 1;
        }
        if published.is_none() {
            no_date += 1;
        }
        out.items.push(ParsedItem { title, link, published, ..Default::default() });
    }
    if !explicit && out.items.is_empty() {
        return Err(PageError::NoDefaultEntries { url: url.to_string() });
    }
    if explicit && out.items.is_empty() {
        return Err(PageError::NothingMatched { selector: sel.title.1.clone(), role: "title", url: url.to_string() });
    }
    if no_title > 0 {
        out.warnings.push(format!("{no_title} 条没有标题（选择器 {:?}），已跳过", sel.title.1));
    }
    if no_link > 0 {
        out.warnings.push(format!("{no_link} 条没有链接（选择器 {:?}）", sel.link.1));
    }
    if no_date > 0 {
        out.warnings.push(format!("{no_date} 条没有可识别的日期（选择器 {:?}）", sel.date.1));
    }
    let next = next_link(&doc, sel.next.as_ref());
    out.next = next.as_deref().and_then(|h| canonical_link(Some(&base), h)).filter(|n| n != url.as_str());
    if out.next.is_none() && next.as_deref().is_some_and(names_local_file) {
        local_links += 1;
    }
    if local_links > 0 {
        out.warnings.push(format!(
            "{url}: {local_links} 个链接指向本机文件（file:），已忽略：网页中的链接只能是 http 或 https"
        ));
    }
    Ok(out)
}

/// A link that names a local file (which a remote page may not, see
/// `canonical_link`): worth a warning, since no page does it by accident.
fn names_local_file(href: &str) -> bool {
    href.trim().get(..5).is_some_and(|p| p.eq_ignore_ascii_case("file:"))
}

/// `<base href>` when the page has one, else the page's own URL. A base
/// may not change a remote page into a local one: only http(s) bases count,
/// or a `file:` base in a page that is itself a local file.
fn base_url(doc: &Html, url: &Url) -> Url {
    doc.select(&selector("base[href]"))
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|h| url.join(h).ok())
        .filter(|b| matches!(b.scheme(), "http" | "https") || (b.scheme() == "file" && url.scheme() == "file"))
        .unwrap_or_else(|| url.clone())
}

/// The entry's title: the first match with text or a `title` attribute; the
/// attribute wins when the text is cut short (`…`, `...`) or missing.
fn title_of(entry: &ElementRef<'_>, sel: &Selector) -> Option<String> {
    entry.select(sel).find_map(|e| {
        let text = tidy_text(&e.text().collect::<String>());
        let attr = e.value().attr("title").map(tidy_text).filter(|t| !t.is_empty());
        let cut = text.ends_with('…') || text.ends_with("...") || text.is_empty();
        match attr {
            Some(a) if cut || a.chars().count() > text.chars().count() => Some(a),
            _ if !text.is_empty() => Some(text),
            _ => None,
        }
    })
}

fn parse_date(s: &str, format: Option<&str>) -> Option<Published> {
    match format {
        Some(f) => time::parse_with_format(s, f),
        None => time::parse(s).or_else(|| time::find_in(s)),
    }
}

/// The first date-selector match that holds a date, else any date in the entry.
fn date_of(entry: &ElementRef<'_>, sel: &Selector, format: Option<&str>) -> Option<Published> {
    entry
        .select(sel)
        .find_map(|e| parse_date(&e.text().collect::<String>(), format))
        .or_else(|| time::find_in(&entry.text().collect::<Vec<_>>().join(" ")))
}

fn next_link(doc: &Html, sel: Option<&Selector>) -> Option<String> {
    if let Some(sel) = sel {
        return doc.select(sel).find_map(|e| e.value().attr("href").map(str::to_string));
    }
    doc.select(&selector("a[href]")).find_map(|a| {
        let text = a.text().collect::<String>();
        let t = text.trim();
        matches!(t, "下一页" | "下页" | "下一頁" | "后一页" | "下一页>" | "下一页>>" | "Next" | "next" | "›" | ">")
            .then(|| a.value().attr("href").map(str::to_string))
            .flatten()
            .filter(|h| !h.trim_start().starts_with("javascript"))
    })
}

/// What an entry's own page adds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Detail {
    /// `<meta name="ArticleTitle">`.
    pub title: Option<String>,
    /// `<meta name="PubDate">`, else a `发布日期：` line.
    pub published: Option<Published>,
    /// `<meta name="ContentSource">`, else a `发布机构：` line.
    pub publisher: Option<String>,
    /// The `文号：` / `发文字号：` field as written (may be `无`).
    pub doc_no: Option<String>,
    /// The article body as text: the source's `page.body` selector, else a
    /// known CMS container, else the block with the densest prose (none when
    /// the page has no prose, rather than its menus).
    pub text: Option<String>,
    /// Links in the article body (an attachment, the original of a repost).
    pub links: Vec<String>,
}

/// Containers that hold the article body on common government CMSs: TRS
/// (拓尔思 WCM: `.TRS_Editor`, `.TRS_UEDITOR`, and `.trs_editor_view` in its
/// newer templates), 大汉 (Hanweb: `#zoom`), 开普 (Ucap: `#UCAP-CONTENT`), the
/// 国务院 site (`.pages_content`) and two common template names. A fast path:
/// when none holds text that is more than links, the densest prose is taken
/// (`article::main_element`). Generic names (`#content`, `.content`,
/// `article`) are not here: on real pages they wrap the menus too (the 邯郸
/// 信息公开 page's `div.container.content` held its whole navigation).
const BODY_CANDIDATES: &[&str] = &[
    ".TRS_Editor",
    ".TRS_UEDITOR",
    ".trs_editor_view",
    "#zoom",
    ".zoom",
    "#UCAP-CONTENT",
    ".pages_content",
    ".article-content",
    ".article_con",
];

/// Reads an entry's own page.
pub fn parse_detail(html: &str, url: Option<&Url>, sel: &Selectors) -> Detail {
    let doc = crate::normalize::html::parse_document(html).html;
    let base = url.map(|u| base_url(&doc, u));
    let base = base.as_ref();
    let meta = |name: &str| -> Option<String> {
        let s = Selector::parse(&format!("meta[name=\"{name}\" i]")).ok()?;
        doc.select(&s).find_map(|m| m.value().attr("content")).map(tidy_text).filter(|v| !v.is_empty())
    };
    let body_el = match &sel.body {
        Some(s) => doc.select(s).next(),
        None => BODY_CANDIDATES
            .iter()
            .find_map(|c| doc.select(&selector(c)).find(|e| !article::mostly_links(*e) && !element_text(*e).is_empty()))
            .or_else(|| article::main_element(&doc)),
    };
    let page_text = element_text(doc.root_element());
    let field = |labels: &str| -> Option<String> {
        static CACHE: OnceLock<std::sync::Mutex<std::collections::HashMap<String, Regex>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let re = cache.entry(labels.to_string()).or_insert_with(|| {
            Regex::new(&format!(r"(?:{labels})\s*[:：]\s*([^\s，,；;|]{{1,60}})")).expect("field pattern")
        });
        re.captures(&page_text).map(|c| c[1].to_string())
    };
    Detail {
        title: meta("ArticleTitle"),
        published: meta("PubDate")
            .and_then(|d| time::parse(&d).or_else(|| time::find_in(&d)))
            .or_else(|| field("发布日期|发布时间|成文日期").and_then(|d| time::find_in(&d))),
        publisher: meta("ContentSource").or_else(|| field("发布机构|发文机关|来源")),
        doc_no: field("发文字号|文号"),
        text: body_el.map(element_text).filter(|t| !t.is_empty()),
        links: body_el
            .map(|b| crate::normalize::html::element_links(b, &selector("a[href]"), base))
            .unwrap_or_default(),
    }
}

/// Merges what an entry's page says into the list entry: the page's title,
/// date and publisher are more complete than the list's.
pub fn merge_detail(item: &mut ParsedItem, d: Detail) {
    if let Some(t) = d.title {
        item.title = t;
    }
    if let Some(p) = d.published {
        // The list often shows only the date; the page may give the time.
        item.published = Some(p);
    }
    if d.publisher.is_some() {
        item.publisher = d.publisher;
    }
    if d.doc_no.is_some() {
        item.doc_no = d.doc_no;
    }
    if let Some(t) = d.text {
        item.text = t;
    }
    item.links = d.links;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(cfg: PageConfig) -> Selectors {
        Selectors::new(&cfg).unwrap()
    }

    const LIST: &str = r#"<html><body>
        <ul class="nav"><li><a href="/">首页</a></li><li><a href="/xxgk/">信息公开</a></li></ul>
        <ul class="list">
          <li><span class="ic">·</span><a href="./202008/t1.html" title="邯郸市教育局关于印发《邯郸市学校安全工作目标管理考核办法》的通知">邯郸市教育局关于印发《邯郸市学校安全...</a><span class="t">2020-08-05</span></li>
          <li><a href="http://x.gov.cn/t2.html">关于做好2020年政务公开工作的通知</a><span>[2020-07-09]</span></li>
        </ul>
        <div class="page"><a href="index_1.html">下一页</a></div>
    </body></html>"#;

    #[test]
    fn default_selectors_find_li_with_link_and_date() {
        let url = Url::parse("http://hdzfxxgk.hd.gov.cn/zfwj/index.html").unwrap();
        let out = parse_list(LIST, &url, &sel(PageConfig::default())).unwrap();
        assert_eq!(out.items.len(), 2, "navigation entries have no date");
        assert_eq!(out.items[0].title, "邯郸市教育局关于印发《邯郸市学校安全工作目标管理考核办法》的通知");
        assert_eq!(out.items[0].link.as_deref(), Some("http://hdzfxxgk.hd.gov.cn/zfwj/202008/t1.html"));
        assert_eq!(out.items[0].published.unwrap().at.to_rfc3339(), "2020-08-05T00:00:00+08:00");
        assert_eq!(out.items[1].published.unwrap().at.to_rfc3339(), "2020-07-09T00:00:00+08:00");
        assert_eq!(out.next.as_deref(), Some("http://hdzfxxgk.hd.gov.cn/zfwj/index_1.html"));
    }

    #[test]
    fn a_selector_that_matches_nothing_is_an_error_naming_it() {
        let url = Url::parse("http://x.gov.cn/tzgg/").unwrap();
        let cfg = PageConfig { item: Some("ul.news li".into()), ..Default::default() };
        let e = parse_list(LIST, &url, &sel(cfg)).unwrap_err();
        assert_eq!(e.to_string(), "选择器 \"ul.news li\"（page.item）在 http://x.gov.cn/tzgg/ 上没有匹配到任何内容");
        let cfg = PageConfig { item: Some("ul.list li".into()), title: Some("h3".into()), ..Default::default() };
        let e = parse_list(LIST, &url, &sel(cfg)).unwrap_err();
        assert!(e.to_string().contains("\"h3\"（page.title）"), "{e}");
        let e = parse_list("<html><p>改版中</p></html>", &url, &sel(PageConfig::default())).unwrap_err();
        assert!(matches!(e, PageError::NoDefaultEntries { .. }));
    }

    #[test]
    fn detail_page_metadata() {
        let html = r#"<html><head>
            <meta name="ArticleTitle" content="关于印发《实施方案》的通知">
            <meta name="PubDate" content="2020年08月02日">
            <meta name="ContentSource" content="邯郸市教育局"></head>
            <body><p><strong>文号</strong>：冀教办〔2020〕012号</p>
            <div class="TRS_Editor"><p>各县（市、区）教育局：</p><p>现将方案印发给你们。</p></div></body></html>"#;
        let d = parse_detail(html, Url::parse("http://x.gov.cn/a/1.html").ok().as_ref(), &sel(PageConfig::default()));
        assert_eq!(d.title.as_deref(), Some("关于印发《实施方案》的通知"));
        assert_eq!(d.published.unwrap().at.to_rfc3339(), "2020-08-02T00:00:00+08:00");
        assert_eq!(d.publisher.as_deref(), Some("邯郸市教育局"));
        assert_eq!(d.doc_no.as_deref(), Some("冀教办〔2020〕012号"));
        assert_eq!(d.text.as_deref(), Some("各县（市、区）教育局：\n现将方案印发给你们。"));
    }

    /// A known container that holds only the attachment is the body, with
    /// its link (dead-link checks and reposts read it); one that holds a
    /// list of links is passed over for the densest prose.
    #[test]
    fn a_known_container_is_the_body_unless_it_is_a_list_of_links() {
        let url = Url::parse("http://x.gov.cn/a/1.html").ok();
        let html = r#"<html><body><ul class="nav"><li><a href="/">首页</a></li></ul>
            <div class="TRS_Editor"><p>附件：<a href="/f/2026.pdf">2026年政府信息公开工作年度报告.pdf</a></p></div></body></html>"#;
        let d = parse_detail(html, url.as_ref(), &sel(PageConfig::default()));
        assert_eq!(d.text.as_deref(), Some("附件：2026年政府信息公开工作年度报告.pdf"));
        assert_eq!(d.links, vec!["http://x.gov.cn/f/2026.pdf".to_string()]);
        let html = r#"<html><body><div id="zoom"><a href="/1">上一篇：关于开展培训的通知</a><a href="/2">下一篇：关于召开会议的通知</a><a href="/3">返回列表</a></div>
            <div class="wz"><p>经研究，定于11月20日召开全县政务公开工作会议，请各单位主要负责同志参加。</p></div></body></html>"#;
        let d = parse_detail(html, url.as_ref(), &sel(PageConfig::default()));
        assert_eq!(d.text.as_deref(), Some("经研究，定于11月20日召开全县政务公开工作会议，请各单位主要负责同志参加。"));
    }
}
