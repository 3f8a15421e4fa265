//! Enterprise-managed authorization (MCP SEP-990,
//! draft-ietf-oauth-identity-assertion-authz-grant), both legs:
//!
//! - **leg 2**, [`redeem`]: `grant_type=…:jwt-bearer` (RFC 7523) whose
//!   `assertion` is an ID-JAG from an upstream that `issues_id_jag`. The
//!   upstream verifier checks it as an ID-JAG (keys, issuer, times, `typ`,
//!   `aud` = our issuer, lifetime bound, `jti`, `client_id`); its `jti` is
//!   used once across replicas (the client-assertion replay cache); the
//!   pure [`decide_exchange`] decides it as the `id_jag` pattern (the
//!   ID-JAG's `client_id` is the presenting client, its `resource` one of
//!   the agent's, scope ∩ policy ∩ the user's groups). The token is the
//!   OBO token, `urn:agent.pattern = "id_jag"`, `idp` the ID-JAG's issuer.
//! - **leg 1**, [`issue_id_jag`]: token exchange with
//!   `requested_token_type=…:id-jag` for an IdP that has none: the user's
//!   token in, an ID-JAG signed with our keys out, as the pure
//!   [`decide_id_jag`] allows (`[[id_jag.audiences]]`, deny by default).

use serde_json::{Value, json};

use super::issue::{Grant, Issued, issue};
use super::token_exchange::{Verified, verify};
use super::{AssertionRequest, Grants, IdJagRequest, TokenResponse};
use crate::audit::Facts;
use crate::clock::UnixTime;
use crate::error::{ErrorCode, shown};
use crate::jose::{Refusal, TYP_ID_JAG};
use crate::metadata::TOKEN_TYPE_ID_JAG;
use crate::policy::{
    Agent, Arrival, Denial, Exchange, IdJagAsk, Presented, Token, decide_exchange, decide_id_jag,
};
use crate::reason::Reason;
use crate::upstream::VerifiedToken;

/// RFC 7523 §3.1: an assertion that does not verify is `invalid_grant`;
/// an IdP we cannot reach is our problem.
fn assertion_denial(r: Refusal) -> Denial {
    let error = match r.reason {
        Reason::UpstreamKeysUnavailable | Reason::UpstreamIntrospectionUnavailable => {
            ErrorCode::TemporarilyUnavailable
        }
        _ => ErrorCode::InvalidGrant,
    };
    Denial::new(error, r.reason, format!("assertion: {}", r.detail))
}

/// The ID-JAG's `resource` (one), or the request's; both must agree.
fn target_of(ctx: &Grants<'_>, v: &VerifiedToken, asked: Option<&str>) -> Result<String, Denial> {
    let claimed = match v.claims.get("resource") {
        Some(Value::String(r)) => Some(r.as_str()),
        Some(Value::Array(list)) if list.len() == 1 => list[0].as_str(),
        None => None,
        Some(_) => {
            return Err(Denial::new(
                ErrorCode::InvalidGrant,
                Reason::TargetNotAllowed,
                "the ID-JAG names several resources; a token is bound to one",
            ));
        }
    };
    let declared = |t: &str| ctx.policy.resource(t).unwrap_or(t).to_string();
    match (claimed, asked) {
        (Some(c), Some(a)) if declared(c) != declared(a) => Err(Denial::new(
            ErrorCode::InvalidTarget,
            Reason::TargetNotAllowed,
            format!("resource {} is not the ID-JAG's ({})", shown(a), shown(c)),
        )),
        (Some(t), _) | (None, Some(t)) => Ok(declared(t)),
        (None, None) => Err(super::bad_request(
            "resource is required: the ID-JAG names none",
        )),
    }
}

