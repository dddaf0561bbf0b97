//! `govwatch run`: every source polled on its own cron schedule (Asia/Shanghai)
//! — feeds and pages fetched, export drop folders read — and the rules
//! evaluated, alert rounds run at their times on working days and the outbox
//! delivered, until SIGINT/SIGTERM. The full service (watchdog, reload, web
//! console) grows here.
//!
//! Each poll is its own task, so a slow or hanging source never delays the
//! others; a source still being polled when its next tick comes is skipped
//! that tick; a failing source waits out its backoff. One task brings the
//! index up to date and evaluates the rules shortly after polls store
//! something, so that a burst of polls makes one commit, not hundreds; the
//! rules are also evaluated every ten minutes, since time alone turns
//! due-soon into overdue.
//!
//! Alert rounds: a cron job per `alerts.rounds` time runs the round if the
//! day is a working day; at start, today's latest round time already past is
//! run if it has not been (the daemon was down at nine). A round already
//! queued is never queued again. The outbox is delivered after each round
//! and every minute (retries wait out their backoff).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::alerts::Round;
use crate::alerts::render::Templates;
use crate::calendar::Calendar;
use crate::cli::{calendar_of, now, open_index, open_store};
use crate::config::{Config, SourceConfig};
use crate::index::SearchIndex;
use crate::mailer::{self, Mailer};
use crate::poll::{PollStatus, Poller};
use crate::store::Store;

/// How long polls may keep storing before the index catches up.
const INDEX_DEBOUNCE: Duration = Duration::from_secs(2);
/// Evaluating the rules without new data, for the passing of time.
const RULES_SCHEDULE: &str = "0 */10 * * * *";
/// How long in-flight polls get to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the outbox is looked at for emails whose retry time has come.
const DELIVERY_INTERVAL: Duration = Duration::from_secs(60);

struct Shared {
    cfg: Config,
    calendar: Calendar,
    store: Arc<Store>,
    index: Arc<SearchIndex>,
    poller: Poller,
    /// Sources being polled right now.
    running: Mutex<HashSet<String>>,
    /// Wakes the index task.
    dirty: Notify,
    /// Alerts, when enabled: the compiled templates and the transport.
    alerts: Option<(Templates, Mailer)>,
    /// Wakes the delivery task.
    mail: Notify,
}

pub fn run(cfg: Config) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    rt.block_on(run_async(cfg))
}

