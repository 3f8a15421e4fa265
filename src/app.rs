//! `App`: everything a request needs, built once at start: configuration,
//! clock, key ring, storage, precomputed documents.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::audit::Audit;
use crate::authorization::{Authorizing, ClientDocuments};
use crate::client_auth::{ClientKeys, Clients, Endpoint};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::dev::idp::DevIdp;
use crate::grants::Grants;
use crate::introspection::Introspection;
use crate::policy::Policy;
use crate::rate_limit::RateLimits;
use crate::revocation::Revoking;
use crate::revocation_list::Revocations;
use crate::store::ReplayCache;
use crate::store::{Store, StoreError};
use crate::tokens::keyring::{KeyRing, SharedKeyRing};
use crate::tokens::keys::{self, KeyError};
use crate::tokens::random_id;
use crate::tokens::verified::VerifiedCache;
use crate::upstream::UpstreamRegistry;

pub type AppState = Arc<App>;

/// How often a running server re-reads its key folder (a `keys rotate`
/// needs no restart) and refreshes its replica heartbeat.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Keys(#[from] KeyError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {cause}")]
    Listen { addr: String, cause: std::io::Error },
    #[error("server stopped: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Random(#[from] crate::tokens::RandomUnavailable),
}

#[derive(Debug)]
pub struct App {
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub keys: Arc<SharedKeyRing>,
    pub store: Store,
    /// RFC 8414 metadata, serialised once.
    pub metadata: Arc<str>,
    pub dev_idp: Option<Arc<DevIdp>>,
    pub upstreams: UpstreamRegistry,
    pub policy: Policy,
    pub client_keys: ClientKeys,
    /// One-time `jti`s of client assertions.
    pub replay: Arc<ReplayCache>,
    /// `{issuer}/token`, an accepted client-assertion audience.
    pub token_endpoint: String,
    /// `{issuer}/introspect`, an accepted assertion audience there.
    pub introspection_endpoint: String,
    /// `{issuer}/revoke`, likewise.
    pub revocation_endpoint: String,
    /// The revocation view, kept current across replicas.
    pub revocations: Arc<Revocations>,
    /// Our tokens already verified, by SHA-256, until they expire.
    pub verified: VerifiedCache,
    /// SHA-256 of the admin credential; `None` closes `/admin`.
    pub admin_credential: Option<[u8; 32]>,
    /// The audit trail's writer.
    pub audit: Arc<Audit>,
    /// This process's id in the `replicas` table.
    pub replica_id: String,
    /// Rate limits: per address, per agent, per introspecting caller.
    pub limits: RateLimits,
    /// Draining for shutdown: `/readyz` answers 503.
    pub lifecycle: Arc<Lifecycle>,
    /// Where minted tokens' `jti`s come from (with a fault switch for tests).
    pub randomness: Arc<crate::tokens::Randomness>,
    /// Clients' metadata documents, fetched and cached.
    pub client_documents: Arc<ClientDocuments>,
}

/// Process state shared by every configuration generation.
#[derive(Debug)]
pub struct Lifecycle {
    draining: AtomicBool,
    /// Permits for requests served at once (`server.max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    pub max_in_flight: usize,
}

