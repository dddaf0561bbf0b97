//! The words officers read, in one place. Pure: no IO.
//!
//! Every surface an officer reads — CLI output without `--json`, the web
//! console, emails, import reports, poll hints — names rules, states, kinds,
//! roles, levels and the like with these words, so that `status`, `findings`,
//! the console and the digest never say 逾期 in one place and 已超期 in
//! another. The enums keep their English names for `--json`, the API, the
//! configuration and the logs (a contract for other tools); their `zh()`
//! methods answer from here.
//!
//! When a new kind of thing reaches officers, add its word here, not in the
//! surface that first shows it.

use crate::alerts::Kind as MailKind;
use crate::config::{ColumnCategory, Severity, UserRole};
use crate::model::{ItemKind, Level, Role, SourceKind};
use crate::poll::PollStatus;
use crate::rules::pii::PiiKind;
use crate::rules::repost::MatchedBy;
use crate::rules::{Rule, State};

/// A source of items (a feed, a column page, an export). Not 信息源, not 来源.
pub const SOURCE: &str = "数据源";
/// A responsible unit (承办单位) as configured in `[[units]]`.
pub const UNIT: &str = "单位";
/// Something a unit owes (a finding).
pub const FINDING: &str = "事项";
/// The daemon (`govwatch run`).
pub const DAEMON: &str = "后台服务";
/// The search index.
pub const INDEX: &str = "全文索引";
/// The outbox of emails.
pub const OUTBOX: &str = "发件箱";
/// An alert round.
pub const ROUND: &str = "提醒轮次";
/// The word before a hint shown under a source or a poll.
pub const HINT: &str = "提示";
/// The word before an error shown to an officer or administrator.
pub const ERROR: &str = "错误";
/// The word before a warning.
pub const WARNING: &str = "警告";

/// A rule's name.
pub fn rule(r: Rule) -> &'static str {
    match r {
        Rule::HotlineDeadline => "热线工单办理时限",
        Rule::MessageReply => "留言答复时限",
        Rule::MessageUnanswered3Months => "留言超过三个月未答复",
        Rule::DisclosureDeadline => "依申请公开答复时限",
        Rule::OpinionResponse => "政务舆情回应时限",
        Rule::Repost => "上级政策转载时限",
        Rule::ColumnStale => "栏目不更新",
        Rule::ColumnEmpty => "空栏目",
        Rule::DeadLink => "死链",
        Rule::PersonalData => "公开内容含个人信息",
        Rule::SourceUnhealthy => "数据来源异常",
    }
}

/// A finding's state.
pub fn state(s: State) -> &'static str {
    match s {
        State::DueSoon => "即将到期",
        State::Overdue => "已超期",
        State::Resolved => "已办结",
    }
}

/// A finding's state given by its stored name (`due_soon`, `overdue`,
/// `resolved`); an unknown name is shown as it is.
pub fn state_named(s: &str) -> &str {
    s.parse::<State>().map_or(s, |x| state(x))
}

/// A rule given by its stored name; an unknown name is shown as it is.
pub fn rule_named(r: &str) -> &str {
    r.parse::<Rule>().map_or(r, |x| rule(x))
}

/// How a source is read.
pub fn source_kind(k: SourceKind) -> &'static str {
    match k {
        SourceKind::Feed => "订阅源",
        SourceKind::Page => "网页栏目",
        SourceKind::Export => "导出表格",
    }
}

/// What an item is.
pub fn item_kind(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Feed => "订阅信息",
        ItemKind::Page => "网站栏目",
        ItemKind::Hotline => "热线工单",
        ItemKind::Message => "网民留言",
    }
}

/// What a source is for.
pub fn role(r: Role) -> &'static str {
    match r {
        Role::Superior => "上级政策",
        Role::Portal => "本级网站",
        Role::Hotline => "12345热线",
        Role::Messages => "留言信箱",
        Role::Opinion => "政务舆情",
    }
}

/// What a source's `unit` is to its items: the unit that owes them, or (for
/// a superior's policies and public opinion, which the unit only follows) the
/// unit that follows the source — a province's policy does not belong to the
/// county office that watches the province's feed.
pub fn unit_of_role(r: Role) -> &'static str {
    match r {
        Role::Superior | Role::Opinion => "跟进单位",
        Role::Portal => "责任单位",
        Role::Hotline | Role::Messages => "承办单位",
    }
}

/// The administrative level of a publisher.
pub fn level(l: Level) -> &'static str {
    match l {
        Level::National => "国家",
        Level::Province => "省级",
        Level::City => "市级",
        Level::County => "县级",
        Level::Town => "乡镇",
        Level::Department => "部门",
    }
}

