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
//! [`decide_exchange`] in `policy/`), mint. What the audit record says of
//! it comes back beside the result ([`Exchanged::describe`]).

use super::issue::{Grant, Issued, issue};
use super::{ExchangeRequest, Grants};
use crate::audit::Facts;
use crate::clock::UnixTime;
use crate::error::ErrorCode;
use crate::jose::{Refusal, jws};
use crate::policy::{Agent, Arrival, Denial, Exchange, Presented, Token, decide_exchange};
use crate::reason::Reason;
use crate::tokens::own::{OwnToken, verify_own_parsed};
use crate::upstream::VerifiedToken;

/// A presented token once its signature and claims verified.
pub(super) enum Verified {
    Upstream(VerifiedToken),
    /// Ours, with the configured name of its user's upstream.
    Own(OwnToken, Option<String>),
}

impl Verified {
    /// (sub, idp, tenant) as the audit record names the user.
    fn described(&self) -> (String, Option<String>, Option<String>) {
        match self {
            Self::Upstream(v) => (v.subject.clone(), Some(v.issuer.clone()), v.tenant.clone()),
            Self::Own(o, _) => (
                o.sub.clone(),
                o.str_claim("idp").map(str::to_string),
                o.str_claim("tid").map(str::to_string),
            ),
        }
    }

    fn token(&self) -> Token<'_> {
        match self {
            Self::Upstream(v) => Token::Upstream(v),
            Self::Own(o, upstream) => Token::Own(o, upstream.as_deref()),
        }
    }
}

/// What an exchange came to, with what the audit record says of it: the
/// user as verified, the pattern once known, a report-only waiver.
pub struct Exchanged {
    pub result: Result<Issued, Denial>,
    /// (sub, idp, tenant) of the verified subject token.
    subject: Option<(String, Option<String>, Option<String>)>,
    pattern: Option<crate::config::Pattern>,
    waiver: Option<Denial>,
}

impl Exchanged {
    fn refused(d: Denial) -> Self {
        Self {
            result: Err(d),
            subject: None,
            pattern: None,
            waiver: None,
        }
    }

    /// Add what the exchange learned to the request's facts.
    pub fn describe(&self, facts: &mut Facts) {
        if let Some((sub, idp, tenant)) = &self.subject {
            facts.subject = Some(sub.clone());
            facts.idp = idp.clone();
            facts.tenant = tenant.clone();
        }
        facts.pattern = self
            .pattern
            .map(|p| crate::policy::pattern_name(p).to_string());
        if let Some(w) = &self.waiver {
            facts.would_deny = Some((w.reason, w.description.clone()));
        }
    }
}

pub async fn exchange(
    ctx: &Grants<'_>,
    agent: &Agent,
    x: &ExchangeRequest,
    now: UnixTime,
) -> Exchanged {
    let (target, requested) = (x.target.as_str(), x.scopes.as_deref());
    // verify the subject, then the actor
    let subject = match verify(ctx, &x.subject_token, "subject_token", now).await {
        Ok(s) => s,
        Err(d) => return Exchanged::refused(d),
    };
    let actor = match &x.actor {
        Some((t, _)) => match verify(ctx, t, "actor_token", now).await {
            Ok(a) => Some(a),
            Err(d) => return Exchanged::refused(d),
        },
        None => None,
    };

    // decide
    let outcome = decide_exchange(
        ctx.policy,
        ctx.revocations,
        &Exchange {
            agent,
            issuer: ctx.issuer,
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
            arrival: Arrival::Presented,
        },
    );
    let (result, waiver) = match outcome.decision {
        Err(denial) => (Err(denial), None),
        Ok(d) => {
            let waiver = d.waiver.as_ref().map(|w| w.denial.clone());
            // mint
            let grant = Grant {
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
                jti: None,
                break_glass: None,
            };
            (issue(ctx, grant, now), waiver)
        }
    };
    Exchanged {
        result,
        subject: Some(subject.described()),
        pattern: outcome.pattern,
        waiver,
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
pub(super) async fn verify(
    ctx: &Grants<'_>,
    token: &str,
    param: &str,
    now: UnixTime,
) -> Result<Verified, Denial> {
    let parsed = jws::parse(token).map_err(|r| token_denial(param, r))?;
    let ours = parsed.claims.get("iss").and_then(|v| v.as_str()) == Some(ctx.issuer);
    if ours {
        let own = verify_own_parsed(&ctx.keys.current(), ctx.issuer, parsed, now)
            .map_err(|r| token_denial(param, r))?;
        let upstream = own
            .str_claim("idp")
            .and_then(|idp| ctx.upstreams.name_of_issuer(idp))
            .map(str::to_string);
        return Ok(Verified::Own(own, upstream));
    }
    let v = ctx
        .upstreams
        .verify_parsed(parsed, token)
        .await
        .map_err(|r| token_denial(param, r))?;
    Ok(Verified::Upstream(v))
}
