//! `grant_type=client_credentials` (RFC 6749 §4.4): the workload pattern
//! with the agent's own credentials. `sub` is the agent principal; no `act`.

use super::issue::{Grant, Issued, issue};
use super::{CredentialsRequest, Grants};
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::policy::{Agent, Denial, decide_scopes};

pub fn grant(
    ctx: &Grants<'_>,
    agent: &Agent,
    req: &CredentialsRequest,
    now: UnixTime,
) -> Result<Issued, Denial> {
    let (target, requested) = (req.target.as_str(), req.scopes.as_deref());
    // validate
    agent.allows(Pattern::Workload)?;
    let scopes = decide_scopes(ctx.policy, agent, None, target, requested)?;
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
