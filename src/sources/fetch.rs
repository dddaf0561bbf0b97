//! Getting a document: HTTP(S) with reqwest (rustls), or a local file.
//!
//! Conditional GET (ETag / Last-Modified kept per source), a whole-request
//! timeout, a cap on body size (refused, not truncated), a limit on requests
//! in flight per host, and retries with doubling delays for what may pass
//! (timeouts, refused connections, 5xx, 429). Local files answer "not
//! modified" when their modification time has not changed, so the demo
//! behaves like a polite server.
//!
//! **Where a fetch may go.** A source's own configured `url` is the
//! administrator's: it may be a local file, or a host on the county
//! intranet. Everything else is what a fetched document says — a list
//! page's links and 下一页, an article's links, a redirect — and
//! [`Fetcher::get_linked`] holds it to [`LinkScope`]: http(s) only, except
//! that a source whose own url is a local file may follow file links that
//! stay inside its own folder. Every connection, the configured ones too,
//! goes through [`GuardedResolver`], which resolves a host name, drops the
//! addresses [`AddressPolicy`] refuses and hands reqwest only the ones it
//! checked, so the address connected to is the address checked (no second
//! lookup for DNS rebinding to answer differently). Hosts written as IP
//! addresses never reach a resolver: they are checked before the request
//! and at each redirect. One gap remains by design: behind an HTTP proxy
//! (`http_proxy` in the environment) the proxy resolves host names, so only
//! addresses written in URLs are checked; let the proxy refuse internal
//! addresses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{
    CONTENT_TYPE, DATE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use thiserror::Error;
use tokio::sync::Semaphore;
use url::Url;

use super::address::{AddressPolicy, RedirectRefused, Refused};
use crate::config::Fetch;
use crate::store::sources::Validators;

/// Redirects the poller follows before giving up.
pub const MAX_REDIRECTS: usize = 10;

/// The longest `Retry-After` waited for within one poll; a server that asks
/// for longer is asked again at the next poll after that time
/// (`fetch.retry_after_max_secs` bounds it), not within this one.
pub const RETRY_AFTER_IN_POLL: Duration = Duration::from_secs(60);

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    #[error("{url}：{secs} 秒内无响应（超时）")]
    Timeout { url: String, secs: u64 },
    #[error("{url}：无法连接：{message}")]
    Connect { url: String, message: String },
    #[error(
        "{url}：TLS 握手失败：{message}（只支持 TLS 1.0/1.1、使用国密 SM2 套件或缺少中间证书的网站无法通过 https 读取；请网站修复，或改为轮询同一页面的 http:// 地址）"
    )]
    Tls { url: String, message: String },
    #[error("{url}：服务器返回 HTTP {status}")]
    Status { url: String, status: u16 },
    /// The server asked, with `Retry-After`, to be left alone for longer
    /// than one poll waits: the source's next poll waits `wait_secs`.
    #[error(
        "{url}：服务器答复 HTTP {status}，要求 {asked_secs} 秒后再试（Retry-After）{}",
        if asked_secs > wait_secs { format!("；按 fetch.retry_after_max_secs 至多等待 {wait_secs} 秒") } else { String::new() }
    )]
    RetryAfter { url: String, status: u16, asked_secs: u64, wait_secs: u64 },
    #[error("{url}：内容超过 {limit} 字节的上限（fetch.max_body_bytes）")]
    TooLarge { url: String, limit: u64 },
    #[error("{path}：{message}")]
    File { path: String, message: String },
    /// A link or redirect govwatch will not follow: a local file named by
    /// fetched content, or a non-public address. Nothing was read or connected.
    #[error("拒绝访问 {url}：{reason}")]
    Refused { url: String, reason: String },
    #[error("{url}：{message}")]
    Other { url: String, message: String },
}

