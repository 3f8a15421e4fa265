//! PostgreSQL audit partitions (migration 0008): created ahead of time,
//! dropped once wholly older than the retention, by one replica at a time.
//!
//! - **One at a time.** A pass runs under a session advisory lock taken
//!   with `pg_try_advisory_lock` on its own connection, which is closed when
//!   the pass ends however it ends (so a cancelled pass cannot leave the lock
//!   held by a pooled connection). A replica that finds the lock taken does
//!   nothing this time.
//! - **Contiguous.** Partitions are created from the end of the newest one,
//!   so ranges never overlap or leave a gap: after the migration the first is
//!   a short one up to the next period boundary; after a long stop one
//!   partition covers the whole gap. Ranges are aligned on the Unix epoch
//!   (UTC days by default) and named for their start:
//!   `audit_records_p20261202`, or `…_p20261202_003412` when the start is
//!   not a midnight.
//! - **Short locks.** Creating or dropping a partition needs the audit
//!   table's ACCESS EXCLUSIVE lock for a moment; each waits at most
//!   `lock_timeout` for it, so a pass never parks inserts behind a long
//!   report query (the next pass tries again).
//! - **The default partition** catches records no partition covers (the
//!   upkeep fell behind); when the partition for them is created they are
//!   moved into it in the same transaction.

use std::collections::BTreeMap;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Connection, Row};

use super::audit::UPSERT_ANCHOR;
use super::{StoreError, UpkeepDone, UpkeepPlan};
use crate::clock::UnixTime;

/// The upkeep's advisory lock key, as SQL: "audi" in the high 32 bits, the
/// audit table's oid in the low ones, so deployments in different schemas
/// of one database (the tests' schemas) do not wait for each other.
pub const UPKEEP_LOCK: &str =
    "(x'61756469'::bigint << 32) | 'audit_records'::regclass::oid::bigint";

/// How long a pass waits for a table lock before giving up until the next.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// The default partition's name (migration 0008).
const DEFAULT_PARTITION: &str = "audit_records_default";

/// One partition of `audit_records`; `None` bounds are MINVALUE/MAXVALUE.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partition {
    name: String,
    from: Option<i64>,
    to: Option<i64>,
}

pub(super) async fn upkeep(
    pool: &PgPool,
    plan: &UpkeepPlan,
) -> Result<Option<UpkeepDone>, StoreError> {
    let mut conn = pool.acquire().await?;
    // The session ends with the pass, and the lock with it.
    conn.close_on_drop();
    if !plan.dry_run {
        let locked: bool =
            sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({UPKEEP_LOCK})"))
                .fetch_one(&mut *conn)
                .await?;
        if !locked {
            return Ok(None);
        }
    }
    let mut done = UpkeepDone::default();
    create_ahead(&mut conn, plan, &mut done).await?;
    if let Some(older_than) = plan.older_than {
        drop_older(&mut conn, plan, older_than, &mut done).await?;
    }
    Ok(Some(done))
}

/// Every partition; the default one has no bounds.
async fn partitions(conn: &mut PgConnection) -> Result<Vec<Partition>, StoreError> {
    let rows = sqlx::query(
        "SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'audit_records'::regclass ORDER BY c.relname",
    )
    .fetch_all(conn)
    .await?;
    let mut parts = Vec::with_capacity(rows.len());
    for row in rows {
        let bound: String = row.try_get("bound")?;
        let (from, to) = parse_bound(&bound).unwrap_or((None, None));
        parts.push(Partition {
            name: row.try_get("name")?,
            from,
            to,
        });
    }
    Ok(parts)
}

/// `FOR VALUES FROM ('1764633600') TO ('1764720000')` → the two bounds
/// (`MINVALUE`/`MAXVALUE` → `None`); `DEFAULT` → `None`.
fn parse_bound(text: &str) -> Option<(Option<i64>, Option<i64>)> {
    let inner = text.strip_prefix("FOR VALUES FROM (")?.strip_suffix(')')?;
    let (from, to) = inner.split_once(") TO (")?;
    let value = |v: &str| v.trim().trim_matches('\'').parse::<i64>().ok();
    Some((value(from), value(to)))
}

