//! Self-tests: the fakes serve what they claim, over real HTTP (shared
//! helpers, Okta, outage modes, the low-level signer).

use super::jwt::{self, verify_with_jwks};
use super::okta::{APP_CLIENT_ID, DEFAULT_AUDIENCE, INTROSPECT_CLIENT_ID};
use super::{FakeEntra, FakeOkta, Mode, SignWith, claims_of, header_of, sign};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A tenant the fake Entra serves.
pub const TENANT_A: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// A second tenant the fake Entra serves.
pub const TENANT_B: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// A tenant the fake Entra does not serve.
pub const OTHER_TENANT: &str = "0d2db716-b331-4d7b-aa37-7f1ac9d35aae";

/// GETs `url` and parses JSON.
pub async fn get_json(url: &str) -> Value {
    let resp = reqwest::get(url).await.expect("GET");
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.json().await.expect("JSON body")
}

/// The member names of a JSON object.
pub fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

/// A set of names.
pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The kids of a JWKS, in order.
pub fn kids(jwks: &Value) -> Vec<String> {
    let keys = jwks["keys"].as_array().expect("keys");
    keys.iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

#[tokio::test]
async fn okta_discovery_documents_name_their_issuer_and_keys() {
    let okta = FakeOkta::start().await;
    for url in [okta.discovery_url(), okta.oauth_metadata_url()] {
        let doc = get_json(&url).await;
        assert_eq!(doc["issuer"], okta.issuer());
        assert_eq!(doc["jwks_uri"], okta.jwks_uri());
        assert_eq!(doc["introspection_endpoint"], okta.introspection_endpoint());
        assert_eq!(doc["token_endpoint"], format!("{}/v1/token", okta.issuer()));
    }
    assert!(okta.issuer().ends_with("/oauth2/default"));
    let org = get_json(&okta.org_discovery_url()).await;
    assert_eq!(org["issuer"], okta.org_issuer());
    assert_eq!(org["jwks_uri"], okta.org_jwks_uri());
    assert_eq!(
        org["introspection_endpoint"],
        okta.org_introspection_endpoint()
    );
    assert_eq!(okta.discovery_fetches(), 2);
    assert_eq!(okta.org().discovery_fetches(), 1);
    let custom_keys = get_json(&okta.jwks_uri()).await;
    let org_keys = get_json(&okta.org_jwks_uri()).await;
    assert_eq!(kids(&custom_keys), vec![okta.kid()]);
    assert_eq!(kids(&org_keys), vec![okta.org().kid()]);
    assert_ne!(okta.kid(), okta.org().kid());
    assert_eq!(custom_keys["keys"][0]["alg"], "RS256");
    assert_eq!(custom_keys["keys"][0]["use"], "sig");
    assert!(
        custom_keys["keys"][0].get("d").is_none(),
        "no private parts"
    );
}

#[tokio::test]
async fn okta_tokens_carry_oktas_claim_sets_and_verify() {
    let okta = FakeOkta::start().await;
    let jwks = get_json(&okta.jwks_uri()).await;
    let at = okta
        .access_token("alice@example.com")
        .groups(&["Support-Agents"])
        .mint();
    let claims = verify_with_jwks(&at, &jwks).expect("access token verifies");
    let want = [
        "ver",
        "jti",
        "iss",
        "aud",
        "iat",
        "exp",
        "cid",
        "uid",
        "scp",
        "auth_time",
        "sub",
        "groups",
    ];
    assert_eq!(keys_of(&claims), set(&want));
    assert_eq!(keys_of(&header_of(&at)), set(&["kid", "alg"]));
    assert_eq!(claims["iss"], okta.issuer());
    assert_eq!(claims["aud"], DEFAULT_AUDIENCE);
    assert_eq!(claims["sub"], "alice@example.com");
    assert_eq!(claims["uid"], FakeOkta::uid_for("alice@example.com"));
    assert_eq!(claims["cid"], APP_CLIENT_ID);
    assert_eq!(claims["groups"], json!(["Support-Agents"]));
    assert!(claims["scp"].is_array());
    assert!(claims["jti"].as_str().unwrap().starts_with("AT."));
    assert!(claims["uid"].as_str().unwrap().starts_with("00u"));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    let id = okta.id_token("alice@example.com").mint();
    let claims = verify_with_jwks(&id, &jwks).expect("ID token verifies");
    let want = [
        "sub",
        "ver",
        "iss",
        "aud",
        "iat",
        "exp",
        "jti",
        "amr",
        "idp",
        "auth_time",
        "name",
        "email",
        "preferred_username",
        "groups",
    ];
    assert_eq!(keys_of(&claims), set(&want));
    assert_eq!(claims["sub"], FakeOkta::uid_for("alice@example.com"));
    assert_eq!(claims["aud"], APP_CLIENT_ID);
    assert!(claims["jti"].as_str().unwrap().starts_with("ID."));
    assert!(claims["idp"].as_str().unwrap().starts_with("00o"));

    let svc = okta
        .service_token("0oaworkload00000x697")
        .scopes(&["agents.run"])
        .mint();
    let claims = verify_with_jwks(&svc, &jwks).expect("service token verifies");
    assert_eq!(claims["sub"], claims["cid"]);
    assert!(claims.get("uid").is_none() && claims.get("auth_time").is_none());
    assert_eq!(claims["scp"], json!(["agents.run"]));

    let org = okta.org_access_token("alice@example.com").mint();
    assert!(
        verify_with_jwks(&org, &jwks).is_err(),
        "org keys are separate"
    );
    let org_jwks = get_json(&okta.org_jwks_uri()).await;
    let claims = verify_with_jwks(&org, &org_jwks).expect("org token verifies");
    assert_eq!(claims["iss"], okta.org_issuer());
}

#[tokio::test]
async fn builder_edits_apply_in_order() {
    let okta = FakeOkta::start().await;
    let b = okta
        .access_token("bob@example.com")
        .aud("api://agent-sts")
        .ttl(600)
        .issued_at(jwt::now() - 5)
        .claim("x", json!({"y": 1}))
        .remove("iat")
        .header("crit", json!(["x-custom"]))
        .header("typ", json!("JWT"))
        .remove_header("typ");
    let (preview_header, preview_claims) = b.preview();
    let token = b.mint();
    let (h, c) = (header_of(&token), claims_of(&token));
    assert_eq!((h.clone(), c.clone()), (preview_header, preview_claims));
    assert_eq!(c["aud"], "api://agent-sts");
    assert_eq!(c["x"], json!({"y": 1}));
    assert!(c.get("iat").is_none());
    assert_eq!(c["exp"], c["auth_time"].as_i64().unwrap() + 600);
    assert_eq!(h["crit"], json!(["x-custom"]));
    assert!(h.get("typ").is_none());

    let key = super::SigningKey::rsa("test-other");
    let t = okta.access_token("bob@example.com").signed_by(&key).mint();
    assert_eq!(header_of(&t)["kid"], "test-other");
    assert!(verify_with_jwks(&t, &json!({"keys": [key.public_jwk()]})).is_ok());
}

#[tokio::test]
async fn rotation_changes_the_served_kid_and_counts_fetches() {
    let okta = FakeOkta::start().await;
    let kid1 = okta.kid();
    let old = okta.access_token("a@example.com").mint();
    let resp = reqwest::get(okta.jwks_uri()).await.unwrap();
    let cc = resp
        .headers()
        .get("cache-control")
        .expect("cache-control")
        .clone();
    assert!(cc.to_str().unwrap().contains("max-age"));
    assert_eq!(kids(&resp.json().await.unwrap()), vec![kid1.clone()]);
    assert_eq!(okta.jwks_fetches(), 1);

    let kid2 = okta.rotate_key();
    assert_ne!(kid1, kid2);
    assert_eq!(okta.kid(), kid2);
    let jwks = get_json(&okta.jwks_uri()).await;
    assert_eq!(kids(&jwks), vec![kid2.clone()]);
    assert_eq!(okta.jwks_fetches(), 2);
    assert!(verify_with_jwks(&old, &jwks).is_err(), "old key is gone");
    let new = okta.access_token("a@example.com").mint();
    assert_eq!(header_of(&new)["kid"], kid2);
    assert!(verify_with_jwks(&new, &jwks).is_ok());

    let kid3 = okta.rotate_key_keep_old();
    assert_eq!(okta.published_kids(), vec![kid3.clone(), kid2.clone()]);
    okta.publish_ec_key(true);
    okta.set_cache_control(None);
    let resp = reqwest::get(okta.jwks_uri()).await.unwrap();
    assert!(resp.headers().get("cache-control").is_none());
    let jwks: Value = resp.json().await.unwrap();
    assert_eq!(
        kids(&jwks),
        vec![kid3, kid2, okta.ec_key().kid().to_owned()]
    );
    assert_eq!(jwks["keys"][2]["alg"], "ES256");
    assert_eq!(okta.jwks_fetches(), 3);
    assert_eq!(okta.org().jwks_fetches(), 0);
}

async fn expect_modes(discovery: &str, jwks: &str, set_mode: impl Fn(Mode)) {
    for url in [discovery, jwks] {
        set_mode(Mode::Down);
        assert_eq!(reqwest::get(url).await.unwrap().status(), 503, "{url}");
        set_mode(Mode::Garbage);
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert!(
            serde_json::from_str::<Value>(&body).is_err(),
            "garbage is not JSON"
        );
        set_mode(Mode::Slow(Duration::from_millis(300)));
        let start = Instant::now();
        let _ = get_json(url).await;
        assert!(start.elapsed() >= Duration::from_millis(300));
        set_mode(Mode::Up);
        let _ = get_json(url).await;
    }
}

#[tokio::test]
async fn outage_modes_affect_discovery_and_jwks() {
    let okta = FakeOkta::start().await;
    expect_modes(&okta.discovery_url(), &okta.jwks_uri(), |m| {
        okta.set_mode(m)
    })
    .await;
    assert_eq!(okta.jwks_fetches(), 4, "every attempt is counted");
    assert_eq!(okta.mode(), Mode::Up);
    let org = okta.org();
    expect_modes(&okta.org_discovery_url(), &okta.org_jwks_uri(), |m| {
        org.set_mode(m)
    })
    .await;

    let entra = FakeEntra::start(&[TENANT_A]).await;
    let (d, j) = (
        entra.discovery_url_v2(TENANT_A),
        entra.jwks_uri_v2(TENANT_A),
    );
    expect_modes(&d, &j, |m| entra.set_mode(m)).await;

    let url = okta.jwks_uri();
    okta.shutdown();
    assert!(reqwest::get(&url).await.is_err(), "refused after shutdown");
    let url = entra.jwks_uri_v1(TENANT_A);
    drop(entra);
    assert!(reqwest::get(&url).await.is_err(), "refused after drop");
}

async fn introspect(url: &str, id: &str, secret: &str, token: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .basic_auth(id, Some(secret))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn okta_introspection_answers_like_rfc_7662() {
    let okta = FakeOkta::start().await;
    let (url, secret) = (
        okta.introspection_endpoint(),
        okta.client_secret().to_owned(),
    );
    assert_eq!(okta.client_id(), INTROSPECT_CLIENT_ID);
    let token = okta
        .access_token("alice@example.com")
        .scopes(&["openid", "tickets"])
        .mint();
    let (status, body) = introspect(&url, INTROSPECT_CLIENT_ID, &secret, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "openid tickets");
    assert_eq!(body["username"], "alice@example.com");
    assert_eq!(body["client_id"], APP_CLIENT_ID);
    assert_eq!(body["uid"], FakeOkta::uid_for("alice@example.com"));

    let (status, body) = introspect(&url, INTROSPECT_CLIENT_ID, "wrong", &token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let resp = reqwest::Client::new()
        .post(&url)
        .form(&[("token", &token)])
        .send()
        .await;
    assert_eq!(resp.unwrap().status(), 401, "no client auth");
    let resp = reqwest::Client::new()
        .post(&url)
        .basic_auth(INTROSPECT_CLIENT_ID, Some(&secret));
    assert_eq!(resp.form(&[("x", "y")]).send().await.unwrap().status(), 400);

    okta.deactivate(claims_of(&token)["jti"].as_str().unwrap());
    let (_, body) = introspect(&url, INTROSPECT_CLIENT_ID, &secret, &token).await;
    assert_eq!(body, json!({"active": false}));
    let expired = okta
        .access_token("a@example.com")
        .bad(super::Bad::Expired)
        .mint();
    let (_, body) = introspect(&url, INTROSPECT_CLIENT_ID, &secret, &expired).await;
    assert_eq!(body, json!({"active": false}));
    let (_, body) = introspect(&url, INTROSPECT_CLIENT_ID, &secret, "garbage").await;
    assert_eq!(body, json!({"active": false}));

    let org_url = okta.org_introspection_endpoint();
    let org_token = okta.org_access_token("alice@example.com").mint();
    let (_, body) = introspect(&org_url, INTROSPECT_CLIENT_ID, &secret, &org_token).await;
    assert_eq!(body["active"], true);
    let fresh = okta.access_token("alice@example.com").mint();
    let (_, body) = introspect(&org_url, INTROSPECT_CLIENT_ID, &secret, &fresh).await;
    assert_eq!(body["active"], false, "custom-AS token is not the org AS's");

    okta.set_introspection_mode(Mode::Down);
    let (status, _) = introspect(&url, INTROSPECT_CLIENT_ID, &secret, &fresh).await;
    assert_eq!(status, 503);
    assert_eq!(okta.introspections(), 10);
}

#[tokio::test]
async fn low_level_sign_supports_the_asymmetric_algorithms() {
    let rsa = super::SigningKey::rsa("k-rsa");
    let ec = super::SigningKey::ec("k-ec");
    let jwks = json!({"keys": [rsa.public_jwk(), ec.public_jwk()]});
    let claims = json!({"sub": "x", "iat": jwt::now()});
    for (alg, key) in [("RS256", &rsa), ("PS256", &rsa), ("ES256", &ec)] {
        let header = json!({"alg": alg, "kid": key.kid()});
        let token = sign(header, claims.clone(), SignWith::Key(key));
        assert_eq!(verify_with_jwks(&token, &jwks).expect(alg), claims);
    }
    let unsigned = sign(json!({"alg": "none"}), claims.clone(), SignWith::Unsigned);
    assert!(unsigned.ends_with('.'));
    assert!(claims["iat"].is_i64(), "whole seconds");
}
