//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693)
//! for the three patterns of DESIGN §1 and delegation chains:
//!
//! | subject token                         | actor token         | pattern  |
//! |---------------------------------------|---------------------|----------|
//! | user token from a `use = "user"` IdP  | none                | obo      |
//! | user token                            | the agent's workload| hybrid   |
//! | the agent's workload token            | none                | workload |
//! | an agent-sts token (obo/hybrid)       | none or workload    | chain: the old `act` nests in the new |

use super::delegation::{act, check_chain_population, check_may_act, within_subject};
use super::issue::{Grant, Issued, issue};
use super::{TokenRequest, bad_request};
use crate::app::App;
use crate::audit::{AuditRecord, Decision};
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::error::{ErrorCode, shown};
use crate::metadata::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT};
use crate::policy::{Agent, Denial, User, decide_scopes, decide_user_scopes};
use crate::reason::Reason;
use crate::tokens::own::{OwnToken, verify_own_parsed};
use crate::upstream::{Refusal, VerifiedToken, jws};

enum Subject {
    Upstream(VerifiedToken),
    Own(OwnToken),
}

impl Subject {
    fn exp(&self) -> UnixTime {
        match self {
            Self::Upstream(v) => v.expires_at,
            Self::Own(o) => o.exp,
        }
    }
}

/// The IdP's clock skew may admit a token whose `exp` has just passed; we
/// never mint from it (ours could not outlive it by even a second).
fn not_expired(param: &str, exp: UnixTime, now: UnixTime) -> Result<(), Denial> {
    if exp > now {
        return Ok(());
    }
    Err(Denial::new(
        ErrorCode::InvalidRequest,
        Reason::Expired,
        format!("{param}: the token expired {}s ago", now - exp),
    ))
}

/// The verified actor of a hybrid exchange.
struct Actor {
    principal: String,
    issuer: String,
    exp: UnixTime,
}

pub async fn exchange(
    app: &App,
    agent: &Agent,
    req: &TokenRequest,
    now: UnixTime,
    trail: &mut AuditRecord,
) -> Result<Issued, Denial> {
    // parse
    let subject_token = req.required("subject_token")?;
    token_type(req.required("subject_token_type")?, "subject_token_type")?;
    let actor_token = match (req.get("actor_token"), req.get("actor_token_type")) {
        (Some(t), Some(ty)) => {
            token_type(ty, "actor_token_type")?;
            Some(t)
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(bad_request("actor_token_type is required with actor_token"));
        }
        (None, Some(_)) => {
            return Err(bad_request("actor_token_type was sent without actor_token"));
        }
    };
    if let Some(t) = req.get("requested_token_type")
        && t != TOKEN_TYPE_ACCESS_TOKEN
    {
        return Err(bad_request(format!(
            "requested_token_type {:?} is not issued; only {TOKEN_TYPE_ACCESS_TOKEN}",
            shown(t)
        )));
    }
    let target = req.target()?;
    let requested = req.scopes()?;

    // validate
    let subject = verify(app, subject_token, "subject_token", now).await?;
    match &subject {
        Subject::Upstream(v) => {
            trail.subject = Some(v.subject.clone());
            trail.idp = Some(v.issuer.clone());
            trail.tenant = v.tenant.clone();
        }
        Subject::Own(o) => {
            trail.subject = Some(o.sub.clone());
            trail.idp = o.str_claim("idp").map(str::to_string);
            trail.tenant = o.str_claim("tid").map(str::to_string);
        }
    }
    not_expired("subject_token", subject.exp(), now)?;
    let actor = match actor_token {
        Some(t) => Some(verify_actor(app, agent, t, now).await?),
        None => None,
    };
    if let Some(a) = &actor {
        not_expired("actor_token", a.exp, now)?;
    }
    let pattern = match (&subject, &actor) {
        (Subject::Upstream(v), _) if v.is_workload() => Pattern::Workload,
        (Subject::Own(o), _) if o.pattern == "workload" => Pattern::Workload,
        (_, Some(_)) => Pattern::Hybrid,
        (_, None) => Pattern::Obo,
    };
    if pattern == Pattern::Workload && actor.is_some() {
        return Err(bad_request("a workload subject_token takes no actor_token"));
    }
    trail.pattern = Some(crate::policy::pattern_name(pattern).to_string());
    agent.allows(pattern)?;
    let (act_sub, act_iss) = match &actor {
        Some(a) => (a.principal.clone(), a.issuer.clone()),
        None => (agent.principal().to_string(), app.config.issuer.clone()),
    };
    let actor_exp = actor.as_ref().map(|a| a.exp);

    // decide, then create
    let grant = match subject {
        Subject::Upstream(v) if pattern == Pattern::Workload => {
            if !agent
                .workload
                .as_ref()
                .is_some_and(|w| w.upstream == *v.upstream && w.subject == v.subject)
            {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::WorkloadMismatch,
                    format!(
                        "subject_token is not agent {}'s workload identity",
                        agent.id
                    ),
                ));
            }
            let scopes = decide_scopes(&app.policy, agent, None, target, requested.as_deref())?;
            Grant {
                sub: v.subject,
                scopes,
                act: None,
                idp: Some(v.issuer),
                tid: v.tenant,
                not_after: Some(v.expires_at),
                ..base(agent, pattern, target)
            }
        }
        Subject::Upstream(v) => {
            check_may_act(&v.claims, &act_sub, &act_iss)?;
            let user = User {
                upstream: &v.upstream,
                groups: &v.groups,
            };
            let (scopes, would_deny) =
                decide_user_scopes(&app.policy, agent, user, target, requested.as_deref())?;
            if let Some(d) = would_deny {
                trail.decision = Some(Decision::WouldDeny);
                trail.reason = d.reason.as_str().into();
                trail.detail = format!("report-only: {}", d.description);
            }
            Grant {
                sub: v.subject,
                scopes,
                act: Some(act(
                    &act_sub,
                    actor.as_ref().map(|a| a.issuer.as_str()),
                    None,
                )),
                idp: Some(v.issuer),
                tid: v.tenant,
                not_after: Some(actor_exp.map_or(v.expires_at, |e| e.min(v.expires_at))),
                ..base(agent, pattern, target)
            }
        }
        Subject::Own(o) if pattern == Pattern::Workload => {
            if o.agent_id != agent.id {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::WorkloadMismatch,
                    format!(
                        "subject_token is another agent's workload token, not agent {}'s",
                        agent.id
                    ),
                ));
            }
            let scopes = within_subject(
                &o,
                decide_scopes(&app.policy, agent, None, target, requested.as_deref())?,
                requested.is_some(),
            )?;
            Grant {
                sub: o.sub.clone(),
                scopes,
                act: None,
                idp: o.str_claim("idp").map(str::to_string),
                tid: o.str_claim("tid").map(str::to_string),
                not_after: Some(o.exp),
                ..base(agent, pattern, target)
            }
        }
        Subject::Own(o) => {
            // RFC 8693 §4.1: a delegation chain; the prior actor nests.
            let depth = o.chain_depth() + 1;
            if depth > app.policy.max_delegation_depth {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::ChainTooDeep,
                    format!(
                        "the delegation chain would hold {depth} actors; at most {} are allowed",
                        app.policy.max_delegation_depth
                    ),
                ));
            }
            check_may_act(&o.claims, &act_sub, &act_iss)?;
            check_chain_population(app, agent, &o)?;
            let scopes = within_subject(
                &o,
                decide_scopes(&app.policy, agent, None, target, requested.as_deref())?,
                requested.is_some(),
            )?;
            Grant {
                sub: o.sub.clone(),
                scopes,
                act: Some(act(
                    &act_sub,
                    actor.as_ref().map(|a| a.issuer.as_str()),
                    o.act().cloned(),
                )),
                idp: o.str_claim("idp").map(str::to_string),
                tid: o.str_claim("tid").map(str::to_string),
                not_after: Some(actor_exp.map_or(o.exp, |e| e.min(o.exp))),
                ..base(agent, pattern, target)
            }
        }
    };
    issue(app, grant, now)
}

