//! `POST /token`: client authentication, then one handler per grant,
//! dispatched by one `match`. Each grant parses its parameters, validates
//! them (tokens, pattern, policy), and creates the token: three named steps.

mod authorization_code;
mod client_credentials;
pub mod explain;
mod id_jag;
mod issue;
mod refresh;
mod request;
mod token_exchange;

pub use request::{
    AssertionRequest, CodeRequest, CredentialsRequest, ExchangeRequest, GrantRequest, IdJagRequest,
    RefreshRequest,
};

use std::collections::HashMap;

use serde::Serialize;

use crate::audit::{Audit, AuditRecord, Event, Facts, RequestContext, Verdict};
use crate::client_auth::{Clients, Endpoint, Presented};
use crate::clock::SharedClock;
use crate::config::AuthorizationConfig;
use crate::error::ErrorCode;
use crate::metadata::TOKEN_TYPE_ACCESS_TOKEN;
use crate::policy::{Denial, Policy};
use crate::rate_limit::RateLimits;
use crate::reason::Reason;
use crate::revocation_list::Revocations;
use crate::store::{OneTimeStore, RefreshStore};
use crate::tokens::Randomness;
use crate::tokens::keyring::SharedKeyRing;
use crate::tokens::own::AccessClaims;
use crate::upstream::UpstreamRegistry;

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// A parsed token request: single-valued parameters and the target values
/// (`resource` and `audience`, which may repeat). Client credentials travel
/// beside it, in [`Presented`].
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub params: HashMap<String, String>,
    /// Every `resource` and `audience` value, in order.
    pub targets: Vec<String>,
    /// The `audience` values among them (an ID-JAG request tells the two
    /// apart: `audience` is another server, `resource` a resource there).
    pub audiences: Vec<String>,
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
        let same = |t: &String| {
            t == first
                || crate::resource::normalize(t)
                    .is_some_and(|n| Some(n) == crate::resource::normalize(first))
        };
        if !self.targets.iter().all(same) {
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

/// Was the user, agent or client of a sign-in at `signed_in_at` revoked
/// since ("Alice quits" between her sign-in and a code or refresh)?
/// `Err` when the revocation view is too old to tell.
pub(crate) fn revoked_since_sign_in(
    ctx: &Grants<'_>,
    user: crate::revocation_list::TokenRef<'_>,
    now: crate::clock::UnixTime,
) -> Result<Option<Denial>, Denial> {
    let revoked = ctx.revocations.check(&user, now).map_err(|_| {
        Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::RevocationStateStale,
            "revocation state is not current; try again shortly",
        )
    })?;
    Ok(revoked.then(|| {
        Denial::new(
            ErrorCode::InvalidGrant,
            Reason::Revoked,
            "the user, agent or client was revoked since the sign-in",
        )
    }))
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
    /// `interactive` only: the next refresh token (rotated on every use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// What `/token` uses of the running service (built per request by
/// `App::grants`: references only).
pub struct Grants<'a> {
    pub issuer: &'a str,
    /// `{issuer}/token`, an accepted client-assertion audience.
    pub endpoint: Endpoint<'a>,
    pub clock: &'a SharedClock,
    pub keys: &'a SharedKeyRing,
    pub policy: &'a Policy,
    pub clients: Clients<'a>,
    pub upstreams: &'a UpstreamRegistry,
    pub revocations: &'a Revocations,
    pub limits: &'a RateLimits,
    pub randomness: &'a Randomness,
    pub audit: &'a Audit,
    /// Authorization codes, shared by every replica.
    pub codes: &'a dyn OneTimeStore,
    /// Refresh tokens, likewise.
    pub refresh: &'a dyn RefreshStore,
    pub authorization: &'a AuthorizationConfig,
    /// Break-glass windows and the tokens issued under them.
    pub break_glass: &'a dyn crate::store::BreakGlassStore,
}

/// Run a token request and make its audit record durable before the
/// answer stands: when the record cannot be committed, no token is issued
/// (`503 temporarily_unavailable`, DESIGN §8). `form` is the request as
/// parsed, or why it could not be.
pub async fn token_recorded(
    ctx: &Grants<'_>,
    request: &RequestContext,
    form: Result<(Presented, TokenRequest), Denial>,
) -> Result<TokenResponse, Denial> {
    let (facts, result) = match form {
        Ok((presented, req)) => token(ctx, presented, &req).await,
        Err(d) => (Facts::default(), Err(d)),
    };
    let verdict = match &result {
        Ok(_) => Verdict::Allow(facts.allowed_as.unwrap_or("granted")),
        Err(d) => Verdict::Deny(d.reason, &d.description),
    };
    let record = AuditRecord::of(request, Event::Token, facts, verdict);
    ctx.audit
        .decided(record, ctx.clock.now())
        .await
        .map_err(|_| Denial::unrecorded())?;
    result
}

