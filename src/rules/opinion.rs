//! Public-opinion items (政务舆情). Pure.
//!
//! An item from an `opinion` source (news sites, forums, public message
//! boards) whose text names one of a unit's watch terms becomes that unit's
//! to answer: within 48 hours, 24 for a major term (国办发〔2016〕61号). It is
//! answered when a duty officer records a response (`govwatch respond`), or
//! when the unit's own portal publishes an item that links to it or names it
//! (carries its title).

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset};

use super::{Finding, Rule, Warn, fingerprint, local_date, state_at};
use crate::calendar::Calendar;
use crate::config::RulesConfig;
use crate::model::ItemId;
use crate::normalize::normalize_text;

/// A unit's watch terms, normalized.
#[derive(Debug, Clone)]
pub struct WatchList {
    pub unit: String,
    pub terms: Vec<String>,
    /// Terms that make an item major (24 h); they also count as matches.
    pub major: Vec<String>,
}

impl WatchList {
    pub fn new(unit: &str, terms: &[String], major: &[String]) -> WatchList {
        let norm = |v: &[String]| v.iter().map(|t| normalize_text(t)).filter(|t| !t.is_empty()).collect();
        WatchList { unit: unit.to_string(), terms: norm(terms), major: norm(major) }
    }
}

/// An item to look at: an opinion item, or one of a unit's portal items.
#[derive(Debug, Clone)]
pub struct Seen {
    pub item_id: ItemId,
    pub unit: String,
    /// Normalized title and text.
    pub title: String,
    pub text: String,
    pub link: Option<String>,
    /// Published, else first seen.
    pub at: DateTime<FixedOffset>,
}

/// The watch terms of `w` that `item` names: (matched terms, major?).
pub fn matches(w: &WatchList, item: &Seen) -> (Vec<String>, bool) {
    let hit = |t: &String| item.title.contains(t.as_str()) || item.text.contains(t.as_str());
    let mut found: Vec<String> = w.terms.iter().filter(|t| hit(t)).cloned().collect();
    let major: Vec<String> = w.major.iter().filter(|t| hit(t)).cloned().collect();
    let is_major = !major.is_empty();
    for m in major {
        if !found.contains(&m) {
            found.push(m);
        }
    }
    (found, is_major)
}

/// Whether `portal` answers `opinion`: published after it, and linking to it
/// or carrying its title (titles shorter than 8 characters are too common to tell).
fn answers(portal: &Seen, opinion: &Seen) -> bool {
    if portal.at < opinion.at {
        return false;
    }
    let links = opinion.link.as_deref().is_some_and(|l| portal.text.contains(l) || portal.link.as_deref() == Some(l));
    links || (opinion.title.chars().count() >= 8 && portal.text.contains(opinion.title.as_str()))
}

/// Findings for opinion items at `now`. `responses` holds the earliest
/// recorded response per item; `portal` the units' own portal items.
pub fn evaluate(
    opinions: &[Seen],
    watch: &[WatchList],
    portal: &[Seen],
    responses: &HashMap<ItemId, DateTime<FixedOffset>>,
    cfg: &RulesConfig,
    cal: &Calendar,
    now: DateTime<FixedOffset>,
) -> Vec<Finding> {
    let warn = Warn { working_days: cfg.warn_working_days, hours: cfg.warn_hours };
    let mut out = Vec::new();
    for o in opinions.iter().filter(|o| o.at <= now) {
        for w in watch {
            let (terms, major) = matches(w, o);
            if terms.is_empty() {
                continue;
            }
            let hours = if major { cfg.opinion.major_hours } else { cfg.opinion.hours };
            let deadline = o.at + Duration::hours(hours as i64);
            let recorded = responses.get(&o.item_id).copied();
            let by_portal = portal.iter().filter(|p| p.unit == w.unit && answers(p, o)).map(|p| p.at).min();
            let answered_at = [recorded, by_portal].into_iter().flatten().filter(|t| *t <= now).min();
            let Some((state, overdue, late)) = state_at(cal, deadline, true, warn, answered_at.map(Some), now) else {
                continue;
            };
            let quoted: Vec<String> = terms.iter().map(|t| format!("“{t}”")).collect();
            out.push(Finding {
                fingerprint: fingerprint(Rule::OpinionResponse, o.item_id, &w.unit),
                rule: Rule::OpinionResponse,
                state,
                item_id: o.item_id,
                unit: w.unit.clone(),
                deadline,
                overdue_working_days: overdue,
                late,
                resolved_at: if state == super::State::Resolved { answered_at } else { None },
                reply_working_days: answered_at.map(|a| cal.working_days_between(local_date(o.at), local_date(a))),
                basis: format!("命中{}{}，{hours} 小时内回应", quoted.join(""), if major { "（重大）" } else { "" }),
                subject: None,
                link: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::time::china;
    use crate::rules::State;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<FixedOffset> {
        china().from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    fn seen(id: u64, unit: &str, title: &str, text: &str, link: &str, when: &str) -> Seen {
        Seen {
            item_id: ItemId(id),
            unit: unit.into(),
            title: normalize_text(title),
            text: normalize_text(text),
            link: Some(link.into()),
            at: at(when),
        }
    }

    #[test]
    fn watch_terms_assign_and_portal_items_answer() {
        let cal = Calendar::official();
        let cfg = RulesConfig::default();
        let watch = vec![
            WatchList::new("jiaoyuju", &["县教育局".into(), "学校".into()], &["食物中毒".into()]),
            WatchList::new("rexian", &["12345".into()], &[]),
        ];
        let o1 = seen(
            1,
            "news",
            "某学校食堂疑似食物中毒",
            "家长反映学校食堂问题",
            "http://news.example/1",
            "2026-11-20 08:00",
        );
        let o2 = seen(2, "news", "县教育局回应招生政策疑问家长关切", "", "http://news.example/2", "2026-11-19 08:00");
        let reply = seen(
            9,
            "jiaoyuju",
            "关于网民反映问题的回应",
            "针对“县教育局回应招生政策疑问家长关切”一文，现说明如下",
            "http://x.gov.cn/9",
            "2026-11-20 10:00",
        );
        let f = evaluate(&[o1, o2], &watch, &[reply], &HashMap::new(), &cfg, &cal, at("2026-11-21 12:00"));
        // Item 2 was answered by the portal long before its deadline drew near: nothing owed.
        assert_eq!(f.len(), 1, "{f:#?}");
        let major = &f[0];
        assert_eq!((major.item_id, major.unit.as_str(), major.state), (ItemId(1), "jiaoyuju", State::Overdue));
        assert_eq!(major.basis, "命中“学校”“食物中毒”（重大），24 小时内回应");
        let later = evaluate(
            &[seen(2, "news", "县教育局回应招生政策疑问家长关切", "", "http://news.example/2", "2026-11-19 08:00")],
            &watch,
            &[],
            &HashMap::new(),
            &cfg,
            &cal,
            at("2026-11-21 12:00"),
        );
        assert_eq!(later[0].state, State::Overdue, "without the portal's answer it is overdue");

        // A recorded response resolves it too.
        let responses = HashMap::from([(ItemId(1), at("2026-11-21 09:00"))]);
        let o1 = seen(1, "news", "某学校食堂疑似食物中毒", "", "http://news.example/1", "2026-11-20 08:00");
        let f = evaluate(&[o1], &watch, &[], &responses, &cfg, &cal, at("2026-11-21 12:00"));
        assert_eq!((f[0].state, f[0].late), (State::Resolved, Some(true)));
    }
}
