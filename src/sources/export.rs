//! Hotline and message-board exports (CSV, XLSX/XLS) → case records. Pure:
//! bytes or rows in, records and quarantined rows out.
//!
//! Exports come from Excel or WPS by hand: a title row or two above the
//! header ("2020年10月12345热线工单明细"), two-row headers with merged cells,
//! times as Excel serial numbers next to `2018/7/17 7:13:58` and
//! `2020年08月02日`, full-width spaces and stray tabs, GBK CSV. The header is
//! found by its Chinese names; each field has default names and a source may
//! name its own (`[sources.columns]`). A row that cannot be read becomes a
//! [`Quarantined`] entry with its row, column and reason — never dropped.

use std::collections::HashMap;
use std::io::Cursor;

use std::io::Read;

use calamine::{DataRef, Reader};
use chrono::{Duration, NaiveDate, NaiveTime, TimeZone, Timelike};

use super::charset;
use crate::config::ImportConfig;
use crate::model::{Case, ParsedItem, Precision, Published};
use crate::normalize::html::tidy_text;
use crate::normalize::time::{self, china};

/// One spreadsheet cell as govwatch needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Int(i64),
    Float(f64),
    /// An Excel date/time, as its serial number (days since 1899-12-30).
    Serial(f64),
}

impl Cell {
    /// The cell as text: integers without `.0`, text tidied (full-width
    /// spaces, tabs, runs of blanks).
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) if s.contains("_x000") => tidy_text(&unescape_ooxml(s)),
            Cell::Text(s) => tidy_text(s),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            Cell::Float(f) | Cell::Serial(f) => f.to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}').is_empty(),
            _ => false,
        }
    }
}

/// XLSX writes control characters as `_x000D_`; tools that convert XLSX to
/// CSV often leave them in. Carriage returns, line feeds and tabs come back.
fn unescape_ooxml(s: &str) -> String {
    s.replace("_x000D_", "")
        .replace("_x000d_", "")
        .replace("_x000A_", "\n")
        .replace("_x000a_", "\n")
        .replace("_x0009_", "\t")
}

/// The fields govwatch reads from an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Number,
    Received,
    Category,
    Title,
    Content,
    Handler,
    Deadline,
    Closed,
    Status,
    Reply,
    Extension,
    Urgency,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::Number,
        Field::Received,
        Field::Category,
        Field::Title,
        Field::Content,
        Field::Handler,
        Field::Deadline,
        Field::Closed,
        Field::Status,
        Field::Reply,
        Field::Extension,
        Field::Urgency,
    ];

    /// The key in `[sources.columns]`.
    pub fn key(self) -> &'static str {
        match self {
            Field::Number => "number",
            Field::Received => "received",
            Field::Category => "category",
            Field::Title => "title",
            Field::Content => "content",
            Field::Handler => "handler",
            Field::Deadline => "deadline",
            Field::Closed => "closed",
            Field::Status => "status",
            Field::Reply => "reply",
            Field::Extension => "extension",
            Field::Urgency => "urgency",
        }
    }

    pub fn from_key(k: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key() == k)
    }

    /// Header names used by hotline systems and message boards, most usual first.
    pub fn default_names(self) -> &'static [&'static str] {
        match self {
            Field::Number => &["工单编号", "工单号", "留言编号", "信件编号", "受理编号", "编号", "序号"],
            Field::Received => {
                &["来电时间", "受理时间", "留言时间", "来信时间", "登记时间", "提交时间", "创建时间", "发起时间"]
            }
            Field::Category => &["诉求类型", "问题分类", "一级分类", "工单类型", "诉求分类", "业务类型", "类型"],
            Field::Title => &["标题", "留言主题", "诉求标题", "信件标题", "主题"],
            Field::Content => &["诉求内容", "留言详情", "留言内容", "来电内容", "问题描述", "信件内容", "内容"],
            Field::Handler => &["承办单位", "办理单位", "责任单位", "处理单位", "主办单位"],
            Field::Deadline => &["办理时限", "截止时间", "办结时限", "到期时间", "限办时间", "办理期限"],
            Field::Closed => &["办结时间", "答复时间", "回复时间", "处理时间", "结案时间"],
            Field::Status => &["状态", "办理状态", "工单状态", "处理状态"],
            Field::Reply => &["答复意见", "回复内容", "答复内容", "办理结果", "处理结果", "回复意见"],
            Field::Extension => &["延期", "延期天数", "延期时限", "是否延期", "延期至"],
            Field::Urgency => &["紧急程度", "是否紧急", "缓急程度"],
        }
    }

    /// Required: without these a row means nothing.
    pub fn required(self) -> bool {
        matches!(self, Field::Number | Field::Received)
    }
}

/// Header names as compared: blanks, `*`, colons and bracketed notes removed.
fn label(s: &str) -> String {
    let s = tidy_text(s);
    let mut out = String::with_capacity(s.len());
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '(' | '（' | '[' | '【' => depth += 1,
            ')' | '）' | ']' | '】' => depth = (depth - 1).max(0),
            _ if depth > 0 => {}
            c if c.is_whitespace() || matches!(c, '*' | ':' | '：' | '\u{3000}') => {}
            c => out.push(c),
        }
    }
    out
}

/// Where each field is, and where the data starts.
#[derive(Debug, Clone)]
pub struct Header {
    /// Index of the first data row.
    pub data_start: usize,
    pub columns: HashMap<Field, usize>,
    /// The label of every column, for messages.
    pub labels: Vec<String>,
}

