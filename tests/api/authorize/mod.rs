//! agent-sts as the MCP authorization server, driven like a browser: every
//! redirect is followed by hand (no automatic following), against a fake
//! Okta that signs a test user in. `flow.rs` is the way through,
//! `attacks.rs` each refusal with its reason code and audit record.
//!
//! | client | role |
//! |---|---|
//! | desk | public `interactive` client (`auth = "none"`), zendesk |
//! | gw-zendesk | introspector for zendesk |

mod attacks;
mod client_document;
mod flow;
mod refresh;

use reqwest::redirect::Policy;
use serde_json::Value;
use url::Url;

use crate::fake_idp::FakeOkta;
use crate::helpers::{Options, TestApp, json_body, random_hex, sha256_hex, spawn_app_with};
use crate::upstream::okta_block;

pub const ZENDESK: &str = "https://mcp-zendesk.example.com";
pub const SLACK: &str = "https://mcp-slack.example.com";
pub const READ: &str = "zendesk:tickets:read";
pub const SLACK_READ: &str = "slack:channels:read";
pub const ALICE: &str = "alice@example.com";
pub const CB: &str = "http://127.0.0.1/cb";
pub const RP: &str = "0oa-agent-sts-rp";

pub struct Fx {
    pub t: TestApp,
    pub okta: FakeOkta,
    /// Follows nothing: each redirect is looked at, then followed by hand.
    pub browser: reqwest::Client,
    pub secret: String,
    pub verifier: String,
    /// The admin API's bearer credential.
    pub admin: String,
}

pub async fn start() -> Fx {
    start_with("").await
}

/// The fixture with `extra` appended to its policy.
pub async fn start_with(extra: &str) -> Fx {
    let okta = FakeOkta::start().await;
    let rp_secret = random_hex(20);
    let secret = random_hex(32);
    let hash = sha256_hex(secret.as_bytes());
    let admin = random_hex(32);
    let admin_hash = sha256_hex(admin.as_bytes());
    let login = format!(
        "login = {{ client_id = \"{RP}\", client_secret = \"{rp_secret}\", \
         scopes = [\"openid\", \"profile\", \"email\", \"groups\"] }}"
    );
    let policy = format!(
        r#"{okta}
[[resources]]
uri = "{ZENDESK}"
scopes = ["{READ}"]
[[resources]]
uri = "{SLACK}"
scopes = ["{SLACK_READ}"]

[[agents]]
id = "desk"
patterns = ["interactive"]
client = {{ id = "desk", auth = "none", redirect_uris = ["{CB}", "https://app.example.com/cb"] }}
resources = ["{ZENDESK}"]
required_scopes = ["{READ}"]

[[introspectors]]
client = {{ id = "gw-zendesk", auth = "client_secret_basic", secret_sha256 = "{hash}" }}
resources = ["{ZENDESK}"]

[scope_groups]
"{READ}" = ["okta:Support-Agents"]
"{SLACK_READ}" = ["okta:Support-Agents"]

[admin]
credential_sha256 = "{admin_hash}"
{extra}
"#,
        okta = okta_block(&okta, &login),
    );
    let t = spawn_app_with(Options::default().policy(&policy).without_redis()).await;
    okta.register_rp(RP, &rp_secret, &format!("{}/authorize/callback", t.base));
    okta.login_as(ALICE, &["Everyone", "Support-Agents"]);
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    Fx {
        t,
        okta,
        browser,
        secret,
        verifier: random_hex(32),
        admin,
    }
}

/// The query of `url` as pairs.
pub fn query_of(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Fx {
    pub fn challenge(&self) -> String {
        agent_sts::authorization::code_challenge_of(&self.verifier)
    }

    /// The `/authorize` parameters a well-behaved MCP client sends.
    pub fn params(&self) -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", "desk"),
            ("redirect_uri", CB),
            ("state", "client-state-1"),
            ("code_challenge", &self.challenge()),
            ("code_challenge_method", "S256"),
            ("resource", ZENDESK),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// `params` with `name` set to `value` (`None`: removed).
    pub fn with(&self, name: &str, value: Option<&str>) -> Vec<(String, String)> {
        let mut p: Vec<_> = self
            .params()
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect();
        if let Some(v) = value {
            p.push((name.to_string(), v.to_string()));
        }
        p
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.browser
            .get(url)
            .send()
            .await
            .expect("request must reach its server")
    }

    /// `GET /authorize?params`.
    pub async fn authorize(&self, params: &[(String, String)]) -> reqwest::Response {
        let mut url = Url::parse(&self.t.url("/authorize")).expect("url");
        url.query_pairs_mut().extend_pairs(params);
        self.get(url.as_str()).await
    }

    /// Where a 302 sends the browser.
    #[track_caller]
    pub fn location(res: &reqwest::Response) -> Url {
        assert_eq!(res.status().as_u16(), 302, "a redirect");
        let at = res.headers()["location"].to_str().expect("ASCII");
        Url::parse(at).expect("an absolute Location")
    }

    /// `/authorize` → the IdP → our callback: where the client is sent
    /// back to, with its code or its error.
    pub async fn sign_in(&self, params: &[(String, String)]) -> Url {
        let to_idp = Self::location(&self.authorize(params).await);
        assert!(
            to_idp.as_str().starts_with(&self.okta.issuer()),
            "sent to the IdP: {to_idp}"
        );
        let back = Self::location(&self.get(to_idp.as_str()).await);
        assert!(
            back.as_str()
                .starts_with(&self.t.url("/authorize/callback")),
            "back at our callback: {back}"
        );
        Self::location(&self.get(back.as_str()).await)
    }

    /// The code the client got, checking `state` and `iss` came with it.
    pub async fn code(&self) -> String {
        let back = self.sign_in(&self.params()).await;
        let q = query_of(&back);
        assert_eq!(back.as_str().split('?').next(), Some(CB));
        assert_eq!(q.get("state").map(String::as_str), Some("client-state-1"));
        assert_eq!(q.get("iss"), Some(&self.t.base));
        q.get("code").expect("a code").clone()
    }

    /// `POST /token` with the authorization_code grant as `desk`.
    pub async fn redeem(&self, code: &str, verifier: &str, redirect_uri: &str) -> (u16, Value) {
        self.redeem_as("desk", code, verifier, redirect_uri).await
    }

    /// `POST /token` with the authorization_code grant as `client_id`.
    pub async fn redeem_as(
        &self,
        client_id: &str,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> (u16, Value) {
        let res = self
            .t
            .client
            .post(self.t.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", redirect_uri),
                ("resource", ZENDESK),
            ])
            .send()
            .await
            .expect("request must reach the test server");
        (res.status().as_u16(), json_body(res).await)
    }

    /// Alice quits: her subject revoked, a minute after now (the fake IdP
    /// stamps the sign-in's iat with the wall clock, the app runs on a
    /// frozen one: the revocation is clearly after the sign-in).
    pub async fn revoke_alice(&self) {
        crate::helpers::revoke_subject(&self.t, &FakeOkta::uid_for(ALICE)).await;
    }

    /// Is `token` active for gw-zendesk?
    pub async fn active(&self, token: &str) -> bool {
        let res = self
            .t
            .client
            .post(self.t.url("/introspect"))
            .basic_auth("gw-zendesk", Some(&self.secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("request must reach the test server");
        json_body(res).await["active"] == true
    }
}
