//! `grant_type=client_credentials` (RFC 6749 §4.4): the workload pattern
//! with the agent's own credentials. `sub` is the agent principal; no `act`.

use super::issue::{Grant, Issued, issue};
use super::{CredentialsRequest, Grants};
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::policy::{Agent, Denial, decide_scopes};

/// The workload pattern's decision: the agent may use it, and the scopes
/// it declares for the target (no group rule applies).
pub fn decide(
    policy: &crate::policy::Policy,
    agent: &Agent,
    target: &str,
    requested: Option<&[String]>,
) -> Result<Vec<String>, Denial> {
    agent.allows(Pattern::Workload)?;
    decide_scopes(policy, agent, None, target, requested)
}

pub fn grant(
    ctx: &Grants<'_>,
    agent: &Agent,
    req: &CredentialsRequest,
    now: UnixTime,
) -> Result<Issued, Denial> {
    let (target, requested) = (req.target.as_str(), req.scopes.as_deref());
    let scopes = decide(ctx.policy, agent, target, requested)?;
    // create
    issue(
        ctx,
        Grant {
            agent,
            pattern: Pattern::Workload,
            sub: agent.principal().to_string(),
            target,
            scopes,
            act: None,
            may_act: None,
            idp: None,
            tid: None,
            not_after: None,
            triggered_by: req.triggered_by.clone(),
            waived: None,
            ancestors: Vec::new(),
            jti: None,
        },
        now,
    )
}