/// `audit_records_pYYYYMMDD`, with `_HHMMSS` when `start` is not midnight UTC.
fn partition_name(start: UnixTime) -> String {
    match time::OffsetDateTime::from_unix_timestamp(start) {
        Ok(t) => {
            let (date, clock) = (t.date(), t.time());
            let mut name = format!(
                "audit_records_p{:04}{:02}{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            );
            if start.rem_euclid(86_400) != 0 {
                name.push_str(&format!(
                    "_{:02}{:02}{:02}",
                    clock.hour(),
                    clock.minute(),
                    clock.second()
                ));
            }
            name
        }
        Err(_) => format!("audit_records_p{}", start.max(0)),
    }
}

/// The ranges to create so that partitions reach `ahead` whole periods past
/// the current one, from the end of the newest partition (`hi`).
fn ranges_ahead(hi: Option<i64>, plan: &UpkeepPlan) -> Vec<(i64, i64)> {
    let period = plan.period.max(1);
    let current = plan.now.div_euclid(period) * period;
    let end = current + (plan.ahead + 1) * period;
    let mut start = hi.unwrap_or(current);
    let mut ranges = Vec::new();
    if start < current {
        ranges.push((start, current));
        start = current;
    }
    while start < end {
        let next = start.div_euclid(period) * period + period;
        ranges.push((start, next));
        start = next;
    }
    ranges
}

async fn create_ahead(
    conn: &mut PgConnection,
    plan: &UpkeepPlan,
    done: &mut UpkeepDone,
) -> Result<(), StoreError> {
    let parts = partitions(conn).await?;
    let has_default = parts.iter().any(|p| p.name == DEFAULT_PARTITION);
    let hi = parts.iter().filter_map(|p| p.to).max();
    for (from, to) in ranges_ahead(hi, plan) {
        let name = partition_name(from);
        if !plan.dry_run {
            done.moved += create(conn, &name, from, to, has_default).await?;
        }
        done.created.push(name);
    }
    Ok(())
}

/// Create one partition with its own primary key and (chain, seq)
/// uniqueness (see migration 0008), moving in any records the default
/// partition holds for its range. Returns how many were moved.
async fn create(
    conn: &mut PgConnection,
    name: &str,
    from: i64,
    to: i64,
    has_default: bool,
) -> Result<u64, StoreError> {
    let mut tx = conn.begin().await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    sqlx::query("LOCK TABLE audit_records IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let strays: bool = has_default
        && sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE at >= $1 AND at < $2)"
        ))
        .bind(from)
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
    let ddl = format!(
        "CREATE TABLE {name} PARTITION OF audit_records (PRIMARY KEY (id), UNIQUE (chain, seq)) \
         FOR VALUES FROM ({from}) TO ({to})"
    );
    let mut moved = 0;
    if strays {
        // The default partition may not keep rows of the new range, so it
        // steps aside while they move (no insert runs meanwhile: the table
        // is locked).
        let detach = format!("ALTER TABLE audit_records DETACH PARTITION {DEFAULT_PARTITION}");
        sqlx::query(&detach).execute(&mut *tx).await?;
        sqlx::query(&ddl).execute(&mut *tx).await?;
        moved = sqlx::query(&format!(
            "INSERT INTO audit_records SELECT * FROM {DEFAULT_PARTITION} WHERE at >= $1 AND at < $2"
        ))
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "DELETE FROM {DEFAULT_PARTITION} WHERE at >= $1 AND at < $2"
        ))
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        let attach =
            format!("ALTER TABLE audit_records ATTACH PARTITION {DEFAULT_PARTITION} DEFAULT");
        sqlx::query(&attach).execute(&mut *tx).await?;
    } else {
        sqlx::query(&ddl).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(moved)
}

/// Drop every partition whose range ends at or before `older_than`,
/// oldest first, each in one transaction with its chains' anchors.
async fn drop_older(
    conn: &mut PgConnection,
    plan: &UpkeepPlan,
    older_than: UnixTime,
    done: &mut UpkeepDone,
) -> Result<(), StoreError> {
    let mut old: Vec<(i64, String)> = partitions(conn)
        .await?
        .into_iter()
        .filter_map(|p| p.to.filter(|&to| to <= older_than).map(|to| (to, p.name)))
        .collect();
    old.sort();
    let mut anchors = BTreeMap::new();
    for (to, name) in old {
        if !plan.dry_run {
            done.deleted += drop_one(conn, &name, to, plan.now, &mut anchors).await?;
        }
        done.dropped.push(name);
    }
    done.anchors.extend(anchors);
    Ok(())
}

