//! Client authentication at the token endpoint (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post` (secrets stored only as
//! SHA-256, compared in constant time) and `private_key_jwt` (RFC 7523 §3:
//! `iss = sub = client_id`, our `aud`, fresh (`iat` within the last 5
//! minutes and `exp` within the hour, or without `iat`, `exp` within 5
//! minutes), `jti` refused when seen before). Exactly one method per
//! request.

use std::collections::HashMap;

use serde_json::Value;

use crate::clock::UnixTime;
use crate::config::{ClientAuthMethod, ClientConfig, SecretString, UpstreamAlg};
use crate::error::ErrorCode;
use crate::jose::jws;
use crate::policy::{Denial, Policy};
use crate::reason::Reason;
use crate::store::ReplayCache;
use crate::upstream::jwks_cache::{KeyCache, KeySource};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// RFC 7523 leaves the bounds to us. An assertion is accepted for at most
/// 5 minutes: from its `iat` when it has one, else until an `exp` that may
/// be at most 5 minutes ahead. So the replay cache keeps a `jti` for
/// minutes, whatever `exp` says.
const MAX_ASSERTION_AGE: i64 = 5 * 60;
/// With `iat`, `exp` may be up to an hour ahead (Okta's bound; Authlib's
/// `PrivateKeyJWT` signs for 3600 s and cannot be told otherwise).
const MAX_ASSERTION_LIFETIME: i64 = 60 * 60;
const SKEW: i64 = 60;

/// The credentials a request presented, as the form layer found them.
/// Its `Debug` names the method and client, never the secret or assertion.
pub enum Presented {
    None,
    /// Only a `client_id`: a public client (`auth = "none"`), which proves
    /// nothing but PKCE or its refresh token binding.
    Public {
        client_id: String,
    },
    Secret {
        client_id: String,
        secret: SecretString,
        method: ClientAuthMethod,
    },
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("Presented::None"),
            Self::Public { client_id } => f
                .debug_struct("Presented::Public")
                .field("client_id", client_id)
                .finish(),
            Self::Secret {
                client_id, method, ..
            } => f
                .debug_struct("Presented::Secret")
                .field("client_id", client_id)
                .field("method", method)
                .finish_non_exhaustive(),
            Self::Assertion { client_id, .. } => f
                .debug_struct("Presented::Assertion")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

impl Presented {
    /// The client id these credentials claim, unverified: the `client_id`
    /// sent, else an assertion's `iss` read without checking its signature.
    /// For the audit record of a failed authentication only.
    pub fn claimed(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Public { client_id } | Self::Secret { client_id, .. } => Some(client_id.clone()),
            Self::Assertion {
                client_id: Some(c), ..
            } => Some(c.clone()),
            Self::Assertion { assertion, .. } => jws::parse(assertion)
                .ok()
                .and_then(|j| j.claims.get("iss")?.as_str().map(str::to_string)),
        }
    }
}

/// Keys of the `private_key_jwt` clients, one cache each, built at start.
pub struct ClientKeys {
    by_client: HashMap<String, KeyCache>,
    http: reqwest::Client,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys")
            .field("clients", &self.by_client.len())
            .finish()
    }
}

const ASSERTION_ALGS: [UpstreamAlg; 7] = [
    UpstreamAlg::RS256,
    UpstreamAlg::RS384,
    UpstreamAlg::RS512,
    UpstreamAlg::PS256,
    UpstreamAlg::ES256,
    UpstreamAlg::ES384,
    UpstreamAlg::EdDSA,
];

impl ClientKeys {
    pub fn new(config: &crate::config::Config) -> Result<Self, String> {
        let mut by_client = HashMap::new();
        let clients = config.agents.iter().map(|a| &a.client);
        for c in clients.chain(config.introspectors.iter().map(|r| &r.client)) {
            let source = match (&c.jwks, &c.jwks_uri) {
                (Some(jwks), _) => KeySource::Inline(jwks.clone()),
                (None, Some(url)) => KeySource::Jwks { url: url.clone() },
                (None, None) => continue,
            };
            by_client.insert(
                c.id.clone(),
                KeyCache::new(source, ASSERTION_ALGS.to_vec(), 30, 3_600),
            );
        }
        Ok(Self {
            by_client,
            http: crate::upstream::fetch::client(&config.outbound)?,
        })
    }
}

