//! The working-day calendar against the official schedules: every date of
//! 2007–2026, through the library and through `govwatch calendar`.

use std::collections::HashMap;
use std::process::Command;

use chrono::{Datelike, NaiveDate, Weekday};
use govwatch::calendar::{Calendar, notice};

use crate::support;

/// Every date the notices list, merged across the yearly files (a December
/// date can sit in the next year's file), off = true.
fn official_days() -> Option<HashMap<NaiveDate, bool>> {
    let dir = support::shared("data/holiday-cn")?;
    let mut days = HashMap::new();
    for year in 2007..=2026 {
        let text = std::fs::read_to_string(dir.join(format!("{year}.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for d in v["days"].as_array().unwrap() {
            let date = NaiveDate::parse_from_str(d["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            days.insert(date, d["isOffDay"].as_bool().unwrap());
        }
    }
    Some(days)
}

fn expected_workday(days: &HashMap<NaiveDate, bool>, d: NaiveDate) -> bool {
    match days.get(&d) {
        Some(off) => !off,
        None => !matches!(d.weekday(), Weekday::Sat | Weekday::Sun),
    }
}

#[test]
fn every_date_of_2007_to_2026_agrees_with_the_notices() {
    let Some(days) = official_days() else { return };
    let cal = Calendar::official();
    let start = NaiveDate::from_ymd_opt(2007, 1, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
    let mut d = start;
    let mut checked = 0;
    let mut adjusted_saturdays = 0;
    while d <= end {
        let want = expected_workday(&days, d);
        assert_eq!(cal.is_workday(d), want, "{d} ({:?})", d.weekday());
        if want && d.weekday() == Weekday::Sat {
            adjusted_saturdays += 1;
        }
        // The N-th working day after d, counted by hand from the notices.
        let mut by_hand = d;
        for n in 1..=20 {
            by_hand = by_hand.succ_opt().unwrap();
            while !expected_workday(&days, by_hand) {
                by_hand = by_hand.succ_opt().unwrap();
            }
            if by_hand.year() <= 2026 {
                assert_eq!(cal.add_working_days(d, n), by_hand, "{d} + {n} working days");
                assert_eq!(cal.working_days_between(d, by_hand), n as i64);
            }
        }
        checked += 1;
        d = d.succ_opt().unwrap();
    }
    assert_eq!(checked, 7305);
    assert!(adjusted_saturdays > 30, "调休 Saturdays are working days ({adjusted_saturdays})");
    for y in 2007..=2026 {
        assert!(cal.covers(y), "{y}");
    }
}

#[test]
fn the_cli_answers_for_people_and_checks() {
    let run = |args: &[&str]| {
        let o = Command::new(support::bin())
            .args(args)
            .current_dir(std::env::temp_dir())
            .env_remove("GOVWATCH_CONFIG")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // 2020: the amended notice extended 春节 to 2 February; 2020-01-19 (Sunday) was a working day.
    assert_eq!(run(&["calendar", "is-workday", "2020-01-19"]).1, "true");
    assert_eq!(run(&["calendar", "is-workday", "2020-02-01"]).1, "false");
    assert_eq!(run(&["calendar", "add", "2020-01-22", "1"]).1, "2020-01-23");
    assert_eq!(run(&["calendar", "add", "2020-01-22", "2"]).1, "2020-02-03");
    // 2015: 9月3日 was added by an amended notice; Sunday 9月6日 worked.
    assert_eq!(run(&["calendar", "add", "2015-09-02", "1"]).1, "2015-09-06");
    let (code, out, err) = run(&["calendar", "add", "2026-12-30", "3"]);
    assert_eq!((code, out.as_str()), (Some(0), "2027-01-04"));
    assert!(err.contains("警告：尚未收录 2027 年的国务院办公厅节假日安排"), "{err}");
    assert_eq!(err.matches("2027 年").count(), 1, "the year is named once: {err}");
    let (code, _, err) = run(&["calendar", "is-workday", "2026-02-30"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("不是日期：\"2026-02-30\""), "{err}");
}

#[test]
fn a_configured_schedule_file_adds_a_year() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("h2027.txt"), "2027 元旦 off 2027-01-01 work 2027-01-02\n").unwrap();
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "[calendar]\nfiles = [\"{}\"]\n[[calendar.days]]\ndate = \"2026-12-31\"\noff = true\nname = \"本地\"\n{}",
            dir.path().join("h2027.txt").display(),
            support::UNITS
        ),
    )
    .unwrap();
    let o = Command::new(support::bin())
        .args(["calendar", "add", "2026-12-30", "2", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2027-01-04", "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("尚未收录"));
    std::fs::write(dir.path().join("h2027.txt"), "2027 元旦 of 2027-01-01\n").unwrap();
    let o = Command::new(support::bin()).args(["config", "check", "--config", cfg.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("calendar.files[0]"), "{}", String::from_utf8_lossy(&o.stdout));
}

/// A notice of `tests/data/holiday-notices/` (see its README for sources).
fn notice_text(name: &str) -> String {
    std::fs::read_to_string(support::repo().join("tests/data/holiday-notices").join(format!("{name}.txt"))).unwrap()
}

/// The days of `year` on which two calendars disagree.
fn disagreements(a: &Calendar, b: &Calendar, year: i32) -> Vec<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
    first.iter_days().take_while(|d| d.year() == year).filter(|d| a.is_workday(*d) != b.is_workday(*d)).collect()
}

/// Reads `name` as a notice amending `base` (or as a whole year) into a copy of `base`.
fn read_notice(base: &Calendar, name: &str) -> (Calendar, notice::Notice) {
    let n = notice::parse(&notice_text(name), None, base).unwrap_or_else(|e| panic!("{name}: {e:#?}"));
    let mut cal = base.clone();
    cal.add_schedule(&n.schedule_lines(), name).unwrap();
    (cal, n)
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn the_notices_of_2015_2020_and_2026_read_into_the_built_in_days() {
    let official = Calendar::official();
    let none = Calendar::weekdays_only();

    // 2015: the December 2014 notice, then the May 2015 one adding 9月3日 (it
    // has no holiday headings, so it amends the year instead of replacing it).
    let (c2015, n) = read_notice(&none, "2015");
    assert_eq!((n.year, n.amends, n.holidays.len()), (2015, false, 7));
    assert_eq!(disagreements(&c2015, &official, 2015), [ymd(2015, 9, 3), ymd(2015, 9, 4), ymd(2015, 9, 6)]);
    let (c2015, n) = read_notice(&c2015, "2015-amended");
    assert!(n.amends);
    assert_eq!(
        n.schedule_lines(),
        "2015 中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日 off 2015-09-03..2015-09-05 work 2015-09-06\n"
    );
    assert_eq!(disagreements(&c2015, &official, 2015), []);

    // 2020: the notice, then the January 2020 extension of 春节 to 2月2日,
    // which also turned the working Saturday 2月1日 into a day off.
    let (c2020, n) = read_notice(&none, "2020");
    assert_eq!((n.year, n.holidays.len()), (2020, 6));
    assert_eq!(disagreements(&c2020, &official, 2020), [ymd(2020, 1, 31), ymd(2020, 2, 1)]);
    let (c2020, n) = read_notice(&c2020, "2020-amended");
    assert_eq!(n.schedule_lines(), "2020 春节 off 2020-01-31..2020-02-02\n");
    assert_eq!(disagreements(&c2020, &official, 2020), []);
    // Against a calendar that already has the extension, there is nothing to add.
    let n = notice::parse(&notice_text("2020-amended"), None, &official).unwrap();
    assert!(n.holidays.is_empty() && n.notes.len() == 1, "{n:?}");
    // The same notice as a page mangled it (traditional characters, pinyin after each
    // character, ASCII punctuation, a dateline) reads the same.
    let mangled = notice::parse(&notice_text("2020-traditional-pinyin"), None, &none).unwrap();
    assert_eq!(mangled.schedule_lines(), notice::parse(&notice_text("2020"), None, &none).unwrap().schedule_lines());

    // 2007, the first wording: weekends moved (调至) and days without a month.
    let (c2007, n) = read_notice(&none, "2007");
    assert_eq!((n.year, n.holidays.len()), (2007, 4));
    // (The built-in days of late December 2007 are the 2008 notice's 元旦.)
    assert_eq!(disagreements(&c2007, &official, 2007), [ymd(2007, 12, 29), ymd(2007, 12, 31)]);
    assert!(!c2007.is_workday(ymd(2007, 1, 2)) && c2007.is_workday(ymd(2006, 12, 30)));

    // 2026, the wording with weekdays and lunar dates.
    let (c2026, n) = read_notice(&none, "2026");
    assert_eq!((n.year, n.holidays.len()), (2026, 7));
    assert_eq!(disagreements(&c2026, &official, 2026), []);

    // And the days the notices list in the shared data, where it is present.
    let Some(dir) = support::shared("data/holiday-cn") else { return };
    for (year, cal) in [(2015, &c2015), (2020, &c2020), (2026, &c2026)] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{year}.json"))).unwrap()).unwrap();
        for d in v["days"].as_array().unwrap() {
            let date = NaiveDate::parse_from_str(d["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            assert_eq!(cal.is_workday(date), !d["isOffDay"].as_bool().unwrap(), "{year}: {date}");
        }
    }
}

#[test]
fn calendar_notice_writes_the_configured_file_and_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("holidays.txt");
    let cfg = dir.path().join("g.toml");
    std::fs::write(&cfg, format!("[calendar]\nfiles = [\"{}\"]\n{}", file.display(), support::UNITS)).unwrap();
    let notices = support::repo().join("tests/data/holiday-notices");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(support::bin());
        cmd.args(args).arg("--config").arg(&cfg).current_dir(&notices).env_remove("GOVWATCH_CONFIG");
        let o = match stdin {
            None => cmd.output().unwrap(),
            Some(text) => {
                use std::io::Write;
                let mut child = cmd
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
                child.wait_with_output().unwrap()
            }
        };
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let workday = |d: &str| run(&["calendar", "is-workday", d], None).1.trim().to_string();

    // A file named before it exists is a warning, not an error.
    let (code, out, _) = run(&["config", "check"], None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("calendar.files[0]") && out.contains("尚不存在"), "{out}");

    let (code, out, err) = run(&["calendar", "notice", "2020.txt"], None);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("读入 2020 年的放假安排（2020.txt）："), "{out}");
    assert!(out.contains("春节：放假 2020-01-24（星期五） 至 2020-01-30（星期四），共 7 天；调休上班 2020-01-19（星期日）、2020-02-01（星期六）"), "{out}");
    assert!(out.contains("（新增 2020 年的安排）"), "{out}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().filter(|l| l.starts_with("2020 ")).count(), 6, "{written}");
    // The file's days override the built-in ones: the Saturday the first notice made a working day.
    assert_eq!(workday("2020-02-01"), "true");

    // The extension amends; without --amend it would have replaced the year, so it is refused.
    let (code, _, err) = run(&["calendar", "notice", "2020-amended.txt"], None);
    assert_eq!(code, Some(1));
    assert!(err.contains("--amend"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written, "nothing written");
    let (code, out, err) = run(&["calendar", "notice", "2020-amended.txt", "--amend"], None);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("春节：放假 2020-01-31（星期五） 至 2020-02-02（星期日），共 3 天"), "{out}");
    assert_eq!((workday("2020-01-31"), workday("2020-02-01")), ("false".into(), "false".into()));

    // Reading the year's notice again replaces the year, amendment included.
    let (code, out, _) = run(&["calendar", "notice", "2020.txt"], None);
    assert_eq!(code, Some(0));
    assert!(out.contains("替换了其中 2020 年原有的安排"), "{out}");
    assert_eq!(workday("2020-02-01"), "true");

    // A notice read for the wrong year is refused, naming the sentence and the year that fits.
    let before = std::fs::read_to_string(&file).unwrap();
    let (code, _, err) = run(&["calendar", "notice", "2026.txt", "--year", "2027"], None);
    assert_eq!(code, Some(1));
    assert!(err.contains("「1月1日（周四）至3日（周六）放假调休，共3天」"), "{err}");
    assert!(err.contains("与 2026 年的日历相符"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before, "nothing written");

    // From standard input, trying only.
    let (code, out, _) = run(&["calendar", "notice", "-", "--dry-run"], Some(&notice_text("2026")));
    assert_eq!(code, Some(0));
    assert!(out.contains("读入 2026 年的放假安排（标准输入）") && out.contains("（试读，未写入）"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // Without a file in the configuration there is nowhere to write.
    std::fs::write(&cfg, support::UNITS).unwrap();
    let (code, out, err) = run(&["calendar", "notice", "2026.txt"], None);
    assert_eq!(code, Some(2));
    assert!(err.contains("[calendar]") && err.contains("--into"), "{err}");
    assert_eq!(out, "", "said before anything else");
}
