//! Break-glass: an operator opens a window, the agent gets workload tokens
//! its policy refuses, each carrying the window; closing it revokes them on
//! every replica; expiry ends it without a close; the refusals.

use std::time::{Duration, Instant};

use agent_sts::clock::Clock;
use serde_json::{Value, json};

use crate::audit::Trail;
use crate::fake_idp::claims_of;
use crate::helpers::{Options, TestApp, json_body, random_hex, sha256_hex, spawn_app_with};

const MCP: &str = "https://mcp.example.com";
const OTHER: &str = "https://mcp-other.example.com";

struct Fx {
    t: TestApp,
    secret: String,
}

fn policy(hash: &str) -> String {
    let basic = |id: &str| {
        format!("{{ id = \"{id}\", auth = \"client_secret_basic\", secret_sha256 = \"{hash}\" }}")
    };
    format!(
        r#"[[upstreams]]
name = "okta"
kind = "okta"
issuer = "https://example.okta.com/oauth2/default"
audiences = ["api://default"]
jwks_uri = "http://127.0.0.1:9/keys"
[[resources]]
uri = "{MCP}"
scopes = ["tickets:read"]
[[resources]]
uri = "{OTHER}"
scopes = ["tickets:read"]
[[agents]]
id = "desk"
patterns = ["obo"]
client = {desk}
resources = ["{MCP}", "{OTHER}"]
required_scopes = ["tickets:read"]
[[agents]]
id = "sealed"
patterns = ["obo"]
break_glass = false
client = {sealed}
resources = ["{MCP}"]
required_scopes = ["tickets:read"]
[[introspectors]]
client = {gw}
resources = ["{MCP}", "{OTHER}"]
[scope_groups]
"tickets:read" = ["okta:Support"]
[break_glass]
max_window = "12h"
[admin]
credential_sha256 = "{hash}"
"#,
        desk = basic("desk"),
        sealed = basic("sealed"),
        gw = basic("gw"),
    )
}

async fn start() -> Fx {
    let secret = random_hex(32);
    let t =
        spawn_app_with(Options::default().policy(&policy(&sha256_hex(secret.as_bytes())))).await;
    Fx { t, secret }
}

impl Fx {
    async fn admin(&self, t: &TestApp, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = match body {
            Some(b) => t.client.post(t.url(path)).json(&b),
            None => t.client.get(t.url(path)),
        };
        let res = req
            .bearer_auth(&self.secret)
            .send()
            .await
            .expect("request must reach the test server");
        (res.status().as_u16(), json_body(res).await)
    }

    async fn cc(&self, t: &TestApp, agent: &str, resource: &str) -> (u16, Value) {
        let res = t
            .client
            .post(t.url("/token"))
            .basic_auth(agent, Some(&self.secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource)])
            .send()
            .await
            .expect("request must reach the test server");
        (res.status().as_u16(), json_body(res).await)
    }

    async fn active(&self, t: &TestApp, token: &str) -> bool {
        let res = t
            .client
            .post(t.url("/introspect"))
            .basic_auth("gw", Some(&self.secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("request must reach the test server");
        json_body(res).await["active"] == true
    }

    async fn open(&self, body: Value) -> (u16, Value) {
        self.admin(&self.t, "/admin/break-glass", Some(body)).await
    }
}

#[tokio::test]
async fn a_window_lets_the_agent_in_marks_its_tokens_and_closing_revokes_them_everywhere() {
    let fx = start().await;
    let b = spawn_app_with(
        Options::default()
            .policy(&policy(&sha256_hex(fx.secret.as_bytes())))
            .replica_of(&fx.t)
            .clock(fx.t.clock.clone()),
    )
    .await;
    let (status, body) = fx.cc(&fx.t, "desk", MCP).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "no window, no workload token: {body}"
    );

    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, w) = fx
        .open(json!({"agent": "desk", "resources": [MCP], "for": "4h", "reason": "IdP outage INC-42"}))
        .await;
    assert_eq!(status, 201, "{w}");
    let id = w["id"].as_str().unwrap().to_string();
    assert_eq!(w["expires_at"].as_i64(), Some(fx.t.clock.now() + 4 * 3_600));
    let opened = trail.one().await.json;
    assert_eq!(
        (opened["event"].as_str(), opened["reason"].as_str()),
        (Some("admin"), Some("break_glass_opened"))
    );

    let (status, listed) = fx.admin(&fx.t, "/admin/break-glass", None).await;
    assert_eq!(
        (status, listed["windows"][0]["id"].as_str()),
        (200, Some(id.as_str()))
    );

    // Issued on replica B too (the window is in the shared database).
    let mut tokens = Vec::new();
    for node in [&fx.t, &b] {
        let (status, body) = fx.cc(node, "desk", MCP).await;
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_string();
        let c = claims_of(&token);
        assert_eq!(c["urn:agent"]["pattern"], "workload");
        assert_eq!(
            c["urn:agent"]["break_glass"],
            json!({"id": id, "reason": "IdP outage INC-42"})
        );
        tokens.push(token);
    }
    let records = trail.wait(3).await;
    let granted: Vec<&Value> = records
        .iter()
        .map(|r| &r.json)
        .filter(|r| r["event"] == "token")
        .collect();
    assert_eq!(granted.len(), 2, "one per token: {records:#?}");
    for g in granted {
        assert_eq!(
            (g["decision"].as_str(), g["reason"].as_str()),
            (Some("allow"), Some("break_glass"))
        );
        assert_eq!(
            g["detail"],
            format!("under break-glass window {id}: IdP outage INC-42")
        );
    }
    // explain agrees with /token: the window lets the workload pattern through.
    let (status, e) = fx
        .admin(
            &fx.t,
            "/admin/explain",
            Some(json!({"agent": "desk", "resource": MCP})),
        )
        .await;
    assert_eq!(
        (status, e["decision"].as_str()),
        (200, Some("allow")),
        "{e}"
    );
    assert_eq!(
        e["verification"],
        format!(
            "no subject: the workload pattern, let through by break-glass window {id} (IdP outage INC-42)"
        )
    );
    let (status, body) = fx.cc(&fx.t, "desk", OTHER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "not a resource of the window"
    );
    let metrics = fx.t.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("agent_sts_break_glass_windows_open"),
        "the gauge is exported"
    );

    let (status, closed) = fx
        .admin(
            &fx.t,
            &format!("/admin/break-glass/{id}/close"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, closed["revoked_tokens"].as_u64()),
        (200, Some(2)),
        "{closed}"
    );
    for token in &tokens {
        let started = Instant::now();
        while fx.active(&b, token).await {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still active on replica B"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!fx.active(&fx.t, token).await);
    }
    let (status, body) = fx.cc(&b, "desk", MCP).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "closed"
    );
    let (status, body) = fx
        .admin(
            &fx.t,
            &format!("/admin/break-glass/{id}/close"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            400,
            Some(format!("no open break-glass window {id}").as_str())
        )
    );
}

