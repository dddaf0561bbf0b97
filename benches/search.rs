//! Search benchmark: govwatch's store + index against SQLite FTS5 trigram,
//! on a generated corpus of Chinese items (see `corpus/mod.rs`).
//!
//! ```text
//! cargo bench --bench search                       # 1,000,000 items
//! cargo bench --bench search -- --items 20000      # quick
//! cargo bench --bench search -- --help
//! ```
//!
//! Prints markdown tables on stdout and progress on stderr. The work folder
//! (default `bench-data/` in the crate root, git-ignored) keeps the stores
//! and indexes for inspection; each run replaces them.
//!
//! Started without `--bench` (as `cargo test --all-targets` does), it runs a
//! smoke test with 500 items in a temporary folder.

mod common;
mod corpus;

use common::progress;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{Duration as ChronoDuration, NaiveDate, NaiveTime, TimeZone};
use govwatch::index::tokenizer::{JiebaWords, jieba, ngram_tokens};
use govwatch::index::{SearchIndex, SearchRequest, Sort, WriterOptions};
use govwatch::model::Item;
use govwatch::normalize::normalize_text;
use govwatch::normalize::time::china;
use govwatch::store::Store;
use rusqlite::{Connection, params};
use tantivy::tokenizer::{TokenStream, Tokenizer};

use common::{
    Machine, Table, disk_size, fmt_bytes, fmt_ms, fmt_secs, loadavg, per_sec, percentile, started_by_cargo_bench,
    thousands,
};
use corpus::Corpus;

/// Items per `upsert_items` call (and per FTS5 transaction).
const BATCH: usize = 10_000;
/// Results per search.
const LIMIT: usize = 10;
/// The date filter: items of the last this many days.
const RECENT_DAYS: i64 = 90;
/// Items used to time the tokenizers alone.
const TOKENIZER_SAMPLE: usize = 100_000;

/// The queries: common and rare words of the seed documents, 2–6 characters.
const QUERIES: &[&str] = &[
    // two characters
    "热线",
    "微信",
    "网站",
    "公开",
    "办理",
    "工作",
    "监督",
    "考核",
    "民生",
    "咨询",
    "投诉",
    "乡镇",
    "解读",
    // three
    "办结率",
    "公开栏",
    "办公室",
    "责任制",
    "政府网",
    "埇桥区",
    "高新区",
    // four
    "政务公开",
    "信息公开",
    "年度报告",
    "政策解读",
    "行政复议",
    "主动公开",
    "保密审查",
    "公开目录",
    "门户网站",
    "政务微博",
    "重大决策",
    "办事指南",
    "服务中心",
    // five and six
    "依申请公开",
    "新闻发布会",
    "规范性文件",
    "人大代表建议",
    "信息公开条例",
    "政府信息公开",
    // letters and digits (issue 16 item 7): pieces of work-order numbers
    // and 文号, which the corpus carries (`Corpus::with_numbers`); the last
    // three hold punctuation, so their candidates are checked against the
    // stored text
    "2026",
    "0415",
    "gd2026",
    "gd20261105",
    "20261105001",
    "〔2026〕",
    "〔2025〕12号",
    "规范〔",
    // one character
    "热",
    "2",
];

/// How many of [`QUERIES`] are the Han words measured by earlier runs
/// (the latency table's comparable rows).
const HAN_QUERIES: usize = 39;

/// The group a query belongs to in the latency table.
fn is_han_query(q: &str) -> bool {
    QUERIES[..HAN_QUERIES].contains(&q)
}

fn is_one_char(q: &str) -> bool {
    q.chars().count() == 1
}

const USAGE: &str = "\
usage: cargo bench --bench search -- [options]

  --items N            items in the corpus (default 1000000)
  --queries-repeat R   timed runs of each query, after one warm-up (default 10)
  --dir PATH           work folder (default bench-data/ in the crate root);
                       its seq/, overlap/, memory/ and fts5/ subfolders are replaced
  --seeds DIR          seed documents (default $GOVWATCH_SHARED/seeds,
                       GOVWATCH_SHARED defaulting to ../shared next to the crate)
  --skip-fts5          do not build or query the SQLite FTS5 comparison
  --no-numbers         items without work-order numbers and 文号 (the corpus
                       of runs before 2026-12-05)
  --no-overlap         skip the variant that indexes while storing
  --no-breakdown       skip the diagnostics (store read alone, rebuild, indexing
                       from memory, tokenizers alone, searches without scoring)
  --writer-threads N   index writer threads (default: WriterOptions::default())
  --writer-heap-mb M   index writer memory budget in MiB (default: as above)
  --reuse              reuse the store and index that a previous run with the
                       same --items left in --dir/seq: only the searches (and
                       FTS5, unless --skip-fts5) are measured
  --help               this text";

