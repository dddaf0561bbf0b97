//! `govwatch run`: the whole service in one process.
//!
//! - Every source is polled on its own cron schedule (Asia/Shanghai) —
//!   feeds and pages fetched, export drop folders read. Each poll is its own
//!   task, so a slow or hanging source never delays the others; a source
//!   still being polled when its next tick comes is skipped that tick; a
//!   failing source waits out its backoff.
//! - One task brings the index up to date and evaluates the rules shortly
//!   after polls store something, so that a burst of polls makes one commit,
//!   not hundreds; the rules are also evaluated every ten minutes, since time
//!   alone turns due-soon into overdue.
//! - Alert rounds: a cron job per `alerts.rounds` time runs the round if the
//!   day is a working day; at start, today's latest round time already past is
//!   run if it has not been (the daemon was down at nine). A round already
//!   queued is never queued again. The outbox is delivered after each round
//!   and every minute (retries wait out their backoff).
//! - The HTTP server (`/healthz`, `/metrics`, later the console) on `web.listen`.
//!
//! **Service life.** One daemon per data folder ([`lock`]). systemd is told
//! READY=1 once the index has caught up with the store and the server
//! listens, STATUS= lines as work is done, and WATCHDOG=1 at half the
//! watchdog interval. SIGHUP reloads the configuration: the new one is read
//! and checked, and only if it is sound — and changes nothing that needs a
//! restart (storage folders, index settings, the listen address, the number
//! of polls at once) — are the
//! schedules replaced; otherwise the daemon says why and keeps the old one.
//! SIGTERM/SIGINT: no new work, polls in flight get part of
//! `daemon.shutdown_timeout_secs`, the index is committed with the rest, and
//! the process exits within the limit whatever is still running — safe,
//! since a kill at any point is (see ARCHITECTURE.md, crash safety).
//!
//! The parts that outlive a reload (store, index, counters, the set of
//! sources being polled) are [`Base`]; what a configuration builds is a
//! [`Generation`].

pub mod lock;
pub mod metrics;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
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
use crate::web::{self, AppState};
use lock::InstanceLock;
use metrics::Counters;

/// How long polls may keep storing before the index catches up.
const INDEX_DEBOUNCE: Duration = Duration::from_secs(2);
/// Evaluating the rules without new data, for the passing of time.
const RULES_SCHEDULE: &str = "0 */10 * * * *";
/// How often the outbox is looked at for emails whose retry time has come.
const DELIVERY_INTERVAL: Duration = Duration::from_secs(60);

/// This process as a node of the store (`store::nodes`): its id and
/// `daemon.lease_secs`.
struct Node {
    id: String,
    lease_ms: i64,
    /// Live nodes sharing the store, and the sources this one holds, as the
    /// last heartbeat counted them.
    live: std::sync::atomic::AtomicUsize,
    mine: std::sync::atomic::AtomicUsize,
    /// Sources this node, holding its share, left once for the others.
    left: Mutex<HashSet<String>>,
}

impl Node {
    /// How long a claim or a renewal holds: three fifths of
    /// `daemon.lease_secs`. The heartbeat renews every fifth of it, so a live
    /// node renews each lease three times before it could lapse, and a dead
    /// node's work is taken over within four fifths of `lease_secs` of its
    /// last beat (expiry, then at most one of the survivor's heartbeats),
    /// leaving a fifth for the store's answers and a loaded machine.
    fn valid_ms(&self) -> i64 {
        (self.lease_ms * 3 / 5).max(1)
    }

    /// Takes (or renews) the lease `name`; false when another live node holds it.
    async fn claim(&self, store: &Arc<Store>, name: String) -> bool {
        self.claim_after(store, name, 0).await
    }

    /// Takes a source's lease, leaving one another node let go of to the
    /// others for a while when this node already polls its share (sources ÷
    /// live nodes): several nodes split the sources, and a node that joins
    /// gets its part as the others let theirs go.
    async fn claim_source(&self, store: &Arc<Store>, id: &str, sources: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let share = sources.div_ceil(self.live.load(Relaxed).max(1));
        let full = self.live.load(Relaxed) > 1 && self.mine.load(Relaxed) >= share;
        if full {
            // A source nobody holds is left to the others once; if it is
            // still free at this node's next tick, no other took it.
            let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
            if left.insert(id.to_string()) {
                return false;
            }
            left.remove(id);
        }
        let held = self.claim_after(store, format!("source:{id}"), if full { 2 * self.lease_ms } else { 0 }).await;
        if held {
            self.mine.fetch_add(1, Relaxed);
        }
        held
    }

