//! One module per grant, dispatched by one `match` on the grant type:
//! `token_exchange` (RFC 8693) and `client_credentials` (RFC 6749 §4.4).
//! Each follows three named steps: parse → validate → create.
//!
//! The grant types this server will answer; `/token` itself arrives with
//! the token-exchange issue.
pub use crate::metadata::GRANT_TOKEN_EXCHANGE;

pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
