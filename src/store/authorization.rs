//! What the authorization code grant keeps between requests: one-time
//! records (pending logins at the upstream IdP, authorization codes) and
//! refresh tokens rotated in families (migration 0005).
//!
//! Both must hold across replicas, so they live in the database, and both
//! are decided by one conditional `UPDATE ... RETURNING`: under concurrency
//! exactly one caller wins a code or a refresh token (RFC 6749 §4.1.2: a
//! code is used once; RFC 6749 §10.4: a rotated refresh token is used once,
//! and a second use tells the server of a breach).

use super::StoreError;
use crate::clock::UnixTime;

/// What `take_once` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// First take before expiry: the payload. The record is now spent.
    First(String),
    /// Already taken (a replay): the payload again, so the caller can undo
    /// what the first take issued (RFC 6749 §4.1.2: revoke the tokens
    /// issued on a code used twice).
    Again(String),
    /// Unknown or expired.
    Missing,
}

/// One-time, short-lived records shared by every replica: pending logins at
/// the upstream IdP (kind "login") and authorization codes (kind "code").
/// Keys are digests chosen by the caller.
///
/// A record is live while `now < expires_at`, as revocations are: at
/// `expires_at` it is expired.
#[async_trait::async_trait]
pub trait OneTimeStore: Send + Sync + std::fmt::Debug {
    /// Store `payload` under (`kind`, `key`) until `expires_at`. A key
    /// already present is an error (`StoreError::Query`), never overwritten:
    /// a collision must not replace a code someone else holds. Kinds other
    /// than "login" and "code" are refused by the schema.
    async fn put_once(
        &self,
        kind: &str,
        key: &str,
        payload: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;

    /// Take (`kind`, `key`) at `now`, atomically: one conditional `UPDATE`
    /// marks it taken, then a plain `SELECT` tells `Again` from `Missing`.
    /// Of two concurrent takes exactly one gets `First`.
    async fn take_once(&self, kind: &str, key: &str, now: UnixTime) -> Result<Taken, StoreError>;

    /// Delete records expired at `now`. Taken records stay until they
    /// expire, so a replay within the lifetime is still recognised as
    /// `Again`. Returns how many were deleted.
    async fn prune_one_time(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// A refresh token as stored: only its SHA-256 (hex), never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    /// SHA-256 of the token, lowercase hex: the key it is found by.
    pub hash: String,
    /// Every token rotated from one login shares a family id.
    pub family: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The agent acting for the subject.
    pub agent: String,
    /// The user, as the upstream IdP named them.
    pub subject: String,
    /// The upstream IdP's issuer, when the subject came from one.
    pub idp: Option<String>,
    /// The resource (RFC 8707) the tokens are for.
    pub resource: String,
    /// When the family began (the login): revocations by subject/agent/client
    /// issued after it end the family.
    pub family_started_at: UnixTime,
    /// When this token was issued.
    pub issued_at: UnixTime,
    /// Unused after this, the token is dead (idle lifetime).
    pub idle_expires_at: UnixTime,
    /// The family's absolute end.
    pub family_expires_at: UnixTime,
    /// What the grant side needs to re-decide (JSON text, opaque here).
    pub payload: String,
}

/// What `use_refresh` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unused, unexpired, family live: now marked used (atomically, one
    /// winner under concurrency).
    Fresh(RefreshRow),
    /// Already used: reuse. The caller revokes the family (RFC 6749
    /// §10.4, refresh token rotation).
    Reused(RefreshRow),
    /// The family was revoked.
    Revoked(RefreshRow),
    /// Unknown, or past its idle or absolute expiry.
    Missing,
}

/// Refresh tokens in rotation families, shared by every replica.
///
/// A family is revoked as soon as any of its tokens is marked revoked: a
/// token inserted into a family while it was being revoked (a rotation
/// racing a revocation) is revoked with it. Times compare as elsewhere:
/// at `idle_expires_at` or `family_expires_at` a token is expired.
#[async_trait::async_trait]
pub trait RefreshStore: Send + Sync + std::fmt::Debug {
    /// Store a newly issued token, unused and unrevoked. A hash already
    /// present is an error (`StoreError::Query`).
    async fn insert_refresh(&self, row: &RefreshRow) -> Result<(), StoreError>;

    /// Use the token whose hash is `hash` at `now` (see [`RefreshUse`]).
    /// Expiry comes first (`Missing`), then revocation (`Revoked`), then
    /// reuse (`Reused`).
    async fn use_refresh(&self, hash: &str, now: UnixTime) -> Result<RefreshUse, StoreError>;

