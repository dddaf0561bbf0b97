//! The loopback SMTP server of `support::smtp`, driven by lettre — the client
//! the product sends alerts with — over plain text, STARTTLS and implicit TLS,
//! with AUTH, scripted refusals and a server that is down.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mail_parser::MessageParser;

use crate::support::smtp::{SmtpOptions, SmtpServer, SmtpTls, free_port};

const SUBJECT: &str = "关于《政府信息公开条例》实施情况的提醒：第3号";
/// Lines short enough (< 76 bytes, i.e. 25 CJK characters) for lettre to allow the 8bit encoding.
const BODY: &str = "您好：\n市政府门户网站今日发布了新的政策文件，\n请及时核对。\n——政务公开监测";

fn transport(port: u16, tls: Tls, credentials: Option<(&str, &str)>) -> AsyncSmtpTransport<Tokio1Executor> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(10)));
    if let Some((user, pass)) = credentials {
        b = b.credentials(Credentials::new(user.into(), pass.into()));
    }
    b.build()
}

/// Trusts the server's self-signed certificate on top of the default (platform) verifier.
fn tls_params(server: &SmtpServer) -> TlsParameters {
    TlsParameters::builder("127.0.0.1".into())
        .add_root_certificate(Certificate::from_pem(server.ca_pem().as_bytes()).unwrap())
        .build_rustls()
        .unwrap()
}

fn message(subject: &str, body: &str) -> Message {
    Message::builder()
        .from("政务公开监测 <govwatch@example.org>".parse::<Mailbox>().unwrap())
        .to("办公室 <office@example.org>".parse::<Mailbox>().unwrap())
        .cc("chief@example.org".parse::<Mailbox>().unwrap())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        // 8bit: the UTF-8 text goes over the wire as is, so lettre sends MAIL FROM … BODY=8BITMIME.
        .body(Body::new_with_encoding(body.to_string(), ContentTransferEncoding::EightBit).unwrap())
        .unwrap()
}

fn simple(subject: &str) -> Message {
    Message::builder()
        .from("govwatch@example.org".parse::<Mailbox>().unwrap())
        .to("office@example.org".parse::<Mailbox>().unwrap())
        .subject(subject)
        .body(String::from("test"))
        .unwrap()
}

