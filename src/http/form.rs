//! Form parsing for `POST /token`, `/introspect`, `/revoke`: only
//! `application/x-www-form-urlencoded`, capped in size and field count, no
//! repeated parameter except `resource` and `audience` (RFC 8693 §2.1),
//! and client credentials extracted by exactly one method.

use std::collections::HashMap;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::client_auth::{ASSERTION_TYPE, Presented};
use crate::config::{ClientAuthMethod, SecretString};
use crate::error::ErrorCode;
use crate::grants::TokenRequest;
use crate::policy::Denial;
use crate::reason::Reason;

/// Largest accepted body: room for two 16 KiB tokens and an assertion.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_FIELDS: usize = 32;
const REPEATABLE: [&str; 2] = ["resource", "audience"];

/// A body over the cap (or unreadable): refused before it is read whole.
pub fn too_large() -> Denial {
    bad(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
}

fn bad(description: impl Into<String>) -> Denial {
    Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, description)
}

/// The parsed body and the client credentials it came with.
pub struct Form {
    pub request: TokenRequest,
    pub presented: Presented,
}

/// The extractor of `/token`, `/introspect` and `/revoke`: the body read
/// (within the cap) and parsed, or the refusal to answer. Never rejects:
/// a bad form is the handler's to record and answer.
pub struct OAuthForm(pub Result<Form, Denial>);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let parsed = match axum::body::Bytes::from_request(req, state).await {
            Ok(body) => parse(&headers, &body),
            Err(_) => Err(too_large()),
        };
        Ok(Self(parsed))
    }
}

pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Form, Denial> {
    let request = parse_body(headers, body)?;
    let presented = credentials(headers, &request)?;
    Ok(Form { request, presented })
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, Denial> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(bad(format!(
            "the body must be application/x-www-form-urlencoded, not {:?}",
            if ct.is_empty() { "nothing" } else { ct }
        )));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    let mut request = TokenRequest::default();
    for (i, (k, v)) in form_urlencoded::parse(body).enumerate() {
        if i >= MAX_FIELDS {
            return Err(bad(format!("more than {MAX_FIELDS} parameters")));
        }
        if REPEATABLE.contains(&k.as_ref()) {
            if k == "audience" {
                request.audiences.push(v.to_string());
            }
            request.targets.push(v.into_owned());
        } else if request
            .params
            .insert(k.to_string(), v.into_owned())
            .is_some()
        {
            // RFC 6749 §3.2: parameters MUST NOT be included more than once.
            return Err(bad(format!("parameter {k} is repeated")));
        }
    }
    Ok(request)
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
fn basic(value: &str) -> Result<(String, String), Denial> {
    let invalid = || {
        Denial::new(
            ErrorCode::InvalidClient,
            Reason::ClientAuthMissing,
            "the Authorization header is not valid Basic credentials",
        )
    };
    let decoded = STANDARD.decode(value.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = text.split_once(':').ok_or_else(invalid)?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((unescape(id), unescape(secret)))
}

fn credentials(headers: &HeaderMap, req: &TokenRequest) -> Result<Presented, Denial> {
    let params: &HashMap<String, String> = &req.params;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let basic_creds = match auth {
        Some(v) if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") => Some(basic(&v[6..])?),
        _ => None,
    };
    let post = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let methods = usize::from(basic_creds.is_some())
        + usize::from(post.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(bad("use exactly one client authentication method"));
    }
    let body_id = params.get("client_id");
    if let Some((id, secret)) = basic_creds {
        if body_id.is_some_and(|b| *b != id) {
            return Err(bad(
                "client_id in the body differs from the Authorization header",
            ));
        }
        return Ok(Presented::Secret {
            client_id: id,
            secret: SecretString::new(secret),
            method: ClientAuthMethod::ClientSecretBasic,
        });
    }
    if let Some(secret) = post {
        let id = body_id.ok_or_else(|| bad("client_secret needs client_id"))?;
        return Ok(Presented::Secret {
            client_id: id.clone(),
            secret: SecretString::new(secret.clone()),
            method: ClientAuthMethod::ClientSecretPost,
        });
    }
    if let Some(a) = assertion {
        if params.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return Err(bad(format!(
                "client_assertion_type must be {ASSERTION_TYPE}"
            )));
        }
        return Ok(Presented::Assertion {
            client_id: body_id.cloned(),
            assertion: a.clone(),
        });
    }
    Ok(match body_id {
        Some(id) if !id.is_empty() => Presented::Public {
            client_id: id.clone(),
        },
        _ => Presented::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(ct: &str, auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    fn err(h: &HeaderMap, body: &str) -> String {
        match parse(h, body.as_bytes()) {
            Ok(_) => panic!("must be refused"),
            Err(d) => d.description,
        }
    }

    #[test]
    fn refuses_other_content_types_repeats_and_mixed_auth() {
        let form = headers("application/x-www-form-urlencoded", None);
        let cases = [
            (
                headers("application/json", None),
                "a=1",
                "the body must be application/x-www-form-urlencoded, not \"application/json\"",
            ),
            (
                form.clone(),
                "grant_type=a&grant_type=b",
                "parameter grant_type is repeated",
            ),
            (
                headers("application/x-www-form-urlencoded", Some("Basic YTpi")),
                "client_secret=x&client_id=a",
                "use exactly one client authentication method",
            ),
            (
                form.clone(),
                "client_secret=x",
                "client_secret needs client_id",
            ),
            (
                form.clone(),
                "client_assertion=x&client_assertion_type=password",
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
        ];
        for (h, body, want) in cases {
            assert_eq!(err(&h, body), want, "{body}");
        }
        let many: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
        assert_eq!(err(&form, &many.join("&")), "more than 32 parameters");
    }

    #[test]
    fn targets_may_repeat_and_basic_is_urldecoded() {
        // "a b:c%d" form-encoded is a+b:c%25d
        let auth = format!("Basic {}", STANDARD.encode("a+b:c%25d"));
        let h = headers(
            "application/x-www-form-urlencoded; charset=UTF-8",
            Some(&auth),
        );
        let f = parse(&h, b"resource=r1&audience=r1&grant_type=x")
            .map_err(|e| e.description)
            .unwrap();
        assert_eq!(f.request.targets, ["r1", "r1"]);
        match f.presented {
            Presented::Secret {
                client_id,
                secret,
                method,
            } => {
                assert_eq!((client_id.as_str(), secret.expose()), ("a b", "c%d"));
                assert_eq!(method, ClientAuthMethod::ClientSecretBasic);
            }
            other => panic!("{other:?}"),
        }
    }
}
