//! The fuzzer: mutated inputs through every parser of outside input, on
//! stable Rust (issue 18 item 8). Targets, seeds and mutator are in
//! `benches/fuzzing/mod.rs`, shared with the short run in the test suite.
//!
//! ```text
//! cargo bench --bench fuzz -- list
//! cargo bench --bench fuzz -- all --runs 1000000
//! cargo bench --bench fuzz -- feed --runs 200000 --seed 7
//! ```
//!
//! Each target runs in a child process (this program again, `--worker`)
//! whose address space is limited (`--mem-mb`, RLIMIT_AS), so that an
//! allocation bomb aborts the child, not the machine. Before each input the
//! child writes it to an in-flight file; when the child dies (abort, signal)
//! or stops reporting for `--hang-secs`, the parent saves that input as a
//! finding and starts a new child at the next input. Inside the child every
//! input runs under `catch_unwind`; a panic or an input slower than
//! `--slow-ms` is saved too. Findings go to `--out` (default
//! `target/fuzz/findings/<target>/`), named by seed and input number: input
//! `i` of a run is a pure function of (seed, target, `i`).
//!
//! Started without `--bench` (as `cargo test --all-targets` does), it runs a
//! few inputs of every target in-process, as a smoke test.

mod common;
#[path = "fuzzing/mod.rs"]
mod fuzzing;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Machine, Table, fmt_secs, loadavg, per_sec, started_by_cargo_bench, thousands};
use fuzzing::{Corpus, Report, Target};

const USAGE: &str = "\
usage: cargo bench --bench fuzz -- <target|all|list> [options]

  --runs N          inputs per target (default 100000)
  --seed S          run seed (default 1); input i of a target is a function of (S, target, i)
  --slow-ms MS      an input slower than this is a finding (default 1000)
  --mem-mb MB       address-space limit of the child running a target (default 4096)
  --hang-secs S     a child silent this long is killed, its input a finding (default 60)
  --max-secs S      stop each target after S seconds, with fewer runs than asked (default: no limit)
  --out DIR         where findings are saved (default target/fuzz/findings)
  --no-skip-known   also run the known XLSX allocation bombs (each aborts a child)
  --help            this text

Seeds: built-in ones, tests/data, config/demo, and $GOVWATCH_SHARED/data
(default ../shared/data next to the crate) when present.";

#[derive(Clone)]
struct Options {
    which: String,
    runs: u64,
    seed: u64,
    slow: Duration,
    mem_mb: u64,
    hang: Duration,
    max: Option<Duration>,
    out: PathBuf,
    skip_known: bool,
    /// Worker mode: run inputs `from..runs` of `which` in this process.
    worker: Option<(u64, PathBuf)>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        which: String::new(),
        runs: 100_000,
        seed: 1,
        slow: Duration::from_millis(1000),
        mem_mb: 4096,
        hang: Duration::from_secs(60),
        max: None,
        out: common::repo().join("target/fuzz/findings"),
        skip_known: true,
        worker: None,
    };
    let mut from = None;
    let mut inflight = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let mut number = |name: &str| -> Result<u64, String> {
            let v = value(name)?;
            v.replace('_', "").parse().map_err(|_| format!("{name}: not a number: {v:?}"))
        };
        match a.as_str() {
            "--bench" => {}
            "--runs" => o.runs = number("--runs")?,
            "--seed" => o.seed = number("--seed")?,
            "--slow-ms" => o.slow = Duration::from_millis(number("--slow-ms")?),
            "--mem-mb" => o.mem_mb = number("--mem-mb")?,
            "--hang-secs" => o.hang = Duration::from_secs(number("--hang-secs")?.max(1)),
            "--max-secs" => o.max = Some(Duration::from_secs(number("--max-secs")?)),
            "--out" => o.out = PathBuf::from(value("--out")?),
            "--no-skip-known" => o.skip_known = false,
            "--worker-from" => from = Some(number("--worker-from")?),
            "--worker-inflight" => inflight = Some(PathBuf::from(value("--worker-inflight")?)),
            "--help" | "-h" => return Err(USAGE.to_string()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n\n{USAGE}")),
            s if o.which.is_empty() => o.which = s.to_string(),
            s => return Err(format!("one target or `all`, not also {s:?}\n\n{USAGE}")),
        }
    }
    if let (Some(f), Some(p)) = (from, inflight) {
        o.worker = Some((f, p));
    }
    Ok(o)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !started_by_cargo_bench(&args) && !args.iter().any(|a| a.starts_with("--worker")) {
        smoke();
        return;
    }
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Some((from, inflight)) = o.worker.clone() {
        worker(&o, from, &inflight);
        return;
    }
    let targets = fuzzing::targets();
    let chosen: Vec<&Target> = match o.which.as_str() {
        "" | "list" => {
            for t in &targets {
                println!("{:<12} {}", t.name, t.about);
            }
            return;
        }
        "all" => targets.iter().collect(),
        name => match targets.iter().find(|t| t.name == name) {
            Some(t) => vec![t],
            None => {
                eprintln!("no target {name:?}; `list` shows them");
                std::process::exit(2);
            }
        },
    };
    supervise(&o, &chosen);
}

