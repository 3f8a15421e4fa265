//! Enterprise-managed authorization (MCP SEP-990): Identity Assertion JWT
//! Authorization Grants (ID-JAGs). As their receiver, an upstream says it
//! issues them (`issues_id_jag`) and agents take them with the `id_jag`
//! pattern; as their issuer, `[[id_jag.audiences]]` says which agent may
//! have which user asserted to which authorization server, for which
//! resources and scopes (nothing otherwise).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Span;
use super::validate::{Errors, check_public_url};
use super::{Config, Pattern, UpstreamUse};

/// The longest an ID-JAG we accept may live (`exp − iat`) unless an
/// upstream says less: the draft's "short-lived", Okta's 5 minutes.
pub const DEFAULT_ID_JAG_MAX_LIFETIME: Span = Span::from_secs(300);
/// Never more than this, whatever the configuration says: an ID-JAG is a
/// one-time grant, not a session.
pub const ID_JAG_LIFETIME_CEILING: Span = Span::from_secs(600);

/// `[id_jag]`: the ID-JAGs this server issues (leg 1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdJagConfig {
    /// How long an ID-JAG we issue lives (never past the user's token).
    #[serde(default = "default_lifetime")]
    pub lifetime: Span,
    #[serde(default)]
    pub audiences: Vec<IdJagAudience>,
}

impl Default for IdJagConfig {
    fn default() -> Self {
        Self {
            lifetime: default_lifetime(),
            audiences: Vec::new(),
        }
    }
}

fn default_lifetime() -> Span {
    DEFAULT_ID_JAG_MAX_LIFETIME
}

/// One authorization server our ID-JAGs may be addressed to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdJagAudience {
    /// That server's issuer: the ID-JAG's `aud`, the request's `audience`.
    pub issuer: String,
    /// The resources (MCP servers) there that may be named.
    pub resources: Vec<String>,
    /// The scopes that may be asserted; a request for others is refused.
    pub scopes: Vec<String>,
    /// The agents (ids) that may ask.
    pub agents: Vec<String>,
    /// Each agent's client id at that server, when it is not the agent's
    /// client id here (the ID-JAG's `client_id` claim).
    #[serde(default)]
    pub client_ids: BTreeMap<String, String>,
}

impl IdJagConfig {
    pub fn audience(&self, issuer: &str) -> Option<&IdJagAudience> {
        self.audiences.iter().find(|a| a.issuer == issuer)
    }
}

pub(super) fn validate(c: &Config, e: &mut Errors) {
    let j = &c.id_jag;
    if j.lifetime < Span::from_secs(30) || j.lifetime > ID_JAG_LIFETIME_CEILING {
        e.push(
            "id_jag.lifetime",
            format!("{} is out of range: 30s to 10m", j.lifetime),
        );
    }
    for (i, a) in j.audiences.iter().enumerate() {
        let at = |f: &str| format!("id_jag.audiences[{i}].{f}");
        if let Err(m) = check_public_url(&a.issuer) {
            e.push(at("issuer"), m);
        }
        if j.audiences[..i].iter().any(|b| b.issuer == a.issuer) {
            e.push(at("issuer"), "listed twice: merge the entries");
        }
        for (field, list) in [
            ("resources", &a.resources),
            ("scopes", &a.scopes),
            ("agents", &a.agents),
        ] {
            if list.is_empty() || list.iter().any(String::is_empty) {
                e.push(at(field), "list at least one; empty values are not allowed");
            }
        }
        for (k, id) in a.agents.iter().enumerate() {
            if !c.agents.iter().any(|x| x.id == *id) {
                e.push(at(&format!("agents[{k}]")), format!("no agent {id:?}"));
            }
        }
        for (id, client) in &a.client_ids {
            if !a.agents.contains(id) || client.is_empty() {
                e.push(
                    at(&format!("client_ids.{id}")),
                    "name an agent of this entry, with a non-empty client id",
                );
            }
        }
    }
    for u in &c.upstreams {
        let at = |f: &str| format!("upstreams.{}.{f}", u.name);
        if u.id_jag_max_lifetime.is_some() && !u.issues_id_jag {
            e.push(at("id_jag_max_lifetime"), "set issues_id_jag = true first");
        }
        if !u.issues_id_jag {
            continue;
        }
        if u.usage != UpstreamUse::User {
            e.push(
                at("issues_id_jag"),
                "ID-JAGs assert users: a user upstream only",
            );
        }
        if u.id_jag_max_lifetime
            .is_some_and(|l| l > ID_JAG_LIFETIME_CEILING)
        {
            e.push(at("id_jag_max_lifetime"), "at most 10m");
        }
    }
    for (i, a) in c.agents.iter().enumerate() {
        if !a.patterns.contains(&Pattern::IdJag) {
            continue;
        }
        let ok = c.upstreams.iter().any(|u| {
            u.issues_id_jag && (a.user_upstreams.is_empty() || a.user_upstreams.contains(&u.name))
        });
        if !ok {
            e.push(
                format!("agents[{i}].patterns"),
                "id_jag: no user upstream of this agent says issues_id_jag = true",
            );
        }
    }
}