impl Header {
    /// Whether the export can say that a row was answered or closed: it has
    /// a 办结/答复 time, a 状态 or an 答复意见 column. Without one, an open row
    /// and an answered row look the same.
    pub fn says_answered(&self) -> bool {
        [Field::Closed, Field::Status, Field::Reply].iter().any(|f| self.columns.contains_key(f))
    }

    pub fn label_of(&self, f: Field) -> String {
        self.columns.get(&f).and_then(|&c| self.labels.get(c)).cloned().unwrap_or_else(|| f.key().to_string())
    }
}

/// How a source names its columns: defaults, with `[sources.columns]` first.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub custom: HashMap<Field, Vec<String>>,
}

impl Names {
    fn candidates(&self, f: Field) -> Vec<String> {
        let mut v: Vec<String> = self.custom.get(&f).map(|c| c.iter().map(|n| label(n)).collect()).unwrap_or_default();
        v.extend(f.default_names().iter().map(|n| n.to_string()));
        v
    }

    /// The field a label names: (field, exact?) by the best candidate.
    fn field_of(&self, lab: &str) -> Option<(Field, bool)> {
        if lab.is_empty() {
            return None;
        }
        let mut contains = None;
        for f in Field::ALL {
            for c in self.candidates(f) {
                if c == lab {
                    return Some((f, true));
                }
                if contains.is_none() && c.chars().count() >= 2 && lab.contains(&c) {
                    contains = Some((f, false));
                }
            }
        }
        contains
    }
}

/// Finds the header among the first rows: the row naming the most fields,
/// completed from the row below (two-row headers with merged cells) or above.
pub fn find_header(rows: &[Vec<Cell>], names: &Names) -> Result<Header, String> {
    let scan = rows.len().min(30);
    let labels_of = |r: &Vec<Cell>| -> Vec<String> { r.iter().map(|c| label(&c.text())).collect() };
    let score = |labels: &[String]| -> usize {
        let mut fields: Vec<Field> = labels.iter().filter_map(|l| names.field_of(l).map(|(f, _)| f)).collect();
        fields.sort();
        fields.dedup();
        fields.len()
    };
    let mut best: Option<(usize, usize)> = None;
    for (i, row) in rows.iter().enumerate().take(scan) {
        let s = score(&labels_of(row));
        if s >= 2 && best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    let Some((h, _)) = best else {
        let shown: Vec<String> = rows.iter().take(3).map(|r| labels_of(r).join(", ")).collect();
        return Err(format!(
            "前 {scan} 行中找不到表头（查找的是工单编号、留言编号、来电时间、留言时间等列名）；\
             前几行：[{}]；请在配置 [sources.columns] 中写明列名",
            shown.join("] [")
        ));
    };
    let width = rows.iter().take(scan.max(h + 2)).map(Vec::len).max().unwrap_or(0);
    let mut labels = labels_of(&rows[h]);
    labels.resize(width, String::new());
    let mut data_start = h + 1;
    // Merged cells leave blanks: the other header row names those columns.
    for (neighbour, below) in [(h + 1, true), (h.wrapping_sub(1), false)] {
        let Some(row) = rows.get(neighbour) else { continue };
        let other = labels_of(row);
        let mut used = false;
        for (c, lab) in other.iter().enumerate().take(width) {
            let here_names_a_field = names.field_of(&labels[c]).is_some();
            if !here_names_a_field && names.field_of(lab).is_some() {
                labels[c] = lab.clone();
                used = true;
            }
        }
        if used && below {
            data_start = h + 2;
        }
    }
    // Each field takes its best column; exact names beat names that merely contain one.
    let mut columns: HashMap<Field, usize> = HashMap::new();
    for exact_pass in [true, false] {
        for (c, lab) in labels.iter().enumerate() {
            if let Some((f, exact)) = names.field_of(lab)
                && exact == exact_pass
                && !columns.contains_key(&f)
                && !columns.values().any(|&v| v == c)
            {
                columns.insert(f, c);
            }
        }
    }
    for f in Field::ALL.into_iter().filter(|f| f.required()) {
        if !columns.contains_key(&f) {
            let names_list: Vec<&str> = f.default_names().to_vec();
            return Err(format!(
                "表头（第 {} 行）中没有{}列：{} 都不在其中（表头各列：{}）；请在配置 [sources.columns] 中写 {} = \"…\"",
                h + 1,
                f.default_names()[0],
                names_list.join("、"),
                labels.iter().filter(|l| !l.is_empty()).cloned().collect::<Vec<_>>().join(", "),
                f.key()
            ));
        }
    }
    Ok(Header { data_start, columns, labels })
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// 1-based, as the spreadsheet shows it.
    pub row: usize,
    pub column: Option<String>,
    pub reason: String,
    pub value: Option<String>,
}

/// A row read: the item to store (with its case).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub row: usize,
    pub item: ParsedItem,
    pub case: Case,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowOutcome {
    Record(Box<Record>),
    Quarantined(Quarantined),
    Blank,
}

/// An Excel serial date (days since 1899-12-30, the 1900 system) as local time.
pub fn from_serial(serial: f64) -> Option<Published> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_time(NaiveTime::MIN);
    let millis = (serial * 86_400_000.0).round() as i64;
    let n = base + Duration::milliseconds(millis);
    // Round to the second: Excel stores 7:13:58 as 0.30136574…
    let n = n.with_nanosecond(0)? + Duration::seconds(((millis % 1000) >= 500) as i64);
    let at = china().from_local_datetime(&n).single()?;
    let precision = if serial.fract() == 0.0 { Precision::Date } else { Precision::Time };
    Some(Published { at, precision, zone_assumed: true })
}

