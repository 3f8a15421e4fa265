//! Revocation that every replica honours within a second.
//!
//! The database holds every revocation; each replica keeps a view of them
//! in memory, so checking a token makes no network round trip. The view is
//! kept current three ways: a revocation made here is applied at once; with
//! Redis, every revocation is published and every replica applies it as it
//! arrives; and every `poll_interval` the view reloads new rows from the
//! database (the backstop for a missed message, and all there is without
//! Redis). When the last successful reload is older than `max_staleness`,
//! [`Revocations::check`] says so and introspection answers 503 rather than
//! calling a possibly revoked token active.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::{SharedClock, UnixTime};
use crate::config::{Config, MAX_TOKEN_TTL, RevocationConfig};
use crate::store::{RedisStore, Revocation, RevocationKind, RevocationStore, StoreError};

/// Redis channel prefix; the deployment id follows, so deployments that
/// share a Redis never see each other's revocations.
const CHANNEL_PREFIX: &str = "agent-sts:revocations:";
/// Rows re-read behind the highest id seen: PostgreSQL sequence values can
/// commit out of order, so a lower id may become visible after a higher one.
const LOOKBACK_ROWS: i64 = 256;
/// The view drops expired entries this often (a pass over every entry).
const PRUNE_EVERY: i64 = 10;
/// The least a subject/agent/client revocation lives: every token of ours
/// it covers was issued at or before it and lives at most 15 min (+ skew).
pub const COVER_SECONDS: i64 = MAX_TOKEN_TTL.as_secs() as i64 + 60;

/// How long a subject/agent/client revocation must live under `config`.
/// It also stops *new* tokens made from an upstream token issued at or
/// before it ("Alice quits": her Okta token may still be valid for hours),
/// so it lives as long as any upstream token that could still be presented:
/// the longest upstream `max_token_age` (default 24 h) plus its clock skew.
pub fn cover_seconds(config: &Config) -> i64 {
    config
        .upstreams
        .iter()
        .map(|u| (u.max_token_age().as_secs() + u.clock_skew.as_secs()) as i64)
        .fold(COVER_SECONDS, i64::max)
}

/// A token ours was derived from (RFC 8693 chains and narrowing), as the
/// derived token carries it in `urn:agent.derived_from`: revoking the
/// ancestor — by jti, or by its agent or client — ends the derived token.
/// The user (`sub`, `idp`) is the same along a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ancestor {
    pub jti: String,
    pub agent: String,
    pub client: String,
    pub iat: UnixTime,
}

/// What a token needs to be checked against the view: ours (with its
/// `jti` and ancestors) or an upstream token presented at `/token` (no
/// `jti` of ours; `agent` and `client` are those asking).
#[derive(Debug, Clone, Copy)]
pub struct TokenRef<'a> {
    pub jti: Option<&'a str>,
    pub sub: &'a str,
    pub idp: Option<&'a str>,
    pub agent: &'a str,
    pub client: &'a str,
    /// When it was issued; never later than the truth.
    pub iat: UnixTime,
    pub ancestors: &'a [Ancestor],
}

#[derive(Debug, Default)]
struct View {
    jti: HashMap<String, UnixTime>,
    /// value → (idp filter, revoked_at, expires_at)
    subject: HashMap<String, Vec<(Option<String>, UnixTime, UnixTime)>>,
    agent: HashMap<String, (UnixTime, UnixTime)>,
    client: HashMap<String, (UnixTime, UnixTime)>,
    /// Row ids applied, with their expiry, so a re-read is a no-op.
    applied: HashMap<i64, UnixTime>,
    max_id: i64,
    /// Last successful reload from the database.
    synced_at: Option<UnixTime>,
    pruned_at: UnixTime,
}

impl View {
    /// Apply `r`; false if it was already applied.
    fn apply(&mut self, r: &Revocation) -> bool {
        if r.id != 0 {
            if self.applied.insert(r.id, r.expires_at).is_some() {
                return false;
            }
            self.max_id = self.max_id.max(r.id);
        }
        let later = |slot: &mut (UnixTime, UnixTime)| {
            slot.0 = slot.0.max(r.revoked_at);
            slot.1 = slot.1.max(r.expires_at);
        };
        match r.kind {
            RevocationKind::Jti => {
                self.jti.insert(r.value.clone(), r.expires_at);
            }
            // A subject nearly always has one revocation: room for exactly
            // one (a Vec's first push reserves four, 160 bytes).
            RevocationKind::Subject => self
                .subject
                .entry(r.value.clone())
                .or_insert_with(|| Vec::with_capacity(1))
                .push((r.idp.clone(), r.revoked_at, r.expires_at)),
            RevocationKind::Agent => later(self.agent.entry(r.value.clone()).or_insert((0, 0))),
            RevocationKind::Client => later(self.client.entry(r.value.clone()).or_insert((0, 0))),
        }
        true
    }

