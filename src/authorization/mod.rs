//! agent-sts as the MCP authorization server (the `interactive` pattern):
//! `GET /authorize` (OAuth 2.1 authorization code, PKCE `S256` only)
//! sends the user to sign in at the company IdP, `GET /authorize/callback`
//! verifies that sign-in and makes the decision an OBO exchange would make
//! of it, and `grant_type=authorization_code` at `/token`
//! (`grants/authorization_code.rs`) redeems the code once.
//!
//! Between the steps, state lives in the database's one-time records (any
//! replica can finish what another began): the pending sign-in (10
//! minutes) and the code (60 seconds), each under the SHA-256 of its
//! random handle.

mod authorize;
mod callback;
mod client_document;
mod pending;

pub use authorize::authorize;
pub use callback::callback;
pub use client_document::ClientDocuments;
pub use pending::{CODE_TTL, CodeGrant, SignedInUser, code_challenge_of, is_code_verifier, key_of};

use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::policy::Policy;
use crate::revocation_list::Revocations;
use crate::store::OneTimeStore;
use crate::tokens::Randomness;
use crate::upstream::UpstreamRegistry;

/// What `/authorize` and its callback use of the running service (built
/// per request by `App::authorizing`: references only).
pub struct Authorizing<'a> {
    pub issuer: &'a str,
    pub clock: &'a SharedClock,
    pub policy: &'a Policy,
    pub upstreams: &'a UpstreamRegistry,
    pub revocations: &'a Revocations,
    pub store: &'a dyn OneTimeStore,
    pub randomness: &'a Randomness,
    pub audit: &'a Audit,
    /// Clients named by the URL of their metadata document.
    pub documents: &'a ClientDocuments,
}

impl Authorizing<'_> {
    /// Ours, registered at every upstream login: `{issuer}/authorize/callback`.
    pub fn callback_uri(&self) -> String {
        format!("{}/authorize/callback", self.issuer)
    }
}

/// What the browser is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// 302 to this URL (the upstream's sign-in, or back to the client).
    Redirect(String),
    /// An error shown to the person at the browser, never redirected: the
    /// client or its redirect URI cannot be trusted (RFC 6749 §4.1.2.1).
    Page { status: u16, text: String },
}
