//! How an audit record is made: the HTTP layer says who asked
//! ([`RequestContext`]), the use case says what it learned and decided
//! ([`Facts`], [`Verdict`]), and [`AuditRecord::of`] is the one function that
//! puts them together. No use case writes a record's fields itself.

use serde_json::Value;

use super::{AuditRecord, Decision, Event};
use crate::reason::Reason;

/// Who asked, and from where: known before any use case runs.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Ours, always.
    pub request_id: String,
    /// The caller's own `X-Request-Id`, for correlation only.
    pub client_request_id: Option<String>,
    pub client_ip: Option<String>,
}

/// What a use case learned about a request, as it became known. Every
/// field is optional: a request refused early knows little.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub client_id: Option<String>,
    /// The client id a failed client authentication claimed (unverified).
    pub claimed_client_id: Option<String>,
    pub agent: Option<String>,
    pub agent_principal: Option<String>,
    pub subject: Option<String>,
    pub idp: Option<String>,
    pub tenant: Option<String>,
    pub act: Option<Value>,
    pub pattern: Option<String>,
    pub audience: Option<String>,
    pub scopes_requested: Option<Vec<String>>,
    pub scopes_required: Option<Vec<String>>,
    pub scopes_granted: Option<Vec<String>>,
    pub jti: Option<String>,
    pub expires_at: Option<i64>,
    /// A note on what was done (e.g. what was revoked); a refusal's
    /// description takes its place.
    pub detail: String,
    /// Report-only: allowed, but recorded as the refusal it would have been.
    pub would_deny: Option<(Reason, String)>,
    /// An allow's reason code when it is not the endpoint's usual one
    /// (`break_glass`: issued under a break-glass window).
    pub allowed_as: Option<&'static str>,
}

/// How the request ended.
#[derive(Debug, Clone, Copy)]
pub enum Verdict<'a> {
    /// Done; the reason code says what (`granted`, `active`, `revoked`, `done`).
    Allow(&'static str),
    /// Refused, with the reason code and the description the caller saw.
    Deny(Reason, &'a str),
}

impl AuditRecord {
    /// The record of one decision: request context, what the use case
    /// learned, and how it ended. A report-only waiver turns an allow into
    /// `would_deny` with the waived rule's reason.
    pub fn of(request: &RequestContext, event: Event, facts: Facts, verdict: Verdict<'_>) -> Self {
        let (decision, reason, detail) = match (verdict, facts.would_deny) {
            (Verdict::Allow(_), Some((reason, detail))) => {
                (Decision::WouldDeny, reason.as_str(), detail)
            }
            (Verdict::Allow(done), None) => (Decision::Allow, done, facts.detail),
            (Verdict::Deny(reason, detail), _) => {
                (Decision::Deny, reason.as_str(), detail.to_string())
            }
        };
        Self {
            request_id: request.request_id.clone(),
            client_request_id: request.client_request_id.clone(),
            client_ip: request.client_ip.clone(),
            event: Some(event),
            decision: Some(decision),
            reason: reason.into(),
            detail,
            subject: facts.subject,
            idp: facts.idp,
            tenant: facts.tenant,
            agent: facts.agent,
            agent_principal: facts.agent_principal,
            client_id: facts.client_id,
            claimed_client_id: facts.claimed_client_id,
            act: facts.act,
            pattern: facts.pattern,
            audience: facts.audience,
            scopes_requested: facts.scopes_requested,
            scopes_required: facts.scopes_required,
            scopes_granted: facts.scopes_granted,
            jti: facts.jti,
            expires_at: facts.expires_at,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestContext {
        RequestContext {
            request_id: "r1".into(),
            client_request_id: Some("theirs".into()),
            client_ip: Some("127.0.0.1".into()),
        }
    }

    #[test]
    fn the_verdict_decides_decision_reason_and_detail() {
        let facts = Facts {
            subject: Some("alice".into()),
            detail: "revoked jti j1".into(),
            ..Facts::default()
        };
        let allowed = AuditRecord::of(
            &request(),
            Event::Revoke,
            facts.clone(),
            Verdict::Allow("revoked"),
        );
        assert_eq!(
            (
                allowed.decision,
                allowed.reason.as_str(),
                allowed.detail.as_str()
            ),
            (Some(Decision::Allow), "revoked", "revoked jti j1")
        );
        assert_eq!(allowed.subject.as_deref(), Some("alice"));
        assert_eq!(
            (
                allowed.request_id.as_str(),
                allowed.client_request_id.as_deref()
            ),
            ("r1", Some("theirs"))
        );

        let denied = AuditRecord::of(
            &request(),
            Event::Token,
            facts.clone(),
            Verdict::Deny(Reason::MissingGroup, "not in the group"),
        );
        assert_eq!(
            (
                denied.decision,
                denied.reason.as_str(),
                denied.detail.as_str()
            ),
            (Some(Decision::Deny), "missing_group", "not in the group")
        );

        let waived = AuditRecord::of(
            &request(),
            Event::Token,
            Facts {
                would_deny: Some((Reason::MissingGroup, "would need the group".into())),
                ..facts
            },
            Verdict::Allow("granted"),
        );
        assert_eq!(
            (
                waived.decision,
                waived.reason.as_str(),
                waived.detail.as_str()
            ),
            (
                Some(Decision::WouldDeny),
                "missing_group",
                "would need the group"
            )
        );
    }
}