async fn run_async(cfg: Config) -> Result<()> {
    let store = open_store(&cfg)?;
    let index = Arc::new(open_index(&cfg)?);
    let caught_up = {
        let (s, i) = (store.clone(), index.clone());
        tokio::task::spawn_blocking(move || i.sync(&s))
            .await?
            .context("failed to bring the index up to date with the store")?
    };
    tracing::info!(indexed = caught_up.indexed, rev = caught_up.rev, "index is up to date with the store");
    let calendar = calendar_of(&cfg)?;
    let today = now().date_naive();
    for year in calendar.uncovered_years(today, today + chrono::Duration::days(60)) {
        tracing::warn!(
            year,
            "no official holiday schedule for this year: deadlines count Monday to Friday; add the notice under [calendar] files"
        );
    }
    let alerts = if cfg.alerts.enabled {
        let t = Templates::load(cfg.alerts.templates.as_deref()).context("alerts.templates")?;
        Some((t, Mailer::new(&cfg).context("[mail]")?))
    } else {
        tracing::info!("alerts are disabled ([alerts] enabled = false): no emails");
        None
    };
    let shared = Arc::new(Shared {
        alerts,
        mail: Notify::new(),
        calendar,
        poller: Poller::new(&cfg, store.clone())?,
        store,
        index,
        running: Mutex::new(HashSet::new()),
        dirty: Notify::new(),
        cfg: cfg.clone(),
    });

    let indexer = tokio::spawn(index_loop(shared.clone()));
    let sched = JobScheduler::new().await.context("failed to start the scheduler")?;
    let polled: Vec<SourceConfig> = cfg.sources.iter().filter(|s| s.enabled).cloned().collect();
    for src in &polled {
        let (shared, src2) = (shared.clone(), src.clone());
        let job = Job::new_async_tz(src.schedule.as_str(), chrono_tz::Asia::Shanghai, move |_id, _sched| {
            let (shared, src) = (shared.clone(), src2.clone());
            Box::pin(async move {
                tokio::spawn(poll_one(shared, src));
            })
        })
        .with_context(|| format!("source {}: bad schedule {:?}", src.id, src.schedule))?;
        sched.add(job).await.with_context(|| format!("failed to schedule source {}", src.id))?;
    }
    let rules_shared = shared.clone();
    let rules_job = Job::new_async_tz(RULES_SCHEDULE, chrono_tz::Asia::Shanghai, move |_id, _sched| {
        let shared = rules_shared.clone();
        Box::pin(async move {
            shared.dirty.notify_one();
        })
    })
    .context("failed to schedule the rules")?;
    sched.add(rules_job).await.context("failed to schedule the rules")?;
    let mut delivery = None;
    if shared.alerts.is_some() {
        for t in cfg.alerts.round_times() {
            let shared = shared.clone();
            let cron = t.format("0 %M %H * * *").to_string();
            let job = Job::new_async_tz(cron.as_str(), chrono_tz::Asia::Shanghai, move |_id, _sched| {
                let shared = shared.clone();
                Box::pin(async move {
                    let at = now().date_naive().and_time(t);
                    tokio::spawn(alert_round(shared, at));
                })
            })
            .with_context(|| format!("alerts.rounds: cannot schedule {t}"))?;
            sched.add(job).await.context("failed to schedule an alert round")?;
        }
        delivery = Some(tokio::spawn(delivery_loop(shared.clone())));
    }
    sched.start().await.context("failed to start the scheduler")?;
    tracing::info!(sources = polled.len(), "govwatch is running; polling every source once now, then on its schedule");
    let first: Vec<_> = polled.into_iter().map(|src| tokio::spawn(poll_one(shared.clone(), src))).collect();
    if shared.alerts.is_some() {
        // Today's latest round time already past, if it has not run (the
        // daemon was down then) — once the first polls have brought the data in.
        let (shared, times) = (shared.clone(), cfg.alerts.round_times());
        tokio::spawn(async move {
            futures::future::join_all(first).await;
            let n = now();
            if let Some(t) = times.into_iter().rev().find(|t| *t <= n.time()) {
                alert_round(shared, n.date_naive().and_time(t)).await;
            }
        });
    }

    shutdown_signal().await;
    tracing::info!("stopping: no new polls; waiting for polls in flight");
    let mut sched = sched;
    if let Err(e) = sched.shutdown().await {
        tracing::warn!(error = %e, "scheduler did not stop cleanly");
    }
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while !shared.running.lock().unwrap_or_else(|e| e.into_inner()).is_empty() && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    indexer.abort();
    if let (Some(task), Some((_, m))) = (delivery, &shared.alerts) {
        // Let the email being sent finish; the pass stops before the next.
        m.stop();
        shared.mail.notify_one();
        if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
            tracing::warn!("an email was still being sent at shutdown; it may be sent again after the restart");
        }
    }
    let (s, i) = (shared.store.clone(), shared.index.clone());
    tokio::task::spawn_blocking(move || -> Result<()> {
        i.sync(&s)?;
        i.close_writer()
    })
    .await??;
    tracing::info!("stopped");
    Ok(())
}

async fn poll_one(shared: Arc<Shared>, src: SourceConfig) {
    let now = now();
    if let Ok(Some(h)) = shared.store.health_of(&src.id)
        && let Some(next) = h.next_attempt()
        && now < next
    {
        tracing::debug!(source = %src.id, next = %next, "backing off after failures");
        return;
    }
    if !shared.running.lock().unwrap_or_else(|e| e.into_inner()).insert(src.id.clone()) {
        tracing::info!(source = %src.id, "previous poll still running; skipping this tick");
        return;
    }
    let report = shared.poller.poll(&src, now).await;
    shared.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&src.id);
    match report.status {
        PollStatus::Error => {}
        _ => tracing::info!(
            source = %report.source,
            status = ?report.status,
            new = report.counts.new,
            updated = report.counts.updated,
            unchanged = report.counts.unchanged,
            took_ms = report.took_ms,
            "polled"
        ),
    }
    if report.counts.new + report.counts.updated > 0 {
        shared.dirty.notify_one();
    }
}

