//! The roll-out report (`agent-sts audit report`, `GET /admin/audit/report`):
//! per agent and pattern, what `/token` decided in a window — allows,
//! denies by reason, report-only `would_deny` by reason, the users,
//! upstreams and tenants behind them, and the ten most refused users. The
//! table the pilot review reads before an agent goes from report-only to
//! enforce.
//!
//! What is counted: records with `event = token` only (a `would_deny` is a
//! grant that enforcement would have refused); each counts as one decision,
//! a summary record (repeated refusals, e.g. over the rate limit) as its
//! `count`. The store aggregates in SQL; this module only arranges the
//! aggregates.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::clock::{UnixTime, rfc3339};
use crate::store::{AuditStore, ReportFilter, ReportRows, StoreError};

/// The report of one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Unix seconds, inclusive.
    pub since: UnixTime,
    /// Unix seconds, exclusive.
    pub until: UnixTime,
    /// The agent asked about, or `None` for all.
    pub agent: Option<String>,
    /// One per (agent, pattern) that had a decision, ordered by agent then
    /// pattern (a missing one, e.g. a refusal before the agent was known,
    /// first).
    pub groups: Vec<Group>,
}

/// One agent and pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    pub agent: Option<String>,
    pub pattern: Option<String>,
    pub allow: i64,
    pub deny: i64,
    pub would_deny: i64,
    pub deny_reasons: BTreeMap<String, i64>,
    pub would_deny_reasons: BTreeMap<String, i64>,
    /// Distinct subjects with any decision.
    pub users: i64,
    /// Distinct subjects refused (deny or would_deny) at least once.
    pub users_refused: i64,
    /// Distinct upstream IdPs (`idp`) and tenants.
    pub upstreams: i64,
    pub tenants: i64,
    /// At most ten, most refusals first.
    pub top_refused: Vec<RefusedUser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedUser {
    pub subject: String,
    pub deny: i64,
    pub would_deny: i64,
}

/// The window when none is given: a week.
pub const DEFAULT_SINCE: &str = "7d";

/// `[since, until)` for a span back from `now` (`7d`, `12h`): until is the
/// end of the current second.
pub fn window(since: &str, now: UnixTime) -> Result<(UnixTime, UnixTime), String> {
    let span = crate::config::Span::parse(since)?;
    let back = i64::try_from(span.as_secs()).unwrap_or(i64::MAX);
    Ok((now.saturating_sub(back), now.saturating_add(1)))
}

/// The report of token decisions with `since <= at < until`.
pub async fn report(
    db: &dyn AuditStore,
    since: UnixTime,
    until: UnixTime,
    agent: Option<String>,
) -> Result<Report, StoreError> {
    let filter = ReportFilter {
        since,
        until,
        agent,
    };
    let rows = db.audit_report(&filter).await?;
    Ok(assemble(filter, rows))
}

type Key = (Option<String>, Option<String>);

/// Arrange the store's aggregates per (agent, pattern).
pub fn assemble(filter: ReportFilter, rows: ReportRows) -> Report {
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    for c in rows.decisions {
        let g = entry(&mut groups, c.agent, c.pattern);
        match c.decision.as_str() {
            "allow" => g.allow += c.count,
            "deny" => {
                g.deny += c.count;
                *g.deny_reasons.entry(c.reason).or_default() += c.count;
            }
            "would_deny" => {
                g.would_deny += c.count;
                *g.would_deny_reasons.entry(c.reason).or_default() += c.count;
            }
            _ => {}
        }
    }
    for s in rows.groups {
        let g = entry(&mut groups, s.agent, s.pattern);
        g.users = s.users;
        g.users_refused = s.users_refused;
        g.upstreams = s.upstreams;
        g.tenants = s.tenants;
    }
    for u in rows.refused {
        entry(&mut groups, u.agent, u.pattern)
            .top_refused
            .push(RefusedUser {
                subject: u.subject,
                deny: u.deny,
                would_deny: u.would_deny,
            });
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    for g in &mut groups {
        g.top_refused.sort_by(|a, b| {
            (b.deny + b.would_deny)
                .cmp(&(a.deny + a.would_deny))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        g.top_refused.truncate(10);
    }
    Report {
        since: filter.since,
        until: filter.until,
        agent: filter.agent,
        groups,
    }
}

fn entry(
    groups: &mut BTreeMap<Key, Group>,
    agent: Option<String>,
    pattern: Option<String>,
) -> &mut Group {
    groups
        .entry((agent.clone(), pattern.clone()))
        .or_insert_with(|| Group {
            agent,
            pattern,
            ..Group::default()
        })
}

fn reasons(map: &BTreeMap<String, i64>) -> String {
    let mut by_count: Vec<_> = map.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    by_count
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Report {
    /// The human table: one line per agent and pattern, then its reasons
    /// and most refused users indented under it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "token decisions from {} to {} ({})",
            rfc3339(self.since),
            rfc3339(self.until),
            self.agent
                .as_deref()
                .map_or("all agents".to_string(), |a| format!("agent {a}"))
        )?;
        if self.groups.is_empty() {
            return writeln!(f, "no token decisions in this window");
        }
        let header = [
            "AGENT",
            "PATTERN",
            "ALLOW",
            "DENY",
            "WOULD_DENY",
            "USERS",
            "REFUSED_USERS",
            "UPSTREAMS",
            "TENANTS",
        ];
        let rows: Vec<[String; 9]> = self
            .groups
            .iter()
            .map(|g| {
                [
                    g.agent.clone().unwrap_or_else(|| "-".into()),
                    g.pattern.clone().unwrap_or_else(|| "-".into()),
                    g.allow.to_string(),
                    g.deny.to_string(),
                    g.would_deny.to_string(),
                    g.users.to_string(),
                    g.users_refused.to_string(),
                    g.upstreams.to_string(),
                    g.tenants.to_string(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                // Names left, numbers right.
                let _ = if i < 2 {
                    write!(out, "{cell:<w$}  ")
                } else {
                    write!(out, "{cell:>w$}  ")
                };
            }
            out.trim_end().to_string()
        };
        writeln!(f, "{}", line(&header.map(String::from)))?;
        for (g, row) in self.groups.iter().zip(&rows) {
            writeln!(f, "{}", line(row))?;
            if !g.deny_reasons.is_empty() {
                writeln!(f, "    deny:        {}", reasons(&g.deny_reasons))?;
            }
            if !g.would_deny_reasons.is_empty() {
                writeln!(f, "    would_deny:  {}", reasons(&g.would_deny_reasons))?;
            }
            if !g.top_refused.is_empty() {
                let users = g
                    .top_refused
                    .iter()
                    .map(|u| format!("{} ({}/{})", u.subject, u.deny, u.would_deny))
                    .collect::<Vec<_>>()
                    .join(", ");
                writeln!(f, "    top refused (deny/would_deny): {users}")?;
            }
        }
        Ok(())
    }
}
