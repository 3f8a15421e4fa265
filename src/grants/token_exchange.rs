//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693)
//! for the three patterns of DESIGN §1 and delegation chains:
//!
//! | subject token                         | actor token         | pattern  |
//! |---------------------------------------|---------------------|----------|
//! | user token from a `use = "user"` IdP  | none                | obo      |
//! | user token                            | the agent's workload| hybrid   |
//! | the agent's workload token            | none                | workload |
//! | an agent-sts token (obo/hybrid)       | none or workload    | chain: the old `act` nests in the new |
//!
//! Named steps over the parsed request ([`ExchangeRequest`], `request.rs`):
//! verify the subject, verify the actor, decide (the pure
//! [`decide_exchange`] in `policy/`), mint. The audit record is filled from
//! what was verified and the outcome, in [`describe`].

use super::ExchangeRequest;
use super::issue::{Grant, Issued, issue};
use crate::app::App;
use crate::audit::{AuditRecord, Decision};
use crate::clock::UnixTime;
use crate::error::ErrorCode;
use crate::jose::{Refusal, jws};
use crate::policy::{Agent, Denial, Exchange, Outcome, Presented, Token, decide_exchange};
use crate::reason::Reason;
use crate::tokens::own::{OwnToken, verify_own_parsed};
use crate::upstream::VerifiedToken;

/// A presented token once its signature and claims verified.
enum Verified {
    Upstream(VerifiedToken),
    /// Ours, with the configured name of its user's upstream.
    Own(OwnToken, Option<String>),
}

impl Verified {
    fn token(&self) -> Token<'_> {
        match self {
            Self::Upstream(v) => Token::Upstream(v),
            Self::Own(o, upstream) => Token::Own(o, upstream.as_deref()),
        }
    }
}

pub async fn exchange(
    app: &App,
    agent: &Agent,
    x: &ExchangeRequest,
    now: UnixTime,
    trail: &mut AuditRecord,
) -> Result<Issued, Denial> {
    let (target, requested) = (x.target.as_str(), x.scopes.as_deref());
    // verify the subject, then the actor
    let subject = verify(app, &x.subject_token, "subject_token", now).await?;
    let actor = match &x.actor {
        Some((t, _)) => Some(verify(app, t, "actor_token", now).await?),
        None => None,
    };

    // decide
    let outcome = decide_exchange(
        &app.policy,
        &*app.revocations,
        &Exchange {
            agent,
            issuer: &app.config.issuer,
            subject: Presented {
                token: subject.token(),
                token_type: x.subject_token_type,
            },
            actor: actor
                .as_ref()
                .zip(x.actor.as_ref())
                .map(|(a, (_, token_type))| Presented {
                    token: a.token(),
                    token_type,
                }),
            target,
            requested,
            now,
        },
    );
    describe(trail, &subject, &outcome);
    let d = outcome.decision?;

    // mint
    issue(
        app,
        Grant {
            agent,
            pattern: d.pattern,
            sub: d.sub,
            target,
            scopes: d.scopes,
            act: d.act,
            may_act: d.may_act,
            idp: d.idp,
            tid: d.tid,
            not_after: Some(d.not_after),
            triggered_by: None,
            waived: d.waiver.map(|w| w.waived),
            ancestors: d.ancestors,
        },
        now,
    )
}

/// What the audit record says of the exchange: the user as verified, the
/// pattern once known, and a report-only waiver as `would_deny`.
fn describe(trail: &mut AuditRecord, subject: &Verified, outcome: &Outcome) {
    match subject {
        Verified::Upstream(v) => {
            trail.subject = Some(v.subject.clone());
            trail.idp = Some(v.issuer.clone());
            trail.tenant = v.tenant.clone();
        }
        Verified::Own(o, _) => {
            trail.subject = Some(o.sub.clone());
            trail.idp = o.str_claim("idp").map(str::to_string);
            trail.tenant = o.str_claim("tid").map(str::to_string);
        }
    }
    trail.pattern = outcome
        .pattern
        .map(|p| crate::policy::pattern_name(p).to_string());
    if let Ok(d) = &outcome.decision
        && let Some(w) = &d.waiver
    {
        trail.decision = Some(Decision::WouldDeny);
        trail.reason = w.denial.reason.as_str().into();
        trail.detail = w.denial.description.clone();
    }
}

/// RFC 8693 §2.2.2: an invalid subject or actor token is `invalid_request`;
/// an IdP we cannot reach is our problem, so `temporarily_unavailable`.
fn token_denial(param: &str, r: Refusal) -> Denial {
    let error = match r.reason {
        Reason::UpstreamKeysUnavailable | Reason::UpstreamIntrospectionUnavailable => {
            ErrorCode::TemporarilyUnavailable
        }
        _ => ErrorCode::InvalidRequest,
    };
    Denial::new(error, r.reason, format!("{param}: {}", r.detail))
}

/// Decoded once, then routed by issuer: ours (a chain) or an upstream's.
async fn verify(app: &App, token: &str, param: &str, now: UnixTime) -> Result<Verified, Denial> {
    let parsed = jws::parse(token).map_err(|r| token_denial(param, r))?;
    let ours =
        parsed.claims.get("iss").and_then(|v| v.as_str()) == Some(app.config.issuer.as_str());
    if ours {
        let own = verify_own_parsed(&app.keys.current(), &app.config.issuer, parsed, now)
            .map_err(|r| token_denial(param, r))?;
        let upstream = own
            .str_claim("idp")
            .and_then(|idp| app.upstreams.name_of_issuer(idp))
            .map(str::to_string);
        return Ok(Verified::Own(own, upstream));
    }
    let v = app
        .upstreams
        .verify_parsed(parsed, token)
        .await
        .map_err(|r| token_denial(param, r))?;
    Ok(Verified::Upstream(v))
}
