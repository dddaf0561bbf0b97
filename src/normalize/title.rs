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

/// A portal's own annotations around a title, not part of it: a column
/// prefix (`政务服务丨…`), a bracketed mark (`【转载】`, `[原创]`) and a
/// trailing source note (`（来源：省政府网站）`).
fn strip_annotations(t: &str) -> &str {
    static RE: OnceLock<[regex::Regex; 3]> = OnceLock::new();
    let [column, mark, source] = RE.get_or_init(|| {
        [
            regex::Regex::new(r"^\s*[^丨|｜\s]{1,12}\s*[丨|｜]\s*").expect("column prefix"),
            regex::Regex::new(r"^\s*(?:【[^】]{1,8}】|\[[^\]]{1,8}\]|［[^］]{1,8}］)\s*").expect("mark"),
            regex::Regex::new(r"\s*[（(](?:来源|信息来源|稿源|转自|转载自|摘自)\s*[：:][^）)]*[）)]\s*$")
                .expect("source note"),
        ]
    });
    let mut t = t;
    loop {
        let before = t;
        for re in [column, mark] {
            if let Some(m) = re.find(t)
                && t[m.end()..].chars().count() >= 6
            {
                t = &t[m.end()..];
            }
        }
        if let Some(m) = source.find(t) {
            t = &t[..m.start()];
        }
        if t == before {
            return t;
        }
    }
}

/// What ends the name of an issuing organ (`…人民政府`, `…办公厅`, `…局`).
const ORGAN_ENDS: &[char] = &['府', '厅', '室', '会', '委', '局', '部', '院', '署', '办'];

/// The other keys a superior's title may be reposted under, from its key:
/// without its issuer (`关于印发…`, `印发…`, `关于…的意见`: a portal that
/// drops the issuer from the title), and its core name (what `关于印发` or
/// `印发` announces: `2018年政务公开工作要点`). Each with the issuer it
/// dropped. Matching uses them only with corroboration (the superior's 文号
/// in the portal item, or its issuer named at the head of the item's text).
pub fn alternative_keys(key: &str) -> Vec<(AltKey, String, String)> {
    let mut out = Vec::new();
    let Some(p) = ["关于", "印发"].iter().filter_map(|w| key.find(w)).min() else {
        return out;
    };
    let issuer = &key[..p];
    if issuer.chars().count() < 2 || !issuer.ends_with(ORGAN_ENDS) || issuer.contains("关于") {
        return out;
    }
    let rest = &key[p..];
    if rest.chars().count() >= 6 {
        out.push((AltKey::Issuerless, rest.to_string(), issuer.to_string()));
    }
    let core = rest.strip_prefix("关于印发").or_else(|| rest.strip_prefix("印发"));
    if let Some(core) = core.filter(|c| c.chars().count() >= 6) {
        out.push((AltKey::Core, core.to_string(), issuer.to_string()));
    }
    out
}

/// Which alternative key ([`alternative_keys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AltKey {
    /// The title without its issuer.
    Issuerless,
    /// The name of the document a notice issues.
    Core,
}

/// The issuing organ a text names on a line of its own at its head (a
/// mirror's `广东省清远市人民政府办公室` above an issuerless title), in Han
/// characters, simplified; else empty.
pub fn head_organ(text: &str) -> String {
    for line in text.lines().take(6) {
        let l: String = normalize_text(line).chars().filter(|c| !c.is_whitespace()).collect();
        let n = l.chars().count();
        if (3..=30).contains(&n)
            && l.chars().all(is_han)
            && l.ends_with(ORGAN_ENDS)
            && !["关于", "印发", "通知", "文件"].iter().any(|w| l.contains(w))
        {
            return l;
        }
        if l.ends_with([':', '：']) {
            break;
        }
    }
    String::new()
}

fn key_normalized(t: String) -> String {
    let mut t = strip_annotations(&t).to_string();
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
    fn portal_annotations_are_not_part_of_the_title() {
        let plain = title_key("济宁市人民政府关于持续深化“市县同权”改革的实施意见");
        for t in [
            "政务服务丨济宁市人民政府关于持续深化“市县同权”改革的实施意见",
            "政务公开 | 济宁市人民政府关于持续深化“市县同权”改革的实施意见",
            "【转载】济宁市人民政府关于持续深化“市县同权”改革的实施意见",
            "[转载]济宁市人民政府关于持续深化“市县同权”改革的实施意见（来源：济宁市人民政府网站）",
        ] {
            assert_eq!(title_key(t), plain, "{t}");
        }
        // A short title is left whole; brackets that are the title's are kept.
        assert_eq!(title_key("通知丨放假"), "通知丨放假");
        assert_eq!(title_key("关于印发《【示范】管理办法》的通知"), "关于印发示范管理办法");
    }

    #[test]
    fn alternative_keys_drop_the_issuer_or_keep_the_core_name() {
        let keys = |t: &str| alternative_keys(&title_key(t));
        assert_eq!(
            keys("国务院办公厅关于印发2018年政务公开工作要点的通知"),
            [
                (AltKey::Issuerless, "关于印发2018年政务公开工作要点".to_string(), "国务院办公厅".to_string()),
                (AltKey::Core, "2018年政务公开工作要点".to_string(), "国务院办公厅".to_string())
            ]
        );
        assert_eq!(
            keys("东莞市人民政府关于深入推进依法行政加快建设法治政府的意见"),
            [(
                AltKey::Issuerless,
                "关于深入推进依法行政加快建设法治政府的意见".to_string(),
                "东莞市人民政府".to_string()
            )]
        );
        // No issuer in front, or not an organ: none.
        assert!(keys("关于印发2018年政务公开工作要点的通知").is_empty());
        assert!(keys("2018年度关于印发工作要点的通知").is_empty());
    }

    #[test]
    fn the_organ_named_at_the_head_of_a_text() {
        let text = "作者：法律资料网 时间：2024-07-12 05:09:11 来源：法律资料网\n广东省清远市人民政府办公室\n印发清远市政府信息公开工作考核办法(试行)等制度的通知\n各县(市、区)人民政府：";
        assert_eq!(head_organ(text), "广东省清远市人民政府办公室");
        assert_eq!(head_organ("懷化市人民政府辦公室\n各縣市區人民政府："), "怀化市人民政府办公室");
        // A title, an addressee or a sentence is not an organ line.
        assert_eq!(head_organ("湖南省人民政府办公厅文件\n湘政办发〔2009〕24号"), "");
        assert_eq!(head_organ("各市人民政府，省政府各部门：\n国务院办公厅"), "");
    }

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
