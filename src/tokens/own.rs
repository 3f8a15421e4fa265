//! Our access tokens (RFC 9068): the claims we mint, and verification of a
//! token we issued (delegation chains, actor tokens, introspection).

use serde_json::{Map, Value, json};

use super::keyring::KeyRing;
use crate::clock::UnixTime;
use crate::jose::{Refusal, jws};
use crate::reason::Reason;
use crate::revocation_list::{Ancestor, TokenRef};

/// RFC 9068 §2.1: the `typ` of a JWT access token.
pub const TYP_AT_JWT: &str = "at+jwt";

/// Everything a minted token says; serialised in this claim order.
#[derive(Debug, Clone)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// RFC 8693 §4.1 actor chain, outermost (current) actor first.
    pub act: Option<Value>,
    /// RFC 8693 §4.4: the downstream actor that may present this token.
    pub may_act: Option<Value>,
    /// `{"id", "pattern", ...}`
    pub agent: Value,
    /// The upstream issuer that authenticated the user.
    pub idp: Option<String>,
    /// Entra tenant.
    pub tid: Option<String>,
}

impl AccessClaims {
    pub fn to_json(&self) -> Value {
        let mut c = Map::with_capacity(14);
        c.insert("iss".into(), json!(self.iss));
        c.insert("sub".into(), json!(self.sub));
        c.insert("aud".into(), json!(self.aud));
        c.insert("exp".into(), json!(self.exp));
        c.insert("iat".into(), json!(self.iat));
        c.insert("nbf".into(), json!(self.iat));
        c.insert("jti".into(), json!(self.jti));
        c.insert("client_id".into(), json!(self.client_id));
        c.insert("scope".into(), json!(self.scope));
        if let Some(act) = &self.act {
            c.insert("act".into(), act.clone());
        }
        if let Some(may_act) = &self.may_act {
            c.insert("may_act".into(), may_act.clone());
        }
        c.insert("urn:agent".into(), self.agent.clone());
        if let Some(idp) = &self.idp {
            c.insert("idp".into(), json!(idp));
        }
        if let Some(tid) = &self.tid {
            c.insert("tid".into(), json!(tid));
        }
        Value::Object(c)
    }
}

/// A verified token of ours.
#[derive(Debug, Clone)]
pub struct OwnToken {
    /// The key that signed it.
    pub kid: String,
    pub claims: Map<String, Value>,
    pub jti: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub agent_id: String,
    pub pattern: String,
    pub scopes: Vec<String>,
    /// `urn:agent.report_only.waived`: the group rule a report-only agent
    /// waived to grant this token (or the token it came from).
    pub waived: Option<String>,
    /// `urn:agent.derived_from`: the tokens this one was made from.
    pub ancestors: Vec<Ancestor>,
}

/// `urn:agent.report_only` of a token granted under a report-only waiver.
pub fn report_only_marker(waived: &str) -> Value {
    json!({ "waived": waived })
}

/// `urn:agent.derived_from`, oldest first.
pub fn derived_from(ancestors: &[Ancestor]) -> Value {
    Value::Array(
        ancestors
            .iter()
            .map(|a| json!({"jti": a.jti, "agent": a.agent, "client_id": a.client, "iat": a.iat}))
            .collect(),
    )
}

fn parse_ancestors(v: Option<&Value>) -> Option<Vec<Ancestor>> {
    let Some(v) = v else {
        return Some(Vec::new());
    };
    v.as_array()?
        .iter()
        .map(|a| {
            Some(Ancestor {
                jti: a.get("jti")?.as_str()?.to_string(),
                agent: a.get("agent")?.as_str()?.to_string(),
                client: a.get("client_id")?.as_str()?.to_string(),
                iat: a.get("iat")?.as_i64()?,
            })
        })
        .collect()
}

impl OwnToken {
    /// This token as the ancestor of one derived from it.
    pub fn as_ancestor(&self) -> Ancestor {
        Ancestor {
            jti: self.jti.clone(),
            agent: self.agent_id.clone(),
            client: self.client_id.clone(),
            iat: self.iat,
        }
    }

