//! What `/introspect` answers: the active answer in full, exactly
//! `{"active": false}` for everything that is not valid for the caller,
//! and the RFC 9701 signed answer.

use agent_sts::tokens::keys::{self, RETIRE_GRACE};
use agent_sts::tokens::sign_jwt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

#[tokio::test]
async fn an_active_answer_carries_every_claim_and_is_verified_once() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let now = fx.now();
    let want = json!({
        "active": true, "scope": READ, "client_id": "support-bot",
        "sub": FakeOkta::uid_for(ALICE), "aud": ZENDESK, "iss": fx.t.base,
        "exp": now + 600, "iat": now, "nbf": now, "jti": jti_of(&token),
        "token_type": "Bearer", "act": {"sub": "support-bot"},
        "urn:agent": {"id": "support-bot", "pattern": "obo"}, "idp": fx.okta.issuer(),
    });
    assert_eq!(fx.answer("gw-zendesk", &token).await, want);
    assert_eq!(fx.t.app.verified.len(), 1);
    // The same token again: the same answer, from the cache.
    assert_eq!(fx.answer("gw-zendesk", &token).await, want);
    assert_eq!(fx.t.app.verified.len(), 1, "no second verification");

    // A workload token: no act, no idp.
    let workload = fx.cc("triage-host", ZENDESK).await;
    let want = json!({
        "active": true, "scope": READ, "client_id": "triage-host", "sub": "triage-host",
        "aud": ZENDESK, "iss": fx.t.base, "exp": now + 600, "iat": now, "nbf": now,
        "jti": jti_of(&workload), "token_type": "Bearer",
        "urn:agent": {"id": "triage-bot", "pattern": "workload"},
    });
    assert_eq!(fx.answer("gw-zendesk", &workload).await, want);
    assert_eq!(fx.t.app.verified.len(), 2);
}

#[tokio::test]
async fn a_token_is_active_only_for_a_caller_serving_its_audience() {
    let fx = start().await;
    let zendesk = fx.obo("support-bot", ALICE, ZENDESK).await;
    let slack = fx.obo("support-bot", ALICE, SLACK).await;
    fx.assert_active("gw-zendesk", &zendesk).await;
    fx.assert_active("gw-slack", &slack).await;
    // Cached by now: the cache must not leak across callers either.
    fx.assert_inactive("gw-slack", &zendesk).await;
    fx.assert_inactive("gw-zendesk", &slack).await;
    assert_eq!(fx.answer("gw-slack", &slack).await["scope"], SLACK_READ);
}

/// `token` with the character at `at` of segment `part` changed.
fn tamper(token: &str, part: usize, at: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut chars: Vec<char> = parts[part].chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    parts[part] = chars.into_iter().collect();
    parts.join(".")
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn malformed_forged_and_foreign_tokens_are_inactive() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let (head, claims) = (
        crate::fake_idp::header_of(&token),
        crate::fake_idp::claims_of(&token),
    );
    let mut none = head.clone();
    none["alg"] = json!("none");
    let mut other_aud = claims.clone();
    other_aud["aud"] = json!(SLACK);
    let signature = token.rsplit('.').next().unwrap();
    let jwt_answer = fx
        .introspect_raw(
            &fx.t,
            Some("gw-zendesk"),
            &[("token", &token)],
            Some(JWT_MEDIA),
        )
        .await
        .body;
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not a token".into()),
        ("one space", " ".into()),
        ("dots", "..".into()),
        ("three words", "a.b.c".into()),
        ("a long junk string", "x".repeat(10_000)),
        ("signature changed", tamper(&token, 2, 10)),
        ("payload changed", tamper(&token, 1, 10)),
        ("alg none", format!("{}.{}.", b64(&none), b64(&claims))),
        (
            "aud swapped, signature kept",
            format!("{}.{}.{signature}", b64(&head), b64(&other_aud)),
        ),
        ("an Okta token", fx.user(ALICE)),
        ("our RFC 9701 answer (typ is not at+jwt)", jwt_answer),
    ];
    for (what, t) in &cases {
        let a = fx
            .introspect_raw(&fx.t, Some("gw-zendesk"), &[("token", t)], None)
            .await;
        assert_eq!((a.status, a.body.as_str()), (200, INACTIVE), "{what}");
    }
    assert_eq!(fx.t.app.verified.len(), 1, "only the valid token is cached");
    fx.assert_active("gw-zendesk", &token).await;
}

