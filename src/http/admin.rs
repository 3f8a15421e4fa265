//! `/admin/revocations`: revoke by jti, subject, agent or client, and list
//! live revocations. A bearer credential whose SHA-256 is configured in
//! `[admin]`; without it the admin API does not exist (404).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::no_store;
use super::token::refusal;
use crate::app::AppState;
use crate::client_auth::{constant_time_eq, sha256};
use crate::error::{ErrorCode, OAuthError};
use crate::policy::Denial;
use crate::reason::Reason;
use crate::revoke::{AdminRevocation, admin_revoke};

/// `None` when authorized; else the answer to send.
fn authorize(app: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = app.admin_credential else {
        return Some(
            OAuthError::new(ErrorCode::NotFound, "the admin API is not configured").into_response(),
        );
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| sha256(t.trim().as_bytes()));
    if presented.is_some_and(|p| constant_time_eq(&p, &expected)) {
        return None;
    }
    let mut res =
        OAuthError::new(ErrorCode::InvalidClient, "admin credential required").into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"agent-sts admin\""),
    );
    Some(res)
}

pub async fn create(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<AdminRevocation>, JsonRejection>,
) -> Response {
    if let Some(res) = authorize(&app, &headers) {
        return res;
    }
    let request = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return refusal(
                Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, e.body_text()),
                false,
            );
        }
    };
    let now = app.clock.now();
    let mut trail = crate::audit::AuditRecord {
        event: Some(crate::audit::Event::Admin),
        ..Default::default()
    };
    let result = admin_revoke(&app.revocations, request, "admin", now).await;
    if let Ok(stored) = &result {
        trail.detail = format!("revoked {} {}", stored.kind.as_str(), stored.value);
        if stored.kind == crate::store::RevocationKind::Subject {
            trail.subject = Some(stored.value.clone());
            trail.idp = stored.idp.clone();
        }
        if stored.kind == crate::store::RevocationKind::Agent {
            trail.agent = Some(stored.value.clone());
        }
    }
    if let Err(d) = crate::grants::record(&app, trail, "revoked", result.as_ref().err()).await {
        return refusal(d, false);
    }
    match result {
        Ok(stored) => {
            let mut res = (StatusCode::CREATED, Json(stored)).into_response();
            no_store(&mut res);
            res
        }
        Err(d) => refusal(d, false),
    }
}

pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(res) = authorize(&app, &headers) {
        return res;
    }
    match app
        .store
        .db
        .revocations_after(0, app.clock.now(), 10_000)
        .await
    {
        Ok(rows) => {
            let mut res = Json(serde_json::json!({ "revocations": rows })).into_response();
            no_store(&mut res);
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "listing revocations failed");
            OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "storage is unavailable; try again",
            )
            .into_response()
        }
    }
}

/// Query parameters of `GET /admin/audit`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    subject: Option<String>,
    agent: Option<String>,
    decision: Option<String>,
    /// Unix seconds, inclusive.
    since: Option<i64>,
    /// Unix seconds, exclusive.
    until: Option<i64>,
    /// The `next` of the previous page.
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn audit(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Some(res) = authorize(&app, &headers) {
        return res;
    }
    let q = match query {
        Ok(axum::extract::Query(q)) => q,
        Err(e) => {
            return refusal(
                Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, e.body_text()),
                false,
            );
        }
    };
    let filter = crate::store::AuditFilter {
        subject: q.subject,
        agent: q.agent,
        decision: q.decision,
        since: q.since,
        until: q.until,
        after: q.after.unwrap_or(0),
        limit: q.limit.unwrap_or(100),
    };
    match crate::audit::query(&app.store.db, filter).await {
        Ok((records, next)) => {
            let mut res =
                Json(serde_json::json!({ "records": records, "next": next })).into_response();
            no_store(&mut res);
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "audit query failed");
            OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "storage is unavailable; try again",
            )
            .into_response()
        }
    }
}
