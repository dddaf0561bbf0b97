//! The nouns of govwatch: what a source is, what an item is. No IO here.
//!
//! An [`Item`] is everything govwatch knows about one published thing (a
//! policy, a column entry, later a hotline work order): it is what the store
//! keeps, what the index is built from, and what the rules read.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// How a source delivers its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// RSS 0.9x/1.0/2.0, Atom or JSON Feed.
    Feed,
    /// A column list page read with CSS selectors.
    Page,
    /// Hotline or message-board exports (CSV/XLSX).
    Export,
}

/// What a source's items mean for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Publishes policies that lower levels must repost.
    Superior,
    /// A portal (or one of its columns) that must repost and stay fresh.
    Portal,
    /// 12345 hotline work orders.
    Hotline,
    /// Message boards and mailboxes (留言/信箱).
    Messages,
    /// News sites and forums where public concerns surface (政务舆情).
    Opinion,
}

/// What an item is: the `kind` search filter and the rules' first question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// An entry of a feed.
    Feed,
    /// An entry of a column page.
    Page,
    /// A 12345 hotline work order (工单), from an export.
    Hotline,
    /// A message-board or mailbox message (留言/信箱), from an export.
    Message,
}

impl ItemKind {
    /// The kind of the items a source delivers.
    pub fn of(kind: SourceKind, role: Role) -> ItemKind {
        match (kind, role) {
            (SourceKind::Feed, _) => ItemKind::Feed,
            (SourceKind::Page, _) => ItemKind::Page,
            (SourceKind::Export, Role::Hotline) => ItemKind::Hotline,
            (SourceKind::Export, _) => ItemKind::Message,
        }
    }
}

/// The administrative level of a source's publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    National,
    Province,
    City,
    County,
    Town,
    Department,
}

macro_rules! str_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every accepted spelling, for error messages.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(format!(
                        "unknown {} {:?}; expected one of: {}",
                        stringify!($ty).to_lowercase(),
                        s,
                        Self::NAMES.join(", ")
                    )),
                }
            }
        }
    };
}

str_enum!(SourceKind { Feed => "feed", Page => "page", Export => "export" });
str_enum!(ItemKind { Feed => "feed", Page => "page", Hotline => "hotline", Message => "message" });
str_enum!(Role {
    Superior => "superior",
    Portal => "portal",
    Hotline => "hotline",
    Messages => "messages",
    Opinion => "opinion",
});
str_enum!(Level {
    National => "national",
    Province => "province",
    City => "city",
    County => "county",
    Town => "town",
    Department => "department",
});

/// How much of a published time the source actually gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Only a calendar date (`2020-08-05`, `2020年08月02日`): the time is 00:00 local.
    Date,
    /// Date and time.
    Time,
}

/// A published time with the zone it was given in (or assumed: Asia/Shanghai).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub at: DateTime<FixedOffset>,
    pub precision: Precision,
    /// True when the source wrote no zone and Asia/Shanghai was assumed.
    pub zone_assumed: bool,
}

/// One item as a parser read it, already normalized to plain text, before it
/// is tied to a source's identity and stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParsedItem {
    /// The feed's guid/id, when it gave one that identifies the item.
    pub guid: Option<String>,
    pub title: String,
    /// Plain text (HTML already turned into text).
    pub text: String,
    /// Absolute, canonical link.
    pub link: Option<String>,
    pub published: Option<Published>,
    /// The 文号 as written, e.g. `国办发〔2020〕53号`.
    pub doc_no: Option<String>,
    /// Publishing organ as the page says (ContentSource / 发布机构 / feed source).
    pub publisher: Option<String>,
    /// Categories or column names the source gave.
    pub categories: Vec<String>,
    /// Links the item's body carries (`<a href>` in a description or article).
    pub links: Vec<String>,
}

/// What an item refers to, for matching reposts to their originals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refs {
    /// The item's own 文号 (stated by the page, in its title, or at the head
    /// of its text), normalized (`normalize::docno::numbers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_doc_no: Option<String>,
    /// Every other 文号 its title and text cite, normalized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doc_nos: Vec<String>,
    /// Links in the body and URLs written in the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// The title's key for repost matching (`normalize::title`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title_key: String,
    /// The title's key converted by phrase (OpenCC tw2sp), when it differs
    /// from `title_key` (`normalize::title`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phrase_key: String,
    /// The title passes a document on (转发, 转载).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transmittal: bool,
    /// The title announces an implementing document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implementing: bool,
    /// The issuing organ the text names on a line of its own at its head
    /// (`normalize::title::head_organ`), for a title without its issuer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub head_organ: String,
}

