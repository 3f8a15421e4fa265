//! The per-request decision: target, scopes, user population (DESIGN §5).

use super::{Agent, Denial, Policy};
use crate::error::{ErrorCode, shown};
use crate::reason::Reason;
use crate::upstream::Groups;

/// The user behind a user pattern: which upstream and which groups.
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    pub upstream: &'a str,
    pub groups: &'a Groups,
}

impl User<'_> {
    /// `"<upstream>:*"` is every user that upstream authenticates.
    fn in_group(&self, upstream: &str, group: &str) -> bool {
        if group == "*" {
            return self.upstream == upstream;
        }
        match self.groups {
            Groups::Known(gs) => self.upstream == upstream && gs.iter().any(|g| g == group),
            Groups::Unknown => false,
        }
    }
}

/// One candidate scope and what the group rules made of it: the trace
/// `explain` prints, and the steps [`decide_scopes`] folds. Borrowed from
/// the policy and the request: `/token` folds it without rendering a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeStep<'a> {
    pub scope: &'a str,
    /// `required` or `optional` (the agent's declaration).
    pub declared: &'static str,
    /// `granted`, `dropped` (optional, not held) or `denied` (required, not held).
    pub outcome: &'static str,
    pub rule: Rule<'a>,
    /// The refusal a denied step makes.
    pub denial: Option<Denial>,
}

/// What decided a step; rendered (by `Display`) only for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule<'a> {
    /// A workload token: no group rule applies.
    NoGroupRule,
    /// The `[scope_groups]` entry (upstream, group) that holds it for the user.
    HeldBy(&'a str, &'a str),
    /// None of the user's groups holds it; these do.
    HeldByNone(Option<&'a super::Names<(String, String)>>),
}

impl std::fmt::Display for Rule<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoGroupRule => f.write_str("no group rule: a workload token"),
            Self::HeldBy(up, g) => write!(f, "[scope_groups] \"{up}:{g}\""),
            Self::HeldByNone(holders) => {
                let mut names: Vec<String> = holders
                    .map(|hs| hs.iter().map(|(up, g)| format!("{up}:{g}")).collect())
                    .unwrap_or_default();
                names.sort();
                write!(
                    f,
                    "held by none of the user's groups (holders: {})",
                    names.join(", ")
                )
            }
        }
    }
}

/// Decide the target and the scopes to grant.
///
/// - `target` must be one of the agent's resources (`invalid_target`).
/// - Each requested scope must be declared by the agent and belong to the
///   target (`invalid_scope`).
/// - With no `scope` parameter: the agent's scopes that belong to the target.
/// - For user patterns, each scope must be held through `scope_groups`: a
///   required one the user lacks denies; an optional one is dropped.
/// - Nothing left to grant denies.
pub fn decide_scopes(
    policy: &Policy,
    agent: &Agent,
    user: Option<User<'_>>,
    target: &str,
    requested: Option<&[String]>,
) -> Result<Vec<String>, Denial> {
    let steps = scope_steps(policy, agent, user, target, requested)?;
    if let Some(d) = steps.iter().find_map(|s| s.denial.clone()) {
        return Err(d);
    }
    let granted: Vec<String> = steps
        .iter()
        .filter(|s| s.outcome == "granted")
        .map(|s| s.scope.to_string())
        .collect();
    if granted.is_empty() {
        return Err(Denial::new(
            ErrorCode::InvalidScope,
            Reason::NoScopeGranted,
            format!(
                "no scope of agent {} for {} can be granted to this subject",
                agent.id,
                shown(target)
            ),
        ));
    }
    Ok(granted)
}

