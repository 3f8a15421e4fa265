//! `interactive` agents (MCP clients whose users sign in through
//! `/authorize`): the upstream login and refresh-token settings, and their
//! rules.

use serde::Deserialize;
use url::Url;

use super::{SecretSource, Span};

use super::validate::{Errors, check_public_url};
use super::{ClientAuthMethod, Config, Pattern, UpstreamUse};

pub(super) fn validate(c: &Config, e: &mut Errors) {
    let a = &c.authorization;
    if a.refresh_absolute > super::DEFAULT_MAX_TOKEN_AGE {
        e.push(
            "authorization.refresh_absolute",
            format!(
                "{} is too long: at most 24h (a revocation is kept that long)",
                a.refresh_absolute
            ),
        );
    }
    if a.refresh_idle > a.refresh_absolute {
        e.push(
            "authorization.refresh_idle",
            "must not be longer than refresh_absolute",
        );
    }
    for u in &c.upstreams {
        let Some(login) = &u.login else { continue };
        let at = |f: &str| format!("upstreams.{}.login.{f}", u.name);
        if u.usage != UpstreamUse::User {
            e.push(at("client_id"), "users sign in at a user upstream only");
        }
        if !login.scopes.iter().any(|s| s == "openid") {
            e.push(at("scopes"), "include openid: the login is OpenID Connect");
        }
        for (field, url) in [
            ("authorization_endpoint", &login.authorization_endpoint),
            ("token_endpoint", &login.token_endpoint),
        ] {
            if let Some(Err(m)) = url.as_deref().map(check_public_url) {
                e.push(at(field), m);
            }
        }
    }
    for (i, a) in c.agents.iter().enumerate() {
        let at = |f: &str| format!("agents[{i}].{f}");
        let interactive = a.patterns.contains(&Pattern::Interactive);
        if a.client.auth == ClientAuthMethod::None
            && a.patterns.iter().any(|p| *p != Pattern::Interactive)
        {
            e.push(
                at("patterns"),
                "a public client (auth = \"none\") may use the interactive pattern only",
            );
        }
        if !interactive {
            if !a.client.redirect_uris.is_empty() {
                e.push(
                    at("client.redirect_uris"),
                    "redirect URIs are for interactive agents",
                );
            }
            continue;
        }
        if a.client.redirect_uris.is_empty() && !is_document_url(&a.client.id) {
            e.push(
                at("client.redirect_uris"),
                "an interactive agent needs the redirect URIs its users return to \
                 (or a client id that is the URL of its metadata document)",
            );
        }
        for (j, uri) in a.client.redirect_uris.iter().enumerate() {
            if let Err(m) = check_redirect_uri(uri) {
                e.push(at(&format!("client.redirect_uris[{j}]")), m);
            }
        }
        let login = c.upstreams.iter().any(|u| {
            u.login.is_some()
                && u.usage == UpstreamUse::User
                && (a.user_upstreams.is_empty() || a.user_upstreams.contains(&u.name))
        });
        if !login {
            e.push(
                at("patterns"),
                "interactive: no user upstream of this agent has a [upstreams.login] to sign in at",
            );
        }
    }
}

/// RFC 8252 / OAuth 2.1: https, loopback http (any port is then matched),
/// or a private-use scheme of a reverse domain name (`com.example.app:/cb`);
/// never a fragment.
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|err| format!("\"{uri}\" is not an absolute URI: {err}"))?;
    if url.fragment().is_some() {
        return Err(format!("\"{uri}\" must not have a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "\"{uri}\": http only on the loopback interface (127.0.0.1 or [::1])"
        )),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(format!(
            "\"{uri}\": use https, loopback http or a private-use scheme (com.example.app:/callback)"
        )),
    }
}

/// An agent's client id names a metadata document: an https URL (or
/// loopback http) with a path.
pub fn is_document_url(client_id: &str) -> bool {
    url::Url::parse(client_id).is_ok_and(|u| {
        (u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)))
            && u.path() != "/"
            && u.fragment().is_none()
    })
}

/// `http://127.0.0.1…` or `http://[::1]…` (RFC 8252 §7.3; not `localhost`,
/// §8.3).
pub fn is_loopback(url: &Url) -> bool {
    matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
}

/// agent-sts's registration at an upstream IdP as an OIDC relying party
/// (its redirect URI is `{issuer}/authorize/callback`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamLogin {
    /// The ID token's `aud`.
    pub client_id: String,
    /// Sent with `client_secret_basic` to the token endpoint only.
    pub client_secret: SecretSource,
    #[serde(default = "default_login_scopes")]
    pub scopes: Vec<String>,
    /// Default: the discovery document's (on the issuer's origin).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Default: the discovery document's (on the issuer's origin).
    #[serde(default)]
    pub token_endpoint: Option<String>,
}

fn default_login_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}

/// Refresh tokens of the `interactive` pattern, so a user is not sent to
/// the IdP every few minutes: rotated on every use, bound to client and
/// resource.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Unused this long, a refresh token is dead.
    #[serde(default = "default_refresh_idle")]
    pub refresh_idle: Span,
    /// A sign-in's refresh tokens end this long after it, used or not (at
    /// most 24 h: revocations are kept that long).
    #[serde(default = "default_refresh_absolute")]
    pub refresh_absolute: Span,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            refresh_idle: default_refresh_idle(),
            refresh_absolute: default_refresh_absolute(),
        }
    }
}

fn default_refresh_idle() -> Span {
    Span::from_secs(8 * 3_600)
}

fn default_refresh_absolute() -> Span {
    Span::from_secs(24 * 3_600)
}
