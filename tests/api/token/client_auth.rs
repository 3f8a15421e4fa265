//! Client authentication: client_secret_basic, client_secret_post and
//! private_key_jwt (RFC 7523), each failure a `401 invalid_client`.

use agent_sts::error::ErrorCode;
use agent_sts::reason::Reason;
use serde_json::json;

use super::support::*;
use crate::fake_idp::SigningKey;

const WWW: &str = "Basic realm=\"agent-sts\"";

fn www(headers: &reqwest::header::HeaderMap) -> Option<&str> {
    headers
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ASCII"))
}

#[tokio::test]
async fn a_bad_secret_is_invalid_client_with_www_authenticate() {
    let sts = start().await;
    let req = Req::client_credentials(Auth::Basic("support-bot".into(), "wrong".into()));
    let h = sts
        .refused(
            &req,
            401,
            ErrorCode::InvalidClient,
            "client authentication failed",
            Reason::BadClientSecret,
        )
        .await;
    assert_eq!(www(&h), Some(WWW));

    // Through the body too: RFC 9110 §15.5.2, a 401 carries a challenge.
    let req = Req::client_credentials(Auth::Post("batch-bot".into(), "wrong".into()));
    let h = sts
        .refused(
            &req,
            401,
            ErrorCode::InvalidClient,
            "client authentication failed",
            Reason::BadClientSecret,
        )
        .await;
    assert_eq!(www(&h), Some(WWW), "every 401 carries a challenge");
}

#[tokio::test]
async fn an_unknown_client_or_the_wrong_method_is_invalid_client() {
    let sts = start().await;
    let req = Req::client_credentials(sts.basic("nobody"));
    let h = sts
        .refused(
            &req,
            401,
            ErrorCode::InvalidClient,
            "client authentication failed",
            Reason::UnknownClient,
        )
        .await;
    assert_eq!(www(&h), Some(WWW));

    let req = Req::client_credentials(sts.post("support-bot"));
    let description = "client authentication failed";
    sts.refused(
        &req,
        401,
        ErrorCode::InvalidClient,
        description,
        Reason::WrongAuthMethod,
    )
    .await;
}

#[tokio::test]
async fn missing_client_authentication_is_401_with_a_challenge() {
    let sts = start().await;
    let req = Req::client_credentials(Auth::None);
    let description = "client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)";
    let h = sts
        .refused(
            &req,
            401,
            ErrorCode::InvalidClient,
            description,
            Reason::ClientAuthMissing,
        )
        .await;
    assert_eq!(
        www(&h),
        Some(WWW),
        "RFC 9110 §15.5.2: a 401 says how to authenticate"
    );
}