/// An item as stored: a [`ParsedItem`] bound to its source, with identity and
/// bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// Stable id: a hash of the source id and the item's key (see [`item_id`]).
    pub id: ItemId,
    pub source: String,
    /// What identifies the item within its source: guid, canonical link, or a
    /// hash of title and date when there is neither.
    pub key: String,
    pub unit: String,
    pub kind: ItemKind,
    pub role: Role,
    pub level: Level,
    pub title: String,
    pub text: String,
    pub link: Option<String>,
    pub published: Option<Published>,
    /// The item's own 文号 as written (stated by the page, else found in its
    /// title or at the head of its text); never one it only cites.
    pub doc_no: Option<String>,
    /// Normalized 文号, e.g. `国办发〔2020〕53号` for `國辦發[2020]053號`.
    pub doc_no_norm: Option<String>,
    pub publisher: Option<String>,
    pub categories: Vec<String>,
    pub first_seen_at: DateTime<FixedOffset>,
    pub last_changed_at: DateTime<FixedOffset>,
    /// Hash of the content fields; an unchanged hash means nothing to write.
    pub content_hash: String,
    /// Work-order fields, for hotline orders and messages.
    pub case: Option<Case>,
    /// 文号 and links the item carries (derived from its content).
    pub refs: Refs,
}

/// What an export row says about a work order or message beyond its text.
/// Times are as the export gave them (Asia/Shanghai when it gave no zone).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Case {
    /// 工单编号 / 留言编号.
    pub number: String,
    /// 来电时间 / 受理时间 / 留言时间.
    pub received_at: Option<Published>,
    /// 诉求类型 / 问题分类 / 一级分类.
    pub category: Option<String>,
    /// 承办单位 as written in the export.
    pub handler: Option<String>,
    /// The export's own deadline (办理时限 / 截止时间), when it has one.
    pub deadline_at: Option<Published>,
    /// 办结时间 / 答复时间.
    pub closed_at: Option<Published>,
    /// 状态 as written.
    pub status: Option<String>,
    /// 答复意见.
    pub reply: Option<String>,
    /// 延期 as written: a number of working days, a new deadline, or 是.
    pub extension: Option<String>,
    /// 紧急程度 / 是否紧急 as written.
    pub urgency: Option<String>,
    /// The export this row came from has no column that could say whether
    /// or when it was answered (办结时间, 状态, 答复意见 …): the row is intake
    /// only unless its source says otherwise. Left out of the serialized form
    /// (and so of the content hash) when false, as rows imported before it
    /// existed were hashed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub answer_unknown: bool,
}

/// An item id: 64 bits of SHA-256 over (source id, key). Shown as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub u64);

impl ItemId {
    /// As stored in SQLite (INTEGER is signed; the bits are the same).
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    pub fn from_i64(v: i64) -> Self {
        ItemId(v as u64)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for ItemId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        u64::from_str_radix(s, 16).map(ItemId).map_err(|_| format!("not an item id: {s:?} (expected 16 hex digits)"))
    }
}

impl Serialize for ItemId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The stable id of the item with `key` in source `source`.
pub fn item_id(source: &str, key: &str) -> ItemId {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    ItemId(u64::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_id_is_stable_and_round_trips() {
        let a = item_id("gov-zhengce", "https://www.gov.cn/zhengce/content/1.htm");
        let b = item_id("gov-zhengce", "https://www.gov.cn/zhengce/content/1.htm");
        assert_eq!(a, b);
        assert_ne!(a, item_id("other", "https://www.gov.cn/zhengce/content/1.htm"));
        let shown = a.to_string();
        assert_eq!(shown.len(), 16);
        assert_eq!(shown.parse::<ItemId>().unwrap(), a);
        assert_eq!(ItemId::from_i64(a.as_i64()), a);
    }

    #[test]
    fn enums_name_the_accepted_values() {
        assert_eq!("portal".parse::<Role>().unwrap(), Role::Portal);
        let err = "portl".parse::<Role>().unwrap_err();
        assert!(err.contains("superior, portal, hotline, messages, opinion"), "{err}");
    }
}
