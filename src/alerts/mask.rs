//! Masking citizens' personal data in text that leaves govwatch by email:
//! mobile and landline numbers (138****1234, 0571-****5678), ID card numbers
//! (110101********1234), bank card numbers (6222 **** **** 1234, found by
//! `rules::pii`), e-mail addresses (z***@qq.com) and names after the
//! labels hotline records use (来电人：张** ). Pure.
//!
//! Numbers are only masked where they stand alone: a digit or Latin letter
//! right before or after means a work-order number or a code, left as is.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

use crate::rules::pii::PiiKind;

fn numbers() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            // 18-digit ID: region, birth date, sequence, check digit.
            r"(?P<id18>[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])",
            // 15-digit ID (before 1999): two-digit year.
            r"|(?P<id15>[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})",
            // Mobile, optionally written 138-1234-5678 or 138 1234 5678.
            r"|(?P<mobile>(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2})",
            // Landline with its area code: 0571-87654321, 010 12345678, (0571)8765432.
            r"|(?P<landline>(?:0\d{2,3}|[(（]0\d{2,3}[)）])[-－ ]?[2-9]\d{6,7})",
        ))
        .expect("number patterns")
    })
}

fn emails() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").expect("email pattern"))
}

fn names() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?P<label>来电人|来电者|联系人|反映人|投诉人|举报人|求助人|来信人|留言人|申请人|诉求人|当事人|姓名)",
            r"(?P<sep>\s*[:：]\s*|\s+)?",
            r"(?P<name>\p{Han}{2,4})",
        ))
        .expect("name pattern")
    })
}

/// Words that follow a name without a separator: the name ends before them.
const AFTER_NAME: &[&str] = &[
    "反映", "来电", "表示", "投诉", "举报", "咨询", "要求", "诉求", "询问", "希望", "建议", "称", "说", "求助", "先生",
    "女士",
];

fn boundary_ok(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let joins = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !joins(before) && !joins(after)
}

fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let digits: Vec<char> = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if digits.len() <= head + tail {
        return "*".repeat(digits.len());
    }
    let mut out: String = digits[..head].iter().collect();
    out.push_str(&"*".repeat(digits.len() - head - tail));
    out.extend(&digits[digits.len() - tail..]);
    out
}

/// Bank card numbers (16–19 digits passing Luhn, a card prefix, alone or in
/// groups of four), as the personal-data scan finds them: 6222 **** **** 1234.
fn mask_cards(text: &str) -> Cow<'_, str> {
    let cards: Vec<_> =
        crate::rules::pii::scan_spans(text).into_iter().filter(|(h, _)| h.kind == PiiKind::BankCard).collect();
    if cards.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (hit, end) in cards {
        out.push_str(&text[copied..hit.start]);
        out.push_str(&hit.masked);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `text` with personal data masked; borrowed when there was nothing to mask.
pub fn mask(text: &str) -> Cow<'_, str> {
    match mask_cards(text) {
        Cow::Borrowed(_) => mask_rest(text),
        Cow::Owned(carded) => Cow::Owned(mask_rest(&carded).into_owned()),
    }
}

/// The fewest digits a masked number has (a landline: 3-digit area code and
/// 7 digits); a text with fewer is not searched for numbers.
const FEWEST_DIGITS: usize = 10;

/// True for every character `\d` matches (any Unicode decimal digit), and
/// some others. Han characters and CJK punctuation, most of a Chinese text,
/// are answered without `char::is_numeric`'s table search.
fn may_be_digit(c: char) -> bool {
    match c {
        '0'..='9' | '０'..='９' => true,
        _ if c.is_ascii() => false,
        '\u{3000}'..='\u{303F}' | '\u{4E00}'..='\u{9FFF}' | '\u{FF00}'..='\u{FFEF}' => false,
        _ => c.is_numeric(),
    }
}

