//! Leg 2: an ID-JAG from the enterprise IdP for an access token, and every
//! way it is refused, each with its reason code and audit record.

use serde_json::json;

use super::*;
use crate::audit::Trail;
use crate::fake_idp::{Bad, claims_of};

/// The last audit record: (event, decision, reason).
async fn last(trail: &mut Trail) -> (String, String, String) {
    let r = trail.one().await.json;
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    (s("event"), s("decision"), s("reason"))
}

#[tokio::test]
async fn an_id_jag_buys_the_agent_an_obo_token_for_its_user() {
    let fx = start().await;
    let meta = json_body(fx.t.get("/.well-known/oauth-authorization-server").await).await;
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER)),
        "{meta}"
    );
    assert_eq!(
        meta["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );

    let jag = fx.jag().mint();
    let jag_jti = claims_of(&jag)["jti"].as_str().unwrap().to_string();
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, body) = fx.redeem(&jag).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["scope"], READ);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["sub"], FakeOkta::uid_for(ALICE));
    assert_eq!(claims["aud"], ZENDESK);
    assert_eq!(claims["act"], json!({"sub": "mcp-host"}));
    assert_eq!(claims["urn:agent"]["pattern"], "id_jag");
    assert_eq!(claims["idp"], fx.okta.issuer());
    assert_eq!(claims["client_id"], "mcp-host");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(
        lifetime >= 300,
        "the agent's TTL, not the ID-JAG's: {lifetime}"
    );

    let record = trail.one().await.json;
    assert_eq!(
        (&record["event"], &record["decision"], &record["pattern"]),
        (&json!("token"), &json!("allow"), &json!("id_jag"))
    );
    assert_eq!(record["idp"], fx.okta.issuer());
    assert_eq!(record["jti"], claims["jti"]);
    assert_eq!(
        record["detail"],
        format!("ID-JAG {jag_jti} from {}", fx.okta.issuer())
    );
    let seen = introspect(&fx.t, &fx.secret, token).await;
    assert_eq!(seen["active"], true, "{seen}");
}

#[tokio::test]
async fn a_narrower_scope_may_be_asked_a_wider_one_not() {
    let fx = start().await;
    let jag = fx.jag().mint();
    let scoped = |a: &str| {
        [
            ("grant_type", JWT_BEARER.to_string()),
            ("assertion", a.to_string()),
            ("scope", READ.to_string()),
        ]
    };
    let form = scoped(&jag);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post_token(&fx.t, "mcp-host", &fx.secret, &pairs).await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some(READ)),
        "{body}"
    );
    let wider = fx.jag().claim("scope", json!("openid")).mint();
    let form = scoped(&wider);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post_token(&fx.t, "mcp-host", &fx.secret, &pairs).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert_eq!(
        body["error_description"],
        format!("scope {READ} is not in the ID-JAG's scope")
    );
}

#[tokio::test]
async fn each_refusal_has_its_reason_and_record() {
    let fx = start().await;
    let stranger = FakeOkta::start().await;
    let base = fx.t.base.clone();
    let replayed = fx.jag().mint();
    assert_eq!(fx.redeem(&replayed).await.0, 200);
    let cases: Vec<(&str, &str, String, &str, &str)> = vec![
        (
            "an access token",
            "mcp-host",
            fx.okta.access_token(ALICE).mint(),
            "invalid_grant",
            "not_an_id_jag",
        ),
        (
            "an ID token",
            "mcp-host",
            fx.okta.id_token(ALICE).mint(),
            "invalid_grant",
            "not_an_id_jag",
        ),
        (
            "for another server",
            "mcp-host",
            fx.okta
                .id_jag(ALICE, "https://as.elsewhere.example", "mcp-host", ZENDESK)
                .mint(),
            "invalid_grant",
            "wrong_audience",
        ),
        (
            "issued to another client",
            "other-host",
            fx.jag().mint(),
            "invalid_grant",
            "id_jag_client_mismatch",
        ),
        (
            "for a resource the agent lacks",
            "mcp-host",
            fx.okta.id_jag(ALICE, &base, "mcp-host", SLACK).mint(),
            "invalid_target",
            "target_not_allowed",
        ),
        (
            "replayed",
            "mcp-host",
            replayed.clone(),
            "invalid_grant",
            "assertion_replayed",
        ),
        (
            "expired",
            "mcp-host",
            fx.jag().bad(Bad::Expired).mint(),
            "invalid_grant",
            "expired",
        ),
        (
            "living an hour",
            "mcp-host",
            fx.jag().ttl(3_600).mint(),
            "invalid_grant",
            "id_jag_lifetime_too_long",
        ),
        (
            "without a jti",
            "mcp-host",
            fx.jag().remove("jti").mint(),
            "invalid_grant",
            "missing_claim",
        ),
        (
            "from an upstream that issues none",
            "mcp-host",
            fx.plain.id_jag(ALICE, &base, "mcp-host", ZENDESK).mint(),
            "invalid_grant",
            "id_jag_issuer_not_trusted",
        ),
        (
            "from an unknown issuer",
            "mcp-host",
            stranger.id_jag(ALICE, &base, "mcp-host", ZENDESK).mint(),
            "invalid_grant",
            "unknown_issuer",
        ),
        (
            "with a bad signature",
            "mcp-host",
            fx.jag().bad(Bad::TamperedPayload).mint(),
            "invalid_grant",
            "bad_signature",
        ),
    ];
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    for (name, client, assertion, error, reason) in cases {
        let (status, body) = fx.redeem_as(client, &assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{name}: {body}"
        );
        assert!(
            !body.to_string().contains(&assertion),
            "{name}: the assertion is not echoed"
        );
        assert_eq!(
            last(&mut trail).await,
            ("token".into(), "deny".into(), reason.into()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn alice_quits_her_id_jags_buy_nothing() {
    let fx = start().await;
    let jag = fx.jag().mint();
    crate::helpers::revoke_subject(&fx.t, &FakeOkta::uid_for(ALICE)).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, body) = fx.redeem(&jag).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(
        last(&mut trail).await,
        ("token".into(), "deny".into(), "revoked".into())
    );
}

#[tokio::test]
async fn an_id_jag_is_no_subject_token() {
    let fx = start().await;
    let (status, body) = post_token(
        &fx.t,
        "mcp-host",
        &fx.secret,
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &fx.jag().mint()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", ZENDESK),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(
        body["error_description"],
        "subject_token: an ID-JAG is accepted only as the assertion of the jwt-bearer grant"
    );
}
