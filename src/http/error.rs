//! The one writer that turns an `OAuthError` — or a `Denial`, the domain's
//! refusal — into a response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::{ErrorCode, OAuthError};
use crate::policy::Denial;
use crate::reason::Reason;

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(self)).into_response();
        no_store(&mut res);
        res
    }
}

/// RFC 6749 §5.1: token responses, and errors about them, are not cached.
pub fn no_store(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// One place that writes an OAuth error. `invalid_client` is 401 with a
/// `WWW-Authenticate` challenge, whether or not credentials were sent
/// (RFC 9110 §15.5.2: a 401 carries one; RFC 6749 §5.2).
impl IntoResponse for Denial {
    fn into_response(self) -> Response {
        let denial = self;
        // Rate-limit refusals are counted (metrics, audit summaries), not
        // logged one by one: a retry storm must not become a log storm.
        if denial.reason == Reason::RateLimited {
            tracing::debug!(reason = %denial.reason, "request refused");
        } else {
            tracing::info!(reason = %denial.reason, error = denial.error.as_str(), "request refused");
        }
        let invalid_client = denial.error == ErrorCode::InvalidClient;
        let error = match denial.error {
            ErrorCode::ServerError => OAuthError::server_error(),
            code => OAuthError::new(code, denial.description),
        };
        let mut res = match denial.retry_after {
            Some(seconds) => super::with_retry_after(error, seconds),
            None => error.into_response(),
        };
        if invalid_client {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"agent-sts\""),
            );
        }
        res
    }
}