fn base<'a>(agent: &'a Agent, pattern: Pattern, target: &'a str) -> Grant<'a> {
    Grant {
        agent,
        pattern,
        sub: String::new(),
        target,
        scopes: Vec::new(),
        act: None,
        idp: None,
        tid: None,
        not_after: None,
        triggered_by: None,
    }
}

/// RFC 8693 §3: the token types we accept.
fn token_type(t: &str, param: &str) -> Result<(), Denial> {
    if [TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT].contains(&t) {
        Ok(())
    } else {
        Err(bad_request(format!(
            "{param} {:?} is not supported; use {TOKEN_TYPE_ACCESS_TOKEN}, {TOKEN_TYPE_ID_TOKEN} or {TOKEN_TYPE_JWT}",
            shown(t)
        )))
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

async fn verify(app: &App, token: &str, param: &str, now: UnixTime) -> Result<Subject, Denial> {
    // Decoded once, then routed by issuer: ours (a chain) or an upstream's.
    let parsed = jws::parse(token).map_err(|r| token_denial(param, r))?;
    let ours =
        parsed.claims.get("iss").and_then(|v| v.as_str()) == Some(app.config.issuer.as_str());
    if ours {
        let own = verify_own_parsed(&app.keys.current(), &app.config.issuer, parsed, now)
            .map_err(|r| token_denial(param, r))?;
        // A revoked token of ours must not buy a fresh one.
        match app.revocations.check(&own.token_ref(), now) {
            Ok(false) => {}
            Ok(true) => {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::Revoked,
                    format!("{param}: the token has been revoked"),
                ));
            }
            Err(_) => {
                return Err(Denial::new(
                    ErrorCode::TemporarilyUnavailable,
                    Reason::RevocationStateStale,
                    "revocation state is not current; try again shortly",
                ));
            }
        }
        return Ok(Subject::Own(own));
    }
    let v = app
        .upstreams
        .verify_parsed(parsed, token)
        .await
        .map_err(|r| token_denial(param, r))?;
    Ok(Subject::Upstream(v))
}

/// The actor must prove this agent: its workload token from its configured
/// upstream, or a workload token we issued to it.
async fn verify_actor(
    app: &App,
    agent: &Agent,
    token: &str,
    now: UnixTime,
) -> Result<Actor, Denial> {
    let mismatch = || {
        Denial::new(
            ErrorCode::InvalidRequest,
            Reason::ActorMismatch,
            format!(
                "actor_token does not prove agent {}'s workload identity",
                agent.id
            ),
        )
    };
    match verify(app, token, "actor_token", now).await? {
        Subject::Own(o) if o.pattern == "workload" && o.agent_id == agent.id => Ok(Actor {
            principal: o.sub,
            issuer: app.config.issuer.clone(),
            exp: o.exp,
        }),
        Subject::Upstream(v)
            if v.is_workload()
                && agent
                    .workload
                    .as_ref()
                    .is_some_and(|w| w.upstream == *v.upstream && w.subject == v.subject) =>
        {
            Ok(Actor {
                principal: v.subject,
                issuer: v.issuer,
                exp: v.expires_at,
            })
        }
        _ => Err(mismatch()),
    }
}
