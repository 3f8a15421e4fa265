//! The replay cache: remembers one-time identifiers (`private_key_jwt`
//! assertion `jti`s) until they expire. In-process by default; in Redis when
//! configured, so a replay to another replica is caught too.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{RedisStore, StoreError};
use crate::clock::UnixTime;

const MEMORY_MAX_ENTRIES: usize = 1_000_000;

#[derive(Debug)]
pub enum ReplayCache {
    Memory(Mutex<HashMap<String, UnixTime>>),
    Redis(RedisStore),
}

impl ReplayCache {
    pub fn new(redis: Option<&RedisStore>) -> Self {
        match redis {
            Some(r) => Self::Redis(r.clone()),
            None => Self::Memory(Mutex::new(HashMap::new())),
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
            Self::Memory(map) => {
                let mut map = map
                    .lock()
                    .map_err(|_| StoreError::Query("replay cache lock poisoned".into()))?;
                if map.get(key).is_some_and(|&until| until > now) {
                    return Ok(false);
                }
                if map.len() >= MEMORY_MAX_ENTRIES {
                    map.retain(|_, until| *until > now);
                    if map.len() >= MEMORY_MAX_ENTRIES {
                        // Full of live entries: refusing is the safe answer.
                        return Err(StoreError::Query("replay cache is full".into()));
                    }
                }
                map.insert(key.to_string(), expires_at);
                Ok(true)
            }
            Self::Redis(r) => {
                r.set_once(&format!("agent-sts:replay:{key}"), expires_at.max(now + 1))
                    .await
            }
        }
    }
}
