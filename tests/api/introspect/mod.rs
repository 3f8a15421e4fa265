//! `POST /introspect` (RFC 7662, RFC 9701), `POST /revoke` (RFC 7009) and
//! `/admin/revocations` end to end, over HTTP, against agent-sts with a fake
//! Okta. Every answer is asserted whole: status, exact JSON body and
//! `Cache-Control: no-store`.
//!
//! | client | role | notes |
//! |---|---|---|
//! | support-bot | agent (obo, workload) | zendesk + slack |
//! | triage-host | agent `triage-bot` (obo, workload) | client id ≠ agent id; zendesk |
//! | gw-zendesk | introspector | zendesk |
//! | gw-slack | introspector | slack |
//!
//! The fixture leaves Redis out: every published revocation reaches every
//! Redis-configured app of the test binary, whatever its database (see
//! `replicas::unrelated_deployments_sharing_redis_stay_apart`), so apps of
//! parallel tests would revoke each other's tokens. Only the replica test
//! uses Redis.

mod admin;
mod answers;
mod callers;
mod replicas;
mod resources;
mod revoke;

use agent_sts::clock::Clock;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::fake_idp::{FakeOkta, claims_of};
use crate::helpers::{Options, TestApp, header, json_body, random_hex, sha256_hex, spawn_app_with};
use crate::upstream::okta_block;

pub const ZENDESK: &str = "https://mcp-zendesk.example.com";
pub const SLACK: &str = "https://mcp-slack.example.com";
pub const READ: &str = "zendesk:tickets:read";
pub const SLACK_READ: &str = "slack:channels:read";
pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
pub const GROUPS: &[&str] = &["Everyone", "Support-Agents"];
pub const JWT_MEDIA: &str = "application/token-introspection+jwt";
pub const INACTIVE: &str = r#"{"active":false}"#;

pub struct Fx {
    pub t: TestApp,
    /// The `okta` upstream.
    pub okta: FakeOkta,
    /// The `okta2` upstream: same logins, so the same `sub`, another `idp`.
    pub okta2: FakeOkta,
    /// The secret of every client (agents and introspectors).
    pub secret: String,
    /// The admin bearer credential.
    pub admin: String,
    /// The TOML the app serves (a replica serves the same).
    pub policy: String,
}

/// How to start the fixture.
#[derive(Clone, Copy)]
pub struct Setup {
    pub admin: bool,
    pub redis: bool,
}

pub async fn start() -> Fx {
    start_with(Setup {
        admin: true,
        redis: false,
    })
    .await
}

pub async fn start_with(setup: Setup) -> Fx {
    start_edited(setup, |p| p).await
}

/// Like [`start_with`], serving `edit` of the policy text.
pub async fn start_edited(setup: Setup, edit: impl FnOnce(String) -> String) -> Fx {
    let okta = FakeOkta::start().await;
    let okta2 = FakeOkta::start().await;
    let secret = random_hex(32);
    let admin = random_hex(32);
    let policy = edit(policy(
        &okta,
        &okta2,
        &secret,
        setup.admin.then_some(&admin),
    ));
    let mut options = Options::default().policy(&policy);
    if !setup.redis {
        options = options.without_redis();
    }
    let t = spawn_app_with(options).await;
    Fx {
        t,
        okta,
        okta2,
        secret,
        admin,
        policy,
    }
}

fn policy(okta: &FakeOkta, okta2: &FakeOkta, secret: &str, admin: Option<&String>) -> String {
    let hash = sha256_hex(secret.as_bytes());
    let basic = |id: &str| {
        format!("{{ id = \"{id}\", auth = \"client_secret_basic\", secret_sha256 = \"{hash}\" }}")
    };
    let admin = admin
        .map(|a| {
            format!(
                "[admin]\ncredential_sha256 = \"{}\"\n",
                sha256_hex(a.as_bytes())
            )
        })
        .unwrap_or_default();
    let okta2 = okta_block(okta2, "").replacen("name = \"okta\"", "name = \"okta2\"", 1);
    format!(
        r#"{okta}{okta2}
[[resources]]
uri = "{ZENDESK}"
scopes = ["{READ}"]
[[resources]]
uri = "{SLACK}"
scopes = ["{SLACK_READ}"]

[[agents]]
id = "support-bot"
patterns = ["obo", "workload"]
client = {support}
resources = ["{ZENDESK}", "{SLACK}"]
required_scopes = ["{READ}"]
optional_scopes = ["{SLACK_READ}"]

[[agents]]
id = "triage-bot"
patterns = ["obo", "workload"]
client = {triage}
resources = ["{ZENDESK}"]
required_scopes = ["{READ}"]

[[introspectors]]
client = {gw_zendesk}
resources = ["{ZENDESK}"]

[[introspectors]]
client = {gw_slack}
resources = ["{SLACK}"]

[scope_groups]
"{READ}" = ["okta:Support-Agents", "okta2:Support-Agents"]
"{SLACK_READ}" = ["okta:Support-Agents"]

{admin}"#,
        okta = okta_block(okta, ""),
        support = basic("support-bot"),
        triage = basic("triage-host"),
        gw_zendesk = basic("gw-zendesk"),
        gw_slack = basic("gw-slack"),
    )
}

/// An answer: status, `Cache-Control`, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    async fn of(res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        assert_eq!(header(&res, "cache-control"), "no-store", "{}", res.url());
        let body = res.text().await.expect("a body");
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        let ct = self.header("content-type");
        assert_eq!(ct, "application/json", "content-type; body {}", self.body);
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().expect("ASCII header"))
    }

    /// Exactly `status` and `{"error", "error_description"}`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, error: &str, description: &str) {
        assert_eq!(self.status, status, "status; body {}", self.body);
        assert_eq!(
            self.json(),
            json!({"error": error, "error_description": description})
        );
    }
}

