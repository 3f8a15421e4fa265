//! Audit: one hash-chained record per decision on `/token`, `/introspect`,
//! `/revoke` and the admin API, made durable in the database by group
//! commit (see `writer`) and written as a JSON line on the log (target
//! `audit`, see `log`). No token, secret or
//! assertion ever appears in a record: only `jti`s, ids and hashes.

mod backlog;
mod facts;
pub mod log;
pub mod record;
pub mod report;
pub mod retention;
pub mod verify;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

pub use facts::{Facts, RequestContext, Verdict};
pub use record::{AuditRecord, Decision, Event};

use crate::clock::{UnixTime, rfc3339};
use crate::config::{AuditConfig, IntrospectionAudit};
use crate::store::AuditStore;

/// The tracing target of audit lines, for routing them to a SIEM.
pub const LOG_TARGET: &str = "audit";

/// How full the queue may be before introspection records that are not
/// awaited go to the background backlog: the other half is kept for
/// `/token`, whose records are awaited.
const BACKGROUND_SHARE: usize = 2;

/// A record's first occurrence was written; the same ones since are
/// counted, and summarised in one record at `until`.
/// Kept small (it is held per key, up to `MAX_REPEATS`): the key carries
/// the rest of the summary.
struct Repeats {
    kind: Repeated,
    event: Option<Event>,
    subject: Option<String>,
    agent: Option<String>,
    expires_at: Option<UnixTime>,
    count: u64,
    until: UnixTime,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeated {
    /// Key (jti, caller).
    ActiveAnswers,
    /// Key (`rate_limited:client`, client id) or (`rate_limited:address`, address).
    RateLimited { per_ip: bool },
    /// Key (`unauthenticated:<reason>`, address): refusals before any client
    /// authenticated.
    Unauthenticated,
}

/// How long rate-limit refusals of one key are counted before a summary.
pub const RATE_LIMITED_WINDOW: i64 = 60;

/// The record could not be made durable: the decision must not stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditUnavailable;

pub struct Audit {
    tx: Option<mpsc::Sender<writer::Job>>,
    introspection: IntrospectionAudit,
    /// (jti, caller) of active answers (`first` mode), (limit, who) of
    /// rate-limit refusals → the summary-to-be and the count.
    repeats: Mutex<HashMap<(String, String), Repeats>>,
    /// `[audit] counted_pairs` (~250 bytes each). When full, every count is
    /// summarised early and counting starts afresh: memory stays bounded,
    /// and the trail gains records rather than losing any.
    max_repeats: usize,
    /// Records that need not be awaited and wait for room in the queue:
    /// summaries, and records that found it full. Fed to the writer in the
    /// background ([`Background::run`]).
    background: Arc<backlog::Backlog>,
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
    pub fn start(db: Arc<dyn AuditStore>, replica: &str, config: &AuditConfig) -> Self {
        let background = Arc::new(backlog::Backlog::new(
            config.counted_pairs.max(config.queue),
        ));
        let tx = if config.insecure_disable {
            None
        } else {
            let (tx, rx) = mpsc::channel(config.queue);
            tokio::spawn(writer::run(rx, db, replica.to_string()));
            tokio::spawn(Arc::clone(&background).run(tx.clone()));
            Some(tx)
        };
        Self {
            tx,
            introspection: config.introspection,
            repeats: Mutex::new(HashMap::new()),
            max_repeats: config.counted_pairs.max(1),
            background,
        }
    }

    fn job(
        mut record: AuditRecord,
        now: UnixTime,
        done: Option<oneshot::Sender<bool>>,
    ) -> writer::Job {
        record.time = rfc3339(now);
        writer::Job {
            record: Some(record.bounded()),
            at: now,
            done,
        }
    }

    /// Records waiting for the writer: in its queue, and in the background
    /// backlog waiting for room in it.
    pub fn queue_depth(&self) -> (usize, usize) {
        let queued = self
            .tx
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity());
        (queued, self.background.len())
    }

    /// Records dropped since start (0 unless the backlog overflowed).
    pub fn dropped(&self) -> u64 {
        self.background.dropped.load(Ordering::Relaxed)
    }

