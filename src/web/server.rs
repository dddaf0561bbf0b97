//! The console's HTTP/1.1 server: accepts connections on the listener and
//! serves the router on each, like `axum::serve`, but with the settings
//! `axum::serve` has none of.
//!
//! A connection must send its request head within `web.header_timeout_secs`
//! (read per connection, so a reload applies to the next one): a client that
//! opens connections and sends half a request — or nothing — is closed then,
//! instead of holding a socket and a task for good. The same limit closes a
//! kept-alive connection that sends no next request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Service;

use super::AppState;

/// Serves the console on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish and returns when every
/// connection has closed.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut make: IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr> =
        super::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // Dropped when the server stops accepting: each connection then shuts down gracefully.
    let (stop_tx, stop_rx) = watch::channel(());
    // Each connection holds a receiver: when none is left, all have closed.
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "the web server could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = match make.call(peer).await {
            Ok(s) => s,
            Err(e) => match e {},
        };
        let timeout = Duration::from_secs(state.config().web.header_timeout_secs.max(1));
        let mut stop = stop_rx.clone();
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(timeout);
            let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => log_end(result, peer),
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    log_end(conn.await, peer);
                }
            }
            drop(closed);
        });
    }
    drop(listener);
    drop(stop_rx);
    drop(stop_tx);
    drop(closed_rx);
    closed_tx.closed().await;
    Ok(())
}

fn log_end(result: Result<(), hyper::Error>, peer: SocketAddr) {
    match result {
        Ok(()) => {}
        Err(e) if e.is_timeout() => tracing::debug!(%peer, "closed a connection that sent no request in time"),
        Err(e) => tracing::debug!(%peer, error = %e, "a console connection ended with an error"),
    }
}