#[tokio::test]
async fn two_client_authentication_methods_are_invalid_request() {
    let sts = start().await;
    let basic_and_post = Req::client_credentials(sts.basic("support-bot"))
        .with("client_id", "support-bot")
        .with("client_secret", &sts.secret);
    let h = sts
        .refused_http(
            &basic_and_post,
            400,
            "invalid_request",
            "use exactly one client authentication method",
        )
        .await;
    assert_eq!(www(&h), None);

    let post_and_assertion = Req::client_credentials(sts.post("batch-bot"))
        .with(
            "client_assertion_type",
            agent_sts::client_auth::ASSERTION_TYPE,
        )
        .with("client_assertion", &sts.assertion(|_| {}));
    sts.refused_http(
        &post_and_assertion,
        400,
        "invalid_request",
        "use exactly one client authentication method",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_basic_header_is_invalid_client_with_a_challenge() {
    let sts = start().await;
    let res = sts
        .t
        .client
        .post(sts.t.url("/token"))
        .header("authorization", "Basic %%%not-base64")
        .form(&[("grant_type", "client_credentials"), ("resource", ZENDESK)])
        .send()
        .await
        .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(crate::helpers::header(&res, "www-authenticate"), WWW);
    assert_eq!(crate::helpers::header(&res, "cache-control"), "no-store");
    assert_eq!(
        crate::helpers::json_body(res).await,
        json!({"error": "invalid_client", "error_description": "the Authorization header is not valid Basic credentials"})
    );
}

#[tokio::test]
async fn client_secret_post_succeeds() {
    let sts = start().await;
    let m = sts
        .granted(&Req::client_credentials(sts.post("batch-bot")))
        .await;
    sts.assert_token(
        &m,
        Want {
            sub: BATCH_PRINCIPAL,
            aud: ZENDESK,
            client_id: "batch-bot",
            scope: READ,
            act: None,
            agent: json!({"id": "batch-bot", "pattern": "workload"}),
            idp: None,
            tid: None,
            lifetime: 300,
        },
    );
}

#[tokio::test]
async fn private_key_jwt_succeeds_once_and_a_replay_is_refused() {
    let sts = start().await;
    let assertion = sts.assertion(|_| {});
    let req = Req::client_credentials(Auth::Assertion(assertion));
    let m = sts.granted(&req).await;
    sts.assert_token(
        &m,
        Want {
            sub: "signed-bot",
            aud: ZENDESK,
            client_id: "signed-bot",
            scope: READ,
            act: None,
            agent: json!({"id": "signed-bot", "pattern": "workload"}),
            idp: None,
            tid: None,
            lifetime: 600,
        },
    );
    let description = "client_assertion: this jti was already used";
    let h = sts
        .refused_http(&req, 401, "invalid_client", description)
        .await;
    assert_eq!(www(&h), Some(WWW));
    // The replay cache is Redis when the suite runs with Redis.
    let redis = std::env::var(crate::helpers::TEST_REDIS_ENV).is_ok();
    let in_redis = matches!(
        *sts.t.app.replay,
        agent_sts::store::ReplayCache::Redis { .. }
    );
    assert_eq!(in_redis, redis);
    // The domain call sees the same replay, with its reason.
    let denial = sts.domain(&req).await.expect_err("a replay is refused");
    assert_eq!(
        (denial.error, denial.reason),
        (ErrorCode::InvalidClient, Reason::AssertionReplayed)
    );
    assert_eq!(denial.description, description);
}

#[tokio::test]
async fn private_key_jwt_addressed_to_the_issuer_and_with_client_id_succeeds() {
    let sts = start().await;
    let base = sts.t.base.clone();
    let assertion = sts.assertion(|c| c["aud"] = json!([base]));
    let req = Req::client_credentials(Auth::Assertion(assertion)).with("client_id", "signed-bot");
    assert_eq!(sts.granted(&req).await.claims["client_id"], "signed-bot");
}

/// Authlib's `PrivateKeyJWT` signs for an hour (`exp = iat + 3600`) and
/// cannot be told otherwise: accepted, since `iat` bounds its freshness.
/// Its replay is still refused.
#[tokio::test]
async fn an_hour_long_assertion_with_iat_is_accepted_once() {
    let sts = start().await;
    let now = sts.now();
    let assertion = sts.assertion(|c| c["exp"] = json!(now + 3_600));
    let req = Req::client_credentials(Auth::Assertion(assertion));
    assert_eq!(sts.granted(&req).await.claims["client_id"], "signed-bot");
    sts.refused_http(
        &req,
        401,
        "invalid_client",
        "client_assertion: this jti was already used",
    )
    .await;
}

#[tokio::test]
async fn bad_private_key_jwt_assertions_are_invalid_client() {
    let sts = start().await;
    let now = sts.now();
    let base = sts.t.base.clone();
    let cases: Vec<(String, String)> = vec![
        (
            sts.assertion(|c| c["aud"] = json!("https://sts.example.com/token")),
            format!("client_assertion: aud must be {base} or {base}/token"),
        ),
        (
            sts.assertion(|c| c["exp"] = json!(now + 3_600 + 61)),
            "client_assertion: exp is more than 1 hour ahead".into(),
        ),
        (
            sts.assertion(|c| {
                c["exp"] = json!(now + 600);
                c.as_object_mut().expect("claims").remove("iat");
            }),
            "client_assertion: exp is more than 5 minutes ahead (or send iat)".into(),
        ),
        (
            sts.assertion(|c| {
                c["iat"] = json!(now - 361);
                c["exp"] = json!(now + 600);
            }),
            "client_assertion: iat is more than 5 minutes ago: sign a fresh assertion".into(),
        ),
        (
            sts.assertion(|c| c["exp"] = json!(now - 61)),
            "client_assertion: expired".into(),
        ),
        (
            sts.assertion(|c| c["sub"] = json!("support-bot")),
            "client_assertion: iss and sub must both be the client id".into(),
        ),
        (
            sts.assertion(|c| {
                c.as_object_mut().expect("claims").remove("jti");
            }),
            "client_assertion: no jti".into(),
        ),
        // Times an attacker chooses: a day in the future, past i64, not
        // whole seconds. Refused, never wrapped or panicking.
        (
            sts.assertion(|c| c["iat"] = json!(now + 86_400)),
            "client_assertion: iat is in the future".into(),
        ),
        (
            sts.assertion(|c| c["exp"] = json!(i64::MAX)),
            "client_assertion: exp is more than 1 hour ahead".into(),
        ),
        (
            sts.assertion(|c| c["exp"] = json!(i64::MIN)),
            "client_assertion: expired".into(),
        ),
        (
            sts.assertion(|c| c["exp"] = json!(1e300)),
            "client_assertion: exp is not a whole-second NumericDate".into(),
        ),
        (
            sts.assertion(|c| c["nbf"] = json!("tomorrow")),
            "client_assertion: nbf is not a whole-second NumericDate".into(),
        ),
    ];
    for (assertion, description) in &cases {
        // Each fails before its jti is recorded, so both paths see it.
        let req = Req::client_credentials(Auth::Assertion(assertion.clone()));
        sts.refused(
            &req,
            401,
            ErrorCode::InvalidClient,
            description,
            Reason::BadClientAssertion,
        )
        .await;
    }
}

#[tokio::test]
async fn an_assertion_signed_by_another_key_or_for_a_secret_client_is_invalid_client() {
    let sts = start().await;
    let forged = sts.assertion_signed_by(&SigningKey::ec(SIGNED_KID), |_| {});
    let req = Req::client_credentials(Auth::Assertion(forged));
    let description = "client_assertion: the signature does not verify";
    sts.refused(
        &req,
        401,
        ErrorCode::InvalidClient,
        description,
        Reason::BadClientAssertion,
    )
    .await;

    let as_support_bot = sts.assertion(|c| {
        c["iss"] = json!("support-bot");
        c["sub"] = json!("support-bot");
    });
    let req = Req::client_credentials(Auth::Assertion(as_support_bot));
    let description = "client authentication failed";
    sts.refused(
        &req,
        401,
        ErrorCode::InvalidClient,
        description,
        Reason::WrongAuthMethod,
    )
    .await;
}

#[tokio::test]
async fn a_client_id_that_contradicts_the_credentials_is_refused() {
    let sts = start().await;
    let basic = Req::client_credentials(sts.basic("support-bot")).with("client_id", "triage-bot");
    let description = "client_id in the body differs from the Authorization header";
    sts.refused_http(&basic, 400, "invalid_request", description)
        .await;

    let assertion = sts.assertion(|_| {});
    let req = Req::client_credentials(Auth::Assertion(assertion)).with("client_id", "support-bot");
    let description = "client_assertion: client_id does not match the assertion's iss";
    sts.refused(
        &req,
        401,
        ErrorCode::InvalidClient,
        description,
        Reason::BadClientAssertion,
    )
    .await;
}
