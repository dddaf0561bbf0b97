//! Raw → normalized: text, times, 文号, links, identity and content hash.
//! Pure functions only; everything here is testable without a network or disk.

pub mod docno;
pub mod html;
pub mod identity;
pub mod text;
pub mod time;
pub mod title;

use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};
use url::Url;

use crate::model::{Item, ItemKind, Level, ParsedItem, Refs, Role, item_id};

pub use text::normalize as normalize_text;

/// Resolves `href` against `base` and returns a canonical absolute link:
/// fragment dropped, host lower-cased, default port dropped, `utm_*`
/// parameters removed. `javascript:`, `mailto:` and empty links give `None`.
///
/// Links are http(s) only. A `file:` link is kept only in a document that is
/// itself a local file (`base` is a `file:` URL: a source the administrator
/// configured as a path): what a remote page or feed says never names a
/// local file (`file:///etc/passwd`, or a relative link under a
/// `<base href="file:///">`, which callers must not let a remote page set).
pub fn canonical_link(base: Option<&Url>, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href == "#" {
        return None;
    }
    let lower = href.to_ascii_lowercase();
    if ["javascript:", "mailto:", "tel:", "data:"].iter().any(|p| lower.starts_with(p)) {
        return None;
    }
    let mut url = match base {
        Some(b) => b.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    let local_document = base.is_some_and(|b| b.scheme() == "file");
    if !(matches!(url.scheme(), "http" | "https") || (url.scheme() == "file" && local_document)) {
        return None;
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !k.starts_with("utm_"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.to_string())
}

/// What the item is bound to: the source's identity and classification.
#[derive(Debug, Clone, Copy)]
pub struct SourceInfo<'a> {
    pub id: &'a str,
    pub unit: &'a str,
    pub kind: ItemKind,
    pub role: Role,
    pub level: Level,
}

/// The key that identifies a parsed item within its source: the guid when
/// the source gave one, else the canonical link, else a hash of the title
/// and published date (a list entry with no link). When a fetch's guids or
/// links collide, `identity::assign_keys` writes the key it chose into the
/// guid first.
pub fn item_key(p: &ParsedItem) -> String {
    if let Some(g) = p.guid.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        return g.to_string();
    }
    if let Some(l) = &p.link {
        return l.clone();
    }
    let date = p.published.map(|d| d.at.date_naive().to_string()).unwrap_or_default();
    format!("title:{}:{}", hex16(&[p.title.as_bytes(), date.as_bytes()]), date)
}

/// Hash of everything that, when changed, makes the item "updated".
pub fn content_hash(p: &ParsedItem) -> String {
    let published = p.published.map(|d| d.at.to_rfc3339()).unwrap_or_default();
    let cats = p.categories.join("\u{1f}");
    hex16(&[
        p.title.as_bytes(),
        p.text.as_bytes(),
        p.link.as_deref().unwrap_or("").as_bytes(),
        published.as_bytes(),
        p.doc_no.as_deref().unwrap_or("").as_bytes(),
        p.publisher.as_deref().unwrap_or("").as_bytes(),
        cats.as_bytes(),
    ])
}

/// A content hash that also covers `more` (an export row's case fields).
pub fn extend_hash(hash: &str, more: &[u8]) -> String {
    hex16(&[hash.as_bytes(), more])
}

