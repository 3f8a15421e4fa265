//! The way through: an MCP client's authorization code flow, from the
//! metadata to a token the MCP server's introspection accepts.

use super::*;
use crate::audit::Trail;
use crate::fake_idp::claims_of;

#[tokio::test]
async fn the_metadata_offers_the_authorization_code_flow() {
    let fx = start().await;
    let res = fx
        .get(&fx.t.url("/.well-known/oauth-authorization-server"))
        .await;
    let m = json_body(res).await;
    assert_eq!(m["authorization_endpoint"], fx.t.url("/authorize"));
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    let grants = m["grant_types_supported"].as_array().expect("grants");
    assert!(grants.contains(&serde_json::json!("authorization_code")));
    let methods = m["token_endpoint_auth_methods_supported"]
        .as_array()
        .expect("methods");
    assert!(methods.contains(&serde_json::json!("none")));
}

#[tokio::test]
async fn a_user_signs_in_at_the_idp_and_the_client_gets_an_interactive_token() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let code = fx.code().await;

    // What agent-sts asked the IdP: PKCE S256 of its own, a nonce, our callback.
    let sent = fx.okta.last_authorization().expect("an authorize request");
    assert_eq!(sent["client_id"], RP);
    assert_eq!(sent["redirect_uri"], fx.t.url("/authorize/callback"));
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_ne!(
        sent["code_challenge"],
        fx.challenge(),
        "its own PKCE, not the client's"
    );
    assert!(sent["nonce"].len() >= 16);
    assert!(sent["scope"].split(' ').any(|s| s == "openid"));

    let signed_in = trail.one().await.json;
    assert_eq!(
        (
            signed_in["event"].as_str(),
            signed_in["decision"].as_str(),
            signed_in["reason"].as_str(),
            signed_in["pattern"].as_str(),
        ),
        (
            Some("authorize"),
            Some("allow"),
            Some("code_issued"),
            Some("interactive")
        )
    );
    assert_eq!(signed_in["subject"], FakeOkta::uid_for(ALICE));
    assert_eq!(signed_in["client_id"], "desk");

    let (status, body) = fx.redeem(&code, &fx.verifier, CB).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("a token");
    let c = claims_of(token);
    assert_eq!(c["sub"], FakeOkta::uid_for(ALICE));
    assert_eq!(c["aud"], ZENDESK);
    assert_eq!(c["scope"], READ);
    assert_eq!(c["client_id"], "desk");
    assert_eq!(c["act"], serde_json::json!({"sub": "desk"}));
    assert_eq!(c["urn:agent"]["pattern"], "interactive");
    assert_eq!(c["idp"], fx.okta.issuer());
    assert_eq!(
        c["jti"], signed_in["jti"],
        "the jti was drawn with the code"
    );
    let granted = trail.one().await.json;
    assert_eq!(
        (
            granted["event"].as_str(),
            granted["reason"].as_str(),
            granted["pattern"].as_str()
        ),
        (Some("token"), Some("granted"), Some("interactive"))
    );
    assert!(
        fx.active(token).await,
        "the MCP server's introspection accepts it"
    );
}

#[tokio::test]
async fn a_native_client_may_come_back_on_any_loopback_port() {
    let fx = start().await;
    let cb = "http://127.0.0.1:53682/cb";
    let back = fx.sign_in(&fx.with("redirect_uri", Some(cb))).await;
    assert!(back.as_str().starts_with(cb), "{back}");
    let code = query_of(&back)["code"].clone();
    let (status, body) = fx.redeem(&code, &fx.verifier, cb).await;
    assert_eq!(status, 200, "{body}");
}
