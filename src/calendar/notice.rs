//! A 国务院办公厅 holiday notice, as an office pastes it, read into days. Pure:
//! text (and the calendar it amends) in, days or the sentences it could not
//! read out.
//!
//! The notices have said the same things in two wordings for twenty years:
//!
//! ```text
//! 一、元旦：1月1日至3日放假调休，共3天。1月4日（星期日）上班。        (2007–2019)
//! 三、清明节：4月5日放假，4月6日（星期一）补休。
//! 一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。  (2020–)
//! 二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。
//! ```
//!
//! Each holiday is a heading (`元旦：`, `国庆节、中秋节：`) followed by clauses:
//! dates or ranges that 放假/调休/补休 (off) or 上班 (a weekend made a working
//! day), `共N天` (checked against the range before it), and words with no date
//! (`与周末连休`, the closing paragraph), which change nothing. Amending
//! notices have no headings: the 2015 one (`9月3日至5日调休放假，共3天。其中
//! …9月6日（星期日）上班`) reads the same way, and the 2020 one (`延长2020年春节
//! 假期至2月2日`) extends a holiday of the calendar it amends, which is why the
//! parser is given that calendar.
//!
//! What it does not understand it refuses, naming the sentence: a date with
//! neither 放假 nor 上班, a weekday that is not that date's (a wrong year), a
//! `共N天` that does not match its range. A sentence that only encourages
//! (`鼓励…安排职工在除夕（2月9日）休息`) is noted, never applied. Datelines
//! (`新华社北京11月4日电`) and the signature date are not schedule dates.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Weekday};
use regex::Regex;

use super::Calendar;

/// What a heading must name to be a holiday (an ordinal `一、` or a dash may
/// come before it).
const HOLIDAYS: [&str; 10] = ["元旦", "春节", "清明", "劳动节", "五一", "端午", "中秋", "国庆", "十一", "纪念日"];

/// Words that make the dates of a clause days off.
const OFF_WORDS: [&str; 8] = ["放假", "调休", "补休", "休息", "休假", "法定节假日", "法定假日", "公休"];

/// The days one holiday of a notice makes off and on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub off: BTreeSet<NaiveDate>,
    /// Weekend days made working days (调休).
    pub work: BTreeSet<NaiveDate>,
}

/// What a notice says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The year the notice is for (a 元旦 holiday may start in the December before).
    pub year: i32,
    pub holidays: Vec<Holiday>,
    /// A notice without holiday headings amends a year's schedule (the 2015
    /// 纪念日, the 2020 extension of 春节) rather than giving all of it.
    pub amends: bool,
    /// Sentences with dates that were read but not applied (encouragements).
    pub notes: Vec<String>,
}

/// A sentence the parser refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeError {
    pub sentence: String,
    pub message: String,
}

impl fmt::Display for NoticeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sentence.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "「{}」：{}", self.sentence, self.message)
        }
    }
}

/// The longest text read as a notice (the real ones are about 1,000 characters).
pub const MAX_CHARS: usize = 200_000;

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("notice pattern"))
}

/// One date as written: optional year and month, day, and what the
/// parentheses after it said (`星期日`, `农历腊月二十八、周日`, `除夕`).
#[derive(Debug, Clone)]
struct Written {
    year: Option<i32>,
    month: Option<u32>,
    day: u32,
    note: String,
}