/// A time cell: an Excel date, a serial number written as text or number,
/// or any form `normalize::time` reads.
pub fn parse_time_cell(cell: &Cell) -> Result<Option<Published>, String> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Serial(f) | Cell::Float(f) => from_serial(*f).map(Some).ok_or_else(|| format!("{f} 不是日期")),
        Cell::Int(i) => from_serial(*i as f64).map(Some).ok_or_else(|| format!("{i} 不是日期")),
        Cell::Text(_) => {
            let t = cell.text();
            if t.is_empty() {
                return Ok(None);
            }
            if let Ok(f) = t.parse::<f64>() {
                return from_serial(f).map(Some).ok_or_else(|| format!("「{t}」不是日期"));
            }
            time::parse(&t)
                .or_else(|| time::find_in(&t))
                .map(Some)
                .ok_or_else(|| format!("「{t}」不是可识别的日期或时间"))
        }
    }
}

/// Why a row without its number is quarantined.
pub const EMPTY_NUMBER: &str = "为空：每行须有工单或留言编号";

/// Reads one data row (`index` is its 0-based position in the sheet).
pub fn read_row(row: &[Cell], index: usize, header: &Header) -> RowOutcome {
    if row.iter().all(Cell::is_empty) {
        return RowOutcome::Blank;
    }
    let row_no = index + 1;
    let cell = |f: Field| header.columns.get(&f).and_then(|&c| row.get(c)).unwrap_or(&Cell::Empty);
    let text = |f: Field| Some(cell(f).text()).filter(|t| !t.is_empty());
    let quarantine = |f: Field, reason: String, value: Option<String>| {
        RowOutcome::Quarantined(Quarantined { row: row_no, column: Some(header.label_of(f)), reason, value })
    };
    let Some(number) = text(Field::Number) else {
        return quarantine(Field::Number, EMPTY_NUMBER.into(), None);
    };
    let mut times = [None, None, None];
    for (slot, f) in [Field::Received, Field::Deadline, Field::Closed].into_iter().enumerate() {
        match parse_time_cell(cell(f)) {
            Ok(t) => times[slot] = t,
            Err(reason) => return quarantine(f, reason, Some(cell(f).text())),
        }
    }
    let [received_at, deadline_at, closed_at] = times;
    if received_at.is_none() {
        return quarantine(Field::Received, "为空：每行须有受理时间（来电、留言的时间）".into(), None);
    }
    let content = text(Field::Content).unwrap_or_default();
    let title = text(Field::Title).unwrap_or_else(|| {
        let t = cut_title(&content, 30);
        if t.is_empty() { format!("工单 {number}") } else { t }
    });
    let case = Case {
        number: number.clone(),
        received_at,
        category: text(Field::Category),
        handler: text(Field::Handler),
        deadline_at,
        closed_at,
        status: text(Field::Status),
        reply: text(Field::Reply),
        extension: text(Field::Extension),
        urgency: text(Field::Urgency),
        answer_unknown: !header.says_answered(),
    };
    let item = ParsedItem {
        guid: Some(number),
        title,
        text: content,
        link: None,
        published: received_at,
        doc_no: None,
        publisher: case.handler.clone(),
        categories: case.category.iter().cloned().collect(),
        links: Vec::new(),
    };
    RowOutcome::Record(Box::new(Record { row: row_no, item, case }))
}

/// The bounds a file must keep to be read (`[import]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_xlsx_bytes: u64,
    pub max_xlsx_entries: u64,
    pub max_cells: u64,
    pub max_csv_field_bytes: u64,
    pub max_csv_record_bytes: u64,
    pub max_csv_columns: u64,
}

impl Limits {
    pub fn of(c: &ImportConfig) -> Limits {
        Limits {
            max_xlsx_bytes: c.max_xlsx_bytes,
            max_xlsx_entries: c.max_xlsx_entries,
            max_cells: c.max_cells,
            max_csv_field_bytes: c.max_csv_field_bytes,
            max_csv_record_bytes: c.max_csv_record_bytes,
            max_csv_columns: c.max_csv_columns,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::of(&ImportConfig::default())
    }
}

/// A byte count as officers read it: `256 MiB`, `1.5 KiB`, `300 字节`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, size) in UNITS {
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {name}", n / size)
            } else {
                format!("{:.1} {name}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} 字节")
}

/// Why an old `.xls` workbook is not read.
pub const XLS_REFUSED: &str = "这是旧版 Excel 97-2003 工作簿（.xls）：这种格式可以声明任意大的单元格范围，\
     无法在限定的内存内安全读取，所以不导入；请在 Excel 或 WPS 中“另存为” .xlsx 或 CSV 后放回";
/// Why an OpenDocument spreadsheet is not read.
pub const ODS_REFUSED: &str = "这是 OpenDocument 表格（.ods）：读取时会按声明的重复行列展开，\
     无法在限定的内存内安全读取，所以不导入；请“另存为” .xlsx 或 CSV 后放回";
/// Why an Excel binary workbook is not read.
pub const XLSB_REFUSED: &str =
    "这是 Excel 二进制工作簿（.xlsb），不能逐行读取，所以不导入；请在 Excel 或 WPS 中“另存为” .xlsx 或 CSV 后放回";

