//! The search index: tantivy, derived from the store and rebuildable from it.
//!
//! Title and text are indexed twice (see `tokenizer`): two-character n-grams
//! decide *which* items match — exactly those whose normalized title or text
//! contains every query term — and jieba words add to the score so that items
//! *about* the words rank first; title matches weigh more than text matches.
//! A word the n-gram fields hold as one token (two Han characters, two
//! letters or digits) is scored from them and not written to the jieba fields
//! again (`tokenizer::word_home`). A term with punctuation or spaces, which
//! are not indexed, is checked against the stored text (`plan_exact`,
//! `clauses::Verified`).
//!
//! One writer per process, created on first write; a fresh searcher per
//! query. An update is delete-by-id then add. The commit payload records the
//! highest store revision the index holds, so [`SearchIndex::sync`] indexes
//! exactly what changed since — after a crash too.

mod clauses;
pub mod query;
pub mod snippet;
pub mod tokenizer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, RegexPhraseQuery, RegexQuery,
    TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::model::{Item, ItemId};
use crate::normalize::{normalize_text, time::china};
use crate::store::Store;
use clauses::{AnyOf, DayRange, Excluded, Scope, Stored, Verified};
use tokenizer::{CjkNgram, JIEBA, JiebaWords, NGRAM, WordHome};

/// Bumped whenever the schema or the tokenizers change; an index of another
/// version is rebuilt from the store on open.
const SCHEMA_VERSION: u32 = 5;
/// How much a match in the title outweighs one in the text. Large enough
/// that items with every term in the title rank above the rest.
const TITLE_BOOST: f32 = 50.0;
/// The same for the jieba (ranking-only) clauses.
const TITLE_SEG_BOOST: f32 = 3.0;
/// A jieba word in more than this share of the items adds no ranking clause
/// (see `ranking`).
const DENSE_WORD: f64 = 0.5;
/// With relevance ranking, when the title tier does not fill the page, the
/// other matches are ranked over at most this many (newest segments first)
/// and the total is estimated past it: a query that matches most of a
/// million items does not read position lists for the whole million (see
/// `Tiers::collect` and `collect`).
const MATCH_BUDGET: usize = 1_000;
/// When the title tier fills the page, the other matches are only counted:
/// this many exactly (newest segments first), the rest estimated. A total
/// up to this is exact.
const COUNT_BUDGET: usize = 1_000;
/// How many title matches (newest segments first) the title tier ranks.
const TITLE_BUDGET: usize = 500;
/// How the matches past the budget are estimated: windows over everything
/// not read (shared by size, at least one per segment), and matches read in
/// each at most (see `estimate_rest`): at most a few hundred more matches.
const SAMPLE_WINDOWS: u32 = 64;
const SAMPLE_MATCHES: usize = 4;
/// Rows read from the store per batch while syncing.
const SYNC_BATCH: usize = 5_000;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    source: Field,
    unit: Field,
    kind: Field,
    role: Field,
    level: Field,
    title: Field,
    text: Field,
    all: Field,
    title_seg: Field,
    text_seg: Field,
    display_title: Field,
    url: Field,
    published_ts: Field,
    published_day: Field,
    published_at: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let ngram = |stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(NGRAM)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        if stored { o.set_stored() } else { o }
    };
    let seg = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(JIEBA).set_index_option(IndexRecordOption::WithFreqs),
    );
    let f = Fields {
        id: b.add_u64_field("id", INDEXED | STORED | FAST),
        source: b.add_text_field("source", STRING | STORED | FAST),
        unit: b.add_text_field("unit", STRING | STORED | FAST),
        kind: b.add_text_field("kind", STRING | STORED),
        role: b.add_text_field("role", STRING | STORED),
        level: b.add_text_field("level", STRING | STORED),
        title: b.add_text_field("title", ngram(false)),
        // The normalized text is stored: snippets are cut from it. Matching
        // reads `all` instead.
        text: b.add_text_field("text", STORED),
        // Title and text in one n-gram field, two characters apart so that no
        // phrase spans the seam: an exact match is one phrase query here
        // rather than a union of two, which tantivy evaluates a window of
        // 4,096 documents at a time (positions read for every document in it).
        all: b.add_text_field("all", ngram(false)),
        title_seg: b.add_text_field("title_seg", seg.clone()),
        text_seg: b.add_text_field("text_seg", seg),
        display_title: b.add_text_field("display_title", STORED),
        url: b.add_text_field("url", STORED),
        published_ts: b.add_i64_field("published_ts", INDEXED | STORED | FAST),
        // The day in China (days from the common era), for the date filter:
        // its range reads one posting list per day, where a range on the
        // `published_ts` fast field scans every document's value.
        published_day: b.add_i64_field("published_day", INDEXED),
        published_at: b.add_text_field("published_at", STORED),
    };
    (b.build(), f)
}

/// What the commit payload records.
#[derive(Serialize, Deserialize, Default)]
struct Payload {
    schema: u32,
    rev: i64,
}

/// Tuning for the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    pub threads: usize,
    pub heap_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { threads: 2, heap_bytes: 512 << 20 }
    }
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<Option<IndexWriter>>,
    /// Published-time columns by segment (see `segments`).
    ts_columns: Mutex<HashMap<SegmentId, Column<i64>>>,
    /// What recent date filters read (see `clauses::RecentRanges`).
    day_ranges: clauses::RecentRanges,
    /// Held through a whole sync or rebuild, so that two never interleave.
    sync_lock: Mutex<()>,
    options: WriterOptions,
    f: Fields,
    dir: PathBuf,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct SyncStats {
    /// Documents added or replaced.
    pub indexed: usize,
    /// The store revision the index now holds.
    pub rev: i64,
    /// True when the whole index was rebuilt.
    pub rebuilt: bool,
}

