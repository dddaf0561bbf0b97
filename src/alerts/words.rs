//! How an item of each rule is worded for officers: a superior policy was
//! 发布 (published), a work order 收到 (received); published personal data is
//! 发现 (found), not 超期 (overdue); a repost is 发布至转载, not 受理至答复.
//! Pure; shared by the emails, their workbooks and the CLI.

use std::collections::HashMap;

use super::Line;
use crate::config::SourceConfig;
use crate::model::ItemKind;
use crate::rules::{Rule, State};

/// What the item's own time is called: when the office got it (收到) or when
/// it was published (发布).
pub fn received_label(rule: Rule) -> &'static str {
    match rule {
        Rule::HotlineDeadline | Rule::MessageReply | Rule::MessageUnanswered3Months | Rule::DisclosureDeadline => {
            "收到"
        }
        Rule::OpinionResponse
        | Rule::Repost
        | Rule::ColumnStale
        | Rule::ColumnEmpty
        | Rule::DeadLink
        | Rule::PersonalData
        | Rule::SourceUnhealthy => "发布",
    }
}

/// What the finding's time is called: a deadline (期限), or for published
/// personal data, which has none, when it was found (发现).
pub fn deadline_label(rule: Rule) -> &'static str {
    match rule {
        Rule::PersonalData => "发现",
        _ => "期限",
    }
}

/// The span from the item to its answer, for resolved findings: 受理至答复,
/// 发布至转载 …; `None` where there is no such span to speak of.
pub fn reply_span_label(rule: Rule) -> Option<&'static str> {
    match rule {
        Rule::HotlineDeadline | Rule::MessageReply | Rule::MessageUnanswered3Months | Rule::DisclosureDeadline => {
            Some("受理至答复")
        }
        Rule::OpinionResponse => Some("发布至回应"),
        Rule::Repost => Some("发布至转载"),
        Rule::ColumnStale | Rule::ColumnEmpty | Rule::DeadLink | Rule::PersonalData | Rule::SourceUnhealthy => None,
    }
}

/// The state in a word or two: 已超期, 即将到期, 已发现, 已办结, 逾期办结, 已转载 …
pub fn state(l: &Line) -> &'static str {
    state_word(l.rule, l.state, l.late)
}

/// [`state`] from its parts (a finding's rule, state and whether it was answered late).
pub fn state_word(rule: Rule, state: State, late: Option<bool>) -> &'static str {
    match (rule, state, late) {
        (Rule::PersonalData, State::Resolved, _) => "已处理",
        (Rule::PersonalData, _, _) => "已发现",
        (Rule::Repost, State::Resolved, Some(true)) => "超时转载",
        (Rule::Repost, State::Resolved, _) => "已转载",
        (_, State::Resolved, Some(true)) => "逾期办结",
        (_, st, _) => st.zh(),
    }
}

/// The state with how long: `已超期 4 个工作日（催办）`, `即将到期`,
/// `已发现 2 个工作日，请尽快处理`.
pub fn status(l: &Line, level: u8) -> String {
    let days = l.overdue_working_days;
    let mut s = match (l.rule, l.state) {
        (Rule::PersonalData, State::Resolved) => "已处理".to_string(),
        (Rule::PersonalData, _) if days > 0 => format!("已发现 {days} 个工作日，请尽快处理"),
        (Rule::PersonalData, _) => "已发现，请尽快处理".to_string(),
        (_, State::Overdue) if days > 0 => format!("已超期 {days} 个工作日"),
        (_, State::Overdue) => "已超期（不足 1 个工作日）".to_string(),
        _ => state(l).to_string(),
    };
    match level {
        2 => s.push_str("（通报）"),
        1 => s.push_str("（催办）"),
        _ => {}
    }
    s
}

/// What a row says the item is about: its title (标题, 留言主题, a policy's
/// title) when it has one of its own; for a work order or message whose
/// title is only its text cut short (an export without a title column), or
/// that has none, the start of its text.
pub fn summary_source(l: &Line) -> &str {
    let flat = |s: &str| s.split_whitespace().collect::<String>();
    let title = l.title.trim();
    let exported = matches!(l.kind, ItemKind::Hotline | ItemKind::Message);
    if title.is_empty() || (exported && !l.text.trim().is_empty() && flat(&l.text).starts_with(&flat(title))) {
        if l.text.trim().is_empty() { title } else { &l.text }
    } else {
        title
    }
}

