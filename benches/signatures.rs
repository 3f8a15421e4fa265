//! One signature, signed and verified, by OpenSSL (through josekit, what
//! agent-sts used until issue 21) and by ring, for each algorithm we sign
//! with or accept: the measurement behind the choice of backend.
//!
//!     cargo bench --bench signatures

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use josekit::jwk::{Jwk, alg::ec::EcCurve, alg::ed::EdCurve};
use josekit::jws::{ES256, EdDSA, JwsSigner, JwsVerifier, RS256};
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair};

const INPUT: &[u8] = b"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwczovL3N0cy5leGFtcGxlLmNvbSIsInN1YiI6ImFsaWNlQGV4YW1wbGUuY29tIiwiYXVkIjoiaHR0cHM6Ly9tY3AuZXhhbXBsZS5jb20iLCJleHAiOjE3NjQ2MzQ0MDAsImlhdCI6MTc2NDYzMzgwMCwianRpIjoiMDEyMzQ1Njc4OWFiY2RlZiIsInNjb3BlIjoib3JkZXJzOnJlYWQifQ";

fn b64(jwk: &Jwk, name: &str) -> Vec<u8> {
    let v = jwk.parameter(name).and_then(|v| v.as_str()).expect(name);
    URL_SAFE_NO_PAD.decode(v).expect("base64url")
}

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let mut g = c.benchmark_group("signature");

    // ES256 (P-256): our signing algorithm.
    let ec = Jwk::generate_ec_key(EcCurve::P256).expect("ec key");
    let ec_public = ec.to_public_key().expect("public");
    let ossl_signer = ES256.signer_from_jwk(&ec).expect("signer");
    let ossl_verifier = ES256.verifier_from_jwk(&ec_public).expect("verifier");
    let mut point = vec![4u8];
    point.extend(b64(&ec, "x"));
    point.extend(b64(&ec, "y"));
    let ring_ec = signature::EcdsaKeyPair::from_private_key_and_public_key(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &b64(&ec, "d"),
        &point,
        &rng,
    )
    .expect("ring ec key");
    let ring_ec_public =
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point.clone());
    let sig = ossl_signer.sign(INPUT).expect("sign");
    ring_ec_public
        .verify(INPUT, &sig)
        .expect("ring verifies OpenSSL's");
    g.bench_function("ES256/sign/openssl", |b| {
        b.iter(|| ossl_signer.sign(INPUT).expect("sign"))
    });
    g.bench_function("ES256/sign/ring", |b| {
        b.iter(|| ring_ec.sign(&rng, INPUT).expect("sign"))
    });
    g.bench_function("ES256/verify/openssl", |b| {
        b.iter(|| ossl_verifier.verify(INPUT, &sig).expect("verify"))
    });
    g.bench_function("ES256/verify/ring", |b| {
        b.iter(|| ring_ec_public.verify(INPUT, &sig).expect("verify"))
    });

    // EdDSA (Ed25519).
    let ed = Jwk::generate_ed_key(EdCurve::Ed25519).expect("ed key");
    let ed_public = ed.to_public_key().expect("public");
    let ossl_signer = EdDSA.signer_from_jwk(&ed).expect("signer");
    let ossl_verifier = EdDSA.verifier_from_jwk(&ed_public).expect("verifier");
    let ring_ed =
        signature::Ed25519KeyPair::from_seed_and_public_key(&b64(&ed, "d"), &b64(&ed, "x"))
            .expect("ring ed key");
    let ring_ed_public = signature::UnparsedPublicKey::new(
        &signature::ED25519,
        ring_ed.public_key().as_ref().to_vec(),
    );
    let sig = ossl_signer.sign(INPUT).expect("sign");
    ring_ed_public
        .verify(INPUT, &sig)
        .expect("ring verifies OpenSSL's");
    g.bench_function("EdDSA/sign/openssl", |b| {
        b.iter(|| ossl_signer.sign(INPUT).expect("sign"))
    });
    g.bench_function("EdDSA/sign/ring", |b| b.iter(|| ring_ed.sign(INPUT)));
    g.bench_function("EdDSA/verify/openssl", |b| {
        b.iter(|| ossl_verifier.verify(INPUT, &sig).expect("verify"))
    });
    g.bench_function("EdDSA/verify/ring", |b| {
        b.iter(|| ring_ed_public.verify(INPUT, &sig).expect("verify"))
    });

    // RS256 (2048-bit): what Okta and Entra sign with; verification only.
    let rsa = Jwk::generate_rsa_key(2048).expect("rsa key");
    let rsa_public = rsa.to_public_key().expect("public");
    let ossl_signer = RS256.signer_from_jwk(&rsa).expect("signer");
    let ossl_verifier = RS256.verifier_from_jwk(&rsa_public).expect("verifier");
    let ring_rsa = signature::RsaPublicKeyComponents {
        n: b64(&rsa, "n"),
        e: b64(&rsa, "e"),
    };
    let sig = ossl_signer.sign(INPUT).expect("sign");
    ring_rsa
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, INPUT, &sig)
        .expect("ring verifies OpenSSL's");
    g.bench_function("RS256/verify/openssl", |b| {
        b.iter(|| ossl_verifier.verify(INPUT, &sig).expect("verify"))
    });
    g.bench_function("RS256/verify/ring", |b| {
        b.iter(|| {
            ring_rsa
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, INPUT, &sig)
                .expect("verify")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
