//! Personal data in published text (保密审查): citizen ID numbers with a valid
//! check digit, mobile numbers, bank card numbers passing Luhn. Pure.
//!
//! [`scan`] reads a portal item's text once, byte by byte, and stops only at
//! digits (ASCII `0-9`, or the full-width `０-９`, which are read as digits:
//! offsets always refer to the original text). Most texts hold only short
//! digit runs (years, amounts, 文号 numbers), which are passed over at once;
//! no regex and no allocation unless something is found.
//!
//! What counts as a finding (and what deliberately does not):
//!
//! * **Boundaries.** A number must stand alone: a digit or an ASCII letter
//!   right before or after it (or a decimal point joining it to digits)
//!   makes it part of a code, a work-order number or a longer figure, and it
//!   is not reported. Chinese characters, spaces and punctuation are fine
//!   boundaries.
//! * **ID card (身份证号), 18 characters:** region code starting 1–6, or
//!   81/82/83 (residence permits of Hong Kong, Macau and Taiwan residents);
//!   a real calendar birth date 1900-01-01..=2100-12-31; the GB 11643 check
//!   digit (`X`, `x` or full-width `Ｘ` for 10). An 18-digit run shaped like
//!   an ID (region and date valid) whose check digit is wrong is a mistyped ID
//!   or a number that only looks like one: it is reported as nothing — in
//!   particular not as a bank card, although IDs from Gansu (62…) and Fujian
//!   (35…) carry card prefixes and pass Luhn one time in ten.
//! * **Old 15-digit IDs** have no check digit, so a random 15-digit number
//!   with a plausible date would pass; they are reported only right after
//!   the label 身份证 (身份证号、身份证号码：…), with a valid region and a
//!   19YY date.
//! * **Mobile (手机号):** 11 digits starting 13–19, written in one run,
//!   as 3-4-4 groups with a single space or hyphen (`138-1234-5678`,
//!   `138 1234 5678`), optionally after `86` / `+86` (`+86 138 1234 5678`,
//!   `+8613812345678`). Not after 第 or before 号/年/月/日: that is a serial or
//!   document number (文号), not a phone. Dates cannot hold 11 digits, so no
//!   other date rule is needed.
//! * **Bank card (银行卡号):** 16–19 digits in one run, or as groups of four
//!   with a single space or hyphen (the last group may have 1–3 digits for
//!   17–19 digit cards), passing Luhn, with a prefix of cards used in China:
//!   UnionPay 62 (16–19 digits), Visa 4 (16 or 19), Mastercard 51–55 and
//!   2221–2720 (16), JCB 3528–3589 (16–19). American Express (34/37, 15
//!   digits) is not looked for. Other domestic prefixes (e.g. ICBC's old
//!   9558…) are not either: the prefix list is what keeps false positives
//!   low. What remains: any 16–19 digit number that happens to start with
//!   one of these prefixes passes Luhn one time in ten — a serial number
//!   starting 62 or 4, say. Order numbers and dates starting with a year
//!   (2026…) and 统一社会信用代码 (letters, or 18 digits starting 1/5/9 that
//!   are not a card length for those prefixes) do not match.
//!
//! Findings are masked for display ([`PiiHit::masked`]); the whole number is
//! never returned.
//!
//! **Published on purpose.** [`scan_published`], what the inspection runs,
//! also leaves out the numbers an office publishes on purpose: a mobile
//! labelled as an official contact (`值班联系人：李老师，联系电话：…`, 咨询电话,
//! 监督举报电话, 服务热线 …, or any mobile in a document titled as a duty roster
//! or contact list: 值班表, 通讯录, 联系方式), unless a citizen is named in the
//! same sentence (申请人, 来电人, 投诉人, 王某某, 身份证 …), which makes it a
//! citizen's after all; and every number on the configured allow-list
//! (`inspection.personal_data_allow`). [`scan`] and the masking in emails
//! are not affected: they mask every number they find.

use serde::Serialize;

/// What kind of personal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    IdCard,
    Mobile,
    BankCard,
}

impl PiiKind {
    /// For officers' eyes (the glossary's word).
    pub fn zh(self) -> &'static str {
        crate::glossary::pii_kind(self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::IdCard => "id_card",
            PiiKind::Mobile => "mobile",
            PiiKind::BankCard => "bank_card",
        }
    }
}

/// One personal number found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PiiHit {
    pub kind: PiiKind,
    /// masked for display, never the whole number
    pub masked: String,
    /// byte offset in the scanned text
    pub start: usize,
}