fn register_tokenizers(index: &Index) {
    index.tokenizers().register(NGRAM, TextAnalyzer::from(CjkNgram));
    index.tokenizers().register(JIEBA, TextAnalyzer::from(JiebaWords::new(tokenizer::jieba())));
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it if missing. An index written by
    /// another schema version is cleared (and refilled by the next `sync`).
    pub fn open(dir: &Path, options: WriterOptions) -> Result<SearchIndex> {
        std::fs::create_dir_all(dir).with_context(|| format!("failed to create the index folder {}", dir.display()))?;
        let (schema, f) = schema();
        let has_index = dir.join("meta.json").exists();
        let index = if has_index {
            let index =
                Index::open_in_dir(dir).with_context(|| format!("failed to open the index in {}", dir.display()))?;
            let payload = read_payload(&index);
            if payload.schema != SCHEMA_VERSION || index.schema() != schema {
                tracing::warn!(
                    dir = %dir.display(),
                    found = payload.schema,
                    expected = SCHEMA_VERSION,
                    "index schema changed; rebuilding the index from the store"
                );
                drop(index);
                clear_dir(dir)?;
                Index::create_in_dir(dir, schema.clone())?
            } else {
                index
            }
        } else {
            Index::create_in_dir(dir, schema.clone())
                .with_context(|| format!("failed to create an index in {}", dir.display()))?
        };
        register_tokenizers(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .context("failed to open an index reader")?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(None),
            ts_columns: Mutex::default(),
            day_ranges: clauses::RecentRanges::default(),
            sync_lock: Mutex::new(()),
            options,
            f,
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store revision the last commit holds.
    pub fn indexed_rev(&self) -> i64 {
        read_payload(&self.index).rev
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn writer(&self) -> Result<MutexGuard<'_, Option<IndexWriter>>> {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let w = self.index.writer_with_num_threads(self.options.threads.max(1), self.options.heap_bytes).map_err(
                |e| match e {
                    tantivy::TantivyError::LockFailure(..) => anyhow::anyhow!(
                        "the index in {} is being written by another govwatch process; stop it or wait",
                        self.dir.display()
                    ),
                    e => anyhow::Error::new(e).context("failed to open the index writer"),
                },
            )?;
            *guard = Some(w);
        }
        Ok(guard)
    }

    /// Brings the index up to the store: indexes every item whose revision
    /// is above the last committed one, then commits. If the index claims a
    /// revision the store does not have (a restored or replaced store), the
    /// index is rebuilt from scratch.
    pub fn sync(&self, store: &Store) -> Result<SyncStats> {
        let _sync = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
        let from = self.indexed_rev();
        let store_rev = store.max_rev()?;
        if from > store_rev {
            tracing::warn!(index_rev = from, store_rev, "index is ahead of the store; rebuilding it");
            self.clear()?;
            return self.index_from(store, 0, true, &|_| {});
        }
        if from == store_rev {
            return Ok(SyncStats { indexed: 0, rev: from, rebuilt: false });
        }
        self.index_from(store, from, false, &|_| {})
    }

    /// Drops every document and indexes the whole store again.
    pub fn rebuild(&self, store: &Store) -> Result<SyncStats> {
        self.rebuild_with_progress(store, |_| {})
    }

    /// [`rebuild`](Self::rebuild), calling `progress` with the count so far
    /// every 50,000 items.
    pub fn rebuild_with_progress(&self, store: &Store, progress: impl Fn(usize)) -> Result<SyncStats> {
        let _sync = self.sync_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.clear()?;
        self.index_from(store, 0, true, &progress)
    }

    /// Deletes every document (committed by the next commit).
    fn clear(&self) -> Result<()> {
        let mut guard = self.writer()?;
        guard.as_mut().expect("writer() fills the option").delete_all_documents()?;
        Ok(())
    }

    fn index_from(&self, store: &Store, from: i64, rebuilt: bool, progress: &dyn Fn(usize)) -> Result<SyncStats> {
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer() fills the option");
        let mut rev = from;
        let mut indexed = 0;
        loop {
            let batch = store.items_after_rev(rev, SYNC_BATCH)?;
            if batch.is_empty() {
                break;
            }
            for change in &batch {
                // An item created after the last commit cannot be in the index yet.
                if !rebuilt && change.created_rev <= from {
                    w.delete_term(Term::from_field_u64(self.f.id, change.item.id.0));
                }
                w.add_document(self.document(&change.item))?;
                rev = change.rev;
                indexed += 1;
                if indexed % 50_000 == 0 {
                    progress(indexed);
                }
            }
        }
        let mut prepared = w.prepare_commit().context("failed to prepare the index commit")?;
        prepared.set_payload(&serde_json::to_string(&Payload { schema: SCHEMA_VERSION, rev })?);
        prepared.commit().context("failed to commit the index")?;
        drop(guard);
        self.reader.reload().context("failed to reload the index reader")?;
        Ok(SyncStats { indexed, rev, rebuilt })
    }

    /// Adds documents without a store (benchmarks); commits with `rev`.
    pub fn add_items_and_commit<'a>(&self, items: impl IntoIterator<Item = &'a Item>, rev: i64) -> Result<usize> {
        let mut guard = self.writer()?;
        let w = guard.as_mut().expect("writer() fills the option");
        let mut n = 0;
        for item in items {
            w.add_document(self.document(item))?;
            n += 1;
        }
        let mut prepared = w.prepare_commit()?;
        prepared.set_payload(&serde_json::to_string(&Payload { schema: SCHEMA_VERSION, rev })?);
        prepared.commit()?;
        drop(guard);
        self.reader.reload()?;
        Ok(n)
    }

    /// Releases the writer (and its lock on the index folder).
    pub fn close_writer(&self) -> Result<()> {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = guard.take() {
            w.wait_merging_threads().context("index merge failed")?;
        }
        Ok(())
    }

    fn document(&self, item: &Item) -> TantivyDocument {
        let f = &self.f;
        let title = normalize_text(&item.title);
        // A work order is also found by its number, category and reply.
        let text = match &item.case {
            None => normalize_text(&item.text),
            Some(c) => {
                let mut all = item.text.clone();
                for extra in [c.reply.as_deref(), c.category.as_deref(), Some(c.number.as_str())].into_iter().flatten()
                {
                    all.push('\n');
                    all.push_str(extra);
                }
                normalize_text(&all)
            }
        };
        let mut d = TantivyDocument::new();
        d.add_u64(f.id, item.id.0);
        d.add_text(f.source, &item.source);
        d.add_text(f.unit, &item.unit);
        d.add_text(f.kind, item.kind.as_str());
        d.add_text(f.role, item.role.as_str());
        d.add_text(f.level, item.level.as_str());
        d.add_text(f.title_seg, &title);
        d.add_text(f.title, &title);
        d.add_text(f.text_seg, &text);
        d.add_text(f.all, format!("{title}\n\n{text}"));
        d.add_text(f.text, &text);
        d.add_text(f.display_title, &item.title);
        if let Some(link) = &item.link {
            d.add_text(f.url, link);
        }
        // Items with no published time are filed under the time govwatch first saw them.
        let when = item.published.map(|p| p.at).unwrap_or(item.first_seen_at);
        d.add_i64(f.published_ts, when.timestamp());
        d.add_i64(f.published_day, china_day(when.with_timezone(&china()).date_naive()));
        if let Some(p) = &item.published {
            d.add_text(f.published_at, p.at.to_rfc3339());
        }
        d
    }

    /// Runs a search.
    ///
    /// In relevance order the items whose title contains every term come
    /// first, ranked among themselves; the other matches follow. Each tier
    /// is read on its own: the title tier from the title's short posting
    /// lists, over the whole index; the rest only when the title tier does
    /// not fill the page. Otherwise the matches are only counted (see
    /// [`COUNT_BUDGET`]).
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults> {
        let started = Instant::now();
        let query::Parsed { terms, mut notices } = query::parse_bounded(&req.query);
        let f = self.f;
        let searcher = self.reader.searcher();
        let segments = self.segments(&searcher)?;
        // What every match must satisfy besides containing the terms.
        let mut filters: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut tiers = Tiers::default();
        let mut positive: Vec<String> = Vec::new();
        for t in &terms {
            let Some(exact) = self.exact(&t.text) else {
                continue;
            };
            if t.negated {
                filters.push((Occur::MustNot, Box::new(Excluded(exact))));
                continue;
            }
            tiers.anywhere.push(exact);
            if let Some(title) = exact_on(f.title, self.stored(), Scope::Title, &t.text) {
                tiers.in_title.push(Box::new(BoostQuery::new(title, TITLE_BOOST)));
            }
            // Among the other matches, those with the term's n-grams in their
            // title rank higher; this reads no positions.
            if let Some(title) = loose_on(f.title, &t.text) {
                tiers.title_boost.push(Box::new(BoostQuery::new(title, TITLE_BOOST)));
            }
            if let Some(rank) = self.ranking(&searcher, &t.text) {
                tiers.ranking.push(rank);
            }
            positive.push(t.text.clone());
        }
        let has_terms = !positive.is_empty();
        for (field, values) in [
            (f.source, &req.sources),
            (f.unit, &req.units),
            (f.kind, &req.kinds),
            (f.role, &req.roles),
            (f.level, &req.levels),
        ] {
            if values.is_empty() {
                continue;
            }
            let any: Vec<(Occur, Box<dyn Query>)> = values
                .iter()
                .map(|v| {
                    let q: Box<dyn Query> =
                        Box::new(TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic));
                    (Occur::Should, q)
                })
                .collect();
            filters.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(any)), 0.0))));
        }
        if req.since.is_some() || req.until.is_some() {
            let live: Vec<SegmentId> = segments.iter().map(|s| s.id).collect();
            let range =
                self.day_ranges.range(f.published_day, req.since.map(china_day), req.until.map(china_day), &live);
            filters.push((Occur::Must, Box::new(range)));
        }
        // The best `want` are kept in memory: a page far down (offset=10^10)
        // must not ask for that much.
        let (offset, limit) = window(req.offset, req.limit);
        if (offset, limit) != (req.offset, req.limit.max(1)) {
            notices.push(format!("只能列出前 {MAX_WINDOW} 条结果：更靠后的未列出，请加筛选条件缩小范围"));
        }
        let want = offset + limit;
        let ranked = if has_terms && req.sort == Sort::Relevance {
            tiers.collect(&searcher, &segments, &filters, want, req.exact_total)?
        } else {
            if !has_terms && terms.iter().any(|t| !t.negated) && !filters.iter().any(|(o, _)| *o == Occur::Must) {
                // Every positive term was punctuation only: nothing can match.
                return Ok(SearchResults {
                    total: 0,
                    total_is_estimate: false,
                    hits: Vec::new(),
                    took_ms: 0.0,
                    notices,
                });
            }
            let mut clauses = filters;
            clauses.extend(tiers.anywhere.into_iter().map(|q| (Occur::Must, q)));
            if !clauses.iter().any(|(o, _)| *o == Occur::Must) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            let sort = if has_terms { req.sort } else { Sort::Newest };
            collect(&searcher, &segments, &BooleanQuery::new(clauses), sort, want, usize::MAX, true)?
        };
        let term_refs: Vec<&str> = positive.iter().map(String::as_str).collect();
        let mut hits = Vec::with_capacity(limit);
        for (score, addr) in ranked.top.into_iter().skip(offset) {
            let doc: TantivyDocument = searcher.doc(addr)?;
            hits.push(self.hit(&doc, score, &term_refs, req.snippet_chars));
        }
        Ok(SearchResults {
            total: ranked.total,
            total_is_estimate: ranked.estimated,
            hits,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
            notices,
        })
    }

    /// The searcher's segments, newest first (by the largest published time
    /// in each), with their published times. Opening a segment's column
    /// reads its whole block index, so the columns are kept while their
    /// segments live.
    fn segments(&self, searcher: &tantivy::Searcher) -> Result<Vec<Segment>> {
        let mut columns = self.ts_columns.lock().unwrap_or_else(|e| e.into_inner());
        let readers = searcher.segment_readers();
        columns.retain(|id, _| readers.iter().any(|r| r.segment_id() == *id));
        let mut out = Vec::with_capacity(readers.len());
        for (ord, seg) in readers.iter().enumerate() {
            let ts = match columns.get(&seg.segment_id()) {
                Some(c) => c.clone(),
                None => {
                    let c = seg.fast_fields().i64("published_ts")?;
                    columns.insert(seg.segment_id(), c.clone());
                    c
                }
            };
            out.push(Segment { ord, id: seg.segment_id(), newest: ts.max_value(), ts });
        }
        out.sort_by_key(|s| std::cmp::Reverse((s.newest, s.ord)));
        Ok(out)
    }

    /// The query that matches exactly the items whose normalized title or
    /// text contains `term` (already normalized).
    fn exact(&self, term: &str) -> Option<Box<dyn Query>> {
        exact_on(self.f.all, self.stored(), Scope::All, term)
    }

    /// Where a term the tokens cannot decide is checked (see `clauses::Verified`).
    fn stored(&self) -> Stored {
        Stored { title: self.f.display_title, text: self.f.text }
    }

    /// Score-only clauses: the jieba words of `term`, title boosted. A word
    /// in more than [`DENSE_WORD`] of the items is left out: it adds almost
    /// the same little score to every match (its idf is under ln 2), and
    /// tantivy would read its long posting list for every window of 4,096
    /// documents the required clauses pass through.
    fn ranking(&self, searcher: &tantivy::Searcher, term: &str) -> Option<Box<dyn Query>> {
        let words = tokenizer::jieba_words(term);
        let docs = searcher.num_docs() as f64;
        let rare = |t: &Term| searcher.doc_freq(t).map_or(true, |n| (n as f64) <= DENSE_WORD * docs);
        let mut should: Vec<Box<dyn Query>> = Vec::new();
        for w in words {
            // A word the n-gram fields hold as one token is read there (see `tokenizer::word_home`).
            let (in_title, in_text) = match tokenizer::word_home(&w) {
                WordHome::Ngram => (self.f.title, self.f.all),
                WordHome::Jieba => (self.f.title_seg, self.f.text_seg),
                WordHome::Unranked => continue,
            };
            let t = Term::from_field_text(in_title, &w);
            if rare(&t) {
                let q = TermQuery::new(t, IndexRecordOption::WithFreqs);
                should.push(Box::new(BoostQuery::new(Box::new(q), TITLE_SEG_BOOST)));
            }
            let t = Term::from_field_text(in_text, &w);
            if rare(&t) {
                should.push(Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)));
            }
        }
        (!should.is_empty()).then(|| Box::new(AnyOf(should)) as Box<dyn Query>)
    }

    fn hit(&self, doc: &TantivyDocument, score: f32, terms: &[&str], snippet_chars: usize) -> Hit {
        let f = &self.f;
        let s = |field: Field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let title = s(f.display_title);
        let title_norm = normalize_text(&title);
        let text = s(f.text);
        let snippet = snippet::make(&text, terms, snippet_chars.max(20));
        let title_snip = snippet::highlight_original(&title, &title_norm, terms);
        let published_at = Some(s(f.published_at)).filter(|p| !p.is_empty());
        Hit {
            id: ItemId(doc.get_first(f.id).and_then(|v| v.as_u64()).unwrap_or_default()),
            title,
            title_html: title_snip.to_html(),
            url: Some(s(f.url)).filter(|u| !u.is_empty()),
            source: s(f.source),
            unit: s(f.unit),
            kind: s(f.kind),
            role: s(f.role),
            level: s(f.level),
            published_at,
            score,
            snippet: snippet.to_html(),
            snippet_text: snippet.render("【", "】", false),
            fragment: snippet,
        }
    }
}

