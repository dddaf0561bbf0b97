//! Query clauses shaped for how govwatch searches (and [`Excluded`], which keeps tantivy from seeking an excluded phrase backwards).
//!
//! * [`DayRange`], the date filter, read once: the tiers of a relevance
//!   search and the estimate of its total each walk the same segments, and
//!   a range over the `published_day` field reads every day's posting list
//!   in the range. The first walk keeps each segment's matching documents as
//!   a bit set; the other walks, and later searches with the same range
//!   ([`RecentRanges`]), reuse it.
//! * [`AnyOf`], the score-only clauses: a union that moves its parts only
//!   to the documents the required clauses ask about. Tantivy's union of
//!   optional clauses fills a window of 4,096 documents at a time and scores
//!   every document of every part in it, which for a word found in a fifth
//!   of the items is hundreds of documents per match.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tantivy::index::SegmentId;
use tantivy::query::{BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::Value;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::store::StoreReader;
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyDocument, TantivyError, Term};

use crate::normalize::normalize_text;

/// Documents published on the days `from..=to` (China days, as the
/// `published_day` field holds them; `None` leaves an end open); scores 0.
/// Clones share the per-segment results.
#[derive(Clone)]
pub struct DayRange {
    field: Field,
    from: Option<i64>,
    to: Option<i64>,
    cache: ReadDays,
}

impl fmt::Debug for DayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DayRange").field("field", &self.field).field("from", &self.from).field("to", &self.to).finish()
    }
}

/// The bit sets of a day range, by segment.
type ReadDays = Arc<Mutex<HashMap<SegmentId, Arc<BitSet>>>>;

/// How many date ranges [`RecentRanges`] keeps.
const RECENT_RANGES: usize = 8;

/// The segments' bit sets of the last few date ranges searched, shared
/// between searches: duty officers filter by the same few ranges (this
/// month, the last 90 days) all day, and a segment never changes which
/// documents it holds (deleted ones are skipped by the search). At most
/// [`RECENT_RANGES`] ranges; a segment merged away is dropped.
#[derive(Default)]
pub struct RecentRanges(Mutex<Vec<(Days, ReadDays)>>);

/// A range's first and last day.
type Days = (Option<i64>, Option<i64>);

impl RecentRanges {
    /// The range's clause, sharing what earlier searches read of it.
    /// `live` are the segments of the searcher it is for.
    pub fn range(&self, field: Field, from: Option<i64>, to: Option<i64>, live: &[SegmentId]) -> DayRange {
        let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let cache = match recent.iter().position(|(k, _)| *k == (from, to)) {
            Some(i) => {
                let entry = recent.remove(i);
                entry.1.lock().unwrap_or_else(|e| e.into_inner()).retain(|id, _| live.contains(id));
                let cache = entry.1.clone();
                recent.insert(0, entry);
                cache
            }
            None => {
                let cache = ReadDays::default();
                recent.insert(0, ((from, to), cache.clone()));
                recent.truncate(RECENT_RANGES);
                cache
            }
        };
        DayRange { field, from, to, cache }
    }
}

impl DayRange {
    #[cfg(test)]
    fn new(field: Field, from: Option<i64>, to: Option<i64>) -> DayRange {
        DayRange { field, from, to, cache: Arc::default() }
    }

    /// The segment's matching documents, read on the first call.
    pub fn docs(&self, reader: &SegmentReader) -> tantivy::Result<Arc<BitSet>> {
        let id = reader.segment_id();
        if let Some(bits) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(bits.clone());
        }
        let mut bits = BitSet::with_max_value(reader.max_doc());
        let inverted = reader.inverted_index(self.field)?;
        let mut range = inverted.terms().range();
        if let Some(from) = self.from {
            range = range.ge(Term::from_field_i64(self.field, from).serialized_value_bytes());
        }
        if let Some(to) = self.to {
            range = range.le(Term::from_field_i64(self.field, to).serialized_value_bytes());
        }
        let mut days = range.into_stream()?;
        while days.advance() {
            let mut postings = inverted.read_block_postings_from_terminfo(days.value(), IndexRecordOption::Basic)?;
            while !postings.docs().is_empty() {
                for &doc in postings.docs() {
                    bits.insert(doc);
                }
                postings.advance();
            }
        }
        let bits = Arc::new(bits);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(id, bits.clone());
        Ok(bits)
    }
}