/// A console user's role.
pub fn user_role(r: UserRole) -> &'static str {
    match r {
        UserRole::Officer => "值班员",
        UserRole::Admin => "管理员",
    }
}

/// How a repost was recognized.
pub fn matched_by(m: MatchedBy) -> &'static str {
    match m {
        MatchedBy::DocNo => "文号相同",
        MatchedBy::Title => "标题相同",
        MatchedBy::Link => "链接原文",
    }
}

/// A repost obligation's state (`on_time`, `late`, `overdue`, `pending`).
pub fn repost_state(s: &str) -> &str {
    match s {
        "on_time" => "按时转载",
        "late" => "超时转载",
        "overdue" => "未转载已超期",
        "pending" => "未到期",
        other => other,
    }
}

/// Every repost state, for filters: (name, word).
pub const REPOST_STATES: [(&str, &str); 4] =
    [("on_time", "按时转载"), ("late", "超时转载"), ("overdue", "未转载已超期"), ("pending", "未到期")];

/// What one poll of a source did.
pub fn poll_status(s: PollStatus) -> &'static str {
    match s {
        PollStatus::Ok => "成功",
        PollStatus::NotModified => "未变化",
        PollStatus::Error => "失败",
        PollStatus::Skipped => "跳过",
    }
}

/// A source's health as the console and `/api/sources` name it (`ok`,
/// `failing`, `never_polled`, `disabled`).
pub fn health(h: &str) -> &str {
    match h {
        "ok" => "正常",
        "failing" => "抓取失败",
        "never_polled" => "尚未抓取",
        "disabled" => "已停用",
        other => other,
    }
}

/// A kind of personal number found in published text.
pub fn pii_kind(k: PiiKind) -> &'static str {
    match k {
        PiiKind::IdCard => "身份证号",
        PiiKind::Mobile => "手机号",
        PiiKind::BankCard => "银行卡号",
    }
}

/// What a portal column publishes (its freshness limit).
pub fn column_category(c: ColumnCategory) -> &'static str {
    match c {
        ColumnCategory::News => "动态要闻类",
        ColumnCategory::Notices => "通知公告、政策文件类",
        ColumnCategory::Homepage => "首页",
        ColumnCategory::None => "不检查",
    }
}

/// What kind of email an outbox row or a round's line is.
pub fn mail_kind(k: MailKind) -> &'static str {
    match k {
        MailKind::Digest => "待办提醒",
        MailKind::Immediate => "即时提醒",
        MailKind::Report => "通报",
    }
}

/// A mail kind given by its stored name (`digest`, `immediate`, `report`).
pub fn mail_kind_named(k: &str) -> &str {
    match k {
        "digest" => mail_kind(MailKind::Digest),
        "immediate" => mail_kind(MailKind::Immediate),
        "report" => mail_kind(MailKind::Report),
        other => other,
    }
}

/// An outbox row's state (`queued`, `sent`, `failed`).
pub fn outbox_state(s: &str) -> &str {
    match s {
        "queued" => "待发送",
        "sent" => "已发送",
        "failed" => "发送失败",
        other => other,
    }
}

/// A round as officers read it. The stored key stays what it is (it makes
/// each (finding, round) unique): `2026-11-23 09:00` for a scheduled round,
/// `manual …` for one run by hand, `immediate …` for an immediate one.
pub fn round(key: &str) -> String {
    if let Some(at) = key.strip_prefix("manual ") {
        format!("手动发送 {at}")
    } else if let Some(at) = key.strip_prefix("immediate ") {
        format!("即时发送 {at}")
    } else {
        format!("定时发送 {key}")
    }
}

/// A file error as officers read it: the usual kinds in Chinese, the rest
/// as the system says them.
pub fn io_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "文件不存在".into(),
        ErrorKind::PermissionDenied => "没有读取权限".into(),
        ErrorKind::IsADirectory => "这是文件夹，不是文件".into(),
        _ => e.to_string(),
    }
}

/// A configuration problem's severity.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => ERROR,
        Severity::Warning => WARNING,
    }
}

impl SourceKind {
    /// For officers' eyes (see [`source_kind`]).
    pub fn zh(self) -> &'static str {
        source_kind(self)
    }
}

impl ItemKind {
    /// For officers' eyes (see [`item_kind`]).
    pub fn zh(self) -> &'static str {
        item_kind(self)
    }
}

impl Role {
    /// For officers' eyes (see [`role`]).
    pub fn zh(self) -> &'static str {
        role(self)
    }
}

