//! Our tokens as introspection answers them, verified once and cached by
//! the token's SHA-256 until their `exp` (a repeat does no signature work).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::keyring::KeyRing;
use super::own::verify_own;
use crate::clock::UnixTime;
use crate::reason::Reason;
use crate::revocation_list::{Ancestor, TokenRef};
use crate::token_cache::TokenCache;

/// Entries of the verified-token cache ([`VerifiedCache`]): about 750
/// bytes each (heaptrack, issue 21), so at most ~11 MB; past that the cache
/// empties and refills (first-seen cost, one ES256 verification, for each
/// token again). Tokens introspected again and again — an agent's tool
/// calls — are the ones that stay; a flood of distinct tokens gains nothing
/// from a larger cache, only memory.
pub const CACHE_MAX_ENTRIES: usize = crate::token_cache::DEFAULT_MAX_ENTRIES;

/// A verified token of ours and its precomputed active answer.
#[derive(Debug)]
pub struct Verified {
    /// The key that signed it: a cache hit is honoured only while our ring
    /// still verifies with that key (a deleted key ends it at once).
    pub kid: String,
    pub jti: String,
    pub sub: String,
    pub aud: String,
    pub idp: Option<String>,
    pub agent: String,
    pub client: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    /// The tokens it was derived from: revoking any of them ends it too.
    pub ancestors: Vec<Ancestor>,
    /// `{"active": true, ...}`, serialised once (the only copy: an entry
    /// is about 1 KB, so the cache's bound is also its memory bound).
    pub active_body: Arc<str>,
}

impl Verified {
    pub fn token_ref(&self) -> TokenRef<'_> {
        TokenRef {
            jti: Some(&self.jti),
            sub: &self.sub,
            idp: self.idp.as_deref(),
            agent: &self.agent,
            client: &self.client,
            iat: self.iat,
            ancestors: &self.ancestors,
        }
    }
}

/// Verified tokens of ours by SHA-256, until their `exp`.
pub type VerifiedCache = TokenCache<Arc<Verified>>;

/// Verify a token of ours and precompute its active introspection answer.
pub fn verify(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<Verified, Reason> {
    let own = verify_own(ring, issuer, token, now).map_err(|r| r.reason)?;
    let c = &own.claims;
    let text = |n: &str| c.get(n).and_then(Value::as_str).map(str::to_string);
    let mut active = Map::new();
    active.insert("active".into(), json!(true));
    for name in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "nbf",
        "jti",
    ] {
        if let Some(v) = c.get(name) {
            active.insert(name.into(), v.clone());
        }
    }
    active.insert("token_type".into(), json!("Bearer"));
    for name in ["act", "may_act", "urn:agent", "idp", "tid"] {
        if let Some(v) = c.get(name) {
            active.insert(name.into(), v.clone());
        }
    }
    let body: Arc<str> = Value::Object(active).to_string().into();
    Ok(Verified {
        kid: own.kid,
        jti: own.jti,
        aud: own.aud,
        idp: text("idp"),
        client: own.client_id,
        iat: own.iat,
        exp: own.exp,
        agent: own.agent_id,
        sub: own.sub,
        ancestors: own.ancestors,
        active_body: body,
    })
}
