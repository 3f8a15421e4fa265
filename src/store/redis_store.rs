//! Redis: optional, shared by replicas (replay cache, revocation fan-out,
//! global rate limits). A `ConnectionManager` reconnects by itself.

use std::fmt;

use redis::aio::ConnectionManager;

use super::{CONNECT_TIMEOUT, StoreError, describe_url};
use crate::config::SecretString;

/// A call on the hot path waits at most this long before the caller falls
/// back (a rate limit checked locally) instead of hanging with Redis.
pub const REDIS_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// KEYS[1]: the theoretical arrival time (TAT) in µs. ARGV: emission
/// interval T and tolerance τ = T × (burst − 1), µs. Admit when
/// TAT − now ≤ τ, then TAT = max(TAT, now) + T; refuse otherwise.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, tat - now - tolerance}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return {1, 0}
";

/// After a failed hot-path call, Redis is not tried again for this long:
/// during an outage a request pays the timeout at most once a second per
/// replica, not every time.
const TRIPPED_FOR: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    target: String,
    /// Until when hot-path calls fail at once (ms since the Unix epoch).
    tripped_until: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .finish()
    }
}

impl RedisStore {
    pub async fn connect(url: &SecretString) -> Result<Self, StoreError> {
        let target = describe_url(url.expose());
        let connect_error = |cause: String| StoreError::Connect {
            target: target.clone(),
            cause,
        };
        let client = redis::Client::open(url.expose()).map_err(|e| connect_error(e.to_string()))?;
        // Reconnect quickly once Redis is back (the crate's default backoff
        // waits up to a minute or two between attempts).
        let reconnect = redis::aio::ConnectionManagerConfig::new()
            .set_exponent_base(2)
            .set_factor(50)
            .set_max_delay(2_000)
            .set_connection_timeout(CONNECT_TIMEOUT);
        let manager = ConnectionManager::new_with_config(client.clone(), reconnect);
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, manager)
            .await
            .map_err(|_| connect_error(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| connect_error(e.to_string()))?;
        let store = Self {
            client,
            conn,
            target,
            tripped_until: Default::default(),
        };
        store.ping().await?;
        Ok(store)
    }

    /// A call on a request's path: refused at once while tripped, bounded
    /// by `REDIS_CALL_TIMEOUT`, and a failure trips the breaker.
    async fn hot<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        use std::sync::atomic::Ordering;
        let now = epoch_ms();
        if now < self.tripped_until.load(Ordering::Relaxed) {
            return Err(StoreError::Redis("unavailable (retrying shortly)".into()));
        }
        let result = match tokio::time::timeout(REDIS_CALL_TIMEOUT, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StoreError::Redis(e.to_string())),
            Err(_) => Err(StoreError::Redis("no answer in time".into())),
        };
        if let Err(e) = &result {
            tracing::warn!(error = %e, target = %self.target, "redis call failed: replay checks and rate limits use this replica's own state for the next second");
            let until = epoch_ms() + TRIPPED_FOR.as_millis() as u64;
            self.tripped_until.store(until, Ordering::Relaxed);
        }
        result
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.ping_within(CONNECT_TIMEOUT).await
    }

    /// PING, waiting at most `bound` (readiness uses a short one: a probe
    /// must not time out because Redis is reconnecting).
    pub async fn ping_within(&self, bound: std::time::Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let pong = tokio::time::timeout(bound, redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map_err(|_| StoreError::Redis("PING timed out".into()))?
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Redis(format!(
                "unexpected PING answer {pong:?}"
            )))
        }
    }

    /// `SET key 1 NX EXAT expires_at`: true if the key was not there.
    pub async fn set_once(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(key).arg(1).arg("NX").arg("EXAT").arg(expires_at);
        let answer: Option<String> = self.hot(set.query_async(&mut conn)).await?;
        Ok(answer.is_some())
    }

    /// One GCRA step (the generic cell rate algorithm, as in governor and
    /// redis-cell) for `key`, in one round trip: a request every
    /// `interval_us` sustained, `tolerance_us` of burst. Redis's own clock
    /// is used, so replicas need not agree on time. `Ok(None)` admits;
    /// `Ok(Some(us))` refuses and says when the next request would pass.
    pub async fn gcra(
        &self,
        key: &str,
        interval_us: u64,
        tolerance_us: u64,
    ) -> Result<Option<u64>, StoreError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> =
            std::sync::LazyLock::new(|| redis::Script::new(GCRA_SCRIPT));
        let mut conn = self.conn.clone();
        let mut invocation = SCRIPT.key(key);
        invocation.arg(interval_us).arg(tolerance_us);
        let call = invocation.invoke_async::<(i64, i64)>(&mut conn);
        let (allowed, wait_us) = self.hot(call).await?;
        Ok((allowed == 0).then(|| u64::try_from(wait_us).unwrap_or(0)))
    }

    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Redis(e.to_string()))
    }

    /// Deliver every message on `channel` to `on_message` until the
    /// connection drops; the caller reconnects.
    pub async fn subscribe(
        &self,
        channel: &str,
        mut on_message: impl FnMut(String),
    ) -> Result<(), StoreError> {
        use futures_util::StreamExt;
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        pubsub
            .subscribe(channel)
            .await
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            if let Ok(payload) = msg.get_payload::<String>() {
                on_message(payload);
            }
        }
        Err(StoreError::Redis("the subscription ended".into()))
    }
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