struct Options {
    items: u64,
    repeat: usize,
    dir: PathBuf,
    seeds: PathBuf,
    skip_fts5: bool,
    numbers: bool,
    overlap: bool,
    breakdown: bool,
    reuse: bool,
    writer: WriterOptions,
    smoke: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            items: 1_000_000,
            repeat: 10,
            dir: common::repo().join("bench-data"),
            seeds: common::shared_dir().join("seeds"),
            skip_fts5: false,
            numbers: true,
            overlap: true,
            breakdown: true,
            reuse: false,
            writer: WriterOptions::default(),
            smoke: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--bench" => {}
                "--items" => {
                    let v = value("--items")?;
                    o.items = v.replace(['_', ','], "").parse().map_err(|_| format!("--items: not a number: {v:?}"))?;
                    if o.items == 0 {
                        return Err("--items must be at least 1".into());
                    }
                }
                "--queries-repeat" => {
                    let v = value("--queries-repeat")?;
                    o.repeat = v.parse().map_err(|_| format!("--queries-repeat: not a number: {v:?}"))?;
                    if o.repeat == 0 {
                        return Err("--queries-repeat must be at least 1".into());
                    }
                }
                "--dir" => o.dir = PathBuf::from(value("--dir")?),
                "--seeds" => o.seeds = PathBuf::from(value("--seeds")?),
                "--skip-fts5" => o.skip_fts5 = true,
                "--no-numbers" => o.numbers = false,
                "--no-overlap" => o.overlap = false,
                "--no-breakdown" => o.breakdown = false,
                "--reuse" => o.reuse = true,
                "--writer-threads" => {
                    let v = value("--writer-threads")?;
                    o.writer.threads = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("--writer-threads: not a positive number: {v:?}"))?;
                }
                "--writer-heap-mb" => {
                    let v = value("--writer-heap-mb")?;
                    let mb: usize = v
                        .parse()
                        .ok()
                        .filter(|n| *n >= 16)
                        .ok_or_else(|| format!("--writer-heap-mb: not a number of at least 16: {v:?}"))?;
                    o.writer.heap_bytes = mb << 20;
                }
                "--help" | "-h" => return Err(String::new()),
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(o)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !started_by_cargo_bench(&args);
    let mut opts = if smoke {
        // `cargo test --all-targets` (no `--bench`): a quick check that the
        // benchmark still works, whatever arguments the test runner passed.
        Options::parse(&[]).expect("defaults parse")
    } else {
        match Options::parse(&args) {
            Ok(o) => o,
            Err(e) if e.is_empty() => {
                println!("{USAGE}");
                return;
            }
            Err(e) => {
                eprintln!("error: {e}\n\n{USAGE}");
                std::process::exit(2);
            }
        }
    };
    let _tmp;
    if smoke {
        eprintln!(
            "search bench: not started by `cargo bench`; running a smoke test with 500 items in a temporary folder \
             (run `cargo bench --bench search` for the benchmark)"
        );
        let tmp = tempfile::tempdir().expect("temporary folder");
        opts.dir = tmp.path().to_path_buf();
        _tmp = tmp;
        opts.items = 500;
        opts.repeat = 1;
        opts.smoke = true;
    }
    let corpus = match Corpus::from_seeds(&opts.seeds) {
        Ok(c) => c.with_numbers(opts.numbers),
        Err(e) => {
            println!(
                "SEARCH BENCHMARK NOT RUN: it needs the seed documents, and {e}.\n\
                 The seeds are real Chinese reports kept outside the repository (../shared/seeds); \
                 they are not bundled."
            );
            if opts.smoke {
                return;
            }
            std::process::exit(1);
        }
    };
    if let Err(e) = run(&opts, &corpus) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

struct Ingest {
    /// Storing every item (overlapped: when the storing thread finished).
    store: Duration,
    /// The sync (overlapped: the same as `wall`).
    index: Duration,
    /// From opening the store to the last sync's commit.
    wall: Duration,
    /// `close_writer()` after the last commit: waiting for merges.
    merge: Duration,
    syncs: usize,
    segments_after_sync: usize,
    segments_after_merge: usize,
    store_bytes: u64,
    index_bytes: u64,
}