/// A basis as stored names a source by its id (`qs-zcwj 应转载（自发布起算）`):
/// with the source's name instead, for people.
pub fn basis_with_names(basis: &str, names: &HashMap<&str, &str>) -> String {
    match basis.split_once(' ') {
        Some((id, rest)) if names.contains_key(id) => format!("{} {rest}", names[id]),
        _ => basis.to_string(),
    }
}

/// The lines with their bases naming sources by name (see [`basis_with_names`]).
pub fn name_sources(lines: &mut [Line], sources: &[SourceConfig]) {
    let names: HashMap<&str, &str> = sources
        .iter()
        .filter_map(|s| s.name.as_deref().filter(|n| !n.trim().is_empty()).map(|n| (s.id.as_str(), n)))
        .collect();
    for l in lines {
        if l.basis.contains(' ') {
            l.basis = basis_with_names(&l.basis, &names);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ItemId;

    fn line(rule: Rule, state: State, days: i64) -> Line {
        Line {
            fingerprint: "f".into(),
            rule,
            state,
            item_id: ItemId(1),
            unit: "u".into(),
            kind: ItemKind::Hotline,
            number: None,
            title: String::new(),
            text: String::new(),
            received_at: None,
            deadline: chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").unwrap(),
            overdue_working_days: days,
            late: None,
            basis: String::new(),
            link: None,
            urgent: false,
        }
    }

    /// Issue 17: a personal-data finding read "状态：已超期"; a superior
    /// policy's publication read "收到"; a repost "受理至答复".
    #[test]
    fn each_rule_has_its_words() {
        let pii = line(Rule::PersonalData, State::Overdue, 2);
        assert_eq!(status(&pii, 0), "已发现 2 个工作日，请尽快处理");
        assert!(!status(&pii, 0).contains("超期"));
        assert_eq!(deadline_label(Rule::PersonalData), "发现");
        assert_eq!(received_label(Rule::Repost), "发布");
        assert_eq!(received_label(Rule::HotlineDeadline), "收到");
        assert_eq!(reply_span_label(Rule::Repost), Some("发布至转载"));
        assert_eq!(reply_span_label(Rule::PersonalData), None);
        assert_eq!(status(&line(Rule::HotlineDeadline, State::Overdue, 4), 1), "已超期 4 个工作日（催办）");
        assert_eq!(status(&line(Rule::HotlineDeadline, State::Overdue, 0), 0), "已超期（不足 1 个工作日）");
        assert_eq!(status(&line(Rule::Repost, State::DueSoon, 0), 0), "即将到期");
        let mut late = line(Rule::Repost, State::Resolved, 2);
        late.late = Some(true);
        assert_eq!(state(&late), "超时转载");
    }

    /// Issue 17: summaries showed the body where a message has a 留言主题.
    #[test]
    fn the_summary_is_the_title_unless_it_is_the_text_cut_short() {
        let mut l = line(Rule::MessageReply, State::Overdue, 1);
        l.title = "A2区景蓉华苑物业管理有问题".into();
        l.text = "尊敬的领导：您好！我是景蓉华苑的业主……".into();
        assert_eq!(summary_source(&l), "A2区景蓉华苑物业管理有问题");
        // An export without a title column: the title is the text cut at 30 characters.
        l.title = "来电人反映燃气管道疑似泄漏，请尽快处理，联系电话".into();
        l.text = "来电人反映燃气管道疑似泄漏，请尽快处理，联系电话13912345678".into();
        assert_eq!(summary_source(&l), l.text);
        l.title = "工单 GD001".into();
        l.text = String::new();
        assert_eq!(summary_source(&l), "工单 GD001");
        // A policy whose text repeats its title: the title.
        l.kind = ItemKind::Feed;
        l.title = "示范省人民政府关于印发示范省2026年政务公开工作要点的通知".into();
        l.text = "示范省人民政府关于印发示范省2026年政务公开工作要点的通知 各市、县人民政府，省政府各部门：".into();
        assert_eq!(summary_source(&l), l.title);
    }

    /// Issue 17: `qs-zcwj 应转载…` named the portal by its id.
    #[test]
    fn bases_name_sources_by_name() {
        let names: HashMap<&str, &str> = [("qs-zcwj", "区政府门户网站 政策文件")].into_iter().collect();
        assert_eq!(
            basis_with_names("qs-zcwj 应转载（自发布起算）", &names),
            "区政府门户网站 政策文件 应转载（自发布起算）"
        );
        assert_eq!(basis_with_names("咨询 2 个工作日", &names), "咨询 2 个工作日");
    }
}