/// Leg 2: an ID-JAG for an access token. Adds what it learned to `facts`.
pub async fn redeem(
    ctx: &Grants<'_>,
    agent: &Agent,
    a: &AssertionRequest,
    now: UnixTime,
    facts: &mut Facts,
) -> Result<Issued, Denial> {
    facts.pattern = Some("id_jag".into());
    let v = ctx
        .upstreams
        .verify_id_jag(&a.assertion, ctx.issuer)
        .await
        .map_err(assertion_denial)?;
    let jti = v.jti.clone().unwrap_or_default();
    facts.subject = Some(v.subject.clone());
    facts.idp = Some(v.issuer.clone());
    facts.tenant = v.tenant.clone();
    facts.detail = format!("ID-JAG {} from {}", shown(&jti), v.issuer);
    let target = target_of(ctx, &v, a.target.as_deref())?;
    facts.audience = Some(target.clone());
    let key = crate::digest::sha256_hex(format!("id-jag\n{}\n{jti}", v.issuer).as_bytes());
    let first = ctx
        .clients
        .replay
        .first_use(&key, v.expires_at, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "replay cache unavailable");
            Denial::new(
                ErrorCode::TemporarilyUnavailable,
                Reason::AssertionReplayed,
                "the replay cache is unavailable; try again",
            )
        })?;
    if !first {
        return Err(Denial::new(
            ErrorCode::InvalidGrant,
            Reason::AssertionReplayed,
            format!("assertion: the ID-JAG {} was already used", shown(&jti)),
        ));
    }
    let outcome = decide_exchange(
        ctx.policy,
        ctx.revocations,
        &Exchange {
            agent,
            issuer: ctx.issuer,
            subject: Presented {
                token: Token::Upstream(&v),
                token_type: TOKEN_TYPE_ID_JAG,
            },
            actor: None,
            target: &target,
            requested: a.scopes.as_deref(),
            now,
            arrival: Arrival::IdJag,
        },
    );
    // RFC 7523 §3.1: an assertion that cannot be used is invalid_grant.
    let d = outcome.decision.map_err(|d| match d.error {
        ErrorCode::InvalidRequest => Denial {
            error: ErrorCode::InvalidGrant,
            ..d
        },
        _ => d,
    })?;
    if let Some(w) = &d.waiver {
        facts.would_deny = Some((w.denial.reason, w.denial.description.clone()));
    }
    let grant = Grant {
        agent,
        pattern: d.pattern,
        sub: d.sub,
        target: &target,
        scopes: d.scopes,
        act: d.act,
        may_act: d.may_act,
        idp: d.idp,
        tid: d.tid,
        // An ID-JAG is a grant, like an authorization code: it lives
        // minutes, the access token it buys lives the agent's TTL.
        not_after: None,
        triggered_by: None,
        waived: d.waiver.map(|w| w.waived),
        ancestors: d.ancestors,
        jti: None,
        break_glass: None,
    };
    issue(ctx, grant, now)
}

/// Leg 1: the user's token for an ID-JAG addressed to another
/// authorization server. Adds what it learned to `facts`.
pub async fn issue_id_jag(
    ctx: &Grants<'_>,
    agent: &Agent,
    x: &IdJagRequest,
    now: UnixTime,
    facts: &mut Facts,
) -> Result<TokenResponse, Denial> {
    facts.pattern = Some("id_jag_issue".into());
    facts.audience = Some(x.audience.clone());
    let subject = verify(ctx, &x.subject_token, "subject_token", now).await?;
    let token = match &subject {
        Verified::Upstream(v) => {
            facts.subject = Some(v.subject.clone());
            facts.idp = Some(v.issuer.clone());
            facts.tenant = v.tenant.clone();
            Token::Upstream(v)
        }
        Verified::Own(o, upstream) => Token::Own(o, upstream.as_deref()),
    };
    let d = decide_id_jag(
        ctx.policy,
        ctx.revocations,
        &IdJagAsk {
            agent,
            subject: Presented {
                token,
                token_type: x.subject_token_type,
            },
            audience: &x.audience,
            resource: &x.resource,
            requested: x.scopes.as_deref(),
            now,
        },
    )?;
    let exp = d
        .not_after
        .min(now + ctx.policy.id_jag.lifetime.as_secs() as i64);
    let jti = ctx.randomness.id().map_err(|e| {
        tracing::error!(error = %e, "no ID-JAG issued: the random number generator failed");
        Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::RandomUnavailable,
            "no ID-JAG can be issued now; try again",
        )
    })?;
    let scope = d.scopes.join(" ");
    let mut claims = json!({
        "iss": ctx.issuer,
        "sub": d.sub,
        "aud": x.audience,
        "client_id": d.client_id,
        "jti": jti,
        "iat": now,
        "exp": exp,
        "resource": x.resource,
        "scope": scope,
        "idp": d.idp,
    });
    if let Some(t) = &d.tid {
        claims["tid"] = json!(t);
    }
    if let Some(g) = &d.groups {
        claims["groups"] = json!(g);
    }
    let assertion = super::issue::sign(ctx, TYP_ID_JAG, &claims, now)?;
    facts.jti = Some(jti);
    facts.expires_at = Some(exp);
    facts.scopes_granted = Some(d.scopes.clone());
    facts.detail = format!("ID-JAG for {} at {}", x.resource, x.audience);
    Ok(TokenResponse {
        access_token: assertion,
        issued_token_type: TOKEN_TYPE_ID_JAG,
        // RFC 8693 §2.2.1: not an access token.
        token_type: "N_A",
        expires_in: exp - now,
        scope,
        refresh_token: None,
    })
}