    /// Wait (at most `bound`) until every record enqueued before this call
    /// is committed or has failed: shutdown's last step before the pools close.
    pub async fn flush(&self, bound: std::time::Duration) -> bool {
        let Some(tx) = &self.tx else {
            return true;
        };
        let backlog = tokio::time::timeout(bound, self.background.drain(tx));
        if backlog.await.is_err() {
            return false;
        }
        let (done, flushed) = oneshot::channel();
        let marker = writer::Job {
            record: None,
            at: 0,
            done: Some(done),
        };
        let sent = tokio::time::timeout(bound, async {
            tx.send(marker).await.is_ok() && flushed.await.is_ok()
        });
        sent.await.unwrap_or(false)
    }

    /// Enqueue and wait until the record is committed. A full queue or a
    /// failed commit is `AuditUnavailable`: fail closed. The decision is
    /// counted in `/metrics` once its answer is final: an allow whose
    /// record could not be committed was answered 503, and counts as a
    /// denial (`audit_unavailable`).
    pub async fn durable(
        &self,
        record: AuditRecord,
        now: UnixTime,
    ) -> Result<(), AuditUnavailable> {
        let counted = AuditRecord {
            event: record.event,
            decision: record.decision,
            reason: record.reason.clone(),
            ..AuditRecord::default()
        };
        let result = self.commit(record, now).await;
        count(&answered(counted, result.is_ok()));
        result
    }

    async fn commit(&self, record: AuditRecord, now: UnixTime) -> Result<(), AuditUnavailable> {
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
    /// A full queue sends the record to the background backlog, which
    /// writes it when there is room.
    pub fn record(&self, record: AuditRecord, now: UnixTime) {
        if record.count.is_none() {
            count(&record);
        }
        let Some(tx) = &self.tx else { return };
        // Only the non-awaited share of the queue: the rest is /token's.
        if tx.capacity() >= tx.max_capacity() / BACKGROUND_SHARE {
            match tx.try_send(Self::job(record, now, None)) {
                Ok(()) => {}
                Err(
                    mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job),
                ) => {
                    if let Some(r) = job.record {
                        self.background.push(r, now);
                    }
                }
            }
            return;
        }
        self.background.push(record, now);
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
        if self.introspection == IntrospectionAudit::First {
            let key = (jti.to_string(), caller.to_string());
            if self.first_of_repeats(&record, key, Repeated::ActiveAnswers, exp, now) {
                self.record(record, now);
            }
        } else {
            self.record(record, now);
        }
    }

    /// A rate-limit refusal (decision and reason already set): the first
    /// for its client (or, refused before authentication, its address) is
    /// written, then one summary a minute, so a retry storm costs the
    /// database nothing per request.
    pub fn rate_limited(&self, record: AuditRecord, now: UnixTime) {
        let (per_ip, who) = match (&record.client_id, &record.client_ip) {
            (Some(client), _) => (false, client.clone()),
            (None, ip) => (true, ip.clone().unwrap_or_default()),
        };
        let side = if per_ip { "address" } else { "client" };
        let key = (format!("rate_limited:{side}"), who);
        let kind = Repeated::RateLimited { per_ip };
        if self.first_of_repeats(&record, key, kind, now + RATE_LIMITED_WINDOW, now) {
            self.record(record, now);
        }
    }

    /// A decision of `/token`, `/revoke` or the admin API: an allow is
    /// committed before its answer stands (`Err` when it could not be:
    /// the caller answers 503 and issues nothing); a refusal stands without
    /// its record, and refusals that come in floods are counted after the
    /// first ([`Self::refusal`]).
    pub async fn decided(
        &self,
        record: AuditRecord,
        now: UnixTime,
    ) -> Result<(), AuditUnavailable> {
        let refused = record.decision == Some(Decision::Deny);
        let record = if refused {
            match self.refusal(record, now) {
                Some(first) => first,
                None => return Ok(()),
            }
        } else {
            record
        };
        match self.durable(record, now).await {
            // The writer has already logged the failed commit at error level.
            Err(_) if refused => Ok(()),
            result => result,
        }
    }

    /// A refusal not awaited (introspection: it grants nothing): written,
    /// or counted when it is one of a flood.
    pub fn refused(&self, record: AuditRecord, now: UnixTime) {
        if let Some(record) = self.refusal(record, now) {
            self.record(record, now);
        }
    }

