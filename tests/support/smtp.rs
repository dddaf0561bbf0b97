//! A real SMTP server (RFC 5321) on loopback for the tests: EHLO/HELO,
//! STARTTLS (RFC 3207) or implicit TLS with a self-signed certificate made at
//! start, AUTH PLAIN and LOGIN (RFC 4954), MAIL/RCPT/DATA with
//! dot-unstuffing, RSET, NOOP, QUIT, and scripted replies to end-of-DATA.
//! It runs on its own thread and tokio runtime, so it serves plain `#[test]`s,
//! `#[tokio::test]`s and child processes alike.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// How the server does TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text only; STARTTLS is not offered.
    #[default]
    None,
    /// Plain text first; STARTTLS is offered until the session is encrypted.
    StartTls,
    /// TLS handshake right after accept, before the greeting (port-465 style).
    Implicit,
}

#[derive(Clone, Debug, Default)]
pub struct SmtpOptions {
    pub tls: SmtpTls,
    /// When Some, AUTH is advertised (PLAIN and LOGIN) and required before MAIL FROM (530 otherwise); wrong
    /// credentials get 535. With `SmtpTls::StartTls`, AUTH is only offered (and accepted) once TLS is up.
    pub auth: Option<(String, String)>,
    /// Scripted replies to successive end-of-DATA ("." line): e.g. vec![(451, "4.3.0 try again later".into())]
    /// then later messages get 250. A message is recorded only when it was answered 250.
    pub data_replies: Vec<(u16, String)>,
    /// Bind this port instead of an ephemeral one (to bring a "down" server back on the same port).
    pub port: Option<u16>,
}

/// One message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The reverse-path without angle brackets ("" for the null path `<>`).
    pub mail_from: String,
    /// Forward-paths without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message as received, dot-unstuffed, without the final ".\r\n".
    pub data: Vec<u8>,
    /// Was the session encrypted when DATA ended.
    pub tls: bool,
    /// The authenticated user, if the session authenticated.
    pub auth_user: Option<String>,
}

struct Shared {
    tls: SmtpTls,
    auth: Option<(String, String)>,
    acceptor: TlsAcceptor,
    script: Mutex<VecDeque<(u16, String)>>,
    received: Mutex<Vec<Received>>,
    attempts: AtomicUsize,
}

/// A real SMTP server on 127.0.0.1. Stops (and frees its port) on `stop` or drop.
pub struct SmtpServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    ca_pem: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmtpServer {
    /// Starts on 127.0.0.1 in its own thread with its own tokio runtime, so it works from plain #[test]s,
    /// from #[tokio::test]s, and while the test spawns the govwatch binary as a child process.
    pub fn start(opts: SmtpOptions) -> SmtpServer {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("self-signed certificate");
        let ca_pem = certified.cert.pem();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("TLS server configuration");

        let shared = Arc::new(Shared {
            tls: opts.tls,
            auth: opts.auth,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            script: Mutex::new(opts.data_replies.into()),
            received: Mutex::default(),
            attempts: AtomicUsize::new(0),
        });

        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let st = shared.clone();
        let port = opts.port.unwrap_or(0);
        let thread = std::thread::Builder::new()
            .name(format!("smtp-server-{port}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async move {
                    let listener = match bind(port).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = addr_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = addr_tx.send(Ok(listener.local_addr().expect("local address")));
                    tokio::select! {
                        _ = shutdown_rx => {}
                        _ = accept_loop(listener, st) => {}
                    }
                });
                // Dropping the runtime drops the listener and every session task, closing their sockets.
                drop(rt);
            })
            .expect("spawn SMTP server thread");
        let addr = match addr_rx.recv().expect("SMTP server thread ended before binding") {
            Ok(a) => a,
            Err(e) => panic!("SMTP server could not bind 127.0.0.1:{port}: {e}"),
        };
        SmtpServer { addr, shared, ca_pem, shutdown: Some(shutdown_tx), thread: Some(thread) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// PEM of the self-signed certificate (SANs "localhost" and IP 127.0.0.1), for the client to trust.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Writes `ca_pem` to `smtp-ca-<port>.pem` in `dir` and returns its path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("smtp-ca-{}.pem", self.port()));
        std::fs::write(&path, &self.ca_pem).expect("write CA certificate");
        path
    }

    /// Messages accepted (250 after DATA) so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (polling, up to `timeout`) until at least n messages were accepted; returns what was accepted by
    /// then (fewer than n on timeout — the caller asserts).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Number of end-of-DATA replies given (accepted or not) — to check retries happened.
    pub fn data_attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// Stops listening and closes sessions; the port is free afterwards (also on Drop).
    pub fn stop(self) {}
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A free loopback port with nothing listening on it (bind port 0, read it, drop the listener), for a "server
/// is down" test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port()
}