    async fn claim_after(&self, store: &Arc<Store>, name: String, grace_ms: i64) -> bool {
        let (store, id, lease) = (store.clone(), self.id.clone(), self.valid_ms());
        let claimed =
            tokio::task::spawn_blocking(move || store.claim_after(&name, &id, now_ms(), lease, grace_ms)).await;
        match claimed {
            Ok(Ok(held)) => held,
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "the store did not answer a lease claim");
                false
            }
            Err(_) => false,
        }
    }
}

/// The clock in unix milliseconds, for leases and heartbeats.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The lease of the leader's jobs: rule evaluation, alert rounds, the link check.
const LEADER: &str = "leader";

/// What outlives a configuration reload.
struct Base {
    node: Arc<Node>,
    store: Arc<Store>,
    index: Arc<SearchIndex>,
    /// Sources being polled right now (by any generation).
    running: Arc<Mutex<HashSet<String>>>,
    /// Polls in flight at most (`fetch.concurrency`, as at start).
    slots: Arc<tokio::sync::Semaphore>,
    counters: Arc<Counters>,
    web: Arc<AppState>,
}

/// What one configuration builds.
struct Shared {
    node: Arc<Node>,
    cfg: Arc<Config>,
    calendar: Calendar,
    store: Arc<Store>,
    index: Arc<SearchIndex>,
    poller: Poller,
    running: Arc<Mutex<HashSet<String>>>,
    slots: Arc<tokio::sync::Semaphore>,
    counters: Arc<Counters>,
    /// Wakes the index task.
    dirty: Notify,
    /// Alerts, when enabled: the compiled templates and the transport.
    alerts: Option<(Templates, Mailer)>,
    /// Wakes the delivery task.
    mail: Notify,
}

impl Shared {
    /// Everything a configuration needs before it can take over; fails
    /// (and the running configuration stays) if any part cannot be built.
    fn build(cfg: Arc<Config>, base: &Base) -> Result<Shared> {
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
            Some((t, Mailer::new(&cfg).context("[mail]")?.with_node(&base.node.id)))
        } else {
            tracing::info!("alerts are disabled ([alerts] enabled = false): no emails");
            None
        };
        Ok(Shared {
            node: base.node.clone(),
            poller: Poller::new(&cfg, base.store.clone())?.with_node(&base.node.id, base.node.valid_ms()),
            cfg,
            calendar,
            store: base.store.clone(),
            index: base.index.clone(),
            running: base.running.clone(),
            slots: base.slots.clone(),
            counters: base.counters.clone(),
            dirty: Notify::new(),
            alerts,
            mail: Notify::new(),
        })
    }
}

