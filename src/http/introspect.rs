//! `POST /introspect` (RFC 7662), with the RFC 9701 JWT answer on request.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::no_store;
use super::form::OAuthForm;
use crate::introspection::{Answer, answer};

const JWT_MEDIA: &str = "application/token-introspection+jwt";

pub async fn introspect(
    caller: Caller,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Response {
    let form = form.map(|f| (f.presented, f.request.params));
    let wants_jwt = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(JWT_MEDIA));
    let ctx = caller.app.introspection();
    let mut res = match answer(&ctx, &caller.request(), form, wants_jwt).await {
        Answer::Json(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body.to_string(),
        )
            .into_response(),
        Answer::Jwt(jwt) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(JWT_MEDIA))],
            jwt,
        )
            .into_response(),
        Answer::Refused(denial) => {
            return denial.into_response();
        }
    };
    no_store(&mut res);
    res
}
