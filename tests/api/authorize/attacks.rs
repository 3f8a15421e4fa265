//! Each way to abuse the flow, refused with its reason code and recorded.

use super::*;
use crate::audit::Trail;
use crate::fake_idp::IdTokenFault;
use agent_sts::clock::Clock;

/// The last audit record: (event, decision, reason).
async fn last(trail: &mut Trail) -> (String, String, String) {
    let r = trail.one().await.json;
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
    (s("event"), s("decision"), s("reason"))
}

fn refused(reason: &str) -> (String, String, String) {
    ("authorize".into(), "deny".into(), reason.into())
}

/// Sent back to the client with `error` (and our `state`, `iss`).
#[track_caller]
fn assert_error_back(back: &Url, error: &str) {
    assert!(back.as_str().starts_with(CB), "back at the client: {back}");
    let q = query_of(back);
    assert_eq!(q.get("error").map(String::as_str), Some(error), "{back}");
    assert_eq!(q.get("state").map(String::as_str), Some("client-state-1"));
    assert!(q.contains_key("iss") && !q.contains_key("code"), "{back}");
}

#[tokio::test]
async fn pkce_is_mandatory_and_s256_only() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    for params in [
        fx.with("code_challenge", None),
        fx.with("code_challenge_method", None),
        fx.with("code_challenge_method", Some("plain")),
        fx.with("code_challenge", Some("too-short")),
    ] {
        let back = Fx::location(&fx.authorize(&params).await);
        assert_error_back(&back, "invalid_request");
        assert_eq!(last(&mut trail).await, refused("pkce_required"));
    }
    assert_eq!(
        fx.okta.authorize_requests(),
        0,
        "nobody was sent to sign in"
    );
}

#[tokio::test]
async fn a_wrong_verifier_burns_the_code() {
    let fx = start().await;
    let code = fx.code().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, body) = fx.redeem(&code, &random_hex(32), CB).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "code_verifier does not match the code_challenge"
    );
    assert_eq!(
        last(&mut trail).await,
        ("token".into(), "deny".into(), "pkce_failed".into())
    );
    let (status, body) = fx.redeem(&code, &fx.verifier, CB).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "used up"
    );
}

#[tokio::test]
async fn a_replayed_code_revokes_the_token_it_issued() {
    let fx = start().await;
    let code = fx.code().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, first) = fx.redeem(&code, &fx.verifier, CB).await;
    assert_eq!(status, 200, "{first}");
    let token = first["access_token"].as_str().expect("token");
    assert!(fx.active(token).await);
    trail.wait(2).await; // the grant, and the introspection (not awaited)
    let (status, body) = fx.redeem(&code, &fx.verifier, CB).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "the code was already used; the token issued for it is revoked"
    );
    assert_eq!(
        last(&mut trail).await,
        ("token".into(), "deny".into(), "code_reused".into())
    );
    assert!(!fx.active(token).await, "the first token is inactive now");
}

#[tokio::test]
async fn a_code_is_bound_to_its_redirect_uri_and_resource() {
    let fx = start().await;
    let code = fx.code().await;
    let (status, body) = fx
        .redeem(&code, &fx.verifier, "https://app.example.com/cb")
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "redirect_uri is not the one the code was requested with"
    );
}

#[tokio::test]
async fn unregistered_redirect_uris_get_a_page_never_a_redirect() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    for uri in [
        "https://evil.example.com/cb",
        "http://127.0.0.1/cb/extra",
        "http://127.0.0.1/cb?next=https://evil.example.com",
        "https://app.example.com/cb#frag",
    ] {
        let res = fx.authorize(&fx.with("redirect_uri", Some(uri))).await;
        assert_eq!(res.status().as_u16(), 400, "{uri}");
        assert!(
            res.headers().get("location").is_none(),
            "{uri}: no redirect"
        );
        assert_eq!(
            res.text().await.expect("a page"),
            "invalid_request: redirect_uri is not registered for this client"
        );
        assert_eq!(last(&mut trail).await, refused("redirect_uri_mismatch"));
    }
    // An unknown client's error never goes to the URI it names either.
    let mut params: Vec<_> = fx
        .with("client_id", Some("stranger"))
        .into_iter()
        .filter(|(k, _)| k != "redirect_uri")
        .collect();
    params.push(("redirect_uri".into(), "https://evil.example.com/cb".into()));
    let res = fx.authorize(&params).await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
    assert_eq!(last(&mut trail).await, refused("unknown_client"));
}

#[tokio::test]
async fn the_callback_refuses_a_missing_altered_or_replayed_state() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let res = fx.get(&fx.t.url("/authorize/callback?code=x")).await;
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(last(&mut trail).await, refused("login_state_invalid"));

    // Refusals before any client is known are written once per address
    // and reason a minute (then counted): step past the window each time.
    let next_minute = || async {
        fx.t.clock.advance(61);
        fx.t.app.revocations.reload().await.expect("reload");
        // What the upkeep task does every 30 s: windows past their end close.
        fx.t.app.audit.flush_repeats(fx.t.clock.now());
    };
    next_minute().await;
    fx.okta.swap_next_state("forged-state");
    let to_idp = Fx::location(&fx.authorize(&fx.params()).await);
    let back = Fx::location(&fx.get(to_idp.as_str()).await);
    let res = fx.get(back.as_str()).await;
    assert_eq!(res.status().as_u16(), 400, "an altered state");
    assert!(res.headers().get("location").is_none());
    assert_eq!(last(&mut trail).await, refused("login_state_invalid"));

    let to_idp = Fx::location(&fx.authorize(&fx.params()).await);
    let back = Fx::location(&fx.get(to_idp.as_str()).await);
    let done = Fx::location(&fx.get(back.as_str()).await);
    assert!(query_of(&done).contains_key("code"));
    trail.skip().await;
    next_minute().await;
    let res = fx.get(back.as_str()).await;
    assert_eq!(res.status().as_u16(), 400, "the callback replayed");
    assert_eq!(last(&mut trail).await, refused("login_state_invalid"));
}

#[tokio::test]
async fn an_id_token_for_another_sign_in_or_client_is_refused() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    for (fault, reason) in [
        (IdTokenFault::WrongNonce, "nonce_mismatch"),
        (IdTokenFault::NoNonce, "nonce_mismatch"),
        (IdTokenFault::WrongAudience, "wrong_audience"),
        (IdTokenFault::BadSignature, "bad_signature"),
    ] {
        fx.okta.break_next_id_token(fault);
        let back = fx.sign_in(&fx.params()).await;
        assert_error_back(&back, "access_denied");
        assert_eq!(last(&mut trail).await, refused(reason));
    }
}

#[tokio::test]
async fn the_users_groups_decide_as_for_obo() {
    let fx = start().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    fx.okta.login_as(ALICE, &["Everyone"]);
    let back = fx.sign_in(&fx.params()).await;
    assert_error_back(&back, "invalid_scope");
    assert_eq!(last(&mut trail).await, refused("missing_group"));
    // A resource the client may not have is refused before any sign-in.
    let back = Fx::location(&fx.authorize(&fx.with("resource", Some(SLACK))).await);
    assert_error_back(&back, "invalid_target");
    assert_eq!(last(&mut trail).await, refused("target_not_allowed"));
}

#[tokio::test]
async fn alice_quits_between_her_sign_in_and_the_token() {
    let fx = start().await;
    let code = fx.code().await;
    fx.revoke_alice().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, body) = fx.redeem(&code, &fx.verifier, CB).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        last(&mut trail).await,
        ("token".into(), "deny".into(), "revoked".into())
    );
}