/// The personal numbers in `text`, in text order, each span once.
pub fn scan(text: &str) -> Vec<PiiHit> {
    let mut hits = Vec::new();
    scan_with(text, |hit, _| hits.push(hit));
    hits
}

/// Like [`scan`], with the byte offset where each finding ends (for
/// replacing it in place: `alerts::mask`).
pub(crate) fn scan_spans(text: &str) -> Vec<(PiiHit, usize)> {
    let mut hits = Vec::new();
    scan_with(text, |hit, end| hits.push((hit, end)));
    hits
}

/// One line for a finding's basis, e.g. "身份证号 110105********002X；手机号
/// 138****1234", at most `max` hits listed then "等 N 处" (N: all of them).
/// With `max` 0 only the count: "共 N 处".
pub fn summary(hits: &[PiiHit], max: usize) -> String {
    if hits.is_empty() {
        return String::new();
    }
    if max == 0 {
        return format!("共 {} 处", hits.len());
    }
    let mut out = String::new();
    for (i, h) in hits.iter().take(max).enumerate() {
        if i > 0 {
            out.push('；');
        }
        out.push_str(h.kind.zh());
        out.push(' ');
        out.push_str(&h.masked);
    }
    if hits.len() > max {
        out.push_str(&format!(" 等 {} 处", hits.len()));
    }
    out
}

// ---------------------------------------------------------------------------
// Numbers published on purpose.

/// Numbers an office publishes on purpose (`inspection.personal_data_allow`),
/// by their digits: `138 1234 5678`, `138-1234-5678` and `+86 13812345678`
/// are one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(std::collections::BTreeSet<String>);

impl AllowList {
    pub fn new<'a>(numbers: impl IntoIterator<Item = &'a str>) -> AllowList {
        AllowList(numbers.into_iter().map(number_key).filter(|k| !k.is_empty()).collect())
    }

    fn contains(&self, number: &str) -> bool {
        !self.0.is_empty() && self.0.contains(&number_key(number))
    }

    /// A stable summary of the list, so that a changed list is noticed (the
    /// store scans again).
    pub fn fingerprint(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join(",")
    }
}

/// The digits of a number as written (full-width too), an ID's check X
/// upper-cased, a mobile's +86 / 86 dropped.
fn number_key(s: &str) -> String {
    let mut k: String = s
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(c as u32 - 0xFEE0),
            'x' | 'X' | 'ｘ' | 'Ｘ' => Some('X'),
            _ => None,
        })
        .collect();
    if k.len() == 13 && k.starts_with("861") {
        k.drain(..2);
    }
    k
}

/// Bumped when what counts as published on purpose changes: a store scanned
/// under other rules is scanned again.
pub const PUBLISHED_RULES_VERSION: u32 = 1;

/// Labels of an official contact: a number after one of these in the same
/// sentence was published to be called.
const OFFICIAL_LABELS: &[&str] = &[
    "值班",
    "联系人",
    "咨询电话",
    "咨询热线",
    "监督电话",
    "举报电话",
    "投诉电话",
    "服务热线",
    "服务电话",
    "办公电话",
    "受理电话",
    "报名电话",
    "联络员",
];
/// A citizen in the same sentence: the number is theirs, whatever the label.
const CITIZEN_CUES: &[&str] = &[
    "申请人",
    "来电人",
    "投诉人",
    "举报人",
    "当事人",
    "留言人",
    "来信人",
    "反映人",
    "户主",
    "业主",
    "患者",
    "家属",
    "某某",
    "身份证",
    "本人",
    "救助对象",
    "受助",
];
/// A document whose title says it is a duty roster or contact list.
const CONTACT_LIST_TITLES: &[&str] = &["值班", "通讯录", "联系方式", "联系电话"];

/// The sentence before byte `start`: back to 。！？ or a line break, at most
/// 40 characters.
fn sentence_before(text: &str, start: usize) -> &str {
    let head = &text[..start];
    let from =
        head.rfind(['。', '！', '？', '\n']).map_or(0, |i| i + head[i..].chars().next().map_or(1, char::len_utf8));
    let mut from = from.max(start.saturating_sub(40 * 3));
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..start]
}

/// A mobile at `start` that the document publishes as an official contact.
fn official_contact(text: &str, start: usize) -> bool {
    let before = sentence_before(text, start);
    if CITIZEN_CUES.iter().any(|c| before.contains(c)) {
        return false;
    }
    let title = text.lines().next().unwrap_or_default();
    OFFICIAL_LABELS.iter().any(|l| before.contains(l)) || CONTACT_LIST_TITLES.iter().any(|t| title.contains(t))
}

