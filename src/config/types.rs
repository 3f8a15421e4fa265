//! The configuration file's shape. Every struct refuses unknown fields so a
//! typo is an error at start, not a silently ignored setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::interactive::{AuthorizationConfig, UpstreamLogin};
use super::limits::{OutboundConfig, RateLimitsConfig, RateSetting, ServerConfig};
use super::secret::SecretSource;
use super::span::Span;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The public issuer URL written into every token's `iss`.
    pub issuer: String,
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    pub storage: StorageConfig,
    #[serde(default)]
    pub keys: KeysConfig,
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub resources: Vec<ResourceConfig>,
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    /// Which IdP groups (`"<upstream>:<group>"`) may hold each scope.
    #[serde(default)]
    pub scope_groups: BTreeMap<String, Vec<String>>,
    /// Token exchange settings.
    #[serde(default)]
    pub token_exchange: TokenExchangeConfig,
    /// Resource servers and gateways that may call `/introspect`.
    #[serde(default)]
    pub introspectors: Vec<IntrospectorConfig>,
    /// Revocation propagation and staleness.
    #[serde(default)]
    pub revocation: RevocationConfig,
    /// Refresh tokens of the `interactive` pattern.
    #[serde(default)]
    pub authorization: AuthorizationConfig,
    /// The ID-JAGs this server issues (SEP-990 leg 1).
    #[serde(default)]
    pub id_jag: super::IdJagConfig,
    /// Break-glass windows: the longest one an operator may open.
    #[serde(default)]
    pub break_glass: super::BreakGlassConfig,
    /// The admin API (`/admin/...`); closed unless configured.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// What the audit trail records.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Inbound limits, timeouts and shutdown.
    #[serde(default)]
    pub server: ServerConfig,
    /// Outbound calls to IdPs (discovery, JWKS, introspection).
    #[serde(default)]
    pub outbound: OutboundConfig,
    /// Per source IP, per agent and per introspecting caller.
    #[serde(default)]
    pub rate_limits: RateLimitsConfig,
    /// Set by `start-dev` only, never read from a file: allows `insecure_*`
    /// settings and the built-in dev IdP.
    #[serde(skip)]
    pub dev_mode: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeConfig {
    /// How many actors a delegation chain may nest (RFC 8693 §4.1).
    #[serde(default = "default_max_delegation_depth")]
    pub max_delegation_depth: usize,
}

impl Default for TokenExchangeConfig {
    fn default() -> Self {
        Self {
            max_delegation_depth: default_max_delegation_depth(),
        }
    }
}

fn default_max_delegation_depth() -> usize {
    3
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectorConfig {
    /// How it authenticates: `client_secret_basic` or `private_key_jwt`.
    pub client: ClientConfig,
    /// The resource URIs it serves: a token is active for this caller only
    /// when its `aud` is one of them.
    pub resources: Vec<String>,
    /// Its own `/introspect` rate; default `rate_limits.introspect_per_caller`.
    #[serde(default)]
    pub rate_limit: Option<RateSetting>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationConfig {
    /// If this replica's revocation view is older than this (storage
    /// unreachable), `/introspect` answers 503 instead of guessing.
    #[serde(default = "default_max_staleness")]
    pub max_staleness: Span,
    /// How often the view is reloaded from the database (the backstop for
    /// missed Redis messages).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            max_staleness: default_max_staleness(),
            poll_interval_ms: default_poll_interval(),
        }
    }
}

fn default_max_staleness() -> Span {
    Span::from_secs(30)
}

