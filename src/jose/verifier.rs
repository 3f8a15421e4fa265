//! Signature checks by ring, for every algorithm we accept: our own ES256
//! (or EdDSA, RS256) tokens at `/introspect`, upstream tokens, client
//! assertions. Built once per key from its public JWK, with josekit's rules
//! for which JWK fits which algorithm (`kty`, `crv`, `use`, `key_ops`,
//! `alg`); josekit still parses JWKs and signs with RSA.
//!
//! Why ring and not OpenSSL here: on the benchmark machine (issue 21,
//! `cargo bench --bench signatures`) ring verifies a P-256 signature in
//! 0.87× OpenSSL's time (57.9 against 66.9 µs), and a token never seen
//! before is one verification, most of a first-seen introspection. RS256
//! is 7 % slower in ring (26.3 against 24.6 µs), kept for one backend and
//! its key-size rule: RSA keys under 2,048 bits are refused (RFC 7518 §3.3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use ring::signature::{self, RsaParameters, RsaPublicKeyComponents, UnparsedPublicKey};

use crate::config::UpstreamAlg;

/// A public key and the one algorithm it verifies.
pub struct Verifier {
    key: Key,
}

enum Key {
    /// EC points (`0x04 || x || y`) and Ed25519 keys: ring checks the key
    /// on each use, which costs little beside the signature.
    Point(UnparsedPublicKey<Vec<u8>>),
    Rsa(&'static RsaParameters, RsaPublicKeyComponents<Vec<u8>>),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.key {
            Key::Point(_) => "Verifier(point)",
            Key::Rsa(..) => "Verifier(rsa)",
        })
    }
}

fn text<'a>(jwk: &'a Jwk, name: &str) -> Option<&'a str> {
    jwk.parameter(name).and_then(|v| v.as_str())
}

fn bytes(jwk: &Jwk, name: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text(jwk, name)?).ok()
}

fn alg_name(alg: UpstreamAlg) -> &'static str {
    match alg {
        UpstreamAlg::RS256 => "RS256",
        UpstreamAlg::RS384 => "RS384",
        UpstreamAlg::RS512 => "RS512",
        UpstreamAlg::PS256 => "PS256",
        UpstreamAlg::ES256 => "ES256",
        UpstreamAlg::ES384 => "ES384",
        UpstreamAlg::EdDSA => "EdDSA",
    }
}