fn mask_rest(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut pos = 0;
    let re = numbers();
    let digits = text.chars().filter(|c| may_be_digit(*c)).take(FEWEST_DIGITS).count();
    while let Some(c) = (digits >= FEWEST_DIGITS).then(|| re.captures_at(text, pos)).flatten() {
        let m = c.get(0).expect("whole match");
        if !boundary_ok(text, m.start(), m.end()) {
            pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let s = m.as_str();
        let masked = if c.name("id18").is_some() || c.name("id15").is_some() {
            keep_ends(s, 6, 4)
        } else if c.name("mobile").is_some() {
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let national = digits.strip_prefix("86").filter(|d| d.len() == 11).unwrap_or(&digits);
            keep_ends(national, 3, 4)
        } else {
            // Landline: the area code stays, the number keeps its last 4.
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            let area = if digits.starts_with("01") || digits.starts_with("02") { 3 } else { 4 };
            format!("{}-{}", &digits[..area], keep_ends(&digits[area..], 0, 4))
        };
        out.push_str(&text[copied..m.start()]);
        out.push_str(&masked);
        copied = m.end();
        pos = m.end();
    }
    let text: Cow<str> = if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    };
    let text = match emails().is_match(&text) {
        false => text,
        true => Cow::Owned(
            emails()
                .replace_all(&text, |c: &regex::Captures| {
                    let (user, domain) = c[0].split_once('@').expect("an @");
                    let first = user.chars().next().unwrap_or('*');
                    format!("{first}***@{domain}")
                })
                .into_owned(),
        ),
    };
    if !names().is_match(&text) {
        return text;
    }
    Cow::Owned(
        names()
            .replace_all(&text, |c: &regex::Captures| {
                let name = &c["name"];
                let sep = c.name("sep").map_or("", |m| m.as_str());
                // Without a separator the name runs into the next words: cut it there.
                let name = if sep.is_empty() {
                    let cut = AFTER_NAME.iter().filter_map(|w| name.find(w)).filter(|&i| i > 0).min();
                    &name[..cut.unwrap_or(name.len()).min(name.char_indices().nth(3).map_or(name.len(), |(i, _)| i))]
                } else {
                    name
                };
                let rest = &c["name"][name.len()..];
                let n = name.chars().count();
                let first: String = name.chars().take(1).collect();
                if n < 2 {
                    return c[0].to_string();
                }
                format!("{}{sep}{first}{}{rest}", &c["label"], "*".repeat(n - 1))
            })
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn phones_and_ids() {
        assert_eq!(mask("来电号码13812341234，请回电"), "来电号码138****1234，请回电");
        assert_eq!(mask("电话：138-1234-1234。"), "电话：138****1234。");
        assert_eq!(mask("+86 138 1234 1234"), "138****1234");
        assert_eq!(mask("身份证号110101199003071234"), "身份证号110101********1234");
        assert_eq!(mask("身份证 11010119900307123X 丢失"), "身份证 110101********123X 丢失");
        assert_eq!(mask("老身份证110101900307123"), "老身份证110101*****7123");
        assert_eq!(mask("座机0571-87654321或010 62345678"), "座机0571-****4321或010-****5678");
    }

    #[test]
    fn may_be_digit_covers_every_unicode_decimal_digit() {
        let d = regex::Regex::new(r"^\d$").unwrap();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if d.is_match(c.encode_utf8(&mut [0; 4])) {
                assert!(super::may_be_digit(c), "{c:?} U+{:04X}", c as u32);
            }
        }
        assert!(!super::may_be_digit('热') && !super::may_be_digit('，') && !super::may_be_digit('a'));
    }

    #[test]
    fn the_shortest_numbers_are_still_masked() {
        // Ten digits, the fewest a masked number has; nine are left alone.
        assert_eq!(mask("电话010 6234567"), "电话010-***4567");
        assert_eq!(mask("电话010 623456"), "电话010 623456");
    }

    #[test]
    fn codes_and_plain_numbers_stay() {
        // Work-order numbers, dates, money, hotline numbers: not personal.
        for s in [
            "工单GD20261102001",
            "编号13812341234A",
            "2026年11月20日",
            "金额12000元",
            "拨打12345热线",
            "订单138123412345",
        ] {
            assert_eq!(mask(s), s, "{s}");
        }
    }

    #[test]
    fn names_after_labels() {
        assert_eq!(mask("来电人：张三丰，电话13812341234"), "来电人：张**，电话138****1234");
        assert_eq!(mask("联系人 李四"), "联系人 李*");
        assert_eq!(mask("来电人王五反映小区停水"), "来电人王*反映小区停水");
        assert_eq!(mask("姓名:欧阳娜娜"), "姓名:欧***");
        // No label: nothing to go by.
        assert_eq!(mask("市民反映小区停水"), "市民反映小区停水");
    }

    #[test]
    fn bank_cards() {
        // 6222021234567894 passes Luhn; its neighbour ...95 does not.
        assert_eq!(mask("退款至卡号6222021234567894，请查收"), "退款至卡号6222 **** **** 7894，请查收");
        assert_eq!(mask("卡号 6222 0212 3456 7894。"), "卡号 6222 **** **** 7894。");
        assert_eq!(mask("卡号6222-0212-3456-7894"), "卡号6222 **** **** 7894");
        assert_eq!(mask("卡号6217001234567890122，电话13812341234"), "卡号6217 **** **** *** 0122，电话138****1234");
        // Not Luhn-valid, inside a code, or without a card prefix: left as is.
        for s in ["流水号6222021234567895", "编号X6222021234567894", "订单2026112212345678"] {
            assert_eq!(mask(s), s, "{s}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(mask("邮箱zhangsan@qq.com"), "邮箱z***@qq.com");
    }
}
