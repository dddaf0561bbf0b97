//! A real county on day one (issue 16): the county portal as several column
//! sources of one unit, superiors' feeds added today, archives of messages
//! and work orders imported for the first time. Each judgement must be one an
//! office can trust: a policy owed once per website, nothing owed from before
//! the window, nothing "unanswered" that the export cannot say is unanswered,
//! no ancient archive mailed as overdue.
//!
//! They run on the library with hand-made items and the small files in
//! `tests/data/county/` (see its README).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use govwatch::calendar::Calendar;
use govwatch::config::{Config, SourceConfig};
use govwatch::model::{Item, ItemKind, ParsedItem, Precision, Published};
use govwatch::normalize::time::china;
use govwatch::normalize::{SourceInfo, to_item};
use govwatch::rules::{Rule, State};
use govwatch::store::Store;

use crate::support;

fn at(s: &str) -> DateTime<FixedOffset> {
    govwatch::normalize::time::parse(s).unwrap_or_else(|| panic!("not a time: {s}")).at.with_timezone(&china())
}

fn published(s: &str) -> Option<Published> {
    Some(Published { at: at(s), precision: Precision::Time, zone_assumed: true })
}

/// An item of `src` as a poll at `seen` would store it.
fn item(src: &SourceConfig, title: &str, text: &str, when: Option<&str>, seen: &str) -> Item {
    let info = SourceInfo {
        id: &src.id,
        unit: &src.unit,
        kind: ItemKind::of(src.kind, src.role),
        role: src.role,
        level: src.level,
    };
    let p = ParsedItem {
        title: title.into(),
        text: text.into(),
        link: Some(format!("https://{}.example.gov.cn/{}", src.id, title.chars().count())),
        published: when.and_then(published),
        ..Default::default()
    };
    to_item(info, p, at(seen))
}

const COUNTY: &str = r#"
[rules.repost]
window_days = 30

[[units]]
id = "bangongshi"
name = "区政府办公室"
emails = ["gk@xian.example.gov.cn"]

[[units]]
id = "zhujianju"
name = "县住建局"
emails = ["zjj@xian.example.gov.cn"]

[[sources]]
id = "sheng"
kind = "feed"
url = "https://www.sheng.example.gov.cn/zxwj.xml"
unit = "bangongshi"
role = "superior"
level = "province"
"#;

/// A portal column of the county government's website (unit bangongshi).
fn column(id: &str, name: &str, extra: &str) -> String {
    format!(
        "[[sources]]\nid = \"{id}\"\nname = \"{name}\"\nkind = \"page\"\nurl = \"https://www.xian.example.gov.cn/{id}/\"\n\
         unit = \"bangongshi\"\nrole = \"portal\"\nlevel = \"county\"\n{extra}\n"
    )
}

fn four_columns() -> String {
    [
        column("zcwj", "区政府 政策文件", ""),
        column("tzgg", "区政府 通知公告", ""),
        column("gzdt", "区政府 工作动态", ""),
        column("shouye", "区政府 首页", ""),
    ]
    .concat()
}

