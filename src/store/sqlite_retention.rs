//! SQLite retention: no partitions, so records past the retention are
//! deleted, each chain from its start, in bounded transactions (the writer
//! waits for each one, never for the whole pass). Each transaction moves
//! the chain's anchor to the last record it deleted.

use sqlx::Row;
use sqlx::sqlite::SqlitePool;

use super::audit::UPSERT_ANCHOR;
use super::{StoreError, UpkeepDone, UpkeepPlan};
use crate::clock::UnixTime;

pub(super) async fn upkeep(pool: &SqlitePool, plan: &UpkeepPlan) -> Result<UpkeepDone, StoreError> {
    let mut done = UpkeepDone::default();
    let Some(older_than) = plan.older_than else {
        return Ok(done);
    };
    let chains: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT chain FROM audit_records WHERE at < $1 ORDER BY chain")
            .bind(older_than)
            .fetch_all(pool)
            .await?;
    for chain in chains {
        if plan.dry_run {
            // What would go: the chain up to its last record older than the cut.
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_records WHERE chain = $1 AND seq <= \
                 (SELECT MAX(seq) FROM audit_records WHERE chain = $1 AND at < $2)",
            )
            .bind(&chain)
            .bind(older_than)
            .fetch_one(pool)
            .await?;
            done.deleted += u64::try_from(n).unwrap_or(0);
            continue;
        }
        let mut through = None;
        while let Some((seq, n)) = delete_batch(pool, &chain, older_than, plan).await? {
            done.deleted += n;
            done.batches += 1;
            through = Some(seq);
        }
        if let Some(seq) = through {
            done.anchors.push((chain, seq));
        }
    }
    Ok(done)
}

/// Delete the oldest `plan.batch` records of `chain` stamped before
/// `older_than` (and any of the same prefix stamped later), anchoring the
/// chain at the last of them: one transaction. `None` when nothing is left.
async fn delete_batch(
    pool: &SqlitePool,
    chain: &str,
    older_than: UnixTime,
    plan: &UpkeepPlan,
) -> Result<Option<(i64, u64)>, StoreError> {
    let mut tx = pool.begin().await?;
    // The batch's last record: the batch-th old one, or the last old one.
    let last = sqlx::query(
        "SELECT seq, hash, record FROM audit_records WHERE chain = $1 AND at < $2 \
         AND seq <= COALESCE((SELECT seq FROM audit_records WHERE chain = $1 AND at < $2 \
             ORDER BY seq LIMIT 1 OFFSET $3), seq) \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .bind(older_than)
    .bind(plan.batch.max(1) - 1)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(last) = last else {
        return Ok(None);
    };
    let seq: i64 = last.try_get("seq")?;
    let deleted = sqlx::query("DELETE FROM audit_records WHERE chain = $1 AND seq <= $2")
        .bind(chain)
        .bind(seq)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(UPSERT_ANCHOR)
        .bind(chain)
        .bind(seq)
        .bind(last.try_get::<String, _>("hash")?)
        .bind(last.try_get::<String, _>("record")?)
        .bind(plan.now)
        .bind(older_than)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some((seq, deleted)))
}
