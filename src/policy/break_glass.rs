//! Break-glass (the roll-out kit's fallback path): while an operator's
//! window is open, an agent whose policy refuses it the workload pattern
//! gets workload tokens anyway, for its declared scopes on the window's
//! resources, never outliving the window. Pure: the windows and the clock
//! come in as arguments.
//!
//! | rule | refusal |
//! |---|---|
//! | the agent allows break-glass (`break_glass = false` opts out) | the pattern refusal stands |
//! | a window for this agent is open now (not closed, started, not expired) | the pattern refusal stands |
//! | the window names the resource, or names none (all the agent's) | the pattern refusal stands |

use super::{Agent, Denial};
use crate::clock::UnixTime;
use crate::store::BreakGlassWindow;

/// The window that lets `agent` have a workload token for `target` at
/// `now`, or `refused` (the denial the policy made without it).
pub fn decide_break_glass<'w>(
    agent: &Agent,
    windows: &'w [BreakGlassWindow],
    target: &str,
    refused: Denial,
    now: UnixTime,
) -> Result<&'w BreakGlassWindow, Denial> {
    if !agent.break_glass {
        return Err(refused);
    }
    windows
        .iter()
        .find(|w| {
            w.agent == agent.id
                && w.is_open(now)
                && (w.resources.is_empty() || w.resources.iter().any(|r| r == target))
        })
        .ok_or(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::error::ErrorCode;
    use crate::policy::Policy;
    use crate::reason::Reason;

    const NOW: UnixTime = 1_000_000;

    fn policy() -> Policy {
        let text = r#"
issuer = "https://sts.example.com"
[storage]
database_url = "sqlite://x"
[[upstreams]]
name = "okta"
kind = "okta"
issuer = "https://example.okta.com/oauth2/default"
audiences = ["api://agent-sts"]
[[resources]]
uri = "https://a"
scopes = ["tickets:read"]
[[resources]]
uri = "https://b"
scopes = ["tickets:read"]
[[agents]]
id = "desk"
patterns = ["obo"]
client = { id = "desk", auth = "client_secret_basic", secret_sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
resources = ["https://a", "https://b"]
required_scopes = ["tickets:read"]
[[agents]]
id = "sealed"
patterns = ["obo"]
break_glass = false
client = { id = "sealed", auth = "client_secret_basic", secret_sha256 = "0000000000000000000000000000000000000000000000000000000000000000" }
resources = ["https://a"]
required_scopes = ["tickets:read"]
[scope_groups]
"tickets:read" = ["okta:*"]
"#;
        let c = Config::parse(text, "t").unwrap();
        c.validate().unwrap();
        Policy::new(&c)
    }

    fn window(agent: &str, resources: &[&str]) -> BreakGlassWindow {
        BreakGlassWindow {
            id: format!("bg-{agent}"),
            agent: agent.into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
            reason: "IdP outage".into(),
            opened_by: "admin".into(),
            opened_at: NOW - 60,
            expires_at: NOW + 3_600,
            closed_at: None,
        }
    }

    #[test]
    fn every_rule_both_ways() {
        let p = policy();
        let refused = Denial::new(
            ErrorCode::UnauthorizedClient,
            Reason::PatternNotAllowed,
            "no",
        );
        type Row<'a> = (
            &'a str,
            &'a str,
            Vec<BreakGlassWindow>,
            &'a str,
            UnixTime,
            Option<&'a str>,
        );
        let rows: Vec<Row> = vec![
            (
                "an open window for the agent",
                "desk",
                vec![window("desk", &[])],
                "https://a",
                NOW,
                Some("bg-desk"),
            ),
            ("no window", "desk", vec![], "https://a", NOW, None),
            (
                "another agent's window",
                "desk",
                vec![window("other", &[])],
                "https://a",
                NOW,
                None,
            ),
            (
                "a window naming the resource",
                "desk",
                vec![window("desk", &["https://b"])],
                "https://b",
                NOW,
                Some("bg-desk"),
            ),
            (
                "a window naming another resource",
                "desk",
                vec![window("desk", &["https://b"])],
                "https://a",
                NOW,
                None,
            ),
            (
                "a closed window",
                "desk",
                vec![BreakGlassWindow {
                    closed_at: Some(NOW - 1),
                    ..window("desk", &[])
                }],
                "https://a",
                NOW,
                None,
            ),
            (
                "an expired window",
                "desk",
                vec![window("desk", &[])],
                "https://a",
                NOW + 3_600,
                None,
            ),
            (
                "a window not yet open",
                "desk",
                vec![window("desk", &[])],
                "https://a",
                NOW - 61,
                None,
            ),
            (
                "an agent that opted out",
                "sealed",
                vec![window("sealed", &[])],
                "https://a",
                NOW,
                None,
            ),
        ];
        for (name, agent, windows, target, now, want) in rows {
            let agent = p.agent(agent).unwrap();
            match (
                decide_break_glass(agent, &windows, target, refused.clone(), now),
                want,
            ) {
                (Ok(w), Some(id)) => assert_eq!(w.id, id, "{name}"),
                (Err(d), None) => assert_eq!(d, refused, "{name}"),
                (got, want) => panic!("{name}: got {got:?}, wanted {want:?}"),
            }
        }
    }
}
