//! The create step shared by every grant: lifetime, claims, signature.

use serde_json::{Value, json};

use super::Grants;
use crate::clock::UnixTime;
use crate::config::{MAX_TOKEN_TTL, MIN_TOKEN_TTL, Pattern};
use crate::error::ErrorCode;
use crate::policy::{Agent, Denial, pattern_name};
use crate::reason::Reason;
use crate::revocation_list::Ancestor;
use crate::tokens::own::{AccessClaims, TYP_AT_JWT, derived_from, report_only_marker};
use crate::tokens::sign_jwt;

pub struct Issued {
    pub token: String,
    pub claims: AccessClaims,
}

/// What a grant decided.
pub struct Grant<'a> {
    pub agent: &'a Agent,
    pub pattern: Pattern,
    pub sub: String,
    pub target: &'a str,
    pub scopes: Vec<String>,
    pub act: Option<Value>,
    /// RFC 8693 §4.4: the downstream actor that may present the token.
    pub may_act: Option<Value>,
    pub idp: Option<String>,
    pub tid: Option<String>,
    /// The earliest `exp` of the presented tokens: ours never outlives them.
    pub not_after: Option<UnixTime>,
    /// Workload pattern: who asked, as the caller asserts it (unverified).
    pub triggered_by: Option<String>,
    /// The group rule a report-only agent waived (here or in an ancestor).
    pub waived: Option<String>,
    /// The tokens of ours this one is made from, oldest first.
    pub ancestors: Vec<Ancestor>,
    /// Drawn beforehand (an authorization code knows the `jti` of the
    /// token it will issue, to revoke it on a replay); else drawn here.
    pub jti: Option<String>,
    /// Issued under a break-glass window: (its id, its reason), carried
    /// in `urn:agent.break_glass`.
    pub break_glass: Option<(String, String)>,
}

/// When a token of `agent` issued `now` expires, and what set it: the
/// agent's `token_ttl` (within 5–15 minutes) or the earliest `exp` of the
/// presented tokens, ours never outliving them.
pub fn lifetime(
    agent: &Agent,
    not_after: Option<UnixTime>,
    now: UnixTime,
) -> (UnixTime, &'static str) {
    let ttl = agent.ttl_seconds.clamp(
        MIN_TOKEN_TTL.as_secs() as i64,
        MAX_TOKEN_TTL.as_secs() as i64,
    );
    match not_after {
        Some(na) if na < now + ttl => (na, "the presented token's exp"),
        _ => (now + ttl, "the agent's token_ttl"),
    }
}

pub fn issue(ctx: &Grants<'_>, g: Grant<'_>, now: UnixTime) -> Result<Issued, Denial> {
    let (exp, _) = lifetime(g.agent, g.not_after, now);
    if exp <= now {
        return Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::Expired,
            "the presented tokens expire now; no token can be issued",
        ));
    }
    let mut agent = json!({ "id": g.agent.id, "pattern": pattern_name(g.pattern) });
    if let Some(t) = g.triggered_by {
        // DESIGN §1: asserted by the caller, not verified, and labelled so.
        agent["triggered_by"] = json!({ "sub": t, "verified": false });
    }
    if let Some(w) = &g.waived {
        agent["report_only"] = report_only_marker(w);
    }
    if !g.ancestors.is_empty() {
        agent["derived_from"] = derived_from(&g.ancestors);
    }
    if let Some((id, reason)) = &g.break_glass {
        agent["break_glass"] = json!({ "id": id, "reason": reason });
    }
    // A failed draw fails closed: a predictable jti would make revocation
    // by jti and replay bookkeeping guessable.
    let drawn = match g.jti {
        Some(jti) => Ok(jti),
        None => ctx.randomness.id(),
    };
    let jti = drawn.map_err(|e| {
        tracing::error!(error = %e, "no token issued: the random number generator failed");
        Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::RandomUnavailable,
            "no token can be issued now; try again",
        )
    })?;
    let claims = AccessClaims {
        iss: ctx.issuer.to_string(),
        sub: g.sub,
        aud: g.target.to_string(),
        exp,
        iat: now,
        jti,
        client_id: g.agent.client.id.clone(),
        scope: g.scopes.join(" "),
        act: g.act,
        may_act: g.may_act,
        agent,
        idp: g.idp,
        tid: g.tid,
    };
    let token = sign(ctx, TYP_AT_JWT, &claims.to_json(), now)?;
    Ok(Issued { token, claims })
}

/// Sign `claims` as a JWT of type `typ` with our active key.
pub fn sign(
    ctx: &Grants<'_>,
    typ: &str,
    claims: &serde_json::Value,
    now: UnixTime,
) -> Result<String, Denial> {
    let ring = ctx.keys.current();
    let key = ring.signer(now).ok_or_else(|| {
        tracing::error!("no active signing key");
        Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::InvalidOwnToken,
            "no signing key is active; try again later",
        )
    })?;
    sign_jwt(key, typ, claims).map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        Denial::new(ErrorCode::ServerError, Reason::InvalidOwnToken, "")
    })
}
