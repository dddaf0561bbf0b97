//! Alerts benchmark: 500 units with 100,000 open findings between them —
//! plan a round, render every digest (text, HTML, .xlsx), compose the MIME
//! messages and queue them in the outbox, as `govwatch alerts send` and the
//! daemon's rounds do; then deliver the outbox to the file transport.
//!
//! ```text
//! cargo bench --bench alerts                        # 500 units, 100,000 open orders
//! cargo bench --bench alerts -- --units 100 --orders 10000
//! ```
//!
//! Setup (not timed): a generated export of open 12345 orders spread over the
//! units is imported and the rules evaluated and recorded, so every finding is
//! a real one in a real store on disk. The work folder (default
//! `bench-data/alerts/`, git-ignored) is replaced on each run. Started without
//! `--bench` (as `cargo test --all-targets` does) it runs a smoke test.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{NaiveDate, TimeZone};
use govwatch::alerts::Round;
use govwatch::alerts::render::Templates;
use govwatch::calendar::Calendar;
use govwatch::config::Config;
use govwatch::mailer::{self, Mailer};
use govwatch::normalize::time::china;
use govwatch::store::Store;
use govwatch::store::outbox::{Queued, RoundRecord};

use common::{Machine, Rng, Table, disk_size, fmt_bytes, fmt_secs, number_arg, started_by_cargo_bench, thousands};

const CATEGORIES: &[&str] = &["咨询", "求助", "建议", "投诉", "举报"];
const PHRASES: &[&str] = &[
    "反映小区停水三天无人处理",
    "咨询孩子入学需要准备的材料",
    "投诉楼下餐馆油烟扰民",
    "建议在路口增设红绿灯",
    "求助老旧小区加装电梯",
    "举报工地夜间违规施工",
    "反映路灯不亮存在安全隐患",
    "投诉物业公司乱收费",
];

struct Options {
    units: usize,
    orders: usize,
    dir: PathBuf,
}

fn parse_args() -> Result<Options> {
    let args: Vec<String> = std::env::args().collect();
    let full = started_by_cargo_bench(&args);
    let mut o = Options {
        units: if full { 500 } else { 20 },
        orders: if full { 100_000 } else { 400 },
        dir: if full {
            common::repo().join("bench-data/alerts")
        } else {
            std::env::temp_dir().join(format!("govwatch-alerts-smoke-{}", std::process::id()))
        },
    };
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--units" => o.units = number_arg(&mut it, "--units")?,
            "--orders" => o.orders = number_arg(&mut it, "--orders")?,
            "--dir" => o.dir = PathBuf::from(it.next().context("--dir needs a value")?),
            other => anyhow::bail!("unknown option {other:?}; options: --units N --orders N --dir PATH"),
        }
    }
    Ok(o)
}

fn config(dir: &Path, units: usize) -> Result<Config> {
    use std::fmt::Write;
    let mut toml = String::new();
    writeln!(toml, "[mail]\ntransport = \"file\"\ndir = \"{}\"", dir.join("mail").display())?;
    writeln!(toml, "from = \"govwatch <govwatch@example.gov.cn>\"")?;
    writeln!(toml, "[[units]]\nid = \"ban\"\nname = \"县政府办公室\"\nemails = [\"ban@example.gov.cn\"]")?;
    for u in 0..units {
        writeln!(
            toml,
            "[[units]]\nid = \"u{u:03}\"\nname = \"单位{u:03}\"\nemails = [\"u{u:03}@example.gov.cn\"]\nsupervisor = \"ban\""
        )?;
    }
    // The orders are of August to October and the first import is in
    // November: without `history_days` they would be history (issue 16
    // item 3), never overdue, and the round would have nothing to send.
    writeln!(
        toml,
        "[[sources]]\nid = \"rexian\"\nkind = \"export\"\nurl = \"{}\"\nunit = \"ban\"\nrole = \"hotline\"\nlevel = \"county\"\nhistory_days = 36500",
        dir.join("drop").display()
    )?;
    let loaded = govwatch::config::from_toml_str(&toml)?;
    anyhow::ensure!(!loaded.has_errors(), "bench config: {:?}", loaded.problems);
    let mut cfg = loaded.config;
    cfg.storage.data_dir = dir.join("var");
    cfg.storage.index_dir = dir.join("index");
    Ok(cfg)
}

/// Open orders received from late August to October (all overdue by `now`), spread evenly over the units.
fn write_csv(path: &Path, orders: usize, units: usize) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(f, "工单编号,来电时间,诉求类型,诉求内容,承办单位,办结时间,状态")?;
    let mut rng = Rng::new(5);
    let first = NaiveDate::from_ymd_opt(2026, 8, 20).unwrap();
    for i in 0..orders {
        let day = first + chrono::Duration::days((i % 72) as i64);
        let content = format!(
            "来电人王先生{}，{}，联系电话1391234{:04}。",
            PHRASES[rng.below(PHRASES.len() as u64) as usize],
            PHRASES[rng.below(PHRASES.len() as u64) as usize],
            i % 10_000
        );
        writeln!(
            f,
            "GD{i:08},{} {:02}:{:02}:00,{},{content},单位{:03},,处理中",
            day.format("%Y/%-m/%-d"),
            8 + i % 10,
            i % 60,
            CATEGORIES[i % CATEGORIES.len()],
            i % units
        )?;
    }
    f.flush()?;
    Ok(())
}

