//! Introspection records: by default every denial and only the first active
//! answer per token and caller, the repeats summarised once the token has
//! expired; with `[audit] introspection = "all"` every answer.

use serde_json::{Value, json};

use super::{Stored, Trail, assert_chain, assert_documented, blank, with};
use crate::fake_idp::claims_of;
use crate::helpers::{Options, sha256_hex, spawn_app_with};
use crate::introspect::{ALICE, Fx, INACTIVE, Setup, ZENDESK, start_with};

/// The introspection fixture plus `gw-audit`, a second introspector for
/// zendesk, and `[audit] introspection = mode`.
async fn fixture(mode: &str) -> Fx {
    let fx = start_with(Setup {
        admin: false,
        redis: false,
    })
    .await;
    let policy = format!(
        "{}\n[[introspectors]]\nclient = {{ id = \"gw-audit\", auth = \"client_secret_basic\", \
         secret_sha256 = \"{}\" }}\nresources = [\"{ZENDESK}\"]\n\n[audit]\nintrospection = \"{mode}\"\n",
        fx.policy,
        sha256_hex(fx.secret.as_bytes())
    );
    let t = spawn_app_with(Options::default().policy(&policy).without_redis()).await;
    Fx { t, policy, ..fx }
}

/// `caller` introspects `token`; the answer's `active` and request id.
async fn introspect(fx: &Fx, caller: &str, token: &str) -> (bool, String) {
    let a = fx
        .introspect_raw(&fx.t, Some(caller), &[("token", token)], None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let rid = a.header("x-request-id").to_string();
    assert!(!rid.is_empty(), "X-Request-Id");
    (a.body != INACTIVE, rid)
}

/// The record of an active answer to `caller` for `token`.
fn active(token: &str, caller: &str, rid: &str, fx: &Fx) -> Value {
    let c = claims_of(token);
    with(
        blank("introspect", rid),
        json!({
            "decision": "allow", "reason": "active", "subject": c["sub"],
            "idp": fx.okta.issuer(), "agent": "support-bot", "client_id": caller,
            "audience": ZENDESK, "jti": c["jti"], "expires_at": c["exp"],
        }),
    )
}

/// The record of an `{"active": false}` answer to `caller` for `reason`.
fn inactive(caller: &str, rid: &str, reason: &str) -> Value {
    with(
        blank("introspect", rid),
        json!({"decision": "deny", "reason": reason, "client_id": caller,
               "detail": "answered {\"active\": false}"}),
    )
}

/// A denial every mode records: ends a burst (see the module docs).
async fn marker(fx: &Fx) -> Value {
    let (on, rid) = introspect(fx, "gw-zendesk", "not-a-token").await;
    assert!(!on);
    inactive("gw-zendesk", &rid, "malformed_token")
}

#[track_caller]
fn assert_all(got: &[Stored], want: &[Value], now: i64) {
    assert_eq!(got.len(), want.len());
    for (s, w) in got.iter().zip(want) {
        s.assert(w, now);
    }
}

#[tokio::test]
async fn by_default_the_first_active_answer_per_caller_and_every_denial() {
    let fx = fixture("first").await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let mut want = Vec::new();

    let (on, rid) = introspect(&fx, "gw-zendesk", &token).await;
    assert!(on);
    want.push(active(&token, "gw-zendesk", &rid, &fx));
    for _ in 0..2 {
        assert!(introspect(&fx, "gw-zendesk", &token).await.0, "a repeat");
    }
    // Another caller's first answer is recorded, its repeat is not.
    let (on, rid) = introspect(&fx, "gw-audit", &token).await;
    assert!(on);
    want.push(active(&token, "gw-audit", &rid, &fx));
    assert!(introspect(&fx, "gw-audit", &token).await.0);
    // Denials: each one, also when repeated.
    for _ in 0..2 {
        let (on, rid) = introspect(&fx, "gw-slack", &token).await;
        assert!(!on);
        want.push(inactive("gw-slack", &rid, "wrong_audience"));
    }
    let res =
        fx.t.client
            .post(fx.t.url("/introspect"))
            .basic_auth("gw-zendesk", Some("not-the-secret"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 401);
    let rid = crate::helpers::header(&res, "x-request-id");
    let mut refused = with(
        blank("introspect", &rid),
        json!({"decision": "deny", "reason": "bad_client_secret",
               "detail": "client authentication failed"}),
    );
    refused["claimed_client_id"] = json!("gw-zendesk");
    want.push(refused);
    want.push(marker(&fx).await);

    let got = trail.wait(want.len()).await;
    assert_all(&got, &want, fx.now());

    // Once the token has expired, one summary per caller counts the repeats.
    let exp = claims_of(&token)["exp"].as_i64().expect("exp");
    fx.advance(exp - fx.now() + 1).await;
    fx.t.app.audit.flush_repeats(fx.now());
    let mut summaries = trail.wait(2).await;
    summaries.sort_by_key(|s| s.json["client_id"].as_str().unwrap_or_default().to_string());
    let summary = |caller: &str, count: u64| {
        with(
            blank("introspect", ""),
            json!({
                "decision": "allow", "reason": "active", "client_id": caller, "client_ip": null,
                "detail": format!("{count} further active answers to this caller, until the token expired"),
                "jti": claims_of(&token)["jti"], "expires_at": exp, "count": count,
                "subject": claims_of(&token)["sub"], "agent": claims_of(&token)["urn:agent"]["id"],
            }),
        )
    };
    assert_all(
        &summaries,
        &[summary("gw-audit", 1), summary("gw-zendesk", 2)],
        fx.now(),
    );
    // Summarised once: a later flush adds nothing before the next marker.
    fx.t.app.audit.flush_repeats(fx.now());
    let last = marker(&fx).await;
    assert_all(&trail.wait(1).await, &[last], fx.now());

    assert_chain(&trail.seen, false);
    assert_documented(&trail.seen);
}

#[tokio::test]
async fn with_introspection_all_every_answer_is_recorded() {
    let fx = fixture("all").await;
    let token = fx.obo("support-bot", ALICE, ZENDESK).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let mut want = Vec::new();
    for caller in ["gw-zendesk", "gw-zendesk", "gw-audit", "gw-zendesk"] {
        let (on, rid) = introspect(&fx, caller, &token).await;
        assert!(on);
        want.push(active(&token, caller, &rid, &fx));
    }
    let (on, rid) = introspect(&fx, "gw-slack", &token).await;
    assert!(!on);
    want.push(inactive("gw-slack", &rid, "wrong_audience"));
    want.push(marker(&fx).await);
    assert_all(&trail.wait(want.len()).await, &want, fx.now());

    // Nothing was counted, so nothing is summarised.
    let exp = claims_of(&token)["exp"].as_i64().expect("exp");
    fx.advance(exp - fx.now() + 1).await;
    fx.t.app.audit.flush_repeats(fx.now());
    let last = marker(&fx).await;
    assert_all(&trail.wait(1).await, &[last], fx.now());

    assert_chain(&trail.seen, false);
    assert_documented(&trail.seen);
}

#[tokio::test]
async fn an_introspection_refused_at_the_form_is_recorded() {
    let fx = fixture("first").await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let res =
        fx.t.client
            .post(fx.t.url("/introspect"))
            .basic_auth("gw-zendesk", Some(&fx.secret))
            .header("content-type", "application/json")
            .body("{\"token\": \"x\"}")
            .send()
            .await
            .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 400);
    let rid = crate::helpers::header(&res, "x-request-id");
    let detail = "the body must be application/x-www-form-urlencoded, not \"application/json\"";
    let want = with(
        blank("introspect", &rid),
        json!({"decision": "deny", "reason": "bad_request", "detail": detail}),
    );
    let got = trail.wait(1).await;
    assert_all(&got, &[want], fx.now());
}

/// The counter of (token, caller) pairs fills up (100 here, 14,000 by
/// default) while the writer's queue is small (20): its early summaries go
/// through the background backlog, so no record is dropped, no `/token`
/// is refused for want of queue room, and every summary arrives.
#[tokio::test]
async fn a_full_counter_is_summarised_without_dropping_or_refusing_anything() {
    let fx = start_with(Setup {
        admin: false,
        redis: false,
    })
    .await;
    let policy = format!(
        "{}\n[audit]\ncounted_pairs = 100\nqueue = 20\n\n[rate_limits]\ntoken_per_agent = \"off\"\n\
         introspect_per_caller = \"off\"\n",
        fx.policy
    );
    let t = spawn_app_with(Options::default().policy(&policy).without_redis()).await;
    let fx = Fx { t, policy, ..fx };
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let mut tokens = Vec::new();
    for _ in 0..150 {
        tokens.push(fx.cc("support-bot", ZENDESK).await);
    }
    // Each token introspected twice (the second is counted), eight at a
    // time, while agents keep asking for tokens.
    let introspections = futures_util::future::join_all(tokens.chunks(19).map(|chunk| {
        let fx = &fx;
        async move {
            for token in chunk {
                assert!(introspect(fx, "gw-zendesk", token).await.0);
                assert!(introspect(fx, "gw-zendesk", token).await.0);
            }
        }
    }));
    let minting = async {
        let mut statuses = Vec::new();
        for _ in 0..50 {
            let res =
                fx.t.client
                    .post(fx.t.url("/token"))
                    .basic_auth("triage-host", Some(&fx.secret))
                    .form(&[("grant_type", "client_credentials"), ("resource", ZENDESK)])
                    .send()
                    .await
                    .expect("token");
            statuses.push(res.status().as_u16());
        }
        statuses
    };
    let (_, statuses) = tokio::join!(introspections, minting);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // The 50 pairs still counted are summarised when their tokens expire.
    fx.t.app.audit.flush_repeats(fx.now() + 3_600);
    // 200 grants and 300 answers: every answer is a record of its own or
    // counted in a summary (a pair whose repeat came after its count was
    // summarised is counted afresh, as a first answer).
    let records = trail.wait(150 + 50 + 150 + 150).await;
    let answers: u64 = records
        .iter()
        .filter(|s| s.json["event"] == "introspect")
        .map(|s| s.json["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(answers, 300, "every active answer is accounted for");
    let early = records
        .iter()
        .filter(|s| {
            s.json["detail"]
                .as_str()
                .unwrap_or("")
                .contains("summarised early")
        })
        .count();
    assert!(
        early >= 50,
        "the full counter's pairs were summarised: {early}"
    );
    assert_eq!(fx.t.app.audit.dropped(), 0);
    assert_chain(&records, false);
}