impl Query for DayRange {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(DayRangeWeight(self.clone())))
    }
}

struct DayRangeWeight(DayRange);

impl Weight for DayRangeWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let bits = BitSet::clone(&*self.0.docs(reader)?);
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(bits), 0.0)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.scorer(reader, 1.0)?.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!("document {doc} is outside the date range")));
        }
        Ok(Explanation::new("DayRange", 0.0))
    }
}

/// Scores the sum of the parts that match a document; matches a document
/// when one part does. Meant as the one `Should` clause next to required
/// ones: each part seeks (with its skip list) to the documents asked about.
#[derive(Debug)]
pub struct AnyOf(pub Vec<Box<dyn Query>>);

impl Clone for AnyOf {
    fn clone(&self) -> Self {
        AnyOf(self.0.iter().map(|q| q.box_clone()).collect())
    }
}

impl Query for AnyOf {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let parts = self.0.iter().map(|q| q.weight(scoring)).collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(AnyOfWeight(parts)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for q in &self.0 {
            q.query_terms(visitor);
        }
    }
}

struct AnyOfWeight(Vec<Box<dyn Weight>>);

impl Weight for AnyOfWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut parts = Vec::with_capacity(self.0.len());
        for w in &self.0 {
            let s = w.scorer(reader, boost)?;
            if s.doc() != TERMINATED {
                parts.push(s);
            }
        }
        let doc = parts.iter().map(|s| s.doc()).min().unwrap_or(TERMINATED);
        Ok(Box::new(AnyOfScorer { parts, doc }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut s = self.scorer(reader, 1.0)?;
        if s.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!("document {doc} matches no part")));
        }
        Ok(Explanation::new("AnyOf", s.score()))
    }
}

struct AnyOfScorer {
    parts: Vec<Box<dyn Scorer>>,
    doc: DocId,
}

impl AnyOfScorer {
    fn settle(&mut self) -> DocId {
        self.doc = self.parts.iter().map(|s| s.doc()).min().unwrap_or(TERMINATED);
        self.doc
    }
}

impl DocSet for AnyOfScorer {
    fn advance(&mut self) -> DocId {
        let doc = self.doc;
        for s in &mut self.parts {
            if s.doc() == doc {
                s.advance();
            }
        }
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for s in &mut self.parts {
            if s.doc() < target {
                s.seek(target);
            }
        }
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.parts.iter().map(|s| s.size_hint()).max().unwrap_or(0)
    }
}

impl Scorer for AnyOfScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        self.parts.iter_mut().filter(|s| s.doc() == doc).map(|s| s.score()).sum()
    }
}

/// An excluded (`-word`) clause, seeked only forward and only safely.
/// Tantivy's exclusion calls `seek_danger` on the excluded scorer for every
/// candidate, also after that scorer has run out; a phrase scorer then
/// fails its own assertion (`target (1) should be greater than or equal to
/// doc (2147483647)`: found by fuzzing the query `-------… a x`, issue 18
/// item 8). Here a seek at or behind the current document answers from it.
#[derive(Debug)]
pub struct Excluded(pub Box<dyn Query>);

impl Clone for Excluded {
    fn clone(&self) -> Self {
        Excluded(self.0.box_clone())
    }
}

