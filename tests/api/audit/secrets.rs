//! No record holds a token, a secret or an assertion; every reason code a
//! record carries is documented in the README's table.

use std::collections::BTreeSet;

use serde_json::json;

use super::support::*;
use super::token::{granted, send};
use super::{Stored, all, assert_documented, jwt_shaped};
use crate::fake_idp::Bad;
use crate::helpers::random_hex;

/// Allows and denials of every kind of credential; returns every token,
/// secret and assertion that was sent or minted.
async fn traffic(sts: &Sts) -> Vec<String> {
    let mut used = vec![sts.secret.clone()];
    let lead = sts.user(LEAD, LEAD_GROUPS);
    let alice = sts.user(ALICE, ALICE_GROUPS);
    let actor = sts.workload(PRINCIPAL);
    let mut minted = Vec::new();
    let token = |s: &super::token::Sent| s.body["access_token"].as_str().map(str::to_string);

    // Allows: OBO, hybrid, client_secret_post, private_key_jwt, a chain.
    let reqs = [
        Req::exchange(sts.basic("support-bot"), &lead).with("scope", &format!("{READ} {WRITE}")),
        Req::exchange(sts.basic("support-bot"), &alice)
            .with("actor_token", &actor)
            .with("actor_token_type", JWT),
        Req::client_credentials(sts.post("batch-bot")),
    ];
    for req in &reqs {
        minted.extend(token(&granted(sts, req).await.0));
    }
    let assertion = sts.assertion(|_| {});
    let signed = Req::client_credentials(Auth::Assertion(assertion.clone()));
    minted.extend(token(&granted(sts, &signed).await.0));
    let chain = Req::exchange(sts.basic("triage-bot"), &minted[0]);
    minted.extend(token(&granted(sts, &chain).await.0));

    // Denials: a replay, a bad assertion, wrong secrets, bad tokens.
    assert_eq!(send(sts, &signed).await.status, 401);
    let late = sts.assertion(|c| c["exp"] = json!(sts.now() - 61));
    let (wrong_basic, wrong_post) = (random_hex(16), random_hex(16));
    let mut tampered = alice.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let expired = sts
        .okta
        .access_token(ALICE)
        .groups(ALICE_GROUPS)
        .bad(Bad::Expired)
        .mint();
    let denials = [
        Req::client_credentials(Auth::Assertion(late.clone())),
        Req::client_credentials(Auth::Basic("support-bot".into(), wrong_basic.clone())),
        Req::client_credentials(Auth::Post("batch-bot".into(), wrong_post.clone())),
        Req::exchange(sts.basic("support-bot"), &tampered),
        Req::exchange(sts.basic("support-bot"), &expired),
        Req::exchange(sts.basic("support-bot"), &alice)
            .with("actor_token", &sts.workload(BATCH_PRINCIPAL))
            .with("actor_token_type", JWT),
        Req::exchange(sts.basic("triage-bot"), &minted[2]),
        Req::exchange(sts.basic("support-bot"), &sts.user(BOB, &["Everyone"])),
        // A live bearer token in the wrong parameter: withheld in the record
        // as in the error description.
        Req::client_credentials(sts.basic("support-bot")).set("resource", &minted[0]),
    ];
    for req in &denials {
        let s = send(sts, req).await;
        assert!(s.status >= 400, "{}", s.body);
    }

    // /revoke of a minted token by its client.
    let res = sts
        .t
        .client
        .post(sts.t.url("/revoke"))
        .basic_auth("support-bot", Some(&sts.secret))
        .form(&[("token", minted[1].as_str())])
        .send()
        .await
        .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 200);

    assert_eq!(minted.len(), 5);
    used.extend([lead, alice, actor, assertion, late, wrong_basic, wrong_post]);
    used.extend([tampered, expired]);
    used.extend(minted);
    used
}

#[track_caller]
fn assert_clean(stored: &[Stored], used: &[String]) {
    for s in stored {
        let text = &s.row.record;
        assert_eq!(jwt_shaped(text), None, "a JWT in record {text}");
        for u in used {
            assert!(!text.contains(u.as_str()), "{u:.24}… in record {text}");
        }
    }
}

#[tokio::test]
async fn no_record_holds_a_token_secret_or_assertion() {
    let sts = start().await;
    let used = traffic(&sts).await;
    let stored = all(&sts.t.app.store.db).await;
    // One record per decision, but the second wrong secret: before any
    // client authenticated, the same refusal from the same address is
    // counted into a summary after the first.
    assert_eq!(stored.len(), 15, "one record per decision");
    let withheld = stored
        .iter()
        .filter(|s| s.json["audience"] == "[withheld: it looks like a token]")
        .count();
    assert_eq!(withheld, 1, "the token sent as resource");
    // The scan would see a token: the responses held some.
    assert!(used.iter().filter(|u| jwt_shaped(u).is_some()).count() >= 10);
    assert_clean(&stored, &used);
}

#[tokio::test]
async fn every_reason_the_records_carry_is_in_the_readme_table() {
    let sts = start().await;
    traffic(&sts).await;
    let stored = all(&sts.t.app.store.db).await;
    let reasons: BTreeSet<&str> = stored.iter().map(|s| s.row.reason.as_str()).collect();
    assert!(reasons.len() >= 8, "a varied run: {reasons:?}");
    assert_documented(&stored);
}

#[tokio::test]
async fn a_token_sent_in_the_wrong_parameter_is_not_recorded() {
    let sts = start().await;
    let subject = sts.user(ALICE, ALICE_GROUPS);
    // A client that swapped the values of subject_token and its type.
    let req = Req::exchange(sts.basic("support-bot"), AT).set("subject_token_type", &subject);
    let s = send(&sts, &req).await;
    assert_eq!(s.status, 400);
    let stored = all(&sts.t.app.store.db).await;
    assert_eq!(stored.len(), 1);
    assert_clean(&stored, &[subject]);
}
