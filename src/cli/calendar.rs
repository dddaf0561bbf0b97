//! `govwatch calendar notice FILE`: a 国务院办公厅 holiday notice, as an
//! office pastes or saves it, into the schedule file the configuration names.
//! The reading is `calendar::notice` (pure); here are the file IO and what the
//! administrator is told.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{EXIT_CONFIG, EXIT_FAILURE, now};
use crate::calendar::Calendar;
use crate::calendar::notice::{self, Notice, runs, show};
use crate::config::Config;

/// A notice file larger than this is not a notice (they are a few kilobytes;
/// a saved web page with its scripts a few hundred).
const MAX_BYTES: u64 = 4 << 20;

pub fn notice(
    cfg: &Config,
    base: &Calendar,
    file: &Path,
    year: Option<i32>,
    amend: bool,
    dry_run: bool,
    into: Option<&Path>,
) -> Result<ExitCode> {
    // Where it goes, before anything is read: a run that cannot write says so first.
    let target = into.or(cfg.calendar.files.last().map(|p| p.as_path()));
    if target.is_none() && !dry_run {
        eprintln!(
            "错误：配置中没有日历文件：请在 [calendar] 中写 files = [\"/var/lib/govwatch/holidays.txt\"]（文件不必已存在），\
             或用 --into 文件 指定"
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let shown = if file == Path::new("-") { "标准输入".to_string() } else { file.display().to_string() };
    let bytes = read_capped(file).with_context(|| format!("无法读取 {shown}"))?;
    if bytes.len() as u64 > MAX_BYTES {
        eprintln!("错误：{shown} 超过 {} MB，不像一份放假通知", MAX_BYTES >> 20);
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    // Text in any of the charsets offices save in, or a saved web page.
    let text = crate::sources::charset::decode(&bytes, None).text;
    let head = text.chars().take(2000).collect::<String>().to_ascii_lowercase();
    let text = if head.contains("<html") || head.contains("<body") || head.contains("<p") || head.contains("<div") {
        crate::normalize::html::html_to_text(&text)
    } else {
        text
    };
    let n = match notice::parse(&text, year, base) {
        Ok(n) => n,
        Err(errors) => {
            eprintln!("错误：没能读懂 {shown} 中的以下内容，未写入任何安排：");
            for e in &errors {
                eprintln!("  {e}");
            }
            eprintln!("请核对原文（可从中国政府网复制通知全文），或在配置 [[calendar.days]] 中逐日写明");
            return Ok(ExitCode::from(EXIT_FAILURE));
        }
    };
    if n.amends && !amend {
        eprintln!(
            "错误：{shown} 没有逐项列出 {} 年各节日的安排，像是补充或调整通知：请加 --amend，\
             把它追加到 {} 年已有的安排之后（不加则会替换掉 {} 年的全部安排）",
            n.year, n.year, n.year
        );
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    let mut out = std::io::stdout().lock();
    print_notice(&mut out, &n, &shown)?;
    if n.holidays.is_empty() {
        writeln!(out, "没有需要写入的日期")?;
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        writeln!(out, "（试读，未写入）")?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(target) = target else { return Ok(ExitCode::from(EXIT_CONFIG)) };
    let existing = match std::fs::read_to_string(target) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("无法读取日历文件 {}", target.display())),
    };
    let had_year = existing.lines().any(|l| l.trim_start().starts_with(&format!("{} ", n.year)));
    let source = file.file_name().map_or(shown.clone(), |f| f.to_string_lossy().into_owned());
    let what = if n.amends { "补充通知" } else { "放假通知" };
    let block = format!(
        "# {} 年{what}：由 govwatch calendar notice 读入（{source}，{}）\n{}",
        n.year,
        now().format("%Y-%m-%d %H:%M"),
        n.schedule_lines()
    );
    let merged = notice::merge_into(&existing, n.year, &block, amend);
    // What is written must read back as a schedule covering the year.
    let mut check = Calendar::weekdays_only();
    if let Err(errs) = check.add_schedule(&merged, &target.display().to_string()) {
        let list: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        anyhow::bail!("写入前的检查未通过，未写入：{}", list.join("；"));
    }
    write_atomically(target, &merged).with_context(|| format!("无法写入日历文件 {}", target.display()))?;
    let how = match (amend, had_year) {
        (true, _) => format!("追加到 {} 年已有的安排之后", n.year),
        (false, true) => format!("替换了其中 {} 年原有的安排", n.year),
        (false, false) => format!("新增 {} 年的安排", n.year),
    };
    writeln!(out, "已写入 {}（{how}）", target.display())?;
    if !cfg.calendar.files.iter().any(|f| f == target) {
        writeln!(out, "注意：配置 [calendar] files 中没有这个文件，govwatch 不会读它；请把它加进去")?;
    }
    writeln!(out, "后台服务重新加载配置后生效：systemctl reload govwatch")?;
    Ok(ExitCode::SUCCESS)
}

fn read_capped(file: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if file == Path::new("-") {
        std::io::stdin().lock().take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(file)?.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// Writes beside the file, then renames: a reader (the daemon reloading)
/// sees the old file or the new one, never half of one.
fn write_atomically(target: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".govwatch-tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, target)
}

/// The days understood, holiday by holiday, in Chinese.
fn print_notice(out: &mut impl Write, n: &Notice, shown: &str) -> std::io::Result<()> {
    let what = if n.amends { "补充通知" } else { "放假安排" };
    writeln!(out, "读入 {} 年的{what}（{shown}）：", n.year)?;
    for h in &n.holidays {
        let mut parts = Vec::new();
        if !h.off.is_empty() {
            let ranges: Vec<String> = runs(&h.off)
                .into_iter()
                .map(|(a, b)| if a == b { show(a) } else { format!("{} 至 {}", show(a), show(b)) })
                .collect();
            parts.push(format!("放假 {}，共 {} 天", ranges.join("、"), h.off.len()));
        }
        if !h.work.is_empty() {
            let days: Vec<String> = h.work.iter().map(|d| show(*d)).collect();
            parts.push(format!("调休上班 {}", days.join("、")));
        }
        writeln!(out, "  {}：{}", h.name, parts.join("；"))?;
    }
    for note in &n.notes {
        writeln!(out, "  未计入（不是放假安排）：{note}")?;
    }
    Ok(())
}
