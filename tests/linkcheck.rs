//! The dead-link checker against real HTTP servers on loopback: what counts
//! as alive and failed, HEAD refused → GET, limits per host and in total, and
//! the store's verdict over several checks (a blip is not a dead link).
//! No DNS: an unresolvable host would ask the network's resolver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, Response};
use chrono::{DateTime, FixedOffset, TimeZone};
use govwatch::config::Fetch;
use govwatch::linkcheck::{self, CheckSettings, Outcome};
use govwatch::normalize::time::china;
use govwatch::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Log {
    /// path → methods, in the order they came.
    requests: HashMap<String, Vec<String>>,
    in_flight: usize,
    max_in_flight: usize,
}

/// An axum server with fixed behaviours per path (see `answer`).
#[derive(Clone)]
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl Server {
    async fn start() -> Server {
        let log: Arc<Mutex<Log>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(answer).with_state(log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn methods(&self, path: &str) -> Vec<String> {
        self.log.lock().unwrap().requests.get(path).cloned().unwrap_or_default()
    }

    fn max_in_flight(&self) -> usize {
        self.log.lock().unwrap().max_in_flight
    }
}

fn status(code: u16) -> Response<Body> {
    Response::builder().status(code).body(Body::from("body")).unwrap()
}

fn redirect(to: &str) -> Response<Body> {
    Response::builder().status(302).header("location", to).body(Body::empty()).unwrap()
}

async fn answer(State(log): State<Arc<Mutex<Log>>>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_string();
    let head = req.method() == Method::HEAD;
    let nth = {
        let mut l = log.lock().unwrap();
        l.in_flight += 1;
        l.max_in_flight = l.max_in_flight.max(l.in_flight);
        let seen = l.requests.entry(path.clone()).or_default();
        seen.push(req.method().to_string());
        seen.len()
    };
    let resp = match path.as_str() {
        "/ok" => status(200),
        "/404" => status(404),
        "/410" => status(410),
        "/500" => status(500),
        "/nohead" if head => status(405),
        "/nohead" => status(200),
        "/protected" if head => status(403),
        "/protected" => status(403),
        "/login" => status(401),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            status(200)
        }
        "/redirect" => redirect("/ok"),
        "/redirect-dead" => redirect("/404"),
        "/loop" => redirect("/loop"),
        // Unavailable for its first check (HEAD and GET), then fine.
        "/flaky" if nth <= 2 => status(503),
        "/flaky" => status(200),
        // An endless body (an attachment that takes long to download), to GET only.
        "/endless" if head => status(405),
        "/endless" => {
            let chunks = futures::stream::unfold((), |_| async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Some((Ok::<_, std::io::Error>(vec![b'x'; 1024]), ()))
            });
            Response::builder().status(200).body(Body::from_stream(chunks)).unwrap()
        }
        p if p.starts_with("/busy/") => {
            tokio::time::sleep(Duration::from_millis(80)).await;
            status(200)
        }
        _ => status(404),
    };
    log.lock().unwrap().in_flight -= 1;
    resp
}

/// A raw server that resets the connection on HEAD and answers GET with 200;
/// returns its address and the methods it saw.
async fn resetting_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let method = String::from_utf8_lossy(&buf).split(' ').next().unwrap_or("").to_string();
                s.lock().unwrap().push(method.clone());
                if method == "HEAD" {
                    let _ = sock.set_zero_linger();
                    drop(sock); // RST
                } else {
                    let _ =
                        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                    let _ = sock.shutdown().await;
                }
            });
        }
    });
    (addr, seen)
}

fn settings() -> CheckSettings {
    CheckSettings { timeout: Duration::from_secs(1), ..CheckSettings::default() }
}

/// The test servers are on loopback, which links may reach only when allowed.
fn client() -> linkcheck::Client {
    linkcheck::client(&Fetch { allow_private: vec!["127.0.0.0/8".into()], ..Fetch::default() }).unwrap()
}

