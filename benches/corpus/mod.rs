//! A deterministic corpus of Chinese items for the search benchmark.
//!
//! The text comes from the seed documents (`$GOVWATCH_SHARED/seeds/*.txt`:
//! real 政府信息公开 annual reports and work plans, one of them with
//! traditional characters and pinyin annotations). They are split into
//! sentences on `。！？；` and line breaks; each item gets a 20–30 character
//! title and a ~340 character text composed of sentences drawn at random.
//! Sentences are drawn with Zipf-like weights (exponent 1 over a shuffled
//! order), so that some words are everywhere and others are rare, as in a
//! real archive. The seeds are small (~600 sentences), so even "rare" words
//! occur in thousands of items at 1,000,000 items.
//!
//! Everything is a function of the item number and a fixed seed: the same
//! `N` gives the same items on every machine, and items can be generated in
//! parallel.
//!
//! With [`Corpus::with_numbers`] (the search benchmark), items also carry
//! what officers search by letters and digits: messages and opinion items a
//! work-order number (`工单编号：GD202611050012`, the day and a sequence), and
//! one in three of the other items a 文号 (`沪经信规范〔2026〕12号`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, TimeZone};
use govwatch::model::{Item, ItemKind, Level, ParsedItem, Precision, Published, Role};
use govwatch::normalize::time::china;
use govwatch::normalize::{SourceInfo, to_item};

use super::common::Rng;

pub mod fill;

const CORPUS_SEED: u64 = 0x676f_7677_6174_6368; // "govwatch"
const SOURCES: usize = 50;
const UNITS: usize = 20;
/// Titles and texts, in characters.
const TITLE_MIN: usize = 20;
const TITLE_MAX: usize = 30;
const TEXT_MIN: usize = 300;
const TEXT_MAX: usize = 380;

/// One generated source: the classification every item of it carries.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub unit: String,
    pub kind: ItemKind,
    pub role: Role,
    pub level: Level,
    pub host: String,
}

pub struct Corpus {
    pub seed_files: Vec<PathBuf>,
    sentences: Vec<Vec<char>>,
    /// Cumulative weights, for drawing a sentence.
    cdf: Vec<f64>,
    pub sources: Vec<Source>,
    /// Items are published between these two times (Asia/Shanghai).
    pub first: DateTime<FixedOffset>,
    pub last: DateTime<FixedOffset>,
    /// Work-order numbers and 文号 in the texts (see the module doc).
    numbers: bool,
}

/// The seed documents in `dir`, sorted by name.
pub fn seed_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "the seed documents folder {} cannot be read ({e}); set GOVWATCH_SHARED to the folder that holds seeds/, or pass --seeds DIR",
            dir.display()
        )
    })?;
    let mut files: Vec<PathBuf> =
        rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "txt")).collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("the seed documents folder {} holds no *.txt files", dir.display()));
    }
    Ok(files)
}

