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

use crate::app::App;
use crate::audit::{AuditRecord, Decision, Event};
use crate::client_auth::Presented;
use crate::clock::UnixTime;
use crate::error::ErrorCode;
use crate::policy::Denial;
use crate::policy::Introspector;
use crate::reason::Reason;
use crate::revocation::Stale;
use crate::token_cache::digest;
use crate::tokens::verified::{Verified, verify};

pub enum Outcome {
    Active(Arc<Verified>),
    /// Why, for the audit record only: the caller sees `{"active": false}`.
    Inactive(Reason),
}

/// Is `token` active for `caller`? `Err(Stale)` when the revocation view
/// is too old to answer.
pub fn introspect(
    app: &App,
    caller: &Introspector,
    token: &str,
    now: UnixTime,
) -> Result<Outcome, Stale> {
    let key = digest(token);
    let cached = app
        .verified
        .get(&key, now)
        .filter(|v| app.keys.current().verifier(&v.kid, now).is_some());
    let verified = match cached {
        Some(v) => v,
        None => {
            // Invalid tokens are not cached: they would let anyone fill memory.
            let v = match verify(&app.keys.current(), &app.config.issuer, token, now) {
                Ok(v) => v,
                Err(reason) => return Ok(Outcome::Inactive(reason)),
            };
            let v = Arc::new(v);
            app.verified.put(key, v.exp, Arc::clone(&v), now);
            v
        }
    };
    if !caller.resources.contains(&verified.aud) {
        return Ok(Outcome::Inactive(Reason::WrongAudience));
    }
    if app.revocations.check(&verified.token_ref(), now)? {
        return Ok(Outcome::Inactive(Reason::Revoked));
    }
    Ok(Outcome::Active(verified))
}

/// RFC 9701: the answer as a JWT signed by us, for `aud` = the caller.
pub fn signed_answer(app: &App, caller: &str, outcome: &Outcome, now: UnixTime) -> Option<String> {
    let answer = match outcome {
        Outcome::Active(v) => serde_json::from_str(&v.active_body).ok()?,
        Outcome::Inactive(_) => json!({ "active": false }),
    };
    let claims = json!({
        "iss": app.config.issuer,
        "aud": caller,
        "iat": now,
        "token_introspection": answer,
    });
    let ring = app.keys.current();
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

/// Authenticate the caller, decide, record, and shape the answer.
pub async fn answer(
    app: &App,
    presented: Presented,
    params: &HashMap<String, String>,
    wants_jwt: bool,
    mut trail: AuditRecord,
) -> Answer {
    let now = app.clock.now();
    trail.event = Some(Event::Introspect);
    let caller = match app
        .authenticate(&presented, &app.introspection_endpoint, now)
        .await
        .and_then(|c| {
            app.policy.introspector_by_client(&c.id).ok_or_else(|| {
                Denial::new(
                    ErrorCode::InvalidClient,
                    Reason::UnknownClient,
                    format!("client {} is not registered to introspect", c.id),
                )
            })
        }) {
        Ok(c) => c,
        Err(d) => {
            trail.claimed_client_id = presented.claimed();
            return refused(app, trail, d, now);
        }
    };
    trail.client_id = Some(caller.client.id.clone());
    if let Err(exceeded) = app.limits.introspect(&caller.client.id) {
        return refused(app, trail, Denial::from(exceeded), now);
    }
    let Some(token) = params.get("token").filter(|t| !t.is_empty()) else {
        let d = Denial::new(
            ErrorCode::InvalidRequest,
            Reason::BadRequest,
            "token is required",
        );
        return refused(app, trail, d, now);
    };
    let outcome = match introspect(app, caller, token, now) {
        Ok(o) => o,
        Err(stale) => {
            tracing::error!(age = ?stale.age_seconds, "revocation view is stale; refusing to answer");
            let d = Denial {
                retry_after: Some(1),
                ..Denial::new(
                    ErrorCode::TemporarilyUnavailable,
                    Reason::RevocationStateStale,
                    "revocation state is not current; try again shortly",
                )
            };
            return refused(app, trail, d, now);
        }
    };
    match &outcome {
        Outcome::Active(v) => {
            trail.decision = Some(Decision::Allow);
            trail.reason = "active".into();
            trail.subject = Some(v.sub.clone());
            trail.agent = Some(v.agent.clone());
            trail.idp = v.idp.clone();
            trail.audience = Some(v.aud.clone());
            trail.jti = Some(v.jti.clone());
            trail.expires_at = Some(v.exp);
            app.audit
                .introspection_allow(trail, &v.jti, &caller.client.id, v.exp, now);
        }
        Outcome::Inactive(reason) => {
            trail.decision = Some(Decision::Deny);
            trail.reason = reason.as_str().into();
            trail.detail = "answered {\"active\": false}".into();
            app.audit.record(trail, now);
        }
    }
    if wants_jwt {
        return match signed_answer(app, &caller.client.id, &outcome, now) {
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

fn refused(app: &App, trail: AuditRecord, d: Denial, now: UnixTime) -> Answer {
    deny(app, trail, &d, now);
    Answer::Refused(d)
}

fn deny(app: &App, mut trail: AuditRecord, d: &Denial, now: UnixTime) {
    trail.event = Some(Event::Introspect);
    trail.decision = Some(Decision::Deny);
    trail.reason = d.reason.as_str().into();
    trail.detail = d.description.clone();
    if let Some(record) = app.audit.refusal(trail, now) {
        app.audit.record(record, now);
    }
}

/// A request refused before it could be read (content type, size, repeats).
pub fn record_refusal(app: &App, trail: AuditRecord, d: &Denial) {
    deny(app, trail, d, app.clock.now());
}
