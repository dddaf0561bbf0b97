//! The daemon's HTTP server (axum). So far it serves what an administrator
//! and a monitoring system need — `/healthz` (no login) and Prometheus
//! `/metrics` — and the console pages of the web-console issue grow here on
//! the same router and state.
//!
//! Handlers read the store on the blocking pool: the store is one SQLite
//! connection behind a mutex, and an import may hold it for a moment.

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, FixedOffset};
use serde_json::json;

use crate::config::Config;
use crate::daemon::metrics::{self, Counters, Snapshot};
use crate::index::SearchIndex;
use crate::store::Store;

/// What every handler can reach. The configuration is swapped on reload.
pub struct AppState {
    pub store: Arc<Store>,
    pub index: Arc<SearchIndex>,
    pub counters: Arc<Counters>,
    pub config: RwLock<Arc<Config>>,
    pub started: DateTime<FixedOffset>,
}

impl AppState {
    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_config(&self, cfg: Arc<Config>) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = cfg;
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics_page)).with_state(state)
}

/// 200 with a small JSON body when the store answers; 503 when it does not.
async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let s = st.clone();
    let checked = tokio::task::spawn_blocking(move || s.store.max_rev()).await;
    let uptime = (crate::cli::now() - st.started).num_seconds();
    match checked {
        Ok(Ok(rev)) => {
            let lag = (rev - st.index.indexed_rev()).max(0);
            (
                StatusCode::OK,
                axum::Json(json!({
                    "status": "ok",
                    "version": env!("CARGO_PKG_VERSION"),
                    "uptime_secs": uptime,
                    "store_rev": rev,
                    "index_lag": lag,
                })),
            )
                .into_response()
        }
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "error", "error": format!("the store does not answer: {e:#}")})),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": "error", "error": e.to_string()})))
            .into_response(),
    }
}

async fn metrics_page(State(st): State<Arc<AppState>>) -> Response {
    match tokio::task::spawn_blocking(move || snapshot(&st)).await {
        Ok(Ok(s)) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics::render(&s)).into_response()
        }
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("metrics unavailable: {e:#}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("metrics failed: {e}\n")).into_response(),
    }
}

/// Reads one scrape's worth from the store, the index and the counters.
pub fn snapshot(st: &AppState) -> Result<Snapshot> {
    let cfg = st.config();
    let last_round_unix =
        st.store.last_round()?.and_then(|(_, at, _)| DateTime::parse_from_rfc3339(&at).ok()).map(|t| t.timestamp());
    Ok(Snapshot {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_unix: st.started.timestamp(),
        polls: st.counters.polls(),
        sources: cfg.sources.iter().filter(|s| s.enabled).map(|s| s.id.clone()).collect(),
        health: st.store.source_health()?,
        items_by_source: st.store.count_items_by_source()?.into_iter().collect(),
        findings: st.store.finding_counts()?,
        emails: st.store.outbox_counts()?,
        last_round_unix,
        index_bytes: dir_size(st.index.dir()),
        index_docs: st.index.num_docs(),
        index_lag: (st.store.max_rev()? - st.index.indexed_rev()).max(0),
        reloads: st.counters.reloads(),
    })
}

/// Bytes of the files in a folder (not following links); 0 when unreadable.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}
