//! Signing our tokens: ES256 and EdDSA by ring, RS256 by OpenSSL through
//! josekit (ring signs RSA only from a PKCS#8 document, and RS256 is
//! nobody's default here). ring signs ES256 in 0.67× OpenSSL's time on the
//! benchmark machine (18.7 against 27.8 µs, `cargo bench --bench
//! signatures`): one signature a `/token`. The key material is the same
//! private JWK either way.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsSigner};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair};

use crate::config::UpstreamAlg;

pub struct Signer {
    key: Key,
}

enum Key {
    Ec(EcdsaKeyPair, SystemRandom),
    Ed(Ed25519KeyPair),
    Jose(Box<dyn JwsSigner>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer")
    }
}

fn bytes(jwk: &Jwk, name: &str) -> Result<Vec<u8>, String> {
    jwk.parameter(name)
        .and_then(|v| v.as_str())
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .ok_or_else(|| format!("bad private_jwk: no base64url {name}"))
}

impl Signer {
    /// The signer of a private JWK for `alg`, one of the algorithms we sign
    /// with: ES256, EdDSA, RS256 (errors name the parameter, never its value).
    pub fn from_jwk(jwk: &Jwk, alg: UpstreamAlg) -> Result<Self, String> {
        let key = match alg {
            UpstreamAlg::ES256 => {
                let rng = SystemRandom::new();
                let point = [&[4u8][..], &bytes(jwk, "x")?, &bytes(jwk, "y")?].concat();
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &bytes(jwk, "d")?,
                    &point,
                    &rng,
                )
                .map_err(|_| "bad private_jwk: not a P-256 key pair".to_string())?;
                Key::Ec(pair, rng)
            }
            UpstreamAlg::EdDSA => Key::Ed(
                Ed25519KeyPair::from_seed_and_public_key(&bytes(jwk, "d")?, &bytes(jwk, "x")?)
                    .map_err(|_| "bad private_jwk: not an Ed25519 key pair".to_string())?,
            ),
            UpstreamAlg::RS256 => Key::Jose(Box::new(
                jws::RS256
                    .signer_from_jwk(jwk)
                    .map_err(|e| format!("bad private_jwk: {e}"))?,
            )),
            other => return Err(format!("{other:?} is not a signing algorithm of ours")),
        };
        Ok(Self { key })
    }

    /// The JWS signature of `input` (`r || s` for ES256).
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        match &self.key {
            Key::Ec(pair, rng) => pair
                .sign(rng, input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ES256 signing failed".to_string()),
            Key::Ed(pair) => Ok(pair.sign(input).as_ref().to_vec()),
            Key::Jose(s) => s.sign(input).map_err(|e| e.to_string()),
        }
    }
}
