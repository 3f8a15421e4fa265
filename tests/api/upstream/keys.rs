//! Key handling against a live fake IdP: rotation, outages within and past
//! the stale bound, discovery that names another issuer, garbage JWKS.

use std::sync::Arc;

use super::*;
use crate::fake_idp::Mode;

#[tokio::test]
async fn rotation_at_the_idp_costs_exactly_one_refetch() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(&okta, ""));
    verified(&reg, &okta.access_token("a@example.com").mint()).await;
    let before = okta.jwks_fetches();
    okta.rotate_key();
    verified(&reg, &okta.access_token("a@example.com").mint()).await;
    assert_eq!(okta.jwks_fetches(), before + 1);
    verified(&reg, &okta.access_token("b@example.com").mint()).await;
    assert_eq!(okta.jwks_fetches(), before + 1, "the new key is cached now");
}

#[tokio::test]
async fn a_remembered_signature_ends_when_the_issuer_serves_another_key_under_its_kid() {
    let okta = FakeOkta::start().await;
    let clock = frozen_now();
    let reg = registry_with(&okta_block(&okta, ""), Arc::new(clock.clone()));
    let token = okta.access_token("a@example.com").ttl(3 * 86_400).mint();
    verified(&reg, &token).await;
    verified(&reg, &token).await;
    okta.replace_key_keeping_kid();
    let before = okta.jwks_fetches();
    clock.advance(25 * 3600);
    reg.refresh_due().await;
    assert_eq!(okta.jwks_fetches(), before + 1, "the keys were refreshed");
    let r = refused(&reg, &token).await;
    assert_eq!(r.reason, Reason::BadSignature);
    assert_eq!(r.detail, "the signature does not verify");
}

#[tokio::test]
async fn a_remembered_signature_does_not_outlive_the_token() {
    let okta = FakeOkta::start().await;
    let clock = frozen_now();
    let reg = registry_with(
        &okta_block(&okta, "clock_skew = \"30s\""),
        Arc::new(clock.clone()),
    );
    let token = okta.access_token("a@example.com").ttl(600).mint();
    verified(&reg, &token).await;
    clock.advance(600 + 31);
    let r = refused(&reg, &token).await;
    assert_eq!(r.reason, Reason::Expired);
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_refetch() {
    let okta = FakeOkta::start().await;
    let reg = Arc::new(registry(&okta_block(&okta, "")));
    verified(&reg, &okta.access_token("a@example.com").mint()).await;
    let before = okta.jwks_fetches();
    okta.rotate_key();
    let token = okta.access_token("a@example.com").mint();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (reg, token) = (Arc::clone(&reg), token.clone());
        tasks.spawn(async move { reg.verify(&token).await.map(|v| v.subject) });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(result.expect("task").is_ok());
    }
    assert_eq!(okta.jwks_fetches(), before + 1);
}

#[tokio::test]
async fn an_outage_is_survived_from_cache_within_the_bound_and_refused_after() {
    let okta = FakeOkta::start().await;
    let clock = frozen_now();
    let reg = registry_with(
        &okta_block(&okta, "keys_stale_for = \"1h\""),
        Arc::new(clock.clone()),
    );
    let token = okta.access_token("a@example.com").ttl(6 * 3600).mint();
    verified(&reg, &token).await;
    okta.set_mode(Mode::Down);

    clock.advance(50 * 60);
    reg.refresh_due().await; // the periodic refresh fails: keys stay
    verified(&reg, &token).await;
    assert_eq!(reg.health()["okta"]["state"], "stale");

    clock.advance(11 * 60);
    let r = refused(&reg, &token).await;
    assert_eq!(r.reason, Reason::UpstreamKeysUnavailable);
    assert!(
        r.detail
            .starts_with("the issuer's keys could not be refreshed (discovery answered HTTP 503)"),
        "{}",
        r.detail
    );
    assert_eq!(reg.health()["okta"]["state"], "unavailable");

    // The IdP comes back: the next verification refetches and succeeds.
    okta.set_mode(Mode::Up);
    clock.advance(60);
    verified(&reg, &token).await;
    assert_eq!(reg.health()["okta"]["state"], "ok");
}

