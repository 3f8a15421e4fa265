//! RFC 8693 delegation: the `act` claim, `may_act`, and the rules a token
//! made from one of ours must keep (no wider scope, no way past the next
//! agent's user population).

use serde_json::{Map, Value, json};

use crate::app::App;
use crate::error::{ErrorCode, shown};
use crate::policy::{Agent, Denial};
use crate::reason::Reason;
use crate::tokens::own::OwnToken;

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

/// RFC 8693 §4.4: when the subject token says who may act, it must be us.
pub(super) fn check_may_act(
    claims: &Map<String, Value>,
    principal: &str,
    issuer: &str,
) -> Result<(), Denial> {
    let Some(may) = claims.get("may_act") else {
        return Ok(());
    };
    let sub_ok = may.get("sub").and_then(Value::as_str) == Some(principal);
    let iss_ok = may.get("iss").is_none_or(|i| i.as_str() == Some(issuer));
    if sub_ok && iss_ok {
        Ok(())
    } else {
        Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::MayActMismatch,
            format!("subject_token's may_act does not name the actor {principal}"),
        ))
    }
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

/// A chain must not let a user past the next agent's population rules. Our
/// tokens carry the user's upstream (`idp`) but not their groups, so an
/// agent restricted by group refuses chained tokens (fail closed).
pub(super) fn check_chain_population(app: &App, agent: &Agent, o: &OwnToken) -> Result<(), Denial> {
    let deny = |why: String| Denial::new(ErrorCode::InvalidGrant, Reason::UserNotAllowed, why);
    if !agent.user_groups.is_empty() {
        return Err(deny(format!(
            "the user is in none of agent {}'s user_groups",
            agent.id
        )));
    }
    if !agent.user_upstreams.is_empty() {
        let upstream = o
            .str_claim("idp")
            .and_then(|idp| app.upstreams.name_of_issuer(idp));
        if !upstream.is_some_and(|u| agent.user_upstreams.iter().any(|a| a == u)) {
            return Err(deny(format!(
                "users of {} may not use agent {}",
                upstream.unwrap_or("an unknown upstream"),
                agent.id
            )));
        }
    }
    Ok(())
}