/// Reads a notice for `year` (or the latest year it names). `base` is the
/// calendar it amends: an extension (`延长…春节假期至2月2日`) runs from the day
/// after the holiday's last day there.
pub fn parse(text: &str, year: Option<i32>, base: &Calendar) -> Result<Notice, Vec<NoticeError>> {
    let whole = |message: &str| vec![NoticeError { sentence: String::new(), message: message.to_string() }];
    if text.chars().count() > MAX_CHARS {
        return Err(whole("文字过长，不像一份放假通知（通知全文通常在两千字以内）"));
    }
    let text = prepare(text);
    let Some(year) = year.or_else(|| years_named(&text).max()) else {
        return Err(whole("通知中没有写明年份（如“2027年”）；请用 --year 指定"));
    };
    if !(1949..=2200).contains(&year) {
        return Err(whole(&format!("{year} 年不是可用的年份")));
    }
    let sections = sections(&text);
    let amends = sections.is_empty();
    let parts: Vec<(String, &str)> = if amends {
        vec![(amended_name(&text), text.as_str())]
    } else {
        sections.iter().map(|(name, body)| (name.clone(), *body)).collect()
    };
    let mut notice = Notice { year, holidays: Vec::new(), amends, notes: Vec::new() };
    let mut r = Reading::default();
    for (name, body) in parts {
        let mut h = Holiday { name: name.clone(), off: BTreeSet::new(), work: BTreeSet::new() };
        read_body(body, year, &name, base, &notice.holidays, &mut h, &mut r);
        for d in h.off.intersection(&h.work) {
            r.errors
                .push(NoticeError {
                    sentence: name.clone(), message: format!("{} 既写了放假又写了上班", show(*d))
                });
        }
        if !h.off.is_empty() || !h.work.is_empty() {
            notice.holidays.push(h);
        }
    }
    notice.notes = r.notes;
    let mut errors = r.errors;
    errors.extend(weekday_error(&r.mismatches, year));
    if errors.is_empty() && notice.holidays.is_empty() && notice.notes.is_empty() {
        errors.extend(whole("没有读到任何放假或上班的日期：这像是一份节假日安排通知吗？"));
    }
    if errors.is_empty() { Ok(notice) } else { Err(errors) }
}

/// Full-width digits and spaces folded, traditional characters simplified,
/// pinyin annotations (`節(jié)`, `日(ri)`) removed, ASCII punctuation made
/// the Chinese the notices use. Lines stay lines here (headings are found by
/// them); sentences are joined across them later (a hard-wrapped paste breaks
/// a sentence over lines).
fn prepare(text: &str) -> String {
    static ANNOTATION: OnceLock<Regex> = OnceLock::new();
    let annotation = re(&ANNOTATION, r"(\p{Han})(?:[（(][a-zA-Z]{1,6}[）)])+");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = crate::normalize::text::normalize(line);
        let line = annotation.replace_all(&line, "$1");
        if !out.is_empty() {
            out.push('\n');
        }
        for c in line.chars() {
            out.push(match c {
                ':' => '：',
                '(' => '（',
                ')' => '）',
                ',' => '，',
                ';' => '；',
                c => c,
            });
        }
    }
    out
}

/// Every `YYYY年` the text names.
fn years_named(text: &str) -> impl Iterator<Item = i32> + '_ {
    static YEAR: OnceLock<Regex> = OnceLock::new();
    re(&YEAR, r"(\d{4})\s*年").captures_iter(text).filter_map(|c| c[1].parse().ok())
}

/// The holiday headings and the text each governs, in order.
fn sections(text: &str) -> Vec<(String, &str)> {
    static HEADING: OnceLock<Regex> = OnceLock::new();
    static ORDINAL: OnceLock<Regex> = OnceLock::new();
    let heading = re(&HEADING, r"([^\s：。；，]{1,40})：");
    // `一、`, `1.`, `——`, `（一）`: what may come before a holiday's name.
    let ordinal = re(&ORDINAL, r"(?:[一二三四五六七八九十]+[、.．]|\d+[、.．]|——+|[（(][一二三四五六七八九十]+[）)])");
    let mut found: Vec<(String, usize, usize)> = Vec::new();
    for c in heading.captures_iter(text) {
        let m = c.get(1).expect("group 1");
        // The name starts after the last ordinal (words before it belong to the sentence before).
        let (start, name) = match ordinal.find_iter(m.as_str()).last() {
            Some(o) => (m.start() + o.start(), &m.as_str()[o.end()..]),
            None => (m.start(), m.as_str()),
        };
        let name = name.trim();
        let plain = name.trim_matches(['“', '”', '"']);
        if !plain.is_empty() && plain.chars().count() <= 20 && HOLIDAYS.iter().any(|h| plain.contains(h)) {
            found.push((name.to_string(), start, c.get(0).expect("group 0").end()));
        }
    }
    (0..found.len())
        .map(|i| {
            let stop = found.get(i + 1).map_or(text.len(), |n| n.1);
            (found[i].0.clone(), &text[found[i].2..stop])
        })
        .collect()
}

