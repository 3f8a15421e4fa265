//! `spawn_app()`: agent-sts on 127.0.0.1:0 with its own key folder, a fresh
//! database and a frozen clock the test can move.
//!
//! The database is a SQLite file in the test's temporary folder, or, when
//! `AGENT_STS_TEST_DATABASE_URL` names a PostgreSQL database, a schema
//! `t_<random hex>` made for this test alone (`.ci/run` drops leftovers).
//! `AGENT_STS_TEST_REDIS_URL` adds Redis.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_sts::app::{App, AppState};
use agent_sts::clock::{Clock, FrozenClock, SharedClock, SystemClock};
use agent_sts::config::{Config, SecretSource};
use agent_sts::tokens::keys::{self, SigningAlg};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const TEST_DATABASE_ENV: &str = "AGENT_STS_TEST_DATABASE_URL";
pub const TEST_REDIS_ENV: &str = "AGENT_STS_TEST_REDIS_URL";

/// The policy `spawn_app()` serves: one resource, no upstreams or agents.
pub const DEFAULT_POLICY: &str = r#"
[[resources]]
uri = "https://mcp.example.com"
scopes = ["zendesk:tickets:write", "zendesk:tickets:read"]
"#;

/// What to start. `policy` is TOML placed after `issuer` and `[storage]`,
/// which the helper writes; `keys.dir` is always the test's own folder.
pub struct Options {
    pub policy: String,
    pub clock: FrozenClock,
    pub alg: SigningAlg,
    pub dev: bool,
    /// Share another app's database and keys (a second replica).
    pub replica_of: Option<(String, PathBuf)>,
    /// Leave Redis out even when the tests have it (a replica that misses
    /// every published message and must converge by polling).
    pub without_redis: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            policy: DEFAULT_POLICY.to_string(),
            clock: FrozenClock::at(SystemClock.now()),
            alg: SigningAlg::Es256,
            dev: false,
            replica_of: None,
            without_redis: false,
        }
    }
}

