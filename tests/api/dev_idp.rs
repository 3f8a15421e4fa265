//! The built-in dev IdP of start-dev, in process: discovery documents that
//! point at live JWKS, and minted tokens that verify against them and say
//! they come from a dev IdP. Its sign-in (an OpenID provider for the
//! `interactive` pattern) is `sign_in`.

use agent_sts::clock::Clock;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{TestApp, header, json_body, spawn_dev_app};

pub mod sign_in;

const TENANT: &str = "00000000-0000-4000-8000-0000000de0de";
pub const NOTICE: &str = "minted by agent-sts start-dev: not a real identity provider";

pub fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verify an RS256 JWS against the JWKS at `jwks_uri`; return its claims.
pub async fn verify(app: &TestApp, token: &str, jwks_uri: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token");
    let head = decode(parts[0]);
    let jwks: Value = app
        .client
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == head["kid"])
        .expect("the token's kid is in the JWKS");
    assert_eq!(head["alg"], "RS256");
    let b64 = |m: &str| URL_SAFE_NO_PAD.decode(jwk[m].as_str().unwrap()).unwrap();
    let (n, e) = (b64("n"), b64("e"));
    let key = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    key.verify(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        signed.as_bytes(),
        &signature,
    )
    .expect("signature verifies against the published key");
    decode(parts[1])
}

async fn mint(app: &TestApp, form: &[(&str, &str)]) -> Value {
    let res = app.post_form("/dev/idp/mint", form).await;
    assert_eq!(res.status(), 200, "{form:?}");
    assert_eq!(header(&res, "cache-control"), "no-store");
    json_body(res).await
}

#[tokio::test]
async fn discovery_documents_name_their_issuer_and_a_live_jwks() {
    let app = spawn_dev_app().await;
    let idp = format!("{}/dev/idp", app.base);
    let cases = [
        (
            "/dev/idp/okta/oauth2/default/.well-known/openid-configuration",
            format!("{idp}/okta/oauth2/default"),
            format!("{idp}/okta/oauth2/default/v1/keys"),
        ),
        (
            "/dev/idp/entra/00000000-0000-4000-8000-0000000de0de/v2.0/.well-known/openid-configuration",
            format!("{idp}/entra/{TENANT}/v2.0"),
            format!("{idp}/entra/{TENANT}/discovery/v2.0/keys"),
        ),
        (
            "/dev/idp/k8s/.well-known/openid-configuration",
            format!("{idp}/k8s"),
            format!("{idp}/k8s/openid/v1/jwks"),
        ),
    ];
    for (path, issuer, jwks_uri) in cases {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let doc = json_body(res).await;
        let mut want = json!({
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
            "agent_sts_dev_idp": NOTICE,
        });
        if path.contains("/okta/") {
            // Users sign in at the Okta shape (agent-sts's interactive pattern).
            for (k, v) in [
                ("authorization_endpoint", json!(format!("{idp}/authorize"))),
                ("token_endpoint", json!(format!("{idp}/token"))),
                ("response_types_supported", json!(["code"])),
                ("grant_types_supported", json!(["authorization_code"])),
                ("code_challenge_methods_supported", json!(["S256"])),
                (
                    "token_endpoint_auth_methods_supported",
                    json!(["client_secret_basic"]),
                ),
                (
                    "scopes_supported",
                    json!(["openid", "profile", "email", "groups"]),
                ),
            ] {
                want[k] = v;
            }
        }
        assert_eq!(doc, want, "{path}");
        let jwks = json_body(app.client.get(&jwks_uri).send().await.unwrap()).await;
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "RSA");
        assert!(key.get("d").is_none(), "{jwks_uri} leaks the private key");
    }
}

