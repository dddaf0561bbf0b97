//! The rules: pure functions of (cases or items, calendar, rule settings, now)
//! → findings. No IO, no clock: `now` is an argument, so any past moment can
//! be replayed (`govwatch findings --now …`) and tested on real dates.
//!
//! A finding is (rule, item, unit, state) with a stable fingerprint; its
//! state is `due_soon` before the deadline, `overdue` after it, `resolved`
//! once answered (recording whether on time). Deadlines in working days count
//! from the day after receipt and end at 23:59:59 of the last working day.

pub mod deadlines;
pub mod inspect;
pub mod opinion;
pub mod pii;
pub mod repost;

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calendar::Calendar;
use crate::model::ItemId;
use crate::normalize::time::china;

/// The rules govwatch knows. The names are a contract (`--rule`, JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A 12345 work order past its deadline (the export's, or by 诉求类型).
    HotlineDeadline,
    /// A message (留言/信箱) not answered within the configured working days.
    MessageReply,
    /// A valid message unanswered for three months: a single-veto failure.
    #[serde(rename = "message_unanswered_3_months")]
    MessageUnanswered3Months,
    /// A disclosure application (依申请公开): 20 working days, +20 extended.
    DisclosureDeadline,
    /// A public-opinion item (舆情) matching a unit's watch terms: 48 h, 24 h if major.
    OpinionResponse,
    /// A superior policy a portal has not reposted in time (repost_due_soon,
    /// repost_overdue are this rule's due_soon and overdue).
    Repost,
    /// A portal column whose newest item is older than its category allows
    /// (栏目不更新: news two weeks, notices six months).
    ColumnStale,
    /// A portal column with no items at all (空栏目).
    ColumnEmpty,
    /// A portal page carrying links that keep failing (死链).
    DeadLink,
    /// A published portal item showing a citizen's ID, mobile or bank card number.
    PersonalData,
    /// A source that keeps failing, stopped matching, returns nothing or has
    /// had nothing new for longer than expected (for the administrator).
    SourceUnhealthy,
}

impl Rule {
    pub const ALL: [Rule; 11] = [
        Rule::HotlineDeadline,
        Rule::MessageReply,
        Rule::MessageUnanswered3Months,
        Rule::DisclosureDeadline,
        Rule::OpinionResponse,
        Rule::Repost,
        Rule::ColumnStale,
        Rule::ColumnEmpty,
        Rule::DeadLink,
        Rule::PersonalData,
        Rule::SourceUnhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::HotlineDeadline => "hotline_deadline",
            Rule::MessageReply => "message_reply",
            Rule::MessageUnanswered3Months => "message_unanswered_3_months",
            Rule::DisclosureDeadline => "disclosure_deadline",
            Rule::OpinionResponse => "opinion_response",
            Rule::Repost => "repost",
            Rule::ColumnStale => "column_stale",
            Rule::ColumnEmpty => "column_empty",
            Rule::DeadLink => "dead_link",
            Rule::PersonalData => "personal_data",
            Rule::SourceUnhealthy => "source_unhealthy",
        }
    }

    /// For officers' eyes (the glossary's word).
    pub fn zh(self) -> &'static str {
        crate::glossary::rule(self)
    }

    /// Mailed at once, whatever `alerts.immediate` says: published personal
    /// data must come down before the next digest.
    pub fn urgent(self) -> bool {
        self == Rule::PersonalData
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Rule, String> {
        Rule::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown rule {s:?}; expected one of: {}", Rule::ALL.map(Rule::as_str).join(", ")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    DueSoon,
    Overdue,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::DueSoon => "due_soon",
            State::Overdue => "overdue",
            State::Resolved => "resolved",
        }
    }

    /// For officers' eyes (the glossary's word).
    pub fn zh(self) -> &'static str {
        crate::glossary::state(self)
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        match s {
            "due_soon" => Ok(State::DueSoon),
            "overdue" => Ok(State::Overdue),
            "resolved" => Ok(State::Resolved),
            _ => Err(format!("unknown state {s:?}; expected due_soon, overdue or resolved")),
        }
    }
}

/// One thing a unit owes (or owed). JSON field names are a contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub fingerprint: String,
    pub rule: Rule,
    pub state: State,
    pub item_id: ItemId,
    pub unit: String,
    pub deadline: DateTime<FixedOffset>,
    /// Working days past the deadline: now (open) or at the answer (resolved
    /// late); 0 otherwise.
    pub overdue_working_days: i64,
    /// Resolved: answered after the deadline? `None` when the answer time is unknown.
    pub late: Option<bool>,
    /// When the answer came (resolved), if known.
    pub resolved_at: Option<DateTime<FixedOffset>>,
    /// Working days from receipt to the answer, if answered.
    pub reply_working_days: Option<i64>,
    /// How the deadline was set, for people: `办理时限列`, `投诉 15 个工作日`, `延期 5 个工作日` …
    pub basis: String,
    /// Findings about a column or a source rather than an item: what they
    /// are about (`栏目「通知公告」`), shown where an item's title would be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// … and its address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The stable fingerprint of (rule, item, unit).
pub fn fingerprint(rule: Rule, item: ItemId, unit: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_str().as_bytes());
    h.update([0x1f]);
    h.update(item.0.to_be_bytes());
    h.update([0x1f]);
    h.update(unit.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    format!("{:016x}", u64::from_be_bytes(first))
}

