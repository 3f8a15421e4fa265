//! `POST /introspect` (RFC 7662), with the RFC 9701 JWT answer on request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::no_store;
use super::form;
use super::token::refusal;
use crate::app::AppState;
use crate::client_auth::{self, Audience};
use crate::error::{ErrorCode, OAuthError};
use crate::introspection::{Outcome, introspect as decide, signed_answer};
use crate::policy::Denial;
use crate::reason::Reason;

const JWT_MEDIA: &str = "application/token-introspection+jwt";

pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return refusal(form::too_large(), false);
    };
    let form = match form::parse(&headers, &body) {
        Ok(f) => f,
        Err((denial, used_basic)) => return refusal(denial, used_basic),
    };
    let now = app.clock.now();
    let audience = Audience {
        issuer: &app.config.issuer,
        endpoint: &app.introspection_endpoint,
    };
    let authenticated = client_auth::authenticate(
        &app.policy,
        &app.client_keys,
        &app.replay,
        form.presented,
        audience,
        now,
    )
    .await;
    let caller = match authenticated.map(|c| (app.policy.introspector_by_client(&c.id), c)) {
        Ok((Some(caller), _)) => caller,
        Ok((None, c)) => {
            let d = Denial::new(
                ErrorCode::InvalidClient,
                Reason::UnknownClient,
                format!("client {} is not registered to introspect", c.id),
            );
            return refusal(d, form.used_basic);
        }
        Err(d) => return refusal(d, form.used_basic),
    };
    let Some(token) = form.request.params.get("token").filter(|t| !t.is_empty()) else {
        return refusal(
            Denial::new(
                ErrorCode::InvalidRequest,
                Reason::BadRequest,
                "token is required",
            ),
            false,
        );
    };
    let outcome = match decide(&app, caller, token, now) {
        Ok(o) => o,
        Err(stale) => {
            tracing::error!(age = ?stale.age_seconds, "revocation view is stale; refusing to answer");
            let mut res = OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "revocation state is not current; try again shortly",
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return res;
        }
    };
    let wants_jwt = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(JWT_MEDIA));
    let mut res = if wants_jwt {
        match signed_answer(&app, &caller.client.id, &outcome, now) {
            Some(jwt) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(JWT_MEDIA))],
                jwt,
            )
                .into_response(),
            None => OAuthError::server_error().into_response(),
        }
    } else {
        match &outcome {
            Outcome::Active(v) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                v.active_body.to_string(),
            )
                .into_response(),
            Outcome::Inactive => Json(serde_json::json!({ "active": false })).into_response(),
        }
    };
    no_store(&mut res);
    res
}