    /// A refusal's record (decision and reason set), unless it is one of
    /// many and counted instead: over a rate limit ([`Self::rate_limited`]),
    /// or before any client authenticated ([`Self::unauthenticated`]).
    /// Returns the record to write, if any.
    pub fn refusal(&self, record: AuditRecord, now: UnixTime) -> Option<AuditRecord> {
        if record.reason == crate::reason::Reason::RateLimited.as_str() {
            self.rate_limited(record, now);
            return None;
        }
        if record.client_id.is_none() {
            return self.unauthenticated(record, now);
        }
        Some(record)
    }

    /// A refusal before any client authenticated (`client_id` empty): the
    /// first per address and reason in a minute is returned, to be written
    /// as usual; the rest are counted into one summary record. An anonymous
    /// flood therefore writes a bounded number of rows a minute whatever
    /// its rate.
    fn unauthenticated(&self, record: AuditRecord, now: UnixTime) -> Option<AuditRecord> {
        let who = record.client_ip.clone().unwrap_or_default();
        let key = (format!("unauthenticated:{}", record.reason), who);
        let until = now + RATE_LIMITED_WINDOW;
        self.first_of_repeats(&record, key, Repeated::Unauthenticated, until, now)
            .then_some(record)
    }

    /// Count `record` under `key`; true when it is the first (the caller
    /// writes it).
    fn first_of_repeats(
        &self,
        record: &AuditRecord,
        key: (String, String),
        kind: Repeated,
        until: UnixTime,
        now: UnixTime,
    ) -> bool {
        let mut full = HashMap::new();
        if let Ok(mut repeats) = self.repeats.lock() {
            if let Some(entry) = repeats.get_mut(&key) {
                entry.count += 1;
                count(record);
                return false;
            }
            if repeats.len() >= self.max_repeats {
                full = std::mem::take(&mut *repeats);
            }
            let first = Repeats {
                kind,
                event: record.event,
                subject: record.subject.clone(),
                agent: record.agent.clone(),
                expires_at: record.expires_at,
                count: 0,
                until,
            };
            repeats.insert(key, first);
        }
        self.summarise(
            full,
            now,
            Some("so far (summarised early: the counter was full)"),
        );
        true
    }

    /// Summaries of counts whose time has come (tokens expired, rate-limit
    /// windows over).
    pub fn flush_repeats(&self, now: UnixTime) {
        let expired = match self.repeats.lock() {
            Ok(mut repeats) => repeats.extract_if(|_, r| r.until <= now).collect(),
            Err(_) => HashMap::new(),
        };
        self.summarise(expired, now, None);
    }

    /// One record per key with further occurrences, made and written in
    /// the background: a full counter's 100,000 summaries cost the request
    /// that filled it nothing.
    fn summarise(
        &self,
        counted: HashMap<(String, String), Repeats>,
        now: UnixTime,
        when: Option<&'static str>,
    ) {
        self.background.push_counts(counted, now, when);
    }
}

/// Count a decision in `/metrics`.
fn count(record: &AuditRecord) {
    crate::metrics::decision(
        record.event.map_or("none", Event::as_str),
        record.decision.map_or("none", Decision::as_str),
        &record.reason,
    );
}

/// What a decision was as answered: an allow (or report-only allow) whose
/// record could not be committed was refused `503 audit_unavailable`.
fn answered(mut decided: AuditRecord, committed: bool) -> AuditRecord {
    if !committed && decided.decision != Some(Decision::Deny) {
        decided.decision = Some(Decision::Deny);
        decided.reason = crate::reason::Reason::AuditUnavailable.as_str().into();
    }
    decided
}

/// The values `decision` may be filtered by.
pub const DECISIONS: [&str; 3] = ["allow", "deny", "would_deny"];

