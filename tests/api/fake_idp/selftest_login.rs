//! Self-tests: both fakes serve the authorization-code flow to a relying
//! party as a browser and a back channel see it over HTTP (no redirect
//! following), and refuse what RFC 6749 / RFC 7636 say to refuse.

use super::jwt::{b64url, random_b64, verify_with_jwks};
use super::selftest::{TENANT_A, TENANT_B, get_json, keys_of, set};
use super::{Bad, FakeEntra, FakeOkta, IdTokenFault, Mode, RpClient, header_of};
use reqwest::redirect::Policy;
use serde_json::Value;
use std::collections::HashMap;

const REDIRECT: &str = "https://rp.example.com/oauth/callback";

/// Authorization parameters to replace (`None` drops one).
type Overrides<'a> = &'a [(&'a str, Option<&'a str>)];

/// A PKCE pair: (verifier, S256 challenge).
fn pkce() -> (String, String) {
    let verifier = random_b64(32);
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    (verifier, b64url(digest))
}

/// The relying party: a registered client and the endpoints from discovery.
struct Rp {
    http: reqwest::Client,
    authorize: String,
    token: String,
    jwks: String,
    client: RpClient,
}

/// One authorization request's secrets and the redirect's query.
struct Started {
    code: String,
    verifier: String,
    nonce: String,
}

impl Rp {
    /// Reads the endpoints from `discovery`; `client` is registered at the IdP.
    async fn new(discovery: &str, client: RpClient) -> Self {
        let doc = get_json(discovery).await;
        // Entra does not publish code_challenge_methods_supported, yet takes S256.
        if let Some(methods) = doc.get("code_challenge_methods_supported") {
            assert_eq!(methods, &serde_json::json!(["S256"]));
        }
        let types = doc["response_types_supported"].as_array().unwrap();
        assert!(types.iter().any(|t| t == "code"));
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            authorize: doc["authorization_endpoint"].as_str().unwrap().to_owned(),
            token: doc["token_endpoint"].as_str().unwrap().to_owned(),
            jwks: doc["jwks_uri"].as_str().unwrap().to_owned(),
            client,
        }
    }

    /// The authorization URL with these parameters added to the good ones
    /// (`None` drops a good one).
    fn url(&self, overrides: &[(&str, Option<&str>)]) -> String {
        let mut params: Vec<(&str, Option<&str>)> = vec![
            ("client_id", Some(&self.client.client_id)),
            ("redirect_uri", Some(&self.client.redirect_uri)),
            ("response_type", Some("code")),
            ("scope", Some("openid profile email")),
            ("code_challenge_method", Some("S256")),
        ];
        for (name, value) in overrides {
            params.retain(|(n, _)| n != name);
            params.push((name, *value));
        }
        let mut url = url::Url::parse(&self.authorize).unwrap();
        for (name, value) in params {
            if let Some(value) = value {
                url.query_pairs_mut().append_pair(name, value);
            }
        }
        url.to_string()
    }

    /// GET authorize: the status, and the redirect's query if it is a 302
    /// back to the registered URI.
    async fn get(&self, url: &str) -> (u16, HashMap<String, String>) {
        let resp = self.http.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        let Some(location) = resp.headers().get("location") else {
            return (status, HashMap::new());
        };
        let location = url::Url::parse(location.to_str().unwrap()).unwrap();
        let mut back = location.clone();
        back.set_query(None);
        let mut registered = url::Url::parse(&self.client.redirect_uri).unwrap();
        registered.set_query(None);
        assert_eq!(back, registered, "redirects only to the registered URI");
        (status, location.query_pairs().into_owned().collect())
    }

    /// A good authorization request with `scope`; asserts the 302 with a code and our state.
    async fn start(&self, scope: &str) -> Started {
        let (verifier, challenge) = pkce();
        let (nonce, state) = (random_b64(16), random_b64(16));
        let url = self.url(&[
            ("scope", Some(scope)),
            ("code_challenge", Some(&challenge)),
            ("nonce", Some(&nonce)),
            ("state", Some(&state)),
        ]);
        let (status, query) = self.get(&url).await;
        assert_eq!(status, 302, "{query:?}");
        assert_eq!(query["state"], state);
        let code = query["code"].clone();
        Started {
            code,
            verifier,
            nonce,
        }
    }

    /// POSTs the token request `form` with HTTP Basic `auth`.
    async fn post(&self, form: &[(&str, &str)], auth: Option<(&str, &str)>) -> (u16, Value) {
        let mut req = self.http.post(&self.token).form(form);
        if let Some((id, secret)) = auth {
            req = req.basic_auth(id, Some(secret));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        if status == 503 {
            return (status, Value::Null);
        }
        assert_eq!(resp.headers()["cache-control"], "no-store");
        if status == 401 {
            assert!(resp.headers().contains_key("www-authenticate"));
        }
        (status, resp.json().await.unwrap())
    }

    /// Redeems `started`'s code correctly.
    async fn redeem(&self, started: &Started) -> (u16, Value) {
        self.redeem_with(started, &[]).await
    }

    /// Redeems `started`'s code with these form values replaced.
    async fn redeem_with(&self, started: &Started, overrides: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", started.code.as_str()),
            ("redirect_uri", self.client.redirect_uri.as_str()),
            ("code_verifier", started.verifier.as_str()),
        ];
        for (name, value) in overrides {
            form.retain(|(n, _)| n != name);
            form.push((name, value));
        }
        let auth = (self.client.client_id.as_str(), self.secret());
        self.post(&form, Some(auth)).await
    }

    fn secret(&self) -> &str {
        &self.client.client_secret
    }

    /// Redeems and verifies the ID token against the JWKS: its claims.
    async fn id_token_claims(&self, started: &Started) -> Value {
        let (status, body) = self.redeem(started).await;
        assert_eq!(status, 200, "{body}");
        let jwks = get_json(&self.jwks).await;
        verify_with_jwks(body["id_token"].as_str().unwrap(), &jwks).expect("ID token verifies")
    }
}