    /// Apply a revocation made elsewhere, and measure how long it took to
    /// arrive (once the view has synced: not the backlog read at start):
    /// from its publication when the message says when (microseconds),
    /// else from its whole-second `revoked_at` (the poll path).
    fn arrive(&mut self, r: &Revocation, path: &'static str, sent_us: Option<i64>, now_us: i64) {
        let synced = self.synced_at.is_some();
        if self.apply(r) && synced {
            crate::metrics::revocation_lag(path, lag_micros(r, sent_us, now_us));
        }
    }

    fn is_revoked(&self, t: &TokenRef<'_>) -> bool {
        self.covers(t.jti, t.agent, t.client, t.iat)
            || self.subject.get(t.sub).is_some_and(|rs| {
                rs.iter().any(|(idp, at, _)| {
                    t.iat <= *at && idp.as_deref().is_none_or(|i| Some(i) == t.idp)
                })
            })
            || t.ancestors
                .iter()
                .any(|a| self.covers(Some(&a.jti), &a.agent, &a.client, a.iat))
    }

    /// Revoked by jti, or by an agent or client revocation made at or
    /// after `iat`.
    fn covers(&self, jti: Option<&str>, agent: &str, client: &str, iat: UnixTime) -> bool {
        jti.is_some_and(|j| self.jti.contains_key(j))
            || self.agent.get(agent).is_some_and(|(at, _)| iat <= *at)
            || self.client.get(client).is_some_and(|(at, _)| iat <= *at)
    }

    fn prune(&mut self, now: UnixTime) {
        self.jti.retain(|_, exp| *exp > now);
        self.subject.retain(|_, rs| {
            rs.retain(|(_, _, exp)| *exp > now);
            !rs.is_empty()
        });
        self.agent.retain(|_, (_, exp)| *exp > now);
        self.client.retain(|_, (_, exp)| *exp > now);
        self.applied.retain(|_, exp| *exp > now);
    }

    fn len(&self) -> usize {
        self.jti.len()
            + self.subject.values().map(Vec::len).sum::<usize>()
            + self.agent.len()
            + self.client.len()
    }
}

/// How long a revocation took to arrive, in microseconds.
fn lag_micros(r: &Revocation, sent_us: Option<i64>, now_us: i64) -> i64 {
    let since = sent_us
        .filter(|s| *s > 0)
        .unwrap_or_else(|| r.revoked_at.saturating_mul(1_000_000));
    now_us.saturating_sub(since).max(0)
}

/// The view is older than the bound: answer 503, not a guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    pub age_seconds: Option<i64>,
}

/// What replicas publish: a stored revocation, whose it is, and when it
/// was sent (wall-clock microseconds; absent from older replicas' messages).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Message {
    deployment: String,
    revocation: Revocation,
    #[serde(default)]
    sent_us: i64,
}

