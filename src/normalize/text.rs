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
    let mut out = fast2s::convert(&no_pinyin);
    out.make_ascii_lowercase();
    out
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

/// Removes `(pīn)` or `（pīn）` right after a Han character when the parenthesized text is
/// a single tone-marked pinyin syllable (1–6 letters, at least one tone mark).
/// `(2020)`, `(a)` and `(GB)` are left alone.
pub fn strip_pinyin_annotations(s: &str) -> Cow<'_, str> {
    if !s.contains('(') && !s.contains('（') {
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
