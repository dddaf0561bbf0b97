//! Hostile exports, built byte for byte (issue 18 item 4): a workbook
//! declaring the whole sheet, a zip bomb, a CSV with a huge field and one
//! with very many columns. Each writes `path`; each also carries healthy rows
//! (numbers `H…`) so a test can see that what is sound still imports.
//! Reusable by any test, including end-to-end runs of `govwatch run`.

use std::io::Write;
use std::path::Path;

use flate2::{Compress, Compression, FlushCompress};

/// The header every file here uses.
pub const HEADER: [&str; 4] = ["工单编号", "来电时间", "诉求内容", "承办单位"];

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="工单" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
const SHEET_OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

fn inline(cell: &str, text: &str) -> String {
    format!(r#"<c r="{cell}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// Row `r` of the sheet: the header, then healthy rows.
fn sheet_row(r: usize, cells: &[&str]) -> String {
    let cols = ["A", "B", "C", "D"];
    let body: String = cells.iter().zip(cols).map(|(t, c)| inline(&format!("{c}{r}"), t)).collect();
    format!(r#"<row r="{r}">{body}</row>"#)
}

fn healthy_sheet_rows() -> String {
    [
        sheet_row(1, &HEADER),
        sheet_row(2, &["H1", "2026-10-09 08:00", "路灯不亮", "县住建局"]),
        sheet_row(3, &["H2", "2026-10-09 09:00", "小区停水", "县住建局"]),
    ]
    .concat()
}

/// A 1.8 KB XLSX whose sheet says `<dimension ref="A1:XFD1048576"/>` and
/// holds, besides a header and two rows, one cell in the sheet's very last
/// place (XFD1048576): read as one dense range it is 2^34 cells (512 GiB).
pub fn sparse_dimension_xlsx(path: &Path) {
    let sheet = format!(
        r#"{SHEET_OPEN}<dimension ref="A1:XFD1048576"/><sheetData>{}<row r="1048576">{}</row></sheetData></worksheet>"#,
        healthy_sheet_rows(),
        inline("XFD1048576", "末")
    );
    write_xlsx(path, &sheet);
}

/// The fuzzer's finding (seed 2, input 680): a sheet whose last row is
/// numbered 2,147,483,647. Reading it must not walk (or hold) two billion
/// blank rows.
pub fn far_row_xlsx(path: &Path) {
    let sheet = format!(
        r#"{SHEET_OPEN}<dimension ref="A1:D3"/><sheetData>{}<row r="2147483647">{}</row></sheetData></worksheet>"#,
        healthy_sheet_rows(),
        inline("A2147483647", "末")
    );
    write_xlsx(path, &sheet);
}

/// A workbook of one sheet holding `sheet` (its XML).
fn write_xlsx(path: &Path, sheet: &str) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ("xl/worksheets/sheet1.xml", sheet),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

/// The inflated size of [`xlsx_zip_bomb`]'s sheet: 300 MiB, over the default
/// `import.max_xlsx_bytes` (256 MiB).
pub const BOMB_INFLATED: u64 = 300 << 20;

/// An XLSX zip bomb: a sound workbook whose sheet XML inflates to
/// [`BOMB_INFLATED`] bytes (one cell of repeated `x`) from about 300 KB.
pub fn xlsx_zip_bomb(path: &Path) {
    xlsx_zip_bomb_of(path, BOMB_INFLATED)
}

/// [`xlsx_zip_bomb`] inflating to about `inflated` bytes (whole MiB).
pub fn xlsx_zip_bomb_of(path: &Path, inflated: u64) {
    const CHUNK: usize = 1 << 20;
    let prefix = format!(
        r#"{SHEET_OPEN}<dimension ref="A1:D4"/><sheetData>{}<row r="4">{}"#,
        healthy_sheet_rows(),
        r#"<c r="A4" t="inlineStr"><is><t>"#
    );
    let suffix = "</t></is></c></row></sheetData></worksheet>";
    let chunks = (inflated as usize).saturating_sub(prefix.len() + suffix.len()).div_ceil(CHUNK).max(1);
    // Each part deflated on its own and fully flushed: byte-aligned blocks
    // that need nothing before them, so the chunk's blocks can be repeated.
    let deflate = |data: &[u8], flush: FlushCompress| {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() / 100 + 1024);
        loop {
            let before = c.total_in() as usize;
            c.compress_vec(&data[before..], &mut out, flush).unwrap();
            if c.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(1024));
        }
        out
    };
    let chunk = vec![b'x'; CHUNK];
    let head = deflate(prefix.as_bytes(), FlushCompress::Full);
    let body = deflate(&chunk, FlushCompress::Full);
    let tail = deflate(suffix.as_bytes(), FlushCompress::Finish);
    let mut crc = crc32fast::Hasher::new();
    crc.update(prefix.as_bytes());
    for _ in 0..chunks {
        crc.update(&chunk);
    }
    crc.update(suffix.as_bytes());
    let sheet = Entry {
        name: "xl/worksheets/sheet1.xml",
        method: 8,
        crc: crc.finalize(),
        compressed: (head.len() + body.len() * chunks + tail.len()) as u32,
        size: (prefix.len() + CHUNK * chunks + suffix.len()) as u32,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut entries = Vec::new();
    let mut offset = 0u32;
    for (name, text) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
    ] {
        let e = Entry {
            name,
            method: 0,
            crc: crc32fast::hash(text.as_bytes()),
            compressed: text.len() as u32,
            size: text.len() as u32,
        };
        e.local_header(&mut out);
        out.write_all(text.as_bytes()).unwrap();
        entries.push((e, offset));
        offset += 30 + name.len() as u32 + text.len() as u32;
    }
    sheet.local_header(&mut out);
    out.write_all(&head).unwrap();
    for _ in 0..chunks {
        out.write_all(&body).unwrap();
    }
    out.write_all(&tail).unwrap();
    entries.push((sheet, offset));
    offset += 30 + sheet.name.len() as u32 + sheet.compressed;
    let mut dir = Vec::new();
    for (e, at) in &entries {
        e.central_header(&mut dir, *at);
    }
    out.write_all(&dir).unwrap();
    // End of central directory.
    out.write_all(&0x0605_4b50u32.to_le_bytes()).unwrap();
    out.write_all(&[0, 0, 0, 0]).unwrap();
    out.write_all(&(entries.len() as u16).to_le_bytes()).unwrap();
    out.write_all(&(entries.len() as u16).to_le_bytes()).unwrap();
    out.write_all(&(dir.len() as u32).to_le_bytes()).unwrap();
    out.write_all(&offset.to_le_bytes()).unwrap();
    out.write_all(&[0, 0]).unwrap();
    out.flush().unwrap();
}

#[derive(Clone, Copy)]
struct Entry {
    name: &'static str,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
}

impl Entry {
    /// Version, flags, method, time, date, crc, sizes, name length, extra length.
    fn common(&self, out: &mut impl Write) {
        for v in [20u16, 0, self.method, 0, 0x5821] {
            out.write_all(&v.to_le_bytes()).unwrap();
        }
        for v in [self.crc, self.compressed, self.size] {
            out.write_all(&v.to_le_bytes()).unwrap();
        }
        out.write_all(&(self.name.len() as u16).to_le_bytes()).unwrap();
        out.write_all(&0u16.to_le_bytes()).unwrap();
    }

    fn local_header(&self, out: &mut impl Write) {
        out.write_all(&0x0403_4b50u32.to_le_bytes()).unwrap();
        self.common(out);
        out.write_all(self.name.as_bytes()).unwrap();
    }

    fn central_header(&self, out: &mut impl Write, offset: u32) {
        out.write_all(&0x0201_4b50u32.to_le_bytes()).unwrap();
        out.write_all(&20u16.to_le_bytes()).unwrap(); // made by
        self.common(out);
        // Comment length, disk, internal and external attributes, offset.
        out.write_all(&[0; 10]).unwrap();
        out.write_all(&offset.to_le_bytes()).unwrap();
        out.write_all(self.name.as_bytes()).unwrap();
    }
}

fn healthy_csv() -> String {
    format!("{}\nH1,2026-10-09 08:00,路灯不亮,县住建局\nH2,2026-10-09 09:00,小区停水,县住建局\n", HEADER.join(","))
}

/// The size of [`huge_field_csv`]'s one field: 16 MiB, 16 times the default
/// `import.max_csv_field_bytes`.
pub const HUGE_FIELD: usize = 16 << 20;

/// A CSV whose third record (row 4, after the header and two healthy rows)
/// has a [`HUGE_FIELD`]-byte 诉求内容; a healthy row follows it.
pub fn huge_field_csv(path: &Path) {
    huge_field_csv_of(path, HUGE_FIELD)
}

/// [`huge_field_csv`] with a field of `bytes` bytes.
pub fn huge_field_csv_of(path: &Path, bytes: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(healthy_csv().as_bytes()).unwrap();
    out.write_all(b"B1,2026-10-09 10:00,\"").unwrap();
    let block = vec![b'x'; 1 << 16];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n]).unwrap();
        left -= n;
    }
    out.write_all("\",县住建局\nH3,2026-10-09 11:00,井盖缺失,县住建局\n".as_bytes()).unwrap();
    out.flush().unwrap();
}

