//! Getting a document: HTTP(S) with reqwest (rustls), or a local file.
//!
//! Conditional GET (ETag / Last-Modified kept per source), a whole-request
//! timeout, a cap on body size (refused, not truncated), a limit on requests
//! in flight per host, and retries with doubling delays for what may pass
//! (timeouts, refused connections, 5xx, 429). Local files answer "not
//! modified" when their modification time has not changed, so the demo
//! behaves like a polite server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER};
use thiserror::Error;
use tokio::sync::Semaphore;
use url::Url;

use crate::config::Fetch;
use crate::store::sources::Validators;

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
    #[error("{url}：内容超过 {limit} 字节的上限（fetch.max_body_bytes）")]
    TooLarge { url: String, limit: u64 },
    #[error("{path}：{message}")]
    File { path: String, message: String },
    #[error("{url}：{message}")]
    Other { url: String, message: String },
}

impl FetchError {
    /// Worth trying again within the same poll.
    pub fn retryable(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Connect { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
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

/// The HTTP client settings every request of govwatch shares: the user agent
/// and the timeouts of `[fetch]`. The poller adds its redirect limit; the
/// link checker (`linkcheck::client`) its own.
pub fn client_builder(cfg: &Fetch) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(cfg.user_agent.clone())
        .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(cfg.connect_timeout_secs.max(1)))
}

impl Fetcher {
    pub fn new(cfg: &Fetch) -> anyhow::Result<Fetcher> {
        let client = client_builder(cfg).redirect(reqwest::redirect::Policy::limited(10)).build()?;
        Ok(Fetcher { client, cfg: cfg.clone(), hosts: Mutex::new(HashMap::new()) })
    }

    fn host_permit(&self, url: &Url) -> Arc<Semaphore> {
        let host = format!("{}:{}", url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0));
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.entry(host).or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_host.max(1)))).clone()
    }

    /// Gets `location` (an http(s) URL or a file path), conditionally on
    /// `validators`, retrying what may pass.
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
        let mut attempt = 0;
        loop {
            match self.get_once(&url, validators).await {
                Ok(f) => return Ok(f),
                Err((e, retry_after)) if e.retryable() && attempt < self.cfg.retries => {
                    let backoff = Duration::from_millis(self.cfg.retry_base_ms.saturating_mul(1 << attempt.min(16)));
                    let wait = retry_after.map_or(backoff, |r| r.min(Duration::from_secs(60)).max(backoff));
                    tracing::debug!(url = %url, error = %e, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Gets a URL with no validators (entry pages, second list pages).
    pub async fn get_fresh(&self, location: &str) -> Result<Body, FetchError> {
        match self.get(location, &Validators::default()).await? {
            Fetched::Body(b) => Ok(b),
            // Without validators a server has nothing to say 304 to.
            Fetched::NotModified => Err(FetchError::Other {
                url: location.to_string(),
                message: "服务器对非条件请求返回了 304".into(),
            }),
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
        if !status.is_success() {
            let retry_after = retry_after(resp.headers());
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

fn retry_after(h: &HeaderMap) -> Option<Duration> {
    h.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
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