/// One configuration at work: its schedules and tasks.
struct Generation {
    shared: Arc<Shared>,
    sched: JobScheduler,
    indexer: Option<JoinHandle<()>>,
    delivery: Option<JoinHandle<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Generation {
    /// Builds the schedules of `shared`'s configuration, not yet started:
    /// every fallible step happens here, before the old generation stops.
    async fn prepare(shared: Arc<Shared>) -> Result<Generation> {
        let cfg = shared.cfg.clone();
        let sched = JobScheduler::new().await.context("failed to start the scheduler")?;
        for src in cfg.sources.iter().filter(|s| s.enabled) {
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
        }
        if cfg.inspection.enabled && cfg.inspection.links.enabled {
            let links_shared = shared.clone();
            let schedule = cfg.inspection.links.schedule.clone();
            let job = Job::new_async_tz(schedule.as_str(), chrono_tz::Asia::Shanghai, move |_id, _sched| {
                let shared = links_shared.clone();
                Box::pin(async move {
                    tokio::spawn(link_check(shared));
                })
            })
            .with_context(|| format!("inspection.links.schedule: bad schedule {schedule:?}"))?;
            sched.add(job).await.context("failed to schedule the link check")?;
        }
        Ok(Generation { shared, sched, indexer: None, delivery: None, heartbeat: None })
    }

    /// Starts the schedules and tasks, polls `poll_now` at once, and runs
    /// today's missed alert round after those polls.
    async fn launch(&mut self, poll_now: Vec<SourceConfig>) -> Result<()> {
        let shared = self.shared.clone();
        if shared.alerts.is_some() {
            self.delivery = Some(tokio::spawn(delivery_loop(shared.clone())));
        }
        self.indexer = Some(tokio::spawn(index_loop(shared.clone())));
        self.heartbeat = Some(tokio::spawn(heartbeat_loop(shared.clone())));
        self.sched.start().await.context("failed to start the scheduler")?;
        let first: Vec<_> = poll_now.into_iter().map(|src| tokio::spawn(poll_one(shared.clone(), src))).collect();
        if shared.alerts.is_some() {
            // Today's latest round time already past, if it has not run (the
            // daemon was down then) — once the first polls have brought the data in.
            let shared = shared.clone();
            let launched = now();
            tokio::spawn(async move {
                futures::future::join_all(first).await;
                // Nodes sharing the store split the sources: wait (a while)
                // for the others' first polls too, so the round sees their data.
                let deadline = tokio::time::Instant::now() + FIRST_POLLS_WAIT;
                while tokio::time::Instant::now() < deadline && !all_polled_since(&shared, launched).await {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                missed_round(shared).await;
            });
        }
        // Catch up with anything stored while no generation was watching.
        shared.dirty.notify_one();
        Ok(())
    }

    /// Stops taking new work: no more ticks, no more rounds; the email being
    /// sent may finish until `deadline`. Polls in flight go on (they are
    /// waited for, or abandoned, by the caller).
    async fn stop(mut self, deadline: tokio::time::Instant) {
        if let Err(e) = self.sched.shutdown().await {
            tracing::warn!(error = %e, "scheduler did not stop cleanly");
        }
        if let Some(t) = &self.indexer {
            t.abort();
        }
        if let Some(t) = &self.heartbeat {
            t.abort();
        }
        if let (Some(task), Some((_, m))) = (self.delivery, &self.shared.alerts) {
            m.stop();
            self.shared.mail.notify_one();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(
                    "the outbox delivery did not finish in time; an email in flight may be sent again later (the documented window)"
                );
            }
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Takes the data folder's lock first.
pub fn run(cfg: Config) -> Result<()> {
    let started = now();
    let lock = InstanceLock::acquire(&cfg.storage.data_dir, &started.to_rfc3339())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let result = rt.block_on(run_async(cfg, started));
    // Whatever blocking work is still running was abandoned at the deadline:
    // do not wait for it (a kill there is safe; see ARCHITECTURE.md).
    rt.shutdown_timeout(Duration::from_millis(100));
    drop(lock);
    result
}

/// `govwatch serve`: the web console alone, on the store and index another
/// process (the daemon) keeps up to date. Takes no lock: it writes only
/// logins and sessions (short transactions; on SQLite beside a running
/// daemon a login may wait for an import's transaction).
pub fn serve(cfg: Config) -> Result<()> {
    let started = now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    rt.block_on(async move {
        let cfg = Arc::new(cfg);
        let mut signals = Signals::new()?;
        let store = open_store(&cfg)?;
        let index = Arc::new(open_index(&cfg)?);
        let state = Arc::new(AppState::new(store, index, Arc::new(Counters::default()), cfg.clone(), started));
        let listener = tokio::net::TcpListener::bind(&cfg.web.listen)
            .await
            .with_context(|| format!("web.listen: cannot listen on {}", cfg.web.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(listen = %addr, "serving the web console on http://{addr}");
        web::server::serve(listener, state, async move {
            while !matches!(signals.next().await, Signal::Stop) {
                tracing::info!("SIGHUP: `govwatch serve` reads its configuration at start; restart it");
            }
        })
        .await?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn run_async(cfg: Config, started: DateTime<FixedOffset>) -> Result<()> {
    let cfg = Arc::new(cfg);
    let mut signals = Signals::new()?;
    let store = open_store(&cfg)?;
    let index = Arc::new(open_index(&cfg)?);
    notify(&[sd_notify::NotifyState::Status("bringing the index up to date with the store")]);
    // A long catch-up (a first start on a big store) must not hold a stop
    // request: abandoning it is safe, the next start resumes it.
    let mut catch_up = {
        let (s, i) = (store.clone(), index.clone());
        tokio::task::spawn_blocking(move || i.sync(&s))
    };
    // Ask systemd for more start time while it lasts (a rebuild after a
    // schema change reads every stored item: minutes on a million), so
    // TimeoutStartSec does not kill a start that is making progress.
    let mut extend = tokio::time::interval(Duration::from_secs(30));
    let caught_up = loop {
        tokio::select! {
            done = &mut catch_up => break done?.context("failed to bring the index up to date with the store")?,
            _ = extend.tick() => notify(&[sd_notify::NotifyState::ExtendTimeoutUsec(90_000_000)]),
            sig = signals.next() => match sig {
                Signal::Stop => {
                    tracing::warn!("stopped while the index was catching up; it resumes at the next start");
                    return Ok(());
                }
                Signal::Reload => tracing::warn!("SIGHUP while starting is ignored: send it again once the daemon is ready"),
            },
        }
    };
    tracing::info!(indexed = caught_up.indexed, rev = caught_up.rev, "index is up to date with the store");
    let counters = Arc::new(Counters::default());
    let web_state = Arc::new(AppState::new(store.clone(), index.clone(), counters.clone(), cfg.clone(), started));
    if cfg.users.is_empty() && cfg.web.trusted_user_header.is_none() {
        tracing::warn!("no [[users]]: nobody can log in to the web console; add one with `govwatch user add NAME`");
    }
    let node = Arc::new(register_node(&store, &cfg, started, cfg.web.listen.clone())?);
    let base = Base {
        node: node.clone(),
        store,
        index,
        running: Arc::new(Mutex::new(HashSet::new())),
        slots: Arc::new(tokio::sync::Semaphore::new(cfg.fetch.concurrency.max(1))),
        counters,
        web: web_state.clone(),
    };

    let listener = tokio::net::TcpListener::bind(&cfg.web.listen)
        .await
        .with_context(|| format!("web.listen: cannot listen on {}", cfg.web.listen))?;
    let addr = listener.local_addr()?;
    let (stop_web, web_stopped) = watch::channel(false);
    let server = tokio::spawn(async move {
        let mut rx = web_stopped;
        let serve = web::server::serve(listener, web_state, async move {
            let _ = rx.wait_for(|stop| *stop).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "the web server stopped");
        }
    });
    tracing::info!(listen = %addr, "serving the web console, /healthz and /metrics on http://{addr}");
    if let Err(e) = base.store.node_listen(&node.id, &addr.to_string()) {
        tracing::warn!(error = %format!("{e:#}"), "could not record the console's address in the store");
    }

    let shared = Arc::new(Shared::build(cfg.clone(), &base)?);
    let polled: Vec<SourceConfig> = cfg.sources.iter().filter(|s| s.enabled).cloned().collect();
    let n_sources = polled.len();
    let mut generation = Generation::prepare(shared).await?;
    generation.launch(polled).await?;
    tracing::info!(sources = n_sources, "govwatch is running; polling every source once now, then on its schedule");
    notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("running: {n_sources} sources; http://{addr}")),
    ]);
    let watchdog = watchdog_interval().map(|every| {
        tracing::info!(every_ms = every.as_millis() as u64, "systemd watchdog enabled");
        tokio::spawn(async move {
            loop {
                notify(&[sd_notify::NotifyState::Watchdog]);
                tokio::time::sleep(every).await;
            }
        })
    });

    loop {
        match signals.next().await {
            Signal::Stop => break,
            Signal::Reload => generation = reload(generation, &base).await,
        }
    }

    let limit = Duration::from_secs(generation.shared.cfg.daemon.shutdown_timeout_secs);
    let t0 = tokio::time::Instant::now();
    let deadline = t0 + limit;
    // Polls in flight and the email being sent get 60% of the time; the
    // index commit the rest.
    let work_deadline = t0 + limit.mul_f64(0.6);
    notify(&[sd_notify::NotifyState::Stopping, sd_notify::NotifyState::Status("stopping")]);
    tracing::info!(limit_secs = limit.as_secs(), "stopping: no new work; waiting for polls in flight");
    generation.stop(work_deadline).await;
    while !base.running.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
        && tokio::time::Instant::now() < work_deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let abandoned: Vec<String> = base.running.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
    if !abandoned.is_empty() {
        let shown: Vec<&String> = abandoned.iter().take(10).collect();
        tracing::warn!(
            count = abandoned.len(),
            sources = ?shown,
            "polls still running or waiting at the limit are abandoned; they run again at the next start"
        );
    }
    let _ = stop_web.send(true);
    if let Some(w) = watchdog {
        w.abort();
    }
    let (s, i) = (base.store.clone(), base.index.clone());
    let commit = tokio::task::spawn_blocking(move || -> Result<()> {
        i.sync(&s)?;
        i.close_writer()
    });
    let margin = Duration::from_millis(300);
    match tokio::time::timeout_at(deadline.checked_sub(margin).unwrap_or(deadline), commit).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %format!("{e:#}"), "index commit at shutdown failed; it catches up at the next start")
        }
        Ok(Err(e)) => tracing::error!(error = %e, "index commit at shutdown panicked; it catches up at the next start"),
        Err(_) => tracing::warn!(
            "the index commit did not finish in time; the index catches up from the store at the next start"
        ),
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), server).await;
    let (s, id) = (base.store.clone(), node.id.clone());
    match tokio::task::spawn_blocking(move || s.node_stopped(&id, &now().to_rfc3339())).await {
        Ok(Ok(())) => {}
        _ => tracing::warn!("could not tell the store this node stopped; its leases expire by themselves"),
    }
    tracing::info!(took_ms = t0.elapsed().as_millis() as u64, "stopped");
    Ok(())
}

/// Registers this process as a node of the store and lets go the leases of
/// nodes known to be gone: on SQLite every other node's (the data folder's
/// lock proves none runs), elsewhere those of this host whose process has
/// ended (a restart after kill -9 does not wait for its own old leases).
fn register_node(store: &Store, cfg: &Config, started: DateTime<FixedOffset>, listen: String) -> Result<Node> {
    use crate::store::nodes::{NodeInfo, host_name, process_id};
    let node = Node {
        id: process_id("node"),
        lease_ms: cfg.daemon.lease_secs.max(1) as i64 * 1000,
        live: 1.into(),
        mine: 0.into(),
        left: Mutex::new(HashSet::new()),
    };
    let host = host_name();
    store.register_node(
        &NodeInfo {
            id: node.id.clone(),
            host: host.clone(),
            pid: std::process::id(),
            listen: Some(listen),
            started_at: started.to_rfc3339(),
        },
        now_ms(),
    )?;
    let sqlite = store.dialect() == crate::store::Dialect::Sqlite;
    let gone: Vec<String> = store
        .nodes(now_ms())?
        .into_iter()
        .filter(|n| n.id != node.id && n.stopped_at.is_none())
        .filter(|n| sqlite || (n.host == host && !std::path::Path::new(&format!("/proc/{}", n.pid)).exists()))
        .map(|n| n.id)
        .collect();
    if !gone.is_empty() {
        let n = store.release_leases_of(&gone)?;
        tracing::info!(nodes = gone.len(), released = n, "let go the leases and email claims of nodes that are gone");
        // Mark them, so they are not looked at again.
        for id in &gone {
            store.node_stopped(id, &started.to_rfc3339())?;
        }
    }
    let _ = store.prune_nodes(now_ms() - 7 * 86_400_000);
    tracing::info!(node = %node.id, lease_secs = cfg.daemon.lease_secs, "registered as a node of the store");
    Ok(node)
}

/// SIGHUP: reads and checks the configuration file again; takes it only when
/// it is sound and needs no restart. Returns the generation now running.
async fn reload(old: Generation, base: &Base) -> Generation {
    let old_cfg = old.shared.cfg.clone();
    let Some(path) = old_cfg.file.clone() else {
        tracing::error!("reload refused: the configuration did not come from a file");
        return old;
    };
    tracing::info!(file = %path.display(), "SIGHUP: reloading the configuration");
    let refuse = |why: String| {
        base.counters.reloads_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(file = %path.display(), "reload refused, still running the previous configuration: {why}");
        notify(&[sd_notify::NotifyState::Status(&format!("reload refused: {why}"))]);
    };
    let loaded = match crate::config::load(&path) {
        Ok(l) => l,
        Err(e) => {
            refuse(format!("{e:#}"));
            return old;
        }
    };
    for p in &loaded.problems {
        tracing::warn!(file = %path.display(), "{p}");
    }
    if loaded.has_errors() {
        let errors: Vec<String> = loaded.errors().map(|p| p.to_string()).collect();
        refuse(format!("{} error(s): {}", errors.len(), errors.join("; ")));
        return old;
    }
    let cfg = Arc::new(loaded.config);
    if let Some(why) = needs_restart(&old_cfg, &cfg) {
        refuse(why);
        return old;
    }
    let shared = match Shared::build(cfg.clone(), base) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            refuse(format!("{e:#}"));
            return old;
        }
    };
    // New and changed sources are polled at once; the others keep their rhythm.
    let poll_now: Vec<SourceConfig> = cfg
        .sources
        .iter()
        .filter(|s| s.enabled)
        .filter(|s| {
            old_cfg
                .source(&s.id)
                .is_none_or(|o| !o.enabled || serde_json::to_value(o).ok() != serde_json::to_value(s).ok())
        })
        .cloned()
        .collect();
    let mut new = match Generation::prepare(shared).await {
        Ok(g) => g,
        Err(e) => {
            refuse(format!("{e:#}"));
            return old;
        }
    };
    let limit = Duration::from_secs(old_cfg.daemon.shutdown_timeout_secs);
    old.stop(tokio::time::Instant::now() + limit).await;
    let n_new = poll_now.len();
    base.web.set_config(cfg.clone());
    base.counters.reloads_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Err(e) = new.launch(poll_now).await {
        tracing::error!(error = %format!("{e:#}"), "the new schedules did not start; restart govwatch");
        notify(&[sd_notify::NotifyState::Status("schedules not running after reload: restart govwatch")]);
        return new;
    }
    let n = cfg.sources.iter().filter(|s| s.enabled).count();
    tracing::info!(sources = n, polled_now = n_new, "configuration reloaded");
    notify(&[sd_notify::NotifyState::Status(&format!("running: {n} sources; configuration reloaded"))]);
    new
}