/// `audit query` and `GET /admin/audit`: records matching `filter`, and the
/// cursor for the next page (`None` on the last one).
pub async fn query(
    db: &dyn AuditStore,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allow_answered_503_is_counted_as_the_denial_it_was() {
        let decided = |d: Decision, reason: &str| AuditRecord {
            event: Some(Event::Token),
            decision: Some(d),
            reason: reason.into(),
            ..AuditRecord::default()
        };
        let counted = |r: AuditRecord| (r.decision, r.reason);
        let cases = [
            (
                decided(Decision::Allow, "granted"),
                true,
                (Some(Decision::Allow), "granted"),
            ),
            (
                decided(Decision::Allow, "granted"),
                false,
                (Some(Decision::Deny), "audit_unavailable"),
            ),
            (
                decided(Decision::WouldDeny, "missing_group"),
                false,
                (Some(Decision::Deny), "audit_unavailable"),
            ),
            (
                decided(Decision::Deny, "bad_request"),
                false,
                (Some(Decision::Deny), "bad_request"),
            ),
        ];
        for (record, committed, (decision, reason)) in cases {
            assert_eq!(
                counted(answered(record, committed)),
                (decision, reason.to_string())
            );
        }
    }

    fn first_mode(max_repeats: usize) -> (Audit, mpsc::Receiver<writer::Job>) {
        let (tx, rx) = mpsc::channel(100);
        let audit = Audit {
            tx: Some(tx),
            introspection: IntrospectionAudit::First,
            repeats: Mutex::new(HashMap::new()),
            max_repeats,
            background: Arc::new(backlog::Backlog::new(1_000)),
        };
        (audit, rx)
    }

    fn active(jti: &str) -> AuditRecord {
        AuditRecord {
            event: Some(Event::Introspect),
            decision: Some(Decision::Allow),
            reason: "active".into(),
            subject: Some("00u1".into()),
            jti: Some(jti.into()),
            ..AuditRecord::default()
        }
    }

    /// What reached the writer, the background backlog (summaries) first:
    /// no background task runs in these tests.
    fn written(audit: &Audit, rx: &mut mpsc::Receiver<writer::Job>) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = audit.background.take_all();
        out.extend(std::iter::from_fn(|| {
            rx.try_recv().ok().and_then(|j| j.record)
        }));
        out
    }

    #[test]
    fn a_full_repeat_counter_summarises_early_and_counts_afresh() {
        let (audit, mut rx) = first_mode(2);
        audit.introspection_allow(active("t1"), "t1", "gw", 1_000, 10);
        audit.introspection_allow(active("t1"), "t1", "gw", 1_000, 11);
        audit.introspection_allow(active("t2"), "t2", "gw", 1_000, 12);
        let firsts = written(&audit, &mut rx);
        assert_eq!(firsts.len(), 2, "first answers only: {firsts:?}");

        audit.introspection_allow(active("t3"), "t3", "gw", 1_000, 13);
        let records = written(&audit, &mut rx);
        assert_eq!(records.len(), 2, "{records:?}");
        let summary = &records[0];
        assert_eq!(summary.jti.as_deref(), Some("t1"));
        assert_eq!(summary.count, Some(1));
        assert_eq!(
            summary.detail,
            "1 further active answers to this caller, so far (summarised early: the counter was full)"
        );
        assert_eq!(records[1].jti.as_deref(), Some("t3"));
        assert_eq!(records[1].count, None);
        assert_eq!(audit.repeats.lock().unwrap().len(), 1, "bounded");

        // t1 is recorded anew, as a first answer: records are added, never lost.
        audit.introspection_allow(active("t1"), "t1", "gw", 1_000, 14);
        let again = written(&audit, &mut rx);
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].jti.as_deref(), again[0].count),
            (Some("t1"), None)
        );
    }

    #[test]
    fn counts_are_summarised_when_the_token_expires() {
        let (audit, mut rx) = first_mode(10);
        audit.introspection_allow(active("t1"), "t1", "gw", 100, 10);
        audit.introspection_allow(active("t1"), "t1", "gw", 100, 11);
        audit.introspection_allow(active("t1"), "t1", "gw", 100, 12);
        audit.introspection_allow(active("t2"), "t2", "gw", 500, 12);
        audit.introspection_allow(active("t2"), "t2", "gw", 500, 13);
        assert_eq!(written(&audit, &mut rx).len(), 2);
        audit.flush_repeats(100);
        let records = written(&audit, &mut rx);
        assert_eq!(records.len(), 1, "t2 has not expired: {records:?}");
        assert_eq!(records[0].jti.as_deref(), Some("t1"));
        assert_eq!(records[0].count, Some(2));
        assert_eq!(
            records[0].detail,
            "2 further active answers to this caller, until the token expired"
        );
    }
}
