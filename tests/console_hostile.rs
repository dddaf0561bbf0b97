//! Issue 18 items 5, 6 and 7 (the console's part): hostile input to the web
//! console over real HTTP against the real daemon on loopback — spreadsheet
//! formulas in downloaded titles, guesses sent at once, queries of thousands
//! of terms, redirects off this host after login, half-sent requests.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, Options, demo_config};
use crate::web::{ADMIN, Client, OFFICER, XSS_FEED, hidden};

/// Titles a spreadsheet would run as formulas (OWASP's CSV injection
/// examples), each with 学校 (a watch term of 示范县教育局, so that each is
/// also a finding on the board) and 注入样本 (to search for).
pub const FORMULAS: [&str; 7] = [
    "=HYPERLINK(\"http://evil.example/\",\"学校 注入样本一\")",
    "=cmd|' /C calc'!A0 学校 注入样本二",
    "+1+cmd|' /C calc'!A0 学校 注入样本三",
    "-2+3+cmd|' /C calc'!A0 学校 注入样本四",
    "@SUM(1+1)*cmd|' /C calc'!A0 学校 注入样本五",
    "\t=1+1 学校 注入样本六",
    "\r=1+1 学校 注入样本七",
];

pub fn formula_feed() -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;").replace('\t', "&#9;").replace('\r', "&#13;")
    };
    let items: String = FORMULAS
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "<item><title>{}</title><link>http://example.gov.cn/f{i}.html</link>\
                 <description>{}</description><pubDate>Mon, 16 Nov 2026 10:00:00 +0800</pubDate></item>\n",
                esc(t),
                esc(t)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>注入</title>\
         <link>http://example.gov.cn/</link>\n{items}</channel></rss>"
    )
}

