//! Checking links (IO): HEAD, then GET when HEAD is refused, bounded per host.
//!
//! [`check`] asks each http(s) URL once whether it still answers. What counts:
//!
//! | answer | outcome |
//! | --- | --- |
//! | 2xx, or a 3xx left after following redirects (at most 5) | alive |
//! | HEAD answering 400, 403, 405, 406, 501 or any other 5xx | asked again with GET, which decides |
//! | HEAD failing at the protocol level (reset, closed without an answer) | asked again with GET |
//! | 401 (to HEAD or GET), 403 to GET | alive: the page exists and is protected |
//! | 404, 410, any other 4xx or 5xx to the deciding request | failed, `404 Not Found` |
//! | DNS failure, refused or failed connection, TLS failure | failed, `DNS 解析失败 (…)`, `连接被拒绝 (…)`, … |
//! | no answer within [`CheckSettings::timeout`] | failed, `超时 15 s` |
//! | more than 5 redirects, or a redirect loop | failed, `重定向过多或无效 (…)` |
//! | a link, or a redirect, to a loopback, private, link-local or metadata address that is neither a configured source's host nor in `fetch.allow_private` | failed, `拒绝访问 (…)`; nothing is sent (pages say what links are: see `sources::address`) |
//!
//! A GET reads at most [`GET_READ_LIMIT`] bytes of the body and drops the
//! rest: attachments are not downloaded. A timeout or a connection failure of
//! the HEAD is final (no GET: it would wait or fail the same way again).
//!
//! One failure is not a dead link: the store counts failures over days
//! (`store::links`, [`LinkRecord::is_dead`](crate::store::links::LinkRecord::is_dead)).
//!
//! **Skipped:** only `http://` and `https://` URLs are checked ([`checkable`]);
//! `mailto:`, `tel:`, `javascript:`, `#fragment`, relative links and local
//! file paths are left out of the result — resolve relative links against
//! their page first. An http(s) URL that does not parse is `Failed`
//! (`链接无效`), since a page carrying it has a broken link.
//!
//! **Concurrency** is bounded by a scheduler in the calling task rather than
//! by semaphores: URLs wait in one queue per host (`host:port`, as in
//! `sources::fetch`), and a request is started only while fewer than
//! [`CheckSettings::total`] are in flight and fewer than
//! [`CheckSettings::per_host`] to its host. Hosts take turns, so a slow host
//! never holds the slots of the others, and at most `total` requests (each a
//! spawned task) exist at any time, however many URLs are given. Redirects to
//! another host are followed within the original host's slot.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::task::JoinSet;
use url::Url;

use crate::sources::address::AddressPolicy;
use crate::sources::fetch;

/// Bytes of a GET's body read before the response is dropped.
pub const GET_READ_LIMIT: usize = 8 * 1024;

/// Redirects followed before a link counts as broken.
pub const MAX_REDIRECTS: usize = 5;

/// How hard [`check`] may press.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    /// Whole-request timeout of each HEAD and each GET.
    pub timeout: Duration,
    /// Requests in flight to one host (`host:port`).
    pub per_host: usize,
    /// Requests in flight altogether.
    pub total: usize,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings { timeout: Duration::from_secs(15), per_host: 2, total: 32 }
    }
}

/// What one check of one URL found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The link answers; `status` is the deciding response's (after redirects).
    Alive { status: u16 },
    /// The link did not answer usefully: `status` when there was an HTTP
    /// answer, `reason` says what happened (`404 Not Found`, `超时 15 s`, …).
    Failed { status: Option<u16>, reason: String },
}

impl Outcome {
    pub fn is_alive(&self) -> bool {
        matches!(self, Outcome::Alive { .. })
    }

    /// The HTTP status of the deciding response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Alive { status } => Some(*status),
            Outcome::Failed { status, .. } => *status,
        }
    }
}

/// Whether [`check`] checks this link: an `http://` or `https://` URL
/// (any case, surrounding white space ignored). Everything else is skipped.
pub fn checkable(url: &str) -> bool {
    let u = url.trim().as_bytes();
    let starts = |p: &[u8]| u.len() >= p.len() && u[..p.len()].eq_ignore_ascii_case(p);
    starts(b"http://") || starts(b"https://")
}

/// The link checker's HTTP client: `[fetch]`'s user agent and timeouts (the
/// poller's client builder), following at most [`MAX_REDIRECTS`] redirects,
/// and connecting only where its address policy allows: links are what
/// pages say, so a link or redirect to a loopback, private, link-local or
/// metadata address is not checked but [`Outcome::Failed`] with the reason
/// (`拒绝访问 …`), unless it is a configured source's own host or
/// `fetch.allow_private` names it.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

