//! `GET /healthz` (the process answers) and `GET /readyz` (it can serve).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

pub async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

pub async fn readyz(State(app): State<AppState>) -> Response {
    let report = app.readiness().await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}
