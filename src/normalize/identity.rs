//! Which key each item of one fetch is stored under, so that different
//! documents are never merged because a feed or a list reuses a guid or link,
//! while the same fetch twice writes nothing and an item edited in place is
//! updated, not duplicated. Pure: what the store already holds comes in as a
//! lookup.
//!
//! An item has up to three candidate keys, in order of preference: its guid,
//! its canonical link, and its title key (`title:` + a hash of the title and
//! the published day, see [`super::item_key`]). The first two are what the
//! source says identifies the item; the third is what tells documents apart
//! when the source's identifiers do not. Real feeds need it: the Shenzhen
//! policy feed gives ten different documents one guid and one link (the
//! column page), and a column list may carry the same link twice.
//!
//! Within one fetch, the items that agree on title and published day and on
//! every key are one document listed twice: the first is kept (a
//! *duplicate*). Every other item gets, in this order:
//! 1. a candidate key under which the store already holds *this* document
//!    (same title and day): an item keeps the key it was first stored under,
//!    whatever later fetches look like;
//! 2. else the first candidate that no other document of this fetch shares
//!    and that the store holds for no *different* document: a stored item
//!    whose title or day still agree is this one edited in place (a corrected
//!    title, a re-dated notice) and is updated; one whose title and day both
//!    differ is another document that reused the identifier, and is not
//!    overwritten (a column page's links are trusted here: an entry's stored
//!    title and date are its own page's, which may differ from the list's on
//!    both counts, and a CMS gives every article its own URL);
//! 3. else its title key.
//!
//! An item that got another key than its first candidate is a *collision*;
//! the poll report counts them and says which identifier was shared.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

use super::item_key;
use crate::model::ParsedItem;

/// What the store holds under a key: enough to tell whether it is the same
/// document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredIdentity {
    pub title: String,
    /// The published day in China time, if the item has one.
    pub day: Option<NaiveDate>,
}

/// What assigning keys did to one fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assigned {
    /// Items stored under another key than their guid (or link) because a
    /// different document of the fetch, or in the store, has it.
    pub collisions: usize,
    /// Entries listed twice (same identifiers, title and day): kept once.
    pub duplicates: usize,
    /// Officer-facing hints, in Chinese.
    pub warnings: Vec<String>,
}

fn day_of(p: &ParsedItem) -> Option<NaiveDate> {
    p.published.map(|d| d.at.with_timezone(&super::time::china()).date_naive())
}

fn identity_of(p: &ParsedItem) -> StoredIdentity {
    StoredIdentity { title: p.title.trim().to_string(), day: day_of(p) }
}

/// The key of the last resort: a hash of the title and the published day.
pub fn title_key_of(p: &ParsedItem) -> String {
    let bare = ParsedItem { title: p.title.trim().to_string(), published: p.published, ..Default::default() };
    item_key(&bare)
}

fn candidates(p: &ParsedItem) -> Vec<String> {
    let mut c: Vec<String> = Vec::with_capacity(3);
    if let Some(g) = p.guid.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        c.push(g.to_string());
    }
    if let Some(l) = &p.link
        && !c.contains(l)
    {
        c.push(l.clone());
    }
    let t = title_key_of(p);
    if !c.contains(&t) {
        c.push(t);
    }
    c
}

