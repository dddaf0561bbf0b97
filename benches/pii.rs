//! Personal-data scan benchmark (保密审查, `rules::pii::scan`): the texts of
//! 1,000,000 generated portal items (see `corpus/mod.rs`), about 0.1% of them
//! carrying a valid ID number, mobile or bank card number and about 0.2% an
//! invalid one (wrong check digit, Luhn-invalid card, 12-digit "mobile",
//! numbers inside longer runs or codes). Every item is scanned on one
//! thread; the program prints items/s, MB/s, hits by kind and checks that
//! exactly the items given a valid number are flagged.
//!
//! For comparison the same scan is timed with the `regex` crate finding the
//! candidates (digit runs with single space/hyphen separators, an optional
//! `+` and check letter) and `pii::scan` validating each candidate. Then
//! `alerts::mask`, which the console runs on every search hit an officer
//! sees, is timed on the same texts.
//!
//! ```text
//! cargo bench --bench pii                      # 1,000,000 items
//! cargo bench --bench pii -- --items 20000     # quick
//! ```
//!
//! Prints markdown tables on stdout and progress on stderr. Started without
//! `--bench` (as `cargo test --all-targets` does) it runs a smoke test with
//! 5,000 items.

mod common;
mod corpus;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use govwatch::rules::pii::{self, PiiKind};
use regex::Regex;

use common::{
    Machine, Rng, Table, fmt_secs, loadavg, number_arg, per_sec, progress, started_by_cargo_bench, thousands,
};
use corpus::Corpus;

const INJECT_SEED: u64 = 0x7069_6920_7363_616e; // "pii scan"
/// Per 10,000 items: a valid number, an invalid one.
const VALID_PER_10K: u64 = 10;
const INVALID_PER_10K: u64 = 20;
/// Timed passes over all texts (the best is reported).
const PASSES: usize = 3;

struct Options {
    items: u64,
    seeds: PathBuf,
}

fn parse_args() -> Result<(Options, bool)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = started_by_cargo_bench(&args);
    let mut o = Options { items: if full { 1_000_000 } else { 5_000 }, seeds: common::shared_dir().join("seeds") };
    if !full {
        return Ok((o, true));
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--items" => o.items = number_arg(&mut it, "--items")?.max(1) as u64,
            "--seeds" => o.seeds = PathBuf::from(it.next().context("--seeds needs a value")?),
            other => bail!("unknown option {other:?}; options: --items N --seeds DIR"),
        }
    }
    Ok((o, false))
}

// --- generated numbers -------------------------------------------------------

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| (b'0' + rng.below(10) as u8) as char).collect()
}

fn id_check(body: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(W).map(|(b, w)| (b - b'0') as u32 * w).sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

fn luhn_digit(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let v = (b - b'0') as u32;
            if i % 2 == 0 {
                let x = v * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                v
            }
        })
        .sum();
    (b'0' + ((10 - sum % 10) % 10) as u8) as char
}

fn id_body(rng: &mut Rng) -> String {
    const REGIONS: &[&str] = &["110105", "340102", "341302", "320106", "440305", "620102", "350203", "510104"];
    let region = REGIONS[rng.below(REGIONS.len() as u64) as usize];
    let year = rng.range(1940, 2008);
    let month = rng.range(1, 12);
    let day = rng.range(1, 28);
    format!("{region}{year}{month:02}{day:02}{}", digits(rng, 3))
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).expect("full-width digit"),
            'X' => 'Ｘ',
            c => c,
        })
        .collect()
}

fn mobile(rng: &mut Rng) -> String {
    format!("1{}{}", rng.range(3, 9), digits(rng, 9))
}

fn card_body(rng: &mut Rng) -> String {
    let (prefix, len) = match rng.below(5) {
        0 => ("622202", 16),
        1 => ("621700", 19),
        2 => ("623052", 19),
        3 => ("4", 16),
        _ => ("52", 16),
    };
    format!("{prefix}{}", digits(rng, len - 1 - prefix.len()))
}

