//! Fake Okta: the `default` custom authorization server
//! (`{base}/oauth2/default`) and the org authorization server (`{base}`), in
//! Okta's URL layout, with RFC 7662 introspection and Okta's claim sets. The
//! custom server also serves the authorization-code flow to a relying party
//! (`/v1/authorize`, `/v1/token`; see [`super::login`]).

use super::jwt::{self, random_alnum, random_b64, stable_alnum};
use super::login::{self, Grant};
use super::server::Server;
use super::token::{Profile, ScopeStyle, TokenBuilder};
use super::{Idp, Mode, Vendor, code_exchange};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Client id of the app users sign in to (`cid` of access tokens, `aud` of ID tokens).
pub const APP_CLIENT_ID: &str = "0oa8agentstsapp0x697";
/// Client id agent-sts uses to call Okta's introspection endpoints.
pub const INTROSPECT_CLIENT_ID: &str = "0oa8agentstsintro697";
/// Default `aud` of the `default` custom authorization server.
pub const DEFAULT_AUDIENCE: &str = "api://default";

/// A fake Okta org on 127.0.0.1. Derefs to the custom authorization server's
/// [`Idp`] (keys, rotation, outage mode, JWKS counter); [`FakeOkta::org`] is the
/// org authorization server's. Stops when dropped.
#[derive(Debug)]
pub struct FakeOkta {
    server: Server,
    custom: Idp,
    org: Idp,
    intro: Arc<Introspection>,
}

#[derive(Debug)]
struct Introspection {
    client_secret: String,
    inactive: Mutex<HashSet<String>>,
    calls: AtomicUsize,
    mode: Mutex<Mode>,
}

#[derive(Clone)]
struct AppState {
    base: String,
    custom: Idp,
    org: Idp,
    intro: Arc<Introspection>,
}

impl AppState {
    fn custom_issuer(&self) -> String {
        format!("{}/oauth2/default", self.base)
    }
}

impl FakeOkta {
    /// Starts the fake org with fresh keys for both authorization servers.
    pub async fn start() -> Self {
        let custom = Idp::new(Vendor::Okta);
        let org = Idp::new(Vendor::Okta);
        let intro = Arc::new(Introspection {
            client_secret: random_alnum(40),
            inactive: Mutex::new(HashSet::new()),
            calls: AtomicUsize::new(0),
            mode: Mutex::new(Mode::Up),
        });
        let (c, o, i) = (custom.clone(), org.clone(), intro.clone());
        let server = Server::start(move |base| {
            let state = AppState {
                base,
                custom: c,
                org: o,
                intro: i,
            };
            let as_meta = "/oauth2/default/.well-known/oauth-authorization-server";
            Router::new()
                .route(
                    "/oauth2/default/.well-known/openid-configuration",
                    get(custom_discovery),
                )
                .route(as_meta, get(custom_discovery))
                .route("/oauth2/default/v1/keys", get(custom_keys))
                .route("/oauth2/default/v1/introspect", post(custom_introspect))
                .route("/oauth2/default/v1/authorize", get(custom_authorize))
                .route("/oauth2/default/v1/token", post(custom_token))
                .route("/.well-known/openid-configuration", get(org_discovery))
                .route(
                    "/.well-known/oauth-authorization-server",
                    get(org_discovery),
                )
                .route("/oauth2/v1/keys", get(org_keys))
                .route("/oauth2/v1/introspect", post(org_introspect))
                .with_state(state)
        })
        .await;
        Self {
            server,
            custom,
            org,
            intro,
        }
    }

    /// `http://127.0.0.1:PORT` (stands in for `https://{org}.okta.com`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Custom authorization server issuer: `{base}/oauth2/default`.
    pub fn issuer(&self) -> String {
        format!("{}/oauth2/default", self.base_url())
    }

