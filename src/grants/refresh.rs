//! Refresh tokens of the `interactive` pattern (RFC 6749 §6, OAuth 2.1
//! §4.3): opaque, stored only as SHA-256, rotated on every use; a second
//! use of one revokes its whole family (the sign-in). Each refresh applies
//! the policy of the day again to the user's groups from the sign-in (scopes
//! shrink when the policy does) and checks revocations against the sign-in's
//! time, so "Alice quits" ends her refresh tokens too.

use super::issue::{Grant, Issued, issue};
use super::{Grants, RefreshRequest};
use crate::authorization::SignedInUser;
use crate::clock::UnixTime;
use crate::config::Pattern;
use crate::error::ErrorCode;
use crate::policy::{Agent, Denial, User, decide_user_scopes};
use crate::reason::Reason;
use crate::revocation_list::TokenRef;
use crate::store::{RefreshRow, RefreshUse};
use crate::upstream::Groups;

/// What a family's tokens carry besides the row's columns.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Payload {
    user: SignedInUser,
    act: Option<serde_json::Value>,
    may_act: Option<serde_json::Value>,
    tid: Option<String>,
}

/// A new family's first token, or the next token of a family.
pub struct Family<'a> {
    pub id: Option<&'a str>,
    pub started_at: UnixTime,
    pub expires_at: Option<UnixTime>,
    pub user: &'a SignedInUser,
}

fn invalid(reason: Reason, description: &str) -> Denial {
    Denial::new(ErrorCode::InvalidGrant, reason, description)
}

fn unavailable(e: impl std::fmt::Display) -> Denial {
    tracing::error!(error = %e, "refresh tokens are unavailable");
    Denial::new(
        ErrorCode::TemporarilyUnavailable,
        Reason::AuditUnavailable,
        "refresh tokens cannot be used now; try again",
    )
}

/// Store a refresh token for what `issued` grants; the token.
pub async fn mint(
    ctx: &Grants<'_>,
    issued: &Issued,
    family: Family<'_>,
    now: UnixTime,
) -> Result<String, Denial> {
    let random = || {
        crate::tokens::random_secret().map_err(|_| {
            Denial::new(
                ErrorCode::TemporarilyUnavailable,
                Reason::RandomUnavailable,
                "no token can be issued now; try again",
            )
        })
    };
    let token = random()?;
    let family_id = match family.id {
        Some(f) => f.to_string(),
        None => random()?,
    };
    let absolute = family
        .expires_at
        .unwrap_or(family.started_at + ctx.authorization.refresh_absolute.as_secs() as i64);
    let c = &issued.claims;
    let payload = Payload {
        user: family.user.clone(),
        act: c.act.clone(),
        may_act: c.may_act.clone(),
        tid: c.tid.clone(),
    };
    let row = RefreshRow {
        hash: crate::digest::sha256_hex(token.as_bytes()),
        family: family_id,
        client_id: c.client_id.clone(),
        agent: issued_agent(c),
        subject: c.sub.clone(),
        idp: c.idp.clone(),
        resource: c.aud.clone(),
        family_started_at: family.started_at,
        issued_at: now,
        idle_expires_at: (now + ctx.authorization.refresh_idle.as_secs() as i64).min(absolute),
        family_expires_at: absolute,
        payload: serde_json::to_string(&payload).map_err(unavailable)?,
    };
    ctx.refresh
        .insert_refresh(&row)
        .await
        .map_err(unavailable)?;
    Ok(token)
}

fn issued_agent(c: &crate::tokens::own::AccessClaims) -> String {
    c.agent
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// `grant_type=refresh_token`: the next access token and refresh token.
pub async fn refresh(
    ctx: &Grants<'_>,
    agent: &Agent,
    r: &RefreshRequest,
    now: UnixTime,
) -> Result<(Issued, String), Denial> {
    agent.allows(Pattern::Interactive)?;
    let hash = crate::digest::sha256_hex(r.refresh_token.as_bytes());
    let row = match ctx
        .refresh
        .use_refresh(&hash, now)
        .await
        .map_err(unavailable)?
    {
        RefreshUse::Fresh(row) => row,
        RefreshUse::Reused(row) => {
            ctx.refresh
                .revoke_family(&row.family, now)
                .await
                .map_err(unavailable)?;
            return Err(invalid(
                Reason::RefreshTokenReused,
                "the refresh token was already used: every token of this sign-in is revoked",
            ));
        }
        RefreshUse::Revoked(_) => {
            return Err(invalid(
                Reason::InvalidRefreshToken,
                "the refresh token is revoked",
            ));
        }
        RefreshUse::Missing => {
            return Err(invalid(
                Reason::InvalidRefreshToken,
                "the refresh token is unknown or expired",
            ));
        }
    };
    // From here the presented token is spent; refusals end the family.
    let end = |d: Denial| async {
        ctx.refresh
            .revoke_family(&row.family, now)
            .await
            .map_err(unavailable)?;
        Err::<(Issued, String), Denial>(d)
    };
    if row.client_id != agent.client.id {
        return end(invalid(
            Reason::InvalidRefreshToken,
            "the refresh token was not issued to this client",
        ))
        .await;
    }
    if r.target.as_ref().is_some_and(|t| *t != row.resource) {
        return end(Denial::new(
            ErrorCode::InvalidTarget,
            Reason::TargetNotAllowed,
            "resource is not the one the refresh token was issued for",
        ))
        .await;
    }
    let user = TokenRef {
        jti: None,
        sub: &row.subject,
        idp: row.idp.as_deref(),
        agent: &row.agent,
        client: &row.client_id,
        iat: row.family_started_at,
        ancestors: &[],
    };
    if let Some(d) = super::revoked_since_sign_in(ctx, user, now)? {
        return end(d).await;
    }
    let payload: Payload = match serde_json::from_str(&row.payload) {
        Ok(p) => p,
        Err(_) => {
            return end(invalid(
                Reason::InvalidRefreshToken,
                "the refresh token could not be read",
            ))
            .await;
        }
    };
    // Today's policy, the sign-in's groups; a narrower `scope` may be asked.
    let groups = match &payload.user.groups {
        Some(g) => Groups::Known(g.clone()),
        None => Groups::Unknown,
    };
    let user_now = User {
        upstream: &payload.user.upstream,
        groups: &groups,
    };
    let requested = r.scopes.as_deref().or(payload.user.requested.as_deref());
    let (scopes, waiver) =
        match decide_user_scopes(ctx.policy, agent, user_now, &row.resource, requested) {
            Ok(decided) => decided,
            Err(d) => {
                return end(Denial {
                    error: ErrorCode::InvalidGrant,
                    ..d
                })
                .await;
            }
        };
    let issued = issue(
        ctx,
        Grant {
            agent,
            pattern: Pattern::Interactive,
            sub: row.subject.clone(),
            target: &row.resource,
            scopes,
            act: payload.act,
            may_act: payload.may_act,
            idp: row.idp.clone(),
            tid: payload.tid,
            not_after: None,
            triggered_by: None,
            waived: waiver.map(|w| w.reason.as_str().to_string()),
            ancestors: Vec::new(),
            jti: None,
            break_glass: None,
        },
        now,
    )?;
    let next = mint(
        ctx,
        &issued,
        Family {
            id: Some(&row.family),
            started_at: row.family_started_at,
            expires_at: Some(row.family_expires_at),
            user: &payload.user,
        },
        now,
    )
    .await?;
    Ok((issued, next))
}
