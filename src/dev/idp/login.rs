//! Signing in at the dev IdP: an OpenID provider for agent-sts's
//! `interactive` pattern (OIDC Core §3.1, the authorization code flow with
//! PKCE, RFC 7636). One relying party is registered, agent-sts itself, with
//! `{issuer}/authorize/callback` as its only redirect URI; the user picks
//! one of a few sample users with a click (no password); the code is
//! single-use and lives 60 seconds. Its redemption is [`super::token`].

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::DevIdp;
use crate::clock::UnixTime;
use crate::digest::sha256_hex;
use crate::error::shown;
use crate::tokens::random_bytes;

/// agent-sts's client id at the dev IdP (`[upstreams.login]` of `dev-okta`
/// in `examples/start-dev.toml`).
pub const DEV_LOGIN_CLIENT_ID: &str = "agent-sts-dev";
/// Its client secret: a dev-only literal, in `examples/start-dev.toml` too.
pub const DEV_LOGIN_CLIENT_SECRET: &str = "dev-secret-agent-sts-login";
/// The scopes the dev IdP knows; `groups` adds the groups claim to the ID
/// token, as at Okta.
pub const SCOPES: [&str; 4] = ["openid", "profile", "email", "groups"];
/// A code is redeemed within this many seconds, once.
const CODE_TTL: i64 = 60;
/// Codes kept at most (a dev server; nobody should issue this many a minute).
const MAX_CODES: usize = 1_000;

/// A user to sign in as, with the groups the sample policy decides on.
#[derive(Debug)]
pub struct SampleUser {
    /// The form's value.
    pub id: &'static str,
    /// The Okta login (`preferred_username`, `email`).
    pub login: &'static str,
    pub name: &'static str,
    pub groups: &'static [&'static str],
    /// What the sample policy makes of them.
    pub note: &'static str,
}

pub const SAMPLE_USERS: [SampleUser; 2] = [
    SampleUser {
        id: "alice",
        login: "alice@example.com",
        name: "Alice Example",
        groups: &["Support-Agents", "Everyone"],
        note: "a support agent: the sample policy grants her the support scopes",
    },
    SampleUser {
        id: "bob",
        login: "bob@example.com",
        name: "Bob Example",
        groups: &["Everyone"],
        note: "not in Support-Agents: the sample policy refuses him the ticket scopes",
    },
];

/// What the browser is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Browser {
    /// 200: the sign-in page (HTML).
    Page(String),
    /// 400: an error page (HTML), when the client or its redirect URI
    /// cannot be trusted: never a redirect (RFC 6749 §4.1.2.1).
    ErrorPage(String),
    /// 302 to this URL: the client's redirect URI with a code or an error.
    Redirect(String),
}

/// An authorization request that passed every check (RFC 6749 §4.1.1,
/// OIDC Core §3.1.2.1, RFC 7636 §4.3).
#[derive(Debug)]
pub(super) struct SignIn {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub scopes: Vec<String>,
    pub login_hint: Option<String>,
}

/// A code waiting to be redeemed.
#[derive(Debug)]
pub(super) struct Issued {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub user: &'static SampleUser,
    pub auth_time: UnixTime,
    pub expires: UnixTime,
}

/// The parameters of a query or form, each at most once (RFC 6749 §3.1);
/// an empty value counts as absent. `Err` names a repeated parameter.
pub(super) fn params(raw: &str) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if v.is_empty() {
            continue;
        }
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("parameter {} is repeated", shown(&k)));
        }
    }
    Ok(params)
}

/// `url` with `pairs` added to its query.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.into()
        }
        Err(_) => url.to_string(),
    }
}

