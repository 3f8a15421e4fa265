//! `agent-sts audit verify`: walk every chain and report the first broken
//! link. A deleted record leaves a gap in `seq` and a `prev_hash` that no
//! longer links; an inserted one repeats a `seq` or breaks the link; an
//! edited one no longer matches its hash (or its columns disagree with the
//! hashed JSON). Truncating a chain's tail leaves no trace inside the
//! chain itself: ship the audit log lines to a SIEM as the outside copy.
//!
//! Retention removes a chain's first records on purpose; it leaves an
//! anchor (`audit_pruned`): the last record it removed, whole. The walk
//! then starts after it, once the anchor itself holds up: the record hashes
//! to the anchor's hash and belongs to the chain at that seq, its time is
//! before the anchor's cut, and that cut is at least the retention before
//! the pruning. So a deletion of records still inside the retention is
//! named, with or without a forged anchor: a forger cannot make a recent
//! record's time old without changing its hash, which the next record's
//! `prev_hash` names.

use super::record::{AuditRecord, GENESIS};
use crate::clock::{UnixTime, rfc3339};
use crate::config::{MIN_AUDIT_RETENTION, Span};
use crate::store::{Anchor, AuditRow, AuditStore, StoreError};

const PAGE: i64 = 5_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub chain: String,
    pub seq: i64,
    /// The row's database id.
    pub id: i64,
    pub problem: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chain {} seq {} (row id {}): {}",
            self.chain, self.seq, self.id, self.problem
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub chains: usize,
    pub records: u64,
    pub broken: Option<Broken>,
    /// Chains whose start retention removed, in chain order.
    pub pruned: Vec<Pruned>,
}

/// `chain`'s records 1..=`through_seq` were pruned by retention at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub chain: String,
    pub through_seq: i64,
    pub at: UnixTime,
}

impl std::fmt::Display for Pruned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chain {}: records 1..{} pruned by retention on {}",
            self.chain,
            self.through_seq,
            rfc3339(self.at)
        )
    }
}

fn check(row: &AuditRow, expected_seq: i64, prev: &str) -> Result<String, String> {
    if row.seq < expected_seq {
        return Err(format!(
            "seq {} appears again (an inserted record)",
            row.seq
        ));
    }
    if row.seq > expected_seq {
        return Err(format!(
            "records {expected_seq}..{} are missing (deleted)",
            row.seq - 1
        ));
    }
    let rec: AuditRecord = serde_json::from_str(&row.record)
        .map_err(|_| "the record is not valid JSON (edited)".to_string())?;
    if rec.compute_hash() != rec.hash || rec.hash != row.hash {
        return Err("the record does not match its hash (edited)".into());
    }
    if rec.prev_hash != prev || row.prev_hash != prev {
        return Err("prev_hash does not link to the record before it (inserted or deleted)".into());
    }
    let decision = rec
        .decision
        .map(|d| d.as_str().to_string())
        .unwrap_or_default();
    if rec.chain != row.chain
        || rec.seq != row.seq
        || rec.reason != row.reason
        || rec.subject != row.subject
        || rec.agent != row.agent
        || decision != row.decision
        || (row.event == "token" && !report_columns_agree(&rec, row))
    {
        return Err("the queryable columns disagree with the hashed record (edited)".into());
    }
    Ok(rec.hash)
}

/// Where the walk of a chain starts: after its anchor once the anchor
/// holds up (see the module comment), else at seq 1.
fn start(anchor: Option<&Anchor>, retention: Span, now: UnixTime) -> Result<(i64, String), String> {
    let Some(a) = anchor else {
        return Ok((1, GENESIS.to_string()));
    };
    let forged = |why: String| Err(format!("the retention anchor {why} (forged or edited)"));
    let Ok(rec) = serde_json::from_str::<AuditRecord>(&a.through_record) else {
        return forged("is not a record".into());
    };
    if rec.compute_hash() != rec.hash
        || rec.hash != a.through_hash
        || rec.chain != a.chain
        || rec.seq != a.through_seq
    {
        return forged("does not match its record".into());
    }
    if a.pruned_at > now {
        return forged(format!("is dated in the future ({})", rfc3339(a.pruned_at)));
    }
    let floor = retention.max(MIN_AUDIT_RETENTION);
    let floor_secs = i64::try_from(floor.as_secs()).unwrap_or(i64::MAX);
    // Same-format RFC 3339 UTC times compare as text.
    if rec.time >= rfc3339(a.older_than) || a.older_than > a.pruned_at.saturating_sub(floor_secs) {
        return forged(format!(
            "claims records newer than the retention of {floor}: the last one is from {}, pruned on {}",
            rec.time,
            rfc3339(a.pruned_at)
        ));
    }
    Ok((a.through_seq + 1, rec.hash))
}

/// Walk every chain. Retention anchors are held to `retention` (the
/// configured `[audit] retention`; at least a day) and to `now`.
pub async fn verify(
    db: &dyn AuditStore,
    retention: Span,
    now: UnixTime,
) -> Result<Report, StoreError> {
    let chains = db.audit_chains().await?;
    let anchors = db.audit_anchors().await?;
    let mut report = Report {
        chains: chains.len(),
        records: 0,
        broken: None,
        pruned: Vec::new(),
    };
    for chain in &chains {
        let anchor = anchors.iter().find(|a| &a.chain == chain);
        let (mut expected, mut prev) = match start(anchor, retention, now) {
            Ok(start) => start,
            Err(problem) => {
                let seq = anchor.map_or(0, |a| a.through_seq);
                report.broken = Some(Broken {
                    chain: chain.clone(),
                    seq,
                    id: 0,
                    problem,
                });
                return Ok(report);
            }
        };
        if let Some(a) = anchor {
            report.pruned.push(Pruned {
                chain: chain.clone(),
                through_seq: a.through_seq,
                at: a.pruned_at,
            });
        }
        // From seq 1 even after an anchor: a record below it is inserted.
        let mut after = 0;
        loop {
            let rows = db.audit_chain_rows(chain, after, PAGE).await?;
            for row in &rows {
                match check(row, expected, &prev) {
                    Ok(hash) => {
                        prev = hash;
                        expected += 1;
                        report.records += 1;
                    }
                    Err(problem) => {
                        report.broken = Some(Broken {
                            chain: chain.clone(),
                            seq: row.seq,
                            id: row.id,
                            problem,
                        });
                        return Ok(report);
                    }
                }
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
            after = expected - 1;
        }
    }
    Ok(report)
}

/// The columns migration 0006 added, which the audit report counts by:
/// filled on every record since, and on token records before it (the only
/// ones the report reads), so those are the ones checked.
fn report_columns_agree(rec: &AuditRecord, row: &AuditRow) -> bool {
    rec.pattern == row.pattern
        && rec.idp == row.idp
        && rec.tenant == row.tenant
        && rec.count.and_then(|c| i64::try_from(c).ok()) == row.count
}