#[tokio::test]
async fn okta_token_verifies_and_says_it_is_from_the_dev_idp() {
    let app = spawn_dev_app().await;
    let body = mint(
        &app,
        &[
            ("kind", "okta"),
            ("sub", "alice@example.com"),
            ("groups", "Support-Agents, Everyone"),
        ],
    )
    .await;
    assert_eq!(body["token_type"], "urn:ietf:params:oauth:token-type:jwt");
    assert_eq!(body["expires_in"], 3_600);
    let issuer = format!("{}/dev/idp/okta/oauth2/default", app.base);
    let claims = verify(
        &app,
        body["token"].as_str().unwrap(),
        &format!("{issuer}/v1/keys"),
    )
    .await;
    assert_eq!(
        claims, body["claims"],
        "the answer's claims are the token's"
    );
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["sub"], "alice@example.com");
    assert_eq!(claims["aud"], "api://agent-sts");
    assert_eq!(claims["groups"], json!(["Support-Agents", "Everyone"]));
    assert_eq!(claims["agent_sts_dev_idp"], NOTICE);
    let now = app.clock.now();
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 3_600);
}

#[tokio::test]
async fn entra_and_workload_tokens_have_their_vendor_shape() {
    let app = spawn_dev_app().await;
    let entra = mint(
        &app,
        &[
            ("kind", "entra"),
            ("sub", "alice@contoso.com"),
            ("ttl", "600"),
            ("aud", "api://other"),
        ],
    )
    .await;
    assert_eq!(entra["expires_in"], 600);
    let jwks = format!("{}/dev/idp/entra/{TENANT}/discovery/v2.0/keys", app.base);
    let claims = verify(&app, entra["token"].as_str().unwrap(), &jwks).await;
    assert_eq!(
        claims["iss"],
        format!("{}/dev/idp/entra/{TENANT}/v2.0", app.base)
    );
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["aud"], "api://other");
    assert_eq!(claims["preferred_username"], "alice@contoso.com");
    assert_eq!(claims["agent_sts_dev_idp"], NOTICE);

    let workload = mint(&app, &[("kind", "workload"), ("sub", "agents/support-bot")]).await;
    let jwks = format!("{}/dev/idp/k8s/openid/v1/jwks", app.base);
    let claims = verify(&app, workload["token"].as_str().unwrap(), &jwks).await;
    assert_eq!(claims["sub"], "system:serviceaccount:agents:support-bot");
    assert_eq!(claims["aud"], json!(["agent-sts"]));
    assert_eq!(claims["kubernetes.io"]["namespace"], "agents");
    assert_eq!(claims["agent_sts_dev_idp"], NOTICE);
}

#[tokio::test]
async fn bad_mint_requests_are_invalid_request() {
    let app = spawn_dev_app().await;
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, Option<&str>); 5] = [
        (
            &[("kind", "okta"), ("sub", " ")],
            Some("sub must be 1-256 characters"),
        ),
        (
            &[("kind", "okta"), ("sub", "alice"), ("ttl", "0")],
            Some("ttl must be 1-86400 seconds"),
        ),
        (
            &[("kind", "okta"), ("sub", "alice"), ("ttl", "86401")],
            Some("ttl must be 1-86400 seconds"),
        ),
        (&[("kind", "saml"), ("sub", "alice")], None),
        (
            &[("kind", "okta"), ("sub", "alice"), ("admin", "true")],
            None,
        ),
    ];
    for (form, description) in cases {
        let res = app.post_form("/dev/idp/mint", form).await;
        assert_eq!(res.status(), 400, "{form:?}");
        assert_eq!(header(&res, "cache-control"), "no-store", "{form:?}");
        let body = json_body(res).await;
        assert_eq!(body["error"], "invalid_request", "{form:?}");
        match description {
            Some(d) => assert_eq!(body["error_description"], d, "{form:?}"),
            None => assert!(body["error_description"].is_string(), "{form:?}"),
        }
        assert!(body.get("token").is_none());
    }
}

#[tokio::test]
async fn the_dev_idp_page_says_it_is_start_dev_only() {
    let app = spawn_dev_app().await;
    let res = app.get("/dev/idp").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&res, "cache-control"), "no-store");
    let page = res.text().await.unwrap();
    assert!(page.contains("start-dev only"), "{page}");
    assert!(page.contains(r#"action="/dev/idp/mint""#));
}
