//! agent-sts as an OpenID Connect relying party of an upstream IdP (the
//! `interactive` pattern): the sign-in URL the user's browser is sent to
//! (authorization code + PKCE `S256` + `nonce`), and the redemption of the
//! code at the IdP's token endpoint, whose ID token is verified like any
//! upstream token but for our relying-party `client_id` and that `nonce`.

use serde_json::{Map, Value};

use super::{Expect, Refusal, UpstreamRegistry, VerifiedToken, fetch, jws};
use crate::reason::Reason;

/// What one sign-in sends the IdP.
#[derive(Debug)]
pub struct LoginRequest<'a> {
    /// Ours: `{issuer}/authorize/callback`.
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    /// base64url(SHA-256(verifier)).
    pub code_challenge: &'a str,
    /// `login_hint` passed on, when the client gave one.
    pub login_hint: Option<&'a str>,
}

fn failed(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::UpstreamLoginFailed, detail)
}

/// OIDC Core §3.1.3.7: our client id among `aud` (and `azp` ours when there
/// are several), the `nonce` this login sent.
pub(super) fn check_id_token(
    claims: &Map<String, Value>,
    client_id: &str,
    nonce: &str,
) -> Result<(), Refusal> {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(Refusal::new(
                Reason::MissingClaim,
                "the ID token has no aud",
            ));
        }
    };
    if !audiences.contains(&client_id) {
        return Err(Refusal::new(
            Reason::WrongAudience,
            format!("the ID token is not for our client {client_id}"),
        ));
    }
    if audiences.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(client_id) {
        return Err(Refusal::new(
            Reason::WrongAudience,
            "the ID token has several audiences and azp is not our client",
        ));
    }
    let sent = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    let digest = |s: &str| crate::digest::sha256(s.as_bytes());
    if !crate::digest::constant_time_eq(&digest(sent), &digest(nonce)) {
        return Err(Refusal::new(
            Reason::NonceMismatch,
            "the ID token's nonce is not this sign-in's",
        ));
    }
    Ok(())
}

impl UpstreamRegistry {
    /// Can users sign in at upstream `name`?
    pub fn has_login(&self, name: &str) -> bool {
        self.upstreams
            .iter()
            .any(|u| *u.name == *name && u.config.login.is_some())
    }

    /// The first of `names` (or of every user upstream, when empty) where
    /// users can sign in.
    pub fn login_upstream<'a>(&'a self, names: &'a [String]) -> Option<&'a str> {
        self.upstreams
            .iter()
            .filter(|u| u.config.login.is_some() && u.config.usage == super::UpstreamUse::User)
            .map(|u| &*u.name)
            .find(|n| names.is_empty() || names.iter().any(|x| x == n))
    }

    /// (authorization, token) endpoints of `name`'s sign-in: configured,
    /// else discovered (fetching discovery once if it was not yet).
    async fn login_endpoints(&self, name: &str) -> Result<(String, String), Refusal> {
        let up = self
            .upstreams
            .iter()
            .find(|u| *u.name == *name)
            .ok_or_else(|| failed(format!("no upstream {name}")))?;
        let login = up
            .config
            .login
            .as_ref()
            .ok_or_else(|| failed(format!("upstream {name} has no login")))?;
        let mut found = up.keys.endpoints();
        if (login.authorization_endpoint.is_none() && found.authorization.is_none())
            || (login.token_endpoint.is_none() && found.token.is_none())
        {
            up.keys.refresh(&self.http, self.clock.now(), None).await;
            found = up.keys.endpoints();
        }
        let pick = |configured: &Option<String>, discovered: Option<String>, what: &str| {
            configured.clone().or(discovered).ok_or_else(|| {
                failed(format!(
                    "upstream {name} names no {what} (set upstreams.login.{what})"
                ))
            })
        };
        Ok((
            pick(
                &login.authorization_endpoint,
                found.authorization,
                "authorization_endpoint",
            )?,
            pick(&login.token_endpoint, found.token, "token_endpoint")?,
        ))
    }

    /// Where to send the user's browser to sign in at `name`.
    pub async fn login_url(&self, name: &str, req: &LoginRequest<'_>) -> Result<String, Refusal> {
        let (authorize, _) = self.login_endpoints(name).await?;
        let login = self.login_config(name)?;
        let mut url = url::Url::parse(&authorize)
            .map_err(|e| failed(format!("authorization_endpoint: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &login.client_id)
                .append_pair("redirect_uri", req.redirect_uri)
                .append_pair("scope", &login.scopes.join(" "))
                .append_pair("state", req.state)
                .append_pair("nonce", req.nonce)
                .append_pair("code_challenge", req.code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(hint) = req.login_hint {
                q.append_pair("login_hint", hint);
            }
        }
        Ok(url.into())
    }

    fn login_config(&self, name: &str) -> Result<&crate::config::UpstreamLogin, Refusal> {
        self.upstreams
            .iter()
            .find(|u| *u.name == *name)
            .and_then(|u| u.config.login.as_ref())
            .ok_or_else(|| failed(format!("upstream {name} has no login")))
    }

    /// Redeem the IdP's `code` (with the PKCE `verifier` and our client
    /// secret, `client_secret_basic`) and verify the ID token it returns:
    /// signature by the IdP's keys, issuer, tenant, times, our client id as
    /// `aud`, this sign-in's `nonce`.
    pub async fn finish_login(
        &self,
        name: &str,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<VerifiedToken, Refusal> {
        let (_, token_endpoint) = self.login_endpoints(name).await?;
        let login = self.login_config(name)?;
        let secret = self
            .upstreams
            .iter()
            .find(|u| *u.name == *name)
            .and_then(|u| u.login_secret.as_ref())
            .ok_or_else(|| failed(format!("upstream {name} has no login secret")))?;
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let resp = self
            .http
            .post(&token_endpoint)
            .basic_auth(encode(&login.client_id), Some(encode(secret.expose())))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| failed(format!("the IdP's token endpoint: {}", fetch::describe(&e))))?;
        let status = resp.status();
        let body = fetch::read_json(resp)
            .await
            .map_err(|e| failed(format!("the IdP's token endpoint: {e}")))?
            .body;
        if !status.is_success() {
            let error = body.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(failed(format!(
                "the IdP's token endpoint answered {} {}",
                status.as_u16(),
                crate::error::shown(error)
            )));
        }
        let id_token = body
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("the IdP's token endpoint returned no id_token"))?;
        let expect = Expect::IdToken {
            upstream: name,
            client_id: &login.client_id,
            nonce,
        };
        self.verify_as(jws::parse(id_token)?, id_token, expect)
            .await
    }
}
