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
    /// Token records: the pattern, upstream and tenant decided on (0006).
    pub pattern: Option<String>,
    pub idp: Option<String>,
    pub tenant: Option<String>,
    /// How many decisions a summary record stands for; `None`: one.
    pub count: Option<i64>,
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

pub(super) const COLUMNS: &str = "id, chain, seq, at, event, decision, reason, subject, agent, \
     pattern, idp, tenant, count, prev_hash, hash, record";

pub(super) fn row_from<R>(row: &R) -> Result<AuditRow, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
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
        pattern: row.try_get("pattern")?,
        idp: row.try_get("idp")?,
        tenant: row.try_get("tenant")?,
        count: row.try_get("count")?,
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

/// What `audit report` covers: token decisions with `since <= at < until`,
/// of one agent or all.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub since: UnixTime,
    pub until: UnixTime,
    pub agent: Option<String>,
}

/// The report's aggregates as the database returns them; `audit::report`
/// arranges them per agent and pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRows {
    pub decisions: Vec<ReportCount>,
    pub groups: Vec<ReportGroup>,
    pub refused: Vec<ReportUser>,
}

/// Decisions of one (agent, pattern, decision, reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCount {
    pub agent: Option<String>,
    pub pattern: Option<String>,
    pub decision: String,
    pub reason: String,
    pub count: i64,
}

/// Distinct users (any decision, and refused ones), upstreams and tenants
/// of one (agent, pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportGroup {
    pub agent: Option<String>,
    pub pattern: Option<String>,
    pub users: i64,
    pub users_refused: i64,
    pub upstreams: i64,
    pub tenants: i64,
}

/// One of the ten most refused users of an (agent, pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUser {
    pub agent: Option<String>,
    pub pattern: Option<String>,
    pub subject: String,
    pub deny: i64,
    pub would_deny: i64,
}

/// How many decisions a record stands for: a summary its `count`, any
/// other one.
const WEIGHT: &str = "COALESCE(count, 1)";

/// The rows every report query reads. `event = 'token'` is a literal so
/// that the partial index `audit_records_report` (migration 0006) applies;
/// `reason <> 'active'` leaves out the backlog's folded records, which sum
/// up answers of several kinds under the first one's event and name no
/// agent.
fn report_rows<'a, DB>(q: &mut sqlx::QueryBuilder<'a, DB>, f: &'a ReportFilter)
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(" FROM audit_records WHERE event = 'token' AND reason <> 'active' AND at >= ")
        .push_bind(f.since)
        .push(" AND at < ")
        .push_bind(f.until);
    if let Some(agent) = &f.agent {
        q.push(" AND agent = ").push_bind(agent);
    }
}

/// Decisions per (agent, pattern, decision, reason).
pub(super) fn report_decisions<'a, DB>(f: &'a ReportFilter) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(format!(
        "SELECT agent, pattern, decision, reason, CAST(SUM({WEIGHT}) AS BIGINT) AS n"
    ));
    report_rows(&mut q, f);
    q.push(" GROUP BY agent, pattern, decision, reason");
    q
}

/// Distinct users, refused users, upstreams and tenants per (agent, pattern).
pub(super) fn report_groups<'a, DB>(f: &'a ReportFilter) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(
        "SELECT agent, pattern, COUNT(DISTINCT subject) AS users, \
         COUNT(DISTINCT CASE WHEN decision <> 'allow' THEN subject END) AS users_refused, \
         COUNT(DISTINCT idp) AS upstreams, COUNT(DISTINCT tenant) AS tenants",
    );
    report_rows(&mut q, f);
    q.push(" GROUP BY agent, pattern");
    q
}

/// The ten users with the most refusals (deny and would_deny) per
/// (agent, pattern); ties by subject.
pub(super) fn report_refused<'a, DB>(f: &'a ReportFilter) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new(format!(
        "SELECT agent, pattern, subject, deny, would_deny FROM (SELECT agent, pattern, subject, \
         CAST(SUM(CASE WHEN decision = 'deny' THEN {WEIGHT} ELSE 0 END) AS BIGINT) AS deny, \
         CAST(SUM(CASE WHEN decision = 'would_deny' THEN {WEIGHT} ELSE 0 END) AS BIGINT) AS would_deny, \
         ROW_NUMBER() OVER (PARTITION BY agent, pattern ORDER BY SUM({WEIGHT}) DESC, subject) AS place"
    ));
    report_rows(&mut q, f);
    q.push(
        " AND decision IN ('deny', 'would_deny') AND subject IS NOT NULL \
         GROUP BY agent, pattern, subject) ranked WHERE place <= 10",
    );
    q
}