/// The fields of [`wide_csv`]'s wide record: a million (the default
/// `import.max_csv_columns` is 1000).
pub const WIDE_COLUMNS: usize = 1_000_000;

/// A CSV whose third record (row 4) has [`WIDE_COLUMNS`] fields; a healthy row follows it.
pub fn wide_csv(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(healthy_csv().as_bytes()).unwrap();
    out.write_all(b"W1,2026-10-09 10:00").unwrap();
    for _ in 2..WIDE_COLUMNS {
        out.write_all(b",y").unwrap();
    }
    out.write_all("\nH3,2026-10-09 11:00,井盖缺失,县住建局\n".as_bytes()).unwrap();
    out.flush().unwrap();
}

/// A healthy export next to the hostile ones: three rows, numbers `OK1`–`OK3`.
pub fn healthy_csv_file(path: &Path) {
    let rows = "OK1,2026-10-09 08:00,咨询学校开学时间,县住建局\n\
                OK2,2026-10-09 09:00,小区停水三天,县住建局\n\
                OK3,2026-10-09 10:00,路灯不亮,县住建局\n";
    std::fs::write(path, format!("{}\n{rows}", HEADER.join(","))).unwrap();
}

/// Sets a file's modification time a minute back, so a drop folder treats it
/// as settled (not still being copied).
pub fn settle(path: &Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(old).unwrap();
}
