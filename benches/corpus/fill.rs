//! Fills a store and an index with the corpus, bound to the sources of a
//! generated configuration (`src-00000`, `src-00001`, … of one unit, county
//! portal feeds). Shared by the daemon and web benchmarks, so that either can
//! run on the folder the other left (`--reuse --dir …`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use govwatch::index::{SearchIndex, WriterOptions};
use govwatch::model::{Item, ItemKind, Level, Role, SourceKind, item_id};
use govwatch::store::Store;

use super::Corpus;
use crate::common::{disk_size, loadavg, progress, thousands};

/// Items per `upsert_items` call when filling the store.
const BATCH: usize = 10_000;
/// Items generated at once when filling the store.
const CHUNK: u64 = 100_000;
/// The one unit every source belongs to.
pub const UNIT: &str = "bangongshi";

/// The id of configured source `i`.
pub fn source_id(i: usize) -> String {
    format!("src-{i:05}")
}

/// Sentences for the daemon benchmark's feeds, and the items when there are
/// no seed documents.
pub const SENTENCES: &[&str] = &[
    "为进一步做好政府信息公开工作，切实保障人民群众的知情权、参与权和监督权",
    "各乡镇人民政府、区直各部门要高度重视，明确责任分工，加强统筹协调",
    "严格落实保密审查制度，确保公开内容准确规范，及时回应社会关切",
    "请各单位于规定时限内将落实情况报送区政务公开办",
    "进一步规范政务新媒体管理，提升政府网站集约化水平",
    "加强政策解读，通过图文、视频等多种形式增强解读效果",
    "深化基层政务公开标准化规范化建设，推进公开事项目录动态更新",
    "畅通依申请公开渠道，依法依规做好答复工作",
];

pub struct Fill {
    pub generate: Duration,
    pub store: Duration,
    pub index: Duration,
    pub store_bytes: u64,
    pub index_bytes: u64,
    pub seeds: String,
    /// Load averages before and after, to show what else ran.
    pub load: (String, String),
}

/// A few sentences, for when the seed documents are not there.
fn builtin_corpus() -> Corpus {
    let parts: Vec<&str> = SENTENCES.iter().flat_map(|s| s.split('，')).collect();
    let mut all = Vec::new();
    for (n, a) in parts.iter().enumerate() {
        for b in parts.iter().skip(n + 1) {
            all.push(format!("{a}{b}"));
        }
    }
    Corpus::from_sentences(Vec::new(), all)
}

/// Corpus item `i` of `n`, bound to the configured source `i % sources` (a
/// county portal feed of the one unit), with its id made again for it.
pub fn bound_item(corpus: &Corpus, i: u64, n: u64, sources: usize) -> Item {
    let mut item = corpus.item(i, n);
    item.source = source_id((i % sources as u64) as usize);
    item.unit = UNIT.to_string();
    item.kind = ItemKind::of(SourceKind::Feed, Role::Portal);
    item.role = Role::Portal;
    item.level = Level::County;
    item.id = item_id(&item.source, &item.key);
    item
}

/// Stores `items` generated items (from the seed documents in `seeds`, or
/// built-in sentences without them) bound round-robin to `sources` sources,
/// in `dir/var`, and indexes them in `dir/index`, as the search benchmark does
/// (`upsert_items` in batches, then `SearchIndex::sync`).
pub fn fill(dir: &Path, items: u64, sources: usize, seeds: &Path) -> Result<Fill> {
    let store = Store::open(&dir.join("var"))?;
    let mut f = fill_store(&store, &dir.join("index"), items, sources, seeds)?;
    drop(store);
    f.store_bytes = disk_size(&dir.join("var"));
    Ok(f)
}

/// As [`fill`], into an open store of either backend (its size is left for
/// the caller to measure: 0 here) and an index in `index_dir`.
pub fn fill_store(store: &Store, index_dir: &Path, items: u64, sources: usize, seeds: &Path) -> Result<Fill> {
    let load_before = loadavg();
    let (corpus, seeds) = match Corpus::from_seeds(seeds) {
        Ok(c) => {
            let s = format!("{} seed files in `{}`", c.seed_files.len(), seeds.display());
            (c, s)
        }
        Err(e) => {
            progress!("{e}; the items are made of built-in sentences instead");
            (builtin_corpus(), "built-in sentences (no seed documents)".to_string())
        }
    };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
    let (mut generate, mut storing) = (Duration::ZERO, Duration::ZERO);
    let n = items;
    let mut from = 0;
    while from < n {
        let to = (from + CHUNK).min(n);
        let t = Instant::now();
        let per = (to - from).div_ceil(threads);
        let items: Vec<Item> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (a, b) = ((from + t * per).min(to), (from + (t + 1) * per).min(to));
                    let corpus = &corpus;
                    s.spawn(move || (a..b).map(|i| bound_item(corpus, i, n, sources)).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("generator thread panicked")).collect()
        });
        generate += t.elapsed();
        let t = Instant::now();
        for batch in items.chunks(BATCH) {
            let out = store.upsert_items(batch)?;
            ensure!(
                out.counts.new == batch.len(),
                "expected {} new items, the store says {:?}",
                batch.len(),
                out.counts
            );
        }
        storing += t.elapsed();
        from = to;
        if to.is_multiple_of(200_000) {
            progress!("stored {} items", thousands(to));
        }
    }
    progress!("indexing {} items…", thousands(n));
    let t = Instant::now();
    let idx = SearchIndex::open(index_dir, WriterOptions::default())?;
    let stats = idx.sync(store)?;
    idx.close_writer()?;
    let index = t.elapsed();
    ensure!(stats.indexed as u64 == n, "sync indexed {} of {n} items", stats.indexed);
    drop(idx);
    Ok(Fill {
        generate,
        store: storing,
        index,
        store_bytes: 0,
        index_bytes: disk_size(index_dir),
        seeds,
        load: (load_before, loadavg()),
    })
}
