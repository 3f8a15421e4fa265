//! The accept loop and the process lifecycle around the router.
//!
//! - Each connection is HTTP/1.1 through hyper with the request head capped
//!   (`server.max_header_bytes`, else 431) and a deadline for it
//!   (`server.header_read_timeout`, against slow-header clients). hyper's
//!   cap is on its read buffer, which a large body on a kept-alive
//!   connection grows: so every request's parsed head is measured again
//!   before it is served (`head_bytes`), on every request of every
//!   connection.
//! - Each request is served by the *current* router: a SIGHUP reload swaps
//!   it, requests already running finish on the old one.
//! - Shutdown: `/readyz` turns 503 first and requests are still served for
//!   `server.drain_delay` (load balancers stop sending); then the listener
//!   closes, keep-alive connections are told to close, in-flight requests
//!   get `server.shutdown_grace`; then the audit queue is flushed and the
//!   database pool closed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::app::{AppState, KEY_RELOAD_INTERVAL, StartError};
use crate::config::Config;

/// How long shutdown waits for the audit queue to be committed.
const AUDIT_FLUSH_BOUND: Duration = Duration::from_secs(10);

/// A configuration to switch to (from a SIGHUP), or why it could not be
/// read; either way the answer is logged.
pub type ReloadRequest = Result<Config, String>;

/// The running configuration generation: its app and router.
struct Current {
    app: AppState,
    router: Router,
}

#[derive(Clone)]
struct Live(Arc<arc_swap::ArcSwap<Current>>);

impl Live {
    fn new(app: AppState) -> Self {
        let router = crate::http::router(app.clone());
        Self(Arc::new(arc_swap::ArcSwap::from_pointee(Current {
            app,
            router,
        })))
    }

    fn app(&self) -> AppState {
        self.0.load().app.clone()
    }

    fn router(&self) -> Router {
        self.0.load().router.clone()
    }

    /// Apply `request`, or say why not; the running generation stays on refusal.
    fn reload(&self, request: ReloadRequest) {
        let result = request.and_then(|config| {
            self.app()
                .reloaded(config)
                .map_err(|refused| refused.to_string())
        });
        match result {
            Ok(app) => {
                let router = crate::http::router(app.clone());
                self.0.store(Arc::new(Current { app, router }));
                // The previous generation (and the parsed file) are freed.
                crate::memory::trim();
                crate::metrics::reload(true);
                tracing::info!(
                    "configuration reloaded: policy, upstreams, introspectors, rate limits"
                );
            }
            Err(why) => {
                crate::metrics::reload(false);
                tracing::error!(reason = %why, "configuration reload refused; the running configuration stays");
            }
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, applying each
/// configuration `reloads` delivers.
pub async fn serve(
    app: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut reloads: mpsc::Receiver<ReloadRequest>,
) -> Result<(), StartError> {
    let settings = app.config.server.clone();
    let lifecycle = Arc::clone(&app.lifecycle);
    let live = Live::new(app.clone());
    let upkeep = tokio::spawn({
        let live = live.clone();
        async move {
            let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
            loop {
                tick.tick().await;
                live.app().upkeep().await;
            }
        }
    });
    let metrics_upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(crate::metrics::UPKEEP_EVERY);
        loop {
            tick.tick().await;
            crate::metrics::upkeep();
        }
    });
    let audit_upkeep = tokio::spawn(crate::audit::retention::run(
        app.store.db.clone(),
        app.config.audit.clone(),
        Arc::clone(&app.clock),
    ));
    let poll = tokio::spawn(Arc::clone(&app.revocations).run_poll());
    let subscriber = tokio::spawn(Arc::clone(&app.revocations).run_subscriber());

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout.duration())
        .max_buf_size(settings.max_header_bytes)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut draining = false;
    // Armed at the signal; until then it never fires.
    let drained = tokio::time::sleep(Duration::from_secs(u32::MAX.into()));
    let mut drained = std::pin::pin!(drained);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let service = TowerToHyperService::new(PerRequest {
                        live: live.clone(),
                        peer,
                        max_head: settings.max_header_bytes,
                    });
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        // A client that goes away mid-request is not our error.
                        let _ = conn.await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors, most likely: back off, go on.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown, if !draining => {
                draining = true;
                lifecycle.drain();
                tracing::info!(drain_delay = %settings.drain_delay, "shutting down: /readyz is now 503; still serving while load balancers drain");
                let deadline = tokio::time::Instant::now() + settings.drain_delay.duration();
                drained.as_mut().reset(deadline);
            },
            () = &mut drained => break,
            Some(request) = reloads.recv() => live.reload(request),
        }
    }
    drop(listener);
    tracing::info!(grace = %settings.shutdown_grace, "listener closed; finishing in-flight requests");
    if tokio::time::timeout(settings.shutdown_grace.duration(), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running after the shutdown grace; they were cut");
    }
    upkeep.abort();
    metrics_upkeep.abort();
    audit_upkeep.abort();
    poll.abort();
    subscriber.abort();
    let app = live.app();
    if app.audit.flush(AUDIT_FLUSH_BOUND).await {
        tracing::info!("audit queue flushed");
    } else {
        tracing::error!("the audit queue could not be flushed in time");
    }
    app.store.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// One connection's service: the current router, with the peer address
/// for handlers and the per-IP rate limit, behind the head cap.
#[derive(Clone)]
struct PerRequest {
    live: Live,
    peer: SocketAddr,
    max_head: usize,
}

/// The size of a request's head as it came on the wire: request line,
/// headers, the blank line (hyper has parsed it; the sizes are the same).
fn head_bytes<B>(req: &hyper::Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let line = req.method().as_str().len() + 1 + target + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + headers + 2
}

/// `431 Request Header Fields Too Large` (RFC 6585 §5), and the connection
/// closed as hyper does for its own.
fn head_too_large() -> axum::response::Response {
    let mut res = axum::response::Response::new(axum::body::Body::empty());
    *res.status_mut() = axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    res.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    res
}

impl tower::Service<hyper::Request<Incoming>> for PerRequest {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        std::future::Ready<Result<Self::Response, Self::Error>>,
        tower::util::Oneshot<Router, hyper::Request<Incoming>>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: hyper::Request<Incoming>) -> Self::Future {
        use futures_util::future::Either;
        if head_bytes(&req) > self.max_head {
            return Either::Left(std::future::ready(Ok(head_too_large())));
        }
        req.extensions_mut().insert(ConnectInfo(self.peer));
        Either::Right(self.live.router().oneshot(req))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn head_bytes_counts_the_line_and_every_header() {
        let req = hyper::Request::get("/healthz?x=1")
            .header("host", "a")
            .body(())
            .unwrap();
        // "GET /healthz?x=1 HTTP/1.1\r\n" + "host: a\r\n" + "\r\n"
        assert_eq!(super::head_bytes(&req), 27 + 9 + 2);
    }
}
