//! Fake Entra ID (Azure AD) laid out like login.microsoftonline.com, with
//! v1 and v2 access tokens, app-only tokens and groups-overage tokens, and
//! the v2 authorization-code flow for a relying party (`/{tid}/oauth2/v2.0/
//! authorize` and `/token`; see [`super::login`]).
//! `{base}/sts/{tid}/` stands in for `https://sts.windows.net/{tid}/`.

use super::jwt::{b64url, random_b64, stable_guid};
use super::login::{self, Grant};
use super::server::Server;
use super::token::{Profile, ScopeStyle, TokenBuilder};
use super::{Idp, Vendor, code_exchange};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::ops::Deref;

/// App id of the client app the user signed in with (`azp` in v2, `appid` in v1).
pub const CLIENT_APP_ID: &str = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";
/// App id of the API the tokens are for: default `aud` of v2 tokens.
pub const API_APP_ID: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
/// App ID URI of the same API: default `aud` of v1 tokens.
pub const API_APP_ID_URI: &str = "api://agent-sts";
/// Microsoft Graph's app id: `aud` of the access token the code flow returns.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Past this many groups a JWT carries the overage claims instead of `groups`.
const ID_TOKEN_GROUPS_LIMIT: usize = 200;

/// A fake Entra ID serving the given tenants (one key set for all, as
/// Microsoft does). Derefs to its [`Idp`]. Stops when dropped.
#[derive(Debug)]
pub struct FakeEntra {
    server: Server,
    idp: Idp,
    tenants: Vec<String>,
}

#[derive(Clone)]
struct AppState {
    base: String,
    idp: Idp,
    tenants: Vec<String>,
}

impl AppState {
    /// Whether `tid` is one of this fake's tenants (others get 400 like AADSTS90002).
    fn known(&self, tid: &str) -> bool {
        self.tenants.iter().any(|t| t == tid)
    }

    /// The tenant a sign-in at `tid` lands in: `tid` itself, or for
    /// `common`/`organizations` the first tenant (the user's home tenant).
    fn home_tenant(&self, tid: &str) -> Option<String> {
        if self.known(tid) {
            Some(tid.to_owned())
        } else if is_common(tid) {
            self.tenants.first().cloned()
        } else {
            None
        }
    }
}

impl FakeEntra {
    /// Starts the fake; discovery and keys answer for `tenants` and for `common`.
    pub async fn start(tenants: &[&str]) -> Self {
        let idp = Idp::new(Vendor::Entra);
        let tenants: Vec<String> = tenants.iter().map(|t| t.to_string()).collect();
        let state_idp = idp.clone();
        let state_tenants = tenants.clone();
        let server = Server::start(move |base| {
            let state = AppState {
                base,
                idp: state_idp,
                tenants: state_tenants,
            };
            Router::new()
                .route(
                    "/{tid}/v2.0/.well-known/openid-configuration",
                    get(discovery_v2),
                )
                .route("/{tid}/.well-known/openid-configuration", get(discovery_v1))
                .route("/{tid}/discovery/v2.0/keys", get(keys_v2))
                .route("/{tid}/discovery/keys", get(keys_v1))
                .route("/{tid}/oauth2/v2.0/authorize", get(authorize_v2))
                .route("/{tid}/oauth2/v2.0/token", post(token_v2))
                .with_state(state)
        })
        .await;
        Self {
            server,
            idp,
            tenants,
        }
    }

    /// `http://127.0.0.1:PORT` (stands in for `https://login.microsoftonline.com`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Tenants this fake serves.
    pub fn tenants(&self) -> &[String] {
        &self.tenants
    }

    /// v2 issuer: `{base}/{tid}/v2.0`.
    pub fn issuer_v2(&self, tid: &str) -> String {
        format!("{}/{tid}/v2.0", self.base_url())
    }

    /// v1 issuer: `{base}/sts/{tid}/` (trailing slash, like `https://sts.windows.net/{tid}/`).
    pub fn issuer_v1(&self, tid: &str) -> String {
        format!("{}/sts/{tid}/", self.base_url())
    }

