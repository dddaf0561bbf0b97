//! The working-day calendar against the official schedules: every date of
//! 2007–2026, through the library and through `govwatch calendar`.

use std::collections::HashMap;
use std::process::Command;

use chrono::{Datelike, NaiveDate, Weekday};
use govwatch::calendar::Calendar;

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