/// The shared real data, through the one setting, or a plain note.
fn shared_data() -> Option<PathBuf> {
    let d = common::shared_dir().join("data");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!(
            "note: {} is missing (GOVWATCH_SHARED); seeds are the built-in ones, tests/data and config/demo",
            d.display()
        );
        None
    }
}

/// `cargo test --all-targets`: a few inputs per target, in this process.
fn smoke() {
    let dirs = fuzzing::seed_dirs(shared_data().as_deref());
    let out = std::env::temp_dir().join("govwatch-fuzz-smoke");
    for t in fuzzing::targets() {
        let corpus = Corpus::new(&t, fuzzing::seeds(&t, &dirs));
        let run = (t.prepare)();
        let r = fuzzing::run_range(
            &t,
            &run,
            &corpus,
            1,
            0,
            40,
            Duration::from_secs(3600),
            true,
            &out,
            |_, _| {},
            |_, _| {},
        );
        assert!(r.crashes.is_empty(), "fuzz smoke: {} crashed: {:?}", t.name, r.crashes);
        println!("fuzz smoke: {} {} inputs", t.name, r.runs);
    }
}

// ---------------------------------------------------------------- the child

unsafe extern "C" {
    fn setrlimit(resource: i32, rlim: *const [u64; 2]) -> i32;
}

/// RLIMIT_AS on Linux.
const RLIMIT_AS: i32 = 9;

fn limit_memory(mb: u64) {
    let bytes = mb.saturating_mul(1 << 20);
    let lim = [bytes, bytes];
    // SAFETY: setrlimit reads a struct rlimit { rlim_cur, rlim_max } (two u64 on Linux).
    let rc = unsafe { setrlimit(RLIMIT_AS, &lim) };
    if rc != 0 {
        eprintln!("warning: setrlimit(RLIMIT_AS) failed; memory is not limited");
    }
}

fn worker(o: &Options, from: u64, inflight: &Path) {
    let targets = fuzzing::targets();
    let t = targets.iter().find(|t| t.name == o.which).expect("the parent names a target");
    let dirs = fuzzing::seed_dirs(shared_data().as_deref());
    let corpus = Corpus::new(t, fuzzing::seeds(t, &dirs));
    let run = (t.prepare)();
    // Limited after the corpus and the target's state are built: what is
    // measured is the inputs.
    limit_memory(o.mem_mb);
    // Panics under catch_unwind are findings, reported on stdout; the hook
    // only notes where they happened. It stays quiet so that the log shows
    // findings, not thousands of backtraces.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        fuzzing::LAST_PANIC.with(|l| *l.borrow_mut() = Some(at));
        if std::env::var_os("GOVWATCH_FUZZ_PANICS").is_some() {
            default_hook(info);
        }
    }));
    let file =
        std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(inflight).expect("in-flight file");
    let mut buf = Vec::new();
    let mut last = Instant::now();
    let mut seen_crashes: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen_slow = 0;
    let report = fuzzing::run_range(
        t,
        &run,
        &corpus,
        o.seed,
        from,
        o.runs,
        o.slow,
        o.skip_known,
        &o.out,
        |i, input| {
            buf.clear();
            buf.extend_from_slice(&i.to_le_bytes());
            buf.extend_from_slice(&(input.len() as u64).to_le_bytes());
            buf.extend_from_slice(input);
            file.write_all_at(&buf, 0).expect("in-flight file written");
        },
        |i, r| {
            for (sig, (n, first, path, msg)) in &r.crashes {
                let before = seen_crashes.get(sig).copied().unwrap_or(0);
                for _ in before..*n {
                    println!("crash\t{first}\t{}\t{sig}\t{}", path.display(), msg.replace(['\n', '\t'], " "));
                }
                seen_crashes.insert(sig.clone(), *n);
            }
            for (si, d, p) in &r.slow[seen_slow..] {
                println!("slow\t{si}\t{}\t{}", d.as_micros(), p.display());
            }
            seen_slow = r.slow.len();
            if last.elapsed() >= Duration::from_millis(500) {
                last = Instant::now();
                print_progress(i + 1, r, &seen_crashes);
            }
        },
    );
    print_progress(o.runs, &report, &seen_crashes);
    println!("done");
}