impl Lifecycle {
    pub fn new(max_in_flight: usize) -> Self {
        Self {
            draining: AtomicBool::new(false),
            in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// Requests being served now.
    pub fn in_flight_now(&self) -> usize {
        self.max_in_flight - self.in_flight.available_permits()
    }

    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Why a reloaded file was not applied: the running configuration stays.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReloadRefused(pub String);

#[derive(Debug, Serialize)]
pub struct Readiness {
    #[serde(skip)]
    pub ready: bool,
    pub status: &'static str,
    pub checks: serde_json::Map<String, serde_json::Value>,
}

impl App {
    /// Resolve secrets, connect storage (running migrations), load keys.
    pub async fn build(mut config: Config, clock: SharedClock) -> Result<AppState, StartError> {
        config.use_declared_spellings();
        let now = clock.now();
        let ring = load_ring(&config.keys.dir, now)?;
        let upstreams =
            UpstreamRegistry::new(&config.upstreams, &config.outbound, Arc::clone(&clock))
                .map_err(StartError::Config)?;
        let store = connect_store(&config).await?;
        let replica_id = random_id()?;
        store
            .db
            .register_replica(&replica_id, env!("CARGO_PKG_VERSION"), now)
            .await?;
        let dev_idp = if config.dev_mode {
            Some(Arc::new(DevIdp::new(
                format!("{}/dev/idp", config.issuer),
                now,
            )?))
        } else {
            None
        };
        let metadata = crate::metadata::metadata(&config).to_string().into();
        let policy = Policy::new(&config);
        let client_keys = ClientKeys::new(&config).map_err(StartError::Config)?;
        let replay = Arc::new(ReplayCache::new(store.redis.as_ref()));
        let token_endpoint = format!("{}/token", config.issuer);
        let introspection_endpoint = format!("{}/introspect", config.issuer);
        let revocation_endpoint = format!("{}/revoke", config.issuer);
        let deployment = store.db.deployment_id(&random_id()?).await?;
        // Partitions for now and ahead before the first record is written.
        crate::audit::retention::at_start(&*store.db, &config.audit, now).await;
        let audit = Arc::new(Audit::start(store.db.clone(), &replica_id, &config.audit));
        let revocations = Arc::new(Revocations::new(
            store.db.clone(),
            store.redis.clone(),
            Arc::clone(&clock),
            &config.revocation,
            deployment.clone(),
        ));
        revocations.reload().await?;
        let admin_credential = admin_credential(&config);
        let limits = RateLimits::new(&config, store.redis.as_ref(), &deployment);
        let lifecycle = Arc::new(Lifecycle::new(config.server.max_in_flight));
        let client_documents = Arc::new(ClientDocuments::new(
            crate::upstream::fetch::client(&config.outbound).map_err(StartError::Config)?,
        ));
        crate::metrics::handle();
        config.shed_policy();
        crate::memory::trim();
        Ok(Arc::new(Self {
            config: Arc::new(config),
            clock,
            keys: Arc::new(SharedKeyRing::new(ring)),
            store,
            metadata,
            dev_idp,
            upstreams,
            policy,
            client_keys,
            replay,
            token_endpoint,
            introspection_endpoint,
            revocation_endpoint,
            revocations,
            verified: VerifiedCache::new(crate::tokens::verified::CACHE_MAX_ENTRIES),
            admin_credential,
            audit,
            replica_id,
            limits,
            lifecycle,
            randomness: Arc::new(crate::tokens::Randomness::default()),
            client_documents,
        }))
    }

    /// This app with `config`'s policy, upstreams, introspectors, clients
    /// and rate limits, sharing everything with state (storage, keys,
    /// audit chain, revocations, replay cache). Settings that need a
    /// restart must be unchanged, or nothing is applied.
    pub fn reloaded(&self, mut config: Config) -> Result<AppState, ReloadRefused> {
        config.use_declared_spellings();
        let old = &self.config;
        let fixed = [
            ("issuer", old.issuer == config.issuer),
            ("listen", old.listen == config.listen),
            ("storage", old.storage == config.storage),
            ("keys", old.keys == config.keys),
            ("audit", old.audit == config.audit),
            ("server", old.server == config.server),
            ("revocation", old.revocation == config.revocation),
        ];
        let changed: Vec<&str> = fixed
            .iter()
            .filter(|(_, same)| !same)
            .map(|(n, _)| *n)
            .collect();
        if !changed.is_empty() {
            return Err(ReloadRefused(format!(
                "{} changed: those take effect only at a restart; nothing was reloaded",
                changed.join(", ")
            )));
        }
        let upstreams = self
            .upstreams
            .reloaded(&config.upstreams, &config.outbound)
            .map_err(ReloadRefused)?;
        let client_keys = ClientKeys::new(&config).map_err(ReloadRefused)?;
        let policy = Policy::new(&config);
        let limits = RateLimits::new(&config, self.store.redis.as_ref(), self.limits.deployment());
        let admin_credential = admin_credential(&config);
        let metadata = crate::metadata::metadata(&config).to_string().into();
        config.shed_policy();
        Ok(Arc::new(Self {
            metadata,
            config: Arc::new(config),
            clock: Arc::clone(&self.clock),
            keys: Arc::clone(&self.keys),
            store: self.store.clone(),
            dev_idp: self.dev_idp.clone(),
            upstreams,
            policy,
            client_keys,
            replay: Arc::clone(&self.replay),
            token_endpoint: self.token_endpoint.clone(),
            introspection_endpoint: self.introspection_endpoint.clone(),
            revocation_endpoint: self.revocation_endpoint.clone(),
            revocations: Arc::clone(&self.revocations),
            verified: VerifiedCache::new(crate::tokens::verified::CACHE_MAX_ENTRIES),
            admin_credential,
            audit: Arc::clone(&self.audit),
            replica_id: self.replica_id.clone(),
            limits,
            lifecycle: Arc::clone(&self.lifecycle),
            randomness: Arc::clone(&self.randomness),
            client_documents: Arc::clone(&self.client_documents),
        }))
    }

    /// Client authentication at our endpoints.
    pub fn clients(&self) -> Clients<'_> {
        Clients {
            issuer: &self.config.issuer,
            policy: &self.policy,
            keys: &self.client_keys,
            replay: &self.replay,
        }
    }

    /// What `/token` uses.
    pub fn grants(&self) -> Grants<'_> {
        Grants {
            issuer: &self.config.issuer,
            endpoint: Endpoint {
                url: &self.token_endpoint,
                methods: crate::client_auth::TOKEN_AUTH_METHODS,
            },
            clock: &self.clock,
            keys: &self.keys,
            policy: &self.policy,
            clients: self.clients(),
            upstreams: &self.upstreams,
            revocations: &self.revocations,
            limits: &self.limits,
            randomness: &self.randomness,
            audit: &self.audit,
            codes: &*self.store.db,
            refresh: &*self.store.db,
            authorization: &self.config.authorization,
            break_glass: &*self.store.db,
        }
    }

    /// What `/authorize` and its callback use.
    pub fn authorizing(&self) -> Authorizing<'_> {
        Authorizing {
            issuer: &self.config.issuer,
            clock: &self.clock,
            policy: &self.policy,
            upstreams: &self.upstreams,
            revocations: &self.revocations,
            store: &*self.store.db,
            randomness: &self.randomness,
            audit: &self.audit,
            documents: &self.client_documents,
        }
    }

