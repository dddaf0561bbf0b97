//! The web console over real HTTP against the real daemon on loopback:
//! logins, sessions, CSRF, rate limiting, the pages and their JSON, downloads,
//! masking by role, and untrusted feed content kept inert.
//! (`browser` drives the same pages in headless Chromium.)

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::daemon::{Daemon, Options, demo_config};

pub const OFFICER: (&str, &str) = ("zhiban", "govwatch-demo");
pub const ADMIN: (&str, &str) = ("guanli", "govwatch-admin");

/// A feed whose items try to run script in the console.
pub const XSS_FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>恶意</title><link>http://example.gov.cn/</link>
<item><title>热线通报&lt;script&gt;document.title='pwned'&lt;/script&gt;</title>
<link>javascript:document.title='pwned'</link>
<description>&lt;img src=x onerror="document.title='pwned'"&gt;热线 攻击样本 &lt;script&gt;document.title='pwned'&lt;/script&gt;</description>
<pubDate>Mon, 16 Nov 2026 10:00:00 +0800</pubDate></item>
</channel></rss>"#;

/// A minimal HTTP client with a cookie jar and no automatic redirects.
pub struct Client {
    pub base: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, k: &str) -> String {
        self.headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client {
            base: format!("http://{addr}"),
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn send(&mut self, req: reqwest::RequestBuilder) -> Resp {
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = if jar.is_empty() { req } else { req.header("cookie", jar.join("; ")) };
        let (status, headers, body) = self.rt.block_on(async {
            let r = req.send().await.unwrap();
            let (s, h) = (r.status().as_u16(), r.headers().clone());
            (s, h, r.bytes().await.unwrap().to_vec())
        });
        for c in headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            if let Some((k, v)) = kv.split_once('=') {
                if c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        Resp { status, headers, body }
    }

    pub fn get(&mut self, path: &str) -> Resp {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req)
    }

    /// A GET with one extra header (what a reverse proxy adds).
    pub fn get_with(&mut self, path: &str, header: (&str, &str)) -> Resp {
        let req = self.http.get(format!("{}{path}", self.base)).header(header.0, header.1);
        self.send(req)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req)
    }

    /// The login page's CSRF token, then the form: the response to the POST.
    pub fn login(&mut self, (name, password): (&str, &str)) -> Resp {
        let page = self.get("/login").text();
        let csrf = hidden(&page, "csrf");
        self.post("/login", &[("name", name), ("password", password), ("csrf", &csrf), ("next", "/")])
    }
}

/// The value of a hidden form field.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in:\n{html}")) + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// The demo plus a feed of hostile items, run as the daemon; waits until
/// every source has been polled and the index holds them.
pub fn console(dir: &Path) -> Daemon {
    std::fs::write(dir.join("xss.xml"), XSS_FEED).unwrap();
    let feed = dir.join("xss.xml");
    let cfg = demo_config(dir, |s| {
        format!(
            "{s}\n[[sources]]\nid = \"xss\"\nname = \"恶意样本\"\nkind = \"feed\"\nurl = \"{}\"\nunit = \"gongkaiban\"\n\
             role = \"opinion\"\nlevel = \"county\"\n",
            feed.display()
        )
    });
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir, env: vec![] });
    d.ready(Duration::from_secs(60));
    d.wait_log("index updated", Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, _, body) = d.get("/metrics");
        let polled =
            body.lines().filter(|l| l.starts_with("govwatch_polls_total{") && l.contains("status=\"ok\"} 1")).count();
        let lag = body.lines().find(|l| l.starts_with("govwatch_index_lag_revisions ")).map(|l| l.ends_with(" 0"));
        // Findings are evaluated with the index update that follows the polls.
        if polled == 7
            && lag == Some(true)
            && body.contains("govwatch_findings{rule=\"hotline_deadline\",state=\"overdue\"}")
        {
            return d;
        }
        assert!(Instant::now() < deadline, "the console's data is not ready:\n{body}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn without_a_session_pages_redirect_to_login_and_the_api_answers_401() {
    let dir = tempfile::tempdir().unwrap();
    let d = console(dir.path());
    let mut c = Client::new(d.addr.as_deref().unwrap());
    for page in ["/", "/search?q=热线", "/findings", "/reposts", "/sources", "/units/jiaoyuju", "/findings.xlsx"] {
        let r = c.get(page);
        assert_eq!(r.status, 303, "{page}");
        assert!(r.header("location").starts_with("/login?next="), "{page}: {}", r.header("location"));
    }
    for api in ["/api/search?q=热线", "/api/findings", "/api/reposts", "/api/sources", "/api/items/0000000000000001"]
    {
        let r = c.get(api);
        assert_eq!(r.status, 401, "{api}");
        assert_eq!(r.json()["error"], "login required");
    }
    assert_eq!(c.get("/healthz").status, 200);
    // A forged session cookie is no session.
    c.cookies.insert("govwatch_session".into(), "f".repeat(64));
    assert_eq!(c.get("/api/findings").status, 401);
}

