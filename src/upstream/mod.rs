//! Upstream trust: verifies Okta, Entra ID, OIDC and workload tokens exactly
//! as their issuers would; never mints. The output is a [`VerifiedToken`] or
//! a [`Refusal`] whose reason becomes the audit record's reason code.
//!
//! Order of checks, cheapest and least revealing first: size and shape →
//! header rules (alg allow-list, no jku/x5u/jwk, crit) → issuer routing →
//! signature with a key from *that* issuer's JWKS → tenant → audience →
//! times → required claims → back-channel introspection → profile mapping.
//!
//! A signature that verified is remembered by the token's SHA-256 until the
//! token's `exp` (an agent host exchanges the same user token for each tool
//! and resource it calls): a repeat skips only the signature arithmetic,
//! and only while the issuer's JWKS still serves the very key that
//! verified it (a refresh or a removed key ends it). Every other check,
//! times included, runs on every request.

mod claims;
pub(crate) mod fetch;
mod introspection;
pub(crate) mod jwks_cache;
mod login;
mod profile;
mod times;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::clock::{SharedClock, UnixTime};
use crate::config::{IntrospectMode, TENANT_PLACEHOLDER, UpstreamConfig};
use crate::reason::Reason;
use crate::token_cache::{self, TokenCache};

pub use crate::config::{UpstreamKind, UpstreamUse};
pub use crate::jose::{Refusal, jws};
use introspection::BackChannel;
use jwks_cache::{CachedKey, KeyCache, KeySource};
pub use login::LoginRequest;
pub use profile::TokenShape;

/// What a token must be: an access token addressed to us (the configured
/// `audiences`), an ID token from one upstream's sign-in, or an ID-JAG
/// addressed to our issuer by an upstream that issues them.
#[derive(Debug, Clone, Copy)]
enum Expect<'a> {
    Access,
    IdToken {
        upstream: &'a str,
        client_id: &'a str,
        nonce: &'a str,
    },
    IdJag {
        /// Our issuer: the ID-JAG's `aud`.
        audience: &'a str,
    },
}

/// A user's groups, or "unknown" (Entra groups overage): a scope that needs
/// a group is then refused, never granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    Known(Vec<String>),
    Unknown,
}

#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub upstream: Arc<str>,
    pub kind: UpstreamKind,
    pub usage: UpstreamUse,
    pub issuer: String,
    /// The user's id (Okta `uid`/`sub`, Entra `oid`) or workload principal.
    pub subject: String,
    /// Entra `tid`.
    pub tenant: Option<String>,
    /// The client the IdP issued the token to (`cid`, `azp`, `appid`).
    pub client: Option<String>,
    pub scopes: Vec<String>,
    pub groups: Groups,
    /// An app-only token (Entra `idtyp=app`, or roles without `scp`).
    pub app_only: bool,
    pub issued_at: Option<UnixTime>,
    /// When the token was issued, never later than the truth: its `iat`,
    /// or `exp − max_token_age` when it has none. Revocations compare
    /// against this ("Alice quits" must stop a token issued before it).
    pub issued_by: UnixTime,
    pub expires_at: UnixTime,
    /// What the token is (RFC 8693 §3 token types), from its header and claims.
    pub shape: TokenShape,
    pub jti: Option<String>,
    /// Verified claims, for policy.
    pub claims: Map<String, Value>,
}

impl VerifiedToken {
    /// A workload token: from a workload upstream, or app-only.
    pub fn is_workload(&self) -> bool {
        self.usage == UpstreamUse::Workload || self.app_only
    }
}

struct Upstream {
    name: Arc<str>,
    config: UpstreamConfig,
    /// Entra: (prefix, suffix) around `{tenantid}` of the v2 and v1 issuers.
    templates: Vec<(String, String)>,
    introspect: IntrospectMode,
    keys: KeyCache,
    /// Tokens whose signature verified, with the key that verified them.
    signatures: TokenCache<Arc<CachedKey>>,
    introspector: Option<BackChannel>,
    /// The relying-party secret of `config.login`, resolved at start.
    login_secret: Option<crate::config::SecretString>,
}

