//! JOSE shared by every verifier — upstream tokens, our own tokens, client
//! assertions: compact JWS parsing and its header rules (`jws`), and the
//! refusal every verifier answers with. josekit does the signing with
//! RSA and JWK parsing, ring the signature checks (`verifier`); digests and constant-time comparison are in
//! `crate::digest`.

pub mod jws;
pub mod signer;
pub mod verifier;

/// The JWT `typ` of an Identity Assertion JWT Authorization Grant
/// (draft-ietf-oauth-identity-assertion-authz-grant §3).
pub const TYP_ID_JAG: &str = "oauth-id-jag+jwt";

/// Is `typ` the ID-JAG's (RFC 8725 §3.11: compared case-insensitively,
/// with or without the `application/` prefix)?
pub fn is_id_jag_typ(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t == TYP_ID_JAG || t.strip_prefix("application/") == Some(TYP_ID_JAG)
    })
}

use crate::reason::Reason;

/// Why a token was refused: a stable reason and a human detail. The detail
/// names claims and values, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub detail: String,
}

impl Refusal {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}
