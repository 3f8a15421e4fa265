//! The configuration's limits: rate limits (`[rate_limits]`, per agent and
//! per introspector `rate_limit`), inbound limits and shutdown
//! (`[server]`), outbound calls to IdPs (`[outbound]`).

use serde::Deserialize;

use super::Config;
use super::span::Span;
use super::validate::Errors;

/// A token-bucket rate: `per_second` sustained (may be fractional, e.g.
/// `0.5`), up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// A rate, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateSetting {
    Off,
    On(Rate),
}

impl RateSetting {
    pub fn rate(self) -> Option<Rate> {
        match self {
            Self::Off => None,
            Self::On(r) => Some(r),
        }
    }
}

impl<'de> Deserialize<'de> for RateSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RateSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("{ per_second = N, burst = N } or \"off\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RateSetting, E> {
                match v {
                    "off" => Ok(RateSetting::Off),
                    other => Err(E::custom(format!(
                        "\"{other}\" is not a rate; write {{ per_second = N, burst = N }} or \"off\""
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RateSetting, A::Error> {
                Rate::deserialize(de::value::MapAccessDeserializer::new(map)).map(RateSetting::On)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Every request to `/token`, `/introspect`, `/revoke` and `/admin`,
    /// by TCP peer address, before any parsing or crypto. Behind a proxy
    /// every request has the proxy's address: raise it or turn it off.
    #[serde(default = "default_per_ip")]
    pub per_ip: RateSetting,
    /// `/token`, per authenticated agent (an agent's `rate_limit` overrides
    /// it). With Redis the budget is shared by all replicas.
    #[serde(default = "default_token_per_agent")]
    pub token_per_agent: RateSetting,
    /// `/introspect`, per authenticated caller (an introspector's
    /// `rate_limit` overrides it). Per replica.
    #[serde(default = "default_introspect_per_caller")]
    pub introspect_per_caller: RateSetting,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        Self {
            per_ip: default_per_ip(),
            token_per_agent: default_token_per_agent(),
            introspect_per_caller: default_introspect_per_caller(),
        }
    }
}

fn rate(per_second: f64, burst: u32) -> RateSetting {
    RateSetting::On(Rate { per_second, burst })
}

fn default_per_ip() -> RateSetting {
    rate(1_000.0, 2_000)
}

fn default_token_per_agent() -> RateSetting {
    rate(50.0, 100)
}

fn default_introspect_per_caller() -> RateSetting {
    rate(5_000.0, 10_000)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Requests served at once; beyond it `503` + `Retry-After` at once
    /// (load shedding) instead of queueing.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// A request not answered in this time is answered `503`.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Span,
    /// The request line and headers together (at least 8192).
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// A connection must send its headers within this time.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: Span,
    /// On SIGTERM/SIGINT `/readyz` answers 503 for this long, while
    /// requests are still served, so load balancers stop sending.
    #[serde(default = "default_drain_delay")]
    pub drain_delay: Span,
    /// Then in-flight requests get this long to finish.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Span,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: default_max_in_flight(),
            request_timeout: default_request_timeout(),
            max_header_bytes: default_max_header_bytes(),
            header_read_timeout: default_header_read_timeout(),
            drain_delay: default_drain_delay(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn default_max_in_flight() -> usize {
    1_024
}

fn default_request_timeout() -> Span {
    Span::from_secs(10)
}

fn default_max_header_bytes() -> usize {
    16 * 1024
}

fn default_header_read_timeout() -> Span {
    Span::from_secs(10)
}

fn default_drain_delay() -> Span {
    Span::from_secs(5)
}

fn default_shutdown_grace() -> Span {
    Span::from_secs(20)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Whole-call bound of a discovery, JWKS or introspection request.
    #[serde(default = "default_outbound_timeout")]
    pub timeout: Span,
    #[serde(default = "default_outbound_connect_timeout")]
    pub connect_timeout: Span,
    /// Idle keep-alive connections kept per IdP host.
    #[serde(default = "default_outbound_idle")]
    pub max_idle_per_host: usize,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            timeout: default_outbound_timeout(),
            connect_timeout: default_outbound_connect_timeout(),
            max_idle_per_host: default_outbound_idle(),
        }
    }
}

fn default_outbound_timeout() -> Span {
    Span::from_secs(5)
}

fn default_outbound_connect_timeout() -> Span {
    Span::from_secs(2)
}

fn default_outbound_idle() -> usize {
    4
}

/// The limits' own checks (called by `validate`).
pub(super) fn validate(c: &Config, e: &mut Errors) {
    let r = &c.rate_limits;
    let agents = c
        .agents
        .iter()
        .map(|a| (format!("agents[{}].rate_limit", a.id), a.rate_limit));
    let callers = c.introspectors.iter().map(|i| {
        (
            format!("introspectors[{}].rate_limit", i.client.id),
            i.rate_limit,
        )
    });
    let global = [
        ("rate_limits.per_ip".to_string(), Some(r.per_ip)),
        (
            "rate_limits.token_per_agent".to_string(),
            Some(r.token_per_agent),
        ),
        (
            "rate_limits.introspect_per_caller".to_string(),
            Some(r.introspect_per_caller),
        ),
    ];
    for (at, setting) in global.into_iter().chain(agents).chain(callers) {
        let Some(rate) = setting.and_then(RateSetting::rate) else {
            continue;
        };
        if !(rate.per_second.is_finite() && rate.per_second > 0.0) {
            e.push(
                at.as_str(),
                format!(
                    "per_second {} must be a number above 0 (or write \"off\")",
                    rate.per_second
                ),
            );
        }
        if rate.burst == 0 {
            e.push(at.as_str(), "burst must be at least 1");
        }
    }
    let s = &c.server;
    if s.max_in_flight == 0 {
        e.push("server.max_in_flight", "must be at least 1");
    }
    if !(8_192..=1_048_576).contains(&s.max_header_bytes) {
        e.push(
            "server.max_header_bytes",
            format!("{} is outside 8192..=1048576", s.max_header_bytes),
        );
    }
    let spans = [
        ("server.request_timeout", s.request_timeout),
        ("server.header_read_timeout", s.header_read_timeout),
        ("server.shutdown_grace", s.shutdown_grace),
        ("outbound.timeout", c.outbound.timeout),
        ("outbound.connect_timeout", c.outbound.connect_timeout),
    ];
    for (at, span) in spans {
        if span.duration().is_zero() {
            e.push(at, "must be longer than 0s");
        }
    }
}
