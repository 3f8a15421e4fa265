//! RFC 8414 metadata at `/.well-known/oauth-authorization-server`, also
//! served at `/.well-known/openid-configuration`.

use serde_json::json;

use crate::helpers::{header, json_body, spawn_app, spawn_dev_app};

const PATHS: [&str; 2] = [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
];

#[tokio::test]
async fn metadata_is_exact_and_the_same_at_both_paths() {
    let app = spawn_app().await;
    let iss = &app.base;
    let client_auth = json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt"
    ]);
    let algs = json!(["RS256", "PS256", "ES256", "EdDSA"]);
    let accepted = json!([
        "urn:ietf:params:oauth:token-type:access_token",
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:jwt",
    ]);
    let expected = json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}/token"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "grant_types_supported": [
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_credentials",
        ],
        "scopes_supported": ["zendesk:tickets:read", "zendesk:tickets:write"],
        "token_endpoint_auth_methods_supported": client_auth,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "subject_token_types_supported": accepted,
        "actor_token_types_supported": accepted,
        "issued_token_types_supported": ["urn:ietf:params:oauth:token-type:access_token"],
        "resource_indicators_supported": true,
    });
    for path in PATHS {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(
            header(&res, "cache-control"),
            "public, max-age=3600",
            "{path}"
        );
        assert_eq!(json_body(res).await, expected, "{path}");
    }
}

#[tokio::test]
async fn metadata_issuer_is_the_configured_issuer_without_a_trailing_slash() {
    // RFC 8414 §3.3: the issuer in the document must be identical to the
    // one the client used to build the well-known URL.
    let app = spawn_app().await;
    let body = json_body(app.get(PATHS[0]).await).await;
    assert_eq!(body["issuer"], app.app.config.issuer.as_str());
    assert_eq!(body["issuer"], app.base.as_str());
    let jwks_uri = body["jwks_uri"].as_str().unwrap();
    let res = app.client.get(jwks_uri).send().await.unwrap();
    assert_eq!(res.status(), 200, "jwks_uri answers");
}

#[tokio::test]
async fn metadata_lists_every_scope_of_the_start_dev_policy_once() {
    let app = spawn_dev_app().await;
    let a = json_body(app.get(PATHS[0]).await).await;
    let b = json_body(app.get(PATHS[1]).await).await;
    assert_eq!(a, b);
    assert_eq!(
        a["scopes_supported"],
        json!([
            "postgres:support_db:read",
            "slack:channels:read",
            "zendesk:tickets:read",
            "zendesk:tickets:write",
        ])
    );
    assert_eq!(a["issuer"], app.base.as_str());
}
