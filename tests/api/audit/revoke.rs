//! `/revoke` and the admin API: one record per decision (revocations,
//! reads and refusals), committed before the answer.

use serde_json::{Value, json};

use super::{Trail, assert_chain, assert_documented, blank, with};
use crate::fake_idp::claims_of;
use crate::introspect::{ALICE, Answer, Fx, ZENDESK, jti_of, start};

fn rid(a: &Answer) -> String {
    let rid = a.header("x-request-id").to_string();
    assert!(!rid.is_empty(), "X-Request-Id");
    rid
}

/// An admin record answered by `a`.
fn admin(a: &Answer, decision: &str, reason: &str, detail: &str, changes: Value) -> Value {
    let v = with(
        blank("admin", &rid(a)),
        json!({"decision": decision, "reason": reason, "detail": detail}),
    );
    with(v, changes)
}

/// A successful admin revocation of `body` (201).
async fn revoke_as_admin(fx: &Fx, body: Value) -> Answer {
    let a = fx.admin_on(&fx.t, Some(&fx.admin), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a
}

#[tokio::test]
async fn a_revoke_and_its_refusal_are_recorded() {
    let fx = start().await;
    let token = fx.cc("support-bot", ZENDESK).await;
    let c = claims_of(&token);
    let mut trail = Trail::start(&fx.t.app.store.db).await;

    let a = fx.revoke(Some("triage-host"), &[("token", &token)]).await;
    let refused = "the token was not issued to this client";
    a.assert_error(400, "unauthorized_client", refused);
    let want = with(
        blank("revoke", &rid(&a)),
        json!({"decision": "deny", "reason": "bad_request", "client_id": "triage-host",
               "detail": refused}),
    );
    trail.one().await.assert(&want, fx.now());

    let a = fx.revoke(Some("support-bot"), &[("token", &token)]).await;
    assert_eq!((a.status, a.body.as_str()), (200, ""));
    let want = with(
        blank("revoke", &rid(&a)),
        json!({"decision": "allow", "reason": "revoked", "client_id": "support-bot",
               "detail": format!("revoked jti {}", jti_of(&token)),
               "subject": c["sub"], "agent": "support-bot", "jti": c["jti"],
               "expires_at": c["exp"]}),
    );
    trail.one().await.assert(&want, fx.now());

    assert_chain(&trail.seen, false);
    assert_documented(&trail.seen);
}

#[tokio::test]
async fn a_revoke_record_names_the_revocation_in_its_detail() {
    let fx = start().await;
    let token = fx.cc("support-bot", ZENDESK).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let a = fx.revoke(Some("support-bot"), &[("token", &token)]).await;
    assert_eq!(a.status, 200);
    let got = trail.one().await;
    assert_eq!(
        got.json["detail"],
        format!("revoked jti {}", jti_of(&token))
    );
}

#[tokio::test]
async fn each_admin_revocation_and_refusal_is_recorded() {
    let fx = start().await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let c = claims_of(&token);
    let (jti, sub, idp) = (jti_of(&token), c["sub"].clone(), fx.okta.issuer());
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let now = fx.now();

    let a = revoke_as_admin(&fx, json!({"jti": jti, "reason": "leaked"})).await;
    let detail = format!("revoked jti {jti}");
    let want = admin(&a, "allow", "revoked", &detail, json!({"jti": jti}));
    trail.one().await.assert(&want, now);

    let a = revoke_as_admin(&fx, json!({"subject": sub, "idp": idp})).await;
    let detail = format!("revoked subject {}", sub.as_str().expect("sub"));
    let changes = json!({"subject": sub, "idp": idp});
    let want = admin(&a, "allow", "revoked", &detail, changes);
    trail.one().await.assert(&want, now);

    let a = revoke_as_admin(&fx, json!({"agent": "triage-bot"})).await;
    let changes = json!({"agent": "triage-bot"});
    let want = admin(&a, "allow", "revoked", "revoked agent triage-bot", changes);
    trail.one().await.assert(&want, now);

    let a = revoke_as_admin(&fx, json!({"client": "triage-host"})).await;
    let changes = json!({"client_id": "triage-host"});
    let want = admin(
        &a,
        "allow",
        "revoked",
        "revoked client triage-host",
        changes,
    );
    trail.one().await.assert(&want, now);

    let a = fx
        .admin_on(
            &fx.t,
            Some(&fx.admin),
            Some(json!({"jti": "a", "agent": "b"})),
        )
        .await;
    let one = "name exactly one of jti, subject, agent, client";
    a.assert_error(400, "invalid_request", one);
    let want = admin(&a, "deny", "bad_request", one, json!({}));
    trail.one().await.assert(&want, now);

    assert_eq!(trail.seen.len(), 5);
    assert_chain(&trail.seen, false);
    assert_documented(&trail.seen);
}

#[tokio::test]
async fn admin_refusals_and_reads_are_recorded_too() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let now = fx.now();
    let body = Some(json!({"agent": "triage-bot"}));
    let required = "admin credential required";

    // A wrong credential, and none.
    let a = fx.admin_on(&fx.t, Some("wrong"), body.clone()).await;
    a.assert_error(401, "invalid_client", required);
    let want = admin(&a, "deny", "bad_client_secret", required, json!({}));
    trail.one().await.assert(&want, now);
    let a = fx.admin_on(&fx.t, None, body).await;
    a.assert_error(401, "invalid_client", required);
    let want = admin(&a, "deny", "client_auth_missing", required, json!({}));
    trail.one().await.assert(&want, now);

    // A body that is not JSON.
    let res =
        fx.t.client
            .post(fx.t.url("/admin/revocations"))
            .bearer_auth(&fx.admin)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("request must reach the test server");
    let a = Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.expect("a body"),
    };
    assert_eq!(a.status, 400);
    let detail = a.json()["error_description"]
        .as_str()
        .expect("detail")
        .to_string();
    let want = admin(&a, "deny", "bad_request", &detail, json!({}));
    trail.one().await.assert(&want, now);

    // Reads of revocations and of the trail.
    let a = fx.admin_on(&fx.t, Some(&fx.admin), None).await;
    assert_eq!(a.status, 200);
    let want = admin(&a, "allow", "done", "listed revocations", json!({}));
    trail.one().await.assert(&want, now);
    let res =
        fx.t.client
            .get(fx.t.url("/admin/audit"))
            .bearer_auth(&fx.admin)
            .send()
            .await
            .expect("request must reach the test server");
    let a = Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: res.text().await.expect("a body"),
    };
    assert_eq!(a.status, 200);
    // The read saw the four records before it, not its own.
    assert_eq!(a.json()["records"].as_array().map(Vec::len), Some(4));
    let want = admin(&a, "allow", "done", "queried the audit trail", json!({}));
    trail.one().await.assert(&want, now);

    assert_chain(&trail.seen, true);
    assert_documented(&trail.seen);
}
