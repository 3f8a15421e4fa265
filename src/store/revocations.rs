//! Revocation rows: the shared, durable record every replica converges to.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationKind {
    /// One token.
    Jti,
    /// Every token of a user issued at or before `revoked_at` ("Alice quits").
    Subject,
    /// Every token of an agent issued at or before `revoked_at`.
    Agent,
    /// Every token of a client issued at or before `revoked_at`.
    Client,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jti => "jti",
            Self::Subject => "subject",
            Self::Agent => "agent",
            Self::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "jti" => Self::Jti,
            "subject" => Self::Subject,
            "agent" => Self::Agent,
            "client" => Self::Client,
            _ => return None,
        })
    }
}

/// One revocation. `id` is the database's; 0 before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub id: i64,
    pub kind: RevocationKind,
    pub value: String,
    /// Subject revocations only: limit to tokens whose `idp` is this.
    pub idp: Option<String>,
    pub revoked_at: UnixTime,
    /// When no token it covers can still be valid.
    pub expires_at: UnixTime,
    /// Who revoked: `client:<id>`, `admin`, `cli`.
    pub actor: String,
    pub reason: Option<String>,
}
