//! PostgreSQL: the production database shared by every replica.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};

use super::Revocation;
use super::{CONNECT_TIMEOUT, StoreError, describe_url};
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connect_error = |cause: String| StoreError::Connect {
            target: describe_url(url),
            cause,
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| connect_error(e.to_string()))?;
        // One direct connection first: a pool only says "timed out", while
        // this names the cause (refused, authentication, unknown database).
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| connect_error(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| connect_error(e.to_string()))?;
        drop(probe);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))?;
        Ok(Self { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn register_replica(
        &self,
        id: &str,
        version: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO replicas (id, version, started_at, last_seen) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(id)
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn replicas_since(
        &self,
        since: UnixTime,
    ) -> Result<Vec<(String, String, UnixTime)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, version, last_seen FROM replicas WHERE last_seen >= $1 ORDER BY id",
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

    pub async fn insert_revocation(&self, r: &Revocation) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO revocations (kind, value, idp, revoked_at, expires_at, actor, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
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

    pub async fn revocations_after(
        &self,
        after: i64,
        now: UnixTime,
    ) -> Result<Vec<Revocation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, value, idp, revoked_at, expires_at, actor, reason FROM revocations \
             WHERE id > $1 AND expires_at > $2 ORDER BY id",
        )
        .bind(after)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(super::revocation_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub async fn prune_revocations(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
