//! `POST /admin/explain` and `agent-sts explain` agree with `/token`: a
//! table of requests, each sent to both, allow and deny.

use serde_json::{Value, json};

use super::support::*;
use crate::helpers::json_body;

/// One request: the agent (its client id is its id), the subject (none:
/// client credentials), an actor, the resource, the scope.
struct Row {
    name: &'static str,
    agent: &'static str,
    subject: Option<String>,
    actor: Option<String>,
    resource: &'static str,
    scope: Option<&'static str>,
}

impl Row {
    fn req(&self, sts: &Sts) -> Req {
        let auth = if self.agent == "batch-bot" {
            sts.post(self.agent)
        } else {
            sts.basic(self.agent)
        };
        let mut r = match &self.subject {
            Some(s) => Req::exchange(auth, s),
            None => Req::client_credentials(auth),
        }
        .set("resource", self.resource);
        if let Some(a) = &self.actor {
            r = r.with("actor_token", a).with("actor_token_type", JWT);
        }
        if let Some(s) = self.scope {
            r = r.with("scope", s);
        }
        r
    }

    fn explain_body(&self) -> Value {
        json!({
            "agent": self.agent, "resource": self.resource, "scope": self.scope,
            "subject_token": self.subject, "actor_token": self.actor,
        })
    }
}

async fn explain(sts: &Sts, body: &Value) -> (u16, Value) {
    let res = sts
        .t
        .client
        .post(sts.t.url("/admin/explain"))
        .bearer_auth(&sts.secret)
        .json(body)
        .send()
        .await
        .expect("request must reach the test server");
    (res.status().as_u16(), json_body(res).await)
}