impl Options {
    pub fn policy(mut self, policy: &str) -> Self {
        self.policy = policy.to_string();
        self
    }
    pub fn clock(mut self, clock: FrozenClock) -> Self {
        self.clock = clock;
        self
    }
    pub fn alg(mut self, alg: SigningAlg) -> Self {
        self.alg = alg;
        self
    }
    /// A second replica of `other`: same database, same key folder.
    pub fn replica_of(mut self, other: &TestApp) -> Self {
        self.replica_of = Some((other.database_url.clone(), other.keys_dir.clone()));
        self
    }
    pub fn without_redis(mut self) -> Self {
        self.without_redis = true;
        self
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, which is also the configured issuer.
    pub base: String,
    pub client: reqwest::Client,
    pub app: AppState,
    pub clock: FrozenClock,
    pub keys_dir: PathBuf,
    /// The first signing key, generated at start.
    pub kid: String,
    pub dir: TempDir,
    /// The database this app uses (a replica can share it).
    pub database_url: String,
    /// The configuration it was built from, whole (the running app keeps
    /// its policy lists only as the compiled policy).
    pub config: Config,
    /// What SIGHUP delivers to the server: a configuration to switch to.
    pub reloads: tokio::sync::mpsc::Sender<agent_sts::server::ReloadRequest>,
    /// Sending (or dropping) it starts the server's shutdown.
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// What SIGTERM does: start the shutdown; the returned handle ends
    /// when the server has drained, flushed the audit queue and closed.
    pub fn stop(&mut self) -> tokio::task::JoinHandle<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("stop is called once")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request must reach the test server")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("request must reach the test server")
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// A start-dev app: the built-in policy of `examples/start-dev.toml` and
/// the dev IdP under `/dev/idp`.
pub async fn spawn_dev_app() -> TestApp {
    spawn_app_with(Options {
        dev: true,
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = options.clock.now();
    let (keys_dir, kid) = match &options.replica_of {
        Some((_, keys_dir)) => {
            let ring = agent_sts::tokens::keyring::KeyRing::new(
                keys::load_dir(keys_dir).expect("shared keys"),
            );
            let kid = ring.signer(now).expect("an active shared key").kid.clone();
            (keys_dir.clone(), kid)
        }
        None => {
            let keys_dir = dir.path().join("keys");
            let kid = keys::generate_first(&keys_dir, options.alg, now)
                .expect("generate the first signing key")
                .kid;
            (keys_dir, kid)
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let base = format!("http://{addr}");

    let mut config = if options.dev {
        agent_sts::dev::setup::dev_config(addr, &dir.path().join("data"), &keys_dir)
            .expect("dev config")
    } else {
        let text = format!(
            "issuer = \"{base}\"\n[storage]\ndatabase_url = \"sqlite://unused\"\n{}",
            options.policy
        );
        Config::parse(&text, "test.toml").unwrap_or_else(|e| panic!("test policy: {e}"))
    };
    let database_url = match &options.replica_of {
        Some((url, _)) => url.clone(),
        None => database_url(dir.path()).await,
    };
    config.storage.database_url = SecretSource::Literal(database_url.clone());
    config.storage.redis_url = std::env::var(TEST_REDIS_ENV)
        .ok()
        .filter(|_| !options.without_redis)
        .map(SecretSource::Literal);
    config.keys.dir = keys_dir.clone();
    if let Err(errors) = config.validate() {
        panic!("test config is invalid: {errors:?}");
    }

    let clock: SharedClock = Arc::new(options.clock.clone());
    let built_from = config.clone();
    let app = App::build(config, clock)
        .await
        .unwrap_or_else(|e| panic!("App::build: {e}"));
    let (tx, rx) = oneshot::channel::<()>();
    let (reloads, reload_rx) = tokio::sync::mpsc::channel(1);
    let served = Arc::clone(&app);
    let server = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = agent_sts::server::serve(served, listener, shutdown, reload_rx).await {
            panic!("server stopped: {e}");
        }
    });
    TestApp {
        base,
        client: reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("client"),
        app,
        clock: options.clock,
        keys_dir,
        kid,
        dir,
        database_url,
        config: built_from,
        reloads,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// A fresh database for one test: a SQLite file in `dir`, or a new
/// PostgreSQL schema when `AGENT_STS_TEST_DATABASE_URL` is set.
pub async fn database_url(dir: &Path) -> String {
    let Ok(base) = std::env::var(TEST_DATABASE_ENV) else {
        return format!("sqlite://{}/agent-sts.db?mode=rwc", dir.display());
    };
    let schema = format!("t_{}", random_hex(12));
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_ENV}: cannot connect: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create the test schema");
    conn.close().await.expect("close");
    // libpq's `options` parameter, percent-encoded: `-c search_path=t_…`.
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// Which database backend the tests run against.
pub fn backend() -> &'static str {
    if std::env::var(TEST_DATABASE_ENV).is_ok() {
        "postgres"
    } else {
        "sqlite"
    }
}

pub fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("system random");
    hex(&buf)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// The response's body as JSON, after checking it says it is JSON.
pub async fn json_body(res: reqwest::Response) -> serde_json::Value {
    assert_eq!(
        header(&res, "content-type"),
        "application/json",
        "content-type of {}",
        res.url()
    );
    res.json().await.expect("a JSON body")
}

/// A header's value as text; empty when absent.
pub fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_string())
        .unwrap_or_default()
}

/// The kids of a JWKS document, in order.
pub fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

#[tokio::test]
async fn each_app_gets_a_fresh_database() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    for t in [&a, &b] {
        assert_eq!(t.app.store.db.backend(), backend());
        let replicas = t.app.store.db.replicas_since(0).await.unwrap();
        assert_eq!(replicas.len(), 1, "only this app's own replica row");
        assert_eq!(replicas[0].0, t.app.replica_id);
        let sqlite_file = t.dir.path().join("agent-sts.db");
        assert_eq!(sqlite_file.exists(), backend() == "sqlite");
    }
    assert_eq!(
        a.app.store.redis.is_some(),
        std::env::var(TEST_REDIS_ENV).is_ok()
    );
}

/// "Alice quits": every token of `subject` revoked on `t`, a minute after
/// its frozen now (the fake IdPs stamp `iat` with the wall clock, the app
/// runs on a frozen one: the revocation is clearly after the sign-in).
pub async fn revoke_subject(t: &TestApp, subject: &str) {
    let now = t.clock.now();
    t.app
        .revocations
        .revoke(agent_sts::store::Revocation {
            id: 0,
            kind: agent_sts::store::RevocationKind::Subject,
            value: subject.to_string(),
            idp: None,
            revoked_at: now + 60,
            expires_at: now + 86_400,
            actor: "admin".into(),
            reason: None,
        })
        .await
        .expect("revoked");
}
