//! Leg 1 of SEP-990, one row each way per rule of the module table.

use std::sync::Arc;

use serde_json::Map;

use super::*;
use crate::config::{Config, UpstreamKind, UpstreamUse};
use crate::metadata::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_ID_JAG, TOKEN_TYPE_ID_TOKEN};
use crate::revocation_list::{Stale, TokenRef};
use crate::upstream::{TokenShape, VerifiedToken};

const NOW: UnixTime = 1_000_000;
const OKTA: &str = "https://example.okta.com/oauth2/default";
const K8S: &str = "https://k8s.example.com";
const PEER: &str = "https://as.partner.example";
const MCP: &str = "https://mcp.partner.example/mcp";
const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn policy() -> Policy {
    let client = |id: &str| {
        format!(
            "client = {{ id = \"{id}\", auth = \"client_secret_basic\", secret_sha256 = \"{HASH}\" }}"
        )
    };
    let text = format!(
        r#"
issuer = "https://sts.example.com"
[storage]
database_url = "sqlite://x"
[[upstreams]]
name = "okta"
kind = "okta"
issuer = "{OKTA}"
audiences = ["api://agent-sts"]
[[upstreams]]
name = "k8s"
kind = "oidc"
use = "workload"
issuer = "{K8S}"
audiences = ["agent-sts"]
[[resources]]
uri = "https://mcp.example.com"
scopes = ["tickets:read"]
[[agents]]
id = "asker"
patterns = ["obo"]
resources = ["https://mcp.example.com"]
required_scopes = ["tickets:read"]
{asker}
[[agents]]
id = "pilot-only"
patterns = ["obo"]
resources = ["https://mcp.example.com"]
required_scopes = ["tickets:read"]
user_groups = ["okta:Pilot"]
{pilot}
[[agents]]
id = "stranger"
patterns = ["obo"]
resources = ["https://mcp.example.com"]
required_scopes = ["tickets:read"]
{stranger}
[scope_groups]
"tickets:read" = ["okta:*"]
[id_jag]
[[id_jag.audiences]]
issuer = "{PEER}"
resources = ["{MCP}"]
scopes = ["files:read", "files:write"]
agents = ["asker", "pilot-only"]
client_ids = {{ asker = "asker-at-partner" }}
"#,
        asker = client("asker"),
        pilot = client("pilot-only"),
        stranger = client("stranger"),
    );
    let c = Config::parse(&text, "t").unwrap();
    c.validate().unwrap();
    Policy::new(&c)
}

fn alice(shape: TokenShape, workload: bool) -> VerifiedToken {
    VerifiedToken {
        upstream: Arc::from(if workload { "k8s" } else { "okta" }),
        kind: UpstreamKind::Okta,
        usage: if workload {
            UpstreamUse::Workload
        } else {
            UpstreamUse::User
        },
        issuer: if workload { K8S } else { OKTA }.into(),
        subject: "alice".into(),
        tenant: None,
        client: None,
        scopes: Vec::new(),
        groups: crate::upstream::Groups::Known(vec!["Support".into()]),
        app_only: false,
        issued_at: Some(NOW - 100),
        issued_by: NOW - 100,
        expires_at: NOW + 3_000,
        shape,
        jti: None,
        claims: Map::new(),
    }
}

/// Revoked users (at a time) or a stale view.
struct View(Option<UnixTime>, bool);

impl RevocationView for View {
    fn check(&self, t: &TokenRef<'_>, _now: UnixTime) -> Result<bool, Stale> {
        if self.1 {
            return Err(Stale {
                age_seconds: Some(60),
            });
        }
        Ok(self.0.is_some_and(|at| t.iat <= at))
    }
}

struct Row {
    agent: &'static str,
    token: VerifiedToken,
    token_type: &'static str,
    audience: &'static str,
    resource: &'static str,
    scope: Option<&'static [&'static str]>,
    view: View,
}

fn row(agent: &'static str) -> Row {
    Row {
        agent,
        token: alice(TokenShape::Id, false),
        token_type: TOKEN_TYPE_ID_TOKEN,
        audience: PEER,
        resource: MCP,
        scope: None,
        view: View(None, false),
    }
}

impl Row {
    fn run(&self, p: &Policy) -> Result<IdJagDecided, Denial> {
        let requested: Option<Vec<String>> = self
            .scope
            .map(|s| s.iter().map(|x| x.to_string()).collect());
        decide_id_jag(
            p,
            &self.view,
            &IdJagAsk {
                agent: p.agent_by_client(self.agent).unwrap(),
                subject: Presented {
                    token: Token::Upstream(&self.token),
                    token_type: self.token_type,
                },
                audience: self.audience,
                resource: self.resource,
                requested: requested.as_deref(),
                now: NOW,
            },
        )
    }
}