    /// `{base}/{tid}/v2.0/.well-known/openid-configuration`.
    pub fn discovery_url_v2(&self, tid: &str) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer_v2(tid))
    }

    /// `{base}/{tid}/.well-known/openid-configuration`.
    pub fn discovery_url_v1(&self, tid: &str) -> String {
        format!("{}/{tid}/.well-known/openid-configuration", self.base_url())
    }

    /// `{base}/{tid}/discovery/v2.0/keys`.
    pub fn jwks_uri_v2(&self, tid: &str) -> String {
        format!("{}/{tid}/discovery/v2.0/keys", self.base_url())
    }

    /// `{base}/{tid}/discovery/keys`.
    pub fn jwks_uri_v1(&self, tid: &str) -> String {
        format!("{}/{tid}/discovery/keys", self.base_url())
    }

    /// `{base}/common/discovery/v2.0/keys`.
    pub fn common_jwks_uri(&self) -> String {
        self.jwks_uri_v2("common")
    }

    /// Stops the server now (connections are refused afterwards).
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// A user's object id (`oid`), stable per UPN.
    pub fn oid_for(upn: &str) -> String {
        stable_guid(&format!("user:{upn}"))
    }

    /// A service principal's object id (`oid` = `sub` of app-only tokens), stable per app id.
    pub fn sp_oid_for(app_id: &str) -> String {
        stable_guid(&format!("sp:{app_id}"))
    }

    /// A group's object id, stable per display name (for `.groups(&[...])`).
    pub fn group_id(name: &str) -> String {
        stable_guid(&format!("group:{name}"))
    }

    /// Pairwise `sub` for a user and an API app: 43 base64url chars, never the `oid`.
    pub fn pairwise_sub(upn: &str, app_id: &str) -> String {
        let seed = format!("pairwise:{upn}:{app_id}");
        b64url(ring::digest::digest(&ring::digest::SHA256, seed.as_bytes()))
    }

    /// A v2 delegated (user) access token: header `{typ:JWT, alg:RS256, kid}`; claims
    /// `aud, iss, iat, nbf, exp, aio, azp, azpacr, name, oid, preferred_username, rh,
    /// scp:"access_as_user", sub (pairwise), tid, uti, ver:"2.0", groups`.
    pub fn access_token_v2(&self, tid: &str, upn: &str) -> TokenBuilder {
        user_access_token_v2(&self.idp, &self.base_url(), tid, upn)
    }

    /// A v1 delegated access token: header also has `x5t` (= kid); claims `aud, iss (v1),
    /// iat, nbf, exp, acr, aio, amr, appid, appidacr, family_name, given_name, ipaddr,
    /// name, oid, rh, scp, sub, tid, unique_name, upn, uti, ver:"1.0", groups`.
    pub fn access_token_v1(&self, tid: &str, upn: &str) -> TokenBuilder {
        let (given, family, name) = display_name(upn);
        let claims = json!({
            "aud": API_APP_ID_URI, "iss": self.issuer_v1(tid), "acr": "1",
            "aio": random_b64(64), "amr": ["pwd", "mfa"], "appid": CLIENT_APP_ID,
            "appidacr": "0", "family_name": family, "given_name": given,
            "ipaddr": "203.0.113.7", "name": name, "oid": Self::oid_for(upn), "rh": rh(),
            "scp": "access_as_user", "sub": Self::pairwise_sub(upn, API_APP_ID_URI),
            "tid": tid, "unique_name": upn, "upn": upn, "uti": random_b64(16), "ver": "1.0",
            "groups": [Self::group_id("all-staff")],
        });
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid()});
        builder(
            &self.idp,
            header,
            claims,
            format!("https://evil.example.com/sts/{tid}/"),
        )
    }

    /// A v2 app-only token (client credentials): `idtyp:"app"`, `roles`, no `scp`,
    /// `oid` = `sub` = the service principal's object id, `azp` = `app_id`.
    pub fn app_token(&self, tid: &str, app_id: &str) -> TokenBuilder {
        let sp = Self::sp_oid_for(app_id);
        let claims = json!({
            "aud": API_APP_ID, "iss": self.issuer_v2(tid), "aio": random_b64(48),
            "azp": app_id, "azpacr": "1", "idtyp": "app", "oid": sp, "rh": rh(),
            "roles": ["Agents.Invoke"], "sub": sp, "tid": tid, "uti": random_b64(16),
            "ver": "2.0",
        });
        let header = json!({"typ": "JWT", "alg": "RS256"});
        builder(
            &self.idp,
            header,
            claims,
            format!("https://evil.example.com/{tid}/v2.0"),
        )
    }

    /// A v1 app-only token: like [`FakeEntra::app_token`] with `appid`/`appidacr`,
    /// `idp` = the v1 issuer, v1 `iss` and `x5t`.
    pub fn app_token_v1(&self, tid: &str, app_id: &str) -> TokenBuilder {
        let sp = Self::sp_oid_for(app_id);
        let claims = json!({
            "aud": API_APP_ID_URI, "iss": self.issuer_v1(tid), "aio": random_b64(48),
            "appid": app_id, "appidacr": "1", "idp": self.issuer_v1(tid), "idtyp": "app",
            "oid": sp, "rh": rh(), "roles": ["Agents.Invoke"], "sub": sp, "tid": tid,
            "uti": random_b64(16), "ver": "1.0",
        });
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid()});
        builder(
            &self.idp,
            header,
            claims,
            format!("https://evil.example.com/sts/{tid}/"),
        )
    }

    /// A v2 user token in groups overage: no `groups`; `_claim_names.groups` =
    /// `src1`, `_claim_sources.src1.endpoint` = Graph `getMemberObjects` for the user.
    pub fn overage_token(&self, tid: &str, upn: &str) -> TokenBuilder {
        let endpoint = overage_endpoint(upn);
        self.access_token_v2(tid, upn)
            .remove("groups")
            .claim("_claim_names", json!({"groups": "src1"}))
            .claim("_claim_sources", json!({"src1": {"endpoint": endpoint}}))
    }
}