/// The name of an amending notice's holiday: the holiday it names, else what
/// its title says it is about.
fn amended_name(text: &str) -> String {
    static TITLE: OnceLock<Regex> = OnceLock::new();
    if let Some(h) =
        ["春节", "元旦", "清明节", "劳动节", "端午节", "中秋节", "国庆节"].iter().find(|h| text.contains(*h))
    {
        return h.to_string();
    }
    match re(&TITLE, r"关于(?:\d{4}年)?(.{2,40}?)(?:调休)?放假(?:安排)?的通知").captures(text) {
        Some(c) => c[1].to_string(),
        None => "放假调休".to_string(),
    }
}

/// What reading the holidays' texts found besides their days.
#[derive(Default)]
struct Reading {
    notes: Vec<String>,
    errors: Vec<NoticeError>,
    /// (sentence, date, the weekday the notice wrote for it)
    mismatches: Vec<(String, NaiveDate, Weekday)>,
}

/// One error for the weekdays that are not their dates', with the year they
/// would fit when there is one (a 2026 notice read as 2027's).
fn weekday_error(mismatches: &[(String, NaiveDate, Weekday)], year: i32) -> Option<NoticeError> {
    let (sentence, d, wd) = mismatches.first()?;
    let said = format!("{} 是{}，通知写的是{}", d.format("%Y-%m-%d"), weekday_zh(d.weekday()), weekday_zh(*wd));
    let fits = |y: i32| {
        mismatches.iter().all(|(_, d, wd)| {
            NaiveDate::from_ymd_opt(d.year() - year + y, d.month(), d.day()).is_some_and(|x| x.weekday() == *wd)
        })
    };
    let other = (1..=6).flat_map(|k| [year - k, year + k]).find(|y| fits(*y));
    let message = match (mismatches.len(), other) {
        (1, Some(y)) => format!("{said}：这与 {y} 年的日历相符，是 {y} 年的通知吗？（可用 --year 指定）"),
        (1, None) => format!("{said}：日期或星期有误吗？"),
        (n, Some(y)) => format!(
            "通知写的星期与 {year} 年的日期有 {n} 处对不上（第一处：{said}），与 {y} 年的日历相符：是 {y} 年的通知吗？（可用 --year 指定）"
        ),
        (n, None) => {
            format!("通知写的星期与 {year} 年的日期有 {n} 处对不上（第一处：{said}）：年份不对吗？（可用 --year 指定）")
        }
    };
    Some(NoticeError { sentence: sentence.clone(), message })
}

