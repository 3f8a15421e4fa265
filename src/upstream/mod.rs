//! Upstream trust: verifies Okta, Entra ID, OIDC and workload tokens; never
//! mints. Each configured upstream (`config::UpstreamConfig`) has a `kind`
//! profile, a `use` (user or workload) and keys from discovery or an
//! explicit `jwks_uri`.

pub use crate::config::{UpstreamConfig, UpstreamKind, UpstreamUse};
