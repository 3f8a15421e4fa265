//! Helpers over the fixture: send a request over HTTP and to the domain,
//! assert refusals (status, exact body, `no-store`, reason) and grants
//! (the token verified with our JWKS through josekit, every claim).

pub use super::fixture::*;
pub use super::request::*;

use agent_sts::clock::Clock;
use agent_sts::error::ErrorCode;
use agent_sts::grants::{self, TokenResponse};
use agent_sts::policy::Denial;
use agent_sts::reason::Reason;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::fake_idp::{SignWith, SigningKey, claims_of, sign};
use crate::helpers::{header, json_body, random_hex};

/// A minted token, verified through our JWKS.
pub struct Minted {
    pub token: String,
    pub body: Value,
    pub header: Value,
    pub claims: Value,
}

/// What every claim of a minted token must be, besides the times and `jti`.
pub struct Want<'a> {
    pub sub: &'a str,
    pub aud: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub act: Option<Value>,
    pub agent: Value,
    pub idp: Option<&'a str>,
    pub tid: Option<&'a str>,
    /// `exp - iat`.
    pub lifetime: i64,
}

impl Sts {
    pub fn now(&self) -> i64 {
        self.t.clock.now()
    }

    pub fn basic(&self, client: &str) -> Auth {
        Auth::Basic(client.into(), self.secret.clone())
    }

    pub fn post(&self, client: &str) -> Auth {
        Auth::Post(client.into(), self.secret.clone())
    }

    /// An Okta user access token for `login` with `groups`.
    pub fn user(&self, login: &str, groups: &[&str]) -> String {
        self.okta.access_token(login).groups(groups).mint()
    }

    /// A workload token from the `k8s` issuer for `principal`.
    pub fn workload(&self, principal: &str) -> String {
        self.k8s
            .service_token("x")
            .aud(WORKLOAD_AUD)
            .claim("sub", principal.into())
            .remove("cid")
            .mint()
    }

    /// A signed-bot client assertion; `edit` changes the claims first.
    pub fn assertion(&self, edit: impl FnOnce(&mut Value)) -> String {
        self.assertion_signed_by(&self.signer, edit)
    }

    /// A client assertion under `key` (signed-bot's kid, whatever the key).
    pub fn assertion_signed_by(&self, key: &SigningKey, edit: impl FnOnce(&mut Value)) -> String {
        let now = self.now();
        let mut claims = json!({
            "iss": "signed-bot", "sub": "signed-bot", "aud": format!("{}/token", self.t.base),
            "iat": now, "exp": now + 120, "jti": random_hex(16),
        });
        edit(&mut claims);
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": SIGNED_KID});
        sign(header, claims, SignWith::Key(key))
    }

    pub async fn send(&self, req: &Req) -> reqwest::Response {
        let mut http = self.t.client.post(self.t.url("/token")).form(&req.body());
        if let Auth::Basic(id, secret) = &req.auth {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let creds = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
            http = http.header("authorization", format!("Basic {creds}"));
        }
        http.send()
            .await
            .expect("request must reach the test server")
    }

    /// `grants::token` called directly with the request's inputs.
    pub async fn domain(&self, req: &Req) -> Result<TokenResponse, Denial> {
        let (presented, request) = req.domain();
        grants::token(&self.t.app.grants(), presented, &request)
            .await
            .1
    }

    /// Refused over HTTP with exactly `status` and
    /// `{"error", "error_description"}`, and by the domain call with
    /// `reason`. Returns the HTTP response's headers.
    pub async fn refused(
        &self,
        req: &Req,
        status: u16,
        error: ErrorCode,
        description: &str,
        reason: Reason,
    ) -> reqwest::header::HeaderMap {
        let headers = self
            .refused_http(req, status, error.as_str(), description)
            .await;
        match self.domain(req).await {
            Ok(r) => panic!("the domain call granted {:?}", r.scope),
            Err(d) => assert_eq!(d, Denial::new(error, reason, description)),
        }
        headers
    }

    /// Refused over HTTP only (form-level refusals, one-time assertions).
    pub async fn refused_http(
        &self,
        req: &Req,
        status: u16,
        error: &str,
        description: &str,
    ) -> reqwest::header::HeaderMap {
        let res = self.send(req).await;
        assert_eq!(res.status().as_u16(), status, "status");
        assert_eq!(header(&res, "cache-control"), "no-store");
        let headers = res.headers().clone();
        let body = json_body(res).await;
        assert_eq!(
            body,
            json!({"error": error, "error_description": description})
        );
        headers
    }