impl Upstream {
    fn new(config: &UpstreamConfig) -> Result<Self, String> {
        let at = |f: &str| format!("upstreams.{}.{f}", config.name);
        let first_tenant = config.tenants.first().map(String::as_str).unwrap_or("");
        let concrete_issuer = config.issuer.replace(TENANT_PLACEHOLDER, first_tenant);
        let source = match (&config.jwks_uri, &config.discovery_url) {
            (Some(url), _) => KeySource::Jwks { url: url.clone() },
            (None, discovery) => KeySource::Discovery {
                url: discovery.clone().unwrap_or_else(|| {
                    format!("{concrete_issuer}/.well-known/openid-configuration")
                }),
                expected_issuer: concrete_issuer,
            },
        };
        let templates = config.issuer_templates();
        let introspector = match &config.introspection {
            Some(i) => Some(BackChannel::new(
                i.endpoint.clone(),
                i.client_id.clone(),
                i.client_secret
                    .resolve()
                    .map_err(|m| format!("{}: {m}", at("introspection.client_secret")))?,
            )),
            None => None,
        };
        let login_secret = match &config.login {
            Some(l) => Some(
                l.client_secret
                    .resolve()
                    .map_err(|m| format!("{}: {m}", at("login.client_secret")))?,
            ),
            None => None,
        };
        Ok(Self {
            login_secret,
            name: config.name.as_str().into(),
            introspect: config
                .introspect_mode()
                .map_err(|m| format!("{}: {m}", at("introspect")))?,
            keys: KeyCache::new(
                source,
                config.algorithms.clone(),
                config.keys_min_refetch.as_secs() as i64,
                config.keys_stale_for.as_secs() as i64,
            )
            .with_metric_label(&config.name),
            signatures: TokenCache::default(),
            templates,
            introspector,
            config: config.clone(),
        })
    }

    /// The tenant named by an Entra issuer, if `iss` fits a template.
    fn tenant_of<'a>(&self, iss: &'a str) -> Option<&'a str> {
        crate::config::tenant_of(&self.templates, iss)
    }
}

/// Every configured upstream, found by the token's `iss`.
pub struct UpstreamRegistry {
    upstreams: Vec<Arc<Upstream>>,
    http: reqwest::Client,
    clock: SharedClock,
}

impl std::fmt::Debug for UpstreamRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.upstreams.iter().map(|u| &*u.name).collect();
        f.debug_struct("UpstreamRegistry")
            .field("upstreams", &names)
            .finish()
    }
}

impl UpstreamRegistry {
    pub fn new(
        configs: &[UpstreamConfig],
        outbound: &crate::config::OutboundConfig,
        clock: SharedClock,
    ) -> Result<Self, String> {
        Ok(Self {
            upstreams: configs
                .iter()
                .map(|c| Upstream::new(c).map(Arc::new))
                .collect::<Result<_, _>>()?,
            http: fetch::client(outbound)?,
            clock,
        })
    }

    /// A registry for `configs` (a reload) that keeps the key caches of
    /// upstreams whose configuration did not change, so a reload during an
    /// IdP outage still verifies from cache.
    pub fn reloaded(
        &self,
        configs: &[UpstreamConfig],
        outbound: &crate::config::OutboundConfig,
    ) -> Result<Self, String> {
        let mut fresh = Self::new(&[], outbound, Arc::clone(&self.clock))?;
        for c in configs {
            let kept = self.upstreams.iter().find(|u| u.config == *c);
            fresh.upstreams.push(match kept {
                Some(u) => Arc::clone(u),
                None => Arc::new(Upstream::new(c)?),
            });
        }
        Ok(fresh)
    }

    fn find(&self, iss: &str) -> Option<(&Upstream, Option<String>)> {
        self.upstreams.iter().map(|u| &**u).find_map(|u| {
            if u.config.kind == UpstreamKind::Entra {
                u.tenant_of(iss).map(|t| (u, Some(t.to_string())))
            } else {
                (u.config.issuer == iss).then_some((u, None))
            }
        })
    }

