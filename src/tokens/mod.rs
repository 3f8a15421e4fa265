//! Our own keys and the JWTs we sign.

pub mod keyring;
pub mod keys;
pub mod own;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use keys::{KeyError, SigningKey};

/// JWS compact serialisation of `claims` under `key`, header
/// `{"alg", "typ", "kid"}`. Callers build claims with whole-second times.
pub fn sign_jwt(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
    let header = serde_json::json!({ "alg": key.alg.as_str(), "typ": typ, "kid": key.kid });
    let header = serde_json::to_vec(&header).map_err(|e| KeyError::Other(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Other(e.to_string()))?;
    let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 100);
    URL_SAFE_NO_PAD.encode_string(&header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
    Ok(out)
}

/// `N` bytes from the system RNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    // The system RNG failing is not recoverable; say so loudly rather than
    // pass zeros off silently.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        tracing::error!("system random number generator failed");
    }
    bytes
}

/// 128 random bits, base64url: for `jti`s and other unguessable ids.
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys::SigningAlg;

    #[test]
    fn signed_jwt_verifies_with_its_key_and_has_our_header() {
        let key = SigningKey::generate(SigningAlg::Es256, 0, 0).unwrap();
        let jwt = sign_jwt(
            &key,
            "at+jwt",
            &serde_json::json!({"sub": "alice", "exp": 1}),
        )
        .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": key.kid})
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(key.verify(input.as_bytes(), &sig));
    }

    #[test]
    fn random_ids_are_128_bits_and_distinct() {
        let a = random_id();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 16);
        assert_ne!(a, random_id());
    }
}
