//! RFC 7662 back-channel introspection at the IdP ("never trust JWT claims
//! on a long-lived token without a back-channel check"). Answers are cached
//! by the token's SHA-256 for at most min(60 s, the token's remaining
//! lifetime). Any failure to ask refuses the token: fail closed.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::{Refusal, fetch};
use crate::clock::UnixTime;
use crate::config::SecretString;
use crate::reason::Reason;

const CACHE_SECONDS: i64 = 60;

/// SHA-256 of a token → (cache until, the active answer's claims or None).
type AnswerCache = HashMap<[u8; 32], (UnixTime, Option<Map<String, Value>>)>;
const CACHE_MAX_ENTRIES: usize = 100_000;

pub struct Introspector {
    /// Configured endpoint; otherwise discovery's.
    endpoint: Option<String>,
    client_id: String,
    client_secret: SecretString,
    cache: Mutex<AnswerCache>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Introspector {
    pub fn new(endpoint: Option<String>, client_id: String, client_secret: SecretString) -> Self {
        Self {
            endpoint,
            client_id,
            client_secret,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The IdP's answer for an active token (its claims), or a refusal.
    pub async fn check(
        &self,
        client: &reqwest::Client,
        discovered: Option<String>,
        token: &str,
        exp: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<Map<String, Value>, Refusal> {
        let key = digest(token);
        if let Some(answer) = self.cached(&key, now) {
            return answer.ok_or_else(inactive);
        }
        let endpoint = self.endpoint.clone().or(discovered).ok_or_else(|| {
            unavailable("no introspection endpoint is configured or discovered".into())
        })?;
        let resp = client
            .post(&endpoint)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| unavailable(fetch::describe(&e)))?;
        let body = fetch::read_json(resp).await.map_err(unavailable)?.body;
        let answer = match body.get("active") {
            Some(Value::Bool(true)) => Some(body.as_object().cloned().unwrap_or_default()),
            Some(Value::Bool(false)) => None,
            _ => return Err(unavailable("the answer has no boolean \"active\"".into())),
        };
        let until = exp.map_or(now + CACHE_SECONDS, |e| e.min(now + CACHE_SECONDS));
        self.remember(key, until, answer.clone(), now);
        answer.ok_or_else(inactive)
    }

    fn cached(&self, key: &[u8; 32], now: UnixTime) -> Option<Option<Map<String, Value>>> {
        let cache = self.cache.lock().ok()?;
        let (until, answer) = cache.get(key)?;
        (now < *until).then(|| answer.clone())
    }

    fn remember(
        &self,
        key: [u8; 32],
        until: UnixTime,
        answer: Option<Map<String, Value>>,
        now: UnixTime,
    ) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX_ENTRIES {
                cache.retain(|_, (u, _)| *u > now);
            }
            if cache.len() < CACHE_MAX_ENTRIES {
                cache.insert(key, (until, answer));
            }
        }
    }
}

fn inactive() -> Refusal {
    Refusal::new(
        Reason::UpstreamInactive,
        "the identity provider says the token is not active",
    )
}

fn unavailable(why: String) -> Refusal {
    Refusal::new(
        Reason::UpstreamIntrospectionUnavailable,
        format!("the identity provider's introspection endpoint could not be asked: {why}"),
    )
}
