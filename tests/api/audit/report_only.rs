//! A report-only agent: a request only the group rules would deny is let
//! through and recorded as `would_deny` with the reason it would have had.

use serde_json::Value;

use super::Trail;
use crate::fake_idp::FakeOkta;
use crate::helpers::{Options, json_body, sha256_hex, spawn_app_with};
use crate::upstream::okta_block;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const ZENDESK: &str = "https://mcp-zendesk.example.com";

#[tokio::test]
async fn report_only_allows_what_group_rules_would_deny_and_records_would_deny() {
    let okta = FakeOkta::start().await;
    let secret = "pilot-secret-0123456789";
    let policy = format!(
        "{}\n[[resources]]\nuri = \"{ZENDESK}\"\nscopes = [\"zendesk:tickets:read\"]\n\
         [[agents]]\nid = \"pilot\"\npatterns = [\"obo\"]\nresources = [\"{ZENDESK}\"]\n\
         required_scopes = [\"zendesk:tickets:read\"]\nenforcement = \"report-only\"\n\
         client = {{ id = \"pilot\", auth = \"client_secret_basic\", secret_sha256 = \"{}\" }}\n\
         [scope_groups]\n\"zendesk:tickets:read\" = [\"okta:Support-Agents\"]\n",
        okta_block(&okta, ""),
        sha256_hex(secret.as_bytes())
    );
    let t = spawn_app_with(Options::default().policy(&policy)).await;
    let mut trail = Trail::start(&t.app.store.db).await;
    // Bob is in no group that may hold the required scope.
    let subject = okta
        .access_token("bob@example.com")
        .groups(&["Everyone"])
        .mint();
    let res = t
        .client
        .post(t.url("/token"))
        .basic_auth("pilot", Some(secret))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", subject.as_str()),
            ("subject_token_type", AT),
            ("resource", ZENDESK),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: Value = json_body(res).await;
    assert_eq!(body["scope"], "zendesk:tickets:read");
    let got = trail.one().await;
    assert_eq!(got.json["decision"], "would_deny");
    assert_eq!(got.json["reason"], "missing_group");
    assert_eq!(
        got.json["detail"],
        "report-only: the user is in no group that may hold required scope zendesk:tickets:read"
    );
    assert_eq!(
        got.json["scopes_granted"],
        serde_json::json!(["zendesk:tickets:read"])
    );
    assert!(
        got.json["jti"].is_string(),
        "the token was issued and recorded"
    );
}