fn default_poll_interval() -> u64 {
    500
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntrospectionAudit {
    /// Every denial, plus the first active answer per token and caller; the
    /// rest are counted and summarised in one record when the token expires.
    #[default]
    First,
    /// Every answer.
    All,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    #[serde(default)]
    pub introspection: IntrospectionAudit,
    /// Records waiting for commit; past this a `/token` request is refused
    /// (503) rather than issued unaudited.
    #[serde(default = "default_audit_queue")]
    pub queue: usize,
    /// Benchmarks only: record nothing. Refused outside start-dev.
    #[serde(default)]
    pub insecure_disable: bool,
    /// `first` mode: (token, caller) pairs counted at once; when full, the
    /// counts are summarised early (in the background) and counting starts
    /// afresh.
    #[serde(default = "default_counted_pairs")]
    pub counted_pairs: usize,
    /// Records older than this are pruned (whole partitions on PostgreSQL,
    /// batches on SQLite); `None` (the default): kept forever.
    #[serde(default)]
    pub retention: Option<Span>,
    /// PostgreSQL: the length of one audit partition (default `1d`).
    #[serde(default = "default_audit_partition")]
    pub partition: Span,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            introspection: IntrospectionAudit::default(),
            queue: default_audit_queue(),
            insecure_disable: false,
            counted_pairs: default_counted_pairs(),
            retention: None,
            partition: default_audit_partition(),
        }
    }
}

fn default_audit_partition() -> Span {
    Span::from_secs(86_400)
}

/// ~250 bytes a pair, and the backlog of early summaries is bounded by it
/// too (~1 KB a record): 14,000 (a hash table of 16,384 buckets) keeps both
/// within the 64 MB budget of issue 21; a larger value trades memory for
/// fewer early summaries.
fn default_counted_pairs() -> usize {
    14_000
}

fn default_audit_queue() -> usize {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Hex SHA-256 of the admin bearer credential
    /// (`agent-sts clients new-secret` makes one).
    pub credential_sha256: String,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`. May carry a
    /// password, so it is a secret (literal or `{ env = "VAR" }`).
    /// `AGENT_STS_DATABASE_URL` overrides it.
    pub database_url: SecretSource,
    /// Optional Redis; without it every cache is in-process.
    /// `AGENT_STS_REDIS_URL` overrides it.
    #[serde(default)]
    pub redis_url: Option<SecretSource>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Folder of signing-key files (`agent-sts keys generate|rotate|list`).
    #[serde(default = "default_keys_dir")]
    pub dir: PathBuf,
    /// `Cache-Control: max-age` of the JWKS. A rotation's lead time must
    /// exceed it so verifiers see the next key before it signs.
    #[serde(default = "default_jwks_max_age")]
    pub jwks_max_age: Span,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            dir: default_keys_dir(),
            jwks_max_age: default_jwks_max_age(),
        }
    }
}

fn default_keys_dir() -> PathBuf {
    PathBuf::from("keys")
}

fn default_jwks_max_age() -> Span {
    Span::from_secs(300)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    Okta,
    Entra,
    Oidc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamUse {
    /// The upstream authenticates people: its tokens are subject tokens of
    /// the OBO and hybrid patterns.
    #[default]
    User,
    /// The upstream authenticates workloads (agents): its tokens are actor
    /// tokens, or subject tokens of the workload pattern.
    Workload,
}

/// Asymmetric JWS algorithms an upstream may sign with. `none` and `HS*`
/// are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum UpstreamAlg {
    RS256,
    RS384,
    RS512,
    PS256,
    ES256,
    ES384,
    EdDSA,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    pub kind: UpstreamKind,
    #[serde(rename = "use", default)]
    pub usage: UpstreamUse,
    /// Matched exactly against each token's `iss`.
    pub issuer: String,
    /// Accepted `aud` values; a token must carry at least one.
    pub audiences: Vec<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<UpstreamAlg>,
    #[serde(default = "default_skew")]
    pub clock_skew: Span,
    /// Refuse tokens whose `iat` is older than this (default 24 h, see
    /// [`DEFAULT_MAX_TOKEN_AGE`]).
    #[serde(default)]
    pub max_token_age: Option<Span>,
    /// Claim holding the subject; the profile's default when absent
    /// (Okta `uid` then `sub`, Entra `oid`, OIDC `sub`).
    #[serde(default)]
    pub subject_claim: Option<String>,
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Entra only: the tenant ids (`tid`) whose tokens are accepted.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Fetch keys here instead of via discovery (mirrors, air-gapped nets).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// agent-sts as an OpenID Connect relying party of this IdP: where
    /// `interactive` agents' users sign in.
    #[serde(default)]
    pub login: Option<UpstreamLogin>,
    /// This IdP issues ID-JAGs addressed to us (SEP-990): agents with the
    /// `id_jag` pattern present them with the jwt-bearer grant.
    #[serde(default)]
    pub issues_id_jag: bool,
    /// The longest such an ID-JAG may live (`exp − iat`); default 5m.
    #[serde(default)]
    pub id_jag_max_lifetime: Option<Span>,
    /// Discovery document location when it is not `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// `never` (default), `always`, or `when-lifetime-over-<span>` such as
    /// `when-lifetime-over-15m`: RFC 7662 back-channel check at the IdP.
    #[serde(default)]
    pub introspect: Option<String>,
    #[serde(default)]
    pub introspection: Option<UpstreamIntrospection>,
    /// Entra only: the v1 issuer, with `{tenantid}` where the tenant goes.
    /// Default `https://sts.windows.net/{tenantid}/`.
    #[serde(default)]
    pub issuer_v1: Option<String>,
    /// Claims a token must carry with exactly these values, e.g. GitHub
    /// Actions' `repository_owner = "acme"`.
    #[serde(default)]
    pub required_claims: BTreeMap<String, String>,
    /// How long cached keys keep verifying while the IdP is unreachable.
    #[serde(default = "default_keys_stale_for")]
    pub keys_stale_for: Span,
    /// Least time between two JWKS fetches caused by an unknown `kid`.
    #[serde(default = "default_keys_min_refetch")]
    pub keys_min_refetch: Span,
}