pub use crate::metadata::{INTROSPECTION_AUTH_METHODS, TOKEN_AUTH_METHODS};

/// One of our endpoints, as client authentication sees it.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// Its URL: an accepted assertion audience, beside the issuer.
    pub url: &'a str,
    /// The methods it accepts, as its metadata lists them.
    pub methods: &'static [&'static str],
}

/// Where assertions may be addressed: our issuer or the endpoint.
pub struct Audience<'a> {
    pub issuer: &'a str,
    /// The endpoint the assertion is sent to.
    pub endpoint: &'a str,
    /// What that endpoint accepts (named when nothing was presented).
    pub methods: &'static [&'static str],
}

/// `a, b or c`.
fn either(methods: &[&str]) -> String {
    match methods.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn invalid_client(reason: Reason, description: impl Into<String>) -> Denial {
    Denial::new(ErrorCode::InvalidClient, reason, description)
}

/// Client authentication at our endpoints, as a service of its own: the
/// registered clients (in the policy), their keys, and the replay cache of
/// assertions. Cheap to make per request (references only).
#[derive(Debug, Clone, Copy)]
pub struct Clients<'a> {
    pub issuer: &'a str,
    pub policy: &'a Policy,
    pub keys: &'a ClientKeys,
    pub replay: &'a ReplayCache,
}

impl<'a> Clients<'a> {
    /// Authenticate a client at `endpoint`.
    pub async fn authenticate(
        &self,
        presented: &Presented,
        endpoint: Endpoint<'_>,
        now: UnixTime,
    ) -> Result<&'a ClientConfig, Denial> {
        let audience = Audience {
            issuer: self.issuer,
            endpoint: endpoint.url,
            methods: endpoint.methods,
        };
        authenticate(
            self.policy,
            self.keys,
            self.replay,
            presented,
            audience,
            now,
        )
        .await
    }
}

/// Authenticate the client and return its registration.
pub async fn authenticate<'p>(
    policy: &'p Policy,
    keys: &ClientKeys,
    replay: &ReplayCache,
    presented: &Presented,
    audience: Audience<'_>,
    now: UnixTime,
) -> Result<&'p ClientConfig, Denial> {
    match presented {
        Presented::None => Err(invalid_client(
            Reason::ClientAuthMissing,
            format!(
                "client authentication is required ({})",
                either(audience.methods)
            ),
        )),
        Presented::Public { client_id } => match policy.client(client_id) {
            Some(c) if c.auth == ClientAuthMethod::None => Ok(c),
            // A confidential client must prove itself; an unknown one is
            // told no more than a wrong secret would tell it.
            Some(_) => Err(invalid_client(
                Reason::WrongAuthMethod,
                "client authentication failed",
            )),
            None => Err(invalid_client(
                Reason::UnknownClient,
                "client authentication failed",
            )),
        },
        Presented::Secret {
            client_id,
            secret,
            method,
        } => {
            let client = policy.client(client_id);
            let stored = client
                .and_then(|c| c.secret_sha256.as_deref())
                .and_then(crate::digest::decode_sha256_hex);
            // Compare even for an unknown client, so timing says nothing.
            let presented = crate::digest::sha256(secret.expose().as_bytes());
            let equal = crate::digest::constant_time_eq(&presented, &stored.unwrap_or([0u8; 32]));
            let client = client.ok_or_else(|| unknown(client_id))?;
            if client.auth != *method {
                return Err(wrong_method(client));
            }
            if !equal || stored.is_none() {
                return Err(invalid_client(
                    Reason::BadClientSecret,
                    "client authentication failed",
                ));
            }
            Ok(client)
        }
        Presented::Assertion {
            client_id,
            assertion,
        } => {
            verify_assertion(
                policy,
                keys,
                replay,
                client_id.as_deref(),
                assertion,
                &audience,
                now,
            )
            .await
        }
    }
}

/// The wire says only "failed" for an unknown client, a wrong method or a
/// wrong secret, so answers cannot enumerate clients; the reason (audit,
/// logs) tells them apart.
const FAILED: &str = "client authentication failed";

fn unknown(_client_id: &str) -> Denial {
    invalid_client(Reason::UnknownClient, FAILED)
}

