//! HTML → plain text, for indexing and display: block elements become line
//! breaks, scripts and styles disappear, entities are decoded, whitespace
//! inside a line is collapsed. And the one way govwatch parses HTML
//! ([`parse_document`], [`parse_fragment`]), with bounds.
//!
//! **Hostile markup.** html5ever builds trees iteratively, but its cost grows
//! with the depth of the open elements: every start tag scans them (20,000
//! nested `<div>`s took 0.9 s, 40,000 took 4.6 s, 200,000 a hundred
//! seconds), and formatting elements left open are cloned into every later
//! paragraph (20 KB of `<font>`s made a million nodes). So the tokens
//! between html5ever's tokenizer and its tree builder pass a guard: a start
//! tag that would open an element deeper than [`MAX_DEPTH`] (Blink's limit
//! too) is dropped with its end tag, and after [`MAX_NODES`] nodes only text
//! goes on. Text is never dropped. Walking the tree is iterative too
//! (`ego_tree`'s `traverse`), so no input can exhaust the stack.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use ego_tree::iter::Edge;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use html5ever::tree_builder::{TreeBuilder, TreeBuilderOpts, TreeSink, create_element};
use html5ever::{LocalName, QualName, TokenizerResult, local_name, ns};
use scraper::{ElementRef, Html, HtmlTreeSink, Node};

/// Elements nested deeper than this are not opened (their text is kept).
pub const MAX_DEPTH: usize = 512;

/// After this many nodes, markup is ignored and only text is added.
pub const MAX_NODES: usize = 500_000;

const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
];
const SKIPPED: &[&str] = &["script", "style", "noscript", "template", "head", "iframe", "object"];

/// What the bounds of [`parse_document`] changed, if anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flattened {
    /// Start tags deeper than [`MAX_DEPTH`] were dropped (with their end tags).
    pub too_deep: bool,
    /// After [`MAX_NODES`] nodes, markup was ignored.
    pub too_many: bool,
}

impl Flattened {
    /// A warning for the source's health, in Chinese (officers read it).
    pub fn warning(self) -> Option<String> {
        match (self.too_deep, self.too_many) {
            (false, false) => None,
            (true, false) => Some(format!("HTML 标签嵌套超过 {MAX_DEPTH} 层，更深的标签已忽略（文字保留）")),
            (false, true) => Some(format!("HTML 节点超过 {MAX_NODES} 个，其后的标签已忽略（文字保留）")),
            (true, true) => Some(format!(
                "HTML 标签嵌套超过 {MAX_DEPTH} 层、节点超过 {MAX_NODES} 个，超出部分的标签已忽略（文字保留）"
            )),
        }
    }
}

/// A parsed document and what its bounds changed.
pub struct Parsed {
    pub html: Html,
    pub flattened: Flattened,
}

/// Parses a whole page within the bounds (see the module doc).
pub fn parse_document(html: &str) -> Parsed {
    let tb = TreeBuilder::new(HtmlTreeSink::new(Html::new_document()), TreeBuilderOpts::default());
    run(tb, TokenizerOpts::default(), html)
}

/// Parses a fragment (a feed description) as the content of a `<body>`, within the bounds.
pub fn parse_fragment(html: &str) -> Parsed {
    let sink = HtmlTreeSink::new(Html::new_fragment());
    let context = create_element(&sink, QualName::new(None, ns!(html), local_name!("body")), Vec::new());
    let tb = TreeBuilder::new_for_fragment(sink, context, None, TreeBuilderOpts::default());
    let opts =
        TokenizerOpts { initial_state: Some(tb.tokenizer_state_for_context_elem(false)), ..TokenizerOpts::default() };
    run(tb, opts, html)
}

type Builder = TreeBuilder<ego_tree::NodeId, HtmlTreeSink>;

fn run(tb: Builder, opts: TokenizerOpts, html: &str) -> Parsed {
    let guard = Guard {
        tb,
        dropped: RefCell::default(),
        room: Cell::new(0),
        ends_since_count: Cell::new(true),
        flattened: Cell::default(),
    };
    let tokenizer = Tokenizer::new(guard, opts);
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // `Script` results only pause for script execution, which there is none of.
    while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
    tokenizer.end();
    let Guard { tb, flattened, .. } = tokenizer.sink;
    Parsed { html: tb.sink.finish(), flattened: flattened.get() }
}

/// Elements that never stay open (void) or hold only text (raw text): they
/// pass the depth guard, or the tokenizer would read a script as markup.
fn passes_depth_guard(name: &LocalName) -> bool {
    matches!(
        &**name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "image"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "script"
            | "style"
            | "textarea"
            | "title"
            | "xmp"
            | "iframe"
            | "noembed"
            | "noframes"
            | "noscript"
            | "plaintext"
    )
}

