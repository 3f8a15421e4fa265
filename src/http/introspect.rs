//! `POST /introspect` (RFC 7662), with the RFC 9701 JWT answer on request.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::RequestId;
use super::error::no_store;
use super::form;
use super::token::refusal;
use crate::app::AppState;
use crate::audit::Event;
use crate::introspection::{Answer, answer};

const JWT_MEDIA: &str = "application/token-introspection+jwt";

pub async fn introspect(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let trail = super::trail(Some(Event::Introspect), request_id, peer);
    let form = match form::read(&headers, body) {
        Ok(f) => f,
        Err((denial, used_basic)) => {
            crate::introspection::record_refusal(&app, trail, &denial);
            return refusal(denial, used_basic);
        }
    };
    let wants_jwt = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(JWT_MEDIA));
    let mut res = match answer(&app, form.presented, &form.request.params, wants_jwt, trail).await {
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
        Answer::Refused(d) => return refusal(d, form.used_basic),
    };
    no_store(&mut res);
    res
}