/// Why `new` cannot replace `old` without a restart, if it cannot.
fn needs_restart(old: &Config, new: &Config) -> Option<String> {
    let mut why = Vec::new();
    if old.storage.data_dir != new.storage.data_dir {
        why.push("storage.data_dir");
    }
    if old.storage.index_dir != new.storage.index_dir {
        why.push("storage.index_dir");
    }
    if (old.storage.backend, &old.storage.url, old.storage.pool_size)
        != (new.storage.backend, &new.storage.url, new.storage.pool_size)
    {
        why.push("storage.backend/url/pool_size");
    }
    if old.daemon.lease_secs != new.daemon.lease_secs {
        why.push("daemon.lease_secs");
    }
    if serde_json::to_value(&old.index).ok() != serde_json::to_value(&new.index).ok() {
        why.push("[index]");
    }
    if old.web.listen != new.web.listen {
        why.push("web.listen");
    }
    if old.fetch.concurrency != new.fetch.concurrency {
        why.push("fetch.concurrency");
    }
    (!why.is_empty()).then(|| format!("{} changed, which needs a restart (systemctl restart govwatch)", why.join(", ")))
}

async fn poll_one(shared: Arc<Shared>, src: SourceConfig) {
    // Cheap checks first: a tick of a source still running (or waiting for a
    // slot) costs nothing but this.
    if !shared.running.lock().unwrap_or_else(|e| e.into_inner()).insert(src.id.clone()) {
        tracing::info!(source = %src.id, "previous poll still running; skipping this tick");
        return;
    }
    let _running = RunningGuard { shared: &shared, id: &src.id };
    // At most `fetch.concurrency` polls at once, as `govwatch poll` does.
    let Ok(_slot) = shared.slots.clone().acquire_owned().await else { return };
    // Nodes sharing the store: the source is polled by the node holding its
    // lease (the first to poll it, for as long as that node lives). Claimed
    // with a fetch slot in hand, so a node takes only what it is about to
    // poll and a node starting beside it gets its part of the first cycle.
    let enabled = shared.cfg.sources.iter().filter(|s| s.enabled).count();
    if !shared.node.claim_source(&shared.store, &src.id, enabled).await {
        tracing::debug!(source = %src.id, "another node polls this source");
        return;
    }
    let now = now();
    let store = shared.store.clone();
    let id = src.id.clone();
    // The store is synchronous: read it off the async threads.
    let health = tokio::task::spawn_blocking(move || store.health_of(&id)).await;
    if let Ok(Ok(Some(h))) = health
        && let Some(next) = h.next_attempt()
        && now < next
    {
        tracing::debug!(source = %src.id, next = %next, "backing off after failures");
        return;
    }
    let report = shared.poller.poll(&src, now).await;
    drop(_running);
    shared.counters.poll(&src.id, report.status);
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

/// Takes a source out of the running set however its poll ends.
struct RunningGuard<'a> {
    shared: &'a Shared,
    id: &'a str,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.shared.running.lock().unwrap_or_else(|e| e.into_inner()).remove(self.id);
    }
}