/// Sits between the tokenizer and the tree builder (see the module doc).
struct Guard {
    tb: Builder,
    /// Start tags dropped per name, so that as many end tags are dropped too.
    dropped: RefCell<HashMap<LocalName, u32>>,
    /// Start tags that may pass before the builder's elements are counted again.
    room: Cell<usize>,
    /// An end tag passed since the last count (the count may have gone down).
    ends_since_count: Cell<bool>,
    flattened: Cell<Flattened>,
}

/// Counts the handles the tree builder holds: its open elements and its
/// active formatting elements (both bound what the next token may cost).
struct Count(Cell<usize>);

impl html5ever::tree_builder::Tracer for Count {
    type Handle = ego_tree::NodeId;
    fn trace_handle(&self, _: &ego_tree::NodeId) {
        self.0.set(self.0.get() + 1);
    }
}

impl Guard {
    fn nodes(&self) -> usize {
        self.tb.sink.0.borrow().tree.nodes().len()
    }

    /// Whether one more element may be opened. Counting the builder's
    /// elements costs as much as the builder's own scans, so it is done only
    /// when the room granted by the last count is used up, and while at the
    /// limit only after an end tag (nothing else can lower the count).
    fn may_open(&self) -> bool {
        if self.room.get() == 0 {
            if !self.ends_since_count.get() {
                return false;
            }
            let count = Count(Cell::new(0));
            self.tb.trace_handles(&count);
            self.room.set(MAX_DEPTH.saturating_sub(count.0.get()));
            self.ends_since_count.set(false);
            if self.room.get() == 0 {
                return false;
            }
        }
        self.room.set(self.room.get() - 1);
        true
    }

    fn note(&self, f: impl FnOnce(&mut Flattened)) {
        let mut v = self.flattened.get();
        f(&mut v);
        self.flattened.set(v);
    }
}

impl TokenSink for Guard {
    type Handle = ego_tree::NodeId;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<Self::Handle> {
        match &token {
            Token::TagToken(_) | Token::CommentToken(_) if self.flattened.get().too_many => {
                return TokenSinkResult::Continue;
            }
            Token::TagToken(_) | Token::CommentToken(_) if self.nodes() >= MAX_NODES => {
                self.note(|f| f.too_many = true);
                return TokenSinkResult::Continue;
            }
            // (`may_open` counts the room it grants: asked once per start tag.)
            Token::TagToken(tag)
                if tag.kind == TagKind::StartTag && !passes_depth_guard(&tag.name) && !self.may_open() =>
            {
                *self.dropped.borrow_mut().entry(tag.name.clone()).or_default() += 1;
                self.note(|f| f.too_deep = true);
                return TokenSinkResult::Continue;
            }
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => {}
            Token::TagToken(tag) => {
                let mut dropped = self.dropped.borrow_mut();
                if let Some(n) = dropped.get_mut(&tag.name).filter(|n| **n > 0) {
                    *n -= 1;
                    return TokenSinkResult::Continue;
                }
                self.ends_since_count.set(true);
            }
            _ => {}
        }
        self.tb.process_token(token, line_number)
    }

    fn end(&self) {
        self.tb.end()
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.tb.adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// Turns an HTML fragment (a feed description, a page body) into text.
/// Text without markup is returned with only its whitespace tidied.
pub fn html_to_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return tidy_text(html);
    }
    element_text(parse_fragment(html).html.root_element())
}

/// The links (`<a href>`) of an HTML fragment, resolved against `base`.
pub fn links_in(html: &str, base: Option<&url::Url>) -> Vec<String> {
    if !html.contains("href") {
        return Vec::new();
    }
    let doc = parse_fragment(html).html;
    let a = scraper::Selector::parse("a[href]").expect("valid selector");
    element_links(doc.root_element(), &a, base)
}

/// The links of an element's `<a href>` descendants.
pub fn element_links(el: ElementRef<'_>, a: &scraper::Selector, base: Option<&url::Url>) -> Vec<String> {
    el.select(a).filter_map(|e| e.value().attr("href")).filter_map(|h| super::canonical_link(base, h)).collect()
}

/// The text of one element (as [`html_to_text`] would give for its markup):
/// one pass over its subtree, in document order, without recursion.
pub fn element_text(el: ElementRef<'_>) -> String {
    let mut raw = String::new();
    // The skipped element (script, style …) whose subtree is being passed over.
    let mut skipping = None;
    for edge in el.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() || node.id() == el.id() {
                    continue;
                }
                match node.value() {
                    Node::Text(t) => raw.push_str(t),
                    Node::Element(e) => {
                        let name = e.name();
                        if SKIPPED.contains(&name) {
                            skipping = Some(node.id());
                        } else if BLOCKS.contains(&name) {
                            raw.push('\n');
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if skipping.is_some() {
                    if skipping == Some(node.id()) {
                        skipping = None;
                    }
                    continue;
                }
                if node.id() == el.id() {
                    continue;
                }
                if let Node::Element(e) = node.value() {
                    let name = e.name();
                    if BLOCKS.contains(&name) {
                        raw.push('\n');
                    } else if name == "td" || name == "th" {
                        raw.push(' ');
                    }
                }
            }
        }
    }
    tidy_text(&raw)
}

