//! Fail closed (DESIGN §8): when the record cannot be committed, an allow
//! becomes `503 temporarily_unavailable` and no token; a denial still
//! answers its own error. What was committed before stays intact and
//! verifiable, and recording resumes on a fresh app (a new chain).

use agent_sts::audit::verify::verify;
use agent_sts::clock::Clock;
use agent_sts::config::MIN_AUDIT_RETENTION;
use serde_json::json;

use super::support::*;
use super::token::{granted, send};
use super::{all, assert_chain};
use crate::helpers::{Options, header, spawn_app_with};

#[tokio::test]
async fn without_the_database_nothing_is_issued_and_nothing_is_lost() {
    let sts = start().await;
    let obo = || Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS));
    let missing_group = || Req::exchange(sts.basic("support-bot"), &sts.user(BOB, &["Everyone"]));
    granted(&sts, &obo()).await;
    assert_eq!(send(&sts, &missing_group()).await.status, 400);
    let before = all(&sts.t.app.store.db).await;
    assert_eq!(before.len(), 2);

    sts.t.app.store.db.close().await;

    for req in [obo(), Req::client_credentials(sts.post("batch-bot"))] {
        let res = sts.send(&req).await;
        assert_eq!(res.status().as_u16(), 503);
        assert_eq!(header(&res, "cache-control"), "no-store");
        let body: serde_json::Value = res.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({
                "error": "temporarily_unavailable",
                "error_description": "the decision could not be recorded; nothing was issued, try again",
            })
        );
    }
    // A refusal grants nothing, so it stands without its record.
    let s = send(&sts, &missing_group()).await;
    assert_eq!((s.status, &s.body["error"]), (400, &json!("invalid_scope")));
    let s = send(&sts, &Req::client_credentials(sts.basic("nobody"))).await;
    assert_eq!(
        (s.status, &s.body["error"]),
        (401, &json!("invalid_client"))
    );

    // The database is back for a fresh app: the earlier records are intact.
    let fresh = spawn_app_with(Options::default().replica_of(&sts.t)).await;
    let db = &fresh.app.store.db;
    let after = all(db).await;
    assert_eq!(
        after.iter().map(|s| &s.row).collect::<Vec<_>>(),
        before.iter().map(|s| &s.row).collect::<Vec<_>>()
    );
    let report = verify(&**db, MIN_AUDIT_RETENTION, fresh.clock.now())
        .await
        .expect("verify");
    assert_eq!((report.records, report.chains, report.broken), (2, 1, None));
    assert_chain(&after, true);

    // And it records again, on a chain of its own.
    let res = fresh
        .client
        .post(fresh.url("/token"))
        .basic_auth("nobody", Some("x"))
        .form(&[("grant_type", "client_credentials"), ("resource", ZENDESK)])
        .send()
        .await
        .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 401);
    let now = all(db).await;
    assert_eq!(now.len(), 3);
    assert_ne!(now[2].row.chain, now[0].row.chain);
    assert_chain(&now[2..], true);
    let report = verify(&**db, MIN_AUDIT_RETENTION, fresh.clock.now())
        .await
        .expect("verify");
    assert_eq!((report.records, report.chains, report.broken), (3, 2, None));
}

/// A failed draw from the random number generator issues nothing (a
/// predictable `jti` would make revocation by jti guessable): 503, no
/// token, the refusal recorded with its own reason; the next draw works.
#[tokio::test]
async fn a_failed_random_draw_issues_nothing() {
    let sts = start().await;
    let mut trail = super::Trail::start(&sts.t.app.store.db).await;
    sts.t.app.randomness.set_failing(true);
    for req in [
        Req::client_credentials(sts.basic("support-bot")),
        Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS)),
    ] {
        let s = send(&sts, &req).await;
        assert_eq!(s.status, 503);
        assert_eq!(
            s.body,
            json!({"error": "temporarily_unavailable", "error_description": "no token can be issued now; try again"})
        );
        let record = trail.one().await;
        assert_eq!(
            (
                &record.json["decision"],
                &record.json["reason"],
                &record.json["jti"],
                &record.json["scopes_granted"]
            ),
            (
                &json!("deny"),
                &json!("random_unavailable"),
                &json!(null),
                &json!(null)
            )
        );
    }
    sts.t.app.randomness.set_failing(false);
    granted(&sts, &Req::client_credentials(sts.basic("support-bot"))).await;
}
