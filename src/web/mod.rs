//! The daemon's HTTP server (axum): the duty officers' console (`pages`),
//! its JSON API under `/api/`, logins (`auth`), and what an administrator
//! and a monitoring system need — `/healthz` and Prometheus `/metrics`.
//!
//! Without a session every page redirects to `/login` and every `/api/` call
//! answers 401; `/healthz`, `/metrics`, `/login` and `/static/` need none.
//! Every HTML response carries a Content-Security-Policy that allows only our
//! own script and styles, so that even markup that slipped through escaping
//! could not run. Assets are embedded in the binary (the intranet has no CDN).
//!
//! Handlers read the store on the blocking pool: the store is one SQLite
//! connection behind a mutex, and an import may hold it for a moment. So
//! does the session check of every closed page (sessions are in the store,
//! so that any node serves any request).

pub mod auth;
pub mod pages;
pub mod server;

use std::path::Path;
use std::sync::{Arc, RwLock};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use anyhow::Result;
use axum::extract::{ConnectInfo, Form, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::json;

use auth::{Auth, CSRF_COOKIE, SESSION_COOKIE, User};

use crate::config::Config;
use crate::daemon::metrics::{self, Counters, Snapshot};
use crate::index::SearchIndex;
use crate::store::Store;

/// What every handler can reach. The configuration is swapped on reload.
pub struct AppState {
    pub store: Arc<Store>,
    pub index: Arc<SearchIndex>,
    pub counters: Arc<Counters>,
    pub config: RwLock<Arc<Config>>,
    /// Source and unit names by id, for the configuration in `config`
    /// (a search page names 20 sources; a county may configure thousands).
    names: RwLock<Arc<Names>>,
    pub started: DateTime<FixedOffset>,
    pub auth: Auth,
    pub templates: minijinja::Environment<'static>,
}

impl AppState {
    pub fn new(
        store: Arc<Store>,
        index: Arc<SearchIndex>,
        counters: Arc<Counters>,
        config: Arc<Config>,
        started: DateTime<FixedOffset>,
    ) -> AppState {
        AppState {
            store,
            index,
            counters,
            names: RwLock::new(Arc::new(Names::of(&config))),
            config: RwLock::new(config),
            started,
            auth: Auth::default(),
            templates: templates(),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_config(&self, cfg: Arc<Config>) {
        let names = Arc::new(Names::of(&cfg));
        let mut current = self.config.write().unwrap_or_else(|e| e.into_inner());
        *self.names.write().unwrap_or_else(|e| e.into_inner()) = names;
        *current = cfg;
    }

    /// The names of the current configuration's sources and units.
    pub fn names(&self) -> Arc<Names> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Display names by id, built once per configuration.
pub struct Names {
    sources: HashMap<String, String>,
    units: HashMap<String, String>,
}

impl Names {
    pub fn of(cfg: &Config) -> Names {
        Names {
            sources: cfg.sources.iter().map(|s| (s.id.clone(), s.display_name().to_string())).collect(),
            units: cfg.units.iter().map(|u| (u.id.clone(), u.name.clone())).collect(),
        }
    }

    /// The source's name, or its id when it is not configured (any more).
    pub fn source<'a>(&'a self, id: &'a str) -> &'a str {
        self.sources.get(id).map_or(id, String::as_str)
    }

    /// The unit's name, or its id when it is not configured (any more).
    pub fn unit<'a>(&'a self, id: &'a str) -> &'a str {
        self.units.get(id).map_or(id, String::as_str)
    }
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("home.html", include_str!("templates/home.html")),
    ("search.html", include_str!("templates/search.html")),
    ("findings.html", include_str!("templates/findings.html")),
    ("reposts.html", include_str!("templates/reposts.html")),
    ("sources.html", include_str!("templates/sources.html")),
    ("item.html", include_str!("templates/item.html")),
];

/// The console's templates; `.html` templates auto-escape everything.
fn templates() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, src) in TEMPLATES {
        // Embedded and covered by tests: a broken one is a build defect.
        env.add_template(name, src).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    let closed = Router::new()
        .route("/", get(pages::home))
        .route("/search", get(pages::search))
        .route("/search.{ext}", get(pages::search_download))
        .route("/findings", get(pages::findings))
        .route("/findings.{ext}", get(pages::findings_download))
        .route("/reposts", get(pages::reposts))
        .route("/sources", get(pages::sources))
        .route("/items/{id}", get(pages::item))
        .route("/units/{id}", get(pages::unit_page))
        .route("/logout", post(logout))
        .route("/api/search", get(pages::api_search))
        .route("/api/findings", get(pages::api_findings))
        .route("/api/reposts", get(pages::api_reposts))
        .route("/api/sources", get(pages::api_sources))
        .route("/api/items/{id}", get(pages::api_item))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_login));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_page))
        .route("/login", get(login_page).post(login_submit))
        .route("/static/{file}", get(static_file))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .merge(closed)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn static_file(UrlPath(file): UrlPath<String>) -> Response {
    let (mime, body) = match file.as_str() {
        "app.css" => ("text/css; charset=utf-8", include_str!("static/app.css")),
        "app.js" => ("text/javascript; charset=utf-8", include_str!("static/app.js")),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

fn peer(req: &Request) -> IpAddr {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip())
}

fn cookie_of(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| auth::cookie(v, name).map(str::to_string))
}

