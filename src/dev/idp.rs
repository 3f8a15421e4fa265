//! The built-in dev upstream IdP. It serves three issuers under `/dev/idp`,
//! laid out like the real vendors so the same upstream profiles apply:
//!
//! | shape    | issuer                                   | JWKS                          |
//! |----------|------------------------------------------|-------------------------------|
//! | okta     | `{base}/okta/oauth2/default`             | `{issuer}/v1/keys`            |
//! | entra    | `{base}/entra/{tid}/v2.0`                | `{base}/entra/{tid}/discovery/v2.0/keys` |
//! | workload | `{base}/k8s` (a Kubernetes cluster)      | `{base}/k8s/openid/v1/jwks`   |
//!
//! The Okta shape is also an OpenID provider users sign in at (`login`):
//! agent-sts's `interactive` pattern signs users in there, as it would at
//! a real Okta.
//!
//! Every token it mints carries `agent_sts_dev_idp` saying it is not real.
//! Its RS256 key lives in memory only and changes on every start.

mod login;
mod page;
mod token;

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::UnixTime;
use crate::tokens::keys::{KeyError, SigningAlg, SigningKey};
use crate::tokens::{random_id, sign_jwt};

pub use login::{Browser, DEV_LOGIN_CLIENT_ID, DEV_LOGIN_CLIENT_SECRET, SAMPLE_USERS, SampleUser};
pub use page::error_page;

/// The tenant id of the dev Entra shape.
pub const DEV_TENANT: &str = "00000000-0000-4000-8000-0000000de0de";
pub const DEV_AUDIENCE: &str = "api://agent-sts";
pub const DEV_WORKLOAD_AUDIENCE: &str = "agent-sts";
const DEV_NOTICE: &str = "minted by agent-sts start-dev: not a real identity provider";
const MAX_TTL: i64 = 24 * 3_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Okta,
    Entra,
    Workload,
}

/// What `POST /dev/idp/mint` accepts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    pub kind: Shape,
    /// Okta: the login; Entra: the UPN; workload: `namespace/name` or a full
    /// `system:serviceaccount:NS:NAME`.
    pub sub: String,
    /// Comma-separated group names (Okta) or object ids (Entra).
    #[serde(default)]
    pub groups: Option<String>,
    #[serde(default)]
    pub aud: Option<String>,
    /// Lifetime in seconds (default 3600, at most 86400).
    #[serde(default)]
    pub ttl: Option<i64>,
}

#[derive(Debug)]
pub struct DevIdp {
    base: String,
    key: SigningKey,
    /// The one relying party's redirect URI: agent-sts's own
    /// `{issuer}/authorize/callback`.
    callback: String,
    /// Codes issued and not yet redeemed, by SHA-256 of the code.
    codes: Mutex<HashMap<String, login::Issued>>,
}

impl DevIdp {
    /// `base` is e.g. `http://127.0.0.1:8080/dev/idp`, under agent-sts's
    /// issuer (`http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>, now: UnixTime) -> Result<Self, KeyError> {
        let base = base.into();
        let issuer = base.strip_suffix("/dev/idp").unwrap_or(&base);
        Ok(Self {
            callback: format!("{issuer}/authorize/callback"),
            base,
            key: SigningKey::generate(SigningAlg::Rs256, now, now)?,
            codes: Mutex::new(HashMap::new()),
        })
    }

    pub fn issuer(&self, shape: Shape) -> String {
        match shape {
            Shape::Okta => format!("{}/okta/oauth2/default", self.base),
            Shape::Entra => format!("{}/entra/{DEV_TENANT}/v2.0", self.base),
            Shape::Workload => format!("{}/k8s", self.base),
        }
    }

    pub fn jwks_uri(&self, shape: Shape) -> String {
        match shape {
            Shape::Okta => format!("{}/v1/keys", self.issuer(shape)),
            Shape::Entra => format!("{}/entra/{DEV_TENANT}/discovery/v2.0/keys", self.base),
            Shape::Workload => format!("{}/openid/v1/jwks", self.issuer(shape)),
        }
    }

    pub fn discovery(&self, shape: Shape) -> Value {
        let mut doc = json!({
            "issuer": self.issuer(shape),
            "jwks_uri": self.jwks_uri(shape),
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
            "agent_sts_dev_idp": DEV_NOTICE,
        });
        if shape == Shape::Okta {
            // Users sign in here (see `login`): on the issuer's origin, as
            // agent-sts requires of discovered endpoints.
            doc["authorization_endpoint"] = json!(format!("{}/authorize", self.base));
            doc["token_endpoint"] = json!(format!("{}/token", self.base));
            doc["response_types_supported"] = json!(["code"]);
            doc["grant_types_supported"] = json!(["authorization_code"]);
            doc["code_challenge_methods_supported"] = json!(["S256"]);
            doc["token_endpoint_auth_methods_supported"] = json!(["client_secret_basic"]);
            doc["scopes_supported"] = json!(login::SCOPES);
        }
        doc
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.key.public_jwk] })
    }

    /// Mint a token shaped like the chosen vendor's; returns (token, claims).
    pub fn mint(&self, req: &MintRequest, now: UnixTime) -> Result<(String, Value), String> {
        let sub = req.sub.trim();
        if sub.is_empty() || sub.len() > 256 {
            return Err("sub must be 1-256 characters".into());
        }
        let ttl = req.ttl.unwrap_or(3_600);
        if !(1..=MAX_TTL).contains(&ttl) {
            return Err(format!("ttl must be 1-{MAX_TTL} seconds"));
        }
        let groups: Vec<&str> = req
            .groups
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .collect();
        let iss = self.issuer(req.kind);
        let unique = random_id().map_err(|e| e.to_string())?;
        let mut claims = match req.kind {
            Shape::Okta => json!({
                "ver": 1,
                "jti": format!("AT.{unique}"),
                "iss": iss,
                "aud": req.aud.as_deref().unwrap_or(DEV_AUDIENCE),
                "iat": now, "exp": now + ttl, "auth_time": now,
                "cid": "0oadevagenthost",
                "uid": okta_uid(sub),
                "scp": ["openid", "profile", "email"],
                "sub": sub,
                "groups": groups,
            }),
            Shape::Entra => json!({
                "aud": req.aud.as_deref().unwrap_or(DEV_AUDIENCE),
                "iss": iss,
                "iat": now, "nbf": now, "exp": now + ttl,
                "azp": "00000000-0000-4000-8000-0000000a9e17",
                "azpacr": "0",
                "name": sub,
                "oid": uuid_like(sub),
                "preferred_username": sub,
                "scp": "access_as_user",
                "sub": stable_hex(&format!("pairwise:{sub}"))[..43].to_string(),
                "tid": DEV_TENANT,
                "uti": unique,
                "ver": "2.0",
                "groups": groups,
            }),
            Shape::Workload => {
                let principal = if sub.starts_with("system:serviceaccount:") {
                    sub.to_string()
                } else {
                    let (ns, name) = sub.split_once('/').unwrap_or(("agents", sub));
                    format!("system:serviceaccount:{ns}:{name}")
                };
                let mut parts = principal.splitn(4, ':').skip(2);
                let (ns, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                json!({
                    "aud": [req.aud.as_deref().unwrap_or(DEV_WORKLOAD_AUDIENCE)],
                    "iss": iss,
                    "iat": now, "nbf": now, "exp": now + ttl,
                    "sub": principal,
                    "kubernetes.io": {
                        "namespace": ns,
                        "serviceaccount": { "name": name, "uid": uuid_like(&principal) },
                    },
                })
            }
        };
        claims["agent_sts_dev_idp"] = json!(DEV_NOTICE);
        let typ = if req.kind == Shape::Workload {
            "JWT"
        } else {
            "at+jwt"
        };
        let token = sign_jwt(&self.key, typ, &claims).map_err(|e| e.to_string())?;
        Ok((token, claims))
    }
}