pub struct Revocations {
    view: RwLock<View>,
    /// This deployment's id (shared by every replica of one database).
    deployment: String,
    db: Arc<dyn RevocationStore>,
    /// Fan-out to the other replicas, when configured.
    redis: Option<RedisStore>,
    clock: SharedClock,
    max_staleness: i64,
    poll: Duration,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

impl Revocations {
    pub fn new(
        db: Arc<dyn RevocationStore>,
        redis: Option<RedisStore>,
        clock: SharedClock,
        config: &RevocationConfig,
        deployment: String,
    ) -> Self {
        Self {
            view: RwLock::new(View::default()),
            deployment,
            db,
            redis,
            clock,
            max_staleness: config.max_staleness.as_secs() as i64,
            poll: Duration::from_millis(config.poll_interval_ms),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&View) -> T) -> T {
        match self.view.read() {
            Ok(v) => f(&v),
            Err(p) => f(&p.into_inner()),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut View) -> T) -> T {
        match self.view.write() {
            Ok(mut v) => f(&mut v),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub fn len(&self) -> usize {
        self.read(View::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Seconds since the view was last confirmed current (since start if never).
    pub fn age(&self, now: UnixTime) -> i64 {
        self.read(|v| now - v.synced_at.unwrap_or(0).max(0))
    }

    /// Is the token revoked? `Err(Stale)` when the view cannot be trusted.
    pub fn check(&self, t: &TokenRef<'_>, now: UnixTime) -> Result<bool, Stale> {
        self.read(|v| match v.synced_at {
            Some(at) if now - at <= self.max_staleness => Ok(v.is_revoked(t)),
            at => Err(Stale {
                age_seconds: at.map(|a| now - a),
            }),
        })
    }

    /// Revocations in force (the first `limit`, in id order), from the
    /// database: what `GET /admin/revocations` lists.
    pub async fn in_force(&self, limit: i64) -> Result<Vec<Revocation>, StoreError> {
        self.db.revocations_after(0, self.clock.now(), limit).await
    }

    /// Make a revocation durable, apply it here, and tell the other replicas.
    pub async fn revoke(&self, r: Revocation) -> Result<Revocation, StoreError> {
        let id = self.db.insert_revocation(&r).await?;
        let stored = Revocation { id, ..r };
        self.write(|v| {
            v.apply(&stored);
        });
        if let Some(redis) = &self.redis {
            let message = Message {
                deployment: self.deployment.clone(),
                revocation: stored.clone(),
                sent_us: crate::metrics::wall_micros(),
            };
            let payload =
                serde_json::to_string(&message).map_err(|e| StoreError::Query(e.to_string()))?;
            if let Err(e) = redis.publish(&self.channel(), &payload).await {
                // The database poll still carries it to every replica.
                tracing::warn!(error = %e, "revocation publish failed; replicas will see it at their next poll");
            }
        }
        Ok(stored)
    }

    /// Read new rows from the database, a page at a time (so a large
    /// backlog never sits in memory twice), and mark the view fresh.
    pub async fn reload(&self) -> Result<usize, StoreError> {
        const PAGE: i64 = 2_000;
        let now = self.clock.now();
        let mut after = self.read(|v| (v.max_id - LOOKBACK_ROWS).max(0));
        let mut total = 0;
        loop {
            let rows = self.db.revocations_after(after, now, PAGE).await?;
            total += rows.len();
            let now_us = crate::metrics::wall_micros();
            self.write(|v| rows.iter().for_each(|r| v.arrive(r, "poll", None, now_us)));
            match rows.last() {
                Some(last) if rows.len() as i64 == PAGE => after = last.id,
                _ => break,
            }
        }
        self.write(|v| {
            if now - v.pruned_at >= PRUNE_EVERY {
                v.prune(now);
                v.pruned_at = now;
            }
            v.synced_at = Some(now);
        });
        if total >= PAGE as usize {
            // A backlog read (a start, a mass revocation): its pages are freed.
            crate::memory::trim();
        }
        Ok(total)
    }

    /// Poll the database until the process stops; prune old rows now and then.
    pub async fn run_poll(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune = 0;
        loop {
            tick.tick().await;
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "revocation reload failed");
            }
            let now = self.clock.now();
            if now - last_prune >= 60 {
                last_prune = now;
                if let Err(e) = self.db.prune_revocations(now).await {
                    tracing::warn!(error = %e, "revocation prune failed");
                }
            }
        }
    }

    fn channel(&self) -> String {
        format!("{CHANNEL_PREFIX}{}", self.deployment)
    }

    /// Apply revocations published by other replicas as they arrive.
    pub async fn run_subscriber(self: Arc<Self>) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        loop {
            let channel = self.channel();
            let result = redis
                .subscribe(&channel, |payload| {
                    match serde_json::from_str::<Message>(&payload) {
                        Ok(m) if m.deployment == self.deployment => {
                            let now_us = crate::metrics::wall_micros();
                            self.write(|v| {
                                v.arrive(&m.revocation, "pubsub", Some(m.sent_us), now_us)
                            })
                        }
                        Ok(_) => tracing::warn!("ignored a revocation of another deployment"),
                        Err(e) => tracing::warn!(error = %e, "unreadable revocation message"),
                    }
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "revocation subscription lost; retrying");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(
        id: i64,
        kind: RevocationKind,
        value: &str,
        idp: Option<&str>,
        at: UnixTime,
    ) -> Revocation {
        Revocation {
            id,
            kind,
            value: value.into(),
            idp: idp.map(str::to_string),
            revoked_at: at,
            expires_at: at + COVER_SECONDS,
            actor: "test".into(),
            reason: None,
        }
    }

    fn token(iat: UnixTime) -> TokenRef<'static> {
        TokenRef {
            jti: Some("j1"),
            sub: "alice",
            idp: Some("https://okta"),
            agent: "bot",
            client: "bot-client",
            iat,
            ancestors: &[],
        }
    }

    #[test]
    fn a_revoked_ancestor_covers_the_derived_token() {
        let parent = [Ancestor {
            jti: "parent".into(),
            agent: "first-bot".into(),
            client: "first-client".into(),
            iat: 90,
        }];
        let derived = TokenRef {
            jti: Some("child"),
            agent: "gateway",
            client: "gateway",
            ancestors: &parent,
            ..token(95)
        };
        let cases = [
            (rev(1, RevocationKind::Jti, "parent", None, 100), true),
            (rev(1, RevocationKind::Agent, "first-bot", None, 100), true),
            (
                rev(1, RevocationKind::Client, "first-client", None, 100),
                true,
            ),
            // Made before the parent was issued: it covers neither.
            (rev(1, RevocationKind::Agent, "first-bot", None, 80), false),
            (rev(1, RevocationKind::Jti, "unrelated", None, 100), false),
        ];
        for (r, want) in cases {
            let mut v = View::default();
            v.apply(&r);
            assert_eq!(v.is_revoked(&derived), want, "{r:?}");
        }
        // An upstream token has no jti of ours: only its user, agent, client.
        let mut v = View::default();
        v.apply(&rev(1, RevocationKind::Jti, "j1", None, 100));
        assert!(!v.is_revoked(&TokenRef {
            jti: None,
            ..token(50)
        }));
    }

    #[test]
    fn each_kind_covers_tokens_issued_at_or_before_it() {
        let cases = [
            (rev(1, RevocationKind::Jti, "j1", None, 100), 500, true),
            (rev(1, RevocationKind::Jti, "j2", None, 100), 50, false),
            (
                rev(1, RevocationKind::Subject, "alice", None, 100),
                100,
                true,
            ),
            (
                rev(1, RevocationKind::Subject, "alice", None, 100),
                101,
                false,
            ),
            (
                rev(
                    1,
                    RevocationKind::Subject,
                    "alice",
                    Some("https://okta"),
                    100,
                ),
                90,
                true,
            ),
            (
                rev(
                    1,
                    RevocationKind::Subject,
                    "alice",
                    Some("https://entra"),
                    100,
                ),
                90,
                false,
            ),
            (rev(1, RevocationKind::Subject, "bob", None, 100), 90, false),
            (rev(1, RevocationKind::Agent, "bot", None, 100), 90, true),
            (rev(1, RevocationKind::Agent, "other", None, 100), 90, false),
            (
                rev(1, RevocationKind::Client, "bot-client", None, 100),
                90,
                true,
            ),
        ];
        for (r, iat, want) in cases {
            let mut v = View::default();
            v.apply(&r);
            assert_eq!(v.is_revoked(&token(iat)), want, "{r:?} iat {iat}");
        }
    }

    #[test]
    fn lag_is_measured_in_microseconds_from_the_publication() {
        let r = rev(1, RevocationKind::Jti, "j", None, 100);
        assert_eq!(lag_micros(&r, Some(100_250_000), 100_253_700), 3_700);
        // Poll (or an older replica's message): from the whole second.
        assert_eq!(lag_micros(&r, None, 100_480_000), 480_000);
        assert_eq!(lag_micros(&r, Some(0), 100_480_000), 480_000);
        // Clocks a little apart never give a negative lag.
        assert_eq!(lag_micros(&r, Some(100_500_000), 100_499_999), 0);
    }

    #[test]
    fn re_reading_a_row_is_a_no_op_and_pruning_drops_expired_rows() {
        let mut v = View::default();
        let r = rev(7, RevocationKind::Subject, "alice", None, 100);
        v.apply(&r);
        v.apply(&r);
        assert_eq!(v.len(), 1);
        assert_eq!(v.max_id, 7);
        v.prune(100 + COVER_SECONDS);
        assert_eq!(v.len(), 0);
        assert!(!v.is_revoked(&token(50)));
    }
}
