//! Fake identity providers for the integration tests: a fake Okta
//! ([`okta::FakeOkta`]) and a fake Entra ID ([`entra::FakeEntra`]), each a real
//! HTTP server on 127.0.0.1:0 serving discovery and JWKS in the vendor's URL
//! layout and minting tokens with the vendor's claim sets (good ones and the
//! bad variants in [`token::Bad`]), plus an attacker JWKS server
//! ([`attacker::Attacker`]) for `jku`/`x5u` tests. Both fakes also serve the
//! OIDC authorization-code flow to a relying party ([`login`],
//! [`code_exchange`]): register an RP, sign a user in, and the browser's
//! `GET authorize` is answered at once with a code.
//!
//! The upstream-trust tests use only part of this surface each, and some
//! helpers exist for later issue tests; unused ones must not fail
//! `clippy -D warnings`, hence the allow below.
#![allow(dead_code)]

pub mod attacker;
pub mod code_exchange;
pub mod entra;
pub mod jwt;
pub mod login;
pub mod okta;
pub mod server;
pub mod token;

mod selftest;
mod selftest_bad;
mod selftest_entra;
mod selftest_login;

pub use attacker::Attacker;
pub use entra::FakeEntra;
pub use jwt::{SignWith, SigningKey, claims_of, header_of, sign};
pub use login::{IdTokenFault, RpClient};
pub use okta::FakeOkta;
pub use token::{Bad, Part, TokenBuilder};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a fake endpoint (discovery, JWKS, introspection) behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Normal answers.
    #[default]
    Up,
    /// `503 Service Unavailable`.
    Down,
    /// `200 OK` with an HTML body that is not JSON.
    Garbage,
    /// Waits this long, then answers normally.
    Slow(Duration),
}

impl Mode {
    /// Applies the mode: `Some(response)` to send instead of the normal
    /// answer (Down, Garbage), `None` to answer normally (after sleeping when Slow).
    pub async fn apply(self) -> Option<Response> {
        match self {
            Mode::Up => None,
            Mode::Down => Some((StatusCode::SERVICE_UNAVAILABLE, "upstream down").into_response()),
            Mode::Garbage => Some(
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body>Sign in to continue</body></html>",
                )
                    .into_response(),
            ),
            Mode::Slow(delay) => {
                tokio::time::sleep(delay).await;
                None
            }
        }
    }
}

/// Which vendor's JWKS key decoration to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// Okta keys carry `alg` and `use`.
    Okta,
    /// Entra keys carry `use` and `x5t` (= `kid`), no `alg`.
    Entra,
}

/// A fresh key id in the vendor's shape.
fn new_kid(vendor: Vendor) -> String {
    match vendor {
        Vendor::Okta => jwt::random_b64(32),
        Vendor::Entra => jwt::random_b64(20),
    }
}

/// One authorization server's keys, JWKS, outage mode and counters, and its
/// relying parties and signed-in user ([`login`]). Cheap to
/// clone (shared state); the fakes deref to their main `Idp`.
#[derive(Clone, Debug)]
pub struct Idp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    vendor: Vendor,
    keys: Mutex<Keys>,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<String>>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
    /// Registered RP clients, the signed-in user, codes and test knobs.
    login: login::Login,
}

#[derive(Debug)]
struct Keys {
    /// Published keys, the signing key first.
    published: Vec<SigningKey>,
    ec: SigningKey,
    publish_ec: bool,
}

