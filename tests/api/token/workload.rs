//! Workload identity: `client_credentials`, or a token exchange whose
//! subject is the agent's own workload token.

use agent_sts::error::ErrorCode;
use agent_sts::reason::Reason;
use serde_json::json;

use super::support::*;

#[tokio::test]
async fn client_credentials_with_triggered_by() {
    let sts = start().await;
    let req = Req::client_credentials(sts.basic("support-bot")).with("triggered_by", ALICE);
    let m = sts.granted(&req).await;
    sts.assert_token(
        &m,
        Want {
            sub: PRINCIPAL,
            aud: ZENDESK,
            client_id: "support-bot",
            scope: &format!("{READ} {WRITE}"),
            act: None,
            agent: json!({
                "id": "support-bot", "pattern": "workload",
                "triggered_by": {"sub": ALICE, "verified": false},
            }),
            idp: None,
            tid: None,
            lifetime: 600,
        },
    );
}

#[tokio::test]
async fn client_credentials_honours_scope_and_audience() {
    let sts = start().await;
    let req = Req::client_credentials(sts.basic("support-bot"))
        .without("resource")
        .with("audience", ZENDESK)
        .with("scope", WRITE);
    let m = sts.granted(&req).await;
    assert_eq!(
        (m.claims["aud"].as_str(), m.claims["scope"].as_str()),
        (Some(ZENDESK), Some(WRITE))
    );
    assert_eq!(
        m.claims["urn:agent"],
        json!({"id": "support-bot", "pattern": "workload"})
    );
}

#[tokio::test]
async fn workload_with_the_agents_workload_token_as_subject() {
    let sts = start().await;
    let subject = sts.workload(PRINCIPAL);
    let req = Req::exchange(sts.basic("support-bot"), &subject)
        .set("subject_token_type", JWT)
        .with("scope", READ);
    let m = sts.granted(&req).await;
    sts.assert_token(
        &m,
        Want {
            sub: PRINCIPAL,
            aud: ZENDESK,
            client_id: "support-bot",
            scope: READ,
            act: None,
            agent: json!({"id": "support-bot", "pattern": "workload"}),
            idp: Some(&sts.k8s.issuer()),
            tid: None,
            lifetime: 600,
        },
    );
    assert!(m.claims["exp"].as_i64().unwrap() <= exp_of(&subject));
}

#[tokio::test]
async fn workload_with_our_own_workload_token_as_subject() {
    let sts = start().await;
    let first = sts
        .granted(&Req::client_credentials(sts.basic("support-bot")))
        .await;
    let req = Req::exchange(sts.basic("support-bot"), &first.token).with("scope", READ);
    let m = sts.granted(&req).await;
    assert_eq!(m.claims["sub"], PRINCIPAL);
    assert_eq!(m.claims["scope"], READ);
    assert_eq!(
        m.claims["urn:agent"],
        json!({"id": "support-bot", "pattern": "workload", "derived_from": [{
            "jti": first.claims["jti"], "agent": "support-bot", "client_id": "support-bot",
            "iat": first.claims["iat"],
        }]})
    );
    assert!(m.claims.get("act").is_none());
    assert_eq!(m.claims["exp"], first.claims["exp"]);
}

#[tokio::test]
async fn another_agents_workload_token_is_refused_as_subject() {
    let sts = start().await;
    let req = Req::exchange(sts.basic("support-bot"), &sts.workload(BATCH_PRINCIPAL))
        .set("subject_token_type", JWT);
    sts.refused(
        &req,
        400,
        ErrorCode::InvalidRequest,
        "subject_token is not agent support-bot's workload identity",
        Reason::WorkloadMismatch,
    )
    .await;

    let batch = sts
        .granted(&Req::client_credentials(sts.post("batch-bot")))
        .await;
    let req = Req::exchange(sts.basic("support-bot"), &batch.token);
    sts.refused(
        &req,
        400,
        ErrorCode::InvalidRequest,
        "subject_token is another agent's workload token, not agent support-bot's",
        Reason::WorkloadMismatch,
    )
    .await;
}

#[tokio::test]
async fn a_pattern_the_agent_may_not_use_is_unauthorized_client() {
    let sts = start().await;
    let cases = [
        (
            Req::client_credentials(sts.basic("triage-bot")),
            "agent triage-bot may not use the workload pattern",
        ),
        (
            Req::exchange(sts.post("batch-bot"), &sts.user(ALICE, ALICE_GROUPS)),
            "agent batch-bot may not use the obo pattern",
        ),
        (
            Req::exchange(sts.basic("triage-bot"), &sts.workload(PRINCIPAL)),
            "agent triage-bot may not use the workload pattern",
        ),
    ];
    for (req, description) in &cases {
        sts.refused(
            req,
            400,
            ErrorCode::UnauthorizedClient,
            description,
            Reason::PatternNotAllowed,
        )
        .await;
    }
}

#[tokio::test]
async fn an_overlong_triggered_by_is_refused() {
    let sts = start().await;
    let req =
        Req::client_credentials(sts.basic("support-bot")).with("triggered_by", &"a".repeat(257));
    sts.refused(
        &req,
        400,
        ErrorCode::InvalidRequest,
        "triggered_by is longer than 256 characters",
        Reason::BadRequest,
    )
    .await;
}