    /// `{issuer}/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer())
    }

    /// `{issuer}/.well-known/oauth-authorization-server` (RFC 8414).
    pub fn oauth_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-authorization-server", self.issuer())
    }

    /// `{issuer}/v1/keys`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/v1/keys", self.issuer())
    }

    /// `{issuer}/v1/introspect`.
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/v1/introspect", self.issuer())
    }

    /// Org authorization server issuer: `{base}` itself.
    pub fn org_issuer(&self) -> String {
        self.base_url()
    }

    /// `{base}/.well-known/openid-configuration`.
    pub fn org_discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.base_url())
    }

    /// `{base}/oauth2/v1/keys`.
    pub fn org_jwks_uri(&self) -> String {
        format!("{}/oauth2/v1/keys", self.base_url())
    }

    /// `{base}/oauth2/v1/introspect`.
    pub fn org_introspection_endpoint(&self) -> String {
        format!("{}/oauth2/v1/introspect", self.base_url())
    }

    /// The org authorization server's keys, mode and counters.
    pub fn org(&self) -> &Idp {
        &self.org
    }

    /// Introspection client id ([`INTROSPECT_CLIENT_ID`]).
    pub fn client_id(&self) -> &'static str {
        INTROSPECT_CLIENT_ID
    }

    /// Introspection client secret (random per fake).
    pub fn client_secret(&self) -> &str {
        &self.intro.client_secret
    }

    /// From now on introspection answers `{"active":false}` for this `jti`.
    pub fn deactivate(&self, jti: &str) {
        self.intro
            .inactive
            .lock()
            .expect("inactive")
            .insert(jti.to_owned());
    }

    /// Introspection requests received (both servers, any outcome).
    pub fn introspections(&self) -> usize {
        self.intro.calls.load(Ordering::SeqCst)
    }

    /// Outage mode of both introspection endpoints.
    pub fn set_introspection_mode(&self, mode: Mode) {
        *self.intro.mode.lock().expect("mode") = mode;
    }

    /// Stops the server now (connections are refused afterwards).
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// Okta's `uid` for a login: `00u` + 17 characters, stable per login.
    pub fn uid_for(login: &str) -> String {
        format!("00u{}", stable_alnum(login, 17))
    }

    /// A custom-AS user access token as Okta issues it: header `{kid, alg:RS256}`;
    /// claims `ver, jti:"AT.…", iss, aud, iat, exp, cid, uid, scp[], auth_time, sub:<login>, groups[]`.
    pub fn access_token(&self, login: &str) -> TokenBuilder {
        user_access_token(&self.custom, &self.issuer(), login)
    }

    /// A custom-AS ID token: claims `sub:<uid>, ver, iss, aud:<app client id>, iat, exp,
    /// jti:"ID.…", amr:["pwd"], idp:"00o…", auth_time, name, email, preferred_username, groups`.
    pub fn id_token(&self, login: &str) -> TokenBuilder {
        user_id_token(&self.custom, &self.base_url(), login)
    }

    /// A client-credentials (service app) access token: `sub` = `cid` = `client_id`,
    /// no `uid`, no `auth_time`.
    pub fn service_token(&self, client_id: &str) -> TokenBuilder {
        let claims = json!({
            "ver": 1, "jti": format!("AT.{}", random_b64(32)), "iss": self.issuer(),
            "aud": DEFAULT_AUDIENCE, "cid": client_id, "scp": ["agents.run"], "sub": client_id,
        });
        let profile = profile("https://evil.example.com/oauth2/default", false);
        TokenBuilder::new(&self.custom, json!({"alg": "RS256"}), claims, profile)
    }

    /// An ID-JAG as Okta's Cross App Access issues it (SEP-990 leg 1):
    /// header `{alg: RS256, typ: oauth-id-jag+jwt}`; claims `iss, sub:<uid>,
    /// aud:<the receiving authorization server>, client_id, jti, iat, exp
    /// (5 minutes), resource, scope` (space-separated).
    pub fn id_jag(&self, login: &str, aud: &str, client_id: &str, resource: &str) -> TokenBuilder {
        let claims = json!({
            "iss": self.issuer(), "sub": Self::uid_for(login), "aud": aud,
            "client_id": client_id, "jti": random_b64(24), "resource": resource,
            "scope": "zendesk:tickets:read",
        });
        let profile = Profile {
            ttl: 300,
            ..profile("https://evil.example.com/oauth2/default", false)
        };
        let header = json!({"alg": "RS256", "typ": "oauth-id-jag+jwt"});
        TokenBuilder::new(&self.custom, header, claims, profile)
    }

    /// An org-AS access token (`iss` = `aud` = base URL, org keys): only
    /// introspection can vouch for it.
    pub fn org_access_token(&self, login: &str) -> TokenBuilder {
        let base = self.base_url();
        let claims = json!({
            "ver": 1, "jti": format!("AT.{}", random_b64(32)), "iss": base, "aud": base,
            "cid": APP_CLIENT_ID, "uid": Self::uid_for(login),
            "scp": ["openid", "okta.users.read.self"], "sub": login,
        });
        let profile = profile("https://evil.example.com", true);
        TokenBuilder::new(&self.org, json!({"alg": "RS256"}), claims, profile)
    }
}

