//! Policy refusals (scope, target, user population) and subject-token
//! refusals, each with its status, exact body and reason.

use agent_sts::error::ErrorCode;
use agent_sts::reason::Reason;

use super::support::*;
use crate::fake_idp::{Bad, FakeEntra};
use crate::upstream::TENANT;

fn alice_obo(sts: &Sts) -> Req {
    Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS))
}

#[tokio::test]
async fn an_undeclared_scope_is_invalid_scope() {
    let sts = start().await;
    sts.refused(
        &alice_obo(&sts).with("scope", &format!("{READ} {JIRA_READ}")),
        400,
        ErrorCode::InvalidScope,
        "agent support-bot does not declare scope jira:issues:read",
        Reason::ScopeNotDeclared,
    )
    .await;
}

#[tokio::test]
async fn a_scope_of_another_resource_is_invalid_scope() {
    let sts = start().await;
    sts.refused(
        &alice_obo(&sts).with("scope", SLACK_READ),
        400,
        ErrorCode::InvalidScope,
        "scope slack:channels:read does not belong to https://mcp-zendesk.example.com",
        Reason::ScopeNotForResource,
    )
    .await;
}

#[tokio::test]
async fn a_user_without_the_group_for_a_required_scope_is_refused() {
    let sts = start().await;
    let req = Req::exchange(sts.basic("support-bot"), &sts.user(BOB, &["Everyone"]));
    sts.refused(
        &req,
        400,
        ErrorCode::InvalidScope,
        "the user is in no group that may hold required scope zendesk:tickets:read",
        Reason::MissingGroup,
    )
    .await;
}

#[tokio::test]
async fn an_optional_scope_the_user_cannot_hold_is_dropped() {
    let sts = start().await;
    let m = sts
        .granted(&alice_obo(&sts).with("scope", &format!("{READ} {WRITE}")))
        .await;
    assert_eq!(m.body["scope"], READ);
    assert_eq!(m.claims["scope"], READ);
    // With no scope parameter: required plus the optional ones she holds.
    assert_eq!(sts.granted(&alice_obo(&sts)).await.body["scope"], READ);
    // Only an optional scope she cannot hold: nothing is left.
    sts.refused(
        &alice_obo(&sts).with("scope", WRITE),
        400,
        ErrorCode::InvalidScope,
        "no scope of agent support-bot for https://mcp-zendesk.example.com can be granted to this subject",
        Reason::NoScopeGranted,
    )
    .await;
}

#[tokio::test]
async fn a_resource_the_agent_may_not_call_is_invalid_target() {
    let sts = start().await;
    for target in [JIRA, "https://unknown.example.com"] {
        sts.refused(
            &alice_obo(&sts).set("resource", target),
            400,
            ErrorCode::InvalidTarget,
            &format!("agent support-bot may not obtain tokens for {target}"),
            Reason::TargetNotAllowed,
        )
        .await;
    }
}

#[tokio::test]
async fn entra_groups_overage_refuses_a_scope_that_needs_a_group() {
    let sts = start().await;
    let subject = sts.entra.overage_token(TENANT, "erin@contoso.com").mint();
    sts.refused(
        &Req::exchange(sts.basic("support-bot"), &subject),
        400,
        ErrorCode::InvalidScope,
        "scope zendesk:tickets:read needs a group, and the user's groups are not in the token (groups overage)",
        Reason::GroupsOverage,
    )
    .await;
}

#[tokio::test]
async fn a_user_outside_the_agents_population_is_invalid_grant() {
    let sts = start().await;
    sts.refused(
        &Req::exchange(sts.basic("pilot-bot"), &sts.user(ALICE, ALICE_GROUPS)),
        400,
        ErrorCode::InvalidGrant,
        "the user is in none of agent pilot-bot's user_groups",
        Reason::UserNotAllowed,
    )
    .await;
    let entra_user = sts
        .entra
        .access_token_v2(TENANT, "frank@contoso.com")
        .groups(&[&FakeEntra::group_id("support-agents")])
        .mint();
    sts.refused(
        &Req::exchange(sts.basic("pilot-bot"), &entra_user),
        400,
        ErrorCode::InvalidGrant,
        "users of entra may not use agent pilot-bot",
        Reason::UserNotAllowed,
    )
    .await;
    // A pilot user passes.
    let pilot = sts.user("pat@example.com", &["Pilot", "Support-Agents"]);
    let m = sts
        .granted(&Req::exchange(sts.basic("pilot-bot"), &pilot))
        .await;
    assert_eq!(m.claims["scope"], READ);
}