impl Query for Excluded {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ExcludedWeight(self.0.weight(scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ExcludedWeight(Box<dyn Weight>);

impl Weight for ExcludedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ForwardOnly(self.0.scorer(reader, boost)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

struct ForwardOnly(Box<dyn Scorer>);

impl DocSet for ForwardOnly {
    fn advance(&mut self) -> DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.0.doc();
        if doc >= target { doc } else { self.0.seek(target) }
    }

    fn seek_danger(&mut self, target: DocId) -> tantivy::SeekDangerResult {
        use tantivy::SeekDangerResult;
        let doc = self.seek(target);
        if doc == target { SeekDangerResult::Found } else { SeekDangerResult::SeekLowerBound(doc) }
    }

    fn doc(&self) -> DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }
}

impl Scorer for ForwardOnly {
    fn score(&mut self) -> Score {
        self.0.score()
    }
}

/// The stored fields a [`Verified`] term is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    /// The title as published (normalized for the check).
    pub title: Field,
    /// The normalized text.
    pub text: Field,
}

/// Where a [`Verified`] term must occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Title,
    /// The title or the text.
    All,
}

/// The documents `inner` matches whose stored normalized title (or text,
/// with [`Scope::All`]) contains `needle`; scores as `inner`. For terms the
/// tokens alone cannot decide (see `index::plan_exact`): `inner` narrows the
/// candidates to those with every indexed piece in place, so only they are
/// read from the document store.
#[derive(Debug)]
pub struct Verified {
    inner: Box<dyn Query>,
    needle: Arc<str>,
    scope: Scope,
    stored: Stored,
}

impl Verified {
    pub fn new(inner: Box<dyn Query>, needle: &str, scope: Scope, stored: Stored) -> Verified {
        Verified { inner, needle: needle.into(), scope, stored }
    }
}

impl Clone for Verified {
    fn clone(&self) -> Self {
        Verified { inner: self.inner.box_clone(), needle: self.needle.clone(), scope: self.scope, stored: self.stored }
    }
}

impl Query for Verified {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(VerifiedWeight {
            inner: self.inner.weight(scoring)?,
            needle: self.needle.clone(),
            scope: self.scope,
            stored: self.stored,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct VerifiedWeight {
    inner: Box<dyn Weight>,
    needle: Arc<str>,
    scope: Scope,
    stored: Stored,
}

/// Blocks of the document store kept decompressed per scorer: candidates
/// come in document order, so neighbours share a block.
const STORE_CACHE_BLOCKS: usize = 4;

impl Weight for VerifiedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut s = VerifiedScorer {
            inner: self.inner.scorer(reader, boost)?,
            store: reader.get_store_reader(STORE_CACHE_BLOCKS)?,
            needle: self.needle.clone(),
            scope: self.scope,
            stored: self.stored,
        };
        s.settle();
        Ok(Box::new(s))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut s = self.scorer(reader, 1.0)?;
        if s.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!("document {doc} does not contain the term")));
        }
        Ok(Explanation::new("Verified", s.score()))
    }
}

struct VerifiedScorer {
    inner: Box<dyn Scorer>,
    store: StoreReader,
    needle: Arc<str>,
    scope: Scope,
    stored: Stored,
}

impl VerifiedScorer {
    /// Whether the stored document holds the needle. A document the store
    /// cannot give back counts as a match: a search never hides what its
    /// tokens found.
    fn holds(&self, doc: DocId) -> bool {
        let Ok(d) = self.store.get::<TantivyDocument>(doc) else {
            return true;
        };
        let field = |f: Field| d.get_first(f).and_then(|v| v.as_str()).unwrap_or_default();
        let title = field(self.stored.title);
        // Titles are stored as published; the text is stored normalized.
        if !title.is_empty() && normalize_text(title).contains(&*self.needle) {
            return true;
        }
        self.scope == Scope::All && field(self.stored.text).contains(&*self.needle)
    }

    /// Moves on from the inner scorer's document to the first that holds the needle.
    fn settle(&mut self) -> DocId {
        let mut doc = self.inner.doc();
        while doc != TERMINATED && !self.holds(doc) {
            doc = self.inner.advance();
        }
        doc
    }
}

