//! The two tokenizers behind Chinese search.
//!
//! * [`CjkNgram`] finds. The text is cut into *runs*: maximal stretches of
//!   Han characters, or of letters and digits (any script: `gd2026041501`,
//!   `rowmarker123`, `абв`, かな). Every run becomes overlapping
//!   two-character tokens (`政务公开` → `政务 务公 公开`, `gd2026` → `gd d2 20 02
//!   26`); a run of one character is that character. The *marks* that hold
//!   文号 and codes together — brackets (`〔〕［］【】（）`), `- / . _ #`, dashes —
//!   are tokens of one character each; other punctuation and spaces only
//!   separate runs and are not indexed (a query holding them is checked
//!   against the stored text: `index::plan_exact`). Token positions are
//!   *character offsets*, so a phrase of tokens at offsets 0, 1, 2… matches
//!   exactly where the query string occurs — inside a longer number or word
//!   too (`20260415` in `gd2026041501`, `〔2026〕2` in `〔2026〕25号`) — and
//!   phrases that mix scripts (`12345热线`, `第2季度`) stay exact.
//! * [`JiebaWords`] ranks: jieba's words (no HMM, not search mode: ranking
//!   needs words, and the n-grams already find every substring), which score
//!   items about a word above items that merely contain its characters. Only
//!   the words the n-gram field does not already hold as one token are
//!   written (see [`word_home`]): a two-character word such as `热线` is the
//!   n-gram `热线`, and writing it twice was three fifths of jieba's postings
//!   for the same statistics. Numbers and codes of three or more characters
//!   (`12345`, `gd2026041501`) are whole words here: the n-gram field holds
//!   only their pieces.
//!
//! Both expect text already passed through
//! [`crate::normalize::normalize_text`] (so nothing is lower-cased here), and
//! both stream: one token is reused, nothing is allocated per token — the
//! indexer spends its time on postings, not on `malloc`.

use std::sync::{Arc, OnceLock};

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::normalize::text::is_han;

pub const NGRAM: &str = "cjk_ngram";
pub const JIEBA: &str = "jieba";

/// What a character is to the n-gram tokenizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A Han character.
    Han,
    /// A letter or digit of any other script.
    Word,
    /// A mark of 文号 and codes (see [`is_mark`]): a token of its own.
    Mark,
    /// Anything else: sentence punctuation, spaces, symbols. Not indexed.
    Other,
}

/// The marks indexed as tokens: what 文号, standards, order numbers and
/// decimals are written with (`国办发〔2026〕2号`, `GB/T 9704-2012`, `v1.0`,
/// `（2026）`, `2021—2025年`). Sentence punctuation (，。、；：“”) is far more
/// frequent and rarely typed into a search: it is left out of the index.
pub fn is_mark(c: char) -> bool {
    matches!(
        c,
        '-' | '/'
            | '.'
            | '_'
            | '#'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '~'
            | '〔'
            | '〕'
            | '［'
            | '］'
            | '【'
            | '】'
            | '（'
            | '）'
            | '｛'
            | '｝'
            | '－'
            | '／'
            | '．'
            | '＿'
            | '＃'
            | '—'
            | '–'
            | '～'
    )
}

pub fn class(c: char) -> Class {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            Class::Word
        } else if is_mark(c) {
            Class::Mark
        } else {
            Class::Other
        }
    } else if is_han(c) {
        Class::Han
    } else if c.is_alphanumeric() {
        Class::Word
    } else if is_mark(c) {
        Class::Mark
    } else {
        Class::Other
    }
}

/// A token to be written: byte range and position (character offset).
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    from: usize,
    to: usize,
    position: usize,
}

#[derive(Clone, Default)]
pub struct CjkNgram;

impl Tokenizer for CjkNgram {
    type TokenStream<'a> = NgramStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> NgramStream<'a> {
        NgramStream::new(text)
    }
}