#[tokio::test]
async fn an_expired_subject_token_is_refused() {
    let sts = start().await;
    let subject = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .bad(Bad::Expired)
        .mint();
    let description = format!(
        "subject_token: the token expired {}s ago",
        sts.now() - exp_of(&subject)
    );
    sts.refused(
        &Req::exchange(sts.basic("support-bot"), &subject),
        400,
        ErrorCode::InvalidRequest,
        &description,
        Reason::Expired,
    )
    .await;
}

#[tokio::test]
async fn a_subject_token_expired_within_the_skew_mints_no_token() {
    let sts = start().await;
    let now = sts.now();
    // exp 30 s ago: inside the upstream's 60 s clock_skew, so it verifies.
    let subject = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .issued_at(now - 3_600)
        .ttl(3_570)
        .mint();
    sts.refused(
        &Req::exchange(sts.basic("support-bot"), &subject),
        400,
        ErrorCode::InvalidRequest,
        "subject_token: the token expired 30s ago",
        Reason::Expired,
    )
    .await;
}

#[tokio::test]
async fn the_subject_tokens_exp_caps_the_lifetime() {
    let sts = start().await;
    let subject = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .issued_at(sts.now())
        .ttl(120)
        .mint();
    let m = sts
        .granted(&Req::exchange(sts.basic("support-bot"), &subject))
        .await;
    assert_eq!(m.body["expires_in"], 120);
    assert_eq!(m.claims["exp"].as_i64(), Some(exp_of(&subject)));
    assert_eq!(m.claims["iat"].as_i64(), Some(sts.now()));
}

#[tokio::test]
async fn a_subject_token_from_an_unknown_issuer_is_refused() {
    let sts = start().await;
    let subject = sts.okta.access_token(ALICE).bad(Bad::WrongIssuer).mint();
    sts.refused(
        &Req::exchange(sts.basic("support-bot"), &subject),
        400,
        ErrorCode::InvalidRequest,
        "subject_token: issuer \"https://evil.example.com/oauth2/default\" is not a configured upstream",
        Reason::UnknownIssuer,
    )
    .await;
}

#[tokio::test]
async fn an_unsupported_requested_token_type_is_invalid_request() {
    let sts = start().await;
    let rt = "urn:ietf:params:oauth:token-type:refresh_token";
    sts.refused(
        &alice_obo(&sts).with("requested_token_type", rt),
        400,
        ErrorCode::InvalidRequest,
        "requested_token_type \"urn:ietf:params:oauth:token-type:refresh_token\" is not issued; \
         use urn:ietf:params:oauth:token-type:access_token or urn:ietf:params:oauth:token-type:id-jag",
        Reason::BadRequest,
    )
    .await;
}

#[tokio::test]
async fn an_unsupported_subject_token_type_is_invalid_request() {
    let sts = start().await;
    sts.refused(
        &alice_obo(&sts).set(
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:saml2",
        ),
        400,
        ErrorCode::InvalidRequest,
        "subject_token_type \"urn:ietf:params:oauth:token-type:saml2\" is not supported; use \
         urn:ietf:params:oauth:token-type:access_token, urn:ietf:params:oauth:token-type:id_token \
         or urn:ietf:params:oauth:token-type:jwt",
        Reason::BadRequest,
    )
    .await;
}

#[tokio::test]
async fn missing_subject_token_parameters_are_invalid_request() {
    let sts = start().await;
    for name in ["subject_token", "subject_token_type"] {
        sts.refused(
            &alice_obo(&sts).without(name),
            400,
            ErrorCode::InvalidRequest,
            &format!("{name} is required"),
            Reason::BadRequest,
        )
        .await;
    }
}
