//! Reading the published times that government sites write.
//!
//! Chinese sites mostly write local time with no zone (`2017-07-03 09:06:34`,
//! `2020年08月02日`, `2018/7/17 7:13:58`); those are Asia/Shanghai (UTC+8, no
//! daylight saving since 1991). In RFC 822 dates, `CST` means China Standard
//! Time here, +08:00, not US Central. Invalid dates (`31 Jun`, day 32) are
//! rejected rather than rolled over.

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use regex::Regex;

use crate::model::{Precision, Published};

/// Asia/Shanghai as a fixed offset: China has kept UTC+8 all year since 1991.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// Parses a date or date-time in any of the forms government sites use.
/// Returns `None` when the text holds no valid date.
pub fn parse(text: &str) -> Option<Published> {
    let s = text.trim().trim_matches(|c| matches!(c, '[' | ']' | '(' | ')' | '（' | '）' | '【' | '】'));
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    parse_rfc3339(s).or_else(|| parse_rfc2822(s)).or_else(|| parse_local(s))
}

fn parse_rfc3339(s: &str) -> Option<Published> {
    let at = DateTime::parse_from_rfc3339(s).ok()?;
    Some(Published { at, precision: Precision::Time, zone_assumed: false })
}

/// RFC 822/2822 as feeds write it, with the usual faults: missing weekday,
/// one-digit days, `UT`/`UTC`/`Z`, and `CST` = +0800. A named zone other than
/// GMT/UT/Z/CST is read as written by chrono (EST, PDT, …).
fn parse_rfc2822(s: &str) -> Option<Published> {
    static WEEKDAY: OnceLock<Regex> = OnceLock::new();
    let weekday = WEEKDAY.get_or_init(|| Regex::new(r"^[A-Za-z]{3,9},?\s*").expect("weekday pattern"));
    if !s.as_bytes().first().is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let mut t = weekday.replace(s, "").into_owned();
    // Zones chrono does not know, or knows differently from Chinese feeds.
    for (from, to) in [
        (" CST", " +0800"),
        (" UTC", " +0000"),
        (" Z", " +0000"),
        (" UT", " +0000"),
        (" BJT", " +0800"),
        (" CCT", " +0800"),
    ] {
        if t.ends_with(from) {
            t.truncate(t.len() - from.len());
            t.push_str(to);
            break;
        }
    }
    // "2 Jan 2006 15:04" with no zone: local time.
    let has_zone = t
        .rsplit(' ')
        .next()
        .is_some_and(|z| z.starts_with('+') || z.starts_with('-') || z.chars().all(|c| c.is_ascii_uppercase()));
    if has_zone {
        // chrono wants a weekday-less form fine; seconds are optional there.
        if let Ok(at) = DateTime::parse_from_rfc2822(&t) {
            return Some(Published { at, precision: Precision::Time, zone_assumed: false });
        }
        return None;
    }
    for fmt in ["%d %b %Y %H:%M:%S", "%d %b %Y %H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(&t, fmt) {
            return local(n, Precision::Time);
        }
    }
    NaiveDate::parse_from_str(&t, "%d %b %Y").ok().and_then(|d| local(d.and_time(NaiveTime::MIN), Precision::Date))
}

fn local(n: NaiveDateTime, precision: Precision) -> Option<Published> {
    let at = china().from_local_datetime(&n).single()?;
    Some(Published { at, precision, zone_assumed: true })
}

/// Numeric local forms: `2017-07-03 09:06:34`, `2017-07-03T09:06`,
/// `2018/7/17 7:13:58`, `2020.08.05`, `2020年08月02日 10时20分`, `20200805`.
/// An explicit trailing offset (`+08:00`, `+0800`, `Z`) is honoured.
fn parse_local(s: &str) -> Option<Published> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"(?x)^
            (?P<y>\d{4}) \s* (?:[-/.年]\s*)? (?P<m>\d{1,2}) \s* (?:[-/.月]\s*)? (?P<d>\d{1,2}) \s* 日?
            (?:
                (?:\s+|T|\s*日?\s*)
                (?P<H>\d{1,2}) \s* [:时]\s* (?P<M>\d{1,2}) \s* (?:[:分]\s*(?P<S>\d{1,2})(?:\.\d+)?\s*秒?)? \s*分?
            )?
            \s*(?P<z>Z|[+-]\d{2}:?\d{2})?
            $",
        )
        .expect("local date pattern compiles")
    });
    let c = re.captures(s)?;
    let num = |name: &str| c.name(name).map(|m| m.as_str().parse::<u32>());
    let y: i32 = c["y"].parse().ok()?;
    let date = NaiveDate::from_ymd_opt(y, num("m")?.ok()?, num("d")?.ok()?)?;
    let (time, precision) = match num("H") {
        Some(h) => {
            let h = h.ok()?;
            let m = num("M")?.ok()?;
            let sec = num("S").transpose().ok()?.unwrap_or(0);
            (NaiveTime::from_hms_opt(h, m, sec)?, Precision::Time)
        }
        None => (NaiveTime::MIN, Precision::Date),
    };
    let n = date.and_time(time);
    match c.name("z").map(|z| z.as_str()) {
        None => local(n, precision),
        Some(z) => {
            let offset = if z == "Z" {
                FixedOffset::east_opt(0)?
            } else {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let digits: String = z[1..].chars().filter(|c| c.is_ascii_digit()).collect();
                let hh: i32 = digits[..2].parse().ok()?;
                let mm: i32 = digits[2..].parse().ok()?;
                FixedOffset::east_opt(sign * (hh * 3600 + mm * 60))?
            };
            let at = offset.from_local_datetime(&n).single()?;
            Some(Published { at, precision, zone_assumed: false })
        }
    }
}

