//! Hybrid: a user's token as subject, the agent's workload token as actor.

use agent_sts::error::ErrorCode;
use agent_sts::reason::Reason;
use serde_json::json;

use super::support::*;
use crate::fake_idp::FakeOkta;

fn hybrid(sts: &Sts, subject: &str, actor: &str, actor_type: &str) -> Req {
    Req::exchange(sts.basic("support-bot"), subject)
        .with("actor_token", actor)
        .with("actor_token_type", actor_type)
}

#[tokio::test]
async fn hybrid_with_a_workload_actor_token() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let actor = sts.workload(PRINCIPAL);
    let m = sts.granted(&hybrid(&sts, &subject, &actor, JWT)).await;
    sts.assert_token(
        &m,
        Want {
            sub: &FakeOkta::uid_for(ALICE),
            aud: ZENDESK,
            client_id: "support-bot",
            scope: READ,
            act: Some(json!({"sub": PRINCIPAL, "iss": sts.k8s.issuer()})),
            agent: json!({"id": "support-bot", "pattern": "hybrid"}),
            idp: Some(&sts.okta.issuer()),
            tid: None,
            lifetime: 600,
        },
    );
    let exp = m.claims["exp"].as_i64().unwrap();
    assert!(exp <= exp_of(&subject) && exp <= exp_of(&actor));
}

#[tokio::test]
async fn hybrid_with_our_own_workload_token_as_actor() {
    let sts = start().await;
    let workload = sts
        .granted(&Req::client_credentials(sts.basic("support-bot")))
        .await;
    let subject = sts.user(LEAD, LEAD_GROUPS);
    let req = hybrid(&sts, &subject, &workload.token, AT).with("scope", WRITE);
    let m = sts.granted(&req).await;
    sts.assert_token(
        &m,
        Want {
            sub: &FakeOkta::uid_for(LEAD),
            aud: ZENDESK,
            client_id: "support-bot",
            scope: WRITE,
            act: Some(json!({"sub": PRINCIPAL, "iss": sts.t.base})),
            agent: json!({"id": "support-bot", "pattern": "hybrid"}),
            idp: Some(&sts.okta.issuer()),
            tid: None,
            lifetime: 600,
        },
    );
}

#[tokio::test]
async fn the_actor_tokens_exp_caps_the_lifetime() {
    let sts = start().await;
    let now = sts.now();
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let actor = sts
        .k8s
        .service_token("x")
        .aud(WORKLOAD_AUD)
        .claim("sub", PRINCIPAL.into())
        .remove("cid")
        .issued_at(now)
        .ttl(90)
        .mint();
    let m = sts.granted(&hybrid(&sts, &subject, &actor, JWT)).await;
    assert_eq!(m.body["expires_in"], 90);
    assert_eq!(m.claims["exp"].as_i64(), Some(exp_of(&actor)));
}

#[tokio::test]
async fn an_actor_that_is_not_the_agents_workload_identity_is_refused() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let batch = sts
        .granted(&Req::client_credentials(sts.post("batch-bot")))
        .await;
    let actors = [
        (sts.workload("system:serviceaccount:agents:other-bot"), JWT),
        (sts.workload(BATCH_PRINCIPAL), JWT),
        (sts.user(LEAD, LEAD_GROUPS), AT),
        (batch.token, AT),
    ];
    for (actor, ty) in &actors {
        sts.refused(
            &hybrid(&sts, &subject, actor, ty),
            400,
            ErrorCode::InvalidRequest,
            "actor_token does not prove agent support-bot's workload identity",
            Reason::ActorMismatch,
        )
        .await;
    }
}

#[tokio::test]
async fn an_agent_without_a_workload_identity_has_no_actor() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let req = Req::exchange(sts.basic("triage-bot"), &subject)
        .with("actor_token", &sts.workload(PRINCIPAL))
        .with("actor_token_type", JWT);
    sts.refused(
        &req,
        400,
        ErrorCode::InvalidRequest,
        "actor_token does not prove agent triage-bot's workload identity",
        Reason::ActorMismatch,
    )
    .await;
}

#[tokio::test]
async fn actor_token_and_its_type_go_together() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let base = Req::exchange(sts.basic("support-bot"), &subject);
    let cases = [
        (
            base.clone().with("actor_token", &sts.workload(PRINCIPAL)),
            "actor_token_type is required with actor_token",
        ),
        (
            base.clone().with("actor_token_type", JWT),
            "actor_token_type was sent without actor_token",
        ),
        (
            base.clone()
                .with("actor_token", &sts.workload(PRINCIPAL))
                .with("actor_token_type", "urn:ietf:params:oauth:token-type:saml2"),
            "actor_token_type \"urn:ietf:params:oauth:token-type:saml2\" is not supported; use \
             urn:ietf:params:oauth:token-type:access_token, urn:ietf:params:oauth:token-type:id_token \
             or urn:ietf:params:oauth:token-type:jwt",
        ),
    ];
    for (req, description) in &cases {
        sts.refused(
            req,
            400,
            ErrorCode::InvalidRequest,
            description,
            Reason::BadRequest,
        )
        .await;
    }
}

#[tokio::test]
async fn a_workload_subject_takes_no_actor() {
    let sts = start().await;
    let req = hybrid(
        &sts,
        &sts.workload(PRINCIPAL),
        &sts.workload(PRINCIPAL),
        JWT,
    );
    sts.refused(
        &req,
        400,
        ErrorCode::InvalidRequest,
        "a workload subject_token takes no actor_token",
        Reason::BadRequest,
    )
    .await;
}

#[tokio::test]
async fn an_expired_actor_token_is_refused() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let actor = sts
        .k8s
        .service_token("x")
        .aud(WORKLOAD_AUD)
        .claim("sub", PRINCIPAL.into())
        .remove("cid")
        .bad(crate::fake_idp::Bad::Expired)
        .mint();
    let description = format!(
        "actor_token: the token expired {}s ago",
        sts.now() - exp_of(&actor)
    );
    sts.refused(
        &hybrid(&sts, &subject, &actor, JWT),
        400,
        ErrorCode::InvalidRequest,
        &description,
        Reason::Expired,
    )
    .await;
}
