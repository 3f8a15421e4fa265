//! The delegation decision of a token exchange (RFC 8693), over tokens
//! already verified: which pattern, who acts, what the new token may carry.
//! Pure: no `App`, no I/O; the clock and the revocation view's verdict
//! come in as arguments. Every rule below has allow and deny rows in
//! `exchange/tests.rs`.
//!
//! | rule | refusal |
//! |---|---|
//! | token types say what the tokens are (RFC 8693 §3) | `token_type_mismatch` |
//! | presented tokens unexpired, and not revoked: ours by jti, agent, client or ancestor; any token by a revocation of its user, the agent or the client made at or after its issue | `expired`, `revoked` |
//! | an actor proves this agent's workload identity, and is not itself delegated | `actor_mismatch`, `invalid_act` |
//! | the pattern is one the agent may use | `pattern_not_allowed` |
//! | a workload subject is this agent's own | `workload_mismatch` |
//! | `may_act` in a subject token names the actor (RFC 8693 §4.4) | `may_act_mismatch` |
//! | an upstream `act` is a chain of objects with `sub`, within the cap, and nests below the new actor | `invalid_act`, `chain_too_deep` |
//! | one of our tokens is presented by its own client (to narrow it: `act` unchanged) or by the agent that serves its audience (a chain: the new actor nests above) | `presenter_not_allowed` |
//! | a token granted under a report-only waiver stays report-only | `report_only_subject` |
//! | a chain holds at most `max_delegation_depth` actors and ancestors | `chain_too_deep` |
//! | a chain keeps the next agent's user population (groups unknown: refused) | `user_not_allowed` |
//! | a derived token never carries a scope its subject lacks | `scope_exceeds_subject`, `no_scope_granted` |
//! | targets, declared scopes, the user's groups ([`decide_scopes`]) | `target_not_allowed`, `invalid_scope` reasons |

use serde_json::{Map, Value, json};

use super::{Agent, Denial, Policy, User, decide_scopes, decide_user_scopes};
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::error::{ErrorCode, shown};
use crate::metadata::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT};
use crate::reason::Reason;
use crate::revocation::{Ancestor, Revocations, Stale, TokenRef};
use crate::tokens::own::OwnToken;
use crate::upstream::{TokenShape, VerifiedToken};

/// A presented token, verified: an IdP's or one of ours.
#[derive(Debug, Clone, Copy)]
pub enum Token<'a> {
    Upstream(&'a VerifiedToken),
    /// Ours, with the configured name of the upstream its user came from.
    Own(&'a OwnToken, Option<&'a str>),
}

/// A presented token and the type the request says it is.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub token: Token<'a>,
    pub token_type: &'a str,
}

/// Everything the decision looks at.
#[derive(Debug)]
pub struct Exchange<'a> {
    pub agent: &'a Agent,
    /// Our own issuer: the `iss` of an actor we vouch for.
    pub issuer: &'a str,
    pub subject: Presented<'a>,
    pub actor: Option<Presented<'a>>,
    pub target: &'a str,
    pub requested: Option<&'a [String]>,
    pub now: UnixTime,
}

/// The revocation view's verdict on a token; `Err` when the view is too
/// old to be trusted.
pub trait RevocationView {
    fn check(&self, t: &TokenRef<'_>, now: UnixTime) -> Result<bool, Stale>;
}

impl RevocationView for Revocations {
    fn check(&self, t: &TokenRef<'_>, now: UnixTime) -> Result<bool, Stale> {
        Revocations::check(self, t, now)
    }
}

/// A report-only agent let through what would have been denied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    /// The denial it would have been: the audit record's `would_deny`.
    pub denial: Denial,
    /// The group rule waived, carried in `urn:agent.report_only.waived` of
    /// the token and of every token derived from it.
    pub waived: String,
}