/// Reads one holiday's text into `h`.
fn read_body(
    body: &str,
    year: i32,
    name: &str,
    base: &Calendar,
    earlier: &[Holiday],
    h: &mut Holiday,
    r: &mut Reading,
) {
    static DATE: OnceLock<Regex> = OnceLock::new();
    static DAYS: OnceLock<Regex> = OnceLock::new();
    let date = re(&DATE, r"(?:(\d{4})\s*年\s*)?(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日(?:\s*（([^）]{0,40})）)?(\s*电)?");
    let days = re(&DAYS, r"共\s*(\d{1,3})\s*天");
    let new_year_eve = name.contains("元旦");
    // The last date of the sentence before: a sentence may go on with days
    // only (`其中18日、19日、20日为法定假日`, 2007).
    let mut carry: Option<NaiveDate> = None;
    for sentence in body.split(['。', '；']).map(|s| s.replace('\n', "")) {
        let sentence = sentence.trim();
        if sentence.is_empty() {
            continue;
        }
        // Dates become placeholders (their parentheses too, which may hold `，`).
        let mut written: Vec<Written> = Vec::new();
        let mut marked = String::with_capacity(sentence.len());
        let mut last = 0;
        for c in date.captures_iter(sentence) {
            let m = c.get(0).expect("group 0");
            marked.push_str(&sentence[last..m.start()]);
            last = m.end();
            if c.get(5).is_some() {
                continue; // `新华社北京11月4日电`: a dateline.
            }
            marked.push_str(&format!("\u{E000}{}\u{E001}", written.len()));
            written.push(Written {
                year: c.get(1).and_then(|y| y.as_str().parse().ok()),
                month: c.get(2).and_then(|m| m.as_str().parse().ok()),
                day: c[3].parse().unwrap_or(0),
                note: c.get(4).map_or(String::new(), |n| n.as_str().to_string()),
            });
        }
        marked.push_str(&sentence[last..]);
        if written.is_empty() {
            continue;
        }
        if ["鼓励", "倡导", "提倡"].iter().any(|w| sentence.contains(w)) {
            r.notes.push(sentence.to_string());
            continue;
        }
        let err = |message: String| NoticeError { sentence: sentence.to_string(), message };
        // Resolve every written date; month and year carry from the date before.
        let mut dates: Vec<NaiveDate> = Vec::with_capacity(written.len());
        let mut bad = false;
        for (i, w) in written.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| dates[j]);
            let month = w.month.or(prev.or(carry).map(|p| p.month()));
            let Some(month) = month else {
                r.errors.push(err(format!("“{}日”没有写月份", w.day)));
                bad = true;
                break;
            };
            let y = match (w.year, prev.or(carry)) {
                (Some(y), _) => y,
                // `31日`: the year of the date before.
                (None, Some(p)) if w.month.is_none() => p.year(),
                // `12月30日至1月1日`: from December into the notice's January.
                (None, Some(p)) if p.month() == 12 && month <= 2 => p.year() + 1,
                // A 元旦 that starts in the December before the notice's year.
                (None, _) if new_year_eve && month == 12 => year - 1,
                (None, _) => year,
            };
            let Some(d) = NaiveDate::from_ymd_opt(y, month, w.day) else {
                r.errors.push(err(format!("{y}年{month}月{}日不是有效的日期", w.day)));
                bad = true;
                break;
            };
            if let Some(wd) = weekday_in(&w.note)
                && wd != d.weekday()
            {
                r.mismatches.push((sentence.to_string(), d, wd));
                bad = true;
            }
            dates.push(d);
        }
        if bad {
            continue;
        }
        carry = dates.last().copied().or(carry);
        let mut last_run = 0usize;
        for clause in marked.split(['，', '：']).map(str::trim).filter(|s| !s.is_empty()) {
            // `将2月2日（星期六）、2月3日（星期日）两个公休日调至2月11日（星期一）、2月12日（星期二）`
            // (2007–2013): the days after 调至 are off; the weekend days before
            // it are said to work in a clause of their own.
            if let Some(at) = clause.find("调至") {
                match groups(&clause[at..], &dates) {
                    Ok(g) => {
                        for (a, b) in &g {
                            h.off.extend(a.iter_days().take_while(|d| d <= b));
                        }
                    }
                    Err(message) => r.errors.push(err(message)),
                }
                continue;
            }
            let groups = match groups(clause, &dates) {
                Ok(g) => g,
                Err(message) => {
                    r.errors.push(err(message));
                    continue;
                }
            };
            let words: String =
                clause.split('\u{E000}').map(|p| p.split_once('\u{E001}').map_or(p, |(_, r)| r)).collect();
            if groups.is_empty() {
                if let Some(c) = days.captures(&words) {
                    let n: usize = c[1].parse().unwrap_or(0);
                    if last_run > 0 && n != last_run {
                        r.errors.push(err(format!("写的是共{n}天，日期范围却是 {last_run} 天")));
                    }
                }
                continue;
            }
            if words.contains("延长") {
                match extend(&words, &groups, year, base, earlier, h, &mut r.notes) {
                    Ok(n) => last_run = n,
                    Err(message) => r.errors.push(err(message)),
                }
                continue;
            }
            if words.contains("上班") || words.contains("工作") {
                if words.contains('起') {
                    continue; // `2月3日（星期一）起正常上班`: from then on, as usual.
                }
                for (a, b) in &groups {
                    h.work.extend(a.iter_days().take_while(|d| d <= b));
                }
                continue;
            }
            if OFF_WORDS.iter().any(|w| words.contains(w)) {
                for (a, b) in &groups {
                    h.off.extend(a.iter_days().take_while(|d| d <= b));
                }
                last_run = groups.iter().map(|(a, b)| (*b - *a).num_days() as usize + 1).sum();
                continue;
            }
            if is_signature(&words) {
                continue;
            }
            r.errors.push(err(format!("「{}」没有说这些日期放假还是上班", words.trim())));
        }
    }
}

