//! `/token` allows: one record each, every field asserted, the minted
//! token's `jti` and `exp` in it, and the records one contiguous chain.

use serde_json::{Value, json};

use super::support::*;
use super::{Stored, Trail, assert_chain, assert_documented, blank, with};
use crate::fake_idp::{FakeEntra, FakeOkta, claims_of};
use crate::helpers::{header, json_body};
use crate::upstream::TENANT;

/// What `/token` answered.
pub struct Sent {
    pub status: u16,
    pub request_id: String,
    pub body: Value,
}

pub async fn send(sts: &Sts, req: &Req) -> Sent {
    sent(sts.send(req).await).await
}

pub async fn sent(res: reqwest::Response) -> Sent {
    let status = res.status().as_u16();
    let request_id = header(&res, "x-request-id");
    assert!(!request_id.is_empty(), "X-Request-Id");
    Sent {
        status,
        request_id,
        body: json_body(res).await,
    }
}

/// Granted: the minted token's claims.
pub async fn granted(sts: &Sts, req: &Req) -> (Sent, Value) {
    let s = send(sts, req).await;
    assert_eq!(s.status, 200, "{}", s.body);
    let claims = claims_of(s.body["access_token"].as_str().expect("access_token"));
    (s, claims)
}

/// The allow record of `s` with `claims` minted, plus `changes`.
pub fn allow(s: &Sent, claims: &Value, changes: Value) -> Value {
    let granted: Vec<&str> = claims["scope"]
        .as_str()
        .expect("scope")
        .split(' ')
        .collect();
    let base = with(
        blank("token", &s.request_id),
        json!({
            "decision": "allow", "reason": "granted", "audience": claims["aud"],
            "client_id": claims["client_id"], "agent": claims["urn:agent"]["id"],
            "pattern": claims["urn:agent"]["pattern"], "subject": claims["sub"],
            "jti": claims["jti"], "expires_at": claims["exp"], "scopes_granted": granted,
        }),
    );
    with(base, changes)
}

/// One new record, exactly `expected`, at the fixture's time.
pub async fn expect_one(trail: &mut Trail, sts: &Sts, expected: Value) -> Stored {
    let s = trail.one().await;
    s.assert(&expected, sts.now());
    s
}

