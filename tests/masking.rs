//! Masking on real citizens' texts: the tipdm 2020 message-board data
//! (`../shared/data/hotline/tipdm2020-zhihuizhengwu/`, 645 messages with
//! their subjects, texts and replies). `alerts::mask` may change only
//! numbers (phone, ID, card, e-mail) and the names listed by hand in
//! `tests/data/mask_names_tipdm.tsv`; every listed name must come out masked.
//!
//! What changed is found by comparing each text with its masked form, not by
//! asking the masking code where it masked.

use std::collections::HashMap;

use govwatch::alerts::mask::mask;

use crate::support;

/// (file, message number, field) → text, for every text field of the three CSVs.
fn texts(dir: &std::path::Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (file, fields) in [
        ("attach2_messages_labelled.csv", &["留言主题", "留言详情"][..]),
        ("attach3_messages_votes.csv", &["留言主题", "留言详情"][..]),
        ("attach4_messages_replies.csv", &["留言主题", "留言详情", "答复意见"][..]),
    ] {
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_path(dir.join(file)).unwrap();
        let head = rdr.headers().unwrap().clone();
        let col = |name: &str| head.iter().position(|h| h == name).unwrap_or_else(|| panic!("{file}: no {name}"));
        let number = col("留言编号");
        let cols: Vec<usize> = fields.iter().map(|f| col(f)).collect();
        for rec in rdr.records() {
            let rec = rec.unwrap();
            for &c in &cols {
                out.push((file[..7].to_string(), rec[number].to_string(), rec[c].to_string()));
            }
        }
    }
    out
}

/// The regions where `masked` differs from `orig`: (start, end) in `orig`'s
/// characters and what stands there in `masked`. Masking replaces short
/// spans, so after a difference both texts meet again within a few dozen
/// characters; they are taken to meet where six characters agree.
fn changes(orig: &[char], masked: &[char]) -> Vec<(usize, usize, String)> {
    const AGREE: usize = 6;
    const REACH: usize = 80;
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < orig.len() || j < masked.len() {
        if i < orig.len() && j < masked.len() && orig[i] == masked[j] {
            i += 1;
            j += 1;
            continue;
        }
        // The nearest point (fewest characters skipped) where both agree again.
        let meets = |a: usize, b: usize| {
            let n = AGREE.min(orig.len() - a).min(masked.len() - b);
            (a == orig.len() && b == masked.len())
                || (n > 0 && orig[a..a + n] == masked[b..b + n] && (n == AGREE || a + n == orig.len()))
        };
        let mut found = None;
        'search: for total in 0..=2 * REACH {
            for di in 0..=total.min(REACH) {
                let dj = total - di;
                if dj > REACH || i + di > orig.len() || j + dj > masked.len() {
                    continue;
                }
                if (di, dj) != (0, 0) && meets(i + di, j + dj) {
                    found = Some((di, dj));
                    break 'search;
                }
            }
        }
        let (di, dj) = found.unwrap_or((orig.len() - i, masked.len() - j));
        out.push((i, i + di, masked[j..j + dj].iter().collect()));
        i += di;
        j += dj;
    }
    out
}

/// A change made to a number: only digits, letters of codes (the X of an
/// ID, an e-mail's name) and the separators of numbers go, and at least one
/// digit or an @ is involved.
fn is_number_change(removed: &str, put: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || " -+()（）－.@_%*".contains(c) || ('０'..='９').contains(&c);
    removed.chars().all(ok)
        && put.chars().all(ok)
        && format!("{removed}{put}").chars().any(|c| c.is_ascii_digit() || c == '@' || c == '*')
}

#[test]
fn masking_the_tipdm_texts_changes_only_numbers_and_the_names_after_labels() {
    let Some(dir) = support::shared("data/hotline/tipdm2020-zhihuizhengwu") else { return };
    let labelled = std::fs::read_to_string(support::repo().join("tests/data/mask_names_tipdm.tsv")).unwrap();
    // (file, number) → [(as written, masked)]
    let mut names: HashMap<(String, String), Vec<(String, String)>> = HashMap::new();
    for line in labelled.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 4, "{line}");
        names.entry((f[0].into(), f[1].into())).or_default().push((f[2].into(), f[3].into()));
    }
    let all = texts(&dir);
    assert!(all.len() > 1400, "{} texts", all.len());
    let (mut number_chars, mut wrong, mut found) = (0usize, Vec::new(), 0usize);
    let mut expected_seen = vec![];
    for (file, number, text) in &all {
        let masked = mask(text);
        let listed = names.get(&(file.clone(), number.clone()));
        if let Some(listed) = listed {
            for (written, want) in listed {
                if text.contains(written.as_str()) {
                    expected_seen.push(written.clone());
                    if masked.contains(want.as_str()) {
                        found += 1;
                    } else {
                        wrong.push(format!("{file} {number}: {written} should read {want}"));
                    }
                }
            }
        }
        if masked == *text {
            continue;
        }
        let orig: Vec<char> = text.chars().collect();
        let out: Vec<char> = masked.chars().collect();
        for (a, b, put) in changes(&orig, &out) {
            let removed: String = orig[a..b].iter().collect();
            if is_number_change(&removed, &put) {
                number_chars += b - a;
                continue;
            }
            // Inside a listed name: the span as written covers [a, b).
            let in_name = listed.is_some_and(|l| {
                l.iter().any(|(written, _)| {
                    let w: Vec<char> = written.chars().collect();
                    (0..orig.len().saturating_sub(w.len() - 1))
                        .any(|k| orig[k..k + w.len()] == w[..] && k <= a && b <= k + w.len())
                })
            });
            if !in_name {
                let ctx: String = orig[a.saturating_sub(8)..(b + 8).min(orig.len())].iter().collect();
                wrong.push(format!("{file} {number}: {removed:?} → {put:?} in …{ctx}…"));
            }
        }
    }
    let listed_total: usize = names.values().map(Vec::len).sum();
    eprintln!(
        "tipdm: {} texts, {number_chars} characters of numbers masked, {found} of {listed_total} listed names masked",
        all.len()
    );
    assert_eq!(expected_seen.len(), listed_total, "every listed span is in its text: {expected_seen:?}");
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(found, listed_total);
}

#[test]
fn the_diff_finds_what_changed() {
    let c = |a: &str, b: &str| {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        changes(&a, &b)
    };
    assert_eq!(c("来电人反映锦绣花园小区的问题", "来电人反映锦绣花园小区的问题"), vec![]);
    assert_eq!(c("来电人反映锦绣花园小区的问题", "来电人反**绣花园小区的问题"), vec![(4, 6, "**".into())]);
    assert_eq!(c("电话13812341234，请回电谢谢", "电话138****1234，请回电谢谢"), vec![(5, 9, "****".into())]);
    assert_eq!(c("座机0571 87654321。好的好的好的", "座机0571-****4321。好的好的好的"), vec![(6, 11, "-****".into())]);
    assert!(is_number_change("1234", "****") && is_number_change(" 8765", "-****"));
    assert!(!is_number_change("映锦", "**"));
}
