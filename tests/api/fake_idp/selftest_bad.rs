//! Self-tests: every bad variant really has the defect it claims.

use super::jwt::{self, verify_with_jwks};
use super::selftest::{TENANT_A as TENANT, get_json};
use super::{Attacker, Bad, FakeEntra, FakeOkta, Part, TokenBuilder, claims_of, header_of};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{HS256, JwsVerifier, PS256};
use serde_json::{Value, json};

fn parts(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

fn verify_with(verifier: &dyn JwsVerifier, token: &str) -> bool {
    let (input, sig) = token.rsplit_once('.').expect("dot");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("sig b64");
    verifier.verify(input.as_bytes(), &sig).is_ok()
}

/// A JWKS entry without `alg`, so josekit accepts it for any RSA algorithm.
fn bare_jwk(jwks: &Value, kid: &str) -> Jwk {
    let keys = jwks["keys"].as_array().expect("keys");
    let mut key = keys
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid in JWKS")
        .clone();
    key.as_object_mut().expect("object").remove("alg");
    Jwk::from_bytes(key.to_string()).expect("JWK")
}

/// Makes a fresh good token builder of one kind.
type MakeToken<'a> = Box<dyn Fn() -> TokenBuilder + 'a>;

fn okta_token(okta: &FakeOkta) -> TokenBuilder {
    okta.access_token("alice@example.com")
}

#[tokio::test]
async fn claim_level_variants_are_signed_but_wrong() {
    let okta = FakeOkta::start().await;
    let jwks = get_json(&okta.jwks_uri()).await;
    let now = jwt::now();
    let check = |bad: Bad| verify_with_jwks(&okta_token(&okta).bad(bad).mint(), &jwks).unwrap();

    let c = check(Bad::WrongIssuer);
    assert!(
        c["iss"]
            .as_str()
            .unwrap()
            .starts_with("https://evil.example.com")
    );
    assert_eq!(check(Bad::WrongAudience)["aud"], "api://someone-else");
    let c = check(Bad::Expired);
    assert!(c["exp"].as_i64().unwrap() < now - 300);
    let c = check(Bad::NotYetValid);
    assert!(
        c["nbf"].as_i64().unwrap() > now + 300,
        "Okta gets an nbf too"
    );
    assert!(c["exp"].as_i64().unwrap() > c["nbf"].as_i64().unwrap());
    let c = check(Bad::TooOld);
    assert!(c["iat"].as_i64().unwrap() < now - 29 * 86_400);
    assert!(c["exp"].as_i64().unwrap() > now + 60);
    assert_eq!(c["auth_time"], c["iat"]);

    let t = okta_token(&okta).bad(Bad::CritExp).mint();
    let c = verify_with_jwks(&t, &jwks).unwrap();
    assert_eq!(header_of(&t)["crit"], json!(["exp"]));
    assert_eq!(header_of(&t)["exp"], c["exp"]);

    let t = okta_token(&okta).bad(Bad::Oversized).mint();
    assert!(t.len() > 16_384, "{} bytes", t.len());
    assert!(verify_with_jwks(&t, &jwks).is_ok());

    let t = okta_token(&okta).bad(Bad::TamperedPayload).mint();
    assert_eq!(claims_of(&t)["sub"], "mallory");
    assert!(verify_with_jwks(&t, &jwks).is_err());
}

#[tokio::test]
async fn algorithm_variants() {
    let entra = FakeEntra::start(&[TENANT]).await;
    let mint = |bad: Bad| {
        entra
            .access_token_v2(TENANT, "a@contoso.com")
            .bad(bad)
            .mint()
    };
    entra.publish_ec_key(true);
    let jwks = get_json(&entra.jwks_uri_v2(TENANT)).await;

    let t = mint(Bad::WrongAlg("PS256"));
    assert_eq!(
        (header_of(&t)["alg"].as_str(), header_of(&t)["kid"].clone()),
        (Some("PS256"), json!(entra.kid()))
    );
    let verifier = PS256
        .verifier_from_jwk(&bare_jwk(&jwks, &entra.kid()))
        .unwrap();
    assert!(
        verify_with(&verifier, &t),
        "PS256 with the IdP's own RSA key"
    );
    let t = mint(Bad::WrongAlg("ES256"));
    assert_eq!(header_of(&t)["kid"], entra.ec_key().kid());
    let r = verify_with_jwks(&t, &jwks);
    assert!(r.is_ok(), "ES256 with the published EC key: {r:?}");
    let t = mint(Bad::WrongAlg("RS512"));
    assert_eq!(header_of(&t)["alg"], "RS512");
    assert_eq!(header_of(&mint(Bad::WrongAlg("EdDSA")))["alg"], "EdDSA");

    let t = mint(Bad::AlgNone);
    assert_eq!(header_of(&t)["alg"], "none");
    assert_eq!(parts(&t).len(), 3);
    assert_eq!(parts(&t)[2], "", "empty signature");

    let key = entra.signing_key();
    let pem = key.public_pem();
    assert!(pem.starts_with(b"-----BEGIN PUBLIC KEY-----"));
    for (bad, secret) in [
        (Bad::HmacPublicPem, pem),
        (Bad::HmacPublicDer, key.public_der()),
    ] {
        let t = mint(bad);
        assert_eq!(header_of(&t)["alg"], "HS256");
        assert_eq!(header_of(&t)["kid"], entra.kid());
        let verifier = HS256.verifier_from_bytes(&secret).unwrap();
        assert!(
            verify_with(&verifier, &t),
            "HMAC keyed with the public key bytes"
        );
    }
}

#[tokio::test]
async fn key_variants_point_away_from_the_idps_jwks() {
    let okta = FakeOkta::start().await;
    let attacker = Attacker::start().await;

    let t = okta_token(&okta).bad(Bad::UnknownKid).mint();
    let kid = header_of(&t)["kid"].as_str().unwrap().to_owned();
    assert!(kid.starts_with("unknown-"));
    for _ in 0..2 {
        let jwks = get_json(&okta.jwks_uri()).await;
        assert!(
            !jwks.to_string().contains(&kid),
            "not in the JWKS, even on refetch"
        );
    }
    assert_eq!(okta.jwks_fetches(), 2);

    let t = okta_token(&okta).bad(Bad::Jku(attacker.clone())).mint();
    let h = header_of(&t);
    assert_eq!(h["jku"], attacker.jwks_url());
    assert_eq!(h["kid"], attacker.kid());
    assert_eq!(attacker.fetches(), 0);
    let attacker_jwks = get_json(&attacker.jwks_url()).await;
    assert_eq!(attacker.fetches(), 1);
    assert!(
        verify_with_jwks(&t, &attacker_jwks).is_ok(),
        "valid under the attacker's key"
    );
    let idp_jwks = get_json(&okta.jwks_uri()).await;
    assert!(verify_with_jwks(&t, &idp_jwks).is_err());

    let t = okta_token(&okta).bad(Bad::X5u(attacker.clone())).mint();
    assert_eq!(header_of(&t)["x5u"], attacker.x5u_url());
    let pem = reqwest::get(attacker.x5u_url())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(pem.as_ref(), attacker.key().public_pem().as_slice());
    assert_eq!(attacker.fetches(), 2);
    assert!(verify_with_jwks(&t, &attacker_jwks).is_ok());

    let t = okta_token(&okta).bad(Bad::EmbeddedJwk).mint();
    let h = header_of(&t);
    assert!(h["jwk"]["n"].is_string() && h["jwk"].get("d").is_none());
    let embedded = json!({"keys": [h["jwk"].clone()]});
    assert!(
        verify_with_jwks(&t, &embedded).is_ok(),
        "signed by the embedded key"
    );
    assert!(verify_with_jwks(&t, &idp_jwks).is_err());
}

#[tokio::test]
async fn jwe_variant_is_five_parts_encrypted_to_the_idp() {
    let okta = FakeOkta::start().await;
    let t = okta_token(&okta).bad(Bad::Jwe).mint();
    assert_eq!(parts(&t).len(), 5);
    let h = header_of(&t);
    assert_eq!(
        (h["alg"].as_str(), h["enc"].as_str()),
        (Some("RSA-OAEP"), Some("A256GCM"))
    );
    assert_eq!(h["kid"], okta.kid());
    let private = okta.signing_key().private_jwk().clone();
    let decrypter = josekit::jwe::RSA_OAEP.decrypter_from_jwk(&private).unwrap();
    let (payload, _) = josekit::jwe::deserialize_compact(&t, &decrypter).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["iss"], okta.issuer());
}

