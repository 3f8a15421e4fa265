//! Policy: the configuration compiled once into lookup tables, and pure
//! decision functions over it. No I/O; the clock is an argument.
//!
//! The static rules (exact scopes, no wildcards, resources that exist,
//! scopes someone can hold) are enforced at load by `config::validate`;
//! what is decided here is per request: pattern, target, scopes, user.

mod break_glass;
mod decide;
mod exchange;
mod id_jag;
mod names;
pub use break_glass::decide_break_glass;

use std::collections::HashMap;

use crate::config::{AgentConfig, ClientConfig, Config, Pattern, WorkloadIdentity};
use crate::error::ErrorCode;
use crate::reason::Reason;

pub use crate::config::check_scope;
pub use decide::{Rule, ScopeStep, User, decide_scopes, decide_user_scopes, scope_steps};
pub use exchange::{
    Arrival, Decided, Exchange, Outcome, Presented, RevocationView, Token, Waiver, decide_exchange,
};
pub use id_jag::{IdJagAsk, IdJagDecided, decide_id_jag};
pub use names::Names;

/// A refused request: the protocol error, the stable reason, and a human
/// description naming the scope, resource or claim at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub error: ErrorCode,
    pub reason: Reason,
    pub description: String,
    /// Seconds for `Retry-After` (rate limits).
    pub retry_after: Option<u64>,
}

impl Denial {
    pub fn new(error: ErrorCode, reason: Reason, description: impl Into<String>) -> Self {
        Self {
            error,
            reason,
            description: description.into(),
            retry_after: None,
        }
    }

    /// A decision whose audit record could not be made durable: nothing
    /// was issued or changed (DESIGN §8, fail closed).
    pub fn unrecorded() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            Reason::AuditUnavailable,
            "the decision could not be recorded; nothing was issued, try again",
        )
    }
}

impl From<crate::rate_limit::Exceeded> for Denial {
    fn from(e: crate::rate_limit::Exceeded) -> Self {
        Self {
            retry_after: Some(e.retry_after),
            ..Self::new(ErrorCode::RateLimited, Reason::RateLimited, e.description)
        }
    }
}

/// An agent as policy sees it.
#[derive(Debug)]
pub struct Agent {
    pub id: String,
    pub patterns: Vec<Pattern>,
    pub client: ClientConfig,
    pub workload: Option<WorkloadIdentity>,
    pub resources: Names,
    pub required: Vec<String>,
    pub optional: Vec<String>,
    pub ttl_seconds: i64,
    pub user_upstreams: Vec<String>,
    /// (upstream, group)
    pub user_groups: Vec<(String, String)>,
    /// Group rules report (`would_deny`) instead of deny.
    pub report_only: bool,
    /// May a break-glass window be opened for it?
    pub break_glass: bool,
}

impl Agent {
    fn new(a: &AgentConfig) -> Self {
        Self {
            id: a.id.clone(),
            patterns: a.patterns.clone(),
            client: a.client.clone(),
            workload: a.workload.clone(),
            resources: a.resources.iter().cloned().collect(),
            required: a.required_scopes.clone(),
            optional: a.optional_scopes.clone(),
            ttl_seconds: a.token_ttl.as_secs() as i64,
            user_upstreams: a.user_upstreams.clone(),
            user_groups: a
                .user_groups
                .iter()
                .filter_map(|g| split_group(g))
                .collect(),
            report_only: a.enforcement == crate::config::Enforcement::ReportOnly,
            break_glass: a.break_glass,
        }
    }

    /// The principal that acts: the workload identity when configured,
    /// else the client id.
    pub fn principal(&self) -> &str {
        self.workload
            .as_ref()
            .map_or(self.client.id.as_str(), |w| w.subject.as_str())
    }

    pub fn declares(&self, scope: &str) -> bool {
        self.required
            .iter()
            .chain(&self.optional)
            .any(|s| s == scope)
    }

    pub fn allows(&self, p: Pattern) -> Result<(), Denial> {
        if self.patterns.contains(&p) {
            Ok(())
        } else {
            Err(Denial::new(
                ErrorCode::UnauthorizedClient,
                Reason::PatternNotAllowed,
                format!(
                    "agent {} may not use the {} pattern",
                    self.id,
                    pattern_name(p)
                ),
            ))
        }
    }
}

pub fn pattern_name(p: Pattern) -> &'static str {
    match p {
        Pattern::Obo => "obo",
        Pattern::Workload => "workload",
        Pattern::Hybrid => "hybrid",
        Pattern::Interactive => "interactive",
        Pattern::IdJag => "id_jag",
    }
}

