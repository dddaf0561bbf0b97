//! Hotline and message exports: import, quarantine, upserts, a killed import,
//! the drop folder, findings replayed at hand-checked moments, 舆情 and responses.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use govwatch::store::Store;
use serde_json::Value;

use crate::support;

struct Env {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Env {
    /// A configuration with a hotline export source (drop folder `drop/`), a
    /// messages source, and units with aliases and watch terms.
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("drop")).unwrap();
        std::fs::create_dir_all(d.join("msgdrop")).unwrap();
        let cfg = d.join("g.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"
[storage]
data_dir = "{var}"
index_dir = "{index}"

[[units]]
id = "rexian"
name = "县12345热线中心"

[[units]]
id = "jiaoyuju"
name = "县教育局"
aliases = ["教育局", "县教体局"]
watch_terms = ["县教育局", "学校"]
major_terms = ["食物中毒"]

[[units]]
id = "zhujianju"
name = "县住房和城乡建设局"
aliases = ["县住建局"]

[[sources]]
id = "rexian"
kind = "export"
url = "{drop}"
unit = "rexian"
role = "hotline"
level = "county"

[[sources]]
id = "liuyan"
kind = "export"
url = "{msgdrop}"
unit = "rexian"
role = "messages"
level = "county"
{extra}
"#,
                var = d.join("var").display(),
                index = d.join("index").display(),
                drop = d.join("drop").display(),
                msgdrop = d.join("msgdrop").display(),
            ),
        )
        .unwrap();
        Env { dir, cfg }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = args.to_vec();
        let cfg = self.cfg.to_str().unwrap().to_string();
        a.extend(["--config", &cfg]);
        Command::new(support::bin()).args(&a).env_remove("GOVWATCH_CONFIG").output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let o = self.run(&a);
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&o.stdout)))
    }

    fn store(&self) -> Store {
        Store::open(&self.path("var")).unwrap()
    }
}

fn gbk(s: &str) -> Vec<u8> {
    encoding_rs::GB18030.encode(s).0.into_owned()
}

/// A GBK CSV as Excel writes it: a title row, a two-row header with a merged
/// group, times in four forms, stray spaces, and rows that cannot be read.
const MESSY: &str = "2026年9月12345热线工单明细表,,,,,,,\r\n\
工单信息,,,,承办单位,办理情况,,\r\n\
工单编号,来电时间,诉求类型,诉求内容,,办结时间,状态,紧急程度\r\n\
GD0001,2026/9/24 10:00:00,咨询,咨询学校开学时间　,教育局,2026-09-28 15:00,已办结,\r\n\
GD0002,46289.4166666667,投诉,\t小区停水三天无人处理,县住建局,,处理中,\r\n\
GD0003,2026年09月24日,求助,路灯不亮,县供电所,,处理中,\r\n\
,2026-09-24 10:00,咨询,没有编号的一行,教育局,,,\r\n\
GD0005,明天上午,咨询,时间写错的一行,教育局,,,\r\n\
,,,,,,,\r\n\
GD0006,2026-10-09 08:00,求助,紧急：燃气泄漏,县住建局,,处理中,紧急\r\n";

