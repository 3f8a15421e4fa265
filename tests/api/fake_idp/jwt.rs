//! JWS building blocks shared by the fakes: keys, a low-level compact signer,
//! base64url and decoding helpers, random ids and a reference verifier.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::alg::ec::EcKeyPair;
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair, P_256};
use josekit::jws::{
    ES256, EdDSA, HS256, HS384, HS512, JwsSigner, JwsVerifier, PS256, PS384, PS512, RS256, RS384,
    RS512,
};
use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// A private signing key (RSA-2048, EC P-256 or Ed25519) with its key id.
#[derive(Clone, Debug)]
pub struct SigningKey {
    kid: String,
    jwk: Jwk,
}

impl SigningKey {
    /// A fresh RSA-2048 key.
    pub fn rsa(kid: impl Into<String>) -> Self {
        let jwk = Jwk::generate_rsa_key(2048).expect("generate RSA key");
        Self::from_jwk(kid, jwk)
    }

    /// A fresh EC P-256 key (for ES256).
    pub fn ec(kid: impl Into<String>) -> Self {
        let jwk = Jwk::generate_ec_key(P_256).expect("generate EC key");
        Self::from_jwk(kid, jwk)
    }

    /// A fresh Ed25519 key (for EdDSA).
    pub fn ed25519(kid: impl Into<String>) -> Self {
        let jwk = Jwk::generate_ed_key(EdCurve::Ed25519).expect("generate Ed25519 key");
        Self::from_jwk(kid, jwk)
    }

