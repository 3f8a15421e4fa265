//! Refresh tokens: rotated on every use, a reuse ends the sign-in, "Alice
//! quits" ends them, `/revoke` ends them.

use super::*;
use crate::audit::Trail;

impl Fx {
    /// A fresh sign-in's (access token, refresh token).
    async fn signed_in(&self) -> (String, String) {
        let code = self.code().await;
        let (status, body) = self.redeem(&code, &self.verifier, CB).await;
        assert_eq!(status, 200, "{body}");
        let s = |k: &str| body[k].as_str().expect(k).to_string();
        (s("access_token"), s("refresh_token"))
    }

    /// `POST /token` with `grant_type=refresh_token` as `desk`.
    async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        let res = self
            .t
            .client
            .post(self.t.url("/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "desk"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .expect("request must reach the test server");
        (res.status().as_u16(), json_body(res).await)
    }
}

#[tokio::test]
async fn a_refresh_rotates_and_a_reuse_ends_the_sign_in() {
    let fx = start().await;
    let (_, first) = fx.signed_in().await;
    let (status, body) = fx.refresh(&first).await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().expect("rotated").to_string();
    assert_ne!(second, first);
    let access = body["access_token"].as_str().expect("access");
    assert_eq!(
        crate::fake_idp::claims_of(access)["urn:agent"]["pattern"],
        "interactive"
    );
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    assert!(fx.active(access).await);
    trail.wait(1).await; // the introspection's record, not awaited

    let (status, body) = fx.refresh(&first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "the refresh token was already used: every token of this sign-in is revoked"
    );
    let r = trail.one().await.json;
    assert_eq!(
        (r["event"].as_str(), r["reason"].as_str()),
        (Some("token"), Some("refresh_token_reused"))
    );
    let (status, body) = fx.refresh(&second).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(body["error_description"], "the refresh token is revoked");
}

#[tokio::test]
async fn alice_quits_and_her_refresh_tokens_end() {
    let fx = start().await;
    let (_, refresh) = fx.signed_in().await;
    fx.revoke_alice().await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, body) = fx.refresh(&refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "the user, agent or client was revoked since the sign-in"
    );
    assert_eq!(trail.one().await.json["reason"], "revoked");
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family() {
    let fx = start().await;
    let (_, refresh) = fx.signed_in().await;
    let res =
        fx.t.client
            .post(fx.t.url("/revoke"))
            .form(&[
                ("client_id", "desk"),
                ("token", refresh.as_str()),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await
            .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 200);
    let (status, body) = fx.refresh(&refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn an_unknown_refresh_token_is_invalid_grant() {
    let fx = start().await;
    let (status, body) = fx.refresh(&random_hex(32)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        body["error_description"],
        "the refresh token is unknown or expired"
    );
}

/// An administrator revoking the user ends her refresh-token families in
/// storage, not only in the revocation view (which forgets after 24 h).
#[tokio::test]
async fn an_admin_revocation_marks_the_users_families_revoked() {
    let fx = start().await;
    let (_, refresh) = fx.signed_in().await;
    // The fake IdP stamps the sign-in with the wall clock: revoke clearly after.
    fx.t.clock.advance(60);
    let res =
        fx.t.client
            .post(fx.t.url("/admin/revocations"))
            .bearer_auth(&fx.admin)
            .json(&serde_json::json!({ "subject": FakeOkta::uid_for(ALICE) }))
            .send()
            .await
            .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 201);
    let stored = json_body(res).await;
    let hash = sha256_hex(refresh.as_bytes());
    let found =
        fx.t.app
            .store
            .db
            .use_refresh(&hash, agent_sts::clock::Clock::now(&fx.t.clock))
            .await
            .expect("store");
    assert!(
        matches!(found, agent_sts::store::RefreshUse::Revoked(_)),
        "{found:?} after {stored}"
    );
}
