//! `/admin/revocations`: revoke by jti, subject, agent or client, and list
//! live revocations; `/admin/audit`, `/admin/audit/report`, `/admin/health`, `/admin/explain`. A bearer credential whose SHA-256 is configured in
//! `[admin]`; without it the admin API does not exist (404).

use axum::Json;

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::no_store;
use crate::app::AppState;
use crate::audit::{AuditRecord, Event, Facts, RequestContext, Verdict};
use crate::digest::{constant_time_eq, sha256};
use crate::error::{ErrorCode, OAuthError};
use crate::policy::Denial;
use crate::reason::Reason;
use crate::revocation::{AdminRevocation, admin_revoke};

/// Check the admin credential. `Err` is the answer to send; a refused
/// credential is recorded (an unconfigured admin API records nothing: it
/// does not exist).
async fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    request: RequestContext,
) -> Result<RequestContext, Response> {
    let Some(expected) = app.admin_credential else {
        return Err(
            OAuthError::new(ErrorCode::NotFound, "the admin API is not configured").into_response(),
        );
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| sha256(t.trim().as_bytes()));
    let reason = match presented {
        Some(p) if constant_time_eq(&p, &expected) => return Ok(request),
        Some(_) => Reason::BadClientSecret,
        None => Reason::ClientAuthMissing,
    };
    let verdict = Verdict::Deny(reason, "admin credential required");
    let record = AuditRecord::of(&request, Event::Admin, Facts::default(), verdict);
    // A refusal stands whether or not its record could be committed.
    let _ = app.audit.decided(record, app.clock.now()).await;
    let mut res =
        OAuthError::new(ErrorCode::InvalidClient, "admin credential required").into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"agent-sts admin\""),
    );
    Err(res)
}

/// An admin request's app and context, once its credential checks out.
pub(super) async fn admitted(
    caller: Caller,
    headers: &HeaderMap,
) -> Result<(AppState, RequestContext), Response> {
    let request = authorize(&caller.app, headers, caller.request()).await?;
    Ok((caller.app, request))
}

/// Record an admin action's outcome, then answer with `ok` or the refusal.
pub(super) async fn finish(
    app: &AppState,
    request: RequestContext,
    facts: Facts,
    allowed: &'static str,
    result: Result<Response, Denial>,
) -> Response {
    let verdict = match &result {
        Ok(_) => Verdict::Allow(allowed),
        Err(d) => Verdict::Deny(d.reason, &d.description),
    };
    let record = AuditRecord::of(&request, Event::Admin, facts, verdict);
    let recorded = app
        .audit
        .decided(record, app.clock.now())
        .await
        .map_err(|_| Denial::unrecorded());
    match (result, recorded) {
        (Ok(_), Err(d)) | (Err(d), _) => d.into_response(),
        (Ok(mut res), Ok(())) => {
            no_store(&mut res);
            res
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> Denial {
    tracing::error!(error = %e, "admin storage query failed");
    Denial::new(
        ErrorCode::TemporarilyUnavailable,
        Reason::BadRequest,
        "storage is unavailable; try again",
    )
}

pub async fn create(
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<AdminRevocation>, JsonRejection>,
) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let result = match body {
        Ok(Json(request)) => {
            let cover = crate::revocation_list::cover_seconds(&app.config);
            let refresh = &*app.store.db;
            admin_revoke(
                &app.revocations,
                refresh,
                request,
                "admin",
                app.clock.now(),
                cover,
            )
            .await
        }
        Err(e) => Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::BadRequest,
            e.body_text(),
        )),
    };
    let facts = result
        .as_ref()
        .map(crate::revocation::describe)
        .unwrap_or_default();
    let answer = result.map(|stored| (StatusCode::CREATED, Json(stored)).into_response());
    finish(&app, request, facts, "revoked", answer).await
}

pub async fn list(caller: Caller, headers: HeaderMap) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let facts = Facts {
        detail: "listed revocations".into(),
        ..Facts::default()
    };
    let result = app
        .revocations
        .in_force(10_000)
        .await
        .map(|rows| Json(serde_json::json!({ "revocations": rows })).into_response())
        .map_err(unavailable);
    finish(&app, request, facts, "done", result).await
}