async fn check_all(urls: Vec<String>, settings: &CheckSettings) -> HashMap<String, Outcome> {
    linkcheck::check(&client(), urls, settings, |_, _| {}).await.into_iter().collect()
}

async fn check_one(url: String) -> Outcome {
    let mut r = check_all(vec![url.clone()], &settings()).await;
    r.remove(&url).expect("a result for the URL")
}

fn failed_with(o: &Outcome, code: u16) -> bool {
    matches!(o, Outcome::Failed { status: Some(s), .. } if *s == code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_decide_alive_or_failed() {
    let s = Server::start().await;
    assert_eq!(check_one(s.url("/ok")).await, Outcome::Alive { status: 200 });
    assert_eq!(s.methods("/ok"), ["HEAD"], "a HEAD that answers 200 is enough");
    assert_eq!(check_one(s.url("/404")).await, Outcome::Failed { status: Some(404), reason: "404 Not Found".into() });
    assert_eq!(check_one(s.url("/410")).await, Outcome::Failed { status: Some(410), reason: "410 Gone".into() });
    assert_eq!(s.methods("/404"), ["HEAD"], "404 to HEAD is final");
    let o = check_one(s.url("/500")).await;
    assert!(failed_with(&o, 500), "{o:?}");
    assert_eq!(s.methods("/500"), ["HEAD", "GET"], "a 5xx to HEAD is asked again with GET");
    // 401, and 403 to GET: the page exists, behind a login.
    assert_eq!(check_one(s.url("/login")).await, Outcome::Alive { status: 401 });
    assert_eq!(check_one(s.url("/protected")).await, Outcome::Alive { status: 403 });
    assert_eq!(s.methods("/protected"), ["HEAD", "GET"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_refused_falls_back_to_get() {
    let s = Server::start().await;
    assert_eq!(check_one(s.url("/nohead")).await, Outcome::Alive { status: 200 });
    assert_eq!(s.methods("/nohead"), ["HEAD", "GET"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_connection_reset_falls_back_to_get() {
    let (addr, seen) = resetting_server().await;
    let o = check_one(format!("http://{addr}/attachment.pdf")).await;
    assert_eq!(o, Outcome::Alive { status: 200 });
    assert_eq!(*seen.lock().unwrap(), ["HEAD", "GET"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_does_not_download_the_body() {
    let s = Server::start().await;
    let started = std::time::Instant::now();
    assert_eq!(check_one(s.url("/endless")).await, Outcome::Alive { status: 200 });
    assert_eq!(s.methods("/endless"), ["HEAD", "GET"]);
    // Reading the body to its end would last until the 1 s timeout.
    assert!(started.elapsed() < Duration::from_millis(700), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_time_out() {
    let s = Server::start().await;
    let started = std::time::Instant::now();
    let o = check_one(s.url("/slow")).await;
    assert_eq!(o, Outcome::Failed { status: None, reason: "超时 1 s".into() });
    assert!(started.elapsed() < Duration::from_secs(3), "no second wait with GET: {:?}", started.elapsed());
    assert_eq!(s.methods("/slow"), ["HEAD"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed() {
    let s = Server::start().await;
    assert_eq!(check_one(s.url("/redirect")).await, Outcome::Alive { status: 200 });
    assert_eq!(s.methods("/ok"), ["HEAD"]);
    let o = check_one(s.url("/redirect-dead")).await;
    assert!(failed_with(&o, 404), "{o:?}");
    let o = check_one(s.url("/loop")).await;
    match &o {
        Outcome::Failed { status: None, reason } => assert!(reason.starts_with("重定向过多或无效 ("), "{reason}"),
        other => panic!("a redirect loop is broken: {other:?}"),
    }
    assert!(s.methods("/loop").len() <= linkcheck::MAX_REDIRECTS + 1, "{:?}", s.methods("/loop"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_connection_refused() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let o = check_one(format!("http://{addr}/x")).await;
    match &o {
        Outcome::Failed { status: None, reason } => assert!(reason.starts_with("连接被拒绝 ("), "{reason}"),
        other => panic!("expected a refused connection: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_schemes_duplicates_and_invalid_urls() {
    let s = Server::start().await;
    let urls = vec![
        s.url("/ok"),
        "mailto:gk@example.gov.cn".into(),
        "javascript:void(0)".into(),
        "#top".into(),
        "/files/a.pdf".into(),
        "C:\\公文\\a.doc".into(),
        s.url("/404"),
        s.url("/ok"),
        "http://".into(),
    ];
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let r =
        linkcheck::check(&client(), urls, &settings(), move |done, total| c.lock().unwrap().push((done, total))).await;
    let keys: Vec<&str> = r.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(keys, [s.url("/ok").as_str(), s.url("/404").as_str(), "http://"]);
    assert_eq!(s.methods("/ok"), ["HEAD"], "a duplicate is checked once");
    match &r[2].1 {
        Outcome::Failed { status: None, reason } => assert!(reason.starts_with("链接无效（"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls.last(), Some(&(3, 3)));
    assert!(linkcheck::check(&client(), vec![], &settings(), |_, _| {}).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_per_host_and_in_total() {
    let a = Server::start().await;
    let b = Server::start().await;
    let mut urls = Vec::new();
    for i in 0..12 {
        urls.push(a.url(&format!("/busy/{i}")));
        urls.push(b.url(&format!("/busy/{i}")));
    }
    let r = check_all(urls.clone(), &CheckSettings { per_host: 2, ..settings() }).await;
    assert_eq!(r.len(), 24);
    assert!(r.values().all(|o| *o == Outcome::Alive { status: 200 }), "{r:?}");
    assert_eq!((a.max_in_flight(), b.max_in_flight()), (2, 2), "per_host bounds each host, and both are used");

    let c = Server::start().await;
    let urls: Vec<String> = (0..12).map(|i| c.url(&format!("/busy/{i}"))).collect();
    let r = check_all(urls, &CheckSettings { per_host: 10, total: 3, ..settings() }).await;
    assert_eq!(r.len(), 12);
    assert_eq!(c.max_in_flight(), 3, "total bounds all requests");
}

fn day(n: i64) -> DateTime<FixedOffset> {
    china().with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap() + chrono::Duration::days(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blip_is_not_dead_but_three_days_of_failures_are() {
    let s = Server::start().await;
    let store = Store::open_in_memory().unwrap();
    let (flaky, gone, ok) = (s.url("/flaky"), s.url("/404"), s.url("/ok"));
    for d in 0..3 {
        let results =
            linkcheck::check(&client(), vec![flaky.clone(), gone.clone(), ok.clone()], &settings(), |_, _| {}).await;
        if d == 0 {
            assert!(failed_with(&results[0].1, 503), "{results:?}");
        } else {
            assert_eq!(results[0].1, Outcome::Alive { status: 200 });
        }
        store.record_link_checks(&results, day(d)).unwrap();
        let records = store.link_records().unwrap();
        assert!(!records[&flaky].is_dead(3, 2), "day {d}: one failure is not a dead link");
        if d > 0 {
            assert!(!records[&flaky].is_dead(1, 0), "a link that failed once and then answered is not dead");
        }
        assert!(!records[&ok].is_dead(1, 0));
        assert_eq!(records[&gone].is_dead(3, 2), d == 2, "day {d}: {:?}", records[&gone]);
    }
    let records = store.link_records().unwrap();
    let g = &records[&gone];
    assert_eq!((g.failures, g.first_failure_at, g.last_failure_at), (3, Some(day(0)), Some(day(2))));
    assert_eq!((g.last_status, g.last_error.as_deref()), (Some(404), Some("404 Not Found")));
    let f = &records[&flaky];
    assert_eq!((f.failures, f.last_success_at, f.last_error.as_deref()), (0, Some(day(2)), None));
    // Everything was checked at day 2: nothing is due before it, all after.
    let all = vec![flaky.clone(), gone.clone(), ok.clone()];
    assert!(store.links_due(&all, day(2)).unwrap().is_empty());
    assert_eq!(store.links_due(&all, day(3)).unwrap().len(), 3);
}
