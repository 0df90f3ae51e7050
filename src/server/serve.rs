//! The accept loop: one task per connection (HTTP/1.1 via hyper), socket deadlines
//! from [`TimedIo`], a 64 KiB head cap (431), and graceful shutdown — on the shutdown
//! signal `/ready` turns 503, the listener closes, in-flight requests finish (their
//! answers carry `Connection: close`), idle connections close; if draining takes longer
//! than the shutdown timeout the remaining connections are dropped and
//! [`ServeError::DrainTimeout`] is returned (the binary exits 1).

use super::{AppState, TimedIo};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

/// Why serving ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// In-flight requests did not finish within the shutdown timeout.
    #[error("in-flight requests did not finish within {0:?}; connections dropped")]
    DrainTimeout(Duration),
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = super::router(state.clone());
    let settings = state.settings.clone();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(settings.max_header_bytes.max(8192) + 8192)
        .max_header_size(settings.max_header_bytes);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stop_at: Option<tokio::time::Instant> = None;
    state.set_ready(true);
    loop {
        let stop = async {
            match stop_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown, if stop_at.is_none() => {
                state.set_ready(false);
                tracing::info!(delay = ?settings.shutdown_delay, "shutting down: readiness off");
                stop_at = Some(tokio::time::Instant::now() + settings.shutdown_delay);
            }
            () = stop => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let io = TokioIo::new(TimedIo::new(stream, settings.timeouts.header, settings.timeouts.idle));
                let conn = http.serve_connection(io, TowerToHyperService::new(app.clone()));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    let limit = settings.timeouts.shutdown;
    match tokio::time::timeout(limit, graceful.shutdown()).await {
        Ok(()) => {
            tracing::info!("drained; bye");
            Ok(())
        }
        Err(_) => Err(ServeError::DrainTimeout(limit)),
    }
}