/// Binds 127.0.0.1:port with SO_REUSEADDR; a fixed port still held by a just-stopped server gets a few
/// seconds to come free.
async fn bind(port: u16) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = (|| {
            let socket = TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(128)
        })();
        match attempt {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && port != 0 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(handle(tcp, shared.clone()));
            }
            // E.g. too many open files: back off rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// One connection: implicit TLS first if configured, then the SMTP dialogue; a STARTTLS hands the plain
/// socket back to be wrapped and the dialogue goes on encrypted (without a new greeting).
async fn handle(tcp: TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    if shared.tls == SmtpTls::Implicit {
        let Ok(tls) = shared.acceptor.accept(tcp).await else { return };
        session(tls, Session::new(true), true, &shared).await;
        return;
    }
    if let Outcome::StartTls(tcp) = session(tcp, Session::new(false), true, &shared).await {
        let Ok(tls) = shared.acceptor.accept(tcp).await else { return };
        // RFC 3207 §4.2: all state from before TLS is forgotten; the client must EHLO again.
        session(tls, Session::new(true), false, &shared).await;
    }
}

/// Per-connection SMTP state.
struct Session {
    tls: bool,
    helo: bool,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Session {
    fn new(tls: bool) -> Session {
        Session { tls, helo: false, auth_user: None, mail_from: None, rcpt_to: Vec::new() }
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

enum Outcome<S> {
    /// The session ended (QUIT, EOF, I/O error, or a protocol violation).
    Done,
    /// 220 was sent to STARTTLS: the caller does the handshake on this stream.
    StartTls(S),
}

const HOSTNAME: &str = "localhost";

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    mut st: Session,
    greet: bool,
    shared: &Shared,
) -> Outcome<S> {
    let mut io = BufReader::new(io);
    if greet && reply(&mut io, &format!("220 {HOSTNAME} ESMTP govwatch test server ready")).await.is_err() {
        return Outcome::Done;
    }
    loop {
        let Some(line) = read_line(&mut io).await else { return Outcome::Done };
        let line = String::from_utf8_lossy(&line);
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (line.to_ascii_uppercase(), ""),
        };
        let auth_offered = shared.auth.is_some() && (st.tls || shared.tls != SmtpTls::StartTls);
        let answer: String = match verb.as_str() {
            "EHLO" | "HELO" if arg.is_empty() => "501 5.5.4 Syntax: EHLO hostname".into(),
            "EHLO" => {
                st.helo = true;
                st.reset_transaction();
                let mut lines = vec![format!("{HOSTNAME} Hello {arg}"), "8BITMIME".into(), "SMTPUTF8".into()];
                if shared.tls == SmtpTls::StartTls && !st.tls {
                    lines.push("STARTTLS".into());
                }
                if auth_offered {
                    lines.push("AUTH PLAIN LOGIN".into());
                }
                multiline(250, &lines)
            }
            "HELO" => {
                st.helo = true;
                st.reset_transaction();
                format!("250 {HOSTNAME}")
            }
            "STARTTLS" => {
                if shared.tls != SmtpTls::StartTls {
                    "502 5.5.1 STARTTLS not supported".into()
                } else if st.tls {
                    "503 5.5.1 TLS already active".into()
                } else if !arg.is_empty() {
                    "501 5.5.4 Syntax: STARTTLS".into()
                } else {
                    if reply(&mut io, "220 2.0.0 Ready to start TLS").await.is_err() {
                        return Outcome::Done;
                    }
                    // Anything the client sent after STARTTLS and before the handshake would be plain text
                    // injected into the encrypted session (RFC 3207 §5): refuse to go on.
                    if !io.buffer().is_empty() {
                        return Outcome::Done;
                    }
                    return Outcome::StartTls(io.into_inner());
                }
            }
            "AUTH" => {
                if shared.auth.is_none() {
                    "502 5.5.1 AUTH not supported".into()
                } else if !auth_offered {
                    "538 5.7.11 Encryption required for requested authentication mechanism".into()
                } else if !st.helo {
                    "503 5.5.1 Send EHLO first".into()
                } else if st.auth_user.is_some() {
                    "503 5.5.1 Already authenticated".into()
                } else if st.mail_from.is_some() {
                    "503 5.5.1 AUTH not allowed during a mail transaction".into()
                } else {
                    match auth(&mut io, arg, shared).await {
                        None => return Outcome::Done,
                        Some(Ok(user)) => {
                            st.auth_user = Some(user);
                            "235 2.7.0 Authentication successful".into()
                        }
                        Some(Err(answer)) => answer,
                    }
                }
            }
            "MAIL" => {
                if !st.helo {
                    "503 5.5.1 Send EHLO first".into()
                } else if shared.auth.is_some() && st.auth_user.is_none() {
                    "530 5.7.0 Authentication required".into()
                } else if st.mail_from.is_some() {
                    "503 5.5.1 Nested MAIL command".into()
                } else {
                    match path_arg(arg, "FROM:") {
                        Some(from) => {
                            st.mail_from = Some(from);
                            "250 2.1.0 OK".into()
                        }
                        None => "501 5.5.4 Syntax: MAIL FROM:<address>".into(),
                    }
                }
            }
            "RCPT" => {
                if st.mail_from.is_none() {
                    "503 5.5.1 Need MAIL command".into()
                } else {
                    match path_arg(arg, "TO:") {
                        Some(to) if !to.is_empty() => {
                            st.rcpt_to.push(to);
                            "250 2.1.5 OK".into()
                        }
                        _ => "501 5.5.4 Syntax: RCPT TO:<address>".into(),
                    }
                }
            }
            "DATA" => {
                if st.mail_from.is_none() {
                    "503 5.5.1 Need MAIL command".into()
                } else if st.rcpt_to.is_empty() {
                    "503 5.5.1 Need RCPT command".into()
                } else if !arg.is_empty() {
                    "501 5.5.4 Syntax: DATA".into()
                } else {
                    if reply(&mut io, "354 End data with <CR><LF>.<CR><LF>").await.is_err() {
                        return Outcome::Done;
                    }
                    // A client that goes away mid-message leaves nothing recorded and no attempt counted.
                    let Some(data) = read_data(&mut io).await else { return Outcome::Done };
                    let (code, text) =
                        shared.script.lock().unwrap().pop_front().unwrap_or((250, "2.0.0 OK: queued".into()));
                    if code == 250 {
                        shared.received.lock().unwrap().push(Received {
                            mail_from: st.mail_from.clone().unwrap_or_default(),
                            rcpt_to: st.rcpt_to.clone(),
                            data,
                            tls: st.tls,
                            auth_user: st.auth_user.clone(),
                        });
                    }
                    shared.attempts.fetch_add(1, Ordering::SeqCst);
                    st.reset_transaction();
                    multiline(code, &text.lines().collect::<Vec<_>>())
                }
            }
            "RSET" => {
                st.reset_transaction();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                let _ = reply(&mut io, "221 2.0.0 Bye").await;
                let _ = io.get_mut().shutdown().await;
                return Outcome::Done;
            }
            "" => "500 5.5.2 Syntax error: empty command".into(),
            _ => "502 5.5.2 Command not recognized".into(),
        };
        if reply(&mut io, &answer).await.is_err() {
            return Outcome::Done;
        }
    }
}

/// AUTH PLAIN / LOGIN after `AUTH `: `None` when the connection went away, `Ok(user)` when authenticated,
/// `Err(reply)` otherwise.
async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    arg: &str,
    shared: &Shared,
) -> Option<Result<String, String>> {
    let (mechanism, initial) = match arg.split_once(' ') {
        Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_string())),
        None => (arg.to_ascii_uppercase(), None),
    };
    let (user, pass) = shared.auth.as_ref().expect("auth configured");
    let (got_user, got_pass) = match mechanism.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(r) => r,
                None => challenge(io, "").await?,
            };
            let Some(decoded) = decode_response(&response) else {
                return Some(Err(cancel_or_bad(&response)));
            };
            // authzid NUL authcid NUL passwd
            let mut parts = decoded.split(|&b| b == 0);
            let (Some(_authzid), Some(authcid), Some(passwd), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Some(Err("501 5.5.2 Malformed PLAIN response".into()));
            };
            (authcid.to_vec(), passwd.to_vec())
        }
        "LOGIN" => {
            let username = match initial {
                Some(r) => r,
                None => challenge(io, "VXNlcm5hbWU6").await?, // "Username:"
            };
            let Some(username) = decode_response(&username) else {
                return Some(Err(cancel_or_bad(&username)));
            };
            let password = challenge(io, "UGFzc3dvcmQ6").await?; // "Password:"
            let Some(password) = decode_response(&password) else {
                return Some(Err(cancel_or_bad(&password)));
            };
            (username, password)
        }
        "" => return Some(Err("501 5.5.4 Syntax: AUTH mechanism".into())),
        _ => return Some(Err("504 5.5.4 Unrecognized authentication type".into())),
    };
    if got_user == user.as_bytes() && got_pass == pass.as_bytes() {
        Some(Ok(user.clone()))
    } else {
        Some(Err("535 5.7.8 Authentication credentials invalid".into()))
    }
}