    /// What `/introspect` uses.
    pub fn introspection(&self) -> Introspection<'_> {
        Introspection {
            issuer: &self.config.issuer,
            endpoint: Endpoint {
                url: &self.introspection_endpoint,
                methods: crate::client_auth::INTROSPECTION_AUTH_METHODS,
            },
            clock: &self.clock,
            keys: &self.keys,
            verified: &self.verified,
            revocations: &self.revocations,
            policy: &self.policy,
            clients: self.clients(),
            limits: &self.limits,
            audit: &self.audit,
        }
    }

    /// What `/revoke` uses.
    pub fn revoking(&self) -> Revoking<'_> {
        Revoking {
            issuer: &self.config.issuer,
            endpoint: Endpoint {
                url: &self.revocation_endpoint,
                methods: crate::client_auth::TOKEN_AUTH_METHODS,
            },
            clock: &self.clock,
            keys: &self.keys,
            clients: self.clients(),
            revocations: &self.revocations,
            audit: &self.audit,
            refresh: &*self.store.db,
        }
    }

    /// Re-read the key folder; on error keep the current ring and say why.
    pub fn reload_keys(&self) -> Result<(), KeyError> {
        let ring = KeyRing::new(keys::load_dir(&self.config.keys.dir)?);
        self.keys.replace(ring);
        Ok(())
    }

    /// One round of periodic upkeep (the server runs it every
    /// `KEY_RELOAD_INTERVAL` on the current configuration, first thing at
    /// start so start-up never waits on an IdP): upstream keys, repeat
    /// summaries, our key folder, the replica heartbeat, spent sign-ins,
    /// codes and refresh tokens past their end.
    pub async fn upkeep(&self) {
        self.upstreams.refresh_due().await;
        self.limits.upkeep();
        self.audit.flush_repeats(self.clock.now());
        if let Err(e) = self.reload_keys() {
            tracing::warn!(error = %e, "key folder reload failed; keeping the keys already loaded");
        }
        let now = self.clock.now();
        if let Err(e) = self
            .store
            .db
            .register_replica(&self.replica_id, env!("CARGO_PKG_VERSION"), now)
            .await
        {
            tracing::warn!(error = %e, "replica heartbeat failed");
        }
        // Spent sign-ins, codes and refresh families past their end.
        let db = &self.store.db;
        if let Err(e) = db.prune_one_time(now).await {
            tracing::warn!(error = %e, "pruning one-time records failed");
        }
        if let Err(e) = db.prune_refresh(now).await {
            tracing::warn!(error = %e, "pruning refresh tokens failed");
        }
        crate::break_glass::watch(&**db, now).await;
    }

    /// Storage reachable and a signing key active. The whole report is for
    /// the log, `/metrics` and the admin API; `/readyz` answers only its
    /// `status` (ready, unready, draining).
    pub async fn readiness(&self) -> Readiness {
        let mut checks = serde_json::Map::new();
        let mut ready = true;
        let draining = self.lifecycle.is_draining();
        if draining {
            checks.insert(
                "draining".into(),
                serde_json::json!({ "status": "error", "detail": "shutting down: finishing in-flight requests" }),
            );
            ready = false;
        }
        crate::metrics::ready_check("draining", !draining);
        let mut check = |name: &'static str, result: Result<String, String>| {
            crate::metrics::ready_check(name, result.is_ok());
            let v = match result {
                Ok(detail) => serde_json::json!({ "status": "ok", "detail": detail }),
                Err(detail) => {
                    ready = false;
                    serde_json::json!({ "status": "error", "detail": detail })
                }
            };
            checks.insert(name.to_string(), v);
        };
        let db = &self.store.db;
        let db_result = tokio::time::timeout(crate::store::CONNECT_TIMEOUT, db.ping()).await;
        check(
            "database",
            match db_result {
                Ok(Ok(())) => Ok(db.backend().to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("{} did not answer in time", db.backend())),
            },
        );
        let now = self.clock.now();
        let ring = self.keys.current();
        check(
            "signing_key",
            ring.signer(now)
                .map(|k| format!("{} {}", k.alg.as_str(), k.kid))
                .ok_or_else(|| format!("no active key in {}", self.config.keys.dir.display())),
        );
        if let Some(redis) = &self.store.redis {
            // Reported, not gating: without Redis each replica carries on
            // with in-process replay checks and rate limits, and
            // revocations still arrive by the database poll.
            let reachable = redis.ping_within(crate::store::REDIS_CALL_TIMEOUT).await;
            crate::metrics::ready_check("redis", reachable.is_ok());
            let v = match reachable {
                Ok(()) => serde_json::json!({ "status": "ok", "detail": "reachable" }),
                Err(e) => serde_json::json!({
                    "status": "degraded",
                    "detail": format!("{e}; replay checks and rate limits are per replica until it returns"),
                }),
            };
            checks.insert("redis".into(), v);
        }
        // Reported, not gating: an IdP outage must not drain every replica
        // (introspection of our own tokens still works without it).
        checks.insert(
            "upstreams".into(),
            serde_json::Value::Object(self.upstreams.health()),
        );
        let status = match (ready, draining) {
            (true, _) => "ready",
            (false, true) => "draining",
            (false, false) => "unready",
        };
        log_readiness_change(status, &checks);
        Readiness {
            ready,
            status,
            checks,
        }
    }
}

