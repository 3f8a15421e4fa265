//! `agent-sts audit query` and `GET /admin/audit`: the same filters
//! (subject, agent, decision, since, until, limit), exact counts, and the
//! admin API's cursor pagination (`next` → `after`).

use serde_json::Value;

use super::cli;
use crate::fake_idp::{FakeOkta, claims_of};
use crate::helpers::json_body;
use crate::introspect::{ALICE, BOB, Fx, SLACK, ZENDESK, start};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

/// `POST /token` as `client` with `secret`; the status.
async fn token(fx: &Fx, client: &str, secret: &str, form: &[(&str, &str)]) -> u16 {
    fx.t.client
        .post(fx.t.url("/token"))
        .basic_auth(client, Some(secret))
        .form(form)
        .send()
        .await
        .expect("request must reach the test server")
        .status()
        .as_u16()
}

/// Six decisions, three at `t0` and three at `t0 + 100`:
///
/// | # | at | decision | subject | agent |
/// |---|---|---|---|---|
/// | 1 | t0 | allow | alice | support-bot |
/// | 2 | t0 | allow | bob | support-bot |
/// | 3 | t0 | deny | alice | triage-bot |
/// | 4 | t0+100 | allow | triage-host | triage-bot |
/// | 5 | t0+100 | deny | – | – |
/// | 6 | t0+100 | allow | alice | support-bot |
async fn traffic(fx: &Fx) -> i64 {
    let t0 = fx.now();
    fx.obo("support-bot", ALICE, ZENDESK).await;
    fx.obo("support-bot", BOB, ZENDESK).await;
    let subject = fx.user(ALICE);
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", AT),
        ("resource", SLACK),
    ];
    assert_eq!(token(fx, "triage-host", &fx.secret, &form).await, 400);
    fx.advance(100).await;
    fx.cc("triage-host", ZENDESK).await;
    let cc = [("grant_type", "client_credentials"), ("resource", ZENDESK)];
    assert_eq!(token(fx, "support-bot", "wrong", &cc).await, 401);
    let slack = fx.obo("support-bot", ALICE, SLACK).await;
    assert_eq!(claims_of(&slack)["sub"], FakeOkta::uid_for(ALICE));
    t0
}

/// `GET /admin/audit?query`: (records, next).
async fn api(fx: &Fx, query: &[(&str, String)]) -> (Vec<Value>, Option<i64>) {
    let res =
        fx.t.client
            .get(fx.t.url("/admin/audit"))
            .bearer_auth(&fx.admin)
            .query(query)
            .send()
            .await
            .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(crate::helpers::header(&res, "cache-control"), "no-store");
    let body = json_body(res).await;
    let records = body["records"].as_array().expect("records").clone();
    (records, body["next"].as_i64())
}