    fn from_jwk(kid: impl Into<String>, mut jwk: Jwk) -> Self {
        let kid = kid.into();
        jwk.set_key_id(kid.clone());
        Self { kid, jwk }
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK key type: `RSA`, `EC` or `OKP`.
    pub fn kty(&self) -> &str {
        self.jwk.key_type()
    }

    /// The private JWK (no `alg`/`use`, so any algorithm of its type may sign).
    pub fn private_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The public JWK as JSON: `kty`, `kid` and the public parameters only.
    pub fn public_jwk(&self) -> Value {
        let public = ["kty", "kid", "n", "e", "crv", "x", "y"];
        let map: Map<String, Value> = self
            .jwk
            .as_ref()
            .iter()
            .filter(|(k, _)| public.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(map)
    }

    fn key_pair(&self) -> Box<dyn KeyPair> {
        match self.kty() {
            "RSA" => Box::new(RsaKeyPair::from_jwk(&self.jwk).expect("RSA key pair")),
            "EC" => Box::new(EcKeyPair::from_jwk(&self.jwk).expect("EC key pair")),
            _ => Box::new(EdKeyPair::from_jwk(&self.jwk).expect("Ed key pair")),
        }
    }

    /// The public key as SubjectPublicKeyInfo PEM text (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> Vec<u8> {
        self.key_pair().to_pem_public_key()
    }

    /// The public key as SubjectPublicKeyInfo DER bytes.
    pub fn public_der(&self) -> Vec<u8> {
        self.key_pair().to_der_public_key()
    }
}

/// What signs a token in [`sign`]; the algorithm always comes from the header's `alg`.
#[derive(Clone, Copy, Debug)]
pub enum SignWith<'a> {
    /// An asymmetric key (RS*, PS*, ES256, EdDSA).
    Key(&'a SigningKey),
    /// Raw HMAC secret bytes (HS256/HS384/HS512).
    Hmac(&'a [u8]),
    /// No signature at all: the third segment is empty (for `alg: none`).
    Unsigned,
}

/// Builds a JWS compact token `b64(header).b64(claims).b64(signature)`.
/// The header and claims are serialized exactly as given (callers put
/// whole-second times in the claims; see [`now`]).
pub fn sign(header: Value, claims: Value, key: SignWith<'_>) -> String {
    let alg = header["alg"].as_str().unwrap_or("none").to_owned();
    sign_segments(&b64url_json(&header), &b64url_json(&claims), &alg, key)
}

/// Signs already-encoded header and payload segments (which need not be
/// valid JSON) with `alg`, returning the compact token.
pub fn sign_segments(header_b64: &str, payload_b64: &str, alg: &str, key: SignWith<'_>) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    let signature = match key {
        SignWith::Unsigned => Ok(Vec::new()),
        SignWith::Hmac(secret) => hmac_signer(alg, secret).sign(input.as_bytes()),
        SignWith::Key(k) => key_signer(alg, k).sign(input.as_bytes()),
    }
    .expect("sign");
    format!("{input}.{}", b64url(signature))
}

fn hmac_signer(alg: &str, secret: &[u8]) -> Box<dyn JwsSigner> {
    match alg {
        "HS256" => Box::new(HS256.signer_from_bytes(secret).expect("HS256 signer")),
        "HS384" => Box::new(HS384.signer_from_bytes(secret).expect("HS384 signer")),
        "HS512" => Box::new(HS512.signer_from_bytes(secret).expect("HS512 signer")),
        other => panic!("not an HMAC algorithm: {other}"),
    }
}

fn key_signer(alg: &str, key: &SigningKey) -> Box<dyn JwsSigner> {
    let jwk = key.private_jwk();
    let signer: Result<Box<dyn JwsSigner>, _> = match alg {
        "RS256" => RS256.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        "RS384" => RS384.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        "RS512" => RS512.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        "PS256" => PS256.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        "PS384" => PS384.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        "PS512" => PS512.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        "ES256" => ES256.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        "EdDSA" => EdDSA.signer_from_jwk(jwk).map(|s| Box::new(s) as _),
        other => panic!("unsupported signing algorithm in fake IdP: {other}"),
    };
    signer.unwrap_or_else(|e| panic!("{alg} signer for kid {}: {e}", key.kid()))
}

/// Verifies a compact JWS against a JWKS document (`{"keys":[...]}`): picks the
/// key by `kid`, checks the signature with the header's `alg` and returns the
/// claims. A reference for self-tests, not a hardened verifier.
pub fn verify_with_jwks(token: &str, jwks: &Value) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("{} parts", parts.len()));
    }
    let header = decode_json(parts[0])?;
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} not in JWKS"))?;
    let jwk = Jwk::from_bytes(key.to_string()).map_err(|e| e.to_string())?;
    let verifier: Box<dyn JwsVerifier> = match header["alg"].as_str() {
        Some("RS256") => Box::new(RS256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        Some("PS256") => Box::new(PS256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        Some("ES256") => Box::new(ES256.verifier_from_jwk(&jwk).map_err(|e| e.to_string())?),
        other => return Err(format!("alg {other:?} not accepted")),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|e| e.to_string())?;
    let input = format!("{}.{}", parts[0], parts[1]);
    verifier
        .verify(input.as_bytes(), &signature)
        .map_err(|e| e.to_string())?;
    decode_json(parts[1])
}

/// Current Unix time in whole seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// base64url without padding.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url (no padding) of a JSON value's compact serialization.
pub fn b64url_json(value: &Value) -> String {
    b64url(value.to_string())
}

fn decode_json(segment: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// The decoded JOSE header of a compact token (panics if it is not one).
pub fn header_of(token: &str) -> Value {
    let segment = token.split('.').next().unwrap_or_default();
    decode_json(segment).unwrap_or_else(|e| panic!("header of {token:.40}…: {e}"))
}

/// The decoded claims of a compact JWS (panics if it is not one).
pub fn claims_of(token: &str) -> Value {
    let segment = token.split('.').nth(1).unwrap_or_default();
    decode_json(segment).unwrap_or_else(|e| panic!("claims of {token:.40}…: {e}"))
}

/// `n` random bytes, base64url-encoded.
pub fn random_b64(n: usize) -> String {
    b64url(josekit::util::random_bytes(n))
}

/// `n` random characters from `[0-9A-Za-z]` (the shape of Okta ids).
pub fn random_alnum(n: usize) -> String {
    alnum(&josekit::util::random_bytes(n))
}

fn alnum(bytes: &[u8]) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    bytes
        .iter()
        .map(|b| CHARS[*b as usize % CHARS.len()] as char)
        .collect()
}

/// `n` characters from `[0-9A-Za-z]`, derived deterministically from `seed`.
pub fn stable_alnum(seed: &str, n: usize) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    alnum(&digest.as_ref()[..n.min(32)])
}

/// A GUID (`8-4-4-4-12` lowercase hex) derived deterministically from `seed`.
pub fn stable_guid(seed: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
    guid(&digest.as_ref()[..16])
}

/// A random GUID.
pub fn random_guid() -> String {
    guid(&josekit::util::random_bytes(16))
}

fn guid(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
