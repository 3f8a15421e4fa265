//! User-on-behalf-of: a user's Okta or Entra token, no actor token.

use serde_json::json;

use super::support::*;
use crate::fake_idp::{FakeEntra, FakeOkta};
use crate::upstream::TENANT;

#[tokio::test]
async fn obo_with_an_okta_access_token() {
    let sts = start().await;
    let subject = sts.user(LEAD, LEAD_GROUPS);
    let req =
        Req::exchange(sts.basic("support-bot"), &subject).with("scope", &format!("{READ} {WRITE}"));
    let m = sts.granted(&req).await;
    sts.assert_token(
        &m,
        Want {
            sub: &FakeOkta::uid_for(LEAD),
            aud: ZENDESK,
            client_id: "support-bot",
            scope: &format!("{READ} {WRITE}"),
            act: Some(json!({"sub": PRINCIPAL})),
            agent: json!({"id": "support-bot", "pattern": "obo"}),
            idp: Some(&sts.okta.issuer()),
            tid: None,
            lifetime: 600,
        },
    );
    assert!(m.claims["exp"].as_i64().unwrap() <= exp_of(&subject));
    assert_eq!(m.body["expires_in"], 600);
}

#[tokio::test]
async fn obo_with_an_okta_id_token() {
    let sts = start().await;
    let subject = sts.okta.id_token(ALICE).groups(ALICE_GROUPS).mint();
    let req = Req::exchange(sts.basic("support-bot"), &subject).set("subject_token_type", ID_TOKEN);
    let m = sts.granted(&req).await;
    sts.assert_token(
        &m,
        Want {
            sub: &FakeOkta::uid_for(ALICE),
            aud: ZENDESK,
            client_id: "support-bot",
            scope: READ,
            act: Some(json!({"sub": PRINCIPAL})),
            agent: json!({"id": "support-bot", "pattern": "obo"}),
            idp: Some(&sts.okta.issuer()),
            tid: None,
            lifetime: 600,
        },
    );
}

#[tokio::test]
async fn obo_with_an_entra_v2_token_carries_oid_and_tid() {
    let sts = start().await;
    let upn = "carol@contoso.com";
    let groups = [
        FakeEntra::group_id("support-agents"),
        FakeEntra::group_id("support-leads"),
    ];
    let subject = sts
        .entra
        .access_token_v2(TENANT, upn)
        .groups(&[&groups[0], &groups[1]])
        .mint();
    let req = Req::exchange(sts.basic("support-bot"), &subject);
    let m = sts.granted(&req).await;
    sts.assert_token(
        &m,
        Want {
            sub: &FakeEntra::oid_for(upn),
            aud: ZENDESK,
            client_id: "support-bot",
            scope: &format!("{READ} {WRITE}"),
            act: Some(json!({"sub": PRINCIPAL})),
            agent: json!({"id": "support-bot", "pattern": "obo"}),
            idp: Some(&sts.entra.issuer_v2(TENANT)),
            tid: Some(TENANT),
            lifetime: 600,
        },
    );
    assert!(m.claims["exp"].as_i64().unwrap() <= exp_of(&subject));
}

#[tokio::test]
async fn obo_with_an_entra_v1_token_names_the_v1_issuer() {
    let sts = start().await;
    let upn = "dave@contoso.com";
    let subject = sts
        .entra
        .access_token_v1(TENANT, upn)
        .groups(&[&FakeEntra::group_id("support-agents")])
        .mint();
    let m = sts
        .granted(&Req::exchange(sts.basic("support-bot"), &subject))
        .await;
    assert_eq!(m.claims["sub"], FakeEntra::oid_for(upn));
    assert_eq!(m.claims["idp"], sts.entra.issuer_v1(TENANT));
    assert_eq!(m.claims["tid"], TENANT);
    assert_eq!(m.claims["scope"], READ);
}

#[tokio::test]
async fn audience_names_the_target_like_resource_and_both_may_agree() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let by_audience = Req::exchange(sts.basic("support-bot"), &subject)
        .without("resource")
        .with("audience", SLACK);
    let m = sts.granted(&by_audience).await;
    assert_eq!(
        (m.claims["aud"].as_str(), m.claims["scope"].as_str()),
        (Some(SLACK), Some(SLACK_READ))
    );

    let both = Req::exchange(sts.basic("support-bot"), &subject).with("audience", ZENDESK);
    let m = sts.granted(&both).await;
    assert_eq!(m.claims["aud"], ZENDESK);
}

#[tokio::test]
async fn requested_token_type_access_token_is_accepted() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let req = Req::exchange(sts.basic("support-bot"), &subject).with("requested_token_type", AT);
    assert_eq!(sts.granted(&req).await.body["scope"], READ);
}
