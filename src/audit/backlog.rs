//! Records that are not awaited and wait for room in the writer's queue:
//! summaries of counted repeats, and introspection records that found the
//! queue busy. One background task turns counts into summary records a
//! chunk at a time and feeds the writer only while its queue is nearly
//! empty, so neither the request that fills a counter nor a `/token`
//! waiting for its own record pays for bookkeeping.
//!
//! Bounded: at most `max` records wait; past that a batch is folded into
//! one record saying how many it stands for; a record is dropped only
//! when even that cannot be kept, and each drop is counted and logged.

use std::collections::{HashMap, VecDeque, hash_map};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::{Notify, mpsc};

use super::{Audit, AuditRecord, Decision, Repeated, Repeats, writer};
use crate::clock::UnixTime;

/// The backlog is fed to the writer only while fewer records than this
/// are queued: a `/token` record never waits behind more than this many
/// summaries (the writer commits in queue order).
const FEED_BELOW: usize = 128;
/// Counts turned into summary records at a time, between which the
/// background task yields.
const CHUNK: usize = 256;

type Counts = hash_map::IntoIter<(String, String), Repeats>;

#[derive(Default)]
struct Waiting {
    records: VecDeque<(AuditRecord, UnixTime)>,
    /// Counted repeats still to be summarised: (counts, when counted,
    /// "so far" wording for an early summary).
    counts: VecDeque<(Counts, UnixTime, Option<&'static str>)>,
}

pub(super) struct Backlog {
    waiting: Mutex<Waiting>,
    wake: Notify,
    pub(super) max: usize,
    pub(super) dropped: AtomicU64,
    /// Second of the last "dropped" log line (one a second at most).
    logged_at: AtomicI64,
}

impl Backlog {
    pub(super) fn new(max: usize) -> Self {
        Self {
            waiting: Mutex::new(Waiting::default()),
            wake: Notify::new(),
            max,
            dropped: AtomicU64::new(0),
            logged_at: AtomicI64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        match self.waiting.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        }
    }

    /// Records and counts waiting.
    pub(super) fn len(&self) -> usize {
        let w = self.lock();
        w.records.len() + w.counts.iter().map(|(c, _, _)| c.len()).sum::<usize>()
    }

    /// Keep `record` for the writer, or count it as dropped when full.
    pub(super) fn push(&self, record: AuditRecord, now: UnixTime) {
        let kept = {
            let mut w = self.lock();
            (w.records.len() < self.max).then(|| w.records.push_back((record, now)))
        };
        match kept {
            Some(()) => self.wake.notify_one(),
            None => self.drop_one(now),
        }
    }

    /// Counts to summarise. One batch waits at a time; another arriving
    /// meanwhile is folded into a single record of its totals.
    pub(super) fn push_counts(
        &self,
        counts: HashMap<(String, String), Repeats>,
        now: UnixTime,
        when: Option<&'static str>,
    ) {
        // Keys never repeated are skipped as the batch is read, not here:
        // this runs on the request that filled the counter.
        if counts.is_empty() {
            return;
        }
        let mut w = self.lock();
        if w.counts.is_empty() {
            w.counts.push_back((counts.into_iter(), now, when));
        } else {
            let folded = folded(&counts);
            crate::metrics::audit_folded(counts.values().filter(|r| r.count > 0).count());
            w.records.push_back((folded, now));
        }
        drop(w);
        self.wake.notify_one();
    }

    /// A record that could not be kept: counted, logged once a second.
    fn drop_one(&self, now: UnixTime) {
        let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        crate::metrics::audit_dropped();
        if self.logged_at.swap(now, Ordering::Relaxed) != now {
            tracing::error!(
                dropped_in_all = total,
                "audit records are being dropped: the queue and its backlog are full"
            );
        }
    }

