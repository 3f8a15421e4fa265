//! `grant_type=authorization_code` (RFC 6749 §4.1.3, OAuth 2.1): redeem a
//! code issued by `/authorize/callback`, once. It is bound to the client,
//! the redirect URI, the PKCE verifier and the resource; a second use
//! revokes the token the first one issued (RFC 6749 §4.1.2). The decision
//! was made at the callback, a minute ago at most; revocations since the
//! sign-in are checked again here.

use super::issue::{Grant, Issued, issue};
use super::refresh::Family;
use super::{CodeRequest, Grants};
use crate::authorization::{CodeGrant, code_challenge_of, key_of};
use crate::clock::UnixTime;
use crate::config::{MAX_TOKEN_TTL, Pattern};
use crate::error::ErrorCode;
use crate::policy::{Agent, Denial};
use crate::reason::Reason;
use crate::revocation_list::TokenRef;
use crate::store::{Revocation, RevocationKind, Taken};

fn invalid(reason: Reason, description: &str) -> Denial {
    Denial::new(ErrorCode::InvalidGrant, reason, description)
}

fn unavailable(e: impl std::fmt::Display) -> Denial {
    tracing::error!(error = %e, "authorization codes are unavailable");
    Denial::new(
        ErrorCode::TemporarilyUnavailable,
        Reason::AuditUnavailable,
        "the code cannot be redeemed now; try again",
    )
}

pub async fn redeem(
    ctx: &Grants<'_>,
    agent: &Agent,
    c: &CodeRequest,
    now: UnixTime,
) -> Result<(Issued, String), Denial> {
    agent.allows(Pattern::Interactive)?;
    let taken = ctx
        .codes
        .take_once("code", &key_of(&c.code), now)
        .await
        .map_err(unavailable)?;
    let grant: CodeGrant = match taken {
        Taken::First(json) => serde_json::from_str(&json)
            .map_err(|_| invalid(Reason::InvalidCode, "the code could not be read"))?,
        Taken::Again(json) => {
            if let Ok(g) = serde_json::from_str::<CodeGrant>(&json) {
                revoke_issued(ctx, &g, now).await?;
            }
            return Err(invalid(
                Reason::CodeReused,
                "the code was already used; the token issued for it is revoked",
            ));
        }
        Taken::Missing => {
            return Err(invalid(
                Reason::InvalidCode,
                "the code is unknown or expired",
            ));
        }
    };
    if grant.client_id != agent.client.id {
        return Err(invalid(
            Reason::InvalidCode,
            "the code was not issued to this client",
        ));
    }
    if grant.redirect_uri != c.redirect_uri {
        return Err(invalid(
            Reason::InvalidCode,
            "redirect_uri is not the one the code was requested with",
        ));
    }
    let digest = |s: &str| crate::digest::sha256(s.as_bytes());
    let challenge = code_challenge_of(&c.code_verifier);
    if !crate::digest::constant_time_eq(&digest(&challenge), &digest(&grant.code_challenge)) {
        return Err(invalid(
            Reason::PkceFailed,
            "code_verifier does not match the code_challenge",
        ));
    }
    if c.target.as_ref().is_some_and(|t| *t != grant.resource) {
        return Err(Denial::new(
            ErrorCode::InvalidTarget,
            Reason::TargetNotAllowed,
            "resource is not the one the code was issued for",
        ));
    }
    // "Alice quits" between her sign-in and this request.
    let user = TokenRef {
        jti: None,
        sub: &grant.sub,
        idp: grant.idp.as_deref(),
        agent: &grant.agent,
        client: &grant.client_id,
        iat: grant.signed_in_at,
        ancestors: &[],
    };
    if let Some(d) = super::revoked_since_sign_in(ctx, user, now)? {
        return Err(d);
    }
    let (user, signed_in_at) = (grant.user.clone(), grant.signed_in_at);
    let issued = issue(
        ctx,
        Grant {
            agent,
            pattern: Pattern::Interactive,
            sub: grant.sub,
            target: &grant.resource,
            scopes: grant.scopes,
            act: grant.act,
            may_act: grant.may_act,
            idp: grant.idp,
            tid: grant.tid,
            not_after: None,
            triggered_by: None,
            waived: grant.waived,
            ancestors: Vec::new(),
            jti: Some(grant.jti),
            break_glass: None,
        },
        now,
    )?;
    let family = Family {
        id: None,
        started_at: signed_in_at,
        expires_at: None,
        user: &user,
    };
    let refresh = super::refresh::mint(ctx, &issued, family, now).await?;
    Ok((issued, refresh))
}

/// A replayed code: the access token its first use issued (its `jti` was
/// drawn with the code) stops being active on every replica.
async fn revoke_issued(ctx: &Grants<'_>, g: &CodeGrant, now: UnixTime) -> Result<(), Denial> {
    ctx.revocations
        .revoke(Revocation {
            id: 0,
            kind: RevocationKind::Jti,
            value: g.jti.clone(),
            idp: None,
            revoked_at: now,
            expires_at: now + MAX_TOKEN_TTL.as_secs() as i64 + 60,
            actor: format!("client:{}", g.client_id),
            reason: Some("authorization code used twice (RFC 6749 §4.1.2)".into()),
        })
        .await
        .map(|_| ())
        .map_err(unavailable)
}