    /// Verify an upstream token; see the module docs for the order.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, Refusal> {
        self.verify_parsed(jws::parse(token)?, token).await
    }

    /// [`Self::verify`] of a token already split and decoded (`token` is
    /// still needed for back-channel introspection).
    pub async fn verify_parsed(
        &self,
        jws: jws::Jws<'_>,
        token: &str,
    ) -> Result<VerifiedToken, Refusal> {
        self.verify_as(jws, token, Expect::Access).await
    }

    /// Verify a token as `expect` says: an access token for us, or an ID
    /// token issued to our relying-party registration at one upstream.
    async fn verify_as(
        &self,
        jws: jws::Jws<'_>,
        token: &str,
        expect: Expect<'_>,
    ) -> Result<VerifiedToken, Refusal> {
        let now = self.clock.now();
        let iss = jws
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| Refusal::new(Reason::MissingClaim, "the token has no iss claim"))?
            .to_string();
        let id_jag = crate::jose::is_id_jag_typ(jws.header.typ.as_deref());
        match (expect, id_jag) {
            (Expect::IdJag { .. }, false) => {
                return Err(Refusal::new(
                    Reason::NotAnIdJag,
                    "the assertion is not an ID-JAG (its typ must be oauth-id-jag+jwt)",
                ));
            }
            (Expect::Access | Expect::IdToken { .. }, true) => {
                return Err(Refusal::new(
                    Reason::NotAnIdJag,
                    "an ID-JAG is accepted only as the assertion of the jwt-bearer grant",
                ));
            }
            _ => {}
        }
        let (up, tenant) = self.find(&iss).ok_or_else(|| {
            Refusal::new(
                Reason::UnknownIssuer,
                format!("issuer {iss:?} is not a configured upstream"),
            )
        })?;
        if matches!(expect, Expect::IdJag { .. }) && !up.config.issues_id_jag {
            return Err(Refusal::new(
                Reason::IdJagIssuerNotTrusted,
                format!(
                    "upstream {} is not trusted to issue ID-JAGs (issues_id_jag)",
                    up.name
                ),
            ));
        }
        if let Expect::IdToken { upstream, .. } = expect
            && *up.name != *upstream
        {
            return Err(Refusal::new(
                Reason::UnknownIssuer,
                format!("the ID token's issuer {iss:?} is not upstream {upstream}"),
            ));
        }
        let alg = jws.header.alg;
        if !up.config.algorithms.contains(&alg) {
            return Err(Refusal::new(
                Reason::UnsupportedAlgorithm,
                format!("upstream {} does not sign with {alg:?}", up.name),
            ));
        }
        // An Okta org authorization server's access tokens are signed with
        // keys it does not publish: introspection (mandatory, see config
        // validation) is the only check.
        if !up.config.is_okta_org_server() {
            let key = up
                .keys
                .key(&self.http, jws.header.kid.as_deref(), alg, now)
                .await?;
            let digest = token_cache::digest(token);
            let seen = up
                .signatures
                .get(&digest, now)
                .is_some_and(|k| Arc::ptr_eq(&k, &key));
            if !seen {
                let verifier = key.verifier(alg).ok_or_else(|| {
                    Refusal::new(Reason::KeyMismatch, "the key does not fit the algorithm")
                })?;
                if !verifier.verify(jws.signing_input.as_bytes(), &jws.signature) {
                    return Err(Refusal::new(
                        Reason::BadSignature,
                        "the signature does not verify",
                    ));
                }
                if let Ok(Some(exp)) = times::claim_time(&jws.claims, "exp") {
                    up.signatures.put(digest, exp, key, now);
                }
            }
        }
        let mut claims = jws.claims;
        let (iat, issued_by, exp) = claims::vet(up, tenant.as_deref(), &claims, expect, now)?;
        let introspect = matches!(expect, Expect::Access)
            && match up.introspect {
                IntrospectMode::Never => false,
                IntrospectMode::Always => true,
                IntrospectMode::WhenLifetimeOver(bound) => {
                    iat.is_none_or(|iat| exp.saturating_sub(iat) > bound as i64)
                }
            };
        if let Some(intro) = up.introspector.as_ref().filter(|_| introspect) {
            let answer = intro
                .check(
                    &self.http,
                    up.keys.introspection_endpoint(),
                    token,
                    Some(exp),
                    now,
                )
                .await?;
            if up.config.is_okta_org_server() {
                // Unverifiable locally: the IdP's answer is the truth.
                for (k, v) in answer {
                    claims.insert(k, v);
                }
            }
        }
        let typ = jws.header.typ.as_deref();
        claims::verified(up, iss, claims, typ, (iat, issued_by, exp))
    }

    /// `explain --claims`: what the token with these claims from upstream
    /// `name` would be once its signature verified. Every check but the
    /// signature (and back-channel introspection) runs.
    pub fn unsigned(
        &self,
        name: &str,
        claims: Map<String, Value>,
    ) -> Result<VerifiedToken, Refusal> {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| Refusal::new(Reason::MissingClaim, "the claims have no iss"))?
            .to_string();
        let (up, tenant) = self
            .find(&iss)
            .filter(|(u, _)| *u.name == *name)
            .ok_or_else(|| {
                Refusal::new(
                    Reason::UnknownIssuer,
                    format!("issuer {iss:?} is not upstream {name}'s"),
                )
            })?;
        let times = claims::vet(
            up,
            tenant.as_deref(),
            &claims,
            Expect::Access,
            self.clock.now(),
        )?;
        claims::verified(up, iss, claims, None, times)
    }

    /// Verify the `assertion` of a jwt-bearer grant as an ID-JAG addressed
    /// to `audience` (our issuer) by an upstream with `issues_id_jag`.
    pub async fn verify_id_jag(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<VerifiedToken, Refusal> {
        self.verify_as(jws::parse(token)?, token, Expect::IdJag { audience })
            .await
    }

    /// Fetch keys of every upstream whose refresh is due.
    pub async fn refresh_due(&self) {
        for u in &self.upstreams {
            let now = self.clock.now();
            if u.keys.refresh_due(now) {
                u.keys.refresh(&self.http, now, None).await;
            }
        }
    }

    /// Key state per upstream, for `/readyz`.
    pub fn health(&self) -> Map<String, Value> {
        let now = self.clock.now();
        self.upstreams
            .iter()
            .map(|u| (u.name.to_string(), u.keys.health(now)))
            .collect()
    }

    /// The configured name of the upstream that issues as `iss`.
    pub fn name_of_issuer(&self, iss: &str) -> Option<&str> {
        self.find(iss).map(|(u, _)| &*u.name)
    }
}