/// The clauses of a relevance search, by the part they play.
#[derive(Default)]
struct Tiers {
    /// Per positive term: its exact match in title or text.
    anywhere: Vec<Box<dyn Query>>,
    /// Per positive term: its exact match in the title, boosted.
    in_title: Vec<Box<dyn Query>>,
    /// Score only: each term's n-grams in the title, boosted.
    title_boost: Vec<Box<dyn Query>>,
    /// Score only: the terms' jieba words.
    ranking: Vec<Box<dyn Query>>,
}

impl Tiers {
    /// The best `want` matches in relevance order, title tier first, and the
    /// total. Without `exact_total` each read stops at its budget.
    fn collect(
        &self,
        searcher: &tantivy::Searcher,
        segments: &[Segment],
        filters: &[(Occur, Box<dyn Query>)],
        want: usize,
        exact_total: bool,
    ) -> Result<Ranked> {
        let (title_budget, budget, count_budget) = if exact_total {
            (usize::MAX, usize::MAX, usize::MAX)
        } else {
            (TITLE_BUDGET.max(want), MATCH_BUDGET, COUNT_BUDGET)
        };
        let query = |must: &[Box<dyn Query>], should: &[&[Box<dyn Query>]]| {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = filters.iter().map(|(o, q)| (*o, q.box_clone())).collect();
            clauses.extend(must.iter().map(|q| (Occur::Must, q.box_clone())));
            // One optional clause: tantivy's union of several would score
            // every document of each in windows of 4,096 (see `AnyOf`).
            let scoring: Vec<Box<dyn Query>> = should.iter().flat_map(|qs| qs.iter().map(|q| q.box_clone())).collect();
            if !scoring.is_empty() {
                clauses.push((Occur::Should, Box::new(AnyOf(scoring))));
            }
            BooleanQuery::new(clauses)
        };
        let title_q = query(&self.in_title, &[&self.ranking]);
        let title = collect(searcher, segments, &title_q, Sort::Relevance, want, title_budget, false)?;
        if title.top.len() >= want {
            // The page is all title matches: the rest is only counted.
            let count = collect(searcher, segments, &query(&self.anywhere, &[]), Sort::Newest, 0, count_budget, true)?;
            return Ok(Ranked { top: title.top, total: count.total, estimated: count.estimated });
        }
        let rest = collect(
            searcher,
            segments,
            &query(&self.anywhere, &[&self.title_boost, &self.ranking]),
            Sort::Relevance,
            want + title.top.len(),
            budget,
            true,
        )?;
        let in_title: std::collections::HashSet<DocAddress> = title.top.iter().map(|(_, a)| *a).collect();
        let rest_top: Vec<(f32, DocAddress)> = rest.top.into_iter().filter(|(_, a)| !in_title.contains(a)).collect();
        // Scores stay in descending order down the page: the title tier is
        // lifted above the best of the rest.
        let lift = rest_top.first().map_or(0.0, |(s, _)| *s);
        let mut top: Vec<(f32, DocAddress)> = title.top.into_iter().map(|(s, a)| (s + lift, a)).collect();
        top.extend(rest_top);
        top.truncate(want);
        Ok(Ranked { top, total: rest.total, estimated: rest.estimated })
    }
}

