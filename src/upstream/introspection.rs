//! RFC 7662 back-channel introspection at the IdP ("never trust JWT claims
//! on a long-lived token without a back-channel check"). Answers are cached
//! by the token's SHA-256 for at most min(60 s, the token's remaining
//! lifetime). Any failure to ask refuses the token: fail closed.

use serde_json::{Map, Value};

use super::{Refusal, fetch};
use crate::clock::UnixTime;
use crate::config::SecretString;
use crate::reason::Reason;
use crate::token_cache::{TokenCache, digest};

const CACHE_SECONDS: i64 = 60;

pub struct BackChannel {
    /// Configured endpoint; otherwise discovery's.
    endpoint: Option<String>,
    client_id: String,
    client_secret: SecretString,
    /// The active answer's claims, or None for inactive.
    cache: TokenCache<Option<Map<String, Value>>>,
}

impl std::fmt::Debug for BackChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackChannel")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl BackChannel {
    pub fn new(endpoint: Option<String>, client_id: String, client_secret: SecretString) -> Self {
        Self {
            endpoint,
            client_id,
            client_secret,
            cache: TokenCache::default(),
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
        if let Some(answer) = self.cache.get(&key, now) {
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
        self.cache.put(key, until, answer.clone(), now);
        answer.ok_or_else(inactive)
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
