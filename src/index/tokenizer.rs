//! The two tokenizers behind Chinese search.
//!
//! * [`CjkNgram`] finds: every run of Han characters becomes overlapping
//!   two-character tokens (`政务公开` → `政务 务公 公开`, plus its first and
//!   last character alone), every run of letters and digits becomes one word. Token
//!   positions are *character offsets*, so a phrase of tokens at offsets 0, 1,
//!   2… matches exactly where the query string occurs, and phrases that mix
//!   words and Han characters (`12345热线`) stay exact too.
//! * [`JiebaSearch`] ranks: jieba's search-mode segmentation (words and
//!   their sub-words), which scores documents about a word above documents
//!   that merely contain its characters.
//!
//! Both expect text already passed through [`crate::normalize::normalize_text`].

use std::sync::{Arc, OnceLock};

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::normalize::text::is_han;

pub const NGRAM: &str = "cjk_ngram";
pub const JIEBA: &str = "jieba_search";

/// A stream over tokens computed up front.
pub struct VecTokenStream<'a> {
    tokens: &'a [Token],
    index: usize,
}

impl TokenStream for VecTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.index < self.tokens.len() {
            self.index += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        unreachable!("token_mut is only used by token filters, and none is installed on these tokenizers")
    }
}

#[derive(Clone, Default)]
pub struct CjkNgram {
    tokens: Vec<Token>,
}

impl Tokenizer for CjkNgram {
    type TokenStream<'a> = VecTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        self.tokens.clear();
        ngram_tokens(text, |t| self.tokens.push(t));
        VecTokenStream { tokens: &self.tokens, index: 0 }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_han(c)
}

/// Calls `emit` with each n-gram/word token of `text` (see the module doc).
///
/// The first and the last character of each Han run are also emitted alone,
/// so that a query mixing a word and a single Han character (`2016年`,
/// `第2`) finds `2016年度` and `第2季度`: in the query that character is a
/// run of one, in the document it starts or ends a longer run.
pub fn ngram_tokens(text: &str, mut emit: impl FnMut(Token)) {
    let tok = |position: usize, from: usize, to: usize, lower: bool| Token {
        offset_from: from,
        offset_to: to,
        position,
        text: if lower { text[from..to].to_lowercase() } else { text[from..to].to_string() },
        position_length: 1,
    };
    // The previous Han character of the current run: (char offset, byte offset, byte length).
    let mut prev_han: Option<(usize, usize, usize)> = None;
    let mut run_len = 0usize;
    // Start of the current letter/digit word: (char offset, byte offset).
    let mut word: Option<(usize, usize)> = None;
    for (char_idx, (byte, c)) in text.char_indices().enumerate() {
        if is_han(c) {
            if let Some((ws, wb)) = word.take() {
                emit(tok(ws, wb, byte, true));
            }
            match prev_han {
                Some((pos, pbyte, _)) => emit(tok(pos, pbyte, byte + c.len_utf8(), false)),
                // The first character of a run, alone: see `ngram_tokens`.
                None => emit(tok(char_idx, byte, byte + c.len_utf8(), false)),
            }
            prev_han = Some((char_idx, byte, c.len_utf8()));
            run_len += 1;
            continue;
        }
        end_run(&mut emit, &tok, prev_han, run_len);
        prev_han = None;
        run_len = 0;
        if is_word_char(c) {
            word.get_or_insert((char_idx, byte));
        } else if let Some((ws, wb)) = word.take() {
            emit(tok(ws, wb, byte, true));
        }
    }
    end_run(&mut emit, &tok, prev_han, run_len);
    if let Some((ws, wb)) = word {
        emit(tok(ws, wb, text.len(), true));
    }
}

/// The last character of a run of two or more, alone.
fn end_run(
    emit: &mut impl FnMut(Token),
    tok: &impl Fn(usize, usize, usize, bool) -> Token,
    last: Option<(usize, usize, usize)>,
    run_len: usize,
) {
    if run_len >= 2
        && let Some((pos, byte, len)) = last
    {
        emit(tok(pos, byte, byte + len, false));
    }
}

/// The process-wide jieba dictionary (loading it takes ~100 ms).
pub fn jieba() -> Arc<Jieba> {
    static JIEBA_DICT: OnceLock<Arc<Jieba>> = OnceLock::new();
    JIEBA_DICT.get_or_init(|| Arc::new(Jieba::new())).clone()
}

/// jieba in search mode; holds an `Arc` so that cloning per field per query
/// costs nothing (tantivy-jieba's `with_jieba` deep-copies the dictionary).
#[derive(Clone)]
pub struct JiebaSearch {
    jieba: Arc<Jieba>,
    tokens: Vec<Token>,
}

impl JiebaSearch {
    pub fn new(jieba: Arc<Jieba>) -> Self {
        JiebaSearch { jieba, tokens: Vec::new() }
    }
}

impl Tokenizer for JiebaSearch {
    type TokenStream<'a> = VecTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        self.tokens.clear();
        for t in self.jieba.cut_for_search(text, true) {
            if !t.word.chars().any(|c| c.is_alphanumeric()) {
                continue;
            }
            self.tokens.push(Token {
                offset_from: t.byte_start,
                offset_to: t.byte_end,
                position: t.start,
                text: t.word.to_lowercase(),
                position_length: t.end - t.start,
            });
        }
        VecTokenStream { tokens: &self.tokens, index: 0 }
    }
}

/// The words jieba finds in a query term (not search mode: the whole words).
pub fn jieba_words(text: &str) -> Vec<String> {
    jieba()
        .cut(text, true)
        .into_iter()
        .filter(|t| t.word.chars().any(|c| c.is_alphanumeric()))
        .map(|t| t.word.to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ngrams(s: &str) -> Vec<(String, usize)> {
        let mut v = Vec::new();
        ngram_tokens(s, |t| v.push((t.text, t.position)));
        v
    }

    #[test]
    fn han_runs_become_bigrams_at_char_offsets() {
        assert_eq!(
            ngrams("政务公开"),
            vec![("政".into(), 0), ("政务".into(), 0), ("务公".into(), 1), ("公开".into(), 2), ("开".into(), 3)]
        );
        assert_eq!(ngrams("热，线"), vec![("热".into(), 0), ("线".into(), 2)]);
    }

    #[test]
    fn words_and_han_mix() {
        assert_eq!(
            ngrams("拨打12345热线 ok"),
            vec![
                ("拨".into(), 0),
                ("拨打".into(), 0),
                ("打".into(), 1),
                ("12345".into(), 2),
                ("热".into(), 7),
                ("热线".into(), 7),
                ("线".into(), 8),
                ("ok".into(), 10),
            ]
        );
    }

    #[test]
    fn offsets_are_bytes_of_the_input() {
        let s = "a办结率";
        let mut v = Vec::new();
        ngram_tokens(s, |t| v.push(t));
        for t in &v {
            assert_eq!(&s[t.offset_from..t.offset_to], t.text.as_str());
        }
    }

    #[test]
    fn jieba_tokens_skip_punctuation() {
        let mut tok = JiebaSearch::new(jieba());
        let mut stream = tok.token_stream("依申请公开，办结率");
        let mut words = Vec::new();
        while stream.advance() {
            words.push(stream.token().text.clone());
        }
        assert!(words.iter().all(|w| w != "，"), "{words:?}");
        assert!(words.iter().any(|w| w == "申请"), "{words:?}");
    }
}
