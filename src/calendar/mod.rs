//! Working days of the official Mainland China calendar. Pure: no clock, no IO.
//!
//! Statutory holidays are off; weekend days that the 国务院办公厅 notice makes
//! working days (调休) work; every other Monday–Friday works. The schedules for
//! 2007–2026 ship in `cn_official.txt`, written from the notices (one block per
//! notice year, amended notices included). An administrator adds a year (a
//! file in the same format) or a local change (a day) in the configuration.
//! A year with no schedule falls back to Monday–Friday, and callers are told
//! (see [`Calendar::uncovered_years`]) so that they can warn loudly.
//!
//! Deadlines of "N working days" count from the day after receipt:
//! [`Calendar::add_working_days`] gives the N-th working day strictly after a
//! date.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

pub mod notice;

use chrono::{Datelike, NaiveDate, Weekday};

/// The schedules that ship with govwatch.
pub const OFFICIAL: &str = include_str!("cn_official.txt");

/// First and last day of the fast lookup table; dates outside it are still
/// answered, only more slowly.
const TABLE_FROM: (i32, u32, u32) = (2000, 1, 1);
const TABLE_YEARS: i32 = 101;

/// A day that is not what its weekday says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub off: bool,
    /// The holiday it belongs to (春节, 国庆节, or a local reason).
    pub name: String,
}

/// A problem in a schedule file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.origin, self.line, self.message)
    }
}

#[derive(Debug, Clone)]
pub struct Calendar {
    exceptions: HashMap<NaiveDate, Exception>,
    /// The notice year of each day that came from the built-in table: a
    /// schedule file naming that year replaces them all.
    builtin: HashMap<NaiveDate, i32>,
    /// Years whose schedule is known (from a schedule block of that year).
    covered: BTreeSet<i32>,
    /// Day index from TABLE_FROM → working days in [TABLE_FROM, day].
    cumulative: Vec<u32>,
    table_start: NaiveDate,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::official()
    }
}

fn weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

impl Calendar {
    /// Monday–Friday only, no schedules (tests and building blocks).
    pub fn weekdays_only() -> Calendar {
        let mut c = Calendar {
            exceptions: HashMap::new(),
            builtin: HashMap::new(),
            covered: BTreeSet::new(),
            cumulative: Vec::new(),
            table_start: NaiveDate::from_ymd_opt(TABLE_FROM.0, TABLE_FROM.1, TABLE_FROM.2).expect("valid date"),
        };
        c.rebuild();
        c
    }

    /// The official schedules that ship with govwatch.
    pub fn official() -> Calendar {
        let mut c = Calendar::weekdays_only();
        c.add_schedule(OFFICIAL, "built-in schedule").expect("the built-in schedule parses (tested)");
        c.builtin = parse_schedule(OFFICIAL, "")
            .map(|(e, _)| e.into_iter().map(|(d, _, y)| (d, y)).collect())
            .unwrap_or_default();
        c
    }

    /// Adds a schedule in the built-in format; the years it names become
    /// covered, and a year it names replaces that year of the built-in table
    /// (a notice read again, corrected, or amended in the same file is the
    /// whole truth for its year). Its days override those of schedules added
    /// before. Reports every bad line.
    pub fn add_schedule(&mut self, text: &str, origin: &str) -> Result<(), Vec<ScheduleError>> {
        let (entries, years) = parse_schedule(text, origin)?;
        let replaced: Vec<NaiveDate> =
            self.builtin.iter().filter(|(_, y)| years.contains(y)).map(|(d, _)| *d).collect();
        for d in replaced {
            self.builtin.remove(&d);
            self.exceptions.remove(&d);
        }
        for (d, e, _) in entries {
            self.exceptions.insert(d, e);
        }
        self.covered.extend(years);
        self.rebuild();
        Ok(())
    }

    /// A local change: `date` is off (or a working day) whatever the schedule says.
    pub fn set_day(&mut self, date: NaiveDate, off: bool, name: &str) {
        self.builtin.remove(&date);
        self.exceptions.insert(date, Exception { off, name: name.to_string() });
        self.rebuild();
    }

    fn rebuild(&mut self) {
        let days = (TABLE_YEARS as f64 * 365.25) as usize;
        let mut cum = Vec::with_capacity(days);
        let mut n = 0u32;
        for i in 0..days {
            let d = self.table_start + chrono::Duration::days(i as i64);
            if self.is_workday_slow(d) {
                n += 1;
            }
            cum.push(n);
        }
        self.cumulative = cum;
    }

    fn index(&self, d: NaiveDate) -> Option<usize> {
        let i = (d - self.table_start).num_days();
        (i >= 0 && (i as usize) < self.cumulative.len()).then_some(i as usize)
    }

    fn is_workday_slow(&self, d: NaiveDate) -> bool {
        match self.exceptions.get(&d) {
            Some(e) => !e.off,
            None => !weekend(d),
        }
    }

