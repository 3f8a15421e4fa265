//! A bounded map from a token's SHA-256 to what checking it established,
//! each entry kept until a time of its own (the token's `exp`, or sooner).
//! Three places remember tokens this way: upstream signatures that verified
//! (`upstream`), the IdP's introspection answers (`upstream::introspection`)
//! and our own tokens at `/introspect` (`introspection`).
//!
//! Callers store only what a check established; a hit is honoured only
//! while it is unexpired, and callers add their own conditions (the key
//! that verified must still be trusted). When the map is full, expired
//! entries go; if it is still full, it is emptied: a flood of distinct
//! valid tokens costs verification work again, never unbounded memory, and
//! the cost of making room stays O(1) per insert on average.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::clock::UnixTime;

/// The SHA-256 of a token: what the maps are keyed by (a token is never kept).
pub fn digest(token: &str) -> [u8; 32] {
    crate::digest::sha256(token.as_bytes())
}

#[derive(Debug)]
pub struct TokenCache<V> {
    map: RwLock<HashMap<[u8; 32], (UnixTime, V)>>,
    max_entries: usize,
}

/// Entries a token cache holds by default: 14,000 fit a hash table of
/// 16,384 buckets (hashbrown fills 7/8 before it doubles), so a full
/// cache's table is half the one 20,000 would need (issue 21's memory
/// budget; 100,000 took 6.4 MB of table alone).
pub const DEFAULT_MAX_ENTRIES: usize = 14_000;

impl<V: Clone> Default for TokenCache<V> {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES)
    }
}

impl<V: Clone> TokenCache<V> {
    pub fn new(max_entries: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            max_entries: max_entries.max(1),
        }
    }

    /// The entry for `key` if it is still valid at `now`.
    pub fn get(&self, key: &[u8; 32], now: UnixTime) -> Option<V> {
        let map = self.map.read().ok()?;
        map.get(key)
            .filter(|(until, _)| now < *until)
            .map(|(_, v)| v.clone())
    }

    /// Remember `value` for `key` until `until`.
    pub fn put(&self, key: [u8; 32], until: UnixTime, value: V, now: UnixTime) {
        if until <= now {
            return;
        }
        if let Ok(mut map) = self.map.write() {
            if map.len() >= self.max_entries && !map.contains_key(&key) {
                map.retain(|_, (u, _)| *u > now);
                if map.len() >= self.max_entries {
                    map.clear();
                }
            }
            map.insert(key, (until, value));
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_end_at_their_own_time() {
        let c = TokenCache::new(10);
        c.put(digest("a"), 100, 1, 0);
        c.put(digest("b"), 50, 2, 0);
        assert_eq!(c.get(&digest("a"), 49), Some(1));
        assert_eq!(c.get(&digest("b"), 49), Some(2));
        assert_eq!(c.get(&digest("b"), 50), None, "ends at its own time");
        assert_eq!(c.get(&digest("a"), 50), Some(1));
        assert_eq!(c.get(&digest("c"), 0), None);
        c.put(digest("d"), 10, 4, 10);
        assert_eq!(c.len(), 2, "an entry already over is not stored");
    }

    #[test]
    fn a_full_map_drops_expired_entries_then_everything() {
        let c = TokenCache::new(2);
        c.put(digest("old"), 10, 1, 0);
        c.put(digest("live"), 100, 2, 0);
        c.put(digest("new"), 100, 3, 20);
        assert_eq!(
            c.get(&digest("old"), 5),
            None,
            "the expired entry made room"
        );
        assert_eq!(c.get(&digest("live"), 20), Some(2));
        assert_eq!(c.get(&digest("new"), 20), Some(3));
        c.put(digest("newer"), 100, 4, 20);
        assert_eq!(c.len(), 1, "full of live entries: emptied, then stored");
        assert_eq!(c.get(&digest("newer"), 20), Some(4));
        c.put(digest("newer"), 200, 5, 20);
        assert_eq!(c.len(), 1, "replacing an entry needs no room");
    }
}
