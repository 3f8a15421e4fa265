//! Rate limits: per source address (checked by `http::guard` before any
//! parsing or crypto), then, after authentication, per agent on `/token`
//! and per caller on `/introspect`. Each agent and each caller
//! has its own GCRA limiter from governor, the engine beneath
//! tower-governor, built from the configuration; with Redis the agents'
//! budgets are shared by every replica through one GCRA step per request
//! in Redis (`RedisStore::gcra`), and a Redis failure falls back to the
//! local limiter.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::{KeyExtractor, PeerIpKeyExtractor};

use crate::config::{Config, Rate, RateSetting};
use crate::store::RedisStore;

/// Which limit refused: a metric label and part of the audit detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    PerIp,
    PerAgent,
    PerCaller,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerIp => "per_ip",
            Self::PerAgent => "per_agent",
            Self::PerCaller => "per_caller",
        }
    }
}

/// Over the limit: when to retry, in whole seconds (at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub retry_after: u64,
    pub description: String,
}

impl Exceeded {
    pub fn new(limit: Limit, wait: Duration, whose: &str, rate: Rate) -> Self {
        let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let retry_after = retry_after.max(1);
        crate::metrics::rate_limited(limit.as_str());
        Self {
            retry_after,
            description: format!(
                "{whose} is over its rate limit ({} per second, burst {}); retry after {retry_after} s",
                rate.per_second, rate.burst
            ),
        }
    }
}

/// governor's quota for `rate`: one cell every 1/per_second, `burst` at once.
pub fn quota(rate: Rate) -> Option<Quota> {
    let period = Duration::try_from_secs_f64(1.0 / rate.per_second).ok()?;
    let period = period.max(Duration::from_nanos(1));
    Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(rate.burst)?))
}

struct Entry {
    rate: Rate,
    local: DefaultDirectRateLimiter,
    /// Until when (µs since the Unix epoch) the shared budget said no: a
    /// storm is refused here until then without asking Redis again (no
    /// replica can be admitted before, as GCRA state moves only on admits).
    refused_until_us: AtomicU64,
}

impl Entry {
    fn new(rate: Rate) -> Option<Self> {
        Some(Self {
            rate,
            local: RateLimiter::direct(quota(rate)?),
            refused_until_us: AtomicU64::new(0),
        })
    }

    /// The wait left from an earlier shared refusal, if any.
    fn still_refused(&self, now_us: u64) -> Option<Duration> {
        let until = self.refused_until_us.load(Ordering::Relaxed);
        (now_us < until).then(|| Duration::from_micros(until - now_us))
    }

    fn check_local(&self) -> Result<(), Duration> {
        // The limiter's own clock: `DefaultClock::default()` would build a
        // new quanta clock (CPUID and calibration, a VM exit) per refusal,
        // which made refusals under a retry storm cost more than grants.
        self.local
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.local.clock().now()))
    }
}

/// The per-source-address limit: tower-governor's configuration (its
/// keyed GCRA limiter) and peer-address key extractor, checked by
/// `http::guard` rather than by tower-governor's layer, whose refusal path
/// builds a quanta clock per refused request (CPUID, a VM exit): that
/// doubled the cost of the cheapest refusal we have.
pub struct PerIp {
    config: GovernorConfig<PeerIpKeyExtractor, NoOpMiddleware>,
    rate: Rate,
}

impl PerIp {
    fn new(rate: Rate) -> Option<Self> {
        let quota = quota(rate)?;
        let config = GovernorConfigBuilder::default()
            .period(quota.replenish_interval())
            .burst_size(quota.burst_size().get())
            .finish()?;
        Some(Self { config, rate })
    }

