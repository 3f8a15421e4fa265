//! The dev IdP's token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC
//! Core §3.1.3): a code from [`super::login`] redeemed once, by agent-sts
//! with `client_secret_basic`, for an Okta-shaped ID token and access token.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::login::{DEV_LOGIN_CLIENT_ID, DEV_LOGIN_CLIENT_SECRET, Issued, params};
use super::{DEV_AUDIENCE, DEV_NOTICE, DevIdp, Shape, okta_uid};
use crate::clock::UnixTime;
use crate::digest::{constant_time_eq, sha256, sha256_hex};
use crate::error::{ErrorCode, OAuthError};
use crate::tokens::{random_id, sign_jwt};

const TOKEN_TTL: i64 = 3_600;

/// RFC 7636 §4.1: 43–128 unreserved characters.
fn is_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `client_secret_basic` (RFC 6749 §2.3.1): id and secret form-encoded,
/// then base64.
fn basic_credentials(authorization: Option<&str>) -> Option<(String, String)> {
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

fn invalid(error: ErrorCode, description: &str) -> OAuthError {
    OAuthError::new(error, description)
}

impl DevIdp {
    /// `POST {base}/token` (RFC 6749 §4.1.3, RFC 7636 §4.6): the code, once,
    /// by the client it was issued to, with the same redirect URI and the
    /// verifier of its challenge. Answers the token response (ID token and
    /// an access token, both Okta-shaped).
    pub fn redeem(
        &self,
        authorization: Option<&str>,
        form: &str,
        now: UnixTime,
    ) -> Result<Value, OAuthError> {
        let params = params(form).map_err(|m| invalid(ErrorCode::InvalidRequest, &m))?;
        let get = |k: &str| params.get(k).map(String::as_str);
        let client_id = self.authenticate(authorization, get("client_secret"))?;
        if get("grant_type") != Some("authorization_code") {
            return Err(invalid(
                ErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code",
            ));
        }
        let code =
            get("code").ok_or_else(|| invalid(ErrorCode::InvalidRequest, "code is required"))?;
        // Taken whatever happens next: a code is used at most once (§4.1.2).
        let issued = self
            .codes()
            .remove(&sha256_hex(code.as_bytes()))
            .ok_or_else(|| {
                invalid(
                    ErrorCode::InvalidGrant,
                    "the code is unknown or already used",
                )
            })?;
        let bad_grant = |m: &str| Err(invalid(ErrorCode::InvalidGrant, m));
        if now >= issued.expires {
            return bad_grant("the code expired");
        }
        if issued.client_id != client_id {
            return bad_grant("the code was issued to another client");
        }
        if get("redirect_uri") != Some(issued.redirect_uri.as_str()) {
            return bad_grant("redirect_uri is not the one the code was requested with");
        }
        let verifier = get("code_verifier")
            .filter(|v| is_verifier(v))
            .ok_or_else(|| {
                invalid(
                    ErrorCode::InvalidRequest,
                    "code_verifier is required: 43-128 unreserved characters",
                )
            })?;
        let challenge = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
        if challenge != issued.code_challenge {
            return bad_grant("code_verifier does not match the code_challenge");
        }
        self.tokens(&issued, now).map_err(|e| {
            tracing::error!(error = %e, "the dev IdP could not sign its tokens");
            OAuthError::server_error()
        })
    }

    /// `client_secret_basic` only; a secret in the body too is two methods
    /// (RFC 6749 §2.3).
    fn authenticate(
        &self,
        authorization: Option<&str>,
        body_secret: Option<&str>,
    ) -> Result<String, OAuthError> {
        let Some((id, secret)) = basic_credentials(authorization) else {
            return Err(invalid(
                ErrorCode::InvalidClient,
                "authenticate with client_secret_basic",
            ));
        };
        if body_secret.is_some() {
            return Err(invalid(
                ErrorCode::InvalidRequest,
                "use one client authentication method",
            ));
        }
        let secret_ok = constant_time_eq(
            &sha256(secret.as_bytes()),
            &sha256(DEV_LOGIN_CLIENT_SECRET.as_bytes()),
        );
        if id != DEV_LOGIN_CLIENT_ID || !secret_ok {
            return Err(invalid(
                ErrorCode::InvalidClient,
                "client authentication failed",
            ));
        }
        Ok(id)
    }

    /// The token response: an Okta-shaped ID token (OIDC Core §2: `aud` the
    /// client, the request's `nonce`; the profile, email and groups claims
    /// as their scopes ask) and an Okta-shaped access token.
    fn tokens(&self, issued: &Issued, now: UnixTime) -> Result<Value, String> {
        let user = issued.user;
        let has = |s: &str| issued.scopes.iter().any(|x| x == s);
        let iss = self.issuer(Shape::Okta);
        let unique = random_id().map_err(|e| e.to_string())?;
        let mut id = json!({
            "sub": okta_uid(user.login),
            "ver": 1,
            "iss": iss,
            "aud": issued.client_id,
            "iat": now, "exp": now + TOKEN_TTL, "auth_time": issued.auth_time,
            "jti": format!("ID.{unique}"),
            "amr": ["pwd"],
            "idp": "00odevidp00000000000",
        });
        if let Some(nonce) = &issued.nonce {
            id["nonce"] = json!(nonce);
        }
        if has("profile") {
            id["name"] = json!(user.name);
            id["preferred_username"] = json!(user.login);
        }
        if has("email") {
            id["email"] = json!(user.login);
        }
        if has("groups") {
            id["groups"] = json!(user.groups);
        }
        id["agent_sts_dev_idp"] = json!(DEV_NOTICE);
        let access = json!({
            "ver": 1,
            "jti": format!("AT.{unique}"),
            "iss": iss,
            "aud": DEV_AUDIENCE,
            "iat": now, "exp": now + TOKEN_TTL, "auth_time": issued.auth_time,
            "cid": issued.client_id,
            "uid": okta_uid(user.login),
            "scp": issued.scopes,
            "sub": user.login,
            "groups": user.groups,
            "agent_sts_dev_idp": DEV_NOTICE,
        });
        Ok(json!({
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "access_token": sign_jwt(&self.key, "at+jwt", &access).map_err(|e| e.to_string())?,
            "scope": issued.scopes.join(" "),
            "id_token": sign_jwt(&self.key, "JWT", &id).map_err(|e| e.to_string())?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::idp::Browser;

    const BASE: &str = "http://127.0.0.1:8080/dev/idp";
    const CALLBACK: &str = "http://127.0.0.1:8080/authorize/callback";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    /// A code for `user`, issued at `at` through the sign-in form.
    fn issue(idp: &DevIdp, user: &str, at: UnixTime) -> String {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", DEV_LOGIN_CLIENT_ID),
                ("redirect_uri", CALLBACK),
                ("scope", "openid profile groups"),
                ("state", "s-1"),
                ("nonce", "n-1"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("user", user),
            ])
            .finish();
        let Browser::Redirect(to) = idp.authorize_submit(&form, at) else {
            panic!("a redirect");
        };
        let url = url::Url::parse(&to).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn redeem_form(code: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("code_verifier", VERIFIER)
            .finish()
    }

    fn claims(jwt: &str) -> Value {
        let part = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_code_gives_an_okta_shaped_id_token_once() {
        let idp = DevIdp::new(BASE, 1_000).unwrap();
        let code = issue(&idp, "alice", 1_000);
        let auth = basic(DEV_LOGIN_CLIENT_ID, DEV_LOGIN_CLIENT_SECRET);
        let body = idp.redeem(Some(&auth), &redeem_form(&code), 1_030).unwrap();
        let c = claims(body["id_token"].as_str().unwrap());
        assert_eq!(c["iss"], format!("{BASE}/okta/oauth2/default"));
        assert_eq!(c["aud"], DEV_LOGIN_CLIENT_ID);
        assert_eq!(c["sub"], okta_uid("alice@example.com"));
        assert_eq!(c["nonce"], "n-1");
        assert_eq!(c["groups"], json!(["Support-Agents", "Everyone"]));
        assert_eq!(c["preferred_username"], "alice@example.com");
        assert!(c.get("email").is_none(), "no email scope, no email claim");
        assert_eq!(
            (c["iat"].as_i64(), c["auth_time"].as_i64()),
            (Some(1_030), Some(1_000))
        );
        let again = idp.redeem(Some(&auth), &redeem_form(&code), 1_031);
        assert_eq!(again.unwrap_err().error, ErrorCode::InvalidGrant);
    }

    #[test]
    fn redemption_refusals() {
        let idp = DevIdp::new(BASE, 0).unwrap();
        let good = Some(basic(DEV_LOGIN_CLIENT_ID, DEV_LOGIN_CLIENT_SECRET));
        let form = || redeem_form(&issue(&idp, "bob", 0));
        let cases: Vec<(Option<String>, String, UnixTime, ErrorCode)> = vec![
            (None, form(), 1, ErrorCode::InvalidClient),
            (
                Some(basic(DEV_LOGIN_CLIENT_ID, "wrong")),
                form(),
                1,
                ErrorCode::InvalidClient,
            ),
            (good.clone(), form(), 60, ErrorCode::InvalidGrant),
            (
                good.clone(),
                form().replace(VERIFIER, &"a".repeat(43)),
                1,
                ErrorCode::InvalidGrant,
            ),
            (
                good.clone(),
                form().replace("authorize%2Fcallback", "other"),
                1,
                ErrorCode::InvalidGrant,
            ),
            (
                good.clone(),
                form().replace("authorization_code", "password"),
                1,
                ErrorCode::UnsupportedGrantType,
            ),
            (
                good.clone(),
                format!("{}&client_secret=x", form()),
                1,
                ErrorCode::InvalidRequest,
            ),
        ];
        for (auth, form, at, want) in cases {
            let err = idp.redeem(auth.as_deref(), &form, at).unwrap_err();
            assert_eq!(err.error, want, "{form}");
        }
    }
}
