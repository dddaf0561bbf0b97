//! Importing hotline and message exports: a file → rows → records → the store,
//! in batches, with every unreadable row quarantined (file, row, column,
//! reason) and progress reported. IO lives here; the parsing is in
//! `sources::export`.
//!
//! **Nothing lost, nothing doubled.** Items are upserted by (source, order
//! number), so importing a file twice, or again after a `kill -9` half-way,
//! leaves exactly one item per number; quarantine entries are keyed by (file
//! hash, row). An import is recorded in `imports` when it starts and marked
//! finished at the end; an unfinished one is simply read again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{Config, SourceConfig};
use crate::model::{Item, ItemKind};
use crate::normalize::text::fold_width_and_space;
use crate::normalize::{SourceInfo, extend_hash, to_item};
use crate::sources::export::{self, Cell, CsvRowError, Header, Limits, Names, Quarantined, RowOutcome, Sheet};
use crate::store::Store;

/// Rows written per transaction.
const BATCH: usize = 5_000;
/// A file in a drop folder changed more recently than this may still be being copied.
const SETTLE_SECS: u64 = 5;

/// What importing one file did. Field names are part of `govwatch import --json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub source: String,
    pub file: String,
    /// Data rows read (blank rows are not counted).
    pub rows: usize,
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub quarantined: usize,
    /// Rows whose number comes again further down the file: the later row was stored.
    pub superseded: usize,
    /// 承办单位 names that match no configured unit, with their row counts;
    /// those rows went to the source's unit.
    pub unknown_units: BTreeMap<String, usize>,
    /// The file's rows are intake only: it has no column saying whether a row
    /// was answered (办结时间, 状态, 答复意见 …), or the source is `intake_only`.
    /// They are searchable and counted, and given no deadline.
    pub intake_only: bool,
    /// Rows received more than the source's `history_days` before its first
    /// import: history, counted but never overdue or mailed.
    pub history: usize,
    /// Characters that are U+FFFD in the file's rows: bytes that could not be
    /// decoded (replaced) or were lost before the export was made.
    pub replaced_chars: usize,
    /// Cells holding them.
    pub replaced_cells: usize,
    /// Where they are, the first [`REPLACED_SHOWN`] places.
    pub replaced: Vec<Replaced>,
    /// Set when the whole file could not be read (then nothing was stored
    /// from it): the file is quarantined whole (row 0) with this reason, and
    /// not read again until it changes.
    pub error: Option<String>,
    pub took_ms: u64,
}

/// Places with replaced characters listed in a report; the rest are counted.
pub const REPLACED_SHOWN: usize = 20;

/// A cell holding U+FFFD.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Replaced {
    /// 1-based, as the spreadsheet shows it.
    pub row: usize,
    pub column: String,
    pub count: usize,
}

/// What an import summary says of the file's rows beyond their counts, one
/// Chinese line each: intake only, history, replaced characters.
pub fn standing_lines(r: &ImportReport, src: &SourceConfig) -> Vec<String> {
    let mut out = Vec::new();
    if r.intake_only {
        out.push(match src.intake_only {
            Some(true) => "仅收录（intake_only = true）：这些记录只用于检索和统计，不计办理时限、不发提醒".to_string(),
            _ => "仅收录：此文件没有答复或办结信息（办结时间、状态、答复意见等列），这些记录只用于检索和统计，\
                  不计办理时限、不发提醒（如需计时限，在数据源中设置 intake_only = false）"
                .to_string(),
        });
    }
    if r.history > 0 {
        out.push(format!(
            "历史记录 {} 行：受理早于首次导入前 {} 天，已办结的计入统计，未办结的不计超期、不发提醒（history_days）",
            r.history,
            src.history_days()
        ));
    }
    if r.replaced_chars > 0 {
        let places: Vec<String> =
            r.replaced.iter().map(|p| format!("第 {} 行「{}」{} 个", p.row, p.column, p.count)).collect();
        let more =
            if r.replaced.len() < r.replaced_cells { format!("等 {} 处", r.replaced_cells) } else { String::new() };
        out.push(format!(
            "有 {} 个字符无法识别，已显示为 �（文件中的字节无法按其字符集解码，或导出前已丢失）：{}{more}；\
             请核对原系统中的这些内容",
            r.replaced_chars,
            places.join("，")
        ));
    }
    out
}

