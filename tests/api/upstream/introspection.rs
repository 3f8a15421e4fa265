//! RFC 7662 back-channel checks at the IdP: always, by lifetime, the Okta
//! org authorization server, inactive answers and failures (fail closed).

use super::*;
use crate::fake_idp::Mode;

fn introspecting(okta: &FakeOkta, mode: &str) -> String {
    format!(
        "introspect = \"{mode}\"\nintrospection = {{ client_id = \"{}\", client_secret = \"{}\" }}",
        okta.client_id(),
        okta.client_secret()
    )
}

fn jti(token: &str) -> String {
    crate::fake_idp::claims_of(token)["jti"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn always_asks_and_caches_the_answer() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(&okta, &introspecting(&okta, "always")));
    let token = okta.access_token("a@example.com").mint();
    verified(&reg, &token).await;
    verified(&reg, &token).await;
    assert_eq!(
        okta.introspections(),
        1,
        "the second check came from the cache"
    );
}

#[tokio::test]
async fn an_inactive_answer_refuses() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(&okta, &introspecting(&okta, "always")));
    let token = okta.access_token("a@example.com").mint();
    okta.deactivate(&jti(&token));
    let r = refused(&reg, &token).await;
    assert_eq!(r.reason, Reason::UpstreamInactive);
    assert_eq!(
        r.detail,
        "the identity provider says the token is not active"
    );
}

#[tokio::test]
async fn an_unreachable_introspection_endpoint_refuses() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(&okta, &introspecting(&okta, "always")));
    okta.set_introspection_mode(Mode::Down);
    let r = refused(&reg, &okta.access_token("a@example.com").mint()).await;
    assert_eq!(r.reason, Reason::UpstreamIntrospectionUnavailable);
    assert!(r.detail.ends_with("answered HTTP 503"), "{}", r.detail);
}

#[tokio::test]
async fn wrong_introspection_credentials_fail_closed() {
    let okta = FakeOkta::start().await;
    let extra = format!(
        "introspect = \"always\"\nintrospection = {{ client_id = \"{}\", client_secret = \"wrong\" }}",
        okta.client_id()
    );
    let reg = registry(&okta_block(&okta, &extra));
    assert_refused(
        &reg,
        &okta.access_token("a@example.com").mint(),
        Reason::UpstreamIntrospectionUnavailable,
    )
    .await;
}

#[tokio::test]
async fn only_long_lived_tokens_are_introspected_by_lifetime() {
    let okta = FakeOkta::start().await;
    let reg = registry(&okta_block(
        &okta,
        &introspecting(&okta, "when-lifetime-over-15m"),
    ));
    verified(&reg, &okta.access_token("a@example.com").ttl(600).mint()).await;
    assert_eq!(okta.introspections(), 0);
    verified(&reg, &okta.access_token("a@example.com").ttl(3600).mint()).await;
    assert_eq!(okta.introspections(), 1);
}

#[tokio::test]
async fn okta_org_server_tokens_are_vouched_for_by_introspection_only() {
    let okta = FakeOkta::start().await;
    let block = format!(
        "[[upstreams]]\nname = \"okta-org\"\nkind = \"okta\"\nissuer = \"{}\"\naudiences = [\"{}\"]\n\
         introspect = \"always\"\nintrospection = {{ endpoint = \"{}\", client_id = \"{}\", client_secret = \"{}\" }}\n",
        okta.org_issuer(),
        okta.base_url(),
        okta.org_introspection_endpoint(),
        okta.client_id(),
        okta.client_secret()
    );
    let reg = registry(&block);
    let token = okta.org_access_token("dana@example.com").mint();
    let v = verified(&reg, &token).await;
    assert_eq!(v.subject, FakeOkta::uid_for("dana@example.com"));
    assert_eq!(okta.introspections(), 1);
    assert_eq!(
        okta.org().jwks_fetches(),
        0,
        "org tokens are not verified locally"
    );

    let other = okta.org_access_token("erin@example.com").mint();
    okta.deactivate(&jti(&other));
    assert_refused(&reg, &other, Reason::UpstreamInactive).await;
}