/// The personal numbers in a published text (its title on the first line)
/// that were not published on purpose (see the module doc): what the
/// inspection reports.
pub fn scan_published(text: &str, allow: &AllowList) -> Vec<PiiHit> {
    let mut hits = Vec::new();
    scan_with(text, |hit, end| {
        let on_purpose =
            allow.contains(&text[hit.start..end]) || (hit.kind == PiiKind::Mobile && official_contact(text, hit.start));
        if !on_purpose {
            hits.push(hit);
        }
    });
    hits
}

// ---------------------------------------------------------------------------
// The scanner.

/// Digits kept per run: the longest number looked for has 19.
const KEEP: usize = 20;

/// A maximal run of digits (ASCII or full-width).
#[derive(Clone, Copy)]
struct Run {
    /// Byte offset of the first digit.
    start: usize,
    /// Byte offset after the last digit.
    end: usize,
    /// Digits in the run (may exceed `KEEP`).
    len: usize,
    /// The first `KEEP` digits, as values 0–9.
    d: [u8; KEEP],
}

impl Run {
    fn digits(&self) -> &[u8] {
        &self.d[..self.len.min(KEEP)]
    }
}

/// The digit at byte `i` and its width in bytes.
#[inline(always)]
fn digit_at(b: &[u8], i: usize) -> Option<(u8, usize)> {
    match b.get(i) {
        Some(&c) if c.is_ascii_digit() => Some((c - b'0', 1)),
        // U+FF10..=U+FF19 (０-９): EF BC 90..=99.
        Some(0xEF) if b.get(i + 1) == Some(&0xBC) => match b.get(i + 2) {
            Some(&c @ 0x90..=0x99) => Some((c - 0x90, 3)),
            _ => None,
        },
        _ => None,
    }
}

/// The width of an ID's check character X at byte `i` (`X`, `x`, `Ｘ`, `ｘ`).
fn x_at(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i..).unwrap_or_default() {
        [b'X' | b'x', ..] => Some(1),
        [0xEF, 0xBC, 0xB8, ..] | [0xEF, 0xBD, 0x98, ..] => Some(3),
        _ => None,
    }
}

fn run_at(b: &[u8], start: usize) -> Run {
    let mut r = Run { start, end: start, len: 0, d: [0; KEEP] };
    let mut i = start;
    while let Some((v, w)) = digit_at(b, i) {
        if r.len < KEEP {
            r.d[r.len] = v;
        }
        r.len += 1;
        i += w;
    }
    r.end = i;
    r
}

/// A single space or hyphen at `i` with a digit right after it.
fn sep_at(b: &[u8], i: usize) -> Option<u8> {
    match b.get(i) {
        Some(&s @ (b' ' | b'-')) if digit_at(b, i + 1).is_some() => Some(s),
        _ => None,
    }
}

/// Something right before byte `start` joins the number to a code or figure.
fn joined_before(b: &[u8], start: usize) -> bool {
    match start.checked_sub(1).map(|i| b[i]) {
        Some(c) if c.is_ascii_alphanumeric() => true,
        Some(b'.') => start >= 2 && b[start - 2].is_ascii_digit(),
        _ => false,
    }
}

/// Something right at byte `end` joins the number to a code or figure.
fn joined_after(b: &[u8], end: usize) -> bool {
    match b.get(end) {
        Some(c) if c.is_ascii_alphanumeric() => true,
        Some(b'.') => digit_at(b, end + 1).is_some(),
        // A full-width digit cannot follow a maximal run; a full-width X can.
        _ => x_at(b, end).is_some(),
    }
}

fn scan_with(text: &str, mut emit: impl FnMut(PiiHit, usize)) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // The pre-check: almost every byte is neither a digit nor the lead
        // byte of a full-width form.
        if !c.is_ascii_digit() && c != 0xEF {
            i += 1;
            continue;
        }
        if digit_at(b, i).is_none() {
            i += 1;
            continue;
        }
        let run = run_at(b, i);
        i = if run.len <= 4 {
            grouped(text, &run, &mut emit).unwrap_or(run.end)
        } else {
            single(text, &run, &mut emit)
        };
    }
}