/// What the exchange grants: everything the new token says.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub pattern: Pattern,
    pub sub: String,
    pub scopes: Vec<String>,
    pub act: Option<Value>,
    pub may_act: Option<Value>,
    pub idp: Option<String>,
    pub tid: Option<String>,
    /// The earliest `exp` of the presented tokens.
    pub not_after: UnixTime,
    pub waiver: Option<Waiver>,
    /// The tokens of ours this one is made from, oldest first.
    pub ancestors: Vec<Ancestor>,
}

fn bad_request(description: impl Into<String>) -> Denial {
    Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, description)
}

/// The decision, and the pattern once it was known (the audit record
/// names it on denials too).
#[derive(Debug)]
pub struct Outcome {
    pub pattern: Option<Pattern>,
    pub decision: Result<Decided, Denial>,
}

/// Decide a token exchange; see the module table for the rules.
pub fn decide_exchange(
    policy: &Policy,
    revocations: &dyn RevocationView,
    x: &Exchange<'_>,
) -> Outcome {
    let mut pattern = None;
    let decision = decide(policy, revocations, x, &mut pattern);
    Outcome { pattern, decision }
}

fn decide(
    policy: &Policy,
    revocations: &dyn RevocationView,
    x: &Exchange<'_>,
    known: &mut Option<Pattern>,
) -> Result<Decided, Denial> {
    let agent = x.agent;
    check_type(&x.subject, "subject_token")?;
    check_live(revocations, agent, x.subject.token, "subject_token", x.now)?;
    let actor = match &x.actor {
        Some(a) => {
            check_type(a, "actor_token")?;
            check_live(revocations, agent, a.token, "actor_token", x.now)?;
            Some(actor_of(agent, a.token, x.issuer)?)
        }
        None => None,
    };
    let workload = match x.subject.token {
        Token::Upstream(v) => v.is_workload(),
        Token::Own(o, _) => o.pattern == "workload",
    };
    // One of ours, presented by the client it was issued to.
    let narrowing = matches!(x.subject.token,
        Token::Own(o, _) if o.client_id == agent.client.id && o.agent_id == agent.id);
    let pattern = match (workload, &actor, x.subject.token) {
        (true, Some(_), _) => {
            return Err(bad_request("a workload subject_token takes no actor_token"));
        }
        (true, None, _) => Pattern::Workload,
        (false, _, Token::Own(o, _)) if narrowing => {
            // Narrowing one's own token keeps its pattern and actor.
            if actor.is_some() {
                return Err(bad_request(
                    "actor_token is not taken when narrowing a token issued to you: its act stays as it is",
                ));
            }
            pattern_of(&o.pattern)
        }
        (false, Some(_), _) => Pattern::Hybrid,
        (false, None, _) => Pattern::Obo,
    };
    *known = Some(pattern);
    agent.allows(pattern)?;
    let (act_sub, act_iss) = match &actor {
        Some(a) => (a.principal.as_str(), a.issuer.as_str()),
        None => (agent.principal(), x.issuer),
    };
    let actor_exp = actor.as_ref().map(|a| a.exp);
    let scopes = |user: Option<User<'_>>| decide_scopes(policy, agent, user, x.target, x.requested);
    let may_act = (pattern != Pattern::Workload)
        .then(|| policy.server_of(x.target).map(downstream_may_act))
        .flatten();
    match x.subject.token {
        Token::Upstream(v) if pattern == Pattern::Workload => {
            let own = agent
                .workload
                .as_ref()
                .is_some_and(|w| w.upstream == *v.upstream && w.subject == v.subject);
            if !own {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::WorkloadMismatch,
                    format!(
                        "subject_token is not agent {}'s workload identity",
                        agent.id
                    ),
                ));
            }
            if v.claims.contains_key("act") {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::InvalidAct,
                    "subject_token: a workload token with act cannot be a workload subject (its sub would not be the actor)",
                ));
            }
            Ok(Decided {
                pattern,
                sub: v.subject.clone(),
                scopes: scopes(None)?,
                act: None,
                may_act,
                idp: Some(v.issuer.clone()),
                tid: v.tenant.clone(),
                not_after: v.expires_at,
                waiver: None,
                ancestors: Vec::new(),
            })
        }
        Token::Upstream(v) => {
            check_may_act(&v.claims, act_sub, act_iss, &agent.client.id)?;
            let (prior, prior_depth) =
                upstream_act(v.claims.get("act"), policy.max_delegation_depth)?;
            check_depth(prior_depth + 1, policy.max_delegation_depth)?;
            let user = User {
                upstream: &v.upstream,
                groups: &v.groups,
            };
            let (scopes, would_deny) =
                decide_user_scopes(policy, agent, user, x.target, x.requested)?;
            Ok(Decided {
                pattern,
                sub: v.subject.clone(),
                scopes,
                act: Some(act(
                    act_sub,
                    actor.as_ref().map(|a| a.issuer.as_str()),
                    prior,
                )),
                may_act,
                idp: Some(v.issuer.clone()),
                tid: v.tenant.clone(),
                not_after: actor_exp.map_or(v.expires_at, |e| e.min(v.expires_at)),
                waiver: would_deny.map(|d| Waiver {
                    waived: d.reason.as_str().to_string(),
                    denial: report_only(d),
                }),
                ancestors: Vec::new(),
            })
        }
        Token::Own(o, _) if pattern == Pattern::Workload => {
            if !narrowing {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::WorkloadMismatch,
                    format!(
                        "subject_token is another agent's workload token, not agent {}'s",
                        agent.id
                    ),
                ));
            }
            let ancestors = lineage(o, policy.max_delegation_depth)?;
            Ok(Decided {
                pattern,
                sub: o.sub.clone(),
                scopes: within_subject(o, scopes(None)?, x.requested.is_some())?,
                act: None,
                may_act,
                idp: o.str_claim("idp").map(str::to_string),
                tid: o.str_claim("tid").map(str::to_string),
                not_after: o.exp,
                waiver: None,
                ancestors,
            })
        }
        Token::Own(o, upstream) => {
            let downstream = policy.server_of(&o.aud).is_some_and(|s| s.id == agent.id);
            if !narrowing && !downstream {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::PresenterNotAllowed,
                    format!(
                        "subject_token was issued to client {} for {}; only that client, or the agent \
                         that serves {}, may exchange it",
                        o.client_id,
                        shown(&o.aud),
                        shown(&o.aud)
                    ),
                ));
            }
            let mut waiver = o
                .waived
                .as_deref()
                .map(|w| subject_waiver(agent, w))
                .transpose()?;
            let ancestors = lineage(o, policy.max_delegation_depth)?;
            let act = if narrowing {
                o.act().cloned()
            } else {
                // RFC 8693 §4.1: a delegation chain; the prior actor nests.
                check_depth(o.chain_depth() + 1, policy.max_delegation_depth)?;
                check_may_act(&o.claims, act_sub, act_iss, &agent.client.id)?;
                if let Err(d) = check_chain_population(agent, upstream) {
                    if !agent.report_only {
                        return Err(d);
                    }
                    waiver.get_or_insert(Waiver {
                        waived: d.reason.as_str().to_string(),
                        denial: report_only(d),
                    });
                }
                Some(act(
                    act_sub,
                    actor.as_ref().map(|a| a.issuer.as_str()),
                    o.act().cloned(),
                ))
            };
            Ok(Decided {
                pattern,
                sub: o.sub.clone(),
                scopes: within_subject(o, scopes(None)?, x.requested.is_some())?,
                act,
                may_act,
                idp: o.str_claim("idp").map(str::to_string),
                tid: o.str_claim("tid").map(str::to_string),
                not_after: actor_exp.map_or(o.exp, |e| e.min(o.exp)),
                waiver,
                ancestors,
            })
        }
    }
}

