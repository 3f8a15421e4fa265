//! `POST /token`: client authentication, then one handler per grant,
//! dispatched by one `match`. Each grant parses its parameters, validates
//! them (tokens, pattern, policy), and creates the token: three named steps.

mod client_credentials;
mod issue;
mod token_exchange;

use std::collections::HashMap;

use serde::Serialize;

use crate::app::App;
use crate::client_auth::{self, Audience, Presented};
use crate::error::ErrorCode;
use crate::metadata::{GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN};
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

/// Authenticate the client, then run its grant.
pub async fn token(
    app: &App,
    presented: Presented,
    req: &TokenRequest,
) -> Result<TokenResponse, Denial> {
    let now = app.clock.now();
    let audience = Audience {
        issuer: &app.config.issuer,
        endpoint: &app.token_endpoint,
    };
    let client = client_auth::authenticate(
        &app.policy,
        &app.client_keys,
        &app.replay,
        presented,
        audience,
        now,
    )
    .await?;
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
    let issued = match req.required("grant_type")? {
        GRANT_TOKEN_EXCHANGE => token_exchange::exchange(app, agent, req, now).await?,
        GRANT_CLIENT_CREDENTIALS => client_credentials::grant(app, agent, req, now)?,
        other => {
            return Err(Denial::new(
                ErrorCode::UnsupportedGrantType,
                Reason::UnsupportedGrantType,
                format!(
                    "grant_type {other:?} is not supported; use {GRANT_TOKEN_EXCHANGE} or client_credentials"
                ),
            ));
        }
    };
    Ok(TokenResponse {
        access_token: issued.token,
        issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        token_type: "Bearer",
        expires_in: issued.claims.exp - now,
        scope: issued.claims.scope,
    })
}
