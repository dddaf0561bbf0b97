//! The real `govwatch run` as a child process, as systemd would see it: a
//! NOTIFY_SOCKET it reports READY/STATUS/WATCHDOG to, signals, its log, and
//! its HTTP server on a free loopback port.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    log: Arc<Mutex<String>>,
    notify: UnixDatagram,
    notes: Vec<String>,
    pub addr: Option<String>,
    _socket_dir: tempfile::TempDir,
}

/// How to start one.
pub struct Options<'a> {
    pub config: &'a Path,
    /// Store, index and mail go under here.
    pub state: &'a Path,
    pub env: Vec<(&'a str, String)>,
}

impl Daemon {
    /// Starts `govwatch run` in the repository root; does not wait.
    pub fn spawn(o: &Options<'_>) -> Daemon {
        let socket_dir = tempfile::tempdir().unwrap();
        let socket = socket_dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&socket).unwrap();
        notify.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut cmd = Command::new(super::bin());
        cmd.args(["run", "--config", o.config.to_str().unwrap()])
            .current_dir(super::repo())
            .env("GOVWATCH__STORAGE__DATA_DIR", o.state.join("var"))
            .env("GOVWATCH__STORAGE__INDEX_DIR", o.state.join("index"))
            .env("GOVWATCH__MAIL__DIR", o.state.join("mail"))
            .env("GOVWATCH__WEB__LISTEN", "127.0.0.1:0")
            .env("NOTIFY_SOCKET", &socket)
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &o.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("govwatch run starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Daemon { child, log, notify, notes: Vec::new(), addr: None, _socket_dir: socket_dir }
    }

    /// Waits for READY=1 and the listen address; panics with the log if it
    /// does not come within `within`.
    pub fn ready(&mut self, within: Duration) -> &mut Self {
        let deadline = Instant::now() + within;
        while !self.notes.iter().any(|n| n.lines().any(|l| l == "READY=1")) {
            self.receive();
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("govwatch run exited ({st}) before READY=1:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "no READY=1 within {within:?}:\n{}", self.log());
        }
        let log = self.log();
        let marker = "on http://";
        let at = log.find(marker).unwrap_or_else(|| panic!("no listen address in the log:\n{log}"));
        let rest = &log[at + marker.len()..];
        self.addr = Some(rest.split_whitespace().next().unwrap().trim_end_matches('"').to_string());
        self
    }

    /// Reads what the daemon has sent to the notify socket so far.
    pub fn receive(&mut self) {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buf) {
            self.notes.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    /// Every datagram received, in order.
    pub fn notifications(&mut self) -> Vec<String> {
        self.receive();
        self.notes.clone()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (after position `from`); panics otherwise.
    pub fn wait_log(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "{needle:?} not in the log within {within:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status().unwrap();
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit; None if it is still running after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // Let the log reader drain.
                std::thread::sleep(Duration::from_millis(50));
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then a clean exit within `within`, else panic with the log.
    pub fn stop(&mut self, within: Duration) {
        self.signal("TERM");
        match self.wait_exit(within) {
            Some(st) => assert!(st.success(), "govwatch run exited with {st}:\n{}", self.log()),
            None => {
                let _ = self.child.kill();
                panic!("govwatch run did not stop within {within:?} of SIGTERM:\n{}", self.log());
            }
        }
    }

    /// A plain HTTP/1.0 GET on the daemon's server: (status, headers, body).
    pub fn get(&self, path: &str) -> (u16, HashMap<String, String>, String) {
        http_get(self.addr.as_deref().expect("ready() first"), path)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` from `addr` over a fresh connection.
pub fn http_get(addr: &str, path: &str) -> (u16, HashMap<String, String>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The demo configuration with `edit` applied, written to `dir/govwatch.toml`.
pub fn demo_config(dir: &Path, edit: impl FnOnce(String) -> String) -> PathBuf {
    let demo = std::fs::read_to_string(super::repo().join("config/demo.toml")).unwrap();
    let path = dir.join("govwatch.toml");
    std::fs::write(&path, edit(demo)).unwrap();
    path
}