/// Issue 16, item 1: four columns of one unit are one website. Each superior
/// policy is owed once, reposted in whichever column, and the row names the
/// website, never a column that did not repost it.
#[test]
fn four_columns_of_one_unit_owe_each_policy_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(&format!("{COUNTY}{}", four_columns()), dir.path());
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let src = |id: &str| cfg.source(id).unwrap().clone();
    let seen = "2026-04-20 08:00";
    store
        .upsert_items(&[
            item(
                &src("sheng"),
                "示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知",
                "",
                Some("2026-04-13 10:00"),
                seen,
            ),
            item(
                &src("sheng"),
                "示范省人民政府关于印发示范省2026年政务公开工作要点的通知",
                "",
                Some("2026-04-14 15:00"),
                seen,
            ),
            item(&src("sheng"), "示范省人民政府办公厅关于加强耕地保护的通知", "", Some("2026-04-15 09:00"), seen),
            // The first is reposted in the 通知公告 column, the second in two columns.
            item(
                &src("tzgg"),
                "示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知",
                "",
                Some("2026-04-13 16:00"),
                seen,
            ),
            item(
                &src("zcwj"),
                "转发示范省人民政府关于印发示范省2026年政务公开工作要点的通知",
                "",
                Some("2026-04-15 09:00"),
                seen,
            ),
            item(
                &src("shouye"),
                "示范省人民政府关于印发示范省2026年政务公开工作要点的通知",
                "",
                Some("2026-04-16 09:00"),
                seen,
            ),
            item(&src("gzdt"), "区政务服务中心2026年第一季度工作动态", "", Some("2026-04-16 10:00"), seen),
        ])
        .unwrap();
    let cal = Calendar::official();
    let now = at("2026-04-20 09:00");
    let rows = govwatch::findings::reposts(&cfg, &cal, &store, now).unwrap();
    let got: Vec<(String, &str, &str, Option<&str>)> = {
        let mut v: Vec<_> = rows
            .iter()
            .map(|o| (o.superior_title.to_string(), &*o.portal, o.state, o.repost_item_id.map(|_| &*o.unit)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        got,
        vec![
            (
                "示范省人民政府关于印发示范省2026年政务公开工作要点的通知".to_string(),
                "bangongshi",
                "on_time",
                Some("bangongshi")
            ),
            (
                "示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知".to_string(),
                "bangongshi",
                "on_time",
                Some("bangongshi")
            ),
            ("示范省人民政府办公厅关于加强耕地保护的通知".to_string(), "bangongshi", "overdue", None),
        ],
        "one row per policy for the website, not one per column: {rows:#?}"
    );
    // The findings: one per policy, for the unit, labelled with the website
    // (and, when reposted, the column that carried it).
    let (findings, _) = govwatch::findings::evaluate(&cfg, &cal, &store, now, false).unwrap();
    let repost: Vec<_> = findings.iter().filter(|f| f.rule == Rule::Repost).collect();
    assert_eq!(repost.len(), 3, "{repost:#?}");
    let ids: BTreeSet<_> = repost.iter().map(|f| f.item_id).collect();
    assert_eq!(ids.len(), 3, "each policy once");
    for f in &repost {
        assert_eq!(f.unit, "bangongshi");
        for col in ["zcwj", "gzdt", "shouye", "tzgg"] {
            assert!(!f.basis.starts_with(col), "labelled with a column: {}", f.basis);
        }
    }
    let tzgg = repost
        .iter()
        .find(|f| f.state == State::Resolved && f.basis.contains("通知公告"))
        .expect("the 通知公告 repost");
    assert!(tzgg.basis.starts_with("区政府办公室应转载"), "{}", tzgg.basis);
}

/// Issue 16, item 1: `site` makes columns of different units one website,
/// and a website named after a unit is that unit's to answer for.
#[test]
fn site_joins_columns_of_different_units_into_one_website() {
    let dir = tempfile::tempdir().unwrap();
    let columns = [
        column("zcwj", "区政府 政策文件", "site = \"gongkaiban\"\nsite_name = \"区人民政府门户网站\""),
        column("jyj", "区教育局 通知公告", "site = \"gongkaiban\"")
            .replace("unit = \"bangongshi\"", "unit = \"zhujianju\""),
    ]
    .concat();
    let toml = format!("{COUNTY}\n[[units]]\nid = \"gongkaiban\"\nname = \"区政务公开办\"\n{columns}");
    let cfg = support::config(&toml, dir.path());
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let src = |id: &str| cfg.source(id).unwrap().clone();
    let seen = "2026-04-20 08:00";
    store
        .upsert_items(&[
            item(
                &src("sheng"),
                "示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知",
                "",
                Some("2026-04-13 10:00"),
                seen,
            ),
            item(
                &src("jyj"),
                "示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知",
                "",
                Some("2026-04-13 16:00"),
                seen,
            ),
        ])
        .unwrap();
    let rows = govwatch::findings::reposts(&cfg, &Calendar::official(), &store, at("2026-04-20 09:00")).unwrap();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let o = &rows[0];
    assert_eq!(
        (&*o.portal, &*o.portal_name, &*o.unit, o.state, o.repost_source.as_deref()),
        ("gongkaiban", "区人民政府门户网站", "gongkaiban", "on_time", Some("jyj"))
    );
}

/// Issue 16, item 2: a feed of old policies added today owes nothing from
/// before `[rules.repost] window_days`; the window counts from publication,
/// and from first sight only for an item that gives no date.
#[test]
fn a_feed_of_old_policies_added_today_owes_only_what_is_inside_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(&format!("{COUNTY}{}", column("zcwj", "区政府 政策文件", "")), dir.path());
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let sheng = cfg.source("sheng").unwrap().clone();
    // The feed is polled for the first time today, 2026-04-20.
    let today = "2026-04-20 08:00";
    store
        .upsert_items(&[
            item(
                &sheng,
                "示范省人民政府办公厅关于2024年度政务公开工作考核情况的通报",
                "",
                Some("2024-03-01 10:00"),
                today,
            ),
            item(
                &sheng,
                "示范省人民政府关于印发示范省2025年政务公开工作要点的通知",
                "",
                Some("2025-12-30 10:00"),
                today,
            ),
            item(&sheng, "示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知", "", Some("2026-04-13 10:00"), today),
            item(&sheng, "示范省人民政府办公厅关于加强耕地保护的通知", "", None, today),
        ])
        .unwrap();
    let now = at("2026-04-20 09:00");
    let rows = govwatch::findings::reposts(&cfg, &Calendar::official(), &store, now).unwrap();
    let mut got: Vec<(String, &str)> = rows.iter().map(|o| (o.superior_title.to_string(), o.counted_from)).collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("示范省人民政府办公厅关于做好2026年防汛抗旱工作的通知".to_string(), "published"),
            ("示范省人民政府办公厅关于加强耕地保护的通知".to_string(), "first_seen"),
        ],
        "{rows:#?}"
    );
    let (findings, _) = govwatch::findings::evaluate(&cfg, &Calendar::official(), &store, now, false).unwrap();
    let worst = findings.iter().filter(|f| f.rule == Rule::Repost).map(|f| f.overdue_working_days).max();
    assert_eq!(worst, Some(4), "nothing hundreds of working days overdue: {findings:#?}");
}