/// `progress <next input> <runs> <slowest µs> <crash count> <known kind>=<n>…`
fn print_progress(next: u64, r: &Report, crashes: &BTreeMap<String, u64>) {
    let known: Vec<String> = r.known.iter().map(|(k, n)| format!("{}={n}", k.replace(' ', "_"))).collect();
    println!(
        "progress\t{next}\t{}\t{}\t{}\t{}",
        r.runs,
        r.slowest.as_micros(),
        crashes.values().sum::<u64>(),
        known.join(",")
    );
}

// ---------------------------------------------------------------- the parent

#[derive(Default)]
struct Totals {
    runs: u64,
    elapsed: Duration,
    slowest_us: u64,
    /// signature → (count, first input, file, message)
    crashes: BTreeMap<String, (u64, u64, String, String)>,
    slow: Vec<(u64, u64, String)>,
    known: BTreeMap<String, u64>,
    restarts: u64,
    /// Stopped by `--max-secs` before `--runs`.
    stopped: bool,
}

fn supervise(o: &Options, chosen: &[&Target]) {
    let machine = Machine::read();
    let load_before = loadavg();
    let exe = std::env::current_exe().expect("own executable");
    let _ = std::fs::create_dir_all(&o.out);
    eprintln!("findings go to {}", o.out.display());
    let mut table = Table::new(&[
        "target",
        "runs",
        "time",
        "runs/s",
        "crashes (distinct)",
        "slower than limit",
        "known, skipped",
        "slowest input",
        "child restarts",
    ]);
    let mut all_crashes = Vec::new();
    for t in chosen {
        let tot = run_target(o, &exe, t);
        let known: Vec<String> =
            tot.known.iter().map(|(k, n)| format!("{}: {}", k.replace('_', " "), thousands(*n))).collect();
        table.row(vec![
            t.name.to_string(),
            if tot.stopped { format!("{} (time limit)", thousands(tot.runs)) } else { thousands(tot.runs) },
            fmt_secs(tot.elapsed),
            per_sec(tot.runs as f64, tot.elapsed),
            format!("{} ({})", tot.crashes.values().map(|c| c.0).sum::<u64>(), tot.crashes.len()),
            tot.slow.len().to_string(),
            if known.is_empty() { "0".into() } else { known.join("; ") },
            format!("{:.1} ms", tot.slowest_us as f64 / 1000.0),
            tot.restarts.to_string(),
        ]);
        for (sig, (n, first, file, msg)) in &tot.crashes {
            all_crashes.push(format!("- {} ×{n}: {sig}\n  first: input {first} → {file}\n  {msg}", t.name));
        }
        for (i, us, file) in &tot.slow {
            all_crashes.push(format!("- {} slow: input {i} took {:.1} ms → {file}", t.name, *us as f64 / 1000.0));
        }
    }
    println!("\n## Fuzzing (`cargo bench --bench fuzz -- {} --runs {} --seed {}`)\n", o.which, o.runs, o.seed);
    println!("{}", machine.markdown());
    println!("Load average before: {load_before}; after: {}\n", loadavg());
    println!(
        "Child address-space limit {} MiB, slow limit {} ms, known XLSX allocation bombs {}.\n",
        o.mem_mb,
        o.slow.as_millis(),
        if o.skip_known { "skipped (counted)" } else { "run" }
    );
    println!("{}", table.render());
    if all_crashes.is_empty() {
        println!("No findings. Findings would be in {}.", o.out.display());
    } else {
        println!("Findings (inputs in {}):\n\n{}", o.out.display(), all_crashes.join("\n"));
    }
}