fn run(opts: &Options, corpus: &Corpus) -> Result<()> {
    common::START.get_or_init(Instant::now);
    WRITER.get_or_init(|| opts.writer);
    let machine = Machine::read();
    let load_before = loadavg();
    let n = opts.items;
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("cannot create the work folder {}", opts.dir.display()))?;
    let dir = opts.dir.canonicalize()?;
    progress!(
        "{} items, {} sentences from {} seed files, work folder {}",
        thousands(n),
        corpus.sentence_count(),
        corpus.seed_files.len(),
        dir.display()
    );

    // --- corpus -----------------------------------------------------------
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let t = Instant::now();
    let items = corpus.items(n, threads);
    let gen_time = t.elapsed();
    let title_chars: usize = items.iter().map(|i| i.title.chars().count()).sum();
    let text_chars: usize = items.iter().map(|i| i.text.chars().count()).sum();
    let text_bytes: usize = items.iter().map(|i| i.title.len() + i.text.len()).sum();
    let newest = items.iter().filter_map(|i| i.published.map(|p| p.at)).max().context("no published times")?;
    let oldest = items.iter().filter_map(|i| i.published.map(|p| p.at)).min().context("no published times")?;
    let since: NaiveDate = newest.date_naive() - ChronoDuration::days(RECENT_DAYS);
    let since_ts = china().from_local_datetime(&since.and_time(NaiveTime::MIN)).single().context("since")?.timestamp();
    let recent = items.iter().filter(|i| i.published.is_some_and(|p| p.at.timestamp() >= since_ts)).count();
    progress!(
        "generated {} items in {} ({} MB of title+text)",
        thousands(n),
        fmt_secs(gen_time),
        text_bytes / 1_000_000
    );

    // --- govwatch: store, then index ------------------------------------
    let seq_dir = dir.join("seq");
    let seq = if opts.reuse {
        progress!("reusing {}: storing and indexing are not measured", seq_dir.display());
        None
    } else {
        let seq = ingest_sequential(&items, &fresh(&dir, "seq")?)?;
        progress!(
            "sequential: store {} + index {} (merge wait {})",
            fmt_secs(seq.store),
            fmt_secs(seq.index),
            fmt_secs(seq.merge)
        );
        Some(seq)
    };

    // --- govwatch: store and index at once -------------------------------
    let overlap = if opts.overlap && !opts.reuse {
        let d = fresh(&dir, "overlap")?;
        let o = ingest_overlapped(&items, &d)?;
        progress!(
            "overlapped: wall {} ({} syncs; storing alone finished at {}), merge wait {}",
            fmt_secs(o.wall),
            o.syncs,
            fmt_secs(o.store),
            fmt_secs(o.merge)
        );
        // The copy is not used further; free the disk.
        let _ = std::fs::remove_dir_all(&d);
        Some(o)
    } else {
        None
    };

    // --- diagnostics -------------------------------------------------------
    let breakdown =
        if opts.breakdown && !opts.reuse { Some(breakdown(&items, &seq_dir, &fresh(&dir, "memory")?)?) } else { None };
    let _ = std::fs::remove_dir_all(dir.join("memory"));

    // --- govwatch: search -------------------------------------------------
    let idx = SearchIndex::open(&seq_dir.join("index"), WriterOptions::default())?;
    if idx.num_docs() != n {
        bail!(
            "the index in {} holds {} documents, expected {n}{}",
            seq_dir.join("index").display(),
            idx.num_docs(),
            if opts.reuse { " (--reuse needs a previous run with the same --items in the same --dir)" } else { "" }
        );
    }
    let gw = search_govwatch(&idx, since, opts.repeat, Sort::Relevance, false)?;
    // Diagnostic: the same, counting every match exactly.
    let gw_exact =
        if opts.breakdown { Some(search_govwatch(&idx, since, opts.repeat, Sort::Relevance, true)?) } else { None };
    progress!("govwatch searches done");
    // Diagnostic: the same without relevance scoring (newest first).
    let gw_newest =
        if opts.breakdown { Some(search_govwatch(&idx, since, opts.repeat, Sort::Newest, false)?) } else { None };
    drop(idx);

    // --- FTS5 ------------------------------------------------------------
    let fts = if opts.skip_fts5 {
        None
    } else {
        let d = fresh(&dir, "fts5")?;
        let (conn, build) = fts5_build(&items, &d)?;
        progress!("FTS5: indexed in {} ({})", fmt_secs(build.time), fmt_bytes(build.bytes));
        let s = fts5_search(&conn, since_ts, opts.repeat)?;
        progress!("FTS5 searches done");
        Some((build, s))
    };
    drop(items);

    // --- report ----------------------------------------------------------
    let mut out = String::new();
    let push = |out: &mut String, s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    push(
        &mut out,
        &format!(
            "\n# govwatch search benchmark: {} items{}\n",
            thousands(n),
            if opts.smoke { " (smoke test)" } else { "" }
        ),
    );
    push(&mut out, &machine.markdown());
    push(
        &mut out,
        &format!("Load average before / after: {load_before} / {}. Work folder: `{}`.\n", loadavg(), dir.display()),
    );
    push(&mut out, "## Corpus\n");
    let mut t = Table::new(&["", ""]);
    t.row(vec![
        "seed documents".into(),
        format!(
            "{} files in `{}`, {} sentences",
            corpus.seed_files.len(),
            opts.seeds.display(),
            corpus.sentence_count()
        ),
    ]);
    t.row(vec!["items".into(), thousands(n)]);
    t.row(vec![
        "mean title / text length".into(),
        format!("{:.1} / {:.1} characters", title_chars as f64 / n as f64, text_chars as f64 / n as f64),
    ]);
    t.row(vec!["title + text".into(), format!("{:.1} MB (UTF-8)", text_bytes as f64 / 1e6)]);
    t.row(vec![
        "published".into(),
        format!("{} … {} (+08:00)", oldest.format("%Y-%m-%d"), newest.format("%Y-%m-%d %H:%M")),
    ]);
    t.row(vec![
        "date filter".into(),
        format!(
            "since {since} ({RECENT_DAYS} days before the newest item): {} items ({:.1}%)",
            thousands(recent as u64),
            100.0 * recent as f64 / n as f64
        ),
    ]);
    t.row(vec!["sources / units".into(), format!("{} / 20, kinds feed and page", corpus.sources.len())]);
    t.row(vec![
        "letters and digits".into(),
        if opts.numbers {
            "messages and opinion items carry a work-order number (`工单编号：GD202611050012`), one in three of the \
             others a 文号 (`沪经信规范〔2026〕12号`)"
                .into()
        } else {
            "none added (`--no-numbers`): only the seeds' own (years, counts, percentages)".into()
        },
    ]);
    t.row(vec!["generation (not timed below)".into(), format!("{} on {threads} threads", fmt_secs(gen_time))]);
    push(&mut out, &t.render());

    push(&mut out, "## Storing and indexing (govwatch)\n");
    push(
        &mut out,
        &format!(
            "`Store::open` + `upsert_items` in batches of {}, `SearchIndex::open(dir, WriterOptions {{ threads: {}, heap_bytes: {} MiB }})`{} \
             + `sync(&store)`. *Sequential*: store everything, then one sync. \
             *Overlapped*: a second thread calls `sync` in a loop while batches are being stored, then once more. \
             Merge wait = `close_writer()` (waits for background merges) after the last commit; \
             it is not counted in the totals.\n",
            thousands(BATCH as u64),
            writer_options().threads,
            writer_options().heap_bytes >> 20,
            if is_default_writer() { " (the default)" } else { " (**not** the default)" },
        ),
    );
    let mut t = Table::new(&[
        "variant",
        "store",
        "index (sync)",
        "total (stored + indexed)",
        "items/s stored + indexed",
        "merge wait",
        "syncs",
        "segments after sync / after merges",
        "store size",
        "index size",
    ]);
    let row = |name: &str, i: &Ingest, overlapped: bool| {
        vec![
            name.to_string(),
            if overlapped { format!("{} (storing thread)", fmt_secs(i.store)) } else { fmt_secs(i.store) },
            if overlapped { "(concurrent)".to_string() } else { fmt_secs(i.index) },
            fmt_secs(i.wall),
            per_sec(n as f64, i.wall),
            fmt_secs(i.merge),
            i.syncs.to_string(),
            format!("{} / {}", i.segments_after_sync, i.segments_after_merge),
            fmt_bytes(i.store_bytes),
            fmt_bytes(i.index_bytes),
        ]
    };
    if let Some(seq) = &seq {
        t.row(row("sequential", seq, false));
        if let Some(o) = &overlap {
            t.row(row("overlapped", o, true));
        }
        push(&mut out, &t.render());
        push(
            &mut out,
            &format!(
                "Store alone: {} items/s. Index alone (sync, reading the store): {} items/s.\n",
                per_sec(n as f64, seq.store),
                per_sec(n as f64, seq.index)
            ),
        );
    } else {
        push(&mut out, "Not measured in this run (`--reuse`: the store and index of a previous run were searched).\n");
    }

    if let Some(b) = &breakdown {
        push(&mut out, "### Where the indexing time goes\n");
        let mut t = Table::new(&["step", "time", "items/s", "note"]);
        t.row(vec![
            "read the whole store by revision (`items_after_rev`, 5,000 a batch)".into(),
            fmt_secs(b.store_read),
            per_sec(n as f64, b.store_read),
            "what `sync` reads; one thread".into(),
        ]);
        t.row(vec![
            "sync into an empty index (as measured above)".into(),
            seq.as_ref().map(|s| fmt_secs(s.index)).unwrap_or_default(),
            seq.as_ref().map(|s| per_sec(n as f64, s.index)).unwrap_or_default(),
            "reads the store; `add_document` (`delete_term` only for items that existed at the last commit)".into(),
        ]);
        t.row(vec![
            "rebuild from the store (`rebuild`)".into(),
            fmt_secs(b.rebuild),
            per_sec(n as f64, b.rebuild),
            "reads the store; no per-item `delete_term`".into(),
        ]);
        t.row(vec![
            "index from memory (`add_items_and_commit`, no store)".into(),
            fmt_secs(b.memory_index),
            per_sec(n as f64, b.memory_index),
            format!("+ {} merge wait", fmt_secs(b.memory_merge)),
        ]);
        let scale = n as f64 / b.sample as f64;
        for (name, d) in [
            ("`normalize_text` (title + text)", b.normalize),
            ("two-character n-grams (`ngram_tokens`, title + text)", b.ngram),
            ("jieba words (`JiebaWords`, title + text)", b.jieba),
        ] {
            t.row(vec![
                name.into(),
                format!(
                    "{} for {} items; ≈ {} for all",
                    fmt_secs(d),
                    thousands(b.sample as u64),
                    fmt_secs(d.mul_f64(scale))
                ),
                per_sec(b.sample as f64, d),
                "one thread, CPU time".into(),
            ]);
        }
        push(&mut out, &t.render());
    }

    push(&mut out, "## Search latency\n");
    push(
        &mut out,
        &format!(
            "{} queries, each run {} times after one warm-up, limit {LIMIT}. govwatch: `SearchIndex::search` \
             (relevance order, hit total, snippets and highlighted titles always built). \
             FTS5: `SELECT rowid, title, snippet(docs, 1, …) FROM docs WHERE docs MATCH '\"q\"' [AND ts >= ?] \
             ORDER BY rank LIMIT {LIMIT}` (no hit count: counting is a separate query, see the per-query table). \
             Date filter: published since {since}.\n",
            QUERIES.len(),
            opts.repeat
        ),
    );
    let mut t = Table::new(&[
        "engine",
        "queries",
        "p50 ms",
        "p99 ms",
        "max ms",
        "p50 ms, date filter",
        "p99 ms, date filter",
        "max ms, date filter",
        "mean hits",
        "mean hits, date filter",
    ]);
    let lat_row = |engine: &str, which: &str, s: &LatencySet| {
        vec![
            engine.to_string(),
            which.to_string(),
            fmt_ms(s.plain.p50),
            fmt_ms(s.plain.p99),
            fmt_ms(s.plain.max),
            fmt_ms(s.filtered.p50),
            fmt_ms(s.filtered.p99),
            fmt_ms(s.filtered.max),
            thousands(s.mean_hits.round() as u64),
            thousands(s.mean_hits_filtered.round() as u64),
        ]
    };
    let gw_all = gw.stats(|_| true);
    let gw_3 = gw.stats(|q| is_han_query(q) && q.chars().count() >= 3);
    t.row(lat_row("govwatch", "all", &gw_all));
    t.row(lat_row(
        "govwatch",
        &format!("Han words, 2–6 characters (the {HAN_QUERIES} of earlier runs)"),
        &gw.stats(is_han_query),
    ));
    t.row(lat_row("govwatch", "Han words, ≥ 3 characters", &gw_3));
    t.row(lat_row("govwatch", "letters and digits, 文号 parts", &gw.stats(|q| !is_han_query(q) && !is_one_char(q))));
    t.row(lat_row("govwatch", "one character", &gw.stats(is_one_char)));
    if let Some(g) = &gw_exact {
        t.row(lat_row(
            "govwatch, exact totals (diagnostic: every match counted and ranked)",
            "all",
            &g.stats(|_| true),
        ));
    }
    if let Some(g) = &gw_newest {
        t.row(lat_row("govwatch, sort=newest (diagnostic: no relevance scoring)", "all", &g.stats(|_| true)));
    }
    let fts_stats =
        fts.as_ref().map(|(_, s)| (s.stats(|_| true), s.stats(|q| is_han_query(q) && q.chars().count() >= 3)));
    if let Some((all, three)) = &fts_stats {
        t.row(lat_row("FTS5 trigram", "all (1- and 2-character ones find nothing)", all));
        t.row(lat_row("FTS5 trigram", "Han words, ≥ 3 characters", three));
    }
    push(&mut out, &t.render());
    push(&mut out, "Mean hits: govwatch = `SearchResults.total`; FTS5 = `SELECT count(*) … MATCH`.\n");

    push(&mut out, "### Per query\n");
    push(
        &mut out,
        "Hits are all matching items (title or text contains the query after normalization), counted \
         exactly (`exact_total`, untimed). \"timed search counted\" says whether the timed search (default \
         request) counted its hits or stopped at its budget (1,000 matches) and estimated the total. \
         \"substring scan\" is `SELECT count(*) FROM docs WHERE title LIKE '%q%' OR text LIKE '%q%'` \
         on the FTS5 table: the exact answer, and what a 2-character query costs FTS5 without a MATCH. \
         Times are medians (ms) without / with the date filter.\n",
    );
    let mut header = vec![
        "query",
        "chars",
        "govwatch hits",
        "govwatch hits, date filter",
        "timed search counted",
        "govwatch p50 ms",
        "govwatch max ms",
    ];
    if fts.is_some() {
        header.extend([
            "FTS5 hits",
            "FTS5 hits, date filter",
            "substring scan hits (time)",
            "govwatch = exact",
            "FTS5 p50 ms",
            "FTS5 max ms",
        ]);
    }
    let mut t = Table::new(&header);
    let mut mismatches = Vec::new();
    for (k, q) in QUERIES.iter().enumerate() {
        let g = &gw.per_query[k];
        let mut row = vec![
            q.to_string(),
            q.chars().count().to_string(),
            thousands(g.hits as u64),
            thousands(g.hits_filtered as u64),
            if g.estimated { "estimated".into() } else { "exactly".into() },
            format!("{} / {}", fmt_ms(median(&g.plain)), fmt_ms(median(&g.filtered))),
            format!("{} / {}", fmt_ms(max(&g.plain)), fmt_ms(max(&g.filtered))),
        ];
        if let Some((_, s)) = &fts {
            let f = &s.per_query[k];
            let short = q.chars().count() < 3;
            let exact = g.hits == f.scan_hits;
            if !exact {
                mismatches.push(format!("{q}: govwatch {} vs substring scan {}", g.hits, f.scan_hits));
            }
            row.extend([
                if short { format!("{} (trigram: < 3 chars)", f.hits) } else { thousands(f.hits as u64) },
                thousands(f.hits_filtered as u64),
                format!("{} ({} ms)", thousands(f.scan_hits as u64), fmt_ms(f.scan_time)),
                if exact { "yes".into() } else { "**NO**".into() },
                format!("{} / {}", fmt_ms(median(&f.plain)), fmt_ms(median(&f.filtered))),
                format!("{} / {}", fmt_ms(max(&f.plain)), fmt_ms(max(&f.filtered))),
            ]);
        }
        t.row(row);
    }
    push(&mut out, &t.render());
    if !mismatches.is_empty() {
        push(&mut out, &format!("**Hit counts that differ from the substring scan:** {}\n", mismatches.join("; ")));
    }
    let slowest = gw.slowest(5);
    push(
        &mut out,
        &format!(
            "Slowest govwatch runs (query, filter, ms): {}\n",
            slowest
                .iter()
                .map(|(q, f, d)| format!("{q}{} {}", if *f { " +date" } else { "" }, fmt_ms(*d)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );

    if let Some((build, _)) = &fts {
        push(&mut out, "## SQLite FTS5 trigram\n");
        push(
            &mut out,
            &format!(
                "`CREATE VIRTUAL TABLE docs USING fts5(title, text, ts UNINDEXED, tokenize='trigram')`, \
                 WAL, synchronous=NORMAL, {} rows a transaction, title and text passed through \
                 `normalize_text` first (not timed), so both engines search the same text.\n",
                thousands(BATCH as u64)
            ),
        );
        let mut t = Table::new(&["index time", "items/s", "size"]);
        t.row(vec![fmt_secs(build.time), per_sec(n as f64, build.time), fmt_bytes(build.bytes)]);
        push(&mut out, &t.render());
    }

    // --- summary ---------------------------------------------------------
    push(&mut out, "## Summary and targets\n");
    let mut t = Table::new(&["target", "measured", "met?"]);
    let yes = |b: bool| if b { "yes" } else { "**no**" }.to_string();
    if let Some(seq) = &seq {
        let seq_rate = n as f64 / seq.wall.as_secs_f64();
        t.row(vec![
            "≥ 20,000 items/s stored and indexed together".into(),
            format!(
                "sequential {} items/s{}",
                thousands(seq_rate as u64),
                overlap
                    .as_ref()
                    .map(|o| format!("; overlapped {} items/s", thousands((n as f64 / o.wall.as_secs_f64()) as u64)))
                    .unwrap_or_default()
            ),
            {
                let best = overlap.as_ref().map(|o| n as f64 / o.wall.as_secs_f64()).unwrap_or(0.0).max(seq_rate);
                yes(best >= 20_000.0)
            },
        ]);
    }
    let p99 = gw_all.plain.p99.max(gw_all.filtered.p99);
    t.row(vec![
        format!(
            "search p99 < 10 ms at 1,000,000 items, with snippets{}",
            if n != 1_000_000 { format!(" (this run: {} items)", thousands(n)) } else { String::new() }
        ),
        format!(
            "p99 {} ms without filter, {} ms with the date filter",
            fmt_ms(gw_all.plain.p99),
            fmt_ms(gw_all.filtered.p99)
        ),
        if n == 1_000_000 { yes(ms(p99) < 10.0) } else { format!("n/a at this size ({})", yes(ms(p99) < 10.0)) },
    ]);
    if let (Some((build, _)), Some(seq)) = (&fts, &seq) {
        let speed = build.time.as_secs_f64() / seq.index.as_secs_f64();
        let speed_total = (seq.store + build.time).as_secs_f64() / seq.wall.as_secs_f64();
        t.row(vec![
            "≥ 4× the indexing speed of FTS5 trigram".into(),
            format!(
                "index alone: {speed:.2}× (govwatch sync {} vs FTS5 {}); store + index: {speed_total:.2}× \
                 (FTS5 counted as store + FTS5 insert)",
                fmt_secs(seq.index),
                fmt_secs(build.time)
            ),
            yes(speed >= 4.0),
        ]);
    }
    if let Some((fall, f3)) = &fts_stats {
        let r_all = ms(fall.plain.p99) / ms(gw_all.plain.p99);
        let r_all_f = ms(fall.filtered.p99) / ms(gw_all.filtered.p99);
        let r_3 = ms(f3.plain.p99) / ms(gw_3.plain.p99);
        let r_3_f = ms(f3.filtered.p99) / ms(gw_3.filtered.p99);
        t.row(vec![
            "≥ 10× lower search p99 than FTS5 trigram".into(),
            format!(
                "p99 FTS5/govwatch: all queries {r_all:.1}× ({r_all_f:.1}× with the date filter); \
                 ≥ 3-character Han queries {r_3:.1}× ({r_3_f:.1}×)"
            ),
            yes(r_all.min(r_all_f).min(r_3).min(r_3_f) >= 10.0),
        ]);
    }
    push(&mut out, &t.render());
    println!("{out}");
    Ok(())
}

/// The index writer settings of this run (`--writer-threads`, `--writer-heap-mb`).
static WRITER: std::sync::OnceLock<WriterOptions> = std::sync::OnceLock::new();

fn writer_options() -> WriterOptions {
    *WRITER.get_or_init(WriterOptions::default)
}

fn is_default_writer() -> bool {
    let (w, d) = (writer_options(), WriterOptions::default());
    w.threads == d.threads && w.heap_bytes == d.heap_bytes
}

fn ms(d: Duration) -> f64 {
    common::ms(d)
}

/// `dir/name`, emptied.
fn fresh(dir: &Path, name: &str) -> Result<PathBuf> {
    let d = dir.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d).with_context(|| format!("cannot clear {}", d.display()))?;
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Segments in the index's last commit.
fn segments(index_dir: &Path) -> usize {
    std::fs::read_to_string(index_dir.join("meta.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.get("segments")?.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn store_batches(store: &Store, items: &[Item]) -> Result<()> {
    for batch in items.chunks(BATCH) {
        let out = store.upsert_items(batch)?;
        if out.counts.new != batch.len() {
            bail!("expected {} new items in a batch, the store says {:?}", batch.len(), out.counts);
        }
    }
    Ok(())
}

fn ingest_sequential(items: &[Item], dir: &Path) -> Result<Ingest> {
    let (store_dir, index_dir) = (dir.join("store"), dir.join("index"));
    progress!("sequential: storing…");
    let t = Instant::now();
    let store = Store::open(&store_dir)?;
    store_batches(&store, items)?;
    let store_time = t.elapsed();
    progress!("sequential: stored in {}; indexing…", fmt_secs(store_time));
    let t = Instant::now();
    let idx = SearchIndex::open(&index_dir, writer_options())?;
    let stats = idx.sync(&store)?;
    let index_time = t.elapsed();
    let segments_after_sync = segments(&index_dir);
    let t = Instant::now();
    idx.close_writer()?;
    let merge = t.elapsed();
    if stats.indexed != items.len() {
        bail!("sync indexed {} of {} items", stats.indexed, items.len());
    }
    drop(idx);
    drop(store);
    Ok(Ingest {
        store: store_time,
        index: index_time,
        wall: store_time + index_time,
        merge,
        syncs: 1,
        segments_after_sync,
        segments_after_merge: segments(&index_dir),
        store_bytes: disk_size(&store_dir),
        index_bytes: disk_size(&index_dir),
    })
}

fn ingest_overlapped(items: &[Item], dir: &Path) -> Result<Ingest> {
    let (store_dir, index_dir) = (dir.join("store"), dir.join("index"));
    progress!("overlapped: storing and indexing at once…");
    let t = Instant::now();
    let store = Store::open(&store_dir)?;
    let idx = SearchIndex::open(&index_dir, writer_options())?;
    let done = AtomicBool::new(false);
    let (stored, synced) = std::thread::scope(|s| {
        let indexer = s.spawn(|| -> Result<(usize, usize, Duration)> {
            let (mut syncs, mut indexed) = (0, 0);
            loop {
                let finished = done.load(Ordering::Acquire);
                let st = idx.sync(&store)?;
                syncs += 1;
                indexed += st.indexed;
                if finished {
                    return Ok((syncs, indexed, t.elapsed()));
                }
                if st.indexed == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        let stored = store_batches(&store, items).map(|_| t.elapsed());
        done.store(true, Ordering::Release);
        let synced = indexer.join().expect("indexer thread panicked");
        (stored, synced)
    });
    let store_time = stored?;
    let (syncs, indexed, wall) = synced?;
    let segments_after_sync = segments(&index_dir);
    let m = Instant::now();
    idx.close_writer()?;
    let merge = m.elapsed();
    if indexed != items.len() {
        bail!("the syncs indexed {indexed} of {} items", items.len());
    }
    drop(idx);
    drop(store);
    Ok(Ingest {
        store: store_time,
        index: wall,
        wall,
        merge,
        syncs,
        segments_after_sync,
        segments_after_merge: segments(&index_dir),
        store_bytes: disk_size(&store_dir),
        index_bytes: disk_size(&index_dir),
    })
}

struct Breakdown {
    store_read: Duration,
    rebuild: Duration,
    memory_index: Duration,
    memory_merge: Duration,
    sample: usize,
    normalize: Duration,
    ngram: Duration,
    jieba: Duration,
}

fn breakdown(items: &[Item], seq_dir: &Path, mem_dir: &Path) -> Result<Breakdown> {
    progress!("breakdown: reading the store by revision…");
    let store = Store::open(&seq_dir.join("store"))?;
    let t = Instant::now();
    let (mut rev, mut read) = (0, 0usize);
    loop {
        let batch = store.items_after_rev(rev, 5_000)?;
        let Some(last) = batch.last() else { break };
        rev = last.rev;
        read += batch.len();
    }
    let store_read = t.elapsed();
    if read != items.len() {
        bail!("read {read} items back from the store, expected {}", items.len());
    }

    progress!("breakdown: rebuilding an index from the store…");
    let rebuild_dir = mem_dir.join("rebuild");
    let t = Instant::now();
    let idx = SearchIndex::open(&rebuild_dir, writer_options())?;
    idx.rebuild(&store)?;
    let rebuild = t.elapsed();
    idx.close_writer()?;
    drop(idx);
    drop(store);
    let _ = std::fs::remove_dir_all(&rebuild_dir);

    progress!("breakdown: indexing from memory…");
    let t = Instant::now();
    let idx = SearchIndex::open(&mem_dir.join("memory"), writer_options())?;
    idx.add_items_and_commit(items.iter(), items.len() as i64)?;
    let memory_index = t.elapsed();
    let t = Instant::now();
    idx.close_writer()?;
    let memory_merge = t.elapsed();
    drop(idx);

    progress!("breakdown: tokenizers alone…");
    let sample = &items[..items.len().min(TOKENIZER_SAMPLE)];
    let t = Instant::now();
    let normalized: Vec<(String, String)> =
        sample.iter().map(|i| (normalize_text(&i.title), normalize_text(&i.text))).collect();
    let normalize = t.elapsed();
    let mut count = 0usize;
    let t = Instant::now();
    for (title, text) in &normalized {
        ngram_tokens(title, |_| count += 1);
        ngram_tokens(text, |_| count += 1);
    }
    let ngram = t.elapsed();
    let mut tok = JiebaWords::new(jieba());
    let t = Instant::now();
    for (title, text) in &normalized {
        for s in [title, text] {
            let mut stream = tok.token_stream(s);
            while stream.advance() {
                count += 1;
            }
        }
    }
    let jieba_time = t.elapsed();
    std::hint::black_box(count);
    Ok(Breakdown {
        store_read,
        rebuild,
        memory_index,
        memory_merge,
        sample: sample.len(),
        normalize,
        ngram,
        jieba: jieba_time,
    })
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    percentile(&s, 0.5)
}

fn max(v: &[Duration]) -> Duration {
    v.iter().copied().max().unwrap_or_default()
}

#[derive(Default)]
struct QueryRuns {
    /// The timed search stopped counting and estimated its total.
    estimated: bool,
    hits: usize,
    hits_filtered: usize,
    plain: Vec<Duration>,
    filtered: Vec<Duration>,
    /// FTS5 only: the substring scan.
    scan_hits: usize,
    scan_time: Duration,
}

struct Latency {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

struct LatencySet {
    plain: Latency,
    filtered: Latency,
    mean_hits: f64,
    mean_hits_filtered: f64,
}

struct Runs {
    per_query: Vec<QueryRuns>,
}

impl Runs {
    fn stats(&self, include: impl Fn(&str) -> bool) -> LatencySet {
        let chosen: Vec<&QueryRuns> =
            QUERIES.iter().zip(&self.per_query).filter(|(q, _)| include(q)).map(|(_, r)| r).collect();
        let lat = |f: &dyn Fn(&QueryRuns) -> &Vec<Duration>| {
            let mut all: Vec<Duration> = chosen.iter().flat_map(|r| f(r).iter().copied()).collect();
            all.sort();
            Latency {
                p50: percentile(&all, 0.5),
                p99: percentile(&all, 0.99),
                max: all.last().copied().unwrap_or_default(),
            }
        };
        let k = chosen.len().max(1) as f64;
        LatencySet {
            plain: lat(&|r| &r.plain),
            filtered: lat(&|r| &r.filtered),
            mean_hits: chosen.iter().map(|r| r.hits as f64).sum::<f64>() / k,
            mean_hits_filtered: chosen.iter().map(|r| r.hits_filtered as f64).sum::<f64>() / k,
        }
    }

    /// The `n` slowest single runs: (query, filtered, time).
    fn slowest(&self, n: usize) -> Vec<(&'static str, bool, Duration)> {
        let mut all: Vec<(&'static str, bool, Duration)> = QUERIES
            .iter()
            .zip(&self.per_query)
            .flat_map(|(q, r)| {
                r.plain.iter().map(move |d| (*q, false, *d)).chain(r.filtered.iter().map(move |d| (*q, true, *d)))
            })
            .collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.2));
        all.truncate(n);
        all
    }
}

fn search_govwatch(idx: &SearchIndex, since: NaiveDate, repeat: usize, sort: Sort, exact: bool) -> Result<Runs> {
    progress!(
        "govwatch: {} queries × {repeat} runs × 2 (without / with the date filter), sort {sort:?}…",
        QUERIES.len()
    );
    let request = |q: &str, filtered: bool| {
        let mut r = SearchRequest::new(q);
        r.limit = LIMIT;
        r.sort = sort;
        r.exact_total = exact;
        if filtered {
            r.since = Some(since);
        }
        r
    };
    let mut per_query: Vec<QueryRuns> = QUERIES.iter().map(|_| QueryRuns::default()).collect();
    // Warm-up, and the hit totals (counted exactly, untimed; the timed
    // searches may estimate theirs).
    for (k, q) in QUERIES.iter().enumerate() {
        let plain = idx.search(&request(q, false))?;
        let filtered = idx.search(&request(q, true))?;
        per_query[k].estimated = plain.total_is_estimate;
        let count = |filtered: bool| -> Result<usize> {
            let mut r = request(q, filtered);
            r.exact_total = true;
            Ok(idx.search(&r)?.total)
        };
        let (plain_total, filtered_total) = (count(false)?, count(true)?);
        if plain.total > 0 && plain.hits.is_empty() {
            bail!("{q}: {} hits but no results returned", plain.total);
        }
        if plain.hits.iter().any(|h| h.snippet.is_empty()) {
            bail!("{q}: a hit without a snippet");
        }
        std::hint::black_box(&filtered);
        per_query[k].hits = plain_total;
        per_query[k].hits_filtered = filtered_total;
    }
    for _ in 0..repeat {
        for (k, q) in QUERIES.iter().enumerate() {
            for filtered in [false, true] {
                let req = request(q, filtered);
                let t = Instant::now();
                let res = idx.search(&req)?;
                let d = t.elapsed();
                std::hint::black_box(&res);
                let r = &mut per_query[k];
                if filtered {
                    r.filtered.push(d);
                } else {
                    r.plain.push(d);
                }
            }
        }
    }
    Ok(Runs { per_query })
}

struct FtsBuild {
    time: Duration,
    bytes: u64,
}

fn fts5_build(items: &[Item], dir: &Path) -> Result<(Connection, FtsBuild)> {
    progress!("FTS5: indexing {} items…", thousands(items.len() as u64));
    let path = dir.join("fts5.sqlite3");
    let mut conn = Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.execute_batch("CREATE VIRTUAL TABLE docs USING fts5(title, text, ts UNINDEXED, tokenize='trigram');")?;
    let mut time = Duration::ZERO;
    for (b, batch) in items.chunks(BATCH).enumerate() {
        let rows: Vec<(String, String, i64)> = batch
            .iter()
            .map(|i| {
                let when = i.published.map(|p| p.at).unwrap_or(i.first_seen_at);
                (normalize_text(&i.title), normalize_text(&i.text), when.timestamp())
            })
            .collect();
        let t = Instant::now();
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO docs (rowid, title, text, ts) VALUES (?1, ?2, ?3, ?4)")?;
            for (k, (title, text, ts)) in rows.iter().enumerate() {
                insert.execute(params![(b * BATCH + k + 1) as i64, title, text, ts])?;
            }
        }
        tx.commit()?;
        time += t.elapsed();
    }
    // The WAL holds the last transactions until a checkpoint: fold it in
    // so that the size is the database's.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let bytes = disk_size(dir);
    Ok((conn, FtsBuild { time, bytes }))
}

/// An FTS5 query string that matches `q` as one phrase.
fn fts5_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

fn fts5_search(conn: &Connection, since_ts: i64, repeat: usize) -> Result<Runs> {
    progress!("FTS5: {} queries × {repeat} runs × 2, plus counts and substring scans…", QUERIES.len());
    const TOP: &str = "SELECT rowid, title, snippet(docs, 1, '<b>', '</b>', '…', 24) FROM docs \
                       WHERE docs MATCH ?1 ORDER BY rank LIMIT 10";
    const TOP_SINCE: &str = "SELECT rowid, title, snippet(docs, 1, '<b>', '</b>', '…', 24) FROM docs \
                             WHERE docs MATCH ?1 AND ts >= ?2 ORDER BY rank LIMIT 10";
    let run = |sql: &str, q: &str, filtered: bool| -> Result<usize> {
        let mut stmt = conn.prepare_cached(sql)?;
        let phrase = fts5_phrase(q);
        let mut rows = if filtered { stmt.query(params![phrase, since_ts])? } else { stmt.query(params![phrase])? };
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let _: i64 = r.get(0)?;
            let _: String = r.get(1)?;
            let _: String = r.get(2)?;
            n += 1;
        }
        Ok(n)
    };
    let mut per_query: Vec<QueryRuns> = QUERIES.iter().map(|_| QueryRuns::default()).collect();
    for (k, q) in QUERIES.iter().enumerate() {
        run(TOP, q, false)?;
        run(TOP_SINCE, q, true)?;
        let r = &mut per_query[k];
        r.hits = conn
            .query_row("SELECT count(*) FROM docs WHERE docs MATCH ?1", [fts5_phrase(q)], |row| row.get::<_, i64>(0))?
            as usize;
        r.hits_filtered = conn.query_row(
            "SELECT count(*) FROM docs WHERE docs MATCH ?1 AND ts >= ?2",
            params![fts5_phrase(q), since_ts],
            |row| row.get::<_, i64>(0),
        )? as usize;
        let t = Instant::now();
        r.scan_hits = conn.query_row(
            "SELECT count(*) FROM docs WHERE title LIKE ?1 OR text LIKE ?1",
            [format!("%{q}%")],
            |row| row.get::<_, i64>(0),
        )? as usize;
        r.scan_time = t.elapsed();
    }
    for _ in 0..repeat {
        for (k, q) in QUERIES.iter().enumerate() {
            for filtered in [false, true] {
                let t = Instant::now();
                run(if filtered { TOP_SINCE } else { TOP }, q, filtered)?;
                let d = t.elapsed();
                let r = &mut per_query[k];
                if filtered {
                    r.filtered.push(d);
                } else {
                    r.plain.push(d);
                }
            }
        }
    }
    Ok(Runs { per_query })
}