impl DocSet for VerifiedScorer {
    fn advance(&mut self) -> DocId {
        if self.inner.advance() == TERMINATED {
            return TERMINATED;
        }
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.inner.doc() >= target {
            return self.inner.doc();
        }
        if self.inner.seek(target) == TERMINATED {
            return TERMINATED;
        }
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for VerifiedScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::{Count, TopDocs};
    use tantivy::query::{AllQuery, BooleanQuery, Occur, TermQuery};
    use tantivy::schema::{INDEXED, STRING, Schema};
    use tantivy::{Index, TantivyDocument};

    /// Documents "a", "b", "a b", "c" (one word each in `w`), their day in `d`.
    fn index() -> (Index, Field, Field) {
        let mut b = Schema::builder();
        let w = b.add_text_field("w", STRING);
        let d = b.add_i64_field("d", INDEXED);
        let index = Index::create_in_ram(b.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for (i, words) in [&["a"][..], &["b"], &["a", "b"], &["c"]].iter().enumerate() {
            let mut doc = TantivyDocument::new();
            for word in *words {
                doc.add_text(w, word);
            }
            doc.add_i64(d, 100 + i as i64);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
        (index, w, d)
    }

    fn term(f: Field, s: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(Term::from_field_text(f, s), IndexRecordOption::WithFreqs))
    }

    /// Documents (by their day) with their scores, best first.
    fn run(index: &Index, q: &dyn Query) -> Vec<(f32, u64)> {
        let searcher = index.reader().unwrap().searcher();
        let top = searcher.search(q, &TopDocs::with_limit(10).order_by_score()).unwrap();
        top.into_iter().map(|(s, a)| (s, u64::from(a.doc_id))).collect()
    }

    #[test]
    fn any_of_matches_where_a_part_does_and_scores_their_sum() {
        let (index, w, _) = index();
        let any = AnyOf(vec![term(w, "a"), term(w, "b")]);
        let got = run(&index, &any);
        let mut docs: Vec<u64> = got.iter().map(|g| g.1).collect();
        docs.sort();
        assert_eq!(docs, [0, 1, 2]);
        let alone = |s: &str, doc: u64| run(&index, &*term(w, s)).into_iter().find(|g| g.1 == doc).unwrap().0;
        let both = got.iter().find(|g| g.1 == 2).unwrap().0;
        assert!((both - (alone("a", 2) + alone("b", 2))).abs() < 1e-4, "{both}");
        assert_eq!(got[0].1, 2, "the document with both ranks first: {got:?}");

        // As the optional clause next to a required one: every required
        // document matches, those with a part score more.
        let q = BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::Should, Box::new(any.clone())),
        ]);
        let got = run(&index, &q);
        assert_eq!(got.len(), 4);
        assert_eq!(got[3].1, 3, "the document with no part ranks last: {got:?}");
    }

    #[test]
    fn day_range_matches_the_days_and_is_read_once_per_segment() {
        let (index, _, d) = index();
        let searcher = index.reader().unwrap().searcher();
        let range = DayRange::new(d, Some(101), Some(102));
        let count = |q: &dyn Query| searcher.search(q, &Count).unwrap();
        assert_eq!(count(&range), 2);
        assert_eq!(count(&range.clone()), 2);
        assert_eq!(range.cache.lock().unwrap().len(), 1, "clones share what was read");
        assert_eq!(count(&DayRange::new(d, None, Some(100))), 1);
        assert_eq!(count(&DayRange::new(d, Some(103), None)), 1);
        assert_eq!(count(&DayRange::new(d, Some(104), None)), 0);

        // Later searches with the same range reuse it; another range does not.
        let live: Vec<SegmentId> = searcher.segment_readers().iter().map(|r| r.segment_id()).collect();
        let recent = RecentRanges::default();
        let first = recent.range(d, Some(101), Some(102), &live);
        assert_eq!(count(&first), 2);
        assert_eq!(recent.range(d, Some(101), Some(102), &live).cache.lock().unwrap().len(), 1);
        assert_eq!(recent.range(d, Some(101), None, &live).cache.lock().unwrap().len(), 0);
        // A segment that is no longer searched is dropped.
        assert_eq!(recent.range(d, Some(101), Some(102), &[]).cache.lock().unwrap().len(), 0);
        for day in 0..RECENT_RANGES as i64 {
            recent.range(d, Some(day), None, &live);
        }
        assert_eq!(recent.0.lock().unwrap().len(), RECENT_RANGES);
    }
}
