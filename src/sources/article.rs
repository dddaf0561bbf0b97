//! The main text of an article page that no known container marks: the
//! block with the densest prose. Pure.
//!
//! Government CMSs wrap an article's body in containers govwatch knows
//! (`.TRS_Editor`, `#zoom`, `#UCAP-CONTENT` … see `page::BODY_CANDIDATES`);
//! many sites do not, and their detail pages carry more navigation than text
//! (the 邯郸 信息公开 page: a header, a five-column menu, a footer). Taking a
//! broad container there indexed the menu as the item's text, so `热线`
//! matched the menu's `清晨热线`. Instead every element is scored by how its
//! text is made (after the text-density extractors, CETD and the 文本及符号密度
//! method GerapyAutoExtractor uses):
//!
//! * **text density**: characters not inside links per element that is not
//!   a link — an article's paragraphs are long and few; a menu's entries
//!   are short and many, and a page-wide container takes in both;
//! * **punctuation**: an article is sentences (，。；、！？); menus, footers and
//!   metadata tables have almost none;
//! * **paragraphs**: a container of many `<p>`/`<br>` beats one of its own
//!   paragraphs;
//! * **link share**: text inside links counts against the element, squared.
//!
//! Text inside links, and inside elements whose class or id names them as
//! navigation (`nav`, `menu`, `footer`, `breadcrumb`, and the pinyin names
//! Chinese templates use: `daohang`, `dhlm`, `banquan`, `weizhi` …), is
//! counted as link text. Only an element with some prose (at least two
//! sentence marks and twenty characters outside links) can win: a page with
//! none has no body, and that is what is returned, rather than its menu.
//!
//! The walk is one pass over the tree with an explicit stack (no recursion:
//! a page of 20,000 nested `div`s must not exhaust the stack), linear in the
//! page's size.

use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node};

/// What is inside one element, summed over its subtree.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Characters (not whitespace) outside links and navigation.
    text: u32,
    /// Characters inside links and navigation.
    link: u32,
    /// Sentence marks in `text`.
    punct: u32,
    /// Elements, this one included.
    tags: u32,
    /// Links and navigation elements among them.
    link_tags: u32,
    /// `<p>` and `<br>` elements.
    paras: u32,
}

/// Why an open element's text is counted as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Ordinary: a candidate when it is a block.
    Block,
    Inline,
    /// A link or navigation: its text is link text.
    Link,
    /// Script, style and the like: its text is not text at all.
    Skipped,
}

/// Never text: scripts, styles, and things that are not shown as text.
const SKIPPED: &[&str] =
    &["script", "style", "noscript", "template", "head", "iframe", "object", "select", "option", "textarea", "button"];
/// Elements that may hold an article body.
const BLOCKS: &[&str] = &["body", "div", "td", "article", "section", "main", "center", "font", "span", "dd", "form"];
/// Elements that are navigation by their name.
const NAVIGATION: &[&str] = &["a", "nav", "header", "footer", "aside", "menu"];
/// Words in a class or id that name navigation (whole words of it, split at
/// `-`, `_` and spaces): English, and the pinyin Chinese templates use
/// (导航 daohang, 导航栏目 dhlm, 版权 banquan, 位置 weizhi, 友情链接 yqlj).
const NAVIGATION_NAMES: &[&str] = &[
    "nav",
    "navbar",
    "navigation",
    "menu",
    "footer",
    "foot",
    "header",
    "sidebar",
    "breadcrumb",
    "breadcrumbs",
    "crumb",
    "crumbs",
    "copyright",
    "share",
    "position",
    "location",
    "friendlink",
    "daohang",
    "dhlm",
    "banquan",
    "weizhi",
    "yqlj",
];

fn is_sentence_mark(c: char) -> bool {
    matches!(c, '，' | '。' | '；' | '、' | '！' | '？' | ';')
}

fn named_navigation(e: &scraper::node::Element) -> bool {
    let names = e.attr("class").into_iter().chain(e.attr("id"));
    names.flat_map(|v| v.split([' ', '-', '_'])).any(|w| NAVIGATION_NAMES.iter().any(|n| w.eq_ignore_ascii_case(n)))
}