/// Finds the first date in free text (`发布日期：2020年08月02日`, `[2020-07-09]`,
/// `更新时间:2017-07-03 09:06:34`) and parses it.
pub fn find_in(text: &str) -> Option<Published> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*(?:T|\s)?\s*\d{1,2}\s*[:时]\s*\d{1,2}(?:\s*[:分]\s*\d{1,2})?)?",
        )
        .expect("date search pattern compiles")
    });
    re.find_iter(text).find_map(|m| parse(m.as_str().trim()))
}

/// Parses with a caller-given chrono format (a page source's `date_format`);
/// formats without a time give a date. Local time unless the format has `%z`.
pub fn parse_with_format(text: &str, format: &str) -> Option<Published> {
    let s = text.trim();
    if format.contains("%z") || format.contains("%:z") {
        let at = DateTime::parse_from_str(s, format).ok()?;
        return Some(Published { at, precision: Precision::Time, zone_assumed: false });
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(s, format) {
        return local(n, Precision::Time);
    }
    let d = NaiveDate::parse_from_str(s, format).ok()?;
    local(d.and_time(NaiveTime::MIN), Precision::Date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        parse(s).map(|p| p.at.to_rfc3339()).unwrap_or_else(|| "none".into())
    }

    #[test]
    fn local_forms_are_shanghai() {
        assert_eq!(iso("2017-07-03 09:06:34"), "2017-07-03T09:06:34+08:00");
        assert_eq!(iso("2018/7/17 7:13:58"), "2018-07-17T07:13:58+08:00");
        assert_eq!(iso("2018-07-17 07:13"), "2018-07-17T07:13:00+08:00");
        assert_eq!(iso("2020年08月02日"), "2020-08-02T00:00:00+08:00");
        assert_eq!(iso("2020年8月2日 10时20分"), "2020-08-02T10:20:00+08:00");
        assert_eq!(iso("2020.08.05"), "2020-08-05T00:00:00+08:00");
        assert_eq!(iso("[2020-07-09]"), "2020-07-09T00:00:00+08:00");
        assert_eq!(parse("2020-07-09").unwrap().precision, Precision::Date);
        assert!(parse("2020-07-09 10:00").unwrap().zone_assumed);
    }

    #[test]
    fn rfc822_with_chinese_cst() {
        assert_eq!(iso("31 Dec 2002 14:20:20 CST"), "2002-12-31T14:20:20+08:00");
        assert_eq!(iso("Tue, 14 Apr 2026 00:00:00 +0800"), "2026-04-14T00:00:00+08:00");
        assert_eq!(iso("Wed, 15 Apr 2026 04:52:10 +0000"), "2026-04-15T04:52:10+00:00");
        assert_eq!(iso("Sat, 08 Jun 2024 06:24:01 GMT"), "2024-06-08T06:24:01+00:00");
        assert_eq!(iso("Sat, 8 Jun 2024 06:24:01 UT"), "2024-06-08T06:24:01+00:00");
        assert_eq!(iso("8 Jun 2024 06:24"), "2024-06-08T06:24:00+08:00");
    }

    #[test]
    fn rfc3339_and_explicit_offsets() {
        assert_eq!(iso("2003-12-13T18:30:02Z"), "2003-12-13T18:30:02+00:00");
        assert_eq!(iso("2003-07-01 01:55:07-05:00"), "2003-07-01T01:55:07-05:00");
        assert!(!parse("2003-07-01 01:55:07-05:00").unwrap().zone_assumed);
    }

    #[test]
    fn invalid_dates_are_refused_not_rolled_over() {
        for s in [
            "Sat, 31 Jun 2006 23:08:26 +1000",
            "32 Dec 2002 10:00:00 GMT",
            "2020-02-30",
            "2020年13月01日",
            "",
            "无",
            "Mon, 31 Dec 2002 14:20:20 GMT foo",
        ] {
            assert_eq!(iso(s), "none", "{s}");
        }
    }

    #[test]
    fn found_in_text() {
        assert_eq!(
            find_in("发布日期：2020年08月02日 有效性").map(|p| p.at.to_rfc3339()).as_deref(),
            Some("2020-08-02T00:00:00+08:00")
        );
        assert_eq!(
            find_in("更新时间:2017-07-03 09:06:34").map(|p| p.at.to_rfc3339()).as_deref(),
            Some("2017-07-03T09:06:34+08:00")
        );
        assert_eq!(find_in("没有日期"), None);
    }

    #[test]
    fn explicit_format() {
        assert_eq!(
            parse_with_format("07/09/2020", "%m/%d/%Y").map(|p| p.at.to_rfc3339()).as_deref(),
            Some("2020-07-09T00:00:00+08:00")
        );
    }
}