fn groups_of_4(s: &str, sep: char) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// A valid number in the words around it, and its kind.
fn valid(rng: &mut Rng) -> (String, PiiKind) {
    match rng.below(3) {
        0 => {
            let body = id_body(rng);
            let id = format!("{body}{}", id_check(&body));
            let id = if rng.below(5) == 0 { full_width(&id) } else { id };
            (format!("申请人身份证号{id}，"), PiiKind::IdCard)
        }
        1 => {
            let m = mobile(rng);
            let m = match rng.below(4) {
                0 => m,
                1 => format!("{}-{}-{}", &m[..3], &m[3..7], &m[7..]),
                2 => format!("{} {} {}", &m[..3], &m[3..7], &m[7..]),
                _ => format!("+86 {m}"),
            };
            (format!("联系电话：{m}。"), PiiKind::Mobile)
        }
        _ => {
            let body = card_body(rng);
            let card = format!("{body}{}", luhn_digit(&body));
            let card = if rng.below(2) == 0 { groups_of_4(&card, ' ') } else { card };
            (format!("退款账户{card}，"), PiiKind::BankCard)
        }
    }
}

/// A number that must not be flagged.
fn invalid(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => {
            // Wrong check digit.
            let body = id_body(rng);
            let good = id_check(&body);
            let bad = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X']
                .into_iter()
                .filter(|c| *c != good)
                .nth(rng.below(10) as usize)
                .expect("ten others");
            format!("身份证号{body}{bad}，")
        }
        1 => {
            // Luhn-invalid card.
            let body = card_body(rng);
            let good = luhn_digit(&body) as u8 - b'0';
            format!("卡号{body}{}，", (good + 1 + rng.below(9) as u8) % 10)
        }
        2 => format!("订单号{}{}。", mobile(rng), digits(rng, 1)),
        3 => {
            let body = id_body(rng);
            // Not 4 or 6: a 19-digit run starting 4 or 62 may be a card.
            let lead = [1, 2, 3, 5, 7, 8, 9][rng.below(7) as usize];
            format!("编号{lead}{body}{}，", id_check(&body))
        }
        4 => {
            let body = card_body(rng);
            format!("流水号GD{body}{}，", luhn_digit(&body))
        }
        _ => format!("〔2026〕{}号", mobile(rng)),
    }
}

/// `text` with `insert` after its first sentence.
fn inject(text: &str, insert: &str) -> String {
    let at = text.find('。').map_or(0, |i| i + '。'.len_utf8());
    let mut out = String::with_capacity(text.len() + insert.len());
    out.push_str(&text[..at]);
    out.push_str(insert);
    out.push_str(&text[at..]);
    out
}