fn pattern_of(name: &str) -> Pattern {
    match name {
        "hybrid" => Pattern::Hybrid,
        "workload" => Pattern::Workload,
        _ => Pattern::Obo,
    }
}

fn report_only(d: Denial) -> Denial {
    Denial {
        description: format!("report-only: {}", d.description),
        ..d
    }
}

/// A subject granted under a waiver: an enforcing agent refuses it (its
/// user's groups were never checked for real); a report-only agent goes on
/// reporting, and its token keeps the marker.
fn subject_waiver(agent: &Agent, waived: &str) -> Result<Waiver, Denial> {
    let d = Denial::new(
        ErrorCode::InvalidRequest,
        Reason::ReportOnlySubject,
        format!(
            "subject_token was granted under a report-only waiver ({waived}); agent {} enforces \
             its policy, so it cannot derive a token from it",
            agent.id
        ),
    );
    if agent.report_only {
        Ok(Waiver {
            waived: waived.to_string(),
            denial: report_only(d),
        })
    } else {
        Err(d)
    }
}

/// RFC 8693 §3: the type sent says what the token is. Our tokens and
/// upstream access tokens are `access_token`; ID tokens `id_token`; `jwt`
/// is for workload tokens only (a Kubernetes, GitHub Actions or SPIFFE
/// token, or an IdP's app-only token).
fn check_type(p: &Presented<'_>, param: &str) -> Result<(), Denial> {
    let (shape, workload) = match p.token {
        Token::Upstream(v) => (v.shape, v.is_workload()),
        Token::Own(o, _) => (TokenShape::Access, o.pattern == "workload"),
    };
    let ok = match p.token_type {
        TOKEN_TYPE_ACCESS_TOKEN => shape == TokenShape::Access,
        TOKEN_TYPE_ID_TOKEN => shape == TokenShape::Id && matches!(p.token, Token::Upstream(_)),
        TOKEN_TYPE_JWT => workload && matches!(p.token, Token::Upstream(_)),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let (what, use_type) = match (shape, workload, p.token) {
        (_, _, Token::Own(..)) => ("one of our access tokens", TOKEN_TYPE_ACCESS_TOKEN),
        (TokenShape::Access, true, _) => ("a workload access token", TOKEN_TYPE_ACCESS_TOKEN),
        (TokenShape::Access, false, _) => ("an access token", TOKEN_TYPE_ACCESS_TOKEN),
        (TokenShape::Id, _, _) => ("an ID token", TOKEN_TYPE_ID_TOKEN),
        (TokenShape::Jwt, true, _) => ("a workload JWT", TOKEN_TYPE_JWT),
        (TokenShape::Jwt, false, _) => {
            return Err(Denial::new(
                ErrorCode::InvalidRequest,
                Reason::TokenTypeMismatch,
                format!(
                    "{param} is a user's JWT that is neither an access token nor an ID token; \
                     jwt is accepted for workload tokens only"
                ),
            ));
        }
    };
    Err(Denial::new(
        ErrorCode::InvalidRequest,
        Reason::TokenTypeMismatch,
        format!(
            "{param}_type is {}, but {param} is {what}: send {use_type}",
            shown(p.token_type)
        ),
    ))
}

/// Unexpired, and not revoked: for ours, the token itself, its agent,
/// client and ancestors; for any token, a revocation of its user, of the
/// agent asking or of its client made at or after the token was issued.
fn check_live(
    revocations: &dyn RevocationView,
    agent: &Agent,
    token: Token<'_>,
    param: &str,
    now: UnixTime,
) -> Result<(), Denial> {
    let (exp, own, presenter) = match token {
        Token::Upstream(v) => (
            v.expires_at,
            None,
            TokenRef {
                jti: None,
                sub: &v.subject,
                idp: Some(&v.issuer),
                agent: &agent.id,
                client: &agent.client.id,
                iat: v.issued_by,
                ancestors: &[],
            },
        ),
        Token::Own(o, _) => (
            o.exp,
            Some(o.token_ref()),
            TokenRef {
                jti: None,
                agent: &agent.id,
                client: &agent.client.id,
                ancestors: &[],
                ..o.token_ref()
            },
        ),
    };
    // The IdP's clock skew may admit a token whose `exp` has just passed;
    // we never mint from it (ours could not outlive it by even a second).
    if exp <= now {
        return Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::Expired,
            format!(
                "{param}: the token expired {}s ago",
                now.saturating_sub(exp)
            ),
        ));
    }
    for t in own.iter().chain([&presenter]) {
        match revocations.check(t, now) {
            Ok(false) => {}
            Ok(true) => {
                return Err(Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::Revoked,
                    match token {
                        Token::Own(..) => format!("{param}: the token has been revoked"),
                        Token::Upstream(_) => format!(
                            "{param}: its user, agent or client was revoked after it was issued; \
                             a token issued since is needed"
                        ),
                    },
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
    }
    Ok(())
}

/// The verified actor of a hybrid exchange.
#[derive(Debug)]
struct Actor {
    principal: String,
    issuer: String,
    exp: UnixTime,
}

/// The actor must prove this agent: its workload token from its configured
/// upstream, or a workload token we issued to it; and act for itself (an
/// actor token with its own `act` is refused, never dropped).
fn actor_of(agent: &Agent, token: Token<'_>, issuer: &str) -> Result<Actor, Denial> {
    let delegated = match token {
        Token::Upstream(v) => v.claims.contains_key("act"),
        Token::Own(o, _) => o.act().is_some(),
    };
    if delegated {
        return Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::InvalidAct,
            "actor_token carries act: an actor that is itself delegated is not accepted",
        ));
    }
    match token {
        Token::Own(o, _)
            if o.pattern == "workload"
                && o.agent_id == agent.id
                && o.client_id == agent.client.id =>
        {
            Ok(Actor {
                principal: o.sub.clone(),
                issuer: issuer.to_string(),
                exp: o.exp,
            })
        }
        Token::Upstream(v)
            if v.is_workload()
                && agent
                    .workload
                    .as_ref()
                    .is_some_and(|w| w.upstream == *v.upstream && w.subject == v.subject) =>
        {
            Ok(Actor {
                principal: v.subject.clone(),
                issuer: v.issuer.clone(),
                exp: v.expires_at,
            })
        }
        _ => Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::ActorMismatch,
            format!(
                "actor_token does not prove agent {}'s workload identity",
                agent.id
            ),
        )),
    }
}