/// A [`Client`] that allows only `fetch.allow_private` among private addresses.
pub fn client(cfg: &crate::config::Fetch) -> anyhow::Result<Client> {
    client_with(cfg, Arc::new(AddressPolicy::new(std::iter::empty(), &cfg.allow_private)))
}

/// A [`Client`] for the configuration: its sources' own hosts are allowed too
/// (an intranet portal's links to itself).
pub fn client_for(cfg: &crate::config::Config) -> anyhow::Result<Client> {
    client_with(&cfg.fetch, Arc::new(crate::poll::address_policy(cfg)))
}

fn client_with(cfg: &crate::config::Fetch, policy: Arc<AddressPolicy>) -> anyhow::Result<Client> {
    Ok(Client { http: fetch::guarded_client(cfg, policy.clone(), MAX_REDIRECTS)?, policy })
}

/// One host's waiting URLs and requests in flight.
struct Host {
    queue: VecDeque<(usize, Url)>,
    in_flight: usize,
    /// In the scheduler's turn list.
    queued: bool,
}

/// Checks every http(s) URL of `urls` once (duplicates are checked once and
/// reported once; other schemes are skipped, see [`checkable`]), at most
/// `settings.total` requests at a time and `settings.per_host` to one host.
/// Results come back in the order of the URLs' first occurrence, keyed by the
/// URL exactly as given. `progress(done, total)` is called after each result
/// (`total` counts the URLs checked). Never panics: a check that panicked is
/// reported as `Failed`.
pub async fn check(
    client: &Client,
    urls: Vec<String>,
    settings: &CheckSettings,
    progress: impl Fn(usize, usize) + Send + Sync,
) -> Vec<(String, Outcome)> {
    let total = settings.total.max(1);
    let per_host = settings.per_host.max(1);
    let timeout = settings.timeout;

    // Deduplicate, skip what is not http(s), queue by host.
    let mut seen: HashSet<&str> = HashSet::with_capacity(urls.len());
    let mut order: Vec<usize> = Vec::with_capacity(urls.len());
    for (i, u) in urls.iter().enumerate() {
        if checkable(u) && seen.insert(u.as_str()) {
            order.push(i);
        }
    }
    drop(seen);
    let n = order.len();
    let mut results: Vec<Option<Outcome>> = vec![None; n];
    let mut hosts: Vec<Host> = Vec::new();
    let mut host_ids: HashMap<String, usize> = HashMap::new();
    let mut turns: VecDeque<usize> = VecDeque::new();
    let mut done = 0;
    for (slot, &i) in order.iter().enumerate() {
        match Url::parse(urls[i].trim()) {
            Ok(url) => {
                let key = format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0));
                let h = *host_ids.entry(key).or_insert_with(|| {
                    hosts.push(Host { queue: VecDeque::new(), in_flight: 0, queued: true });
                    turns.push_back(hosts.len() - 1);
                    hosts.len() - 1
                });
                hosts[h].queue.push_back((slot, url));
            }
            Err(e) => {
                results[slot] = Some(Outcome::Failed { status: None, reason: format!("链接无效（{e}）") });
                done += 1;
                progress(done, n);
            }
        }
    }
    drop(host_ids);

    let mut running: JoinSet<Outcome> = JoinSet::new();
    let mut tasks: HashMap<tokio::task::Id, (usize, usize)> = HashMap::new();
    loop {
        // Start requests while there is room, hosts taking turns.
        while running.len() < total {
            let Some(h) = turns.pop_front() else { break };
            let host = &mut hosts[h];
            let Some((slot, url)) = host.queue.pop_front() else {
                host.queued = false;
                continue;
            };
            host.in_flight += 1;
            if !host.queue.is_empty() && host.in_flight < per_host {
                turns.push_back(h);
            } else {
                host.queued = false;
            }
            let client = client.clone();
            let handle = running.spawn(async move { check_one(&client, url, timeout).await });
            tasks.insert(handle.id(), (h, slot));
        }
        let Some(joined) = running.join_next_with_id().await else { break };
        let (id, outcome) = match joined {
            Ok((id, o)) => (id, o),
            Err(e) => {
                let reason = format!("检查出错（{e}）");
                (e.id(), Outcome::Failed { status: None, reason })
            }
        };
        let Some((h, slot)) = tasks.remove(&id) else { continue };
        let host = &mut hosts[h];
        host.in_flight -= 1;
        if !host.queued && !host.queue.is_empty() {
            host.queued = true;
            turns.push_back(h);
        }
        results[slot] = Some(outcome);
        done += 1;
        progress(done, n);
    }

    let mut urls = urls;
    order
        .into_iter()
        .zip(results)
        .map(|(i, o)| {
            let o = o.unwrap_or_else(|| Outcome::Failed { status: None, reason: "未检查 (not checked)".into() });
            (std::mem::take(&mut urls[i]), o)
        })
        .collect()
}

