//! Group commit: handlers enqueue records; one writer task takes whatever
//! is queued (up to a batch), links and seals each into this process's
//! chain, stores the batch in one transaction, then answers every waiter.
//! A `/token` response waits for its record's commit, so a token is never
//! issued without a durable record; throughput comes from many records per
//! commit, not from skipping durability.
//!
//! Why one chain per writer: several replicas write at once, and a single
//! global chain would need a cross-replica lock per record. Each process
//! appends to its own chain (`<replica id>.<n>`), contiguous from seq 1, so
//! `audit verify` checks every chain independently. A failed commit may or
//! may not have landed, so the writer then starts a fresh chain (`n + 1`)
//! rather than guess which sequence number comes next.

use tokio::sync::{mpsc, oneshot};

use super::record::{AuditRecord, GENESIS};
use std::sync::Arc;

use crate::store::{AuditRow, AuditStore};

const BATCH: usize = 256;

pub struct Job {
    /// `None`: a flush marker, answered once everything before it is done.
    pub record: Option<AuditRecord>,
    pub at: i64,
    /// `Some` for callers that wait for durability.
    pub done: Option<oneshot::Sender<bool>>,
}

struct Chain {
    replica: String,
    n: u32,
    seq: i64,
    prev: String,
}

impl Chain {
    fn name(&self) -> String {
        format!("{}.{}", self.replica, self.n)
    }

    fn restart(&mut self) {
        self.n += 1;
        self.seq = 0;
        self.prev = GENESIS.to_string();
    }
}

fn row(r: &AuditRecord, at: i64, record: String) -> AuditRow {
    AuditRow {
        id: 0,
        chain: r.chain.clone(),
        seq: r.seq,
        at,
        event: r
            .event
            .map(|e| format!("{e:?}").to_lowercase())
            .unwrap_or_default(),
        decision: r
            .decision
            .map(|d| d.as_str().to_string())
            .unwrap_or_default(),
        reason: r.reason.clone(),
        subject: r.subject.clone(),
        agent: r.agent.clone(),
        pattern: r.pattern.clone(),
        idp: r.idp.clone(),
        tenant: r.tenant.clone(),
        count: r.count.and_then(|c| i64::try_from(c).ok()),
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
        record,
    }
}

/// Run until every sender is gone (shutdown flushes what is queued).
pub async fn run(mut rx: mpsc::Receiver<Job>, db: Arc<dyn AuditStore>, replica: String) {
    let mut chain = Chain {
        replica,
        n: 1,
        seq: 0,
        prev: GENESIS.to_string(),
    };
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let name = chain.name();
        let (mut seq, mut prev) = (chain.seq, chain.prev.clone());
        let mut rows = Vec::with_capacity(batch.len());
        for job in &mut batch {
            let Some(record) = &mut job.record else {
                continue;
            };
            seq += 1;
            let json = record.seal(&name, seq, &prev);
            prev = record.hash.clone();
            rows.push(row(record, job.at, json));
        }
        // A batch of flush markers only has nothing to commit (or to time).
        let result = if rows.is_empty() {
            Ok(())
        } else {
            let started = std::time::Instant::now();
            let result = db.insert_audit(&rows).await;
            crate::metrics::audit_commit(started.elapsed(), result.is_ok());
            result
        };
        let ok = match result {
            Ok(()) => {
                chain.seq = seq;
                chain.prev = prev;
                super::log::write(rows.iter().map(|r| (r.at, r.record.as_str())));
                true
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "audit commit failed; those decisions are refused");
                chain.restart();
                false
            }
        };
        for job in batch.drain(..) {
            if let Some(done) = job.done {
                let _ = done.send(ok);
            }
        }
    }
}