/// `GET /admin/health`: the whole readiness report (what `/readyz` only
/// summarises), for operators.
pub async fn health(caller: Caller, headers: HeaderMap) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let facts = Facts {
        detail: "read the readiness report".into(),
        ..Facts::default()
    };
    let report = app.readiness().await;
    finish(
        &app,
        request,
        facts,
        "done",
        Ok(Json(report).into_response()),
    )
    .await
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
    caller: Caller,
    headers: HeaderMap,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let facts = Facts {
        detail: "queried the audit trail".into(),
        ..Facts::default()
    };
    let result = match query {
        Ok(axum::extract::Query(q))
            if q.decision
                .as_deref()
                .is_some_and(|d| !crate::audit::DECISIONS.contains(&d)) =>
        {
            Err(Denial::new(
                ErrorCode::InvalidRequest,
                Reason::BadRequest,
                "decision must be allow, deny or would_deny",
            ))
        }
        Ok(axum::extract::Query(q)) if q.limit.is_some_and(|l| !(1..=1_000).contains(&l)) => {
            Err(Denial::new(
                ErrorCode::InvalidRequest,
                Reason::BadRequest,
                "limit must be between 1 and 1000",
            ))
        }
        Ok(axum::extract::Query(q)) => {
            let filter = crate::store::AuditFilter {
                subject: q.subject,
                agent: q.agent,
                decision: q.decision,
                since: q.since,
                until: q.until,
                after: q.after.unwrap_or(0),
                limit: q.limit.unwrap_or(100),
            };
            crate::audit::query(&*app.store.db, filter)
                .await
                .map(|(records, next)| {
                    Json(serde_json::json!({ "records": records, "next": next })).into_response()
                })
                .map_err(unavailable)
        }
        Err(e) => Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::BadRequest,
            e.body_text(),
        )),
    };
    finish(&app, request, facts, "done", result).await
}

/// `POST /admin/explain`: what `/token` would decide, and why (see
/// `grants::explain`). An admin read: audited, never a token.
pub async fn explain(
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<crate::grants::explain::ExplainRequest>, JsonRejection>,
) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let mut facts = Facts::default();
    let result = match body {
        Ok(Json(req)) => {
            facts.agent = Some(req.agent.clone());
            facts.audience = Some(req.resource.clone());
            let explained =
                crate::grants::explain::explain(&app.grants(), &req, app.clock.now()).await;
            if let Ok(e) = &explained {
                facts.detail = format!(
                    "explained: {}{}",
                    e.decision,
                    e.reason.map(|r| format!(" ({r})")).unwrap_or_default()
                );
                facts.subject = e.sub.clone();
            }
            explained.map(|e| Json(e).into_response())
        }
        Err(e) => Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::BadRequest,
            e.body_text(),
        )),
    };
    finish(&app, request, facts, "done", result).await
}

/// Query parameters of `GET /admin/audit/report`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// A span back from now (`7d`, `12h`); 7 days when absent.
    since: Option<String>,
    agent: Option<String>,
}

/// `GET /admin/audit/report`: what `agent-sts audit report --json` prints.
pub async fn audit_report(
    caller: Caller,
    headers: HeaderMap,
    query: Result<axum::extract::Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let facts = Facts {
        detail: "read the audit report".into(),
        ..Facts::default()
    };
    let bad = |m: String| Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, m);
    let window = match query {
        Ok(axum::extract::Query(q)) => crate::audit::report::window(
            q.since
                .as_deref()
                .unwrap_or(crate::audit::report::DEFAULT_SINCE),
            app.clock.now(),
        )
        .map(|(since, until)| (since, until, q.agent))
        .map_err(|m| bad(format!("since: {m}"))),
        Err(e) => Err(bad(e.body_text())),
    };
    let result = match window {
        Ok((since, until, agent)) => {
            crate::audit::report::report(&*app.store.db, since, until, agent)
                .await
                .map(|report| Json(report).into_response())
                .map_err(unavailable)
        }
        Err(d) => Err(d),
    };
    finish(&app, request, facts, "done", result).await
}
