//! Rate limits, load shedding, the request timeout, header limits,
//! `/metrics` and graceful shutdown, over HTTP. Rates are tiny
//! (`0.001` per second: one request per 1000 s) so that a burst is spent
//! by a handful of requests and `Retry-After` is exactly 1000.

use std::time::Duration;

use serde_json::{Value, json};

use crate::audit::{Trail, blank, jwt_shaped, with};
use crate::fake_idp::Mode;
use crate::helpers::{Options, TestApp, header, spawn_app_with};
use crate::introspect::{Fx, READ, Setup, ZENDESK, start_edited};

const SLOW: &str = "rate_limit = { per_second = 0.001, burst = 2 }";

fn setup(redis: bool) -> Setup {
    Setup {
        admin: false,
        redis,
    }
}

/// support-bot limited to 2 requests per 1000 s.
fn slow_support_bot(policy: String) -> String {
    policy.replacen(
        "id = \"support-bot\"\n",
        &format!("id = \"support-bot\"\n{SLOW}\n"),
        1,
    )
}

/// `client_credentials` as `client` on `node`: status, headers, body.
async fn cc(fx: &Fx, node: &TestApp, client: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let res = node
        .client
        .post(node.url("/token"))
        .basic_auth(client, Some(&fx.secret))
        .form(&[("grant_type", "client_credentials"), ("resource", ZENDESK)])
        .send()
        .await
        .expect("request must reach the test server");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.expect("a JSON body"))
}

fn over(whose: &str, rate: &str) -> Value {
    json!({
        "error": "temporarily_unavailable",
        "error_description": format!("{whose} is over its rate limit ({rate}); retry after 1000 s"),
    })
}