/// The last second of a day, Asia/Shanghai: when a deadline "on" that day ends.
pub fn end_of_day(d: NaiveDate) -> DateTime<FixedOffset> {
    let t = NaiveTime::from_hms_opt(23, 59, 59).expect("valid time");
    china().from_local_datetime(&d.and_time(t)).single().expect("+08:00 has no gaps")
}

/// The start of a day, Asia/Shanghai.
pub fn start_of_day(d: NaiveDate) -> DateTime<FixedOffset> {
    china().from_local_datetime(&d.and_time(NaiveTime::MIN)).single().expect("+08:00 has no gaps")
}

/// The local (Asia/Shanghai) date of a time.
pub fn local_date(t: DateTime<FixedOffset>) -> NaiveDate {
    t.with_timezone(&china()).date_naive()
}

/// The `n`-th working day strictly before `d`.
pub fn working_days_before(cal: &Calendar, d: NaiveDate, n: u32) -> NaiveDate {
    let mut day = d;
    let mut left = n;
    while left > 0 {
        day = day.pred_opt().expect("dates stay in range");
        if cal.is_workday(day) {
            left -= 1;
        }
    }
    day
}

/// Working days a time is past a deadline (0 when not past, or past only
/// on the deadline's own day).
pub fn working_days_late(cal: &Calendar, deadline: DateTime<FixedOffset>, at: DateTime<FixedOffset>) -> i64 {
    if at <= deadline { 0 } else { cal.working_days_between(local_date(deadline), local_date(at)).max(0) }
}

/// Settings shared by all rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warn {
    /// Due soon from the start of the working day this many working days
    /// before a deadline counted in days.
    pub working_days: u32,
    /// Due soon this many hours before a deadline counted in hours.
    pub hours: u32,
}

/// The state of something with this deadline, answered at `answered` (if it
/// was answered), seen at `now`; `None` when there is nothing to report yet
/// (not due soon, or answered before it ever was).
pub fn state_at(
    cal: &Calendar,
    deadline: DateTime<FixedOffset>,
    in_hours: bool,
    warn: Warn,
    answered: Option<Option<DateTime<FixedOffset>>>,
    now: DateTime<FixedOffset>,
) -> Option<(State, i64, Option<bool>)> {
    let due_soon_from = if in_hours {
        deadline - chrono::Duration::hours(warn.hours as i64)
    } else {
        start_of_day(working_days_before(cal, local_date(deadline), warn.working_days))
    };
    match answered {
        // Answered at a known time: report it if it was ever due soon or late.
        Some(Some(at)) if at <= now => {
            if at < due_soon_from {
                return None;
            }
            let late = at > deadline;
            Some((State::Resolved, working_days_late(cal, deadline, at), Some(late)))
        }
        // Answered, time unknown: resolved once the deadline window has begun.
        Some(None) => (now >= due_soon_from).then_some((State::Resolved, 0, None)),
        // Open (or answered after `now`, when replaying the past).
        _ => {
            if now > deadline {
                Some((State::Overdue, working_days_late(cal, deadline, now), None))
            } else if now >= due_soon_from {
                Some((State::DueSoon, 0, None))
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn t(s: &str) -> DateTime<FixedOffset> {
        china().from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()).unwrap()
    }

    #[test]
    fn states_across_a_holiday() {
        let cal = Calendar::official();
        let warn = Warn { working_days: 1, hours: 6 };
        // Deadline Thursday 2026-10-08 (after the National Day week): due soon from Wednesday 09-30.
        let deadline = end_of_day(d("2026-10-08"));
        assert_eq!(state_at(&cal, deadline, false, warn, None, t("2026-09-29 18:00")), None);
        assert_eq!(state_at(&cal, deadline, false, warn, None, t("2026-09-30 08:00")), Some((State::DueSoon, 0, None)));
        assert_eq!(state_at(&cal, deadline, false, warn, None, t("2026-10-05 12:00")), Some((State::DueSoon, 0, None)));
        assert_eq!(state_at(&cal, deadline, false, warn, None, t("2026-10-09 09:00")), Some((State::Overdue, 1, None)));
        // Saturday 10-10 is a working day (调休); Sunday 10-11 is not.
        assert_eq!(state_at(&cal, deadline, false, warn, None, t("2026-10-11 09:00")), Some((State::Overdue, 2, None)));
        let answered = Some(Some(t("2026-10-12 10:00")));
        assert_eq!(
            state_at(&cal, deadline, false, warn, answered, t("2026-10-20 09:00")),
            Some((State::Resolved, 3, Some(true)))
        );
        let early = Some(Some(t("2026-09-25 10:00")));
        assert_eq!(state_at(&cal, deadline, false, warn, early, t("2026-10-20 09:00")), None);
        // Replaying a moment before the answer: still open then.
        assert_eq!(
            state_at(&cal, deadline, false, warn, answered, t("2026-10-09 09:00")),
            Some((State::Overdue, 1, None))
        );
    }

    #[test]
    fn rule_names_in_json_match_the_cli() {
        for r in Rule::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.as_str().parse::<Rule>().unwrap(), r);
        }
    }

    #[test]
    fn fingerprints_are_stable() {
        let a = fingerprint(Rule::HotlineDeadline, ItemId(7), "rexian");
        assert_eq!(a, fingerprint(Rule::HotlineDeadline, ItemId(7), "rexian"));
        assert_ne!(a, fingerprint(Rule::MessageReply, ItemId(7), "rexian"));
        assert_eq!(a.len(), 16);
    }
}
