//! Both legs across two agent-sts instances: A issues an ID-JAG for the
//! user's Okta token (leg 1, for an IdP that has none), B, which trusts A
//! as an ID-JAG issuer, takes it for an access token (leg 2).

use serde_json::json;

use super::*;
use crate::audit::Trail;
use crate::fake_idp::{claims_of, header_of};

const TE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

struct Two {
    okta: FakeOkta,
    a: TestApp,
    b: TestApp,
    secret: String,
}

async fn start_two() -> Two {
    let okta = FakeOkta::start().await;
    let secret = random_hex(32);
    let hash = sha256_hex(secret.as_bytes());
    let b_policy = |extra: &str| {
        let holders = match extra {
            "" => "\"okta:*\"",
            _ => "\"okta:*\", \"sts-a:Support-Agents\"",
        };
        format!(
            "{}{extra}{}\n[scope_groups]\n\"{READ}\" = [{holders}]\n\"{SLACK_READ}\" = [\"okta:*\"]\n",
            okta_block(&okta, "issues_id_jag = true"),
            clients(&hash)
        )
    };
    let b = spawn_app_with(Options::default().policy(&b_policy("")).without_redis()).await;
    let a_policy = format!(
        r#"{okta}
[[resources]]
uri = "https://mcp-local.example.com"
scopes = ["local:read"]
[[agents]]
id = "mcp-host"
patterns = ["obo"]
client = {{ id = "mcp-host", auth = "client_secret_basic", secret_sha256 = "{hash}" }}
resources = ["https://mcp-local.example.com"]
required_scopes = ["local:read"]
[scope_groups]
"local:read" = ["okta:*"]
[id_jag]
lifetime = "2m"
[[id_jag.audiences]]
issuer = "{b}"
resources = ["{ZENDESK}"]
scopes = ["{READ}", "{SLACK_READ}"]
agents = ["mcp-host"]
"#,
        okta = okta_block(&okta, ""),
        b = b.base,
    );
    let a = spawn_app_with(Options::default().policy(&a_policy).without_redis()).await;
    // B learns to trust A as an ID-JAG issuer (a reload, as SIGHUP does).
    let trust_a = format!(
        "[[upstreams]]\nname = \"sts-a\"\nkind = \"oidc\"\nissuer = \"{a}\"\naudiences = []\n\
         jwks_uri = \"{a}/.well-known/jwks.json\"\nalgorithms = [\"ES256\"]\nissues_id_jag = true\n",
        a = a.base
    );
    let mut config = agent_sts::config::Config::parse(
        &format!(
            "issuer = \"{}\"\n[storage]\ndatabase_url = \"sqlite://unused\"\n{}",
            b.base,
            b_policy(&trust_a)
        ),
        "b.toml",
    )
    .expect("parses");
    config.storage = b.app.config.storage.clone();
    config.keys = b.app.config.keys.clone();
    b.reloads.send(Ok(config)).await.expect("reload");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Two { okta, a, b, secret }
}

impl Two {
    /// Leg 1 at A for alice (in Support-Agents), with `extra` parameters.
    async fn leg1(&self, extra: &[(&str, &str)]) -> (u16, Value) {
        let user = self
            .okta
            .access_token(ALICE)
            .groups(&["Everyone", "Support-Agents"])
            .mint();
        let mut form = vec![
            ("grant_type", TE),
            ("subject_token", user.as_str()),
            ("subject_token_type", AT),
            ("requested_token_type", ID_JAG),
        ];
        form.extend_from_slice(extra);
        post_token(&self.a, "mcp-host", &self.secret, &form).await
    }
}

