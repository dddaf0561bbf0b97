//! One poll of one source, end to end: fetch (conditional) → parse → follow
//! entry pages → normalize → upsert into the store → record health. The index
//! is brought up to date from the store afterwards (`SearchIndex::sync`), once
//! per batch of polls.
//!
//! A failing source records its error and backoff on its own row and never
//! stops the others.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, FixedOffset};
use futures::StreamExt;
use serde::Serialize;
use url::Url;

use crate::config::{Config, Fetch, SourceConfig};
use crate::model::{Item, ItemKind, ParsedItem, SourceKind, item_id};
use crate::normalize::identity::assign_keys;
use crate::normalize::{SourceInfo, item_key, to_item};
use crate::sources::address::AddressPolicy;
use crate::sources::fetch::{Body, Fetched, Fetcher, LinkScope};
use crate::sources::page::{self, Selectors};
use crate::sources::{charset, feed};
use crate::store::{Store, UpsertCounts};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PollStatus {
    /// Fetched and parsed; items stored.
    Ok,
    /// The server (or file) said nothing changed.
    NotModified,
    Error,
    /// Not polled (an export source, or disabled).
    Skipped,
}

impl PollStatus {
    /// For officers' eyes (the glossary's word).
    pub fn zh(self) -> &'static str {
        crate::glossary::poll_status(self)
    }
}

/// What polling one source did. Field names are part of `govwatch poll --json`.
#[derive(Debug, Clone, Serialize)]
pub struct PollReport {
    pub source: String,
    pub status: PollStatus,
    #[serde(flatten)]
    pub counts: UpsertCounts,
    /// Items the source listed this time.
    pub items_seen: usize,
    /// Items stored under another key than their guid or link, because a
    /// different document shares it (`normalize::identity`).
    pub collisions: usize,
    /// Entries listed twice in this fetch, stored once.
    pub duplicates: usize,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub took_ms: u64,
}

pub struct Poller {
    fetcher: Fetcher,
    store: Arc<Store>,
    fetch_cfg: Fetch,
    /// For exports: unit names and column settings.
    cfg: Arc<Config>,
    /// Who claims the export files this poller imports (`import:SOURCE:FILE`
    /// leases), and for how long: the daemon's node (whose heartbeat renews
    /// them), or this process.
    claimer: (String, i64),
}

/// How long a file claim of a process that is not a daemon node runs.
const IMPORT_CLAIM_MS: i64 = 30 * 60 * 1000;

/// When a source that has failed `failures` times in a row may be tried again.
pub fn next_attempt(cfg: &Fetch, now: DateTime<FixedOffset>, failures: u32) -> DateTime<FixedOffset> {
    let exp = failures.saturating_sub(1).min(20);
    let secs = cfg.backoff_base_secs.saturating_mul(1u64 << exp).min(cfg.backoff_max_secs.max(1));
    now + Duration::seconds(secs as i64)
}

/// Where fetched documents may lead: the configured sources' own hosts and
/// `fetch.allow_private` may be private, nothing else (`sources::address`).
pub fn address_policy(cfg: &Config) -> AddressPolicy {
    AddressPolicy::new(cfg.sources.iter().map(|s| s.url.as_str()), &cfg.fetch.allow_private)
}

/// Why a poll failed, and how long the server asked to be left alone.
struct Failure {
    message: String,
    retry_after: Option<std::time::Duration>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { message, retry_after: None }
    }
}

impl Poller {
    pub fn new(cfg: &Config, store: Arc<Store>) -> anyhow::Result<Poller> {
        Ok(Poller {
            fetcher: Fetcher::new(&cfg.fetch, Arc::new(address_policy(cfg)))?,
            store,
            fetch_cfg: cfg.fetch.clone(),
            cfg: Arc::new(cfg.clone()),
            claimer: (crate::store::nodes::process_id("cli"), IMPORT_CLAIM_MS),
        })
    }

    /// Claims export files as the daemon node `id`, whose leases run `lease_ms`.
    pub fn with_node(mut self, id: &str, lease_ms: i64) -> Poller {
        self.claimer = (id.to_string(), lease_ms);
        self
    }