/// The demo plus the hostile feeds (script, formulas), run as the daemon;
/// waits until every source has been polled and the index holds them.
fn console(dir: &Path, env: Vec<(&str, String)>) -> Daemon {
    std::fs::write(dir.join("xss.xml"), XSS_FEED).unwrap();
    std::fs::write(dir.join("formulas.xml"), formula_feed()).unwrap();
    let cfg = demo_config(dir, |s| {
        let mut s = s;
        for (id, name) in [("xss", "恶意样本"), ("formulas", "公式样本")] {
            s.push_str(&format!(
                "\n[[sources]]\nid = \"{id}\"\nname = \"{name}\"\nkind = \"feed\"\nurl = \"{}\"\nunit = \"gongkaiban\"\n\
                 role = \"opinion\"\nlevel = \"county\"\n",
                dir.join(format!("{id}.xml")).display()
            ));
        }
        s
    });
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir, env });
    d.ready(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (_, _, body) = d.get("/metrics");
        let polled =
            body.lines().filter(|l| l.starts_with("govwatch_polls_total{") && l.contains("status=\"ok\"} 1")).count();
        let lag = body.lines().find(|l| l.starts_with("govwatch_index_lag_revisions ")).map(|l| l.ends_with(" 0"));
        if polled == 8
            && lag == Some(true)
            && body.contains("govwatch_findings{rule=\"opinion_response\",state=\"overdue\"}")
            && body.contains("govwatch_findings{rule=\"hotline_deadline\",state=\"overdue\"}")
        {
            return d;
        }
        assert!(Instant::now() < deadline, "the console's data is not ready:\n{body}\n{}", d.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The cells of a CSV download (after its BOM).
fn csv_cells(body: &[u8]) -> Vec<Vec<String>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF".as_slice()).expect("a BOM");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Would a spreadsheet read this cell as a formula?
fn runs(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell.parse::<f64>().is_err()
}

#[test]
fn downloads_show_formulas_from_feeds_as_text_and_logins_redirect_only_on_this_host() {
    let dir = tempfile::tempdir().unwrap();
    let d = console(dir.path(), vec![]);
    let addr = d.addr.clone().unwrap();
    let mut c = Client::new(&addr);
    assert_eq!(c.login(OFFICER).status, 303);

    // Search downloads: every formula title is there, as text.
    let csv = c.get("/search.csv?q=注入样本");
    assert_eq!(csv.status, 200, "{}", csv.text());
    let rows = csv_cells(&csv.body);
    let titles: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(titles.len(), FORMULAS.len(), "{titles:?}");
    assert!(titles.contains(&"'=HYPERLINK(\"http://evil.example/\",\"学校 注入样本一\")"), "{titles:?}");
    assert!(titles.contains(&"'=cmd|' /C calc'!A0 学校 注入样本二"), "{titles:?}");
    assert!(titles.contains(&"'-2+3+cmd|' /C calc'!A0 学校 注入样本四"), "{titles:?}");
    for row in &rows {
        for cell in row {
            assert!(!runs(cell), "a spreadsheet would run {cell:?} in {row:?}");
        }
    }
    // The board's download: the same items as findings of 示范县教育局 (their summaries).
    let board = c.get("/findings.csv?unit=jiaoyuju");
    assert_eq!(board.status, 200, "{}", board.text());
    let rows = csv_cells(&board.body);
    let summaries = rows.iter().filter(|r| r[4].contains("注入样本")).count();
    assert_eq!(summaries, FORMULAS.len(), "{rows:?}");
    assert!(rows.iter().any(|r| r[4] == "'=cmd|' /C calc'!A0 学校 注入样本二"), "{rows:?}");
    for row in &rows {
        for cell in row {
            assert!(!runs(cell), "a spreadsheet would run {cell:?} in {row:?}");
        }
    }
    // The .xlsx downloads keep the text as it is, in string cells: no formula anywhere.
    for path in ["/search.xlsx?q=注入样本", "/findings.xlsx?unit=jiaoyuju"] {
        use calamine::Reader;
        let x = c.get(path);
        assert_eq!(x.status, 200, "{path}");
        let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(x.body)).unwrap();
        let sheet = book.sheet_names()[0].clone();
        let formulas = book.worksheet_formula(&sheet).unwrap();
        assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "{path}: a formula cell");
        let range = book.worksheet_range(&sheet).unwrap();
        let cells: Vec<&calamine::Data> = range.used_cells().map(|(_, _, v)| v).collect();
        assert!(
            cells.iter().any(|v| **v == calamine::Data::String("=cmd|' /C calc'!A0 学校 注入样本二".into())),
            "{path}: the title as a string: {cells:?}"
        );
        assert!(
            cells.iter().all(|v| matches!(v, calamine::Data::String(_) | calamine::Data::Empty)),
            "{path}: {cells:?}"
        );
    }

    // After login: only a path on this host; CR/LF is refused cleanly.
    for next in [
        "/\t/evil.example/",
        "/%09/evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https://evil.example/",
        "/x\r\nSet-Cookie: govwatch_session=forged",
        "/%0d%0aSet-Cookie:%20a=b",
    ] {
        let mut e = Client::new(&addr);
        let page = e
            .get(&format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()));
        assert_eq!(hidden(&page.text(), "next").replace("&#x2f;", "/"), "/", "{next:?}");
        let csrf = hidden(&page.text(), "csrf");
        let r = e.post("/login", &[("name", OFFICER.0), ("password", OFFICER.1), ("csrf", &csrf), ("next", next)]);
        assert_eq!((r.status, r.header("location")), (303, "/".to_string()), "{next:?}: {}", r.text());
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 1, "{next:?}: only the session cookie");
        assert_eq!(e.get("/").status, 200, "{next:?}: logged in");
    }
    let mut e = Client::new(&addr);
    let page = e.get("/login").text();
    let csrf = hidden(&page, "csrf");
    let r = e.post(
        "/login",
        &[("name", OFFICER.0), ("password", OFFICER.1), ("csrf", &csrf), ("next", "/search?q=热线 办结率&page=2")],
    );
    assert_eq!(r.header("location"), "/search?q=%E7%83%AD%E7%BA%BF%20%E5%8A%9E%E7%BB%93%E7%8E%87&page=2");
}

#[test]
fn guesses_sent_at_once_are_counted_first_and_password_checks_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let d = console(dir.path(), vec![]);
    let addr = d.addr.clone().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let csrf = "c".repeat(64);
    // One guess from `from`: its status.
    let guess = |from: IpAddr, name: String, password: String| {
        let (addr, csrf) = (addr.clone(), csrf.clone());
        async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .local_address(from)
                .build()
                .unwrap();
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("name", name.as_str()), ("password", &password), ("csrf", &csrf), ("next", "/")])
                .finish();
            let r = http
                .post(format!("http://{addr}/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("govwatch_csrf={csrf}"))
                .body(body)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };
    let local: IpAddr = "127.0.0.1".parse().unwrap();

    // Fifty wrong guesses at once from one address: five are checked, the
    // rest refused before their password is looked at.
    let statuses: Vec<u16> =
        rt.block_on(futures::future::join_all((0..50).map(|i| guess(local, ADMIN.0.to_string(), format!("guess{i}")))));
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (5, 45), "{statuses:?}");
    // Locked: the right password is refused too.
    assert_eq!(rt.block_on(guess(local, ADMIN.0.to_string(), ADMIN.1.to_string())), 429);

    // Guesses from many addresses for many names: each is checked, but no
    // more at once than the limit (one per core).
    let statuses: Vec<u16> = rt.block_on(futures::future::join_all((2..26).map(|i| {
        let from: IpAddr = format!("127.0.0.{i}").parse().unwrap();
        guess(from, format!("name{i}"), "guess".to_string())
    })));
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let (_, _, metrics) = d.get("/metrics");
    let value = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    assert_eq!(value("govwatch_login_checks_limit"), cores);
    assert_eq!(value("govwatch_login_checks_total"), 5 + 24);
    let peak = value("govwatch_login_checks_peak");
    assert!((1..=cores).contains(&peak), "{peak} checks ran at once; the limit is {cores}");

    // Another address and another user are not locked out.
    let elsewhere: IpAddr = "127.0.0.30".parse().unwrap();
    assert_eq!(rt.block_on(guess(elsewhere, OFFICER.0.to_string(), OFFICER.1.to_string())), 303);
}

