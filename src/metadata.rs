//! RFC 8414 authorization server metadata, built once at start.

use serde_json::{Value, json};

use crate::config::Config;

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// SEP-990 / draft-ietf-oauth-identity-assertion-authz-grant.
pub const TOKEN_TYPE_ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// RFC 7523 §2.1.
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const GRANT_PROFILE_ID_JAG: &str = "urn:ietf:params:oauth:grant-profile:id-jag";

/// How clients authenticate at `/token` and `/revoke`.
pub const TOKEN_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// How introspectors (resource servers, gateways) authenticate.
pub const INTROSPECTION_AUTH_METHODS: &[&str] = &["client_secret_basic", "private_key_jwt"];

/// The metadata document. Beyond RFC 8414's names it lists the RFC 8693
/// token types we accept as subject/actor tokens and the one we issue
/// (`subject_token_types_supported`, `actor_token_types_supported`,
/// `issued_token_types_supported`; no registered names exist for these).
/// Without an `interactive` agent there is no authorization endpoint, and
/// `response_types_supported` is omitted (RFC 8414 §3.2 omits empty
/// claims); with one, the authorization code members are added.
pub fn metadata(config: &Config) -> Value {
    let iss = &config.issuer;
    let mut scopes: Vec<&str> = config
        .resources
        .iter()
        .flat_map(|r| r.scopes.iter().map(String::as_str))
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    let client_auth = TOKEN_AUTH_METHODS;
    let assertion_algs = ["RS256", "PS256", "ES256", "EdDSA"];
    let accepted = [TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT];
    let mut doc = json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}/token"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "grant_types_supported": [GRANT_TOKEN_EXCHANGE, "client_credentials"],
        "scopes_supported": scopes,
        "token_endpoint_auth_methods_supported": client_auth,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": INTROSPECTION_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "subject_token_types_supported": accepted,
        "actor_token_types_supported": accepted,
        "issued_token_types_supported": [TOKEN_TYPE_ACCESS_TOKEN],
        "resource_indicators_supported": true,
    });
    if interactive(config) {
        // The MCP authorization server: authorization code + PKCE S256,
        // public clients, RFC 9207's iss in every authorization response.
        let mut methods: Vec<&str> = client_auth.to_vec();
        methods.push("none");
        let extra = json!({
            "authorization_endpoint": format!("{iss}/authorize"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": methods,
            "authorization_response_iss_parameter_supported": true,
        });
        if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
            doc.extend(extra.clone());
        }
    }
    let mut grants = vec![GRANT_TOKEN_EXCHANGE, "client_credentials"];
    if interactive(config) {
        grants.extend(["authorization_code", "refresh_token"]);
    }
    if takes_id_jags(config) {
        // SEP-990 leg 2: ID-JAGs with the jwt-bearer grant.
        grants.push(GRANT_JWT_BEARER);
        doc["authorization_grant_profiles_supported"] = json!([GRANT_PROFILE_ID_JAG]);
    }
    doc["grant_types_supported"] = json!(grants);
    if !config.id_jag.audiences.is_empty() {
        // SEP-990 leg 1: ID-JAGs for other authorization servers.
        doc["issued_token_types_supported"] = json!([TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_JAG]);
    }
    doc
}

/// Some agent takes ID-JAGs, from an upstream that issues them.
fn takes_id_jags(config: &Config) -> bool {
    config.upstreams.iter().any(|u| u.issues_id_jag)
        && config
            .agents
            .iter()
            .any(|a| a.patterns.contains(&crate::config::Pattern::IdJag))
}

/// Users sign in through `/authorize` for some agent: a user upstream has a
/// login and an agent uses the `interactive` pattern.
fn interactive(config: &Config) -> bool {
    config.upstreams.iter().any(|u| u.login.is_some())
        && config
            .agents
            .iter()
            .any(|a| a.patterns.contains(&crate::config::Pattern::Interactive))
}