fn main() -> Result<()> {
    let o = parse_args()?;
    let _ = std::fs::remove_dir_all(&o.dir);
    std::fs::create_dir_all(o.dir.join("drop"))?;
    println!("# govwatch alerts benchmark\n");
    println!("{}", Machine::read().markdown());
    let cfg = config(&o.dir, o.units)?;
    let store = Store::open(&cfg.storage.data_dir)?;
    let cal = Calendar::official();
    // Monday 2026-11-23, 09:00: the round.
    let now = china().with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();

    eprintln!("setup: {} open orders for {} units…", o.orders, o.units);
    let csv = o.dir.join("drop/gongdan.csv");
    write_csv(&csv, o.orders, o.units)?;
    let report = govwatch::import::import_file(&cfg, &store, &cfg.sources[0], &csv, now, &mut |_| {});
    anyhow::ensure!(report.error.is_none() && report.new == o.orders, "import: {:?}", report.error);
    let t = Instant::now();
    let (findings, _) = govwatch::findings::evaluate(&cfg, &cal, &store, now, true)?;
    let evaluate = t.elapsed();
    let open = findings.iter().filter(|f| f.state != govwatch::rules::State::Resolved).count();
    anyhow::ensure!(open == o.orders, "expected {} open findings, got {open}", o.orders);

    eprintln!("the round…");
    let templates = Templates::load(None)?;
    let round = Round::scheduled(now);
    let t = Instant::now();
    let (plan, generation) = mailer::plan_round(&cfg, &cal, &store, &round)?;
    let plan_time = t.elapsed();
    let t = Instant::now();
    let composed = mailer::compose_all(&cfg, &templates, &plan.emails, now)?;
    let render_time = t.elapsed();
    let bytes: usize = composed.iter().map(|(m, _)| m.message.len()).sum();
    let record = RoundRecord { round: round.key.clone(), at: now, day: round.date(), unroutable: 0 };
    let mails: Vec<_> = composed.into_iter().map(|(m, _)| m).collect();
    let t = Instant::now();
    let queued = store.queue_round(&record, &mails, generation)?;
    let queue_time = t.elapsed();
    anyhow::ensure!(matches!(queued, Queued::Done(ref ids) if ids.len() == mails.len()), "queueing: {queued:?}");
    let total = plan_time + render_time + queue_time;
    let digests = plan.emails.iter().filter(|p| p.kind == govwatch::alerts::Kind::Digest).count();
    let reports = plan.emails.len() - digests;

    eprintln!("delivering to files…");
    let t = Instant::now();
    let d = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(Mailer::new(&cfg)?.deliver(&store, now))?;
    let deliver = t.elapsed();
    anyhow::ensure!(d.sent == mails.len() && d.failed == 0, "delivery: {d:?}");

    println!("## A round for {} units with {} open findings\n", thousands(o.units as u64), thousands(open as u64));
    println!(
        "Setup, not timed: {} open 12345 orders imported into SQLite on disk and the rules evaluated and recorded \
         ({}). Timed: `mailer::plan_round` (read the open findings with their items, and the mail history; plan), \
         `mailer::compose_all` (render text, HTML and the .xlsx of each email with the built-in templates, mask \
         citizens' data, build the MIME message; on every core), `Store::queue_round` (one transaction: the outbox \
         rows with the whole messages, a mark per listed finding, the round).\n",
        thousands(o.orders as u64),
        fmt_secs(evaluate)
    );
    let mut t = Table::new(&["emails", "findings listed", "plan", "render + compose", "queue", "total", "messages"]);
    t.row(vec![
        format!("{digests} digests + {reports} 通报"),
        thousands(mails.iter().map(|m| m.marks.len() as u64).sum()),
        fmt_secs(plan_time),
        fmt_secs(render_time),
        fmt_secs(queue_time),
        fmt_secs(total),
        fmt_bytes(bytes as u64),
    ]);
    println!("{}", t.render());
    println!(
        "Delivering the outbox to the file transport (one .eml each, written whole then renamed): {} for {} emails; \
         store now {}.\n",
        fmt_secs(deliver),
        mails.len(),
        fmt_bytes(disk_size(&cfg.storage.data_dir))
    );
    println!("## Targets\n");
    let mut t = Table::new(&["target", "measured", "met?"]);
    t.row(vec![
        "render and queue digests for 500 units with 100,000 open findings < 10 s".into(),
        format!("{} for {} units, {} findings", fmt_secs(total), o.units, thousands(open as u64)),
        if o.units < 500 || o.orders < 100_000 {
            "(not measured at full size)".into()
        } else if total < Duration::from_secs(10) {
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
