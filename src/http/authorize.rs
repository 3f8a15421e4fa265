//! `GET /authorize` and `GET /authorize/callback` (the MCP authorization
//! server): the browser's side of the authorization code flow.

use std::collections::HashMap;

use axum::extract::RawQuery;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::no_store;
use crate::authorization::{Answer, authorize as start, callback as finish};

/// The query, each parameter once (RFC 6749 §3.1: never repeated).
fn query(raw: Option<String>) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!(
                "invalid_request: parameter {} is repeated",
                crate::error::shown(&k)
            ));
        }
    }
    Ok(params)
}

fn respond(answer: Answer) -> Response {
    let mut res = match answer {
        Answer::Redirect(location) => match HeaderValue::from_str(&location) {
            Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
            Err(_) => (StatusCode::BAD_REQUEST, "invalid_request: bad redirect").into_response(),
        },
        Answer::Page { status, text } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
    };
    no_store(&mut res);
    res
}

pub async fn authorize(caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let answer = match query(raw) {
        Ok(params) => start(&caller.app.authorizing(), &caller.request(), &params).await,
        Err(text) => Answer::Page { status: 400, text },
    };
    respond(answer)
}

pub async fn callback(caller: Caller, RawQuery(raw): RawQuery) -> Response {
    let answer = match query(raw) {
        Ok(params) => finish(&caller.app.authorizing(), &caller.request(), &params).await,
        Err(text) => Answer::Page { status: 400, text },
    };
    respond(answer)
}