fn error_of(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("<none>"))
}

#[tokio::test]
async fn okta_code_flow_issues_an_id_token_for_the_signed_in_user() {
    let okta = FakeOkta::start().await;
    let rp = Rp::new(&okta.discovery_url(), okta.new_rp(REDIRECT)).await;
    assert_eq!(rp.authorize, format!("{}/v1/authorize", okta.issuer()));
    assert!(rp.client.client_id.starts_with("0oa"));
    okta.login_as("alice@example.com", &["Support-Agents", "Everyone"]);

    let started = rp.start("openid profile email groups").await;
    let sent = okta.last_authorization().unwrap();
    assert_eq!(sent["nonce"], started.nonce);
    let (status, body) = rp.redeem(&started).await;
    assert_eq!(status, 200, "{body}");
    let want = [
        "token_type",
        "expires_in",
        "access_token",
        "scope",
        "id_token",
    ];
    assert_eq!(keys_of(&body), set(&want));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile email groups");
    let jwks = get_json(&rp.jwks).await;
    let id_token = body["id_token"].as_str().unwrap();
    let c = verify_with_jwks(id_token, &jwks).expect("ID token verifies");
    let want = [
        "sub",
        "ver",
        "iss",
        "aud",
        "iat",
        "exp",
        "jti",
        "amr",
        "idp",
        "auth_time",
        "nonce",
        "name",
        "email",
        "preferred_username",
        "groups",
    ];
    assert_eq!(keys_of(&c), set(&want));
    assert_eq!(header_of(id_token)["kid"], okta.kid());
    assert_eq!(c["iss"], okta.issuer());
    assert_eq!(c["aud"], rp.client.client_id);
    assert_eq!(c["sub"], FakeOkta::uid_for("alice@example.com"));
    assert_eq!(c["nonce"], started.nonce);
    assert_eq!(c["preferred_username"], "alice@example.com");
    assert_eq!(
        c["groups"],
        serde_json::json!(["Support-Agents", "Everyone"])
    );
    let at = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks).unwrap();
    assert_eq!(at["cid"], rp.client.client_id);
    assert_eq!((okta.authorize_requests(), okta.token_requests()), (1, 1));

    let c = rp.id_token_claims(&rp.start("openid").await).await;
    for absent in ["name", "email", "preferred_username", "groups"] {
        assert!(c.get(absent).is_none(), "{absent} needs its scope");
    }
}

