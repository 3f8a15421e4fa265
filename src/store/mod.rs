//! Storage: the only folder with SQL or Redis.
//!
//! The database is SQLite (embedded default) or PostgreSQL, chosen by the
//! URL's scheme. Each backend has its own file with its own SQL, and its own
//! migrations in `migrations/sqlite` or `migrations/postgres`, embedded at
//! build time and run on start.
//!
//! How queries are checked: they are plain `sqlx::query` strings, not the
//! compile-time `query!` macros, so building needs neither a database nor an
//! offline query cache. The price is paid by tests: every store method has a
//! contract test written once and run on SQLite always and on PostgreSQL when
//! `AGENT_STS_TEST_DATABASE_URL` is set (CI sets it).
//!
//! Each concern is a trait ([`RevocationStore`], [`AuditStore`],
//! [`ReplicaStore`], [`OneTimeStore`], [`RefreshStore`], [`BreakGlassStore`]); a backend
//! implements them all as a [`Database`], and each consumer holds only the
//! trait it uses.
//!
//! Redis is optional; without it every cache and fan-out is in-process.

mod audit;
mod authorization;
mod break_glass;
mod postgres;
mod postgres_partitions;
mod redis_store;
mod replay;
mod revocations;
mod sqlite;
mod sqlite_retention;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::UnixTime;
use crate::config::SecretString;

pub use audit::{
    Anchor, AuditFilter, AuditRow, ReportCount, ReportFilter, ReportGroup, ReportRows, ReportUser,
    UpkeepDone, UpkeepPlan,
};
pub use authorization::{OneTimeStore, RefreshRow, RefreshStore, RefreshUse, Taken};
pub use break_glass::{BreakGlassStore, BreakGlassWindow};
pub use postgres_partitions::UPKEEP_LOCK;
pub use redis_store::{REDIS_CALL_TIMEOUT, RedisStore};
pub use replay::ReplayCache;
pub use revocations::{Revocation, RevocationKind};

/// How long start-up and readiness checks wait for a backend.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to {target}: {cause}")]
    Connect { target: String, cause: String },
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("database error: {0}")]
    Query(String),
    #[error("redis error: {0}")]
    Redis(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Query(e.to_string())
    }
}

/// Revocations as stored: written by whoever revokes, read by every
/// replica's in-memory revocation view in id order.
#[async_trait::async_trait]
pub trait RevocationStore: Send + Sync + std::fmt::Debug {
    /// Store a revocation; returns its id (ids only grow).
    async fn insert_revocation(&self, r: &Revocation) -> Result<i64, StoreError>;

    /// Up to `limit` revocations with an id above `after`, in id order,
    /// that have not expired at `now`.
    async fn revocations_after(
        &self,
        after: i64,
        now: UnixTime,
        limit: i64,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Delete revocations that no longer cover any valid token.
    async fn prune_revocations(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// The audit trail as stored: appended in batches by the writer, read by
/// `audit verify` and the admin API.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// Append audit rows in one transaction: all or none.
    async fn insert_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError>;

    /// Every chain name, in order: those with records and those retention
    /// emptied (their anchors).
    async fn audit_chains(&self) -> Result<Vec<String>, StoreError>;

    /// Up to `limit` rows of `chain` with seq above `after_seq`, in seq order.
    async fn audit_chain_rows(
        &self,
        chain: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError>;

    /// Rows matching `f`, newest first, at most `f.limit`.
    async fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError>;

    /// The aggregates of `audit report`: token decisions in `f`'s window,
    /// each record weighted by its `count` (a summary) or 1, counted in SQL
    /// on the covering index `audit_records_report` (migration 0006).
    async fn audit_report(&self, f: &ReportFilter) -> Result<ReportRows, StoreError>;

    /// Retention's anchors, one per chain it pruned, in chain order.
    async fn audit_anchors(&self) -> Result<Vec<Anchor>, StoreError>;

    /// One pass of upkeep: PostgreSQL creates the partitions ahead and
    /// drops those wholly older than `plan.older_than`; SQLite deletes
    /// those records in batches. Each chain's anchor moves in the same
    /// transaction as its records go. `None`: another replica holds the
    /// upkeep lock (PostgreSQL), so this one did nothing.
    async fn audit_upkeep(&self, plan: &UpkeepPlan) -> Result<Option<UpkeepDone>, StoreError>;
}

/// The replicas sharing this database, and the deployment they form.
#[async_trait::async_trait]
pub trait ReplicaStore: Send + Sync + std::fmt::Debug {
    /// Record this process as a live replica (insert, or refresh last_seen).
    async fn register_replica(
        &self,
        id: &str,
        version: &str,
        now: UnixTime,
    ) -> Result<(), StoreError>;

    /// Replicas seen at or after `since`, as (id, version, last_seen).
    async fn replicas_since(
        &self,
        since: UnixTime,
    ) -> Result<Vec<(String, String, UnixTime)>, StoreError>;

    /// This deployment's id, made on first use (see migration 0004).
    async fn deployment_id(&self, candidate: &str) -> Result<String, StoreError>;
}

/// A database backend: every store above, plus its health. SQLite
/// (`sqlite.rs`) and PostgreSQL (`postgres.rs`) implement it; the contract
/// tests (`tests/api/store.rs`) hold both to the same behaviour.
#[async_trait::async_trait]
pub trait Database:
    RevocationStore + AuditStore + ReplicaStore + OneTimeStore + RefreshStore + BreakGlassStore
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    async fn ping(&self) -> Result<(), StoreError>;

    /// Close the pool: every later query fails. For shutdown, and for
    /// fault tests that need storage to become unreachable.
    async fn close(&self);
}

/// The database every part of the process shares.
pub type SharedDatabase = Arc<dyn Database>;

/// Connect, with a bounded wait, and run pending migrations. The URL's
/// scheme picks the backend.
pub async fn connect_database(url: &SecretString) -> Result<SharedDatabase, StoreError> {
    let raw = url.expose();
    if raw.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(raw).await?))
    } else if raw.starts_with("postgres:") || raw.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PostgresStore::connect(raw).await?))
    } else {
        Err(StoreError::Connect {
            target: "database".into(),
            cause: "the URL must start with sqlite: or postgres:".into(),
        })
    }
}

/// Everything stateful, shared by all handlers.
#[derive(Debug, Clone)]
pub struct Store {
    pub db: SharedDatabase,
    pub redis: Option<RedisStore>,
}

impl Store {
    pub async fn connect(
        db_url: &SecretString,
        redis_url: Option<&SecretString>,
    ) -> Result<Self, StoreError> {
        let db = connect_database(db_url).await?;
        let redis = match redis_url {
            Some(url) => Some(RedisStore::connect(url).await?),
            None => None,
        };
        Ok(Self { db, redis })
    }
}

/// `host:port/db` of a URL, for messages: never the user or password.
pub(crate) fn describe_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "the configured URL".into(),
    }
}

/// A revocation row as both backends read it.
fn revocation_from_row<R>(row: &R) -> Result<Revocation, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    Ok(Revocation {
        id: row.try_get("id")?,
        kind: RevocationKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown revocation kind {kind}").into()))?,
        value: row.try_get("value")?,
        idp: row.try_get("idp")?,
        revoked_at: row.try_get("revoked_at")?,
        expires_at: row.try_get("expires_at")?,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_url_drops_credentials() {
        assert_eq!(
            describe_url("postgres://admin:hunter2@db.internal:5432/sts"),
            "postgres://db.internal:5432/sts"
        );
        assert_eq!(
            describe_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(describe_url("not a url"), "the configured URL");
    }
}