#[tokio::test]
async fn malformed_variants() {
    let entra = FakeEntra::start(&[TENANT]).await;
    let mint = |bad: Bad| {
        entra
            .access_token_v1(TENANT, "a@contoso.com")
            .bad(bad)
            .mint()
    };
    for (i, part) in [Part::Header, Part::Payload, Part::Signature]
        .into_iter()
        .enumerate()
    {
        let t = mint(Bad::InvalidBase64(part));
        let segments = parts(&t);
        assert_eq!(segments.len(), 3);
        for (j, s) in segments.iter().enumerate() {
            assert_eq!(
                URL_SAFE_NO_PAD.decode(s).is_err(),
                i == j,
                "{part:?} segment {j}"
            );
        }
    }
    for (bad, index) in [(Bad::HeaderNotJson, 0), (Bad::PayloadNotJson, 1)] {
        let t = mint(bad);
        let bytes = URL_SAFE_NO_PAD
            .decode(parts(&t)[index])
            .expect("valid base64url");
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        let jwks = get_json(&entra.jwks_uri_v1(TENANT)).await;
        let verifier = josekit::jws::RS256.verifier_from_jwk(&bare_jwk(&jwks, &entra.kid()));
        assert!(
            verify_with(&verifier.unwrap(), &t),
            "signed over the broken segment"
        );
    }
    assert_eq!(parts(&mint(Bad::TwoParts)).len(), 2);
    assert_eq!(mint(Bad::Empty), "");
}