/// Numbers written in one run. Returns where scanning goes on.
fn single(text: &str, run: &Run, emit: &mut impl FnMut(PiiHit, usize)) -> usize {
    let b = text.as_bytes();
    let x = if run.len == 17 { x_at(b, run.end) } else { None };
    let end = run.end + x.unwrap_or(0);
    if run.len > 19 || joined_before(b, run.start) || joined_after(b, end) {
        return end;
    }
    let d = run.digits();
    let hit = |kind, masked| PiiHit { kind, masked, start: run.start };
    let found =
        match (run.len, x) {
            (17, Some(_)) => id18_valid(d, 10).then(|| hit(PiiKind::IdCard, mask_id(d, Some(10)))),
            // Shaped like an ID but the check digit is wrong: not a card either.
            (18, _) if id_shaped(d) => {
                id18_valid(&d[..17], d[17]).then(|| hit(PiiKind::IdCard, mask_id(&d[..17], Some(d[17]))))
            }
            (15, _) => (id15_valid(d) && labelled_id(text, run.start)).then(|| hit(PiiKind::IdCard, mask_id(d, None))),
            (11, _) => {
                (is_mobile(d) && !serial_context(text, run.start, end)).then(|| hit(PiiKind::Mobile, mask_mobile(d)))
            }
            (13, _) => (d[..2] == [8, 6] && is_mobile(&d[2..]) && !serial_context(text, run.start, end)).then(|| {
                PiiHit { kind: PiiKind::Mobile, masked: mask_mobile(&d[2..]), start: plus_before(b, run.start) }
            }),
            (16..=19, _) => card_valid(d).then(|| hit(PiiKind::BankCard, mask_card(d))),
            _ => None,
        };
    if let Some(h) = found {
        emit(h, end);
    }
    end
}

/// Numbers written in groups, starting with the short run `first`: a mobile
/// 138-1234-5678 (with or without +86), a card 6222 0212 3456 7890. `None`
/// when nothing starts here.
fn grouped(text: &str, first: &Run, emit: &mut impl FnMut(PiiHit, usize)) -> Option<usize> {
    let b = text.as_bytes();
    let sep = sep_at(b, first.end)?;
    if joined_before(b, first.start) {
        return None;
    }
    // +86 / 86, then the mobile (in one run or in groups, any separator).
    if first.digits() == [8, 6] {
        let next = run_at(b, first.end + 1);
        let found = if next.len == 11 {
            (!joined_after(b, next.end) && is_mobile(next.digits())).then_some((next.d, next.end))
        } else if next.len == 3 {
            mobile_groups(b, &next)
        } else {
            None
        };
        if let Some((d, end)) = found {
            let start = plus_before(b, first.start);
            if !serial_context(text, start, end) {
                emit(PiiHit { kind: PiiKind::Mobile, masked: mask_mobile(&d[..11]), start }, end);
                return Some(end);
            }
        }
        return None;
    }
    if first.len == 3 {
        let (d, end) = mobile_groups(b, first)?;
        if serial_context(text, first.start, end) {
            return None;
        }
        emit(PiiHit { kind: PiiKind::Mobile, masked: mask_mobile(&d[..11]), start: first.start }, end);
        return Some(end);
    }
    if first.len == 4 {
        // Up to five groups with the same separator, and whether more follow.
        let mut d = [0u8; KEEP];
        let mut n = 0;
        let mut groups = 0;
        let mut run = *first;
        let mut end;
        loop {
            if (groups < 4 && run.len != 4) || (groups == 4 && run.len > 3) {
                return None;
            }
            d[n..n + run.len].copy_from_slice(run.digits());
            n += run.len;
            groups += 1;
            end = run.end;
            if groups == 5 || sep_at(b, end) != Some(sep) {
                break;
            }
            run = run_at(b, end + 1);
        }
        if groups < 4 || sep_at(b, end) == Some(sep) || joined_after(b, end) || !card_valid(&d[..n]) {
            return None;
        }
        emit(PiiHit { kind: PiiKind::BankCard, masked: mask_card(&d[..n]), start: first.start }, end);
        return Some(end);
    }
    None
}

/// A mobile written 3-4-4 from `first` (3 digits) with one separator; its
/// 11 digits and end.
fn mobile_groups(b: &[u8], first: &Run) -> Option<([u8; KEEP], usize)> {
    let sep = sep_at(b, first.end)?;
    let second = run_at(b, first.end + 1);
    if second.len != 4 || sep_at(b, second.end) != Some(sep) {
        return None;
    }
    let third = run_at(b, second.end + 1);
    if third.len != 4 || sep_at(b, third.end) == Some(sep) || joined_after(b, third.end) {
        return None;
    }
    let mut d = [0u8; KEEP];
    d[..3].copy_from_slice(first.digits());
    d[3..7].copy_from_slice(second.digits());
    d[7..11].copy_from_slice(third.digits());
    is_mobile(&d[..11]).then_some((d, third.end))
}

/// The start of a number, including a `+` right before it.
fn plus_before(b: &[u8], start: usize) -> usize {
    if start > 0 && b[start - 1] == b'+' { start - 1 } else { start }
}