/// A segment of a searcher, for [`collect`].
struct Segment {
    ord: usize,
    id: SegmentId,
    /// The largest published time in it.
    newest: i64,
    ts: Column<i64>,
}

/// The best `want` documents and how many matched.
struct Ranked {
    top: Vec<(f32, DocAddress)>,
    total: usize,
    estimated: bool,
}

/// Runs `q` segment by segment, newest segment first (by the largest
/// published time in it), keeping the best `want` by relevance (ties: newer
/// first) or by published time. After `budget` matches it stops and
/// estimates the matches in what it did not read by sampling (see
/// [`estimate_rest`]): a segment's first documents are not a fair sample of
/// it (a rebuilt index files one feed's recent items together).
fn collect(
    searcher: &tantivy::Searcher,
    segments: &[Segment],
    q: &BooleanQuery,
    sort: Sort,
    want: usize,
    budget: usize,
    estimate: bool,
) -> Result<Ranked> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use tantivy::query::EnableScoring;
    use tantivy::{DocSet, TERMINATED};

    /// Ranking key: score, then published time, then the earlier document.
    struct Key(f32, i64, Reverse<(u32, u32)>);
    impl Ord for Key {
        fn cmp(&self, o: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&o.0).then(self.1.cmp(&o.1)).then(self.2.cmp(&o.2))
        }
    }
    impl PartialOrd for Key {
        fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(o))
        }
    }
    impl PartialEq for Key {
        fn eq(&self, o: &Self) -> bool {
            self.cmp(o).is_eq()
        }
    }
    impl Eq for Key {}

    let scoring = if sort == Sort::Relevance {
        EnableScoring::enabled_from_searcher(searcher)
    } else {
        EnableScoring::disabled_from_searcher(searcher)
    };
    let weight = q.weight(scoring)?;

    // A min-heap (via Reverse) of the best `want` keys seen.
    let mut best: BinaryHeap<Reverse<Key>> = BinaryHeap::with_capacity(want + 1);
    let mut matched = 0usize;
    // Where the reading stopped: (segment ordinal, first document not read).
    let mut stopped: Option<(usize, u32)> = None;
    for &Segment { ord, ref ts, .. } in segments {
        let seg = searcher.segment_reader(ord as u32);
        let alive = seg.alive_bitset();
        let mut scorer = weight.scorer(seg, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                matched += 1;
                let t = ts.first(doc).unwrap_or(i64::MIN);
                let key = match sort {
                    Sort::Relevance => Key(scorer.score(), t, Reverse((ord as u32, doc))),
                    Sort::Newest => Key(0.0, t, Reverse((ord as u32, doc))),
                    Sort::Oldest => Key(0.0, t.saturating_neg(), Reverse((ord as u32, doc))),
                };
                if best.len() < want {
                    best.push(Reverse(key));
                } else if best.peek().is_some_and(|Reverse(min)| key > *min) {
                    best.pop();
                    best.push(Reverse(key));
                }
                if matched >= budget {
                    stopped = Some((ord, doc + 1));
                    break;
                }
            }
            doc = scorer.advance();
        }
        if stopped.is_some() {
            break;
        }
    }
    let total = match stopped {
        None => matched,
        Some(_) if !estimate => matched,
        Some((at, from)) => {
            // The rest of the segment it stopped in, and every segment after it.
            let rest =
                segments.iter().map(|s| s.ord).skip_while(|&o| o != at).map(|o| (o, if o == at { from } else { 0 }));
            let rest: Vec<(usize, u32, u32)> =
                rest.map(|(o, from)| (o, from, searcher.segment_reader(o as u32).max_doc())).collect();
            let rest_docs: u64 = rest.iter().map(|&(_, from, end)| u64::from(end.saturating_sub(from))).sum();
            // Which documents match depends only on the required and
            // excluded clauses: estimating the total reads those alone.
            let filter = BooleanQuery::new(
                q.clauses().iter().filter(|(o, _)| *o != Occur::Should).map(|(o, c)| (*o, c.box_clone())).collect(),
            );
            let counting = filter.weight(EnableScoring::disabled_from_searcher(searcher))?;
            // A date filter's documents cluster (items are indexed as they
            // appear): the windows then count in its documents, not in all.
            let days =
                q.clauses().iter().find_map(|(o, c)| (*o == Occur::Must).then_some(c)?.downcast_ref::<DayRange>());
            let mut estimate = matched as f64;
            for (o, from, end) in rest {
                let seg = searcher.segment_reader(o as u32);
                let within = days.map(|d| d.docs(seg)).transpose()?;
                // The windows go to the ranges by their size, at least one each.
                let share = u64::from(end.saturating_sub(from)) as f64 / rest_docs.max(1) as f64;
                let windows = ((SAMPLE_WINDOWS as f64 * share).round() as u32).max(1);
                estimate += estimate_rest(&*counting, seg, from, windows, within.as_deref())?;
            }
            estimate.round() as usize
        }
    };
    let mut top: Vec<Key> = best.into_iter().map(|Reverse(k)| k).collect();
    top.sort_by(|a, b| b.cmp(a));
    Ok(Ranked {
        top: top.into_iter().map(|Key(score, _, Reverse((seg, doc)))| (score, DocAddress::new(seg, doc))).collect(),
        total,
        estimated: stopped.is_some(),
    })
}