#[tokio::test]
async fn each_kind_of_grant_is_recorded_once_with_every_field() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    assert_eq!(trail.after, 0, "a fresh database holds no record");
    let okta = sts.okta.issuer();

    // OBO with an Okta user token and an explicit scope.
    let subject = sts.user(LEAD, LEAD_GROUPS);
    let req =
        Req::exchange(sts.basic("support-bot"), &subject).with("scope", &format!("{READ} {WRITE}"));
    let (s, c) = granted(&sts, &req).await;
    let obo = allow(
        &s,
        &c,
        json!({
            "subject": FakeOkta::uid_for(LEAD), "idp": okta, "agent": "support-bot",
            "agent_principal": PRINCIPAL, "client_id": "support-bot", "act": {"sub": PRINCIPAL},
            "pattern": "obo", "audience": ZENDESK, "scopes_requested": [READ, WRITE],
            "scopes_required": [READ], "scopes_granted": [READ, WRITE],
        }),
    );
    expect_one(&mut trail, &sts, obo).await;

    // Hybrid: the actor's issuer is in `act`.
    let req = Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS))
        .with("actor_token", &sts.workload(PRINCIPAL))
        .with("actor_token_type", JWT);
    let (s, c) = granted(&sts, &req).await;
    let hybrid = allow(
        &s,
        &c,
        json!({
            "subject": FakeOkta::uid_for(ALICE), "idp": okta, "agent_principal": PRINCIPAL,
            "act": {"sub": PRINCIPAL, "iss": sts.k8s.issuer()}, "pattern": "hybrid",
            "scopes_required": [READ], "scopes_granted": [READ], "audience": ZENDESK,
        }),
    );
    expect_one(&mut trail, &sts, hybrid).await;

    // OBO with an Entra token: the tenant is recorded.
    let upn = "carol@contoso.com";
    let entra = sts
        .entra
        .access_token_v2(TENANT, upn)
        .groups(&[&FakeEntra::group_id("support-agents")])
        .mint();
    let (s, c) = granted(&sts, &Req::exchange(sts.basic("support-bot"), &entra)).await;
    let entra = allow(
        &s,
        &c,
        json!({
            "subject": FakeEntra::oid_for(upn), "idp": sts.entra.issuer_v2(TENANT),
            "tenant": TENANT, "agent_principal": PRINCIPAL, "act": {"sub": PRINCIPAL},
            "scopes_required": [READ], "scopes_granted": [READ],
        }),
    );
    expect_one(&mut trail, &sts, entra).await;

    // client_credentials with triggered_by: the workload pattern, no act.
    let req =
        Req::client_credentials(sts.basic("support-bot")).with("triggered_by", "alice@example.com");
    let (s, c) = granted(&sts, &req).await;
    assert_eq!(c["urn:agent"]["triggered_by"]["sub"], "alice@example.com");
    let cc = allow(
        &s,
        &c,
        json!({
            "subject": PRINCIPAL, "agent_principal": PRINCIPAL, "pattern": "workload",
            "scopes_required": [READ], "scopes_granted": [READ, WRITE], "audience": ZENDESK,
        }),
    );
    expect_one(&mut trail, &sts, cc).await;

    // client_secret_post and private_key_jwt.
    let (s, c) = granted(&sts, &Req::client_credentials(sts.post("batch-bot"))).await;
    let batch = allow(
        &s,
        &c,
        json!({"subject": BATCH_PRINCIPAL, "agent_principal": BATCH_PRINCIPAL,
               "scopes_required": [READ], "scopes_granted": [READ]}),
    );
    expect_one(&mut trail, &sts, batch).await;
    let req = Req::client_credentials(Auth::Assertion(sts.assertion(|_| {})));
    let (s, c) = granted(&sts, &req).await;
    let signed = allow(
        &s,
        &c,
        json!({"subject": "signed-bot", "agent_principal": "signed-bot", "client_id": "signed-bot",
               "scopes_required": [READ], "scopes_granted": [READ]}),
    );
    expect_one(&mut trail, &sts, signed).await;

    // A delegation chain: triage-bot exchanges support-bot's OBO token.
    let first = obo_token(&sts).await;
    trail.one().await;
    let (s, c) = granted(&sts, &Req::exchange(sts.basic("triage-bot"), &first)).await;
    let nested = json!({"sub": "triage-bot", "act": {"sub": PRINCIPAL}});
    assert_eq!(c["act"], nested);
    let chain = allow(
        &s,
        &c,
        json!({"subject": FakeOkta::uid_for(ALICE), "idp": okta, "agent_principal": "triage-bot",
               "act": nested, "pattern": "obo", "scopes_required": [READ], "scopes_granted": [READ]}),
    );
    expect_one(&mut trail, &sts, chain).await;

    assert_eq!(trail.seen.len(), 8);
    assert_chain(&trail.seen, true);
    assert_documented(&trail.seen);
}

/// support-bot's OBO token for alice.
pub async fn obo_token(sts: &Sts) -> String {
    let req = Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS));
    let (s, _) = granted(sts, &req).await;
    s.body["access_token"].as_str().expect("token").to_string()
}

/// A caller's `X-Request-Id` never becomes ours (it would forge
/// correlation in the trail): it is kept beside it, and not echoed.
#[tokio::test]
async fn an_incoming_request_id_is_kept_beside_ours_never_as_ours() {
    let sts = start().await;
    let mut trail = Trail::start(&sts.t.app.store.db).await;
    let mut req = Req::client_credentials(sts.basic("support-bot"));
    req.form.push(("resource".into(), JIRA.into()));
    let res = sts
        .t
        .client
        .post(sts.t.url("/token"))
        .basic_auth("support-bot", Some(&sts.secret))
        .header("x-request-id", "trace-4711.a_b")
        .form(&req.form)
        .send()
        .await
        .expect("request must reach the test server");
    let s = sent(res).await;
    assert_eq!(s.status, 400);
    assert_ne!(s.request_id, "trace-4711.a_b");
    let stored = trail.one().await;
    assert_eq!(stored.json["request_id"], s.request_id.as_str());
    assert_eq!(stored.json["client_request_id"], "trace-4711.a_b");
    assert_eq!(stored.json["detail"], s.body["error_description"]);
    assert_chain(std::slice::from_ref(&stored), false);

    // One that is not plain is not kept at all.
    let res = sts
        .t
        .client
        .post(sts.t.url("/token"))
        .basic_auth("support-bot", Some(&sts.secret))
        .header("x-request-id", "forged\"record")
        .form(&req.form)
        .send()
        .await
        .expect("request must reach the test server");
    let s = sent(res).await;
    let stored = trail.one().await;
    assert_eq!(stored.json["request_id"], s.request_id.as_str());
    assert!(stored.json.get("client_request_id").is_none());
}