/// Checks a workbook's zip before anything reads it: at most
/// `max_xlsx_entries` entries, inflating to at most `max_xlsx_bytes` in all.
/// Every entry is inflated (into nothing) to measure it: the sizes the zip
/// declares are not trusted, and a bomb is stopped at the bound, never held.
/// Returns the entries' names.
pub fn check_zip(bytes: &[u8], limits: &Limits) -> Result<Vec<String>, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("不是可读取的 XLSX 工作簿（XLSX 是 zip 压缩包，此文件无法按 zip 打开：{e}）"))?;
    if zip.len() as u64 > limits.max_xlsx_entries {
        return Err(format!(
            "工作簿的压缩包内有 {} 个文件，超过上限 {}（import.max_xlsx_entries）；正常的导出表只有十几个，\
             此文件不像是导出的工单表",
            zip.len(),
            limits.max_xlsx_entries
        ));
    }
    let mut total: u64 = 0;
    let mut names = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format!("工作簿的压缩包中第 {} 个文件无法读取：{e}", i + 1))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("第 {} 个文件", i + 1));
        let room = limits.max_xlsx_bytes - total;
        let unzip_error = |e: std::io::Error| format!("工作簿中的 {name} 无法解压：{e}");
        let mut inflated = 0;
        if name.to_ascii_lowercase().ends_with("sharedstrings.xml") {
            // calamine reserves room for the count the table declares before
            // reading a string (`uniqueCount="52147483647"` asked for 1.2 TB:
            // the fuzzer's finding); check it against the cell bound first.
            let mut head = Vec::new();
            (&mut entry).take(SST_HEAD.min(room + 1)).read_to_end(&mut head).map_err(unzip_error)?;
            inflated += head.len() as u64;
            check_declared_strings(&head, &name, limits)?;
        }
        inflated += std::io::copy(&mut (&mut entry).take(room + 1 - inflated.min(room + 1)), &mut std::io::sink())
            .map_err(unzip_error)?;
        total += inflated;
        if total > limits.max_xlsx_bytes {
            return Err(format!(
                "工作簿解压后超过上限 {}（import.max_xlsx_bytes）：文件只有 {}，解压到 {name} 时已超出，停止读取。\
                 可能是“压缩炸弹”，也可能是表格太大；确需导入时，请分成几个文件，或调高 import.max_xlsx_bytes",
                human_bytes(limits.max_xlsx_bytes),
                human_bytes(bytes.len() as u64)
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// How much of the shared-strings table is read for its `<sst>` tag.
const SST_HEAD: u64 = 64 << 10;

/// The shared-strings table's `uniqueCount`, which calamine reserves room for
/// as it opens the workbook: within `import.max_cells`, a plain number, and
/// the `<sst>` tag near the top of the table (where every writer puts it).
fn check_declared_strings(head: &[u8], name: &str, limits: &Limits) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let refuse = |why: String| format!("工作簿中的 {name} {why}，不像是导出的工单表，未读取");
    // Every `<sst` tag in the head is checked, not only the first: a decoy
    // in a comment must not hide the one an XML reader takes.
    let starts: Vec<usize> = text
        .match_indices('<')
        .map(|(i, _)| i)
        .filter(|&i| {
            let tag = text[i + 1..].split(|c: char| c.is_whitespace() || c == '>' || c == '/').next().unwrap_or("");
            tag == "sst" || tag.ends_with(":sst")
        })
        .collect();
    if starts.is_empty() {
        return Err(refuse(format!("在开头 {} 内找不到 <sst> 标签", human_bytes(SST_HEAD))));
    }
    for start in starts {
        // The tag ends at the first `>` outside a quoted value, as an XML
        // reader reads it (the fuzzer put `<si><t>` inside the xmlns value).
        let mut quote = None;
        let end = text[start..]
            .char_indices()
            .find(|&(_, c)| match quote {
                Some(q) => {
                    if c == q {
                        quote = None;
                    }
                    false
                }
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    false
                }
                None => c == '>',
            })
            .map_or(text.len(), |(e, _)| start + e);
        let mut rest = &text[start..end];
        while let Some(at) = rest.find("uniqueCount") {
            rest = &rest[at + "uniqueCount".len()..];
            let value = rest.trim_start().strip_prefix('=').map(str::trim_start);
            let Some(value) = value else { continue };
            let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else { continue };
            let value = value[1..].split(quote).next().unwrap_or("");
            match value.parse::<u64>() {
                Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) && n <= limits.max_cells => {}
                _ => {
                    return Err(refuse(format!(
                        "声明有 {value} 个不同的字符串，超过上限 {}（import.max_cells）",
                        limits.max_cells
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The rows of a sheet as read: only rows holding a cell are kept, each
/// from the sheet's first used column to its own last cell. Row 0 is the
/// first row holding a cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    rows: Vec<(usize, Vec<Cell>)>,
}

impl Sheet {
    pub fn from_rows(rows: Vec<Vec<Cell>>) -> Sheet {
        Sheet { rows: rows.into_iter().enumerate().filter(|(_, r)| !r.is_empty()).collect() }
    }

    /// The rows holding a cell, each with its 0-based index in the sheet.
    /// Blank rows are not yielded: a sheet with one cell in row 2,147,483,647
    /// (found by the fuzzer) is two rows to read, not two billion.
    pub fn rows(&self) -> impl Iterator<Item = (usize, Vec<Cell>)> + '_ {
        self.rows.iter().map(|(i, cells)| (*i, cells.clone()))
    }

    /// Cells held.
    pub fn cells(&self) -> usize {
        self.rows.iter().map(|(_, r)| r.len()).sum()
    }
}

/// The first sheet of an XLSX/XLSM workbook, within `limits`: the zip is
/// checked first ([`check_zip`]); the sheet is read cell by cell, never as one
/// range from its declared dimension (`<dimension ref="A1:XFD1048576"/>`).
/// Old `.xls`, `.xlsb` and `.ods` are refused with the reason.
pub fn read_workbook(bytes: &[u8], limits: &Limits) -> Result<Sheet, String> {
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(XLS_REFUSED.into());
    }
    let names = check_zip(bytes, limits)?;
    let has = |n: &str| names.iter().any(|e| e.trim_start_matches('/').eq_ignore_ascii_case(n));
    if has("xl/workbook.bin") {
        return Err(XLSB_REFUSED.into());
    }
    if has("content.xml") && !has("xl/workbook.xml") {
        return Err(ODS_REFUSED.into());
    }
    let mut wb: calamine::Xlsx<_> =
        calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| format!("不是可读取的 XLSX 工作簿：{e}"))?;
    let Some(name) = wb.sheet_names().first().cloned() else {
        return Err("工作簿中没有工作表".into());
    };
    let mut reader = match wb.worksheet_cells_reader(&name) {
        Ok(r) => r,
        Err(calamine::XlsxError::NotAWorksheet(_)) => return Ok(Sheet::default()),
        Err(e) => return Err(format!("无法读取第一个工作表「{name}」：{e}")),
    };
    let too_many = |n: u64| {
        format!(
            "第一个工作表「{name}」的单元格超过上限 {}（import.max_cells，已读到 {n} 个）；确需导入时，\
             请分成几个文件，或调高 import.max_cells",
            limits.max_cells
        )
    };
    let mut cells: Vec<(u32, u32, Cell)> = Vec::new();
    while let Some(c) = reader.next_cell().map_err(|e| format!("第一个工作表「{name}」无法读取：{e}"))? {
        let cell = match c.get_value() {
            DataRef::Empty => continue,
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Text(s.clone()),
            DataRef::SharedString(s) => Cell::Text(s.to_string()),
            DataRef::Int(i) => Cell::Int(*i),
            DataRef::Float(f) => Cell::Float(*f),
            DataRef::Bool(b) => Cell::Text(if *b { "是" } else { "否" }.into()),
            DataRef::DateTime(dt) => Cell::Serial(dt.as_f64()),
            DataRef::Error(e) => Cell::Text(format!("#{e:?}")),
        };
        if cells.len() as u64 >= limits.max_cells {
            return Err(too_many(cells.len() as u64 + 1));
        }
        let (r, col) = c.get_position();
        cells.push((r, col, cell));
    }
    drop(reader);
    // Cells come in sheet order, but nothing requires it.
    cells.sort_by_key(|(r, c, _)| (*r, *c));
    let Some(first_row) = cells.first().map(|(r, _, _)| *r) else {
        return Ok(Sheet::default());
    };
    let first_col = cells.iter().map(|(_, c, _)| *c).min().unwrap_or(0);
    let mut rows: Vec<(usize, Vec<Cell>)> = Vec::new();
    let mut held: u64 = 0;
    for (r, c, cell) in cells {
        let (r, c) = ((r - first_row) as usize, (c - first_col) as usize);
        if rows.last().is_none_or(|(at, _)| *at != r) {
            rows.push((r, Vec::new()));
        }
        let row = &mut rows.last_mut().expect("pushed above").1;
        if c >= row.len() {
            // A far cell widens its row: what is held is counted, not what is declared.
            held += (c + 1 - row.len()) as u64;
            if held > limits.max_cells {
                return Err(too_many(held));
            }
            row.resize(c + 1, Cell::Empty);
        }
        row[c] = cell;
    }
    Ok(Sheet { rows })
}

/// A CSV file's text, decoded (UTF-8, UTF-8 with BOM, GBK from Excel) with
/// the charset warnings.
pub fn decode_csv(bytes: &[u8]) -> (String, Vec<String>) {
    let d = charset::decode(bytes, None);
    (d.text, d.warnings)
}

/// A CSV record that was not read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRowError {
    /// The line the record starts on (1-based).
    pub line: u64,
    /// The field (0-based) the bound was broken in, when it is one field.
    pub column: Option<usize>,
    pub reason: String,
}

/// CSV records as cells, each within `limits`: a record with a field, a
/// length or a number of fields over its bound is an `Err` naming the line,
/// field and bound, and what it held is let go as it is read (a 100 MB field
/// is never held). Empty lines are skipped; fields may be quoted across lines.
pub fn csv_rows<'a>(text: &'a str, limits: &Limits) -> impl Iterator<Item = Result<Vec<Cell>, CsvRowError>> + 'a {
    let limits = *limits;
    let mut rdr = csv_core::ReaderBuilder::new().build();
    let input = text.as_bytes();
    let mut pos = 0;
    let mut done = false;
    let mut out = vec![0u8; 16 << 10];
    let mut field: Vec<u8> = Vec::with_capacity(32);
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let line = rdr.line();
        let mut cells: Vec<Cell> = Vec::new();
        field.clear();
        let (mut record_bytes, mut columns) = (0u64, 0u64);
        let mut bad: Option<CsvRowError> = None;
        loop {
            // A field being kept is read straight into its own buffer (no
            // second copy); one over a bound is read into `out` and let go.
            let (res, nin, nout) = if bad.is_none() {
                let at = field.len();
                if field.capacity() - at < 16 {
                    field.reserve(at.max(32));
                }
                field.resize(field.capacity(), 0);
                let r = rdr.read_field(&input[pos..], &mut field[at..]);
                field.truncate(at + r.2);
                r
            } else {
                rdr.read_field(&input[pos..], &mut out)
            };
            pos += nin;
            record_bytes += nout as u64;
            if bad.is_none() {
                if field.len() as u64 > limits.max_csv_field_bytes {
                    bad = Some(CsvRowError {
                        line,
                        column: Some(columns as usize),
                        reason: format!(
                            "字段超过上限 {}（import.max_csv_field_bytes）；此记录未导入",
                            human_bytes(limits.max_csv_field_bytes)
                        ),
                    });
                } else if record_bytes > limits.max_csv_record_bytes {
                    bad = Some(CsvRowError {
                        line,
                        column: None,
                        reason: format!(
                            "记录超过上限 {}（import.max_csv_record_bytes）；此记录未导入",
                            human_bytes(limits.max_csv_record_bytes)
                        ),
                    });
                }
                if bad.is_some() {
                    (cells, field) = (Vec::new(), Vec::new());
                }
            }
            match res {
                csv_core::ReadFieldResult::InputEmpty | csv_core::ReadFieldResult::OutputFull => {}
                csv_core::ReadFieldResult::Field { record_end } => {
                    columns += 1;
                    if bad.is_none() && columns > limits.max_csv_columns {
                        bad = Some(CsvRowError {
                            line,
                            column: None,
                            reason: format!(
                                "字段数超过上限 {}（import.max_csv_columns）；此记录未导入",
                                limits.max_csv_columns
                            ),
                        });
                        cells = Vec::new();
                    }
                    if bad.is_none() {
                        cells.push(if field.is_empty() {
                            Cell::Empty
                        } else {
                            let bytes = std::mem::replace(&mut field, Vec::with_capacity(32));
                            // Fields end at ASCII delimiters of valid UTF-8: always valid.
                            Cell::Text(
                                String::from_utf8(bytes)
                                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                            )
                        });
                    }
                    field.clear();
                    if record_end {
                        break;
                    }
                }
                csv_core::ReadFieldResult::End => {
                    done = true;
                    return None;
                }
            }
        }
        if let Some(b) = &mut bad
            && columns > limits.max_csv_columns
            && b.column.is_none()
        {
            b.reason = format!("共 {columns} 个字段，{}", b.reason);
        }
        Some(bad.map_or(Ok(cells), Err))
    })
}