#[test]
fn every_rule_both_ways() {
    let p = policy();
    type Check = Result<Box<dyn Fn(&IdJagDecided)>, Reason>;
    let any: fn() -> Check = || Ok(Box::new(|_| {}));
    let rows: Vec<(&str, Row, Check)> = vec![
        (
            "alice's ID token, every scope of the entry",
            row("asker"),
            Ok(Box::new(|d: &IdJagDecided| {
                assert_eq!(
                    (d.sub.as_str(), d.idp.as_str(), d.client_id.as_str()),
                    ("alice", OKTA, "asker-at-partner")
                );
                assert_eq!(d.scopes, ["files:read", "files:write"]);
                assert_eq!(d.groups, Some(vec!["Support".to_string()]));
                assert_eq!(d.not_after, NOW + 3_000);
            })),
        ),
        (
            "her access token, one scope",
            Row {
                token: alice(TokenShape::Access, false),
                token_type: TOKEN_TYPE_ACCESS_TOKEN,
                scope: Some(&["files:read"]),
                ..row("asker")
            },
            Ok(Box::new(|d: &IdJagDecided| {
                assert_eq!(d.scopes, ["files:read"])
            })),
        ),
        (
            "an ID token sent as an access token",
            Row {
                token_type: TOKEN_TYPE_ACCESS_TOKEN,
                ..row("asker")
            },
            Err(Reason::TokenTypeMismatch),
        ),
        (
            "a workload token",
            Row {
                token: alice(TokenShape::Access, true),
                token_type: TOKEN_TYPE_ACCESS_TOKEN,
                ..row("asker")
            },
            Err(Reason::TokenTypeMismatch),
        ),
        (
            "an ID-JAG as the subject",
            Row {
                token: alice(TokenShape::IdJag, false),
                token_type: TOKEN_TYPE_ID_JAG,
                ..row("asker")
            },
            Err(Reason::NotAnIdJag),
        ),
        (
            "an expired subject",
            Row {
                token: VerifiedToken {
                    expires_at: NOW,
                    ..alice(TokenShape::Id, false)
                },
                ..row("asker")
            },
            Err(Reason::Expired),
        ),
        (
            "Alice quits: her token from before",
            Row {
                view: View(Some(NOW - 50), false),
                ..row("asker")
            },
            Err(Reason::Revoked),
        ),
        (
            "Alice quits: her token from after",
            Row {
                view: View(Some(NOW - 500), false),
                ..row("asker")
            },
            any(),
        ),
        (
            "a stale revocation view",
            Row {
                view: View(None, true),
                ..row("asker")
            },
            Err(Reason::RevocationStateStale),
        ),
        (
            "an agent for pilots, alice is none",
            row("pilot-only"),
            Err(Reason::UserNotAllowed),
        ),
        (
            "an agent not in the entry",
            row("stranger"),
            Err(Reason::IdJagAudienceNotAllowed),
        ),
        (
            "an audience with no entry",
            Row {
                audience: "https://as.elsewhere.example",
                ..row("asker")
            },
            Err(Reason::IdJagAudienceNotAllowed),
        ),
        (
            "a resource not in the entry",
            Row {
                resource: "https://mcp.partner.example/other",
                ..row("asker")
            },
            Err(Reason::IdJagResourceNotAllowed),
        ),
        (
            "a scope not in the entry",
            Row {
                scope: Some(&["files:read", "files:admin"]),
                ..row("asker")
            },
            Err(Reason::IdJagScopeNotAllowed),
        ),
        (
            "the agent's own client id when none is mapped",
            Row {
                token: VerifiedToken {
                    groups: crate::upstream::Groups::Known(vec!["Pilot".into()]),
                    ..alice(TokenShape::Id, false)
                },
                ..row("pilot-only")
            },
            Ok(Box::new(|d: &IdJagDecided| {
                assert_eq!(d.client_id, "pilot-only")
            })),
        ),
    ];
    for (name, r, want) in rows {
        match (r.run(&p), want) {
            (Ok(d), Ok(check)) => check(&d),
            (Err(d), Err(reason)) => assert_eq!(d.reason, reason, "{name}: {}", d.description),
            (got, want) => panic!("{name}: got {got:?}, wanted {:?}", want.err()),
        }
    }
}