#[tokio::test]
async fn explain_and_token_agree_allow_and_deny() {
    let sts = start().await;
    let alice = sts.user(ALICE, ALICE_GROUPS);
    let row = |name, agent, subject: Option<&String>, resource, scope| Row {
        name,
        agent,
        subject: subject.cloned(),
        actor: None,
        resource,
        scope,
    };
    let mut rows = vec![
        row("obo, alice", "support-bot", Some(&alice), ZENDESK, None),
        row(
            "obo, the lead's write scope",
            "support-bot",
            Some(&sts.user(LEAD, LEAD_GROUPS)),
            ZENDESK,
            Some("zendesk:tickets:read zendesk:tickets:write"),
        ),
        row(
            "obo, bob lacks the group",
            "support-bot",
            Some(&sts.user(BOB, &["Everyone"])),
            ZENDESK,
            None,
        ),
        row(
            "obo, alice asks write",
            "support-bot",
            Some(&alice),
            ZENDESK,
            Some(WRITE),
        ),
        row(
            "obo, a resource the agent lacks",
            "support-bot",
            Some(&alice),
            JIRA,
            None,
        ),
        row(
            "obo, a scope not declared",
            "support-bot",
            Some(&alice),
            ZENDESK,
            Some(JIRA_READ),
        ),
        row(
            "pilot-bot, alice not a pilot",
            "pilot-bot",
            Some(&alice),
            ZENDESK,
            None,
        ),
        row(
            "shadow-bot (report-only), bob",
            "shadow-bot",
            Some(&sts.user(BOB, &["Everyone"])),
            TICKETS,
            None,
        ),
        row(
            "workload, client credentials",
            "batch-bot",
            None,
            ZENDESK,
            None,
        ),
        row(
            "workload for a user-only agent",
            "triage-bot",
            None,
            ZENDESK,
            None,
        ),
        row(
            "an expired user token",
            "support-bot",
            Some(
                &sts.okta
                    .access_token(ALICE)
                    .groups(ALICE_GROUPS)
                    .bad(crate::fake_idp::Bad::Expired)
                    .mint(),
            ),
            ZENDESK,
            None,
        ),
    ];
    rows.push(Row {
        actor: Some(sts.workload(PRINCIPAL)),
        ..row(
            "hybrid, the agent's workload as actor",
            "support-bot",
            Some(&alice),
            ZENDESK,
            None,
        )
    });
    for r in &rows {
        let (status, e) = explain(&sts, &r.explain_body()).await;
        let res = sts.send(&r.req(&sts)).await;
        let token_status = res.status().as_u16();
        let body = json_body(res).await;
        let name = r.name;
        if token_status == 200 {
            assert_eq!(status, 200, "{name}: {e}");
            assert!(
                ["allow", "would_deny"].contains(&e["decision"].as_str().unwrap()),
                "{name}: {e}"
            );
            let claims = crate::fake_idp::claims_of(body["access_token"].as_str().unwrap());
            let granted: Vec<&str> = e["granted"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert_eq!(granted.join(" "), body["scope"].as_str().unwrap(), "{name}");
            assert_eq!(e["pattern"], claims["urn:agent"]["pattern"], "{name}");
            assert_eq!(e["sub"], claims["sub"], "{name}");
            assert_eq!(
                e.get("act").unwrap_or(&Value::Null),
                claims.get("act").unwrap_or(&Value::Null),
                "{name}"
            );
            assert_eq!(e["aud"], claims["aud"], "{name}");
            let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
            assert_eq!(e["ttl"].as_i64(), Some(lifetime), "{name}");
            assert_eq!(
                e["decision"] == "would_deny",
                claims["urn:agent"].get("report_only").is_some(),
                "{name}"
            );
        } else if status == 200 {
            assert_eq!(e["decision"], "deny", "{name}: {e}");
            assert_eq!(e["error"], body["error"], "{name}");
            assert_eq!(e["description"], body["error_description"], "{name}");
        } else {
            // A subject /token cannot verify: explain refuses it the same way.
            assert_eq!(
                (status, &e["error"], &e["error_description"]),
                (token_status, &body["error"], &body["error_description"]),
                "{name}"
            );
        }
    }
    let decisions: Vec<String> = {
        let mut v = Vec::new();
        for r in &rows {
            v.push(
                explain(&sts, &r.explain_body()).await.1["decision"]
                    .as_str()
                    .unwrap_or("refused")
                    .to_string(),
            );
        }
        v
    };
    assert_eq!(
        decisions,
        [
            "allow",
            "allow",
            "deny",
            "deny",
            "deny",
            "deny",
            "deny",
            "would_deny",
            "allow",
            "deny",
            "refused",
            "allow"
        ],
        "the table covers both ways"
    );
}

#[tokio::test]
async fn explain_says_which_rule_decided_each_scope() {
    let sts = start().await;
    let (status, e) = explain(
        &sts,
        &json!({"agent": "support-bot", "resource": ZENDESK, "subject_token": sts.user(ALICE, ALICE_GROUPS)}),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        e["scopes"],
        json!([
            {"scope": READ, "declared": "required", "outcome": "granted", "rule": "[scope_groups] \"okta:Support-Agents\""},
            {"scope": WRITE, "declared": "optional", "outcome": "dropped", "rule": "held by none of the user's groups (holders: entra:".to_string() + &crate::fake_idp::FakeEntra::group_id("support-leads") + ", okta:Support-Leads)"},
        ])
    );
    assert_eq!(e["ttl_capped_by"], "the agent's token_ttl");
    assert_eq!(
        e["verification"],
        "subject_token verified as /token verifies it (signature, keys, claims)"
    );
    assert!(!e.to_string().contains("eyJ"), "no token in the answer");

    // Claims without a signature: said so.
    let now = sts.now();
    let claims = json!({"iss": sts.okta.issuer(), "aud": "api://default", "sub": "carol@example.com",
        "uid": "00ucarol", "cid": "0oa1", "scp": ["openid"], "iat": now - 10, "exp": now + 100, "groups": ["Support-Agents"]});
    let (status, e) = explain(
        &sts,
        &json!({"agent": "support-bot", "resource": ZENDESK, "claims": claims, "upstream": "okta"}),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        e["verification"],
        "claims only: the signature was NOT checked"
    );
    assert_eq!(
        (e["decision"].as_str(), e["ttl"].as_i64()),
        (Some("allow"), Some(100))
    );
    assert_eq!(e["ttl_capped_by"], "the presented token's exp");

    let (status, e) = explain(&sts, &json!({"agent": "nobody", "resource": ZENDESK})).await;
    assert_eq!(
        (status, e["error_description"].as_str()),
        (400, Some("no agent nobody"))
    );
}
