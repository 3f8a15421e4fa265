//! The replay cache: remembers one-time identifiers (`private_key_jwt`
//! assertion `jti`s) until they expire. In-process by default; in Redis when
//! configured, so a replay to another replica is caught too.
//!
//! With Redis, every replica also keeps its own in-process record of the
//! keys it saw. Redis answers while it can; when it cannot (stopped,
//! unreachable, slower than [`super::REDIS_CALL_TIMEOUT`]) the replica answers
//! from its own record, so one replica keeps serving and still refuses a
//! replay of an assertion it saw itself. What it cannot catch during the
//! outage is a replay of a key only another replica saw.
//!
//! A key this replica saw is refused even when Redis calls it new: Redis
//! never heard of a key first used during an outage (or lost it in a
//! restart without persistence), and "seen by anyone" is the only safe
//! reading of a one-time identifier.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{RedisStore, StoreError};
use crate::clock::UnixTime;

const MEMORY_MAX_ENTRIES: usize = 1_000_000;

#[derive(Debug)]
pub enum ReplayCache {
    Memory(SeenKeys),
    Redis(RedisReplay),
}

/// Redis, and this replica's own record for when Redis cannot answer.
#[derive(Debug)]
pub struct RedisReplay {
    redis: RedisStore,
    local: SeenKeys,
}

/// A bounded in-process map of keys to the time they stop mattering.
#[derive(Debug)]
pub struct SeenKeys {
    map: Mutex<HashMap<String, UnixTime>>,
    max_entries: usize,
}

impl ReplayCache {
    pub fn new(redis: Option<&RedisStore>) -> Self {
        match redis {
            Some(r) => Self::Redis(RedisReplay {
                redis: r.clone(),
                local: SeenKeys::new(MEMORY_MAX_ENTRIES),
            }),
            None => Self::Memory(SeenKeys::new(MEMORY_MAX_ENTRIES)),
        }
    }

    /// True the first time `key` is seen before `expires_at`; false for a
    /// replay. The key should already be a digest (bounded length).
    pub async fn first_use(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(seen) => seen.first_use(key, expires_at, now),
            Self::Redis(r) => {
                let redis_key = format!("agent-sts:replay:{key}");
                // Bounded by REDIS_CALL_TIMEOUT inside, and refused at
                // once for a second after a failure.
                let shared = r.redis.set_once(&redis_key, expires_at.max(now + 1)).await;
                settle(&r.local, shared, key, expires_at, now)
            }
        }
    }
}

/// Combine Redis's answer with this replica's record: new only if neither
/// has seen the key (it is recorded in both all the same); when Redis did
/// not answer, the record here decides alone.
fn settle(
    local: &SeenKeys,
    shared: Result<bool, StoreError>,
    key: &str,
    expires_at: UnixTime,
    now: UnixTime,
) -> Result<bool, StoreError> {
    match shared {
        Ok(first) => match local.first_use(key, expires_at, now) {
            Ok(first_here) => Ok(first && first_here),
            // A full record here only weakens the fallback: Redis answered.
            Err(e) => {
                tracing::debug!(error = %e, "replay cache: not recorded locally");
                Ok(first)
            }
        },
        Err(e) => {
            // Never the key: it identifies a client's assertion.
            tracing::debug!(
                error = %e,
                "replay cache: Redis did not answer; answering from this replica's own record"
            );
            local.first_use(key, expires_at, now)
        }
    }
}

impl SeenKeys {
    fn new(max_entries: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    /// True and recorded until `expires_at` if `key` is not already live.
    fn first_use(
        &self,
        key: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| StoreError::Query("replay cache lock poisoned".into()))?;
        if map.get(key).is_some_and(|&until| until > now) {
            return Ok(false);
        }
        if map.len() >= self.max_entries {
            map.retain(|_, until| *until > now);
            if map.len() >= self.max_entries {
                // Full of live entries: refusing is the safe answer.
                return Err(StoreError::Query("replay cache is full".into()));
            }
        }
        map.insert(key.to_string(), expires_at);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_700_000_000;

    fn down() -> Result<bool, StoreError> {
        Err(StoreError::Redis("connection refused".into()))
    }

    #[test]
    fn a_key_is_new_once_until_it_expires() {
        let seen = SeenKeys::new(10);
        assert!(matches!(seen.first_use("a", NOW + 60, NOW), Ok(true)));
        assert!(matches!(seen.first_use("a", NOW + 60, NOW + 59), Ok(false)));
        assert!(matches!(seen.first_use("b", NOW + 60, NOW), Ok(true)));
        // Expired: the same key is new again.
        assert!(matches!(seen.first_use("a", NOW + 120, NOW + 60), Ok(true)));
    }

    #[test]
    fn a_full_record_drops_expired_keys_and_refuses_when_all_are_live() {
        let seen = SeenKeys::new(2);
        assert!(matches!(seen.first_use("a", NOW + 10, NOW), Ok(true)));
        assert!(matches!(seen.first_use("b", NOW + 60, NOW), Ok(true)));
        assert!(seen.first_use("c", NOW + 60, NOW).is_err());
        // Once "a" has expired there is room again.
        assert!(matches!(seen.first_use("c", NOW + 60, NOW + 10), Ok(true)));
        assert!(matches!(seen.first_use("b", NOW + 60, NOW + 10), Ok(false)));
    }

    #[test]
    fn redis_answers_while_it_can_and_this_replica_answers_when_it_cannot() {
        let local = SeenKeys::new(10);
        let answer = |shared, key| settle(&local, shared, key, NOW + 60, NOW);
        // Redis up: a key it has seen is a replay, and every key is recorded here.
        assert!(matches!(answer(Ok(true), "seen-here"), Ok(true)));
        assert!(matches!(answer(Ok(false), "seen-elsewhere"), Ok(false)));
        // Redis says new although this replica saw it (first used during an
        // outage, or Redis lost it): still a replay.
        assert!(matches!(answer(Ok(true), "seen-here"), Ok(false)));

        // Redis down: a replay of a key recorded here is still refused...
        assert!(matches!(answer(down(), "seen-here"), Ok(false)));
        assert!(matches!(answer(down(), "seen-elsewhere"), Ok(false)));
        // ...and a new key is accepted once.
        assert!(matches!(answer(down(), "new"), Ok(true)));
        assert!(matches!(answer(down(), "new"), Ok(false)));
        // Redis back, never told of "new": this replica still refuses it.
        assert!(matches!(answer(Ok(true), "new"), Ok(false)));
    }

    #[test]
    fn redis_down_and_a_full_record_refuses() {
        let local = SeenKeys::new(1);
        assert!(matches!(
            settle(&local, Ok(true), "a", NOW + 60, NOW),
            Ok(true)
        ));
        // Redis up: the full local record does not change its answer.
        assert!(matches!(
            settle(&local, Ok(true), "b", NOW + 60, NOW),
            Ok(true)
        ));
        assert!(matches!(
            settle(&local, down(), "c", NOW + 60, NOW),
            Err(StoreError::Query(_))
        ));
    }
}
