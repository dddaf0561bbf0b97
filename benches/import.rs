//! Import and rules benchmark: a generated 1,000,000-row hotline CSV and a
//! 200,000-row XLSX imported end to end (parse, store, index) with
//! govwatch's own `import::import_file` and `SearchIndex::sync`, and the
//! deadline rules evaluated over 1,000,000 open orders.
//!
//! ```text
//! cargo bench --bench import                          # 1,000,000 CSV rows, 200,000 XLSX rows
//! cargo bench --bench import -- --csv-rows 100000 --xlsx-rows 20000 --orders 100000
//! ```
//!
//! The work folder (default `bench-data/import/`, git-ignored) is replaced on
//! each run. Started without `--bench` (as `cargo test --all-targets` does) it
//! runs a smoke test with a few hundred rows.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{NaiveDate, TimeZone};
use govwatch::calendar::Calendar;
use govwatch::config::{Config, RulesConfig};
use govwatch::index::{SearchIndex, WriterOptions};
use govwatch::model::{Case, ItemId, ItemKind, Precision, Published};
use govwatch::normalize::time::china;
use govwatch::rules::deadlines::{self, CaseRow};
use govwatch::store::Store;

use common::{
    Machine, Rng, Table, disk_size, fmt_bytes, fmt_secs, number_arg, per_sec, started_by_cargo_bench, thousands,
};

const CATEGORIES: &[&str] = &["咨询", "求助", "建议", "投诉", "举报", "咨询-政策", "投诉-物业", "求助-供水"];
const UNITS: &[&str] =
    &["县住建局", "县教育局", "县卫健委", "县市场监管局", "县交通运输局", "县供电所", "某街道办事处"];
const PHRASES: &[&str] = &[
    "反映小区停水三天无人处理",
    "咨询孩子入学需要准备的材料",
    "投诉楼下餐馆油烟扰民",
    "建议在路口增设红绿灯",
    "求助老旧小区加装电梯",
    "举报工地夜间违规施工",
    "反映公交线路调整后出行不便",
    "咨询医保异地报销政策",
    "反映路灯不亮存在安全隐患",
    "投诉物业公司乱收费",
];

struct Options {
    csv_rows: usize,
    xlsx_rows: usize,
    orders: usize,
    dir: PathBuf,
}

/// One generated row: number, received, category, content, unit, closed (or empty), status.
fn row(i: usize, rng: &mut Rng) -> [String; 7] {
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days((i % 320) as i64);
    let received = format!("{} {:02}:{:02}:{:02}", day.format("%Y/%-m/%-d"), 8 + (i % 10), i % 60, (i * 7) % 60);
    let closed = if rng.next_u64().is_multiple_of(3) {
        String::new()
    } else {
        format!("{} 16:30", (day + chrono::Duration::days(3)).format("%Y-%m-%d"))
    };
    let status = if closed.is_empty() { "处理中" } else { "已办结" };
    let content = format!("{}，{}，来电人要求尽快处理。工单流水{i}。", pick(rng, PHRASES), pick(rng, PHRASES));
    [
        format!("GD{i:08}"),
        received,
        pick(rng, CATEGORIES).to_string(),
        content,
        pick(rng, UNITS).to_string(),
        closed,
        status.to_string(),
    ]
}

fn pick<'a>(rng: &mut Rng, v: &[&'a str]) -> &'a str {
    v[rng.below(v.len() as u64) as usize]
}

const HEADER: [&str; 7] = ["工单编号", "来电时间", "诉求类型", "诉求内容", "承办单位", "办结时间", "状态"];

fn write_csv(path: &Path, rows: usize) -> Result<u64> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "{}", HEADER.join(","))?;
    let mut rng = Rng::new(42);
    for i in 0..rows {
        writeln!(f, "{}", row(i, &mut rng).join(","))?;
    }
    f.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn write_xlsx(path: &Path, rows: usize) -> Result<u64> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    ws.write(0, 0, "12345热线工单明细")?;
    for (c, h) in HEADER.iter().enumerate() {
        ws.write(1, c as u16, *h)?;
    }
    let mut rng = Rng::new(7);
    for i in 0..rows {
        let r = row(i, &mut rng);
        let n = (i + 2) as u32;
        ws.write(n, 0, r[0].as_str())?;
        let received = chrono::NaiveDateTime::parse_from_str(&r[1], "%Y/%m/%d %H:%M:%S")?;
        ws.write_datetime_with_format(n, 1, ExcelDateTime::from_timestamp(received.and_utc().timestamp())?, &date)?;
        ws.write(n, 2, r[2].as_str())?;
        ws.write(n, 3, r[3].as_str())?;
        ws.write(n, 4, r[4].as_str())?;
        ws.write(n, 5, r[5].as_str())?;
        ws.write(n, 6, r[6].as_str())?;
    }
    wb.save(path)?;
    Ok(std::fs::metadata(path)?.len())
}

