//! The back-channel half of the authorization-code flow: the token endpoint
//! redeems a code from [`super::login`] for an ID token and an access token
//! (RFC 6749 §4.1.3, PKCE RFC 7636 §4.6, OIDC Core §3.1.3), authenticating
//! the RP with `client_secret_basic` (RFC 6749 §2.3.1). The vendor passes a
//! closure that shapes its tokens from the [`Grant`]; `nonce` and the test's
//! [`IdTokenFault`]s are applied here.

use super::jwt::{self, random_b64};
use super::login::{Code, Grant, IdTokenFault, unique};
use super::token::{Bad, TokenBuilder};
use super::{Idp, SigningKey};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// Lifetime of the tokens issued, in seconds (both vendors' default).
const EXPIRES_IN: i64 = 3600;

/// An RFC 6749 §5.2 refusal: `error` is the RFC's code.
struct Refusal {
    error: &'static str,
    description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> Refusal {
    let description = description.into();
    Refusal { error, description }
}

/// JSON `{error, error_description}` with `no-store`; `invalid_client` is a
/// 401 with `WWW-Authenticate` (RFC 6749 §5.2), the rest 400.
impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = if self.error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let body = json!({"error": self.error, "error_description": self.description});
        let mut resp = (status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("Basic realm=\"token\"");
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        resp
    }
}