/// The same cause in the 舆情 rule: a forum added today lists posts of two
/// years ago; they are not owed answers within 48 hours.
#[test]
fn old_posts_of_an_opinion_source_added_today_are_not_owed_answers() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{COUNTY}\n[[units]]\nid = \"jiaoyuju\"\nname = \"区教育局\"\nwatch_terms = [\"学校\"]\n\
         [[sources]]\nid = \"luntan\"\nkind = \"feed\"\nurl = \"https://bbs.example.com/rss\"\nunit = \"jiaoyuju\"\n\
         role = \"opinion\"\nlevel = \"county\"\n"
    );
    let cfg = support::config(&toml, dir.path());
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let luntan = cfg.source("luntan").unwrap().clone();
    let today = "2026-04-20 08:00";
    store
        .upsert_items(&[
            item(&luntan, "实验小学门口早高峰拥堵没人管", "学校门口每天堵车", Some("2024-04-02 07:50"), today),
            item(&luntan, "学校食堂饭菜价格上涨", "学校食堂又涨价了", Some("2026-04-18 08:00"), today),
        ])
        .unwrap();
    let (findings, _) =
        govwatch::findings::evaluate(&cfg, &Calendar::official(), &store, at("2026-04-20 09:00"), false).unwrap();
    let opinion: Vec<_> = findings.iter().filter(|f| f.rule == Rule::OpinionResponse).collect();
    assert_eq!(opinion.len(), 1, "only this week's post: {opinion:#?}");
    assert_eq!((opinion[0].state, opinion[0].overdue_working_days), (State::Overdue, 0), "48 hours passed an hour ago");
}

fn data(name: &str) -> PathBuf {
    support::repo().join("tests/data/county").join(name)
}

const EXPORTS: &str = r#"
[[units]]
id = "rexian"
name = "县12345热线中心"
emails = ["12345@xian.example.gov.cn"]

[[units]]
id = "zhujianju"
name = "县住建局"
emails = ["zjj@xian.example.gov.cn"]

[[sources]]
id = "liuyan"
kind = "export"
url = "drop/liuyan"
unit = "rexian"
role = "messages"
level = "county"

[[sources]]
id = "rexian"
kind = "export"
url = "drop/rexian"
unit = "rexian"
role = "hotline"
level = "county"
"#;

fn import(cfg: &Config, store: &Store, source: &str, file: &Path, now: &str) -> govwatch::import::ImportReport {
    let src = cfg.source(source).unwrap();
    let r = govwatch::import::import_file(cfg, store, src, file, at(now), &mut |_| {});
    assert_eq!(r.error, None, "{r:?}");
    r
}

fn findings_of(cfg: &Config, store: &Store, now: &str) -> Vec<govwatch::rules::Finding> {
    govwatch::findings::evaluate(cfg, &Calendar::official(), store, at(now), false).unwrap().0
}