/// Authenticate the client, then run its grant. Returns what was learned
/// (for the audit record) beside the result.
pub async fn token(
    ctx: &Grants<'_>,
    presented: Presented,
    req: &TokenRequest,
) -> (Facts, Result<TokenResponse, Denial>) {
    let mut facts = Facts {
        audience: req.targets.first().cloned(),
        scopes_requested: req.scopes().ok().flatten(),
        ..Facts::default()
    };
    let result = async {
        let now = ctx.clock.now();
        // The claimed id is read (an assertion parsed) only when it failed.
        let client = ctx
            .clients
            .authenticate(&presented, ctx.endpoint, now)
            .await
            .inspect_err(|_| facts.claimed_client_id = presented.claimed())?;
        facts.client_id = Some(client.id.clone());
        let agent = ctx.policy.agent_by_client(&client.id).ok_or_else(|| {
            Denial::new(
                ErrorCode::UnauthorizedClient,
                Reason::PatternNotAllowed,
                format!(
                    "client {} is not an agent: it may not obtain tokens",
                    client.id
                ),
            )
        })?;
        facts.agent = Some(agent.id.clone());
        facts.agent_principal = Some(agent.principal().to_string());
        facts.scopes_required = Some(agent.required.clone());
        ctx.limits.token(&client.id).await?;
        let grant_type = req.required("grant_type")?;
        if grant_type == GRANT_CLIENT_CREDENTIALS {
            facts.pattern = Some("workload".into());
        }
        let mut grant = GrantRequest::parse(grant_type, req)?;
        grant.use_declared_target(ctx.policy);
        let (issued, refresh_token) = match grant {
            GrantRequest::TokenExchange(x) => {
                let exchanged = token_exchange::exchange(ctx, agent, &x, now).await;
                exchanged.describe(&mut facts);
                (exchanged.result?, None)
            }
            GrantRequest::ClientCredentials(c) => (
                client_credentials::grant(ctx, agent, &c, now, &mut facts).await?,
                None,
            ),
            GrantRequest::AuthorizationCode(c) => {
                facts.pattern = Some("interactive".into());
                let (issued, refresh) = authorization_code::redeem(ctx, agent, &c, now).await?;
                (issued, Some(refresh))
            }
            GrantRequest::RefreshToken(r) => {
                facts.pattern = Some("interactive".into());
                let (issued, refresh) = refresh::refresh(ctx, agent, &r, now).await?;
                (issued, Some(refresh))
            }
            GrantRequest::JwtBearer(a) => {
                (id_jag::redeem(ctx, agent, &a, now, &mut facts).await?, None)
            }
            GrantRequest::IdJag(j) => {
                // Not an access token: an ID-JAG, answered as it is.
                return id_jag::issue_id_jag(ctx, agent, &j, now, &mut facts).await;
            }
        };
        describe_issued(&mut facts, &issued.claims);
        Ok(TokenResponse {
            access_token: issued.token,
            issued_token_type: TOKEN_TYPE_ACCESS_TOKEN,
            token_type: "Bearer",
            expires_in: issued.claims.exp - now,
            scope: issued.claims.scope,
            refresh_token,
        })
    }
    .await;
    (facts, result)
}

/// What the token says, as the record should: the claims are the truth
/// of what was granted.
fn describe_issued(facts: &mut Facts, c: &AccessClaims) {
    facts.subject = Some(c.sub.clone());
    facts.idp = c.idp.clone();
    facts.tenant = c.tid.clone();
    facts.act = c.act.clone();
    facts.pattern = c
        .agent
        .get("pattern")
        .and_then(|p| p.as_str())
        .map(str::to_string);
    facts.jti = Some(c.jti.clone());
    facts.expires_at = Some(c.exp);
    facts.scopes_granted = Some(c.scope.split(' ').map(str::to_string).collect());
    if let Some(principal) = c
        .act
        .as_ref()
        .and_then(|a| a.get("sub"))
        .and_then(|s| s.as_str())
    {
        facts.agent_principal = Some(principal.to_string());
    }
}