#[tokio::test]
async fn entra_code_flow_issues_a_v2_id_token_in_the_home_tenant() {
    let entra = FakeEntra::start(&[TENANT_A, TENANT_B]).await;
    let upn = "alice@contoso.com";
    let redirect = "http://127.0.0.1:9/callback?rp=agent-sts";
    let client = entra.new_rp(redirect);
    let rp = Rp::new(&entra.discovery_url_v2(TENANT_A), client.clone()).await;
    let doc = get_json(&entra.discovery_url_v2(TENANT_A)).await;
    assert!(
        doc.get("code_challenge_methods_supported").is_none(),
        "as Entra"
    );
    let base = entra.base_url();
    assert_eq!(
        rp.authorize,
        format!("{base}/{TENANT_A}/oauth2/v2.0/authorize")
    );
    assert_eq!(rp.token, format!("{base}/{TENANT_A}/oauth2/v2.0/token"));
    let support = FakeEntra::group_id("support");
    entra.login_as(upn, &[&support]);

    let started = rp.start("openid profile").await;
    let c = rp.id_token_claims(&started).await;
    let want = [
        "aud",
        "iss",
        "iat",
        "nbf",
        "exp",
        "aio",
        "rh",
        "sub",
        "tid",
        "uti",
        "ver",
        "nonce",
        "name",
        "oid",
        "preferred_username",
        "groups",
    ];
    assert_eq!(keys_of(&c), set(&want));
    assert_eq!(c["iss"], entra.issuer_v2(TENANT_A));
    assert_eq!(c["aud"], rp.client.client_id);
    assert_eq!(c["tid"], TENANT_A);
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["oid"], FakeEntra::oid_for(upn));
    assert_eq!(c["sub"], FakeEntra::pairwise_sub(upn, &rp.client.client_id));
    assert_eq!(c["groups"], serde_json::json!([support]));
    assert_eq!(c["nonce"], started.nonce);

    let many: Vec<String> = (0..201)
        .map(|i| FakeEntra::group_id(&format!("g{i}")))
        .collect();
    entra.login_as(upn, &many.iter().map(String::as_str).collect::<Vec<_>>());
    let c = rp.id_token_claims(&rp.start("openid").await).await;
    assert!(c.get("groups").is_none() && c.get("oid").is_none());
    assert_eq!(c["_claim_names"]["groups"], "src1");
    let endpoint = c["_claim_sources"]["src1"]["endpoint"].as_str().unwrap();
    assert!(endpoint.contains(&FakeEntra::oid_for(upn)));

    let common = Rp::new(&rp_discovery(&entra, "common"), client.clone()).await;
    let c = common.id_token_claims(&common.start("openid").await).await;
    assert_eq!(c["iss"], entra.issuer_v2(TENANT_A), "common lands at home");

    let other = Rp::new(&entra.discovery_url_v2(TENANT_B), client).await;
    let started = rp.start("openid").await;
    let wrong_tenant = other.redeem(&started).await;
    assert_eq!(error_of(&wrong_tenant), (400, "invalid_grant"));
}

fn rp_discovery(entra: &FakeEntra, tid: &str) -> String {
    format!(
        "{}/{tid}/v2.0/.well-known/openid-configuration",
        entra.base_url()
    )
}

