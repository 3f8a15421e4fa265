//! Backends stopped mid-run. The app reaches PostgreSQL or Redis through a
//! [`FaultProxy`]; `cut()` makes the backend look stopped, `restore()`
//! brings it back, and the app is never restarted in between.
//!
//! - PostgreSQL gone: nothing is issued (`503 temporarily_unavailable`, no
//!   token), and once it is back `/token` works again; every token the
//!   client received has its allow record, and no allow record names a
//!   token the client did not receive.
//! - Redis gone: one replica keeps serving from in-process state: tokens
//!   are issued, a replayed client assertion is still refused, introspection
//!   still answers.
//!
//! Each test needs its real backend (`AGENT_STS_TEST_DATABASE_URL`,
//! `AGENT_STS_TEST_REDIS_URL`) and says so when it is missing.

// The /token fixture, compiled here as well (see `audit/mod.rs`).
#[allow(dead_code, unused_imports, clippy::duplicate_mod)]
#[path = "token/fixture.rs"]
mod fixture;
#[allow(dead_code, unused_imports, clippy::duplicate_mod)]
#[path = "token/request.rs"]
mod request;
#[allow(dead_code, unused_imports, clippy::duplicate_mod)]
#[path = "token/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_sts::app::{App, AppState};
use agent_sts::audit::verify::verify;
use agent_sts::clock::SharedClock;
use agent_sts::clock::{Clock, SystemClock};
use agent_sts::config::MIN_AUDIT_RETENTION;
use agent_sts::config::{Config, SecretSource, SecretString};
use agent_sts::store::{AuditFilter, ReplayCache, connect_database};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use self::support::*;
use crate::fake_idp::claims_of;
use crate::fault_proxy::{FaultProxy, target_of, through};
use crate::helpers::{TEST_DATABASE_ENV, TEST_REDIS_ENV, database_url, header, sha256_hex};

const UNAVAILABLE: &str = "the decision could not be recorded; nothing was issued, try again";
const REPLAYED: &str = "client_assertion: this jti was already used";
/// Recovery after `restore()`: at most this many tries, `RETRY` apart.
const TRIES: usize = 50;
const RETRY: Duration = Duration::from_millis(100);

/// agent-sts serving the /token fixture's policy (plus a `gw-zendesk`
/// introspector), with storage URLs of the test's choosing.
struct Proxied {
    base: String,
    client: reqwest::Client,
    app: AppState,
    _dir: TempDir,
    /// Dropping it stops the server.
    _shutdown: oneshot::Sender<()>,
}

/// Start an app like `sts.t` (same policy, keys and clock) on its own port
/// and issuer, with `database_url` and `redis_url`.
async fn spawn_through(
    sts: &Sts,
    database_url: String,
    redis_url: Option<String>,
    dir: TempDir,
) -> Proxied {
    spawn_through_with(sts, database_url, redis_url, dir, |_| {}).await
}

/// An app like `sts.t` whose Redis is reached through a proxy (and its
/// own database, directly); `None` (the test is skipped) without Redis.
async fn through_redis(sts: &Sts, edit: impl FnOnce(&mut Config)) -> Option<(FaultProxy, Proxied)> {
    let Ok(redis) = std::env::var(TEST_REDIS_ENV) else {
        eprintln!("skipped: this test needs Redis ({TEST_REDIS_ENV})");
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = database_url(dir.path()).await;
    let proxy = FaultProxy::start(&target_of(&redis, 6379)).await;
    let url = through(&redis, proxy.addr());
    let app = spawn_through_with(sts, db, Some(url), dir, edit).await;
    Some((proxy, app))
}

/// [`spawn_through`], with `edit` applied to the configuration.
async fn spawn_through_with(
    sts: &Sts,
    database_url: String,
    redis_url: Option<String>,
    dir: TempDir,
    edit: impl FnOnce(&mut Config),
) -> Proxied {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let mut config: Config = sts.t.config.clone();
    config.issuer = base.clone();
    config.storage.database_url = SecretSource::Literal(database_url);
    config.storage.redis_url = redis_url.map(SecretSource::Literal);
    config.introspectors = gateway(&base, &sts.secret).introspectors;
    edit(&mut config);
    if let Err(errors) = config.validate() {
        panic!("test config is invalid: {errors:?}");
    }
    let clock: SharedClock = Arc::new(sts.t.clock.clone());
    let app = App::build(config, clock)
        .await
        .unwrap_or_else(|e| panic!("App::build: {e}"));
    let (tx, rx) = oneshot::channel::<()>();
    let served = Arc::clone(&app);
    tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = agent_sts::serve(served, listener, shutdown).await {
            panic!("server stopped: {e}");
        }
    });
    Proxied {
        base,
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        app,
        _dir: dir,
        _shutdown: tx,
    }
}

