//! One upstream's keys: fetched through discovery or an explicit
//! `jwks_uri`, verifiers built once per key, refetched on an unknown `kid`
//! (concurrent callers share one fetch; at most one per `keys_min_refetch`),
//! refreshed periodically, and served from cache while the IdP is down for
//! at most `keys_stale_for` after the last successful fetch.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use josekit::jwk::Jwk;
use serde_json::{Value, json};

use super::Refusal;
use super::fetch;
use crate::clock::UnixTime;
use crate::config::UpstreamAlg;
use crate::jose::verifier::Verifier;
use crate::reason::Reason;

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// OIDC discovery; its `issuer` must equal `expected_issuer`.
    Discovery {
        url: String,
        expected_issuer: String,
    },
    Jwks {
        url: String,
    },
    /// Keys given in the configuration (a client\'s inline JWKS).
    Inline(Value),
}

/// A key with a verifier for each allowed algorithm its type fits.
pub struct CachedKey {
    verifiers: Vec<(UpstreamAlg, Verifier)>,
}

impl CachedKey {
    pub fn verifier(&self, alg: UpstreamAlg) -> Option<&Verifier> {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v)
    }
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Arc<CachedKey>>,
    /// Last successful fetch.
    fetched_at: Option<UnixTime>,
    last_attempt: Option<UnixTime>,
    /// Last fetch caused by a request (unknown kid, keys too old): these
    /// are rate-limited so a spray of random kids cannot hammer the IdP.
    last_on_demand: Option<UnixTime>,
    refresh_every: i64,
    error: Option<String>,
    generation: u64,
    /// From discovery, when it names them (each on the issuer's origin).
    endpoints: Endpoints,
}

/// The endpoints a discovery document names that we send credentials or
/// users to: only those on the issuer's own origin are kept.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub introspection: Option<String>,
    pub authorization: Option<String>,
    pub token: Option<String>,
}

pub struct KeyCache {
    source: KeySource,
    allowed: Vec<UpstreamAlg>,
    min_refetch: i64,
    stale_for: i64,
    state: RwLock<State>,
    refresh: tokio::sync::Mutex<()>,
    /// The upstream's name, for the refresh metric (client JWKS have none).
    metric_label: Option<String>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    pub fn new(
        source: KeySource,
        allowed: Vec<UpstreamAlg>,
        min_refetch: i64,
        stale_for: i64,
    ) -> Self {
        Self {
            source,
            allowed,
            min_refetch,
            stale_for,
            state: RwLock::new(State::default()),
            refresh: tokio::sync::Mutex::new(()),
            metric_label: None,
        }
    }

    /// Count this cache's fetches under `upstream` in `/metrics`.
    pub fn with_metric_label(mut self, upstream: &str) -> Self {
        self.metric_label = Some(upstream.to_string());
        self
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.state.read() {
            Ok(s) => f(&s),
            Err(p) => f(&p.into_inner()),
        }
    }