fn profile(wrong_issuer: &str, auth_time: bool) -> Profile {
    Profile {
        nbf: false,
        auth_time,
        scopes: ScopeStyle::Array,
        wrong_issuer: wrong_issuer.to_owned(),
        ttl: 3600,
    }
}

/// See [`FakeOkta::access_token`].
fn user_access_token(custom: &Idp, issuer: &str, login: &str) -> TokenBuilder {
    let claims = json!({
        "ver": 1, "jti": format!("AT.{}", random_b64(32)), "iss": issuer,
        "aud": DEFAULT_AUDIENCE, "cid": APP_CLIENT_ID, "uid": FakeOkta::uid_for(login),
        "scp": ["openid", "profile", "email"], "sub": login, "groups": ["Everyone"],
    });
    let profile = profile("https://evil.example.com/oauth2/default", true);
    TokenBuilder::new(custom, json!({"alg": "RS256"}), claims, profile)
}

/// See [`FakeOkta::id_token`]; `base` is the org URL (`iss` = `{base}/oauth2/default`).
fn user_id_token(custom: &Idp, base: &str, login: &str) -> TokenBuilder {
    let local = login.split('@').next().unwrap_or(login);
    let mut name: Vec<char> = local.chars().collect();
    if let Some(c) = name.first_mut() {
        *c = c.to_ascii_uppercase();
    }
    let claims = json!({
        "sub": FakeOkta::uid_for(login), "ver": 1, "iss": format!("{base}/oauth2/default"),
        "aud": APP_CLIENT_ID, "jti": format!("ID.{}", random_alnum(20)), "amr": ["pwd"],
        "idp": format!("00o{}", stable_alnum(base, 17)),
        "name": name.into_iter().collect::<String>(), "email": login,
        "preferred_username": login, "groups": ["Everyone"],
    });
    let profile = profile("https://evil.example.com/oauth2/default", true);
    TokenBuilder::new(custom, json!({"alg": "RS256"}), claims, profile)
}

/// The code flow's tokens for an RP client: the ID token with `aud` = the
/// client, `auth_time` = sign-in, `name`/`preferred_username` only for
/// `profile`, `email` for `email`, `groups` only for `groups` (Okta's scope
/// rules); the access token with `cid` = the client and `scp` = the scopes.
fn code_flow_tokens(s: &AppState, grant: &Grant) -> (TokenBuilder, String) {
    let issuer = s.custom_issuer();
    let scopes: Vec<&str> = grant.scopes.iter().map(String::as_str).collect();
    let groups: Vec<&str> = grant.groups.iter().map(String::as_str).collect();
    let mut id_token = user_id_token(&s.custom, &s.base, &grant.login)
        .aud(&grant.client_id)
        .claim("auth_time", json!(grant.auth_time))
        .remove("groups");
    if !grant.has_scope("profile") {
        id_token = id_token.remove("name").remove("preferred_username");
    }
    if !grant.has_scope("email") {
        id_token = id_token.remove("email");
    }
    if grant.has_scope("groups") {
        id_token = id_token.groups(&groups);
    }
    let access_token = user_access_token(&s.custom, &issuer, &grant.login)
        .claim("cid", json!(grant.client_id))
        .claim("auth_time", json!(grant.auth_time))
        .scopes(&scopes)
        .groups(&groups)
        .mint();
    (id_token, access_token)
}

impl Deref for FakeOkta {
    type Target = Idp;

    fn deref(&self) -> &Idp {
        &self.custom
    }
}

