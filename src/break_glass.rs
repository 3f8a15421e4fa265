//! Break-glass windows, as operators open, close and list them (the admin
//! API and the CLI share this): a fallback path that ends by itself within
//! 24 hours. What a window lets through is decided at `/token` by the pure
//! `policy::decide_break_glass`; closing one revokes, on every replica,
//! every token issued under it (tokens never outlive a window, so expiry
//! needs no revocation).

use serde::Deserialize;

use crate::clock::UnixTime;
use crate::config::{Config, Span};
use crate::error::{ErrorCode, shown};
use crate::policy::{Denial, Policy};
use crate::reason::Reason;
use crate::revocation_list::Revocations;
use crate::store::{BreakGlassStore, BreakGlassWindow, Revocation, RevocationKind};

/// `POST /admin/break-glass`, `agent-sts break-glass open`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    pub agent: String,
    /// Empty: every resource of the agent.
    #[serde(default)]
    pub resources: Vec<String>,
    /// How long, e.g. "4h" (at most `[break_glass] max_window`, 24h).
    #[serde(rename = "for")]
    pub duration: Span,
    pub reason: String,
}

fn bad(description: impl Into<String>) -> Denial {
    Denial::new(ErrorCode::InvalidRequest, Reason::BadRequest, description)
}

fn unavailable(e: impl std::fmt::Display) -> Denial {
    tracing::error!(error = %e, "break-glass storage failed");
    Denial::new(
        ErrorCode::TemporarilyUnavailable,
        Reason::BadRequest,
        "storage is unavailable; try again",
    )
}

/// Open a window for `req.agent` from `now`.
pub async fn open(
    config: &Config,
    policy: &Policy,
    store: &dyn BreakGlassStore,
    req: OpenRequest,
    opened_by: &str,
    now: UnixTime,
) -> Result<BreakGlassWindow, Denial> {
    let agent = policy
        .agent(&req.agent)
        .ok_or_else(|| bad(format!("no agent {}", shown(&req.agent))))?;
    if !agent.break_glass {
        return Err(Denial::new(
            ErrorCode::InvalidRequest,
            Reason::BreakGlassNotAllowed,
            format!("agent {} is configured with break_glass = false", agent.id),
        ));
    }
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(bad(
            "a reason is required: it is recorded and carried in every token",
        ));
    }
    if reason.len() > 500 {
        return Err(bad("the reason is longer than 500 characters"));
    }
    let max = config.break_glass.max_window;
    if req.duration.as_secs() == 0 || req.duration > max {
        return Err(bad(format!(
            "a window lasts from 1s to {max} (break_glass.max_window); {} was asked",
            req.duration
        )));
    }
    if let Some(r) = req.resources.iter().find(|r| !agent.resources.contains(*r)) {
        return Err(Denial::new(
            ErrorCode::InvalidTarget,
            Reason::TargetNotAllowed,
            format!("{} is not a resource of agent {}", shown(r), agent.id),
        ));
    }
    let id = crate::tokens::random_id().map_err(|_| {
        Denial::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::RandomUnavailable,
            "no window id could be drawn; try again",
        )
    })?;
    let window = BreakGlassWindow {
        id: format!("bg-{id}"),
        agent: agent.id.clone(),
        resources: req.resources,
        reason: reason.to_string(),
        opened_by: opened_by.to_string(),
        opened_at: now,
        expires_at: now + req.duration.as_secs() as i64,
        closed_at: None,
    };
    store.open_window(&window).await.map_err(unavailable)?;
    tracing::warn!(window = %window.id, agent = %window.agent, expires_at = window.expires_at, reason = %window.reason, "break-glass window opened");
    Ok(window)
}

/// Close window `id` at `now` and revoke every token issued under it.
/// Returns the window and how many tokens were revoked.
pub async fn close(
    store: &dyn BreakGlassStore,
    revocations: &Revocations,
    id: &str,
    actor: &str,
    now: UnixTime,
) -> Result<(BreakGlassWindow, usize), Denial> {
    let window = store
        .close_window(id, now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| bad(format!("no open break-glass window {}", shown(id))))?;
    let tokens = store.window_tokens(id, now).await.map_err(unavailable)?;
    for (jti, expires_at) in &tokens {
        revocations
            .revoke(Revocation {
                id: 0,
                kind: RevocationKind::Jti,
                value: jti.clone(),
                idp: None,
                revoked_at: now,
                expires_at: *expires_at,
                actor: actor.to_string(),
                reason: Some(format!("break-glass window {id} closed")),
            })
            .await
            .map_err(unavailable)?;
    }
    tracing::warn!(window = %id, revoked = tokens.len(), "break-glass window closed");
    Ok((window, tokens.len()))
}

/// Windows open at `now`.
pub async fn list(
    store: &dyn BreakGlassStore,
    now: UnixTime,
) -> Result<Vec<BreakGlassWindow>, Denial> {
    store.open_windows(now).await.map_err(unavailable)
}

/// The minute of the last "window open" warning (upkeep runs more often).
static WARNED_MINUTE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);

/// Upkeep: the open-windows gauge, and a warning a minute per open window.
pub async fn watch(store: &dyn BreakGlassStore, now: UnixTime) {
    let windows = match store.open_windows(now).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "break-glass windows unreadable");
            return;
        }
    };
    crate::metrics::break_glass_open(windows.len());
    let minute = now.div_euclid(60);
    let last = WARNED_MINUTE.swap(minute, std::sync::atomic::Ordering::Relaxed);
    if last == minute {
        return;
    }
    for w in &windows {
        tracing::warn!(window = %w.id, agent = %w.agent, expires_at = w.expires_at, reason = %w.reason, "break-glass window open: the agent may obtain workload tokens its policy refuses");
    }
}
