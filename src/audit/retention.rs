//! Audit upkeep: partitions created ahead (PostgreSQL) and, when
//! `[audit] retention` is set, records past it pruned, with each pruned
//! chain's anchor written in the same transaction (see `store::UpkeepPlan`
//! and `audit::verify`). Every replica runs it in the background; on
//! PostgreSQL an advisory lock lets one act at a time. `agent-sts audit
//! prune` runs one pass by hand.

use std::fmt::Write as _;
use std::time::Duration;

use crate::clock::{SharedClock, UnixTime, rfc3339};
use crate::config::AuditConfig;
use crate::store::{AuditStore, StoreError, UpkeepDone, UpkeepPlan};

/// Whole periods of partitions kept ready after the current one: inserts
/// find their partition even if no replica runs the upkeep for two days.
pub const PERIODS_AHEAD: i64 = 2;
/// SQLite: records deleted per transaction.
pub const BATCH: i64 = 5_000;
/// How often each replica runs a pass, and how long after start the first
/// (start-up already created the partitions).
pub const EVERY: Duration = Duration::from_secs(3_600);
pub const FIRST_AFTER: Duration = Duration::from_secs(60);

/// The pass `config` asks for at `now`.
pub fn plan(config: &AuditConfig, now: UnixTime, dry_run: bool) -> UpkeepPlan {
    UpkeepPlan {
        now,
        period: i64::try_from(config.partition.as_secs()).unwrap_or(86_400),
        ahead: PERIODS_AHEAD,
        older_than: config
            .retention
            .map(|r| now.saturating_sub(i64::try_from(r.as_secs()).unwrap_or(i64::MAX))),
        batch: BATCH,
        dry_run,
    }
}

/// Run `plan`; log and count what it did. `None`: another replica holds
/// the upkeep lock.
pub async fn pass(
    db: &dyn AuditStore,
    plan: &UpkeepPlan,
) -> Result<Option<UpkeepDone>, StoreError> {
    let result = db.audit_upkeep(plan).await;
    match &result {
        Ok(Some(done)) if !plan.dry_run => {
            crate::metrics::audit_upkeep(done, true);
            if done != &UpkeepDone::default() {
                tracing::info!(
                    created = done.created.len(),
                    moved = done.moved,
                    dropped = ?done.dropped,
                    deleted = done.deleted,
                    chains = done.anchors.len(),
                    "audit upkeep"
                );
            }
        }
        Ok(_) => {}
        Err(e) => {
            crate::metrics::audit_upkeep(&UpkeepDone::default(), false);
            tracing::error!(error = %e, "audit upkeep failed; the next pass tries again");
        }
    }
    result
}

/// Partitions only, before the server serves (nothing is pruned at start).
pub async fn at_start(db: &dyn AuditStore, config: &AuditConfig, now: UnixTime) {
    let mut start = plan(config, now, false);
    start.older_than = None;
    let _ = pass(db, &start).await;
}

/// The background upkeep: a pass `FIRST_AFTER` start, then every `EVERY`.
pub async fn run(db: std::sync::Arc<dyn AuditStore>, config: AuditConfig, clock: SharedClock) {
    let first = tokio::time::Instant::now() + FIRST_AFTER;
    let mut tick = tokio::time::interval_at(first, EVERY);
    loop {
        tick.tick().await;
        let _ = pass(&*db, &plan(&config, clock.now(), false)).await;
    }
}

/// What a pass did, for `agent-sts audit prune`: one line per action.
pub fn describe(plan: &UpkeepPlan, done: Option<&UpkeepDone>) -> String {
    let Some(done) = done else {
        return "another replica holds the upkeep lock; nothing done\n".into();
    };
    let verb = |now: &str, dry: &str| if plan.dry_run { dry } else { now }.to_string();
    let mut out = String::new();
    for name in &done.created {
        let _ = writeln!(out, "{} partition {name}", verb("created", "would create"));
    }
    if done.moved > 0 {
        let _ = writeln!(
            out,
            "moved {} records from the default partition",
            done.moved
        );
    }
    match plan.older_than {
        None => out.push_str("retention off: every record is kept\n"),
        Some(cut) => {
            for name in &done.dropped {
                let _ = writeln!(out, "{} partition {name}", verb("dropped", "would drop"));
            }
            if done.deleted > 0 {
                let batches = if plan.dry_run {
                    String::new()
                } else {
                    format!(" in {} batches", done.batches)
                };
                let _ = writeln!(
                    out,
                    "{} {} records{batches}",
                    verb("deleted", "would delete"),
                    done.deleted
                );
            }
            for (chain, seq) in &done.anchors {
                let _ = writeln!(out, "chain {chain}: records 1..{seq} pruned");
            }
            if done.dropped.is_empty() && done.deleted == 0 {
                out.push_str("nothing is older than the retention\n");
            }
            let _ = writeln!(out, "retention: records older than {}", rfc3339(cut));
        }
    }
    out
}