#[test]
fn a_trusted_proxy_header_logs_in_and_cookieless_clients_share_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), |s| s.to_string());
    let env = vec![("GOVWATCH__WEB__TRUSTED_USER_HEADER", "X-Remote-User".to_string())];
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir.path(), env });
    d.ready(Duration::from_secs(60));
    let addr = d.addr.clone().unwrap();
    let session = |r: &Resp| {
        let set = r.header("set-cookie");
        assert!(set.starts_with("govwatch_session=") && set.contains("HttpOnly"), "{set}");
        set["govwatch_session=".len()..].split(';').next().unwrap().to_string()
    };

    // A script behind the proxy keeps no cookie: every request is vouched
    // for by the header alone, and they all get the same session, not a
    // new one each (which would pile up for session_hours).
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let r = Client::new(&addr).get_with("/api/findings", ("X-Remote-User", OFFICER.0));
        assert_eq!(r.status, 200, "{}", r.text());
        tokens.push(session(&r));
    }
    assert_eq!(tokens[0].len(), 64);
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");

    // A browser keeps the cookie and needs the header no more.
    let mut browser = Client::new(&addr);
    assert_eq!(browser.get_with("/", ("X-Remote-User", ADMIN.0)).status, 200);
    assert!(browser.get("/").text().contains(ADMIN.0));
    let admin = browser.cookies["govwatch_session"].clone();
    assert_ne!(admin, tokens[0], "each user has a session of their own");

    // A name the configuration does not know is refused; no header, no entry.
    let r = Client::new(&addr).get_with("/api/findings", ("X-Remote-User", "nobody"));
    assert_eq!(r.status, 403);
    assert_eq!(Client::new(&addr).get("/api/findings").status, 401);
}

#[test]
fn login_needs_the_right_password_and_the_csrf_token_and_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let d = console(dir.path());
    let addr = d.addr.clone().unwrap();

    // No CSRF token: refused before the password is looked at.
    let mut c = Client::new(&addr);
    let r = c.post("/login", &[("name", OFFICER.0), ("password", OFFICER.1)]);
    assert_eq!(r.status, 403);
    assert!(!c.cookies.contains_key("govwatch_session"));

    let r = c.login((OFFICER.0, "wrong password"));
    assert_eq!(r.status, 401);
    assert!(r.text().contains("用户名或密码不正确"), "{}", r.text());

    let r = c.login(OFFICER);
    assert_eq!(r.status, 303, "{}", r.text());
    let set = r.header("set-cookie");
    assert!(
        set.starts_with("govwatch_session=") && set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let home = c.get("/");
    assert_eq!(home.status, 200);
    assert!(home.header("content-security-policy").contains("script-src 'self'"));
    let html = home.text();
    assert!(html.contains("zhiban（值班员）"), "{html}");

    // Logout is a POST with the session's token; without it, refused.
    assert_eq!(c.post("/logout", &[]).status, 403);
    assert_eq!(c.get("/").status, 200, "a refused logout leaves the session");
    let csrf = hidden(&html, "csrf");
    assert_eq!(c.post("/logout", &[("csrf", &csrf)]).status, 303);
    assert_eq!(c.get("/").status, 303, "logged out");

    // Five failures from one address (one above, four here) lock it out for
    // a while, even with the right password.
    let mut e = Client::new(&addr);
    for _ in 0..4 {
        assert_eq!(e.login((ADMIN.0, "guess")).status, 401);
    }
    let r = e.login(ADMIN);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("15 分钟"));
}