/// `{"sub", "iss"?, "act"?}`: RFC 8693 §4.1.
fn act(sub: &str, iss: Option<&str>, prior: Option<Value>) -> Value {
    let mut a = Map::new();
    a.insert("sub".into(), json!(sub));
    if let Some(iss) = iss {
        a.insert("iss".into(), json!(iss));
    }
    if let Some(p) = prior {
        a.insert("act".into(), p);
    }
    Value::Object(a)
}

/// The `may_act` of tokens for a resource some agent serves: that agent,
/// by principal and client (RFC 8693 §4.4).
fn downstream_may_act(server: &Agent) -> Value {
    json!({"sub": server.principal(), "client_id": server.client.id})
}

/// RFC 8693 §4.4: when the subject token says who may act, it must be
/// this actor (`sub`; `iss` and `client_id` when named).
fn check_may_act(
    claims: &Map<String, Value>,
    principal: &str,
    issuer: &str,
    client: &str,
) -> Result<(), Denial> {
    let Some(may) = claims.get("may_act") else {
        return Ok(());
    };
    let sub_ok = may.get("sub").and_then(Value::as_str) == Some(principal);
    let iss_ok = may.get("iss").is_none_or(|i| i.as_str() == Some(issuer));
    let client_ok = may
        .get("client_id")
        .is_none_or(|c| c.as_str() == Some(client));
    if sub_ok && iss_ok && client_ok {
        Ok(())
    } else {
        Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::MayActMismatch,
            format!("subject_token's may_act does not name the actor {principal}"),
        ))
    }
}