/// The n-gram token stream (see the module doc).
///
/// A run's first or last character is also emitted alone where the run
/// touches a run of the other kind or a mark (`2016年度` gives `年` at the
/// Han run's start, `第20` gives `2` at the number's start, `〔2026〕` gives
/// `2` and `6`): a query that mixes them (`2016年`, `第2`, `〔2026〕2`) has
/// that character as a run of one, and must find it where the document's run
/// goes on. Next to other punctuation nothing extra is written (the search
/// checks such places against the stored text instead; see
/// `index::plan_exact`).
pub struct NgramStream<'a> {
    text: &'a str,
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    char_idx: usize,
    /// The class of the previous character.
    class: Class,
    /// The previous character of the current run: (char offset, byte offset, byte length).
    prev: Option<(usize, usize, usize)>,
    run_len: usize,
    queue: [Pending; 3],
    queued: usize,
    next_out: usize,
    done: bool,
    token: Token,
}

impl<'a> NgramStream<'a> {
    pub fn new(text: &'a str) -> Self {
        NgramStream {
            text,
            chars: text.char_indices().peekable(),
            char_idx: 0,
            class: Class::Other,
            prev: None,
            run_len: 0,
            queue: [Pending::default(); 3],
            queued: 0,
            next_out: 0,
            done: false,
            token: Token::default(),
        }
    }

    fn push(&mut self, from: usize, to: usize, position: usize) {
        self.queue[self.queued] = Pending { from, to, position };
        self.queued += 1;
    }

    /// Ends the current run; `next` is the class of what follows it.
    fn end_run(&mut self, next: Class) {
        if let Some((pos, byte, len)) = self.prev
            && self.run_len >= 2
            && next != Class::Other
        {
            self.push(byte, byte + len, pos);
        }
        self.prev = None;
        self.run_len = 0;
    }

    /// Reads characters until at least one token is queued or the text ends.
    fn fill(&mut self) {
        self.queued = 0;
        self.next_out = 0;
        while self.queued == 0 {
            let Some((byte, c)) = self.chars.next() else {
                if !self.done {
                    self.done = true;
                    self.end_run(Class::Other);
                }
                return;
            };
            let idx = self.char_idx;
            self.char_idx += 1;
            let kind = class(c);
            let before = self.class;
            self.class = kind;
            if kind != before || kind == Class::Mark {
                self.end_run(kind);
            }
            let len = c.len_utf8();
            match kind {
                Class::Other => continue,
                // A mark is a token of its own and never part of a run.
                Class::Mark => {
                    self.push(byte, byte + len, idx);
                    continue;
                }
                Class::Han | Class::Word => {}
            }
            match self.prev {
                Some((pos, pbyte, _)) => self.push(pbyte, byte + len, pos),
                None => {
                    // A run of one is its character; longer runs emit it only next to the other kind.
                    let next_same = self.chars.peek().is_some_and(|(_, n)| class(*n) == kind);
                    if !next_same || before != Class::Other {
                        self.push(byte, byte + len, idx);
                    }
                }
            }
            self.prev = Some((idx, byte, len));
            self.run_len += 1;
        }
    }
}

impl TokenStream for NgramStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next_out >= self.queued {
            self.fill();
            if self.queued == 0 {
                return false;
            }
        }
        let p = self.queue[self.next_out];
        self.next_out += 1;
        self.token.offset_from = p.from;
        self.token.offset_to = p.to;
        self.token.position = p.position;
        self.token.position_length = 1;
        self.token.text.clear();
        self.token.text.push_str(&self.text[p.from..p.to]);
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Calls `emit` with each n-gram token of `text` (see [`NgramStream`]).
pub fn ngram_tokens(text: &str, mut emit: impl FnMut(Token)) {
    let mut s = NgramStream::new(text);
    while s.advance() {
        emit(s.token().clone());
    }
}