impl FetchError {
    /// Worth trying again within the same poll.
    pub fn retryable(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Connect { .. } => true,
            FetchError::Status { status, .. } => retryable_status(*status),
            _ => false,
        }
    }

    /// How long the server asked to be left alone (already bounded by
    /// `fetch.retry_after_max_secs`), when it asked for longer than a poll waits.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::RetryAfter { wait_secs, .. } => Some(Duration::from_secs(*wait_secs)),
            _ => None,
        }
    }
}

fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// A fetched document.
#[derive(Debug, Clone)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    /// Where the document ended up (after redirects); links resolve against it.
    pub url: Url,
    pub validators: Validators,
}

#[derive(Debug, Clone)]
pub enum Fetched {
    /// 304, or an unchanged local file.
    NotModified,
    Body(Body),
}

pub struct Fetcher {
    client: reqwest::Client,
    cfg: Fetch,
    policy: Arc<AddressPolicy>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// An error and its sources, each said once: `a: b: c`.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// The address refusal somewhere in an error's chain (from the resolver or
/// the redirect policy), if that is why a request failed: the redirect's
/// target when a redirect was refused, and why.
pub fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<(Option<&'a str>, &'a Refused)> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<RedirectRefused>() {
            return Some((Some(&r.url), &r.refused));
        }
        if let Some(r) = err.downcast_ref::<Refused>() {
            return Some((None, r));
        }
        cur = err.source();
    }
    None
}

/// The HTTP client settings every request of govwatch shares: the user agent
/// and the timeouts of `[fetch]`. Build clients with [`guarded_client`],
/// which adds the address checks.
pub fn client_builder(cfg: &Fetch) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(cfg.user_agent.clone())
        .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs.max(1)))
}

/// Resolves host names and hands on only the addresses `policy` allows: the
/// connection is made to an address that was checked. A name with no
/// allowed address fails with the [`Refused`] of its first address.
pub struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<AddressPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let trusted = policy.host_is_trusted(&host);
            let mut allowed = Vec::with_capacity(found.len());
            let mut refused = None;
            for a in found {
                if trusted {
                    policy.learn(a.ip());
                }
                match policy.check(&host, a.ip()) {
                    Ok(()) => allowed.push(a),
                    Err(r) => {
                        refused.get_or_insert(r);
                    }
                }
            }
            if allowed.is_empty()
                && let Some(r) = refused
            {
                tracing::warn!(host = %host, ip = %r.ip, "refused to connect to a non-public address");
                return Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A client whose every connection and redirect `policy` checks, following
/// at most `max_redirects` redirects, and only to http(s).
pub fn guarded_client(
    cfg: &Fetch,
    policy: Arc<AddressPolicy>,
    max_redirects: usize,
) -> anyhow::Result<reqwest::Client> {
    let limited = reqwest::redirect::Policy::limited(max_redirects);
    let p = policy.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        let url = attempt.url();
        if !matches!(url.scheme(), "http" | "https") {
            let reason = format!("重定向到 {url}：只跟随 http 和 https 的重定向");
            return attempt.error(reason);
        }
        if let Err(refused) = p.check_url(url) {
            tracing::warn!(url = %url, "refused to follow a redirect to a non-public address");
            let url = url.to_string();
            return attempt.error(RedirectRefused { url, refused });
        }
        limited.redirect(attempt)
    });
    Ok(client_builder(cfg).dns_resolver(Arc::new(GuardedResolver::new(policy))).redirect(redirects).build()?)
}

/// Where the links in one source's documents may lead (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct LinkScope {
    /// The folder of a source whose own url is a local file (canonical).
    local_root: Option<PathBuf>,
}

impl LinkScope {
    /// The scope of links found in the documents of a source whose
    /// configured url is `location`. Reads the file system (the folder's
    /// canonical path).
    pub fn of_source(location: &str) -> LinkScope {
        let location = location.trim();
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return LinkScope::default();
        }
        let path = if lower.starts_with("file://") {
            Url::parse(location).ok().and_then(|u| u.to_file_path().ok())
        } else {
            Some(PathBuf::from(location))
        };
        let root = path.and_then(|p| {
            let abs = std::path::absolute(&p).ok()?;
            let dir = if abs.is_dir() { abs } else { abs.parent()?.to_path_buf() };
            dir.canonicalize().ok()
        });
        LinkScope { local_root: root }
    }
}