fn wrong_method(_client: &ClientConfig) -> Denial {
    invalid_client(Reason::WrongAuthMethod, FAILED)
}

async fn verify_assertion<'p>(
    policy: &'p Policy,
    keys: &ClientKeys,
    replay: &ReplayCache,
    client_id: Option<&str>,
    assertion: &str,
    audience: &Audience<'_>,
    now: UnixTime,
) -> Result<&'p ClientConfig, Denial> {
    let bad = |why: String| {
        invalid_client(
            Reason::BadClientAssertion,
            format!("client_assertion: {why}"),
        )
    };
    let jws = jws::parse(assertion).map_err(|r| bad(r.detail))?;
    let claims = &jws.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let iss = text("iss").ok_or_else(|| bad("no iss".into()))?;
    // RFC 7523 §3: iss and sub are both the client id.
    if text("sub") != Some(iss) {
        return Err(bad("iss and sub must both be the client id".into()));
    }
    if client_id.is_some_and(|c| c != iss) {
        return Err(bad("client_id does not match the assertion's iss".into()));
    }
    let client = policy.client(iss).ok_or_else(|| unknown(iss))?;
    if client.auth != ClientAuthMethod::PrivateKeyJwt {
        return Err(wrong_method(client));
    }
    let cache = keys
        .by_client
        .get(iss)
        .ok_or_else(|| wrong_method(client))?;
    let key = cache
        .key(&keys.http, jws.header.kid.as_deref(), jws.header.alg, now)
        .await
        .map_err(|r| bad(r.detail))?;
    let verifier = key
        .verifier(jws.header.alg)
        .ok_or_else(|| bad("the key does not fit the algorithm".into()))?;
    if !verifier.verify(jws.signing_input.as_bytes(), &jws.signature) {
        return Err(bad("the signature does not verify".into()));
    }
    let aud_ok = |a: &str| a == audience.issuer || a == audience.endpoint;
    let aud_matches = match claims.get("aud") {
        Some(Value::String(a)) => aud_ok(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(aud_ok),
        _ => false,
    };
    if !aud_matches {
        return Err(bad(format!(
            "aud must be {} or {}",
            audience.issuer, audience.endpoint
        )));
    }
    let until = assertion_times(claims, now).map_err(bad)?;
    let jti = text("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| bad("no jti".into()))?;
    let key = crate::digest::sha256_hex(format!("{iss}\n{jti}").as_bytes());
    let first = replay.first_use(&key, until, now).await.map_err(|e| {
        tracing::error!(error = %e, "replay cache unavailable");
        Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::BadClientAssertion,
            "the replay cache is unavailable; try again",
        )
    })?;
    if !first {
        return Err(invalid_client(
            Reason::AssertionReplayed,
            "client_assertion: this jti was already used",
        ));
    }
    Ok(client)
}