impl Idp {
    /// A new key set with one RSA-2048 signing key. Kids look like the
    /// vendor's: 43 base64url characters for Okta, 27 for Entra (where `kid`
    /// = `x5t`, a SHA-1 thumbprint's length).
    pub fn new(vendor: Vendor) -> Self {
        let inner = Inner {
            vendor,
            keys: Mutex::new(Keys {
                published: vec![SigningKey::rsa(new_kid(vendor))],
                ec: SigningKey::ec(new_kid(vendor)),
                publish_ec: false,
            }),
            mode: Mutex::new(Mode::Up),
            cache_control: Mutex::new(Some("public, max-age=86400".into())),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            login: login::Login::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.inner.keys.lock().expect("keys lock")
    }

    /// The current RSA signing key.
    pub fn signing_key(&self) -> SigningKey {
        self.keys().published[0].clone()
    }

    /// The current signing key's `kid`.
    pub fn kid(&self) -> String {
        self.keys().published[0].kid().to_owned()
    }

    /// The IdP's EC P-256 key (used by `Bad::WrongAlg("ES256")`); not in the
    /// JWKS unless [`Idp::publish_ec_key`] is on.
    pub fn ec_key(&self) -> SigningKey {
        self.keys().ec.clone()
    }

    /// Adds (or removes) the EC key to the served JWKS.
    pub fn publish_ec_key(&self, on: bool) {
        self.keys().publish_ec = on;
    }

    /// Kids currently served in the JWKS, in order.
    pub fn published_kids(&self) -> Vec<String> {
        let keys = self.keys();
        let mut kids: Vec<String> = keys.published.iter().map(|k| k.kid().to_owned()).collect();
        if keys.publish_ec {
            kids.push(keys.ec.kid().to_owned());
        }
        kids
    }

    fn next_key(&self) -> SigningKey {
        SigningKey::rsa(new_kid(self.inner.vendor))
    }

    /// Rotates: a new key signs from now on and the JWKS holds only it. Returns the new kid.
    pub fn rotate_key(&self) -> String {
        let key = self.next_key();
        let kid = key.kid().to_owned();
        self.keys().published = vec![key];
        kid
    }

    /// Serves a new key under the current signing key's `kid` (an IdP that
    /// reuses kids). Tokens signed before no longer verify.
    pub fn replace_key_keeping_kid(&self) {
        let kid = self.kid();
        self.keys().published[0] = SigningKey::rsa(kid);
    }

    /// Rotates but keeps every earlier key in the JWKS (after the new one). Returns the new kid.
    pub fn rotate_key_keep_old(&self) -> String {
        let key = self.next_key();
        let kid = key.kid().to_owned();
        self.keys().published.insert(0, key);
        kid
    }

    /// The JWKS document served, decorated in the vendor's style.
    pub fn jwks(&self) -> Value {
        let keys = self.keys();
        let mut list: Vec<&SigningKey> = keys.published.iter().collect();
        if keys.publish_ec {
            list.push(&keys.ec);
        }
        let decorated: Vec<Value> = list
            .into_iter()
            .map(|k| {
                let mut jwk = k.public_jwk();
                jwk["use"] = json!("sig");
                match self.inner.vendor {
                    Vendor::Okta => {
                        let alg = if k.kty() == "EC" { "ES256" } else { "RS256" };
                        jwk["alg"] = json!(alg);
                    }
                    Vendor::Entra => jwk["x5t"] = json!(k.kid()),
                }
                jwk
            })
            .collect();
        json!({ "keys": decorated })
    }

    /// Sets the outage mode of discovery and JWKS.
    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().expect("mode lock") = mode;
    }

    /// The current outage mode.
    pub fn mode(&self) -> Mode {
        *self.inner.mode.lock().expect("mode lock")
    }

    /// Sets the JWKS `Cache-Control` header (`None` sends none). Default `public, max-age=86400`.
    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.inner.cache_control.lock().expect("cc lock") = value.map(str::to_owned);
    }

    /// Requests received by any JWKS endpoint of this key set (whatever the mode).
    pub fn jwks_fetches(&self) -> usize {
        self.inner.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Requests received by any discovery endpoint of this key set (whatever the mode).
    pub fn discovery_fetches(&self) -> usize {
        self.inner.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Answers a JWKS request: counts it, applies the mode, serves `jwks`.
    pub async fn serve_jwks(&self, jwks: Value) -> Response {
        self.inner.jwks_fetches.fetch_add(1, Ordering::SeqCst);
        if let Some(resp) = self.mode().apply().await {
            return resp;
        }
        let cache_control = self.inner.cache_control.lock().expect("cc lock").clone();
        let mut resp = axum::Json(jwks).into_response();
        if let Some(cc) = cache_control.and_then(|cc| cc.parse().ok()) {
            resp.headers_mut().insert(header::CACHE_CONTROL, cc);
        }
        resp
    }

    /// Answers a discovery request: counts it, applies the mode, serves `doc`.
    pub async fn serve_discovery(&self, doc: Value) -> Response {
        self.inner.discovery_fetches.fetch_add(1, Ordering::SeqCst);
        if let Some(resp) = self.mode().apply().await {
            return resp;
        }
        axum::Json(doc).into_response()
    }
}
