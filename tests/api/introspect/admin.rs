//! `/admin/revocations`: the admin credential, the request's shape, and
//! what each kind of revocation covers ("Alice quits", "agent compromised").

use super::*;

const CHALLENGE: &str = "Bearer realm=\"agent-sts admin\"";

#[tokio::test]
async fn the_admin_api_needs_its_credential() {
    let fx = start().await;
    let body = json!({"subject": "x"});
    for bearer in [None, Some("wrong"), Some(""), Some(&fx.secret[..])] {
        for body in [Some(body.clone()), None] {
            let a = fx.admin_on(&fx.t, bearer, body.clone()).await;
            a.assert_error(401, "invalid_client", "admin credential required");
            assert_eq!(
                a.header("www-authenticate"),
                CHALLENGE,
                "{bearer:?} {body:?}"
            );
        }
    }
    // Basic with the credential as password is not a bearer credential.
    let res =
        fx.t.client
            .get(fx.t.url("/admin/revocations"))
            .basic_auth("admin", Some(&fx.admin))
            .send()
            .await
            .expect("request must reach the test server");
    Answer::of(res)
        .await
        .assert_error(401, "invalid_client", "admin credential required");
    assert_eq!(fx.t.app.revocations.len(), 0);
}

#[tokio::test]
async fn without_admin_config_the_admin_api_does_not_exist() {
    let fx = start_with(Setup {
        admin: false,
        redis: false,
    })
    .await;
    for bearer in [None, Some(fx.admin.as_str())] {
        for body in [Some(json!({"subject": "x"})), None] {
            fx.admin_on(&fx.t, bearer, body).await.assert_error(
                404,
                "not_found",
                "the admin API is not configured",
            );
        }
    }
}

#[tokio::test]
async fn a_revocation_names_exactly_one_target() {
    let fx = start().await;
    let one = "name exactly one of jti, subject, agent, client";
    let cases = [
        (json!({}), one),
        (json!({"subject": "a", "agent": "b"}), one),
        (json!({"jti": "a", "client": "b"}), one),
        (json!({"subject": ""}), one),
        (json!({"reason": "no target"}), one),
        (json!({"idp": "https://x.example.com"}), one),
        (
            json!({"agent": "b", "idp": "https://x.example.com"}),
            "idp goes with subject only",
        ),
        (
            json!({"jti": "b", "idp": "https://x.example.com"}),
            "idp goes with subject only",
        ),
        (
            json!({"subject": "x".repeat(513)}),
            "the value is longer than 512 characters",
        ),
    ];
    for (body, description) in cases {
        fx.admin_on(&fx.t, Some(&fx.admin), Some(body))
            .await
            .assert_error(400, "invalid_request", description);
    }
    // Not JSON of that shape: refused (axum words the description).
    for body in [json!({"user": "x"}), json!(["subject", "x"])] {
        let a = fx.admin_on(&fx.t, Some(&fx.admin), Some(body)).await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(a.json()["error"], "invalid_request");
    }
    let listed = fx.admin_on(&fx.t, Some(&fx.admin), None).await;
    assert_eq!(listed.json(), json!({"revocations": []}));
}

#[tokio::test]
async fn a_stored_revocation_is_answered_and_listed() {
    let fx = start().await;
    let uid = FakeOkta::uid_for(ALICE);
    let now = fx.now();
    // Kept as long as an upstream token issued before it could still be
    // presented: the default max_token_age (24 h) plus the clock skew.
    let cover = 24 * 3_600 + 60;
    let stored = fx
        .admin_revoke(json!({"subject": uid, "idp": fx.okta.issuer(), "reason": "left"}))
        .await;
    let want = json!({
        "id": 1, "kind": "subject", "value": uid, "idp": fx.okta.issuer(),
        "revoked_at": now, "expires_at": now + cover, "actor": "admin", "reason": "left",
    });
    assert_eq!(stored, want);
    let agent = fx.admin_revoke(json!({"agent": "triage-bot"})).await;
    assert_eq!(
        agent,
        json!({
            "id": 2, "kind": "agent", "value": "triage-bot", "idp": null, "revoked_at": now,
            "expires_at": now + cover, "actor": "admin", "reason": null,
        })
    );
    let listed = fx.admin_on(&fx.t, Some(&fx.admin), None).await.json();
    assert_eq!(listed, json!({"revocations": [want, agent]}));
    // Listed until every token they cover has expired.
    fx.advance(cover - 1).await;
    let listed = fx.admin_on(&fx.t, Some(&fx.admin), None).await.json();
    assert_eq!(listed["revocations"].as_array().map(Vec::len), Some(2));
    fx.advance(1).await;
    let listed = fx.admin_on(&fx.t, Some(&fx.admin), None).await.json();
    assert_eq!(listed, json!({"revocations": []}));
}

#[tokio::test]
async fn revoking_a_jti_affects_that_token_only() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let other = fx.obo("support-bot", ALICE, ZENDESK).await;
    fx.assert_active("gw-zendesk", &token).await;
    fx.admin_revoke(json!({"jti": jti_of(&token)})).await;
    fx.assert_inactive("gw-zendesk", &token).await;
    fx.assert_active("gw-zendesk", &other).await;
}

