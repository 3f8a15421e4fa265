//! Our own keys and the JWTs we sign.

pub mod keyring;
pub mod keys;
pub mod own;
pub mod verified;

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

/// The system random number generator failed: nothing that needs an
/// unguessable value (a `jti`, a key) may be made, so callers fail closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomUnavailable;

/// `N` bytes from the system RNG, never zeros passed off as random.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomUnavailable)?;
    Ok(bytes)
}

/// 256 random bits, base64url (43 characters): for secrets handed to a
/// client (authorization codes, refresh tokens) and PKCE verifiers.
pub fn random_secret() -> Result<String, RandomUnavailable> {
    random_bytes::<32>().map(|b| URL_SAFE_NO_PAD.encode(b))
}

/// 128 random bits, base64url: for `jti`s and other unguessable ids.
pub fn random_id() -> Result<String, RandomUnavailable> {
    random_bytes::<16>().map(|b| URL_SAFE_NO_PAD.encode(b))
}

/// Where minting draws its `jti`s: the system RNG, behind a fault switch
/// that tests turn on (as they cut storage with the fault proxy) to prove
/// that a failed draw issues nothing.
#[derive(Debug, Default)]
pub struct Randomness {
    failing: std::sync::atomic::AtomicBool,
}

impl Randomness {
    pub fn id(&self) -> Result<String, RandomUnavailable> {
        if self.failing.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(RandomUnavailable);
        }
        random_id()
    }

    /// Fault injection: every draw fails while `failing` is set.
    pub fn set_failing(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::Relaxed);
    }
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
        let a = random_id().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 16);
        assert_ne!(a, random_id().unwrap());
    }
}

#[cfg(test)]
mod randomness_tests {
    use super::*;

    #[test]
    fn a_failing_draw_is_an_error_never_a_value() {
        let r = Randomness::default();
        assert!(r.id().is_ok());
        r.set_failing(true);
        assert_eq!(r.id(), Err(RandomUnavailable));
        r.set_failing(false);
        assert!(r.id().is_ok());
    }
}