#[test]
fn a_messy_gbk_export_imports_with_every_row_accounted_for() {
    let env = Env::new("");
    let file = env.path("gongdan.csv");
    std::fs::write(&file, gbk(MESSY)).unwrap();
    let reports = env.json(&["import", "--source", "rexian", file.to_str().unwrap()]);
    let r = &reports[0];
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!((r["rows"].as_u64(), r["new"].as_u64(), r["quarantined"].as_u64()), (Some(6), Some(4), Some(2)), "{r}");
    assert_eq!(r["unknown_units"]["县供电所"], 1, "{r}");

    let q = env.json(&["quarantine", "--source", "rexian"]);
    let q: Vec<(u64, String, String)> = q
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(q.len(), 2);
    assert!(q.contains(&(7, "工单编号".into(), govwatch::sources::export::EMPTY_NUMBER.into())), "{q:?}");
    assert!(q.iter().any(|(row, col, reason)| *row == 8 && col == "来电时间" && reason.contains("明天上午")), "{q:?}");
    let o = env.run(&["quarantine"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("第 8 行  「来电时间」列"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // Units by name and alias; unknown names go to the source's unit.
    let store = env.store();
    let items: HashMap<String, govwatch::model::Item> = store
        .items_after_rev(0, 100)
        .unwrap()
        .into_iter()
        .map(|r| (r.item.case.as_ref().unwrap().number.clone(), r.item))
        .collect();
    assert_eq!(items["GD0001"].unit, "jiaoyuju");
    assert_eq!(items["GD0002"].unit, "zhujianju");
    assert_eq!(items["GD0003"].unit, "rexian");
    assert_eq!(items["GD0001"].text, "咨询学校开学时间", "full-width space trimmed");
    assert_eq!(
        items["GD0002"].case.as_ref().unwrap().received_at.unwrap().at.to_rfc3339(),
        "2026-09-24T10:00:00+08:00",
        "Excel serial"
    );
    assert_eq!(
        items["GD0003"].case.as_ref().unwrap().received_at.unwrap().at.to_rfc3339(),
        "2026-09-24T00:00:00+08:00"
    );

    // Searchable like anything else, as kind hotline.
    let hits = env.json(&["search", "停水", "--kind", "hotline"]);
    assert_eq!(hits[0]["title"], "小区停水三天无人处理");
    assert_eq!(hits[0]["kind"], "hotline");
    let hits = env.json(&["search", "GD0006"]);
    assert_eq!(hits.as_array().unwrap().len(), 1, "found by its order number");

    // The same file again changes nothing; a newer export updates in place.
    let again = env.json(&["import", "--source", "rexian", file.to_str().unwrap()]);
    assert_eq!(
        (again[0]["new"].as_u64(), again[0]["updated"].as_u64(), again[0]["unchanged"].as_u64()),
        (Some(0), Some(0), Some(4))
    );
    let newer = MESSY.replace(
        "GD0002,46289.4166666667,投诉,\t小区停水三天无人处理,县住建局,,处理中,",
        "GD0002,46289.4166666667,投诉,\t小区停水三天无人处理,县住建局,2026-10-10 11:00,已办结,",
    );
    std::fs::write(&file, gbk(&newer)).unwrap();
    let upd = env.json(&["import", "--source", "rexian", file.to_str().unwrap()]);
    assert_eq!(
        (upd[0]["new"].as_u64(), upd[0]["updated"].as_u64(), upd[0]["unchanged"].as_u64()),
        (Some(0), Some(1), Some(3))
    );
    let store = env.store();
    assert_eq!(store.count_items().unwrap(), 4);
    assert_eq!(store.quarantined(Some("rexian")).unwrap().len(), 2, "quarantine entries are not doubled");
}

/// Deadlines replayed at two moments around the 2026 中秋 and 国庆 holidays,
/// checked by hand against the 国务院办公厅 notice: 中秋 09-25..27, 国庆
/// 10-01..07, Sunday 09-20 and Saturday 10-10 working days.
#[test]
fn findings_replayed_across_a_holiday_match_a_hand_checked_example() {
    let env = Env::new("");
    let csv = "工单编号,来电时间,诉求类型,诉求内容,承办单位,办理时限,办结时间,紧急程度\n\
A,2026-09-24 10:00,咨询,咨询事项,县住建局,,,\n\
B,2026-09-24 10:00,投诉,投诉事项,县住建局,,,\n\
C,2026-09-24 10:00,求助,求助事项,县住建局,,,\n\
D,2026-09-24 10:00,咨询,按时办结,县住建局,,2026-09-28 15:00,\n\
E,2026-10-09 08:00,求助,紧急事项,县住建局,,,紧急\n\
F,2026-09-24 10:00,咨询,自带时限,县住建局,2026-10-12,,\n";
    let file = env.path("a.csv");
    std::fs::write(&file, csv).unwrap();
    assert!(env.run(&["import", "--source", "rexian", file.to_str().unwrap()]).status.success());

    let at = |now: &str| -> Vec<(String, String, i64, String)> {
        let v = env.json(&["findings", "--now", now]);
        let mut out: Vec<(String, String, i64, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                for key in ["fingerprint", "rule", "state", "item_id", "unit", "deadline", "overdue_working_days"] {
                    assert!(f.get(key).is_some(), "missing {key}: {f}");
                }
                (
                    f["number"].as_str().unwrap().to_string(),
                    f["state"].as_str().unwrap().to_string(),
                    f["overdue_working_days"].as_i64().unwrap(),
                    f["deadline"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    };
    let s = |n: &str, st: &str, d: i64, dl: &str| (n.to_string(), st.to_string(), d, dl.to_string());
    // 9 October, 09:00: A (咨询 2 days: 09-28, 09-29) is 3 working days late
    // (09-30, 10-08, 10-09); D was closed on time inside its warning window;
    // B (投诉 15 days → 10-22), C (求助 10 → 10-15), E (24 h) and F (10-12)
    // are not due soon yet.
    assert_eq!(
        at("2026-10-09 09:00"),
        vec![s("A", "overdue", 3, "2026-09-29T23:59:59+08:00"), s("D", "resolved", 0, "2026-09-29T23:59:59+08:00"),]
    );
    // 10 October (a Saturday made a working day), 09:00: A is 4 days late; E
    // passed its 24 hours an hour ago; F is due soon (its warning starts on
    // the working day before 10-12, which is this Saturday).
    assert_eq!(
        at("2026-10-10 09:00"),
        vec![
            s("A", "overdue", 4, "2026-09-29T23:59:59+08:00"),
            s("D", "resolved", 0, "2026-09-29T23:59:59+08:00"),
            s("E", "overdue", 0, "2026-10-10T08:00:00+08:00"),
            s("F", "due_soon", 0, "2026-10-12T23:59:59+08:00"),
        ]
    );
    // 14 October: C's deadline is 10-15, so it is due soon.
    assert!(at("2026-10-14 09:00").contains(&s("C", "due_soon", 0, "2026-10-15T23:59:59+08:00")));

    // Filters, and the people's view.
    let v = env.json(&["findings", "--now", "2026-10-10 09:00", "--state", "overdue", "--rule", "hotline_deadline"]);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let o = env.run(&["findings", "--now", "2026-10-10 09:00", "--unit", "zhujianju"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("已超期 2 条 · 即将到期 1 条 · 已办结 1 条"), "{text}");
    assert!(
        text.contains(
            "[已超期] 热线工单办理时限 · 县住房和城乡建设局 · 编号 A · 截止 2026-09-29 23:59 · 超期 4 个工作日"
        ),
        "{text}"
    );
    let o = env.run(&["findings", "--state", "late"]);
    assert_eq!(o.status.code(), Some(2), "a bad --state is a usage error");
}

#[test]
fn real_time_findings_are_recorded_with_their_history() {
    let env = Env::new("");
    // An order of January, imported now: not history for this test (the
    // default horizon is 30 days before the first import).
    let cfg = std::fs::read_to_string(&env.cfg).unwrap();
    std::fs::write(&env.cfg, cfg.replacen("role = \"hotline\"", "role = \"hotline\"\nhistory_days = 36500", 1))
        .unwrap();
    let file = env.path("a.csv");
    // The export can say when an order was closed (an empty 办结时间: still open).
    std::fs::write(&file, "工单编号,来电时间,诉求类型,承办单位,办结时间\nX1,2026-01-05 10:00,咨询,县住建局,\n")
        .unwrap();
    env.run(&["import", "--source", "rexian", file.to_str().unwrap()]);
    let first = env.json(&["findings"]);
    assert_eq!(first[0]["state"], "overdue");
    let seen = first[0]["first_seen_at"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let second = env.json(&["findings"]);
    assert_eq!(second[0]["first_seen_at"].as_str().unwrap(), seen, "first seen stays");
    assert_eq!(second[0]["fingerprint"], first[0]["fingerprint"], "stable fingerprint");
    // The order is closed in a newer export: the finding resolves by itself.
    std::fs::write(
        &file,
        "工单编号,来电时间,诉求类型,承办单位,办结时间\nX1,2026-01-05 10:00,咨询,县住建局,2026-01-09 10:00\n",
    )
    .unwrap();
    env.run(&["import", "--source", "rexian", file.to_str().unwrap()]);
    let third = env.json(&["findings"]);
    assert_eq!((third[0]["state"].as_str(), third[0]["late"].as_bool()), (Some("resolved"), Some(true)));
    assert_ne!(third[0]["state_changed_at"], second[0]["state_changed_at"]);
}

#[test]
fn an_xlsx_export_with_excel_dates() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let env = Env::new("");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    ws.write(0, 0, "2026年10月 政民互动留言").unwrap();
    for (c, h) in ["留言编号", "留言主题", "留言时间", "留言详情", "答复意见", "答复时间"].iter().enumerate()
    {
        ws.write(2, c as u16, *h).unwrap();
    }
    ws.write(3, 0, 90001).unwrap();
    ws.write(3, 1, "学校门口交通拥堵").unwrap();
    ws.write_datetime_with_format(3, 2, ExcelDateTime::parse_from_str("2026-09-24 10:00:00").unwrap(), &date).unwrap();
    ws.write(3, 3, "每天放学时段拥堵严重").unwrap();
    ws.write(3, 4, "已协调交警部门").unwrap();
    ws.write_datetime_with_format(3, 5, ExcelDateTime::parse_from_str("2026-10-10 16:00:00").unwrap(), &date).unwrap();
    ws.write(4, 0, 90002).unwrap();
    ws.write(4, 1, "日期坏了").unwrap();
    ws.write(4, 2, "不是日期").unwrap();
    let file = env.path("liuyan.xlsx");
    wb.save(&file).unwrap();
    let r = env.json(&["import", "--source", "liuyan", file.to_str().unwrap()]);
    assert_eq!(
        (r[0]["rows"].as_u64(), r[0]["new"].as_u64(), r[0]["quarantined"].as_u64()),
        (Some(2), Some(1), Some(1)),
        "{r}"
    );
    let f = env.json(&["findings", "--now", "2026-11-01 09:00"]);
    let reply = f.as_array().unwrap().iter().find(|f| f["rule"] == "message_reply").unwrap();
    // Received Thursday 09-24; 5 working days: 09-28, 09-29, 09-30, 10-08, 10-09.
    // Answered Saturday 10-10 (a working day): one working day late, 6 working days after receipt.
    assert_eq!(reply["deadline"], "2026-10-09T23:59:59+08:00");
    assert_eq!(
        (reply["late"].as_bool(), reply["overdue_working_days"].as_i64(), reply["reply_working_days"].as_i64()),
        (Some(true), Some(1), Some(6))
    );
    assert_eq!(reply["number"], "90001", "a numeric cell reads as a number without .0");
}

/// The competition's real message-board files: every row is an item or a
/// quarantine entry, CSV copies and XLSX originals agree, and reply delays
/// come out in working days.
#[test]
fn the_tipdm_message_files_import_with_no_row_lost() {
    let Some(dir) = support::shared("data/hotline/tipdm2020-zhihuizhengwu") else { return };
    let env = Env::new("");
    let mut expected_numbers = BTreeSet::new();
    for name in ["attach2_messages_labelled.csv", "attach3_messages_votes.csv", "attach4_messages_replies.csv"] {
        let path = dir.join(name);
        // Counted independently with the csv crate: data records with anything in them.
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_path(&path).unwrap();
        let mut records = 0;
        for rec in rdr.records() {
            let rec = rec.unwrap();
            if rec.iter().any(|f| !f.trim().is_empty()) {
                records += 1;
                expected_numbers.insert(rec[0].trim().to_string());
            }
        }
        let r = env.json(&["import", "--source", "liuyan", path.to_str().unwrap()]);
        let r = &r[0];
        assert_eq!(r["error"], Value::Null, "{name}: {r}");
        assert_eq!(r["rows"].as_u64().unwrap(), records, "{name}: rows read");
        let accounted = ["new", "updated", "unchanged", "quarantined", "superseded"]
            .iter()
            .map(|k| r[k].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(accounted, records, "{name}: every row stored or quarantined");
    }
    let store = env.store();
    let quarantined = store.quarantined(Some("liuyan")).unwrap().len();
    assert_eq!(
        store.count_items().unwrap() as usize + quarantined,
        expected_numbers.len(),
        "one item per message number"
    );
    // The XLSX originals say the same.
    for name in ["附件2.xlsx", "附件3.xlsx", "附件4.xlsx"] {
        let r = env.json(&["import", "--source", "liuyan", dir.join(name).to_str().unwrap()]);
        assert_eq!((r[0]["new"].as_u64(), r[0]["updated"].as_u64()), (Some(0), Some(0)), "{name}: {}", r[0]);
    }
    // Message 2549: left 2019-04-25 09:32, answered 2019-05-10. Working days
    // between, by the 2019 notice (劳动节 05-01..04; Sundays 04-28 and 05-05
    // worked): 04-26, 04-28, 04-29, 04-30, 05-05, 05-06, 05-07, 05-08, 05-09,
    // 05-10 = 10; the 5-day deadline fell on 05-05, so 5 working days late.
    let f = env.json(&["findings", "--rule", "message_reply"]);
    let m = f.as_array().unwrap().iter().find(|f| f["number"] == "2549").expect("message 2549");
    assert_eq!(
        (m["reply_working_days"].as_i64(), m["overdue_working_days"].as_i64(), m["late"].as_bool()),
        (Some(10), Some(5), Some(true))
    );
    assert_eq!(m["deadline"], "2019-05-05T23:59:59+08:00");
}

/// A CSV big enough that `kill -9` lands in the middle of the import.
fn big_csv(path: &Path, rows: usize) {
    let mut s = String::from("工单编号,来电时间,诉求类型,诉求内容,承办单位\n");
    for i in 0..rows {
        s.push_str(&format!(
            "K{i:07},2026-03-{:02} 09:{:02},咨询,第{i}号工单的诉求内容，反映小区停水停电问题,县住建局\n",
            i % 28 + 1,
            i % 60
        ));
    }
    std::fs::write(path, s).unwrap();
}

#[cfg(unix)]
#[test]
fn an_import_killed_half_way_and_run_again_leaves_one_item_per_number() {
    let env = Env::new("");
    let file = env.path("big.csv");
    let n = 100_000;
    big_csv(&file, n);
    let mut child = Command::new(support::bin())
        .args(["import", "--source", "rexian", file.to_str().unwrap(), "--config", env.cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = Store::open(&env.path("var")).ok().and_then(|s| s.count_items().ok()).unwrap_or(0);
        if stored > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the import stored nothing within a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = env.store().count_items().unwrap() as usize;
    assert!(partial > 0 && partial < n, "killed half-way: {partial} of {n} stored");
    let r = env.json(&["import", "--source", "rexian", file.to_str().unwrap()]);
    assert_eq!((r[0]["rows"].as_u64(), r[0]["quarantined"].as_u64()), (Some(n as u64), Some(0)));
    assert_eq!(r[0]["new"].as_u64().unwrap() as usize + r[0]["unchanged"].as_u64().unwrap() as usize, n);
    let store = env.store();
    assert_eq!(store.count_items().unwrap() as usize, n);
    let hits = env.json(&["search", "K0099999"]);
    assert_eq!(hits.as_array().unwrap().len(), 1, "the index agrees with the store");
}

#[test]
fn the_drop_folder_is_read_once_per_file_version() {
    let env = Env::new("");
    let file = env.path("drop/2026-10.csv");
    std::fs::write(&file, "工单编号,来电时间,诉求类型,承办单位\nP1,2026-10-09 08:00,咨询,县住建局\n").unwrap();
    // A file still being copied is left for later.
    let o = env.json(&["poll", "--source", "rexian"]);
    assert_eq!(o[0]["status"], "not_modified", "{o}");
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(old).unwrap();
    let o = env.json(&["poll", "--source", "rexian"]);
    assert_eq!((o[0]["status"].as_str(), o[0]["new"].as_u64()), (Some("ok"), Some(1)), "{o}");
    let o = env.json(&["poll", "--source", "rexian"]);
    assert_eq!(o[0]["status"], "not_modified", "imported files are not read again: {o}");
    // A broken file is an error on the source, and nothing is lost.
    std::fs::write(env.path("drop/broken.csv"), "这不是工单表\n随便写的\n").unwrap();
    std::fs::File::options().write(true).open(env.path("drop/broken.csv")).unwrap().set_modified(old).unwrap();
    let o = env.run(&["poll", "--source", "rexian", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v[0]["error"].as_str().unwrap().contains("找不到表头"), "{v}");
}

#[test]
fn opinion_items_become_the_units_to_answer_until_responded() {
    let dir = tempfile::tempdir().unwrap();
    let news = dir.path().join("news.xml");
    let portal = dir.path().join("portal.xml");
    std::fs::write(
        &news,
        support::rss(
            "本地论坛",
            &[
                (
                    "某学校食堂疑似食物中毒，家长担忧".into(),
                    "http://bbs.example/1".into(),
                    "多名学生身体不适".into(),
                    "2026-11-01 08:00:00".into(),
                ),
                (
                    "县教育局招生政策引家长关切".into(),
                    "http://bbs.example/2".into(),
                    "".into(),
                    "2026-11-02 08:00:00".into(),
                ),
                ("菜市场改造进展如何".into(), "http://bbs.example/3".into(), "".into(), "2026-11-02 09:00:00".into()),
            ],
        ),
    )
    .unwrap();
    std::fs::write(
        &portal,
        support::rss(
            "县政府门户",
            &[(
                "关于网民反映招生政策问题的回应".into(),
                "http://x.gov.cn/hy/1".into(),
                "针对网民在论坛发帖“县教育局招生政策引家长关切”，现回应如下".into(),
                "2026-11-04 05:00:00".into(),
            )],
        ),
    )
    .unwrap();
    let extra = format!(
        "{}{}",
        support::source("luntan", "feed", news.to_str().unwrap(), "")
            .replace("role = \"portal\"", "role = \"opinion\"")
            .replace("unit = \"bangongshi\"", "unit = \"rexian\""),
        support::source("menhu", "feed", portal.to_str().unwrap(), "")
            .replace("unit = \"bangongshi\"", "unit = \"jiaoyuju\"")
    );
    let env = Env::new(&extra);
    assert!(env.run(&["poll"]).status.success());
    let f = env.json(&["findings", "--rule", "opinion_response", "--now", "2026-11-05 09:00"]);
    let f = f.as_array().unwrap();
    assert_eq!(f.len(), 2, "{f:#?}");
    let major = f.iter().find(|x| x["title"].as_str().unwrap().contains("食物中毒")).unwrap();
    assert_eq!((major["state"].as_str(), major["unit"].as_str()), (Some("overdue"), Some("jiaoyuju")));
    assert_eq!(major["deadline"], "2026-11-02T08:00:00+08:00", "major: 24 hours");
    assert!(major["basis"].as_str().unwrap().contains("“食物中毒”（重大）"));
    let answered = f.iter().find(|x| x["title"].as_str().unwrap().contains("招生")).unwrap();
    assert_eq!(
        (answered["state"].as_str(), answered["late"].as_bool()),
        (Some("resolved"), Some(false)),
        "the portal answered it"
    );
    // A duty officer records the response to the major one.
    let id = major["item_id"].as_str().unwrap().to_string();
    let o = env.run(&["respond", &id, "--note", "已联系学校核实并发布情况说明"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = env.json(&["findings", "--rule", "opinion_response"]);
    let major = f.as_array().unwrap().iter().find(|x| x["item_id"] == id.as_str()).unwrap();
    assert_eq!((major["state"].as_str(), major["late"].as_bool()), (Some("resolved"), Some(true)));
}

#[test]
fn config_check_names_a_misspelt_column_field() {
    let env = Env::new("[sources.columns]\nnumbr = \"受理编号\"\n");
    let o = env.run(&["config", "check"]);
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("sources[1].columns.numbr：未知的字段（是否想写 \"number\"？）"), "{out}");
}

#[test]
fn a_number_repeated_in_one_file_keeps_its_last_row_and_imports_stably() {
    let env = Env::new("");
    let file = env.path("dup.csv");
    std::fs::write(
        &file,
        "工单编号,来电时间,诉求类型,状态\nR1,2026-10-09 08:00,咨询,处理中\nR2,2026-10-09 09:00,咨询,处理中\nR1,2026-10-09 08:00,咨询,已办结\n",
    )
    .unwrap();
    for round in 0..2 {
        let r = env.json(&["import", "--source", "rexian", file.to_str().unwrap()]);
        assert_eq!((r[0]["rows"].as_u64(), r[0]["superseded"].as_u64()), (Some(3), Some(1)), "{}", r[0]);
        let changed = r[0]["new"].as_u64().unwrap() + r[0]["updated"].as_u64().unwrap();
        assert_eq!(changed, if round == 0 { 2 } else { 0 }, "round {round}: {}", r[0]);
    }
    let items = env.store().items_after_rev(0, 10).unwrap();
    let r1 = items.iter().find(|r| r.item.case.as_ref().unwrap().number == "R1").unwrap();
    assert_eq!(r1.item.case.as_ref().unwrap().status.as_deref(), Some("已办结"), "the later row wins");
}
