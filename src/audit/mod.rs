//! Audit: one hash-chained record per decision on `/token`, `/introspect`,
//! `/revoke` and the admin API, made durable in the database by group
//! commit (see `writer`) and written as a JSON line on the log (target
//! `audit`, see `log`). No token, secret or
//! assertion ever appears in a record: only `jti`s, ids and hashes.

pub mod log;
pub mod record;
pub mod verify;
mod writer;

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

pub use record::{AuditRecord, Decision, Event};

use crate::clock::{UnixTime, rfc3339};
use crate::config::{AuditConfig, IntrospectionAudit};
use crate::store::Database;

/// The tracing target of audit lines, for routing them to a SIEM.
pub const LOG_TARGET: &str = "audit";

struct Repeats {
    subject: Option<String>,
    agent: Option<String>,
    count: u64,
    exp: UnixTime,
}

/// The record could not be made durable: the decision must not stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditUnavailable;

pub struct Audit {
    tx: Option<mpsc::Sender<writer::Job>>,
    introspection: IntrospectionAudit,
    /// (jti, caller) → the first record's subject and agent, further
    /// allows, token exp (`first` mode).
    repeats: Mutex<HashMap<(String, String), Repeats>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("enabled", &self.tx.is_some())
            .finish_non_exhaustive()
    }
}

impl Audit {
    /// Start the writer for `replica`'s chains. `insecure_disable` (start-dev
    /// benchmarks only) records nothing.
    pub fn start(db: Database, replica: &str, config: &AuditConfig) -> Self {
        let tx = if config.insecure_disable {
            None
        } else {
            let (tx, rx) = mpsc::channel(config.queue);
            tokio::spawn(writer::run(rx, db, replica.to_string()));
            Some(tx)
        };
        Self {
            tx,
            introspection: config.introspection,
            repeats: Mutex::new(HashMap::new()),
        }
    }

    fn job(
        mut record: AuditRecord,
        now: UnixTime,
        done: Option<oneshot::Sender<bool>>,
    ) -> writer::Job {
        record.time = rfc3339(now);
        writer::Job {
            record,
            at: now,
            done,
        }
    }

    /// Enqueue and wait until the record is committed. A full queue or a
    /// failed commit is `AuditUnavailable`: fail closed.
    pub async fn durable(
        &self,
        record: AuditRecord,
        now: UnixTime,
    ) -> Result<(), AuditUnavailable> {
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        let (done, committed) = oneshot::channel();
        tx.try_send(Self::job(record, now, Some(done)))
            .map_err(|_| AuditUnavailable)?;
        match committed.await {
            Ok(true) => Ok(()),
            _ => Err(AuditUnavailable),
        }
    }

    /// Enqueue without waiting (introspection: the answer grants nothing).
    /// A full queue drops the record and says so on the log.
    pub fn record(&self, record: AuditRecord, now: UnixTime) {
        if let Some(tx) = &self.tx
            && tx.try_send(Self::job(record, now, None)).is_err()
        {
            tracing::error!("audit queue full: an introspection record was dropped");
        }
    }

    /// Introspection in `first` mode: record an active answer only the
    /// first time for this token and caller; later ones are counted and
    /// summarised when the token expires (`flush_repeats`).
    pub fn introspection_allow(
        &self,
        record: AuditRecord,
        jti: &str,
        caller: &str,
        exp: UnixTime,
        now: UnixTime,
    ) {
        if self.introspection == IntrospectionAudit::First
            && let Ok(mut repeats) = self.repeats.lock()
        {
            let key = (jti.to_string(), caller.to_string());
            if let Some(entry) = repeats.get_mut(&key) {
                entry.count += 1;
                return;
            }
            let first = Repeats {
                subject: record.subject.clone(),
                agent: record.agent.clone(),
                count: 0,
                exp,
            };
            repeats.insert(key, first);
        }
        self.record(record, now);
    }

    /// Summaries of repeated active answers for tokens that have expired.
    pub fn flush_repeats(&self, now: UnixTime) {
        let expired: Vec<((String, String), Repeats)> = match self.repeats.lock() {
            Ok(mut repeats) => {
                let keys: Vec<_> = repeats
                    .iter()
                    .filter(|(_, r)| r.exp <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.into_iter()
                    .filter_map(|k| repeats.remove_entry(&k))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for ((jti, caller), r) in expired {
            let (count, exp) = (r.count, r.exp);
            if count == 0 {
                continue;
            }
            self.record(
                AuditRecord {
                    event: Some(Event::Introspect),
                    decision: Some(Decision::Allow),
                    reason: "active".into(),
                    detail: format!(
                        "{count} further active answers to this caller, until the token expired"
                    ),
                    client_id: Some(caller),
                    subject: r.subject,
                    agent: r.agent,
                    jti: Some(jti),
                    expires_at: Some(exp),
                    count: Some(count),
                    ..AuditRecord::default()
                },
                now,
            );
        }
    }
}

/// The values `decision` may be filtered by.
pub const DECISIONS: [&str; 3] = ["allow", "deny", "would_deny"];

/// `audit query` and `GET /admin/audit`: records matching `filter`, and the
/// cursor for the next page (`None` on the last one).
pub async fn query(
    db: &Database,
    mut filter: crate::store::AuditFilter,
) -> Result<(Vec<serde_json::Value>, Option<i64>), crate::store::StoreError> {
    filter.limit = filter.limit.clamp(1, 1_000);
    let rows = db.audit_query(&filter).await?;
    let next = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let records = rows
        .iter()
        .map(|r| {
            let mut v: serde_json::Value = serde_json::from_str(&r.record).unwrap_or_default();
            v["id"] = serde_json::json!(r.id);
            v
        })
        .collect();
    Ok((records, next))
}