/// Maps 承办单位 names (and aliases) to unit ids.
pub struct UnitNames {
    by_name: HashMap<String, String>,
}

fn name_key(s: &str) -> String {
    fold_width_and_space(s).replace(' ', "")
}

impl UnitNames {
    pub fn new(cfg: &Config) -> UnitNames {
        let mut by_name = HashMap::new();
        for u in &cfg.units {
            for n in std::iter::once(&u.name).chain(&u.aliases) {
                by_name.insert(name_key(n), u.id.clone());
            }
            by_name.insert(name_key(&u.id), u.id.clone());
        }
        UnitNames { by_name }
    }

    /// The unit a name means: exact (ignoring blanks and width), else the
    /// longest configured name it contains.
    pub fn resolve(&self, name: &str) -> Option<&str> {
        let k = name_key(name);
        if let Some(id) = self.by_name.get(&k) {
            return Some(id);
        }
        self.by_name
            .iter()
            .filter(|(n, _)| n.chars().count() >= 3 && k.contains(n.as_str()))
            .max_by_key(|(n, _)| n.len())
            .map(|(_, id)| id.as_str())
    }
}

/// The column names a source configures (`[sources.columns]`).
pub fn names_of(src: &SourceConfig) -> Names {
    let mut names = Names::default();
    for (k, v) in &src.columns {
        if let Some(f) = export::Field::from_key(k) {
            names.custom.insert(f, v.clone().into_vec());
        }
    }
    names
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn is_workbook(path: &Path, bytes: &[u8]) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "xlsx" | "xlsm" | "xls" | "ods")
        || bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}

/// Imports one file for an export source.
pub fn import_file(
    cfg: &Config,
    store: &Store,
    src: &SourceConfig,
    path: &Path,
    now: DateTime<FixedOffset>,
    progress: &mut dyn FnMut(usize),
) -> ImportReport {
    let started = Instant::now();
    let mut report = ImportReport { source: src.id.clone(), file: path.display().to_string(), ..Default::default() };
    if let Err(e) = import_inner(cfg, store, src, path, now, progress, &mut report) {
        report.error = Some(format!("{e:#}"));
    }
    report.took_ms = started.elapsed().as_millis() as u64;
    report
}

