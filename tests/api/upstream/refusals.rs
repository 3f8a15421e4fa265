//! One test per refusal, each asserting the reason code (and, where the
//! wording matters to an operator, the detail).

use super::*;
use crate::fake_idp::{Attacker, Bad, Part};

async fn okta_and_registry(extra: &str) -> (FakeOkta, UpstreamRegistry) {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(&okta, extra));
    // Warm the key cache with a good token so refusals are about the token.
    verified(&reg, &okta.access_token("warm@example.com").mint()).await;
    (okta, reg)
}

async fn okta_bad(bad: Bad, reason: Reason) {
    let (okta, reg) = okta_and_registry("max_token_age = \"1d\"").await;
    assert_refused(
        &reg,
        &okta.access_token("alice@example.com").bad(bad).mint(),
        reason,
    )
    .await;
}

#[tokio::test]
async fn wrong_algorithm_is_refused() {
    okta_bad(Bad::WrongAlg("PS256"), Reason::UnsupportedAlgorithm).await;
    okta_bad(Bad::WrongAlg("ES256"), Reason::UnsupportedAlgorithm).await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    okta_bad(Bad::AlgNone, Reason::UnsupportedAlgorithm).await;
}

#[tokio::test]
async fn hs256_keyed_with_the_rsa_public_key_is_refused() {
    okta_bad(Bad::HmacPublicPem, Reason::UnsupportedAlgorithm).await;
    okta_bad(Bad::HmacPublicDer, Reason::UnsupportedAlgorithm).await;
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let (okta, reg) = okta_and_registry("").await;
    let r = refused(
        &reg,
        &okta
            .access_token("alice@example.com")
            .bad(Bad::TamperedPayload)
            .mint(),
    )
    .await;
    assert_eq!(
        (r.reason, r.detail.as_str()),
        (Reason::BadSignature, "the signature does not verify")
    );
}

#[tokio::test]
async fn unknown_kid_is_refused_after_exactly_one_refetch() {
    let (okta, reg) = okta_and_registry("").await;
    let before = okta.jwks_fetches();
    let token = okta
        .access_token("alice@example.com")
        .bad(Bad::UnknownKid)
        .mint();
    assert_refused(&reg, &token, Reason::UnknownKey).await;
    assert_eq!(
        okta.jwks_fetches(),
        before + 1,
        "one refetch for the unknown kid"
    );
    // A second unknown kid within the minimum interval fetches nothing.
    assert_refused(&reg, &token, Reason::UnknownKey).await;
    assert_eq!(
        okta.jwks_fetches(),
        before + 1,
        "refetches are rate-limited"
    );
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    okta_bad(Bad::WrongIssuer, Reason::UnknownIssuer).await;
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let (okta, reg) = okta_and_registry("").await;
    let r = refused(
        &reg,
        &okta
            .access_token("a@example.com")
            .bad(Bad::WrongAudience)
            .mint(),
    )
    .await;
    assert_eq!(r.reason, Reason::WrongAudience);
    assert_eq!(
        r.detail,
        "aud is not one of api://default, 0oa8agentstsapp0x697"
    );
}

#[tokio::test]
async fn expired_not_yet_valid_and_too_old_are_refused() {
    okta_bad(Bad::Expired, Reason::Expired).await;
    okta_bad(Bad::NotYetValid, Reason::NotYetValid).await;
    okta_bad(Bad::TooOld, Reason::TokenTooOld).await;
}

#[tokio::test]
async fn a_missing_exp_is_refused() {
    let (okta, reg) = okta_and_registry("").await;
    let r = refused(
        &reg,
        &okta.access_token("a@example.com").remove("exp").mint(),
    )
    .await;
    assert_eq!(
        (r.reason, r.detail.as_str()),
        (Reason::MissingClaim, "the token has no exp claim")
    );
}

#[tokio::test]
async fn a_critical_header_is_refused() {
    okta_bad(Bad::CritExp, Reason::UnsupportedCritical).await;
}

#[tokio::test]
async fn jku_x5u_and_embedded_jwk_are_never_followed() {
    let attacker = Attacker::start().await;
    let (okta, reg) = okta_and_registry("").await;
    for bad in [
        Bad::Jku(attacker.clone()),
        Bad::X5u(attacker.clone()),
        Bad::EmbeddedJwk,
    ] {
        let token = okta.access_token("alice@example.com").bad(bad).mint();
        assert_refused(&reg, &token, Reason::UntrustedKeyReference).await;
    }
    assert_eq!(
        attacker.fetches(),
        0,
        "the attacker's server was never contacted"
    );
}

#[tokio::test]
async fn oversized_and_encrypted_tokens_are_refused() {
    okta_bad(Bad::Oversized, Reason::TokenTooLarge).await;
    okta_bad(Bad::Jwe, Reason::EncryptedToken).await;
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let (okta, reg) = okta_and_registry("").await;
    for bad in [
        Bad::InvalidBase64(Part::Header),
        Bad::InvalidBase64(Part::Payload),
        Bad::InvalidBase64(Part::Signature),
        Bad::HeaderNotJson,
        Bad::PayloadNotJson,
        Bad::TwoParts,
        Bad::Empty,
    ] {
        let token = okta
            .access_token("alice@example.com")
            .bad(bad.clone())
            .mint();
        let r = refused(&reg, &token).await;
        assert_eq!(r.reason, Reason::MalformedToken, "{bad:?}: {}", r.detail);
    }
}

#[tokio::test]
async fn another_tenant_is_refused_by_name() {
    let entra = FakeEntra::start(&[TENANT, OTHER_TENANT]).await;
    let reg = registry(&entra_block(&entra, ""));
    let r = refused(
        &reg,
        &entra
            .access_token_v2(OTHER_TENANT, "eve@fabrikam.com")
            .mint(),
    )
    .await;
    assert_eq!(r.reason, Reason::TenantNotAllowed);
    assert_eq!(
        r.detail,
        format!("tenant {OTHER_TENANT} is not on upstream entra's allow-list")
    );
    let r = refused(
        &reg,
        &entra
            .access_token_v1(OTHER_TENANT, "eve@fabrikam.com")
            .mint(),
    )
    .await;
    assert_eq!(r.reason, Reason::TenantNotAllowed);
}

#[tokio::test]
async fn a_tid_that_contradicts_the_issuer_is_refused() {
    let entra = FakeEntra::start(&[TENANT]).await;
    let reg = registry(&entra_block(&entra, ""));
    let token = entra
        .access_token_v2(TENANT, "a@contoso.com")
        .claim("tid", OTHER_TENANT.into())
        .mint();
    assert_refused(&reg, &token, Reason::ClaimMismatch).await;
}

#[tokio::test]
async fn entra_wrong_audience_and_bad_signature_are_refused() {
    let entra = FakeEntra::start(&[TENANT]).await;
    let reg = registry(&entra_block(&entra, ""));
    let t = entra.access_token_v2(TENANT, "a@contoso.com");
    assert_refused(
        &reg,
        &t.clone().bad(Bad::WrongAudience).mint(),
        Reason::WrongAudience,
    )
    .await;
    assert_refused(
        &reg,
        &t.bad(Bad::TamperedPayload).mint(),
        Reason::BadSignature,
    )
    .await;
}