/// How an element is read, given what it is inside.
fn role_of(e: &scraper::node::Element, outer: Role) -> Role {
    let name = e.name();
    if outer == Role::Skipped || SKIPPED.contains(&name) {
        Role::Skipped
    } else if outer == Role::Link || NAVIGATION.contains(&name) || named_navigation(e) {
        Role::Link
    } else if BLOCKS.contains(&name) {
        Role::Block
    } else {
        Role::Inline
    }
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.text += o.text;
        self.link += o.link;
        self.punct += o.punct;
        self.tags += o.tags;
        self.link_tags += o.link_tags;
        self.paras += o.paras;
    }

    /// Some sentences outside links: what a body has and a menu has not.
    fn has_prose(&self) -> bool {
        self.punct >= 2 && self.text >= 20
    }

    fn score(&self) -> f64 {
        let text = f64::from(self.text);
        let density = text / f64::from(self.tags.saturating_sub(self.link_tags).max(1));
        let own = text / (text + f64::from(self.link)).max(1.0);
        density * (std::f64::consts::E + f64::from(self.punct)).ln() * (2.0 + f64::from(self.paras)).log2() * own * own
    }
}

/// The element holding the page's main text, by content density (see the
/// module doc); `None` when no element holds any prose.
pub fn main_element(doc: &Html) -> Option<ElementRef<'_>> {
    let root = doc.root_element();
    // One entry per open element: its role and what it holds so far.
    let mut open: Vec<(Role, Counts)> = Vec::new();
    let mut best: Option<(f64, ego_tree::NodeId)> = None;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(e) => {
                    let outer = open.last().map_or(Role::Block, |o| o.0);
                    let role = role_of(e, outer);
                    let mut c = Counts { tags: 1, ..Counts::default() };
                    if role == Role::Link && outer != Role::Link {
                        c.link_tags = 1;
                    }
                    if matches!(e.name(), "p" | "br") && role != Role::Skipped {
                        c.paras = 1;
                    }
                    open.push((role, c));
                }
                Node::Text(t) => {
                    let Some((role, c)) = open.last_mut() else { continue };
                    match role {
                        Role::Skipped => {}
                        Role::Link => c.link += t.chars().filter(|ch| !ch.is_whitespace()).count() as u32,
                        _ => {
                            for ch in t.chars().filter(|ch| !ch.is_whitespace()) {
                                c.text += 1;
                                c.punct += u32::from(is_sentence_mark(ch));
                            }
                        }
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if !node.value().is_element() {
                    continue;
                }
                let Some((role, c)) = open.pop() else { continue };
                if role == Role::Skipped {
                    continue;
                }
                if role == Role::Block && c.has_prose() {
                    let s = c.score();
                    if best.is_none_or(|(b, _)| s > b) {
                        best = Some((s, node.id()));
                    }
                }
                if let Some((_, parent)) = open.last_mut() {
                    parent.add(&c);
                }
            }
        }
    }
    let (_, id) = best?;
    doc.tree.get(id).and_then(ElementRef::wrap)
}

