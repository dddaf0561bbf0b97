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

/// Parses a query; unbalanced quotes run to the end of the query.
pub fn parse(query: &str) -> Vec<Term> {
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
        let text = normalize_text(&raw);
        if !text.is_empty() {
            terms.push(Term { text, negated });
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
}
