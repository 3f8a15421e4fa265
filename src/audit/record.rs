//! The audit record (DESIGN §6) and its hash.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a decision was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Token,
    Introspect,
    Revoke,
    Admin,
    /// `/authorize` and its callback: a sign-in at the upstream IdP.
    Authorize,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Introspect => "introspect",
            Self::Revoke => "revoke",
            Self::Admin => "admin",
            Self::Authorize => "authorize",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    /// Report-only mode: the policy would have denied, the request went on.
    WouldDeny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::WouldDeny => "would_deny",
        }
    }
}

/// One decision. Never a token, secret or assertion: only `jti`s, ids and
/// hashes. Field order is the canonical order the hash is computed over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The writer's chain (one per replica process) and position in it.
    pub chain: String,
    pub seq: i64,
    /// RFC 3339, whole seconds, UTC (the order within a second is `seq`).
    pub time: String,
    pub request_id: String,
    pub event: Option<Event>,
    pub decision: Option<Decision>,
    /// A stable reason code (`src/reason.rs`), or `granted` / `active`.
    pub reason: String,
    pub detail: String,
    /// The IdP user id (or workload principal).
    pub subject: Option<String>,
    pub idp: Option<String>,
    pub tenant: Option<String>,
    pub agent: Option<String>,
    pub agent_principal: Option<String>,
    pub client_id: Option<String>,
    pub act: Option<Value>,
    pub pattern: Option<String>,
    pub audience: Option<String>,
    pub scopes_requested: Option<Vec<String>>,
    pub scopes_required: Option<Vec<String>>,
    pub scopes_granted: Option<Vec<String>>,
    pub jti: Option<String>,
    pub expires_at: Option<i64>,
    pub client_ip: Option<String>,
    /// Introspection in `first` mode: further allows of the same token and
    /// caller, summarised.
    pub count: Option<u64>,
    /// The caller's own `X-Request-Id` (plain, at most 64 characters), for
    /// correlation only: `request_id` is always ours. Written only when
    /// present, so records made before it existed keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_request_id: Option<String>,
    /// The client id a failed client authentication claimed (never
    /// verified: that is what failed); `client_id` stays empty. Written only
    /// when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_client_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// Bounds of what a record keeps of values that came with the request.
const FIELD_MAX: usize = 256;
const DETAIL_MAX: usize = 1024;
const SCOPES_MAX: usize = 32;

impl AuditRecord {
    /// Every field bounded and passed through the rule error descriptions
    /// follow ([`crate::error::shown`]): nothing that looks like a token,
    /// nothing long. Applied to every record before it is stored or logged,
    /// so a 60 KB `resource` costs the trail 256 bytes, and a bearer token
    /// sent in the wrong parameter is never written down.
    pub fn bounded(mut self) -> Self {
        use crate::error::shown_within;
        let cut = |v: &mut Option<String>, max: usize| {
            if let Some(s) = v.as_mut() {
                let shown = shown_within(s, max);
                if shown != s.as_str() {
                    *s = shown.into_owned();
                }
            }
        };
        for field in [
            &mut self.subject,
            &mut self.idp,
            &mut self.tenant,
            &mut self.agent,
            &mut self.agent_principal,
            &mut self.client_id,
            &mut self.pattern,
            &mut self.audience,
            &mut self.jti,
            &mut self.client_ip,
            &mut self.client_request_id,
            &mut self.claimed_client_id,
        ] {
            cut(field, FIELD_MAX);
        }
        let mut detail = Some(std::mem::take(&mut self.detail));
        cut(&mut detail, DETAIL_MAX);
        self.detail = detail.unwrap_or_default();
        for list in [
            &mut self.scopes_requested,
            &mut self.scopes_required,
            &mut self.scopes_granted,
        ]
        .into_iter()
        .flatten()
        {
            list.truncate(SCOPES_MAX);
            for scope in list.iter_mut() {
                let shown = crate::error::shown(scope);
                if shown != scope.as_str() {
                    *scope = shown.into_owned();
                }
            }
        }
        self
    }

    /// SHA-256 (hex) over the canonical JSON of every field but `hash`.
    pub fn compute_hash(&self) -> String {
        let mut canonical = self.clone();
        canonical.hash = String::new();
        let bytes = serde_json::to_vec(&canonical).unwrap_or_default();
        crate::digest::sha256_hex(&bytes)
    }

    /// Link after `prev_hash` at `seq` of `chain`, seal, and return the
    /// stored JSON. One serialisation: the canonical form ends in
    /// `"hash":""}` (`hash` is the last field), and the hash is written
    /// into that slot.
    pub fn seal(&mut self, chain: &str, seq: i64, prev_hash: &str) -> String {
        self.chain = chain.to_string();
        self.seq = seq;
        self.prev_hash = prev_hash.to_string();
        self.hash.clear();
        let mut json = serde_json::to_string(self).unwrap_or_default();
        let hash = crate::digest::sha256_hex(json.as_bytes());
        if json.ends_with("\"\"}") {
            json.truncate(json.len() - 2);
            json.push_str(&hash);
            json.push_str("\"}");
        }
        self.hash = hash;
        json
    }
}

/// The `prev_hash` of a chain's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_link() {
        let mut r = AuditRecord {
            event: Some(Event::Token),
            decision: Some(Decision::Deny),
            reason: "missing_group".into(),
            subject: Some("00u1".into()),
            ..AuditRecord::default()
        };
        let stored = r.seal("c1", 1, GENESIS);
        let sealed = r.hash.clone();
        assert_eq!(
            stored,
            serde_json::to_string(&r).unwrap(),
            "the stored JSON is the record"
        );
        assert_eq!(sealed.len(), 64);
        assert_eq!(r.compute_hash(), sealed);
        let mut edited = r.clone();
        edited.subject = Some("00u2".into());
        assert_ne!(edited.compute_hash(), sealed);
        let mut relinked = r.clone();
        relinked.prev_hash = "f".repeat(64);
        assert_ne!(relinked.compute_hash(), sealed);
    }
}