#[tokio::test]
async fn alice_quits_every_token_of_hers_issued_before_is_inactive() {
    let fx = start().await;
    // (the caller serving the token's audience, the token)
    let alice = [
        ("gw-zendesk", fx.obo("support-bot", ALICE, ZENDESK).await),
        ("gw-slack", fx.obo("support-bot", ALICE, SLACK).await),
        ("gw-zendesk", fx.obo("triage-host", ALICE, ZENDESK).await),
    ];
    let bob = fx.obo("support-bot", BOB, ZENDESK).await;
    let workload = fx.cc("support-bot", ZENDESK).await;
    for (caller, t) in &alice {
        fx.assert_active(caller, t).await;
    }
    fx.admin_revoke(json!({"subject": FakeOkta::uid_for(ALICE)}))
        .await;
    for (caller, t) in &alice {
        fx.assert_inactive(caller, t).await;
    }
    fx.assert_active("gw-zendesk", &bob).await;
    fx.assert_active("gw-zendesk", &workload).await;
    // A second later Alice is back (rehired): tokens from her new sign-in
    // are active, her old ones stay revoked.
    fx.advance(1).await;
    let signed_in = fx
        .okta
        .access_token(ALICE)
        .groups(GROUPS)
        .issued_at(fx.now())
        .mint();
    let again = fx.obo_on(&fx.t, "support-bot", &signed_in, ZENDESK).await;
    fx.assert_active("gw-zendesk", &again).await;
    fx.assert_inactive("gw-zendesk", &alice[0].1).await;
}

#[tokio::test]
async fn a_subject_revocation_with_idp_covers_that_upstream_only() {
    let fx = start().await;
    let uid = FakeOkta::uid_for(ALICE);
    let via_okta = fx.obo("support-bot", ALICE, ZENDESK).await;
    let okta2_user = fx.okta2.access_token(ALICE).groups(GROUPS).mint();
    let via_okta2 = fx.obo_on(&fx.t, "support-bot", &okta2_user, ZENDESK).await;
    assert_eq!(active_answer(&via_okta2)["sub"], json!(uid), "same sub");
    assert_eq!(active_answer(&via_okta2)["idp"], json!(fx.okta2.issuer()));

    fx.admin_revoke(json!({"subject": uid, "idp": "https://elsewhere.example.com"}))
        .await;
    fx.assert_active("gw-zendesk", &via_okta).await;
    fx.assert_active("gw-zendesk", &via_okta2).await;
    fx.admin_revoke(json!({"subject": uid, "idp": fx.okta2.issuer()}))
        .await;
    fx.assert_active("gw-zendesk", &via_okta).await;
    fx.assert_inactive("gw-zendesk", &via_okta2).await;
}

#[tokio::test]
async fn revoking_an_agent_or_a_client_leaves_the_others_active() {
    let fx = start().await;
    let support = [
        fx.obo("support-bot", ALICE, ZENDESK).await,
        fx.cc("support-bot", ZENDESK).await,
    ];
    let triage = [
        fx.obo("triage-host", ALICE, ZENDESK).await,
        fx.cc("triage-host", ZENDESK).await,
    ];
    // triage-bot's client is triage-host: each kind matches its own claim.
    fx.admin_revoke(json!({"agent": "triage-host"})).await;
    fx.admin_revoke(json!({"client": "triage-bot"})).await;
    for t in support.iter().chain(&triage) {
        fx.assert_active("gw-zendesk", t).await;
    }
    fx.admin_revoke(json!({"agent": "triage-bot"})).await;
    for t in &triage {
        fx.assert_inactive("gw-zendesk", t).await;
    }
    for t in &support {
        fx.assert_active("gw-zendesk", t).await;
    }
    fx.admin_revoke(json!({"client": "support-bot"})).await;
    for t in &support {
        fx.assert_inactive("gw-zendesk", t).await;
    }
    // Tokens issued afterwards are not covered.
    fx.advance(1).await;
    for client in ["support-bot", "triage-host"] {
        let fresh = fx.cc(client, ZENDESK).await;
        fx.assert_active("gw-zendesk", &fresh).await;
    }
}

/// A revoked token of ours handed to `/token` as a delegation chain's
/// `subject_token` must not come back as a fresh, active token.
#[tokio::test]
async fn a_revoked_token_cannot_be_exchanged_for_a_fresh_one() {
    let fx = start().await;
    let by_subject = fx.obo("support-bot", ALICE, ZENDESK).await;
    let by_jti = fx.obo("support-bot", BOB, ZENDESK).await;
    fx.admin_revoke(json!({"subject": FakeOkta::uid_for(ALICE)}))
        .await;
    fx.admin_revoke(json!({"jti": jti_of(&by_jti)})).await;
    fx.advance(1).await;
    for (what, revoked) in [("subject", &by_subject), ("jti", &by_jti)] {
        fx.assert_inactive("gw-zendesk", revoked).await;
        let res =
            fx.t.client
                .post(fx.t.url("/token"))
                .basic_auth("triage-host", Some(&fx.secret))
                .form(&[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", revoked.as_str()),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    ),
                    ("resource", ZENDESK),
                ])
                .send()
                .await
                .expect("request must reach the test server");
        let status = res.status().as_u16();
        let body = json_body(res).await;
        if let Some(fresh) = body["access_token"].as_str() {
            let answer = fx.answer("gw-zendesk", fresh).await;
            panic!("revoked by {what}, exchanged for a token that is {answer}");
        }
        assert_eq!(
            (status, &body["error"]),
            (400, &json!("invalid_request")),
            "{what}: {body}"
        );
    }
}