impl Fx {
    pub fn now(&self) -> i64 {
        self.t.clock.now()
    }

    /// Move the clock, then reload the revocation view at the new time (as
    /// the next poll would) so that it is not stale.
    pub async fn advance(&self, secs: i64) {
        self.t.clock.advance(secs);
        self.t.app.revocations.reload().await.expect("reload");
    }

    /// An Okta (`okta` upstream) access token for `login`.
    pub fn user(&self, login: &str) -> String {
        self.okta.access_token(login).groups(GROUPS).mint()
    }

    /// `POST /token` on `node` as `client`; the token it mints.
    pub async fn mint_on(&self, node: &TestApp, client: &str, form: &[(&str, &str)]) -> String {
        let res = node
            .client
            .post(node.url("/token"))
            .basic_auth(client, Some(&self.secret))
            .form(form)
            .send()
            .await
            .expect("request must reach the test server");
        let status = res.status().as_u16();
        let body = json_body(res).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().expect("access_token").into()
    }

    /// OBO on `node`: `client` exchanges `subject` (an upstream token).
    pub async fn obo_on(&self, node: &TestApp, client: &str, subject: &str, to: &str) -> String {
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", to),
        ];
        self.mint_on(node, client, &form).await
    }

    /// OBO for `login` (an `okta` user) on the fixture's app.
    pub async fn obo(&self, client: &str, login: &str, to: &str) -> String {
        self.obo_on(&self.t, client, &self.user(login), to).await
    }

    /// `client_credentials` (workload pattern) on `node`.
    pub async fn cc_on(&self, node: &TestApp, client: &str, to: &str) -> String {
        let form = [("grant_type", "client_credentials"), ("resource", to)];
        self.mint_on(node, client, &form).await
    }

    pub async fn cc(&self, client: &str, to: &str) -> String {
        self.cc_on(&self.t, client, to).await
    }

    /// `POST /introspect` on `node` as `caller` (Basic, the fixture's
    /// secret) with `form`, and `Accept` when given.
    pub async fn introspect_raw(
        &self,
        node: &TestApp,
        caller: Option<&str>,
        form: &(impl serde::Serialize + ?Sized),
        accept: Option<&str>,
    ) -> Answer {
        let mut req = node.client.post(node.url("/introspect")).form(form);
        if let Some(c) = caller {
            req = req.basic_auth(c, Some(&self.secret));
        }
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        Answer::of(
            req.send()
                .await
                .expect("request must reach the test server"),
        )
        .await
    }

    /// The JSON answer of `caller` introspecting `token` on `node` (200).
    pub async fn answer_on(&self, node: &TestApp, caller: &str, token: &str) -> Value {
        let a = self
            .introspect_raw(node, Some(caller), &[("token", token)], None)
            .await;
        assert_eq!(a.status, 200, "status; body {}", a.body);
        a.json()
    }

    pub async fn answer(&self, caller: &str, token: &str) -> Value {
        self.answer_on(&self.t, caller, token).await
    }

    /// Exactly `{"active": false}`, byte for byte.
    pub async fn assert_inactive_on(&self, node: &TestApp, caller: &str, token: &str) {
        let a = self
            .introspect_raw(node, Some(caller), &[("token", token)], None)
            .await;
        assert_eq!((a.status, a.body.as_str()), (200, INACTIVE), "{token:.60}");
        assert_eq!(a.header("content-type"), "application/json");
    }

    pub async fn assert_inactive(&self, caller: &str, token: &str) {
        self.assert_inactive_on(&self.t, caller, token).await;
    }

    /// Active, and the answer is the token's claims plus `active` and
    /// `token_type` (nothing more, nothing less).
    pub async fn assert_active_on(&self, node: &TestApp, caller: &str, token: &str) {
        assert_eq!(
            self.answer_on(node, caller, token).await,
            active_answer(token)
        );
    }

    pub async fn assert_active(&self, caller: &str, token: &str) {
        self.assert_active_on(&self.t, caller, token).await;
    }

    /// `POST /revoke` on the fixture's app as `client` (if any).
    pub async fn revoke(
        &self,
        client: Option<&str>,
        form: &(impl serde::Serialize + ?Sized),
    ) -> Answer {
        let mut req = self.t.client.post(self.t.url("/revoke")).form(form);
        if let Some(c) = client {
            req = req.basic_auth(c, Some(&self.secret));
        }
        Answer::of(
            req.send()
                .await
                .expect("request must reach the test server"),
        )
        .await
    }

    /// `/admin/revocations` on `node`: POST `body` or, without one, GET.
    pub async fn admin_on(
        &self,
        node: &TestApp,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let url = node.url("/admin/revocations");
        let mut req = match &body {
            Some(b) => node.client.post(url).json(b),
            None => node.client.get(url),
        };
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        Answer::of(
            req.send()
                .await
                .expect("request must reach the test server"),
        )
        .await
    }

    /// An admin revocation on `node` that succeeds (201); the stored row.
    pub async fn admin_revoke_on(&self, node: &TestApp, body: Value) -> Value {
        let a = self.admin_on(node, Some(&self.admin), Some(body)).await;
        assert_eq!(a.status, 201, "status; body {}", a.body);
        a.json()
    }

    pub async fn admin_revoke(&self, body: Value) -> Value {
        self.admin_revoke_on(&self.t, body).await
    }
}

/// What an active answer for `token` is: its claims, `active`, `token_type`.
pub fn active_answer(token: &str) -> Value {
    let mut v = claims_of(token);
    v["active"] = json!(true);
    v["token_type"] = json!("Bearer");
    v
}

pub fn jti_of(token: &str) -> String {
    claims_of(token)["jti"].as_str().expect("jti").into()
}
