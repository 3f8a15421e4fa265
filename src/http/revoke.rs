//! `POST /revoke` (RFC 7009).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::error::no_store;
use super::form;
use super::token::refusal;
use crate::app::AppState;
use crate::client_auth::{self, Audience};
use crate::error::ErrorCode;
use crate::policy::Denial;
use crate::reason::Reason;
use crate::revoke::revoke_token;

pub async fn revoke(
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
    let revocation_endpoint = format!("{}/revoke", app.config.issuer);
    let audience = Audience {
        issuer: &app.config.issuer,
        endpoint: &revocation_endpoint,
    };
    let client = match client_auth::authenticate(
        &app.policy,
        &app.client_keys,
        &app.replay,
        form.presented,
        audience,
        now,
    )
    .await
    {
        Ok(c) => c,
        Err(d) => return refusal(d, form.used_basic),
    };
    let params = &form.request.params;
    let Some(token) = params.get("token").filter(|t| !t.is_empty()) else {
        return refusal(
            Denial::new(
                ErrorCode::InvalidRequest,
                Reason::BadRequest,
                "token is required",
            ),
            false,
        );
    };
    match revoke_token(
        &app,
        client,
        token,
        params.get("token_type_hint").map(String::as_str),
        now,
    )
    .await
    {
        Ok(()) => {
            let mut res = ().into_response();
            no_store(&mut res);
            res
        }
        Err(d) => refusal(d, false),
    }
}