/// `gw-zendesk`, introspecting for the fixture's Zendesk resource with the
/// fixture's secret.
fn gateway(base: &str, secret: &str) -> Config {
    let hash = sha256_hex(secret.as_bytes());
    let text = format!(
        "issuer = \"{base}\"\n[storage]\ndatabase_url = \"sqlite://unused\"\n\
         [[introspectors]]\n\
         client = {{ id = \"gw-zendesk\", auth = \"client_secret_basic\", secret_sha256 = \"{hash}\" }}\n\
         resources = [\"{ZENDESK}\"]\n"
    );
    Config::parse(&text, "faults.toml").unwrap_or_else(|e| panic!("introspector: {e}"))
}

impl Proxied {
    async fn send(&self, req: &Req) -> reqwest::Response {
        let mut http = self
            .client
            .post(format!("{}/token", self.base))
            .form(&req.body());
        if let Auth::Basic(id, secret) = &req.auth {
            http = http.basic_auth(id, Some(secret));
        }
        http.send()
            .await
            .expect("request must reach the test server")
    }

    /// 200, `no-store`, the RFC 8693 response.
    async fn granted(&self, req: &Req) -> Granted {
        let res = self.send(req).await;
        let (status, body) = answer(res).await;
        assert_eq!(status, 200, "{body}");
        Granted::of(&body)
    }

    /// Exactly `status` and `{"error", "error_description"}`, `no-store`.
    async fn refused(&self, req: &Req, status: u16, error: &str, description: &str) {
        let (got, body) = answer(self.send(req).await).await;
        assert_eq!(
            (got, body),
            (
                status,
                json!({"error": error, "error_description": description})
            )
        );
    }

    /// A signed-bot client assertion addressed to this app.
    fn assertion(&self, sts: &Sts) -> Req {
        let aud = format!("{}/token", self.base);
        Req::client_credentials(Auth::Assertion(sts.assertion(|c| c["aud"] = json!(aud))))
    }

    /// `gw-zendesk` introspects `token`: it is active, with its claims.
    async fn assert_active(&self, sts: &Sts, granted: &Granted) {
        let res = self
            .client
            .post(format!("{}/introspect", self.base))
            .basic_auth("gw-zendesk", Some(&sts.secret))
            .form(&[("token", &granted.token)])
            .send()
            .await
            .expect("request must reach the test server");
        let (status, body) = answer(res).await;
        let mut want = granted.claims.clone();
        want["active"] = json!(true);
        want["token_type"] = json!("Bearer");
        assert_eq!((status, body), (200, want));
    }

    /// `GET /readyz`, for the report: status and body.
    async fn readyz(&self) -> (u16, String) {
        let res = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .expect("request must reach the test server");
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }
}

/// Status and JSON body, after checking `Cache-Control: no-store`.
async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    assert_eq!(header(&res, "cache-control"), "no-store", "{}", res.url());
    assert_eq!(header(&res, "content-type"), "application/json");
    (status, res.json().await.expect("a JSON body"))
}

/// A token the client received, and its claims.
struct Granted {
    token: String,
    claims: Value,
}

