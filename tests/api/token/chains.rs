//! Delegation chains (RFC 8693 §4.1) and `may_act` (§4.4).

use agent_sts::error::ErrorCode;
use agent_sts::reason::Reason;
use serde_json::{Value, json};

use super::support::*;
use crate::fake_idp::FakeOkta;

fn depth(claims: &Value) -> usize {
    let mut n = 0;
    let mut act = claims.get("act");
    while let Some(a) = act {
        n += 1;
        act = a.get("act");
    }
    n
}

/// support-bot's OBO token for alice.
async fn obo(sts: &Sts) -> Minted {
    let subject = sts.user(ALICE, ALICE_GROUPS);
    sts.granted(&Req::exchange(sts.basic("support-bot"), &subject))
        .await
}

#[tokio::test]
async fn a_delegation_chain_nests_act_and_counts_depth() {
    let sts = start().await;
    let first = obo(&sts).await;
    assert_eq!(depth(&first.claims), 1);
    // Tokens for zendesk name its gateway, triage-bot, as who may act next.
    assert_eq!(
        first.claims["may_act"],
        json!({"sub": "triage-bot", "client_id": "triage-bot"})
    );

    // triage-bot, zendesk's gateway, exchanges it to call the ticket back end.
    let second = sts
        .granted(&Req::exchange(sts.basic("triage-bot"), &first.token).set("resource", TICKETS))
        .await;
    let first_jti = first.claims["jti"].as_str().unwrap();
    sts.assert_token(
        &second,
        Want {
            sub: &FakeOkta::uid_for(ALICE),
            aud: TICKETS,
            client_id: "triage-bot",
            scope: READ,
            act: Some(json!({"sub": "triage-bot", "act": {"sub": PRINCIPAL}})),
            agent: json!({"id": "triage-bot", "pattern": "obo", "derived_from": [
                {"jti": first_jti, "agent": "support-bot", "client_id": "support-bot",
                 "iat": first.claims["iat"]},
            ]}),
            idp: Some(&sts.okta.issuer()),
            tid: None,
            lifetime: 600,
        },
    );
    assert!(second.claims["exp"].as_i64().unwrap() <= first.claims["exp"].as_i64().unwrap());
    assert_eq!(depth(&second.claims), 2);

    // support-bot serves the ticket back end: three actors, the default cap.
    let third = sts
        .granted(&Req::exchange(sts.basic("support-bot"), &second.token))
        .await;
    assert_eq!(
        third.claims["act"],
        json!({"sub": PRINCIPAL, "act": {"sub": "triage-bot", "act": {"sub": PRINCIPAL}}})
    );
    assert_eq!(depth(&third.claims), 3);
    assert_eq!(
        third.claims["urn:agent"]["derived_from"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    sts.refused(
        &Req::exchange(sts.basic("triage-bot"), &third.token),
        400,
        ErrorCode::InvalidRequest,
        "the delegation chain would hold 4 actors; at most 3 are allowed",
        Reason::ChainTooDeep,
    )
    .await;
}

#[tokio::test]
async fn a_chain_deeper_than_the_configured_cap_is_refused() {
    let sts = start_with(1).await;
    let first = obo(&sts).await;
    sts.refused(
        &Req::exchange(sts.basic("triage-bot"), &first.token),
        400,
        ErrorCode::InvalidRequest,
        "the delegation chain would hold 2 actors; at most 1 are allowed",
        Reason::ChainTooDeep,
    )
    .await;
}

#[tokio::test]
async fn a_chain_never_widens_the_subject_tokens_scope() {
    let sts = start().await;
    let first = obo(&sts).await;
    assert_eq!(first.claims["scope"], READ);
    sts.refused(
        &Req::exchange(sts.basic("triage-bot"), &first.token).with("scope", WRITE),
        400,
        ErrorCode::InvalidScope,
        "scope zendesk:tickets:write is not in the subject_token's scope",
        Reason::ScopeExceedsSubject,
    )
    .await;
}

#[tokio::test]
async fn an_expired_token_of_ours_is_refused_as_subject() {
    let sts = start().await;
    let first = obo(&sts).await;
    sts.t.clock.advance(601);
    sts.refused(
        &Req::exchange(sts.basic("triage-bot"), &first.token),
        400,
        ErrorCode::InvalidRequest,
        "subject_token: the token expired 1s ago",
        Reason::Expired,
    )
    .await;
}

#[tokio::test]
async fn a_chain_does_not_bypass_the_next_agents_user_population() {
    let sts = start().await;
    // alice is not in okta:Pilot, so pilot-bot refuses her directly...
    let direct = Req::exchange(sts.basic("pilot-bot"), &sts.user(ALICE, ALICE_GROUPS));
    let description = "the user is in none of agent pilot-bot's user_groups";
    sts.refused(
        &direct,
        400,
        ErrorCode::InvalidGrant,
        description,
        Reason::UserNotAllowed,
    )
    .await;
    // ...and must refuse her through support-bot's token for slack, which
    // pilot-bot serves.
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let slack = sts
        .granted(&Req::exchange(sts.basic("support-bot"), &subject).set("resource", SLACK))
        .await;
    let chained = Req::exchange(sts.basic("pilot-bot"), &slack.token);
    sts.refused(
        &chained,
        400,
        ErrorCode::InvalidGrant,
        description,
        Reason::UserNotAllowed,
    )
    .await;
}

#[tokio::test]
async fn may_act_naming_someone_else_is_refused() {
    let sts = start().await;
    let subject = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .claim("may_act", json!({"sub": "someone-else"}))
        .mint();
    sts.refused(
        &Req::exchange(sts.basic("support-bot"), &subject),
        400,
        ErrorCode::InvalidRequest,
        "subject_token's may_act does not name the actor system:serviceaccount:agents:support-bot",
        Reason::MayActMismatch,
    )
    .await;

    // The right sub under another issuer is someone else too.
    let subject = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .claim(
            "may_act",
            json!({"sub": PRINCIPAL, "iss": "https://other.example.com"}),
        )
        .mint();
    let req = Req::exchange(sts.basic("support-bot"), &subject)
        .with("actor_token", &sts.workload(PRINCIPAL))
        .with("actor_token_type", JWT);
    sts.refused(
        &req,
        400,
        ErrorCode::InvalidRequest,
        "subject_token's may_act does not name the actor system:serviceaccount:agents:support-bot",
        Reason::MayActMismatch,
    )
    .await;
}

#[tokio::test]
async fn may_act_naming_the_actor_is_honoured() {
    let sts = start().await;
    let may_act = |v: Value| {
        sts.okta
            .access_token(ALICE)
            .groups(ALICE_GROUPS)
            .claim("may_act", v)
            .mint()
    };
    let obo = Req::exchange(
        sts.basic("support-bot"),
        &may_act(json!({"sub": PRINCIPAL})),
    );
    assert_eq!(
        sts.granted(&obo).await.claims["act"],
        json!({"sub": PRINCIPAL})
    );

    let subject = may_act(json!({"sub": PRINCIPAL, "iss": sts.k8s.issuer()}));
    let hybrid = Req::exchange(sts.basic("support-bot"), &subject)
        .with("actor_token", &sts.workload(PRINCIPAL))
        .with("actor_token_type", JWT);
    let m = sts.granted(&hybrid).await;
    assert_eq!(
        m.claims["act"],
        json!({"sub": PRINCIPAL, "iss": sts.k8s.issuer()})
    );
}