/// Okta's immutable user id (`00u…`) for a login, stable across starts.
fn okta_uid(login: &str) -> String {
    format!("00u{}", &stable_hex(login)[..17])
}

fn stable_hex(s: &str) -> String {
    crate::digest::sha256_hex(s.as_bytes())
}

/// A stable UUID-shaped id for a name, like Entra's `oid`.
fn uuid_like(s: &str) -> String {
    let h = stable_hex(s);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: Shape, sub: &str) -> MintRequest {
        MintRequest {
            kind,
            sub: sub.into(),
            groups: Some("Support-Agents, Everyone".into()),
            aud: None,
            ttl: None,
        }
    }

    #[test]
    fn okta_shape_has_okta_claims_and_the_dev_notice() {
        let idp = DevIdp::new("http://127.0.0.1:8080/dev/idp", 1_000).unwrap();
        let (_, c) = idp
            .mint(&req(Shape::Okta, "alice@example.com"), 1_000)
            .unwrap();
        assert_eq!(
            c["iss"],
            "http://127.0.0.1:8080/dev/idp/okta/oauth2/default"
        );
        assert_eq!(c["sub"], "alice@example.com");
        assert_eq!(c["groups"], json!(["Support-Agents", "Everyone"]));
        assert_eq!(c["exp"], 4_600);
        assert!(c["uid"].as_str().unwrap().starts_with("00u"));
        assert_eq!(c["agent_sts_dev_idp"], DEV_NOTICE);
    }

    #[test]
    fn entra_shape_uses_oid_and_tid() {
        let idp = DevIdp::new("http://127.0.0.1:8080/dev/idp", 0).unwrap();
        let (_, c) = idp
            .mint(&req(Shape::Entra, "alice@contoso.com"), 0)
            .unwrap();
        assert_eq!(c["tid"], DEV_TENANT);
        assert_eq!(c["ver"], "2.0");
        assert_eq!(c["oid"], uuid_like("alice@contoso.com"));
        assert_ne!(c["sub"], c["oid"]);
    }

    #[test]
    fn workload_shape_is_a_service_account() {
        let idp = DevIdp::new("http://127.0.0.1:8080/dev/idp", 0).unwrap();
        let (_, c) = idp
            .mint(&req(Shape::Workload, "agents/support-bot"), 0)
            .unwrap();
        assert_eq!(c["sub"], "system:serviceaccount:agents:support-bot");
        assert_eq!(c["kubernetes.io"]["serviceaccount"]["name"], "support-bot");
    }

    #[test]
    fn refuses_bad_ttl_and_empty_subject() {
        let idp = DevIdp::new("http://x/dev/idp", 0).unwrap();
        let mut r = req(Shape::Okta, " ");
        assert_eq!(idp.mint(&r, 0).unwrap_err(), "sub must be 1-256 characters");
        r.sub = "alice".into();
        r.ttl = Some(0);
        assert_eq!(idp.mint(&r, 0).unwrap_err(), "ttl must be 1-86400 seconds");
    }
}