    /// The next record to write: a waiting one, else the next chunk of
    /// counts made into summaries (outside the lock).
    fn next(&self) -> Option<(AuditRecord, UnixTime)> {
        loop {
            let (chunk, at, when) = {
                let mut w = self.lock();
                if let Some(r) = w.records.pop_front() {
                    return Some(r);
                }
                let (counts, at, when) = w.counts.front_mut()?;
                let chunk: Vec<_> = counts.by_ref().take(CHUNK).collect();
                let (at, when) = (*at, *when);
                if counts.len() == 0 {
                    w.counts.pop_front();
                }
                (chunk, at, when)
            };
            let made: Vec<_> = chunk
                .into_iter()
                .filter(|(_, r)| r.count > 0)
                .map(|(key, r)| (summary(key, r, when), at))
                .collect();
            self.lock().records.extend(made);
        }
    }

    /// Feed the writer while its queue is nearly empty, until the process
    /// stops.
    pub(super) async fn run(self: std::sync::Arc<Self>, tx: mpsc::Sender<writer::Job>) {
        let below = FEED_BELOW.min(tx.max_capacity() / 2).max(1);
        loop {
            let Some((record, at)) = self.next() else {
                self.wake.notified().await;
                continue;
            };
            while tx.max_capacity() - tx.capacity() >= below {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            if tx.send(Audit::job(record, at, None)).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Shutdown: everything still waiting into the queue, as fast as the
    /// writer takes it (the caller bounds the time).
    pub(super) async fn drain(&self, tx: &mpsc::Sender<writer::Job>) {
        while let Some((record, at)) = self.next() {
            if tx.send(Audit::job(record, at, None)).await.is_err() {
                return;
            }
        }
    }

    /// Everything waiting, summaries made (tests: no task runs there).
    #[cfg(test)]
    pub(super) fn take_all(&self) -> Vec<AuditRecord> {
        std::iter::from_fn(|| self.next()).map(|(r, _)| r).collect()
    }
}

/// One record of a batch of counts that could not wait: how many pairs
/// and repeats it stands for.
fn folded(counts: &HashMap<(String, String), Repeats>) -> AuditRecord {
    let total: u64 = counts.values().map(|r| r.count).sum();
    let keys = counts.values().filter(|r| r.count > 0).count();
    let first = counts.values().next();
    AuditRecord {
        event: first.and_then(|r| r.event),
        decision: Some(Decision::Allow),
        reason: "active".into(),
        detail: format!(
            "{total} further answers for {keys} keys, summarised together: the audit backlog \
             was still writing the previous summaries"
        ),
        count: Some(total),
        ..AuditRecord::default()
    }
}

/// The summary of one key's counted repeats.
fn summary((first, second): (String, String), r: Repeats, when: Option<&str>) -> AuditRecord {
    let count = r.count;
    let (what, ends) = match r.kind {
        Repeated::ActiveAnswers => ("active answers to this caller", "until the token expired"),
        Repeated::RateLimited { .. } => (
            "refusals over the rate limit",
            "in the minute after the first",
        ),
        Repeated::Unauthenticated => (
            "refusals like it before client authentication from this address",
            "in the minute after the first",
        ),
    };
    let mut summary = AuditRecord {
        event: r.event,
        subject: r.subject,
        agent: r.agent,
        expires_at: r.expires_at,
        detail: format!("{count} further {what}, {}", when.unwrap_or(ends)),
        count: Some(count),
        ..AuditRecord::default()
    };
    match r.kind {
        Repeated::ActiveAnswers => {
            summary.decision = Some(Decision::Allow);
            summary.reason = "active".into();
            summary.jti = Some(first);
            summary.client_id = Some(second);
        }
        Repeated::Unauthenticated => {
            summary.decision = Some(Decision::Deny);
            summary.reason = first
                .strip_prefix("unauthenticated:")
                .unwrap_or_default()
                .to_string();
            summary.client_ip = Some(second);
        }
        Repeated::RateLimited { per_ip } => {
            summary.decision = Some(Decision::Deny);
            summary.reason = crate::reason::Reason::RateLimited.as_str().into();
            // A summary spans many requests: an address only when it is
            // what was counted.
            if per_ip {
                summary.client_ip = Some(second);
            } else {
                summary.client_id = Some(second);
            }
        }
    }
    summary
}
