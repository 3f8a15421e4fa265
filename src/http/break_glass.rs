//! `/admin/break-glass`: open, list and close break-glass windows (see
//! `crate::break_glass`), each an audited admin action.

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;

use super::Caller;
use super::admin::{admitted, finish};
use crate::audit::Facts;
use crate::break_glass::{OpenRequest, close, list, open};
use crate::error::ErrorCode;
use crate::policy::Denial;
use crate::reason::Reason;

pub async fn create(
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<OpenRequest>, JsonRejection>,
) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let mut facts = admin_facts();
    let result = match body {
        Ok(Json(req)) => {
            facts.agent = Some(req.agent.clone());
            open(
                &app.config,
                &app.policy,
                &*app.store.db,
                req,
                "admin",
                app.clock.now(),
            )
            .await
        }
        Err(e) => Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::BadRequest,
            e.body_text(),
        )),
    };
    if let Ok(w) = &result {
        facts.detail = format!(
            "opened break-glass window {} until {}: {}",
            w.id, w.expires_at, w.reason
        );
        facts.expires_at = Some(w.expires_at);
    }
    let answer = result.map(|w| (StatusCode::CREATED, Json(w)).into_response());
    finish(&app, request, facts, "break_glass_opened", answer).await
}

pub async fn index(caller: Caller, headers: HeaderMap) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let facts = Facts {
        detail: "listed open break-glass windows".into(),
        ..admin_facts()
    };
    let result = list(&*app.store.db, app.clock.now())
        .await
        .map(|w| Json(serde_json::json!({ "windows": w })).into_response());
    finish(&app, request, facts, "done", result).await
}

pub async fn end(caller: Caller, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (app, request) = match admitted(caller, &headers).await {
        Ok(admitted) => admitted,
        Err(res) => return res,
    };
    let result = close(
        &*app.store.db,
        &app.revocations,
        &id,
        "admin",
        app.clock.now(),
    )
    .await;
    let mut facts = admin_facts();
    if let Ok((w, revoked)) = &result {
        facts.agent = Some(w.agent.clone());
        facts.detail = format!(
            "closed break-glass window {}; {revoked} token(s) issued under it revoked",
            w.id
        );
    }
    let answer = result.map(|(w, revoked)| {
        Json(serde_json::json!({ "window": w, "revoked_tokens": revoked })).into_response()
    });
    finish(&app, request, facts, "break_glass_closed", answer).await
}

/// Break-glass actions are the admin's, authenticated: their records
/// (refusals too) are each kept, never folded with anonymous refusals.
fn admin_facts() -> Facts {
    Facts {
        client_id: Some("admin".into()),
        ..Facts::default()
    }
}