/// Estimates how many live documents of `seg` from `from` on match, by
/// reading `windows` evenly spaced windows that tile the range, each until
/// [`SAMPLE_MATCHES`] matches or its end: a window read to its end counts
/// exactly, one cut short stands for itself at the density seen (the
/// negative-binomial estimate (m − 1) / (documents read − 1), which unlike
/// m / documents is not biased upwards). Phrase matches cost position reads,
/// so the sample is bounded by matches, not documents. With `within`, the
/// documents of a required filter, the density is per document of it: a
/// window that meets a cluster of them stands for the filter's documents in
/// the window, not for all its documents.
fn estimate_rest(
    weight: &dyn tantivy::query::Weight,
    seg: &tantivy::SegmentReader,
    from: u32,
    windows: u32,
    within: Option<&tantivy::BitSet>,
) -> Result<f64> {
    use tantivy::{DocSet, TERMINATED};
    let end = seg.max_doc();
    if from >= end {
        return Ok(0.0);
    }
    let alive = seg.alive_bitset();
    let mut scorer = weight.scorer(seg, 1.0)?;
    let span = (end - from) as f64 / windows as f64;
    // Documents in `a..b` that could match at all.
    let size = |a: u32, b: u32| within.map_or(f64::from(b - a), |bits| count_in(bits, a, b) as f64);
    let mut estimate = 0.0;
    for w in 0..windows {
        let start = from + (span * w as f64) as u32;
        let stop = (from + (span * (w + 1) as f64) as u32).min(end);
        if stop <= start {
            continue;
        }
        let mut doc = scorer.doc();
        if doc < start {
            doc = scorer.seek(start);
        }
        let mut hits = 0usize;
        let mut last = start;
        while doc != TERMINATED && doc < stop && hits < SAMPLE_MATCHES {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                hits += 1;
            }
            last = doc;
            doc = scorer.advance();
        }
        let read = size(start, last);
        estimate += if hits < SAMPLE_MATCHES || read < 1.0 {
            hits as f64
        } else {
            (hits - 1) as f64 * size(start, stop) / read
        };
        if doc == TERMINATED {
            break;
        }
    }
    Ok(estimate)
}

