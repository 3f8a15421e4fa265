//! The floor of HTTP + JOSE on this machine, for benchmarks only: what
//! `../shared/bench-peer/README.md` calls "a minimal axum + josekit server
//! doing only form parsing, Basic auth, one RS256 verify and one ES256
//! sign". `benches/load.sh TARGETS=floor` runs it in the same harness, so
//! agent-sts's own cost is the distance to it, measured in the same go.
//!
//!     cargo run --release --example floor_server -- JWKS_FILE PORT

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use josekit::jwk::Jwk;
use josekit::jws::alg::ecdsa::EcdsaJwsSigner;
use josekit::jws::alg::rsassa::RsassaJwsVerifier;
use josekit::jws::{ES256, JwsSigner, JwsVerifier, RS256};
use serde_json::{Value, json};

struct Floor {
    verifier: RsassaJwsVerifier,
    signer: EcdsaJwsSigner,
    jwks: Value,
    basic: String,
}

async fn token(
    State(f): State<Arc<Floor>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, StatusCode> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != f.basic {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let mut subject = None;
    let mut audience = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "subject_token" => subject = Some(v.into_owned()),
            "audience" => audience = Some(v.into_owned()),
            _ => {}
        }
    }
    let subject = subject.ok_or(StatusCode::BAD_REQUEST)?;
    let (input, sig) = subject.rsplit_once('.').ok_or(StatusCode::BAD_REQUEST)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    f.verifier
        .verify(input.as_bytes(), &sig)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let payload = input.split('.').nth(1).ok_or(StatusCode::BAD_REQUEST)?;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| StatusCode::BAD_REQUEST)?,
    )
    .map_err(|_| StatusCode::BAD_REQUEST)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if claims["exp"].as_u64().unwrap_or(0) <= now {
        return Err(StatusCode::BAD_REQUEST);
    }
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"at+jwt","kid":"floor"}"#);
    let body = json!({"iss": "http://floor", "sub": claims["sub"], "aud": audience, "iat": now, "exp": now + 600});
    let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(body.to_string()));
    let sig = f
        .signer
        .sign(signing_input.as_bytes())
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig));
    Ok(Json(json!({
        "access_token": token,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": 600,
    })))
}

async fn jwks_handler(State(f): State<Arc<Floor>>) -> Json<Value> {
    Json(f.jwks.clone())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let jwks: Value = serde_json::from_slice(&std::fs::read(args.get(1).ok_or("JWKS_FILE")?)?)?;
    let port: u16 = args.get(2).ok_or("PORT")?.parse()?;
    let upstream = Jwk::from_map(jwks["keys"][0].as_object().cloned().ok_or("no key")?)?;
    let own = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256)?;
    let floor = Arc::new(Floor {
        verifier: RS256.verifier_from_jwk(&upstream)?,
        signer: ES256.signer_from_jwk(&own)?,
        jwks: json!({ "keys": [Value::Object(own.to_public_key()?.as_ref().clone())] }),
        basic: format!(
            "Basic {}",
            STANDARD.encode("bench-client:bench-secret-0123456789abcdef")
        ),
    });
    let app = axum::Router::new()
        .route("/token", post(token))
        .route("/jwks", get(jwks_handler))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
