//! `GET /healthz` (the process answers) and `GET /readyz` (storage
//! reachable, a signing key active).

use agent_sts::clock::FrozenClock;
use agent_sts::tokens::keys;
use serde_json::{Value, json};

use crate::helpers::{
    Options, TEST_REDIS_ENV, TestApp, backend, json_body, spawn_app, spawn_app_with,
};

const T0: i64 = 1_900_000_000;

/// The storage checks every ready app reports.
fn storage_checks() -> serde_json::Map<String, Value> {
    let mut checks = serde_json::Map::new();
    checks.insert(
        "database".into(),
        json!({"status": "ok", "detail": backend()}),
    );
    if std::env::var(TEST_REDIS_ENV).is_ok() {
        checks.insert(
            "redis".into(),
            json!({"status": "ok", "detail": "reachable"}),
        );
    }
    // Reported per upstream IdP, never gating; the default policy has none.
    checks.insert("upstreams".into(), json!({}));
    checks
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app.get("/readyz").await;
    let status = res.status().as_u16();
    (status, json_body(res).await)
}

#[tokio::test]
async fn healthz_says_ok() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_body(res).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_reports_storage_and_the_signing_key() {
    let app = spawn_app().await;
    let mut checks = storage_checks();
    checks.insert(
        "signing_key".into(),
        json!({"status": "ok", "detail": format!("ES256 {}", app.kid)}),
    );
    assert_eq!(
        readyz(&app).await,
        (200, json!({"status": "ready", "checks": checks}))
    );
}

#[tokio::test]
async fn readyz_is_unready_before_the_only_key_activates() {
    let clock = FrozenClock::at(T0);
    let app = spawn_app_with(Options::default().clock(clock.clone())).await;
    clock.set(T0 - 1);
    let mut checks = storage_checks();
    checks.insert(
        "signing_key".into(),
        json!({
            "status": "error",
            "detail": format!("no active key in {}", app.keys_dir.display()),
        }),
    );
    assert_eq!(
        readyz(&app).await,
        (503, json!({"status": "unready", "checks": checks}))
    );
    // Liveness does not depend on readiness.
    assert_eq!(app.get("/healthz").await.status(), 200);

    clock.set(T0);
    assert_eq!(readyz(&app).await.0, 200);
}

#[tokio::test]
async fn readyz_is_unready_when_only_a_retired_key_is_left() {
    let clock = FrozenClock::at(T0);
    let app = spawn_app_with(Options::default().clock(clock.clone())).await;
    // An emergency rotation (lead 0): the old key retires at once.
    let new = keys::rotate(&app.keys_dir, None, 0, T0).unwrap().kid;
    app.app.reload_keys().unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["checks"]["signing_key"],
        json!({"status": "ok", "detail": format!("ES256 {new}")})
    );

    // Remove the new key: only the retired one is left, and it cannot sign.
    std::fs::remove_file(app.keys_dir.join(format!("{new}.json"))).unwrap();
    app.app.reload_keys().unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unready");
    assert_eq!(body["checks"]["signing_key"]["status"], "error");
    assert_eq!(body["checks"]["database"]["status"], "ok");
}
