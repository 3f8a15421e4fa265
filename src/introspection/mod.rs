//! RFC 7662 introspection of our own tokens, for the resource servers and
//! gateways registered as introspectors.
//!
//! A token is active for a caller only when our signature verifies, it is
//! unexpired, not revoked, and its `aud` is one of the caller's resources;
//! anything else is exactly `{"active": false}`, so a caller learns nothing
//! about tokens that are not for it. Verified tokens are cached by the
//! SHA-256 of the token until their `exp` (no signature work on a repeat);
//! the revocation check is made on every call against the in-memory view.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use crate::audit::{Audit, AuditRecord, Event, Facts, RequestContext, Verdict};
use crate::client_auth::{Clients, Endpoint, Presented};
use crate::clock::{SharedClock, UnixTime};
use crate::error::ErrorCode;
use crate::policy::{Denial, Introspector, Policy};
use crate::rate_limit::RateLimits;
use crate::reason::Reason;
use crate::revocation_list::{Revocations, Stale};
use crate::token_cache::digest;
use crate::tokens::keyring::SharedKeyRing;
use crate::tokens::verified::{Verified, VerifiedCache, verify};

/// What `/introspect` uses of the running service (built per request by
/// `App::introspection`: references only).
pub struct Introspection<'a> {
    pub issuer: &'a str,
    /// `{issuer}/introspect`, an accepted client-assertion audience.
    pub endpoint: Endpoint<'a>,
    pub clock: &'a SharedClock,
    pub keys: &'a SharedKeyRing,
    pub verified: &'a VerifiedCache,
    pub revocations: &'a Revocations,
    pub policy: &'a Policy,
    pub clients: Clients<'a>,
    pub limits: &'a RateLimits,
    pub audit: &'a Audit,
}

pub enum Outcome {
    Active(Arc<Verified>),
    /// Why, for the audit record only: the caller sees `{"active": false}`.
    Inactive(Reason),
}

/// Is `token` active for `caller`? `Err(Stale)` when the revocation view
/// is too old to answer.
pub fn introspect(
    ctx: &Introspection<'_>,
    caller: &Introspector,
    token: &str,
    now: UnixTime,
) -> Result<Outcome, Stale> {
    let key = digest(token);
    let cached = ctx
        .verified
        .get(&key, now)
        .filter(|v| ctx.keys.current().verifier(&v.kid, now).is_some());
    let verified = match cached {
        Some(v) => v,
        None => {
            // Invalid tokens are not cached: they would let anyone fill memory.
            let v = match verify(&ctx.keys.current(), ctx.issuer, token, now) {
                Ok(v) => v,
                Err(reason) => return Ok(Outcome::Inactive(reason)),
            };
            let v = Arc::new(v);
            ctx.verified.put(key, v.exp, Arc::clone(&v), now);
            v
        }
    };
    if !caller.resources.contains(&verified.aud) {
        return Ok(Outcome::Inactive(Reason::WrongAudience));
    }
    if ctx.revocations.check(&verified.token_ref(), now)? {
        return Ok(Outcome::Inactive(Reason::Revoked));
    }
    Ok(Outcome::Active(verified))
}

/// RFC 9701: the answer as a JWT signed by us, for `aud` = the caller.
pub fn signed_answer(
    ctx: &Introspection<'_>,
    caller: &str,
    outcome: &Outcome,
    now: UnixTime,
) -> Option<String> {
    let answer = match outcome {
        Outcome::Active(v) => serde_json::from_str(&v.active_body).ok()?,
        Outcome::Inactive(_) => json!({ "active": false }),
    };
    let claims = json!({
        "iss": ctx.issuer,
        "aud": caller,
        "iat": now,
        "token_introspection": answer,
    });
    let ring = ctx.keys.current();
    let key = ring.signer(now)?;
    crate::tokens::sign_jwt(key, "token-introspection+jwt", &claims).ok()
}

