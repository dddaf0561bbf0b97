//! Helpers shared by the integration tests: the shared real-data folder, temp
//! folders, configurations, and real HTTP servers on loopback.

#![allow(dead_code)]

pub mod daemon;
pub mod hostile_fetch;
pub mod hostile_files;
pub mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Response, StatusCode};
use govwatch::config::{self, Config};

/// The folder of real material (`../shared`: `data/` and `seeds/`), found
/// through one setting: `GOVWATCH_SHARED`, default `../shared` next to the
/// crate. `None` — and a plain message in the test output — when it is absent.
pub fn shared(what: &str) -> Option<PathBuf> {
    let p = shared_path(what);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "NOT RUN: {} is missing (set GOVWATCH_SHARED to the folder holding data/ and seeds/); this test checked nothing",
            p.display()
        );
        None
    }
}

/// Where `what` is in the shared folder (see [`shared`]), present or not.
fn shared_path(what: &str) -> PathBuf {
    let dir = std::env::var_os("GOVWATCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.join(what)
}

/// Like [`shared`], without the "NOT RUN" message: for tests that still
/// check something without it (and say so themselves).
pub fn shared_if_present(what: &str) -> Option<PathBuf> {
    Some(shared_path(what)).filter(|p| p.exists())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_govwatch"))
}

/// A configuration from TOML, which must have no errors, with its storage in `dir`.
pub fn config(toml: &str, dir: &Path) -> Config {
    let loaded = config::from_toml_str(toml).expect("test config is TOML");
    let errors: Vec<String> = loaded.errors().map(|p| p.to_string()).collect();
    assert!(errors.is_empty(), "test config has errors: {errors:#?}");
    let mut cfg = loaded.config;
    cfg.storage.data_dir = dir.join("var");
    cfg.storage.index_dir = dir.join("index");
    // Tests must not wait seconds between retries.
    cfg.fetch.retry_base_ms = 20;
    cfg
}

pub const UNITS: &str = r#"
[[units]]
id = "bangongshi"
name = "区政府办公室"
emails = ["gk@example.gov.cn"]
"#;

/// One `[[sources]]` table.
pub fn source(id: &str, kind: &str, url: &str, extra: &str) -> String {
    format!(
        "[[sources]]\nid = \"{id}\"\nkind = \"{kind}\"\nurl = \"{url}\"\nunit = \"bangongshi\"\nrole = \"portal\"\nlevel = \"county\"\n{extra}\n"
    )
}

/// A canned HTTP response.
#[derive(Clone, Debug)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Delay before answering.
    pub delay_ms: u64,
}

impl Canned {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Canned {
        Canned {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            delay_ms: 0,
        }
    }

    pub fn status(status: u16) -> Canned {
        Canned { status, headers: vec![], body: Vec::new(), delay_ms: 0 }
    }

    pub fn header(mut self, k: &str, v: &str) -> Canned {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn delay(mut self, ms: u64) -> Canned {
        self.delay_ms = ms;
        self
    }
}

/// What the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct ServerState {
    /// path → queue of responses; the last one repeats.
    routes: HashMap<String, Vec<Canned>>,
    seen: Vec<Seen>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A real HTTP server on 127.0.0.1 with canned responses per path. It
/// answers `If-None-Match` matching its ETag with 304, as servers do.
#[derive(Clone)]
pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<ServerState>>,
}

impl TestServer {
    /// Starts the server on a port the OS picks, on its own thread and runtime.
    pub fn start() -> TestServer {
        TestServer::start_on("127.0.0.1")
    }

    /// Starts the server on another loopback address (`127.0.0.2` …: all of
    /// 127.0.0.0/8 is loopback on Linux), for a host that is not a source's own.
    pub fn start_on(ip: &str) -> TestServer {
        let ip = ip.to_string();
        let state: Arc<Mutex<ServerState>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind((ip.as_str(), 0)).await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new().fallback(handle).with_state(st);
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().expect("test server started");
        TestServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answers `path` with these responses in turn (the last repeats).
    pub fn route(&self, path: &str, responses: Vec<Canned>) {
        self.state.lock().unwrap().routes.insert(path.to_string(), responses);
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.state.lock().unwrap().seen.iter().filter(|s| s.path == path).cloned().collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// Every request the server answered, whatever the path.
    pub fn seen_all(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

async fn handle(State(st): State<Arc<Mutex<ServerState>>>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_string();
    let canned = {
        let mut s = st.lock().unwrap();
        s.seen.push(Seen { path: path.clone(), headers: req.headers().clone() });
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        match s.routes.get_mut(&path) {
            Some(q) if q.len() > 1 => Some(q.remove(0)),
            Some(q) => q.first().cloned(),
            None => None,
        }
    };
    let resp = match canned {
        None => Response::builder().status(404).body(Body::from("not found")).unwrap(),
        Some(c) => {
            if c.delay_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(c.delay_ms)).await;
            }
            let etag = c.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("etag")).map(|(_, v)| v.clone());
            let inm = req.headers().get("if-none-match").and_then(|v| v.to_str().ok());
            if c.status == 200 && etag.is_some() && inm == etag.as_deref() {
                Response::builder().status(StatusCode::NOT_MODIFIED).body(Body::empty()).unwrap()
            } else {
                let mut b = Response::builder().status(c.status);
                for (k, v) in &c.headers {
                    b = b.header(k, v);
                }
                b.body(Body::from(c.body)).unwrap()
            }
        }
    };
    st.lock().unwrap().in_flight -= 1;
    resp
}

/// An RSS 2.0 feed of (title, link, description, pubDate) items, XML-escaped.
pub fn rss(title: &str, items: &[(String, String, String, String)]) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title><language>zh-CN</language>\n",
        esc(title)
    );
    for (t, l, d, p) in items {
        x.push_str(&format!(
            "<item><title>{}</title><link>{}</link><description>{}</description><pubDate>{}</pubDate></item>\n",
            esc(t),
            esc(l),
            esc(d),
            esc(p)
        ));
    }
    x.push_str("</channel></rss>\n");
    x
}

/// Rows of a query on the store in `var` (SQLite, or the PostgreSQL
/// database the test hook maps it to), every column as text ("" for NULL).
pub fn store_rows(var: &Path, sql: &str, values: &[&str]) -> Vec<Vec<String>> {
    let store = govwatch::store::Store::open(var).unwrap();
    store
        .query_strings(sql, values)
        .unwrap()
        .into_iter()
        .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
        .collect()
}
