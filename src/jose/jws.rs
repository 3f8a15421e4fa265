//! Splitting and decoding a compact JWS before any key is looked at, with
//! every structural refusal: size, JWE, encoding, header rules.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Refusal;
use crate::config::UpstreamAlg;
use crate::reason::Reason;

/// Tokens above this size are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Value>,
    jku: Option<Value>,
    x5u: Option<Value>,
    jwk: Option<Value>,
    enc: Option<Value>,
}

#[derive(Debug)]
pub struct Header {
    pub alg: UpstreamAlg,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

/// A decoded, not yet verified, JWS.
#[derive(Debug)]
pub struct Jws<'a> {
    pub header: Header,
    pub claims: Map<String, Value>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

fn malformed(detail: impl Into<String>) -> Refusal {
    Refusal::new(Reason::MalformedToken, detail)
}

fn decode(part: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(format!("the {what} is not base64url")))
}

/// `none`, `HS*` and anything unknown map to `None`.
pub fn parse_alg(alg: &str) -> Option<UpstreamAlg> {
    Some(match alg {
        "RS256" => UpstreamAlg::RS256,
        "RS384" => UpstreamAlg::RS384,
        "RS512" => UpstreamAlg::RS512,
        "PS256" => UpstreamAlg::PS256,
        "ES256" => UpstreamAlg::ES256,
        "ES384" => UpstreamAlg::ES384,
        "EdDSA" => UpstreamAlg::EdDSA,
        _ => return None,
    })
}

pub fn parse(token: &str) -> Result<Jws<'_>, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::new(
            Reason::TokenTooLarge,
            format!(
                "the token is {} bytes; at most {MAX_TOKEN_BYTES} are accepted",
                token.len()
            ),
        ));
    }
    if token.is_empty() {
        return Err(malformed("the token is empty"));
    }
    let parts = token.split('.').count();
    if parts == 5 {
        return Err(Refusal::new(
            Reason::EncryptedToken,
            "the token is a JWE; only signed (JWS) tokens are accepted",
        ));
    }
    if parts != 3 {
        return Err(malformed(format!(
            "a JWS has 3 dot-separated parts, this token has {parts}"
        )));
    }
    let (signing_input, sig_b64) = token
        .rsplit_once('.')
        .ok_or_else(|| malformed("no signature part"))?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or_else(|| malformed("no payload part"))?;
    let raw: RawHeader = serde_json::from_slice(&decode(header_b64, "header")?)
        .map_err(|_| malformed("the header is not a JSON object"))?;
    if raw.enc.is_some() {
        return Err(Refusal::new(
            Reason::EncryptedToken,
            "the header names an encryption (enc)",
        ));
    }
    for (name, present) in [
        ("jku", raw.jku.is_some()),
        ("x5u", raw.x5u.is_some()),
        ("jwk", raw.jwk.is_some()),
    ] {
        if present {
            return Err(Refusal::new(
                Reason::UntrustedKeyReference,
                format!(
                    "the header carries {name}; keys are taken only from the issuer's configured JWKS"
                ),
            ));
        }
    }
    if let Some(crit) = raw.crit {
        // RFC 7515 §4.1.11: we understand no extension, so any crit refuses.
        return Err(Refusal::new(
            Reason::UnsupportedCritical,
            format!("the header marks {crit} as critical, which is not understood"),
        ));
    }
    let alg_name = raw.alg.ok_or_else(|| malformed("the header has no alg"))?;
    let alg = parse_alg(&alg_name).ok_or_else(|| {
        Refusal::new(
            Reason::UnsupportedAlgorithm,
            format!("alg {alg_name:?} is not accepted (asymmetric algorithms only)"),
        )
    })?;
    let claims: Map<String, Value> = serde_json::from_slice(&decode(payload_b64, "payload")?)
        .map_err(|_| malformed("the payload is not a JSON object"))?;
    let signature = decode(sig_b64, "signature")?;
    if signature.is_empty() {
        return Err(malformed("the signature is empty"));
    }
    Ok(Jws {
        header: Header {
            alg,
            kid: raw.kid,
            typ: raw.typ,
        },
        claims,
        signing_input,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    fn reason(t: &str) -> Reason {
        parse(t).map(|_| ()).unwrap_err().reason
    }

    #[test]
    fn refusals_by_shape() {
        let cases = [
            (String::new(), Reason::MalformedToken),
            ("a.b".to_string(), Reason::MalformedToken),
            ("a.b.c.d.e".to_string(), Reason::EncryptedToken),
            ("!!!.e30.c2ln".to_string(), Reason::MalformedToken),
            (token("[1]", "{}"), Reason::MalformedToken),
            (token(r#"{"alg":"RS256"}"#, "[]"), Reason::MalformedToken),
            (
                token(r#"{"alg":"none"}"#, "{}"),
                Reason::UnsupportedAlgorithm,
            ),
            (
                token(r#"{"alg":"HS256"}"#, "{}"),
                Reason::UnsupportedAlgorithm,
            ),
            (token(r#"{"typ":"JWT"}"#, "{}"), Reason::MalformedToken),
            (
                token(r#"{"alg":"RS256","jku":"https://evil"}"#, "{}"),
                Reason::UntrustedKeyReference,
            ),
            (
                token(r#"{"alg":"RS256","x5u":"https://evil"}"#, "{}"),
                Reason::UntrustedKeyReference,
            ),
            (
                token(r#"{"alg":"RS256","jwk":{"kty":"RSA"}}"#, "{}"),
                Reason::UntrustedKeyReference,
            ),
            (
                token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}"),
                Reason::UnsupportedCritical,
            ),
            (
                token(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#, "{}"),
                Reason::EncryptedToken,
            ),
            ("x".repeat(MAX_TOKEN_BYTES + 1), Reason::TokenTooLarge),
        ];
        for (t, want) in cases {
            assert_eq!(reason(&t), want, "{}", &t[..t.len().min(60)]);
        }
    }

    #[test]
    fn empty_signature_is_malformed() {
        let t = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert_eq!(reason(&t), Reason::MalformedToken);
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#,
            r#"{"iss":"https://i"}"#,
        );
        let jws = parse(&t).unwrap();
        assert_eq!(jws.header.alg, UpstreamAlg::ES256);
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jws.claims["iss"], "https://i");
        assert_eq!(jws.signature, b"sig");
    }
}
