//! The query syntax duty officers type, parsed into terms. Pure.
//!
//! * words separated by spaces must all occur: `热线 办结率`;
//! * `"a phrase"` must occur as written, spaces included;
//! * `-word` or `-"a phrase"` must not occur.
//!
//! Each term matches where its normalized text occurs as a substring of the
//! normalized title or text (see `index::tokenizer` for how that is exact).

use crate::normalize::normalize_text;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Normalized (`normalize_text`) text of the term.
    pub text: String,
    pub negated: bool,
}

/// Terms a query may have: each is a clause over the whole index, and a
/// query of 3,000 terms took gigabytes. Those beyond are left out, and said so.
pub const MAX_TERMS: usize = 20;
/// Characters a term may have (normalized); beyond, it is cut, and said so.
pub const MAX_TERM_CHARS: usize = 100;

/// A query's terms within the bounds, and what was left out, in the
/// officer's words (empty when nothing was).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub terms: Vec<Term>,
    pub notices: Vec<String>,
}

/// Parses a query, keeping at most [`MAX_TERMS`] terms of at most
/// [`MAX_TERM_CHARS`] characters each.
pub fn parse_bounded(query: &str) -> Parsed {
    let mut terms = Vec::new();
    let mut dropped = 0usize;
    let mut cut = Vec::new();
    for (raw, negated) in raw_terms(query) {
        if terms.len() >= MAX_TERMS {
            dropped += 1;
            continue;
        }
        // Normalizing keeps lengths close: a long term is cut before it is
        // normalized (with room to spare) and again after.
        let head: String = raw.chars().take(MAX_TERM_CHARS * 4).collect();
        let mut text = normalize_text(&head);
        if text.chars().count() > MAX_TERM_CHARS {
            text = text.chars().take(MAX_TERM_CHARS).collect();
            cut.push(text.chars().take(10).collect::<String>());
        }
        if !text.is_empty() {
            terms.push(Term { text, negated });
        }
    }
    let mut notices = Vec::new();
    if dropped > 0 {
        notices.push(format!("检索词过多：只用了前 {MAX_TERMS} 个，其余 {dropped} 个未用"));
    }
    for start in cut {
        notices.push(format!("检索词「{start}…」超过 {MAX_TERM_CHARS} 个字：只用了前 {MAX_TERM_CHARS} 个字"));
    }
    Parsed { terms, notices }
}

/// Parses a query; unbalanced quotes run to the end of the query.
pub fn parse(query: &str) -> Vec<Term> {
    raw_terms(query)
        .into_iter()
        .filter_map(|(raw, negated)| {
            let text = normalize_text(&raw);
            (!text.is_empty()).then_some(Term { text, negated })
        })
        .collect()
}

/// The query's terms as typed (not normalized), each with whether it is excluded.
fn raw_terms(query: &str) -> Vec<(String, bool)> {
    let mut terms = Vec::new();
    let mut chars = query.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == '\u{3000}') {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut negated = false;
        if first == '-' {
            negated = true;
            chars.next();
        }
        let quoted = matches!(chars.peek(), Some('"' | '“' | '”'));
        let mut raw = String::new();
        if quoted {
            chars.next();
            for c in chars.by_ref() {
                if matches!(c, '"' | '“' | '”') {
                    break;
                }
                raw.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '\u{3000}' {
                    break;
                }
                raw.push(c);
                chars.next();
            }
        }
        if !raw.is_empty() {
            terms.push((raw, negated));
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str, negated: bool) -> Term {
        Term { text: text.into(), negated }
    }

    #[test]
    fn words_phrases_and_exclusions() {
        assert_eq!(parse("热线  办结率"), vec![t("热线", false), t("办结率", false)]);
        assert_eq!(parse("\"政务 公开\" -微信"), vec![t("政务 公开", false), t("微信", true)]);
        assert_eq!(parse("-\"政务公开\"　依申請公開"), vec![t("政务公开", true), t("依申请公开", false)]);
        assert_eq!(parse("  "), vec![]);
        assert_eq!(parse("\"未闭合"), vec![t("未闭合", false)]);
    }

    #[test]
    fn too_many_or_too_long_terms_are_cut_and_said_so() {
        let many: Vec<String> = (0..3000).map(|i| format!("词{i}")).collect();
        let p = parse_bounded(&many.join(" "));
        assert_eq!(p.terms.len(), MAX_TERMS);
        assert_eq!(p.terms[19], t("词19", false));
        assert_eq!(p.notices, vec!["检索词过多：只用了前 20 个，其余 2980 个未用".to_string()]);
        let long = "政".repeat(5000);
        let p = parse_bounded(&format!("热线 -\"{long}\""));
        assert_eq!(p.terms[1], t(&"政".repeat(MAX_TERM_CHARS), true));
        assert_eq!(p.notices, vec!["检索词「政政政政政政政政政政…」超过 100 个字：只用了前 100 个字".to_string()]);
        let p = parse_bounded("热线  办结率");
        assert_eq!((p.terms, p.notices), (parse("热线 办结率"), vec![]));
    }
}
