//! Hostile exports (issue 18 item 4, CSV part of item 7): a workbook that
//! declares the whole sheet, a zip bomb, a CSV with a huge field or a million
//! columns, bytes that cannot be decoded. Each is bounded, quarantined with
//! the file, row, field and bound named, and never retried until it changes;
//! what is sound imports. The files are built in `support::hostile_files`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::{Daemon, Options, demo_config};
use crate::support::hostile_files::{self as hostile, settle};
use crate::support::{self};

struct Env {
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Env {
    /// An export source `rexian` reading the drop folder `drop/`, with `extra` TOML (e.g. `[import]`).
    fn new(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("drop")).unwrap();
        let cfg = d.join("g.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"
[storage]
data_dir = "{var}"
index_dir = "{index}"

[[units]]
id = "rexian"
name = "县12345热线中心"

[[sources]]
id = "rexian"
kind = "export"
url = "{drop}"
unit = "rexian"
role = "hotline"
level = "county"

{extra}
"#,
                var = d.join("var").display(),
                index = d.join("index").display(),
                drop = d.join("drop").display(),
            ),
        )
        .unwrap();
        Env { dir, cfg }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = args.to_vec();
        let cfg = self.cfg.to_str().unwrap().to_string();
        a.extend(["--config", &cfg]);
        Command::new(support::bin()).args(&a).env_remove("GOVWATCH_CONFIG").output().unwrap()
    }

    /// `govwatch import --json` of one file: its report (whatever the exit code).
    fn import(&self, file: &Path) -> Value {
        let o = self.run(&["import", "--source", "rexian", file.to_str().unwrap(), "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!(
                "import {}: {e} (exit {:?}): {}{}",
                file.display(),
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        });
        v[0].clone()
    }

    fn quarantine(&self) -> Vec<Value> {
        let o = self.run(&["quarantine", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Value>(&o.stdout).unwrap().as_array().unwrap().clone()
    }

    fn numbers(&self) -> Vec<String> {
        crate::support::store_rows(&self.path("var"), "SELECT number FROM cases ORDER BY number", &[])
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }
}

/// Imports of `file` recorded in the store at `var`: (finished?, error).
fn imports_of(var: &Path, file: &Path) -> Vec<(bool, Option<String>)> {
    let file = file.display().to_string();
    crate::support::store_rows(
        var,
        "SELECT CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END, error FROM imports WHERE file = ?1 ORDER BY id",
        &[&file],
    )
    .into_iter()
    .map(|r| (r[0] == "1", Some(r[1].clone()).filter(|e| !e.is_empty())))
    .collect()
}

fn strs(v: &Value) -> String {
    v.to_string()
}

#[test]
fn a_workbook_declaring_the_whole_sheet_imports_its_rows_without_a_dense_range() {
    let env = Env::new("");
    let file = env.path("sparse.xlsx");
    hostile::sparse_dimension_xlsx(&file);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size < 2500, "the sparse workbook is small: {size} bytes");
    // Before the fix calamine made one dense range of 2^34 cells here and the process aborted.
    let r = env.import(&file);
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!((r["new"].as_u64(), r["quarantined"].as_u64()), (Some(2), Some(1)), "{r}");
    assert_eq!(env.numbers(), ["H1", "H2"]);
    // The far cell's row is quarantined with its own row number (relative to the first row).
    let q = env.quarantine();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0]["row"], 1_048_576, "{q:?}");
    assert!(q[0]["reason"].as_str().unwrap().contains("编号"), "{q:?}");
}

/// The fuzzer's finding: a row numbered 2,147,483,647. The import yielded
/// every blank row before it (a harness that kept them asked for 64 GiB);
/// now only the rows holding cells are read.
#[test]
fn a_row_two_billion_rows_down_is_one_row_to_read() {
    let env = Env::new("");
    let file = env.path("far.xlsx");
    hostile::far_row_xlsx(&file);
    let r = env.import(&file);
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!((r["new"].as_u64(), r["quarantined"].as_u64()), (Some(2), Some(1)), "{r}");
    assert_eq!(env.numbers(), ["H1", "H2"]);
    assert_eq!(env.quarantine()[0]["row"], 2_147_483_647u64);
}

