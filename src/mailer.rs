//! Alerts, the IO part: reading what the rules found, planning a round
//! (`alerts::plan`, pure), rendering and queueing its emails in the outbox,
//! and delivering the outbox through SMTP (lettre) or into a folder.
//!
//! **Nothing lost, nothing doubled.** A round's emails are written to the
//! outbox — the whole message, as it will be sent — together with the marks
//! of what they list and the round itself, in one transaction; only then is
//! anything sent. A crash before that commit queues nothing (the round runs
//! again on restart); after it, the emails wait in the outbox. Sending marks
//! each email `sent` after the relay's 250: the one window left is a crash
//! between the relay accepting an email and that mark, after which the email
//! is sent again on restart — at most the emails in flight, one per
//! connection, and with the same Message-ID, so mail clients that thread by
//! it show one. A connection failure or a 4xx waits and is retried with
//! backoff (1 min doubling to 1 h); a 5xx marks the email failed, shown by
//! `govwatch alerts outbox` and requeued by `govwatch alerts retry`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, FixedOffset};
use lettre::address::Envelope;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};

use crate::alerts::render::{Rendered, Templates};
use crate::alerts::{self, Plan, Planned, Round};
use crate::calendar::Calendar;
use crate::config::{Config, MailConfig, MailSecurity, MailTransport};
use crate::store::Store;
use crate::store::outbox::{NewMail, Queued, RoundRecord, Sendable};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// Resolved findings older than this are no longer reported as resolved.
const RESOLVED_WINDOW_DAYS: i64 = 30;
/// Emails sent per delivery pass.
const BATCH: usize = 200;

/// `govwatch <govwatch@example.gov.cn>` or a bare address.
pub fn parse_mailbox(s: &str) -> Result<Mailbox, String> {
    s.trim().parse::<Mailbox>().map_err(|e| format!("{s:?} 不是邮箱地址（{e}）"))
}

/// What a round did.
#[derive(Debug, Default, serde::Serialize)]
pub struct RoundReport {
    pub round: String,
    /// Queued now (0 when the round had already run).
    pub emails: usize,
    pub findings: usize,
    pub already_run: bool,
    /// Units with mail but no address and no fallback: (unit, findings).
    pub unroutable: Vec<(String, usize)>,
    /// (kind, unit, recipients, subject) of each email queued.
    pub queued: Vec<(String, String, Vec<String>, String)>,
    pub took_ms: u128,
}

/// Reads the stored findings and mail history and plans `round`.
pub fn plan_round(cfg: &Config, cal: &Calendar, store: &Store, round: &Round) -> Result<(Plan, i64)> {
    let since = round.at - chrono::Duration::days(RESOLVED_WINDOW_DAYS);
    let mut lines = store.alert_lines(since)?;
    alerts::words::name_sources(&mut lines, &cfg.sources);
    let (history, generation) = store.mail_history()?;
    Ok((alerts::plan(lines, &history, &cfg.units, &cfg.alerts, cal, round), generation))
}

/// Renders and composes planned emails, on every core (each thread takes
/// the next email, largest first, so one large 通报 does not hold up a whole share).
pub fn compose_all(
    cfg: &Config,
    templates: &Templates,
    plan: &[Planned],
    now: DateTime<FixedOffset>,
) -> Result<Vec<(NewMail, Rendered)>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let from = parse_mailbox(&cfg.mail.from).map_err(|e| anyhow!("mail.from: {e}"))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8).min(plan.len().max(1));
    let next = AtomicUsize::new(0);
    // The largest first, so that no thread is left with a big one at the end.
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(plan[i].listed()));
    let one = |p: &Planned| -> Result<(NewMail, Rendered)> {
        let r = templates
            .render(p, &cfg.alerts, &cfg.web, now)
            .with_context(|| format!("rendering the {} email to {}", p.kind.as_str(), p.unit))?;
        let m = compose(p, &r, &from, now)
            .with_context(|| format!("composing the {} email to {}", p.kind.as_str(), p.unit))?;
        Ok((m, r))
    };
    std::thread::scope(|sc| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| -> Result<Vec<(usize, (NewMail, Rendered))>> {
                    let mut done = Vec::new();
                    loop {
                        let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else { return Ok(done) };
                        let p = &plan[i];
                        done.push((i, one(p)?));
                    }
                })
            })
            .collect();
        let mut out = Vec::with_capacity(plan.len());
        for w in workers {
            out.extend(w.join().map_err(|_| anyhow!("a rendering thread panicked"))??);
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out.into_iter().map(|(_, x)| x).collect())
    })
}

