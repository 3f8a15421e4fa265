//! `/token` denials: one record each with the exact reason code, the
//! `error_description` as detail, and what was known when the request was
//! refused (nothing was minted: no `jti`, no expiry, no scopes granted).

use serde_json::{Value, json};

use super::support::*;
use super::token::{Sent, expect_one, granted, send, sent};
use super::{Trail, assert_chain, assert_documented, blank, fields, with};
use crate::fake_idp::{Bad, FakeOkta};
use crate::helpers::random_hex;

/// The deny record of `s` (answered `status` and `error`) for `reason`.
fn deny(s: &Sent, status: u16, error: &str, reason: &str, changes: Value) -> Value {
    assert_eq!(s.status, status, "{}", s.body);
    assert_eq!(s.body["error"], error, "{}", s.body);
    assert!(s.body.get("access_token").is_none());
    let detail = s.body["error_description"]
        .as_str()
        .expect("error_description");
    let base = with(
        blank("token", &s.request_id),
        json!({"decision": "deny", "reason": reason, "detail": detail}),
    );
    with(base, changes)
}

/// What is known once support-bot has authenticated.
fn support_bot(subject: Option<&str>, idp: Option<&str>, audience: &str) -> Value {
    json!({
        "subject": subject, "idp": idp, "agent": "support-bot", "agent_principal": PRINCIPAL,
        "client_id": "support-bot", "pattern": subject.map(|_| "obo"), "audience": audience,
        "scopes_required": [READ],
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    for (k, v) in b.as_object().expect("object") {
        a[k] = v.clone();
    }
    a
}

#[tokio::test]
async fn policy_denials_are_recorded_with_what_was_known() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let okta = sts.okta.issuer();
    let bob = FakeOkta::uid_for(BOB);
    let alice = FakeOkta::uid_for(ALICE);

    // Missing group: bob holds no group for the required scope.
    let req = Req::exchange(sts.basic("support-bot"), &sts.user(BOB, &["Everyone"]));
    let s = send(&sts, &req).await;
    let known = support_bot(Some(&bob), Some(&okta), ZENDESK);
    let expected = deny(&s, 400, "invalid_scope", "missing_group", known);
    assert_eq!(
        expected["detail"],
        "the user is in no group that may hold required scope zendesk:tickets:read"
    );
    expect_one(&mut trail, &sts, expected).await;

    // Undeclared scope: the requested scopes are recorded.
    let alice_obo = || Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS));
    let req = alice_obo().with("scope", &format!("{READ} {JIRA_READ}"));
    let s = send(&sts, &req).await;
    let known = merge(
        support_bot(Some(&alice), Some(&okta), ZENDESK),
        json!({"scopes_requested": [READ, JIRA_READ]}),
    );
    let expected = deny(&s, 400, "invalid_scope", "scope_not_declared", known);
    assert_eq!(
        expected["detail"],
        "agent support-bot does not declare scope jira:issues:read"
    );
    expect_one(&mut trail, &sts, expected).await;

    // A resource the agent may not call: the audience asked for.
    let s = send(&sts, &alice_obo().set("resource", JIRA)).await;
    let known = support_bot(Some(&alice), Some(&okta), JIRA);
    let expected = deny(&s, 400, "invalid_target", "target_not_allowed", known);
    assert_eq!(
        expected["detail"],
        format!("agent support-bot may not obtain tokens for {JIRA}")
    );
    expect_one(&mut trail, &sts, expected).await;

    // A pattern the agent may not use (batch-bot is workload only).
    let req = Req::exchange(sts.post("batch-bot"), &sts.user(ALICE, ALICE_GROUPS));
    let s = send(&sts, &req).await;
    let known = json!({
        "subject": alice, "idp": okta, "agent": "batch-bot", "agent_principal": BATCH_PRINCIPAL,
        "client_id": "batch-bot", "pattern": "obo", "audience": ZENDESK, "scopes_required": [READ],
    });
    let expected = deny(&s, 400, "unauthorized_client", "pattern_not_allowed", known);
    assert_eq!(
        expected["detail"],
        "agent batch-bot may not use the obo pattern"
    );
    expect_one(&mut trail, &sts, expected).await;

    // An expired subject token: refused while verifying it, so no subject.
    let expired = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .bad(Bad::Expired)
        .mint();
    let s = send(&sts, &Req::exchange(sts.basic("support-bot"), &expired)).await;
    let known = support_bot(None, None, ZENDESK);
    let expected = deny(&s, 400, "invalid_request", "expired", known);
    let ago = sts.now() - exp_of(&expired);
    assert_eq!(
        expected["detail"],
        format!("subject_token: the token expired {ago}s ago")
    );
    expect_one(&mut trail, &sts, expected).await;

    assert_eq!(trail.seen.len(), 5);
    assert_chain(&trail.seen, true);
    assert_documented(&trail.seen);
}