#[test]
fn a_zip_bomb_is_refused_at_the_configured_bound_named_and_quarantined_whole() {
    let env = Env::new("[import]\nmax_xlsx_bytes = 1048576\n");
    let file = env.path("drop/bomb.xlsx");
    hostile::xlsx_zip_bomb(&file);
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size < 1 << 20, "the bomb is small: {size} bytes for {} inflated", hostile::BOMB_INFLATED);
    let o = env.run(&["import", "--source", "rexian", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "a file that fails as a whole fails the import");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("bomb.xlsx: 失败：工作簿解压后超过上限 1 MiB（import.max_xlsx_bytes）"), "{out}");
    assert!(out.contains("整个文件已隔离"), "{out}");
    let q = env.quarantine();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!((q[0]["row"].as_u64(), q[0]["file"].as_str()), (Some(0), file.to_str()), "{q:?}");
    assert!(q[0]["reason"].as_str().unwrap().starts_with("整个文件未导入：工作簿解压后超过上限 1 MiB"), "{q:?}");
    let listed = String::from_utf8_lossy(&env.run(&["quarantine"]).stdout).into_owned();
    assert!(listed.contains("bomb.xlsx 整个文件  整个文件未导入"), "{listed}");
    assert!(file.exists(), "the file itself stays");
    let reason = q[0]["reason"].as_str().unwrap().strip_prefix("整个文件未导入：").unwrap();
    assert_eq!(imports_of(&env.path("var"), &file), [(true, Some(reason.to_string()))], "marked failed in the store");
}

#[test]
fn the_default_bounds_refuse_the_bomb_by_inflating_it_into_nothing() {
    let env = Env::new("");
    let file = env.path("bomb.xlsx");
    hostile::xlsx_zip_bomb(&file);
    let r = env.import(&file);
    let e = r["error"].as_str().unwrap_or_else(|| panic!("the bomb was read: {r}"));
    assert!(e.starts_with("工作簿解压后超过上限 256 MiB（import.max_xlsx_bytes）"), "{e}");
    assert!(e.contains("xl/worksheets/sheet1.xml"), "it names the entry: {e}");
    assert_eq!(r["new"], 0, "{r}");
    // That it is inflated into nothing rather than into memory: the daemon's
    // peak memory after reading it (below) stays far under its inflated size.
}

#[test]
fn a_csv_field_over_the_bound_quarantines_its_record_and_the_rest_imports() {
    let env = Env::new("");
    let file = env.path("huge.csv");
    hostile::huge_field_csv(&file);
    let r = env.import(&file);
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!((r["rows"].as_u64(), r["new"].as_u64(), r["quarantined"].as_u64()), (Some(4), Some(3), Some(1)), "{r}");
    assert_eq!(env.numbers(), ["H1", "H2", "H3"]);
    let q = env.quarantine();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!((q[0]["row"].as_u64(), q[0]["column"].as_str()), (Some(4), Some("诉求内容")), "{q:?}");
    assert_eq!(q[0]["file"].as_str(), file.to_str());
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("第 4 行起") && reason.contains("字段超过上限 1 MiB（import.max_csv_field_bytes）"),
        "{reason}"
    );
    // A lower bound is the configured one.
    let env = Env::new("[import]\nmax_csv_field_bytes = 100\n");
    let r = env.import(&file);
    assert!(strs(&env.quarantine()[0]).contains("字段超过上限 100 字节"), "{r}");
}

