//! The revocation use case: RFC 7009 `/revoke` by the client a token was
//! issued to (here), and by an administrator through the admin API or the
//! CLI (`admin.rs`). Both store through the replica view
//! (`crate::revocation_list`), which every replica keeps current.

mod admin;

pub use admin::{AdminRevocation, admin_revoke, describe, summary};

use std::collections::HashMap;

use crate::audit::{Audit, AuditRecord, Event, Facts, RequestContext, Verdict};
use crate::client_auth::{Clients, Endpoint, Presented};
use crate::clock::{SharedClock, UnixTime};
use crate::config::ClientConfig;
use crate::error::ErrorCode;
use crate::policy::Denial;
use crate::reason::Reason;
use crate::revocation_list::Revocations;
use crate::store::{RefreshStore, RefreshUse, Revocation, RevocationKind};
use crate::tokens::keyring::SharedKeyRing;
use crate::tokens::own::verify_own;

pub(super) fn unavailable(e: impl std::fmt::Display) -> Denial {
    tracing::error!(error = %e, "revocation could not be stored");
    Denial::new(
        ErrorCode::TemporarilyUnavailable,
        Reason::BadRequest,
        "the revocation could not be stored; try again",
    )
}

/// What `/revoke` uses of the running service (built per request by
/// `App::revoking`: references only).
pub struct Revoking<'a> {
    pub issuer: &'a str,
    /// `{issuer}/revoke`, an accepted client-assertion audience.
    pub endpoint: Endpoint<'a>,
    pub clock: &'a SharedClock,
    pub keys: &'a SharedKeyRing,
    pub clients: Clients<'a>,
    pub revocations: &'a Revocations,
    pub audit: &'a Audit,
    /// Refresh tokens (`interactive`): revoked by family.
    pub refresh: &'a dyn RefreshStore,
}

/// RFC 7009 §2.1. `token_type_hint` is only a hint: every token we issue
/// is an access token, so whatever the hint says the token is looked up as
/// one (§2.1: "extend its search across all of its supported token
/// types"). Unknown, invalid and expired tokens are answered `Ok` (§2.2:
/// nothing to do). Returns what the audit record says of it.
pub async fn revoke_token(
    ctx: &Revoking<'_>,
    client: &ClientConfig,
    token: &str,
    now: UnixTime,
) -> Result<Facts, Denial> {
    let Ok(own) = verify_own(&ctx.keys.current(), ctx.issuer, token, now) else {
        return revoke_refresh(ctx, client, token, now).await;
    };
    if own.str_claim("client_id") != Some(client.id.as_str()) {
        return Err(Denial::new(
            ErrorCode::UnauthorizedClient,
            Reason::BadRequest,
            "the token was not issued to this client",
        ));
    }
    let jti = own.str_claim("jti").unwrap_or_default().to_string();
    ctx.revocations
        .revoke(Revocation {
            id: 0,
            kind: RevocationKind::Jti,
            value: jti.clone(),
            idp: None,
            revoked_at: now,
            expires_at: own.exp,
            actor: format!("client:{}", client.id),
            reason: Some("revoked by its client (RFC 7009)".into()),
        })
        .await
        .map_err(unavailable)?;
    Ok(Facts {
        detail: format!("revoked jti {jti}"),
        jti: Some(jti),
        subject: Some(own.sub.clone()),
        agent: Some(own.agent_id.clone()),
        expires_at: Some(own.exp),
        ..Facts::default()
    })
}

/// Not an access token of ours: a refresh token, whose whole family (the
/// sign-in) is revoked, or nothing to revoke.
async fn revoke_refresh(
    ctx: &Revoking<'_>,
    client: &ClientConfig,
    token: &str,
    now: UnixTime,
) -> Result<Facts, Denial> {
    let hash = crate::digest::sha256_hex(token.as_bytes());
    let row = match ctx
        .refresh
        .use_refresh(&hash, now)
        .await
        .map_err(unavailable)?
    {
        RefreshUse::Fresh(row) | RefreshUse::Reused(row) | RefreshUse::Revoked(row) => row,
        RefreshUse::Missing => {
            return Ok(Facts {
                detail:
                    "nothing to revoke: the token is unknown, invalid or expired (RFC 7009 §2.2)"
                        .into(),
                ..Facts::default()
            });
        }
    };
    // Its owner's or not, a presented refresh token is spent: its family ends.
    ctx.refresh
        .revoke_family(&row.family, now)
        .await
        .map_err(unavailable)?;
    if row.client_id != client.id {
        return Err(Denial::new(
            ErrorCode::UnauthorizedClient,
            Reason::BadRequest,
            "the token was not issued to this client",
        ));
    }
    Ok(Facts {
        detail: "revoked a refresh token and its family".into(),
        subject: Some(row.subject),
        agent: Some(row.agent),
        ..Facts::default()
    })
}

/// `/revoke` after form parsing: authenticate, revoke, record (durably:
/// a revocation whose record cannot be committed is refused with 503).
pub async fn revoke_request(
    ctx: &Revoking<'_>,
    request: &RequestContext,
    parsed: Result<(Presented, HashMap<String, String>), Denial>,
) -> Result<(), Denial> {
    let mut client_id = None;
    let mut claimed_client_id = None;
    let result = async {
        let (presented, params) = parsed?;
        let now = ctx.clock.now();
        let client = ctx
            .clients
            .authenticate(&presented, ctx.endpoint, now)
            .await
            .inspect_err(|_| claimed_client_id = presented.claimed())?;
        client_id = Some(client.id.clone());
        let token = params
            .get("token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Denial::new(
                    ErrorCode::InvalidRequest,
                    Reason::BadRequest,
                    "token is required",
                )
            })?;
        revoke_token(ctx, client, token, now).await
    }
    .await;
    let (facts, verdict) = match &result {
        Ok(facts) => (facts.clone(), Verdict::Allow("revoked")),
        Err(d) => (Facts::default(), Verdict::Deny(d.reason, &d.description)),
    };
    let facts = Facts {
        client_id,
        claimed_client_id,
        ..facts
    };
    let record = AuditRecord::of(request, Event::Revoke, facts, verdict);
    ctx.audit
        .decided(record, ctx.clock.now())
        .await
        .map_err(|_| Denial::unrecorded())?;
    result.map(|_| ())
}
