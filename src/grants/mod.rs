//! `POST /token`: client authentication, then one handler per grant,
//! dispatched by one `match`. Each grant parses its parameters, validates
//! them (tokens, pattern, policy), and creates the token: three named steps.

mod client_credentials;
mod issue;
mod request;
mod token_exchange;

pub use request::{CredentialsRequest, ExchangeRequest, GrantRequest};

use std::collections::HashMap;

use serde::Serialize;

use crate::app::App;
use crate::audit::{AuditRecord, Decision, Event};
use crate::client_auth::Presented;
use crate::error::ErrorCode;
use crate::metadata::TOKEN_TYPE_ACCESS_TOKEN;
use crate::policy::Denial;
use crate::reason::Reason;

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";

/// A parsed token request: single-valued parameters and the target values
/// (`resource` and `audience`, which may repeat). Client credentials travel
/// beside it, in [`Presented`].
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub params: HashMap<String, String>,
    pub targets: Vec<String>,
}

impl TokenRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, Denial> {
        self.get(name)
            .ok_or_else(|| bad_request(format!("{name} is required")))
    }

    /// RFC 8707 / RFC 8693: exactly one target, given as `resource` or
    /// `audience` (both may be sent if they agree).
    fn target(&self) -> Result<&str, Denial> {
        let first = self.targets.first().ok_or_else(|| {
            bad_request(
                "resource (or audience) is required: name the one resource the token is for",
            )
        })?;
        if self.targets.iter().any(|t| t != first) {
            return Err(Denial::new(
                ErrorCode::InvalidTarget,
                Reason::TargetNotAllowed,
                "request exactly one resource: a token is bound to a single audience",
            ));
        }
        Ok(first)
    }

    /// The `scope` parameter, split; `None` when absent.
    fn scopes(&self) -> Result<Option<Vec<String>>, Denial> {
        let Some(raw) = self.params.get("scope") else {
            return Ok(None);
        };
        let list: Vec<String> = raw
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if list.is_empty() {
            return Err(Denial::new(
                ErrorCode::InvalidScope,
                Reason::BadRequest,
                "scope is empty",
            ));
        }
        Ok(Some(list))
    }
}

pub(crate) fn bad_request(description: impl Into<String>) -> Denial {
    Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, description)
}

/// RFC 6749 §5.1 and RFC 8693 §2.2.1.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub issued_token_type: &'static str,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// Run a token request and make its audit record durable before the
/// answer stands: when the record cannot be committed, no token is issued
/// (`503 temporarily_unavailable`, DESIGN §8).
pub async fn token_recorded(
    app: &App,
    presented: Presented,
    req: &TokenRequest,
    mut trail: AuditRecord,
) -> Result<TokenResponse, Denial> {
    let result = token(app, presented, req, &mut trail).await;
    record(app, trail, "granted", result.as_ref().err()).await?;
    result
}

/// Complete `trail` with the decision (`allowed` names an allow) and
/// commit it; `Err` when an allow could not be made durable.
pub async fn record(
    app: &App,
    mut trail: AuditRecord,
    allowed: &str,
    denial: Option<&Denial>,
) -> Result<(), Denial> {
    match denial {
        // Report-only: allowed, and recorded as the denial it would be.
        None if trail.decision == Some(Decision::WouldDeny) => {}
        None => {
            trail.decision = Some(Decision::Allow);
            trail.reason = allowed.into();
        }
        Some(d) => {
            trail.decision = Some(Decision::Deny);
            trail.reason = d.reason.as_str().into();
            trail.detail = d.description.clone();
        }
    }
    let refused = denial.is_some();
    let now = app.clock.now();
    // Refusals that come in floods (rate limits, anonymous requests) are
    // counted after the first, not written one by one.
    let trail = if refused {
        match app.audit.refusal(trail, now) {
            Some(first) => first,
            None => return Ok(()),
        }
    } else {
        trail
    };
    match app.audit.durable(trail, now).await {
        Ok(()) => Ok(()),
        // A refusal stands without its record (it grants nothing); the
        // writer has already logged the failed commit at error level.
        Err(_) if refused => Ok(()),
        Err(_) => Err(Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::AuditUnavailable,
            "the decision could not be recorded; nothing was issued, try again",
        )),
    }
}

/// Authenticate the client, then run its grant; `trail` gathers what the
/// audit record says about the request as it becomes known.
pub async fn token(
    app: &App,
    presented: Presented,
    req: &TokenRequest,
    trail: &mut AuditRecord,
) -> Result<TokenResponse, Denial> {
    trail.event = Some(Event::Token);
    trail.audience = req.targets.first().cloned();
    trail.scopes_requested = req.scopes().ok().flatten();
    let now = app.clock.now();
    // The claimed id is read (an assertion parsed) only when it failed.
    let client = app
        .authenticate(&presented, &app.token_endpoint, now)
        .await
        .inspect_err(|_| trail.claimed_client_id = presented.claimed())?;
    trail.client_id = Some(client.id.clone());
    let agent = app.policy.agent_by_client(&client.id).ok_or_else(|| {
        Denial::new(
            ErrorCode::UnauthorizedClient,
            Reason::PatternNotAllowed,
            format!(
                "client {} is not an agent: it may not obtain tokens",
                client.id
            ),
        )
    })?;
    trail.agent = Some(agent.id.clone());
    trail.agent_principal = Some(agent.principal().to_string());
    trail.scopes_required = Some(agent.required.clone());
    app.limits.token(&client.id).await?;
    let grant_type = req.required("grant_type")?;
    if grant_type == GRANT_CLIENT_CREDENTIALS {
        trail.pattern = Some("workload".into());
    }
    let issued = match GrantRequest::parse(grant_type, req)? {
        GrantRequest::TokenExchange(x) => {
            token_exchange::exchange(app, agent, &x, now, trail).await?
        }
        GrantRequest::ClientCredentials(c) => client_credentials::grant(app, agent, &c, now)?,
    };
    let c = &issued.claims;
    trail.subject = Some(c.sub.clone());
    trail.idp = c.idp.clone();
    trail.tenant = c.tid.clone();
    trail.act = c.act.clone();
    trail.pattern = c
        .agent
        .get("pattern")
        .and_then(|p| p.as_str())
        .map(str::to_string);
    trail.jti = Some(c.jti.clone());
    trail.expires_at = Some(c.exp);
    trail.scopes_granted = Some(c.scope.split(' ').map(str::to_string).collect());
    if let Some(principal) = c
        .act
        .as_ref()
        .and_then(|a| a.get("sub"))
        .and_then(|s| s.as_str())
    {
        trail.agent_principal = Some(principal.to_string());
    }
    Ok(TokenResponse {
        access_token: issued.token,
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        token_type: "Bearer",
        expires_in: issued.claims.exp - now,
        scope: issued.claims.scope,
    })
}
