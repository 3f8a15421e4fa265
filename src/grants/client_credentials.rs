//! `grant_type=client_credentials` (RFC 6749 §4.4): the workload pattern
//! with the agent's own credentials. `sub` is the agent principal; no `act`.

use super::issue::{Grant, Issued, issue};
use super::{CredentialsRequest, Grants};
use crate::audit::Facts;
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::error::ErrorCode;
use crate::policy::{Agent, Denial, decide_break_glass, decide_scopes};
use crate::reason::Reason;
use crate::store::BreakGlassWindow;

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

/// [`decide`], then, when the policy refuses the agent the workload
/// pattern, the break-glass windows open `now` ([`decide_break_glass`]):
/// the scopes, and the window that let them through.
pub async fn decide_now(
    ctx: &Grants<'_>,
    agent: &Agent,
    target: &str,
    requested: Option<&[String]>,
    now: UnixTime,
) -> Result<(Vec<String>, Option<BreakGlassWindow>), Denial> {
    match decide(ctx.policy, agent, target, requested) {
        Ok(scopes) => Ok((scopes, None)),
        Err(refused) if refused.reason == Reason::PatternNotAllowed && agent.break_glass => {
            let windows = ctx.break_glass.open_windows(now).await.map_err(|e| {
                tracing::error!(error = %e, "break-glass windows unreadable");
                refused.clone()
            })?;
            let w = decide_break_glass(agent, &windows, target, refused, now)?.clone();
            let scopes = decide_scopes(ctx.policy, agent, None, target, requested)?;
            Ok((scopes, Some(w)))
        }
        Err(d) => Err(d),
    }
}

/// The workload grant; when the policy refuses the agent the workload
/// pattern, an open break-glass window may let it through
/// ([`decide_break_glass`]): the token then carries the window in
/// `urn:agent.break_glass`, never outlives it, and is recorded so that
/// closing the window revokes it.
pub async fn grant(
    ctx: &Grants<'_>,
    agent: &Agent,
    req: &CredentialsRequest,
    now: UnixTime,
    facts: &mut Facts,
) -> Result<Issued, Denial> {
    let (target, requested) = (req.target.as_str(), req.scopes.as_deref());
    let (scopes, window) = decide_now(ctx, agent, target, requested, now).await?;
    let issued = issue(
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
            not_after: window.as_ref().map(|w| w.expires_at),
            triggered_by: req.triggered_by.clone(),
            waived: None,
            ancestors: Vec::new(),
            jti: None,
            break_glass: window.as_ref().map(|w| (w.id.clone(), w.reason.clone())),
        },
        now,
    )?;
    if let Some(w) = window {
        // Recorded before the answer: a token its window's closing could
        // not revoke is never handed out.
        ctx.break_glass
            .record_window_token(&w.id, &issued.claims.jti, issued.claims.exp)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "break-glass token not recorded; none issued");
                Denial::new(
                    ErrorCode::TemporarilyUnavailable,
                    Reason::AuditUnavailable,
                    "the token could not be recorded; nothing was issued, try again",
                )
            })?;
        tracing::warn!(window = %w.id, agent = %agent.id, jti = %issued.claims.jti, "token issued under a break-glass window");
        facts.allowed_as = Some("break_glass");
        facts.detail = format!("under break-glass window {}: {}", w.id, w.reason);
    }
    Ok(issued)
}