impl Fetcher {
    /// A fetcher whose connections `policy` checks.
    pub fn new(cfg: &Fetch, policy: Arc<AddressPolicy>) -> anyhow::Result<Fetcher> {
        let client = guarded_client(cfg, policy.clone(), MAX_REDIRECTS)?;
        Ok(Fetcher { client, cfg: cfg.clone(), policy, hosts: Mutex::new(HashMap::new()) })
    }

    fn host_permit(&self, url: &Url) -> Arc<Semaphore> {
        let host = format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0));
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.entry(host).or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_host.max(1)))).clone()
    }

    /// Gets a source's own configured `location` (an http(s) URL, a file
    /// URL or a file path), conditionally on `validators`, retrying what may
    /// pass. Never call it with a URL a document gave: see [`Fetcher::get_linked`].
    pub async fn get(&self, location: &str, validators: &Validators) -> Result<Fetched, FetchError> {
        let location = location.trim();
        let lower = location.to_ascii_lowercase();
        if lower.starts_with("file://") {
            let path = Url::parse(location).ok().and_then(|u| u.to_file_path().ok()).ok_or_else(|| {
                FetchError::File { path: location.to_string(), message: "不是可用的文件地址".into() }
            })?;
            return read_file(&path, validators, self.cfg.max_body_bytes).await;
        }
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return read_file(Path::new(location), validators, self.cfg.max_body_bytes).await;
        }
        let url = Url::parse(location)
            .map_err(|e| FetchError::Other { url: location.to_string(), message: e.to_string() })?;
        self.get_http(&url, validators).await
    }

    /// Gets a URL a fetched document gave (a list page's next page, an
    /// entry's own page), unconditionally, within `scope`: http(s) to an
    /// address the policy allows, or a local file inside the folder of a
    /// source whose own url is a local file. Anything else is
    /// [`FetchError::Refused`] before any file is opened or connection made.
    pub async fn get_linked(&self, link: &str, scope: &LinkScope) -> Result<Body, FetchError> {
        let refused = |reason: String| FetchError::Refused { url: link.to_string(), reason };
        let url = Url::parse(link.trim()).map_err(|e| refused(format!("不是有效的链接（{e}）")))?;
        let fetched = match url.scheme() {
            "http" | "https" => self.get_http(&url, &Validators::default()).await?,
            "file" => {
                let Some(root) = &scope.local_root else {
                    return Err(refused(
                        "链接来自抓取到的网页或订阅源，不得读取本机文件（只有数据源自己配置的 url 可以是本地文件）"
                            .into(),
                    ));
                };
                let path = url.to_file_path().map_err(|_| refused("不是可用的本地文件链接".into()))?;
                // The file's real place (symbolic links and `..` resolved) must be in the source's folder.
                let real = tokio::fs::canonicalize(&path)
                    .await
                    .map_err(|e| FetchError::File { path: path.display().to_string(), message: e.to_string() })?;
                if !real.starts_with(root) {
                    return Err(refused(format!(
                        "本地文件不在数据源所在的文件夹 {} 之内；本地数据源只能读取自己文件夹中的文件",
                        root.display()
                    )));
                }
                read_file(&real, &Validators::default(), self.cfg.max_body_bytes).await?
            }
            other => return Err(refused(format!("不支持 {other}: 链接，只读取 http 和 https 链接"))),
        };
        match fetched {
            Fetched::Body(b) => Ok(b),
            // Without validators a server has nothing to say 304 to.
            Fetched::NotModified => Err(FetchError::Other {
                url: link.to_string(),
                message: "服务器对非条件请求返回了 304".into(),
            }),
        }
    }

    /// An http(s) request with retries; `Retry-After` honoured (see [`RETRY_AFTER_IN_POLL`]).
    async fn get_http(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        if let Err(r) = self.policy.check_url(url) {
            return Err(FetchError::Refused { url: url.to_string(), reason: r.to_string() });
        }
        let mut attempt = 0;
        loop {
            match self.get_once(url, validators).await {
                Ok(f) => return Ok(f),
                Err((e, Some(asked))) if asked > RETRY_AFTER_IN_POLL => {
                    let FetchError::Status { url, status } = e else { return Err(e) };
                    let max = Duration::from_secs(self.cfg.retry_after_max_secs);
                    tracing::info!(url = %url, asked_secs = asked.as_secs(), "the server asked to wait (Retry-After)");
                    return Err(FetchError::RetryAfter {
                        url,
                        status,
                        asked_secs: asked.as_secs(),
                        wait_secs: asked.min(max).as_secs(),
                    });
                }
                Err((e, retry_after)) if e.retryable() && attempt < self.cfg.retries => {
                    let backoff = Duration::from_millis(self.cfg.retry_base_ms.saturating_mul(1 << attempt.min(16)));
                    let wait = retry_after.map_or(backoff, |r| r.max(backoff));
                    tracing::debug!(url = %url, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    async fn get_once(&self, url: &Url, v: &Validators) -> Result<Fetched, (FetchError, Option<Duration>)> {
        let sem = self.host_permit(url);
        let _permit = sem
            .acquire_owned()
            .await
            .map_err(|e| (FetchError::Other { url: url.to_string(), message: e.to_string() }, None))?;
        let mut req = self.client.get(url.clone());
        if let Some(etag) = &v.etag {
            req = req.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &v.last_modified {
            req = req.header(IF_MODIFIED_SINCE, lm);
        }
        let u = url.to_string();
        let map_err = |e: reqwest::Error| {
            if let Some((redirect, r)) = refusal(&e) {
                // Name the URL that was refused: a redirect's target, not the URL asked for.
                let to = redirect.map_or_else(|| u.clone(), str::to_string);
                let via = if redirect.is_some() { format!("（{u} 重定向到此）") } else { String::new() };
                return FetchError::Refused { url: to, reason: format!("{r}{via}") };
            }
            let message = chain(&e);
            if e.is_timeout() {
                FetchError::Timeout { url: u.clone(), secs: self.cfg.timeout_secs }
            } else if message.contains("certificate")
                || message.contains("handshake")
                || message.to_ascii_lowercase().contains("tls")
            {
                FetchError::Tls { url: u.clone(), message }
            } else if e.is_connect() || e.is_request() {
                FetchError::Connect { url: u.clone(), message }
            } else {
                FetchError::Other { url: u.clone(), message }
            }
        };
        let mut resp = req.send().await.map_err(|e| (map_err(e), None))?;
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if status.is_redirection()
            && let Some(to) = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok())
            && let Ok(to) = url.join(to)
            && !matches!(to.scheme(), "http" | "https")
        {
            // reqwest hands back a redirect to file:, ftp: … unfollowed: say why.
            return Err((
                FetchError::Refused {
                    url: to.to_string(),
                    reason: format!("{u} 重定向到此；只跟随到 http 和 https 的重定向"),
                },
                None,
            ));
        }
        if !status.is_success() {
            let retry_after = retryable_status(status.as_u16()).then(|| retry_after(resp.headers())).flatten();
            return Err((FetchError::Status { url: u.clone(), status: status.as_u16() }, retry_after));
        }
        let limit = self.cfg.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err((FetchError::TooLarge { url: u.clone(), limit }, None));
        }
        let headers = resp.headers().clone();
        let final_url = resp.url().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| (map_err(e), None))? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err((FetchError::TooLarge { url: u.clone(), limit }, None));
            }
            bytes.extend_from_slice(&chunk);
        }
        let header =
            |name| headers.get(name).and_then(|h: &reqwest::header::HeaderValue| h.to_str().ok()).map(str::to_string);
        Ok(Fetched::Body(Body {
            bytes,
            content_type: header(CONTENT_TYPE),
            url: final_url,
            validators: Validators { etag: header(ETAG), last_modified: header(LAST_MODIFIED) },
        }))
    }
}