/// How many of `bits` lie in `from..to`.
fn count_in(bits: &tantivy::BitSet, from: u32, to: u32) -> u64 {
    let to = to.min(bits.max_value());
    let mut n = 0u64;
    let mut d = from;
    while d < to && !d.is_multiple_of(64) {
        n += u64::from(bits.contains(d));
        d += 1;
    }
    while d + 64 <= to {
        n += u64::from(bits.tinyset(d / 64).len());
        d += 64;
    }
    while d < to {
        n += u64::from(bits.contains(d));
        d += 1;
    }
    n
}

/// Exact substring match of `term` (normalized) on one n-gram field (see the
/// tokenizer doc): a term query for one token, a phrase at character offsets
/// for more, using only as many overlapping bigrams as it takes to cover
/// every character; a lone character alone matches any token that holds it.
/// Where the tokens cannot decide alone — the term has punctuation or
/// spaces, which are not indexed, or a lone character next to them whose
/// neighbours in a document are unknown — the candidates are checked
/// against the stored normalized text ([`Verified`]), in `scope`.
fn exact_on(field: Field, stored: Stored, scope: Scope, term: &str) -> Option<Box<dyn Query>> {
    let plan = plan_exact(term)?;
    let q: Box<dyn Query> = match plan.shape {
        Shape::Token(t) => Box::new(TermQuery::new(Term::from_field_text(field, &t), IndexRecordOption::WithFreqs)),
        Shape::Regex(p) => Box::new(RegexQuery::from_pattern(&p, field).ok()?),
        Shape::Phrase(pieces) if pieces.iter().all(|(_, p)| matches!(p, Piece::Token(_))) => {
            Box::new(PhraseQuery::new_with_offset(
                pieces.into_iter().map(|(at, p)| (at, Term::from_field_text(field, p.text()))).collect(),
            ))
        }
        Shape::Phrase(pieces) => Box::new(RegexPhraseQuery::new_with_offset(
            field,
            pieces
                .into_iter()
                .map(|(at, p)| match p {
                    Piece::Token(t) => (at, regex::escape(&t)),
                    Piece::Regex(r) => (at, r),
                })
                .collect(),
        )),
    };
    Some(if plan.verify { Box::new(Verified::new(q, term, scope, stored)) } else { q })
}

/// Every token of `term`'s exact match present in `field`, anywhere: a
/// superset of [`exact_on`] that reads no positions and no stored text, for
/// ranking. (A lone character's regex is left out of a phrase's tokens.)
fn loose_on(field: Field, term: &str) -> Option<Box<dyn Query>> {
    let term_q = |t: &str| -> Box<dyn Query> {
        Box::new(TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::WithFreqs))
    };
    match plan_exact(term)?.shape {
        Shape::Token(t) => Some(term_q(&t)),
        Shape::Regex(p) => Some(Box::new(RegexQuery::from_pattern(&p, field).ok()?)),
        Shape::Phrase(pieces) => {
            let must: Vec<(Occur, Box<dyn Query>)> = pieces
                .iter()
                .filter_map(|(_, p)| match p {
                    Piece::Token(t) => Some((Occur::Must, term_q(t))),
                    Piece::Regex(_) => None,
                })
                .collect();
            (!must.is_empty()).then(|| Box::new(BooleanQuery::new(must)) as Box<dyn Query>)
        }
    }
}

/// How the index finds a term (see [`plan_exact`]).
#[derive(Debug, PartialEq)]
struct ExactPlan {
    shape: Shape,
    /// The tokens find a superset: check each candidate's stored text.
    verify: bool,
}

#[derive(Debug, PartialEq)]
enum Shape {
    /// One token.
    Token(String),
    /// One character in any token (a regex over the terms), position-free.
    Regex(String),
    /// Pieces at character offsets.
    Phrase(Vec<(usize, Piece)>),
}

