//! One resource, many spellings (RFC 3986 §6.2.2–6.2.3): the MCP
//! TypeScript SDK asks for `https://x.example/`, the Python SDK for
//! `https://x.example`. Both, in any case and with the default port, name
//! the declared resource; the token's `aud` is the declared spelling, and
//! an introspector or agent configured with another spelling is the same.

use super::*;

/// ZENDESK as other clients and configurations write it.
const SPELLINGS: &[&str] = &[
    "https://mcp-zendesk.example.com",
    "https://mcp-zendesk.example.com/",
    "HTTPS://MCP-Zendesk.Example.COM",
    "https://mcp-zendesk.example.com:443/",
];

/// The fixture with triage-bot and gw-zendesk naming ZENDESK differently.
async fn respelled() -> Fx {
    start_edited(
        Setup {
            admin: false,
            redis: false,
        },
        |policy| {
            policy
                .replace(
                    &format!("resources = [\"{ZENDESK}\"]\nrequired_scopes"),
                    "resources = [\"https://mcp-zendesk.example.com/\"]\nrequired_scopes",
                )
                .replace(
                    &format!("resources = [\"{ZENDESK}\"]\n\n[[introspectors]]"),
                    "resources = [\"https://MCP-ZENDESK.example.com:443\"]\n\n[[introspectors]]",
                )
        },
    )
    .await
}

#[tokio::test]
async fn every_spelling_of_a_resource_gets_a_token_for_the_declared_one() {
    let fx = respelled().await;
    assert!(
        fx.policy
            .contains("resources = [\"https://MCP-ZENDESK.example.com:443\"]")
            && fx
                .policy
                .contains("resources = [\"https://mcp-zendesk.example.com/\"]"),
        "the fixture's edit applied"
    );
    for (client, spelling) in SPELLINGS
        .iter()
        .flat_map(|s| [("support-bot", *s), ("triage-host", *s)])
    {
        let token = fx.cc(client, spelling).await;
        assert_eq!(
            claims_of(&token)["aud"],
            ZENDESK,
            "{client} asked for {spelling}: aud is the declared spelling"
        );
        // gw-zendesk names ZENDESK in yet another spelling.
        fx.assert_active("gw-zendesk", &token).await;
        fx.assert_inactive("gw-slack", &token).await;
    }
    let token = fx
        .obo("support-bot", ALICE, "https://mcp-zendesk.example.com/")
        .await;
    assert_eq!(claims_of(&token)["aud"], ZENDESK);
}

#[tokio::test]
async fn other_resources_stay_other_resources() {
    let fx = respelled().await;
    for other in [
        "https://mcp-zendesk.example.com/mcp",
        "http://mcp-zendesk.example.com",
        "https://mcp-zendesk.example.com:8443",
        "https://mcp-zendesk.example.com.evil.example",
    ] {
        let a = token_raw(
            &fx,
            &[("grant_type", "client_credentials"), ("resource", other)],
        )
        .await;
        a.assert_error(
            400,
            "invalid_target",
            &format!("agent support-bot may not obtain tokens for {other}"),
        );
    }
    // resource and audience may both be sent when they name one resource.
    let a = token_raw(
        &fx,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://mcp-zendesk.example.com/"),
            ("audience", "https://MCP-zendesk.example.com"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// `POST /token` as support-bot: the answer, whatever it is.
async fn token_raw(fx: &Fx, form: &[(&str, &str)]) -> Answer {
    let res =
        fx.t.client
            .post(fx.t.url("/token"))
            .basic_auth("support-bot", Some(&fx.secret))
            .form(form)
            .send()
            .await
            .expect("request must reach the test server");
    Answer::of(res).await
}