/// Sets one of our cookies on a response (Secure when the console is served over https).
fn add_cookie(resp: &mut Response, cfg: &Config, name: &str, value: &str, max_age: Option<u64>) {
    let secure = cfg.web.base_url.starts_with("https://");
    if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(name, value, secure, max_age)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Who a request is from, as the store says.
enum Caller {
    /// A live session's user; with the token of a proxied session to set.
    User(User, Option<String>),
    /// The trusted proxy names a user the configuration does not know.
    Unknown(String),
    Nobody,
}

/// The console's answer when the store holding the sessions does not answer.
fn store_unavailable(api: bool, e: &anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "cannot read the console's sessions from the store");
    let msg = "暂时无法读取数据库中的登录状态，请稍后再试";
    if api {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"error": msg}))).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("{msg}\n")).into_response()
    }
}

/// Lets a request through with its [`User`], or turns it away: a redirect
/// to the login page for pages, 401 for the API. The session is looked up
/// in the store (one read by the token's hash) on the blocking pool.
async fn require_login(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let cfg = st.config();
    let idle = std::time::Duration::from_secs(cfg.web.session_hours.max(1) * 3600);
    let api = req.uri().path().starts_with("/api/");
    let token = cookie_of(req.headers(), SESSION_COOKIE);
    let vouched = cfg
        .web
        .trusted_user_header
        .as_ref()
        .filter(|_| auth::trusted_proxy(&cfg, peer(&req)))
        .and_then(|h| req.headers().get(h.as_str()))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (s, c) = (st.clone(), cfg.clone());
    let caller = tokio::task::spawn_blocking(move || -> anyhow::Result<Caller> {
        if let Some(t) = &token
            && let Some(user) = s.auth.session(&s.store, t, idle)?
        {
            return Ok(Caller::User(user, None));
        }
        let Some(name) = vouched else { return Ok(Caller::Nobody) };
        match c.users.iter().find(|u| u.name == name) {
            Some(u) => {
                let (token, user) = s.auth.proxied_session(&s.store, &u.name, u.role, idle)?;
                Ok(Caller::User(user, Some(token)))
            }
            None => Ok(Caller::Unknown(name)),
        }
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    let (user, new_session) = match caller {
        Ok(Caller::User(user, new_session)) => (user, new_session),
        Ok(Caller::Unknown(name)) => {
            tracing::warn!(user = name, "the proxy's user is not in [[users]]");
            return (StatusCode::FORBIDDEN, format!("用户「{name}」不在 govwatch 的用户列表中\n")).into_response();
        }
        Ok(Caller::Nobody) => {
            if api {
                return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "login required"}))).into_response();
            }
            let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let to =
                format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
            return Redirect::to(&to).into_response();
        }
        Err(e) => return store_unavailable(api, &e),
    };
    req.extensions_mut().insert(user);
    let mut resp = next.run(req).await;
    if let Some(token) = new_session {
        add_cookie(&mut resp, &cfg, SESSION_COOKIE, &token, None);
    }
    resp
}