#[tokio::test]
async fn authorize_refuses_like_rfc_6749() {
    let okta = FakeOkta::start().await;
    let rp = Rp::new(&okta.discovery_url(), okta.new_rp(REDIRECT)).await;
    let (_, challenge) = pkce();
    let c = Some(challenge.as_str());
    let page = |url: String| {
        let http = rp.http.clone();
        async move {
            let resp = http.get(url).send().await.unwrap();
            assert!(resp.headers().get("location").is_none(), "no redirect");
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, text) = page(rp.url(&[("client_id", Some("0oanobody"))])).await;
    assert_eq!(status, 400);
    assert!(text.contains("client_id"), "{text}");
    let slash = format!("{REDIRECT}/");
    let (status, text) = page(rp.url(&[("redirect_uri", Some(&slash))])).await;
    assert_eq!((status, text.contains("redirect_uri")), (400, true));
    let (status, _) = page(format!("{}&scope=openid", rp.url(&[]))).await;
    assert_eq!(status, 400, "repeated parameter");

    okta.login_as("alice@example.com", &[]);
    let cases: [(Overrides, &str); 5] = [
        (
            &[("response_type", Some("token"))],
            "unsupported_response_type",
        ),
        (&[("scope", Some("profile email"))], "invalid_scope"),
        (&[("code_challenge", None)], "invalid_request"),
        (
            &[
                ("code_challenge", c),
                ("code_challenge_method", Some("plain")),
            ],
            "invalid_request",
        ),
        (&[("code_challenge", Some("short"))], "invalid_request"),
    ];
    for (overrides, error) in cases {
        let mut overrides = overrides.to_vec();
        overrides.push(("state", Some("s1")));
        let (status, q) = rp.get(&rp.url(&overrides)).await;
        assert_eq!((status, q["error"].as_str()), (302, error), "{overrides:?}");
        assert_eq!(q["state"], "s1");
        assert!(!q.contains_key("code"));
    }

    okta.logout();
    let good = rp.url(&[("code_challenge", c), ("state", Some("s2"))]);
    let (status, q) = rp.get(&good).await;
    assert_eq!((status, q["error"].as_str()), (302, "access_denied"));
    okta.login_as("alice@example.com", &[]);
    okta.swap_next_state("attacker-state");
    let (_, q) = rp.get(&good).await;
    assert_eq!(
        (q["state"].as_str(), q.contains_key("code")),
        ("attacker-state", true)
    );
    let (_, q) = rp.get(&good).await;
    assert_eq!(q["state"], "s2", "swapped once");
    assert_eq!(okta.authorize_requests(), 11);
}

#[tokio::test]
async fn token_endpoint_refuses_like_rfc_6749_and_7636() {
    let okta = FakeOkta::start().await;
    let rp = Rp::new(&okta.discovery_url(), okta.new_rp(REDIRECT)).await;
    let other = Rp::new(&okta.discovery_url(), okta.new_rp(REDIRECT)).await;
    okta.login_as("alice@example.com", &[]);
    let (wrong_verifier, _) = pkce();

    let s = rp.start("openid").await;
    let answer = rp
        .redeem_with(&s, &[("code_verifier", &wrong_verifier)])
        .await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"));
    assert_eq!(
        error_of(&rp.redeem(&s).await),
        (400, "invalid_grant"),
        "spent"
    );

    let s = rp.start("openid").await;
    assert_eq!(rp.redeem(&s).await.0, 200);
    assert_eq!(
        error_of(&rp.redeem(&s).await),
        (400, "invalid_grant"),
        "replay"
    );

    let s = rp.start("openid").await;
    let elsewhere = format!("{REDIRECT}?x=1");
    let answer = rp.redeem_with(&s, &[("redirect_uri", &elsewhere)]).await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"));

    let s = rp.start("openid").await;
    let auth = Some((rp.client.client_id.as_str(), "wrong-secret"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &s.code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &s.verifier),
    ];
    assert_eq!(
        error_of(&rp.post(&form, auth).await),
        (401, "invalid_client")
    );
    assert_eq!(
        error_of(&rp.post(&form, None).await),
        (401, "invalid_client")
    );
    let (id, secret) = (rp.client.client_id.as_str(), rp.secret());
    let post = [&form[..], &[("client_id", id), ("client_secret", secret)]].concat();
    assert_eq!(
        error_of(&rp.post(&post, None).await),
        (401, "invalid_client")
    );
    let theirs = (other.client.client_id.as_str(), other.secret());
    let answer = other.post(&form, Some(theirs)).await;
    assert_eq!(
        error_of(&answer),
        (400, "invalid_grant"),
        "another client's code"
    );
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    let answer = rp.post(&refresh, Some((id, secret))).await;
    assert_eq!(error_of(&answer), (400, "unsupported_grant_type"));
    let answer = rp.redeem_with(&s, &[("code_verifier", "too-short")]).await;
    assert_eq!(error_of(&answer), (400, "invalid_request"));
    assert_eq!(error_of(&rp.redeem(&s).await), (400, "invalid_grant"));

    let s = rp.start("openid").await;
    let json = rp.http.post(&rp.token).basic_auth(id, Some(secret));
    let resp = json.json(&serde_json::json!({"code": s.code})).send().await;
    assert_eq!(resp.unwrap().status(), 400);
    assert_eq!(
        rp.redeem(&s).await.0,
        200,
        "an unread request spends nothing"
    );

    okta.set_token_endpoint_mode(Mode::Down);
    let s = rp.start("openid").await;
    assert_eq!(rp.redeem(&s).await.0, 503);
    okta.set_token_endpoint_mode(Mode::Up);
    assert_eq!(rp.redeem(&s).await.0, 200);
    assert_eq!(okta.token_requests(), 16);
}

#[tokio::test]
async fn faults_break_the_next_id_token_only() {
    let entra = FakeEntra::start(&[TENANT_A]).await;
    let rp = Rp::new(&entra.discovery_url_v2(TENANT_A), entra.new_rp(REDIRECT)).await;
    entra.login_as("bob@contoso.com", &[]);
    let jwks = get_json(&rp.jwks).await;
    let id_token = async |fault: Option<IdTokenFault>| {
        if let Some(fault) = fault {
            entra.break_next_id_token(fault);
        }
        let s = rp.start("openid").await;
        let (status, body) = rp.redeem(&s).await;
        assert_eq!(status, 200);
        (body["id_token"].as_str().unwrap().to_owned(), s)
    };
    let verified = |token: &str| verify_with_jwks(token, &jwks);

    let (t, s) = id_token(Some(IdTokenFault::WrongNonce)).await;
    let c = verified(&t).unwrap();
    assert!(c["nonce"].is_string() && c["nonce"] != s.nonce.as_str());
    let (t, _) = id_token(Some(IdTokenFault::NoNonce)).await;
    assert!(verified(&t).unwrap().get("nonce").is_none());
    let (t, _) = id_token(Some(IdTokenFault::WrongAudience)).await;
    let aud = verified(&t).unwrap()["aud"].as_str().unwrap().to_owned();
    assert!(
        aud != rp.client.client_id && aud.len() == 36,
        "another client: {aud}"
    );
    let (t, _) = id_token(Some(IdTokenFault::Expired)).await;
    assert!(verified(&t).unwrap()["exp"].as_i64().unwrap() < super::jwt::now());
    let (t, _) = id_token(Some(IdTokenFault::BadSignature)).await;
    assert_eq!(header_of(&t)["kid"], entra.kid());
    assert!(verified(&t).is_err(), "signature does not verify");
    let (t, _) = id_token(Some(IdTokenFault::Token(Bad::WrongIssuer))).await;
    assert!(verified(&t).unwrap()["iss"] != entra.issuer_v2(TENANT_A));

    entra.break_next_id_token(IdTokenFault::WrongNonce);
    entra.break_next_id_token(IdTokenFault::Expired);
    let (t, s) = id_token(None).await;
    let c = verified(&t).unwrap();
    assert!(c["nonce"] != s.nonce.as_str() && c["exp"].as_i64().unwrap() < super::jwt::now());
    let (t, s) = id_token(None).await;
    let c = verified(&t).unwrap();
    assert_eq!(c["nonce"], s.nonce, "faults apply once");
    assert_eq!(c["aud"], rp.client.client_id);
}
