//! The labelled set of (superior, portal item) pairs in
//! `tests/data/reposts_labelled.tsv`, and how the repost matcher does on it.
//! Shared by the tests and `benches/reposts.rs` (which includes this file).

#![allow(dead_code)]

use std::path::Path;

use chrono::TimeZone;
use govwatch::model::{ItemKind, Level, ParsedItem, Role};
use govwatch::normalize::time::china;
use govwatch::normalize::{SourceInfo, to_item};
use govwatch::rules::repost::{Doc, PortalIndex};

/// One labelled row.
pub struct Pair {
    pub repost: bool,
    pub case: String,
    pub superior: Doc,
    pub portal: Doc,
    /// Where a real row's titles come from (column 10); empty for the rows
    /// written for the project.
    pub source: String,
}

/// An item as govwatch would have stored it from a feed, seen as the
/// matcher sees it (as `Store::repost_docs` gives it back).
pub fn matcher_doc(
    id: u64,
    (source, unit): (&str, &str),
    role: Role,
    p: ParsedItem,
    at: chrono::DateTime<chrono::FixedOffset>,
) -> Doc {
    let src = SourceInfo { id: source, unit, kind: ItemKind::Feed, role, level: Level::County };
    let it = to_item(src, p, at);
    Doc {
        item_id: govwatch::model::ItemId(id),
        source: source.into(),
        unit: unit.into(),
        site: unit.into(),
        title: it.title.clone(),
        link: it.link.clone(),
        at,
        at_is_first_seen: false,
        // The number the item carries as its own, as the store gives it back.
        own_doc_no: it.refs.own_doc_no.clone(),
        cited_doc_nos: it.refs.doc_nos.clone(),
        cited_links: it.refs.links.clone(),
        categories: vec![],
        key: it.refs.title_key.clone(),
        phrase_key: it.refs.phrase_key.clone(),
        transmittal: it.refs.transmittal,
        implementing: it.refs.implementing,
        head_organ: it.refs.head_organ.clone(),
        alternatives: if role == Role::Superior {
            govwatch::rules::repost::alternatives(&it.refs.title_key, &it.refs.phrase_key)
        } else {
            Vec::new()
        },
    }
}

/// A labelled row's side: the superior's published on 2 November, the portal's on the 3rd.
fn doc(id: u64, role: Role, title: &str, text: &str, link: Option<&str>) -> Doc {
    let (who, day) = if role == Role::Superior { (("gov", "guowuyuan"), 2) } else { (("xian", "bangongshi"), 3) };
    let p = ParsedItem {
        title: title.to_string(),
        text: text.replace("\\n", "\n"),
        link: link.filter(|l| !l.is_empty()).map(str::to_string),
        ..Default::default()
    };
    matcher_doc(id, who, role, p, china().with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap())
}

pub fn load(path: &Path) -> Vec<Pair> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .enumerate()
        .map(|(n, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 8, "line {}: {} columns", n + 1, f.len());
            let superior = doc(2 * n as u64, Role::Superior, f[3], f[4], Some(f[5]));
            let portal = doc(2 * n as u64 + 1, Role::Portal, f[6], f[7], f.get(8).copied());
            let source = f.get(9).map(|s| s.trim().to_string()).unwrap_or_default();
            Pair { repost: f[0] == "1", case: f[1].to_string(), superior, portal, source }
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Score {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
    /// The rows the matcher got wrong.
    pub wrong: Vec<String>,
}

impl Score {
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
}

/// Each pair on its own: does the matcher find the portal item as a repost
/// of the superior item?
pub fn score(pairs: &[Pair]) -> Score {
    let mut s = Score::default();
    for p in pairs {
        let items = [p.portal.clone()];
        let found = PortalIndex::new(&items).find(&p.superior, "bangongshi");
        match (p.repost, found.is_some()) {
            (true, true) => s.tp += 1,
            (false, false) => s.tn += 1,
            (true, false) => {
                s.fn_ += 1;
                s.wrong.push(format!("missed ({}): {}", p.case, p.portal.title));
            }
            (false, true) => {
                s.fp += 1;
                s.wrong.push(format!("false match ({}, by {:?}): {}", p.case, found.map(|f| f.1), p.portal.title));
            }
        }
    }
    s
}

pub fn labelled_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reposts_labelled.tsv")
}