#[tokio::test]
async fn an_agent_over_its_limit_gets_429_with_retry_after_and_the_refusals_are_summarised() {
    let fx = start_edited(setup(false), slow_support_bot).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    for _ in 0..2 {
        assert_eq!(cc(&fx, &fx.t, "support-bot").await.0, 200);
    }
    let _ = trail.wait(2).await;
    let (status, headers, body) = cc(&fx, &fx.t, "support-bot").await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1000");
    assert_eq!(headers["cache-control"], "no-store");
    let description = "agent client support-bot";
    assert_eq!(body, over(description, "0.001 per second, burst 2"));
    // Other agents keep their own budget.
    assert_eq!(cc(&fx, &fx.t, "triage-host").await.0, 200);

    let first = trail.wait(2).await;
    let refused = first
        .iter()
        .find(|s| s.json["reason"] == "rate_limited")
        .expect("the first refusal is recorded");
    let expected = with(
        blank("token", refused.json["request_id"].as_str().unwrap()),
        json!({
            "decision": "deny", "reason": "rate_limited",
            "detail": body["error_description"],
            "agent": "support-bot", "client_id": "support-bot",
            "agent_principal": "support-bot",
            "audience": ZENDESK, "scopes_required": [READ],
        }),
    );
    refused.assert(&expected, fx.now());

    // Further refusals are counted, not written one by one ...
    for _ in 0..3 {
        assert_eq!(cc(&fx, &fx.t, "support-bot").await.0, 429);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = trail.wait(0).await;
    // ... and summarised when the minute is over.
    fx.t.app.audit.flush_repeats(fx.now() + 60);
    let summary = &trail.wait(1).await[0];
    let expected = with(
        blank("token", ""),
        json!({
            "decision": "deny", "reason": "rate_limited",
            "detail": "3 further refusals over the rate limit, in the minute after the first",
            "agent": "support-bot", "client_id": "support-bot", "client_ip": null,
            "count": 3,
        }),
    );
    summary.assert(&expected, fx.now() + 60);
}

#[tokio::test]
async fn an_introspecting_caller_over_its_limit_gets_429_and_a_record() {
    let fx = start_edited(setup(false), |p| {
        p.replacen(
            "resources = [\"https://mcp-zendesk.example.com\"]\n\n[[introspectors]]",
            "resources = [\"https://mcp-zendesk.example.com\"]\nrate_limit = { per_second = 0.001, burst = 1 }\n\n[[introspectors]]",
            1,
        )
    })
    .await;
    assert!(
        fx.policy.contains("burst = 1 }"),
        "the edit applied: {}",
        fx.policy
    );
    let token = fx.cc("support-bot", ZENDESK).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    assert_eq!(fx.answer("gw-zendesk", &token).await["active"], true);
    let a = fx
        .introspect_raw(
            &fx.t,
            Some("gw-zendesk"),
            &[("token", token.as_str())],
            None,
        )
        .await;
    a.assert_error(
        429,
        "temporarily_unavailable",
        "introspection caller gw-zendesk is over its rate limit (0.001 per second, burst 1); retry after 1000 s",
    );
    assert_eq!(a.header("retry-after"), "1000");
    // The active answer and the refusal are recorded without waiting.
    let records = trail.wait(2).await;
    let record = records
        .iter()
        .find(|s| s.json["reason"] == "rate_limited")
        .expect("the refusal is recorded");
    let expected = with(
        blank("introspect", a.header("x-request-id")),
        json!({
            "decision": "deny", "reason": "rate_limited", "client_id": "gw-zendesk",
            "detail": "introspection caller gw-zendesk is over its rate limit (0.001 per second, burst 1); retry after 1000 s",
        }),
    );
    record.assert(&expected, fx.now());
    // Another caller is not affected.
    assert_eq!(fx.answer("gw-slack", &token).await["active"], false);
}

#[tokio::test]
async fn a_source_address_over_its_limit_is_refused_before_its_request_is_read() {
    let fx = start_edited(setup(false), |p| {
        format!("{p}\n[rate_limits]\nper_ip = {{ per_second = 0.001, burst = 3 }}\n")
    })
    .await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    // Three requests spend the budget, whatever they are (three refusals
    // before client authentication from one address: the first recorded,
    // the others counted into a summary).
    for _ in 0..3 {
        let res = fx.t.post_form("/token", &[("grant_type", "nope")]).await;
        assert_eq!(res.status().as_u16(), 401);
    }
    let _ = trail.wait(1).await;
    // The fourth is refused before its body is read: even a valid request.
    let (status, headers, body) = cc(&fx, &fx.t, "support-bot").await;
    assert_eq!(
        (status, &headers["retry-after"]),
        (429, &"1000".parse().unwrap())
    );
    assert_eq!(
        body,
        over("this source address", "0.001 per second, burst 3")
    );
    let res = fx.t.post_form("/introspect", &[("token", "x")]).await;
    assert_eq!(res.status().as_u16(), 429);
    // Documents, health and metrics are not limited per address.
    for path in ["/.well-known/jwks.json", "/healthz", "/readyz", "/metrics"] {
        assert_eq!(fx.t.get(path).await.status().as_u16(), 200, "{path}");
    }
    // The first refusal is recorded; the second is counted.
    let record = &trail.wait(1).await[0];
    let expected = with(
        blank("token", record.json["request_id"].as_str().unwrap()),
        json!({
            "decision": "deny", "reason": "rate_limited",
            "detail": body["error_description"],
        }),
    );
    record.assert(&expected, fx.now());
    assert!(!record.json["request_id"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn with_redis_an_agents_budget_is_shared_by_the_replicas() {
    let redis = std::env::var(crate::helpers::TEST_REDIS_ENV).is_ok();
    let fx = start_edited(setup(redis), slow_support_bot).await;
    let mut options = Options::default().policy(&fx.policy).replica_of(&fx.t);
    if !redis {
        options = options.without_redis();
    }
    let b = spawn_app_with(options).await;
    for _ in 0..2 {
        assert_eq!(cc(&fx, &fx.t, "support-bot").await.0, 200);
    }
    let (status, _, body) = cc(&fx, &b, "support-bot").await;
    if redis {
        // One GCRA state in Redis for the deployment: B sees A's spending.
        assert_eq!(status, 429, "{body}");
        assert_eq!(
            body,
            over("agent client support-bot", "0.001 per second, burst 2")
        );
    } else {
        // Without Redis each replica limits on its own.
        assert_eq!(status, 200, "{body}");
    }
}

/// A policy whose `okta` keys are fetched slowly on the next unknown kid:
/// an OBO with a token under a new key holds its request that long.
async fn slow_obo(fx: &Fx, delay: Duration) -> tokio::task::JoinHandle<(u16, Value)> {
    fx.okta.rotate_key();
    let user = fx.user("alice@example.com");
    fx.okta.set_mode(Mode::Slow(delay));
    let (client, url, secret) = (fx.t.client.clone(), fx.t.url("/token"), fx.secret.clone());
    tokio::spawn(async move {
        let res = client
            .post(url)
            .basic_auth("support-bot", Some(secret))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", user.as_str()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("resource", ZENDESK),
            ])
            .send()
            .await
            .expect("request must reach the test server");
        let status = res.status().as_u16();
        (status, res.json().await.expect("a JSON body"))
    })
}

#[tokio::test]
async fn beyond_max_in_flight_requests_are_shed_at_once_but_probes_still_answer() {
    let fx = start_edited(setup(false), |p| {
        format!("{p}\n[server]\nmax_in_flight = 1\n")
    })
    .await;
    let held = slow_obo(&fx, Duration::from_millis(1_500)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let res = fx.t.get("/.well-known/jwks.json").await;
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(header(&res, "retry-after"), "1");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({
            "error": "temporarily_unavailable",
            "error_description": "the server is at its limit of 1 requests in flight; retry after 1 s",
        })
    );
    assert_eq!(fx.t.get("/healthz").await.status().as_u16(), 200);
    assert_eq!(fx.t.get("/metrics").await.status().as_u16(), 200);
    let (status, body) = held.await.unwrap();
    assert_eq!(status, 200, "the held request completes: {body}");
    assert_eq!(
        fx.t.get("/.well-known/jwks.json").await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn a_request_past_the_timeout_is_answered_503_and_nothing_is_issued() {
    let fx = start_edited(setup(false), |p| {
        format!("{p}\n[server]\nrequest_timeout = \"500ms\"\n")
    })
    .await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, body) = slow_obo(&fx, Duration::from_secs(3)).await.await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({
            "error": "temporarily_unavailable",
            "error_description": "the request was not answered within 500 ms; nothing was issued, retry after 1 s",
        })
    );
    let records = trail.wait(0).await;
    assert!(records.is_empty(), "no decision was made: {records:?}");
}

#[tokio::test]
async fn a_request_head_over_the_cap_is_refused_with_431() {
    let fx = start_edited(setup(false), |p| p).await;
    for (padding, status) in [(20 * 1024, 431), (4 * 1024, 200)] {
        let res =
            fx.t.client
                .get(fx.t.url("/healthz"))
                .header("x-padding", "a".repeat(padding));
        let res = res.send().await.expect("an answer");
        assert_eq!(res.status().as_u16(), status, "{padding} bytes of header");
    }
}

#[tokio::test]
async fn metrics_count_requests_decisions_and_refusals_without_unbounded_labels() {
    let fx = start_edited(setup(false), slow_support_bot).await;
    let token = fx.cc("support-bot", ZENDESK).await;
    let _ = fx.answer("gw-zendesk", &token).await;
    fx.cc("support-bot", ZENDESK).await;
    assert_eq!(cc(&fx, &fx.t, "support-bot").await.0, 429);
    let _ = fx.t.get("/no/such/path/eyJhbGciOiJIUzI1NiJ9.e30.x").await;
    let res = fx.t.get("/metrics").await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        header(&res, "content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    for line in [
        "# TYPE agent_sts_http_requests_total counter",
        "agent_sts_http_requests_total{endpoint=\"/token\",status=\"200\"}",
        "agent_sts_http_requests_total{endpoint=\"/token\",status=\"429\"}",
        "agent_sts_http_requests_total{endpoint=\"unmatched\",status=\"404\"}",
        "agent_sts_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.005\"}",
        "agent_sts_decisions_total{event=\"token\",decision=\"allow\",reason=\"granted\"}",
        "agent_sts_decisions_total{event=\"token\",decision=\"deny\",reason=\"rate_limited\"}",
        "agent_sts_rate_limited_total{limit=\"per_agent\"}",
        "agent_sts_upstream_key_refreshes_total{upstream=\"okta\",result=\"ok\"}",
        "agent_sts_audit_queue_depth ",
        "agent_sts_audit_commit_duration_seconds_bucket{le=",
        "agent_sts_revocation_view_age_seconds ",
        "agent_sts_requests_in_flight ",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    // Labels never carry a token, a client or agent id, or a subject.
    assert_eq!(jwt_shaped(&text), None);
    for secret_or_id in [
        fx.secret.as_str(),
        "support-bot",
        "gw-zendesk",
        "alice",
        "eyJ",
    ] {
        assert!(!text.contains(secret_or_id), "{secret_or_id} in /metrics");
    }
}

#[tokio::test]
async fn shutdown_drains_first_then_finishes_in_flight_requests_and_flushes_the_audit() {
    let mut fx = start_edited(setup(false), |p| {
        format!("{p}\n[server]\ndrain_delay = \"1s\"\nshutdown_grace = \"10s\"\n")
    })
    .await;
    let held = slow_obo(&fx, Duration::from_millis(1_800)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = fx.t.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Draining: not ready, still serving.
    let res = fx.t.get("/readyz").await;
    assert_eq!(res.status().as_u16(), 503);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report, json!({"status": "draining"}));
    assert_eq!(cc(&fx, &fx.t, "triage-host").await.0, 200);
    // The request in flight when the listener closes still completes ...
    let (status, body) = held.await.unwrap();
    assert_eq!(status, 200, "{body}");
    tokio::time::timeout(Duration::from_secs(15), stopped)
        .await
        .expect("the server stops within drain + grace")
        .expect("the server task ends cleanly");
    // ... the listener is closed ...
    assert!(fx.t.client.get(fx.t.url("/healthz")).send().await.is_err());
    // ... and its record was committed before the pools closed.
    let replica = spawn_app_with(Options::default().policy(&fx.policy).replica_of(&fx.t)).await;
    let jti = crate::fake_idp::claims_of(body["access_token"].as_str().unwrap())["jti"].clone();
    let records = crate::audit::all(&replica.app.store.db).await;
    assert!(
        records
            .iter()
            .any(|s| s.json["jti"] == jti && s.json["reason"] == "granted"),
        "the allow of the in-flight request is in the trail"
    );
}

#[tokio::test]
async fn a_reload_applies_new_limits_and_a_refused_one_keeps_the_running_configuration() {
    let fx = start_edited(setup(false), |p| p).await;
    for _ in 0..3 {
        assert_eq!(cc(&fx, &fx.t, "support-bot").await.0, 200);
    }
    let parse = |text: &str| {
        let mut c = agent_sts::config::Config::parse(text, "reload.toml").expect("parses");
        c.storage = fx.t.app.config.storage.clone();
        c.keys = fx.t.app.config.keys.clone();
        c
    };
    let limited = parse(&format!(
        "issuer = \"{}\"\n[storage]\ndatabase_url = \"sqlite://unused\"\n{}",
        fx.t.base,
        slow_support_bot(fx.policy.clone())
    ));
    fx.t.reloads.send(Ok(limited.clone())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let statuses = [
        cc(&fx, &fx.t, "support-bot").await.0,
        cc(&fx, &fx.t, "support-bot").await.0,
        cc(&fx, &fx.t, "support-bot").await.0,
    ];
    assert_eq!(statuses, [200, 200, 429], "the new limit applies");

    // A file that does not parse, and one that changes a restart-only
    // setting: both refused, the limited policy keeps serving.
    fx.t.reloads
        .send(Err("reload.toml:3: bogus: unknown field".into()))
        .await
        .unwrap();
    let mut moved = limited.clone();
    moved.server.max_in_flight = 7;
    moved.agents.retain(|a| a.id != "support-bot");
    fx.t.reloads.send(Ok(moved)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cc(&fx, &fx.t, "support-bot").await.0, 429);
}

/// One HTTP/1.1 exchange on an open connection: the status of the answer,
/// its body read by Content-Length (the connection stays usable).
async fn exchange_on(stream: &mut tokio::net::TcpStream, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("read");
        assert_eq!(n, 1, "the connection closed mid-answer");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = text[9..12].parse().expect("status");
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("length"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.expect("body");
    status
}

/// hyper's own cap is on its read buffer, which a large body grows; the
/// cap must hold on the fourth request of a kept-alive connection too.
#[tokio::test]
async fn the_head_cap_holds_on_every_request_of_a_kept_alive_connection() {
    let fx = start_edited(setup(false), |p| p).await;
    let addr = fx.t.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let body = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(60 * 1024)
    );
    let big = format!(
        "POST /token HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(exchange_on(&mut stream, big.as_bytes()).await, 401);
    let small = format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    for _ in 0..2 {
        assert_eq!(exchange_on(&mut stream, small.as_bytes()).await, 200);
    }
    let padded = format!(
        "GET /healthz HTTP/1.1\r\nhost: {addr}\r\nx-padding: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    assert_eq!(exchange_on(&mut stream, padded.as_bytes()).await, 431);
}