/// The process-wide jieba dictionary (loading it takes ~100 ms).
pub fn jieba() -> Arc<Jieba> {
    static JIEBA_DICT: OnceLock<Arc<Jieba>> = OnceLock::new();
    JIEBA_DICT.get_or_init(|| Arc::new(Jieba::new())).clone()
}

fn is_wordlike(w: &str) -> bool {
    w.chars().any(|c| is_han(c) || c.is_alphanumeric())
}

/// Where the ranking reads a jieba word's statistics (term and document
/// frequencies); the index side and the query side both decide by this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordHome {
    /// Two characters of one kind (two Han characters, two letters or
    /// digits), or one letter or digit: the n-gram fields hold the word as
    /// one token wherever it occurs (a pair is always a bigram of its run).
    Ngram,
    /// Longer words and mixed ones: only the jieba fields hold them.
    Jieba,
    /// One Han character (的, 和, 市): mostly function words; not written
    /// and not ranked (a one-character query is still matched and scored by
    /// its n-gram clause).
    Unranked,
}

pub fn word_home(w: &str) -> WordHome {
    let mut han = 0;
    let mut other = 0;
    let mut ascii_word = true;
    for c in w.chars() {
        if is_han(c) {
            han += 1;
            ascii_word = false;
        } else {
            other += 1;
            ascii_word &= c.is_ascii_alphanumeric();
        }
    }
    match (han, other) {
        (1, 0) => WordHome::Unranked,
        (2, 0) => WordHome::Ngram,
        (0, 1 | 2) if ascii_word => WordHome::Ngram,
        _ => WordHome::Jieba,
    }
}

/// jieba words; holds an `Arc` so that cloning per field per query costs
/// nothing (tantivy-jieba's `with_jieba` deep-copies the dictionary).
#[derive(Clone)]
pub struct JiebaWords {
    jieba: Arc<Jieba>,
}

impl JiebaWords {
    pub fn new(jieba: Arc<Jieba>) -> Self {
        JiebaWords { jieba }
    }
}

pub struct JiebaStream<'a> {
    words: std::vec::IntoIter<jieba_rs::Token<'a>>,
    token: Token,
}

impl Tokenizer for JiebaWords {
    type TokenStream<'a> = JiebaStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> JiebaStream<'a> {
        JiebaStream {
            words: self.jieba.tokenize(text, jieba_rs::TokenizeMode::Default, false).into_iter(),
            token: Token::default(),
        }
    }
}