    fn write(&self, f: impl FnOnce(&mut State)) {
        match self.state.write() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub fn introspection_endpoint(&self) -> Option<String> {
        self.read(|s| s.endpoints.introspection.clone())
    }

    /// The endpoints discovery named (empty until keys were fetched once).
    pub fn endpoints(&self) -> Endpoints {
        self.read(|s| s.endpoints.clone())
    }

    /// The key for `kid` that can verify `alg`, fetching if needed.
    pub async fn key(
        &self,
        client: &reqwest::Client,
        kid: Option<&str>,
        alg: UpstreamAlg,
        now: UnixTime,
    ) -> Result<Arc<CachedKey>, Refusal> {
        let (found, usable, generation) = self.lookup(kid, now);
        let key = match found {
            Some(k) if usable => k,
            _ => {
                // Unknown kid, or keys too old to trust: one (shared) refetch.
                self.refresh(client, now, Some(generation)).await;
                let (found, usable, _) = self.lookup(kid, now);
                if !usable {
                    return Err(self.unavailable(now));
                }
                found.ok_or_else(|| {
                    let kid = kid.unwrap_or("");
                    // Say when the JWKS could not be read afresh: the key
                    // may exist at the IdP.
                    let detail = match self.read(|s| s.error.clone()) {
                        Some(e) => format!(
                            "kid {kid:?} is not among the cached keys, and refreshing them failed ({e})"
                        ),
                        None => format!("kid {kid:?} is not in the issuer's JWKS"),
                    };
                    Refusal::new(Reason::UnknownKey, detail)
                })?
            }
        };
        if key.verifier(alg).is_none() {
            return Err(Refusal::new(
                Reason::KeyMismatch,
                format!(
                    "key {:?} cannot verify {alg:?} signatures",
                    kid.unwrap_or("")
                ),
            ));
        }
        Ok(key)
    }

    /// (key, keys usable at `now`, generation)
    fn lookup(&self, kid: Option<&str>, now: UnixTime) -> (Option<Arc<CachedKey>>, bool, u64) {
        self.read(|s| {
            let usable = s.fetched_at.is_some_and(|t| now - t < self.stale_for);
            let key = match kid {
                Some(kid) => s.keys.get(kid).cloned(),
                // No kid: acceptable only when the set has exactly one key.
                None if s.keys.len() == 1 => s.keys.values().next().cloned(),
                None => None,
            };
            (key, usable, s.generation)
        })
    }

    fn unavailable(&self, now: UnixTime) -> Refusal {
        let detail = self.read(|s| match (&s.error, s.fetched_at) {
            (Some(e), Some(t)) => format!(
                "the issuer's keys could not be refreshed ({e}); the cache is {}s old",
                now - t
            ),
            (Some(e), None) => format!("the issuer's keys could not be fetched ({e})"),
            (None, _) => "the issuer's keys have not been fetched".into(),
        });
        Refusal::new(Reason::UpstreamKeysUnavailable, detail)
    }

    /// Whether a periodic refresh is due.
    pub fn refresh_due(&self, now: UnixTime) -> bool {
        self.read(|s| match (s.fetched_at, s.last_attempt) {
            (Some(t), Some(a)) => now - t >= s.refresh_every && now - a >= self.min_refetch,
            (None, Some(a)) => now - a >= self.min_refetch,
            _ => true,
        })
    }

    /// Fetch the keys. On demand (`seen` = the generation the caller
    /// looked at), skip if another caller refreshed meanwhile, or if the
    /// last on-demand fetch is within `min_refetch`.
    pub async fn refresh(&self, client: &reqwest::Client, now: UnixTime, seen: Option<u64>) {
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(seen) = seen {
            let skip = self.read(|s| {
                s.generation != seen || s.last_on_demand.is_some_and(|a| now - a < self.min_refetch)
            });
            if skip {
                return;
            }
        }
        let result = self.fetch(client).await;
        if let Some(upstream) = &self.metric_label {
            crate::metrics::key_refresh(upstream, result.is_ok());
        }
        self.write(|s| {
            s.last_attempt = Some(now);
            // A successful first fetch is not a refetch: it does not
            // start the rate-limit interval.
            if seen.is_some() && (s.fetched_at.is_some() || result.is_err()) {
                s.last_on_demand = Some(now);
            }
            s.generation += 1;
            match result {
                Ok((keys, max_age, endpoints)) => {
                    s.keys = keys;
                    s.fetched_at = Some(now);
                    s.error = None;
                    // Refresh at the IdP's max-age, but at least twice per
                    // stale bound, and not more often than once a minute.
                    let half = (self.stale_for / 2).max(60);
                    s.refresh_every = max_age.map_or(half, |m| (m as i64).clamp(60, half));
                    if let Some(endpoints) = endpoints {
                        s.endpoints = endpoints;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "upstream key refresh failed");
                    s.error = Some(e);
                }
            }
        });
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
    ) -> Result<
        (
            HashMap<String, Arc<CachedKey>>,
            Option<u64>,
            Option<Endpoints>,
        ),
        String,
    > {
        let (jwks_uri, endpoints) = match &self.source {
            KeySource::Inline(jwks) => return Ok((self.build_keys(jwks)?, None, None)),
            KeySource::Jwks { url } => (url.clone(), None),
            KeySource::Discovery {
                url,
                expected_issuer,
            } => {
                let doc = fetch::get_json(client, url)
                    .await
                    .map_err(|e| format!("discovery {e}"))?
                    .body;
                let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
                if issuer != expected_issuer {
                    return Err(format!(
                        "discovery names issuer {issuer:?}, not the configured {expected_issuer:?}"
                    ));
                }
                let jwks = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or("discovery has no jwks_uri")?;
                // What discovery names obeys the rules a configured URL
                // does; a refusal keeps the keys already cached.
                let jwks = crate::config::check_public_url(jwks)
                    .map_err(|m| self.refused_discovery(format!("discovery's jwks_uri {m}")))?
                    .to_string();
                let endpoint = |name: &str| {
                    doc.get(name)
                        .and_then(Value::as_str)
                        .and_then(|e| self.credentials_endpoint(name, e, expected_issuer))
                };
                let endpoints = Endpoints {
                    introspection: endpoint("introspection_endpoint"),
                    authorization: endpoint("authorization_endpoint"),
                    token: endpoint("token_endpoint"),
                };
                (jwks, Some(endpoints))
            }
        };
        let fetched = fetch::get_json(client, &jwks_uri)
            .await
            .map_err(|e| format!("JWKS {e}"))?;
        let keys = self.build_keys(&fetched.body)?;
        Ok((keys, fetched.max_age, endpoints))
    }

    /// Count and log a discovered URL we refuse to use; the message.
    fn refused_discovery(&self, message: String) -> String {
        tracing::warn!(
            upstream = self.metric_label.as_deref().unwrap_or(""),
            "refused a URL from the IdP's discovery document: {message}"
        );
        if let Some(upstream) = &self.metric_label {
            crate::metrics::discovery_refused(upstream);
        }
        message
    }

    /// Discovery's `introspection_endpoint` and `token_endpoint` are where
    /// our client secret and users' tokens would be sent, its
    /// `authorization_endpoint` where users are sent to sign in: each only
    /// when it obeys the URL rules and is on the issuer's own origin
    /// (otherwise configure it by hand).
    fn credentials_endpoint(&self, name: &str, endpoint: &str, issuer: &str) -> Option<String> {
        let origin = |u: &url::Url| u.origin();
        let checked =
            crate::config::check_public_url(endpoint).and_then(|e| match url::Url::parse(issuer) {
                Ok(i) if origin(&i) == origin(&e) => Ok(e),
                _ => Err(format!(
                    "\"{e}\" is not on the issuer's origin, and credentials go only there \
                     (configure it by hand to use it)"
                )),
            });
        match checked {
            Ok(e) => Some(e.to_string()),
            Err(m) => {
                self.refused_discovery(format!("discovery's {name} {m}"));
                None
            }
        }
    }

    fn build_keys(&self, jwks: &Value) -> Result<HashMap<String, Arc<CachedKey>>, String> {
        let list = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWKS has no keys array")?;
        let mut keys = HashMap::new();
        for raw in list {
            let Some(map) = raw.as_object() else { continue };
            if map.get("use").is_some_and(|u| u != "sig") {
                continue;
            }
            if let Some(ops) = map.get("key_ops").and_then(Value::as_array)
                && !ops.iter().any(|o| o == "verify")
            {
                continue;
            }
            // Only the public members: a JWKS that leaked a private key
            // must not make us hold it.
            let mut public = map.clone();
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                public.remove(private);
            }
            let Ok(jwk) = Jwk::from_map(public) else {
                continue;
            };
            let verifiers = self.verifiers_for(&jwk);
            if !verifiers.is_empty() {
                let kid = jwk.key_id().unwrap_or("").to_string();
                keys.insert(kid, Arc::new(CachedKey { verifiers }));
            }
        }
        Ok(keys)
    }

    fn verifiers_for(&self, jwk: &Jwk) -> Vec<(UpstreamAlg, Verifier)> {
        let declared = jwk.algorithm().and_then(super::jws::parse_alg);
        if jwk.algorithm().is_some() && declared.is_none() {
            return Vec::new();
        }
        self.allowed
            .iter()
            .filter(|alg| declared.is_none_or(|d| d == **alg))
            .filter_map(|&alg| Verifier::from_jwk(jwk, alg).map(|v| (alg, v)))
            .collect()
    }

    /// For `/readyz`: ok, stale (serving from cache while failing),
    /// unavailable, or never fetched.
    pub fn health(&self, now: UnixTime) -> Value {
        self.read(|s| {
            let state = match (s.fetched_at, &s.error) {
                (Some(t), _) if now - t >= self.stale_for => "unavailable",
                (Some(_), Some(_)) => "stale",
                (Some(_), None) => "ok",
                (None, Some(_)) => "unavailable",
                (None, None) => "not_fetched",
            };
            json!({
                "state": state,
                "keys": s.keys.len(),
                "age_seconds": s.fetched_at.map(|t| now - t),
                "error": s.error,
            })
        })
    }
}
