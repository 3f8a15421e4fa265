//! Per-request context: a request id of ours on every log line, in the
//! audit record and in the `X-Request-Id` response header, and one line per
//! finished request. A caller's own `X-Request-Id` never becomes ours (it
//! would let a caller forge correlation in the audit trail): a plain one is
//! kept beside it as `client_request_id`, and not echoed. Only
//! the path is logged: never the query, headers or body, which may carry
//! tokens.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tracing::Instrument;

use crate::tokens::random_bytes;

const HEADER: &str = "x-request-id";

/// The request's id (always ours) and the caller's own, if it sent a
/// plain one; in the request extensions for handlers (audit).
#[derive(Debug, Clone)]
pub struct RequestId {
    pub id: String,
    pub client: Option<String>,
}

/// An incoming id is kept (as the caller's) only if it is short and plain,
/// so it cannot forge log lines.
fn accept(incoming: Option<&HeaderValue>) -> Option<String> {
    let s = incoming?.to_str().ok()?;
    let plain = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then(|| s.to_string())
}

/// A new request id: 8 random bytes drawn once per process, then a
/// counter, as 22 base64url characters. Unique across replicas (the prefix)
/// without a system call per request; an id correlates, it guards nothing.
fn new_id() -> String {
    // Ids only correlate: if the RNG fails, the start time still makes the
    // prefix distinct per process (minting fails closed on its own draw).
    static PREFIX: LazyLock<[u8; 8]> = LazyLock::new(|| {
        random_bytes().unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos.to_be_bytes()
        })
    });
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&*PREFIX);
    bytes[8..].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = new_id();
    let client = accept(req.headers().get(HEADER));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        client_request_id = client.as_deref(),
        method = %req.method(),
        path = %req.uri().path(),
    );
    req.extensions_mut().insert(RequestId {
        id: id.clone(),
        client,
    });
    let endpoint = super::endpoint_label(req.uri().path());
    let started = Instant::now();
    async move {
        let mut res = next.run(req).await;
        let status = res.status().as_u16();
        let elapsed = started.elapsed();
        crate::metrics::request(endpoint, status, elapsed);
        let micros = elapsed.as_micros() as u64;
        // Successful requests are logged at debug: at info, formatting and
        // writing one line per request cost a quarter of token-endpoint
        // throughput (benches/README.md). Refusals stay at info, failures
        // at error; every decision also has its own audit line.
        // 429 and 503 (rate limits, load shedding) come in floods and are
        // counted in /metrics: debug, like successes.
        if status == 429 || status == 503 {
            tracing::debug!(status, micros, "request refused for load");
        } else if status >= 500 {
            tracing::error!(status, micros, "request failed");
        } else if status >= 400 {
            tracing::info!(status, micros, "request refused");
        } else {
            tracing::debug!(status, micros, "request finished");
        }
        if let Ok(v) = HeaderValue::from_str(&id) {
            res.headers_mut().insert(HEADER, v);
        }
        res
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_distinct_and_shaped_like_random_ones() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert_eq!(a[..10], b[..10], "one prefix per process");
        assert!(accept(HeaderValue::from_str(&a).ok().as_ref()).is_some());
    }

    #[test]
    fn accepts_plain_ids_only() {
        let ok = HeaderValue::from_static("abc-123_X.y");
        assert_eq!(accept(Some(&ok)).as_deref(), Some("abc-123_X.y"));
        for bad in [
            "",
            "has space",
            "new\tline",
            "x".repeat(65).as_str(),
            "quote\"d",
        ] {
            let v = HeaderValue::from_str(bad).ok();
            assert_eq!(accept(v.as_ref()), None, "{bad:?}");
        }
    }
}
