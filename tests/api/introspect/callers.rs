//! Who may call `/introspect`: a registered introspector, authenticated.
//! Anyone else is `401 invalid_client` and learns nothing about the token.

use super::*;

/// Introspectors cannot use `client_secret_post`: the description names
/// only what this endpoint accepts.
const AUTH_REQUIRED: &str =
    "client authentication is required (client_secret_basic or private_key_jwt)";
const AUTH_FAILED: &str = "client authentication failed";
const BASIC_CHALLENGE: &str = "Basic realm=\"agent-sts\"";

#[tokio::test]
async fn callers_must_be_authenticated_introspectors() {
    let fx = start().await;
    let token = fx.cc("support-bot", ZENDESK).await;
    let form = [("token", token.as_str())];
    let send = |req: reqwest::RequestBuilder| async move {
        Answer::of(
            req.send()
                .await
                .expect("request must reach the test server"),
        )
        .await
    };
    let post = || fx.t.client.post(fx.t.url("/introspect"));

    // No credentials at all: a 401 still says how to authenticate.
    let a = send(post().form(&form)).await;
    a.assert_error(401, "invalid_client", AUTH_REQUIRED);
    assert_eq!(a.header("www-authenticate"), BASIC_CHALLENGE);

    // Wrong secret, unknown client: Basic was tried, so a Basic challenge.
    for (id, secret) in [("gw-zendesk", "wrong"), ("gw-unknown", fx.secret.as_str())] {
        let a = send(post().basic_auth(id, Some(secret)).form(&form)).await;
        a.assert_error(401, "invalid_client", AUTH_FAILED);
        assert_eq!(a.header("www-authenticate"), BASIC_CHALLENGE, "{id}");
    }

    // An agent authenticates fine but is not an introspector.
    for agent in ["support-bot", "triage-host"] {
        let a = fx.introspect_raw(&fx.t, Some(agent), &form, None).await;
        a.assert_error(
            401,
            "invalid_client",
            &format!("client {agent} is not registered to introspect"),
        );
        assert_eq!(a.header("www-authenticate"), BASIC_CHALLENGE);
    }

    // An introspector registered for client_secret_basic, trying the body.
    let body = [
        ("token", token.as_str()),
        ("client_id", "gw-zendesk"),
        ("client_secret", fx.secret.as_str()),
    ];
    let a = send(post().form(&body)).await;
    a.assert_error(401, "invalid_client", AUTH_FAILED);
    assert_eq!(a.header("www-authenticate"), BASIC_CHALLENGE);

    // The same token, asked properly, is active: the refusals were about
    // the callers, not the token.
    fx.assert_active("gw-zendesk", &token).await;
}

#[tokio::test]
async fn requests_without_a_token_or_not_form_encoded_are_invalid() {
    let fx = start().await;
    let token = fx.cc("support-bot", ZENDESK).await;
    for form in [
        vec![],
        vec![("token", "")],
        vec![("token_type_hint", "access_token")],
    ] {
        fx.introspect_raw(&fx.t, Some("gw-zendesk"), &form, None)
            .await
            .assert_error(400, "invalid_request", "token is required");
    }
    let repeated = [("token", token.as_str()), ("token", token.as_str())];
    fx.introspect_raw(&fx.t, Some("gw-zendesk"), &repeated, None)
        .await
        .assert_error(400, "invalid_request", "parameter token is repeated");
    let res =
        fx.t.client
            .post(fx.t.url("/introspect"))
            .basic_auth("gw-zendesk", Some(&fx.secret))
            .json(&json!({ "token": token }))
            .send()
            .await
            .expect("request must reach the test server");
    Answer::of(res).await.assert_error(
        400,
        "invalid_request",
        "the body must be application/x-www-form-urlencoded, not \"application/json\"",
    );
    // A hint is only a hint: any value, the answer is the same.
    for hint in ["access_token", "refresh_token", "made_up"] {
        let form = [("token", token.as_str()), ("token_type_hint", hint)];
        let a = fx
            .introspect_raw(&fx.t, Some("gw-zendesk"), &form, None)
            .await;
        assert_eq!(a.json(), active_answer(&token), "{hint}");
    }
}