fn metadata(base: &str, issuer: &str, endpoints: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{endpoints}/authorize"),
        "token_endpoint": format!("{endpoints}/token"),
        "userinfo_endpoint": format!("{endpoints}/userinfo"),
        "registration_endpoint": format!("{base}/oauth2/v1/clients"),
        "jwks_uri": format!("{endpoints}/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "code token",
            "id_token token", "code id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post", "okta_post_message"],
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token",
            "password", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:token-exchange"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access",
            "groups"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
            "client_secret_jwt", "private_key_jwt", "none"],
        "claims_supported": ["iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time",
            "amr", "idp", "nonce", "name", "email", "preferred_username", "groups"],
        "code_challenge_methods_supported": ["S256"],
        "introspection_endpoint": format!("{endpoints}/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic",
            "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
        "revocation_endpoint": format!("{endpoints}/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic",
            "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
        "end_session_endpoint": format!("{endpoints}/logout"),
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": ["HS256", "HS384", "HS512", "RS256",
            "RS384", "RS512", "ES256", "ES384", "ES512"],
    })
}

async fn custom_discovery(State(s): State<AppState>) -> Response {
    let issuer = s.custom_issuer();
    let doc = metadata(&s.base, &issuer, &format!("{issuer}/v1"));
    s.custom.serve_discovery(doc).await
}

async fn custom_authorize(State(s): State<AppState>, RawQuery(query): RawQuery) -> Response {
    login::authorize(&s.custom, &s.custom_issuer(), query.as_deref())
}

async fn custom_token(State(s): State<AppState>, h: HeaderMap, body: String) -> Response {
    let issuer = s.custom_issuer();
    let issue = |grant: &Grant| code_flow_tokens(&s, grant);
    code_exchange::token(&s.custom, &issuer, &h, &body, issue).await
}

async fn org_discovery(State(s): State<AppState>) -> Response {
    let doc = metadata(&s.base, &s.base, &format!("{}/oauth2/v1", s.base));
    s.org.serve_discovery(doc).await
}

async fn custom_keys(State(s): State<AppState>) -> Response {
    s.custom.serve_jwks(s.custom.jwks()).await
}

async fn org_keys(State(s): State<AppState>) -> Response {
    s.org.serve_jwks(s.org.jwks()).await
}

async fn custom_introspect(State(s): State<AppState>, h: HeaderMap, body: String) -> Response {
    let issuer = s.custom_issuer();
    introspect(&s, &s.custom, &issuer, &h, &body).await
}

async fn org_introspect(State(s): State<AppState>, h: HeaderMap, body: String) -> Response {
    introspect(&s, &s.org, &s.base, &h, &body).await
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": code, "error_description": description});
    (status, axum::Json(body)).into_response()
}

fn basic_credentials(h: &HeaderMap) -> Option<(String, String)> {
    let value = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// RFC 7662 as Okta answers it: client_secret_basic, then `active` plus the
/// token's claims and Okta's extra members, or `{"active": false}`.
async fn introspect(s: &AppState, idp: &Idp, issuer: &str, h: &HeaderMap, body: &str) -> Response {
    s.intro.calls.fetch_add(1, Ordering::SeqCst);
    let mode = *s.intro.mode.lock().expect("mode");
    if let Some(resp) = mode.apply().await {
        return resp;
    }
    let expected = (
        INTROSPECT_CLIENT_ID.to_owned(),
        s.intro.client_secret.clone(),
    );
    if basic_credentials(h) != Some(expected) {
        let msg = "Client authentication failed.";
        return error(StatusCode::UNAUTHORIZED, "invalid_client", msg);
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let Some((_, token)) = form.iter().find(|(k, _)| k == "token") else {
        let msg = "The token parameter is required.";
        return error(StatusCode::BAD_REQUEST, "invalid_request", msg);
    };
    let inactive = s.intro.inactive.lock().expect("inactive").clone();
    let claims = jwt::verify_with_jwks(token, &idp.jwks()).ok().filter(|c| {
        c["iss"] == issuer
            && c["exp"].as_i64().is_some_and(|exp| exp > jwt::now())
            && !c["jti"].as_str().is_some_and(|jti| inactive.contains(jti))
    });
    let Some(mut answer) = claims else {
        return axum::Json(json!({"active": false})).into_response();
    };
    let scope = answer["scp"].as_array().map(|scp| {
        let v: Vec<&str> = scp.iter().filter_map(Value::as_str).collect();
        v.join(" ")
    });
    answer["active"] = json!(true);
    answer["token_type"] = json!("Bearer");
    if let Some(cid) = answer.get("cid").cloned() {
        answer["client_id"] = cid;
    }
    answer["username"] = answer["sub"].clone();
    if let Some(scope) = scope {
        answer["scope"] = json!(scope);
    }
    axum::Json(answer).into_response()
}