/// Decode the three queries' rows (both backends).
pub(super) fn report_from<R>(
    decisions: &[R],
    groups: &[R],
    refused: &[R],
) -> Result<ReportRows, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let decisions = decisions
        .iter()
        .map(|r| {
            Ok(ReportCount {
                agent: r.try_get("agent")?,
                pattern: r.try_get("pattern")?,
                decision: r.try_get("decision")?,
                reason: r.try_get("reason")?,
                count: r.try_get("n")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let groups = groups
        .iter()
        .map(|r| {
            Ok(ReportGroup {
                agent: r.try_get("agent")?,
                pattern: r.try_get("pattern")?,
                users: r.try_get("users")?,
                users_refused: r.try_get("users_refused")?,
                upstreams: r.try_get("upstreams")?,
                tenants: r.try_get("tenants")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let refused = refused
        .iter()
        .map(|r| {
            Ok(ReportUser {
                agent: r.try_get("agent")?,
                pattern: r.try_get("pattern")?,
                subject: r.try_get("subject")?,
                deny: r.try_get("deny")?,
                would_deny: r.try_get("would_deny")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(ReportRows {
        decisions,
        groups,
        refused,
    })
}

/// One pass of audit upkeep, as `audit::retention` plans it from the
/// configuration and the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpkeepPlan {
    pub now: UnixTime,
    /// PostgreSQL: each partition's length in seconds, aligned on the Unix
    /// epoch (`86400`: UTC days).
    pub period: i64,
    /// PostgreSQL: whole periods created after the current one.
    pub ahead: i64,
    /// Prune the records of every chain up to its last one older than
    /// this (`now - retention`); `None`: keep everything.
    pub older_than: Option<UnixTime>,
    /// SQLite: records deleted per transaction, at most (plus the few of
    /// the same chain prefix stamped a moment later).
    pub batch: i64,
    /// Say what would be done; change nothing.
    pub dry_run: bool,
}

/// What a pass did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpkeepDone {
    /// Partitions created, oldest first.
    pub created: Vec<String>,
    /// Records moved from the default partition into one created.
    pub moved: u64,
    /// Partitions dropped, oldest first.
    pub dropped: Vec<String>,
    /// Records deleted one by one: SQLite's batches, and on PostgreSQL the
    /// few of a pruned chain prefix that sit in a newer partition.
    pub deleted: u64,
    /// SQLite: the delete transactions.
    pub batches: u64,
    /// Each chain pruned, with the last seq now removed, in chain order.
    pub anchors: Vec<(String, i64)>,
}

/// Where retention left a chain: every record up to `through_seq` was
/// removed; the last of them was `through_record` (its canonical JSON),
/// whose hash the next record's `prev_hash` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub chain: String,
    pub through_seq: i64,
    pub through_hash: String,
    pub through_record: String,
    pub pruned_at: UnixTime,
    pub older_than: UnixTime,
}

pub(super) fn anchor_from<R>(row: &R) -> Result<Anchor, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Anchor {
        chain: row.try_get("chain")?,
        through_seq: row.try_get("through_seq")?,
        through_hash: row.try_get("through_hash")?,
        through_record: row.try_get("through_record")?,
        pruned_at: row.try_get("pruned_at")?,
        older_than: row.try_get("older_than")?,
    })
}

/// Move a chain's anchor forward (never back): the same statement on both
/// backends, numbered placeholders.
pub(super) const UPSERT_ANCHOR: &str = "INSERT INTO audit_pruned \
     (chain, through_seq, through_hash, through_record, pruned_at, older_than) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain) DO UPDATE SET \
     through_seq = excluded.through_seq, through_hash = excluded.through_hash, \
     through_record = excluded.through_record, pruned_at = excluded.pruned_at, \
     older_than = excluded.older_than WHERE excluded.through_seq > audit_pruned.through_seq";

pub(super) const ANCHORS: &str = "SELECT chain, through_seq, through_hash, through_record, \
     pruned_at, older_than FROM audit_pruned ORDER BY chain";
