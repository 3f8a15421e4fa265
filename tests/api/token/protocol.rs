//! Protocol-level refusals: body format, parameters, grant type, target.
//! Refusals of the form layer (content type, repeats, size) happen before
//! `grants::token`, so only their HTTP answer is asserted.

use agent_sts::error::ErrorCode;
use agent_sts::reason::Reason;
use serde_json::json;

use super::support::*;
use crate::helpers::{header, json_body};

fn cc(sts: &Sts) -> Req {
    Req::client_credentials(sts.basic("support-bot"))
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request() {
    let sts = start().await;
    for name in ["scope", "grant_type", "subject_token"] {
        let subject = sts.user(ALICE, ALICE_GROUPS);
        let req = Req::exchange(sts.basic("support-bot"), &subject).with("scope", READ);
        let req = match name {
            "scope" => req.with("scope", READ),
            "grant_type" => req.with("grant_type", EXCHANGE),
            _ => req.with("subject_token", &subject),
        };
        let description = format!("parameter {name} is repeated");
        sts.refused_http(&req, 400, "invalid_request", &description)
            .await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_form_encoded_is_invalid_request() {
    let sts = start().await;
    let send = |content_type: Option<&str>| {
        let mut http = sts
            .t
            .client
            .post(sts.t.url("/token"))
            .basic_auth("support-bot", Some(&sts.secret))
            .body(json!({"grant_type": "client_credentials", "resource": ZENDESK}).to_string());
        if let Some(ct) = content_type {
            http = http.header("content-type", ct);
        }
        http.send()
    };
    for (ct, shown) in [
        (Some("application/json"), "\"application/json\""),
        (None, "\"nothing\""),
    ] {
        let res = send(ct).await.expect("request must reach the test server");
        assert_eq!(res.status().as_u16(), 400);
        assert_eq!(header(&res, "cache-control"), "no-store");
        assert_eq!(
            json_body(res).await,
            json!({
                "error": "invalid_request",
                "error_description": format!("the body must be application/x-www-form-urlencoded, not {shown}"),
            })
        );
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused() {
    let sts = start().await;
    let req = cc(&sts).with("padding", &"a".repeat(64 * 1024));
    sts.refused_http(
        &req,
        400,
        "invalid_request",
        "the body is larger than 65536 bytes",
    )
    .await;
    // Just under the cap, the same request is read and answered.
    let padding = "a".repeat(60 * 1024);
    let m = sts.granted(&cc(&sts).with("padding", &padding)).await;
    assert_eq!(m.claims["aud"], ZENDESK);
}

#[tokio::test]
async fn more_than_32_parameters_are_refused() {
    let sts = start().await;
    let req = (0..32).fold(cc(&sts), |r, i| r.with(&format!("p{i}"), "1"));
    sts.refused_http(&req, 400, "invalid_request", "more than 32 parameters")
        .await;
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported_grant_type() {
    let sts = start().await;
    for grant in ["password", "urn:ietf:params:oauth:grant-type:saml2-bearer"] {
        sts.refused(
            &cc(&sts).set("grant_type", grant),
            400,
            ErrorCode::UnsupportedGrantType,
            &format!(
                "grant_type \"{grant}\" is not supported; use \
                 urn:ietf:params:oauth:grant-type:token-exchange, client_credentials, authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:jwt-bearer"
            ),
            Reason::UnsupportedGrantType,
        )
        .await;
    }
}

#[tokio::test]
async fn a_missing_grant_type_is_invalid_request() {
    let sts = start().await;
    sts.refused(
        &cc(&sts).without("grant_type"),
        400,
        ErrorCode::InvalidRequest,
        "grant_type is required",
        Reason::BadRequest,
    )
    .await;
}

#[tokio::test]
async fn two_different_targets_are_invalid_target() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let cases = [
        Req::exchange(sts.basic("support-bot"), &subject).with("resource", SLACK),
        Req::exchange(sts.basic("support-bot"), &subject).with("audience", SLACK),
        cc(&sts).with("resource", SLACK),
    ];
    for req in &cases {
        sts.refused(
            req,
            400,
            ErrorCode::InvalidTarget,
            "request exactly one resource: a token is bound to a single audience",
            Reason::TargetNotAllowed,
        )
        .await;
    }
}

#[tokio::test]
async fn a_missing_resource_is_invalid_request() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    let cases = [
        Req::exchange(sts.basic("support-bot"), &subject).without("resource"),
        cc(&sts).without("resource"),
    ];
    for req in &cases {
        sts.refused(
            req,
            400,
            ErrorCode::InvalidRequest,
            "resource (or audience) is required: name the one resource the token is for",
            Reason::BadRequest,
        )
        .await;
    }
}

#[tokio::test]
async fn an_empty_scope_is_invalid_scope() {
    let sts = start().await;
    sts.refused(
        &cc(&sts).with("scope", " "),
        400,
        ErrorCode::InvalidScope,
        "scope is empty",
        Reason::BadRequest,
    )
    .await;
}
