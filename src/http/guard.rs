//! Limits in front of the handlers: load shedding and the request
//! timeout (every route but health and metrics), and the per-source-IP
//! rate limit (on the authenticated endpoints, before any body is read or
//! any crypto is spent).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::RequestId;
use crate::app::{AppState, Lifecycle};
use crate::audit::{AuditRecord, Event, Facts, Verdict};
use crate::error::{ErrorCode, OAuthError};

/// Seconds a shed or timed-out request is told to wait.
const RETRY_SOON: u64 = 1;

/// `error` with `Retry-After`.
pub fn with_retry_after(error: OAuthError, seconds: u64) -> Response {
    let mut res = error.into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    res
}

#[derive(Clone)]
pub struct Guard {
    pub lifecycle: Arc<Lifecycle>,
    pub timeout: Duration,
}

/// At most `max_in_flight` requests at once: beyond, `503` at once
/// (queueing would grow memory and latency for everyone); each request
/// bounded by `request_timeout`.
pub async fn limit(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let lifecycle = &guard.lifecycle;
    let Ok(_permit) = Arc::clone(&lifecycle.in_flight).try_acquire_owned() else {
        crate::metrics::shed();
        let error = OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            format!(
                "the server is at its limit of {} requests in flight; retry after {RETRY_SOON} s",
                lifecycle.max_in_flight
            ),
        );
        return with_retry_after(error, RETRY_SOON);
    };
    crate::metrics::in_flight(lifecycle.in_flight_now());
    match tokio::time::timeout(guard.timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            crate::metrics::timed_out();
            tracing::error!(timeout = ?guard.timeout, "request timed out");
            let error = OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                format!(
                    "the request was not answered within {} ms; nothing was issued, retry after {RETRY_SOON} s",
                    guard.timeout.as_millis()
                ),
            );
            with_retry_after(error, RETRY_SOON)
        }
    }
}

/// The per-source-address limit (`RateLimits::per_ip`), before the body is
/// read: over it, 429 with our JSON body, and the refusal audited (the
/// first per address a minute in full, the rest counted).
pub async fn per_ip(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limit) = &app.limits.per_ip else {
        return next.run(req).await;
    };
    let Err(exceeded) = limit.check(&req) else {
        return next.run(req).await;
    };
    let event = match req.uri().path() {
        "/token" => Some(Event::Token),
        "/introspect" => Some(Event::Introspect),
        "/revoke" => Some(Event::Revoke),
        "/authorize" | "/authorize/callback" => Some(Event::Authorize),
        p if p.starts_with("/admin/") => Some(Event::Admin),
        _ => None,
    };
    let request_id = req.extensions().get::<RequestId>().cloned();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
    if let (Some(event), Some(request_id), Some(ConnectInfo(peer))) = (event, request_id, peer) {
        let record = AuditRecord::of(
            &super::request_context(request_id, *peer),
            event,
            Facts::default(),
            Verdict::Deny(crate::reason::Reason::RateLimited, &exceeded.description),
        );
        app.audit.rate_limited(record, app.clock.now());
    }
    let error = OAuthError::new(ErrorCode::RateLimited, exceeded.description);
    with_retry_after(error, exceeded.retry_after)
}