/// HTTP Basic credentials; RFC 6749 §2.3.1 form-encodes id and secret
/// before base64, so they are form-decoded here.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let form_decode = |s: &str| -> String {
        let field = format!("x={s}");
        let mut pairs = form_urlencoded::parse(field.as_bytes());
        pairs
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((form_decode(id), form_decode(secret)))
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(ASCII(code_verifier)))`.
fn s256(verifier: &str) -> String {
    jwt::b64url(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// `POST token` for the realm the vendor routed it to. `issue` turns a good
/// grant into (ID token builder, access token) in the vendor's shape.
pub(super) async fn token(
    idp: &Idp,
    realm: &str,
    headers: &HeaderMap,
    body: &str,
    issue: impl FnOnce(&Grant) -> (TokenBuilder, String),
) -> Response {
    let login = idp.login();
    login.token_requests.fetch_add(1, Ordering::SeqCst);
    let mode = login.state().token_mode;
    if let Some(resp) = mode.apply().await {
        return resp;
    }
    let grant = match redeem(idp, realm, headers, body) {
        Ok(grant) => grant,
        Err(refusal) => return refusal.into_response(),
    };
    let (id_token, access_token) = issue(&grant);
    let id_token = apply_faults(idp, &grant, id_token);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": EXPIRES_IN,
        "access_token": access_token,
        "scope": grant.scopes.join(" "),
        "id_token": id_token.mint(),
    });
    // RFC 6749 §5.1: token responses MUST NOT be cached.
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    (no_store, axum::Json(body)).into_response()
}

/// Every check of RFC 6749 §4.1.3 and RFC 7636 §4.6, in the order a real
/// server makes them; the good grant, or the §5.2 error to answer.
fn redeem(idp: &Idp, realm: &str, headers: &HeaderMap, body: &str) -> Result<Grant, Refusal> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        let msg = "The request must be application/x-www-form-urlencoded.";
        return Err(refuse("invalid_request", msg));
    }
    let params = unique(body).map_err(|name| {
        let msg = format!("The '{name}' parameter was sent more than once.");
        refuse("invalid_request", msg)
    })?;
    let get = |name: &str| params.get(name).map(String::as_str);
    let client_id = authenticate(idp, headers, get("client_id"), get("client_secret"))?;
    match get("grant_type") {
        Some("authorization_code") => {}
        Some(_) => {
            let msg = "The grant type is not supported by the authorization server.";
            return Err(refuse("unsupported_grant_type", msg));
        }
        None => return Err(refuse("invalid_request", "The 'grant_type' is required.")),
    }
    let Some(code) = get("code") else {
        return Err(refuse(
            "invalid_request",
            "The 'code' parameter is required.",
        ));
    };
    let grant = take_code(idp, code, &client_id)?;
    let invalid_grant = |msg: &str| Err(refuse("invalid_grant", msg));
    if grant.expires < jwt::now() {
        return invalid_grant("The authorization code is expired.");
    }
    if grant.realm != realm {
        return invalid_grant("The authorization code was issued by another authorization server.");
    }
    // RFC 6749 §4.1.3: identical to the authorization request's redirect_uri.
    if get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        let msg = "The 'redirect_uri' does not match the redirection URI used in the \
                   authorization request.";
        return invalid_grant(msg);
    }
    let Some(verifier) = get("code_verifier") else {
        let msg = "PKCE verification failed: 'code_verifier' is required.";
        return Err(refuse("invalid_request", msg));
    };
    if !is_verifier(verifier) {
        let msg = "PKCE verification failed: 'code_verifier' must be 43-128 unreserved characters.";
        return Err(refuse("invalid_request", msg));
    }
    if s256(verifier) != grant.challenge {
        return invalid_grant("PKCE verification failed.");
    }
    Ok(grant)
}

/// `client_secret_basic` only (RFC 6749 §2.3.1); a second method in the body
/// is refused (§2.3: MUST NOT use more than one). The authenticated client id.
fn authenticate(
    idp: &Idp,
    headers: &HeaderMap,
    body_client_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<String, Refusal> {
    let Some((id, secret)) = basic_credentials(headers) else {
        let msg = if body_secret.is_some() {
            "Client authentication failed: this client uses client_secret_basic."
        } else {
            "Client authentication failed: no client credentials."
        };
        return Err(refuse("invalid_client", msg));
    };
    if body_secret.is_some() {
        let msg = "The client used more than one authentication method.";
        return Err(refuse("invalid_request", msg));
    }
    let known = idp.login().client(&id);
    if known.is_none_or(|c| c.client_secret != secret) || body_client_id.is_some_and(|b| b != id) {
        return Err(refuse("invalid_client", "Client authentication failed."));
    }
    Ok(id)
}

/// Takes the code: unknown, already used, or another client's code is
/// `invalid_grant`. The first redemption by its own client consumes it,
/// whatever happens next (RFC 6749 §4.1.2: used at most once).
fn take_code(idp: &Idp, code: &str, client_id: &str) -> Result<Grant, Refusal> {
    let mut state = idp.login().state();
    let grant = match state.codes.get(code) {
        None => {
            return Err(refuse(
                "invalid_grant",
                "The authorization code is invalid.",
            ));
        }
        Some(Code::Redeemed) => {
            let msg = "The authorization code has already been redeemed.";
            return Err(refuse("invalid_grant", msg));
        }
        Some(Code::Issued(grant)) if grant.client_id != client_id => {
            let msg = "The authorization code was issued to another client.";
            return Err(refuse("invalid_grant", msg));
        }
        Some(Code::Issued(grant)) => grant.as_ref().clone(),
    };
    state.codes.insert(code.to_owned(), Code::Redeemed);
    Ok(grant)
}

/// Sets the request's `nonce` (OIDC Core §3.1.3.6), then applies and clears
/// the faults the test queued for this token.
fn apply_faults(idp: &Idp, grant: &Grant, mut id_token: TokenBuilder) -> TokenBuilder {
    if let Some(nonce) = &grant.nonce {
        id_token = id_token.claim("nonce", json!(nonce));
    }
    let faults = std::mem::take(&mut idp.login().state().faults);
    for fault in faults {
        id_token = match fault {
            IdTokenFault::WrongNonce => id_token.claim("nonce", json!(random_b64(16))),
            IdTokenFault::NoNonce => id_token.remove("nonce"),
            IdTokenFault::WrongAudience => {
                id_token.claim("aud", Value::String(idp.stranger_client_id()))
            }
            IdTokenFault::Expired => id_token.bad(Bad::Expired),
            IdTokenFault::BadSignature => id_token.signed_by(&SigningKey::rsa(idp.kid())),
            IdTokenFault::Token(bad) => id_token.bad(bad),
        };
    }
    id_token
}