/// Runs a round: plans it, renders its emails and queues them with what they
/// list. Does not send (see [`Mailer::deliver`]). A round already queued
/// (before a restart) queues nothing.
pub fn queue_round(
    cfg: &Config,
    cal: &Calendar,
    store: &Store,
    templates: &Templates,
    round: &Round,
) -> Result<RoundReport> {
    let started = std::time::Instant::now();
    let mut report = RoundReport { round: round.key.clone(), ..Default::default() };
    if store.round_done(&round.key)? {
        report.already_run = true;
        return Ok(report);
    }
    // Another round may be queued meanwhile (a manual send while the daemon runs): plan again.
    for _ in 0..5 {
        let (plan, generation) = plan_round(cfg, cal, store, round)?;
        if round.immediate && plan.emails.is_empty() {
            // Nothing newly overdue: not worth a row in `rounds` every ten minutes.
            report.unroutable = plan.unroutable;
            return Ok(report);
        }
        let composed = compose_all(cfg, templates, &plan.emails, round.at)?;
        let record = RoundRecord {
            round: round.key.clone(),
            at: round.at,
            day: round.date(),
            unroutable: plan.unroutable.iter().map(|(_, n)| n).sum(),
        };
        let mails: Vec<NewMail> = composed.into_iter().map(|(m, _)| m).collect();
        match store.queue_round(&record, &mails, generation)? {
            Queued::Done(_) => {
                report.emails = mails.len();
                // A finding listed to a unit and shown to its supervisor is one finding.
                report.findings = mails
                    .iter()
                    .flat_map(|m| m.marks.iter().map(|k| k.fingerprint.as_str()))
                    .collect::<std::collections::HashSet<_>>()
                    .len();
                report.queued = mails
                    .iter()
                    .map(|m| (m.kind.to_string(), m.unit.clone(), m.recipients.clone(), m.subject.clone()))
                    .collect();
                report.unroutable = plan.unroutable;
                report.took_ms = started.elapsed().as_millis();
                return Ok(report);
            }
            Queued::AlreadyRun => {
                report.already_run = true;
                return Ok(report);
            }
            Queued::Stale => continue,
        }
    }
    anyhow::bail!("round {}: other emails kept being queued while it was planned; try again", round.key)
}

/// A stable Message-ID for (round, kind, unit) — `unit` names the
/// addressees, unique in a round: a copy sent again after a crash carries
/// the same one.
fn message_id(p: &Planned, from: &Mailbox) -> String {
    let mut h = Sha256::new();
    for part in [p.round.as_str(), p.kind.as_str(), p.unit.as_str()] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    let d = h.finalize();
    let hex: String = d[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{}.{hex}@{}>", p.date.format("%Y%m%d"), from.email.domain())
}

/// The email as it will be sent: headers, text and HTML alternatives, the workbook.
pub fn compose(p: &Planned, r: &Rendered, from: &Mailbox, now: DateTime<FixedOffset>) -> Result<NewMail> {
    let mut b = Message::builder()
        .from(from.clone())
        .subject(r.subject.clone())
        .message_id(Some(message_id(p, from)))
        .date(now.into())
        .user_agent(concat!("govwatch/", env!("CARGO_PKG_VERSION")).to_string());
    for to in &p.to {
        b = b.to(parse_mailbox(to).map_err(|e| anyhow!(e))?);
    }
    let alternative = MultiPart::alternative_plain_html(r.text.clone(), r.html.clone());
    let body = match (&r.attachment, &r.xlsx) {
        (Some(name), Some(bytes)) => MultiPart::mixed()
            .multipart(alternative)
            .singlepart(Attachment::new(name.clone()).body(bytes.clone(), ContentType::parse(XLSX)?)),
        _ => alternative,
    };
    let mut msg = b.multipart(body)?;
    // Vacation responders and rules should not answer a robot.
    msg.headers_mut()
        .insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()));
    msg.headers_mut()
        .insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"), "All".into()));
    msg.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str("X-Govwatch-Round"),
        format!("{} {}", p.kind.as_str(), p.round),
    ));
    let env = msg.envelope();
    Ok(NewMail {
        message_id: message_id(p, from),
        round: p.round.clone(),
        kind: p.kind.as_str(),
        unit: p.unit.clone(),
        sender: env.from().map(|a| a.to_string()).unwrap_or_default(),
        recipients: env.to().iter().map(|a| a.to_string()).collect(),
        subject: r.subject.clone(),
        message: msg.formatted(),
        marks: p.marks.clone(),
    })
}