/// `Retry-After`: seconds, or an HTTP date — measured from the response's own
/// `Date` (no clock is read here; without `Date` a date is ignored).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let value = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let date = chrono::DateTime::parse_from_rfc2822(h.get(DATE)?.to_str().ok()?.trim()).ok()?;
    let secs = (at - date).num_seconds();
    Some(Duration::from_secs(secs.max(0) as u64))
}

/// A local file as a document. Its modification time plays Last-Modified.
async fn read_file(path: &Path, v: &Validators, limit: u64) -> Result<Fetched, FetchError> {
    let shown = path.display().to_string();
    let ferr = |e: std::io::Error| FetchError::File { path: shown.clone(), message: crate::glossary::io_error(&e) };
    let meta = tokio::fs::metadata(path).await.map_err(ferr)?;
    let mtime = meta.modified().ok().map(http_date);
    if mtime.is_some() && mtime == v.last_modified {
        return Ok(Fetched::NotModified);
    }
    if meta.len() > limit {
        return Err(FetchError::File {
            path: shown,
            message: format!("超过 {limit} 字节的上限（fetch.max_body_bytes）"),
        });
    }
    let bytes = tokio::fs::read(path).await.map_err(ferr)?;
    let abs: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let url = Url::from_file_path(&abs)
        .map_err(|_| FetchError::File { path: shown.clone(), message: "不是可用的路径".into() })?;
    Ok(Fetched::Body(Body {
        bytes,
        content_type: None,
        url,
        validators: Validators { etag: None, last_modified: mtime },
    }))
}