fn config(dir: &Path) -> Result<Config> {
    let toml = format!(
        r#"
[storage]
data_dir = "{var}"
index_dir = "{index}"
[[units]]
id = "rexian"
name = "县12345热线中心"
[[units]]
id = "zhujianju"
name = "县住建局"
[[units]]
id = "jiaoyuju"
name = "县教育局"
[[sources]]
id = "rexian"
kind = "export"
url = "{dir}"
unit = "rexian"
role = "hotline"
level = "county"
"#,
        var = dir.join("var").display(),
        index = dir.join("index").display(),
        dir = dir.display()
    );
    let loaded = govwatch::config::from_toml_str(&toml)?;
    anyhow::ensure!(!loaded.has_errors(), "bench config: {:?}", loaded.problems);
    let mut cfg = loaded.config;
    cfg.storage.data_dir = dir.join("var");
    cfg.storage.index_dir = dir.join("index");
    Ok(cfg)
}

struct ImportRun {
    rows: usize,
    file_bytes: u64,
    import: Duration,
    index: Duration,
    store_bytes: u64,
    index_bytes: u64,
}

fn import_end_to_end(dir: &Path, file: &Path, file_bytes: u64, expect: usize) -> Result<ImportRun> {
    let _ = std::fs::remove_dir_all(dir.join("var"));
    let _ = std::fs::remove_dir_all(dir.join("index"));
    let cfg = config(dir)?;
    let store = Store::open(&cfg.storage.data_dir)?;
    let idx = SearchIndex::open(&cfg.storage.index_dir, WriterOptions::default())?;
    let now = china().with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    let t = Instant::now();
    let report = govwatch::import::import_file(&cfg, &store, &cfg.sources[0], file, now, &mut |n| {
        if n.is_multiple_of(200_000) {
            eprintln!("  {n} rows…");
        }
    });
    let import = t.elapsed();
    anyhow::ensure!(report.error.is_none(), "import failed: {:?}", report.error);
    anyhow::ensure!(report.new == expect, "expected {expect} new items, got {}", report.new);
    let t = Instant::now();
    idx.sync(&store)?;
    idx.close_writer()?;
    let index = t.elapsed();
    Ok(ImportRun {
        rows: report.rows,
        file_bytes,
        import,
        index,
        store_bytes: disk_size(&cfg.storage.data_dir),
        index_bytes: disk_size(&cfg.storage.index_dir),
    })
}

/// `n` open orders received over the year before `now`, in memory.
fn open_orders(n: usize) -> Vec<CaseRow> {
    let mut rng = Rng::new(99);
    (0..n)
        .map(|i| {
            let day = NaiveDate::from_ymd_opt(2025, 11, 1).unwrap() + chrono::Duration::days((i % 380) as i64);
            let at = china().from_local_datetime(&day.and_hms_opt(9, (i % 60) as u32, 0).unwrap()).unwrap();
            CaseRow {
                item_id: ItemId(i as u64),
                source: "rexian".to_string(),
                unit: pick(&mut rng, &["rexian", "zhujianju", "jiaoyuju"]).to_string(),
                kind: ItemKind::Hotline,
                case: Case {
                    number: format!("GD{i:08}"),
                    received_at: Some(Published { at, precision: Precision::Time, zone_assumed: true }),
                    category: Some(pick(&mut rng, CATEGORIES).to_string()),
                    extension: if i % 17 == 0 { Some("5".into()) } else { None },
                    urgency: if i % 50 == 0 { Some("紧急".into()) } else { None },
                    ..Default::default()
                },
            }
        })
        .collect()
}

fn parse_args() -> Result<Options> {
    let args: Vec<String> = std::env::args().collect();
    let full = started_by_cargo_bench(&args);
    let mut o = Options {
        csv_rows: if full { 1_000_000 } else { 300 },
        xlsx_rows: if full { 200_000 } else { 100 },
        orders: if full { 1_000_000 } else { 1_000 },
        dir: if full {
            common::repo().join("bench-data/import")
        } else {
            std::env::temp_dir().join(format!("govwatch-import-smoke-{}", std::process::id()))
        },
    };
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--csv-rows" => o.csv_rows = number_arg(&mut it, "--csv-rows")?,
            "--xlsx-rows" => o.xlsx_rows = number_arg(&mut it, "--xlsx-rows")?,
            "--orders" => o.orders = number_arg(&mut it, "--orders")?,
            "--dir" => o.dir = PathBuf::from(it.next().context("--dir needs a value")?),
            other => {
                anyhow::bail!("unknown option {other:?}; options: --csv-rows N --xlsx-rows N --orders N --dir PATH")
            }
        }
    }
    Ok(o)
}

