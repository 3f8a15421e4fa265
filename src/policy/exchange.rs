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
//! | an ID-JAG was issued to the client presenting it, and the token carries only scopes it asserts | `id_jag_client_mismatch`, `scope_exceeds_subject` |
//! | targets, declared scopes, the user's groups ([`decide_scopes`]) | `target_not_allowed`, `invalid_scope` reasons |

use serde_json::Value;

use super::{Agent, Denial, Policy, User, decide_scopes, decide_user_scopes};
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::error::{ErrorCode, shown};
use crate::reason::Reason;
use crate::revocation_list::{Ancestor, Revocations, Stale, TokenRef};
use crate::tokens::own::OwnToken;
use crate::upstream::VerifiedToken;
use rules::{
    act, actor_of, check_chain_population, check_depth, check_id_jag_client, check_live,
    check_may_act, check_type, downstream_may_act, lineage, pattern_of, report_only,
    subject_waiver, upstream_act, within_assertion, within_subject,
};

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
    /// How the subject token came.
    pub arrival: Arrival,
}

/// How the user's token reached the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The client presented it (`subject_token`): obo, hybrid, workload,
    /// chains.
    Presented,
    /// The ID token of a sign-in through our `/authorize` (`interactive`).
    SignedIn,
    /// An ID-JAG, the `assertion` of a jwt-bearer grant (`id_jag`).
    IdJag,
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
    let param = match x.arrival {
        Arrival::IdJag => "assertion",
        _ => "subject_token",
    };
    check_type(&x.subject, param, x.arrival == Arrival::IdJag)?;
    check_live(revocations, agent, x.subject.token, param, x.now)?;
    let actor = match &x.actor {
        Some(a) => {
            check_type(a, "actor_token", false)?;
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
        (false, None, Token::Upstream(_)) if x.arrival == Arrival::SignedIn => Pattern::Interactive,
        (false, None, Token::Upstream(_)) if x.arrival == Arrival::IdJag => Pattern::IdJag,
        (_, _, _) if x.arrival != Arrival::Presented => {
            return Err(bad_request(
                "a sign-in or ID-JAG names a user of an upstream IdP, without an actor",
            ));
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
            if pattern == Pattern::IdJag {
                check_id_jag_client(v, agent)?;
            }
            check_may_act(&v.claims, act_sub, act_iss, &agent.client.id)?;
            let (prior, prior_depth) =
                upstream_act(v.claims.get("act"), policy.max_delegation_depth)?;
            check_depth(prior_depth + 1, policy.max_delegation_depth)?;
            let user = User {
                upstream: &v.upstream,
                groups: &v.groups,
            };
            // An ID-JAG without a `scope` request: what it asserts, of what
            // the agent declares for the target (scope ∩ policy).
            let asserted: Vec<String> = match (pattern, x.requested) {
                (Pattern::IdJag, None) => v
                    .scopes
                    .iter()
                    .filter(|s| {
                        agent.declares(s)
                            && policy
                                .resource_scopes(x.target)
                                .is_some_and(|r| r.contains(s.as_str()))
                    })
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            };
            let requested = match (pattern, x.requested) {
                (Pattern::IdJag, None) => Some(asserted.as_slice()),
                (_, r) => r,
            };
            if pattern == Pattern::IdJag {
                within_assertion(v, requested.unwrap_or_default())?;
            }
            let (scopes, would_deny) =
                decide_user_scopes(policy, agent, user, x.target, requested)?;
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

pub(super) mod rules;
#[cfg(test)]
mod tests;