#[tokio::test]
async fn a_window_ends_by_itself_and_its_tokens_never_outlive_it() {
    let fx = start().await;
    let (status, w) = fx
        .open(json!({"agent": "desk", "for": "5m", "reason": "rollback of the OBO path"}))
        .await;
    assert_eq!(status, 201, "{w}");
    fx.t.clock.advance(120);
    let (status, body) = fx.cc(&fx.t, "desk", OTHER).await;
    assert_eq!(
        status, 200,
        "no resources named: all of the agent's: {body}"
    );
    let c = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(
        c["exp"].as_i64(),
        w["expires_at"].as_i64(),
        "capped at the window's end"
    );
    fx.t.clock.advance(181);
    let (status, body) = fx.cc(&fx.t, "desk", MCP).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "expired"
    );
    let (_, listed) = fx.admin(&fx.t, "/admin/break-glass", None).await;
    assert_eq!(listed["windows"], json!([]));
}

#[tokio::test]
async fn opening_is_refused_past_the_bound_without_a_reason_or_for_an_opted_out_agent() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let cases = [
        (
            json!({"agent": "desk", "for": "25h", "reason": "x"}),
            "invalid_request",
            "bad_request",
            "a window lasts from 1s to 12h (break_glass.max_window); 25h was asked",
        ),
        (
            json!({"agent": "desk", "for": "13h", "reason": "x"}),
            "invalid_request",
            "bad_request",
            "a window lasts from 1s to 12h (break_glass.max_window); 13h was asked",
        ),
        (
            json!({"agent": "desk", "for": "1h", "reason": "  "}),
            "invalid_request",
            "bad_request",
            "a reason is required: it is recorded and carried in every token",
        ),
        (
            json!({"agent": "sealed", "for": "1h", "reason": "x"}),
            "invalid_request",
            "break_glass_not_allowed",
            "agent sealed is configured with break_glass = false",
        ),
        (
            json!({"agent": "desk", "resources": ["https://elsewhere.example"], "for": "1h", "reason": "x"}),
            "invalid_target",
            "target_not_allowed",
            "https://elsewhere.example is not a resource of agent desk",
        ),
        (
            json!({"agent": "nobody", "for": "1h", "reason": "x"}),
            "invalid_request",
            "bad_request",
            "no agent nobody",
        ),
    ];
    for (body, error, reason, description) in cases {
        let (status, answer) = fx.open(body.clone()).await;
        assert_eq!(
            (
                status,
                answer["error"].as_str(),
                answer["error_description"].as_str()
            ),
            (400, Some(error), Some(description)),
            "{body}"
        );
        let r = trail.one().await.json;
        assert_eq!(
            (r["decision"].as_str(), r["reason"].as_str()),
            (Some("deny"), Some(reason)),
            "{body}"
        );
    }
}