/// Brings the index up to date and evaluates the rules, shortly after a
/// poll stored something (or the rules' own schedule asked).
async fn index_loop(shared: Arc<Shared>) {
    loop {
        shared.dirty.notified().await;
        tokio::time::sleep(INDEX_DEBOUNCE).await;
        // Every node keeps its own index; one, the leader, evaluates the rules.
        let leader = shared.node.claim(&shared.store, LEADER.to_string()).await;
        let s = shared.clone();
        let done = tokio::task::spawn_blocking(move || -> Result<(usize, usize, String)> {
            let stats = s.index.sync(&s.store).context("index update failed")?;
            if !leader {
                let status =
                    format!("running: {} documents indexed; another node evaluates the rules", s.index.num_docs());
                return Ok((stats.indexed, 0, status));
            }
            let at = now();
            let (findings, _) = crate::findings::evaluate(&s.cfg, &s.calendar, &s.store, at, true)
                .context("evaluating the rules failed")?;
            // Immediate rounds mail newly overdue findings when
            // `alerts.immediate` is on, and urgent ones (personal data) always.
            let urgent = findings.iter().any(|f| f.rule.urgent() && f.state == crate::rules::State::Overdue);
            if let Some((templates, _)) = &s.alerts
                && (s.cfg.alerts.immediate || urgent)
            {
                let round = if s.cfg.alerts.immediate { Round::immediate(at) } else { Round::urgent(at) };
                let r = mailer::queue_round(&s.cfg, &s.calendar, &s.store, templates, &round)
                    .context("queueing immediate alerts failed")?;
                if r.emails > 0 {
                    tracing::info!(emails = r.emails, findings = r.findings, "new overdue findings mailed at once");
                    s.mail.notify_one();
                }
            }
            let open = findings.iter().filter(|f| f.state != crate::rules::State::Resolved).count();
            let (queued, _, failed) = s.store.outbox_counts()?;
            let status = format!(
                "running: {} documents indexed; {open} open findings; {queued} emails queued, {failed} failed",
                s.index.num_docs()
            );
            Ok((stats.indexed, open, status))
        })
        .await;
        match done {
            Ok(Ok((indexed, open, status))) => {
                if indexed > 0 {
                    tracing::info!(indexed, "index updated");
                }
                tracing::debug!(open_findings = open, "rules evaluated");
                notify(&[sd_notify::NotifyState::Status(&status)]);
            }
            Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "retried after the next poll"),
            Err(e) => tracing::error!(error = %e, "index task panicked"),
        }
    }
}