    pub fn act(&self) -> Option<&Value> {
        self.claims.get("act")
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// What the revocation view checks: this token and its ancestors.
    pub fn token_ref(&self) -> TokenRef<'_> {
        TokenRef {
            jti: Some(&self.jti),
            sub: &self.sub,
            idp: self.str_claim("idp"),
            agent: &self.agent_id,
            client: &self.client_id,
            iat: self.iat,
            ancestors: &self.ancestors,
        }
    }

    /// How many actors the token's chain holds.
    pub fn chain_depth(&self) -> usize {
        let mut depth = 0;
        let mut act = self.act();
        while let Some(a) = act {
            depth += 1;
            act = a.get("act");
        }
        depth
    }
}

fn invalid(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::InvalidOwnToken, detail)
}

/// Verify a token we issued: our `iss`, `typ: at+jwt`, a key of ours that
/// may verify now (active or retired), unexpired.
pub fn verify_own(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<OwnToken, Refusal> {
    verify_own_parsed(ring, issuer, jws::parse(token)?, now)
}

/// [`verify_own`] of a token already split and decoded.
pub fn verify_own_parsed(
    ring: &KeyRing,
    issuer: &str,
    jws: jws::Jws<'_>,
    now: UnixTime,
) -> Result<OwnToken, Refusal> {
    if jws.header.typ.as_deref() != Some(TYP_AT_JWT) {
        return Err(invalid("a token of ours has typ at+jwt"));
    }
    let kid = jws
        .header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("the token has no kid"))?;
    let key = ring.verifier(kid, now).ok_or_else(|| {
        Refusal::new(
            Reason::UnknownKey,
            format!("kid {kid:?} is not one of our verifying keys"),
        )
    })?;
    if key.alg.as_str() != alg_name(jws.header.alg) {
        return Err(Refusal::new(
            Reason::KeyMismatch,
            "the algorithm is not the key's",
        ));
    }
    if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
        return Err(Refusal::new(
            Reason::BadSignature,
            "the signature does not verify",
        ));
    }
    let c = jws.claims;
    if c.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Refusal::new(
            Reason::UnknownIssuer,
            "the token was not issued by this agent-sts",
        ));
    }
    let exp = c
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("the token has no exp"))?;
    if now >= exp {
        return Err(Refusal::new(
            Reason::Expired,
            format!("the token expired {}s ago", now.saturating_sub(exp)),
        ));
    }
    let text = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_string);
    let required =
        |name: &str| text(name).ok_or_else(|| invalid(format!("the token has no {name}")));
    let agent = c.get("urn:agent");
    let field = |name: &str| {
        agent
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let ancestors = parse_ancestors(agent.and_then(|a| a.get("derived_from")))
        .ok_or_else(|| invalid("urn:agent.derived_from is malformed"))?;
    Ok(OwnToken {
        kid: kid.to_string(),
        jti: required("jti")?,
        sub: required("sub")?,
        aud: required("aud")?,
        client_id: required("client_id")?,
        iat: c
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("the token has no iat"))?,
        exp,
        agent_id: field("id").ok_or_else(|| invalid("the token has no urn:agent.id"))?,
        pattern: field("pattern").ok_or_else(|| invalid("the token has no urn:agent.pattern"))?,
        scopes: text("scope")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        waived: agent
            .and_then(|a| a.get("report_only"))
            .and_then(|r| r.get("waived"))
            .and_then(Value::as_str)
            .map(str::to_string),
        ancestors,
        claims: c,
    })
}