/// Brings the index up to date and evaluates the rules, shortly after a
/// poll stored something (or the rules' own schedule asked).
async fn index_loop(shared: Arc<Shared>) {
    loop {
        shared.dirty.notified().await;
        tokio::time::sleep(INDEX_DEBOUNCE).await;
        let s = shared.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(usize, usize)> {
            let stats = s.index.sync(&s.store).context("index update failed")?;
            let at = now();
            let (findings, _) = crate::findings::evaluate(&s.cfg, &s.calendar, &s.store, at, true)
                .context("evaluating the rules failed")?;
            if s.cfg.alerts.immediate
                && let Some((templates, _)) = &s.alerts
            {
                let r = mailer::queue_round(&s.cfg, &s.calendar, &s.store, templates, &Round::immediate(at))
                    .context("queueing immediate alerts failed")?;
                if r.emails > 0 {
                    tracing::info!(emails = r.emails, findings = r.findings, "new overdue findings mailed at once");
                    s.mail.notify_one();
                }
            }
            Ok((stats.indexed, findings.iter().filter(|f| f.state != crate::rules::State::Resolved).count()))
        })
        .await;
        match done {
            Ok(Ok((indexed, open))) => {
                if indexed > 0 {
                    tracing::info!(indexed, "index updated");
                }
                tracing::debug!(open_findings = open, "rules evaluated");
            }
            Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "retried after the next poll"),
            Err(e) => tracing::error!(error = %e, "index task panicked"),
        }
    }
}

/// Runs the alert round of `at` (local time) if it is a working day:
/// evaluates the rules, queues the emails, wakes the delivery.
async fn alert_round(shared: Arc<Shared>, at: chrono::NaiveDateTime) {
    if !shared.calendar.is_workday(at.date()) {
        tracing::info!(day = %at.date(), "not a working day: no alert round");
        return;
    }
    let Some(at) = at.and_local_timezone(crate::normalize::time::china()).single() else { return };
    let s = shared.clone();
    let done = tokio::task::spawn_blocking(move || -> Result<mailer::RoundReport> {
        let (templates, _) = s.alerts.as_ref().context("alerts are disabled")?;
        crate::findings::evaluate(&s.cfg, &s.calendar, &s.store, now(), true).context("evaluating the rules failed")?;
        mailer::queue_round(&s.cfg, &s.calendar, &s.store, templates, &Round::scheduled(at))
    })
    .await;
    match done {
        Ok(Ok(r)) if r.already_run => tracing::debug!(round = %r.round, "alert round already queued"),
        Ok(Ok(r)) => {
            tracing::info!(round = %r.round, emails = r.emails, findings = r.findings, took_ms = r.took_ms as u64, "alert round queued");
            for (unit, n) in &r.unroutable {
                tracing::warn!(unit = %unit, findings = n, "unit has no email address and alerts.fallback is empty: not mailed");
            }
            shared.mail.notify_one();
        }
        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "alert round failed; it runs again at the next start"),
        Err(e) => tracing::error!(error = %e, "alert round panicked"),
    }
}

/// Sends the outbox: when a round queued something, and every minute for retries.
async fn delivery_loop(shared: Arc<Shared>) {
    let Some((_, mailer)) = &shared.alerts else { return };
    loop {
        match mailer.deliver(&shared.store, now()).await {
            Ok(d) if d.sent + d.retried + d.failed > 0 => {
                tracing::info!(sent = d.sent, retried = d.retried, failed = d.failed, "outbox delivered");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %format!("{e:#}"), "delivering the outbox failed"),
        }
        if mailer.stopped() {
            return;
        }
        let _ = tokio::time::timeout(DELIVERY_INTERVAL, shared.mail.notified()).await;
        if mailer.stopped() {
            return;
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
