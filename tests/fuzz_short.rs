//! A short, deterministic run of every fuzz target (issue 18 item 8): the
//! same targets, seeds and mutator as `cargo bench --bench fuzz`
//! (`benches/fuzzing/mod.rs`), a few thousand inputs each, in this process
//! under `catch_unwind`. A panic fails the test and names the saved input;
//! the run is the same every time (fixed seed), so a failure is repeatable.
//!
//! `GOVWATCH_FUZZ_SHORT_RUNS` (default: per target, see `default_runs`) and `GOVWATCH_FUZZ_SEED`
//! (default 20261206) change it. Slow inputs are printed, not failed on:
//! speed is measured in `cargo bench --bench fuzz`, not here.

use std::path::PathBuf;
use std::time::Duration;

use crate::fuzzing::{self, Corpus};
use crate::support;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Inputs per target: about five seconds of one core each in a debug build
/// (the HTML, CSV, XLSX and search targets cost 20–60 ms an input there).
fn default_runs(name: &str) -> u64 {
    match name {
        "date" => 3000,
        "docno" | "feed" => 1000,
        "xlsx" | "query" => 150,
        _ => 250,
    }
}

fn short(name: &str) {
    let runs = env_u64("GOVWATCH_FUZZ_SHORT_RUNS", default_runs(name));
    let seed = env_u64("GOVWATCH_FUZZ_SEED", 20_261_206);
    let shared = support::shared_if_present("data");
    if shared.is_none() {
        eprintln!(
            "note: the shared real data is missing (GOVWATCH_SHARED); fuzzing {name} from built-in seeds, tests/data and config/demo only"
        );
    }
    let targets = fuzzing::targets();
    let t = targets.iter().find(|t| t.name == name).expect("a fuzz target of that name");
    let corpus = Corpus::new(t, fuzzing::seeds(t, &fuzzing::seed_dirs(shared.as_deref())));
    let run = (t.prepare)();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-short");
    let r =
        fuzzing::run_range(t, &run, &corpus, seed, 0, runs, Duration::from_secs(1), true, &out, |_, _| {}, |_, _| {});
    eprintln!(
        "fuzz {name}: {} inputs ({} seeds) in {:.1} s, slowest {:.0} ms, known skipped {:?}",
        r.runs,
        corpus.seeds.len(),
        r.elapsed.as_secs_f64(),
        r.slowest.as_secs_f64() * 1000.0,
        r.known
    );
    for (i, d, p) in &r.slow {
        eprintln!("note: fuzz {name}: input {i} took {:.0} ms (saved as {})", d.as_secs_f64() * 1000.0, p.display());
    }
    let crashes: Vec<String> = r
        .crashes
        .iter()
        .map(|(sig, (n, first, file, msg))| {
            format!("{n}× {sig}\n    first: input {first} (seed {seed}), saved as {}\n    {msg}", file.display())
        })
        .collect();
    assert!(crashes.is_empty(), "fuzz {name}: inputs that panic:\n{}", crashes.join("\n"));
}

#[test]
fn feed() {
    short("feed");
}

#[test]
fn page_list() {
    short("page-list");
}

#[test]
fn page_detail() {
    short("page-detail");
}

#[test]
fn html_text() {
    short("html-text");
}

#[test]
fn charset() {
    short("charset");
}

#[test]
fn csv() {
    short("csv");
}

#[test]
fn xlsx() {
    short("xlsx");
}

#[test]
fn docno() {
    short("docno");
}

#[test]
fn date() {
    short("date");
}

#[test]
fn query() {
    short("query");
}

/// Found by the fuzzer (seed 20261206, input 479): an excluded term that is
/// a run of dashes made tantivy seek its exhausted phrase scorer backwards,
/// a failed assertion in debug builds. Fixed by `index::clauses::Excluded`.
#[test]
fn an_excluded_run_of_dashes_with_other_words_searches() {
    let targets = fuzzing::targets();
    let t = targets.iter().find(|t| t.name == "query").unwrap();
    let run = (t.prepare)();
    let query = format!("     {}   a x", "-".repeat(300));
    let r = fuzzing::run_one(t, &run, query.as_bytes(), false);
    assert!(matches!(r, fuzzing::Outcome::Ok(_)), "{r:?}");
}

/// Every target of the fuzzer has its short run here.
#[test]
fn every_target_has_a_short_run() {
    let here = include_str!("fuzz_short.rs");
    for t in fuzzing::targets() {
        let call = format!("short(\"{}\")", t.name);
        assert!(here.contains(&call), "tests/fuzz_short.rs has no short run of the fuzz target {}", t.name);
    }
}