impl Level {
    /// For officers' eyes (see [`level`]).
    pub fn zh(self) -> &'static str {
        level(self)
    }
}

impl MailKind {
    /// For officers' eyes (see [`mail_kind`]).
    pub fn zh(self) -> &'static str {
        mail_kind(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Chinese for officers: no Latin letter in any word (digits are fine: 12345热线).
    fn chinese(words: &[&str]) {
        let mut seen = HashSet::new();
        for w in words {
            assert!(!w.is_empty(), "an empty word");
            assert!(!w.chars().any(|c| c.is_ascii_alphabetic()), "{w:?} is not Chinese");
            assert!(seen.insert(*w), "{w:?} names two things");
        }
    }

    #[test]
    fn every_name_has_one_distinct_chinese_word() {
        chinese(&Rule::ALL.map(rule));
        chinese(&[State::DueSoon, State::Overdue, State::Resolved].map(state));
        chinese(&[SourceKind::Feed, SourceKind::Page, SourceKind::Export].map(source_kind));
        chinese(&[ItemKind::Feed, ItemKind::Page, ItemKind::Hotline, ItemKind::Message].map(item_kind));
        chinese(&[Role::Superior, Role::Portal, Role::Hotline, Role::Messages, Role::Opinion].map(role));
        let levels = [Level::National, Level::Province, Level::City, Level::County, Level::Town, Level::Department];
        chinese(&levels.map(level));
        chinese(&[UserRole::Officer, UserRole::Admin].map(user_role));
        chinese(&[MatchedBy::DocNo, MatchedBy::Title, MatchedBy::Link].map(matched_by));
        chinese(&REPOST_STATES.map(|(_, w)| w));
        chinese(&[PollStatus::Ok, PollStatus::NotModified, PollStatus::Error, PollStatus::Skipped].map(poll_status));
        chinese(&["ok", "failing", "never_polled", "disabled"].map(health));
        chinese(&[PiiKind::IdCard, PiiKind::Mobile, PiiKind::BankCard].map(pii_kind));
        let cats = [ColumnCategory::News, ColumnCategory::Notices, ColumnCategory::Homepage, ColumnCategory::None];
        chinese(&cats.map(column_category));
        chinese(&[MailKind::Digest, MailKind::Immediate, MailKind::Report].map(mail_kind));
        chinese(&["queued", "sent", "failed"].map(outbox_state));
        chinese(&[Severity::Error, Severity::Warning].map(severity));
        chinese(&[SOURCE, UNIT, FINDING, DAEMON, INDEX, OUTBOX, ROUND, HINT, ERROR, WARNING]);
    }

    #[test]
    fn stored_names_are_translated_and_unknown_ones_kept() {
        assert_eq!(state_named("overdue"), "已超期");
        assert_eq!(rule_named("column_stale"), "栏目不更新");
        assert_eq!(rule_named("some_future_rule"), "some_future_rule");
        assert_eq!(mail_kind_named("digest"), "待办提醒");
        assert_eq!(outbox_state("sent"), "已发送");
        assert_eq!(repost_state("overdue"), "未转载已超期");
        for (name, word) in REPOST_STATES {
            assert_eq!(repost_state(name), word);
        }
    }

    #[test]
    fn file_errors_are_said_in_chinese() {
        let e = std::fs::read("/nonexistent/govwatch-glossary-test").unwrap_err();
        assert_eq!(io_error(&e), "文件不存在");
    }

    #[test]
    fn rounds_say_how_they_were_run() {
        assert_eq!(round("2026-11-23 09:00"), "定时发送 2026-11-23 09:00");
        assert_eq!(round("manual 2026-12-06 05:21:24"), "手动发送 2026-12-06 05:21:24");
        assert_eq!(round("immediate 2026-12-06 05:21:24"), "即时发送 2026-12-06 05:21:24");
    }

    #[test]
    fn the_enums_answer_from_the_glossary() {
        assert_eq!(Rule::Repost.zh(), rule(Rule::Repost));
        assert_eq!(State::Overdue.zh(), "已超期");
        assert_eq!(Role::Superior.zh(), "上级政策");
        assert_eq!(Level::Province.zh(), "省级");
        assert_eq!(UserRole::Admin.zh(), "管理员");
        assert_eq!(MatchedBy::DocNo.zh(), "文号相同");
        assert_eq!(PollStatus::NotModified.zh(), "未变化");
        assert_eq!(PiiKind::Mobile.zh(), "手机号");
        assert_eq!(ColumnCategory::News.zh(), "动态要闻类");
    }
}