/// Okta and Entra ID cap access-token lifetimes at 24 h: an upstream token
/// older than that is refused unless `max_token_age` says otherwise.
pub const DEFAULT_MAX_TOKEN_AGE: Span = Span::from_secs(24 * 3_600);

/// The tenant an Entra issuer names, if `iss` fits one of `templates`.
pub fn tenant_of<'a>(templates: &[(String, String)], iss: &'a str) -> Option<&'a str> {
    templates.iter().find_map(|(p, s)| {
        let t = iss.strip_prefix(p.as_str())?.strip_suffix(s.as_str())?;
        (!t.is_empty() && !t.contains('/')).then_some(t)
    })
}

/// `{tenantid}` in an Entra issuer stands for each allowed tenant.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";
pub const ENTRA_V1_ISSUER: &str = "https://sts.windows.net/{tenantid}/";

/// When to ask the IdP (RFC 7662) whether a token is still active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrospectMode {
    Never,
    Always,
    /// When the token's `exp - iat` exceeds this many seconds.
    WhenLifetimeOver(u64),
}

impl UpstreamConfig {
    pub fn introspect_mode(&self) -> Result<IntrospectMode, String> {
        match self.introspect.as_deref() {
            None | Some("never") => Ok(IntrospectMode::Never),
            Some("always") => Ok(IntrospectMode::Always),
            Some(other) => match other.strip_prefix("when-lifetime-over-") {
                Some(span) => {
                    Span::parse(span).map(|s| IntrospectMode::WhenLifetimeOver(s.as_secs()))
                }
                None => Err(format!(
                    "\"{other}\" is not one of never, always, when-lifetime-over-<duration>"
                )),
            },
        }
    }

    /// The age past which a token is refused: `max_token_age`, else
    /// [`DEFAULT_MAX_TOKEN_AGE`]. It also bounds how long a subject, agent
    /// or client revocation must be kept to stop new tokens.
    pub fn max_token_age(&self) -> Span {
        self.max_token_age.unwrap_or(DEFAULT_MAX_TOKEN_AGE)
    }

    /// Entra: (prefix, suffix) around `{tenantid}` of the v2 and v1
    /// issuers; empty for other kinds (their issuer is matched exactly).
    pub fn issuer_templates(&self) -> Vec<(String, String)> {
        if self.kind != UpstreamKind::Entra {
            return Vec::new();
        }
        let v1 = self.issuer_v1.as_deref().unwrap_or(ENTRA_V1_ISSUER);
        [self.issuer.as_str(), v1]
            .iter()
            .filter_map(|t| t.split_once(TENANT_PLACEHOLDER))
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect()
    }

    /// The concrete issuers this upstream accepts: its issuer, or for
    /// Entra the v2 and v1 issuer of every listed tenant.
    pub fn concrete_issuers(&self) -> Vec<String> {
        if self.kind != UpstreamKind::Entra {
            return vec![self.issuer.clone()];
        }
        self.issuer_templates()
            .iter()
            .flat_map(|(p, s)| self.tenants.iter().map(move |t| format!("{p}{t}{s}")))
            .collect()
    }

