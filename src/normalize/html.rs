//! HTML → plain text, for indexing and display: block elements become line
//! breaks, scripts and styles disappear, entities are decoded, whitespace
//! inside a line is collapsed.

use scraper::{ElementRef, Html, Node};

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

/// Turns an HTML fragment (a feed description, a page body) into text.
/// Text without markup is returned with only its whitespace tidied.
pub fn html_to_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return tidy_text(html);
    }
    let doc = Html::parse_fragment(html);
    element_text(doc.root_element())
}

/// The links (`<a href>`) of an HTML fragment, resolved against `base`.
pub fn links_in(html: &str, base: Option<&url::Url>) -> Vec<String> {
    if !html.contains("href") {
        return Vec::new();
    }
    let doc = Html::parse_fragment(html);
    let a = scraper::Selector::parse("a[href]").expect("valid selector");
    element_links(doc.root_element(), &a, base)
}

/// The links of an element's `<a href>` descendants.
pub fn element_links(el: ElementRef<'_>, a: &scraper::Selector, base: Option<&url::Url>) -> Vec<String> {
    el.select(a).filter_map(|e| e.value().attr("href")).filter_map(|h| super::canonical_link(base, h)).collect()
}

/// The text of one element (as [`html_to_text`] would give for its markup).
pub fn element_text(el: ElementRef<'_>) -> String {
    let mut raw = String::new();
    collect(el, &mut raw);
    tidy_text(&raw)
}

fn collect(el: ElementRef<'_>, out: &mut String) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                if SKIPPED.contains(&name) {
                    continue;
                }
                let block = BLOCKS.contains(&name);
                if block {
                    out.push('\n');
                }
                if let Some(child_el) = ElementRef::wrap(child) {
                    collect(child_el, out);
                }
                if block {
                    out.push('\n');
                } else if name == "td" || name == "th" {
                    out.push(' ');
                }
            }
            _ => {}
        }
    }
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

    #[test]
    fn escaped_script_is_only_text() {
        // A description that *shows* markup keeps it as inert text.
        assert_eq!(html_to_text("&lt;script&gt;x&lt;/script&gt;"), "<script>x</script>");
    }
}
