//! Titles as reposts are matched by: a key with the transmittal wrappers,
//! 文号, brackets and punctuation stripped, and what the title says about
//! the document (a transmittal, an implementing document). Pure; computed
//! once per item at ingest and kept in its `Refs`.
//!
//! A traditional title has two keys: one converted character by character
//! (`text::normalize`, fast2s: a mainland page shown in traditional
//! characters keeps mainland words, 檔案 is 档案), and one converted by phrase
//! with OpenCC's tables (`tw2sp`: Taiwan phrases and variants, then
//! traditional → simplified phrases and characters: a version converted with
//! Taiwan vocabulary writes 資訊 for 信息 and 網際網路 for 互联网, which the
//! first conversion leaves as 资讯 and 网际网路, and tw2sp would turn 檔案 into
//! 文件). Matching tries both. Only here: search keeps its
//! one-character-for-one conversion, whose character offsets the index's
//! positions and highlights rely on.

use std::borrow::Cow;
use std::sync::OnceLock;

use ferrous_opencc::OpenCC;
use ferrous_opencc::config::BuiltinConfig;

use super::docno;
use super::normalize_text;
use super::text::{is_han, may_be_traditional};

/// Traditional → simplified by phrase (OpenCC `tw2sp`); text with no
/// character that may be traditional is returned as it is.
pub fn phrases_to_simplified(s: &str) -> Cow<'_, str> {
    static CC: OnceLock<Option<OpenCC>> = OnceLock::new();
    if !may_be_traditional(s) {
        return Cow::Borrowed(s);
    }
    let cc = CC.get_or_init(|| match OpenCC::from_config(BuiltinConfig::Tw2sp) {
        Ok(cc) => Some(cc),
        Err(e) => {
            tracing::error!(error = %e, "OpenCC's tw2sp tables failed to load; titles are converted character by character");
            None
        }
    });
    match cc {
        Some(cc) => Cow::Owned(cc.convert(s)),
        None => Cow::Borrowed(s),
    }
}

/// Words that make a document an implementation of its parent, not a repost.
const IMPLEMENTING: &[&str] =
    &["实施意见", "实施方案", "实施细则", "工作方案", "行动方案", "行动计划", "实施办法", "贯彻落实"];

/// Whether a title announces an implementing document rather than a repost.
pub fn is_implementing(title: &str) -> bool {
    implementing_normalized(&normalize_text(title))
}

fn implementing_normalized(t: &str) -> bool {
    !t.contains("转发") && IMPLEMENTING.iter().any(|w| t.contains(w))
}

/// What a title says, for repost matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TitleFacts {
    /// See [`title_key`].
    pub key: String,
    /// The key of the title converted by phrase ([`phrases_to_simplified`]),
    /// when that differs from `key`; else empty.
    pub phrase_key: String,
    /// It passes a document on (转发, 转载).
    pub transmittal: bool,
    /// It announces an implementing document (实施意见 …), which is not a repost.
    pub implementing: bool,
}

/// The facts of a title, normalizing it once.
pub fn facts(title: &str) -> TitleFacts {
    let t = normalize_text(title);
    let key = key_normalized(t.clone());
    let phrase_key = match phrases_to_simplified(title) {
        Cow::Owned(p) => Some(key_normalized(normalize_text(&p))).filter(|k| *k != key).unwrap_or_default(),
        Cow::Borrowed(_) => String::new(),
    };
    TitleFacts {
        key,
        phrase_key,
        transmittal: t.contains("转发") || t.contains("转载"),
        implementing: implementing_normalized(&t),
    }
}

/// The key a title is compared by: normalized, the 文号 and brackets removed,
/// the transmittal wrapper (`…转发`/`…印发`, `的通知`) stripped, only Han
/// characters, letters and digits kept.
pub fn title_key(title: &str) -> String {
    key_normalized(normalize_text(title))
}

/// The key of a title converted by phrase (OpenCC `tw2sp`), when it
/// differs from [`title_key`]; else empty.
pub fn phrase_key(title: &str) -> String {
    facts(title).phrase_key
}

fn key_normalized(mut t: String) -> String {
    for d in docno::find_all(&t) {
        t = t.replace(&d.raw, "");
    }
    // "X关于转发Y的通知", "转发Y", "转载Y": keep Y. An 印发 stays: "关于印发
    // 2020年政务公开工作要点的通知" means a different document for every organ.
    // Repeatedly: a transmittal of a transmittal (转发国务院办公厅转发…) is
    // the same document as the inner transmittal.
    while let Some((i, w)) = ["关于转发", "转发", "转载"].iter().find_map(|w| t.find(w).map(|i| (i, *w))) {
        t = t[i + w.len()..].to_string();
    }
    // A portal's note on the document's status, not part of its title:
    // `…的通知(已失效)`.
    for mark in [
        "(已失效)",
        "（已失效）",
        "(失效)",
        "（失效）",
        "(已废止)",
        "（已废止）",
        "(废止)",
        "（废止）",
        "(现行有效)",
        "（现行有效）",
    ] {
        if let Some(stripped) = t.trim_end().strip_suffix(mark) {
            t = stripped.to_string();
        }
    }
    let mut key: String = t.chars().filter(|c| is_han(*c) || c.is_alphanumeric()).collect();
    // "…的通知的通知": the transmittal adds its own ending.
    while let Some(k) = key.strip_suffix("的通知") {
        if k.is_empty() {
            break;
        }
        key = k.to_string();
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_vocabulary_converts_by_phrase() {
        // A portal's traditional version of mainland titles (Taiwan vocabulary).
        assert_eq!(
            phrase_key("國務院辦公廳關於促進「網際網路+醫療健康」發展的意見"),
            title_key("国务院办公厅关于促进“互联网+医疗健康”发展的意见")
        );
        assert_eq!(phrase_key("關於加強政府資訊公開工作的通知"), title_key("关于加强政府信息公开工作的通知"));
        assert_eq!(phrase_key("關於促進軟體產業發展的若干政策"), title_key("关于促进软件产业发展的若干政策"));
        // Mainland words in traditional characters keep the character key:
        // tw2sp would make 檔案 文件.
        assert_eq!(title_key("關於加強檔案工作的意見"), title_key("关于加强档案工作的意见"));
        assert_ne!(phrase_key("關於加強檔案工作的意見"), "");
        // Titles whose phrases convert like their characters have one key.
        assert_eq!(phrase_key("國務院辦公廳關於印發2018年政務公開工作要點的通知"), "");
        // Simplified text is left alone (资讯 is also a mainland word).
        assert_eq!(phrases_to_simplified("关于资讯服务的通知"), "关于资讯服务的通知");
    }
}