#[tokio::test]
async fn client_authentication_denials_are_recorded() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let auth_failed = "client authentication failed";
    let target = json!({"audience": ZENDESK});

    let wrong = random_hex(16);
    let req = Req::client_credentials(Auth::Basic("support-bot".into(), wrong));
    let s = send(&sts, &req).await;
    let expected = deny(
        &s,
        401,
        "invalid_client",
        "bad_client_secret",
        target.clone(),
    );
    assert_eq!(expected["detail"], auth_failed);
    // The client id it claimed, unverified (client_id stays empty).
    let claimed = |mut v: Value, id: &str| {
        v["claimed_client_id"] = json!(id);
        v
    };
    expect_one(&mut trail, &sts, claimed(expected, "support-bot")).await;

    let s = send(&sts, &Req::client_credentials(sts.basic("nobody"))).await;
    let expected = deny(&s, 401, "invalid_client", "unknown_client", target.clone());
    assert_eq!(expected["detail"], auth_failed);
    expect_one(&mut trail, &sts, claimed(expected, "nobody")).await;

    // private_key_jwt: the first use is granted, a replay refused.
    let req = Req::client_credentials(Auth::Assertion(sts.assertion(|_| {})));
    granted(&sts, &req).await;
    assert_eq!(trail.one().await.json["decision"], "allow");
    let s = send(&sts, &req).await;
    let expected = deny(&s, 401, "invalid_client", "assertion_replayed", target);
    assert_eq!(
        expected["detail"],
        "client_assertion: this jti was already used"
    );
    expect_one(&mut trail, &sts, claimed(expected, "signed-bot")).await;

    assert_eq!(trail.seen.len(), 4);
    assert_chain(&trail.seen, true);
    assert_documented(&trail.seen);
}

#[tokio::test]
async fn form_refusals_are_recorded_before_anything_else_is_known() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;

    // A repeated parameter.
    let req = Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS))
        .with("scope", READ)
        .with("scope", READ);
    let s = send(&sts, &req).await;
    let expected = deny(&s, 400, "invalid_request", "bad_request", json!({}));
    assert_eq!(expected["detail"], "parameter scope is repeated");
    expect_one(&mut trail, &sts, expected).await;

    // A body that is not form-encoded.
    let res = sts
        .t
        .client
        .post(sts.t.url("/token"))
        .basic_auth("support-bot", Some(&sts.secret))
        .header("content-type", "application/json")
        .body(json!({"grant_type": "client_credentials", "resource": ZENDESK}).to_string())
        .send()
        .await
        .expect("request must reach the test server");
    let s = sent(res).await;
    assert_eq!(
        (s.status, &s.body["error_description"]),
        (
            400,
            &json!("the body must be application/x-www-form-urlencoded, not \"application/json\"")
        )
    );
    // The same reason again from the same address before any client
    // authenticated: counted, and summarised after the minute, not written
    // one by one (an anonymous flood must not become a flood of rows).
    assert_eq!(trail.skip().await, 0, "counted, not written");
    sts.t.app.audit.flush_repeats(sts.now() + 60);
    let summary = trail.wait(1).await.remove(0);
    let detail = "1 further refusals like it before client authentication from this \
                  address, in the minute after the first";
    assert_eq!(
        fields(&summary.json),
        with(
            blank("token", ""),
            json!({"decision": "deny", "reason": "bad_request", "detail": detail, "count": 1})
        )
    );

    // An unsupported grant type, once the client is known.
    let s = send(
        &sts,
        &Req::client_credentials(sts.basic("support-bot")).set("grant_type", "password"),
    )
    .await;
    let known = support_bot(None, None, ZENDESK);
    let expected = deny(
        &s,
        400,
        "unsupported_grant_type",
        "unsupported_grant_type",
        known,
    );
    expect_one(&mut trail, &sts, expected).await;

    assert_eq!(trail.seen.len(), 3);
    assert_chain(&trail.seen, true);
    assert_documented(&trail.seen);
}