/// The filters, each with its expected count and a check of every match.
fn cases(t0: i64) -> Vec<(Vec<(&'static str, String)>, usize)> {
    let alice = FakeOkta::uid_for(ALICE);
    vec![
        (vec![], 6),
        (vec![("subject", alice.clone())], 3),
        (vec![("subject", FakeOkta::uid_for(BOB))], 1),
        (vec![("agent", "support-bot".into())], 3),
        (vec![("agent", "triage-bot".into())], 2),
        (vec![("decision", "deny".into())], 2),
        (vec![("decision", "allow".into()), ("subject", alice)], 2),
        (vec![("since", (t0 + 100).to_string())], 3),
        (vec![("until", (t0 + 100).to_string())], 3),
        (
            vec![("since", t0.to_string()), ("until", (t0 + 1).to_string())],
            3,
        ),
        (vec![("since", (t0 + 101).to_string())], 0),
        (vec![("limit", "4".into())], 4),
        (vec![("agent", "nobody".into())], 0),
    ]
}

/// Every record matches the filter it was found by.
#[track_caller]
fn assert_matches(records: &[Value], filter: &[(&str, String)]) {
    for r in records {
        for (k, v) in filter {
            if matches!(*k, "subject" | "agent" | "decision") {
                assert_eq!(r[*k], v.as_str(), "{k}");
            }
        }
    }
}

/// The records that are not admin reads (which the API records itself).
fn traffic_only(records: &[Value]) -> usize {
    records.iter().filter(|r| r["event"] != "admin").count()
}

#[tokio::test]
async fn the_admin_api_filters_and_pages() {
    let fx = start().await;
    let t0 = traffic(&fx).await;
    // Reads from now on are recorded at t0 + 1000, outside `until` below.
    fx.advance(900).await;
    for (filter, count) in cases(t0) {
        let (records, _) = api(&fx, &filter).await;
        match filter.iter().find(|(k, _)| *k == "limit") {
            Some(_) => assert_eq!(records.len(), count, "{filter:?}"),
            None => assert_eq!(traffic_only(&records), count, "{filter:?}"),
        }
        assert_matches(&records, &filter);
    }

    // Pages of two: `next` is the cursor, the last page says null.
    let until = (t0 + 101).to_string();
    let mut after = 0;
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let q = [
            ("limit", "2".to_string()),
            ("after", after.to_string()),
            ("until", until.clone()),
        ];
        let (records, next) = api(&fx, &q).await;
        pages += 1;
        ids.extend(records.iter().map(|r| r["id"].as_i64().expect("id")));
        match next {
            Some(n) => {
                assert_eq!(records.len(), 2);
                assert_eq!(Some(n), ids.last().copied());
                after = n;
            }
            None => break,
        }
        assert!(pages < 10, "pagination terminates");
    }
    assert_eq!((ids.len(), pages), (6, 4));
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // A filtered walk pages too.
    let q = [("subject", FakeOkta::uid_for(ALICE)), ("limit", "2".into())];
    let (first, next) = api(&fx, &q).await;
    let q2 = [
        ("subject", FakeOkta::uid_for(ALICE)),
        ("limit", "2".into()),
        ("after", next.expect("a second page").to_string()),
    ];
    let (second, next) = api(&fx, &q2).await;
    assert_eq!((first.len(), second.len(), next), (2, 1, None));

    // Without the admin credential there is nothing to read.
    let res =
        fx.t.client
            .get(fx.t.url("/admin/audit"))
            .send()
            .await
            .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn the_cli_filters_the_same_way() {
    let fx = start().await;
    let t0 = traffic(&fx).await;
    for (filter, count) in cases(t0) {
        let mut args = vec!["audit".to_string(), "query".to_string()];
        for (k, v) in &filter {
            args.push(format!("--{k}"));
            args.push(v.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli(&fx.t, &args).await;
        assert_eq!(out.code, Some(0), "{filter:?}: {}", out.stderr);
        let records: Vec<Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
            .collect();
        assert_eq!(records.len(), count, "{filter:?}");
        assert_matches(&records, &filter);
    }
}

/// `limit` is 1..=1000, as `openapi.yaml` says: outside it is a 400, not a
/// quietly clamped page.
#[tokio::test]
async fn the_admin_api_refuses_a_limit_outside_its_bounds() {
    let fx = start().await;
    let get = |limit: &'static str| {
        fx.t.client
            .get(fx.t.url("/admin/audit"))
            .bearer_auth(&fx.admin)
            .query(&[("limit", limit)])
            .send()
    };
    for limit in ["1001", "0", "-1"] {
        let res = get(limit)
            .await
            .expect("request must reach the test server");
        assert_eq!(res.status().as_u16(), 400, "limit={limit}");
        assert_eq!(
            json_body(res).await,
            serde_json::json!({
                "error": "invalid_request",
                "error_description": "limit must be between 1 and 1000"
            }),
            "limit={limit}"
        );
    }
    for limit in ["1", "1000"] {
        let res = get(limit)
            .await
            .expect("request must reach the test server");
        assert_eq!(res.status().as_u16(), 200, "limit={limit}");
    }
}