#[tokio::test]
async fn a_slow_idp_is_cut_at_the_outbound_timeout_served_from_cache_then_refused() {
    let okta = FakeOkta::start().await;
    let clock = frozen_now();
    let blocks = format!(
        "{}\n[outbound]\ntimeout = \"300ms\"\n",
        okta_block(&okta, "keys_stale_for = \"1h\"")
    );
    let reg = registry_with(&blocks, Arc::new(clock.clone()));
    let token = okta.access_token("a@example.com").ttl(6 * 3600).mint();
    verified(&reg, &token).await;
    // Slower than the timeout: every fetch is cut at 300 ms. (The bounds
    // below catch a hang; they are not performance assertions.)
    okta.set_mode(Mode::Slow(std::time::Duration::from_secs(5)));
    let bound = std::time::Duration::from_secs(3);

    clock.advance(50 * 60);
    tokio::time::timeout(bound, reg.refresh_due())
        .await
        .expect("the periodic refresh gives up at the timeout");
    verified(&reg, &token).await;
    assert_eq!(reg.health()["okta"]["state"], "stale");

    // A token under a key the cache lacks: the refetch times out too.
    let kid = okta.rotate_key();
    let fresh = okta.access_token("a@example.com").mint();
    let r = tokio::time::timeout(bound, refused(&reg, &fresh))
        .await
        .expect("no hung verification");
    assert_eq!(r.reason, Reason::UnknownKey);
    assert_eq!(
        r.detail,
        format!(
            "kid {kid:?} is not among the cached keys, and refreshing them failed (discovery timed out)"
        )
    );

    clock.advance(11 * 60);
    let r = tokio::time::timeout(bound, refused(&reg, &token))
        .await
        .expect("no hung verification");
    assert_eq!(r.reason, Reason::UpstreamKeysUnavailable);
    assert_eq!(
        r.detail,
        "the issuer's keys could not be refreshed (discovery timed out); the cache is 3660s old"
    );
}

#[tokio::test]
async fn an_unreachable_idp_at_first_use_is_a_clear_refusal() {
    let okta = FakeOkta::start().await;
    okta.set_mode(Mode::Garbage);
    let reg = registry(&okta_block(&okta, ""));
    let r = refused(&reg, &okta.access_token("a@example.com").mint()).await;
    assert_eq!(r.reason, Reason::UpstreamKeysUnavailable);
    assert_eq!(
        r.detail,
        "the issuer's keys could not be fetched (discovery the answer is not JSON)"
    );
}

#[tokio::test]
async fn discovery_that_names_another_issuer_marks_the_upstream_unhealthy() {
    let okta = FakeOkta::start().await;
    // Configured issuer differs from what the discovery document says.
    let block = format!(
        "[[upstreams]]\nname = \"mirror\"\nkind = \"oidc\"\nissuer = \"http://localhost:1/oauth2/default\"\n\
         audiences = [\"api://default\"]\ndiscovery_url = \"{}\"\n",
        okta.discovery_url()
    );
    let reg = registry(&block);
    let token = okta
        .access_token("a@example.com")
        .claim("iss", "http://localhost:1/oauth2/default".into())
        .mint();
    let r = refused(&reg, &token).await;
    assert_eq!(r.reason, Reason::UpstreamKeysUnavailable);
    assert!(
        r.detail.contains(&format!(
            "discovery names issuer \"{}\", not the configured \"http://localhost:1/oauth2/default\"",
            okta.issuer()
        )),
        "{}",
        r.detail
    );
}

#[tokio::test]
async fn an_explicit_jwks_uri_skips_discovery() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(
        &okta,
        &format!("jwks_uri = \"{}\"", okta.jwks_uri()),
    ));
    verified(&reg, &okta.access_token("a@example.com").mint()).await;
    assert_eq!(okta.discovery_fetches(), 0);
    assert_eq!(okta.jwks_fetches(), 1);
}
