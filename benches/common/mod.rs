//! Config pieces shared by the criterion benches (`#[path]`-included).

/// The Entra tenant the bench tokens come from.
pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";

/// `[[upstreams]]` for an Okta custom authorization server and Entra ID,
/// with their JWKS at the given URLs.
pub fn upstreams(okta_jwks: &str, entra_jwks: &str) -> String {
    format!(
        r#"[[upstreams]]
name = "okta"
kind = "okta"
issuer = "https://example.okta.com/oauth2/default"
audiences = ["api://agent-sts"]
jwks_uri = "{okta_jwks}"
[[upstreams]]
name = "entra"
kind = "entra"
issuer = "https://login.microsoftonline.com/{{tenantid}}/v2.0"
tenants = ["{TENANT}"]
audiences = ["api://agent-sts"]
jwks_uri = "{entra_jwks}"
"#
    )
}
