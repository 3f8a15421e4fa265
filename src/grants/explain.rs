//! `agent-sts explain` and `POST /admin/explain`: the decision `/token`
//! would make for an agent, a resource and a subject, and why, without
//! issuing anything. The same code decides: the subject is verified as
//! `/token` verifies it (or, with `claims`, checked without its signature,
//! and said so), the pure [`decide_exchange`] (or the workload decision of
//! `client_credentials`) decides, [`scope_steps`] is the trace that
//! [`crate::policy::decide_scopes`] folds, and [`lifetime`] is the one
//! `issue` uses. Nothing is signed and nothing is stored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Grants;
use super::issue::lifetime;
use super::token_exchange::{Verified, verify};
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::error::{ErrorCode, shown};
use crate::metadata::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT};
use crate::policy::{
    Agent, Arrival, Denial, Exchange, Presented, ScopeStep, Token, User, decide_exchange,
    pattern_name, scope_steps,
};
use crate::reason::Reason;
use crate::upstream::{TokenShape, VerifiedToken};

/// What to explain. Exactly one of `subject_token` and `claims` (with
/// `upstream`), or neither for the workload pattern (client credentials).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    pub agent: String,
    pub resource: String,
    /// Space-separated, as `/token` takes it.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub subject_token: Option<String>,
    /// The subject's claims, checked without a signature.
    #[serde(default)]
    pub claims: Option<Map<String, Value>>,
    /// With `claims`: the upstream they are from.
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub actor_token: Option<String>,
    /// `obo` (default with a subject), `hybrid` (with an actor),
    /// `workload`, `interactive` (the subject is a sign-in's ID token),
    /// `id_jag` (the subject is an ID-JAG).
    #[serde(default)]
    pub pattern: Option<Pattern>,
}

/// Tokens are never printed.
impl std::fmt::Debug for ExplainRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExplainRequest")
            .field("agent", &self.agent)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .field("upstream", &self.upstream)
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

/// The answer: the decision and everything that made it.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// `allow`, `deny`, or `would_deny` (allowed by a report-only waiver).
    pub decision: &'static str,
    /// The reason code of a denial or a waiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How the subject was checked.
    pub verification: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
    pub aud: String,
    /// Each candidate scope: granted, dropped or denied, and the rule.
    pub scopes: Vec<ScopeLine>,
    /// The scopes the token would carry.
    pub granted: Vec<String>,
    /// Seconds the token would live, and what set that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_capped_by: Option<&'static str>,
}

/// One step of [`scope_steps`], rendered for the answer.
#[derive(Debug, Serialize)]
pub struct ScopeLine {
    pub scope: String,
    pub declared: &'static str,
    pub outcome: &'static str,
    pub rule: String,
}

fn lines(steps: Result<Vec<ScopeStep<'_>>, Denial>) -> Vec<ScopeLine> {
    steps
        .unwrap_or_default()
        .into_iter()
        .map(|s| ScopeLine {
            scope: s.scope.to_string(),
            declared: s.declared,
            outcome: s.outcome,
            rule: s.rule.to_string(),
        })
        .collect()
}

impl Explanation {
    pub fn allowed(&self) -> bool {
        self.decision != "deny"
    }
}

fn bad(description: impl Into<String>) -> Denial {
    Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, description)
}

/// The RFC 8693 type a verified token is presented as.
fn type_of(v: &Verified) -> &'static str {
    match v {
        Verified::Own(..) => TOKEN_TYPE_ACCESS_TOKEN,
        Verified::Upstream(u) => match u.shape {
            TokenShape::Id => TOKEN_TYPE_ID_TOKEN,
            TokenShape::Jwt => TOKEN_TYPE_JWT,
            TokenShape::IdJag => crate::metadata::TOKEN_TYPE_ID_JAG,
            TokenShape::Access => TOKEN_TYPE_ACCESS_TOKEN,
        },
    }
}

fn token_of(v: &Verified) -> Token<'_> {
    match v {
        Verified::Upstream(u) => Token::Upstream(u),
        Verified::Own(o, upstream) => Token::Own(o, upstream.as_deref()),
    }
}

