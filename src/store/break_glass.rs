//! Break-glass windows and the tokens issued under them (migration 0007),
//! in the database so that every replica sees a window the moment it is
//! opened or closed, and a restart forgets none. Each backend runs the same
//! SQL, with its own placeholders.

use sqlx::Row;

use super::StoreError;
use crate::clock::UnixTime;

/// One window: `agent` may obtain workload-pattern tokens for `resources`
/// (empty: every resource of the agent) from `opened_at` until
/// `expires_at`, unless closed before.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BreakGlassWindow {
    pub id: String,
    pub agent: String,
    pub resources: Vec<String>,
    pub reason: String,
    pub opened_by: String,
    pub opened_at: UnixTime,
    pub expires_at: UnixTime,
    pub closed_at: Option<UnixTime>,
}

impl BreakGlassWindow {
    /// Open at `now`: not closed, started, not yet expired.
    pub fn is_open(&self, now: UnixTime) -> bool {
        self.closed_at.is_none() && self.opened_at <= now && now < self.expires_at
    }
}

#[async_trait::async_trait]
pub trait BreakGlassStore: Send + Sync + std::fmt::Debug {
    async fn open_window(&self, w: &BreakGlassWindow) -> Result<(), StoreError>;
    /// Close window `id` at `at`; the window as it was, if it was open.
    async fn close_window(
        &self,
        id: &str,
        at: UnixTime,
    ) -> Result<Option<BreakGlassWindow>, StoreError>;
    /// Windows open at `now` (every agent's, oldest first).
    async fn open_windows(&self, now: UnixTime) -> Result<Vec<BreakGlassWindow>, StoreError>;
    /// A token issued under window `id`, until `expires_at`.
    async fn record_window_token(
        &self,
        id: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The unexpired tokens issued under window `id`: (jti, expires_at).
    async fn window_tokens(
        &self,
        id: &str,
        now: UnixTime,
    ) -> Result<Vec<(String, UnixTime)>, StoreError>;
}

const COLUMNS: &str = "id, agent, resources, reason, opened_by, opened_at, expires_at, closed_at";

fn window_of<R: Row>(row: &R) -> Result<BreakGlassWindow, StoreError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> Option<i64>: sqlx::Decode<'q, R::Database>,
{
    let resources: String = row.try_get("resources")?;
    Ok(BreakGlassWindow {
        id: row.try_get("id")?,
        agent: row.try_get("agent")?,
        resources: serde_json::from_str(&resources)
            .map_err(|e| StoreError::Query(format!("break_glass_windows.resources: {e}")))?,
        reason: row.try_get("reason")?,
        opened_by: row.try_get("opened_by")?,
        opened_at: row.try_get("opened_at")?,
        expires_at: row.try_get("expires_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// The same implementation for both backends: `$N` placeholders are
/// rewritten to `?N` for SQLite.
macro_rules! break_glass_store {
    ($store:ty, $sql:expr) => {
        #[async_trait::async_trait]
        impl BreakGlassStore for $store {
            async fn open_window(&self, w: &BreakGlassWindow) -> Result<(), StoreError> {
                let resources = serde_json::to_string(&w.resources)
                    .map_err(|e| StoreError::Query(e.to_string()))?;
                sqlx::query(&$sql(&format!(
                    "INSERT INTO break_glass_windows ({COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)"
                )))
                .bind(&w.id)
                .bind(&w.agent)
                .bind(resources)
                .bind(&w.reason)
                .bind(&w.opened_by)
                .bind(w.opened_at)
                .bind(w.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn close_window(
                &self,
                id: &str,
                at: UnixTime,
            ) -> Result<Option<BreakGlassWindow>, StoreError> {
                let row = sqlx::query(&$sql(&format!(
                    "UPDATE break_glass_windows SET closed_at = $2 \
                     WHERE id = $1 AND closed_at IS NULL AND expires_at > $2 \
                     RETURNING {COLUMNS}"
                )))
                .bind(id)
                .bind(at)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(window_of).transpose()
            }

            async fn open_windows(
                &self,
                now: UnixTime,
            ) -> Result<Vec<BreakGlassWindow>, StoreError> {
                let rows = sqlx::query(&$sql(&format!(
                    "SELECT {COLUMNS} FROM break_glass_windows \
                     WHERE closed_at IS NULL AND opened_at <= $1 AND expires_at > $1 \
                     ORDER BY opened_at, id"
                )))
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(window_of).collect()
            }

            async fn record_window_token(
                &self,
                id: &str,
                jti: &str,
                expires_at: UnixTime,
            ) -> Result<(), StoreError> {
                sqlx::query(&$sql(
                    "INSERT INTO break_glass_tokens (window_id, jti, expires_at) \
                     VALUES ($1, $2, $3)",
                ))
                .bind(id)
                .bind(jti)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn window_tokens(
                &self,
                id: &str,
                now: UnixTime,
            ) -> Result<Vec<(String, UnixTime)>, StoreError> {
                let rows = sqlx::query(&$sql(
                    "SELECT jti, expires_at FROM break_glass_tokens \
                     WHERE window_id = $1 AND expires_at > $2 ORDER BY jti",
                ))
                .bind(id)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("jti")?, r.try_get("expires_at")?)))
                    .collect()
            }
        }
    };
}

fn postgres_sql(s: &str) -> String {
    s.to_string()
}

fn sqlite_sql(s: &str) -> String {
    s.replace('$', "?")
}

break_glass_store!(super::postgres::PostgresStore, postgres_sql);
break_glass_store!(super::sqlite::SqliteStore, sqlite_sql);