/// The date groups of a clause: single dates and ranges (`至`, `—`), listed
/// with `、`. An error when a range runs backwards or is implausibly long.
fn groups(clause: &str, dates: &[NaiveDate]) -> Result<Vec<(NaiveDate, NaiveDate)>, String> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    let mut rest = clause;
    let mut joined_by_range = false;
    while let Some(start) = rest.find('\u{E000}') {
        let after = &rest[start + '\u{E000}'.len_utf8()..];
        let Some(end) = after.find('\u{E001}') else { break };
        let Some(&d) = after[..end].parse::<usize>().ok().and_then(|i| dates.get(i)) else { break };
        if joined_by_range && let Some(last) = out.last_mut() {
            if d < last.0 || (d - last.0).num_days() > 40 {
                return Err(format!("{} 至 {} 不是合理的放假范围", show(last.0), show(d)));
            }
            last.1 = d;
        } else {
            out.push((d, d));
        }
        rest = &after[end + '\u{E001}'.len_utf8()..];
        let next = rest.split('\u{E000}').next().unwrap_or("").trim();
        joined_by_range =
            rest.contains('\u{E000}') && matches!(next, "至" | "到" | "—" | "——" | "－" | "-" | "~" | "～");
    }
    Ok(out)
}

/// `延长2020年春节假期至2月2日`: off from the day after the holiday's last day
/// (in this notice, else in the calendar it amends) to the date given.
fn extend(
    words: &str,
    groups: &[(NaiveDate, NaiveDate)],
    year: i32,
    base: &Calendar,
    earlier: &[Holiday],
    h: &mut Holiday,
    notes: &mut Vec<String>,
) -> Result<usize, String> {
    let Some(&(_, until)) = groups.last() else { return Err("没有写延长到哪一天".into()) };
    let Some(holiday) = ["春节", "元旦", "清明", "劳动节", "端午", "中秋", "国庆"].iter().find(|k| words.contains(*k))
    else {
        return Err("没有写延长哪个节日的假期".into());
    };
    let from = NaiveDate::from_ymd_opt(year - 1, 12, 1).expect("valid date");
    let to = NaiveDate::from_ymd_opt(year, 12, 31).expect("valid date");
    let own = earlier.iter().filter(|x| x.name.contains(holiday)).flat_map(|x| x.off.iter().copied());
    let known = base
        .exceptions_between(from, to)
        .into_iter()
        .filter(|(_, e)| e.off && e.name.contains(holiday))
        .map(|(d, _)| d);
    let Some(last_off) = own.chain(known).filter(|d| *d <= until).max() else {
        return Err(format!("日历中没有 {year} 年{holiday}的安排可供延长：请先读入当年的放假通知"));
    };
    let days: Vec<NaiveDate> = last_off.iter_days().skip(1).take_while(|d| *d <= until).collect();
    if days.is_empty() {
        notes.push(format!("{year} 年{holiday}假期已放到 {}，无须延长", show(until)));
    }
    h.off.extend(days.iter().copied());
    for d in &days {
        h.work.remove(d);
    }
    Ok(days.len())
}

/// A clause with a date and nothing else but who signed or sent it.
fn is_signature(words: &str) -> bool {
    static WHO: OnceLock<Regex> = OnceLock::new();
    let who = re(&WHO, r"国务院办公厅|国务院|中国政府网|新华社|来源|发布|日期|时间|受权|[\s　（）()【】\[\]—\-]");
    who.replace_all(words, "").trim().is_empty()
}

fn weekday_in(note: &str) -> Option<Weekday> {
    static WD: OnceLock<Regex> = OnceLock::new();
    let c = re(&WD, r"(?:星期|周|礼拜)([一二三四五六日天])").captures(note)?;
    Some(match &c[1] {
        "一" => Weekday::Mon,
        "二" => Weekday::Tue,
        "三" => Weekday::Wed,
        "四" => Weekday::Thu,
        "五" => Weekday::Fri,
        "六" => Weekday::Sat,
        _ => Weekday::Sun,
    })
}

/// `星期日` for officers.
pub fn weekday_zh(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    }
}

/// `2027-01-01（星期五）`.
pub fn show(d: NaiveDate) -> String {
    format!("{}（{}）", d.format("%Y-%m-%d"), weekday_zh(d.weekday()))
}

