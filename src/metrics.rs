//! `GET /metrics`: Prometheus text from the `metrics` facade and
//! `metrics-exporter-prometheus`. Every label value comes from a fixed
//! set (route paths, status codes, reason codes, configured upstream
//! names): never a token, subject, client id or address.
//!
//! The recorder is process-wide (one per process, as Prometheus expects),
//! installed on first use.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Seconds, from 1 ms: pub/sub lag is measured from the publication in
/// microseconds (the poll path from the whole-second `revoked_at`).
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the recorder (once per process). `None` if another recorder
/// was installed first (an embedding program's own).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(REVOCATION_LAG.into()), LAG_BUCKETS)
                });
            match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(handle)) => {
                    describe();
                    Some(handle)
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics is empty");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics buckets refused; /metrics is empty");
                    None
                }
            }
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets. The
/// exporter keeps raw samples until then: without upkeep they pile up
/// (every request records one) when nobody scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Fold pending histogram samples into buckets (the server runs this every
/// `UPKEEP_EVERY`; rendering does it too).
pub fn upkeep() {
    if let Some(h) = handle() {
        h.run_upkeep();
    }
}

pub const REQUESTS: &str = "agent_sts_http_requests_total";
pub const REQUEST_SECONDS: &str = "agent_sts_http_request_duration_seconds";
pub const DECISIONS: &str = "agent_sts_decisions_total";
pub const RATE_LIMITED: &str = "agent_sts_rate_limited_total";
pub const RATE_LIMIT_FALLBACK: &str = "agent_sts_rate_limit_local_fallback_total";
pub const SHED: &str = "agent_sts_load_shed_total";
pub const TIMEOUTS: &str = "agent_sts_request_timeouts_total";
pub const IN_FLIGHT: &str = "agent_sts_requests_in_flight";
pub const KEY_REFRESHES: &str = "agent_sts_upstream_key_refreshes_total";
pub const AUDIT_QUEUE: &str = "agent_sts_audit_queue_depth";
pub const AUDIT_COMMIT_SECONDS: &str = "agent_sts_audit_commit_duration_seconds";
pub const AUDIT_COMMIT_FAILURES: &str = "agent_sts_audit_commit_failures_total";
pub const REVOCATION_LAG: &str = "agent_sts_revocation_propagation_lag_seconds";
pub const REVOCATION_VIEW_AGE: &str = "agent_sts_revocation_view_age_seconds";
pub const RELOADS: &str = "agent_sts_config_reloads_total";
pub const READY_CHECK: &str = "agent_sts_ready_check";
pub const DISCOVERY_REFUSED: &str = "agent_sts_upstream_discovery_refused_total";
pub const AUDIT_BACKLOG: &str = "agent_sts_audit_backlog";
pub const AUDIT_DROPPED: &str = "agent_sts_audit_dropped_total";
pub const AUDIT_FOLDED: &str = "agent_sts_audit_folded_total";
pub const BREAK_GLASS_OPEN: &str = "agent_sts_break_glass_windows_open";
pub const AUDIT_PARTITIONS_CREATED: &str = "agent_sts_audit_partitions_created_total";
pub const AUDIT_PARTITIONS_DROPPED: &str = "agent_sts_audit_partitions_dropped_total";
pub const AUDIT_PRUNED: &str = "agent_sts_audit_records_pruned_total";
pub const AUDIT_UPKEEP_FAILURES: &str = "agent_sts_audit_upkeep_failures_total";

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "HTTP requests by endpoint (route path) and status code"
    );
    describe_histogram!(REQUEST_SECONDS, "HTTP request latency by endpoint");
    describe_counter!(
        DECISIONS,
        "Decisions by event (token, introspect, revoke, admin), decision and reason code"
    );
    describe_counter!(RATE_LIMITED, "Requests refused with 429, by limit");
    describe_counter!(
        RATE_LIMIT_FALLBACK,
        "Per-agent limits checked locally because Redis did not answer"
    );
    describe_counter!(
        SHED,
        "Requests refused with 503 because max_in_flight was reached"
    );
    describe_counter!(
        TIMEOUTS,
        "Requests answered 503 after server.request_timeout"
    );
    describe_gauge!(IN_FLIGHT, "Requests being served");
    describe_counter!(
        KEY_REFRESHES,
        "Upstream discovery/JWKS fetches by upstream and result (ok, failed)"
    );
    describe_gauge!(AUDIT_QUEUE, "Audit records waiting for commit");
    describe_histogram!(
        AUDIT_COMMIT_SECONDS,
        "Time to commit one batch of audit records"
    );
    describe_counter!(AUDIT_COMMIT_FAILURES, "Audit batches that failed to commit");
    describe_histogram!(
        REVOCATION_LAG,
        "Time from a revocation to this replica applying it, by path (pubsub, poll)"
    );
    describe_gauge!(
        REVOCATION_VIEW_AGE,
        "Seconds since the revocation view was last confirmed current"
    );
    describe_counter!(RELOADS, "SIGHUP configuration reloads by result");
    describe_gauge!(
        AUDIT_BACKLOG,
        "Audit records (summaries, records that found the queue full) waiting for room in the queue"
    );
    describe_counter!(
        AUDIT_DROPPED,
        "Audit records dropped because the queue and its backlog were full (alert on any)"
    );
    describe_counter!(
        AUDIT_FOLDED,
        "Audit records folded into one summary because the backlog was full"
    );
    // Shown from the start (0): an alert on "any drop" needs the series.
    counter!(AUDIT_DROPPED).increment(0);
    counter!(AUDIT_FOLDED).increment(0);
    describe_counter!(
        DISCOVERY_REFUSED,
        "URLs from an upstream's discovery document refused (URL rules, credentials off the issuer's origin)"
    );
    describe_counter!(
        AUDIT_PARTITIONS_CREATED,
        "Audit partitions created ahead by this replica's upkeep (PostgreSQL)"
    );
    describe_counter!(
        AUDIT_PARTITIONS_DROPPED,
        "Audit partitions dropped past [audit] retention by this replica (PostgreSQL)"
    );
    describe_counter!(
        AUDIT_PRUNED,
        "Audit records deleted one by one past [audit] retention (SQLite batches; PostgreSQL's few stragglers)"
    );
    describe_counter!(
        AUDIT_UPKEEP_FAILURES,
        "Audit upkeep passes that failed (alert on a run of them: partitions stop being created ahead)"
    );
    counter!(AUDIT_UPKEEP_FAILURES).increment(0);
    describe_gauge!(
        BREAK_GLASS_OPEN,
        "Break-glass windows open now, on every replica (alert on any)"
    );
    gauge!(BREAK_GLASS_OPEN).set(0.0);
    describe_gauge!(
        READY_CHECK,
        "Readiness checks as last evaluated (1 ok, 0 failing) by check: draining, database, signing_key, redis"
    );
}

