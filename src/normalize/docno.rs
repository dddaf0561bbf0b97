//! Document numbers (文号): finding them in titles and text, and writing each
//! in one normal form so that a repost can be matched to its original.
//!
//! The same number is written many ways: `国办发〔2020〕53号`, `国办发[2020]53号`,
//! `国办发（2020）53号`, `国办发【2020】53号`, `国办发„2020‟53号`,
//! `国办发{2020}053号`, `國辦發〔2020〕53號`, and with no brackets at all
//! (`甘区政办发201756号`). All normalize to `机关代字〔年份〕序号号` with
//! simplified characters and no leading zeros.

use std::sync::OnceLock;

use regex::Regex;

use super::text::fold_width_and_space;

/// A document number found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocNo {
    /// As written in the source.
    pub raw: String,
    /// Normal form: `国办发〔2020〕53号`.
    pub norm: String,
}

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?x)
            (?P<organ>\p{Han}{1,14})
            [\ ]?
            (?:[〔\[(【{„〖<《「『⟦⦅"“]\ ?)?
            (?P<year>(?:19|20)\d{2})
            (?:\ ?[〕\])】}‟〗>》」』⟧⦆"”])?
            [\ ]?第?[\ ]?
            (?P<num>\d{1,5})
            [\ ]?号"#,
        )
        .expect("document number pattern compiles")
    })
}

/// Words that precede a number in running text but are not part of the
/// issuing organ's abbreviation (`根据国办发〔2020〕53号` → `国办发`).
const LEADING_WORDS: &[&str] = &[
    "发文字号",
    "文号为",
    "文号",
    "详见",
    "根据",
    "依据",
    "按照",
    "依照",
    "参照",
    "对照",
    "贯彻",
    "落实",
    "执行",
    "印发",
    "转发",
    "结合",
    "以及",
    "号为",
    "号",
    "和",
    "及",
    "与",
    "同",
    "见",
    "经",
    "按",
    "即",
    "据",
    "由",
    "为",
];

/// Prepares text for matching, one character for one character so that a
/// match's character offsets point into the original: full-width → ASCII,
/// traditional → simplified.
fn prepare(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect();
    fast2s::convert(&folded)
}

/// Every document number in `text`, in order of appearance.
pub fn find_all(text: &str) -> Vec<DocNo> {
    if !text.contains('号') && !text.contains('號') {
        return Vec::new();
    }
    let prepared = prepare(text);
    let mut found = Vec::new();
    for caps in pattern().captures_iter(&prepared) {
        let whole = caps.get(0).expect("group 0 always matches");
        let mut organ = &caps["organ"];
        let mut organ_start = caps.name("organ").expect("organ always matches").start();
        // Strip words of the surrounding sentence from the front, repeatedly.
        'strip: loop {
            for w in LEADING_WORDS {
                if organ.len() > w.len() && organ.starts_with(w) {
                    organ = &organ[w.len()..];
                    organ_start += w.len();
                    continue 'strip;
                }
            }
            break;
        }
        if organ.ends_with('年') || organ.ends_with('第') {
            continue;
        }
        let num: u32 = match caps["num"].parse() {
            Ok(n) if n > 0 => n,
            _ => continue,
        };
        let norm = format!("{}〔{}〕{}号", organ, &caps["year"], num);
        // Map the match back to the original characters.
        let start_char = prepared[..organ_start].chars().count();
        let len_chars = prepared[organ_start..whole.end()].chars().count();
        let raw: String = text.chars().skip(start_char).take(len_chars).collect();
        found.push(DocNo { raw, norm });
    }
    found
}

/// The first document number in `text`.
pub fn find(text: &str) -> Option<DocNo> {
    find_all(text).into_iter().next()
}

/// The normal form of a value that is meant to be a document number (a
/// page's 文号 field). `无`, `-`, and blank are no number.
pub fn normalize_field(value: &str) -> Option<DocNo> {
    if is_none_marker(value) {
        return None;
    }
    find(value.trim())
}

/// True for the values pages put in a 文号 field when there is none.
pub fn is_none_marker(value: &str) -> bool {
    let v = fold_width_and_space(value);
    matches!(v.trim(), "" | "无" | "無" | "-" | "—" | "/" | "暂无" | "null")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        find(s).map(|d| d.norm)
    }

    #[test]
    fn all_bracket_forms_normalize_alike() {
        for s in [
            "国办发〔2020〕53号",
            "国办发[2020]53号",
            "国办发（2020）53号",
            "国办发(2020)53号",
            "国办发【2020】53号",
            "国办发［2020］53号",
            "国办发„2020‟53号",
            "国办发{2020}53号",
            "国办发〔2020〕053号",
            "國辦發〔2020〕53號",
            "国办发〔2020〕第53号",
            "国办发2020 53号",
        ] {
            assert_eq!(norm(s).as_deref(), Some("国办发〔2020〕53号"), "{s}");
        }
    }

    #[test]
    fn no_brackets_at_all() {
        assert_eq!(norm("甘区政办发201756号").as_deref(), Some("甘区政办发〔2017〕56号"));
    }

    #[test]
    fn found_in_running_text_with_the_raw_form_kept() {
        let text = "根据《国务院办公厅关于进一步优化政务服务的意见》（國辦發〔2022〕32號）和咸政办发〔2016〕42号的要求";
        let all = find_all(text);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].raw, "國辦發〔2022〕32號");
        assert_eq!(all[0].norm, "国办发〔2022〕32号");
        assert_eq!(all[1].raw, "咸政办发〔2016〕42号");
    }

    #[test]
    fn real_feed_description() {
        let d = "为贯彻落实《国家发展改革委 民政部 财政部关于进一步完善殡葬服务收费政策的通知》（发改价格〔2026〕108号）要求";
        assert_eq!(norm(d).as_deref(), Some("发改价格〔2026〕108号"));
    }

    #[test]
    fn not_numbers() {
        assert_eq!(norm("2020年53号楼"), None);
        assert_eq!(norm("第三十二条"), None);
        assert_eq!(normalize_field("无"), None);
        assert_eq!(normalize_field(" 冀政办字〔2020〕6号 ").map(|d| d.norm).as_deref(), Some("冀政办字〔2020〕6号"));
    }
}