/// The rules of [`decide_scopes`] up to each scope's own verdict: `Err`
/// for what refuses the whole request (target, undeclared scope, the
/// agent's user population), else one step per candidate scope.
pub fn scope_steps<'a>(
    policy: &'a Policy,
    agent: &'a Agent,
    user: Option<User<'_>>,
    target: &str,
    requested: Option<&'a [String]>,
) -> Result<Vec<ScopeStep<'a>>, Denial> {
    let resource_scopes = policy
        .resource_scopes(target)
        .filter(|_| agent.resources.contains(target))
        .ok_or_else(|| {
            Denial::new(
                ErrorCode::InvalidTarget,
                Reason::TargetNotAllowed,
                format!(
                    "agent {} may not obtain tokens for {}",
                    agent.id,
                    shown(target)
                ),
            )
        })?;
    let candidates: Vec<&str> = match requested {
        Some(list) => {
            for s in list {
                if !agent.declares(s) {
                    return Err(Denial::new(
                        ErrorCode::InvalidScope,
                        Reason::ScopeNotDeclared,
                        format!("agent {} does not declare scope {}", agent.id, shown(s)),
                    ));
                }
                if !resource_scopes.contains(s) {
                    return Err(Denial::new(
                        ErrorCode::InvalidScope,
                        Reason::ScopeNotForResource,
                        format!("scope {} does not belong to {}", shown(s), shown(target)),
                    ));
                }
            }
            list.iter().map(String::as_str).collect()
        }
        None => agent
            .required
            .iter()
            .chain(&agent.optional)
            .map(String::as_str)
            .filter(|s| resource_scopes.contains(*s))
            .collect(),
    };
    if let Some(user) = user {
        check_population(agent, &user)?;
    }
    let mut steps: Vec<ScopeStep> = Vec::with_capacity(candidates.len());
    for scope in candidates {
        if steps.iter().any(|s| s.scope == scope) {
            continue;
        }
        let required = agent.required.iter().any(|r| r == scope);
        let declared = if required { "required" } else { "optional" };
        let holders = policy.holders.get(scope);
        let held_by = match &user {
            None => Some(Rule::NoGroupRule),
            Some(u) => holders
                .and_then(|hs| hs.iter().find(|(up, g)| u.in_group(up, g)))
                .map(|(up, g)| Rule::HeldBy(up, g)),
        };
        let step = |outcome, rule, denial| ScopeStep {
            scope,
            declared,
            outcome,
            rule,
            denial,
        };
        steps.push(match held_by {
            Some(rule) => step("granted", rule, None),
            None if !required => step("dropped", Rule::HeldByNone(holders), None),
            None => {
                let denial = match user.map(|u| u.groups) {
                    Some(Groups::Unknown) => Denial::new(
                        ErrorCode::InvalidScope,
                        Reason::GroupsOverage,
                        format!(
                            "scope {scope} needs a group, and the user's groups are not in the token (groups overage)"
                        ),
                    ),
                    _ => Denial::new(
                        ErrorCode::InvalidScope,
                        Reason::MissingGroup,
                        format!("the user is in no group that may hold required scope {scope}"),
                    ),
                };
                step("denied", Rule::HeldByNone(holders), Some(denial))
            }
        });
    }
    Ok(steps)
}

/// [`decide_scopes`] for a user pattern, honouring report-only agents: when
/// only the group rules (membership, overage, population) would deny, the
/// request gets what it would get without them, and the would-be denial is
/// returned for the audit record (`would_deny`). Every other rule denies.
pub fn decide_user_scopes(
    policy: &Policy,
    agent: &Agent,
    user: User<'_>,
    target: &str,
    requested: Option<&[String]>,
) -> Result<(Vec<String>, Option<Denial>), Denial> {
    match decide_scopes(policy, agent, Some(user), target, requested) {
        Ok(scopes) => Ok((scopes, None)),
        Err(d)
            if agent.report_only
                && matches!(
                    d.reason,
                    Reason::MissingGroup
                        | Reason::GroupsOverage
                        | Reason::UserNotAllowed
                        | Reason::NoScopeGranted
                ) =>
        {
            let scopes = decide_scopes(policy, agent, None, target, requested)?;
            Ok((scopes, Some(d)))
        }
        Err(d) => Err(d),
    }
}

/// The agent's allowed population: upstreams and groups.
pub(super) fn check_population(agent: &Agent, user: &User<'_>) -> Result<(), Denial> {
    let deny = |why: String| Denial::new(ErrorCode::InvalidGrant, Reason::UserNotAllowed, why);
    if !agent.user_upstreams.is_empty() && !agent.user_upstreams.iter().any(|u| u == user.upstream)
    {
        return Err(deny(format!(
            "users of {} may not use agent {}",
            user.upstream, agent.id
        )));
    }
    if !agent.user_groups.is_empty() && !agent.user_groups.iter().any(|(u, g)| user.in_group(u, g))
    {
        return Err(deny(format!(
            "the user is in none of agent {}'s user_groups",
            agent.id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
