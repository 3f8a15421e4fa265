//! `grant_type=client_credentials` (RFC 6749 §4.4): the workload pattern
//! with the agent's own credentials. `sub` is the agent principal; no `act`.

use super::issue::{Grant, Issued, issue};
use super::{TokenRequest, bad_request};
use crate::app::App;
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::policy::{Agent, Denial, decide_scopes};

const MAX_TRIGGERED_BY: usize = 256;

pub fn grant(
    app: &App,
    agent: &Agent,
    req: &TokenRequest,
    now: UnixTime,
) -> Result<Issued, Denial> {
    // parse
    let target = req.target()?;
    let requested = req.scopes()?;
    let triggered_by = req.get("triggered_by").map(str::to_string);
    if triggered_by
        .as_ref()
        .is_some_and(|t| t.len() > MAX_TRIGGERED_BY)
    {
        return Err(bad_request(format!(
            "triggered_by is longer than {MAX_TRIGGERED_BY} characters"
        )));
    }
    // validate
    agent.allows(Pattern::Workload)?;
    let scopes = decide_scopes(&app.policy, agent, None, target, requested.as_deref())?;
    // create
    issue(
        app,
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
            triggered_by,
            waived: None,
            ancestors: Vec::new(),
        },
        now,
    )
}