/// RFC 7636 §4.2: `S256` gives 43 base64url characters.
fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl DevIdp {
    /// `GET {base}/authorize`: check the request, then show the page where
    /// the user picks whom to sign in as.
    pub fn authorize_page(&self, query: &str) -> Browser {
        match self.check_sign_in(query) {
            Ok((request, _)) => Browser::Page(self.sign_in_page(&request)),
            Err(answer) => answer,
        }
    }

    /// `POST {base}/authorize`: the page's form. Checked again (a form can
    /// be forged as easily as a query), then back to the client with a
    /// code and its `state`.
    pub fn authorize_submit(&self, form: &str, now: UnixTime) -> Browser {
        let (request, params) = match self.check_sign_in(form) {
            Ok(checked) => checked,
            Err(answer) => return answer,
        };
        let chosen = params.get("user").map(String::as_str);
        let Some(user) = SAMPLE_USERS.iter().find(|u| Some(u.id) == chosen) else {
            return Browser::ErrorPage(page_error("pick one of the sample users"));
        };
        let Ok(bytes) = random_bytes::<32>() else {
            return back(
                &request,
                "temporarily_unavailable",
                "no randomness; try again",
            );
        };
        let code = URL_SAFE_NO_PAD.encode(bytes);
        let issued = Issued {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            scopes: request.scopes.clone(),
            user,
            auth_time: now,
            expires: now + CODE_TTL,
        };
        {
            let mut codes = self.codes();
            codes.retain(|_, c| c.expires > now);
            if codes.len() >= MAX_CODES {
                return back(
                    &request,
                    "temporarily_unavailable",
                    "too many codes; try later",
                );
            }
            codes.insert(sha256_hex(code.as_bytes()), issued);
        }
        let mut pairs = vec![("code", code.as_str())];
        if let Some(s) = &request.state {
            pairs.push(("state", s));
        }
        Browser::Redirect(with_query(&request.redirect_uri, &pairs))
    }

    /// The request's checks, in the order RFC 6749 §4.1.2.1 wants them:
    /// until the client and its exact redirect URI are known, an error
    /// page; after, errors go back to the redirect URI with `state`.
    fn check_sign_in(&self, raw: &str) -> Result<(SignIn, HashMap<String, String>), Browser> {
        let params = params(raw).map_err(|m| Browser::ErrorPage(page_error(&m)))?;
        let get = |k: &str| params.get(k).map(String::as_str);
        if get("client_id") != Some(DEV_LOGIN_CLIENT_ID) {
            return Err(Browser::ErrorPage(page_error(&format!(
                "client_id is not a client of the dev IdP (it knows only {DEV_LOGIN_CLIENT_ID}, agent-sts)"
            ))));
        }
        // RFC 6749 §3.1.2.3, OAuth 2.1: compared as strings, exactly.
        let Some(redirect_uri) = get("redirect_uri").filter(|r| *r == self.callback) else {
            return Err(Browser::ErrorPage(page_error(&format!(
                "redirect_uri {} is not registered for {DEV_LOGIN_CLIENT_ID} (only {})",
                get("redirect_uri").map_or("(none)".into(), shown),
                self.callback
            ))));
        };
        let mut request = SignIn {
            client_id: DEV_LOGIN_CLIENT_ID.to_string(),
            redirect_uri: redirect_uri.to_string(),
            state: get("state").map(str::to_string),
            nonce: get("nonce").map(str::to_string),
            code_challenge: String::new(),
            scopes: Vec::new(),
            login_hint: get("login_hint").map(str::to_string),
        };
        if get("response_type") != Some("code") {
            return Err(back(
                &request,
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
        request.scopes = get("scope")
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        // OIDC Core §3.1.2.1: an OpenID request has the openid scope.
        if !request.scopes.iter().any(|s| s == "openid") {
            return Err(back(&request, "invalid_scope", "scope must include openid"));
        }
        if let Some(unknown) = request
            .scopes
            .iter()
            .find(|s| !SCOPES.contains(&s.as_str()))
        {
            let m = format!("unknown scope {}", shown(unknown));
            return Err(back(&request, "invalid_scope", &m));
        }
        let Some(challenge) = get("code_challenge") else {
            return Err(back(
                &request,
                "invalid_request",
                "code_challenge is required (PKCE)",
            ));
        };
        if get("code_challenge_method") != Some("S256") || !is_s256_challenge(challenge) {
            let m = "code_challenge_method must be S256, with a 43-character code_challenge";
            return Err(back(&request, "invalid_request", m));
        }
        request.code_challenge = challenge.to_string();
        Ok((request, params))
    }

    pub(super) fn codes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An error back to the client (RFC 6749 §4.1.2.1), with its `state`.
fn back(request: &SignIn, error: &str, description: &str) -> Browser {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = &request.state {
        pairs.push(("state", s));
    }
    Browser::Redirect(with_query(&request.redirect_uri, &pairs))
}

fn page_error(message: &str) -> String {
    super::page::error_page(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080/dev/idp";
    const CALLBACK: &str = "http://127.0.0.1:8080/authorize/callback";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn query(extra: &[(&str, &str)], without: &[&str]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("response_type", "code"),
            ("client_id", DEV_LOGIN_CLIENT_ID),
            ("redirect_uri", CALLBACK),
            ("scope", "openid profile groups"),
            ("state", "s-1"),
            ("nonce", "n-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ] {
            if !without.contains(&k) && !extra.iter().any(|(e, _)| *e == k) {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        q.finish()
    }

    #[test]
    fn untrusted_clients_get_a_page_the_rest_go_back_with_state() {
        let idp = DevIdp::new(BASE, 0).unwrap();
        for q in [
            query(&[("client_id", "stranger")], &[]),
            query(
                &[("redirect_uri", "http://127.0.0.1:8080/authorize/callback/x")],
                &[],
            ),
            query(&[], &["redirect_uri"]),
            format!("{}&state=again", query(&[], &[])),
        ] {
            assert!(
                matches!(idp.authorize_page(&q), Browser::ErrorPage(_)),
                "{q}"
            );
        }
        for (q, error) in [
            (query(&[], &["code_challenge"]), "invalid_request"),
            (
                query(&[("code_challenge_method", "plain")], &[]),
                "invalid_request",
            ),
            (query(&[("scope", "profile")], &[]), "invalid_scope"),
            (
                query(&[("response_type", "token")], &[]),
                "unsupported_response_type",
            ),
        ] {
            let Browser::Redirect(to) = idp.authorize_page(&q) else {
                panic!("a redirect for {q}");
            };
            let url = url::Url::parse(&to).unwrap();
            let got: HashMap<_, _> = url.query_pairs().into_owned().collect();
            assert_eq!(
                (got["error"].as_str(), got["state"].as_str()),
                (error, "s-1")
            );
            assert!(!got.contains_key("code"));
        }
        let unknown = idp.authorize_submit(&query(&[("user", "mallory")], &[]), 0);
        assert!(matches!(unknown, Browser::ErrorPage(_)));
    }
}