    /// Whether `d` is a working day.
    pub fn is_workday(&self, d: NaiveDate) -> bool {
        match self.index(d) {
            Some(0) => self.cumulative[0] == 1,
            Some(i) => self.cumulative[i] != self.cumulative[i - 1],
            None => self.is_workday_slow(d),
        }
    }

    /// Why `d` is not what its weekday says, if it is not.
    pub fn exception(&self, d: NaiveDate) -> Option<&Exception> {
        self.exceptions.get(&d)
    }

    /// The days between `from` and `to` (inclusive) that are not what their
    /// weekday says, in order.
    pub fn exceptions_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, &Exception)> {
        let mut v: Vec<(NaiveDate, &Exception)> =
            self.exceptions.iter().filter(|(d, _)| (from..=to).contains(*d)).map(|(d, e)| (*d, e)).collect();
        v.sort_by_key(|(d, _)| *d);
        v
    }

    /// Whether the schedule of `year` is known.
    pub fn covers(&self, year: i32) -> bool {
        self.covered.contains(&year)
    }

    /// The years between `from` and `to` (inclusive, either order) with no
    /// schedule: answers for them used the Monday–Friday rule.
    pub fn uncovered_years(&self, from: NaiveDate, to: NaiveDate) -> Vec<i32> {
        let (a, b) = if from <= to { (from.year(), to.year()) } else { (to.year(), from.year()) };
        (a..=b).filter(|y| !self.covers(*y)).collect()
    }

    /// The `n`-th working day strictly after `d` (`n` ≥ 1); `d` itself for 0.
    pub fn add_working_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return d;
        }
        if let (Some(i), Some(last)) = (self.index(d), self.cumulative.last()) {
            let target = self.cumulative[i] + n;
            if target <= *last {
                // The first day whose running count reaches the target is that working day.
                let j = self.cumulative.partition_point(|&c| c < target);
                return self.table_start + chrono::Duration::days(j as i64);
            }
        }
        let mut day = d;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().expect("dates stay in range");
            if self.is_workday_slow(day) {
                left -= 1;
            }
        }
        day
    }

    /// Working days in `(from, to]`: how many working days `to` is after
    /// `from` (negative when `to` is earlier).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if from > to {
            return -self.working_days_between(to, from);
        }
        match (self.index(from), self.index(to)) {
            (Some(i), Some(j)) => self.cumulative[j] as i64 - self.cumulative[i] as i64,
            _ => {
                let mut n = 0;
                let mut d = from;
                while d < to {
                    d = d.succ_opt().expect("dates stay in range");
                    if self.is_workday_slow(d) {
                        n += 1;
                    }
                }
                n
            }
        }
    }
}

/// Each day with what it is and the year of the notice it came from, and the years named.
type Parsed = (Vec<(NaiveDate, Exception, i32)>, BTreeSet<i32>);