/// True when `el` is a list of links — three or more, with more text inside
/// them than outside: a known container that holds a menu or a list rather
/// than an article (then the density walk decides instead). A body that is
/// only an attachment (`附件：<a>….pdf</a>`) is not. One pass, no recursion.
pub fn mostly_links(el: ElementRef<'_>) -> bool {
    let (mut text, mut link, mut in_link, mut links) = (0usize, 0usize, 0usize, 0usize);
    for edge in el.traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(e) if e.name() == "a" => {
                    in_link += 1;
                    links += 1;
                }
                Node::Text(t) => {
                    let n = t.chars().filter(|c| !c.is_whitespace()).count();
                    if in_link > 0 { link += n } else { text += n }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if node.value().as_element().is_some_and(|e| e.name() == "a") {
                    in_link = in_link.saturating_sub(1);
                }
            }
        }
    }
    links >= 3 && link > text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::html::element_text;

    fn main_text(html: &str) -> Option<String> {
        let doc = Html::parse_document(html);
        main_element(&doc).map(element_text)
    }

    /// A header menu, breadcrumbs, a related-links sidebar longer than the
    /// article, and a footer, around a body in `div.zwxl-main`: the layout of
    /// the 重庆两江新区 信息公开 detail pages (RSSHub's route
    /// `gov/chongqing/ljxq/zwgk.js` reads their body from `div.zwxl-main`,
    /// a container no CMS list knows). Text written for the test.
    const LIANGJIANG: &str = r#"<html><body>
        <div class="top"><a href="/">首页</a><a href="/zwgk/">政务公开</a><a href="/hdjl/">互动交流</a><a href="/bsfw/">办事服务</a></div>
        <div class="dqwz">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; <a href="/zwgk/gsgg/">公示公告</a></div>
        <div class="wrap">
          <div class="zwxl-left"><h3>相关信息</h3><ul>
            <li><a href="/1">两江新区管委会关于印发2020年政务公开工作要点的通知</a></li>
            <li><a href="/2">两江新区关于进一步做好政府信息公开申请办理工作的通知</a></li>
            <li><a href="/3">两江新区2019年政府信息公开工作年度报告</a></li>
            <li><a href="/4">关于公开征求两江新区国土空间规划意见的公告</a></li>
            <li><a href="/5">两江新区管委会办公室关于做好清明节期间安全工作的通知</a></li>
            <li><a href="/6">两江新区2020年重点民生实事进展情况</a></li>
          </ul></div>
          <div class="zwxl-main">
            <h1>关于两江新区2020年第一批拟入库科技型企业的公示</h1>
            <div class="info">发布时间：2020-05-11　来源：科技创新局</div>
            <p>根据《重庆市科技型企业认定管理办法》，经企业申报、区县初审，现将两江新区2020年第一批拟入库科技型企业名单予以公示。</p>
            <p>公示期为5个工作日。如有异议，请于公示期内以书面形式向科技创新局反映，逾期不予受理。</p>
            <p>联系电话：023-67000000。</p>
            <p>附件：<a href="/files/list.xls">拟入库科技型企业名单</a></p>
          </div>
        </div>
        <div class="footer">主办单位：重庆两江新区管理委员会 <a href="/wzdt/">网站地图</a> <a href="/lxwm/">联系我们</a></div>
    </body></html>"#;

    #[test]
    fn a_body_in_an_unknown_container_is_found_among_menus_and_link_lists() {
        let text = main_text(LIANGJIANG).unwrap();
        assert!(text.starts_with("关于两江新区2020年第一批拟入库科技型企业的公示"), "{text}");
        assert!(text.contains("逾期不予受理。"), "{text}");
        assert!(text.contains("附件：拟入库科技型企业名单"), "{text}");
        for menu in ["首页", "政务公开", "相关信息", "年度报告", "网站地图", "当前位置"] {
            assert!(!text.contains(menu), "{menu} in {text}");
        }
    }

    /// The table layout of older county portals (no CSS containers: a
    /// navigation row, a left column of links, the article in a nested
    /// table cell with `<br>` lines, as pages exported by FrontPage-era
    /// templates are). Hand-written after that layout; no single site.
    #[test]
    fn a_body_in_a_table_cell_with_line_breaks() {
        let html = r#"<html><body><table width="980">
            <tr><td colspan="2"><a href="/">网站首页</a> | <a href="/zwgk">政务公开</a> | <a href="/bmfw">便民服务</a> | <a href="/hdjl">互动交流</a></td></tr>
            <tr><td width="200"><a href="/l1">县长信箱</a><br><a href="/l2">办事指南</a><br><a href="/l3">下载中心</a><br><a href="/l4">在线访谈</a></td>
            <td><table>
              <tr><td align="center"><b>关于2021年春节期间烟花爆竹燃放管理的通告</b></td></tr>
              <tr><td>发布日期：2021-02-01 浏览次数：1024</td></tr>
              <tr><td class="hui14">为保障人民群众生命财产安全，根据有关法律法规，现就春节期间烟花爆竹燃放管理通告如下：<br>
                一、县城规划区内禁止燃放烟花爆竹；<br>二、违反本通告的，由公安机关依法处理；<br>三、本通告自发布之日起施行。</td></tr>
            </table></td></tr>
            <tr><td colspan="2">版权所有：某某县人民政府办公室　技术支持：某某网络公司</td></tr>
        </table></body></html>"#;
        let text = main_text(html).unwrap();
        assert!(text.starts_with("为保障人民群众生命财产安全"), "{text}");
        assert!(text.contains("三、本通告自发布之日起施行。"), "{text}");
        assert!(!text.contains("县长信箱") && !text.contains("网站首页") && !text.contains("版权所有"), "{text}");
    }

    /// A page of navigation, metadata and footer with no article text (as
    /// the saved 邯郸 detail page is): no body, rather than the menu.
    #[test]
    fn a_page_without_prose_has_no_body() {
        let html = r#"<html><body>
            <div class="dhlm"><ul><li><a href="/">网站首页</a></li><li><a href="/zjhd/">走进邯郸</a></li><li><a href="/qcrx/">清晨热线</a></li></ul></div>
            <div class="top"><p><strong>索引号</strong>：000014348/2020-35147</p><p><strong>文号</strong>：无</p></div>
            <div class="footer_bg"><p>邯郸市人民政府</p><p>网站标识码 1304000009</p></div>
        </body></html>"#;
        assert_eq!(main_text(html), None);
    }

    #[test]
    fn a_short_notice_beats_a_long_list_of_links() {
        let links: String =
            (0..40).map(|i| format!("<li><a href=\"/n{i}\">第{i}条热点新闻标题，点击查看详细内容</a></li>")).collect();
        let html = format!(
            r#"<html><body><div class="list"><ul>{links}</ul></div>
            <div class="detail"><p>各科室：</p><p>定于本周五下午召开全体干部职工会议，请准时参加。</p></div></body></html>"#
        );
        assert_eq!(main_text(&html).as_deref(), Some("各科室：\n定于本周五下午召开全体干部职工会议，请准时参加。"));
    }

    /// 100,000 nested `div`s, built directly as a tree (html5ever itself
    /// takes time quadratic in the nesting to parse such a page: minutes in
    /// a debug build at 20,000): walked without recursion, in linear time.
    #[test]
    fn deep_nesting_is_walked_without_recursion() {
        let parts = Html::parse_document(
            "<html><body><div><p>第一句话，这里有标点。第二句话，这里也有标点。</p></div></body></html>",
        );
        let find = |name: &str| {
            parts.tree.nodes().find(|n| n.value().as_element().is_some_and(|e| e.name() == name)).map(|n| n.id())
        };
        let (div, p) = (find("div").unwrap(), find("p").unwrap());
        let div_node = parts.tree.get(div).unwrap().value().clone();
        let mut doc = Html::parse_document("<html><body></body></html>");
        let doc_body =
            doc.tree.nodes().find(|n| n.value().as_element().is_some_and(|e| e.name() == "body")).unwrap().id();
        let mut at = doc_body;
        for _ in 0..100_000 {
            at = doc.tree.get_mut(at).unwrap().append(div_node.clone()).id();
        }
        // The paragraph and its text, copied from the parsed one.
        let p_ref = parts.tree.get(p).unwrap();
        let p_id = doc.tree.get_mut(at).unwrap().append(p_ref.value().clone()).id();
        for child in p_ref.children() {
            doc.tree.get_mut(p_id).unwrap().append(child.value().clone());
        }
        let started = std::time::Instant::now();
        let el = main_element(&doc).unwrap();
        assert_eq!(el.text().collect::<String>(), "第一句话，这里有标点。第二句话，这里也有标点。");
        assert_eq!(el.value().name(), "div", "the innermost block holding the prose");
        assert!(!mostly_links(doc.root_element()));
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    }

    #[test]
    fn a_container_of_links_is_mostly_links() {
        let doc = Html::parse_document(LIANGJIANG);
        let sel = |css: &str| doc.select(&scraper::Selector::parse(css).unwrap()).next().unwrap();
        assert!(mostly_links(sel(".zwxl-left")));
        assert!(!mostly_links(sel(".zwxl-main")));
        // A notice whose body is its attachment is still a body.
        let doc = Html::parse_document(
            r#"<div class="TRS_Editor"><p>附件：<a href="/f/2026.pdf">2026年政府信息公开工作年度报告.pdf</a></p></div>"#,
        );
        assert!(!mostly_links(doc.select(&scraper::Selector::parse(".TRS_Editor").unwrap()).next().unwrap()));
    }
}