/// Where to go after login: a path on this host, else `/` — never an open
/// redirect. Browsers drop tabs and newlines from a URL and read `\\` as
/// `/`, so `/\t/evil.example` would leave this host: the value (and the value
/// percent-decoded once more) must start with one `/` not followed by `/` or
/// `\\`, and hold no backslash and no control character. Characters a
/// `Location` header cannot carry as they are (spaces, Chinese) are
/// percent-encoded.
pub fn local_next(next: &str) -> String {
    let decoded = percent_decoded(next);
    let on_this_host = |s: &str| {
        s.starts_with('/')
            && !s[1..].starts_with(['/', '\\'])
            && !s.contains('\\')
            && !s.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    };
    if !on_this_host(next) || !on_this_host(&decoded) {
        return "/".to_string();
    }
    let mut out = String::with_capacity(next.len());
    for c in next.chars() {
        if c.is_ascii_graphic() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// `%XX` sequences decoded (others left as they are), lossily as UTF-8.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A 303 to a [`local_next`] path.
fn see_other(next: &str) -> Response {
    let to = HeaderValue::from_str(&local_next(next)).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

fn login_form(st: &AppState, csrf: &str, next: &str, error: Option<&str>, status: StatusCode, set: bool) -> Response {
    let ctx = json!({"csrf": csrf, "next": local_next(next), "error": error});
    let mut resp = match pages::render(st, "login.html", None, "login", ctx) {
        Ok(html) => (status, html).into_response(),
        Err(e) => e.into_response(),
    };
    if set {
        add_cookie(&mut resp, &st.config(), CSRF_COOKIE, csrf, None);
    }
    resp
}

async fn login_page(
    State(st): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (csrf, set) = match cookie_of(&headers, CSRF_COOKIE) {
        Some(c) if c.len() == 64 => (c, false),
        _ => (auth::random_token(), true),
    };
    login_form(&st, &csrf, q.get("next").map_or("/", |s| s.as_str()), None, StatusCode::OK, set)
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

async fn login_submit(
    State(st): State<Arc<AppState>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let cookie = cookie_of(&headers, CSRF_COOKIE).unwrap_or_default();
    if !auth::same_token(&cookie, &f.csrf) {
        let fresh = auth::random_token();
        return login_form(&st, &fresh, &f.next, Some("页面已过期，请重新登录。"), StatusCode::FORBIDDEN, true);
    }
    let cfg = st.config();
    // Counted before the password is checked, so that guesses sent at once
    // cannot all pass the limit; then a turn among the checks that may run
    // at once (each takes argon2's memory and a core), waited for here
    // rather than on a blocking thread.
    let counted = {
        let (s, name, ip) = (st.clone(), f.name.clone(), addr.ip());
        tokio::task::spawn_blocking(move || s.auth.attempt(&s.store, ip, &name)).await
    };
    let result = match counted {
        Err(e) => Err(e),
        Ok(Err(e)) => Ok(Err(e)),
        Ok(Ok(attempt)) => match st.auth.check_slot().await {
            None => {
                return (StatusCode::SERVICE_UNAVAILABLE, "控制台正在停止，请稍后再试\n").into_response();
            }
            Some(slot) => {
                let s = st.clone();
                let (name, password) = (f.name.clone(), f.password.clone());
                tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    s.auth.check(&s.store, &cfg, attempt, &name, &password)
                })
                .await
            }
        },
    };
    match result {
        Ok(Ok(token)) => {
            tracing::info!(user = %f.name, from = %addr.ip(), "logged in");
            let mut resp = see_other(&f.next);
            add_cookie(&mut resp, &st.config(), SESSION_COOKIE, &token, None);
            resp
        }
        Ok(Err(auth::LoginError::Throttled)) => {
            tracing::warn!(user = %f.name, from = %addr.ip(), "login refused: too many failures");
            login_form(
                &st,
                &cookie,
                &f.next,
                Some("失败次数过多，请 15 分钟后再试。"),
                StatusCode::TOO_MANY_REQUESTS,
                false,
            )
        }
        Ok(Err(auth::LoginError::Wrong)) => {
            tracing::warn!(user = %f.name, from = %addr.ip(), "login failed");
            login_form(&st, &cookie, &f.next, Some("用户名或密码不正确。"), StatusCode::UNAUTHORIZED, false)
        }
        Ok(Err(auth::LoginError::Store(e))) => {
            tracing::error!(user = %f.name, error = %e, "login failed: the store did not answer");
            let msg = Some("暂时无法读取数据库，请稍后再试。");
            login_form(&st, &cookie, &f.next, msg, StatusCode::SERVICE_UNAVAILABLE, false)
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(st): State<Arc<AppState>>,
    Extension(user): Extension<User>,
    headers: axum::http::HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !auth::same_token(&user.csrf, &f.csrf) {
        return (StatusCode::FORBIDDEN, "页面已过期（表单校验码不符），请返回刷新后重试\n").into_response();
    }
    // Ended in the store: on every node at once.
    if let Some(t) = cookie_of(&headers, SESSION_COOKIE) {
        let s = st.clone();
        let ended = tokio::task::spawn_blocking(move || s.auth.logout(&s.store, &t)).await;
        if let Err(e) = ended.map_err(anyhow::Error::from).and_then(|r| r) {
            return store_unavailable(false, &e);
        }
    }
    let mut resp = Redirect::to("/login").into_response();
    add_cookie(&mut resp, &st.config(), SESSION_COOKIE, "", Some(0));
    resp
}

/// 200 with a small JSON body when the store answers; 503 when it does not.
async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let s = st.clone();
    let checked = tokio::task::spawn_blocking(move || s.store.max_rev()).await;
    let uptime = (crate::cli::now() - st.started).num_seconds();
    match checked {
        Ok(Ok(rev)) => {
            let lag = (rev - st.index.indexed_rev()).max(0);
            (
                StatusCode::OK,
                axum::Json(json!({
                    "status": "ok",
                    "version": env!("CARGO_PKG_VERSION"),
                    "uptime_secs": uptime,
                    "store_rev": rev,
                    "index_lag": lag,
                })),
            )
                .into_response()
        }
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "error", "error": format!("the store does not answer: {e:#}")})),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "error", "error": e.to_string()})))
            .into_response(),
    }
}

