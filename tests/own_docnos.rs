//! An item's own 文号 is the number it carries, not one it cites: checked on
//! every item of the real Shenzhen and Shanghai policy feeds against the
//! numbers written by hand in `tests/data/own_docnos.tsv`, and through the
//! repost matcher and the store's upgrade of items stored by older versions.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::TimeZone;
use govwatch::model::{ItemKind, Level, ParsedItem, Role};
use govwatch::normalize::time::china;
use govwatch::normalize::{SourceInfo, to_item};
use govwatch::rules::repost::PortalIndex;
use govwatch::sources::feed;
use govwatch::store::Store;
use sha2::{Digest, Sha256};

use crate::support;

const FEEDS: [(&str, &str); 2] = [("sz", "sz-gov-rss_shenzhen-policy.xml"), ("sh", "sh-gov-rss_shanghai-policy.xml")];

/// (feed, position) → (title hash, own, cited).
fn expected() -> HashMap<(String, usize), (String, String, BTreeSet<String>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/own_docnos.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "{l}");
            let cited = f[4].split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
            ((f[0].to_string(), f[1].parse().unwrap()), (f[2].to_string(), f[3].to_string(), cited))
        })
        .collect()
}

fn feed_items(file: &str) -> Option<Vec<ParsedItem>> {
    let path = support::shared(&format!("data/feeds/generated-gov/{file}"))?;
    let bytes = std::fs::read(path).unwrap();
    Some(feed::parse(&bytes, Some("application/rss+xml"), None).unwrap().items)
}

fn superior(id: &str) -> SourceInfo<'_> {
    SourceInfo { id, unit: "shi", kind: ItemKind::Feed, role: Role::Superior, level: Level::City }
}

#[test]
fn every_real_feed_item_has_its_own_number_and_cites_the_others() {
    let want = expected();
    let now = china().with_ymd_and_hms(2026, 4, 16, 9, 0, 0).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    let mut owners: HashMap<String, Vec<String>> = HashMap::new();
    for (short, file) in FEEDS {
        let Some(items) = feed_items(file) else {
            return;
        };
        for (n, p) in items.into_iter().enumerate() {
            let hash: String = Sha256::digest(p.title.as_bytes())[..4].iter().map(|b| format!("{b:02x}")).collect();
            let Some((want_hash, own, cited)) = want.get(&(short.to_string(), n)) else {
                panic!("{short} {n} ({}) is not in own_docnos.tsv", p.title);
            };
            assert_eq!(&hash, want_hash, "{short} {n}: the feed changed ({})", p.title);
            let title = p.title.clone();
            let item = to_item(superior(short), p, now);
            let got_own = item.refs.own_doc_no.clone().unwrap_or_default();
            let got_cited: BTreeSet<String> = item.refs.doc_nos.iter().cloned().collect();
            if &got_own != own || &got_cited != cited {
                wrong.push(format!(
                    "{short} {n} {title}: own {got_own:?} (want {own:?}), cited {got_cited:?} (want {cited:?})"
                ));
            }
            assert_eq!(
                item.doc_no_norm.clone().unwrap_or_default(),
                got_own,
                "{short} {n}: doc_no_norm is the own number"
            );
            if !got_own.is_empty() {
                owners.entry(got_own).or_default().push(format!("{short} {n}"));
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 213, "166 Shenzhen and 47 Shanghai items");
    assert_eq!(checked, want.len(), "every row of own_docnos.tsv is an item");
    assert!(wrong.is_empty(), "{} of {checked} items wrong:\n{}", wrong.len(), wrong.join("\n"));
    let shared: Vec<_> = owners.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(shared.is_empty(), "a number owned by several items: {shared:?}");
}

/// The Shenzhen notice that cites 工信部企业〔2026〕2号 (the MIIT 办法) in its
/// first sentence is not reposted by a county portal carrying that 办法:
/// stored and read back as the rules read them.
#[test]
fn a_repost_of_a_cited_document_is_not_credited_to_the_citing_notice() {
    let Some(items) = feed_items(FEEDS[0].1) else {
        return;
    };
    let at = |d| china().with_ymd_and_hms(2026, 4, d, 10, 0, 0).unwrap();
    let notice = items[0].clone();
    assert!(notice.title.contains("小巨人"), "{}", notice.title);
    // A county portal's repost of the MIIT 办法 itself (its real title and number).
    let repost = ParsedItem {
        title: "优质中小企业梯度培育管理办法（工信部企业〔2026〕2号）".into(),
        text: "各有关单位：现将《优质中小企业梯度培育管理办法》转发给你们。".into(),
        link: Some("http://www.example-county.gov.cn/zwgk/2026/0415.html".into()),
        ..Default::default()
    };
    let portal =
        SourceInfo { id: "xian", unit: "bangongshi", kind: ItemKind::Feed, role: Role::Portal, level: Level::County };
    let store = Store::open_in_memory().unwrap();
    store.upsert_items(&[to_item(superior("sz"), notice, at(14)), to_item(portal, repost, at(15))]).unwrap();
    let since = at(1);
    let sups = store.repost_docs("superior", since).unwrap();
    let portal_docs = store.repost_docs("portal", since).unwrap();
    assert_eq!((sups.len(), portal_docs.len()), (1, 1));
    assert_eq!(sups[0].own_doc_no, None, "the notice has no number of its own");
    let found = PortalIndex::new(&portal_docs).find(&sups[0], "bangongshi");
    assert!(found.is_none(), "credited through a cited number: {:?}", found.map(|f| f.1));
}

/// Items stored by an older govwatch (their own number the first one in
/// their text) are worked out again when the store opens.
#[test]
fn the_store_works_out_the_numbers_of_older_items_again() {
    let dir = tempfile::tempdir().unwrap();
    let now = china().with_ymd_and_hms(2026, 4, 16, 9, 0, 0).unwrap();
    let p = ParsedItem {
        title: "深圳市中小企业服务局关于组织开展2026年专精特新“小巨人”企业申报和复核工作的通知".into(),
        text: "来源: 深圳市中小企业服务局\n各区中小企业主管部门，各有关企业： 按照《优质中小企业梯度培育管理办法》（工信部企业〔2026〕2号，以下简称《办法》）要求".into(),
        link: Some("https://zxqyj.sz.gov.cn/zwgk/zfxxgkml/tzgg/content/post_12735605.html".into()),
        ..Default::default()
    };
    let item = to_item(superior("sz"), p, now);
    let id = item.id;
    {
        let store = Store::open(dir.path()).unwrap();
        store.upsert_items(&[item]).unwrap();
    }
    // What govwatch before this change stored: the first number of the text
    // as the item's 文号, and no version mark.
    let store = Store::open(dir.path()).unwrap();
    store
        .query_strings(
            "UPDATE items SET doc_no = '工信部企业〔2026〕2号', doc_no_norm = '工信部企业〔2026〕2号', \
             refs = '{\"doc_nos\":[\"工信部企业〔2026〕2号\"],\"title_key\":\"old\"}'",
            &[],
        )
        .unwrap();
    store.query_strings("DELETE FROM meta WHERE key = 'refs_version'", &[]).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let item = store.item(id).unwrap().unwrap();
    assert_eq!((item.doc_no, item.doc_no_norm), (None, None));
    assert_eq!(item.refs.own_doc_no, None);
    assert_eq!(item.refs.doc_nos, ["工信部企业〔2026〕2号"]);
    assert!(item.refs.title_key.starts_with("深圳市中小企业服务局关于组织开展2026年"), "{}", item.refs.title_key);
}