#[derive(Debug, PartialEq)]
enum Piece {
    Token(String),
    /// A character that may go on into a longer run after it: `c` or `c.`.
    Regex(String),
}

impl Piece {
    fn text(&self) -> &str {
        match self {
            Piece::Token(t) | Piece::Regex(t) => t,
        }
    }
}

/// What the exact match of `term` (normalized) reads: `None` when the term
/// has no letter, digit, Han character or mark at all.
///
/// A document holds every bigram of the query's runs, and every mark,
/// wherever the term occurs, so those are always exact. A query run of one
/// character `c` is a token of the document only where the document's run
/// is one character too, or where `c` touches a run of the other kind or a
/// mark (the tokenizer writes a run's edge characters there). So, by what is
/// next to `c` in the term: another kind of run or a mark on either side,
/// or unindexed punctuation on both: the token `c`. Unindexed punctuation
/// before it and the term's end after it: the document's run starts at `c`
/// and may go on, so `c` or any bigram starting with `c` (a regex piece).
/// The term's start before it and unindexed punctuation after it: the
/// document's run may start earlier, and no piece at that offset says so:
/// the piece is left out and the stored text decides, as it does for every
/// term holding unindexed punctuation or spaces.
fn plan_exact(term: &str) -> Option<ExactPlan> {
    use tokenizer::Class;
    let chars: Vec<char> = term.chars().collect();
    let class_at = |i: Option<usize>| i.and_then(|i| chars.get(i)).map(|c| tokenizer::class(*c));
    let mut toks: Vec<(usize, usize, String)> = Vec::new(); // (char start, char end, text)
    tokenizer::ngram_tokens(term, |t| {
        let len = t.text.chars().count();
        toks.push((t.position, t.position + len, t.text));
    });
    // A lone character that a bigram of the term covers is a run's edge:
    // documents have it alone only where *their* run ends, so the bigrams
    // stand for it.
    let bigram_at: Vec<usize> = toks.iter().filter(|t| t.1 - t.0 == 2).map(|t| t.0).collect();
    toks.retain(|(s, e, _)| !(e - s == 1 && bigram_at.iter().any(|b| *b == *s || *b + 1 == *s)));
    let mut verify = chars.iter().any(|c| tokenizer::class(*c) == Class::Other);
    if let [(0, 1, only)] = toks.as_slice()
        && chars.len() == 1
        && tokenizer::class(chars[0]) != Class::Mark
    {
        // The whole term is one character: any token that holds it.
        let c = regex::escape(only);
        return Some(ExactPlan { shape: Shape::Regex(format!("{c}|{c}.|.{c}")), verify: false });
    }
    let mut pieces: Vec<(usize, usize, Piece)> = Vec::new();
    let mut dropped: Option<String> = None;
    for (s, e, text) in toks {
        if e - s == 2 {
            pieces.push((s, e, Piece::Token(text)));
            continue;
        }
        let own = class_at(Some(s));
        let other_kind = |k: Option<Class>| k.is_some_and(|k| k != Class::Other && Some(k) != own);
        let (left, right) = (class_at(s.checked_sub(1)), class_at(Some(e)));
        let both_unindexed = left == Some(Class::Other) && right == Some(Class::Other);
        if own == Some(Class::Mark) || other_kind(left) || other_kind(right) || both_unindexed {
            pieces.push((s, e, Piece::Token(text)));
        } else if left == Some(Class::Other) {
            // The term ends here: the document's run may go on.
            let c = regex::escape(&text);
            pieces.push((s, e, Piece::Regex(format!("{c}|{c}."))));
        } else {
            // The term starts here and punctuation follows.
            verify = true;
            dropped.get_or_insert(text);
        }
    }
    // The fewest pieces that cover every character the pieces cover.
    let end = pieces.iter().map(|p| p.1).max().unwrap_or(0);
    let last = pieces.len().saturating_sub(1);
    let mut chosen: Vec<(usize, Piece)> = Vec::new();
    let mut covered = 0;
    for (i, (s, e, piece)) in pieces.into_iter().enumerate() {
        let regex = matches!(piece, Piece::Regex(_));
        if s >= covered || (i == last && covered < end) || regex {
            chosen.push((s, piece));
            covered = covered.max(e);
        }
    }
    let shape = match chosen.len() {
        0 => {
            // Only a dropped character: any token that holds it, checked.
            let c = regex::escape(&dropped?);
            Shape::Regex(format!("{c}|{c}.|.{c}"))
        }
        1 => match chosen.pop().map(|(_, p)| p)? {
            Piece::Token(t) => Shape::Token(t),
            Piece::Regex(r) => Shape::Regex(r),
        },
        _ => Shape::Phrase(chosen),
    };
    Some(ExactPlan { shape, verify })
}

/// A day as the `published_day` field holds it.
fn china_day(d: NaiveDate) -> i64 {
    i64::from(d.num_days_from_ce())
}

fn read_payload(index: &Index) -> Payload {
    index
        .load_metas()
        .ok()
        .and_then(|m| m.payload)
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or(Payload { schema: SCHEMA_VERSION, rev: 0 })
}

fn clear_dir(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    #[default]
    Relevance,
    Newest,
    Oldest,
}

impl std::str::FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "relevance" => Ok(Sort::Relevance),
            "newest" | "date" => Ok(Sort::Newest),
            "oldest" => Ok(Sort::Oldest),
            _ => Err(format!("unknown sort {s:?}; expected relevance, newest or oldest")),
        }
    }
}

/// Results a search lists at most, counted from the first (offset + limit).
pub const MAX_WINDOW: usize = 100_000;

/// The offset and limit (at least 1) within [`MAX_WINDOW`].
fn window(offset: usize, limit: usize) -> (usize, usize) {
    let offset = offset.min(MAX_WINDOW - 1);
    (offset, limit.clamp(1, MAX_WINDOW - offset))
}