/// Consecutive days as ranges.
pub fn runs(days: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &d in days {
        match out.last_mut() {
            Some(last) if last.1.succ_opt() == Some(d) => last.1 = d,
            _ => out.push((d, d)),
        }
    }
    out
}

impl Notice {
    /// The notice in the calendar's schedule format (see `cn_official.txt`).
    pub fn schedule_lines(&self) -> String {
        let mut s = String::new();
        for h in &self.holidays {
            let name: String = h.name.chars().filter(|c| !c.is_whitespace() && *c != '#').collect();
            let name = if name.is_empty() { "放假调休".to_string() } else { name };
            s.push_str(&format!("{} {name}", self.year));
            if !h.off.is_empty() {
                s.push_str(" off");
                for (a, b) in runs(&h.off) {
                    if a == b {
                        s.push_str(&format!(" {a}"));
                    } else {
                        s.push_str(&format!(" {a}..{b}"));
                    }
                }
            }
            if !h.work.is_empty() {
                s.push_str(" work");
                for d in &h.work {
                    s.push_str(&format!(" {d}"));
                }
            }
            s.push('\n');
        }
        s
    }
}

/// A calendar file with `block` for `year`: replacing the lines of that year
/// (and the comments govwatch wrote above them), or — for an amending notice
/// — after them. Other years, and comments an administrator wrote, stay.
pub fn merge_into(existing: &str, year: i32, block: &str, amend: bool) -> String {
    let prefix = format!("{year} ");
    let ours = format!("# {year} ");
    let mut out = String::new();
    for line in existing.lines() {
        let t = line.trim_start();
        if !amend && (t.starts_with(&prefix) || (t.starts_with(&ours) && t.contains("govwatch calendar notice"))) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(block);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn empty() -> Calendar {
        Calendar::weekdays_only()
    }

    #[test]
    fn both_wordings_read_the_same_days() {
        let old = "一、元旦：1月1日至3日放假调休，共3天。1月4日（星期日）上班。\n三、清明节：4月5日放假，4月6日（星期一）补休。\n四、劳动节：5月1日放假，与周末连休。";
        let n = parse(&format!("关于2015年部分节假日安排的通知\n{old}"), None, &empty()).unwrap();
        assert_eq!(n.year, 2015);
        assert!(!n.amends);
        assert_eq!(n.holidays.len(), 3);
        assert_eq!(n.holidays[0].name, "元旦");
        assert_eq!(n.holidays[0].off, [d("2015-01-01"), d("2015-01-02"), d("2015-01-03")].into());
        assert_eq!(n.holidays[0].work, [d("2015-01-04")].into());
        assert_eq!(n.holidays[1].off, [d("2015-04-05"), d("2015-04-06")].into());
        let new = "二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。";
        let n = parse(new, Some(2026), &empty()).unwrap();
        assert_eq!(n.holidays[0].off.len(), 9);
        assert_eq!(n.holidays[0].work, [d("2026-02-14"), d("2026-02-28")].into());
        assert_eq!(n.schedule_lines(), "2026 春节 off 2026-02-15..2026-02-23 work 2026-02-14 2026-02-28\n");
    }

    #[test]
    fn a_new_year_holiday_may_start_in_december_and_ranges_cross_months() {
        let n = parse(
            "关于2019年部分节假日安排的通知 一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。\
             二、春节：2月4日至10日放假调休，共7天。2月2日（星期六）、2月3日（星期日）上班。",
            None,
            &empty(),
        )
        .unwrap();
        assert_eq!(n.year, 2019);
        assert_eq!(n.holidays[0].off, [d("2018-12-30"), d("2018-12-31"), d("2019-01-01")].into());
        assert_eq!(n.holidays[0].work, [d("2018-12-29")].into());
        let n =
            parse("一、元旦：12月30日至1月1日放假调休，共3天。12月29日（星期六）上班。", Some(2019), &empty()).unwrap();
        assert_eq!(n.holidays[0].off, [d("2018-12-30"), d("2018-12-31"), d("2019-01-01")].into());
        let n = parse(
            "一、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。",
            Some(2025),
            &empty(),
        )
        .unwrap();
        assert_eq!(n.holidays[0].off.len(), 8);
    }

    #[test]
    fn what_it_cannot_read_it_refuses_naming_the_sentence() {
        // A weekday that is not the date's: the year is wrong.
        let e = parse("一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。", Some(2027), &empty()).unwrap_err();
        assert_eq!(e.len(), 1, "one error for the weekdays: {e:?}");
        assert!(e[0].message.contains("有 2 处对不上（第一处：2027-01-01 是星期五，通知写的是星期四）"), "{e:?}");
        assert!(e[0].message.contains("与 2026 年的日历相符"), "{e:?}");
        assert!(e[0].sentence.contains("1月1日（周四）至3日（周六）放假调休"), "{e:?}");
        // A count that does not match its range.
        let e = parse("一、元旦：1月1日至3日放假调休，共4天。", Some(2015), &empty()).unwrap_err();
        assert!(e[0].message.contains("共4天") && e[0].message.contains("3 天"), "{e:?}");
        // A date with neither 放假 nor 上班.
        let e = parse("一、春节：2月18日至24日待定。", Some(2015), &empty()).unwrap_err();
        assert!(e[0].message.contains("没有说这些日期放假还是上班"), "{e:?}");
        // No date at all, no year at all.
        assert!(parse("节假日期间，各地区要妥善安排好值班。2015年", None, &empty()).is_err());
        assert!(parse("一、元旦：1月1日放假。", None, &empty()).unwrap_err()[0].message.contains("--year"));
        // Not a date.
        let e = parse("一、春节：2月30日放假。", Some(2015), &empty()).unwrap_err();
        assert!(e[0].message.contains("2015年2月30日不是有效的日期"), "{e:?}");
    }

    #[test]
    fn encouragements_datelines_and_signatures_change_nothing() {
        let n = parse(
            "新华社北京11月4日电 国务院办公厅关于2024年部分节假日安排的通知\
             二、春节：2月10日至17日放假调休，共8天。2月4日（星期日）、2月18日（星期日）上班。\
             鼓励各单位结合带薪年休假等制度落实，安排职工在除夕（2月9日）休息。\
             国务院办公厅 2023年10月25日",
            None,
            &empty(),
        )
        .unwrap();
        assert_eq!(n.year, 2024);
        assert_eq!(n.holidays.len(), 1);
        assert!(!n.holidays[0].off.contains(&d("2024-02-09")));
        assert_eq!(n.notes.len(), 1, "{:?}", n.notes);
    }

    #[test]
    fn an_extension_runs_from_the_end_of_the_holiday_it_amends() {
        let mut base = Calendar::weekdays_only();
        base.add_schedule("2020 春节 off 2020-01-24..2020-01-30 work 2020-01-19 2020-02-01\n", "t").unwrap();
        let n =
            parse("一、延长2020年春节假期至2月2日（农历正月初九，星期日），2月3日（星期一）起正常上班。", None, &base)
                .unwrap();
        assert!(n.amends);
        assert_eq!(n.holidays[0].off, [d("2020-01-31"), d("2020-02-01"), d("2020-02-02")].into());
        assert!(n.holidays[0].work.is_empty());
        let e = parse("一、延长2020年春节假期至2月2日。", None, &empty()).unwrap_err();
        assert!(e[0].message.contains("没有 2020 年春节的安排"), "{e:?}");
    }

    #[test]
    fn a_calendar_file_gets_the_year_replaced_or_amended() {
        let existing = "# 本地说明\n2026 元旦 off 2026-01-01\n# 2027 年：由 govwatch calendar notice 读入\n2027 元旦 off 2027-01-01\n2027 春节 off 2027-02-06\n";
        let merged = merge_into(
            existing,
            2027,
            "# 2027 年：由 govwatch calendar notice 读入（新）\n2027 元旦 off 2027-01-01..2027-01-03\n",
            false,
        );
        assert_eq!(
            merged,
            "# 本地说明\n2026 元旦 off 2026-01-01\n\n# 2027 年：由 govwatch calendar notice 读入（新）\n2027 元旦 off 2027-01-01..2027-01-03\n"
        );
        let amended = merge_into(existing, 2027, "2027 春节 off 2027-02-07\n", true);
        assert_eq!(amended, format!("{existing}\n2027 春节 off 2027-02-07\n"));
        assert_eq!(merge_into("", 2027, "2027 元旦 off 2027-01-01\n", false), "2027 元旦 off 2027-01-01\n");
    }
}
