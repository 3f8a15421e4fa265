//! The rules [`decide_exchange`](super::decide_exchange) applies, one
//! small function each: token types, liveness (expiry, revocation), the
//! actor, `act` and `may_act`, depth and lineage, scopes within the
//! subject's, the next agent's population, report-only waivers.

use serde_json::{Map, Value, json};

use super::{Presented, Token, Waiver};
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::error::{ErrorCode, shown};
use crate::metadata::{
    TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_JAG, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT,
};
use crate::policy::{Agent, Denial, RevocationView};
use crate::reason::Reason;
use crate::revocation_list::{Ancestor, TokenRef};
use crate::tokens::own::OwnToken;
use crate::upstream::TokenShape;
use crate::upstream::VerifiedToken;

pub(super) fn pattern_of(name: &str) -> Pattern {
    match name {
        "hybrid" => Pattern::Hybrid,
        "workload" => Pattern::Workload,
        "interactive" => Pattern::Interactive,
        "id_jag" => Pattern::IdJag,
        _ => Pattern::Obo,
    }
}

pub(super) fn report_only(d: Denial) -> Denial {
    Denial {
        description: format!("report-only: {}", d.description),
        ..d
    }
}

/// A subject granted under a waiver: an enforcing agent refuses it (its
/// user's groups were never checked for real); a report-only agent goes on
/// reporting, and its token keeps the marker.
pub(super) fn subject_waiver(agent: &Agent, waived: &str) -> Result<Waiver, Denial> {
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
///
/// An ID-JAG (its shape, or its type) is accepted only as the `assertion` of
/// the jwt-bearer grant (`assertion`), and nothing else is.
pub(in crate::policy) fn check_type(
    p: &Presented<'_>,
    param: &str,
    assertion: bool,
) -> Result<(), Denial> {
    let (shape, workload) = match p.token {
        Token::Upstream(v) => (v.shape, v.is_workload()),
        Token::Own(o, _) => (TokenShape::Access, o.pattern == "workload"),
    };
    // An ID-JAG is a grant: only the jwt-bearer assertion, never a subject
    // or actor token (upstream verification refuses it there too).
    let not_a_grant = || {
        Denial::new(
            ErrorCode::InvalidRequest,
            Reason::NotAnIdJag,
            format!("{param}: an ID-JAG is taken only as the assertion of the jwt-bearer grant"),
        )
    };
    match (
        shape == TokenShape::IdJag,
        p.token_type == TOKEN_TYPE_ID_JAG,
        assertion,
    ) {
        (true, true, true) => return Ok(()),
        (_, _, true) => {
            return Err(Denial::new(
                ErrorCode::InvalidGrant,
                Reason::NotAnIdJag,
                "assertion: not an ID-JAG (typ oauth-id-jag+jwt)",
            ));
        }
        (true, _, false) | (_, true, false) => return Err(not_a_grant()),
        (false, false, false) => {}
    }
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
        (TokenShape::IdJag, _, _) => return Err(not_a_grant()),
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
pub(in crate::policy) fn check_live(
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
pub(super) struct Actor {
    pub(super) principal: String,
    pub(super) issuer: String,
    pub(super) exp: UnixTime,
}

/// The actor must prove this agent: its workload token from its configured
/// upstream, or a workload token we issued to it; and act for itself (an
/// actor token with its own `act` is refused, never dropped).
pub(super) fn actor_of(agent: &Agent, token: Token<'_>, issuer: &str) -> Result<Actor, Denial> {
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
pub(super) fn act(sub: &str, iss: Option<&str>, prior: Option<Value>) -> Value {
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
pub(super) fn downstream_may_act(server: &Agent) -> Value {
    json!({"sub": server.principal(), "client_id": server.client.id})
}

/// RFC 8693 §4.4: when the subject token says who may act, it must be
/// this actor (`sub`; `iss` and `client_id` when named).
pub(super) fn check_may_act(
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
pub(super) fn upstream_act(
    act: Option<&Value>,
    max: usize,
) -> Result<(Option<Value>, usize), Denial> {
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

pub(super) fn check_depth(depth: usize, max: usize) -> Result<(), Denial> {
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
pub(super) fn lineage(o: &OwnToken, max: usize) -> Result<Vec<Ancestor>, Denial> {
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
pub(super) fn within_subject(
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

/// An ID-JAG names the client it was issued to (`client_id`): only that
/// client may redeem it.
pub(super) fn check_id_jag_client(v: &VerifiedToken, agent: &Agent) -> Result<(), Denial> {
    let named = v.claims.get("client_id").and_then(Value::as_str);
    if named == Some(agent.client.id.as_str()) {
        return Ok(());
    }
    Err(Denial::new(
        ErrorCode::InvalidGrant,
        Reason::IdJagClientMismatch,
        format!(
            "the ID-JAG was issued to client {}, not {}",
            shown(named.unwrap_or("(none)")),
            agent.client.id
        ),
    ))
}

/// A token from an ID-JAG carries only scopes the ID-JAG asserts.
pub(super) fn within_assertion(v: &VerifiedToken, granted: &[String]) -> Result<(), Denial> {
    match granted.iter().find(|s| !v.scopes.contains(s)) {
        Some(s) => Err(Denial::new(
            ErrorCode::InvalidScope,
            Reason::ScopeExceedsSubject,
            format!("scope {} is not in the ID-JAG's scope", shown(s)),
        )),
        None => Ok(()),
    }
}

/// A chain must not let a user past the next agent's population rules. Our
/// tokens carry the user's upstream (`idp`) but not their groups, so an
/// agent restricted by group refuses chained tokens (fail closed).
pub(super) fn check_chain_population(agent: &Agent, upstream: Option<&str>) -> Result<(), Denial> {
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