fn builder(idp: &Idp, header: Value, claims: Value, wrong_issuer: String) -> TokenBuilder {
    let profile = Profile {
        nbf: true,
        auth_time: false,
        scopes: ScopeStyle::Spaced,
        wrong_issuer,
        ttl: 3600,
    };
    TokenBuilder::new(idp, header, claims, profile)
}

/// See [`FakeEntra::access_token_v2`].
fn user_access_token_v2(idp: &Idp, base: &str, tid: &str, upn: &str) -> TokenBuilder {
    let claims = json!({
        "aud": API_APP_ID, "iss": format!("{base}/{tid}/v2.0"), "aio": random_b64(64),
        "azp": CLIENT_APP_ID, "azpacr": "0", "name": display_name(upn).2,
        "oid": FakeEntra::oid_for(upn), "preferred_username": upn, "rh": rh(),
        "scp": "access_as_user", "sub": FakeEntra::pairwise_sub(upn, API_APP_ID), "tid": tid,
        "uti": random_b64(16), "ver": "2.0", "groups": [FakeEntra::group_id("all-staff")],
    });
    let header = json!({"typ": "JWT", "alg": "RS256"});
    let wrong_issuer = format!("https://evil.example.com/{tid}/v2.0");
    builder(idp, header, claims, wrong_issuer)
}

/// The Graph `getMemberObjects` URL of a user: the groups-overage claim source.
fn overage_endpoint(upn: &str) -> String {
    let oid = FakeEntra::oid_for(upn);
    format!("https://graph.microsoft.com/v1.0/users/{oid}/getMemberObjects")
}

/// The code flow's tokens for an RP client, as the v2 endpoint issues them:
/// an ID token `{aud: client, iss, iat, nbf, exp, aio, rh, sub (pairwise per
/// client), tid, uti, ver:"2.0"}` plus `name`, `oid`, `preferred_username`
/// for `profile`, `email` for `email`, and `groups` (or, past 200 groups,
/// the overage `_claim_names`/`_claim_sources`); and a Graph access token.
fn code_flow_tokens(s: &AppState, grant: &Grant) -> (TokenBuilder, String) {
    let (tid, upn, client) = (&grant.realm, &grant.login, &grant.client_id);
    let mut claims = json!({
        "aud": client, "iss": format!("{}/{tid}/v2.0", s.base), "aio": random_b64(64),
        "rh": rh(), "sub": FakeEntra::pairwise_sub(upn, client), "tid": tid,
        "uti": random_b64(16), "ver": "2.0",
    });
    if grant.has_scope("profile") {
        claims["name"] = json!(display_name(upn).2);
        claims["oid"] = json!(FakeEntra::oid_for(upn));
        claims["preferred_username"] = json!(upn);
    }
    if grant.has_scope("email") {
        claims["email"] = json!(upn);
    }
    if grant.groups.len() > ID_TOKEN_GROUPS_LIMIT {
        claims["_claim_names"] = json!({"groups": "src1"});
        claims["_claim_sources"] = json!({"src1": {"endpoint": overage_endpoint(upn)}});
    } else if !grant.groups.is_empty() {
        claims["groups"] = json!(grant.groups);
    }
    let header = json!({"typ": "JWT", "alg": "RS256"});
    let wrong_issuer = format!("https://evil.example.com/{tid}/v2.0");
    let id_token = builder(&s.idp, header, claims, wrong_issuer);
    let access_token = user_access_token_v2(&s.idp, &s.base, tid, upn)
        .aud(GRAPH_APP_ID)
        .claim("azp", json!(client))
        .claim("scp", json!("openid profile email User.Read"))
        .remove("groups")
        .mint();
    (id_token, access_token)
}