/// Splits text into sentences on `。！？；` and line breaks.
pub fn sentences(text: &str) -> Vec<String> {
    text.split(['。', '！', '？', '；', '\n'])
        .map(|s| s.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}'))
        .filter(|s| s.chars().filter(|c| is_cjk(*c)).count() >= 5)
        .map(str::to_string)
        .collect()
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

impl Corpus {
    /// Reads the seed documents in `dir`.
    pub fn from_seeds(dir: &Path) -> Result<Corpus, String> {
        let files = seed_files(dir)?;
        let mut all = Vec::new();
        for f in &files {
            let bytes = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
            all.extend(sentences(&String::from_utf8_lossy(&bytes)));
        }
        if all.len() < 20 {
            return Err(format!(
                "the seed documents in {} hold only {} sentences; at least 20 are needed",
                dir.display(),
                all.len()
            ));
        }
        Ok(Corpus::from_sentences(files, all))
    }

    pub fn from_sentences(seed_files: Vec<PathBuf>, sentences: Vec<String>) -> Corpus {
        let mut rng = Rng::new(CORPUS_SEED);
        let mut sentences: Vec<Vec<char>> = sentences.into_iter().map(|s| s.chars().collect()).collect();
        // Fisher–Yates, so that popularity does not follow the seed files' order.
        for i in (1..sentences.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            sentences.swap(i, j);
        }
        let mut cdf = Vec::with_capacity(sentences.len());
        let mut acc = 0.0;
        for rank in 0..sentences.len() {
            acc += 1.0 / (rank as f64 + 1.0);
            cdf.push(acc);
        }
        let total = acc;
        for c in &mut cdf {
            *c /= total;
        }
        let kinds = [ItemKind::Feed, ItemKind::Feed, ItemKind::Page];
        let roles = [Role::Portal, Role::Portal, Role::Superior, Role::Messages, Role::Opinion];
        let levels = [Level::County, Level::City, Level::Province, Level::National, Level::Town, Level::Department];
        let sources = (0..SOURCES)
            .map(|s| {
                let kind = kinds[s % kinds.len()];
                let unit = format!("unit-{:02}", s % UNITS);
                Source {
                    id: format!("{}-{s:02}", kind.as_str()),
                    host: format!("www.{unit}.gov.example"),
                    unit,
                    kind,
                    role: roles[s % roles.len()],
                    level: levels[s % levels.len()],
                }
            })
            .collect();
        let last = china().with_ymd_and_hms(2026, 11, 20, 23, 59, 59).single().expect("valid time");
        Corpus { seed_files, sentences, cdf, sources, first: last - ChronoDuration::days(730), last, numbers: false }
    }

    /// The same corpus with work-order numbers and 文号 in the texts.
    pub fn with_numbers(mut self, on: bool) -> Corpus {
        self.numbers = on;
        self
    }

    pub fn sentence_count(&self) -> usize {
        self.sentences.len()
    }

    fn sentence(&self, rng: &mut Rng) -> &[char] {
        let u = rng.unit();
        let i = self.cdf.partition_point(|c| *c < u);
        &self.sentences[i.min(self.sentences.len() - 1)]
    }

    fn title(&self, rng: &mut Rng) -> String {
        const PREFIX: &[&str] = &["", "", "", "关于", "关于", "转发"];
        const SUFFIX: &[&str] = &["", "", "的通知", "的公告", "情况通报", "工作动态"];
        let prefix = PREFIX[rng.below(PREFIX.len() as u64) as usize];
        let suffix = SUFFIX[rng.below(SUFFIX.len() as u64) as usize];
        let want = rng.range(TITLE_MIN as u64, TITLE_MAX as u64) as usize;
        let body_len = want.saturating_sub(prefix.chars().count() + suffix.chars().count());
        let mut body: Vec<char> = Vec::with_capacity(body_len + 40);
        while body.len() < body_len {
            if !body.is_empty() {
                body.push('，');
            }
            body.extend_from_slice(self.sentence(rng));
        }
        body.truncate(body_len);
        while body.last().is_some_and(|c| !c.is_alphanumeric() && !is_cjk(*c)) {
            body.pop();
        }
        let mut t = String::with_capacity(want * 3);
        t.push_str(prefix);
        t.extend(body);
        t.push_str(suffix);
        t
    }

    fn text(&self, rng: &mut Rng) -> String {
        let want = rng.range(TEXT_MIN as u64, TEXT_MAX as u64) as usize;
        let mut chars: Vec<char> = Vec::with_capacity(want + 100);
        while chars.len() < want {
            chars.extend_from_slice(self.sentence(rng));
            chars.push('。');
        }
        chars.truncate(want);
        if chars.last() != Some(&'。') {
            chars.pop();
            chars.push('。');
        }
        chars.into_iter().collect()
    }

    /// Item number `i` of a corpus of `n` items. Items are in published
    /// order (with a few hours of jitter), as a watcher would have seen them
    /// over two years.
    pub fn item(&self, i: u64, n: u64) -> Item {
        let mut rng = Rng::new(CORPUS_SEED ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let src = &self.sources[rng.below(self.sources.len() as u64) as usize];
        let span = (self.last - self.first).num_seconds();
        let base = span as i128 * i as i128 / n.max(1) as i128;
        let jitter = rng.range(0, 6 * 3600) as i64 - 3 * 3600;
        let offset = (base as i64 + jitter).clamp(0, span);
        let mut at = self.first + ChronoDuration::seconds(offset);
        // List pages give a date only (read as 00:00 in Asia/Shanghai).
        let published = if src.kind == ItemKind::Page {
            at = china()
                .from_local_datetime(&at.date_naive().and_hms_opt(0, 0, 0).expect("midnight"))
                .single()
                .expect("fixed offset");
            Published { at, precision: Precision::Date, zone_assumed: true }
        } else {
            Published { at, precision: Precision::Time, zone_assumed: false }
        };
        let title = self.title(&mut rng);
        let text = self.text(&mut rng);
        let link = format!("https://{}/{}/{}/t{}_{}.html", src.host, src.id, at.format("%Y%m"), at.format("%Y%m%d"), i);
        const CATEGORIES: &[&str] = &["通知公告", "政策文件", "工作动态", "政务公开", "人事信息"];
        let categories = if src.kind == ItemKind::Feed {
            vec![CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize].to_string()]
        } else {
            Vec::new()
        };
        let now = at + ChronoDuration::minutes(rng.range(5, 180) as i64);
        let mut text = text;
        if self.numbers {
            const ISSUERS: &[&str] = &["国办发", "冀政办字", "深府规", "沪经信规范", "粤府函", "湘政办发"];
            match src.role {
                Role::Messages | Role::Opinion => {
                    text.push_str(&format!("工单编号：GD{}{:04}。", at.format("%Y%m%d"), i % 10_000));
                }
                _ if rng.below(3) == 0 => {
                    let issuer = ISSUERS[rng.below(ISSUERS.len() as u64) as usize];
                    text.push_str(&format!("{issuer}〔{}〕{}号。", at.format("%Y"), rng.range(1, 200)));
                }
                _ => {}
            }
        }
        to_item(
            SourceInfo { id: &src.id, unit: &src.unit, kind: src.kind, role: src.role, level: src.level },
            ParsedItem {
                guid: None,
                title,
                text,
                link: Some(link),
                published: Some(published),
                doc_no: None,
                publisher: None,
                categories,
                links: Vec::new(),
            },
            now,
        )
    }

    /// Items `0..n`, generated on `threads` threads.
    pub fn items(&self, n: u64, threads: usize) -> Vec<Item> {
        let threads = threads.max(1) as u64;
        let chunk = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let from = (t * chunk).min(n);
                    let to = ((t + 1) * chunk).min(n);
                    s.spawn(move || (from..to).map(|i| self.item(i, n)).collect::<Vec<_>>())
                })
                .collect();
            let mut all = Vec::with_capacity(n as usize);
            for h in handles {
                all.extend(h.join().expect("generator thread panicked"));
            }
            all
        })
    }
}
