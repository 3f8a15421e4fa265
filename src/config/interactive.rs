//! Rules for `interactive` agents (MCP clients whose users sign in through
//! `/authorize`) and for upstream logins.

use url::Url;

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
        if a.client.redirect_uris.is_empty() {
            e.push(
                at("client.redirect_uris"),
                "an interactive agent needs the redirect URIs its users return to",
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

/// `http://127.0.0.1…` or `http://[::1]…` (RFC 8252 §7.3; not `localhost`,
/// §8.3).
pub fn is_loopback(url: &Url) -> bool {
    matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
}