    /// Revoke every token of `family` (returns how many rows were marked;
    /// rows already revoked are not marked again).
    async fn revoke_family(&self, family: &str, now: UnixTime) -> Result<u64, StoreError>;

    /// Revoke every live family matching a revocation: by subject (with
    /// optional idp: only that idp's), by agent, or by client, for families
    /// started at or before `at`. Returns families revoked. (Used when an
    /// admin revokes "Alice", an agent or a client.)
    ///
    /// Every criterion given must match; with none given nothing is revoked
    /// (a revocation always names someone). Live: not revoked already and
    /// not past `family_expires_at` at `at`.
    async fn revoke_families_of(
        &self,
        subject: Option<(&str, Option<&str>)>,
        agent: Option<&str>,
        client: Option<&str>,
        at: UnixTime,
    ) -> Result<u64, StoreError>;

    /// Delete rows past their family's absolute expiry (returns how many).
    async fn prune_refresh(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// The columns of a [`RefreshRow`], in the order both backends select them.
pub(super) const REFRESH_COLUMNS: &str = "hash, family, client_id, agent, subject, idp, resource, \
     family_started_at, issued_at, idle_expires_at, family_expires_at, payload";

/// A refresh row as both backends read it.
pub(super) fn refresh_from_row<R>(row: &R) -> Result<RefreshRow, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(RefreshRow {
        hash: row.try_get("hash")?,
        family: row.try_get("family")?,
        client_id: row.try_get("client_id")?,
        agent: row.try_get("agent")?,
        subject: row.try_get("subject")?,
        idp: row.try_get("idp")?,
        resource: row.try_get("resource")?,
        family_started_at: row.try_get("family_started_at")?,
        issued_at: row.try_get("issued_at")?,
        idle_expires_at: row.try_get("idle_expires_at")?,
        family_expires_at: row.try_get("family_expires_at")?,
        payload: row.try_get("payload")?,
    })
}

/// Why a conditional use did not win, read back by a plain `SELECT`: the
/// row, whether it was used, whether its family is revoked.
pub(super) fn refresh_use_of(found: Option<(RefreshRow, bool, bool)>, now: UnixTime) -> RefreshUse {
    match found {
        None => RefreshUse::Missing,
        Some((row, _, _)) if now >= row.idle_expires_at || now >= row.family_expires_at => {
            RefreshUse::Missing
        }
        Some((row, _, true)) => RefreshUse::Revoked(row),
        Some((row, true, false)) => RefreshUse::Reused(row),
        // Unused and live, yet the UPDATE did not take it: it was inserted
        // after the UPDATE looked. At that moment it did not exist.
        Some((_, false, false)) => RefreshUse::Missing,
    }
}

/// The `UPDATE` of `revoke_families_of`, `RETURNING family` for each row
/// marked: the same SQL for both backends (`QueryBuilder` numbers the
/// placeholders for each). `None` when no criterion is given.
///
/// The families are chosen by a subquery before any row is marked, so every
/// row of a chosen family is marked, whichever row the `UPDATE` reaches
/// first.
pub(super) fn revoke_families_query<'a, DB>(
    subject: Option<(&'a str, Option<&'a str>)>,
    agent: Option<&'a str>,
    client: Option<&'a str>,
    at: UnixTime,
) -> Option<sqlx::QueryBuilder<'a, DB>>
where
    DB: sqlx::Database,
    DB::Arguments<'a>: Default,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if subject.is_none() && agent.is_none() && client.is_none() {
        return None;
    }
    let mut q = sqlx::QueryBuilder::new("UPDATE refresh_tokens SET revoked_at = ");
    q.push_bind(at);
    q.push(" WHERE revoked_at IS NULL AND family IN (SELECT family FROM refresh_tokens WHERE family_started_at <= ");
    q.push_bind(at);
    q.push(" AND family_expires_at > ");
    q.push_bind(at);
    let (subject, idp) = match subject {
        Some((s, idp)) => (Some(s), idp),
        None => (None, None),
    };
    for (column, value) in [
        ("subject", subject),
        ("idp", idp),
        ("agent", agent),
        ("client_id", client),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v);
        }
    }
    // Live families only: one already revoked is not revoked again.
    q.push(" GROUP BY family HAVING COUNT(revoked_at) = 0) RETURNING family");
    Some(q)
}
