//! `OAuthError` is the only error that becomes an HTTP body. Internal causes
//! are logged where they happen and never serialised.

use serde::Serialize;

/// Error codes with their RFC strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// RFC 6749 §5.2: malformed request, repeated or missing parameter; also
    /// a bad subject or actor token (RFC 8693 §2.2.2).
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the grant is invalid, expired or revoked.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant or pattern.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid or exceeds what is allowed.
    InvalidScope,
    /// RFC 8693 §2.2.2: the requested resource or audience is not allowed.
    InvalidTarget,
    /// RFC 7009 §2.2.1: the token type cannot be revoked.
    UnsupportedTokenType,
    /// RFC 6749 §4.1.2.1: `/authorize` offers only `response_type=code`.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: the user or the IdP refused the sign-in.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: an unexpected condition; no detail is given (500).
    ServerError,
    /// RFC 6749 §4.1.2.1: temporarily unable to answer (503).
    TemporarilyUnavailable,
    /// Over a rate limit: 429 with `Retry-After`. OAuth has no code of its
    /// own for this, so the body says `temporarily_unavailable`, the
    /// registered code clients already treat as "retry later".
    #[serde(rename = "temporarily_unavailable")]
    RateLimited,
    /// No route for this path (404); not an OAuth code, same body shape.
    NotFound,
    /// The path exists but not for this method (405); same body shape.
    MethodNotAllowed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable | Self::RateLimited => "temporarily_unavailable",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The HTTP status that carries this code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            Self::RateLimited => 429,
            _ => 400,
        }
    }
}

/// An error answer: `{"error": code, "error_description": text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    pub error: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl OAuthError {
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: Some(description.into()),
        }
    }

    /// `server_error` with no detail: the cause is logged by the caller.
    pub fn server_error() -> Self {
        Self {
            error: ErrorCode::ServerError,
            error_description: None,
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{}: {d}", self.error.as_str()),
            None => f.write_str(self.error.as_str()),
        }
    }
}

impl std::error::Error for OAuthError {}

/// A caller-supplied value, fit to quote back in an error description or
/// an audit record: never something that looks like a token (a client that
/// puts a token in the wrong parameter must not see it logged), never long.
pub fn shown(value: &str) -> std::borrow::Cow<'_, str> {
    shown_within(value, 100)
}

/// [`shown`] with a bound of `max` bytes (the audit record's fields).
pub fn shown_within(value: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if looks_like_a_token(value) {
        "[withheld: it looks like a token]".into()
    } else if value.len() > max {
        let mut end = max;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &value[..end]).into()
    } else {
        value.into()
    }
}

/// Anywhere in `value`, a JWS or JWE compact serialisation: `eyJ` (a
/// base64url JSON header) followed by base64url text with two dots or more.
fn looks_like_a_token(value: &str) -> bool {
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    value.match_indices("eyJ").any(|(at, _)| {
        value[at..]
            .chars()
            .take_while(|c| b64(*c))
            .filter(|c| *c == '.')
            .count()
            >= 2
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_anywhere_in_a_value_is_withheld() {
        for v in [
            "https://mcp.example.com/?t=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
            "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
        ] {
            assert_eq!(super::shown(v), "[withheld: it looks like a token]");
        }
        assert_eq!(super::shown("eyJ.not"), "eyJ.not");
    }

    #[test]
    fn shown_withholds_tokens_and_cuts_long_values() {
        assert_eq!(shown("zendesk:tickets:read"), "zendesk:tickets:read");
        assert_eq!(
            shown("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"),
            "[withheld: it looks like a token]"
        );
        assert_eq!(shown(&"a".repeat(150)).chars().count(), 101);
    }

    use super::*;

    #[test]
    fn codes_map_to_rfc_strings_and_statuses() {
        let table = [
            (ErrorCode::InvalidRequest, "invalid_request", 400),
            (ErrorCode::InvalidClient, "invalid_client", 401),
            (ErrorCode::InvalidGrant, "invalid_grant", 400),
            (ErrorCode::UnauthorizedClient, "unauthorized_client", 400),
            (
                ErrorCode::UnsupportedGrantType,
                "unsupported_grant_type",
                400,
            ),
            (ErrorCode::InvalidScope, "invalid_scope", 400),
            (ErrorCode::InvalidTarget, "invalid_target", 400),
            (
                ErrorCode::UnsupportedTokenType,
                "unsupported_token_type",
                400,
            ),
            (
                ErrorCode::UnsupportedResponseType,
                "unsupported_response_type",
                400,
            ),
            (ErrorCode::AccessDenied, "access_denied", 400),
            (ErrorCode::ServerError, "server_error", 500),
            (
                ErrorCode::TemporarilyUnavailable,
                "temporarily_unavailable",
                503,
            ),
            (ErrorCode::RateLimited, "temporarily_unavailable", 429),
            (ErrorCode::NotFound, "not_found", 404),
            (ErrorCode::MethodNotAllowed, "method_not_allowed", 405),
        ];
        for (code, s, status) in table {
            assert_eq!(code.as_str(), s);
            assert_eq!(code.status(), status, "{s}");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(s));
        }
    }

    #[test]
    fn server_error_body_has_no_detail() {
        let body = serde_json::to_value(OAuthError::server_error()).unwrap();
        assert_eq!(body, serde_json::json!({"error": "server_error"}));
    }
}