/// Explain `req` as of `now`. `Err` is a request that cannot be explained
/// (no such agent, both or neither of token and claims, an unverifiable
/// subject: the same refusal `/token` would give).
pub async fn explain(
    ctx: &Grants<'_>,
    req: &ExplainRequest,
    now: UnixTime,
) -> Result<Explanation, Denial> {
    let agent = ctx
        .policy
        .agent(&req.agent)
        .ok_or_else(|| bad(format!("no agent {}", shown(&req.agent))))?;
    let target = ctx
        .policy
        .resource(&req.resource)
        .unwrap_or(&req.resource)
        .to_string();
    let requested: Option<Vec<String>> = req.scope.as_deref().map(|s| {
        s.split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    });
    let requested = requested.as_deref();
    let subject = match (&req.subject_token, &req.claims, &req.upstream) {
        (Some(t), None, None) => Some((verify(ctx, t, "subject_token", now).await?, true)),
        (None, Some(c), Some(up)) => {
            let v = ctx.upstreams.unsigned(up, c.clone()).map_err(|r| {
                Denial::new(
                    ErrorCode::InvalidRequest,
                    r.reason,
                    format!("claims: {}", r.detail),
                )
            })?;
            Some((Verified::Upstream(v), false))
        }
        (None, None, None) => None,
        (None, Some(_), None) => return Err(bad("claims need upstream: the IdP they are from")),
        _ => return Err(bad("give subject_token, or claims with upstream, not both")),
    };
    let actor = match &req.actor_token {
        Some(t) => Some(verify(ctx, t, "actor_token", now).await?),
        None => None,
    };
    let mut out = Explanation {
        decision: "allow",
        reason: None,
        error: None,
        description: None,
        verification: match &subject {
            Some((_, true)) => {
                "subject_token verified as /token verifies it (signature, keys, claims)".into()
            }
            Some((_, false)) => "claims only: the signature was NOT checked".into(),
            None => "no subject: the workload pattern (client_credentials)".into(),
        },
        pattern: None,
        sub: None,
        act: None,
        aud: target.clone(),
        scopes: Vec::new(),
        granted: Vec::new(),
        ttl: None,
        ttl_capped_by: None,
    };
    let Some((subject, _)) = subject else {
        out.pattern = Some("workload");
        out.sub = Some(agent.principal().to_string());
        out.scopes = lines(scope_steps(ctx.policy, agent, None, &target, requested));
        let decided =
            super::client_credentials::decide_now(ctx, agent, &target, requested, now).await;
        let decided = decided.map(|(scopes, window)| {
            if let Some(w) = &window {
                out.verification = format!(
                    "no subject: the workload pattern, let through by break-glass window {} ({})",
                    w.id, w.reason
                );
            }
            (scopes, None, window.map(|w| w.expires_at))
        });
        return Ok(finish(out, agent, decided, now));
    };
    let arrival = match req.pattern {
        Some(Pattern::Interactive) => Arrival::SignedIn,
        Some(Pattern::IdJag) => Arrival::IdJag,
        _ => Arrival::Presented,
    };
    let outcome = decide_exchange(
        ctx.policy,
        ctx.revocations,
        &Exchange {
            agent,
            issuer: ctx.issuer,
            subject: Presented {
                token: token_of(&subject),
                token_type: type_of(&subject),
            },
            actor: actor.as_ref().map(|a| Presented {
                token: token_of(a),
                token_type: type_of(a),
            }),
            target: &target,
            requested,
            now,
            arrival,
        },
    );
    out.pattern = outcome.pattern.map(pattern_name);
    if let Verified::Upstream(v) = &subject {
        out.scopes = user_steps(ctx, agent, v, &target, requested);
    }
    let decided = outcome.decision.map(|d| {
        out.sub = Some(d.sub.clone());
        out.act = d.act.clone();
        let not_after = (d.pattern != Pattern::IdJag).then_some(d.not_after);
        (d.scopes, d.waiver.map(|w| w.denial), not_after)
    });
    Ok(finish(out, agent, decided, now))
}

/// The scope trace for a user's token, as the decision sees the user.
fn user_steps(
    ctx: &Grants<'_>,
    agent: &Agent,
    v: &VerifiedToken,
    target: &str,
    requested: Option<&[String]>,
) -> Vec<ScopeLine> {
    let user = User {
        upstream: &v.upstream,
        groups: &v.groups,
    };
    lines(scope_steps(
        ctx.policy,
        agent,
        Some(user),
        target,
        requested,
    ))
}

type Decided = (Vec<String>, Option<Denial>, Option<UnixTime>);

fn finish(
    mut out: Explanation,
    agent: &Agent,
    decided: Result<Decided, Denial>,
    now: UnixTime,
) -> Explanation {
    match decided {
        Ok((scopes, waiver, not_after)) => {
            let (exp, cap) = lifetime(agent, not_after, now);
            out.ttl = Some(exp - now);
            out.ttl_capped_by = Some(cap);
            out.granted = scopes;
            if let Some(w) = waiver {
                out.decision = "would_deny";
                out.reason = Some(w.reason);
                out.description = Some(w.description);
            }
        }
        Err(d) => {
            out.decision = "deny";
            out.reason = Some(d.reason);
            out.error = Some(d.error);
            out.description = Some(d.description);
        }
    }
    out
}