fn split_group(g: &str) -> Option<(String, String)> {
    g.split_once(':')
        .map(|(u, g)| (u.to_string(), g.to_string()))
}

/// A resource server or gateway that may call `/introspect`.
#[derive(Debug)]
pub struct Introspector {
    pub client: ClientConfig,
    pub resources: Names,
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Agent(usize),
    Introspector(usize),
}

#[derive(Debug)]
pub struct Policy {
    agents: Vec<Agent>,
    introspectors: Vec<Introspector>,
    by_client: HashMap<String, Role>,
    /// resource URI → its scopes
    resources: HashMap<String, Names>,
    /// normal form (`crate::resource`) → the declared spelling, for the
    /// resources not declared in their normal form (the others are found
    /// in `resources` by it)
    spellings: HashMap<String, String>,
    /// scope → the (upstream, group) pairs that hold it
    holders: HashMap<String, Names<(String, String)>>,
    /// resource URI → the agent that serves it (`serves`): its downstream actor
    servers: HashMap<String, usize>,
    pub max_delegation_depth: usize,
    /// Whom our ID-JAGs may assert to (SEP-990 leg 1).
    pub id_jag: crate::config::IdJagConfig,
}

impl Policy {
    pub fn new(config: &Config) -> Self {
        let agents: Vec<Agent> = config.agents.iter().map(Agent::new).collect();
        let introspectors: Vec<Introspector> = config
            .introspectors
            .iter()
            .map(|r| Introspector {
                client: r.client.clone(),
                resources: r.resources.iter().cloned().collect(),
            })
            .collect();
        let by_client = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.client.id.clone(), Role::Agent(i)))
            .chain(
                introspectors
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.client.id.clone(), Role::Introspector(i))),
            )
            .collect();
        let resources = config
            .resources
            .iter()
            .map(|r| (r.uri.clone(), r.scopes.iter().cloned().collect()))
            .collect();
        let mut spellings = HashMap::new();
        for r in &config.resources {
            if let Some(n) = crate::resource::normalize(&r.uri).filter(|n| *n != r.uri) {
                spellings.entry(n).or_insert_with(|| r.uri.clone());
            }
        }
        let holders = config
            .scope_groups
            .iter()
            .map(|(scope, groups)| {
                (
                    scope.clone(),
                    groups.iter().filter_map(|g| split_group(g)).collect(),
                )
            })
            .collect();
        let servers = config
            .agents
            .iter()
            .enumerate()
            .flat_map(|(i, a)| a.serves.iter().map(move |r| (r.clone(), i)))
            .collect();
        Self {
            agents,
            introspectors,
            by_client,
            resources,
            spellings,
            holders,
            servers,
            max_delegation_depth: config.token_exchange.max_delegation_depth,
            id_jag: config.id_jag.clone(),
        }
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn agent_by_client(&self, client_id: &str) -> Option<&Agent> {
        match self.by_client.get(client_id)? {
            Role::Agent(i) => self.agents.get(*i),
            Role::Introspector(_) => None,
        }
    }

    pub fn introspector_by_client(&self, client_id: &str) -> Option<&Introspector> {
        match self.by_client.get(client_id)? {
            Role::Introspector(i) => self.introspectors.get(*i),
            Role::Agent(_) => None,
        }
    }

    /// Any registered client: an agent's or an introspector's.
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        match self.by_client.get(client_id)? {
            Role::Agent(i) => self.agents.get(*i).map(|a| &a.client),
            Role::Introspector(i) => self.introspectors.get(*i).map(|r| &r.client),
        }
    }

    /// The agent that serves `resource` and may act downstream with its tokens.
    pub fn server_of(&self, resource: &str) -> Option<&Agent> {
        self.servers.get(resource).and_then(|i| self.agents.get(*i))
    }

    /// The declared resource `requested` names, in its declared spelling
    /// (the one `aud` carries): `https://x.example` and
    /// `https://X.example:443/` are one resource (RFC 3986 §6.2.2–6.2.3).
    pub fn resource<'a>(&'a self, requested: &'a str) -> Option<&'a str> {
        if self.resources.contains_key(requested) {
            return Some(requested);
        }
        let normal = crate::resource::normalize(requested)?;
        match self.resources.get_key_value(&normal) {
            Some((declared, _)) => Some(declared.as_str()),
            None => self.spellings.get(&normal).map(String::as_str),
        }
    }

    pub fn resource_scopes(&self, uri: &str) -> Option<&Names> {
        self.resources.get(uri)
    }
}