#[test]
fn queries_of_thousands_of_terms_are_cut_and_the_officer_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let d = console(dir.path(), vec![]);
    let mut c = Client::new(d.addr.as_deref().unwrap());
    assert_eq!(c.login(OFFICER).status, 303);
    let many: String =
        std::iter::once("注入样本".to_string()).chain((1..3000).map(|i| format!("x{i}"))).collect::<Vec<_>>().join(" ");
    let q = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

    let api = c.get(&format!("/api/search?q={}", q(&many)));
    assert_eq!(api.status, 200, "{}", api.text());
    let notices = api.json()["notices"].clone();
    assert_eq!(notices, serde_json::json!(["检索词过多：只用了前 20 个，其余 2980 个未用"]), "{notices}");
    let page = c.get(&format!("/search?q={}", q(&many))).text();
    assert!(page.contains("检索词过多：只用了前 20 个，其余 2980 个未用"), "{page}");

    let long = format!("注入样本 {}", "政".repeat(3000));
    let api = c.get(&format!("/api/search?q={}", q(&long))).json();
    assert_eq!(
        api["notices"],
        serde_json::json!(["检索词「政政政政政政政政政政…」超过 100 个字：只用了前 100 个字"]),
        "{api}"
    );
    // Nothing cut, nothing said.
    let api = c.get("/api/search?q=注入样本").json();
    assert_eq!((api["total"].clone(), api["notices"].clone()), (serde_json::json!(7), serde_json::json!([])));
    // A page far down is no reason to hold its offset's worth of results in memory.
    let api = c.get("/api/search?q=注入样本&offset=10000000000").json();
    assert_eq!(api["hits"], serde_json::json!([]), "{api}");
    assert!(api["notices"][0].as_str().unwrap().starts_with("只能列出前 100000 条结果"), "{api}");
    assert_eq!(c.get("/search?q=注入样本&page=99999999999999").status, 200);

    // The command line says it too (on stderr: --json stays the hits alone).
    let cfg = dir.path().join("govwatch.toml");
    let o = std::process::Command::new(crate::support::bin())
        .args(["search", "--json", "--config", cfg.to_str().unwrap(), &many])
        .current_dir(crate::support::repo())
        .env("GOVWATCH__STORAGE__DATA_DIR", dir.path().join("var"))
        .env("GOVWATCH__STORAGE__INDEX_DIR", dir.path().join("index"))
        .env_remove("GOVWATCH_CONFIG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("提示：检索词过多：只用了前 20 个，其余 2980 个未用"), "{err}");
    let hits: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(hits.is_array(), "{hits}");
}

/// Reads until the server closes the connection: true when it did within
/// `within` (EOF or reset), false when the read timed out with it still open.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn half_sent_requests_and_idle_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), |s| s.to_string());
    let env = vec![("GOVWATCH__WEB__HEADER_TIMEOUT_SECS", "1".to_string())];
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir.path(), env });
    d.ready(Duration::from_secs(60));
    let addr = d.addr.clone().unwrap();

    // Half a request, then nothing: the server closes it (the bound is generous; the setting is 1 s).
    let mut half = TcpStream::connect(&addr).unwrap();
    write!(half, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").unwrap();
    // A connection that sends nothing at all.
    let mut silent = TcpStream::connect(&addr).unwrap();
    assert!(closed_by_server(&mut half, Duration::from_secs(30)), "a half-sent request is kept open");
    assert!(closed_by_server(&mut silent, Duration::from_secs(30)), "a silent connection is kept open");

    // Whole requests are served as before.
    let (status, _, body) = d.get("/healthz");
    assert_eq!(status, 200, "{body}");
    d.stop(Duration::from_secs(20));
}