impl Verifier {
    /// The verifier of `jwk` for `alg`; `None` when the key does not fit
    /// the algorithm or is not for verifying signatures.
    pub fn from_jwk(jwk: &Jwk, alg: UpstreamAlg) -> Option<Self> {
        if jwk.key_use().is_some_and(|u| u != "sig")
            || !jwk.is_for_key_operation("verify")
            || jwk.algorithm().is_some_and(|a| a != alg_name(alg))
        {
            return None;
        }
        let point = |kty: &str, crv: &str, len: usize, ring_alg| {
            if jwk.key_type() != kty || text(jwk, "crv") != Some(crv) {
                return None;
            }
            let x = bytes(jwk, "x")?;
            let key = if kty == "OKP" {
                (x.len() == len).then_some(x)?
            } else {
                let y = bytes(jwk, "y")?;
                if x.len() != len || y.len() != len {
                    return None;
                }
                [&[4u8][..], &x, &y].concat()
            };
            Some(Key::Point(UnparsedPublicKey::new(ring_alg, key)))
        };
        let rsa = |params: &'static RsaParameters| {
            if jwk.key_type() != "RSA" {
                return None;
            }
            let n = bytes(jwk, "n")?;
            let e = bytes(jwk, "e")?;
            // ring refuses short moduli at verification; say so up front.
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            (bits >= 2048).then_some(Key::Rsa(params, RsaPublicKeyComponents { n, e }))
        };
        let key = match alg {
            UpstreamAlg::ES256 => point("EC", "P-256", 32, &signature::ECDSA_P256_SHA256_FIXED),
            UpstreamAlg::ES384 => point("EC", "P-384", 48, &signature::ECDSA_P384_SHA384_FIXED),
            UpstreamAlg::EdDSA => point("OKP", "Ed25519", 32, &signature::ED25519),
            UpstreamAlg::RS256 => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
            UpstreamAlg::RS384 => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
            UpstreamAlg::RS512 => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
            UpstreamAlg::PS256 => rsa(&signature::RSA_PSS_2048_8192_SHA256),
        }?;
        Some(Self { key })
    }

    /// Does `signature` (JWS form: `r || s` for ECDSA) sign `message`?
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.key {
            Key::Point(k) => k.verify(message, signature).is_ok(),
            Key::Rsa(params, k) => k.verify(params, message, signature).is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::alg::{ec::EcCurve, ed::EdCurve};
    use josekit::jws::{ES256, ES384, EdDSA, JwsSigner, PS256, RS256};

    const MESSAGE: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";

    fn pair(alg: UpstreamAlg) -> (Jwk, Box<dyn JwsSigner>) {
        let private = match alg {
            UpstreamAlg::ES256 => Jwk::generate_ec_key(EcCurve::P256),
            UpstreamAlg::ES384 => Jwk::generate_ec_key(EcCurve::P384),
            UpstreamAlg::EdDSA => Jwk::generate_ed_key(EdCurve::Ed25519),
            _ => Jwk::generate_rsa_key(2048),
        }
        .unwrap();
        let signer: Box<dyn JwsSigner> = match alg {
            UpstreamAlg::ES256 => Box::new(ES256.signer_from_jwk(&private).unwrap()),
            UpstreamAlg::ES384 => Box::new(ES384.signer_from_jwk(&private).unwrap()),
            UpstreamAlg::EdDSA => Box::new(EdDSA.signer_from_jwk(&private).unwrap()),
            UpstreamAlg::PS256 => Box::new(PS256.signer_from_jwk(&private).unwrap()),
            _ => Box::new(RS256.signer_from_jwk(&private).unwrap()),
        };
        (private.to_public_key().unwrap(), signer)
    }

    #[test]
    fn verifies_what_openssl_signed_and_nothing_else() {
        for alg in [
            UpstreamAlg::ES256,
            UpstreamAlg::ES384,
            UpstreamAlg::EdDSA,
            UpstreamAlg::RS256,
            UpstreamAlg::PS256,
        ] {
            let (public, signer) = pair(alg);
            let v = Verifier::from_jwk(&public, alg).expect("the key fits");
            let sig = signer.sign(MESSAGE).unwrap();
            assert!(v.verify(MESSAGE, &sig), "{alg:?} verifies");
            assert!(
                !v.verify(b"eyJhbGciOiJFUzI1NiJ9.e30", &sig),
                "{alg:?}: other message"
            );
            let mut bad = sig.clone();
            bad[0] ^= 1;
            assert!(!v.verify(MESSAGE, &bad), "{alg:?}: altered signature");
            assert!(!v.verify(MESSAGE, &[]), "{alg:?}: empty signature");
        }
    }

    #[test]
    fn a_key_that_does_not_fit_the_algorithm_has_no_verifier() {
        let (ec, _) = pair(UpstreamAlg::ES256);
        let (ed, _) = pair(UpstreamAlg::EdDSA);
        let (rsa, _) = pair(UpstreamAlg::RS256);
        assert!(
            Verifier::from_jwk(&ec, UpstreamAlg::ES384).is_none(),
            "P-256 key, ES384"
        );
        assert!(Verifier::from_jwk(&ec, UpstreamAlg::RS256).is_none());
        assert!(Verifier::from_jwk(&ed, UpstreamAlg::ES256).is_none());
        assert!(Verifier::from_jwk(&rsa, UpstreamAlg::EdDSA).is_none());
        let mut wrong_use = ec.clone();
        wrong_use.set_key_use("enc");
        assert!(
            Verifier::from_jwk(&wrong_use, UpstreamAlg::ES256).is_none(),
            "use=enc"
        );
        let mut wrong_ops = ec.clone();
        wrong_ops.set_key_operations(vec!["sign"]);
        assert!(
            Verifier::from_jwk(&wrong_ops, UpstreamAlg::ES256).is_none(),
            "key_ops without verify"
        );
        let mut wrong_alg = ec.clone();
        wrong_alg.set_algorithm("ES384");
        assert!(
            Verifier::from_jwk(&wrong_alg, UpstreamAlg::ES256).is_none(),
            "alg=ES384"
        );
        let mut declared = ec.clone();
        declared.set_algorithm("ES256");
        declared.set_key_use("sig");
        assert!(Verifier::from_jwk(&declared, UpstreamAlg::ES256).is_some());
    }

    #[test]
    fn short_rsa_keys_are_refused() {
        let short = Jwk::generate_rsa_key(1024)
            .unwrap()
            .to_public_key()
            .unwrap();
        assert!(Verifier::from_jwk(&short, UpstreamAlg::RS256).is_none());
    }
}