/// What a delivery pass did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Delivery {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    /// The last error, for the log.
    pub last_error: Option<String>,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(PathBuf),
}

/// Sends what the outbox holds.
pub struct Mailer {
    transport: Transport,
    give_up: chrono::Duration,
    /// Set at shutdown: the pass stops before its next email.
    stop: std::sync::atomic::AtomicBool,
    /// Who claims the emails this mailer sends (the daemon's node id, or
    /// `cli:HOST:PID` for `govwatch alerts send`).
    node: String,
}

/// How long a claim on an email being sent keeps other nodes off it: longer
/// than any SMTP exchange takes. A node killed while sending leaves its
/// email to the others after this (the documented crash window: the email
/// may go out twice if the relay had accepted it).
const MAIL_CLAIM_MS: i64 = 10 * 60 * 1000;

/// How a failed send is handled.
enum Outcome {
    /// Try this email again later.
    Retry,
    /// Refused for good.
    Fail,
    /// The relay or the session failed (down, TLS, login): try later and stop this pass.
    Stop,
}

fn classify(e: &lettre::transport::smtp::Error) -> Outcome {
    match e.status().and_then(|c| c.to_string().parse::<u16>().ok()) {
        // Authentication problems are the session's, not the email's.
        Some(530 | 534 | 535 | 538 | 454) => Outcome::Stop,
        Some(421) => Outcome::Stop,
        Some(_) if e.is_permanent() => Outcome::Fail,
        Some(_) => Outcome::Retry,
        None => Outcome::Stop,
    }
}

/// 1 min, 2, 4 … up to 1 h after the `attempts`-th failure.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let exp = (attempts.max(1) - 1).min(6) as u32;
    chrono::Duration::seconds((60i64 << exp).min(3600))
}

impl Mailer {
    pub fn new(cfg: &Config) -> Result<Mailer> {
        let m = &cfg.mail;
        let transport = match m.transport {
            MailTransport::File => Transport::File(m.dir.clone()),
            MailTransport::Smtp => Transport::Smtp(smtp(m)?),
        };
        Ok(Mailer {
            transport,
            give_up: chrono::Duration::hours(cfg.alerts.give_up_after_hours as i64),
            stop: std::sync::atomic::AtomicBool::new(false),
            node: crate::store::nodes::process_id("cli"),
        })
    }

    /// Claims emails as this node.
    pub fn with_node(mut self, node: &str) -> Mailer {
        self.node = node.to_string();
        self
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops the delivery pass in progress before its next email (shutdown).
    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Sends the queued emails whose time has come. Store errors stop the
    /// pass; send errors are recorded on the email.
    pub async fn deliver(&self, store: &Store, now: DateTime<FixedOffset>) -> Result<Delivery> {
        let mut d = Delivery::default();
        let mut skip: std::collections::HashSet<i64> = std::collections::HashSet::new();
        loop {
            let due: Vec<Sendable> =
                store.due_mail(now, BATCH + skip.len())?.into_iter().filter(|m| !skip.contains(&m.id)).collect();
            if due.is_empty() {
                return Ok(d);
            }
            let n = due.len();
            for m in due {
                if self.stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return Ok(d);
                }
                // Several nodes deliver one outbox: each email is claimed
                // before it is sent, and one another node is sending is left to it.
                let clock = chrono::Utc::now().timestamp_millis();
                if !store.claim_mail(m.id, &self.node, clock, clock + MAIL_CLAIM_MS)? {
                    skip.insert(m.id);
                    continue;
                }
                match self.send(&m).await {
                    Ok(()) => {
                        store.mail_sent(m.id, now)?;
                        d.sent += 1;
                    }
                    Err((outcome, err)) => {
                        tracing::warn!(id = m.id, unit = %m.unit, kind = %m.kind, attempts = m.attempts + 1, error = %err, "email not sent");
                        d.last_error = Some(err.clone());
                        let given_up = now - m.created_at >= self.give_up;
                        match outcome {
                            Outcome::Fail => {
                                store.mail_failed(m.id, &err)?;
                                d.failed += 1;
                            }
                            _ if given_up => {
                                store
                                    .mail_failed(m.id, &format!("gave up after {} attempts: {err}", m.attempts + 1))?;
                                d.failed += 1;
                            }
                            Outcome::Retry => {
                                store.mail_retry(m.id, now + backoff(m.attempts + 1), &err)?;
                                d.retried += 1;
                            }
                            Outcome::Stop => {
                                store.mail_retry(m.id, now + backoff(m.attempts + 1), &err)?;
                                d.retried += 1;
                                return Ok(d);
                            }
                        }
                    }
                }
            }
            if n < BATCH {
                return Ok(d);
            }
        }
    }