/// An HTTP date (RFC 7231 IMF-fixdate).
fn http_date(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%a, %d %b %Y %H:%M:%S%.f GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3600)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Fri, 20 Nov 2026 03:00:00 GMT"));
        assert_eq!(retry_after(&h), None, "a date needs the response's Date to measure from");
        h.insert(DATE, HeaderValue::from_static("Fri, 20 Nov 2026 02:00:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3600)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    /// The resolver hands on only checked addresses: the connection goes to
    /// what was checked, with no second lookup for DNS rebinding to change.
    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let name = |s: &str| -> Name { s.parse().unwrap() };
        let strict = GuardedResolver::new(Arc::new(AddressPolicy::new(["http://127.0.0.2/"], &[])));
        let err = match strict.resolve(name("localhost")).await {
            Ok(addrs) => panic!("localhost resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        let r = err.downcast_ref::<Refused>().expect("a Refused");
        assert_eq!(r.host, "localhost");
        assert!(r.ip.is_loopback(), "{r}");
        // A source's own host name resolves to whatever it resolves to.
        let policy = Arc::new(AddressPolicy::new(["http://localhost:8080/"], &[]));
        let trusting = GuardedResolver::new(policy.clone());
        let addrs: Vec<SocketAddr> = trusting.resolve(name("localhost")).await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        // What a source's host name resolved to is allowed when written as an address.
        assert_eq!(policy.check("127.0.0.1", "127.0.0.1".parse().unwrap()), Ok(()));
    }

    #[test]
    fn scope_of_a_local_source_is_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("col.html");
        std::fs::write(&file, "x").unwrap();
        let s = LinkScope::of_source(file.to_str().unwrap());
        assert_eq!(s.local_root.as_deref(), Some(dir.path().canonicalize().unwrap().as_path()));
        assert_eq!(LinkScope::of_source("http://x.gov.cn/col/").local_root, None);
        assert_eq!(LinkScope::of_source(" HTTPS://x.gov.cn/").local_root, None);
    }
}