fn import_inner(
    cfg: &Config,
    store: &Store,
    src: &SourceConfig,
    path: &Path,
    now: DateTime<FixedOffset>,
    progress: &mut dyn FnMut(usize),
    report: &mut ImportReport,
) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("无法读取 {}", path.display()))?;
    let sha = sha256_hex(&bytes);
    let meta = std::fs::metadata(path).ok();
    let import_id = store.import_started(&src.id, &report.file, &sha, file_stamp(meta.as_ref()), now)?;
    let limits = Limits::of(&cfg.import);
    let result = (|| -> Result<()> {
        let names = names_of(src);
        let units = UnitNames::new(cfg);
        let file = report.file.clone();
        let loaded = if is_workbook(path, &bytes) {
            Loaded::Book(export::read_workbook(&bytes, &limits).map_err(anyhow::Error::msg)?)
        } else {
            Loaded::Csv(export::decode_csv(&bytes).0, limits)
        };
        drop(bytes);
        let head: Vec<Vec<Cell>> = loaded.rows().take(30).map(|(_, r)| r.unwrap_or_default()).collect();
        let header: Header = export::find_header(&head, &names).map_err(anyhow::Error::msg)?;
        report.intake_only = src.intake_only.unwrap_or(!header.says_answered());
        // History counts back from the source's first import (this one, if it is the first).
        let history_before = match report.intake_only {
            true => None,
            false => store
                .first_imports()?
                .get(&src.id)
                .map(|first| *first - chrono::Duration::days(src.history_days() as i64)),
        };
        // A file read again replaces what its earlier versions put in quarantine.
        store.clear_quarantine(&src.id, &file)?;
        // A number that comes again further down: the later row is the newer
        // state, and only it is stored, so the same file always gives the same items.
        let number_col = header.columns[&export::Field::Number];
        let number = |cells: &[Cell]| cells.get(number_col).map(Cell::text).filter(|n| !n.is_empty());
        let mut last: HashMap<String, usize> = HashMap::new();
        for (i, r) in loaded.rows().skip(header.data_start) {
            if let Some(n) = r.ok().as_deref().and_then(number) {
                last.insert(n, i);
            }
        }
        let column_name = |c: usize| {
            header.labels.get(c).filter(|l| !l.is_empty()).cloned().unwrap_or_else(|| format!("第 {} 列", c + 1))
        };
        let mut batch = Batch::new(store, src, &units, &file, &sha, now);
        batch.history_before = history_before;
        for (i, r) in loaded.rows().skip(header.data_start) {
            if let Ok(cells) = &r {
                for (c, n) in export::replaced_chars(cells) {
                    report.replaced_chars += n;
                    report.replaced_cells += 1;
                    if report.replaced.len() < REPLACED_SHOWN {
                        report.replaced.push(Replaced { row: i + 1, column: column_name(c), count: n });
                    }
                }
            }
            let outcome = match r {
                Ok(cells) if number(&cells).is_some_and(|n| last.get(&n) != Some(&i)) => {
                    report.rows += 1;
                    report.superseded += 1;
                    continue;
                }
                Ok(cells) => export::read_row(&cells, i, &header),
                Err(e) => RowOutcome::Quarantined(Quarantined {
                    row: i + 1,
                    column: e.column.map(column_name),
                    reason: format!("CSV 第 {} 行起的记录：{}", e.line, e.reason),
                    value: None,
                }),
            };
            batch.row(outcome, report)?;
            if report.rows.is_multiple_of(10_000) && report.rows > 0 {
                progress(report.rows);
            }
        }
        batch.flush(report)?;
        Ok(())
    })();
    let error = result.as_ref().err().map(|e| format!("{e:#}"));
    if let Some(reason) = &error {
        // The file is kept where it is; its quarantine entry says why nothing of it was stored.
        store.clear_quarantine(&src.id, &report.file)?;
        let whole = Quarantined { row: 0, column: None, reason: format!("{WHOLE_FILE}：{reason}"), value: None };
        store.quarantine(&src.id, &report.file, &sha, &[whole], now)?;
    }
    store.import_finished(import_id, report, now, error.as_deref())?;
    result
}

/// What a whole file's quarantine entry (row 0) begins with.
pub const WHOLE_FILE: &str = "整个文件未导入";

/// A file's rows, readable more than once.
enum Loaded {
    Book(Sheet),
    Csv(String, Limits),
}

type RowResult = Result<Vec<Cell>, CsvRowError>;

impl Loaded {
    /// (0-based row index, row) from the top of the sheet.
    fn rows(&self) -> Box<dyn Iterator<Item = (usize, RowResult)> + '_> {
        match self {
            Loaded::Book(sheet) => Box::new(sheet.rows().map(|(i, r)| (i, Ok(r)))),
            Loaded::Csv(text, limits) => Box::new(export::csv_rows(text, limits).enumerate()),
        }
    }
}

/// (size, modification time) of a file, to notice a changed drop-folder file without reading it.
fn file_stamp(meta: Option<&std::fs::Metadata>) -> Option<(u64, i64)> {
    let m = meta?;
    let mtime = m.modified().ok()?.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_millis() as i64;
    Some((m.len(), mtime))
}