/// An upstream token's own `act`: a chain of objects, each with a string
/// `sub`, at most `max` deep. Returns it (to nest below the new actor) and
/// its depth; anything else is refused, never dropped.
fn upstream_act(act: Option<&Value>, max: usize) -> Result<(Option<Value>, usize), Denial> {
    let invalid = |why: &str| {
        Denial::new(
            ErrorCode::InvalidRequest,
            Reason::InvalidAct,
            format!("subject_token: act {why}"),
        )
    };
    let mut depth = 0;
    let mut level = act;
    while let Some(a) = level {
        depth += 1;
        if depth > max {
            return Err(invalid(&format!(
                "is nested deeper than the delegation cap of {max}"
            )));
        }
        let o = a
            .as_object()
            .ok_or_else(|| invalid("must be an object with a sub"))?;
        if o.get("sub")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(invalid("must name its actor in a non-empty string sub"));
        }
        if o.get("iss").is_some_and(|i| !i.is_string()) {
            return Err(invalid("iss must be a string"));
        }
        level = o.get("act");
    }
    Ok((act.cloned(), depth))
}

fn check_depth(depth: usize, max: usize) -> Result<(), Denial> {
    if depth > max {
        return Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::ChainTooDeep,
            format!("the delegation chain would hold {depth} actors; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// The new token's ancestors: the subject's, then the subject. Bounded by
/// the depth cap, so narrowing again and again cannot grow tokens forever.
fn lineage(o: &OwnToken, max: usize) -> Result<Vec<Ancestor>, Denial> {
    let n = o.ancestors.len() + 1;
    if n > max {
        return Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::ChainTooDeep,
            format!("the token would be derived from {n} tokens; at most {max} are allowed"),
        ));
    }
    let mut all = o.ancestors.clone();
    all.push(o.as_ancestor());
    Ok(all)
}

/// A token made from one of ours never carries a scope the subject lacks.
fn within_subject(
    o: &OwnToken,
    decided: Vec<String>,
    explicit: bool,
) -> Result<Vec<String>, Denial> {
    if explicit && let Some(s) = decided.iter().find(|s| !o.scopes.contains(s)) {
        return Err(Denial::new(
            ErrorCode::InvalidScope,
            Reason::ScopeExceedsSubject,
            format!("scope {} is not in the subject_token's scope", shown(s)),
        ));
    }
    let kept: Vec<String> = decided
        .into_iter()
        .filter(|s| o.scopes.contains(s))
        .collect();
    if kept.is_empty() {
        return Err(Denial::new(
            ErrorCode::InvalidScope,
            Reason::NoScopeGranted,
            "none of the subject_token's scopes can be granted here",
        ));
    }
    Ok(kept)
}

/// A chain must not let a user past the next agent's population rules. Our
/// tokens carry the user's upstream (`idp`) but not their groups, so an
/// agent restricted by group refuses chained tokens (fail closed).
fn check_chain_population(agent: &Agent, upstream: Option<&str>) -> Result<(), Denial> {
    let not_allowed =
        |why: String| Denial::new(ErrorCode::InvalidGrant, Reason::UserNotAllowed, why);
    if !agent.user_groups.is_empty() {
        return Err(not_allowed(format!(
            "the user is in none of agent {}'s user_groups",
            agent.id
        )));
    }
    if !agent.user_upstreams.is_empty()
        && !upstream.is_some_and(|u| agent.user_upstreams.iter().any(|a| a == u))
    {
        return Err(not_allowed(format!(
            "users of {} may not use agent {}",
            upstream.unwrap_or("an unknown upstream"),
            agent.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
