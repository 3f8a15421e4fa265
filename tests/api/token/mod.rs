//! `POST /token` end to end: one test per pattern (OBO, hybrid, workload,
//! delegation chains) against the fake Okta and fake Entra, each minted
//! token verified with our JWKS through josekit and every claim asserted;
//! and one test per refusal, asserting the HTTP status, the exact JSON
//! error body, `Cache-Control: no-store`, and (through a direct call of
//! `grants::token` with the same inputs) the stable reason code.

mod chains;
mod client_auth;
mod explain;
mod fixture;
mod hybrid;
mod obo;
mod protocol;
mod refusals;
mod request;
mod support;
mod workload;