#[tokio::test]
async fn every_variant_mints_for_every_token_kind() {
    let okta = FakeOkta::start().await;
    let entra = FakeEntra::start(&[TENANT]).await;
    let attacker = Attacker::start().await;
    let variants = || {
        let mut v = vec![
            Bad::WrongIssuer,
            Bad::WrongAudience,
            Bad::Expired,
            Bad::NotYetValid,
            Bad::TooOld,
            Bad::WrongAlg("PS256"),
            Bad::WrongAlg("ES256"),
            Bad::AlgNone,
            Bad::HmacPublicPem,
            Bad::HmacPublicDer,
            Bad::TamperedPayload,
            Bad::CritExp,
            Bad::Jku(attacker.clone()),
            Bad::X5u(attacker.clone()),
            Bad::Oversized,
            Bad::Jwe,
            Bad::InvalidBase64(Part::Payload),
            Bad::HeaderNotJson,
            Bad::PayloadNotJson,
            Bad::TwoParts,
            Bad::Empty,
        ];
        v.extend([Bad::UnknownKid, Bad::EmbeddedJwk]);
        v
    };
    let kinds: Vec<(&str, MakeToken<'_>)> = vec![
        ("okta id", Box::new(|| okta.id_token("a@example.com"))),
        ("okta service", Box::new(|| okta.service_token("0oasvc"))),
        (
            "okta org",
            Box::new(|| okta.org_access_token("a@example.com")),
        ),
        (
            "entra v1",
            Box::new(|| entra.access_token_v1(TENANT, "a@contoso.com")),
        ),
        ("entra app", Box::new(|| entra.app_token(TENANT, "app"))),
        (
            "entra app v1",
            Box::new(|| entra.app_token_v1(TENANT, "app")),
        ),
        (
            "entra overage",
            Box::new(|| entra.overage_token(TENANT, "a@contoso.com")),
        ),
    ];
    for (name, kind) in &kinds {
        let good = kind().mint();
        for bad in variants() {
            let label = format!("{name} {bad:?}");
            assert_ne!(kind().bad(bad).mint(), good, "{label:.60}");
        }
    }
    let t = kinds[3].1().bad(Bad::Jku(attacker.clone())).mint();
    assert_eq!(
        header_of(&t)["x5t"],
        attacker.kid(),
        "v1 x5t follows the swapped key"
    );
    let t = kinds[3].1().bad(Bad::WrongIssuer).mint();
    assert_eq!(
        claims_of(&t)["iss"],
        format!("https://evil.example.com/sts/{TENANT}/")
    );
}
