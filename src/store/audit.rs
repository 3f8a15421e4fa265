//! Audit rows as the database holds them.

use crate::clock::UnixTime;

/// One stored record: the canonical JSON and the columns queried by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub chain: String,
    pub seq: i64,
    pub at: UnixTime,
    pub event: String,
    pub decision: String,
    pub reason: String,
    pub subject: Option<String>,
    pub agent: Option<String>,
    pub prev_hash: String,
    pub hash: String,
    pub record: String,
}

/// Filters of `audit query` and `GET /admin/audit`; `after` is the cursor
/// (an `id`), results come in id order.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub agent: Option<String>,
    pub decision: Option<String>,
    pub since: Option<UnixTime>,
    pub until: Option<UnixTime>,
    pub after: i64,
    pub limit: i64,
}

pub(super) const COLUMNS: &str =
    "id, chain, seq, at, event, decision, reason, subject, agent, prev_hash, hash, record";

pub(super) fn row_from<R>(row: &R) -> Result<AuditRow, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRow {
        id: row.try_get("id")?,
        chain: row.try_get("chain")?,
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        event: row.try_get("event")?,
        decision: row.try_get("decision")?,
        reason: row.try_get("reason")?,
        subject: row.try_get("subject")?,
        agent: row.try_get("agent")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        record: row.try_get("record")?,
    })
}