fn hex16(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let d = h.finalize();
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Binds a parsed item to its source. `now` becomes first-seen and
/// last-changed; the store keeps the older first-seen when the item exists.
pub fn to_item(src: SourceInfo<'_>, p: ParsedItem, now: DateTime<FixedOffset>) -> Item {
    let key = item_key(&p);
    let content_hash = content_hash(&p);
    // The 文号 the item carries as its own (stated, in its title, at the
    // head of its text); the others it mentions are references.
    let stated = p.doc_no.clone().filter(|d| !docno::is_none_marker(d));
    let numbers = docno::numbers(&p.title, stated.as_deref(), &p.text);
    // Only superior and portal items take part in repost matching.
    let refs = if matches!(src.role, Role::Superior | Role::Portal) { refs_of(&p, &numbers) } else { Refs::default() };
    let (doc_no, doc_no_norm) = match (stated, numbers.own) {
        (Some(raw), own) => (Some(raw), own.map(|d| d.norm)),
        (None, Some(d)) => (Some(d.raw), Some(d.norm)),
        (None, None) => (None, None),
    };
    Item {
        id: item_id(src.id, &key),
        source: src.id.to_string(),
        key,
        unit: src.unit.to_string(),
        kind: src.kind,
        role: src.role,
        level: src.level,
        title: p.title,
        text: p.text,
        link: p.link,
        published: p.published,
        doc_no,
        doc_no_norm,
        publisher: p.publisher,
        categories: p.categories,
        first_seen_at: now,
        last_changed_at: now,
        content_hash,
        case: None,
        refs,
    }
}

/// The version of what `to_item` works out for repost matching (the own
/// 文号, the references, the title key). Items stored by an older version
/// are worked out again when the store opens (`Store::rederive_refs`).
/// Bump it whenever `docno`, `title` or `refs_of` change what they give.
pub const REFS_VERSION: u32 = 5;

/// The 文号 (as written and normalized) and `Refs` of a stored item, worked
/// out again from what the store kept: `doc_no` is what an older govwatch
/// stored (the page's stated number, or the first one it found in the title
/// or text: the latter is not taken as stated), `links` the body links it
/// kept in its refs.
pub fn rederive(
    title: &str,
    text: &str,
    doc_no: Option<&str>,
    links: Vec<String>,
) -> (Option<String>, Option<String>, Refs) {
    let first_found = docno::find(title).or_else(|| docno::find(text)).map(|d| d.raw);
    let stated = doc_no.filter(|d| !docno::is_none_marker(d) && Some(*d) != first_found.as_deref());
    let numbers = docno::numbers(title, stated, text);
    let p = ParsedItem { title: title.to_string(), text: text.to_string(), links, ..Default::default() };
    let mut refs = refs_of(&p, &numbers);
    // The links were already canonical and complete (body links and URLs in the text).
    refs.links = p.links;
    let (doc_no, doc_no_norm) = match (stated, numbers.own) {
        (Some(raw), own) => (Some(raw.to_string()), own.map(|d| d.norm)),
        (None, Some(d)) => (Some(d.raw), Some(d.norm)),
        (None, None) => (None, None),
    };
    (doc_no, doc_no_norm, refs)
}

/// URLs written out in text.
fn urls_in(text: &str) -> impl Iterator<Item = &str> {
    use std::sync::OnceLock;
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+").expect("url pattern"));
    re.find_iter(text).map(|m| m.as_str().trim_end_matches(['.', ',', ';', ')', '\'']))
}

/// The 文号 and links an item carries.
fn refs_of(p: &ParsedItem, numbers: &docno::Numbers) -> Refs {
    let own_doc_no = numbers.own.as_ref().map(|d| d.norm.clone());
    let mut doc_nos: Vec<String> = numbers.cited.iter().map(|d| d.norm.clone()).collect();
    doc_nos.sort();
    doc_nos.dedup();
    let mut links: Vec<String> = p
        .links
        .iter()
        .cloned()
        .chain(urls_in(&p.text).filter_map(|u| canonical_link(None, u)))
        .filter(|l| Some(l) != p.link.as_ref())
        .collect();
    links.sort();
    links.dedup();
    let t = title::facts(&p.title);
    Refs {
        own_doc_no,
        doc_nos,
        links,
        title_key: t.key,
        phrase_key: t.phrase_key,
        transmittal: t.transmittal,
        implementing: t.implementing,
        head_organ: title::head_organ(&p.text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_canonical() {
        let base = Url::parse("http://hdzfxxgk.hd.gov.cn/zfwj/jinqixxgk/index.html").unwrap();
        assert_eq!(
            canonical_link(Some(&base), "../../gszbm/t1.html#top").as_deref(),
            Some("http://hdzfxxgk.hd.gov.cn/gszbm/t1.html")
        );
        assert_eq!(
            canonical_link(None, "HTTP://WWW.GOV.CN:80/a?utm_source=x&id=3").as_deref(),
            Some("http://www.gov.cn/a?id=3")
        );
        assert_eq!(canonical_link(Some(&base), "javascript:void(0)"), None);
        assert_eq!(canonical_link(Some(&base), ""), None);
    }

    #[test]
    fn remote_documents_never_name_local_files() {
        let remote = Url::parse("http://x.gov.cn/col/index.html").unwrap();
        assert_eq!(canonical_link(Some(&remote), "file:///etc/passwd"), None);
        assert_eq!(canonical_link(Some(&remote), "FILE:///etc/passwd"), None);
        assert_eq!(canonical_link(Some(&remote), " file:/etc/passwd"), None);
        assert_eq!(canonical_link(None, "file:///etc/passwd"), None, "a feed without a base");
        assert_eq!(canonical_link(Some(&remote), "ftp://x.gov.cn/a.doc"), None);
        // A document that is itself a local file (a configured path) may link its neighbours.
        let local = Url::parse("file:///srv/demo/col.html").unwrap();
        assert_eq!(canonical_link(Some(&local), "col/1.html").as_deref(), Some("file:///srv/demo/col/1.html"));
    }

    #[test]
    fn key_prefers_guid_then_link_then_title() {
        let mut p = ParsedItem { title: "通知".into(), ..Default::default() };
        let by_title = item_key(&p);
        assert!(by_title.starts_with("title:"));
        p.link = Some("http://a/1".into());
        assert_eq!(item_key(&p), "http://a/1");
        p.guid = Some("  ".into());
        assert_eq!(item_key(&p), "http://a/1");
        p.guid = Some("urn:1".into());
        assert_eq!(item_key(&p), "urn:1");
    }

    #[test]
    fn doc_no_from_title_or_stated_field() {
        let src = SourceInfo { id: "s", unit: "u", kind: ItemKind::Feed, role: Role::Superior, level: Level::National };
        let now = time::china().with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        let p = ParsedItem {
            title: "关于印发某办法的通知（國辦發〔2020〕53號）".into(), ..Default::default()
        };
        let item = to_item(src, p, now);
        assert_eq!(item.doc_no.as_deref(), Some("國辦發〔2020〕53號"));
        assert_eq!(item.doc_no_norm.as_deref(), Some("国办发〔2020〕53号"));
        let p = ParsedItem { title: "t".into(), doc_no: Some("无".into()), ..Default::default() };
        let item = to_item(src, p, now);
        assert_eq!((item.doc_no, item.doc_no_norm), (None, None));
    }

    use chrono::TimeZone;
}