/// The texts of items `0..n` and the kind of the valid number each was given.
fn texts(corpus: &Corpus, n: u64) -> (Vec<String>, Vec<Option<PiiKind>>, u64) {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
    let chunk = n.div_ceil(threads).max(1);
    let parts: Vec<Vec<(String, Option<PiiKind>, bool)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (from, to) = ((t * chunk).min(n), ((t + 1) * chunk).min(n));
                s.spawn(move || {
                    (from..to)
                        .map(|i| {
                            let text = corpus.item(i, n).text;
                            let mut rng = Rng::new(INJECT_SEED ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                            let u = rng.below(10_000);
                            if u < VALID_PER_10K {
                                let (s, kind) = valid(&mut rng);
                                (inject(&text, &s), Some(kind), false)
                            } else if u < VALID_PER_10K + INVALID_PER_10K {
                                (inject(&text, &invalid(&mut rng)), None, true)
                            } else {
                                (text, None, false)
                            }
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("generator thread panicked")).collect()
    });
    let mut texts = Vec::with_capacity(n as usize);
    let mut kinds = Vec::with_capacity(n as usize);
    let mut invalid = 0;
    for (t, k, bad) in parts.into_iter().flatten() {
        texts.push(t);
        kinds.push(k);
        invalid += bad as u64;
    }
    (texts, kinds, invalid)
}

// --- the regex comparison ----------------------------------------------------

/// Candidates: digit runs with single separators, an optional `+` before and
/// an ID's check letter after; `pii::scan` validates each.
fn candidates() -> Regex {
    Regex::new(r"\+?[0-9０-９](?:[ \-]?[0-9０-９])*[XxＸｘ]?").expect("candidate pattern")
}

fn scan_regex(re: &Regex, text: &str, out: &mut Vec<pii::PiiHit>) {
    for m in re.find_iter(text) {
        let s = m.as_str();
        // Fewer than 11 digits: nothing looked for is that short.
        if s.len() < 11 {
            continue;
        }
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        if before.is_some_and(|c| c.is_ascii_alphanumeric()) || after.is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        out.extend(pii::scan(s).into_iter().map(|mut h| {
            h.start += m.start();
            h
        }));
    }
}

// --- the run -----------------------------------------------------------------

struct Pass {
    time: Duration,
    hits: [u64; 3],
    flagged: Vec<bool>,
    /// Items flagged with the kind they were given (or more).
    kinds: Vec<Vec<PiiKind>>,
}

fn kind_index(k: PiiKind) -> usize {
    match k {
        PiiKind::IdCard => 0,
        PiiKind::Mobile => 1,
        PiiKind::BankCard => 2,
    }
}

fn pass(texts: &[String], mut scan: impl FnMut(&str, &mut Vec<pii::PiiHit>)) -> Pass {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..PASSES {
        let mut hits = [0u64; 3];
        let mut flagged = Vec::with_capacity(texts.len());
        let mut kinds = Vec::new();
        let mut buf = Vec::new();
        let t = Instant::now();
        for text in texts {
            buf.clear();
            scan(text, &mut buf);
            flagged.push(!buf.is_empty());
            if !buf.is_empty() {
                for h in &buf {
                    hits[kind_index(h.kind)] += 1;
                }
                kinds.push(buf.iter().map(|h| h.kind).collect());
            }
        }
        let time = t.elapsed();
        best = best.min(time);
        result = Some((hits, flagged, kinds));
    }
    let (hits, flagged, kinds) = result.expect("at least one pass");
    Pass { time: best, hits, flagged, kinds }
}

fn main() {
    let (o, smoke) = match parse_args() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    if smoke {
        eprintln!("pii bench: not started by `cargo bench`; a smoke test with {} items", o.items);
    }
    let corpus = match Corpus::from_seeds(&o.seeds) {
        Ok(c) => c,
        Err(e) => {
            println!("PII BENCHMARK NOT RUN: it needs the seed documents, and {e}.");
            if smoke {
                return;
            }
            std::process::exit(1);
        }
    };
    if let Err(e) = run(&o, &corpus) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(o: &Options, corpus: &Corpus) -> Result<()> {
    common::START.get_or_init(Instant::now);
    let machine = Machine::read();
    let load_before = loadavg();
    let n = o.items;
    progress!("generating {} item texts from {} seed files", thousands(n), corpus.seed_files.len());
    let t = Instant::now();
    let (texts, given, invalid) = texts(corpus, n);
    let bytes: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let chars: u64 = texts.iter().map(|t| t.chars().count() as u64).sum();
    let injected = given.iter().filter(|k| k.is_some()).count() as u64;
    let mut injected_by_kind = [0u64; 3];
    for k in given.iter().flatten() {
        injected_by_kind[kind_index(*k)] += 1;
    }
    progress!(
        "generated in {}: {:.1} MB, {} with a valid number, {} with an invalid one",
        fmt_secs(t.elapsed()),
        bytes as f64 / 1e6,
        thousands(injected),
        thousands(invalid)
    );

    let scan = pass(&texts, |t, out| out.extend(pii::scan(t)));
    progress!("pii::scan: best of {PASSES} passes {}", fmt_secs(scan.time));
    let re = candidates();
    let rx = pass(&texts, |t, out| scan_regex(&re, t, out));
    progress!("regex candidates + pii::scan: best of {PASSES} passes {}", fmt_secs(rx.time));

    // Flagged items against the injected valid numbers.
    let mut false_pos = Vec::new();
    let mut false_neg = Vec::new();
    let mut wrong_kind = 0u64;
    let mut k = 0;
    for (i, (&f, g)) in scan.flagged.iter().zip(&given).enumerate() {
        let found = if f {
            k += 1;
            Some(&scan.kinds[k - 1])
        } else {
            None
        };
        match (found, g) {
            (Some(_), None) => false_pos.push(i),
            (None, Some(_)) => false_neg.push(i),
            (Some(kinds), Some(g)) if !kinds.contains(g) => wrong_kind += 1,
            _ => {}
        }
    }
    // What the console does to every search hit an officer sees (`alerts::mask`:
    // numbers, cards, names after labels), one thread.
    let mut mask_time = Duration::MAX;
    let mut masked_texts = 0u64;
    for _ in 0..PASSES {
        let t = Instant::now();
        masked_texts =
            texts.iter().filter(|t| matches!(govwatch::alerts::mask::mask(t), std::borrow::Cow::Owned(_))).count()
                as u64;
        mask_time = mask_time.min(t.elapsed());
    }
    progress!("alerts::mask: best of {PASSES} passes {}", fmt_secs(mask_time));
    let flagged = scan.flagged.iter().filter(|f| **f).count() as u64;
    let rx_flagged = rx.flagged.iter().filter(|f| **f).count() as u64;
    let rx_differs = scan.flagged.iter().zip(&rx.flagged).filter(|(a, b)| a != b).count();
    let load_after = loadavg();

    let mb = bytes as f64 / 1e6;
    let mut out = String::new();
    out.push_str("## PII scan (`cargo bench --bench pii`)\n\n");
    out.push_str(&machine.markdown());
    out.push_str(&format!("\nLoad average before / after: {load_before} / {load_after}\n\n"));
    out.push_str(&format!(
        "{} item texts, {:.1} MB ({} characters, {} bytes a text on average); \
         {} given a valid number ({} ID, {} mobile, {} card), {} an invalid one.\n\n",
        thousands(n),
        mb,
        thousands(chars),
        bytes / n.max(1),
        thousands(injected),
        thousands(injected_by_kind[0]),
        thousands(injected_by_kind[1]),
        thousands(injected_by_kind[2]),
        thousands(invalid),
    ));
    let mut table = Table::new(&[
        "scan (one thread)",
        "time (best of 3)",
        "items/s",
        "MB/s",
        "ID hits",
        "mobile hits",
        "card hits",
        "items flagged",
    ]);
    for (name, p, f) in [("`pii::scan`", &scan, flagged), ("`regex` candidates + `pii::scan`", &rx, rx_flagged)] {
        table.row(vec![
            name.to_string(),
            fmt_secs(p.time),
            per_sec(n as f64, p.time),
            format!("{:.0}", mb / p.time.as_secs_f64()),
            thousands(p.hits[0]),
            thousands(p.hits[1]),
            thousands(p.hits[2]),
            thousands(f),
        ]);
    }
    out.push_str(&table.render());
    out.push_str(&format!(
        "\nMasking the same texts as the console masks search hits (`alerts::mask`, one thread): {} \
         (best of {PASSES}), {} items/s, {:.0} MB/s; {} texts changed.\n",
        fmt_secs(mask_time),
        per_sec(n as f64, mask_time),
        mb / mask_time.as_secs_f64(),
        thousands(masked_texts),
    ));
    out.push_str(&format!(
        "\nFlagged items {} against {} given a valid number: {} false positives, {} false negatives, \
         {} flagged with another kind; the regex variant flags {} items differently.\n",
        thousands(flagged),
        thousands(injected),
        false_pos.len(),
        false_neg.len(),
        wrong_kind,
        rx_differs,
    ));
    for &i in false_pos.iter().chain(&false_neg).take(5) {
        let masked: Vec<String> =
            pii::scan(&texts[i]).iter().map(|h| format!("{} {}", h.kind.zh(), h.masked)).collect();
        out.push_str(&format!("\n* item {i}: given {:?}, found {masked:?}", given[i]));
    }
    println!("{out}");
    if !false_pos.is_empty() || !false_neg.is_empty() || wrong_kind > 0 {
        bail!("the flagged items differ from the injected valid numbers");
    }
    Ok(())
}
