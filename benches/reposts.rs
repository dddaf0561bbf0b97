//! Repost matching benchmark: 10,000 superior items against 200 portals
//! holding 1,000,000 items, in memory and through the store, and the
//! matcher's precision and recall on the labelled set in
//! `tests/data/reposts_labelled.tsv`.
//!
//! ```text
//! cargo bench --bench reposts                                  # 10,000 × 200 portals × 1,000,000 items
//! cargo bench --bench reposts -- --superiors 1000 --portals 20 --items 100000
//! ```
//!
//! Started without `--bench` (as `cargo test --all-targets` does) it runs a
//! smoke test on a small corpus.

mod common;
#[path = "../tests/repost_labelled.rs"]
mod labelled;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{Duration, TimeZone};
use govwatch::calendar::Calendar;
use govwatch::model::{ItemKind, Level, ParsedItem, Role};
use govwatch::normalize::time::china;
use govwatch::normalize::{SourceInfo, to_item};
use govwatch::rules::repost::{self, Doc, Duty, Lag, PortalIndex};
use govwatch::store::Store;

use common::{Machine, Rng, Table, fmt_secs, number_arg, started_by_cargo_bench, thousands};

struct Options {
    superiors: usize,
    portals: usize,
    items: usize,
    dir: PathBuf,
}

const TOPICS: &[&str] = &[
    "政务服务便民热线",
    "政务公开工作要点",
    "安全生产专项整治",
    "营商环境优化",
    "政府网站管理",
    "防汛抗旱",
    "耕地保护",
    "养老服务体系",
    "义务教育",
    "医疗保障",
];

fn superior_title(i: usize) -> (String, String) {
    let topic = TOPICS[i % TOPICS.len()];
    (format!("示范省人民政府办公厅关于做好第{i}批{topic}工作的通知"), format!("示政办发〔2026〕{}号", i + 1))
}

/// A parsed item as a feed would give it, made into a matcher document the
/// way the store would give it back.
fn doc(id: u64, source: &str, unit: &str, role: Role, p: ParsedItem, at: chrono::DateTime<chrono::FixedOffset>) -> Doc {
    labelled::matcher_doc(id, (source, unit), role, p, at)
}

struct Corpus {
    superiors: Vec<Doc>,
    portal: Vec<Doc>,
    duties: Vec<Duty>,
    /// (portal number, superior number) of every generated repost.
    expected: Vec<(usize, usize)>,
}

fn corpus(o: &Options) -> Corpus {
    let start = china().with_ymd_and_hms(2026, 9, 1, 9, 0, 0).unwrap();
    let superiors: Vec<Doc> = (0..o.superiors)
        .map(|i| {
            let (title, no) = superior_title(i);
            let p = ParsedItem {
                title,
                text: format!("{no}\n各市、县人民政府，省政府各部门：现就有关事项通知如下。"),
                link: Some(format!("https://www.shifan.gov.cn.example/zwgk/{i}.html")),
                ..Default::default()
            };
            doc(
                i as u64,
                "sheng",
                "shengfu",
                Role::Superior,
                p,
                start + Duration::minutes((i * 60 * 24 * 60 / o.superiors.max(1)) as i64),
            )
        })
        .collect();
    let per_portal = o.items / o.portals.max(1);
    let mut rng = Rng::new(2026);
    let mut portal = Vec::with_capacity(o.items);
    let mut expected = Vec::new();
    for p in 0..o.portals {
        let unit = format!("xian{p:03}");
        let mut made = 0;
        for (i, s) in superiors.iter().enumerate() {
            if made >= per_portal / 2 || !rng.next_u64().is_multiple_of(5) {
                continue;
            }
            let (title, no) = superior_title(i);
            let at = s.at + Duration::hours((rng.next_u64() % 60) as i64);
            let parsed = match rng.next_u64() % 4 {
                0 => ParsedItem { title: title.clone(), ..Default::default() },
                1 => ParsedItem { title: format!("转发{title}"), text: format!("（{no}）"), ..Default::default() },
                2 => ParsedItem {
                    title: format!(
                        "{}（{}）",
                        title.trim_end_matches("的通知"),
                        no.replace('〔', "[").replace('〕', "]")
                    ),
                    ..Default::default()
                },
                _ => ParsedItem {
                    title: format!("省政府部署第{i}批重点工作"),
                    text: format!("原文见 https://www.shifan.gov.cn.example/zwgk/{i}.html"),
                    ..Default::default()
                },
            };
            let parsed = ParsedItem { link: Some(format!("https://{unit}.gov.cn.example/zc/{i}.html")), ..parsed };
            portal.push(doc(portal.len() as u64 + 10_000_000, &unit, &unit, Role::Portal, parsed, at));
            expected.push((p, i));
            made += 1;
        }
        for k in made..per_portal {
            let at = start + Duration::minutes((rng.next_u64() % (60 * 24 * 60)) as i64);
            let parsed = ParsedItem {
                title: format!("{unit}召开第{k}次{}推进会", TOPICS[k % TOPICS.len()]),
                text: format!(
                    "会议传达学习了示政办发〔2026〕{}号文件精神，部署下一步工作。",
                    rng.next_u64() % 10_000 + 1
                ),
                link: Some(format!("https://{unit}.gov.cn.example/xw/{k}.html")),
                ..Default::default()
            };
            portal.push(doc(portal.len() as u64 + 10_000_000, &unit, &unit, Role::Portal, parsed, at));
        }
    }
    let duties = (0..o.portals)
        .map(|p| {
            let unit = format!("xian{p:03}");
            Duty {
                portal: unit.clone(),
                name: unit.clone(),
                columns: vec![(unit.clone(), unit.clone())],
                unit,
                superiors: vec!["sheng".into()],
                lag: Lag::WorkingDays(1),
            }
        })
        .collect();
    Corpus { superiors, portal, duties, expected }
}