impl Deref for FakeEntra {
    type Target = Idp;

    fn deref(&self) -> &Idp {
        &self.idp
    }
}

/// (given name, family name, display name) derived from a UPN.
fn display_name(upn: &str) -> (String, String, String) {
    let local = upn.split('@').next().unwrap_or(upn);
    let mut given: Vec<char> = local.chars().collect();
    if let Some(c) = given.first_mut() {
        *c = c.to_ascii_uppercase();
    }
    let given: String = given.into_iter().collect();
    let family = "Tester".to_owned();
    let name = format!("{given} {family}");
    (given, family, name)
}

fn rh() -> String {
    format!("0.A{}.", random_b64(48))
}

fn unknown_tenant(tid: &str) -> Response {
    let body = json!({
        "error": "invalid_tenant",
        "error_description": format!("AADSTS90002: Tenant '{tid}' not found."),
        "error_codes": [90002],
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn is_common(tid: &str) -> bool {
    matches!(tid, "common" | "organizations")
}

async fn discovery_v2(State(s): State<AppState>, Path(tid): Path<String>) -> Response {
    if !s.known(&tid) && !is_common(&tid) {
        return unknown_tenant(&tid);
    }
    let b = &s.base;
    let issuer_tid = if is_common(&tid) { "{tenantid}" } else { &tid };
    let doc = json!({
        "token_endpoint": format!("{b}/{tid}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
            "client_secret_basic"],
        "jwks_uri": format!("{b}/{tid}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{b}/{issuer_tid}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{b}/{tid}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{b}/{tid}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{b}/{tid}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{b}/{tid}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    s.idp.serve_discovery(doc).await
}

async fn discovery_v1(State(s): State<AppState>, Path(tid): Path<String>) -> Response {
    if !s.known(&tid) && !is_common(&tid) {
        return unknown_tenant(&tid);
    }
    let b = &s.base;
    let issuer_tid = if is_common(&tid) { "{tenantid}" } else { &tid };
    let doc = json!({
        "token_endpoint": format!("{b}/{tid}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
            "client_secret_basic"],
        "jwks_uri": format!("{b}/{tid}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token",
            "token"],
        "scopes_supported": ["openid"],
        "issuer": format!("{b}/sts/{issuer_tid}/"),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{b}/{tid}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{b}/{tid}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{b}/{tid}/oauth2/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
            "amr", "nonce", "email", "given_name", "family_name", "nickname"],
        "check_session_iframe": format!("{b}/{tid}/oauth2/checksession"),
        "userinfo_endpoint": format!("{b}/{tid}/openid/userinfo"),
        "kerberos_endpoint": format!("{b}/{tid}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    s.idp.serve_discovery(doc).await
}

/// v2 keys carry an `issuer` member: the tenant's v2 issuer, or the
/// `{tenantid}` template on `common`.
async fn keys_v2(State(s): State<AppState>, Path(tid): Path<String>) -> Response {
    if !s.known(&tid) && !is_common(&tid) {
        return unknown_tenant(&tid);
    }
    let issuer_tid = if is_common(&tid) { "{tenantid}" } else { &tid };
    let issuer = format!("{}/{issuer_tid}/v2.0", s.base);
    let mut jwks = s.idp.jwks();
    for key in jwks["keys"].as_array_mut().into_iter().flatten() {
        key["issuer"] = json!(issuer);
    }
    s.idp.serve_jwks(jwks).await
}

async fn keys_v1(State(s): State<AppState>, Path(tid): Path<String>) -> Response {
    if !s.known(&tid) && !is_common(&tid) {
        return unknown_tenant(&tid);
    }
    s.idp.serve_jwks(s.idp.jwks()).await
}

async fn authorize_v2(
    State(s): State<AppState>,
    Path(tid): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(home) = s.home_tenant(&tid) else {
        return unknown_tenant(&tid);
    };
    login::authorize(&s.idp, &home, query.as_deref())
}

async fn token_v2(
    State(s): State<AppState>,
    Path(tid): Path<String>,
    h: HeaderMap,
    body: String,
) -> Response {
    let Some(home) = s.home_tenant(&tid) else {
        return unknown_tenant(&tid);
    };
    let issue = |grant: &Grant| code_flow_tokens(&s, grant);
    code_exchange::token(&s.idp, &home, &h, &body, issue).await
}
