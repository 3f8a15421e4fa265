//! `agent-sts audit verify`: walk every chain and report the first broken
//! link. A deleted record leaves a gap in `seq` and a `prev_hash` that no
//! longer links; an inserted one repeats a `seq` or breaks the link; an
//! edited one no longer matches its hash (or its columns disagree with the
//! hashed JSON). Truncating a chain's tail leaves no trace inside the
//! chain itself: ship the audit log lines to a SIEM as the outside copy.

use super::record::{AuditRecord, GENESIS};
use crate::store::{AuditRow, AuditStore, StoreError};

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

pub async fn verify(db: &dyn AuditStore) -> Result<Report, StoreError> {
    let chains = db.audit_chains().await?;
    let mut records = 0u64;
    for chain in &chains {
        let (mut expected, mut prev) = (1i64, GENESIS.to_string());
        loop {
            let rows = db.audit_chain_rows(chain, expected - 1, PAGE).await?;
            for row in &rows {
                match check(row, expected, &prev) {
                    Ok(hash) => {
                        prev = hash;
                        expected += 1;
                        records += 1;
                    }
                    Err(problem) => {
                        return Ok(Report {
                            chains: chains.len(),
                            records,
                            broken: Some(Broken {
                                chain: chain.clone(),
                                seq: row.seq,
                                id: row.id,
                                problem,
                            }),
                        });
                    }
                }
            }
            if (rows.len() as i64) < PAGE {
                break;
            }
        }
    }
    Ok(Report {
        chains: chains.len(),
        records,
        broken: None,
    })
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