/// RFC 7523 §3 times, from the caller's claims: `exp` a whole number, not
/// passed; `nbf`, when present, not in the future (beyond the skew). With
/// `iat`: not in the future, at most 5 minutes old, and `exp` at most an
/// hour ahead; without it, `exp` at most 5 minutes ahead. Every comparison
/// is made against our own clock with values already bounded, so no
/// arithmetic on an attacker's number can overflow. Returns when the
/// assertion stops being accepted: how long its `jti` must be remembered.
fn assertion_times(claims: &serde_json::Map<String, Value>, now: UnixTime) -> Result<i64, String> {
    let time = |name: &str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{name} is not a whole-second NumericDate")),
    };
    let exp = time("exp")?.ok_or("no exp")?;
    if exp <= now - SKEW {
        return Err("expired".into());
    }
    let iat = time("iat")?;
    match iat {
        Some(_) if exp > now + MAX_ASSERTION_LIFETIME + SKEW => {
            return Err("exp is more than 1 hour ahead".into());
        }
        None if exp > now + MAX_ASSERTION_AGE + SKEW => {
            return Err("exp is more than 5 minutes ahead (or send iat)".into());
        }
        _ => {}
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + SKEW) {
        return Err("not yet valid".into());
    }
    let until_exp = exp + SKEW;
    match iat {
        None => Ok(until_exp),
        Some(iat) if iat > now + SKEW => Err("iat is in the future".into()),
        Some(iat) if iat < now - MAX_ASSERTION_AGE - SKEW => {
            Err("iat is more than 5 minutes ago: sign a fresh assertion".into())
        }
        // Accepted while now <= iat + MAX_ASSERTION_AGE + SKEW.
        Some(iat) => Ok(until_exp.min(iat + MAX_ASSERTION_AGE + SKEW + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: UnixTime = 1_800_000_000;

    fn times(v: serde_json::Value) -> Result<i64, String> {
        assertion_times(v.as_object().unwrap(), NOW)
    }

    #[test]
    fn assertion_times_table() {
        use serde_json::json;
        let ok = |until: i64| Ok::<i64, String>(until);
        // Remembered until the assertion stops being accepted.
        assert_eq!(times(json!({"exp": NOW + 60})), ok(NOW + 60 + SKEW));
        assert_eq!(
            times(json!({"exp": NOW + 60, "iat": NOW + SKEW})),
            ok(NOW + 60 + SKEW)
        );
        // Authlib's default: an hour's exp, with iat. Fresh for 5 minutes
        // from iat, and remembered only that long.
        assert_eq!(
            times(json!({"exp": NOW + 3_600, "iat": NOW})),
            ok(NOW + MAX_ASSERTION_AGE + SKEW + 1)
        );
        assert_eq!(
            times(json!({"exp": NOW + 3_600, "iat": NOW - MAX_ASSERTION_AGE - SKEW})),
            ok(NOW + 1)
        );
        for (claims, why) in [
            (json!({}), "no exp"),
            (json!({"exp": NOW - SKEW}), "expired"),
            (json!({"exp": i64::MIN}), "expired"),
            (
                json!({"exp": i64::MAX}),
                "exp is more than 5 minutes ahead (or send iat)",
            ),
            (
                json!({"exp": NOW + 600}),
                "exp is more than 5 minutes ahead (or send iat)",
            ),
            (
                json!({"exp": NOW + 3_600 + SKEW + 1, "iat": NOW}),
                "exp is more than 1 hour ahead",
            ),
            (
                json!({"exp": i64::MAX, "iat": NOW}),
                "exp is more than 1 hour ahead",
            ),
            (
                json!({"exp": NOW + 600, "iat": NOW - MAX_ASSERTION_AGE - SKEW - 1}),
                "iat is more than 5 minutes ago: sign a fresh assertion",
            ),
            (
                json!({"exp": NOW + 60, "iat": i64::MIN}),
                "iat is more than 5 minutes ago: sign a fresh assertion",
            ),
            (
                json!({"exp": NOW + 60, "iat": NOW + SKEW + 1}),
                "iat is in the future",
            ),
            (
                json!({"exp": NOW + 60, "iat": NOW + 86_400}),
                "iat is in the future",
            ),
            (json!({"exp": NOW + 60, "nbf": i64::MAX}), "not yet valid"),
            (
                json!({"exp": "1800000060"}),
                "exp is not a whole-second NumericDate",
            ),
            (
                json!({"exp": 1.8e9}),
                "exp is not a whole-second NumericDate",
            ),
            (
                json!({"exp": NOW + 60, "iat": 1e308}),
                "iat is not a whole-second NumericDate",
            ),
        ] {
            assert_eq!(times(claims.clone()), Err(why.to_string()), "{claims}");
        }
    }

    /// Any number or non-number in any time claim: an answer, never a panic
    /// (this runs in debug builds, where overflow panics).
    fn any_time() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            prop::sample::select(vec![i64::MIN, i64::MAX, -1, 0, NOW, NOW + SKEW + 1])
                .prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            ".{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            Just(serde_json::Value::Bool(true)),
        ]
    }

    proptest! {
        #[test]
        fn extreme_assertion_times_never_panic(exp in any_time(), nbf in any_time(), iat in any_time()) {
            let claims = serde_json::json!({"exp": exp, "nbf": nbf, "iat": iat});
            // Accepted assertions are remembered for minutes, never longer.
            if let Ok(until) = times(claims) {
                prop_assert!(until > NOW && until <= NOW + MAX_ASSERTION_AGE + 2 * SKEW + 1);
            }
        }
    }
}