fn run_target(o: &Options, exe: &Path, t: &Target) -> Totals {
    let mut tot = Totals::default();
    let inflight = o.out.join(format!(".inflight-{}-{}", t.name, std::process::id()));
    let started = Instant::now();
    let mut next = 0u64;
    let mut last_report = Instant::now();
    while next < o.runs {
        let mut cmd = Command::new(exe);
        cmd.args([t.name, "--bench", "--runs", &o.runs.to_string(), "--seed", &o.seed.to_string()])
            .args(["--slow-ms", &o.slow.as_millis().to_string(), "--mem-mb", &o.mem_mb.to_string()])
            .arg("--out")
            .arg(&o.out)
            .args(["--worker-from", &next.to_string()])
            .arg("--worker-inflight")
            .arg(&inflight)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !o.skip_known {
            cmd.arg("--no-skip-known");
        }
        let _ = std::fs::remove_file(&inflight);
        let mut child = cmd.spawn().expect("the fuzz worker starts");
        let (tx, rx) = channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let sink = stderr_tail.clone();
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            *sink.lock().unwrap() = s;
        });
        // What this child has reported (cumulative within the child).
        let start = next;
        let mut silent = Duration::ZERO;
        let (mut child_known, mut done, mut hung, mut out_of_time) = (BTreeMap::new(), false, false, false);
        loop {
            if o.max.is_some_and(|m| started.elapsed() >= m) {
                out_of_time = true;
                let _ = child.kill();
                break;
            }
            match rx.recv_timeout(o.hang.min(Duration::from_secs(1))) {
                Ok(line) => {
                    silent = Duration::ZERO;
                    let f: Vec<&str> = line.split('\t').collect();
                    match f[0] {
                        "progress" if f.len() >= 6 => {
                            next = f[1].parse().unwrap_or(next);
                            tot.slowest_us = tot.slowest_us.max(f[3].parse().unwrap_or(0));
                            child_known = f[5]
                                .split(',')
                                .filter_map(|kv| kv.split_once('='))
                                .map(|(k, v)| (k.to_string(), v.parse::<u64>().unwrap_or(0)))
                                .collect();
                        }
                        "crash" if f.len() >= 5 => {
                            let e = tot.crashes.entry(f[3].to_string()).or_insert_with(|| {
                                eprintln!("  {}: CRASH at input {}: {} → {}", t.name, f[1], f[4], f[2]);
                                (0, f[1].parse().unwrap_or(0), f[2].to_string(), f[4].to_string())
                            });
                            e.0 += 1;
                        }
                        "slow" if f.len() >= 4 => {
                            let us: u64 = f[2].parse().unwrap_or(0);
                            eprintln!("  {}: SLOW input {} ({:.1} ms) → {}", t.name, f[1], us as f64 / 1000.0, f[3]);
                            tot.slow.push((f[1].parse().unwrap_or(0), us, f[3].to_string()));
                        }
                        "done" => done = true,
                        _ => {}
                    }
                    if last_report.elapsed() >= Duration::from_secs(10) {
                        last_report = Instant::now();
                        let runs = tot.runs + (next - start);
                        eprintln!(
                            "[{:>7.1}s] {}: {} / {} runs, {} runs/s, {} crashes",
                            started.elapsed().as_secs_f64(),
                            t.name,
                            thousands(runs),
                            thousands(o.runs),
                            per_sec(runs as f64, started.elapsed()),
                            tot.crashes.values().map(|c| c.0).sum::<u64>()
                        );
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    silent += Duration::from_secs(1).min(o.hang);
                    if silent >= o.hang {
                        hung = true;
                        let _ = child.kill();
                        break;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = child.wait().expect("the fuzz worker is waited for");
        for (k, v) in child_known {
            *tot.known.entry(k).or_default() += v;
        }
        if done && status.success() {
            tot.runs += o.runs - start;
            break;
        }
        if out_of_time {
            tot.runs += next - start;
            tot.stopped = true;
            break;
        }
        // The child died or hung: the input in flight is the finding.
        tot.restarts += 1;
        std::thread::sleep(Duration::from_millis(50));
        let tail = stderr_tail.lock().unwrap().clone();
        let why = if hung {
            format!("no answer within {} s (hang)", o.hang.as_secs())
        } else {
            // The allocator's or the panic's own line, else the last one.
            let lines: Vec<&str> = tail.lines().filter(|l| !l.trim().is_empty()).collect();
            let msg = lines
                .iter()
                .find(|l| l.contains("memory allocation of") || l.contains("panicked at") || l.contains("fatal"))
                .or(lines.last())
                .map_or(String::new(), |l| l.to_string());
            format!("child died ({status}): {msg}")
        };
        let Some(bytes) = std::fs::read(&inflight).ok().filter(|b| b.len() >= 16) else {
            eprintln!("  {}: the child died before its first input ({why}); stopping this target", t.name);
            break;
        };
        let i = u64::from_le_bytes(bytes[0..8].try_into().unwrap());
        let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
        let input = &bytes[16..(16 + len).min(bytes.len())];
        let kind = if hung { "hang" } else { "abort" };
        let file = fuzzing::save(&o.out, t.name, kind, o.seed, i, input);
        eprintln!("  {}: {} at input {i}: {why} → {}", t.name, kind.to_uppercase(), file.display());
        let sig = fuzzing::signature(&why);
        let e = tot.crashes.entry(sig).or_insert_with(|| (0, i, file.display().to_string(), why.clone()));
        e.0 += 1;
        tot.runs += i + 1 - start;
        next = i + 1;
    }
    let _ = std::fs::remove_file(&inflight);
    tot.elapsed = started.elapsed();
    tot
}