async fn metrics_page(State(st): State<Arc<AppState>>) -> Response {
    match tokio::task::spawn_blocking(move || snapshot(&st)).await {
        Ok(Ok(s)) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics::render(&s)).into_response()
        }
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("metrics unavailable: {e:#}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics failed: {e}\n")).into_response(),
    }
}

/// Reads one scrape's worth from the store, the index and the counters.
pub fn snapshot(st: &AppState) -> Result<Snapshot> {
    let cfg = st.config();
    let last_round_unix =
        st.store.last_round()?.and_then(|(_, at, _)| DateTime::parse_from_rfc3339(&at).ok()).map(|t| t.timestamp());
    Ok(Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_unix: st.started.timestamp(),
        polls: st.counters.polls(),
        sources: cfg.sources.iter().filter(|s| s.enabled).map(|s| s.id.clone()).collect(),
        health: st.store.source_health()?,
        items_by_source: st.store.count_items_by_source()?.into_iter().collect(),
        findings: st.store.finding_counts()?,
        emails: st.store.outbox_counts()?,
        last_round_unix,
        index_bytes: dir_size(st.index.dir()),
        index_docs: st.index.num_docs(),
        index_lag: (st.store.max_rev()? - st.index.indexed_rev()).max(0),
        reloads: st.counters.reloads(),
        login_checks: {
            let c = st.auth.check_stats();
            (c.total, c.peak, c.limit)
        },
    })
}

/// Bytes of the files in a folder (not following links); 0 when unreadable.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_login_only_a_path_on_this_host() {
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "/\t/evil.example/",
            "/%09/evil.example/",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/a\\b",
            "/x\r\nSet-Cookie: a=b",
            "/%0d%0aSet-Cookie:%20a=b",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/\u{2028}x",
        ] {
            assert_eq!(local_next(bad), "/", "{bad:?}");
        }
        assert_eq!(local_next("/search?q=%E7%83%AD%E7%BA%BF&page=2"), "/search?q=%E7%83%AD%E7%BA%BF&page=2");
        assert_eq!(local_next("/search?q=热线 办结"), "/search?q=%E7%83%AD%E7%BA%BF%20%E5%8A%9E%E7%BB%93");
        assert_eq!(local_next("/units/jiaoyuju"), "/units/jiaoyuju");
        // Always a value a Location header can carry.
        assert_eq!(see_other("/search?q=热线").headers()[header::LOCATION], "/search?q=%E7%83%AD%E7%BA%BF");
    }
}