    /// Polls the given sources, `fetch.concurrency` at a time, in the order given.
    pub async fn poll_all(&self, sources: &[&SourceConfig], now: DateTime<FixedOffset>) -> Vec<PollReport> {
        futures::stream::iter(sources.iter().map(|s| self.poll(s, now)))
            .buffered(self.fetch_cfg.concurrency.max(1))
            .collect()
            .await
    }

    /// Polls one source now, whatever its backoff says (the caller decides
    /// whether to wait; see `SourceHealth::next_attempt`).
    pub async fn poll(&self, src: &SourceConfig, now: DateTime<FixedOffset>) -> PollReport {
        let started = Instant::now();
        let mut report = PollReport {
            source: src.id.clone(),
            status: PollStatus::Ok,
            counts: UpsertCounts::default(),
            items_seen: 0,
            collisions: 0,
            duplicates: 0,
            error: None,
            warnings: Vec::new(),
            took_ms: 0,
        };
        let result = if src.kind == SourceKind::Export {
            self.import_pending(src, now, &mut report).await
        } else {
            self.poll_inner(src, now, &mut report).await
        };
        if let Err(Failure { message, retry_after }) = result {
            report.status = PollStatus::Error;
            // A server's Retry-After pushes the next attempt out further than the backoff would.
            let asked = retry_after.and_then(|d| Duration::from_std(d).ok()).map(|d| now + d);
            let recorded = self.store.record_failure(&src.id, now, &message, |n| {
                let backoff = next_attempt(&self.fetch_cfg, now, n);
                asked.map_or(backoff, |a| a.max(backoff))
            });
            if let Err(e) = recorded {
                tracing::error!(source = %src.id, error = %format!("{e:#}"), "failed to record a poll failure");
            }
            tracing::warn!(source = %src.id, error = %message, "poll failed");
            report.error = Some(message);
        }
        report.took_ms = started.elapsed().as_millis() as u64;
        report
    }

    async fn poll_inner(
        &self,
        src: &SourceConfig,
        now: DateTime<FixedOffset>,
        report: &mut PollReport,
    ) -> Result<(), Failure> {
        let validators = self.store.validators(&src.id).map_err(|e| format!("{e:#}"))?;
        let fetched = self
            .fetcher
            .get(&src.url, &validators)
            .await
            .map_err(|e| Failure { message: e.to_string(), retry_after: e.retry_after() })?;
        let mut body = match fetched {
            Fetched::NotModified => {
                report.status = PollStatus::NotModified;
                self.store.record_success(&src.id, now, true, None, None, &[]).map_err(|e| format!("{e:#}"))?;
                return Ok(());
            }
            Fetched::Body(b) => b,
        };
        let validators = std::mem::take(&mut body.validators);
        let (parsed, warnings) = match src.kind {
            SourceKind::Feed => {
                let out = off_thread(move || {
                    feed::parse(&body.bytes, body.content_type.as_deref(), Some(&body.url))
                        .map_err(|e| format!("{}：{e}", body.url))
                })
                .await??;
                report.items_seen = out.items.len();
                let mut items = out.items;
                self.identify(src, &mut items, report)?;
                (items, out.warnings)
            }
            SourceKind::Page => self.read_pages(src, body, report).await?,
            SourceKind::Export => unreachable!("exports return early"),
        };
        report.warnings.splice(0..0, warnings);
        let info = SourceInfo {
            id: &src.id,
            unit: &src.unit,
            kind: ItemKind::of(src.kind, src.role),
            role: src.role,
            level: src.level,
        };
        let items: Vec<Item> = parsed.into_iter().map(|p| to_item(info, p, now)).collect();
        let store = self.store.clone();
        let outcome = tokio::task::spawn_blocking(move || store.upsert_items(&items))
            .await
            .map_err(|e| format!("写入数据库时中断：{e}"))?
            .map_err(|e| format!("条目写入数据库失败：{e:#}"))?;
        report.counts = outcome.counts;
        self.store
            .record_success(&src.id, now, false, Some(report.items_seen as u64), Some(&validators), &report.warnings)
            .map_err(|e| format!("{e:#}"))?;
        Ok(())
    }

