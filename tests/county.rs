//! A real county on day one (issue 16): the county portal as several column
//! sources of one unit, superiors' feeds added today, archives of messages
//! and work orders imported for the first time. Each judgement must be one an
//! office can trust: a policy owed once per website, nothing owed from before
//! the window, nothing "unanswered" that the export cannot say is unanswered,
//! no ancient archive mailed as overdue.
//!
//! The first tests run on the library with hand-made items and the small
//! files in `tests/data/county/` (see its README); the last one is the whole
//! scenario on the real feeds and message exports in `../shared/data`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, FixedOffset};
use govwatch::calendar::Calendar;
use govwatch::config::{Config, SourceConfig};
use govwatch::model::{Item, ItemKind, ParsedItem, Precision, Published};
use govwatch::normalize::time::china;
use govwatch::normalize::{SourceInfo, to_item};
use govwatch::rules::{Rule, State};
use govwatch::store::Store;
use serde_json::Value;

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

// ─────────────────────── the whole county, on real data ───────────────────────

struct County {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl County {
    fn run(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = args.to_vec();
        let cfg = self.cfg.to_str().unwrap().to_string();
        a.extend(["--config", &cfg]);
        Command::new(support::bin()).args(&a).env_remove("GOVWATCH_CONFIG").output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
}

/// An RSS date of China time.
fn rfc822(s: &str) -> String {
    at(s).to_rfc2822()
}

/// A column list page as the default selectors read it: `<li>` with a link and a date.
fn list_page(title: &str, entries: &[(&str, &str, &str)]) -> String {
    let mut h = format!("<html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><ul>");
    for (t, link, day) in entries {
        h.push_str(&format!("<li><a href=\"{link}\" title=\"{t}\">{t}</a><span>{day}</span></li>"));
    }
    h.push_str("</ul></body></html>");
    h
}

/// The acceptance scenario of issue 16: the real Shenzhen (city) and
/// Shanghai (province) policy feeds added today as superiors; the county
/// portal as four columns of one unit on loopback (two feeds, two list
/// pages), with no `reposts_from`; the real tipdm message exports (附件2: no
/// reply columns; 附件4: replies with their times) imported for the first time.
#[test]
fn a_county_on_day_one() {
    let Some(feeds) = support::shared("data/feeds/generated-gov") else { return };
    let Some(tipdm) = support::shared("data/hotline/tipdm2020-zhihuizhengwu") else { return };
    let server = support::TestServer::start();
    let zcwj = support::rss(
        "区政府 政策文件",
        &[
            (
                "上海市发展和改革委员会 上海市教育委员会 上海市财政局关于印发《上海市幼儿园收费管理办法》的通知".into(),
                "https://www.xian.example.gov.cn/zcwj/3101.html".into(),
                String::new(),
                rfc822("2026-04-10 16:00"),
            ),
            (
                "转发深圳市商务局关于印发《深圳市商务局〈关于加快建设国际会展之都的若干措施（修订）〉实施细则》的通知"
                    .into(),
                "https://www.xian.example.gov.cn/zcwj/3088.html".into(),
                String::new(),
                rfc822("2026-03-31 10:00"),
            ),
            (
                "深圳市2026年优化国际化营商环境工作方案".into(),
                "https://www.xian.example.gov.cn/zcwj/3075.html".into(),
                String::new(),
                rfc822("2026-03-24 09:00"),
            ),
        ],
    );
    let gzdt = support::rss(
        "区政府 工作动态",
        &[(
            "区政务服务中心管理办公室2025年政府信息公开工作年度报告".into(),
            "https://www.xian.example.gov.cn/gzdt/2990.html".into(),
            String::new(),
            rfc822("2026-03-20 10:00"),
        )],
    );
    let tzgg = list_page(
        "通知公告",
        &[
            ("关于开展2026年度上海市技术合同认定登记监督抽查工作的通知", "/tzgg/3091.html", "2026-04-01"),
            ("2026年双城区政务公开工作要点", "/tzgg/3050.html", "2026-03-16"),
        ],
    );
    // The 营商环境 plan again on the homepage, a day after the 政策文件 column.
    let shouye = list_page("首页", &[("深圳市2026年优化国际化营商环境工作方案", "/zcwj/3075.html", "2026-03-25")]);
    server.route("/zcwj.xml", vec![support::Canned::ok("application/rss+xml", zcwj)]);
    server.route("/gzdt.xml", vec![support::Canned::ok("application/rss+xml", gzdt)]);
    server.route("/tzgg/", vec![support::Canned::ok("text/html; charset=utf-8", tzgg)]);
    server.route("/", vec![support::Canned::ok("text/html; charset=utf-8", shouye)]);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let toml = format!(
        r#"
[storage]
data_dir = "{var}"
index_dir = "{index}"

[mail]
transport = "file"
dir = "{mail}"
from = "govwatch <govwatch@xian.example.gov.cn>"

[alerts]
max_rows = 1000
max_rows_per_group = 1000

[rules.repost]
window_days = 30

[[units]]
id = "bangongshi"
name = "区政府办公室"
emails = ["gk@xian.example.gov.cn"]

[[units]]
id = "xinfang"
name = "区信访局"
emails = ["xf@xian.example.gov.cn"]

[[sources]]
id = "shenzhen"
name = "深圳市 政策通知"
kind = "feed"
url = "{sz}"
unit = "bangongshi"
role = "superior"
level = "city"

[[sources]]
id = "shanghai"
name = "上海市 政策文件"
kind = "feed"
url = "{sh}"
unit = "bangongshi"
role = "superior"
level = "province"

[[sources]]
id = "xian-zcwj"
name = "区政府 政策文件"
kind = "feed"
url = "{zcwj}"
unit = "bangongshi"
role = "portal"
level = "county"

[[sources]]
id = "xian-tzgg"
name = "区政府 通知公告"
kind = "page"
url = "{tzgg}"
unit = "bangongshi"
role = "portal"
level = "county"

[[sources]]
id = "xian-gzdt"
name = "区政府 工作动态"
kind = "feed"
url = "{gzdt}"
unit = "bangongshi"
role = "portal"
level = "county"

[[sources]]
id = "xian-shouye"
name = "区政府 首页"
kind = "page"
url = "{shouye}"
unit = "bangongshi"
role = "portal"
level = "county"

[[sources]]
id = "liuyan"
name = "问政平台 留言（附件2）"
kind = "export"
url = "{fj2}"
unit = "xinfang"
role = "messages"
level = "county"

[[sources]]
id = "liuyan-dafu"
name = "问政平台 留言答复（附件4）"
kind = "export"
url = "{fj4}"
unit = "xinfang"
role = "messages"
level = "county"
"#,
        var = d.join("var").display(),
        index = d.join("index").display(),
        mail = d.join("mail").display(),
        sz = feeds.join("sz-gov-rss_shenzhen-policy.xml").display(),
        sh = feeds.join("sh-gov-rss_shanghai-policy.xml").display(),
        zcwj = server.url("/zcwj.xml"),
        tzgg = server.url("/tzgg/"),
        gzdt = server.url("/gzdt.xml"),
        shouye = server.url("/"),
        fj2 = tipdm.join("附件2.xlsx").display(),
        fj4 = tipdm.join("附件4.xlsx").display(),
    );
    let cfg = d.join("county.toml");
    std::fs::write(&cfg, toml).unwrap();
    let county = County { dir, cfg };

    // `config check` explains the model: the four columns are one website.
    let check = county.ok(&["config", "check"]);
    assert!(
        check.contains(
            "网站 bangongshi（区政府办公室）：栏目 xian-zcwj、xian-tzgg、xian-gzdt、xian-shouye 同属一个网站，\
             每条上级政策只须在其中任一栏目转载一次"
        ),
        "{check}"
    );

    let polled = county.json(&["poll"]);
    for r in polled.as_array().unwrap() {
        assert_eq!(r["status"], "ok", "{r}");
    }

    // Each superior policy of the window is owed once, by the website.
    let now = "2026-04-20 09:00";
    let since = at(now) - chrono::Duration::days(30);
    let store = Store::open(&county.dir.path().join("var")).unwrap();
    let superiors: Vec<Item> = store
        .items_after_rev(0, 1_000_000)
        .unwrap()
        .into_iter()
        .map(|r| r.item)
        .filter(|i| i.role == govwatch::model::Role::Superior)
        .collect();
    let in_window: BTreeSet<String> = superiors
        .iter()
        .filter(|i| i.published.is_some_and(|p| p.at >= since && p.at <= at(now)))
        .map(|i| i.id.to_string())
        .collect();
    assert!(
        in_window.len() >= 30 && in_window.len() < superiors.len() / 2,
        "{} of {}",
        in_window.len(),
        superiors.len()
    );
    let rows = county.json(&["reposts", "--now", now]);
    let rows = rows.as_array().unwrap();
    let mut owed: HashMap<String, usize> = HashMap::new();
    for r in rows {
        assert_eq!(
            (r["portal"].as_str(), r["portal_name"].as_str()),
            (Some("bangongshi"), Some("区政府办公室")),
            "{r}"
        );
        *owed.entry(r["superior_item_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(owed.values().all(|n| *n == 1), "a policy owed more than once: {owed:?}");
    assert_eq!(owed.keys().cloned().collect::<BTreeSet<_>>(), in_window, "`window_days` on the first poll");
    assert_eq!(rows.len(), in_window.len(), "superior items × 1 website");

    // The reposts, in whichever column.
    let row = |title: &str| {
        rows.iter()
            .find(|r| r["superior_title"].as_str().is_some_and(|t| t.contains(title)))
            .unwrap_or_else(|| panic!("no row for {title}"))
    };
    let column = |title: &str| (row(title)["state"].as_str(), row(title)["repost_source"].as_str());
    assert_eq!(column("上海市幼儿园收费管理办法"), (Some("on_time"), Some("xian-zcwj")));
    assert_eq!(column("关于加快建设国际会展之都的若干措施"), (Some("late"), Some("xian-zcwj")));
    assert_eq!(column("技术合同认定登记监督抽查"), (Some("on_time"), Some("xian-tzgg")));
    assert_eq!(
        column("深圳市2026年优化国际化营商环境工作方案"),
        (Some("on_time"), Some("xian-zcwj")),
        "the earliest column"
    );
    let overdue: BTreeSet<String> = rows
        .iter()
        .filter(|r| r["state"] == "overdue")
        .map(|r| r["superior_item_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(overdue.len(), in_window.len() - 4);

    // One email to the unit, listing each overdue policy once.
    let mail = county.ok(&["alerts", "preview", "--unit", "bangongshi", "--now", now]);
    for id in &overdue {
        let n = mail.lines().filter(|l| l.contains("查看：") && l.contains(&format!("/items/{id}"))).count();
        assert_eq!(n, 1, "policy {id} listed {n} times:\n{mail}");
    }

    // 附件2 cannot say whether a message was answered: intake only, and it
    // says so; 附件4's answered archive counts in the statistics, never overdue.
    for when in [None, Some(now)] {
        let mut args = vec!["findings"];
        if let Some(w) = when {
            args.extend(["--now", w]);
        }
        let f = county.json(&args);
        let open: Vec<&Value> = f
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"].as_str().is_some_and(|r| r.starts_with("message")) && f["state"] != "resolved")
            .collect();
        assert!(open.is_empty(), "{when:?}: {} open message findings, e.g. {:#?}", open.len(), open.first());
        let resolved = f.as_array().unwrap().iter().filter(|f| f["rule"] == "message_reply").count();
        assert!(resolved > 50, "{when:?}: 附件4's answers are counted: {resolved}");
    }
    let sources = county.json(&["sources"]);
    let liuyan = sources.as_array().unwrap().iter().find(|s| s["id"] == "liuyan").unwrap();
    assert_eq!(liuyan["intake"]["intake_only"], true, "{liuyan}");
    assert_eq!(liuyan["intake"]["intake_only_rows"], liuyan["items_stored"], "{liuyan}");
    let text = county.ok(&["sources"]);
    assert!(text.contains("仅收录：导出没有答复或办结信息"), "{text}");
    assert!(text.contains("网站「区政府办公室」的 4 个栏目之一"), "{text}");
    let status = county.ok(&["status"]);
    assert!(status.contains("liuyan：仅收录"), "{status}");
    let again = county.ok(&["import", "--source", "liuyan", tipdm.join("附件2.xlsx").to_str().unwrap()]);
    assert!(again.contains("仅收录：此文件没有答复或办结信息"), "{again}");

    // Every distinct Shenzhen document is stored: the feed gives 10 different
    // documents one guid and one link (issue 16 item 4). Counted here from the
    // file itself, by (title, pubDate), independently of govwatch's parser.
    let xml = std::fs::read_to_string(feeds.join("sz-gov-rss_shenzhen-policy.xml")).unwrap();
    let field = |item: &str, tag: &str| {
        item.split_once(&format!("<{tag}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{tag}>")))
            .map(|(v, _)| v.trim().to_string())
            .unwrap_or_default()
    };
    let distinct: BTreeSet<(String, String)> =
        xml.split("<item>").skip(1).map(|item| (field(item, "title"), field(item, "pubDate"))).collect();
    assert!(distinct.len() > 150, "{}", distinct.len());
    let shenzhen = sources.as_array().unwrap().iter().find(|s| s["id"] == "shenzhen").unwrap();
    assert_eq!(shenzhen["items_stored"].as_u64(), Some(distinct.len() as u64), "{shenzhen}");
    let sz_poll = polled.as_array().unwrap().iter().find(|r| r["source"] == "shenzhen").unwrap();
    assert!(sz_poll["collisions"].as_u64().is_some_and(|n| n > 0), "the poll counts the collisions: {sz_poll}");

    // Searching part of a message number finds it (issue 16 item 7): the
    // longest 留言编号 of 附件4, less its last digit, as an officer types it.
    let messages: Vec<Item> = store
        .items_after_rev(0, 1_000_000)
        .unwrap()
        .into_iter()
        .map(|r| r.item)
        .filter(|i| i.source == "liuyan-dafu")
        .collect();
    let longest = messages
        .iter()
        .filter_map(|i| i.case.as_ref().map(|c| (c.number.clone(), i.id.to_string())))
        .max_by_key(|(n, _)| (n.len(), n.clone()))
        .expect("附件4 has numbered messages");
    let part = &longest.0[..longest.0.len() - 1];
    let hits = county.json(&["search", part, "--limit", "1000", "--exact-count"]);
    let ids: BTreeSet<&str> = hits.as_array().unwrap().iter().filter_map(|h| h["id"].as_str()).collect();
    assert!(ids.contains(longest.1.as_str()), "{part} (of {}) finds it: {hits}", longest.0);
}