/// How many characters of a row's cells are U+FFFD: bytes the decoder could
/// not read (or that were lost before the export was made), per column.
pub fn replaced_chars(cells: &[Cell]) -> Vec<(usize, usize)> {
    cells
        .iter()
        .enumerate()
        .filter_map(|(c, cell)| match cell {
            Cell::Text(s) => Some((c, s.chars().filter(|&ch| ch == '\u{FFFD}').count())).filter(|(_, n)| *n > 0),
            _ => None,
        })
        .collect()
}

/// The first `n` characters of a work order's content as its title, never
/// ending inside a run of digits: a phone or ID number cut in half would no
/// longer be recognised (and masked) as one, so the run is left out whole.
pub fn cut_title(content: &str, n: usize) -> String {
    let chars: Vec<char> = content.chars().collect();
    if chars.len() <= n {
        return content.to_string();
    }
    let digit = |c: char| c.is_ascii_digit() || ('０'..='９').contains(&c);
    let mut end = n;
    if digit(chars[n]) {
        while end > 0 && digit(chars[end - 1]) {
            end -= 1;
        }
    }
    chars[..end].iter().collect::<String>().trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn header_below_a_title_row_and_two_row_headers() {
        let rows = vec![
            vec![t("2020年10月12345热线工单明细表"), Cell::Empty, Cell::Empty, Cell::Empty],
            vec![t("工单信息"), Cell::Empty, t("承办单位"), t("办理情况")],
            vec![t("工单编号"), t("来电 时间"), Cell::Empty, t("办结时间")],
            vec![t("A001"), t("2020/10/8 9:30:00"), t("区教育局"), Cell::Empty],
        ];
        let h = find_header(&rows, &Names::default()).unwrap();
        assert_eq!(h.data_start, 3);
        assert_eq!(h.columns[&Field::Number], 0);
        assert_eq!(h.columns[&Field::Received], 1);
        assert_eq!(h.columns[&Field::Handler], 2);
        assert_eq!(h.columns[&Field::Closed], 3);
    }

    #[test]
    fn custom_names_and_a_clear_error_without_a_number_column() {
        let rows = vec![vec![t("单号"), t("受理日期"), t("内容")], vec![t("1"), t("2020-01-02"), t("x")]];
        let e = find_header(&rows, &Names::default()).unwrap_err();
        assert!(e.contains("找不到表头"), "{e}");
        let mut names = Names::default();
        names.custom.insert(Field::Number, vec!["单号".into()]);
        names.custom.insert(Field::Received, vec!["受理日期".into()]);
        let h = find_header(&rows, &names).unwrap();
        assert_eq!((h.columns[&Field::Number], h.columns[&Field::Received], h.columns[&Field::Content]), (0, 1, 2));
    }

    #[test]
    fn times_in_every_form() {
        let p = |c: Cell| parse_time_cell(&c).unwrap().map(|p| p.at.to_rfc3339());
        assert_eq!(p(Cell::Serial(42_894.730_092_592_6)).as_deref(), Some("2017-06-08T17:31:20+08:00"));
        assert_eq!(p(t("42894.730092592603")).as_deref(), Some("2017-06-08T17:31:20+08:00"));
        assert_eq!(p(t("2018/7/17 7:13:58")).as_deref(), Some("2018-07-17T07:13:58+08:00"));
        assert_eq!(p(t("2018-07-17 07:13")).as_deref(), Some("2018-07-17T07:13:00+08:00"));
        assert_eq!(p(t("　2020年08月02日\t")).as_deref(), Some("2020-08-02T00:00:00+08:00"));
        assert_eq!(p(Cell::Int(44000)).as_deref(), Some("2020-06-18T00:00:00+08:00"));
        assert_eq!(p(Cell::Empty), None);
        assert!(parse_time_cell(&t("明天")).is_err());
    }

    #[test]
    fn rows_become_records_or_quarantine_entries_naming_the_column() {
        let rows = vec![
            vec![t("留言编号"), t("留言主题"), t("留言时间"), t("留言详情"), t("答复时间")],
            vec![
                Cell::Int(2549),
                t("物业管理有问题"),
                t("2019/4/25 9:32:09"),
                t("\n\t\t小区物业\u{3000}乱收费\n"),
                t("2019/5/10 14:31:26"),
            ],
            vec![Cell::Empty, t("无编号"), t("2019/4/25 9:32:09"), t("x"), Cell::Empty],
            vec![t("2551"), t("坏时间"), t("2019-13-45"), t("x"), Cell::Empty],
            vec![Cell::Empty, Cell::Empty, Cell::Empty, Cell::Empty, Cell::Empty],
        ];
        let h = find_header(&rows, &Names::default()).unwrap();
        let out: Vec<RowOutcome> =
            rows.iter().enumerate().skip(h.data_start).map(|(i, r)| read_row(r, i, &h)).collect();
        let RowOutcome::Record(r) = &out[0] else { panic!("{:?}", out[0]) };
        assert_eq!((r.row, r.case.number.as_str(), r.item.title.as_str()), (2, "2549", "物业管理有问题"));
        assert_eq!(r.item.text, "小区物业 乱收费");
        assert_eq!(r.case.closed_at.unwrap().at.to_rfc3339(), "2019-05-10T14:31:26+08:00");
        assert_eq!(
            out[1],
            RowOutcome::Quarantined(Quarantined {
                row: 3,
                column: Some("留言编号".into()),
                reason: EMPTY_NUMBER.into(),
                value: None
            })
        );
        let RowOutcome::Quarantined(q) = &out[2] else { panic!() };
        assert_eq!((q.row, q.column.as_deref(), q.value.as_deref()), (4, Some("留言时间"), Some("2019-13-45")));
        assert_eq!(out[3], RowOutcome::Blank);
    }

    #[test]
    fn ooxml_escapes_left_in_csv_become_line_breaks() {
        assert_eq!(Cell::Text("第一段_x000D_\n第二段_x000A_第三段".into()).text(), "第一段\n第二段\n第三段");
    }

    #[test]
    fn csv_with_quoted_newlines() {
        let rows: Vec<_> = csv_rows("a,b\n1,\"x\ny\"\n", &Limits::default()).collect::<Result<_, _>>().unwrap();
        assert_eq!(rows[1][1], Cell::Text("x\ny".into()));
    }

    fn limits(field: u64, record: u64, columns: u64) -> Limits {
        Limits {
            max_csv_field_bytes: field,
            max_csv_record_bytes: record,
            max_csv_columns: columns,
            ..Limits::default()
        }
    }

    #[test]
    fn csv_records_over_a_bound_are_errors_naming_line_and_field_and_the_rest_read() {
        let text = "a,b,c\n1,xxxxxxxxxx,3\n4,5,6\n7,8,9,10,11\n\"q\nq\",12345678901234567890,0\n13,14,15\n";
        let rows: Vec<_> = csv_rows(text, &limits(8, 20, 4)).collect();
        assert_eq!(rows.len(), 6, "{rows:?}");
        assert_eq!(rows[0], Ok(vec![t("a"), t("b"), t("c")]));
        let Err(e) = &rows[1] else { panic!("{rows:?}") };
        assert_eq!((e.line, e.column), (2, Some(1)), "{e:?}");
        assert!(e.reason.contains("字段超过上限 8 字节（import.max_csv_field_bytes）"), "{e:?}");
        assert_eq!(rows[2], Ok(vec![t("4"), t("5"), t("6")]));
        let Err(e) = &rows[3] else { panic!("{rows:?}") };
        assert_eq!((e.line, e.column), (4, None));
        assert!(e.reason.contains("共 5 个字段，字段数超过上限 4（import.max_csv_columns）"), "{e:?}");
        let Err(e) = &rows[4] else { panic!("{rows:?}") };
        assert!(e.reason.contains("字段超过上限"), "{e:?}");
        assert_eq!(rows[5], Ok(vec![t("13"), t("14"), t("15")]), "a quoted newline did not derail the next record");
        // The record bound: fields each within theirs, together over it.
        let rows: Vec<_> = csv_rows("aaaa,bbbb,cccc\nx,y\n", &limits(8, 10, 10)).collect();
        assert!(rows[0].as_ref().unwrap_err().reason.contains("记录超过上限 10 字节"), "{rows:?}");
        assert_eq!(rows[1], Ok(vec![t("x"), t("y")]));
        // Empty lines are skipped, and a field longer than the read buffer is whole.
        let long = "长".repeat(20_000);
        let rows: Vec<_> = csv_rows(&format!("\n\na,{long}\n\n"), &Limits::default()).collect();
        assert_eq!(rows, vec![Ok(vec![t("a"), t(&long)])]);
    }

    #[test]
    fn a_sheet_holds_and_yields_only_rows_with_cells_at_their_index() {
        let sheet = Sheet::from_rows(vec![vec![t("a")], vec![], vec![], vec![Cell::Empty, t("b")]]);
        assert_eq!(sheet.cells(), 3);
        let rows: Vec<_> = sheet.rows().collect();
        assert_eq!(rows, vec![(0, vec![t("a")]), (3, vec![Cell::Empty, t("b")])]);
    }

    fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// The fuzzer's finding (seed 1, input 10055): `uniqueCount="52147483647"`
    /// made calamine reserve 1.2 TB and abort the process.
    #[test]
    fn a_shared_string_table_declaring_more_strings_than_cells_is_refused() {
        let sst = |attrs: &str| {
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="x" {attrs}><si><t>a</t></si></sst>"#)
                .into_bytes()
        };
        let l = Limits::default();
        for bad in
            [r#"count="1554" uniqueCount="52147483647""#, "uniqueCount = '99999999999999999999'", r#"uniqueCount="+5""#]
        {
            let e = check_zip(&zip_of(&[("xl/sharedStrings.xml", sst(bad))]), &l).unwrap_err();
            assert!(e.contains("import.max_cells") && e.contains("xl/sharedStrings.xml"), "{bad}: {e}");
        }
        // A `>` inside a quoted value does not end the tag (input 118582 of seed 1).
        let quoted = r#"xmlns="http://x<si><t>y" count="12" uniqueCount="4294967296""#;
        assert!(check_zip(&zip_of(&[("xl/sharedStrings.xml", sst(quoted))]), &l).unwrap_err().contains("4294967296"));
        // A decoy tag in a comment does not hide the real one.
        let decoy = [b"<!-- <sst> -->".to_vec(), sst(r#"uniqueCount="4294967296""#)].concat();
        assert!(check_zip(&zip_of(&[("xl/sharedStrings.xml", decoy)]), &l).is_err());
        for good in [r#"count="3" uniqueCount="1""#, ""] {
            assert!(check_zip(&zip_of(&[("xl/sharedStrings.xml", sst(good))]), &l).is_ok(), "{good}");
        }
        let late = [b" ".repeat(70_000), sst("")].concat();
        assert!(check_zip(&zip_of(&[("xl/sharedStrings.xml", late)]), &l).unwrap_err().contains("<sst>"));
    }

    #[test]
    fn a_zip_is_measured_by_inflating_it_and_refused_over_its_bounds() {
        let zip = zip_of(&[("a.xml", vec![b'a'; 1000]), ("xl/worksheets/sheet1.xml", vec![b'x'; 3 << 20])]);
        assert!(zip.len() < 20_000, "{}", zip.len());
        let l = Limits { max_xlsx_bytes: 1 << 20, ..Limits::default() };
        let e = check_zip(&zip, &l).unwrap_err();
        assert!(e.starts_with("工作簿解压后超过上限 1 MiB（import.max_xlsx_bytes）"), "{e}");
        assert!(e.contains("解压到 xl/worksheets/sheet1.xml 时"), "{e}");
        let l = Limits { max_xlsx_bytes: 4 << 20, ..Limits::default() };
        assert_eq!(check_zip(&zip, &l).unwrap(), ["a.xml", "xl/worksheets/sheet1.xml"]);
        let l = Limits { max_xlsx_entries: 1, ..Limits::default() };
        assert!(check_zip(&zip, &l).unwrap_err().contains("2 个文件，超过上限 1（import.max_xlsx_entries）"));
        // Not a zip, an old .xls, an .ods: each says what it is.
        assert!(read_workbook(b"hello", &Limits::default()).unwrap_err().contains("无法按 zip 打开"));
        assert_eq!(read_workbook(&[0xD0, 0xCF, 0x11, 0xE0, 0, 0], &Limits::default()).unwrap_err(), XLS_REFUSED);
        let ods = zip_of(&[
            ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet".to_vec()),
            ("content.xml", vec![]),
        ]);
        assert_eq!(read_workbook(&ods, &Limits::default()).unwrap_err(), ODS_REFUSED);
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(human_bytes(256 << 20), "256 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(100), "100 字节");
    }

    #[test]
    fn a_title_never_ends_inside_a_number() {
        let c = "来电人张建国反映燃气管道疑似泄漏，请尽快处理，联系电话13912345678，地址城关镇";
        let t = cut_title(c, 30);
        assert_eq!(t, "来电人张建国反映燃气管道疑似泄漏，请尽快处理，联系电话");
        assert_eq!(cut_title("短的", 30), "短的");
        assert_eq!(cut_title("一二三四五六七八九十", 5), "一二三四五");
        // A number that ends exactly at the cut is whole: kept.
        assert_eq!(cut_title("电话13912345678，请回电", 13), "电话13912345678");
    }
}