    /// Spend one cell for the request's peer (`ConnectInfo`); a request
    /// without one is not limited here (it never happens on our listener).
    pub fn check<B>(&self, req: &axum::http::Request<B>) -> Result<(), Exceeded> {
        let Ok(ip) = PeerIpKeyExtractor.extract(req) else {
            return Ok(());
        };
        let limiter = self.config.limiter();
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            Exceeded::new(Limit::PerIp, wait, "this source address", self.rate)
        })
    }

    /// Forget addresses whose budget is full again: the map stays the size
    /// of the recently active addresses, not of every address ever seen.
    fn upkeep(&self) {
        let limiter = self.config.limiter();
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

pub struct RateLimits {
    /// `None` when `per_ip = "off"`.
    pub per_ip: Option<PerIp>,
    agents: HashMap<String, Entry>,
    callers: HashMap<String, Entry>,
    shared: Option<RedisStore>,
    /// Redis key prefix: one namespace per deployment (replicas sharing a
    /// database share it).
    prefix: String,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("agents", &self.agents.len())
            .field("callers", &self.callers.len())
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

fn entries<'a>(
    items: impl Iterator<Item = (&'a str, Option<RateSetting>)>,
    default: RateSetting,
) -> HashMap<String, Entry> {
    items
        .filter_map(|(id, own)| {
            let rate = own.unwrap_or(default).rate()?;
            Some((id.to_string(), Entry::new(rate)?))
        })
        .collect()
}

impl RateLimits {
    /// `deployment`: the database's deployment id (the shared budget's namespace).
    pub fn new(config: &Config, redis: Option<&RedisStore>, deployment: &str) -> Self {
        let r = &config.rate_limits;
        let agents = config
            .agents
            .iter()
            .map(|a| (a.client.id.as_str(), a.rate_limit));
        let callers = config
            .introspectors
            .iter()
            .map(|i| (i.client.id.as_str(), i.rate_limit));
        Self {
            per_ip: r.per_ip.rate().and_then(PerIp::new),
            agents: entries(agents, r.token_per_agent),
            callers: entries(callers, r.introspect_per_caller),
            shared: redis.cloned(),
            prefix: format!("agent-sts:rate:{deployment}:"),
        }
    }

    /// Periodic: bound the per-address map.
    pub fn upkeep(&self) {
        if let Some(p) = &self.per_ip {
            p.upkeep();
        }
    }

    /// The namespace to build the next generation's limits with (a reload).
    pub fn deployment(&self) -> &str {
        self.prefix
            .strip_prefix("agent-sts:rate:")
            .and_then(|s| s.strip_suffix(':'))
            .unwrap_or_default()
    }

    /// `/token`, for the agent whose client is `client_id`: the shared
    /// budget when Redis is configured (local if Redis fails), else local.
    pub async fn token(&self, client_id: &str) -> Result<(), Exceeded> {
        let Some(entry) = self.agents.get(client_id) else {
            return Ok(());
        };
        let now_us = epoch_us();
        let earlier = entry.still_refused(now_us);
        let wait = match &self.shared {
            Some(_) if earlier.is_some() => earlier,
            Some(redis) => match shared_check(redis, &self.prefix, client_id, entry.rate).await {
                Ok(wait) => {
                    if let Some(w) = wait {
                        let until = now_us.saturating_add(w.as_micros() as u64);
                        entry.refused_until_us.store(until, Ordering::Relaxed);
                    }
                    wait
                }
                Err(e) => {
                    crate::metrics::rate_limit_fallback();
                    // Logged once per outage second by the Redis breaker.
                    tracing::debug!(error = %e, "shared rate limit unavailable; limiting locally");
                    entry.check_local().err()
                }
            },
            None => entry.check_local().err(),
        };
        match wait {
            None => Ok(()),
            Some(wait) => Err(Exceeded::new(
                Limit::PerAgent,
                wait,
                &format!("agent client {client_id}"),
                entry.rate,
            )),
        }
    }

    /// `/introspect`, for the caller `client_id` (per replica).
    pub fn introspect(&self, client_id: &str) -> Result<(), Exceeded> {
        let Some(entry) = self.callers.get(client_id) else {
            return Ok(());
        };
        entry.check_local().map_err(|wait| {
            Exceeded::new(
                Limit::PerCaller,
                wait,
                &format!("introspection caller {client_id}"),
                entry.rate,
            )
        })
    }
}

fn epoch_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

async fn shared_check(
    redis: &RedisStore,
    prefix: &str,
    client_id: &str,
    rate: Rate,
) -> Result<Option<Duration>, crate::store::StoreError> {
    let interval_us = (1_000_000.0 / rate.per_second).max(1.0) as u64;
    let tolerance_us = interval_us.saturating_mul(u64::from(rate.burst.saturating_sub(1)));
    let key = format!("{prefix}token:{client_id}");
    let wait = redis.gcra(&key, interval_us, tolerance_us).await?;
    Ok(wait.map(Duration::from_micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: f64, burst: u32) -> Rate {
        Rate { per_second, burst }
    }

    #[test]
    fn a_burst_passes_then_the_next_waits_about_one_period() {
        let e = Entry::new(rate(0.5, 3)).unwrap();
        for _ in 0..3 {
            assert_eq!(e.check_local(), Ok(()));
        }
        let wait = e.check_local().unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        let r = rate(1.0, 1);
        let e = |ms| Exceeded::new(Limit::PerAgent, Duration::from_millis(ms), "x", r).retry_after;
        assert_eq!(e(0), 1);
        assert_eq!(e(200), 1);
        assert_eq!(e(1_000), 1);
        assert_eq!(e(1_001), 2);
    }

    #[test]
    fn quota_refuses_rates_it_cannot_express() {
        assert!(quota(rate(0.0, 1)).is_none());
        assert!(quota(rate(1.0, 0)).is_none());
        assert!(quota(rate(f64::NAN, 1)).is_none());
        assert!(
            quota(rate(1e12, 10)).is_some(),
            "very high rates clamp to 1 ns"
        );
    }
}