    /// Granted over HTTP (200, `no-store`, the RFC 8693 response), the
    /// token verified with our JWKS; the domain call grants too unless the
    /// request carries a one-time assertion.
    pub async fn granted(&self, req: &Req) -> Minted {
        let res = self.send(req).await;
        let status = res.status().as_u16();
        let cache = header(&res, "cache-control");
        let body = json_body(res).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(cache, "no-store");
        let token = body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        let (header, claims) = self.verify(&token).await;
        let expires_in = claims["exp"].as_i64().expect("exp") - self.now();
        assert_eq!(
            body,
            json!({
                "access_token": token, "issued_token_type": AT, "token_type": "Bearer",
                "expires_in": expires_in, "scope": claims["scope"],
            })
        );
        if !matches!(req.auth, Auth::Assertion(_)) {
            let again = self.domain(req).await.expect("the domain call grants too");
            assert_eq!(
                (again.scope, again.expires_in),
                (body["scope"].as_str().unwrap().to_string(), expires_in)
            );
        }
        Minted {
            token,
            body,
            header,
            claims,
        }
    }

    /// Verify one of our tokens with josekit against the JWKS served over
    /// HTTP: signature, `iss`, `aud` and times; returns (header, claims).
    pub async fn verify(&self, token: &str) -> (Value, Value) {
        let jwks = json_body(self.t.get("/.well-known/jwks.json").await).await;
        let set = josekit::jwk::JwkSet::from_bytes(jwks.to_string()).expect("JWKS");
        let kid = crate::fake_idp::header_of(token)["kid"]
            .as_str()
            .expect("kid")
            .to_string();
        let jwk = *set.get(&kid).first().expect("the kid is in our JWKS");
        let verifier = josekit::jws::ES256
            .verifier_from_jwk(jwk)
            .expect("ES256 verifier");
        let (payload, header) =
            josekit::jwt::decode_with_verifier(token, &verifier).expect("the signature verifies");
        let mut validator = josekit::jwt::JwtPayloadValidator::new();
        validator.set_issuer(&self.t.base);
        let aud = claims_of(token)["aud"].as_str().expect("aud").to_string();
        validator.set_audience(&aud);
        // The fixture's clock, not the wall clock, for every time check
        // (josekit's iat bound defaults to the wall clock).
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.now() as u64);
        validator.set_base_time(now);
        validator.set_max_issued_time(now);
        validator
            .validate(&payload)
            .expect("iss, aud and times validate");
        (
            Value::Object(header.claims_set().clone()),
            Value::Object(payload.claims_set().clone()),
        )
    }

    /// The header is `{alg: ES256, typ: at+jwt, kid}` and the claims are
    /// exactly `want` plus whole-second times and a 128-bit `jti`.
    pub fn assert_token(&self, m: &Minted, want: Want<'_>) {
        assert_eq!(
            m.header,
            json!({"alg": "ES256", "typ": "at+jwt", "kid": self.t.kid})
        );
        let c = &m.claims;
        let now = self.now();
        for t in ["iat", "nbf", "exp"] {
            assert!(c[t].is_i64(), "{t} is a whole-second NumericDate: {}", c[t]);
        }
        assert_eq!(
            (c["iat"].as_i64(), c["nbf"].as_i64()),
            (Some(now), Some(now))
        );
        assert_eq!(c["exp"].as_i64(), Some(now + want.lifetime), "exp - iat");
        let jti = c["jti"].as_str().expect("jti");
        assert_eq!(
            URL_SAFE_NO_PAD.decode(jti).expect("base64url jti").len(),
            16
        );
        let mut expected = json!({
            "iss": self.t.base, "sub": want.sub, "aud": want.aud,
            "iat": now, "nbf": now, "exp": now + want.lifetime, "jti": jti,
            "client_id": want.client_id, "scope": want.scope, "urn:agent": want.agent,
        });
        if let Some(act) = want.act {
            expected["act"] = act;
        }
        let user_pattern = want.agent["pattern"] != "workload";
        if let Some(may_act) = may_act_for(want.aud).filter(|_| user_pattern) {
            expected["may_act"] = may_act;
        }
        if let Some(idp) = want.idp {
            expected["idp"] = json!(idp);
        }
        if let Some(tid) = want.tid {
            expected["tid"] = json!(tid);
        }
        assert_eq!(*c, expected);
    }
}

/// The `exp` of a (fake IdP or our own) token.
pub fn exp_of(token: &str) -> i64 {
    claims_of(token)["exp"].as_i64().expect("exp")
}
