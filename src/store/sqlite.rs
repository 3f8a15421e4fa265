//! SQLite: the embedded default. One file, WAL mode, created on first use.

use std::collections::BTreeSet;
use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::authorization::{
    REFRESH_COLUMNS, refresh_from_row, refresh_use_of, revoke_families_query,
};
use super::{
    AuditFilter, AuditRow, RefreshRow, RefreshUse, ReportFilter, ReportRows, Revocation, Taken,
};
use super::{CONNECT_TIMEOUT, StoreError};
use crate::clock::UnixTime;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
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
            "INSERT INTO audit_records (chain, seq, at, event, decision, reason, subject, agent, \
             pattern, idp, tenant, count, prev_hash, hash, record) ",
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
                .push_bind(&r.pattern)
                .push_bind(&r.idp)
                .push_bind(&r.tenant)
                .push_bind(r.count)
                .push_bind(&r.prev_hash)
                .push_bind(&r.hash)
                .push_bind(&r.record);
        });
        q.build().execute(&self.pool).await?;
        Ok(())
    }

    async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT chain FROM audit_records UNION SELECT chain FROM audit_pruned ORDER BY chain",
        )
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

    async fn audit_report(&self, f: &ReportFilter) -> Result<ReportRows, StoreError> {
        use super::audit::{report_decisions, report_from, report_groups, report_refused};
        let decisions = report_decisions::<sqlx::Sqlite>(f)
            .build()
            .fetch_all(&self.pool)
            .await?;
        let groups = report_groups::<sqlx::Sqlite>(f)
            .build()
            .fetch_all(&self.pool)
            .await?;
        let refused = report_refused::<sqlx::Sqlite>(f)
            .build()
            .fetch_all(&self.pool)
            .await?;
        Ok(report_from(&decisions, &groups, &refused)?)
    }

    async fn audit_anchors(&self) -> Result<Vec<super::Anchor>, StoreError> {
        let rows = sqlx::query(super::audit::ANCHORS)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(super::audit::anchor_from)
            .collect::<Result<_, _>>()?)
    }

    async fn audit_upkeep(
        &self,
        plan: &super::UpkeepPlan,
    ) -> Result<Option<super::UpkeepDone>, StoreError> {
        Ok(Some(
            super::sqlite_retention::upkeep(&self.pool, plan).await?,
        ))
    }
}

#[async_trait::async_trait]
impl super::OneTimeStore for SqliteStore {
    async fn put_once(
        &self,
        kind: &str,
        key: &str,
        payload: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        // No ON CONFLICT: a key already present fails on the primary key.
        sqlx::query(
            "INSERT INTO one_time_records (kind, digest, payload, expires_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(kind)
        .bind(key)
        .bind(payload)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_once(&self, kind: &str, key: &str, now: UnixTime) -> Result<Taken, StoreError> {
        // SQLite runs one write at a time: of two takes, the second finds
        // taken_at set and updates nothing.
        let first = sqlx::query(
            "UPDATE one_time_records SET taken_at = ?3 \
             WHERE kind = ?1 AND digest = ?2 AND taken_at IS NULL AND expires_at > ?3 \
             RETURNING payload",
        )
        .bind(kind)
        .bind(key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = first {
            return Ok(Taken::First(row.try_get("payload")?));
        }
        let again = sqlx::query(
            "SELECT payload FROM one_time_records \
             WHERE kind = ?1 AND digest = ?2 AND taken_at IS NOT NULL AND expires_at > ?3",
        )
        .bind(kind)
        .bind(key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match again {
            Some(row) => Taken::Again(row.try_get("payload")?),
            None => Taken::Missing,
        })
    }

    async fn prune_one_time(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM one_time_records WHERE expires_at <= ?1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait::async_trait]
impl super::RefreshStore for SqliteStore {
    async fn insert_refresh(&self, r: &RefreshRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, family, client_id, agent, subject, idp, resource, \
             family_started_at, issued_at, idle_expires_at, family_expires_at, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .bind(&r.hash)
        .bind(&r.family)
        .bind(&r.client_id)
        .bind(&r.agent)
        .bind(&r.subject)
        .bind(&r.idp)
        .bind(&r.resource)
        .bind(r.family_started_at)
        .bind(r.issued_at)
        .bind(r.idle_expires_at)
        .bind(r.family_expires_at)
        .bind(&r.payload)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_refresh(&self, hash: &str, now: UnixTime) -> Result<RefreshUse, StoreError> {
        let sql = format!(
            "UPDATE refresh_tokens SET used_at = ?2 \
             WHERE hash = ?1 AND used_at IS NULL AND idle_expires_at > ?2 AND family_expires_at > ?2 \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens f \
                 WHERE f.family = refresh_tokens.family AND f.revoked_at IS NOT NULL) \
             RETURNING {REFRESH_COLUMNS}"
        );
        let fresh = sqlx::query(&sql)
            .bind(hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = fresh {
            return Ok(RefreshUse::Fresh(refresh_from_row(&row)?));
        }
        let sql = format!(
            "SELECT {REFRESH_COLUMNS}, used_at IS NOT NULL AS used, \
             EXISTS (SELECT 1 FROM refresh_tokens f \
                 WHERE f.family = t.family AND f.revoked_at IS NOT NULL) AS revoked \
             FROM refresh_tokens t WHERE hash = ?1"
        );
        let found = sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        let found = match found {
            Some(row) => Some((
                refresh_from_row(&row)?,
                row.try_get("used")?,
                row.try_get("revoked")?,
            )),
            None => None,
        };
        Ok(refresh_use_of(found, now))
    }

    async fn revoke_family(&self, family: &str, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family = ?1 AND revoked_at IS NULL",
        )
        .bind(family)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn revoke_families_of(
        &self,
        subject: Option<(&str, Option<&str>)>,
        agent: Option<&str>,
        client: Option<&str>,
        at: UnixTime,
    ) -> Result<u64, StoreError> {
        let Some(mut q) = revoke_families_query::<sqlx::Sqlite>(subject, agent, client, at) else {
            return Ok(0);
        };
        let rows = q.build().fetch_all(&self.pool).await?;
        let families = rows
            .iter()
            .map(|r| r.try_get::<String, _>("family"))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(families.len() as u64)
    }

    async fn prune_refresh(&self, now: UnixTime) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE family_expires_at <= ?1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
