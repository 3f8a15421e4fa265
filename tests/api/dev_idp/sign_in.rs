//! Signing in at the dev IdP under start-dev (agent-sts's `interactive`
//! pattern), driven like a browser with no redirect followed: agent-sts's
//! `/authorize`, the dev IdP's page and its form, agent-sts's callback, the
//! client's code at `/token`; and the dev IdP's own refusals, escaping and
//! token endpoint.

use agent_sts::clock::Clock;
use serde_json::json;
use url::Url;

use super::{NOTICE, decode, verify};
use crate::helpers::{TestApp, header, json_body, sha256_hex, spawn_dev_app};

const GATEWAY: &str = "https://mcp-gateway.example.com";
const CLIENT_CB: &str = "http://127.0.0.1:53682/callback";
const RP: &str = "agent-sts-dev";
const RP_SECRET: &str = "dev-secret-agent-sts-login";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A browser: follows no redirect, so each one is looked at.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Where a 302 sends the browser.
#[track_caller]
pub fn location(res: &reqwest::Response) -> Url {
    assert_eq!(res.status(), 302, "a redirect from {}", res.url());
    Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
}

pub fn query_of(url: &Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The form of the sign-in page: its action and its hidden fields.
pub fn sign_in_form(html: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let len = tag[start..].find('"')?;
        Some(unescape(&tag[start..start + len]))
    };
    let form = html.split("<form ").nth(1).expect("a form");
    let action = attr(form.split('>').next().unwrap(), "action").expect("an action");
    let fields = form
        .split("<input ")
        .skip(1)
        .map(|i| i.split('>').next().unwrap())
        .filter(|i| i.contains(r#"type="hidden""#))
        .map(|i| (attr(i, "name").unwrap(), attr(i, "value").unwrap()))
        .collect();
    (action, fields)
}

/// `/authorize` (at `authorize_url`) → the dev IdP's page → its form,
/// submitted as `user` → our callback: where the client is sent back to.
pub async fn sign_in(
    browser: &reqwest::Client,
    base: &str,
    authorize_url: &str,
    user: &str,
) -> Url {
    let to_idp = location(&browser.get(authorize_url).send().await.unwrap());
    assert!(
        to_idp
            .as_str()
            .starts_with(&format!("{base}/dev/idp/authorize?")),
        "sent to the dev IdP: {to_idp}"
    );
    let sent = query_of(&to_idp);
    assert_eq!(sent["client_id"], RP);
    assert_eq!(sent["redirect_uri"], format!("{base}/authorize/callback"));
    assert_eq!(sent["code_challenge_method"], "S256");
    assert!(sent["scope"].split(' ').any(|s| s == "groups"), "{sent:?}");
    assert!(sent["nonce"].len() >= 16);

    let res = browser.get(to_idp.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert!(header(&res, "content-security-policy").contains("default-src 'none'"));
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(
        html.contains(&format!(r#"name="user" value="{user}""#)),
        "{html}"
    );
    let (action, mut fields) = sign_in_form(&html);
    assert_eq!(action, format!("{base}/dev/idp/authorize"));
    fields.push(("user".into(), user.into()));

    let res = browser.post(&action).form(&fields).send().await.unwrap();
    let back = location(&res);
    assert!(
        back.as_str()
            .starts_with(&format!("{base}/authorize/callback?")),
        "back at agent-sts's callback: {back}"
    );
    assert_eq!(
        query_of(&back)["state"],
        sent["state"],
        "the IdP returns our state"
    );
    location(&browser.get(back.as_str()).send().await.unwrap())
}

/// The `/authorize` URL of the sample MCP client, `mcp-inspector`.
fn authorize_url(app: &TestApp, state: &str) -> String {
    let mut url = Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "mcp-inspector"),
        ("redirect_uri", CLIENT_CB),
        ("state", state),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("resource", GATEWAY),
    ]);
    url.into()
}

/// Okta's `00u…` id of a dev IdP login.
fn okta_uid(login: &str) -> String {
    format!("00u{}", &sha256_hex(login.as_bytes())[..17])
}

#[tokio::test]
async fn an_mcp_client_signs_in_at_the_dev_idp_and_gets_an_interactive_token() {
    let app = spawn_dev_app().await;
    let metadata = json_body(app.get("/.well-known/oauth-authorization-server").await).await;
    assert_eq!(metadata["authorization_endpoint"], app.url("/authorize"));

    let browser = browser();
    let back = sign_in(&browser, &app.base, &authorize_url(&app, "st-1"), "alice").await;
    assert!(
        back.as_str().starts_with(CLIENT_CB),
        "back at the client: {back}"
    );
    let q = query_of(&back);
    assert_eq!(
        (q["state"].as_str(), q["iss"].as_str()),
        ("st-1", app.base.as_str())
    );

    let res = app
        .post_form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "mcp-inspector"),
                ("code", &q["code"]),
                ("redirect_uri", CLIENT_CB),
                ("code_verifier", VERIFIER),
                ("resource", GATEWAY),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let body = json_body(res).await;
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    assert_eq!(body["scope"], "zendesk:tickets:read slack:channels:read");
    let c = decode(
        body["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap(),
    );
    assert_eq!(c["urn:agent"]["pattern"], "interactive");
    assert_eq!(c["urn:agent"]["id"], "mcp-inspector");
    assert_eq!(c["sub"], okta_uid("alice@example.com"));
    assert_eq!(c["aud"], GATEWAY);
    assert_eq!(c["act"], json!({"sub": "mcp-inspector"}));
    assert_eq!(
        c["idp"],
        format!("{}/dev/idp/okta/oauth2/default", app.base)
    );
}

#[tokio::test]
async fn a_user_without_the_group_is_sent_back_refused() {
    let app = spawn_dev_app().await;
    let back = sign_in(&browser(), &app.base, &authorize_url(&app, "st-2"), "bob").await;
    assert!(back.as_str().starts_with(CLIENT_CB), "{back}");
    let q = query_of(&back);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("invalid_scope", "st-2")
    );
    assert!(!q.contains_key("code"));
}

/// The dev IdP's own `/authorize` request, as agent-sts would send it.
fn idp_authorize(app: &TestApp, changes: &[(&str, Option<&str>)]) -> String {
    let callback = app.url("/authorize/callback");
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", RP),
        ("redirect_uri", &callback),
        ("scope", "openid profile email groups"),
        ("state", "idp-state"),
        ("nonce", "idp-nonce"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in changes {
        pairs.retain(|(p, _)| p != k);
        if let Some(v) = v {
            pairs.push((k, v));
        }
    }
    let mut url = Url::parse(&app.url("/dev/idp/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.into()
}

#[tokio::test]
async fn the_dev_idp_refuses_untrusted_clients_with_a_page_and_the_rest_with_a_redirect() {
    let app = spawn_dev_app().await;
    let browser = browser();
    for changes in [
        vec![("redirect_uri", Some("https://evil.example.com/cb"))],
        vec![("redirect_uri", None)],
        vec![("client_id", Some("stranger"))],
    ] {
        let res = browser
            .get(idp_authorize(&app, &changes))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{changes:?}");
        assert!(res.headers().get("location").is_none(), "never a redirect");
        assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
        let page = res.text().await.unwrap();
        assert!(page.contains("This sign-in cannot go on"), "{page}");
    }
    let callback = app.url("/authorize/callback");
    for (changes, error) in [
        (vec![("code_challenge", None)], "invalid_request"),
        (
            vec![("code_challenge_method", Some("plain"))],
            "invalid_request",
        ),
        (vec![("scope", Some("profile"))], "invalid_scope"),
        (
            vec![("response_type", Some("token"))],
            "unsupported_response_type",
        ),
    ] {
        let res = browser
            .get(idp_authorize(&app, &changes))
            .send()
            .await
            .unwrap();
        let back = location(&res);
        assert_eq!(back.as_str().split('?').next(), Some(callback.as_str()));
        let q = query_of(&back);
        assert_eq!(
            (q["error"].as_str(), q["state"].as_str()),
            (error, "idp-state")
        );
        assert!(!q.contains_key("code"), "{changes:?}");
    }
}

#[tokio::test]
async fn the_dev_idp_pages_escape_what_they_echo() {
    let app = spawn_dev_app().await;
    let browser = browser();
    let evil = r#""><script>alert('x')</script><b a=""#;
    let res = browser
        .get(idp_authorize(
            &app,
            &[("state", Some(evil)), ("login_hint", Some(evil))],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<b a="), "{page}");
    assert!(page.contains(
        r#"value="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;b a=&quot;""#
    ));
    let (_, fields) = sign_in_form(&page);
    assert!(
        fields.contains(&("state".into(), evil.into())),
        "round-trips: {fields:?}"
    );

    let res = browser
        .get(idp_authorize(&app, &[("redirect_uri", Some(evil))]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
}

#[tokio::test]
async fn the_dev_idp_token_endpoint_redeems_a_code_once_for_a_verifiable_id_token() {
    let app = spawn_dev_app().await;
    let browser = browser();
    let callback = app.url("/authorize/callback");
    let mut form: Vec<(String, String)> = query_of(&Url::parse(&idp_authorize(&app, &[])).unwrap())
        .into_iter()
        .collect();
    form.push(("user".into(), "alice".into()));
    let res = browser
        .post(app.url("/dev/idp/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let code = query_of(&location(&res))["code"].clone();
    let redeem = |secret: &'static str| {
        browser
            .post(app.url("/dev/idp/token"))
            .basic_auth(RP, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", callback.as_str()),
                ("code_verifier", VERIFIER),
            ])
            .send()
    };
    let res = redeem("wrong-secret").await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        header(&res, "www-authenticate"),
        r#"Basic realm="agent-sts dev IdP""#
    );
    assert_eq!(json_body(res).await["error"], "invalid_client");

    let res = redeem(RP_SECRET).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let body = json_body(res).await;
    let issuer = format!("{}/dev/idp/okta/oauth2/default", app.base);
    let id = verify(
        &app,
        body["id_token"].as_str().unwrap(),
        &format!("{issuer}/v1/keys"),
    )
    .await;
    assert_eq!(id["iss"], issuer.as_str());
    assert_eq!(id["aud"], RP);
    assert_eq!(id["nonce"], "idp-nonce");
    assert_eq!(id["sub"], okta_uid("alice@example.com"));
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["groups"], json!(["Support-Agents", "Everyone"]));
    assert_eq!(id["agent_sts_dev_idp"], NOTICE);
    assert_eq!(id["iat"], app.clock.now());

    let res = redeem(RP_SECRET).await.unwrap();
    assert_eq!(res.status(), 400, "a code is used once");
    assert_eq!(json_body(res).await["error"], "invalid_grant");
}