/// Parses `YEAR NAME off FROM[..TO] ... [work DATE ...]` lines; `#` starts a
/// comment. A block for a year covers that year even if it lists no days.
pub fn parse_schedule(text: &str, origin: &str) -> Result<Parsed, Vec<ScheduleError>> {
    let mut entries = Vec::new();
    let mut years = BTreeSet::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |message: String| ScheduleError { origin: origin.to_string(), line: i + 1, message };
        let mut words = line.split_whitespace();
        let year = match words.next().map(str::parse::<i32>) {
            Some(Ok(y)) if (1949..=2200).contains(&y) => y,
            _ => {
                errors.push(err(format!("{line:?} 不是以年份开头")));
                continue;
            }
        };
        let Some(name) = words.next() else {
            errors.push(err("年份之后须写节日名称".into()));
            continue;
        };
        years.insert(year);
        let mut mode: Option<bool> = None;
        for w in words {
            match w {
                "off" => mode = Some(true),
                "work" => mode = Some(false),
                _ => {
                    let Some(off) = mode else {
                        errors.push(err(format!("{w:?}：日期之前须写 off（放假）或 work（上班）")));
                        break;
                    };
                    let (a, b) = w.split_once("..").unwrap_or((w, w));
                    match (NaiveDate::parse_from_str(a, "%Y-%m-%d"), NaiveDate::parse_from_str(b, "%Y-%m-%d")) {
                        (Ok(a), Ok(b)) if a <= b && (b - a).num_days() < 40 => {
                            let mut d = a;
                            while d <= b {
                                entries.push((d, Exception { off, name: name.to_string() }, year));
                                d = d.succ_opt().expect("dates stay in range");
                            }
                        }
                        _ => errors.push(err(format!("{w:?} 不是日期（YYYY-MM-DD）或不长的日期范围（起..止）"))),
                    }
                }
            }
        }
    }
    if errors.is_empty() { Ok((entries, years)) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn holidays_and_adjusted_weekends() {
        let c = Calendar::official();
        assert!(!c.is_workday(d("2026-10-01")), "国庆节");
        assert!(c.is_workday(d("2026-09-20")), "a Sunday made a working day (调休)");
        assert!(!c.is_workday(d("2026-09-25")), "中秋节 on a Friday");
        assert!(!c.is_workday(d("2026-11-21")), "an ordinary Saturday");
        assert!(c.is_workday(d("2026-11-20")), "an ordinary Friday");
        assert!(!c.is_workday(d("2020-02-01")), "the 2020 amended notice extended 春节 over a day first made working");
        assert!(!c.is_workday(d("2015-09-03")), "the 2015 amended notice added 9月3日");
        assert!(c.is_workday(d("2015-09-06")));
        assert!(!c.is_workday(d("2018-12-31")), "元旦 2019 starts in the 2019 notice, on 2018-12-30");
        assert!(c.is_workday(d("2018-12-29")));
    }

    #[test]
    fn adding_working_days_skips_holidays_and_uses_adjusted_days() {
        let c = Calendar::official();
        // Received Thursday 2026-09-24: 中秋节 takes 09-25..27, 国庆节 10-01..07,
        // and Saturday 10-10 is a working day (调休).
        assert_eq!(c.add_working_days(d("2026-09-24"), 1), d("2026-09-28"));
        assert_eq!(c.add_working_days(d("2026-09-24"), 3), d("2026-09-30"));
        assert_eq!(c.add_working_days(d("2026-09-24"), 4), d("2026-10-08"));
        assert_eq!(c.add_working_days(d("2026-09-24"), 6), d("2026-10-10"));
        assert_eq!(c.add_working_days(d("2026-09-30"), 0), d("2026-09-30"));
        assert_eq!(c.working_days_between(d("2026-09-24"), d("2026-10-10")), 6);
        assert_eq!(c.working_days_between(d("2026-10-10"), d("2026-09-24")), -6);
    }

    #[test]
    fn years_without_a_schedule_use_weekdays_and_say_so() {
        let c = Calendar::official();
        assert!(c.covers(2026) && !c.covers(2027));
        assert_eq!(c.uncovered_years(d("2026-12-20"), d("2027-01-10")), vec![2027]);
        assert!(c.is_workday(d("2027-01-01")), "no 2027 schedule: Friday counts as working");
        // Far outside the table, answers still come.
        assert_eq!(c.add_working_days(d("2150-01-01"), 1), d("2150-01-02"));
    }

    #[test]
    fn a_year_in_a_schedule_file_replaces_that_year_of_the_built_in_table() {
        // The first 2020 notice alone (the file an office wrote before the extension).
        let mut c = Calendar::official();
        c.add_schedule("2020 春节 off 2020-01-24..2020-01-30 work 2020-01-19 2020-02-01\n", "h.txt").unwrap();
        assert!(c.is_workday(d("2020-01-31")), "the built-in extension is not mixed in");
        assert!(c.is_workday(d("2020-02-01")));
        assert!(c.is_workday(d("2020-10-01")), "the file is the whole of 2020: its 国庆节 is not in it");
        let mut c = Calendar::official();
        c.add_schedule(
            "2020 国庆节 off 2020-10-01..2020-10-08\n2020 春节 off 2020-01-24..2020-01-30 work 2020-02-01\n2020 春节 off 2020-01-31..2020-02-02\n",
            "h.txt",
        )
        .unwrap();
        assert!(!c.is_workday(d("2020-02-01")), "an amendment in the same file overrides the day");
        assert!(!c.is_workday(d("2021-02-11")), "other years keep the built-in table");
        // A later schedule amends an earlier one instead of replacing it.
        c.add_schedule("2020 端午节 off 2020-06-25..2020-06-27\n", "more.txt").unwrap();
        assert!(!c.is_workday(d("2020-10-02")) && !c.is_workday(d("2020-06-26")));
    }

    #[test]
    fn administrators_add_years_and_local_days() {
        let mut c = Calendar::official();
        c.add_schedule("2027 元旦 off 2027-01-01..2027-01-03\n", "holidays-2027.txt").unwrap();
        assert!(c.covers(2027) && !c.is_workday(d("2027-01-01")));
        c.set_day(d("2026-11-23"), true, "台风停工");
        assert!(!c.is_workday(d("2026-11-23")));
        assert_eq!(c.add_working_days(d("2026-11-20"), 1), d("2026-11-24"));
        let errs = Calendar::official().add_schedule("2027 元旦 off 2027-13-01\nnonsense\n", "bad.txt").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].to_string(), "bad.txt:1: \"2027-13-01\" 不是日期（YYYY-MM-DD）或不长的日期范围（起..止）");
        assert_eq!(errs[1].line, 2);
    }
}
