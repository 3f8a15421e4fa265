//! What the steps of a sign-in hand each other, and the small rules they
//! share: PKCE, redirect URIs, the error redirect.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::UnixTime;

/// A pending sign-in at the upstream IdP lives this long.
pub const LOGIN_TTL: i64 = 10 * 60;
/// An authorization code lives this long (OAuth 2.1 recommends under a
/// minute's use; RFC 6749 §4.1.2 says at most 10 minutes).
pub const CODE_TTL: i64 = 60;

/// `/authorize`, waiting for the user to come back from the IdP.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    /// The client's `state`, returned to it unchanged.
    pub state: Option<String>,
    pub code_challenge: String,
    /// The declared spelling of the requested resource.
    pub resource: String,
    pub scopes: Option<Vec<String>>,
    pub upstream: String,
    pub nonce: String,
    /// Our PKCE verifier at the upstream (server side only).
    pub verifier: String,
    pub started_at: UnixTime,
}

/// What a code grants, decided at the callback; redeemed once at `/token`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodeGrant {
    pub client_id: String,
    pub agent: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub resource: String,
    pub sub: String,
    pub scopes: Vec<String>,
    pub act: Option<Value>,
    pub may_act: Option<Value>,
    pub idp: Option<String>,
    pub tid: Option<String>,
    /// The report-only rule waived, if any.
    pub waived: Option<String>,
    /// When the user signed in (revocations after it stop the code).
    pub signed_in_at: UnixTime,
    /// The access token's `jti`, drawn now: a replayed code revokes it.
    pub jti: String,
    /// What a refresh re-decides with: the user's upstream, groups
    /// (`None`: unknown, Entra overage) and the scopes first asked for.
    pub user: SignedInUser,
}

/// The user of a sign-in, as a refresh needs them to apply the policy of
/// the day again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignedInUser {
    pub upstream: String,
    pub groups: Option<Vec<String>>,
    pub requested: Option<Vec<String>>,
}

/// RFC 7636 §4.2 `S256`: base64url(SHA-256(verifier)).
pub fn code_challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(crate::digest::sha256(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
pub fn is_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A registered redirect URI admits `requested`: the same string, or for
/// loopback `http` the same but for the port (RFC 8252 §7.3: a native
/// client listens on whatever port it got).
pub fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(r), Ok(q)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    if r.scheme() != "http" || !crate::config::is_loopback(&r) {
        return false;
    }
    let mut q_any_port = q.clone();
    let mut r_any_port = r.clone();
    (q_any_port.set_port(None).is_ok() && r_any_port.set_port(None).is_ok())
        && q_any_port == r_any_port
}

/// `redirect_uri` with the answer's parameters added (RFC 6749 §4.1.2,
/// RFC 9207 `iss`).
pub fn with_params(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.into()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

/// A parameter of the query, when sent and not empty.
pub(super) fn param<'a>(
    params: &'a std::collections::HashMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Keep `value` as JSON under the SHA-256 of `handle` until `expires_at`,
/// once.
pub(super) async fn put_json(
    store: &dyn crate::store::OneTimeStore,
    kind: &str,
    handle: &str,
    value: &impl Serialize,
    expires_at: UnixTime,
) -> Result<(), crate::store::StoreError> {
    let json =
        serde_json::to_string(value).map_err(|e| crate::store::StoreError::Query(e.to_string()))?;
    store
        .put_once(kind, &key_of(handle), &json, expires_at)
        .await
}

/// The SHA-256 (hex) a one-time record is kept under: the handle itself
/// (a state or a code) is never stored.
pub fn key_of(handle: &str) -> String {
    crate::digest::sha256_hex(handle.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_is_rfc_7636_appendix_b() {
        assert_eq!(
            code_challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_code_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!is_code_verifier("short"));
        assert!(!is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn redirect_uris_match_exactly_or_by_loopback_port() {
        let yes = [
            ("https://app.example.com/cb", "https://app.example.com/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:53123/cb"),
            ("http://127.0.0.1:8080/cb", "http://127.0.0.1:9999/cb"),
            ("http://[::1]/cb", "http://[::1]:4000/cb"),
        ];
        for (registered, requested) in yes {
            assert!(redirect_matches(registered, requested), "{requested}");
        }
        let no = [
            (
                "https://app.example.com/cb",
                "https://app.example.com/cb/extra",
            ),
            (
                "https://app.example.com/cb",
                "https://app.example.com/cb?x=1",
            ),
            (
                "https://app.example.com/cb",
                "https://app.example.com:8443/cb",
            ),
            ("https://app.example.com/cb", "https://evil.example.com/cb"),
            ("http://127.0.0.1/cb", "http://127.0.0.1:53123/other"),
            ("http://127.0.0.1/cb", "http://localhost:53123/cb"),
            ("http://127.0.0.1/cb", "https://127.0.0.1:53123/cb"),
        ];
        for (registered, requested) in no {
            assert!(!redirect_matches(registered, requested), "{requested}");
        }
    }
}