/// HEAD answers after which GET decides.
fn head_refused(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 403 | 405 | 406 | 501) || status.is_server_error()
}

/// The verdict on the deciding response's status.
fn verdict(status: StatusCode, method_is_get: bool) -> Outcome {
    let code = status.as_u16();
    let protected = code == 401 || (method_is_get && code == 403);
    if status.is_success() || status.is_redirection() || protected {
        Outcome::Alive { status: code }
    } else {
        Outcome::Failed { status: Some(code), reason: status_reason(status) }
    }
}

/// `404 Not Found`.
fn status_reason(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(r) => format!("{} {r}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `15 s`, `0.5 s`.
fn fmt_secs(d: Duration) -> String {
    let s = format!("{:.3}", d.as_secs_f64());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} s")
}

/// Checks one URL: HEAD, then GET when HEAD is refused.
async fn check_one(client: &Client, url: Url, timeout: Duration) -> Outcome {
    // Hosts written as addresses never reach the resolver: check them here.
    if let Err(r) = client.policy.check_url(&url) {
        return Outcome::Failed { status: None, reason: format!("拒绝访问 ({r})") };
    }
    let client = &client.http;
    match client.head(url.clone()).timeout(timeout).send().await {
        Ok(resp) => {
            let status = resp.status();
            drop(resp);
            if !head_refused(status) {
                return verdict(status, false);
            }
        }
        // Waiting again, or connecting again, would fail the same way.
        Err(e) if e.is_timeout() || e.is_connect() || e.is_redirect() || e.is_builder() => {
            return failure(&e, timeout);
        }
        // Reset or closed without an answer: some servers do that to HEAD.
        Err(_) => {}
    }
    get(client, url, timeout).await
}

/// A GET that reads at most [`GET_READ_LIMIT`] bytes of the body.
async fn get(client: &reqwest::Client, url: Url, timeout: Duration) -> Outcome {
    match client.get(url).timeout(timeout).send().await {
        Ok(mut resp) => {
            let status = resp.status();
            let mut read = 0;
            // The status decides; the body is read a little only so that a
            // short one leaves the connection reusable. Its errors do not matter.
            while read < GET_READ_LIMIT {
                match resp.chunk().await {
                    Ok(Some(c)) => read += c.len(),
                    _ => break,
                }
            }
            verdict(status, true)
        }
        Err(e) => failure(&e, timeout),
    }
}

/// The reason for a request that got no answer.
fn failure(e: &reqwest::Error, timeout: Duration) -> Outcome {
    let status = e.status().map(|s| s.as_u16());
    if let Some((redirect, r)) = fetch::refusal(e) {
        let via = redirect.map(|u| format!("重定向到 {u}：")).unwrap_or_default();
        return Outcome::Failed { status, reason: format!("拒绝访问 ({via}{r})") };
    }
    if e.is_timeout() {
        return Outcome::Failed { status, reason: format!("超时 {}", fmt_secs(timeout)) };
    }
    let detail = detail(e);
    let lower = detail.to_ascii_lowercase();
    let reason = if e.is_dns() || lower.contains("dns error") {
        format!("DNS 解析失败 ({detail})")
    } else if e.is_redirect() {
        format!("重定向过多或无效 ({detail})")
    } else if lower.contains("certificate") || lower.contains("handshake") || lower.contains("tls") {
        format!("TLS 握手失败 ({detail})")
    } else if lower.contains("refused") {
        format!("连接被拒绝 ({detail})")
    } else if e.is_connect() {
        format!("无法连接 ({detail})")
    } else if lower.contains("reset") || lower.contains("closed") || lower.contains("incomplete") {
        format!("连接中断 ({detail})")
    } else {
        format!("请求失败 ({detail})")
    };
    Outcome::Failed { status, reason }
}

/// What went wrong, without reqwest's "error sending request for url (…)"
/// wrapper: the error's sources, each said once.
fn detail(e: &reqwest::Error) -> String {
    let d = match std::error::Error::source(e) {
        Some(src) => fetch::chain(src),
        None => e.to_string(),
    };
    // hyper's wrapper says nothing the reason does not.
    match d.strip_prefix("client error (") {
        Some(rest) => rest.split_once("): ").map_or(d.clone(), |(_, tail)| tail.to_string()),
        None => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_checked() {
        for u in ["http://a.gov.cn/", "HTTPS://a.gov.cn/x.pdf", "  http://a/ "] {
            assert!(checkable(u), "{u}");
        }
        for u in [
            "mailto:gk@a.gov.cn",
            "javascript:void(0)",
            "#top",
            "/files/a.pdf",
            "C:\\a.doc",
            "ftp://a/",
            "tel:12345",
            "",
        ] {
            assert!(!checkable(u), "{u}");
        }
    }

    #[test]
    fn verdicts() {
        let s = |c| StatusCode::from_u16(c).unwrap();
        assert_eq!(verdict(s(200), false), Outcome::Alive { status: 200 });
        assert_eq!(verdict(s(304), true), Outcome::Alive { status: 304 });
        assert_eq!(verdict(s(401), false), Outcome::Alive { status: 401 });
        assert_eq!(verdict(s(403), true), Outcome::Alive { status: 403 });
        assert_eq!(verdict(s(404), true), Outcome::Failed { status: Some(404), reason: "404 Not Found".into() });
        assert_eq!(verdict(s(410), false), Outcome::Failed { status: Some(410), reason: "410 Gone".into() });
        assert_eq!(verdict(s(599), true), Outcome::Failed { status: Some(599), reason: "599".into() });
        for c in [400, 403, 405, 406, 500, 501, 503] {
            assert!(head_refused(s(c)), "{c}");
        }
        for c in [200, 301, 401, 404, 410, 429] {
            assert!(!head_refused(s(c)), "{c}");
        }
        assert_eq!(fmt_secs(Duration::from_secs(15)), "15 s");
        assert_eq!(fmt_secs(Duration::from_millis(500)), "0.5 s");
    }
}

/// What one run of [`run`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// Distinct http(s) links portal items carry.
    pub links: usize,
    /// Links checked in this run (due, at most `per_run`).
    pub checked: usize,
    pub alive: usize,
    pub failed: usize,
    /// Due links left for the next run (over `per_run`).
    pub left: usize,
    /// Records forgotten because no page carries their link any more.
    pub pruned: usize,
    pub took_ms: u128,
}

/// One dead-link run as the daemon and `govwatch links check` do it: every
/// link portal items carry, minus those checked within
/// `inspection.links.recheck_hours`, at most `per_run` (never-checked first,
/// then the longest unchecked), checked and recorded. Records of links no
/// page carries any more are forgotten. Store work runs on blocking threads.
pub async fn run(
    cfg: &crate::config::Config,
    store: std::sync::Arc<crate::store::Store>,
    now: chrono::DateTime<chrono::FixedOffset>,
    progress: impl Fn(usize, usize) + Send + Sync,
) -> anyhow::Result<RunReport> {
    use anyhow::Context;
    let started = std::time::Instant::now();
    let l = &cfg.inspection.links;
    let before = now - chrono::Duration::hours(i64::from(l.recheck_hours));
    let per_run = l.per_run;
    let s = store.clone();
    let (links, pruned, mut due) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let links = s.portal_links()?;
        let keep: HashSet<String> = links.iter().cloned().collect();
        let pruned = s.prune_links(&keep)?;
        let due = s.links_due(&links, before)?;
        Ok((links.len(), pruned, due))
    })
    .await
    .context("the link check's store work panicked")?
    .context("reading the portal's links failed")?;
    let left = due.len().saturating_sub(per_run);
    due.truncate(per_run);
    let client = client_for(cfg).context("[fetch]: cannot build the HTTP client")?;
    let settings = CheckSettings {
        timeout: Duration::from_secs(l.timeout_secs.max(1)),
        per_host: l.per_host,
        total: l.concurrency,
    };
    let results = check(&client, due, &settings, progress).await;
    let alive = results.iter().filter(|(_, o)| o.is_alive()).count();
    let checked = results.len();
    tokio::task::spawn_blocking(move || store.record_link_checks(&results, now))
        .await
        .context("the link check's store work panicked")?
        .context("recording the link checks failed")?;
    Ok(RunReport {
        links,
        checked,
        alive,
        failed: checked - alive,
        left,
        pruned,
        took_ms: started.elapsed().as_millis(),
    })
}