/// Sends `334 <challenge>` and reads the client's one-line answer.
async fn challenge<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, text: &str) -> Option<String> {
    reply(io, &format!("334 {text}")).await.ok()?;
    let line = read_line(io).await?;
    Some(String::from_utf8_lossy(&line).trim().to_string())
}

/// A base64 SASL response; "=" stands for an empty one. `None` for "*" (cancel) or bad base64.
fn decode_response(response: &str) -> Option<Vec<u8>> {
    match response {
        "*" => None,
        "=" => Some(Vec::new()),
        r => base64_decode(r),
    }
}

fn cancel_or_bad(response: &str) -> String {
    if response == "*" {
        "501 5.7.0 Authentication cancelled".into()
    } else {
        "501 5.5.2 Cannot decode response".into()
    }
}

/// Standard base64 (RFC 4648 §4), padding optional; `None` on any other character or a dangling bit group.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body.as_bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // 6 leftover bits cannot come from whole bytes.
    if bits >= 6 { None } else { Some(out) }
}

/// `FROM:<a@b> PARAMS` / `TO:<a@b>` → "a@b" (parameters such as BODY=8BITMIME or SMTPUTF8 are ignored).
fn path_arg(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_string())
    } else {
        // Lenient: a bare address without brackets.
        let addr = rest.split_whitespace().next()?;
        Some(addr.to_string())
    }
}

