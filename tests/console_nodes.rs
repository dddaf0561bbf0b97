//! Two consoles behind one load balancer: two `govwatch serve` processes on
//! one PostgreSQL store (issue 19). A session opened on one is valid on the
//! other and after a restart, a logout on one ends it on both, and failed
//! logins on one lock the name out on the other. PostgreSQL is the test
//! process's throwaway cluster (`store::pg_cluster`): NOT RUN where it cannot
//! start (a failure in CI).
//! On the default SQLite store a session survives a restart of the daemon.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::daemon::{Daemon, Options, demo_config};
use crate::web::{ADMIN, Client, OFFICER, hidden};

/// A `govwatch serve` child on a free loopback port.
struct Serve {
    child: Child,
    log: Arc<Mutex<String>>,
    addr: String,
}

impl Serve {
    fn start(config: &Path, state: &Path, url: &str) -> Serve {
        let mut child = Command::new(crate::support::bin())
            .args(["serve", "--config", config.to_str().unwrap()])
            .current_dir(crate::support::repo())
            .env("GOVWATCH__STORAGE__BACKEND", "postgres")
            .env("GOVWATCH__STORAGE__URL", url)
            .env("GOVWATCH__STORAGE__DATA_DIR", state.join("var"))
            .env("GOVWATCH__STORAGE__INDEX_DIR", state.join("index"))
            .env("GOVWATCH__WEB__LISTEN", "127.0.0.1:0")
            // `serve` logs only warnings unless asked; the address is read from its log.
            .env("GOVWATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("govwatch serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let text = log.lock().unwrap().clone();
            if let Some(at) = text.find("on http://") {
                break text[at + "on http://".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches('"')
                    .to_string();
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!("govwatch serve exited ({st}) before listening:\n{text}");
            }
            assert!(Instant::now() < deadline, "govwatch serve is not listening within 60 s:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        Serve { child, log, addr }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of `addr` carrying `cookies` (what a load balancer passes along).
fn on_addr(addr: &str, cookies: &std::collections::HashMap<String, String>) -> Client {
    let mut c = Client::new(addr);
    c.cookies = cookies.clone();
    c
}

/// A client of `node` carrying `cookies`.
fn on(node: &Serve, cookies: &std::collections::HashMap<String, String>) -> Client {
    on_addr(&node.addr, cookies)
}

#[test]
fn a_session_opened_on_one_node_is_served_by_the_other() {
    let Some(url) = govwatch::store::pg_cluster::test_database("console_nodes") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), |s| s.to_string());
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    // Started together: they migrate the new database once between them.
    let a = Serve::start(&cfg, &a_dir, &url);
    let mut b = Serve::start(&cfg, &b_dir, &url);
    assert_ne!(a.addr, b.addr);

    // Logged in on A; the cookie works on B.
    let mut on_a = Client::new(&a.addr);
    let r = on_a.login(OFFICER);
    assert_eq!(r.status, 303, "{}\n{}", r.text(), a.log());
    let mut on_b = on(&b, &on_a.cookies);
    let home = on_b.get("/");
    assert_eq!(home.status, 200, "{}\n{}", home.text(), b.log());
    assert!(home.text().contains("zhiban（值班员）"), "{}", home.text());
    assert_eq!(on_b.get("/api/findings").status, 200);

    // B restarts: the session survives (it is in the store, not in B).
    drop(b);
    b = Serve::start(&cfg, &b_dir, &url);
    let mut on_b = on(&b, &on_a.cookies);
    let home = on_b.get("/");
    assert_eq!(home.status, 200, "{}\n{}", home.text(), b.log());

    // Logout on B (with the session's CSRF token, which B knows from the store) ends it on A.
    let csrf = hidden(&home.text(), "csrf");
    assert_eq!(on_b.post("/logout", &[("csrf", &csrf)]).status, 303);
    assert_eq!(on_a.get("/").status, 303, "logged out on B, so on A too");
    assert_eq!(on_a.get("/api/findings").status, 401);

    // Failures on A lock the name on B, even with the right password.
    let mut guesser = Client::new(&a.addr);
    for _ in 0..5 {
        assert_eq!(guesser.login((ADMIN.0, "guess")).status, 401);
    }
    let r = Client::new(&b.addr).login(ADMIN);
    assert_eq!(r.status, 429, "{}\n{}", r.text(), b.log());
}

#[test]
fn a_session_survives_a_restart_of_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config(dir.path(), |s| s.to_string());
    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir.path(), env: vec![] });
    d.ready(Duration::from_secs(60));
    let mut c = Client::new(d.addr.as_deref().unwrap());
    assert_eq!(c.login(OFFICER).status, 303);
    assert_eq!(c.get("/api/findings").status, 200);
    d.stop(Duration::from_secs(30));

    let mut d = Daemon::spawn(&Options { config: &cfg, state: dir.path(), env: vec![] });
    d.ready(Duration::from_secs(60));
    let mut again = on_addr(d.addr.as_deref().unwrap(), &c.cookies);
    let r = again.get("/api/findings");
    assert_eq!(r.status, 200, "the session is in the store, not in the process: {}\n{}", r.text(), d.log());
}