/// Rows on their way into the store.
struct Batch<'a> {
    store: &'a Store,
    src: &'a SourceConfig,
    units: &'a UnitNames,
    file: &'a str,
    sha: &'a str,
    now: DateTime<FixedOffset>,
    kind: ItemKind,
    items: Vec<Item>,
    quarantined: Vec<Quarantined>,
    /// Rows received before this are history.
    history_before: Option<DateTime<FixedOffset>>,
}

impl<'a> Batch<'a> {
    fn new(
        store: &'a Store,
        src: &'a SourceConfig,
        units: &'a UnitNames,
        file: &'a str,
        sha: &'a str,
        now: DateTime<FixedOffset>,
    ) -> Self {
        Batch {
            store,
            src,
            units,
            file,
            sha,
            now,
            kind: ItemKind::of(src.kind, src.role),
            items: Vec::with_capacity(BATCH),
            quarantined: Vec::new(),
            history_before: None,
        }
    }

    fn row(&mut self, outcome: RowOutcome, report: &mut ImportReport) -> Result<()> {
        match outcome {
            RowOutcome::Blank => return Ok(()),
            RowOutcome::Quarantined(q) => self.quarantined.push(q),
            RowOutcome::Record(r) => {
                if let (Some(before), Some(received)) = (self.history_before, r.case.received_at)
                    && received.at < before
                {
                    report.history += 1;
                }
                let unit = match r.case.handler.as_deref() {
                    None => self.src.unit.as_str(),
                    Some(h) => match self.units.resolve(h) {
                        Some(u) => u,
                        None => {
                            *report.unknown_units.entry(h.to_string()).or_default() += 1;
                            self.src.unit.as_str()
                        }
                    },
                };
                let info =
                    SourceInfo { id: &self.src.id, unit, kind: self.kind, role: self.src.role, level: self.src.level };
                let mut item = to_item(info, r.item, self.now);
                item.content_hash = extend_hash(&item.content_hash, &serde_json::to_vec(&r.case)?);
                item.case = Some(r.case);
                self.items.push(item);
            }
        }
        report.rows += 1;
        if self.items.len() + self.quarantined.len() >= BATCH {
            self.flush(report)?;
        }
        Ok(())
    }

    fn flush(&mut self, report: &mut ImportReport) -> Result<()> {
        if !self.items.is_empty() {
            let out = self.store.upsert_items(&self.items)?;
            report.new += out.counts.new;
            report.updated += out.counts.updated;
            report.unchanged += out.counts.unchanged;
            self.items.clear();
        }
        if !self.quarantined.is_empty() {
            self.store.quarantine(&self.src.id, self.file, self.sha, &self.quarantined, self.now)?;
            report.quarantined += self.quarantined.len();
            self.quarantined.clear();
        }
        Ok(())
    }
}

/// The files an export source has waiting: its file, or the export files in
/// its drop folder that have not been imported in their present state
/// (same size and modification time), oldest first. Files still changing
/// are left for the next look.
pub fn pending_files(store: &Store, src: &SourceConfig) -> Result<Vec<PathBuf>> {
    let root = Path::new(src.url.trim());
    let candidates: Vec<PathBuf> = if root.is_dir() {
        let mut v: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(root)
            .with_context(|| format!("无法列出导入文件夹 {}", root.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        matches!(e.to_ascii_lowercase().as_str(), "csv" | "xlsx" | "xlsm" | "xls" | "ods" | "txt")
                    })
            })
            .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH), p))
            .collect();
        v.sort();
        v.into_iter().map(|(_, p)| p).collect()
    } else if root.is_file() {
        vec![root.to_path_buf()]
    } else {
        anyhow::bail!("{}：文件或文件夹不存在", root.display());
    };
    let mut out = Vec::new();
    for p in candidates {
        let meta = std::fs::metadata(&p).ok();
        let settled = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age.as_secs() >= SETTLE_SECS);
        if !settled {
            continue;
        }
        let Some(stamp) = file_stamp(meta.as_ref()) else { continue };
        if !store.imported(&src.id, &p.display().to_string(), stamp)? {
            out.push(p);
        }
    }
    Ok(out)
}
