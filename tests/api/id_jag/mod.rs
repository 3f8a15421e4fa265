//! Enterprise-managed authorization (SEP-990). `leg2.rs`: agent-sts as the
//! MCP server's authorization server, taking ID-JAGs from a fake Okta with
//! the jwt-bearer grant, each refusal with its reason and audit record.
//! `two_servers.rs`: one agent-sts issues the ID-JAG (leg 1), a second
//! takes it (leg 2).
//!
//! | client | role |
//! |---|---|
//! | mcp-host | `id_jag` agent (basic auth), zendesk, scope read (okta:*) |
//! | other-host | `id_jag` agent, zendesk |
//! | gw-zendesk | introspector for zendesk |

mod leg2;
mod two_servers;

use serde_json::Value;

use crate::fake_idp::FakeOkta;
use crate::helpers::{Options, TestApp, json_body, random_hex, sha256_hex, spawn_app_with};
use crate::upstream::okta_block;

pub const ZENDESK: &str = "https://mcp-zendesk.example.com";
pub const SLACK: &str = "https://mcp-slack.example.com";
pub const READ: &str = "zendesk:tickets:read";
pub const SLACK_READ: &str = "slack:channels:read";
pub const ALICE: &str = "alice@example.com";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";

pub struct Fx {
    pub t: TestApp,
    /// Issues ID-JAGs (`issues_id_jag = true`).
    pub okta: FakeOkta,
    /// A configured user upstream that does not issue ID-JAGs.
    pub plain: FakeOkta,
    pub secret: String,
}

pub fn clients(hash: &str) -> String {
    let basic = |id: &str| {
        format!("{{ id = \"{id}\", auth = \"client_secret_basic\", secret_sha256 = \"{hash}\" }}")
    };
    format!(
        r#"
[[resources]]
uri = "{ZENDESK}"
scopes = ["{READ}"]
[[resources]]
uri = "{SLACK}"
scopes = ["{SLACK_READ}"]

[[agents]]
id = "mcp-host"
patterns = ["id_jag"]
client = {host}
resources = ["{ZENDESK}"]
required_scopes = ["{READ}"]

[[agents]]
id = "other-host"
patterns = ["id_jag"]
client = {other}
resources = ["{ZENDESK}"]
required_scopes = ["{READ}"]

[[introspectors]]
client = {gw}
resources = ["{ZENDESK}"]
"#,
        host = basic("mcp-host"),
        other = basic("other-host"),
        gw = basic("gw-zendesk"),
    )
}

pub async fn start() -> Fx {
    let okta = FakeOkta::start().await;
    let plain = FakeOkta::start().await;
    let secret = random_hex(32);
    let policy = format!(
        "{}[[upstreams]]\nname = \"plain\"\nkind = \"okta\"\nissuer = \"{}\"\naudiences = [\"api://default\"]\n{}\n[scope_groups]\n\"{READ}\" = [\"okta:*\", \"plain:*\"]\n\"{SLACK_READ}\" = [\"okta:*\"]\n",
        okta_block(&okta, "issues_id_jag = true"),
        plain.issuer(),
        clients(&sha256_hex(secret.as_bytes())),
    );
    let t = spawn_app_with(Options::default().policy(&policy).without_redis()).await;
    Fx {
        t,
        okta,
        plain,
        secret,
    }
}

/// `POST /token` as `client`, answered as (status, body).
pub async fn post_token(
    t: &TestApp,
    client: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = t
        .client
        .post(t.url("/token"))
        .basic_auth(client, Some(secret))
        .form(form)
        .send()
        .await
        .expect("request must reach the test server");
    (res.status().as_u16(), json_body(res).await)
}

/// Introspect `token` as gw-zendesk.
pub async fn introspect(t: &TestApp, secret: &str, token: &str) -> Value {
    let res = t
        .client
        .post(t.url("/introspect"))
        .basic_auth("gw-zendesk", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("request must reach the test server");
    json_body(res).await
}

impl Fx {
    /// Alice's ID-JAG for mcp-host, addressed to us, for zendesk.
    pub fn jag(&self) -> crate::fake_idp::TokenBuilder {
        self.okta.id_jag(ALICE, &self.t.base, "mcp-host", ZENDESK)
    }

    /// The jwt-bearer grant with `assertion`, as `client`.
    pub async fn redeem_as(&self, client: &str, assertion: &str) -> (u16, Value) {
        post_token(
            &self.t,
            client,
            &self.secret,
            &[("grant_type", JWT_BEARER), ("assertion", assertion)],
        )
        .await
    }

    pub async fn redeem(&self, assertion: &str) -> (u16, Value) {
        self.redeem_as("mcp-host", assertion).await
    }
}
