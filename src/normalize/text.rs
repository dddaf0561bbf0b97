//! Search normalization of Chinese text, applied identically to what is
//! indexed and to what is queried, so that a query matches exactly the
//! documents whose normalized text contains it.
//!
//! The steps, in order:
//! 1. full-width letters and digits → ASCII (`ＡＢＣ１２３` → `ABC123`; Chinese
//!    punctuation such as `，（）` stays as written), ideographic space →
//!    space, and every run of whitespace → one space;
//! 2. pinyin annotations removed: `政務(wù)公開` → `政務公開` (a converter
//!    that added tone-marked pinyin after characters mangled seed 000);
//! 3. traditional → simplified characters (`政務公開` → `政务公开`), one
//!    character for one character, so offsets in characters survive;
//! 4. ASCII letters lower-cased.

use std::borrow::Cow;

/// Normalizes `s` for search (see the module doc).
pub fn normalize(s: &str) -> String {
    let widened = fold_width_and_space(s);
    let no_pinyin = strip_pinyin_annotations(&widened);
    let mut out = if may_be_traditional(&no_pinyin) { fast2s::convert(&no_pinyin) } else { no_pinyin.into_owned() };
    out.make_ascii_lowercase();
    out
}

/// True when `s` has a character that fast2s may convert: one it converts
/// on its own, or one of the three it leaves alone except next to certain
/// others (`看著` → `看着`). A bit set over the three-byte characters (the only ones
/// fast2s converts), built once from fast2s itself; texts in simplified
/// characters skip its per-character hash lookups.
pub(crate) fn may_be_traditional(s: &str) -> bool {
    static CONVERTED: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    let bits = CONVERTED.get_or_init(|| {
        let mut bits = vec![0u64; 0x10000 / 64];
        let only_in_context = ['藉', '著', '苧'];
        for c in (0x800..=0xFFFF).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            if only_in_context.contains(&c) || fast2s::convert(c.encode_utf8(&mut buf)).chars().ne([c]) {
                bits[c as usize / 64] |= 1 << (c as usize % 64);
            }
        }
        bits
    });
    s.chars().any(|c| (c as usize) < 0x10000 && bits[c as usize / 64] & (1 << (c as usize % 64)) != 0)
}

/// Full-width letters and digits → ASCII, ideographic and other spaces → one
/// ASCII space, whitespace runs collapsed, ends trimmed.
pub fn fold_width_and_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        let c = match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' | '\u{00A0}' | '\u{2002}'..='\u{200B}' | '\u{FEFF}' => ' ',
            _ => c,
        };
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// Letters that occur in tone-marked pinyin.
fn is_pinyin_letter(c: char) -> bool {
    c.is_ascii_lowercase() || is_tone_marked(c)
}

fn is_tone_marked(c: char) -> bool {
    matches!(
        c,
        'ā' | 'á'
            | 'ǎ'
            | 'à'
            | 'ē'
            | 'é'
            | 'ě'
            | 'è'
            | 'ī'
            | 'í'
            | 'ǐ'
            | 'ì'
            | 'ō'
            | 'ó'
            | 'ǒ'
            | 'ò'
            | 'ū'
            | 'ú'
            | 'ǔ'
            | 'ù'
            | 'ǖ'
            | 'ǘ'
            | 'ǚ'
            | 'ǜ'
            | 'ü'
            | 'ń'
            | 'ň'
            | 'ǹ'
            | 'ḿ'
    )
}

/// True for CJK unified ideographs (the characters that words are made of).
pub fn is_han(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2EBEF}'
        | '\u{30000}'..='\u{3134F}'
        | '〇')
}

/// True when some parenthesis in `s` follows a Han character and opens on a
/// pinyin letter: what an annotation starts with. Most texts with
/// parentheses (`（一）`, `〔2020〕`) are answered here without the full pass.
fn may_have_annotation(s: &str) -> bool {
    s.match_indices(['(', '（']).any(|(at, open)| {
        s[..at].chars().next_back().is_some_and(is_han)
            && s[at + open.len()..].chars().next().is_some_and(is_pinyin_letter)
    })
}

/// Removes `(pīn)` or `（pīn）` right after a Han character when the parenthesized text is
/// a single tone-marked pinyin syllable (1–6 letters, at least one tone mark).
/// `(2020)`, `(a)` and `(GB)` are left alone.
pub fn strip_pinyin_annotations(s: &str) -> Cow<'_, str> {
    if !may_have_annotation(s) {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut changed = false;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        i += 1;
        if is_han(c) && i < chars.len() && (chars[i] == '(' || chars[i] == '（') {
            let start = i + 1;
            let mut j = start;
            let mut toned = false;
            while j < chars.len() && j - start <= 6 && is_pinyin_letter(chars[j]) {
                toned |= is_tone_marked(chars[j]);
                j += 1;
            }
            if toned && j > start && j - start <= 6 && j < chars.len() && (chars[j] == ')' || chars[j] == '）') {
                i = j + 1;
                changed = true;
            }
        }
    }
    if changed { Cow::Owned(out) } else { Cow::Borrowed(s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_000_style_mangling_is_undone() {
        assert_eq!(normalize("咸寧高新區(qū)2016年政務(wù)公開年度報(bào)告"), "咸宁高新区2016年政务公开年度报告");
        assert_eq!(normalize("索引號(hào) : 文 號（hào）"), "索引号 : 文 号");
    }

    #[test]
    fn only_a_parenthesis_after_a_han_character_on_a_pinyin_letter_may_open_an_annotation() {
        assert!(may_have_annotation("政務(wù)公開"));
        assert!(may_have_annotation("文 號（hào）"));
        assert!(may_have_annotation("条例(abc)"), "checked in full, then kept");
        assert!(!may_have_annotation("（一）工作(2019)"));
        assert!(!may_have_annotation("英文 (gb)"));
        assert!(!may_have_annotation("(wù)开头"));
        assert!(!may_have_annotation("政务（"));
    }

    #[test]
    fn simplified_text_skips_the_conversion_and_traditional_text_does_not() {
        assert!(!may_be_traditional("政务公开 12345热线 abc，（一）"));
        assert!(may_be_traditional("政務公開"));
        assert_eq!(normalize("看著"), "看着", "converted only next to certain characters");
        // Whatever fast2s converts, alone or in its special pairs, the test lets through.
        for c in (0x800..=0xFFFF).filter_map(char::from_u32) {
            let alone = c.to_string();
            if fast2s::convert(&alone) != alone {
                assert!(may_be_traditional(&alone), "{c}");
            }
        }
        for pair in ["藉口", "憑藉", "看著", "苧麻", "闔家", "鍾書", "校讎", "計畫", "企畫", "批覆", "乾隆"]
        {
            assert_eq!(normalize(pair), fast2s::convert(pair), "{pair}");
        }
    }

    #[test]
    fn ordinary_parentheses_survive() {
        assert_eq!(normalize("條例(2019)第(a)項"), "条例(2019)第(a)项");
        assert_eq!(normalize("英文(GB)"), "英文(gb)");
    }

    #[test]
    fn width_and_space_fold() {
        assert_eq!(normalize("　１２３４５热线　 ＡＢＣ\t\n办结率 "), "12345热线 abc 办结率");
        assert_eq!(normalize("（国办发〔２０２０〕53号），"), "（国办发〔2020〕53号），");
    }

    #[test]
    fn simplified_text_is_unchanged() {
        let s = "依申请公开 政务公开 微信 办结率达99%";
        assert_eq!(normalize(s), s);
    }
}
