//! A token request parsed once into its grant's typed form: after the
//! form layer refused repeats and client authentication succeeded, no code
//! asks for a parameter by name again. Each parse checks its parameters in
//! the order the refusals are documented.

use std::fmt;

use super::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, TokenRequest,
    bad_request,
};
use crate::error::{ErrorCode, shown};
use crate::metadata::{
    GRANT_JWT_BEARER, GRANT_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_JAG,
    TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT,
};
use crate::policy::{Denial, Policy};
use crate::reason::Reason;

/// One variant per grant `/token` answers.
#[derive(Debug)]
pub enum GrantRequest {
    TokenExchange(ExchangeRequest),
    ClientCredentials(CredentialsRequest),
    AuthorizationCode(CodeRequest),
    RefreshToken(RefreshRequest),
    /// RFC 7523 jwt-bearer with an ID-JAG (SEP-990 leg 2).
    JwtBearer(AssertionRequest),
    /// Token exchange for an ID-JAG (SEP-990 leg 1).
    IdJag(IdJagRequest),
}

/// RFC 7523 §2.1: `assertion` (an ID-JAG), with an optional `scope` (a
/// subset of the ID-JAG's) and `resource` (the ID-JAG's).
pub struct AssertionRequest {
    pub assertion: String,
    pub scopes: Option<Vec<String>>,
    pub target: Option<String>,
}

/// The assertion is never printed.
impl fmt::Debug for AssertionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionRequest")
            .field(
                "assertion",
                &format_args!("[{} bytes]", self.assertion.len()),
            )
            .field("scopes", &self.scopes)
            .field("target", &self.target)
            .finish()
    }
}

impl AssertionRequest {
    fn parse(req: &TokenRequest) -> Result<Self, Denial> {
        Ok(Self {
            assertion: req.required("assertion")?.to_string(),
            scopes: req.scopes()?,
            target: match req.targets.is_empty() {
                true => None,
                false => Some(req.target()?.to_string()),
            },
        })
    }
}

/// RFC 8693 with `requested_token_type` the ID-JAG's: the user's token,
/// the other authorization server (`audience`) and a resource there
/// (`resource`), each exactly once.
pub struct IdJagRequest {
    pub subject_token: String,
    pub subject_token_type: &'static str,
    pub audience: String,
    pub resource: String,
    pub scopes: Option<Vec<String>>,
}

/// The subject token is never printed.
impl fmt::Debug for IdJagRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdJagRequest")
            .field(
                "subject_token",
                &format_args!("[{} bytes]", self.subject_token.len()),
            )
            .field("subject_token_type", &self.subject_token_type)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl IdJagRequest {
    fn parse(req: &TokenRequest) -> Result<Self, Denial> {
        let subject_token = req.required("subject_token")?.to_string();
        let subject_token_type =
            token_type(req.required("subject_token_type")?, "subject_token_type")?;
        if req.get("actor_token").is_some() {
            return Err(bad_request(
                "an ID-JAG asserts the user to the agent's client: actor_token is not taken",
            ));
        }
        let resources: Vec<&String> = req
            .targets
            .iter()
            .filter(|t| !req.audiences.contains(t))
            .collect();
        let (audience, resource) = match (req.audiences.as_slice(), resources.as_slice()) {
            ([a], [r]) => (a.clone(), (*r).clone()),
            _ => {
                return Err(bad_request(
                    "an ID-JAG request names one audience (the other authorization server's issuer) \
                     and one resource there",
                ));
            }
        };
        Ok(Self {
            subject_token,
            subject_token_type,
            audience,
            resource,
            scopes: req.scopes()?,
        })
    }
}

/// RFC 6749 §6, with an optional `resource` (it must be the token's).
pub struct RefreshRequest {
    pub refresh_token: String,
    pub scopes: Option<Vec<String>>,
    pub target: Option<String>,
}

/// The refresh token is never printed.
impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("scopes", &self.scopes)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl RefreshRequest {
    fn parse(req: &TokenRequest) -> Result<Self, Denial> {
        Ok(Self {
            refresh_token: req.required("refresh_token")?.to_string(),
            scopes: req.scopes()?,
            target: match req.targets.is_empty() {
                true => None,
                false => Some(req.target()?.to_string()),
            },
        })
    }
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5) and an optional `resource`
/// (RFC 8707 §2.2: it must be the one the code was issued for).
pub struct CodeRequest {
    pub code: String,
    pub redirect_uri: String,
    pub code_verifier: String,
    pub target: Option<String>,
}

/// The code and verifier are never printed.
impl fmt::Debug for CodeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeRequest")
            .field("redirect_uri", &self.redirect_uri)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl CodeRequest {
    fn parse(req: &TokenRequest) -> Result<Self, Denial> {
        let code_verifier = req.required("code_verifier")?.to_string();
        if !crate::authorization::is_code_verifier(&code_verifier) {
            return Err(bad_request(
                "code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)",
            ));
        }
        Ok(Self {
            code: req.required("code")?.to_string(),
            redirect_uri: req.required("redirect_uri")?.to_string(),
            code_verifier,
            target: match req.targets.is_empty() {
                true => None,
                false => Some(req.target()?.to_string()),
            },
        })
    }
}

