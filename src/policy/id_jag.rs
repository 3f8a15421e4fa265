//! Issuing an ID-JAG (SEP-990 leg 1): may this agent have this user
//! asserted to that authorization server, for that resource and those
//! scopes? Pure, like [`super::decide_exchange`]: the tokens come in
//! verified, the clock and the revocation view's verdict as arguments.
//!
//! | rule | refusal |
//! |---|---|
//! | the subject is a user's access or ID token from an upstream IdP, of the type sent | `token_type_mismatch`, `not_an_id_jag` |
//! | it is unexpired, and its user, the agent and the client are not revoked | `expired`, `revoked` |
//! | the agent may serve that user (`user_upstreams`, `user_groups`) | `user_not_allowed` |
//! | an `[[id_jag.audiences]]` entry for the audience lists the agent | `id_jag_audience_not_allowed` |
//! | the resource is one of that entry's | `id_jag_resource_not_allowed` |
//! | every requested scope is one of that entry's (none requested: all of them) | `id_jag_scope_not_allowed` |

use super::decide::{User, check_population};
use super::exchange::rules::{check_live, check_type};
use super::{Agent, Denial, Policy, Presented, RevocationView, Token};
use crate::clock::UnixTime;
use crate::error::{ErrorCode, shown};
use crate::reason::Reason;
use crate::upstream::Groups;

/// What leg 1 is asked.
#[derive(Debug)]
pub struct IdJagAsk<'a> {
    pub agent: &'a Agent,
    pub subject: Presented<'a>,
    /// The other authorization server's issuer (`audience`).
    pub audience: &'a str,
    /// The resource there (`resource`).
    pub resource: &'a str,
    pub requested: Option<&'a [String]>,
    pub now: UnixTime,
}

/// What the ID-JAG will say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdJagDecided {
    pub sub: String,
    /// The user's IdP (`iss` of the subject token), and Entra tenant.
    pub idp: String,
    pub tid: Option<String>,
    /// The agent's client id at the audience.
    pub client_id: String,
    pub scopes: Vec<String>,
    /// The user's groups, when known, for the receiver's own policy.
    pub groups: Option<Vec<String>>,
    /// The subject token's `exp`: the ID-JAG never outlives it.
    pub not_after: UnixTime,
}

fn refused(reason: Reason, error: ErrorCode, why: String) -> Denial {
    Denial::new(error, reason, why)
}

/// Decide leg 1; see the module table for the rules.
pub fn decide_id_jag(
    policy: &Policy,
    revocations: &dyn RevocationView,
    x: &IdJagAsk<'_>,
) -> Result<IdJagDecided, Denial> {
    let agent = x.agent;
    check_type(&x.subject, "subject_token", false)?;
    let v = match x.subject.token {
        Token::Upstream(v) if !v.is_workload() => v,
        _ => {
            return Err(refused(
                Reason::TokenTypeMismatch,
                ErrorCode::InvalidRequest,
                "subject_token: an ID-JAG asserts a user: send the user's ID token or access token from their IdP"
                    .into(),
            ));
        }
    };
    check_live(revocations, agent, x.subject.token, "subject_token", x.now)?;
    check_population(
        agent,
        &User {
            upstream: &v.upstream,
            groups: &v.groups,
        },
    )?;
    let entry = policy
        .id_jag
        .audience(x.audience)
        .filter(|e| e.agents.contains(&agent.id))
        .ok_or_else(|| {
            refused(
                Reason::IdJagAudienceNotAllowed,
                ErrorCode::InvalidTarget,
                format!(
                    "agent {} may not have ID-JAGs issued for {}",
                    agent.id,
                    shown(x.audience)
                ),
            )
        })?;
    if !entry.resources.iter().any(|r| r == x.resource) {
        return Err(refused(
            Reason::IdJagResourceNotAllowed,
            ErrorCode::InvalidTarget,
            format!(
                "resource {} is not one ID-JAGs for {} may name",
                shown(x.resource),
                shown(x.audience)
            ),
        ));
    }
    let scopes = match x.requested {
        Some(list) => {
            if let Some(s) = list.iter().find(|s| !entry.scopes.contains(s)) {
                return Err(refused(
                    Reason::IdJagScopeNotAllowed,
                    ErrorCode::InvalidScope,
                    format!(
                        "scope {} may not be asserted to {}",
                        shown(s),
                        shown(x.audience)
                    ),
                ));
            }
            list.to_vec()
        }
        None => entry.scopes.clone(),
    };
    Ok(IdJagDecided {
        sub: v.subject.clone(),
        idp: v.issuer.clone(),
        tid: v.tenant.clone(),
        client_id: entry
            .client_ids
            .get(&agent.id)
            .cloned()
            .unwrap_or_else(|| agent.client.id.clone()),
        scopes,
        groups: match &v.groups {
            Groups::Known(g) if !g.is_empty() => Some(g.clone()),
            _ => None,
        },
        not_after: v.expires_at,
    })
}

#[cfg(test)]
mod tests;
