//! Revocation by an administrator (the admin API and the CLI alike): by
//! jti, subject (+ upstream), agent or client, kept as long as any token it
//! covers can be valid.

use serde::Deserialize;

use super::unavailable;
use crate::audit::Facts;
use crate::clock::UnixTime;
use crate::error::ErrorCode;
use crate::policy::Denial;
use crate::reason::Reason;
use crate::revocation_list::Revocations;
use crate::store::{RefreshStore, Revocation, RevocationKind};

/// What an administrator revokes: exactly one of the four.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminRevocation {
    #[serde(default)]
    pub jti: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// With `subject`: only tokens whose user came from this upstream issuer.
    #[serde(default)]
    pub idp: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl AdminRevocation {
    /// The row to store: every token covered was issued at or before `now`;
    /// it is kept `cover` seconds ([`crate::revocation_list::cover_seconds`]).
    pub fn into_revocation(
        self,
        actor: &str,
        now: UnixTime,
        cover: i64,
    ) -> Result<Revocation, String> {
        let picked: Vec<(RevocationKind, String)> = [
            (RevocationKind::Jti, self.jti),
            (RevocationKind::Subject, self.subject),
            (RevocationKind::Agent, self.agent),
            (RevocationKind::Client, self.client),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        let [(kind, value)] = <[_; 1]>::try_from(picked)
            .map_err(|_| "name exactly one of jti, subject, agent, client".to_string())?;
        if self.idp.is_some() && kind != RevocationKind::Subject {
            return Err("idp goes with subject only".into());
        }
        if value.len() > 512 {
            return Err("the value is longer than 512 characters".into());
        }
        Ok(Revocation {
            id: 0,
            kind,
            value,
            idp: self.idp,
            revoked_at: now,
            expires_at: now + cover,
            actor: actor.into(),
            reason: self.reason,
        })
    }
}

/// What the audit record says of a stored revocation (admin API and CLI
/// alike): what was revoked, in the field that names it.
pub fn describe(stored: &Revocation) -> Facts {
    let mut facts = Facts {
        detail: format!(
            "revoked {} {}",
            stored.kind.as_str(),
            crate::error::shown(&stored.value)
        ),
        ..Facts::default()
    };
    match stored.kind {
        RevocationKind::Subject => {
            facts.subject = Some(stored.value.clone());
            facts.idp = stored.idp.clone();
        }
        RevocationKind::Agent => facts.agent = Some(stored.value.clone()),
        RevocationKind::Client => facts.client_id = Some(stored.value.clone()),
        RevocationKind::Jti => facts.jti = Some(stored.value.clone()),
    }
    facts
}

/// What an operator is told a stored revocation does.
pub fn summary(stored: &Revocation) -> String {
    let at = crate::clock::rfc3339(stored.revoked_at);
    let what = match stored.kind {
        RevocationKind::Jti => {
            format!("token {} and every token derived from it are", stored.value)
        }
        RevocationKind::Subject => format!(
            "every token of user {}{} issued up to {at} is",
            stored.value,
            stored
                .idp
                .as_deref()
                .map(|i| format!(" (of {i})"))
                .unwrap_or_default()
        ),
        RevocationKind::Agent => {
            format!("every token of agent {} issued up to {at} is", stored.value)
        }
        RevocationKind::Client => {
            format!(
                "every token of client {} issued up to {at} is",
                stored.value
            )
        }
    };
    format!(
        "revoked: {} {} (id {}); {what} inactive on every replica within a second",
        stored.kind.as_str(),
        stored.value,
        stored.id
    )
}

/// Admin API and CLI: store the revocation and propagate it; it is kept
/// `cover` seconds. A subject, agent or client revocation also ends the
/// refresh-token families it covers, for good (the view's check on every
/// refresh covers them only while the revocation is kept).
pub async fn admin_revoke(
    revocations: &Revocations,
    refresh: &dyn RefreshStore,
    request: AdminRevocation,
    actor: &str,
    now: UnixTime,
    cover: i64,
) -> Result<Revocation, Denial> {
    let r = request
        .into_revocation(actor, now, cover)
        .map_err(|m| Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, m))?;
    let stored = revocations.revoke(r).await.map_err(unavailable)?;
    let value = stored.value.as_str();
    let (subject, agent, client) = match stored.kind {
        RevocationKind::Subject => (Some((value, stored.idp.as_deref())), None, None),
        RevocationKind::Agent => (None, Some(value), None),
        RevocationKind::Client => (None, None, Some(value)),
        RevocationKind::Jti => return Ok(stored),
    };
    refresh
        .revoke_families_of(subject, agent, client, stored.revoked_at)
        .await
        .map_err(unavailable)?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation_list::COVER_SECONDS;

    fn req(
        jti: Option<&str>,
        subject: Option<&str>,
        idp: Option<&str>,
        agent: Option<&str>,
    ) -> AdminRevocation {
        AdminRevocation {
            jti: jti.map(Into::into),
            subject: subject.map(Into::into),
            idp: idp.map(Into::into),
            agent: agent.map(Into::into),
            client: None,
            reason: None,
        }
    }

    #[test]
    fn the_operator_is_told_what_each_kind_revoked() {
        let stored = |kind, value: &str, idp: Option<&str>| Revocation {
            id: 7,
            kind,
            value: value.into(),
            idp: idp.map(str::to_string),
            revoked_at: 0,
            expires_at: 60,
            actor: "cli".into(),
            reason: None,
        };
        let at = "1970-01-01T00:00:00Z";
        let cases = [
            (
                stored(RevocationKind::Jti, "j1", None),
                "revoked: jti j1 (id 7); token j1 and every token derived from it are inactive on every replica within a second".to_string(),
            ),
            (
                stored(RevocationKind::Subject, "alice", Some("https://okta")),
                format!("revoked: subject alice (id 7); every token of user alice (of https://okta) issued up to {at} is inactive on every replica within a second"),
            ),
            (
                stored(RevocationKind::Agent, "bot", None),
                format!("revoked: agent bot (id 7); every token of agent bot issued up to {at} is inactive on every replica within a second"),
            ),
        ];
        for (r, want) in cases {
            assert_eq!(summary(&r), want);
        }
    }

    #[test]
    fn exactly_one_target() {
        let r = req(None, Some("alice"), Some("https://okta"), None)
            .into_revocation("admin", 100, COVER_SECONDS)
            .unwrap();
        assert_eq!(
            (r.kind, r.value.as_str(), r.idp.as_deref()),
            (RevocationKind::Subject, "alice", Some("https://okta"))
        );
        assert_eq!((r.revoked_at, r.expires_at), (100, 100 + COVER_SECONDS));
        for bad in [
            req(None, None, None, None),
            req(Some("j"), None, None, Some("bot")),
        ] {
            assert_eq!(
                bad.into_revocation("admin", 1, COVER_SECONDS).unwrap_err(),
                "name exactly one of jti, subject, agent, client"
            );
        }
        assert_eq!(
            req(None, None, Some("https://okta"), Some("bot"))
                .into_revocation("admin", 1, COVER_SECONDS)
                .unwrap_err(),
            "idp goes with subject only"
        );
    }
}