impl Granted {
    /// The token of a 200 body, the body checked whole against it.
    fn of(body: &Value) -> Self {
        let token = body["access_token"].as_str().expect("access_token");
        let claims = claims_of(token);
        let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
        assert_eq!(
            *body,
            json!({
                "access_token": token, "issued_token_type": AT, "token_type": "Bearer",
                "expires_in": lifetime, "scope": claims["scope"],
            })
        );
        Self {
            token: token.to_string(),
            claims,
        }
    }

    fn jti(&self) -> String {
        self.claims["jti"].as_str().expect("jti").to_string()
    }
}

#[tokio::test]
async fn postgres_stopped_mid_run_issues_nothing_and_recovers_without_a_restart() {
    if std::env::var(TEST_DATABASE_ENV).is_err() {
        eprintln!("skipped: this test needs PostgreSQL ({TEST_DATABASE_ENV})");
        return;
    }
    let sts = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let direct = database_url(dir.path()).await;
    let proxy = FaultProxy::start(&target_of(&direct, 5432)).await;
    let app = spawn_through(&sts, through(&direct, proxy.addr()), None, dir).await;
    let obo = || Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS));
    let cc = || Req::client_credentials(sts.post("batch-bot"));

    let mut received = BTreeSet::new();
    for req in [obo(), cc()] {
        received.insert(app.granted(&req).await.jti());
    }

    proxy.cut().await;
    for req in [obo(), cc(), obo()] {
        let started = Instant::now();
        app.refused(&req, 503, "temporarily_unavailable", UNAVAILABLE)
            .await;
        eprintln!("PostgreSQL cut: 503 after {:?}", started.elapsed());
    }
    let (status, body) = app.readyz().await;
    eprintln!("PostgreSQL cut: /readyz {status} {body}");

    proxy.restore();
    let started = Instant::now();
    let mut tries = 0;
    let recovered = loop {
        tries += 1;
        let (status, body) = answer(app.send(&cc()).await).await;
        if status == 200 {
            break Granted::of(&body);
        }
        assert_eq!(
            (status, body),
            (
                503,
                json!({"error": "temporarily_unavailable", "error_description": UNAVAILABLE})
            )
        );
        assert!(tries < TRIES, "/token did not recover after {tries} tries");
        tokio::time::sleep(RETRY).await;
    };
    eprintln!(
        "PostgreSQL restored: /token answered 200 on try {tries}, after {:?}",
        started.elapsed()
    );
    received.insert(recovered.jti());
    received.insert(app.granted(&obo()).await.jti());
    assert_eq!(received.len(), 4);

    // Read behind the app's back, not through the proxy.
    let db = connect_database(&SecretString::new(direct))
        .await
        .expect("connect to the test database");
    let filter = AuditFilter {
        decision: Some("allow".into()),
        limit: 10_000,
        ..AuditFilter::default()
    };
    let recorded: BTreeSet<String> = db
        .audit_query(&filter)
        .await
        .expect("audit_query")
        .iter()
        .filter(|row| row.event == "token")
        .map(|row| {
            let record: Value = serde_json::from_str(&row.record).expect("JSON record");
            record["jti"]
                .as_str()
                .expect("an allow has a jti")
                .to_string()
        })
        .collect();
    assert_eq!(
        recorded, received,
        "allow records are exactly the tokens received"
    );
    let report = verify(&*db, MIN_AUDIT_RETENTION, SystemClock.now())
        .await
        .expect("verify");
    assert_eq!(report.broken, None, "the audit trail verifies");
}

