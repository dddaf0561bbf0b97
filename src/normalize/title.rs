//! Titles as reposts are matched by: a key with the transmittal wrappers,
//! 文号, brackets and punctuation stripped, and what the title says about
//! the document (a transmittal, an implementing document). Pure; computed
//! once per item at ingest and kept in its `Refs`.

use super::docno;
use super::normalize_text;
use super::text::is_han;

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
    /// It passes a document on (转发, 转载).
    pub transmittal: bool,
    /// It announces an implementing document (实施意见 …), which is not a repost.
    pub implementing: bool,
}

/// The facts of a title, normalizing it once.
pub fn facts(title: &str) -> TitleFacts {
    let t = normalize_text(title);
    TitleFacts {
        key: key_normalized(t.clone()),
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