/// What the mail says, as a reader would see it.
fn parsed(data: &[u8]) -> (String, String) {
    let m = MessageParser::default().parse(data).expect("parseable message");
    (m.subject().unwrap_or_default().to_string(), m.body_text(0).unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_chinese_message_arrives() {
    let server = SmtpServer::start(SmtpOptions::default());
    let mailer = transport(server.port(), Tls::None, None);
    let resp = mailer.send(message(SUBJECT, BODY)).await.expect("send");
    assert_eq!(resp.code().to_string(), "250");

    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.mail_from, "govwatch@example.org");
    assert_eq!(r.rcpt_to, vec!["office@example.org".to_string(), "chief@example.org".to_string()]);
    assert!(!r.tls);
    assert_eq!(r.auth_user, None);
    assert!(!r.data.ends_with(b"\r\n.\r\n"), "the end-of-data line is not part of the message");
    // 8bit body: the UTF-8 text is in the raw bytes.
    assert!(String::from_utf8_lossy(&r.data).contains("市政府门户网站今日发布了新的政策文件，"));
    let (subject, body) = parsed(&r.data);
    assert_eq!(subject, SUBJECT);
    assert_eq!(body.replace("\r\n", "\n").trim_end(), BODY);
    assert_eq!(server.data_attempts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_lines_come_back_unstuffed() {
    let server = SmtpServer::start(SmtpOptions::default());
    let body = "first line\r\n.\r\n..two dots\r\n.leading dot\r\nlast line\r\n";
    let msg = Message::builder()
        .from("govwatch@example.org".parse::<Mailbox>().unwrap())
        .to("office@example.org".parse::<Mailbox>().unwrap())
        .subject("dots")
        .body(Body::new_with_encoding(body.to_string(), ContentTransferEncoding::SevenBit).unwrap())
        .unwrap();
    transport(server.port(), Tls::None, None).send(msg).await.expect("send");
    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    // lettre stuffed these lines with an extra dot; the server must have removed exactly one.
    assert!(String::from_utf8_lossy(&got[0].data).contains("\r\nfirst line\r\n.\r\n..two dots\r\n.leading dot\r\n"));
    assert_eq!(parsed(&got[0].data).1.replace("\r\n", "\n").trim_end(), body.replace("\r\n", "\n").trim_end());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_auth_plain() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::StartTls,
        auth: Some(("govwatch".into(), "s3cret-密码".into())),
        ..SmtpOptions::default()
    });
    let mailer = transport(server.port(), Tls::Required(tls_params(&server)), Some(("govwatch", "s3cret-密码")));
    mailer.send(message(SUBJECT, BODY)).await.expect("send over STARTTLS with AUTH PLAIN");
    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "DATA ended on the encrypted session");
    assert_eq!(got[0].auth_user.as_deref(), Some("govwatch"));
    assert_eq!(parsed(&got[0].data).0, SUBJECT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_failures_are_permanent_and_record_nothing() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::StartTls,
        auth: Some(("govwatch".into(), "right".into())),
        ..SmtpOptions::default()
    });
    // Wrong password: 535.
    let err = transport(server.port(), Tls::Required(tls_params(&server)), Some(("govwatch", "wrong")))
        .send(simple("wrong password"))
        .await
        .expect_err("535 expected");
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("535"));

    // No credentials at all: MAIL FROM gets 530.
    let err = transport(server.port(), Tls::Required(tls_params(&server)), None)
        .send(simple("no credentials"))
        .await
        .expect_err("530 expected");
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("530"));

    // Credentials but no TLS: AUTH is not offered in clear text, so lettre gives up before sending anything.
    let err = transport(server.port(), Tls::None, Some(("govwatch", "right")))
        .send(simple("clear text"))
        .await
        .expect_err("no AUTH without TLS");
    assert!(err.is_client(), "{err:?}");

    assert!(server.received().is_empty());
    assert_eq!(server.data_attempts(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_auth_login() {
    let server = SmtpServer::start(SmtpOptions {
        tls: SmtpTls::Implicit,
        auth: Some(("govwatch".into(), "pw".into())),
        ..SmtpOptions::default()
    });
    let mut mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.port())
        .tls(Tls::Wrapper(tls_params(&server)))
        .credentials(Credentials::new("govwatch".into(), "pw".into()))
        .authentication(vec![Mechanism::Login])
        .timeout(Some(Duration::from_secs(10)))
        .build();
    mailer.send(message(SUBJECT, BODY)).await.expect("send over implicit TLS with AUTH LOGIN");
    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert_eq!(got[0].auth_user.as_deref(), Some("govwatch"));

    // A client that does not trust the certificate cannot send.
    mailer = transport(server.port(), Tls::Wrapper(TlsParameters::new_rustls("127.0.0.1".into()).unwrap()), None);
    let err = mailer.send(simple("untrusted")).await.expect_err("untrusted certificate");
    assert!(!err.is_permanent() && !err.is_transient(), "{err:?}");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_451_then_accepted() {
    let server = SmtpServer::start(SmtpOptions {
        data_replies: vec![(451, "4.3.0 try again later".into())],
        ..SmtpOptions::default()
    });
    let mailer = transport(server.port(), Tls::None, None);
    let err = mailer.send(simple("retry me")).await.expect_err("451 expected");
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("451"));
    assert!(server.received().is_empty());

    mailer.send(simple("retry me")).await.expect("second attempt accepted");
    assert_eq!(server.data_attempts(), 2);
    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert_eq!(parsed(&got[0].data).0, "retry me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_550_is_permanent() {
    let server = SmtpServer::start(SmtpOptions {
        data_replies: vec![(550, "5.7.1 message rejected as spam".into())],
        ..SmtpOptions::default()
    });
    let err = transport(server.port(), Tls::None, None).send(simple("spam?")).await.expect_err("550 expected");
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("550"));
    assert!(err.to_string().contains("rejected as spam"), "{err}");
    assert!(server.received().is_empty());
    assert_eq!(server.data_attempts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_then_up_on_the_same_port() {
    let port = free_port();
    let mailer = transport(port, Tls::None, None);
    let err = mailer.send(simple("anyone there?")).await.expect_err("nothing listens yet");
    // lettre has no `is_connection()`: a refused connection is neither a 4xx nor a 5xx, and the
    // io::Error is in its source chain.
    assert!(!err.is_transient() && !err.is_permanent() && err.status().is_none(), "{err:?}");
    let mut source = std::error::Error::source(&err);
    let mut refused = false;
    while let Some(e) = source {
        refused |=
            e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
        source = e.source();
    }
    assert!(refused, "{err:?}");

    let server = SmtpServer::start(SmtpOptions { port: Some(port), ..SmtpOptions::default() });
    assert_eq!(server.port(), port);
    mailer.send(simple("anyone there?")).await.expect("server is up now");
    assert_eq!(server.wait_for(1, Duration::from_secs(5)).len(), 1);

    // Stopped, the port is free again and a new server can take it.
    server.stop();
    assert!(mailer.send(simple("gone")).await.is_err());
    let again = SmtpServer::start(SmtpOptions { port: Some(port), ..SmtpOptions::default() });
    mailer.send(simple("back")).await.expect("restarted server");
    let got = again.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert_eq!(parsed(&got[0].data).0, "back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions() {
    let server = SmtpServer::start(SmtpOptions { tls: SmtpTls::StartTls, ..SmtpOptions::default() });
    let mailer = transport(server.port(), Tls::Required(tls_params(&server)), None);
    let sends = (0..8).map(|i| {
        let mailer = mailer.clone();
        async move { mailer.send(simple(&format!("message {i}"))).await }
    });
    for r in futures::future::join_all(sends).await {
        r.expect("send");
    }
    let got = server.wait_for(8, Duration::from_secs(10));
    let mut subjects: Vec<String> = got.iter().map(|r| parsed(&r.data).0).collect();
    subjects.sort();
    assert_eq!(subjects, (0..8).map(|i| format!("message {i}")).collect::<Vec<_>>());
    assert!(got.iter().all(|r| r.tls));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtputf8_envelope() {
    let server = SmtpServer::start(SmtpOptions::default());
    let to = Address::new("公开办", "example.org").unwrap();
    let envelope =
        lettre::address::Envelope::new(Some("govwatch@example.org".parse().unwrap()), vec![to.clone()]).unwrap();
    transport(server.port(), Tls::None, None)
        .send_raw(&envelope, b"Subject: utf8 envelope\r\n\r\nhello\r\n")
        .await
        .expect("send with SMTPUTF8");
    let got = server.wait_for(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["公开办@example.org".to_string()]);
    assert_eq!(got[0].data, b"Subject: utf8 envelope\r\n\r\nhello\r\n\r\n");
}

/// A hand-driven SMTP client over a blocking socket.
struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    fn connect(server: &SmtpServer) -> (RawClient, String) {
        let conn = TcpStream::connect(server.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = RawClient { reader: BufReader::new(conn.try_clone().unwrap()), writer: conn };
        let greeting = c.reply();
        (c, greeting)
    }

    /// One reply, all its lines ("" at EOF).
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 {
                return all;
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    }

    fn send(&mut self, line: &str) {
        self.writer.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.reply()
    }
}

/// From a plain (non-async) test: replies to odd commands, QUIT, and a client that vanishes in the middle of
/// DATA leaves nothing behind.
#[test]
fn raw_session_replies_and_abrupt_close() {
    let server = SmtpServer::start(SmtpOptions::default());
    let (mut c, greeting) = RawClient::connect(&server);
    assert!(greeting.starts_with("220 "), "{greeting}");

    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("503 "), "MAIL before HELO");
    assert!(c.cmd("HELO client.example.org").starts_with("250 "));
    assert!(c.cmd("VRFY someone").starts_with("502 "));
    assert!(c.cmd("STARTTLS").starts_with("502 "), "not offered without TLS configured");
    assert!(c.cmd("AUTH PLAIN AGEAYg==").starts_with("502 "), "no AUTH configured");
    assert!(c.cmd("DATA").starts_with("503 "), "DATA before MAIL");
    assert!(c.cmd("mail from:<> BODY=8BITMIME").starts_with("250 "));
    assert!(c.cmd("RCPT TO:<b@example.org>").starts_with("250 "));
    assert!(c.cmd("RSET").starts_with("250 "));
    assert!(c.cmd("DATA").starts_with("503 "), "RSET forgot MAIL");
    assert!(c.cmd("NOOP").starts_with("250 "));
    let ehlo = c.cmd("EHLO client.example.org");
    assert!(ehlo.starts_with("250-") && ehlo.contains("250-8BITMIME") && ehlo.contains("SMTPUTF8\r\n"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"), "{ehlo}");
    assert!(c.cmd("MAIL FROM:<a@example.org>").starts_with("250 "));
    assert!(c.cmd("RCPT TO:<b@example.org>").starts_with("250 "));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send("Subject: half a message\r\n\r\nand then the client");
    c.writer.shutdown(Shutdown::Both).unwrap();
    drop(c);

    // The server is still fine, the half message was neither recorded nor answered, and QUIT closes.
    let (mut c, greeting) = RawClient::connect(&server);
    assert!(greeting.starts_with("220 "), "{greeting}");
    assert!(c.cmd("EHLO client.example.org").starts_with("250-"));
    assert!(c.cmd("QUIT").starts_with("221 "));
    assert_eq!(c.reply(), "", "connection closed after QUIT");
    assert!(server.received().is_empty());
    assert_eq!(server.data_attempts(), 0);
}

#[test]
fn write_ca_writes_the_pem() {
    let server = SmtpServer::start(SmtpOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let path = server.write_ca(dir.path());
    let pem = std::fs::read_to_string(&path).unwrap();
    assert_eq!(pem, server.ca_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(Certificate::from_pem(pem.as_bytes()).is_ok());
}