impl TokenStream for JiebaStream<'_> {
    fn advance(&mut self) -> bool {
        for w in self.words.by_ref() {
            if word_home(w.word) != WordHome::Jieba || !is_wordlike(w.word) {
                continue;
            }
            self.token.offset_from = w.byte_start;
            self.token.offset_to = w.byte_end;
            self.token.position = w.start;
            self.token.position_length = w.end - w.start;
            self.token.text.clear();
            self.token.text.push_str(w.word);
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// The words jieba finds in a query term (every one; see [`word_home`] for
/// where each is indexed).
pub fn jieba_words(text: &str) -> Vec<String> {
    jieba().cut(text, false).into_iter().filter(|t| is_wordlike(t.word)).map(|t| t.word.to_string()).collect()
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
        assert_eq!(ngrams("政务公开"), vec![("政务".into(), 0), ("务公".into(), 1), ("公开".into(), 2)]);
        assert_eq!(ngrams("热，线"), vec![("热".into(), 0), ("线".into(), 2)]);
        assert_eq!(ngrams(""), vec![]);
    }

    #[test]
    fn words_and_han_mix() {
        assert_eq!(
            ngrams("拨打12345热线 ok，第2季度"),
            vec![
                ("拨打".into(), 0),
                ("打".into(), 1),
                ("1".into(), 2),
                ("12".into(), 2),
                ("23".into(), 3),
                ("34".into(), 4),
                ("45".into(), 5),
                ("5".into(), 6),
                ("热".into(), 7),
                ("热线".into(), 7),
                ("ok".into(), 10),
                ("第".into(), 13),
                ("2".into(), 14),
                ("季".into(), 15),
                ("季度".into(), 15),
            ]
        );
    }

    #[test]
    fn letter_and_digit_runs_become_bigrams_too() {
        // An order number: its pieces are found wherever they are in it.
        assert_eq!(
            ngrams("gd20260"),
            vec![
                ("gd".into(), 0),
                ("d2".into(), 1),
                ("20".into(), 2),
                ("02".into(), 3),
                ("26".into(), 4),
                ("60".into(), 5)
            ]
        );
        // One-character runs stay one token; sentence punctuation and spaces separate runs and add nothing.
        assert_eq!(ngrams("a 1，x"), vec![("a".into(), 0), ("1".into(), 2), ("x".into(), 4)]);
        // Marks are tokens, and the runs next to them give their edge characters.
        assert_eq!(
            ngrams("〔2026〕2号"),
            vec![
                ("〔".into(), 0),
                ("2".into(), 1),
                ("20".into(), 1),
                ("02".into(), 2),
                ("26".into(), 3),
                ("6".into(), 4),
                ("〕".into(), 5),
                ("2".into(), 6),
                ("号".into(), 7),
            ]
        );
        assert_eq!(ngrams("v1.0"), vec![("v1".into(), 0), ("1".into(), 1), (".".into(), 2), ("0".into(), 3)]);
        // Other scripts are runs of their own.
        assert_eq!(ngrams("абв"), vec![("аб".into(), 0), ("бв".into(), 1)]);
    }

    #[test]
    fn offsets_are_bytes_of_the_input() {
        let s = "a办结率ÄÖ2020年";
        let mut v = Vec::new();
        ngram_tokens(s, |t| v.push(t));
        assert!(!v.is_empty());
        for t in &v {
            assert_eq!(&s[t.offset_from..t.offset_to], t.text.as_str());
        }
    }

    fn jieba_tokens(s: &str) -> Vec<String> {
        let mut tok = JiebaWords::new(jieba());
        let mut stream = tok.token_stream(s);
        let mut words = Vec::new();
        while stream.advance() {
            words.push(stream.token().text.clone());
        }
        words
    }

    #[test]
    fn jieba_tokens_are_the_words_the_ngrams_do_not_hold() {
        let text = "依申请公开，办结率和新闻发布会的12345热线";
        let words = jieba_tokens(text);
        assert!(words.iter().all(|w| w != "，"), "{words:?}");
        assert!(words.iter().any(|w| w == "发布会"), "{words:?}");
        // Numbers and codes of three or more characters are jieba words: the n-grams hold only their pieces.
        assert!(words.iter().any(|w| w == "12345"), "{words:?}");
        // Two-character words are left to the n-gram field, one-character words unranked.
        for w in ["申请", "公开", "热线", "和", "的"] {
            assert!(!words.iter().any(|x| x == w), "{w} in {words:?}");
        }
        // Every word that is left out as held by the n-grams is an n-gram token of the same text.
        let mut grams = Vec::new();
        ngram_tokens(text, |t| grams.push(t.text));
        for w in jieba().cut(text, false) {
            if word_home(w.word) == WordHome::Ngram {
                assert!(grams.iter().any(|g| g == w.word), "{} not an n-gram of {text}", w.word);
            }
        }
    }

    #[test]
    fn word_homes() {
        assert_eq!(word_home("热线"), WordHome::Ngram);
        assert_eq!(word_home("12345"), WordHome::Jieba);
        assert_eq!(word_home("gd2026041501"), WordHome::Jieba);
        assert_eq!(word_home("gb"), WordHome::Ngram);
        assert_eq!(word_home("2"), WordHome::Ngram);
        assert_eq!(word_home("办公室"), WordHome::Jieba);
        assert_eq!(word_home("12345热线"), WordHome::Jieba);
        assert_eq!(word_home("v1.0"), WordHome::Jieba);
        assert_eq!(word_home("市"), WordHome::Unranked);
    }
}
