//! `POST /token`.

use axum::Json;
use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::RequestId;
use super::error::no_store;
use super::form;
use crate::app::AppState;
use crate::audit::Event;
use crate::error::{ErrorCode, OAuthError};
use crate::grants;
use crate::policy::Denial;

pub async fn token(
    State(app): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let trail = super::trail(Some(Event::Token), request_id, peer);
    let form = match form::read(&headers, body) {
        Ok(f) => f,
        Err((denial, used_basic)) => {
            let recorded = grants::record(&app, trail, "granted", Some(&denial)).await;
            return refusal(recorded.err().unwrap_or(denial), used_basic);
        }
    };
    match grants::token_recorded(&app, form.presented, &form.request, trail).await {
        Ok(issued) => {
            let mut res = Json(issued).into_response();
            no_store(&mut res);
            res
        }
        Err(denial) => refusal(denial, form.used_basic),
    }
}

/// RFC 6749 §5.2: `invalid_client` is 401, with `WWW-Authenticate` when the
/// client tried the Authorization header.
pub(super) fn refusal(denial: Denial, used_basic: bool) -> Response {
    // Rate-limit refusals are counted (metrics, audit summaries), not
    // logged one by one: a retry storm must not become a log storm.
    if denial.reason == crate::reason::Reason::RateLimited {
        tracing::debug!(reason = %denial.reason, "token request refused");
    } else {
        tracing::info!(reason = %denial.reason, error = denial.error.as_str(), "token request refused");
    }
    let error = match denial.error {
        ErrorCode::ServerError => OAuthError::server_error(),
        code => OAuthError::new(code, denial.description),
    };
    let mut res = match denial.retry_after {
        Some(seconds) => super::with_retry_after(error, seconds),
        None => error.into_response(),
    };
    if denial.error == ErrorCode::InvalidClient && used_basic {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"agent-sts\""),
        );
    }
    res
}
