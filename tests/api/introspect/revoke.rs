//! `POST /revoke` (RFC 7009): the client a token was issued to revokes it.

use super::*;

/// `200`, an empty body, `no-store`.
fn assert_revoked(a: &Answer, what: &str) {
    assert_eq!((a.status, a.body.as_str()), (200, ""), "{what}");
}

#[tokio::test]
async fn the_owning_client_revokes_its_token() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let other = fx.obo("support-bot", ALICE, ZENDESK).await;
    fx.assert_active("gw-zendesk", &token).await;
    let a = fx.revoke(Some("support-bot"), &[("token", &token)]).await;
    assert_revoked(&a, "owner");
    fx.assert_inactive("gw-zendesk", &token).await;
    // One token: the same user's other token stays active.
    fx.assert_active("gw-zendesk", &other).await;
    // Revoking it again is fine.
    let form = [
        ("token", token.as_str()),
        ("token_type_hint", "access_token"),
    ];
    assert_revoked(&fx.revoke(Some("support-bot"), &form).await, "again");

    let exp = crate::fake_idp::claims_of(&token)["exp"].as_i64().unwrap();
    let listed = fx.admin_on(&fx.t, Some(&fx.admin), None).await.json();
    let rows = listed["revocations"].as_array().expect("revocations");
    assert!(!rows.is_empty(), "{listed}");
    for r in rows {
        let want = json!({
            "id": r["id"], "kind": "jti", "value": jti_of(&token), "idp": null,
            "revoked_at": fx.now(), "expires_at": exp, "actor": "client:support-bot",
            "reason": "revoked by its client (RFC 7009)",
        });
        assert_eq!(*r, want);
    }
}

#[tokio::test]
async fn another_client_may_not_revoke_a_token() {
    let fx = start().await;
    let token = fx.cc("support-bot", ZENDESK).await;
    // Another agent, and the gateway that serves the token's audience.
    for client in ["triage-host", "gw-zendesk"] {
        fx.revoke(Some(client), &[("token", &token)])
            .await
            .assert_error(
                400,
                "unauthorized_client",
                "the token was not issued to this client",
            );
    }
    fx.assert_active("gw-zendesk", &token).await;
    assert_eq!(fx.t.app.revocations.len(), 0);
}

#[tokio::test]
async fn unknown_invalid_and_expired_tokens_are_answered_200() {
    let fx = start().await;
    let token = fx.cc("support-bot", ZENDESK).await;
    let tampered = format!("{}AAAA", token.trim_end_matches(|c| c != '.'));
    for (what, t) in [
        ("garbage", "garbage".to_string()),
        ("an Okta token", fx.user(ALICE)),
        ("a bad signature", tampered),
    ] {
        assert_revoked(
            &fx.revoke(Some("support-bot"), &[("token", &t)]).await,
            what,
        );
    }
    fx.advance(601).await;
    assert_revoked(
        &fx.revoke(Some("support-bot"), &[("token", &token)]).await,
        "expired",
    );
    assert_eq!(fx.t.app.revocations.len(), 0, "nothing to store");
}

#[tokio::test]
async fn missing_tokens_and_unauthenticated_clients_are_refused() {
    let fx = start().await;
    let token = fx.cc("support-bot", ZENDESK).await;
    for form in [vec![], vec![("token", "")]] {
        fx.revoke(Some("support-bot"), &form).await.assert_error(
            400,
            "invalid_request",
            "token is required",
        );
    }
    let a = fx.revoke(None, &[("token", &token)]).await;
    a.assert_error(
        401,
        "invalid_client",
        "client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)",
    );
    assert_eq!(a.header("www-authenticate"), "Basic realm=\"agent-sts\"");
    let res =
        fx.t.client
            .post(fx.t.url("/revoke"))
            .basic_auth("support-bot", Some("wrong"))
            .form(&[("token", &token)])
            .send()
            .await
            .expect("request must reach the test server");
    let a = Answer::of(res).await;
    a.assert_error(401, "invalid_client", "client authentication failed");
    assert_eq!(a.header("www-authenticate"), "Basic realm=\"agent-sts\"");
    fx.assert_active("gw-zendesk", &token).await;
}

/// RFC 7009 §2.1: the hint is only a hint. An access token of ours sent
/// as a "refresh_token" (or with a hint we never heard of) is found and
/// revoked; an unknown token with the hint is still a 200.
#[tokio::test]
async fn a_wrong_token_type_hint_does_not_stop_the_revocation() {
    let fx = start().await;
    for hint in ["refresh_token", "access_token", "something_else"] {
        let token = fx.cc("support-bot", ZENDESK).await;
        fx.assert_active("gw-zendesk", &token).await;
        let form = [("token", token.as_str()), ("token_type_hint", hint)];
        assert_revoked(&fx.revoke(Some("support-bot"), &form).await, hint);
        fx.assert_inactive("gw-zendesk", &token).await;
    }
    let unknown = [("token", "garbage"), ("token_type_hint", "refresh_token")];
    assert_revoked(
        &fx.revoke(Some("support-bot"), &unknown).await,
        "unknown, hinted refresh_token",
    );
}
