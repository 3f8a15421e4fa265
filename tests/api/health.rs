//! `GET /healthz` (the process answers), `GET /readyz` (storage
//! reachable, a signing key active: up or down only) and
//! `GET /admin/health` (the same report with every check's detail).

use agent_sts::clock::FrozenClock;
use agent_sts::tokens::keys;
use serde_json::{Value, json};

use crate::helpers::{
    DEFAULT_POLICY, Options, TEST_REDIS_ENV, TestApp, backend, json_body, sha256_hex,
    spawn_app_with,
};

const T0: i64 = 1_900_000_000;
const ADMIN: &str = "health-admin-credential-0123456789";

/// The default app with the admin API on.
fn options() -> Options {
    Options::default().policy(&format!(
        "{DEFAULT_POLICY}\n[admin]\ncredential_sha256 = \"{}\"\n",
        sha256_hex(ADMIN.as_bytes())
    ))
}

async fn spawn_app() -> TestApp {
    spawn_app_with(options()).await
}

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

/// `/readyz`: its status, and the body, which must be the status alone.
/// Returns (status, the admin report): the details are only there.
async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app.get("/readyz").await;
    let status = res.status().as_u16();
    let public = json_body(res).await;
    let report = admin_health(app).await;
    assert_eq!(
        public,
        json!({"status": report["status"]}),
        "/readyz says only up or down"
    );
    (status, report)
}

async fn admin_health(app: &TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/admin/health"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("admin health");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    json_body(res).await
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
    let app = spawn_app_with(options().clock(clock.clone())).await;
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
    let app = spawn_app_with(options().clock(clock.clone())).await;
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

/// Anyone who can reach the port learns up or down, never the signing
/// `kid`, storage errors or upstream key state; the admin API needs its
/// credential and records the read.
#[tokio::test]
async fn details_need_the_admin_credential() {
    let app = spawn_app().await;
    let res = app.get("/readyz").await;
    let body = res.text().await.unwrap();
    assert_eq!(body, r#"{"status":"ready"}"#);
    assert!(!body.contains(&app.kid));
    let res = app.get("/admin/health").await;
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/admin/health"))
        .bearer_auth("not-the-credential")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let report = admin_health(&app).await;
    assert_eq!(
        report["checks"]["signing_key"]["detail"],
        format!("ES256 {}", app.kid)
    );
    let records = app
        .app
        .store
        .db
        .audit_query(&agent_sts::store::AuditFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let details: Vec<String> = records
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.record).unwrap()["detail"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        details.contains(&"read the readiness report".to_string()),
        "{details:?}"
    );
}
