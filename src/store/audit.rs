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

/// `SELECT` of the rows matching `f`, in id order: the same SQL for both
/// backends (`QueryBuilder` numbers the placeholders for each).
pub(super) fn query_for<'a, DB>(f: &'a AuditFilter) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_records WHERE id > "));
    q.push_bind(f.after);
    for (column, value) in [
        ("subject", &f.subject),
        ("agent", &f.agent),
        ("decision", &f.decision),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v);
        }
    }
    if let Some(v) = f.since {
        q.push(" AND at >= ").push_bind(v);
    }
    if let Some(v) = f.until {
        q.push(" AND at < ").push_bind(v);
    }
    q.push(" ORDER BY id LIMIT ").push_bind(f.limit);
    q
}