#[test]
fn search_board_units_items_and_downloads_answer_with_masked_numbers_for_officers() {
    let dir = tempfile::tempdir().unwrap();
    let d = console(dir.path());
    let addr = d.addr.clone().unwrap();
    let mut c = Client::new(&addr);
    assert_eq!(c.login(OFFICER).status, 303);

    // Search: highlighted, masked for an officer.
    let page = c.get("/search?q=燃气").text();
    assert!(page.contains("<b>燃气</b>"), "{page}");
    assert!(page.contains("139****5678") && !page.contains("13912345678"), "{page}");
    let api = c.get("/api/search?q=燃气").json();
    assert_eq!(api["total"], 1);
    let hit = &api["hits"][0];
    for field in ["id", "title", "url", "source", "unit", "kind", "published_at", "score", "snippet"] {
        assert!(hit.get(field).is_some(), "api hit lacks {field}: {hit}");
    }
    let mut admin = Client::new(&addr);
    assert_eq!(admin.login(ADMIN).status, 303);
    assert!(admin.get("/search?q=燃气").text().contains("13912345678"), "an admin sees the number");

    // Filters: by unit.
    let by_unit = c.get("/api/search?q=学校&unit=jiaoyuju").json();
    assert!(by_unit["total"].as_u64().unwrap() >= 1);
    assert!(by_unit["hits"].as_array().unwrap().iter().all(|h| h["unit"] == "jiaoyuju"), "{by_unit}");

    // The board: a known overdue order, counts per unit, and its unit page.
    let board = c.get("/findings?state=overdue").text();
    assert!(board.contains("GD20261102001"), "{board}");
    let rows = c.get("/api/findings?unit=jiaoyuju").json();
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r["unit"] == "jiaoyuju"));
    let order = rows.iter().find(|r| r["number"] == "GD20261102001").expect("GD20261102001 on the board");
    assert_eq!(order["state"], "overdue");
    assert!(order["days"].as_i64().unwrap() > 0);
    let unit = c.get("/units/jiaoyuju").text();
    assert!(unit.contains("GD20261102001") && unit.contains("示范县教育局"), "{unit}");
    let item = c.get(&format!("/items/{}", order["item_id"].as_str().unwrap())).text();
    assert!(item.contains("咨询孩子转学需要准备哪些材料") && item.contains("热线工单办理时限"), "{item}");
    let item_json = c.get(&format!("/api/items/{}", order["item_id"].as_str().unwrap())).json();
    assert_eq!(item_json["findings"][0]["state"], "overdue");

    // Downloads.
    let x = c.get("/findings.xlsx?state=overdue");
    assert_eq!(x.status, 200);
    assert_eq!(&x.body[..2], b"PK", "an .xlsx is a zip");
    assert!(x.header("content-disposition").starts_with("attachment"));
    let csv = c.get("/findings.csv?unit=jiaoyuju");
    let text = csv.text();
    assert!(text.starts_with('\u{feff}'), "CSV starts with a BOM for Excel/WPS");
    assert!(text.contains("状态,规则,承办单位,编号") && text.contains("GD20261102001"), "{text}");
    let s = c.get("/search.csv?q=燃气").text();
    assert!(s.contains("139****5678") && !s.contains("13912345678"), "downloads are masked too: {s}");

    // Reposts and sources.
    let reposts = c.get("/api/reposts").json();
    assert!(reposts.as_array().unwrap().iter().any(|o| o["state"] == "overdue"), "{reposts}");
    assert!(c.get("/reposts").text().contains("未转载已超期"));
    let sources = c.get("/api/sources").json();
    assert_eq!(sources.as_array().unwrap().len(), 7);
    assert!(sources.as_array().unwrap().iter().all(|s| s["health"] == "ok"), "{sources}");
}