    async fn send(&self, m: &Sendable) -> Result<(), (Outcome, String)> {
        match &self.transport {
            Transport::Smtp(t) => {
                let envelope = envelope(m).map_err(|e| (Outcome::Fail, e))?;
                t.send_raw(&envelope, &m.message).await.map(|_| ()).map_err(|e| {
                    let mut msg = e.to_string();
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        msg.push_str(": ");
                        msg.push_str(&s.to_string());
                        src = s.source();
                    }
                    (classify(&e), msg)
                })
            }
            Transport::File(dir) => {
                write_eml(dir, &file_name(m), &m.message).map(|_| ()).map_err(|e| (Outcome::Stop, format!("{e:#}")))
            }
        }
    }
}

fn envelope(m: &Sendable) -> Result<Envelope, String> {
    let addr = |s: &str| s.parse::<Address>().map_err(|e| format!("{s:?}: {e}"));
    let from = addr(&m.sender)?;
    let to = m.recipients.iter().map(|r| addr(r)).collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| e.to_string())
}

/// `000042-digest-jiaoyuju.eml`: the outbox id makes it unique, and a resend
/// after a crash overwrites the same file.
fn file_name(m: &Sendable) -> String {
    let unit: String =
        m.unit.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("{:06}-{}-{unit}.eml", m.id, m.kind)
}

/// Writes a file whole or not at all (temp file, then rename).
pub fn write_eml(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create the mail folder {}", dir.display()))?;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn smtp(m: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let host = m.host.trim().to_string();
    let tls = || -> Result<TlsParameters> {
        let mut b = TlsParameters::builder(host.clone());
        if let Some(f) = &m.ca_file {
            let pem = std::fs::read(f).with_context(|| format!("mail.ca_file: cannot read {}", f.display()))?;
            b = b.add_root_certificate(
                Certificate::from_pem(&pem).with_context(|| format!("mail.ca_file: {} is not PEM", f.display()))?,
            );
        }
        Ok(b.build_rustls()?)
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(m.port())
        .timeout(Some(Duration::from_secs(m.timeout_secs.max(1))))
        .tls(match m.security {
            MailSecurity::Starttls => Tls::Required(tls()?),
            MailSecurity::Tls => Tls::Wrapper(tls()?),
            MailSecurity::None => Tls::None,
        });
    if let (Some(user), Some(pass)) = (&m.username, &m.password) {
        b = b.credentials(Credentials::new(user.clone(), pass.0.clone()));
    }
    Ok(b.build())
}

/// The planned emails of a round, rendered, for a preview or a dry run (nothing is recorded).
pub fn render_plan(
    cfg: &Config,
    templates: &Templates,
    plan: &Plan,
    now: DateTime<FixedOffset>,
) -> Result<Vec<(Planned, NewMail, Rendered)>> {
    let composed = compose_all(cfg, templates, &plan.emails, now)?;
    Ok(plan.emails.iter().cloned().zip(composed).map(|(p, (m, r))| (p, m, r)).collect())
}

/// For the preview: a digest is planned for every unit with open findings, due or not.
pub fn preview_settings(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    c.alerts.repeat_working_days = 0;
    c
}
