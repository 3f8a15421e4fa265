//! SQLite: the embedded default. One file, WAL mode, created on first use.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{AuditFilter, AuditRow, Revocation};
use super::{CONNECT_TIMEOUT, StoreError};
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connect_error = |cause: String| StoreError::Connect {
            target: format!("sqlite database {}", url.trim_start_matches("sqlite://")),
            cause,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| connect_error(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(CONNECT_TIMEOUT);
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| connect_error(e.to_string()))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(CONNECT_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(Self { pool })
    }
}

#[async_trait::async_trait]
impl super::Database for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait::async_trait]
impl super::ReplicaStore for SqliteStore {
    async fn register_replica(
        &self,
        id: &str,
        version: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO replicas (id, version, started_at, last_seen) VALUES (?1, ?2, ?3, ?3) \
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(id)
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn replicas_since(
        &self,
        since: UnixTime,
    ) -> Result<Vec<(String, String, UnixTime)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, version, last_seen FROM replicas WHERE last_seen >= ?1 ORDER BY id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("version")?,
                    r.try_get("last_seen")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn deployment_id(&self, candidate: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO deployment (singleton, id) VALUES (1, ?1) ON CONFLICT (singleton) DO NOTHING")
            .bind(candidate)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT id FROM deployment WHERE singleton = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("id")?)
    }
}

#[async_trait::async_trait]
impl super::RevocationStore for SqliteStore {
    async fn insert_revocation(&self, r: &Revocation) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        )
        .bind(r.kind.as_str())
        .bind(&r.value)
        .bind(&r.idp)
        .bind(r.revoked_at)
        .bind(r.expires_at)
        .bind(&r.actor)
        .bind(&r.reason)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn revocations_after(
        &self,
        after: i64,
        now: UnixTime,
        limit: i64,
    ) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, value, idp, revoked_at, expires_at, actor, reason FROM revocations \
             WHERE id > ?1 AND expires_at > ?2 ORDER BY id LIMIT ?3",
        )
        .bind(after)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(super::revocation_from_row)
            .collect::<Result<_, _>>()?)
    }

    async fn prune_revocations(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revocations WHERE expires_at <= ?1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait::async_trait]
impl super::AuditStore for SqliteStore {
    /// One multi-row statement: its own transaction, one commit.
    async fn insert_audit(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO audit_records (chain, seq, at, event, decision, reason, subject, agent, prev_hash, hash, record) ",
        );
        q.push_values(rows, |mut b, r| {
            b.push_bind(&r.chain)
                .push_bind(r.seq)
                .push_bind(r.at)
                .push_bind(&r.event)
                .push_bind(&r.decision)
                .push_bind(&r.reason)
                .push_bind(&r.subject)
                .push_bind(&r.agent)
                .push_bind(&r.prev_hash)
                .push_bind(&r.hash)
                .push_bind(&r.record);
        });
        q.build().execute(&self.pool).await?;
        Ok(())
    }

    async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT chain FROM audit_records ORDER BY chain")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("chain"))
            .collect::<Result<_, _>>()?)
    }

    async fn audit_chain_rows(
        &self,
        chain: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM audit_records WHERE chain = ?1 AND seq > ?2 ORDER BY seq, id LIMIT ?3",
            super::audit::COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(chain)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(super::audit::row_from)
            .collect::<Result<_, _>>()?)
    }

    async fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        let mut q = super::audit::query_for::<sqlx::Sqlite>(f);
        let rows = q.build().fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(super::audit::row_from)
            .collect::<Result<_, _>>()?)
    }
}
