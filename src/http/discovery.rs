//! `GET /.well-known/jwks.json` and the RFC 8414 metadata.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

fn json(body: impl Into<axum::body::Body>, cache_control: HeaderValue) -> Response {
    let mut res = Response::new(body.into());
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, cache_control);
    res
}

pub async fn jwks(State(app): State<AppState>) -> Response {
    let body = app.keys.jwks_body(app.clock.now());
    let cc = HeaderValue::from_str(&format!(
        "public, max-age={}",
        app.config.keys.jwks_max_age.as_secs()
    ))
    .unwrap_or(HeaderValue::from_static("no-cache"));
    json(body.to_string(), cc).into_response()
}

pub async fn metadata(State(app): State<AppState>) -> Response {
    json(
        app.metadata.to_string(),
        HeaderValue::from_static("public, max-age=3600"),
    )
}