/// RFC 8693 §2.1.
pub struct ExchangeRequest {
    pub subject_token: String,
    pub subject_token_type: &'static str,
    /// `actor_token` and its `actor_token_type`: both or neither.
    pub actor: Option<(String, &'static str)>,
    pub target: String,
    pub scopes: Option<Vec<String>>,
}

/// Tokens are never printed: their lengths only.
impl fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field(
                "subject_token",
                &format_args!("[{} bytes]", self.subject_token.len()),
            )
            .field("subject_token_type", &self.subject_token_type)
            .field(
                "actor",
                &self
                    .actor
                    .as_ref()
                    .map(|(t, ty)| format!("[{} bytes] {ty}", t.len())),
            )
            .field("target", &self.target)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// RFC 6749 §4.4, with `resource`/`audience` (RFC 8707) and our
/// `triggered_by`.
#[derive(Debug)]
pub struct CredentialsRequest {
    pub target: String,
    pub scopes: Option<Vec<String>>,
    /// Who triggered the run, as the caller asserts it (unverified).
    pub triggered_by: Option<String>,
}

const MAX_TRIGGERED_BY: usize = 256;

impl GrantRequest {
    /// Parse `req` as the grant `grant_type` names.
    /// The target in the declared spelling of the resource it names (the
    /// one `aud` carries), when it names one: RFC 3986 spellings of one
    /// resource are one resource. Anything else is left for the policy to
    /// refuse.
    pub fn use_declared_target(&mut self, policy: &Policy) {
        let target = match self {
            Self::TokenExchange(x) => &mut x.target,
            Self::ClientCredentials(c) => &mut c.target,
            Self::AuthorizationCode(c) => match &mut c.target {
                Some(t) => t,
                None => return,
            },
            Self::RefreshToken(r) => match &mut r.target {
                Some(t) => t,
                None => return,
            },
            Self::JwtBearer(a) => match &mut a.target {
                Some(t) => t,
                None => return,
            },
            // A resource at another authorization server: as it was sent.
            Self::IdJag(_) => return,
        };
        let declared = policy
            .resource(target)
            .filter(|d| *d != target.as_str())
            .map(str::to_string);
        if let Some(declared) = declared {
            *target = declared;
        }
    }

    pub fn parse(grant_type: &str, req: &TokenRequest) -> Result<Self, Denial> {
        match grant_type {
            GRANT_TOKEN_EXCHANGE if req.get("requested_token_type") == Some(TOKEN_TYPE_ID_JAG) => {
                IdJagRequest::parse(req).map(Self::IdJag)
            }
            GRANT_TOKEN_EXCHANGE => ExchangeRequest::parse(req).map(Self::TokenExchange),
            GRANT_JWT_BEARER => AssertionRequest::parse(req).map(Self::JwtBearer),
            GRANT_CLIENT_CREDENTIALS => CredentialsRequest::parse(req).map(Self::ClientCredentials),
            GRANT_AUTHORIZATION_CODE => CodeRequest::parse(req).map(Self::AuthorizationCode),
            GRANT_REFRESH_TOKEN => RefreshRequest::parse(req).map(Self::RefreshToken),
            other => Err(Denial::new(
                ErrorCode::UnsupportedGrantType,
                Reason::UnsupportedGrantType,
                format!(
                    "grant_type {:?} is not supported; use {GRANT_TOKEN_EXCHANGE}, client_credentials, authorization_code, refresh_token or {GRANT_JWT_BEARER}",
                    shown(other)
                ),
            )),
        }
    }
}

impl ExchangeRequest {
    fn parse(req: &TokenRequest) -> Result<Self, Denial> {
        let subject_token = req.required("subject_token")?.to_string();
        let subject_token_type =
            token_type(req.required("subject_token_type")?, "subject_token_type")?;
        let actor = match (req.get("actor_token"), req.get("actor_token_type")) {
            (Some(t), Some(ty)) => Some((t.to_string(), token_type(ty, "actor_token_type")?)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(bad_request("actor_token_type is required with actor_token"));
            }
            (None, Some(_)) => {
                return Err(bad_request("actor_token_type was sent without actor_token"));
            }
        };
        if let Some(t) = req.get("requested_token_type")
            && t != TOKEN_TYPE_ACCESS_TOKEN
        {
            return Err(bad_request(format!(
                "requested_token_type {:?} is not issued; use {TOKEN_TYPE_ACCESS_TOKEN} or {TOKEN_TYPE_ID_JAG}",
                shown(t)
            )));
        }
        Ok(Self {
            subject_token,
            subject_token_type,
            actor,
            target: req.target()?.to_string(),
            scopes: req.scopes()?,
        })
    }
}

impl CredentialsRequest {
    fn parse(req: &TokenRequest) -> Result<Self, Denial> {
        let target = req.target()?.to_string();
        let scopes = req.scopes()?;
        let triggered_by = req.get("triggered_by").map(str::to_string);
        if triggered_by
            .as_ref()
            .is_some_and(|t| t.len() > MAX_TRIGGERED_BY)
        {
            return Err(bad_request(format!(
                "triggered_by is longer than {MAX_TRIGGERED_BY} characters"
            )));
        }
        Ok(Self {
            target,
            scopes,
            triggered_by,
        })
    }
}

/// RFC 8693 §3: the token types we accept (whether a token is of the type
/// it is sent as is part of the decision).
fn token_type(t: &str, param: &str) -> Result<&'static str, Denial> {
    [TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT]
        .into_iter()
        .find(|known| *known == t)
        .ok_or_else(|| {
            bad_request(format!(
                "{param} {:?} is not supported; use {TOKEN_TYPE_ACCESS_TOKEN}, {TOKEN_TYPE_ID_TOKEN} or {TOKEN_TYPE_JWT}",
                shown(t)
            ))
        })
}
