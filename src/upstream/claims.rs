//! The checks of a token's claims once its signature verified (or, for
//! `explain --claims`, without one): tenant, audience (or the ID token's
//! and the ID-JAG's own rules), times, required claims; then the profile
//! mapping into a [`VerifiedToken`].

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Expect, Refusal, Upstream, VerifiedToken, login, profile, times};
use crate::clock::UnixTime;
use crate::config::UpstreamConfig;
use crate::reason::Reason;

/// Every claim rule of `expect`; the token's (iat, issued_by, exp).
pub(super) fn vet(
    up: &Upstream,
    tenant: Option<&str>,
    claims: &Map<String, Value>,
    expect: Expect<'_>,
    now: UnixTime,
) -> Result<(Option<UnixTime>, UnixTime, UnixTime), Refusal> {
    if let Some(t) = tenant {
        check_tenant(up, t, claims)?;
    }
    match expect {
        Expect::Access => check_audience(up, claims)?,
        Expect::IdToken {
            client_id, nonce, ..
        } => login::check_id_token(claims, client_id, nonce)?,
        Expect::IdJag { audience } => check_id_jag_audience(audience, claims)?,
    }
    let (iat, issued_by, exp) = times::check_times(&up.config, claims, now)?;
    if let Expect::IdJag { .. } = expect {
        check_id_jag(&up.config, iat, exp, claims)?;
    }
    for (name, want) in &up.config.required_claims {
        if claims.get(name).and_then(Value::as_str) != Some(want.as_str()) {
            return Err(Refusal::new(
                Reason::ClaimMismatch,
                format!("claim {name} must be {want:?}"),
            ));
        }
    }
    Ok((iat, issued_by, exp))
}

/// The profile's reading of vetted claims.
pub(super) fn verified(
    up: &Upstream,
    iss: String,
    claims: Map<String, Value>,
    typ: Option<&str>,
    (iat, issued_by, exp): (Option<UnixTime>, UnixTime, UnixTime),
) -> Result<VerifiedToken, Refusal> {
    let mapped = profile::map(&up.config, &claims)?;
    let shape = profile::shape(up.config.kind, typ, &claims);
    Ok(VerifiedToken {
        upstream: Arc::clone(&up.name),
        kind: up.config.kind,
        usage: up.config.usage,
        issuer: iss,
        subject: mapped.subject,
        tenant: mapped.tenant,
        client: mapped.client,
        scopes: mapped.scopes,
        groups: mapped.groups,
        app_only: mapped.app_only,
        issued_at: iat,
        issued_by,
        expires_at: exp,
        shape,
        jti: claims
            .get("jti")
            .or_else(|| claims.get("uti"))
            .and_then(Value::as_str)
            .map(str::to_string),
        claims,
    })
}

fn check_tenant(up: &Upstream, tenant: &str, claims: &Map<String, Value>) -> Result<(), Refusal> {
    if claims.get("tid").and_then(Value::as_str) != Some(tenant) {
        return Err(Refusal::new(
            Reason::ClaimMismatch,
            format!("tid does not match the tenant {tenant} named by iss"),
        ));
    }
    if !up.config.tenants.iter().any(|t| t == tenant) {
        return Err(Refusal::new(
            Reason::TenantNotAllowed,
            format!(
                "tenant {tenant} is not on upstream {}'s allow-list",
                up.name
            ),
        ));
    }
    Ok(())
}

/// The ID-JAG is for this authorization server: its issuer is the `aud`
/// (a single value, or the only one of a list).
fn check_id_jag_audience(audience: &str, claims: &Map<String, Value>) -> Result<(), Refusal> {
    let ours = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.len() == 1 && list[0].as_str() == Some(audience),
        _ => return Err(Refusal::new(Reason::MissingClaim, "the ID-JAG has no aud")),
    };
    if ours {
        Ok(())
    } else {
        Err(Refusal::new(
            Reason::WrongAudience,
            format!("the ID-JAG's aud is not this authorization server ({audience})"),
        ))
    }
}

/// The profile's claims (draft-ietf-oauth-identity-assertion-authz-grant
/// §3): `iat`, `jti` and `client_id` present, and a short life.
fn check_id_jag(
    config: &UpstreamConfig,
    iat: Option<UnixTime>,
    exp: UnixTime,
    claims: &Map<String, Value>,
) -> Result<(), Refusal> {
    for name in ["jti", "client_id"] {
        if claims
            .get(name)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(Refusal::new(
                Reason::MissingClaim,
                format!("the ID-JAG has no {name}"),
            ));
        }
    }
    let iat = iat.ok_or_else(|| Refusal::new(Reason::MissingClaim, "the ID-JAG has no iat"))?;
    let max = config
        .id_jag_max_lifetime
        .unwrap_or(crate::config::DEFAULT_ID_JAG_MAX_LIFETIME);
    if exp.saturating_sub(iat) > max.as_secs() as i64 {
        return Err(Refusal::new(
            Reason::IdJagLifetimeTooLong,
            format!(
                "the ID-JAG lives {} s; at most {max} is accepted from upstream {}",
                exp.saturating_sub(iat),
                config.name
            ),
        ));
    }
    Ok(())
}

fn check_audience(up: &Upstream, claims: &Map<String, Value>) -> Result<(), Refusal> {
    let accepted = |a: &str| up.config.audiences.iter().any(|x| x == a);
    let ok = match claims.get("aud") {
        Some(Value::String(a)) => accepted(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(accepted),
        _ => {
            return Err(Refusal::new(
                Reason::MissingClaim,
                "the token has no aud claim",
            ));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            Reason::WrongAudience,
            format!("aud is not one of {}", up.config.audiences.join(", ")),
        ))
    }
}