/// Issue 16, item 3: an export with no reply or closing column (the tipdm
/// 附件2 layout) cannot say a message is unanswered: intake only, no
/// deadline finding, and the import says so — unless `intake_only = false`.
#[test]
fn an_export_that_cannot_say_a_message_was_answered_is_intake_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(EXPORTS, dir.path());
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let r = import(&cfg, &store, "liuyan", &data("messages_no_reply.csv"), "2020-01-08 09:00");
    assert_eq!((r.rows, r.new), (3, 3));
    assert!(r.intake_only, "{r:?}");
    let lines = govwatch::import::standing_lines(&r, cfg.source("liuyan").unwrap());
    assert!(lines.iter().any(|l| l.starts_with("仅收录：此文件没有答复或办结信息")), "{lines:?}");
    // Months later, nothing is "unanswered".
    let f = findings_of(&cfg, &store, "2020-06-01 09:00");
    assert!(f.is_empty(), "{f:#?}");

    // The office knows better: deadlines for it all the same.
    let mut forced = cfg.clone();
    forced.sources.iter_mut().find(|s| s.id == "liuyan").unwrap().intake_only = Some(false);
    let f = findings_of(&forced, &store, "2020-06-01 09:00");
    let rules: BTreeSet<(Rule, State)> = f.iter().map(|f| (f.rule, f.state)).collect();
    assert!(rules.contains(&(Rule::MessageReply, State::Overdue)), "{rules:?}");
    assert!(rules.contains(&(Rule::MessageUnanswered3Months, State::Overdue)), "{rules:?}");
}

/// Issue 16, item 3: an answer without a time (答复意见 only) answers the
/// message; a message without one stays open.
#[test]
fn a_reply_without_a_time_answers_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(EXPORTS, dir.path());
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let r = import(&cfg, &store, "liuyan", &data("messages_reply_only.csv"), "2026-03-02 18:00");
    assert!(!r.intake_only, "答复意见 says whether a message was answered");
    let f = findings_of(&cfg, &store, "2026-03-20 09:00");
    let by_number: HashMap<String, State> = f
        .iter()
        .filter(|f| f.rule == Rule::MessageReply)
        .map(|f| (store.item(f.item_id).unwrap().unwrap().case.unwrap().number, f.state))
        .collect();
    assert_eq!(by_number.get("7002"), Some(&State::Overdue), "{f:#?}");
    assert_eq!(by_number.get("7001"), Some(&State::Resolved), "{f:#?}");
}

/// Issue 16, item 3: the first import of an archive is history: open orders
/// from years ago are never overdue (nor mailed), closed ones still count in
/// the statistics, today's orders are held to their deadlines.
#[test]
fn the_first_import_of_an_archive_is_history() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = support::config(EXPORTS, dir.path());
    let store = Store::open(&cfg.storage.data_dir).unwrap();
    let first = "2026-04-20 08:00";
    let r = import(&cfg, &store, "rexian", &data("orders_archive.csv"), first);
    assert!(!r.intake_only);
    assert_eq!(r.history, 3, "received more than 30 days before the first import: {r:?}");
    let number = |f: &govwatch::rules::Finding| store.item(f.item_id).unwrap().unwrap().case.unwrap().number;
    let states = |now: &str| -> Vec<(String, State)> {
        let mut v: Vec<_> = findings_of(&cfg, &store, now).iter().map(|f| (number(f), f.state)).collect();
        v.sort();
        v
    };
    let expected = vec![
        ("GD20190301001".to_string(), State::Resolved), // closed late: counted
        ("GDNEW000001".to_string(), State::Overdue),
    ];
    assert_eq!(states("2026-04-20 09:00"), expected);
    // A later import of the same orders changes nothing: history is counted
    // from the first import.
    import(&cfg, &store, "rexian", &data("orders_archive.csv"), "2026-05-20 08:00");
    assert_eq!(states("2026-05-20 09:00"), expected);
    let intake = govwatch::findings::intake(&cfg, &store, at("2026-05-20 09:00")).unwrap();
    let lines = intake["rexian"].zh();
    assert!(lines.iter().any(|l| l.starts_with("历史记录 3 条：受理早于首次导入（2026-04-20）前 30 天")), "{lines:?}");
    // Replaying a moment before the first import sees every order as live.
    let before: Vec<(String, State)> = states("2021-09-10 09:00");
    assert!(before.contains(&("GD20210820003".to_string(), State::Overdue)), "{before:?}");

    // The same file as a first import with a longer horizon: they are owed.
    let dir2 = tempfile::tempdir().unwrap();
    let mut long = support::config(EXPORTS, dir2.path());
    long.sources.iter_mut().find(|s| s.id == "rexian").unwrap().history_days = Some(3650);
    let store2 = Store::open(&long.storage.data_dir).unwrap();
    import(&long, &store2, "rexian", &data("orders_archive.csv"), first);
    let f = findings_of(&long, &store2, "2026-04-20 09:00");
    assert_eq!(f.iter().filter(|f| f.state == State::Overdue).count(), 3, "{f:#?}");
}