/// Gives every item of one fetch the key it is stored under (written into
/// its `guid`, which [`item_key`] prefers), drops entries listed twice, and
/// says what it did. `stored(key)` answers what the store holds under a key
/// of this source; `trust_links` is set for column pages (see the module doc).
pub fn assign_keys(
    items: &mut Vec<ParsedItem>,
    trust_links: bool,
    stored: &dyn Fn(&str) -> Option<StoredIdentity>,
) -> Assigned {
    let mut out = Assigned::default();
    // Entries listed twice.
    let mut seen: HashSet<(Vec<String>, StoredIdentity)> = HashSet::new();
    let before = items.len();
    items.retain(|p| seen.insert((candidates(p), identity_of(p))));
    out.duplicates = before - items.len();

    let cands: Vec<Vec<String>> = items.iter().map(candidates).collect();
    let idents: Vec<StoredIdentity> = items.iter().map(identity_of).collect();
    // How many different documents of this fetch offer each key.
    let mut holders: HashMap<&str, usize> = HashMap::new();
    for c in &cands {
        for k in c {
            *holders.entry(k.as_str()).or_default() += 1;
        }
    }
    let mut lookups: HashMap<String, Option<StoredIdentity>> = HashMap::new();
    let mut look = |k: &str| lookups.entry(k.to_string()).or_insert_with(|| stored(k)).clone();
    let links: Vec<&str> = items.iter().filter_map(|p| p.link.as_deref()).collect();
    let items_link = |k: &str| links.contains(&k);
    let mut claimed: HashSet<String> = HashSet::new();
    // Shared identifiers, for the hint: the key → how many documents share it.
    let mut shared: Vec<(String, usize, &'static str)> = Vec::new();
    let mut chosen: Vec<String> = Vec::with_capacity(items.len());
    for (i, c) in cands.iter().enumerate() {
        let me = &idents[i];
        let kept = c.iter().find(|k| !claimed.contains(*k) && look(k).as_ref() == Some(me));
        let key = match kept {
            Some(k) => k.clone(),
            None => c
                .iter()
                .find(|k| {
                    !claimed.contains(*k)
                        && (holders.get(k.as_str()).copied().unwrap_or(0) <= 1 || k.starts_with("title:"))
                        && ((trust_links && items_link(k))
                            || look(k).is_none_or(|s| s.title == me.title || s.day == me.day))
                })
                .cloned()
                .unwrap_or_else(|| c.last().cloned().unwrap_or_default()),
        };
        if c.first() != Some(&key) {
            out.collisions += 1;
            let first = c.first().cloned().unwrap_or_default();
            let n = holders.get(first.as_str()).copied().unwrap_or(1);
            let by = if key.starts_with("title:") { "标题和发布日期" } else { "链接" };
            match shared.iter_mut().find(|(k, _, _)| *k == first) {
                Some(s) => {
                    if by == "标题和发布日期" {
                        s.2 = by;
                    }
                }
                None => shared.push((first, n, by)),
            }
        }
        claimed.insert(key.clone());
        chosen.push(key);
    }
    for (p, key) in items.iter_mut().zip(chosen) {
        p.guid = Some(key);
    }
    for (key, n, by) in shared {
        let what = if n > 1 {
            format!("{n} 条不同的信息共用同一标识 {key}")
        } else {
            format!("标识 {key} 在库中已属于另一条标题和日期都不同的信息")
        };
        out.warnings.push(format!("{what}（数据源给的 guid 或链接不能区分它们），已按{by}分别保存，不会合并"));
    }
    if out.duplicates > 0 {
        out.warnings
            .push(format!("{} 条信息在本次抓取中重复列出（标识、标题和日期都相同），各只保存一次", out.duplicates));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Precision, Published};
    use crate::normalize::time::china;
    use chrono::TimeZone;

    fn item(guid: Option<&str>, link: Option<&str>, title: &str, day: u32) -> ParsedItem {
        ParsedItem {
            guid: guid.map(str::to_string),
            link: link.map(str::to_string),
            title: title.into(),
            published: Some(Published {
                at: china().with_ymd_and_hms(2025, 11, day, 0, 0, 0).unwrap(),
                precision: Precision::Date,
                zone_assumed: true,
            }),
            ..Default::default()
        }
    }

    /// A store as a map of key → identity.
    fn store_of(items: &[ParsedItem]) -> HashMap<String, StoredIdentity> {
        items.iter().map(|p| (item_key(p), identity_of(p))).collect()
    }

    fn keys(items: &[ParsedItem]) -> Vec<String> {
        items.iter().map(item_key).collect()
    }

    const G: &str = "https://www.inanshan.org.cn/ztfw/zcfw/zchj";

    /// The Shenzhen feed's shape: several documents with one guid and link.
    fn shared_guid_feed() -> Vec<ParsedItem> {
        vec![
            item(Some("https://a/1"), Some("https://a/1"), "关于开展甲工作的通知", 20),
            item(Some(G), Some(G), "南山区支持产业发展“六个券”行动方案", 20),
            item(Some(G), Some(G), "南山区支持创新创业“六个一”行动方案", 18),
            item(Some(G), Some(G), "南山区股份合作公司综合监管办法", 3),
        ]
    }

    #[test]
    fn documents_sharing_a_guid_and_link_are_told_apart_by_title_and_date() {
        let mut items = shared_guid_feed();
        let a = assign_keys(&mut items, false, &|_| None);
        let k = keys(&items);
        assert_eq!(k[0], "https://a/1");
        assert!(k[1..].iter().all(|k| k.starts_with("title:")), "{k:?}");
        let distinct: HashSet<&String> = k.iter().collect();
        assert_eq!(distinct.len(), 4, "no document merged away");
        assert_eq!((a.collisions, a.duplicates), (3, 0));
        assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
        assert!(a.warnings[0].contains("3 条不同的信息共用同一标识") && a.warnings[0].contains("标题和发布日期"));
    }

    #[test]
    fn a_guid_shared_but_links_distinct_falls_back_to_the_link() {
        let mut items = vec![
            item(Some("urn:feed"), Some("https://a/1"), "甲", 1),
            item(Some("urn:feed"), Some("https://a/2"), "乙", 1),
        ];
        let a = assign_keys(&mut items, false, &|_| None);
        assert_eq!(keys(&items), ["https://a/1", "https://a/2"]);
        assert_eq!(a.collisions, 2);
        assert!(a.warnings[0].contains("已按链接分别保存"), "{:?}", a.warnings);
    }

    #[test]
    fn the_same_fetch_twice_gives_the_same_keys() {
        let mut first = shared_guid_feed();
        assign_keys(&mut first, false, &|_| None);
        let store = store_of(&first);
        let mut again = shared_guid_feed();
        let a = assign_keys(&mut again, false, &|k| store.get(k).cloned());
        assert_eq!(keys(&again), keys(&first));
        assert_eq!(a.collisions, 3, "still counted: the source still shares the identifier");
    }

    #[test]
    fn a_document_keeps_its_key_when_the_others_leave_the_feed() {
        let mut first = shared_guid_feed();
        assign_keys(&mut first, false, &|_| None);
        let store = store_of(&first);
        // Only one of the three is still listed: it keeps its title key and
        // does not take over the bare guid.
        let mut later = vec![shared_guid_feed().remove(2)];
        assign_keys(&mut later, false, &|k| store.get(k).cloned());
        assert_eq!(keys(&later)[0], keys(&first)[2]);
    }

    #[test]
    fn a_document_stored_under_the_guid_before_the_collision_keeps_it() {
        // Polled when only one document had the guid (or by an older govwatch).
        let mut first = vec![shared_guid_feed().remove(1)];
        assign_keys(&mut first, false, &|_| None);
        assert_eq!(keys(&first), [G]);
        let store = store_of(&first);
        let mut later = shared_guid_feed();
        assign_keys(&mut later, false, &|k| store.get(k).cloned());
        let k = keys(&later);
        assert_eq!(k[1], G, "the stored document keeps its key");
        assert!(k[2].starts_with("title:") && k[3].starts_with("title:"), "{k:?}");
    }

    #[test]
    fn a_new_document_reusing_a_stored_guid_does_not_overwrite_it() {
        let mut first = vec![item(Some(G), Some(G), "南山区股份合作公司综合监管办法", 3)];
        assign_keys(&mut first, false, &|_| None);
        let store = store_of(&first);
        // Weeks later the feed lists another document alone under the same guid.
        let mut later = vec![item(Some(G), Some(G), "南山区支持创新创业“六个一”行动方案", 18)];
        let a = assign_keys(&mut later, false, &|k| store.get(k).cloned());
        assert!(keys(&later)[0].starts_with("title:"), "{:?}", keys(&later));
        assert_eq!(a.collisions, 1);
        assert!(a.warnings[0].contains("在库中已属于另一条"), "{:?}", a.warnings);
    }

    #[test]
    fn an_item_edited_in_place_is_updated_not_duplicated() {
        let mut first = vec![item(Some("urn:1"), Some("https://a/1"), "关于做好政务公开工作的通知", 3)];
        assign_keys(&mut first, false, &|_| None);
        let store = store_of(&first);
        // The title corrected, same day: the same key.
        let mut edited = vec![item(Some("urn:1"), Some("https://a/1"), "关于做好政务公开工作的通知（修订）", 3)];
        let a = assign_keys(&mut edited, false, &|k| store.get(k).cloned());
        assert_eq!(keys(&edited), ["urn:1"]);
        assert_eq!(a, Assigned::default());
        // Re-dated, same title: the same key.
        let mut redated = vec![item(Some("urn:1"), Some("https://a/1"), "关于做好政务公开工作的通知", 5)];
        assign_keys(&mut redated, false, &|k| store.get(k).cloned());
        assert_eq!(keys(&redated), ["urn:1"]);
    }

    #[test]
    fn a_column_entry_keeps_its_link_whatever_its_page_said() {
        // Stored from the entry's own page: full title, the page's date.
        let page = item(None, Some("https://a/art/3.html"), "关于第3项工作的通知", 12);
        let store = store_of(std::slice::from_ref(&page));
        let list = || vec![item(None, Some("https://a/art/3.html"), "通知三", 13)];
        let mut items = list();
        let a = assign_keys(&mut items, true, &|k| store.get(k).cloned());
        assert_eq!((keys(&items), a.collisions), (vec!["https://a/art/3.html".to_string()], 0));
        // A feed's identifiers are not trusted that far.
        let mut items = list();
        assign_keys(&mut items, false, &|k| store.get(k).cloned());
        assert!(keys(&items)[0].starts_with("title:"));
    }

    #[test]
    fn an_entry_listed_twice_is_kept_once() {
        // A column list with a pinned entry that also appears in the list.
        let mut items = vec![
            item(None, Some("https://a/1"), "关于2026年春节放假的通知", 3),
            item(None, Some("https://a/2"), "乙", 3),
            item(None, Some("https://a/1"), "关于2026年春节放假的通知", 3),
        ];
        let a = assign_keys(&mut items, false, &|_| None);
        assert_eq!(keys(&items), ["https://a/1", "https://a/2"]);
        assert_eq!((a.collisions, a.duplicates), (0, 1));
        // The same link with another title on one list: two documents.
        let mut items = vec![
            item(None, Some("https://a/list.html"), "关于甲的通知", 3),
            item(None, Some("https://a/list.html"), "关于乙的通知", 3),
        ];
        let a = assign_keys(&mut items, false, &|_| None);
        assert!(keys(&items).iter().all(|k| k.starts_with("title:")));
        assert_eq!(a.collisions, 2);
    }
}