/// What `/introspect` answers.
pub enum Answer {
    /// `{"active": ...}` as JSON text.
    Json(Arc<str>),
    /// RFC 9701 signed answer.
    Jwt(String),
    Refused(Denial),
}

/// Authenticate the caller, decide, record, and shape the answer. `form`
/// is the request as parsed, or why it could not be.
pub async fn answer(
    ctx: &Introspection<'_>,
    request: &RequestContext,
    form: Result<(Presented, HashMap<String, String>), Denial>,
    wants_jwt: bool,
) -> Answer {
    let now = ctx.clock.now();
    let mut facts = Facts::default();
    let decided = decide(ctx, form, &mut facts, now).await;
    let (caller, outcome) = match decided {
        Ok(decided) => decided,
        Err(d) => {
            let record = AuditRecord::of(
                request,
                Event::Introspect,
                facts,
                Verdict::Deny(d.reason, &d.description),
            );
            ctx.audit.refused(record, now);
            return Answer::Refused(d);
        }
    };
    match &outcome {
        Outcome::Active(v) => {
            let facts = Facts {
                subject: Some(v.sub.clone()),
                agent: Some(v.agent.clone()),
                idp: v.idp.clone(),
                audience: Some(v.aud.clone()),
                jti: Some(v.jti.clone()),
                expires_at: Some(v.exp),
                ..facts
            };
            let record =
                AuditRecord::of(request, Event::Introspect, facts, Verdict::Allow("active"));
            ctx.audit
                .introspection_allow(record, &v.jti, &caller.client.id, v.exp, now);
        }
        Outcome::Inactive(reason) => {
            let verdict = Verdict::Deny(*reason, "answered {\"active\": false}");
            let record = AuditRecord::of(request, Event::Introspect, facts, verdict);
            ctx.audit.record(record, now);
        }
    }
    if wants_jwt {
        return match signed_answer(ctx, &caller.client.id, &outcome, now) {
            Some(jwt) => Answer::Jwt(jwt),
            None => Answer::Refused(Denial::new(
                ErrorCode::ServerError,
                Reason::InvalidOwnToken,
                "",
            )),
        };
    }
    match outcome {
        Outcome::Active(v) => Answer::Json(Arc::clone(&v.active_body)),
        Outcome::Inactive(_) => Answer::Json(Arc::from("{\"active\":false}")),
    }
}

/// The caller authenticated as a registered introspector, within its
/// rate, with a token: the outcome for it. `facts` gathers who asked.
async fn decide<'c>(
    ctx: &'c Introspection<'_>,
    form: Result<(Presented, HashMap<String, String>), Denial>,
    facts: &mut Facts,
    now: UnixTime,
) -> Result<(&'c Introspector, Outcome), Denial> {
    let (presented, params) = form?;
    let caller = ctx
        .clients
        .authenticate(&presented, ctx.endpoint, now)
        .await
        .and_then(|c| {
            ctx.policy.introspector_by_client(&c.id).ok_or_else(|| {
                Denial::new(
                    ErrorCode::InvalidClient,
                    Reason::UnknownClient,
                    format!("client {} is not registered to introspect", c.id),
                )
            })
        })
        .inspect_err(|_| facts.claimed_client_id = presented.claimed())?;
    facts.client_id = Some(caller.client.id.clone());
    ctx.limits.introspect(&caller.client.id)?;
    let token = params
        .get("token")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Denial::new(
                ErrorCode::InvalidRequest,
                Reason::BadRequest,
                "token is required",
            )
        })?;
    let outcome = introspect(ctx, caller, token, now).map_err(|stale| {
        tracing::error!(age = ?stale.age_seconds, "revocation view is stale; refusing to answer");
        Denial {
            retry_after: Some(1),
            ..Denial::new(
                ErrorCode::TemporarilyUnavailable,
                Reason::RevocationStateStale,
                "revocation state is not current; try again shortly",
            )
        }
    })?;
    Ok((caller, outcome))
}
