//! Snippets: the window of a document's normalized text where the query terms
//! occur, with every occurrence marked. Pure.
//!
//! tantivy's `SnippetGenerator` highlights tokens, which for overlapping
//! two-character tokens gives `<b>依</b><b>申请</b>` runs and marks stray
//! halves of a phrase; the terms are plain substrings of the normalized text
//! here, so finding them directly is both simpler and exact.

use std::ops::Range;

/// A fragment of text and the byte ranges within it to highlight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    pub fragment: String,
    pub highlights: Vec<Range<usize>>,
    /// True when the fragment does not start at the beginning of the text.
    pub cut_before: bool,
    /// True when the fragment stops before the end of the text.
    pub cut_after: bool,
}

impl Snippet {
    /// HTML: the fragment escaped, highlights in `<b>…</b>`, `…` at cuts.
    pub fn to_html(&self) -> String {
        self.render("<b>", "</b>", true)
    }

    /// Plain text with the given markers around highlights.
    pub fn render(&self, open: &str, close: &str, escape: bool) -> String {
        let mut out = String::with_capacity(self.fragment.len() + 16);
        if self.cut_before {
            out.push('…');
        }
        let mut at = 0;
        let push = |out: &mut String, s: &str| {
            if escape { escape_html_into(out, s) } else { out.push_str(s) }
        };
        for r in &self.highlights {
            push(&mut out, &self.fragment[at..r.start]);
            out.push_str(open);
            push(&mut out, &self.fragment[r.clone()]);
            out.push_str(close);
            at = r.end;
        }
        push(&mut out, &self.fragment[at..]);
        if self.cut_after {
            out.push('…');
        }
        out
    }
}

/// Escapes `& < > " '` for HTML text and attribute values.
pub fn escape_html_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(&mut out, s);
    out
}