/// Anchor each chain of partition `name` at its last record there, delete
/// the few records of those prefixes stamped `to` or later (a record can
/// be stamped a second before the one queued ahead of it), drop the
/// partition: one transaction. Returns the records deleted.
async fn drop_one(
    conn: &mut PgConnection,
    name: &str,
    to: UnixTime,
    now: UnixTime,
    anchors: &mut BTreeMap<String, i64>,
) -> Result<u64, StoreError> {
    let mut tx = conn.begin().await?;
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    // No insert into it meanwhile, so the anchors describe what is dropped.
    sqlx::query(&format!("LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"))
        .execute(&mut *tx)
        .await?;
    // Its chains, one index probe each (a loose index scan).
    let chains: Vec<String> = sqlx::query_scalar(&format!(
        "WITH RECURSIVE c(chain) AS ( \
           (SELECT chain FROM {name} ORDER BY chain LIMIT 1) \
           UNION ALL \
           SELECT (SELECT chain FROM {name} WHERE chain > c.chain ORDER BY chain LIMIT 1) \
           FROM c WHERE c.chain IS NOT NULL) \
         SELECT chain FROM c WHERE chain IS NOT NULL"
    ))
    .fetch_all(&mut *tx)
    .await?;
    let mut deleted = 0;
    for chain in chains {
        let last = sqlx::query(&format!(
            "SELECT seq, hash, record FROM {name} WHERE chain = $1 ORDER BY seq DESC LIMIT 1"
        ))
        .bind(&chain)
        .fetch_one(&mut *tx)
        .await?;
        let seq: i64 = last.try_get("seq")?;
        sqlx::query(UPSERT_ANCHOR)
            .bind(&chain)
            .bind(seq)
            .bind(last.try_get::<String, _>("hash")?)
            .bind(last.try_get::<String, _>("record")?)
            .bind(now)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        deleted +=
            sqlx::query("DELETE FROM audit_records WHERE chain = $1 AND seq <= $2 AND at >= $3")
                .bind(&chain)
                .bind(seq)
                .bind(to)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let through = anchors.entry(chain).or_insert(seq);
        *through = (*through).max(seq);
    }
    sqlx::query(&format!("DROP TABLE {name}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(now: i64, period: i64) -> UpkeepPlan {
        UpkeepPlan {
            now,
            period,
            ahead: 2,
            older_than: None,
            batch: 1,
            dry_run: false,
        }
    }

    #[test]
    fn bounds_parse() {
        assert_eq!(
            parse_bound("FOR VALUES FROM (MINVALUE) TO ('1796171716')"),
            Some((None, Some(1_796_171_716)))
        );
        assert_eq!(
            parse_bound("FOR VALUES FROM ('86400') TO ('172800')"),
            Some((Some(86_400), Some(172_800)))
        );
        assert_eq!(parse_bound("DEFAULT"), None);
    }

    #[test]
    fn names_follow_the_start() {
        assert_eq!(partition_name(1_796_169_600), "audit_records_p20261202");
        assert_eq!(
            partition_name(1_796_171_652),
            "audit_records_p20261202_003412"
        );
    }

    #[test]
    fn ranges_are_contiguous_from_the_newest_partition() {
        let day = 86_400;
        let midnight = 1_796_169_600;
        // Just after the migration: the rest of today, then three days.
        assert_eq!(
            ranges_ahead(Some(midnight + 2_052), &plan(midnight + 2_100, day)),
            vec![
                (midnight + 2_052, midnight + day),
                (midnight + day, midnight + 2 * day),
                (midnight + 2 * day, midnight + 3 * day)
            ]
        );
        // Up to date: nothing.
        assert_eq!(
            ranges_ahead(Some(midnight + 3 * day), &plan(midnight + 5, day)),
            vec![]
        );
        // After a long stop: one partition covers the gap.
        assert_eq!(
            ranges_ahead(Some(midnight - 30 * day), &plan(midnight + 5, day))[0],
            (midnight - 30 * day, midnight)
        );
        assert_eq!(
            ranges_ahead(Some(midnight - 30 * day), &plan(midnight + 5, day)).len(),
            4
        );
    }
}