/// The message after 354: lines up to the lone "." line, dot-unstuffed, line ends kept as sent.
async fn read_data<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if io.read_until(b'\n', &mut line).await.ok()? == 0 || !line.ends_with(b"\n") {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            return Some(data);
        }
        let start = usize::from(line.starts_with(b"."));
        data.extend_from_slice(&line[start..]);
    }
}

/// A command line without its CRLF (or bare LF); `None` at EOF or on an I/O error.
async fn read_line<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    if io.read_until(b'\n', &mut line).await.ok()? == 0 {
        return None;
    }
    while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
        line.pop();
    }
    Some(line)
}

/// `250-first` … `250 last`.
fn multiline<T: AsRef<str>>(code: u16, lines: &[T]) -> String {
    if lines.is_empty() {
        return code.to_string();
    }
    let last = lines.len() - 1;
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        out.push_str(&format!("{code}{}{}", if i == last { ' ' } else { '-' }, l.as_ref()));
    }
    out
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, text: &str) -> std::io::Result<()> {
    let w = io.get_mut();
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

#[test]
fn base64_decoder() {
    assert_eq!(base64_decode("AGdvdndhdGNoAHNlY3JldA==").unwrap(), b"\0govwatch\0secret");
    assert_eq!(base64_decode("VXNlcm5hbWU6").unwrap(), b"Username:");
    assert_eq!(base64_decode("YQ").unwrap(), b"a");
    assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
    assert_eq!(base64_decode("5Lit5paH").unwrap(), "中文".as_bytes());
    assert_eq!(base64_decode("").unwrap(), b"");
    assert!(base64_decode("Y").is_none());
    assert!(base64_decode("YW!=").is_none());
    assert!(base64_decode("YQ===").is_none());
}

/// The Message-ID header of a received message (as written, angle brackets included).
pub fn message_id(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("message-id").then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}