fn parse_args() -> Result<Options> {
    let args: Vec<String> = std::env::args().collect();
    let full = started_by_cargo_bench(&args);
    let mut o = Options {
        superiors: if full { 10_000 } else { 200 },
        portals: if full { 200 } else { 5 },
        items: if full { 1_000_000 } else { 2_000 },
        dir: if full {
            common::repo().join("bench-data/reposts")
        } else {
            std::env::temp_dir().join(format!("govwatch-reposts-smoke-{}", std::process::id()))
        },
    };
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bench" => {}
            "--superiors" => o.superiors = number_arg(&mut it, "--superiors")?,
            "--portals" => o.portals = number_arg(&mut it, "--portals")?,
            "--items" => o.items = number_arg(&mut it, "--items")?,
            "--dir" => o.dir = PathBuf::from(it.next().context("--dir needs a value")?),
            other => anyhow::bail!("unknown option {other:?}; options: --superiors N --portals N --items N --dir PATH"),
        }
    }
    Ok(o)
}

fn main() -> Result<()> {
    let o = parse_args()?;
    println!("# govwatch repost matching benchmark\n");
    println!("{}", Machine::read().markdown());

    let pairs = labelled::load(&labelled::labelled_path());
    let score = labelled::score(&pairs);
    let (real, _): (Vec<labelled::Pair>, Vec<labelled::Pair>) =
        labelled::load(&labelled::labelled_path()).into_iter().partition(|p| p.case.starts_with("real:"));
    let real_score = labelled::score(&real);
    println!("## Precision and recall on the labelled set\n");
    println!(
        "`tests/data/reposts_labelled.tsv`: State Council documents and how county portals repost them (verbatim, \
         转发 wrappers, 文号 in seven bracket forms, traditional characters, links), and look-alikes that are not \
         reposts (implementing documents, news citing the 文号, other years, other organs); and real pairs found \
         in public pages (`real:` rows, each with its page's address).\n"
    );
    let mut t = Table::new(&[
        "set",
        "pairs",
        "reposts",
        "not reposts",
        "found right",
        "false matches",
        "missed",
        "precision",
        "recall",
    ]);
    for (set, n, score) in [("all", pairs.len(), &score), ("real pairs only", real.len(), &real_score)] {
        t.row(vec![
            set.to_string(),
            n.to_string(),
            (score.tp + score.fn_).to_string(),
            (score.fp + score.tn).to_string(),
            score.tp.to_string(),
            score.fp.to_string(),
            score.fn_.to_string(),
            format!("{:.3}", score.precision()),
            format!("{:.3}", score.recall()),
        ]);
    }
    println!("{}", t.render());
    for w in &score.wrong {
        println!("- {w}");
    }

    eprintln!("generating {} superior items and {} items on {} portals…", o.superiors, o.items, o.portals);
    let Corpus { superiors, portal, duties, expected } = corpus(&o);
    let cal = Calendar::official();
    let now = china().with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap();

    let t0 = Instant::now();
    let index = PortalIndex::new(&portal);
    let build = t0.elapsed();
    drop(index);
    let t0 = Instant::now();
    let obligations = repost::obligations(&superiors, &portal, &duties, &cal, now);
    let matched = t0.elapsed();
    let found = obligations.iter().filter(|o| o.repost_item_id.is_some()).count();
    let expected_set: std::collections::HashSet<(String, u64)> =
        expected.iter().map(|(p, i)| (format!("xian{p:03}"), *i as u64)).collect();
    let right = obligations
        .iter()
        .filter(|o| o.repost_item_id.is_some() && expected_set.contains(&(o.portal.to_string(), o.superior_item_id.0)))
        .count();

    // Through the store: items written (not timed), then the reposts evaluation as the CLI runs it.
    eprintln!("storing the corpus…");
    let _ = std::fs::remove_dir_all(&o.dir);
    let store = Store::open(&o.dir)?;
    let mut cfg_toml = String::from("[[units]]\nid = \"shengfu\"\nname = \"省政府办公厅\"\n");
    cfg_toml.push_str("[[sources]]\nid = \"sheng\"\nkind = \"feed\"\nurl = \"http://s.example/rss\"\nunit = \"shengfu\"\nrole = \"superior\"\nlevel = \"province\"\n");
    for p in 0..o.portals {
        cfg_toml.push_str(&format!(
            "[[units]]\nid = \"xian{p:03}\"\nname = \"县{p}\"\n[[sources]]\nid = \"xian{p:03}\"\nkind = \"feed\"\nurl = \"http://x{p}.example/rss\"\nunit = \"xian{p:03}\"\nrole = \"portal\"\nlevel = \"county\"\n"
        ));
    }
    let mut cfg = govwatch::config::from_toml_str(&cfg_toml)?.config;
    cfg.rules.repost.window_days = 120;
    let mut items = Vec::with_capacity(10_000);
    for d in superiors.iter().chain(portal.iter()) {
        let role = if d.source == "sheng" { Role::Superior } else { Role::Portal };
        let src = SourceInfo { id: &d.source, unit: &d.unit, kind: ItemKind::Feed, role, level: Level::County };
        let p = ParsedItem {
            title: d.title.clone(),
            text: d
                .cited_doc_nos
                .iter()
                .map(|n| format!("（{n}）"))
                .chain(d.cited_links.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
            link: d.link.clone(),
            published: Some(govwatch::model::Published {
                at: d.at,
                precision: govwatch::model::Precision::Time,
                zone_assumed: false,
            }),
            ..Default::default()
        };
        items.push(to_item(src, p, d.at));
        if items.len() == 10_000 {
            store.upsert_items(&items)?;
            items.clear();
        }
    }
    store.upsert_items(&items)?;
    let t0 = Instant::now();
    let through_store = govwatch::findings::reposts(&cfg, &cal, &store, now)?;
    let end_to_end = t0.elapsed();

    println!("## Matching at scale\n");
    println!(
        "{} superior items (60 days of a province's policies) against {} portals holding {} items; each portal \
         reposts about a fifth of the policies, in four ways (verbatim, 转发 + cited 文号, 文号 appended in square \
         brackets, a news title with a link to the original), and fills the rest with its own news, which cites \
         random 文号. Every (superior item, portal) pair is an obligation.\n",
        thousands(o.superiors as u64),
        thousands(o.portals as u64),
        thousands(portal.len() as u64)
    );
    let mut t = Table::new(&["step", "time", "note"]);
    t.row(vec![
        "index the portal items (文号, title key, link)".into(),
        fmt_secs(build),
        format!("{} items", thousands(portal.len() as u64)),
    ]);
    t.row(vec![
        "match every obligation (in memory, index included)".into(),
        fmt_secs(matched),
        format!(
            "{} obligations; {} reposts found, {} of the {} generated ones",
            thousands(obligations.len() as u64),
            thousands(found as u64),
            thousands(right as u64),
            thousands(expected.len() as u64)
        ),
    ]);
    t.row(vec![
        "`findings::reposts` from the store (read + match)".into(),
        fmt_secs(end_to_end),
        format!("{} obligations", thousands(through_store.len() as u64)),
    ]);
    println!("{}", t.render());

    println!("## Targets\n");
    let mut t = Table::new(&["target", "measured", "met?"]);
    let ok = |b: bool| if b { "yes".to_string() } else { "**no**".to_string() };
    t.row(vec![
        "precision ≥ 0.98 on the labelled set".into(),
        format!("{:.3}", score.precision()),
        ok(score.precision() >= 0.98),
    ]);
    t.row(vec![
        "recall ≥ 0.95 on the labelled set".into(),
        format!("{:.3}", score.recall()),
        ok(score.recall() >= 0.95),
    ]);
    t.row(vec![
        "precision ≥ 0.98 and recall ≥ 0.95 on the real pairs".into(),
        format!("{:.3} / {:.3}", real_score.precision(), real_score.recall()),
        ok(real_score.precision() >= 0.98 && real_score.recall() >= 0.95),
    ]);
    t.row(vec![
        "10,000 superior items × 200 portals × 1,000,000 items < 5 s".into(),
        format!("{} in memory, {} from the store", fmt_secs(matched), fmt_secs(end_to_end)),
        if o.superiors < 10_000 { "(not measured at full size)".into() } else { ok(end_to_end.as_secs_f64() < 5.0) },
    ]);
    println!("{}", t.render());
    if !started_by_cargo_bench(&std::env::args().collect::<Vec<_>>()) {
        let _ = std::fs::remove_dir_all(&o.dir);
    }
    Ok(())
}