fn main() -> Result<()> {
    let o = parse_args()?;
    let _ = std::fs::remove_dir_all(&o.dir);
    std::fs::create_dir_all(&o.dir)?;
    println!("# govwatch import and rules benchmark\n");
    println!("{}", Machine::read().markdown());

    eprintln!("writing {} CSV rows and {} XLSX rows…", o.csv_rows, o.xlsx_rows);
    let csv_dir = o.dir.join("csv");
    let xlsx_dir = o.dir.join("xlsx");
    std::fs::create_dir_all(&csv_dir)?;
    std::fs::create_dir_all(&xlsx_dir)?;
    let csv = csv_dir.join("gongdan.csv");
    let xlsx = xlsx_dir.join("gongdan.xlsx");
    let csv_bytes = write_csv(&csv, o.csv_rows)?;
    let xlsx_bytes = write_xlsx(&xlsx, o.xlsx_rows)?;

    eprintln!("importing the CSV…");
    let c = import_end_to_end(&csv_dir, &csv, csv_bytes, o.csv_rows)?;
    eprintln!("importing the XLSX…");
    let x = import_end_to_end(&xlsx_dir, &xlsx, xlsx_bytes, o.xlsx_rows)?;

    println!("## Import end to end\n");
    println!(
        "`import::import_file` (decode, find the header, read every row, upsert into SQLite in batches of 5,000) then \
         `SearchIndex::sync` (index the new items). Rows: generated 12345 work orders, ~60 characters of text, two \
         in three closed.\n"
    );
    let mut t = Table::new(&[
        "file",
        "rows",
        "size",
        "import (parse + store)",
        "index",
        "total",
        "rows/s end to end",
        "store",
        "index size",
    ]);
    for (name, r) in [("CSV (UTF-8)", &c), ("XLSX", &x)] {
        let total = r.import + r.index;
        t.row(vec![
            name.into(),
            thousands(r.rows as u64),
            fmt_bytes(r.file_bytes),
            fmt_secs(r.import),
            fmt_secs(r.index),
            fmt_secs(total),
            per_sec(r.rows as f64, total),
            fmt_bytes(r.store_bytes),
            fmt_bytes(r.index_bytes),
        ]);
    }
    println!("{}", t.render());

    eprintln!("evaluating the rules over {} open orders…", o.orders);
    let rows = open_orders(o.orders);
    let cal = Calendar::official();
    let cfg = RulesConfig::default();
    let now = china().with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();
    let mut runs = Vec::new();
    let mut findings = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let f = deadlines::evaluate(&rows, &cfg, &cal, now);
        runs.push(t.elapsed());
        findings = f.len();
    }
    runs.sort();
    println!("## Rules\n");
    println!(
        "`rules::deadlines::evaluate` over {} open hotline orders in memory (received over the 13 months before \
         `now`; categories by 诉求类型, some urgent, some extended), 5 runs.\n",
        thousands(o.orders as u64)
    );
    let mut t = Table::new(&["orders", "findings", "fastest", "median", "slowest", "orders/s (median)"]);
    t.row(vec![
        thousands(o.orders as u64),
        thousands(findings as u64),
        fmt_secs(runs[0]),
        fmt_secs(runs[runs.len() / 2]),
        fmt_secs(runs[runs.len() - 1]),
        per_sec(o.orders as f64, runs[runs.len() / 2]),
    ]);
    println!("{}", t.render());

    let csv_rate = c.rows as f64 / (c.import + c.index).as_secs_f64();
    println!("## Targets\n");
    let mut t = Table::new(&["target", "measured", "met?"]);
    t.row(vec![
        "import ≥ 20,000 rows/s from CSV (parse, store, index)".into(),
        format!("{} rows/s", thousands(csv_rate as u64)),
        if csv_rate >= 20_000.0 { "yes".into() } else { "**no**".into() },
    ]);
    let median = runs[runs.len() / 2];
    t.row(vec![
        "rule evaluation over 1,000,000 open orders < 1 s".into(),
        format!("{} for {} orders", fmt_secs(median), thousands(o.orders as u64)),
        if o.orders < 1_000_000 {
            "(not measured at 1,000,000)".into()
        } else if median < Duration::from_secs(1) {
            "yes".into()
        } else {
            "**no**".into()
        },
    ]);
    println!("{}", t.render());
    if !started_by_cargo_bench(&std::env::args().collect::<Vec<_>>()) {
        let _ = std::fs::remove_dir_all(&o.dir);
    }
    Ok(())
}