/// A search as the CLI and the console ask it.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub sources: Vec<String>,
    pub units: Vec<String>,
    pub kinds: Vec<String>,
    pub roles: Vec<String>,
    pub levels: Vec<String>,
    /// First day included (Asia/Shanghai).
    pub since: Option<NaiveDate>,
    /// Last day included (Asia/Shanghai).
    pub until: Option<NaiveDate>,
    pub limit: usize,
    pub offset: usize,
    pub sort: Sort,
    /// Snippet length in characters.
    pub snippet_chars: usize,
    /// Count every match even when there are very many (slower for queries
    /// that match most items; see `MATCH_BUDGET`).
    pub exact_total: bool,
}

impl SearchRequest {
    pub fn new(query: impl Into<String>) -> Self {
        SearchRequest {
            query: query.into(),
            sources: Vec::new(),
            units: Vec::new(),
            kinds: Vec::new(),
            roles: Vec::new(),
            levels: Vec::new(),
            since: None,
            until: None,
            limit: 20,
            offset: 0,
            sort: Sort::Relevance,
            snippet_chars: 120,
            exact_total: false,
        }
    }
}

/// One search hit. The JSON field names are a contract (`govwatch search --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub id: ItemId,
    pub title: String,
    /// The title, HTML-escaped, with the query terms in `<b>`.
    pub title_html: String,
    pub url: Option<String>,
    pub source: String,
    pub unit: String,
    pub kind: String,
    pub role: String,
    pub level: String,
    /// RFC 3339 with the zone the source gave (or +08:00 assumed).
    pub published_at: Option<String>,
    pub score: f32,
    /// HTML-escaped fragment of the normalized text with the terms in `<b>`.
    pub snippet: String,
    /// The same fragment as plain text with the terms in 【】.
    pub snippet_text: String,
    /// The fragment and its highlight ranges, for other renderings.
    #[serde(skip)]
    pub fragment: snippet::Snippet,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// All matching items (the hits are one page of them).
    pub total: usize,
    /// True when `total` is an estimate: the query matched so many items that
    /// the search stopped counting (ask with `exact_total` for the count).
    pub total_is_estimate: bool,
    pub hits: Vec<Hit>,
    pub took_ms: f64,
    /// What of the query was left out or cut (see `query::MAX_TERMS`), in
    /// Chinese for the officer; empty when nothing was.
    pub notices: Vec<String>,
}

/// Parses `YYYY-MM-DD`, saying what was wrong.
pub fn parse_day(s: &str) -> Result<NaiveDate> {
    match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        Ok(d) => Ok(d),
        Err(_) => bail!("不是日期：{s:?}（应为 YYYY-MM-DD，如 2026-03-01）"),
    }
}

/// For display: RFC 3339 → `2026-03-01 09:30` in the time's own zone.
pub fn display_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

#[cfg(test)]
mod tests {
    use super::{ExactPlan, Piece, Shape, count_in, plan_exact};
    use tantivy::BitSet;

    fn tok(s: &str) -> Piece {
        Piece::Token(s.into())
    }

    #[test]
    fn exact_plans_use_tokens_where_they_decide_and_the_stored_text_where_they_do_not() {
        let plan = |s: &str| plan_exact(s).unwrap();
        let phrase = |pieces: Vec<(usize, Piece)>, verify| ExactPlan { shape: Shape::Phrase(pieces), verify };
        // Runs of letters and digits are bigrams like Han runs: a piece of a number is a phrase.
        assert_eq!(
            plan("20260415"),
            phrase(vec![(0, tok("20")), (2, tok("26")), (4, tok("04")), (6, tok("15"))], false)
        );
        assert_eq!(plan("gd2"), phrase(vec![(0, tok("gd")), (1, tok("d2"))], false));
        assert_eq!(plan("12"), ExactPlan { shape: Shape::Token("12".into()), verify: false });
        // Scripts side by side: their edge characters are tokens in documents too.
        assert_eq!(plan("第2"), phrase(vec![(0, tok("第")), (1, tok("2"))], false));
        assert_eq!(plan("5g基站"), phrase(vec![(0, tok("5g")), (2, tok("基站"))], false));
        // One character: any token holding it.
        assert_eq!(plan("2"), ExactPlan { shape: Shape::Regex("2|2.|.2".into()), verify: false });
        // Marks are tokens, and documents write the edge characters of the runs they touch.
        assert_eq!(
            plan("〔2026〕2"),
            phrase(vec![(0, tok("〔")), (1, tok("20")), (3, tok("26")), (5, tok("〕")), (6, tok("2"))], false)
        );
        assert_eq!(plan("gb/t"), phrase(vec![(0, tok("gb")), (2, tok("/")), (3, tok("t"))], false));
        // A lone character after unindexed punctuation at the end may go on in a document.
        assert_eq!(plan("，2"), ExactPlan { shape: Shape::Regex("2|2.".into()), verify: true });
        assert_eq!(plan("热线，2"), phrase(vec![(0, tok("热线")), (3, Piece::Regex("2|2.".into()))], true));
        // …before it at the start it may have begun earlier: left to the stored text.
        assert_eq!(plan("t 9704"), phrase(vec![(2, tok("97")), (4, tok("04"))], true));
        assert_eq!(plan("热，"), ExactPlan { shape: Shape::Regex("热|热.|.热".into()), verify: true });
        // Between unindexed punctuation on both sides, a run of one is a token.
        assert_eq!(plan("，2。"), ExactPlan { shape: Shape::Token("2".into()), verify: true });
        assert_eq!(plan("〔"), ExactPlan { shape: Shape::Token("〔".into()), verify: false });
        assert!(plan_exact("，。").is_none());
    }

    #[test]
    fn count_in_counts_the_members_of_a_range_across_words() {
        let members = [0u32, 5, 63, 64, 65, 127, 128, 200, 299];
        let mut bits = BitSet::with_max_value(300);
        for m in members {
            bits.insert(m);
        }
        for (from, to) in [(0, 300), (0, 0), (1, 64), (63, 65), (64, 128), (60, 201), (129, 299), (129, 300), (0, 1000)]
        {
            let expected = members.iter().filter(|m| (from..to).contains(*m)).count() as u64;
            assert_eq!(count_in(&bits, from, to), expected, "{from}..{to}");
        }
    }
}