/// Log the failing checks when they change (load balancers poll `/readyz`
/// every few seconds: one line per change, not per poll). The details are
/// never in the public answer.
fn log_readiness_change(status: &str, checks: &serde_json::Map<String, serde_json::Value>) {
    static LAST: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v.get("status").and_then(|s| s.as_str()) == Some("error"))
        .map(|(name, v)| format!("{name}: {}", v["detail"].as_str().unwrap_or_default()))
        .collect();
    let summary = failing.join("; ");
    let mut last = match LAST.lock() {
        Ok(l) => l,
        Err(p) => p.into_inner(),
    };
    if *last == summary {
        return;
    }
    if summary.is_empty() {
        tracing::info!("ready again");
    } else {
        tracing::warn!(status, failing = %summary, "not ready");
    }
    *last = summary;
}

/// The configured database and Redis, secrets resolved (serve, and the
/// commands that write to the store).
pub async fn connect_store(config: &Config) -> Result<Store, StartError> {
    let db_url = config
        .storage
        .database_url
        .resolve()
        .map_err(|m| StartError::Config(format!("storage.database_url: {m}")))?;
    let redis_url = match &config.storage.redis_url {
        Some(s) => Some(
            s.resolve()
                .map_err(|m| StartError::Config(format!("storage.redis_url: {m}")))?,
        ),
        None => None,
    };
    Ok(Store::connect(&db_url, redis_url.as_ref()).await?)
}

/// SHA-256 of the admin credential; `None` closes `/admin`.
fn admin_credential(config: &Config) -> Option<[u8; 32]> {
    config
        .admin
        .as_ref()
        .and_then(|a| crate::digest::decode_sha256_hex(&a.credential_sha256))
}

/// The key ring at start: refuses to serve without a key that can sign.
fn load_ring(dir: &Path, now: crate::clock::UnixTime) -> Result<KeyRing, StartError> {
    if !dir.exists() {
        return Err(StartError::Config(format!(
            "{}: the key folder does not exist (create a key with `agent-sts keys generate --dir {}`)",
            dir.display(),
            dir.display()
        )));
    }
    let ring = KeyRing::new(keys::load_dir(dir)?);
    if ring.signer(now).is_none() {
        return Err(StartError::Config(format!(
            "{}: no active signing key (create one with `agent-sts keys generate --dir {}`)",
            dir.display(),
            dir.display()
        )));
    }
    Ok(ring)
}