fn alg_name(alg: crate::config::UpstreamAlg) -> &'static str {
    use crate::config::UpstreamAlg as A;
    match alg {
        A::RS256 => "RS256",
        A::RS384 => "RS384",
        A::RS512 => "RS512",
        A::PS256 => "PS256",
        A::ES256 => "ES256",
        A::ES384 => "ES384",
        A::EdDSA => "EdDSA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::keys::{SigningAlg, SigningKey};
    use crate::tokens::sign_jwt;

    const ISS: &str = "https://sts.example.com";

    fn claims(exp: UnixTime, act: Option<Value>) -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            sub: "00u1".into(),
            aud: "https://mcp".into(),
            exp,
            iat: 1_000,
            jti: "j1".into(),
            client_id: "bot".into(),
            scope: "a:b c:d".into(),
            act,
            may_act: None,
            agent: json!({"id": "bot", "pattern": "obo"}),
            idp: Some("https://idp".into()),
            tid: None,
        }
    }

    fn ring() -> KeyRing {
        KeyRing::new(vec![SigningKey::generate(SigningAlg::Es256, 0, 0).unwrap()])
    }

    #[test]
    fn mints_and_verifies_with_chain_depth() {
        let ring = ring();
        let key = ring.signer(1_000).unwrap();
        let act = json!({"sub": "agent-2", "act": {"sub": "agent-1"}});
        let token = sign_jwt(key, TYP_AT_JWT, &claims(2_000, Some(act)).to_json()).unwrap();
        let own = verify_own(&ring, ISS, &token, 1_500).unwrap();
        assert_eq!(
            (
                own.sub.as_str(),
                own.agent_id.as_str(),
                own.pattern.as_str()
            ),
            ("00u1", "bot", "obo")
        );
        assert_eq!(own.scopes, ["a:b", "c:d"]);
        assert_eq!(own.chain_depth(), 2);
        assert_eq!(own.claims["nbf"], 1_000);
    }

    /// Signed by our own key, so only a stolen key could send these; still,
    /// in a debug build no claim value may panic the verifier.
    #[test]
    fn extreme_times_in_our_own_tokens_never_panic() {
        use proptest::prelude::*;
        let ring = ring();
        let key = ring.signer(1_000).unwrap();
        let strategy = (
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                prop::sample::select(vec![i64::MIN, i64::MAX, -1, 0]).prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
            ],
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                prop::sample::select(vec![i64::MIN, i64::MAX]).prop_map(Value::from),
                Just(Value::Null),
            ],
        );
        let mut runner =
            proptest::test_runner::TestRunner::new(proptest::test_runner::Config::with_cases(64));
        runner
            .run(&strategy, |(exp, iat)| {
                let mut c = claims(2_000, None).to_json();
                c["exp"] = exp;
                c["iat"] = iat;
                let token = sign_jwt(key, TYP_AT_JWT, &c).unwrap();
                match verify_own(&ring, ISS, &token, 1_500) {
                    Ok(o) => prop_assert!(o.exp > 1_500),
                    Err(r) => prop_assert!(matches!(
                        r.reason,
                        Reason::Expired | Reason::InvalidOwnToken
                    )),
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn refusals() {
        let ring = ring();
        let key = ring.signer(1_000).unwrap();
        let good = claims(2_000, None).to_json();
        let cases: Vec<(String, Reason)> = vec![
            (
                sign_jwt(key, "JWT", &good).unwrap(),
                Reason::InvalidOwnToken,
            ),
            (
                sign_jwt(key, TYP_AT_JWT, &claims(1_200, None).to_json()).unwrap(),
                Reason::Expired,
            ),
            (
                sign_jwt(
                    key,
                    TYP_AT_JWT,
                    &json!({"iss": "https://other", "exp": 2_000, "jti": "j", "iat": 1_000}),
                )
                .unwrap(),
                Reason::UnknownIssuer,
            ),
            (
                sign_jwt(
                    &SigningKey::generate(SigningAlg::Es256, 0, 0).unwrap(),
                    TYP_AT_JWT,
                    &good,
                )
                .unwrap(),
                Reason::UnknownKey,
            ),
        ];
        for (token, want) in cases {
            assert_eq!(
                verify_own(&ring, ISS, &token, 1_500).unwrap_err().reason,
                want
            );
        }
        // Another payload under a genuine signature.
        let token = sign_jwt(key, TYP_AT_JWT, &good).unwrap();
        let other = sign_jwt(key, TYP_AT_JWT, &claims(3_000, None).to_json()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert_eq!(
            verify_own(&ring, ISS, &forged, 1_500).unwrap_err().reason,
            Reason::BadSignature
        );
    }
}