    /// Would a token with `iss` be routed to this upstream? Entra routes by
    /// template, whatever the tenant (the allow-list is checked after).
    pub fn routes(&self, iss: &str) -> bool {
        if self.kind == UpstreamKind::Entra {
            tenant_of(&self.issuer_templates(), iss).is_some()
        } else {
            self.issuer == iss
        }
    }

    /// An Okta org authorization server (issuer without `/oauth2/`): its
    /// access tokens cannot be verified locally, only by introspection.
    pub fn is_okta_org_server(&self) -> bool {
        self.kind == UpstreamKind::Okta && !self.issuer.contains("/oauth2/")
    }
}

fn default_keys_stale_for() -> Span {
    Span::from_secs(3_600)
}

fn default_keys_min_refetch() -> Span {
    Span::from_secs(30)
}

fn default_algorithms() -> Vec<UpstreamAlg> {
    vec![UpstreamAlg::RS256]
}

fn default_skew() -> Span {
    Span::from_secs(60)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamIntrospection {
    /// The IdP's RFC 7662 endpoint; from discovery when absent.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub client_id: String,
    pub client_secret: SecretSource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The resource indicator (RFC 8707) and the minted token's `aud`.
    pub uri: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Every scope this resource understands.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    Obo,
    Workload,
    Hybrid,
    /// The user signs in at the upstream IdP through agent-sts's
    /// `/authorize` (authorization code + PKCE): an MCP client.
    Interactive,
    /// An ID-JAG from the enterprise IdP, with the jwt-bearer grant
    /// (SEP-990): the IdP decided the agent may reach the resource.
    #[serde(rename = "id_jag")]
    IdJag,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub patterns: Vec<Pattern>,
    pub client: ClientConfig,
    #[serde(default)]
    pub workload: Option<WorkloadIdentity>,
    pub resources: Vec<String>,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    #[serde(default)]
    pub optional_scopes: Vec<String>,
    #[serde(default = "default_token_ttl")]
    pub token_ttl: Span,
    /// Users of these upstreams only may use the agent (default: any user
    /// upstream).
    #[serde(default)]
    pub user_upstreams: Vec<String>,
    /// Users must be in one of these groups (`"<upstream>:<group>"`;
    /// default: anyone the scope rules admit).
    #[serde(default)]
    pub user_groups: Vec<String>,
    /// Resources this agent serves (it is their MCP gateway or server): it
    /// may present our tokens addressed to them as `subject_token` and act
    /// downstream (RFC 8693 §4.1 chains). At most one agent serves a
    /// resource, and tokens for it carry `may_act` naming that agent.
    #[serde(default)]
    pub serves: Vec<String>,
    /// `report-only` lets a request the group rules would deny through and
    /// audits it as `would_deny` (a roll-out's first weeks). Default `enforce`.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Its own `/token` rate; default `rate_limits.token_per_agent`.
    #[serde(default)]
    pub rate_limit: Option<RateSetting>,
    /// May an operator open a break-glass window for it (default true)?
    #[serde(default = "default_true")]
    pub break_glass: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    #[default]
    Enforce,
    ReportOnly,
}

fn default_token_ttl() -> Span {
    Span::from_secs(600)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// A public client (a desktop or CLI MCP client): no secret, PKCE
    /// only; the `interactive` pattern only.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    pub auth: ClientAuthMethod,
    /// Hex SHA-256 of the client secret (`agent-sts clients new-secret`);
    /// the secret itself is never stored.
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// Inline JWKS for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// JWKS location for `private_key_jwt`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `interactive` agents: where `/authorize` may send the user back,
    /// compared exactly (a loopback `http://127.0.0.1/…` or `[::1]` entry
    /// matches any port, RFC 8252 §7.3).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadIdentity {
    /// An upstream with `use = "workload"`.
    pub upstream: String,
    /// The workload principal as that upstream names it (e.g.
    /// `system:serviceaccount:agents:support-bot`).
    pub subject: String,
}

fn default_true() -> bool {
    true
}