#[tokio::test]
async fn redis_stopped_mid_run_leaves_one_replica_serving_from_its_own_state() {
    let sts = start().await;
    let Some((proxy, app)) = through_redis(&sts, |_| {}).await else {
        return;
    };
    assert!(matches!(*app.app.replay, ReplayCache::Redis(_)));
    let obo = || Req::exchange(sts.basic("support-bot"), &sts.user(ALICE, ALICE_GROUPS));
    let cc = || Req::client_credentials(sts.post("batch-bot"));

    let before = app.granted(&obo()).await;
    app.granted(&cc()).await;
    let seen = app.assertion(&sts);
    app.granted(&seen).await;
    app.refused(&seen, 401, "invalid_client", REPLAYED).await;
    app.assert_active(&sts, &before).await;

    proxy.cut().await;
    let (status, body) = app.readyz().await;
    eprintln!("Redis cut: /readyz {status} {body}");
    let started = Instant::now();
    let during = app.granted(&obo()).await;
    app.granted(&cc()).await;
    let fresh = app.assertion(&sts);
    app.granted(&fresh).await;
    // Replays of an assertion first used before the cut and of one first
    // used during it: both refused from this replica's own record.
    app.refused(&fresh, 401, "invalid_client", REPLAYED).await;
    app.refused(&seen, 401, "invalid_client", REPLAYED).await;
    app.assert_active(&sts, &before).await;
    app.assert_active(&sts, &during).await;
    eprintln!(
        "Redis cut: 3 grants, 2 replays and 2 introspections took {:?}",
        started.elapsed()
    );

    proxy.restore();
    // Not asserted: how soon the app's connection manager reconnects is
    // its backoff's business (with redis-rs 0.32's defaults, 60 to 120 s
    // once a reconnect attempt has failed), and the fixture's IdPs mint
    // with the real clock, so the test cannot wait that long.
    let redis = app.app.store.redis.as_ref().expect("the app has Redis");
    let started = Instant::now();
    let mut back = false;
    for _ in 0..10 {
        if let Ok(Ok(())) = tokio::time::timeout(RETRY, redis.ping()).await {
            back = true;
            break;
        }
        tokio::time::sleep(RETRY).await;
    }
    eprintln!(
        "Redis restored: the app's PING {} after {:?}",
        if back { "answered" } else { "still failed" },
        started.elapsed()
    );
    // Whether Redis answers yet or not: `fresh` was first used during the
    // outage (Redis never heard of it), and this replica still refuses it.
    app.refused(&fresh, 401, "invalid_client", REPLAYED).await;
    let after = app.assertion(&sts);
    app.granted(&after).await;
    app.refused(&after, 401, "invalid_client", REPLAYED).await;
    app.granted(&obo()).await;
}

#[tokio::test]
async fn redis_stopped_mid_run_leaves_rate_limits_in_force_locally() {
    let sts = start().await;
    // batch-bot: 2 requests, then one per 1000 s.
    let limit = |c: &mut Config| {
        let rate = agent_sts::config::Rate {
            per_second: 0.001,
            burst: 2,
        };
        for a in c.agents.iter_mut().filter(|a| a.id == "batch-bot") {
            a.rate_limit = Some(agent_sts::config::RateSetting::On(rate));
        }
    };
    let Some((proxy, app)) = through_redis(&sts, limit).await else {
        return;
    };
    let cc = || Req::client_credentials(sts.post("batch-bot"));
    let over = "agent client batch-bot is over its rate limit (0.001 per second, burst 2); retry after 1000 s";

    // Redis up: the shared budget (one request spent).
    app.granted(&cc()).await;
    proxy.cut().await;
    // Redis down: the replica's own budget, which has not been spent.
    app.granted(&cc()).await;
    app.granted(&cc()).await;
    app.refused(&cc(), 429, "temporarily_unavailable", over)
        .await;
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("agent_sts_rate_limit_local_fallback_total "),
        "the fallback is counted"
    );
    proxy.restore();
    // Redis back (reconnected within seconds): the shared budget again,
    // where one request of two is left.
    let mut statuses = Vec::new();
    for _ in 0..TRIES {
        let status = app.send(&cc()).await.status().as_u16();
        statuses.push(status);
        if status == 200 {
            break;
        }
        tokio::time::sleep(RETRY).await;
    }
    assert_eq!(
        statuses.last(),
        Some(&200),
        "shared budget used again: {statuses:?}"
    );
    // Spent: the shared state says when the next one passes (counted from
    // the first request, seconds ago).
    let (status, body) = answer(app.send(&cc()).await).await;
    assert_eq!(status, 429);
    let description = body["error_description"].as_str().expect("a description");
    let wait: u64 = description
        .strip_prefix(&over[..over.len() - "1000 s".len()])
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{description}"));
    assert!((990..=1000).contains(&wait), "{description}");
}