#[test]
fn hostile_feed_content_is_shown_as_text_and_never_as_markup() {
    let dir = tempfile::tempdir().unwrap();
    let d = console(dir.path());
    let mut c = Client::new(d.addr.as_deref().unwrap());
    assert_eq!(c.login(OFFICER).status, 303);
    let r = c.get("/search?q=攻击样本");
    let page = r.text();
    assert!(page.contains("攻击样本"), "the hostile item is found: {page}");
    assert!(!page.contains("<script>document"), "a <script> from a feed is escaped: {page}");
    assert!(!page.contains("<img src=x"), "an <img onerror> from a feed is escaped: {page}");
    assert!(!page.contains("javascript:"), "a javascript: link is not offered: {page}");
    assert!(page.contains("&lt;script&gt;") || page.contains("&lt;img"), "shown as text: {page}");
    assert!(r.header("content-security-policy").contains("script-src 'self'"));
    let id = c.get("/api/search?q=攻击样本").json()["hits"][0]["id"].as_str().unwrap().to_string();
    let item = c.get(&format!("/items/{id}")).text();
    assert!(
        !item.contains("<script>document") && !item.contains("<img src=x") && !item.contains("javascript:"),
        "{item}"
    );
}

/// Issue 16 item 9: in the console a source that failed once and has
/// answered since is healthy with no error shown (page and `/api/sources`).
#[test]
fn the_console_shows_no_old_error_for_a_source_that_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("wobbly.xml");
    let cfg = demo_config(dir.path(), |s| {
        format!(
            "{s}\n[[sources]]\nid = \"wobbly\"\nname = \"时好时坏\"\nkind = \"feed\"\nurl = \"{}\"\nunit = \"gongkaiban\"\n\
             role = \"portal\"\nlevel = \"county\"\n",
            feed.display()
        )
    });
    // One failed poll before the daemon starts; the file is there when it polls.
    let poll = std::process::Command::new(crate::support::bin())
        .args(["poll", "--source", "wobbly", "--config", cfg.to_str().unwrap()])
        .current_dir(crate::support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", dir.path().join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", dir.path().join("index"))
        // A backoff of a second, so that the daemon polls it again at start.
        .env("GOVWATCH__FETCH__BACKOFF_BASE_SECS", "1")
        .env_remove("GOVWATCH_CONFIG")
        .output()
        .unwrap();
    assert_eq!(poll.status.code(), Some(1), "{}", String::from_utf8_lossy(&poll.stdout));
    std::fs::copy(crate::support::repo().join("config/demo/xian-portal.xml"), &feed).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let env = vec![("GOVWATCH__WEB__TRUSTED_USER_HEADER", "X-Remote-User".to_string())];
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir.path(), env });
    d.ready(Duration::from_secs(60));
    let addr = d.addr.clone().unwrap();
    let get = |path: &str| Client::new(&addr).get_with(path, ("X-Remote-User", OFFICER.0));
    let deadline = Instant::now() + Duration::from_secs(60);
    let row = loop {
        let sources = get("/api/sources").json();
        let row = sources.as_array().unwrap().iter().find(|s| s["id"] == "wobbly").cloned().unwrap();
        if row["health"] == "ok" {
            break row;
        }
        assert!(Instant::now() < deadline, "the daemon did not poll wobbly: {row}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!((row["error"].clone(), row["error_at"].clone()), (Value::Null, Value::from("")), "{row}");
    let page = get("/sources").text();
    assert!(page.contains("时好时坏") && !page.contains("No such file"), "{page}");
}