/// How long a starting node waits for every source's first poll (by any
/// node) before it runs today's missed round.
const FIRST_POLLS_WAIT: Duration = Duration::from_secs(120);

/// Whether every enabled source has been polled (by any node) since `since`.
async fn all_polled_since(shared: &Arc<Shared>, since: DateTime<FixedOffset>) -> bool {
    let store = shared.store.clone();
    let Ok(Ok(health)) = tokio::task::spawn_blocking(move || store.source_health()).await else { return false };
    shared.cfg.sources.iter().filter(|s| s.enabled).all(|s| {
        health.iter().any(|h| {
            h.id == s.id
                && h.last_attempt_at
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t >= since)
        })
    })
}

/// Today's latest round time already past, if its round has not run (the
/// daemon was down then, or the leader that was to run it died).
async fn missed_round(shared: Arc<Shared>) {
    let n = now();
    if let Some(t) = shared.cfg.alerts.round_times().into_iter().rev().find(|t| *t <= n.time()) {
        alert_round(shared, n.date_naive().and_time(t)).await;
    }
}

/// The node's heartbeat, every fifth of `daemon.lease_secs`: says the node
/// is alive and renews its leases; takes over the sources whose node stopped
/// beating (and polls them at once), and the leader's jobs (running a round
/// the dead leader missed); and brings this node's index up to what other
/// nodes stored.
async fn heartbeat_loop(shared: Arc<Shared>) {
    let every = Duration::from_millis((shared.node.lease_ms / 5).max(200) as u64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = shared.clone();
        let beat = tokio::task::spawn_blocking(move || -> Result<(Vec<String>, bool, bool)> {
            use std::sync::atomic::Ordering::Relaxed;
            let t = now_ms();
            let node = &s.node;
            s.store.heartbeat(&node.id, t, node.valid_ms(), s.index.indexed_rev())?;
            let live = s.store.live_nodes(t, node.valid_ms())?;
            node.live.store(live.len().max(1), Relaxed);
            // More than its share (a node joined): let the surplus go.
            let enabled = s.cfg.sources.iter().filter(|x| x.enabled).count();
            let share = enabled.div_ceil(live.len().max(1));
            let mut mine = s.store.leases_held(&node.id, "source:", t)?;
            if live.len() > 1 && mine > share {
                let gone = s.store.let_go(&node.id, "source:", mine - share, t)?;
                tracing::info!(sources = gone.len(), nodes = live.len(), "letting sources go to the other nodes");
                mine -= gone.len();
            }
            let expired = s.store.expired_leases("source:", t)?;
            // Under its share: take what the others let go of (polled at its
            // next tick, by this node).
            if live.len() > 1 && mine < share {
                let freed: Vec<String> = expired
                    .iter()
                    .filter(|l| l.node != node.id && live.contains(&l.node))
                    .take(share - mine)
                    .map(|l| l.name.clone())
                    .collect();
                mine += s.store.claim_each(&freed, &node.id, t, node.valid_ms(), 0)?.len();
            }
            // A dead node's sources (not those a live node let go of) that
            // this node runs: taken all at once, and polled now.
            let dead: Vec<String> = expired
                .into_iter()
                .filter(|l| !live.contains(&l.node))
                .map(|l| l.name)
                .filter(|name| {
                    name.strip_prefix("source:").is_some_and(|id| s.cfg.sources.iter().any(|x| x.enabled && x.id == id))
                })
                .collect();
            let orphans: Vec<String> = s
                .store
                .claim_each(&dead, &node.id, t, node.valid_ms(), 0)?
                .into_iter()
                .filter_map(|name| name.strip_prefix("source:").map(str::to_string))
                .collect();
            mine += orphans.len();
            node.mine.store(mine, Relaxed);
            let leaderless = !s.store.expired_leases(LEADER, t)?.is_empty();
            let behind = s.store.max_rev()? > s.index.indexed_rev();
            Ok((orphans, leaderless, behind))
        })
        .await;
        let (orphans, leaderless, behind) = match beat {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "heartbeat: the store did not answer");
                continue;
            }
            Err(_) => continue,
        };
        if !orphans.is_empty() {
            tracing::info!(sources = orphans.len(), "taking over the sources of a node that stopped beating");
        }
        for id in orphans {
            if let Some(src) = shared.cfg.sources.iter().find(|s| s.enabled && s.id == id) {
                tracing::debug!(source = %id, "taking over a source whose node stopped beating");
                tokio::spawn(poll_one(shared.clone(), src.clone()));
            }
        }
        if leaderless && shared.node.claim(&shared.store, LEADER.to_string()).await {
            tracing::info!(
                "taking over the leader's jobs (rules, alert rounds, link check) from a node that stopped beating"
            );
            shared.dirty.notify_one();
            if shared.alerts.is_some() {
                tokio::spawn(missed_round(shared.clone()));
            }
        }
        if behind {
            shared.dirty.notify_one();
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
    if !shared.node.claim(&shared.store, LEADER.to_string()).await {
        tracing::debug!("another node runs the alert rounds");
        return;
    }
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

/// One dead-link run on `inspection.links.schedule`; one at a time (a run
/// still going when the next is due makes the next one skip).
async fn link_check(shared: Arc<Shared>) {
    static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !shared.node.claim(&shared.store, LEADER.to_string()).await {
        tracing::debug!("another node runs the link check");
        return;
    }
    if RUNNING.swap(true, std::sync::atomic::Ordering::SeqCst) {
        tracing::info!("the previous link check is still running: this one is skipped");
        return;
    }
    tracing::info!("link check started");
    let r = crate::linkcheck::run(&shared.cfg, shared.store.clone(), now(), |_, _| {}).await;
    RUNNING.store(false, std::sync::atomic::Ordering::SeqCst);
    match r {
        Ok(r) => {
            tracing::info!(
                links = r.links,
                checked = r.checked,
                failed = r.failed,
                left = r.left,
                took_ms = r.took_ms as u64,
                "link check done"
            );
            shared.dirty.notify_one();
        }
        Err(e) => tracing::error!(error = %format!("{e:#}"), "link check failed; it runs again on its schedule"),
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

/// Sends a state to systemd when it asked for them (NOTIFY_SOCKET); a
/// failure to send is logged, never fatal.
fn notify(states: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// Half the watchdog interval systemd set for this process, if it set one.
/// As sd_watchdog_enabled(3): WATCHDOG_USEC, unless WATCHDOG_PID names
/// another process.
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok().filter(|u| *u > 0)?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(100)))
}

enum Signal {
    Stop,
    Reload,
}

/// SIGTERM and SIGINT stop the daemon, SIGHUP reloads it.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Listens from now on (so a signal during start-up is not lost).
    fn new() -> Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
                hup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => Signal::Stop,
                _ = self.int.recv() => Signal::Stop,
                _ = self.hup.recv() => Signal::Reload,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_needs_a_restart_is_named() {
        let old = Config::default();
        let mut new = old.clone();
        new.alerts.rounds = vec!["10:00".into()];
        new.daemon.shutdown_timeout_secs = 20;
        assert_eq!(needs_restart(&old, &new), None);
        new.web.listen = "127.0.0.1:9090".into();
        new.storage.index_dir = "elsewhere".into();
        new.fetch.concurrency = old.fetch.concurrency + 1;
        let why = needs_restart(&old, &new).unwrap();
        assert!(why.starts_with("storage.index_dir, web.listen, fetch.concurrency changed"), "{why}");
    }
}
