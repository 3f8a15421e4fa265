//! An attacker's own tiny key server, the target of `jku` / `x5u` headers.
//! It counts every request, so a test can prove the verifier never followed them.

use super::jwt::{SigningKey, random_alnum};
use super::server::Server;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The attacker's key server on 127.0.0.1:0. Clones share one server, which
/// stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Attacker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    server: Server,
    key: SigningKey,
    hits: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct AppState {
    key: SigningKey,
    hits: Arc<AtomicUsize>,
}

impl Attacker {
    /// Starts the server with a fresh RSA-2048 key (kid `attacker-…`).
    /// Serves `GET /jwks.json` (its JWKS) and `GET /cert.pem` (its public key PEM).
    pub async fn start() -> Self {
        let key = SigningKey::rsa(format!("attacker-{}", random_alnum(10)));
        let hits = Arc::new(AtomicUsize::new(0));
        let state = AppState {
            key: key.clone(),
            hits: hits.clone(),
        };
        let server = Server::start(move |_| {
            Router::new()
                .route("/jwks.json", axum::routing::get(jwks))
                .route("/cert.pem", axum::routing::get(pem))
                .fallback(fallback)
                .with_state(state)
        })
        .await;
        Self {
            inner: Arc::new(Inner { server, key, hits }),
        }
    }

    /// `http://127.0.0.1:PORT/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.inner.server.base_url())
    }

    /// `http://127.0.0.1:PORT/cert.pem`.
    pub fn x5u_url(&self) -> String {
        format!("{}/cert.pem", self.inner.server.base_url())
    }

    /// The attacker's signing key.
    pub fn key(&self) -> &SigningKey {
        &self.inner.key
    }

    /// The attacker's kid.
    pub fn kid(&self) -> &str {
        self.inner.key.kid()
    }

    /// Requests received on any path.
    pub fn fetches(&self) -> usize {
        self.inner.hits.load(Ordering::SeqCst)
    }
}

async fn jwks(State(s): State<AppState>) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let mut jwk = s.key.public_jwk();
    jwk["alg"] = json!("RS256");
    jwk["use"] = json!("sig");
    axum::Json(json!({ "keys": [jwk] })).into_response()
}

async fn pem(State(s): State<AppState>) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let body = s.key.public_pem();
    ([(header::CONTENT_TYPE, "application/x-pem-file")], body).into_response()
}

async fn fallback(State(s): State<AppState>) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    axum::http::StatusCode::NOT_FOUND.into_response()
}