#[test]
fn a_csv_record_with_a_million_fields_is_quarantined_and_the_rest_imports() {
    let env = Env::new("");
    let file = env.path("wide.csv");
    hostile::wide_csv(&file);
    let r = env.import(&file);
    assert_eq!(r["error"], Value::Null, "{r}");
    assert_eq!((r["new"].as_u64(), r["quarantined"].as_u64()), (Some(3), Some(1)), "{r}");
    let q = env.quarantine();
    assert_eq!(q[0]["row"], 4, "{q:?}");
    let reason = q[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("共 {} 个字段", hostile::WIDE_COLUMNS)), "{reason}");
    assert!(reason.contains("字段数超过上限 1000（import.max_csv_columns）"), "{reason}");
    // The record-length bound, on its own.
    let env = Env::new("[import]\nmax_csv_record_bytes = 64\nmax_csv_field_bytes = 64\nmax_csv_columns = 10000000\n");
    env.import(&file);
    assert!(strs(&env.quarantine()[0]).contains("记录超过上限 64 字节（import.max_csv_record_bytes）"));
}

#[test]
fn undecodable_bytes_are_counted_and_placed_in_the_report() {
    let env = Env::new("");
    let file = env.path("bad-bytes.csv");
    // GBK, as Excel saves CSV, with two bytes that are no GBK character.
    let gbk = |s: &str| encoding_rs::GB18030.encode(s).0.into_owned();
    let mut bytes =
        gbk("工单编号,来电时间,诉求内容,承办单位\nU1,2026-10-09 08:00,路灯不亮,县住建局\nU2,2026-10-09 09:00,小区");
    bytes.extend([0xFF, 0xFF]);
    bytes.extend(gbk("停水,县住建局\n"));
    std::fs::write(&file, &bytes).unwrap();
    let r = env.import(&file);
    assert_eq!(r["new"], 2, "{r}");
    assert!(r["replaced_chars"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(r["replaced"][0]["row"], 3, "{r}");
    assert_eq!(r["replaced"][0]["column"], "诉求内容", "{r}");
    // In words, in the summary the officer sees.
    let o = env.run(&["import", "--source", "rexian", file.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("个字符无法识别，已显示为 �") && out.contains("第 3 行「诉求内容」"), "{out}");
    assert!(out.contains("bad-bytes.csv"), "{out}");
}

#[test]
fn a_file_failing_whole_is_not_read_again_until_it_changes() {
    let env = Env::new("[import]\nmax_xlsx_bytes = 1048576\n");
    let bomb = env.path("drop/bomb.xlsx");
    hostile::xlsx_zip_bomb_of(&bomb, 8 << 20);
    settle(&bomb);
    let o = env.run(&["poll", "--source", "rexian", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v[0]["error"].as_str().unwrap().contains("import.max_xlsx_bytes"), "{v}");
    for _ in 0..2 {
        let o = env.run(&["poll", "--source", "rexian", "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v[0]["status"], "not_modified", "a failed file is not read again: {v}");
    }
    assert_eq!(imports_of(&env.path("var"), &bomb).len(), 1);
    // Changed (here: only its time), it is read again.
    std::fs::File::options()
        .write(true)
        .open(&bomb)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(30))
        .unwrap();
    env.run(&["poll", "--source", "rexian", "--json"]);
    assert_eq!(imports_of(&env.path("var"), &bomb).len(), 2);
    assert_eq!(env.quarantine().len(), 1, "one entry per file, replaced when it is read again");
}

/// The daemon's peak resident memory (VmHWM), in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Waits until the export source has been polled `n` times (any outcome); returns /metrics.
fn export_polled(d: &Daemon, n: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, body) = d.get("/metrics");
        let polls: u64 = body
            .lines()
            .filter(|l| l.starts_with("govwatch_polls_total{source=\"rexian-gongdan\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        if polls >= n {
            return body;
        }
        assert!(Instant::now() < deadline, "the export source was not polled:\n{body}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_daemon_stays_up_beside_hostile_exports_imports_the_sound_one_and_does_not_retry_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let drop_dir = dir.path().join("drop");
    std::fs::create_dir_all(&drop_dir).unwrap();
    let files = [
        ("sparse.xlsx", hostile::sparse_dimension_xlsx as fn(&Path)),
        ("bomb.xlsx", hostile::xlsx_zip_bomb),
        ("huge.csv", hostile::huge_field_csv),
        ("wide.csv", hostile::wide_csv),
        ("healthy.csv", hostile::healthy_csv_file),
    ];
    for (name, build) in files {
        build(&drop_dir.join(name));
        settle(&drop_dir.join(name));
    }
    let drop_url = drop_dir.display().to_string();
    let cfg = demo_config(dir.path(), |s| s.replace("url = \"config/demo/rexian\"", &format!("url = \"{drop_url}\"")));
    // The first run's bad files fail the source; its backoff must not outlast the test.
    let opts =
        Options { config: &cfg, state: dir.path(), env: vec![("GOVWATCH__FETCH__BACKOFF_BASE_SECS", "1".into())] };
    let mut d = Daemon::spawn(&opts);
    d.ready(Duration::from_secs(60));
    export_polled(&d, 1);
    let (status, _, body) = d.get("/healthz");
    assert_eq!(status, 200, "{body}");
    // Default bounds: the 300 MiB bomb was measured by inflating it into nothing.
    let peak = peak_memory(d.child.id());
    eprintln!("daemon peak memory: {} MiB", peak >> 20);
    // Before the fix the 300 MiB cell was held (twice: the XML text and the string).
    assert!(peak < hostile::BOMB_INFLATED, "peak memory {} MiB:\n{}", peak >> 20, d.log());
    d.stop(Duration::from_secs(15));

    let var = dir.path().join("var");
    let numbers: Vec<String> = crate::support::store_rows(
        &var,
        "SELECT number FROM cases WHERE source = 'rexian-gongdan' ORDER BY number",
        &[],
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    for n in ["OK1", "OK2", "OK3", "H1", "H2", "H3"] {
        assert!(numbers.iter().any(|x| x == n), "{n} imported: {numbers:?}");
    }
    let quarantined: Vec<(String, i64, String)> =
        crate::support::store_rows(&var, "SELECT file, row, reason FROM quarantine ORDER BY file", &[])
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap(), r[2].clone()))
            .collect();
    let of = |name: &str| -> Vec<&(String, i64, String)> {
        quarantined.iter().filter(|(f, _, _)| f.ends_with(&format!("/{name}"))).collect()
    };
    assert!(of("bomb.xlsx")[0].2.contains("import.max_xlsx_bytes"), "{quarantined:?}");
    assert_eq!(of("bomb.xlsx")[0].1, 0);
    assert!(of("huge.csv")[0].2.contains("import.max_csv_field_bytes"), "{quarantined:?}");
    assert!(of("wide.csv")[0].2.contains("import.max_csv_columns"), "{quarantined:?}");
    assert_eq!(of("sparse.xlsx").len(), 1, "{quarantined:?}");
    assert!(of("healthy.csv").is_empty(), "{quarantined:?}");
    let imports =
        |var: &Path| -> usize { files.iter().map(|(name, _)| imports_of(var, &drop_dir.join(name)).len()).sum() };
    assert_eq!(imports(&var), files.len(), "each file read once");

    // After a restart nothing is read again.
    let mut d = Daemon::spawn(&opts);
    d.ready(Duration::from_secs(60));
    let metrics = export_polled(&d, 1);
    assert!(metrics.contains("govwatch_polls_total{source=\"rexian-gongdan\",status=\"not_modified\"} 1"), "{metrics}");
    assert_eq!(d.get("/healthz").0, 200);
    d.stop(Duration::from_secs(15));
    assert_eq!(imports(&var), files.len(), "not retried at the restart");
    assert!(imports_of(&var, &drop_dir.join("bomb.xlsx"))[0].1.as_deref().unwrap().contains("import.max_xlsx_bytes"));
}
