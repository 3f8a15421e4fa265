//! `POST /revoke` (RFC 7009).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::RequestId;
use super::error::no_store;
use super::form;
use super::token::refusal;
use crate::app::AppState;
use crate::audit::Event;
use crate::revoke::revoke_request;

pub async fn revoke(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let trail = super::trail(Some(Event::Revoke), request_id, peer);
    let parsed = form::read(&headers, body).map(|f| (f.presented, f.request.params, f.used_basic));
    let used_basic = parsed.as_ref().map_or_else(|(_, b)| *b, |(_, _, b)| *b);
    match revoke_request(
        &app,
        parsed.map(|(p, params, _)| (p, params)).map_err(|(d, _)| d),
        trail,
    )
    .await
    {
        Ok(()) => {
            let mut res = ().into_response();
            no_store(&mut res);
            res
        }
        Err(d) => refusal(d, used_basic),
    }
}
