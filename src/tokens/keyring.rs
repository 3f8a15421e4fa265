//! The key ring: picks the signer by time and verifies by `kid`, so retired
//! keys still verify and rotation needs no restart. The JWKS document is
//! built once per key-state change, not per request.

use std::sync::{Arc, RwLock};

use crate::clock::UnixTime;

use super::keys::{KeyState, SigningKey};

#[derive(Debug, Default)]
pub struct KeyRing {
    /// Sorted by activation time.
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    pub fn new(mut keys: Vec<SigningKey>) -> Self {
        keys.sort_by_key(|k| (k.activates_at, k.created_at));
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The active key that activated last: during an overlap the newer key
    /// signs.
    pub fn signer(&self, now: UnixTime) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.state(now) == KeyState::Active)
    }

    /// A key that may verify a token we signed: active or retired. A `next`
    /// key has signed nothing yet, so a token under it is refused.
    pub fn verifier(&self, kid: &str, now: UnixTime) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && matches!(k.state(now), KeyState::Active | KeyState::Retired))
    }

    /// `{"keys": [...]}`: the signer first, then next, then retired keys.
    pub fn jwks(&self, now: UnixTime) -> serde_json::Value {
        let signer = self.signer(now).map(|k| k.kid.as_str());
        let rank = |k: &SigningKey| match k.state(now) {
            _ if Some(k.kid.as_str()) == signer => 0,
            KeyState::Next => 1,
            KeyState::Active => 2,
            KeyState::Retired => 3,
            KeyState::Expired => 4,
        };
        let mut published: Vec<&Arc<SigningKey>> = self
            .keys
            .iter()
            .filter(|k| k.state(now) != KeyState::Expired)
            .collect();
        published.sort_by_key(|k| rank(k));
        let keys: Vec<_> = published.iter().map(|k| k.public_jwk.clone()).collect();
        serde_json::json!({ "keys": keys })
    }

    /// The next moment any key changes state after `now`.
    pub fn next_change(&self, now: UnixTime) -> Option<UnixTime> {
        self.keys
            .iter()
            .flat_map(|k| [Some(k.activates_at), k.deactivates_at, k.published_until()])
            .flatten()
            .filter(|&t| t > now)
            .min()
    }
}

/// The ring a running server uses: swapped whole when the key folder
/// changes, with the serialised JWKS cached until the next state change.
#[derive(Debug)]
pub struct SharedKeyRing {
    ring: arc_swap::ArcSwap<KeyRing>,
    jwks: RwLock<Option<CachedJwks>>,
}

#[derive(Debug, Clone)]
struct CachedJwks {
    body: Arc<str>,
    valid_until: Option<UnixTime>,
}

impl SharedKeyRing {
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring: arc_swap::ArcSwap::from_pointee(ring),
            jwks: RwLock::new(None),
        }
    }

    pub fn current(&self) -> Arc<KeyRing> {
        self.ring.load_full()
    }

    pub fn replace(&self, ring: KeyRing) {
        self.ring.store(Arc::new(ring));
        self.clear_jwks();
    }

    fn clear_jwks(&self) {
        match self.jwks.write() {
            Ok(mut j) => *j = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }

    /// The JWKS body for `now`, rebuilt only after a key changes state.
    pub fn jwks_body(&self, now: UnixTime) -> Arc<str> {
        if let Ok(guard) = self.jwks.read()
            && let Some(c) = guard.as_ref()
            && c.valid_until.is_none_or(|t| now < t)
        {
            return Arc::clone(&c.body);
        }
        let ring = self.current();
        let body: Arc<str> = ring.jwks(now).to_string().into();
        if let Ok(mut guard) = self.jwks.write() {
            *guard = Some(CachedJwks {
                body: Arc::clone(&body),
                valid_until: ring.next_change(now),
            });
        }
        body
    }
}
