//! `GET /healthz` (the process answers), `GET /readyz` (it can serve),
//! `GET /metrics` (Prometheus text).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

pub async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// Up or down only: which check failed, and the signing `kid`, upstream
/// errors and the like, are for the log, `/metrics` and `GET /admin/health`,
/// not for anyone who can reach the port.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let report = app.readiness().await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({ "status": report.status }))).into_response()
}

/// Prometheus text exposition. Gauges sampled at scrape time are set first.
pub async fn metrics(State(app): State<AppState>) -> Response {
    crate::metrics::audit_queue(app.audit.queue_depth());
    crate::metrics::revocation_view_age(app.revocations.age(app.clock.now()));
    crate::metrics::in_flight(app.lifecycle.in_flight_now());
    let body = crate::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_else(|| "# the metrics recorder is not installed in this process\n".into());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