#[tokio::test]
async fn an_expired_token_is_inactive_even_when_cached() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    fx.assert_active("gw-zendesk", &token).await;
    fx.advance(599).await;
    fx.assert_active("gw-zendesk", &token).await;
    fx.advance(1).await;
    fx.assert_inactive("gw-zendesk", &token).await;
}

#[tokio::test]
async fn a_token_under_a_key_gone_from_the_ring_is_inactive() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    fx.assert_active("gw-zendesk", &token).await;
    // Emergency rotation: the new key signs now, the old one retires.
    let new = keys::rotate(&fx.t.keys_dir, None, 0, fx.now()).unwrap();
    fx.t.app.reload_keys().unwrap();
    fx.assert_active("gw-zendesk", &token).await;
    let fresh = fx.obo("support-bot", BOB, ZENDESK).await;
    assert_eq!(crate::fake_idp::header_of(&fresh)["kid"], json!(new.kid));
    fx.assert_active("gw-zendesk", &fresh).await;

    fx.advance(RETIRE_GRACE + 1).await;
    fx.assert_inactive("gw-zendesk", &token).await;
    // A long-lived token under each key (made here, as no token of ours
    // outlives its key): only the key still in the ring verifies.
    let ring = keys::load_dir(&fx.t.keys_dir).unwrap();
    let key = |kid: &str| ring.iter().find(|k| k.kid == kid).unwrap();
    let mut claims = crate::fake_idp::claims_of(&token);
    claims["exp"] = json!(fx.now() + 3_600);
    let mut mint = |kid: &str| {
        claims["jti"] = json!(random_hex(16));
        sign_jwt(key(kid), "at+jwt", &claims).unwrap()
    };
    let (under_old, under_new) = (mint(fx.t.kid.as_str()), mint(new.kid.as_str()));
    fx.assert_active("gw-zendesk", &under_new).await;
    fx.assert_inactive("gw-zendesk", &under_old).await;
}

/// Verify an RFC 9701 answer with our JWKS fetched over HTTP; returns
/// (header, claims).
async fn verify_signed(fx: &Fx, jwt: &str) -> (Value, Value) {
    let jwks = json_body(fx.t.get("/.well-known/jwks.json").await).await;
    let set = josekit::jwk::JwkSet::from_bytes(jwks.to_string()).expect("JWKS");
    let kid = crate::fake_idp::header_of(jwt)["kid"]
        .as_str()
        .expect("kid")
        .to_string();
    let jwk = *set.get(&kid).first().expect("the kid is in our JWKS");
    let verifier = josekit::jws::ES256
        .verifier_from_jwk(jwk)
        .expect("verifier");
    let (payload, header) =
        josekit::jwt::decode_with_verifier(jwt, &verifier).expect("the signature verifies");
    (
        Value::Object(header.claims_set().clone()),
        Value::Object(payload.claims_set().clone()),
    )
}

#[tokio::test]
async fn rfc_9701_signed_answers_verify_with_our_jwks() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let cases = [
        ("gw-zendesk", token.clone(), active_answer(&token)),
        ("gw-slack", token.clone(), json!({"active": false})),
        (
            "gw-zendesk",
            "garbage".to_string(),
            json!({"active": false}),
        ),
    ];
    for accept in [
        JWT_MEDIA,
        "application/json;q=0.5, application/token-introspection+jwt",
    ] {
        for (caller, t, want) in &cases {
            let a = fx
                .introspect_raw(&fx.t, Some(*caller), &[("token", t)], Some(accept))
                .await;
            assert_eq!(a.status, 200, "{}", a.body);
            assert_eq!(a.header("content-type"), JWT_MEDIA);
            let (header, claims) = verify_signed(&fx, &a.body).await;
            assert_eq!(
                header,
                json!({"alg": "ES256", "typ": "token-introspection+jwt", "kid": fx.t.kid})
            );
            assert_eq!(
                claims,
                json!({"iss": fx.t.base, "aud": caller, "iat": fx.now(), "token_introspection": want})
            );
        }
    }
    // The JSON answer is the same object, and stays JSON by default.
    for accept in [None, Some("application/json")] {
        let a = fx
            .introspect_raw(&fx.t, Some("gw-zendesk"), &[("token", &token)], accept)
            .await;
        assert_eq!(a.json(), active_answer(&token));
    }
}