/// A number after 第 or before 号/年/月/日 is a serial or document number.
fn serial_context(text: &str, start: usize, end: usize) -> bool {
    text[..start].ends_with('第') || text[end..].starts_with(['号', '年', '月', '日'])
}

/// The label 身份证 right before `start` (身份证号：, 身份证号码为 …).
fn labelled_id(text: &str, start: usize) -> bool {
    // A short look back; `start - 40` may fall inside a character.
    let mut from = start.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    text[from..start].trim_end_matches(['号', '码', '为', '是', ':', '：', ' ', '\u{3000}']).ends_with("身份证")
}

// ---------------------------------------------------------------------------
// Validation.

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check value (10 = X) by the weighted sum mod 11: "10X98765432".
const ID_CHECK: [u8; 11] = [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2];

fn num(d: &[u8]) -> u32 {
    d.iter().fold(0, |acc, &v| acc * 10 + v as u32)
}

fn region_ok(d: &[u8]) -> bool {
    matches!(d[0], 1..=6) || (d[0] == 8 && matches!(d[1], 1..=3))
}

fn date_ok(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Region and birth date of an 18-character ID (the first 17 digits, at least).
fn id_shaped(d: &[u8]) -> bool {
    let year = num(&d[6..10]);
    region_ok(d) && (1900..=2100).contains(&year) && date_ok(year, num(&d[10..12]), num(&d[12..14]))
}

/// 17 digits and a check value (10 for X) form a valid 18-character ID.
fn id18_valid(d17: &[u8], check: u8) -> bool {
    let sum: u32 = d17.iter().zip(ID_WEIGHTS).map(|(&v, w)| v as u32 * w).sum();
    id_shaped(d17) && ID_CHECK[(sum % 11) as usize] == check
}

/// A 15-digit ID: region and a 19YY birth date.
fn id15_valid(d: &[u8]) -> bool {
    region_ok(d) && date_ok(1900 + num(&d[6..8]), num(&d[8..10]), num(&d[10..12]))
}

fn is_mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == 1 && d[1] >= 3
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &v)| {
            let v = v as u32;
            if i % 2 == 1 {
                let x = v * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A card prefix and length typical of cards used in China.
fn iin_ok(d: &[u8]) -> bool {
    let n = d.len();
    let p2 = num(&d[..2]);
    let p4 = num(&d[..4]);
    match d[0] {
        4 => n == 16 || n == 19,
        _ if p2 == 62 => (16..=19).contains(&n),
        _ if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) => n == 16,
        _ if (3528..=3589).contains(&p4) => (16..=19).contains(&n),
        _ => false,
    }
}

fn card_valid(d: &[u8]) -> bool {
    (16..=19).contains(&d.len()) && iin_ok(d) && luhn(d)
}

// ---------------------------------------------------------------------------
// Masking: the digits are the normalized (ASCII) ones.

fn push_digits(out: &mut String, d: &[u8]) {
    out.extend(d.iter().map(|&v| (b'0' + v) as char));
}

/// First 6 and last 4 kept: 110105********002X (15 digits: 110105*****7123).
fn mask_id(d: &[u8], check: Option<u8>) -> String {
    let mut all = [0u8; 18];
    all[..d.len()].copy_from_slice(d);
    let n = match check {
        Some(c) => {
            all[d.len()] = c;
            d.len() + 1
        }
        None => d.len(),
    };
    let mut out = String::with_capacity(n);
    push_digits(&mut out, &all[..6]);
    out.extend(std::iter::repeat_n('*', n - 10));
    for &v in &all[n - 4..n] {
        out.push(if v == 10 { 'X' } else { (b'0' + v) as char });
    }
    out
}

/// 138****5678.
fn mask_mobile(d: &[u8]) -> String {
    let mut out = String::with_capacity(11);
    push_digits(&mut out, &d[..3]);
    out.push_str("****");
    push_digits(&mut out, &d[7..11]);
    out
}

/// First 4 and last 4 kept, the hidden digits in groups of four:
/// 6222 **** **** 1234 (19 digits: 6222 **** **** *** 1234).
fn mask_card(d: &[u8]) -> String {
    let mut out = String::with_capacity(d.len() + 6);
    push_digits(&mut out, &d[..4]);
    let mut hidden = d.len() - 8;
    while hidden > 0 {
        let g = hidden.min(4);
        out.push(' ');
        out.extend(std::iter::repeat_n('*', g));
        hidden -= g;
    }
    out.push(' ');
    push_digits(&mut out, &d[d.len() - 4..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16 item 9: a duty officer's number published on purpose is not
    /// a citizen's leaked data. The sentences follow real notices (值班安排,
    /// 公示 with 联系人 and 监督电话); the numbers are made up.
    #[test]
    fn official_contacts_and_the_allow_list_are_not_leaks() {
        let none = AllowList::default();
        let found = |text: &str| scan_published(text, &none).into_iter().map(|h| h.masked).collect::<Vec<_>>();
        for official in [
            "关于做好国庆期间值班工作的通知\n值班联系人：李老师，联系电话：13812345678。",
            "公示\n公示期间如有异议，请与我们联系。联系人：王科长，手机 139-1234-5678。",
            "通知\n监督举报电话：13912345678。",
            "通知\n咨询电话：0310-1234567、13712345678",
            // A duty roster: every mobile in it is a duty officer's.
            "2026年春节假期值班安排表\n2月1日 张三 13812345678\n2月2日 李四 13912345678",
        ] {
            assert_eq!(found(official), Vec::<String>::new(), "{official}");
        }
        for leak in [
            // A labelled number with a citizen in the same sentence is theirs.
            "救助公示\n1. 王某某，身份证号 11010519491231002X，联系电话 13912345678，救助金额 2000 元。",
            "答复\n申请人张三，联系电话：13812345678，申请公开……",
            // The label is in an earlier sentence: it does not carry over.
            "通知\n联系人：李老师。来电群众反映，其手机 13712345678 被冒用。",
            // No label at all.
            "通报\n经核实，13612345678 用户多次拨打。",
        ] {
            assert!(!found(leak).is_empty(), "{leak}");
        }
        // The demo's leak: the ID and the mobile both stay.
        assert_eq!(found("救助公示\n王某某，身份证号 11010519491231002X，联系电话 13912345678。").len(), 2);

        // The allow-list, in any written form; other numbers are still found.
        let allow = AllowList::new(["138 1234 5678", "+86 139-1234-5678", "6222 0212 3456 7890 128"]);
        let hits = scan_published("通报\n号码 13812345678、8613912345678 和 13712345678。", &allow);
        assert_eq!(hits.iter().map(|h| h.masked.as_str()).collect::<Vec<_>>(), ["137****5678"]);
        assert_eq!(AllowList::new(["13812345678"]), AllowList::new(["138-1234-5678", "  "]));
        assert_ne!(allow.fingerprint(), AllowList::default().fingerprint());
    }

    fn kinds(text: &str) -> Vec<(PiiKind, String)> {
        scan(text).into_iter().map(|h| (h.kind, h.masked)).collect()
    }

    /// Appends the Luhn check digit to `body`.
    fn with_luhn(body: &str) -> String {
        (0..10).map(|c| format!("{body}{c}")).find(|s| luhn(&s.bytes().map(|b| b - b'0').collect::<Vec<_>>())).unwrap()
    }

    fn full_width(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap(),
                'X' => 'Ｘ',
                c => c,
            })
            .collect()
    }

    #[test]
    fn acceptance_pair() {
        let text = "申请人身份证号11010519491231002X，现予公示。";
        let hits = scan(text);
        assert_eq!(
            hits,
            vec![PiiHit {
                kind: PiiKind::IdCard, masked: "110105********002X".into(), start: "申请人身份证号".len()
            }]
        );
        assert!(scan("申请人身份证号110105194912310021，现予公示。").is_empty());
        // Lower-case x as well.
        assert_eq!(kinds("号码11010519491231002x。"), [(PiiKind::IdCard, "110105********002X".into())]);
    }

    #[test]
    fn id_with_a_digit_check() {
        // 110101199003071234 has check digit 4? Compute one that is valid.
        let body = "11010119900307123";
        let d: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        let sum: u32 = d.iter().zip(ID_WEIGHTS).map(|(&v, w)| v as u32 * w).sum();
        let check = ID_CHECK[(sum % 11) as usize];
        assert!(check < 10, "pick a body with a digit check");
        let id = format!("{body}{check}");
        assert_eq!(kinds(&format!("身份证：{id} 。")), [(PiiKind::IdCard, format!("110101********123{check}"))]);
        // Every other last digit is wrong.
        for c in (0..10).filter(|&c| c != check) {
            assert!(scan(&format!("身份证：{body}{c} 。")).is_empty(), "{body}{c}");
        }
        // Impossible dates: 1990-02-30, 1899.
        assert!(!id_shaped(&"11010119900230123".bytes().map(|b| b - b'0').collect::<Vec<_>>()));
        assert!(!id_shaped(&"11010118990101123".bytes().map(|b| b - b'0').collect::<Vec<_>>()));
        // 2000-02-29 is real (a leap year), 1900-02-29 is not.
        assert!(id_shaped(&"11010120000229123".bytes().map(|b| b - b'0').collect::<Vec<_>>()));
        assert!(!id_shaped(&"11010119000229123".bytes().map(|b| b - b'0').collect::<Vec<_>>()));
        // Region 7 or 9: no; 81–83 (permits): yes.
        assert!(!region_ok(&[7, 1]) && !region_ok(&[9, 1]) && region_ok(&[8, 1]) && !region_ok(&[8, 4]));
    }

    #[test]
    fn full_width_digits() {
        let text = format!("身份证号{}，手机{}。", full_width("11010519491231002X"), full_width("13812345678"));
        let hits = scan(&text);
        assert_eq!(hits.len(), 2, "{hits:?}");
        assert_eq!(hits[0].masked, "110105********002X");
        assert_eq!(hits[0].start, "身份证号".len());
        assert_eq!(hits[1].kind, PiiKind::Mobile);
        assert_eq!(hits[1].masked, "138****5678");
        assert!(text[hits[1].start..].starts_with('１'));
        // Mixed widths are one run.
        assert_eq!(kinds("电话１３８12345678。").len(), 1);
    }

    #[test]
    fn inside_longer_runs_nothing() {
        for s in [
            "编号911010519491231002X",
            "编号11010519491231002X1",
            "编号A11010519491231002X",
            "编号11010519491231002XY",
            "订单138123456789",
            "订单9138123456789",
            "码GD13812345678",
            "码13812345678A",
            "比例3.13812345678",
        ] {
            assert!(scan(s).is_empty(), "{s}: {:?}", scan(s));
        }
    }

    #[test]
    fn mobiles() {
        let m = |s: &str| kinds(s);
        let one = vec![(PiiKind::Mobile, "138****5678".to_string())];
        assert_eq!(m("联系电话13812345678。"), one);
        assert_eq!(m("联系电话：138-1234-5678，"), one);
        assert_eq!(m("联系电话 138 1234 5678 "), one);
        assert_eq!(m("电话+86 138 1234 5678"), one);
        assert_eq!(m("电话+86-13812345678"), one);
        assert_eq!(m("电话+8613812345678"), one);
        assert_eq!(m("电话8613812345678"), one);
        let h = scan("电话+86 138 1234 5678");
        assert_eq!(h[0].start, "电话".len());
        // Twelve digits, mixed separators, a longer chain, 12x, 文号/serials: not mobiles.
        for s in [
            "订单138123456780。",
            "电话138-1234 5678",
            "电话138-1234-5678-9",
            "号码12812345678",
            "第13812345678号",
            "〔2026〕13812345678号",
            "2026-11-22 13:45",
        ] {
            assert!(scan(s).is_empty(), "{s}: {:?}", scan(s));
        }
        // A date and a phone side by side.
        assert_eq!(m("2026-11-22 13812345678"), one);
        assert_eq!(m("座机0551-1234567 138 1234 5678"), one);
    }

    #[test]
    fn bank_cards() {
        let card = with_luhn("622202123456789");
        assert_eq!(card.len(), 16);
        let last = card.as_bytes()[15] - b'0';
        let neighbour = format!("{}{}", &card[..15], (last + 1) % 10);
        let masked = format!("6222 **** **** {}", &card[12..]);
        assert_eq!(kinds(&format!("卡号{card}，户名")), [(PiiKind::BankCard, masked.clone())]);
        assert!(scan(&format!("卡号{neighbour}，户名")).is_empty());
        // Groups of four, spaces or hyphens.
        let spaced = format!("{} {} {} {}", &card[..4], &card[4..8], &card[8..12], &card[12..]);
        assert_eq!(kinds(&format!("卡号：{spaced}。")), [(PiiKind::BankCard, masked.clone())]);
        assert_eq!(kinds(&format!("卡号：{}。", spaced.replace(' ', "-"))), [(PiiKind::BankCard, masked.clone())]);
        // 19 digits, the last group short.
        let long = with_luhn("621700123456789012");
        let grouped = format!("{} {} {} {} {}", &long[..4], &long[4..8], &long[8..12], &long[12..16], &long[16..]);
        let want = format!("6217 **** **** *** {}", &long[15..]);
        assert_eq!(kinds(&format!("卡号{long}。")), [(PiiKind::BankCard, want.clone())]);
        assert_eq!(kinds(&format!("卡号{grouped}。")), [(PiiKind::BankCard, want)]);
        // A fifth full group: a longer number.
        assert!(scan(&format!("{spaced} 1234")).is_empty());
        // Inside a longer run, or joined to letters.
        assert!(scan(&format!("编号9{card}")).is_empty());
        assert!(scan(&format!("编号{card}A")).is_empty());
        // Visa (16), Mastercard (16 only).
        assert_eq!(kinds(&with_luhn("411111111111111"))[0].0, PiiKind::BankCard);
        assert_eq!(kinds(&with_luhn("510510510510510"))[0].0, PiiKind::BankCard);
        assert!(scan(&with_luhn("51051051051051000")).is_empty());
    }

    #[test]
    fn government_numbers_are_not_cards() {
        // Luhn-valid, but no card prefix: order numbers and timestamps
        // starting with a year, 13-digit millisecond timestamps.
        for body in ["202611221234567", "20261122123456789", "176454720000", "17645472000001234"] {
            let n = with_luhn(body);
            assert!(scan(&format!("订单号{n}。")).is_empty(), "{n}");
        }
        assert!(scan("订单号2026112212345678。").is_empty());
        // 统一社会信用代码: letters, or 18 digits starting 1/5/9.
        for code in ["91340100MA2N12345X", "11340000003187654K", "513400005123456789", "12340100485012345X"] {
            assert!(scan(&format!("统一社会信用代码：{code}")).is_empty(), "{code}");
        }
        let numeric = with_luhn("51340000512345678");
        assert!(scan(&format!("统一社会信用代码：{numeric}")).is_empty());
        // An ID-shaped number from Gansu (62…) with a wrong check digit that
        // passes Luhn is neither an ID nor a card.
        let gansu = (0..1000)
            .map(|s| format!("62010219800101{s:03}"))
            .map(|b| with_luhn(&b))
            .find(|n| {
                let d: Vec<u8> = n.bytes().map(|b| b - b'0').collect();
                !id18_valid(&d[..17], d[17])
            })
            .unwrap();
        assert!(scan(&gansu).is_empty(), "{gansu}");
    }

    #[test]
    fn old_ids_only_after_a_label() {
        assert_eq!(kinds("身份证号码：110101900307123。"), [(PiiKind::IdCard, "110101*****7123".into())]);
        assert_eq!(kinds("身份证 110101900307123"), [(PiiKind::IdCard, "110101*****7123".into())]);
        assert!(scan("编号110101900307123。").is_empty());
        assert!(scan("身份证号110101901307123").is_empty(), "month 13");
    }

    #[test]
    fn masks_never_hold_the_number() {
        let card = with_luhn("622202123456789");
        let text = format!(
            "身份证号11010519491231002X，手机13812345678，卡号{card}；卡号{}。",
            with_luhn("621700123456789012")
        );
        let hits = scan(&text);
        assert_eq!(hits.len(), 4);
        let digits = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>();
        for h in &hits {
            assert!(h.masked.contains('*'));
            let shown = digits(&h.masked);
            assert!(shown.len() <= 10, "{h:?}");
            let json = serde_json::to_string(h).unwrap();
            for whole in ["11010519491231002X", "13812345678", card.as_str()] {
                assert!(!json.contains(whole));
            }
        }
        assert!(hits.windows(2).all(|w| w[0].start < w[1].start));
    }

    #[test]
    fn summaries() {
        let hits = scan("身份证号11010519491231002X，手机13812341234，电话139-0000-1111。");
        assert_eq!(hits.len(), 3);
        assert_eq!(summary(&hits, 5), "身份证号 110105********002X；手机号 138****1234；手机号 139****1111");
        assert_eq!(summary(&hits, 2), "身份证号 110105********002X；手机号 138****1234 等 3 处");
        assert_eq!(summary(&hits, 0), "共 3 处");
        assert_eq!(summary(&[], 3), "");
        assert_eq!(PiiKind::BankCard.as_str(), "bank_card");
        assert_eq!(serde_json::to_value(PiiKind::IdCard).unwrap(), "id_card");
        assert_eq!(PiiKind::Mobile.zh(), "手机号");
    }

    #[test]
    fn spans_end_where_the_number_ends() {
        let text = "电话+86 138 1234 5678，身份证11010519491231002X。";
        let spans = scan_spans(text);
        assert_eq!(&text[spans[0].0.start..spans[0].1], "+86 138 1234 5678");
        assert_eq!(&text[spans[1].0.start..spans[1].1], "11010519491231002X");
    }

    #[test]
    fn odd_text_does_not_panic() {
        for s in ["", "1", "\u{FF10}", "\u{EF}", "x1-", "1 ", "12 3", "86 ", "86 138", "１２３４ ", "身份证1", "ｘ"]
        {
            let _ = scan(s);
        }
        // A byte slice that ends in the middle of a full-width form.
        let _ = scan(&"１".repeat(30));
    }
}