/// Collapses whitespace within lines, drops empty lines, trims.
pub fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let mut first = true;
        for word in line.split(|c: char| c.is_whitespace() || c == '\u{3000}') {
            if word.is_empty() {
                continue;
            }
            if first {
                if !out.is_empty() {
                    out.push('\n');
                }
                first = false;
            } else {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_lines_and_scripts_vanish() {
        let html = "来源: 上海市发改委<br/>各区发展改革委：<p>一、适用范围</p><script>alert(1)</script><p>二、&nbsp;价格&amp;标准</p>";
        assert_eq!(html_to_text(html), "来源: 上海市发改委\n各区发展改革委：\n一、适用范围\n二、 价格&标准");
    }

    #[test]
    fn plain_text_passes_through() {
        assert_eq!(html_to_text("  政务公开   工作 \n\n 要点 "), "政务公开 工作\n要点");
    }

    /// The depth of the deepest node (iteratively).
    fn depth(doc: &Html) -> usize {
        let (mut d, mut max) = (0usize, 0usize);
        for e in doc.tree.root().traverse() {
            match e {
                Edge::Open(_) => {
                    d += 1;
                    max = max.max(d);
                }
                Edge::Close(_) => d -= 1,
            }
        }
        max
    }

    #[test]
    fn twenty_thousand_nested_divs_are_text_not_a_stack_overflow() {
        // Issue 18: a feed description of 20,000 nested <div>s overflowed the
        // stack of `govwatch run` (recursion here); 200,000 took 102 s
        // (html5ever scanning ever deeper open elements).
        for n in [20_000, 200_000] {
            let html = "<div>".repeat(n) + "嵌套正文" + &"</div>".repeat(n) + "<p>其后</p>";
            let p = parse_fragment(&html);
            assert!(p.flattened.too_deep && !p.flattened.too_many, "{n}");
            assert!(depth(&p.html) <= MAX_DEPTH + 4, "{n}: depth {}", depth(&p.html));
            assert_eq!(element_text(p.html.root_element()), "嵌套正文\n其后");
            assert_eq!(html_to_text(&html), "嵌套正文\n其后");
        }
        // Unclosed, and with stray end tags between (each makes html5ever scan the open elements).
        let html = "<div></span>".repeat(50_000) + "正文";
        let p = parse_document(&html);
        assert!(depth(&p.html) <= MAX_DEPTH + 4);
        assert_eq!(element_text(p.html.root_element()), "正文");
        assert_eq!(p.flattened.warning().unwrap(), "HTML 标签嵌套超过 512 层，更深的标签已忽略（文字保留）");
    }

    #[test]
    fn open_formatting_elements_cannot_multiply_the_tree() {
        // Found measuring html5ever for issue 18: formatting elements left open
        // are re-created in every later paragraph — 20 KB made a million nodes.
        // Here 200 of them in 5,000 paragraphs would make a million.
        let fonts: String = (0..200).map(|i| format!("<font class=f{i}>")).collect();
        let html = format!("<p>{fonts}</p>{}", "<p>段</p>".repeat(5_000));
        for p in [parse_document(&html), parse_fragment(&html)] {
            assert!(p.html.tree.nodes().len() <= MAX_NODES + 2 * MAX_DEPTH, "{}", p.html.tree.nodes().len());
            assert!(p.flattened.too_many);
            let text = element_text(p.html.root_element());
            assert_eq!(text.matches('段').count(), 5_000, "all the text is kept");
        }
    }

    #[test]
    fn ordinary_pages_are_not_flattened() {
        let html = format!("<table>{}</table>", "<tr><td><b><i>格</i></b></td></tr>".repeat(5_000));
        let p = parse_document(&html);
        assert_eq!(p.flattened, Flattened::default());
        assert_eq!(element_text(p.html.root_element()).matches('格').count(), 5_000);
        // 300 levels of real nesting stay as they are.
        let html = "<div class=x>".repeat(300) + "深" + &"</div>".repeat(300);
        let p = parse_document(&html);
        assert_eq!(p.flattened, Flattened::default());
        assert!(depth(&p.html) > 300);
    }

    #[test]
    fn escaped_script_is_only_text() {
        // A description that *shows* markup keeps it as inert text.
        assert_eq!(html_to_text("&lt;script&gt;x&lt;/script&gt;"), "<script>x</script>");
    }
}