#[tokio::test]
async fn an_id_jag_from_one_agent_sts_buys_a_token_at_another() {
    let two = start_two().await;
    let meta = json_body(two.a.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(meta["issued_token_types_supported"], json!([AT, ID_JAG]));

    let mut trail = Trail::start(&two.a.app.store.db).await;
    let (status, body) = two
        .leg1(&[
            ("audience", &two.b.base),
            ("resource", ZENDESK),
            ("scope", READ),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            &body["issued_token_type"],
            &body["token_type"],
            &body["scope"]
        ),
        (&json!(ID_JAG), &json!("N_A"), &json!(READ))
    );
    assert_eq!(body["expires_in"], 120, "[id_jag] lifetime");
    let jag = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(header_of(&jag)["typ"], "oauth-id-jag+jwt");
    let claims = claims_of(&jag);
    assert_eq!(
        (&claims["iss"], &claims["aud"], &claims["sub"]),
        (
            &json!(two.a.base),
            &json!(two.b.base),
            &json!(FakeOkta::uid_for(ALICE))
        )
    );
    assert_eq!(
        (&claims["client_id"], &claims["resource"], &claims["scope"]),
        (&json!("mcp-host"), &json!(ZENDESK), &json!(READ))
    );
    assert_eq!(claims["groups"], json!(["Everyone", "Support-Agents"]));
    assert_eq!(claims["idp"], two.okta.issuer());
    let record = trail.one().await.json;
    assert_eq!(
        (&record["decision"], &record["pattern"], &record["jti"]),
        (&json!("allow"), &json!("id_jag_issue"), &claims["jti"])
    );
    assert_eq!(record["audience"], two.b.base);

    // An ID-JAG is no access token: B's gateway finds it inactive. Its
    // record is committed after the answer: wait for it, so that the
    // trail below starts after it.
    let mut trail_b = Trail::start(&two.b.app.store.db).await;
    let seen = introspect(&two.b, &two.secret, &jag).await;
    assert_eq!(seen["active"], json!(false), "{seen}");
    trail_b.wait(1).await;
    let (status, body) = post_token(
        &two.b,
        "mcp-host",
        &two.secret,
        &[("grant_type", JWT_BEARER), ("assertion", &jag)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let at = claims_of(token);
    assert_eq!(
        (&at["iss"], &at["idp"], &at["urn:agent"]["pattern"]),
        (&json!(two.b.base), &json!(two.a.base), &json!("id_jag"))
    );
    assert_eq!(at["scope"], READ, "held through sts-a:Support-Agents");
    let record = trail_b.one().await.json;
    assert_eq!(
        record["detail"],
        format!(
            "ID-JAG {} from {}",
            claims["jti"].as_str().unwrap(),
            two.a.base
        )
    );
    assert_eq!(introspect(&two.b, &two.secret, token).await["active"], true);
}

#[tokio::test]
async fn leg_one_asserts_only_what_the_policy_lists() {
    let two = start_two().await;
    let b = two.b.base.clone();
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "an audience with no entry",
            vec![
                ("audience", "https://as.elsewhere.example"),
                ("resource", ZENDESK),
            ],
            "invalid_target",
            "id_jag_audience_not_allowed",
        ),
        (
            "a resource the entry lacks",
            vec![("audience", &b), ("resource", SLACK)],
            "invalid_target",
            "id_jag_resource_not_allowed",
        ),
        (
            "a scope the entry lacks",
            vec![
                ("audience", &b),
                ("resource", ZENDESK),
                ("scope", "zendesk:tickets:write"),
            ],
            "invalid_scope",
            "id_jag_scope_not_allowed",
        ),
        (
            "no resource",
            vec![("audience", &b)],
            "invalid_request",
            "bad_request",
        ),
    ];
    let mut trail = Trail::start(&two.a.app.store.db).await;
    for (name, extra, error, reason) in cases {
        let (status, body) = two.leg1(&extra).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{name}: {body}"
        );
        let r = trail.one().await.json;
        assert_eq!(
            (r["decision"].as_str(), r["reason"].as_str()),
            (Some("deny"), Some(reason)),
            "{name}"
        );
    }
}