/// All byte ranges where any of `terms` occurs in `text`, merged where they
/// overlap or touch.
pub fn occurrences(text: &str, terms: &[&str]) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for term in terms.iter().filter(|t| !t.is_empty()) {
        let mut from = 0;
        while let Some(i) = text[from..].find(term) {
            let start = from + i;
            ranges.push(start..start + term.len());
            // Step one character so that overlapping occurrences are found.
            from = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// The window of at most `max_chars` characters of `text` with the most
/// distinct terms (then the most occurrences), highlighted. With no
/// occurrence, the start of the text.
pub fn make(text: &str, terms: &[&str], max_chars: usize) -> Snippet {
    let all = occurrences(text, terms);
    let char_starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let total_chars = char_starts.len();
    let byte_at = |ci: usize| {
        if ci >= total_chars { text.len() } else { char_starts[ci] }
    };
    let char_of = |b: usize| char_starts.partition_point(|&s| s < b);

    let (start_c, end_c) = if all.is_empty() || total_chars <= max_chars {
        (0, total_chars.min(max_chars))
    } else {
        // Try a window starting a little before each occurrence; keep the best.
        let lead = max_chars / 5;
        let mut best = (0usize, 0usize, 0usize); // (distinct, count, start char)
        for r in &all {
            let s = char_of(r.start).saturating_sub(lead).min(total_chars.saturating_sub(max_chars));
            let (wb, we) = (byte_at(s), byte_at(s + max_chars));
            let inside: Vec<&Range<usize>> = all.iter().filter(|o| o.start >= wb && o.end <= we).collect();
            let distinct = terms
                .iter()
                .filter(|t| !t.is_empty() && inside.iter().any(|o| text[o.start..o.end].contains(*t)))
                .count();
            let key = (distinct, inside.len(), s);
            if (key.0, key.1) > (best.0, best.1) {
                best = key;
            }
        }
        (best.2, (best.2 + max_chars).min(total_chars))
    };
    let (wb, we) = (byte_at(start_c), byte_at(end_c));
    let highlights =
        all.iter().filter(|r| r.end > wb && r.start < we).map(|r| r.start.max(wb) - wb..r.end.min(we) - wb).collect();
    Snippet { fragment: text[wb..we].to_string(), highlights, cut_before: start_c > 0, cut_after: end_c < total_chars }
}

/// `original` whole, with the places highlighted where `terms` (normalized)
/// occur in `normalized` (its [`crate::normalize::normalize_text`]): a title
/// is shown as published — `QS20261105002`, `政務公開` — not as its search
/// form. Normalizing maps a character to one character (width, case,
/// traditional → simplified) or drops it (extra spaces, pinyin
/// annotations), so the two are aligned character by character; should they
/// not align, the normalized form is highlighted instead.
pub fn highlight_original(original: &str, normalized: &str, terms: &[&str]) -> Snippet {
    let found = occurrences(normalized, terms);
    let whole = |fragment: &str, highlights| Snippet {
        fragment: fragment.to_string(),
        highlights,
        cut_before: false,
        cut_after: false,
    };
    if found.is_empty() {
        return whole(original, Vec::new());
    }
    let Some(map) = align(original, normalized) else {
        return whole(normalized, found);
    };
    // Byte offset in `normalized` → its character's index.
    let starts: Vec<usize> = normalized.char_indices().map(|(i, _)| i).collect();
    let char_of = |b: usize| starts.partition_point(|&s| s < b);
    let mut highlights: Vec<Range<usize>> = Vec::with_capacity(found.len());
    for r in found {
        let (first, last) = (char_of(r.start), char_of(r.end).saturating_sub(1));
        let (Some(a), Some(b)) = (map.get(first), map.get(last)) else {
            return whole(normalized, occurrences(normalized, terms));
        };
        match highlights.last_mut() {
            Some(prev) if a.start <= prev.end => prev.end = prev.end.max(b.end),
            _ => highlights.push(a.start..b.end),
        }
    }
    whole(original, highlights)
}

/// For each character of `normalized`, the byte range of the character of
/// `original` it came from; `None` when they cannot be aligned.
fn align(original: &str, normalized: &str) -> Option<Vec<Range<usize>>> {
    use crate::normalize::{normalize_text, text::is_han};
    let mut map = Vec::with_capacity(normalized.len());
    let mut orig = original.char_indices().peekable();
    let mut buf = [0u8; 4];
    for n in normalized.chars() {
        loop {
            let (at, o) = orig.next()?;
            let end = orig.peek().map_or(original.len(), |(i, _)| *i);
            let alone = normalize_text(o.encode_utf8(&mut buf));
            let same = if alone.is_empty() {
                // A space of any kind: kept as one ' ' between words, dropped elsewhere.
                n == ' '
            } else {
                // Contextual traditional → simplified (看著 → 看着) changes a Han character for another.
                alone.chars().eq([n]) || (is_han(o) && is_han(n))
            };
            if same {
                map.push(at..end);
                break;
            }
        }
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_every_occurrence_and_merges_overlaps() {
        let s = make("依申请公开是政务公开的一部分，依申请公开要及时。", &["依申请公开", "公开"], 100);
        assert_eq!(s.to_html(), "<b>依申请公开</b>是政务<b>公开</b>的一部分，<b>依申请公开</b>要及时。");
    }

    #[test]
    fn window_goes_where_the_terms_are() {
        let text = format!("{}热线办结率达99%{}", "前".repeat(200), "后".repeat(200));
        let s = make(&text, &["热线", "办结率"], 40);
        assert!(s.cut_before && s.cut_after);
        assert_eq!(s.fragment.chars().count(), 40);
        assert!(s.render("[", "]", false).contains("[热线办结率]达99%"), "{}", s.render("[", "]", false));
    }

    #[test]
    fn html_in_the_text_is_escaped() {
        let s = make("<script>alert('热线')</script>", &["热线"], 100);
        assert_eq!(s.to_html(), "&lt;script&gt;alert(&#39;<b>热线</b>&#39;)&lt;/script&gt;");
    }

    #[test]
    fn titles_are_highlighted_as_written() {
        let t = |original: &str, terms: &[&str]| {
            let normalized = crate::normalize::normalize_text(original);
            highlight_original(original, &normalized, terms).render("[", "]", false)
        };
        assert_eq!(t("关于QS20261105002号工单的回复", &["qs20261105002"]), "关于[QS20261105002]号工单的回复");
        assert_eq!(t("ＧＤ２０２６ 热线", &["gd2026"]), "[ＧＤ２０２６] 热线");
        assert_eq!(t("政務(wù)公開年度報告", &["政务公开", "报告"]), "[政務(wù)公開]年度[報告]");
        assert_eq!(t("看著  辦　理 ABC", &["看着", "办 理", "abc"]), "[看著]  [辦　理] [ABC]");
        assert_eq!(t("无关", &["热线"]), "无关");
    }

    #[test]
    fn no_occurrence_gives_the_start() {
        let s = make("abcdef", &["x"], 3);
        assert_eq!((s.fragment.as_str(), s.cut_after), ("abc", true));
    }
}