    /// An export source: imports the files waiting in its drop folder (or its
    /// file, when it changed).
    async fn import_pending(
        &self,
        src: &SourceConfig,
        now: DateTime<FixedOffset>,
        report: &mut PollReport,
    ) -> Result<(), Failure> {
        let (store, cfg, src2, claimer) = (self.store.clone(), self.cfg.clone(), src.clone(), self.claimer.clone());
        let reports = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<crate::import::ImportReport>> {
            let files = crate::import::pending_files(&store, &src2)?;
            let mut reports = Vec::with_capacity(files.len());
            for f in &files {
                // A drop folder several nodes (or a node and `govwatch import`)
                // see: each file is imported by the one that claims it.
                let lease = format!("import:{}:{}", src2.id, f.display());
                let t = chrono::Utc::now().timestamp_millis();
                if !store.claim(&lease, &claimer.0, t, claimer.1)? {
                    tracing::info!(source = %src2.id, file = %f.display(), "another node is importing this file");
                    continue;
                }
                reports.push(crate::import::import_file(&cfg, &store, &src2, f, now, &mut |_| {}));
                store.release(&lease, &claimer.0)?;
            }
            Ok(reports)
        })
        .await
        .map_err(|e| format!("导入时中断：{e}"))?
        .map_err(|e| format!("{e:#}"))?;
        if reports.is_empty() {
            report.status = PollStatus::NotModified;
            self.store.record_success(&src.id, now, true, None, None, &[]).map_err(|e| format!("{e:#}"))?;
            return Ok(());
        }
        let mut errors = Vec::new();
        for r in &reports {
            report.items_seen += r.rows;
            report.counts.new += r.new;
            report.counts.updated += r.updated;
            report.counts.unchanged += r.unchanged;
            match &r.error {
                Some(e) => errors.push(format!("{}：{e}（整个文件已隔离，文件改动后才会再次读取）", r.file)),
                None => {
                    if r.quarantined > 0 {
                        report
                            .warnings
                            .push(format!("{}：{} 行进入隔离区（govwatch quarantine 查看）", r.file, r.quarantined));
                    }
                    for (name, n) in &r.unknown_units {
                        report.warnings.push(format!(
                            "{}：承办单位「{name}」不是已配置的单位（{n} 行已归入 {}）",
                            r.file,
                            self.cfg.unit(&src.unit).map_or(src.unit.as_str(), |u| u.name.as_str())
                        ));
                    }
                    for line in crate::import::standing_lines(r, src) {
                        report.warnings.push(format!("{}: {line}", r.file));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("; ").into());
        }
        self.store
            .record_success(&src.id, now, false, Some(report.items_seen as u64), None, &report.warnings)
            .map_err(|e| format!("{e:#}"))?;
        Ok(())
    }

    /// Gives each item of one fetch the key it is stored under, so that
    /// different documents sharing a guid or link are not merged
    /// (`normalize::identity`), and counts what it did in the report.
    fn identify(&self, src: &SourceConfig, items: &mut Vec<ParsedItem>, report: &mut PollReport) -> Result<(), String> {
        let failed = std::cell::RefCell::new(None);
        let assigned = assign_keys(items, src.kind == SourceKind::Page, &|key| match self
            .store
            .stored_identity(item_id(&src.id, key))
        {
            Ok(s) => s,
            Err(e) => {
                failed.borrow_mut().get_or_insert_with(|| format!("{e:#}"));
                None
            }
        });
        if let Some(e) = failed.into_inner() {
            return Err(format!("读取库中已有条目失败：{e}"));
        }
        report.collisions = assigned.collisions;
        report.duplicates = assigned.duplicates;
        report.warnings.extend(assigned.warnings);
        Ok(())
    }

    /// Reads a column: the first list page (already fetched), the next ones
    /// up to `page.pages`, then each new entry's own page if `page.follow`.
    async fn read_pages(
        &self,
        src: &SourceConfig,
        first: Body,
        report: &mut PollReport,
    ) -> Result<(Vec<ParsedItem>, Vec<String>), String> {
        let cfg = src.page.clone().unwrap_or_default();
        let sel = Arc::new(Selectors::new(&cfg).map_err(|e| e.to_string())?);
        let mut warnings = Vec::new();
        // Links in these documents lead only where the source's own url allows.
        let scope = LinkScope::of_source(&src.url);
        let first_url = first.url.to_string();
        let (list, decoded) = list_page(first, sel.clone()).await?;
        warnings.extend(decoded);
        let list = list.map_err(|e| e.to_string())?;
        let mut items = list.items;
        warnings.extend(list.warnings);
        let mut next = list.next;
        let mut seen_pages: HashSet<String> = HashSet::from([first_url]);
        for _ in 1..cfg.pages() {
            let Some(url) = next.take().filter(|u| seen_pages.insert(u.clone())) else {
                break;
            };
            match self.fetcher.get_linked(&url, &scope).await {
                Ok(b) => {
                    let (list, decoded) = list_page(b, sel.clone()).await?;
                    warnings.extend(decoded);
                    match list {
                        Ok(l) => {
                            items.extend(l.items);
                            warnings.extend(l.warnings);
                            next = l.next;
                        }
                        Err(e) => warnings.push(format!("列表页 {url}：{e}")),
                    }
                }
                Err(e) => warnings.push(format!("列表页：{e}")),
            }
        }
        report.items_seen = items.len();
        // Keys before following: what an entry's page says must not change
        // which stored item it is.
        self.identify(src, &mut items, report)?;
        if cfg.follow {
            self.follow(src, &sel, &cfg, &scope, &mut items, &mut warnings).await;
        }
        Ok((items, warnings))
    }

    /// Fetches the pages of entries not yet stored; entries already stored
    /// keep what their page said before (so an unchanged list writes nothing).
    async fn follow(
        &self,
        src: &SourceConfig,
        sel: &Arc<Selectors>,
        cfg: &crate::config::PageConfig,
        scope: &LinkScope,
        items: &mut [ParsedItem],
        warnings: &mut Vec<String>,
    ) {
        let mut to_fetch = Vec::new();
        for (i, it) in items.iter_mut().enumerate() {
            let id = item_id(&src.id, &item_key(it));
            match self.store.item(id) {
                // Entries whose page was read before keep what it said; entries
                // whose page could not be read are tried again.
                Ok(Some(stored)) if !stored.text.is_empty() => {
                    it.title = stored.title;
                    it.text = stored.text;
                    it.published = stored.published.or(it.published);
                    it.publisher = stored.publisher;
                    it.doc_no = stored.doc_no;
                    it.links = stored.refs.links.clone();
                }
                _ => {
                    if let Some(link) = it.link.clone().filter(|l| Url::parse(l).is_ok()) {
                        to_fetch.push((i, link));
                    }
                }
            }
        }
        let limit = cfg.follow_limit();
        if to_fetch.len() > limit {
            warnings.push(format!(
                "新条目 {} 条，本次只打开前 {limit} 条的正文页（page.follow_limit），其余下次再读",
                to_fetch.len()
            ));
            to_fetch.truncate(limit);
        }
        let fetched: Vec<(usize, String, Result<Body, String>)> =
            futures::stream::iter(to_fetch.into_iter().map(|(i, link)| async move {
                let r = self.fetcher.get_linked(&link, scope).await.map_err(|e| e.to_string());
                (i, link, r)
            }))
            .buffer_unordered(4)
            .collect()
            .await;
        for (i, link, r) in fetched {
            match r {
                Ok(b) => {
                    let sel = sel.clone();
                    let detail = off_thread(move || {
                        let d = charset::decode(&b.bytes, b.content_type.as_deref());
                        page::parse_detail(&d.text, Some(&b.url), &sel)
                    })
                    .await;
                    match detail {
                        Ok(d) => page::merge_detail(&mut items[i], d),
                        Err(e) => warnings.push(format!("正文页 {link}：{e}")),
                    }
                }
                Err(e) => warnings.push(format!("正文页 {link}：{e}")),
            }
        }
    }
}

/// Runs parsing off the async threads: a hostile 20 MB page takes seconds of
/// CPU, during which the console, /healthz and the watchdog keep answering.
/// A parser that panics fails this document, not the poll's thread.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| format!("解析中断（{e}）"))
}

/// Decodes and reads one list page off the async threads; the decoder's
/// warnings come back named by the page's URL.
async fn list_page(
    b: Body,
    sel: Arc<Selectors>,
) -> Result<(Result<page::ListPage, page::PageError>, Vec<String>), String> {
    off_thread(move || {
        let d = charset::decode(&b.bytes, b.content_type.as_deref());
        let warnings: Vec<String> = d.warnings.into_iter().map(|w| format!("{}: {w}", b.url)).collect();
        (page::parse_list(&d.text, &b.url, &sel), warnings)
    })
    .await
}