pub fn request(endpoint: &'static str, status: u16, elapsed: Duration) {
    counter!(REQUESTS, "endpoint" => endpoint, "status" => status_label(status)).increment(1);
    histogram!(REQUEST_SECONDS, "endpoint" => endpoint).record(elapsed.as_secs_f64());
}

/// Status codes as static strings (a bounded label set).
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        429 => "429",
        431 => "431",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// One decision, as it is audited (summaries of repeats are not counted
/// again: their occurrences were counted as they happened).
/// One decision as answered: `event` and `decision` are the audit record's
/// names (closed sets), `reason` its code.
pub fn decision(event: &'static str, decision: &'static str, reason: &str) {
    counter!(DECISIONS, "event" => event, "decision" => decision, "reason" => reason_label(reason))
        .increment(1);
}

/// Reason codes are a closed set; anything else (never expected) is
/// `other`, so a label can never carry free text.
fn reason_label(reason: &str) -> &'static str {
    // Built once: this runs for every decision.
    static LABELS: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| {
            let allows = ["granted", "active", "revoked", "done", "inactive"];
            let reasons = crate::reason::Reason::all().map(crate::reason::Reason::as_str);
            allows.into_iter().chain(reasons).collect()
        });
    LABELS.get(reason).copied().unwrap_or("other")
}

/// `limit` is a rate limit's fixed name (`per_ip`, `per_agent`, `per_caller`).
pub fn rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

pub fn rate_limit_fallback() {
    counter!(RATE_LIMIT_FALLBACK).increment(1);
}

pub fn shed() {
    counter!(SHED).increment(1);
}

pub fn timed_out() {
    counter!(TIMEOUTS).increment(1);
}

pub fn break_glass_open(n: usize) {
    gauge!(BREAK_GLASS_OPEN).set(n as f64);
}

pub fn in_flight(n: usize) {
    gauge!(IN_FLIGHT).set(n as f64);
}

/// `upstream` is a configured upstream's name (bounded by the config).
pub fn key_refresh(upstream: &str, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    counter!(KEY_REFRESHES, "upstream" => upstream.to_string(), "result" => result).increment(1);
}

pub fn audit_queue((queued, backlog): (usize, usize)) {
    gauge!(AUDIT_QUEUE).set(queued as f64);
    gauge!(AUDIT_BACKLOG).set(backlog as f64);
}

pub fn audit_dropped() {
    counter!(AUDIT_DROPPED).increment(1);
}

pub fn audit_folded(records: usize) {
    counter!(AUDIT_FOLDED).increment(records as u64);
}

pub fn audit_commit(elapsed: Duration, ok: bool) {
    histogram!(AUDIT_COMMIT_SECONDS).record(elapsed.as_secs_f64());
    if !ok {
        counter!(AUDIT_COMMIT_FAILURES).increment(1);
    }
}

/// One audit upkeep pass (`audit::retention`).
pub fn audit_upkeep(done: &crate::store::UpkeepDone, ok: bool) {
    if !ok {
        counter!(AUDIT_UPKEEP_FAILURES).increment(1);
        return;
    }
    counter!(AUDIT_PARTITIONS_CREATED).increment(done.created.len() as u64);
    counter!(AUDIT_PARTITIONS_DROPPED).increment(done.dropped.len() as u64);
    counter!(AUDIT_PRUNED).increment(done.deleted);
}

/// Wall-clock microseconds, for measurements only (like request
/// latencies): never for token times, which take the injected clock.
pub fn wall_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

pub fn revocation_lag(path: &'static str, micros: i64) {
    histogram!(REVOCATION_LAG, "path" => path).record(micros.max(0) as f64 / 1_000_000.0);
}

pub fn revocation_view_age(seconds: i64) {
    gauge!(REVOCATION_VIEW_AGE).set(seconds.max(0) as f64);
}

/// `upstream` is a configured upstream's name (bounded by the config).
pub fn discovery_refused(upstream: &str) {
    counter!(DISCOVERY_REFUSED, "upstream" => upstream.to_string()).increment(1);
}

/// `check` is one of readiness's fixed check names.
pub fn ready_check(check: &'static str, ok: bool) {
    gauge!(READY_CHECK, "check" => check).set(if ok { 1.0 } else { 0.0 });
}

pub fn reload(ok: bool) {
    counter!(RELOADS, "result" => if ok { "ok" } else { "refused" }).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_closed_sets() {
        assert_eq!(reason_label("rate_limited"), "rate_limited");
        assert_eq!(reason_label("granted"), "granted");
        assert_eq!(reason_label("eyJhbGciOi.x.y"), "other");
        assert_eq!(status_label(429), "429");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
    }
}
