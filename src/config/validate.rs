//! The rules a configuration must satisfy before anything serves. Each
//! returns a message that names the value and says what to do instead.

use std::collections::{HashMap, HashSet};

use url::Url;

use super::catalogue::{Catalogue, validate_resources};
use super::{
    AgentConfig, ClientAuthMethod, ClientConfig, Config, ConfigError, Pattern, SecretSource, Span,
};
use super::{IntrospectMode, TENANT_PLACEHOLDER, UpstreamConfig, UpstreamKind, UpstreamUse};

/// Minted tokens live 5–15 minutes (DESIGN §3).
pub const MIN_TOKEN_TTL: Span = Span::from_secs(5 * 60);
pub const MAX_TOKEN_TTL: Span = Span::from_secs(15 * 60);

pub(super) struct Errors(Vec<ConfigError>);

impl Errors {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
}

pub(super) fn validate(c: &Config) -> Vec<ConfigError> {
    let mut e = Errors(Vec::new());
    if let Err(m) = check_public_url(&c.issuer) {
        e.push("issuer", m);
    } else if Url::parse(&c.issuer).is_ok_and(|u| u.path() != "/" || c.issuer.ends_with('/')) {
        e.push(
            "issuer",
            format!(
                "\"{}\" must be an origin such as \"https://sts.example.com\" (no path, no trailing slash): \
                 it is compared exactly and metadata is served at its /.well-known/",
                c.issuer
            ),
        );
    }
    if let SecretSource::Literal(url) = &c.storage.database_url
        && !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|p| url.starts_with(p))
    {
        e.push(
            "storage.database_url",
            "must start with sqlite: or postgres: (the value is not shown: it may hold a password)",
        );
    }
    if c.keys.jwks_max_age > Span::from_secs(3_600) {
        e.push(
            "keys.jwks_max_age",
            format!(
                "{} is too long: keep it at most 1h so a rotation is seen in time",
                c.keys.jwks_max_age
            ),
        );
    }
    let upstreams = validate_upstreams(c, &mut e);
    let declared = validate_resources(c, &mut e);
    validate_agents(c, &upstreams, &declared, &mut e);
    validate_scope_groups(c, &upstreams, &declared, &mut e);
    validate_introspectors(c, &declared, &mut e);
    super::trust::validate_issuers(c, &mut e);
    super::trust::validate_serves(c, &mut e);
    super::interactive::validate(c, &mut e);
    super::id_jag::validate(c, &mut e);
    if c.break_glass.max_window > super::BREAK_GLASS_CEILING
        || c.break_glass.max_window < Span::from_secs(60)
    {
        e.push(
            "break_glass.max_window",
            format!("{} is out of range: 1m to 24h", c.break_glass.max_window),
        );
    }
    if c.audit.insecure_disable && !c.dev_mode {
        e.push(
            "audit.insecure_disable",
            "turns the audit trail off; it is for benchmarks under start-dev only",
        );
    }
    if c.audit.queue == 0 {
        e.push("audit.queue", "must be at least 1");
    }
    super::retention::validate(c, &mut e);
    super::limits::validate(c, &mut e);
    if c.token_exchange.max_delegation_depth == 0 {
        e.push(
            "token_exchange.max_delegation_depth",
            "must be at least 1: every OBO or hybrid token already holds one actor",
        );
    }
    e.0
}

/// `https://…`, or `http://` on a loopback host (local tests, the dev IdP);
/// no user or password in it. The same rules hold for URLs an IdP's
/// discovery document names (`upstream::jwks_cache`).
pub fn check_public_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|err| format!("\"{s}\" is not a URL: {err}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "\"{}\" must not carry a user or password",
            shown_url(&url)
        ));
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "\"{s}\" must use https (http is allowed only on a loopback host)"
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("\"{s}\" must not have a query or fragment"));
    }
    Ok(url)
}

/// A URL for messages, without its user and password.
fn shown_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn validate_upstreams<'a>(c: &'a Config, e: &mut Errors) -> HashMap<&'a str, &'a UpstreamConfig> {
    let mut by_name = HashMap::new();
    for (i, u) in c.upstreams.iter().enumerate() {
        let at = |f: &str| format!("upstreams[{i}].{f}");
        if !is_name(&u.name) {
            e.push(
                at("name"),
                format!("\"{}\" must be 1-128 of A-Z a-z 0-9 - _ .", u.name),
            );
        } else if by_name.insert(u.name.as_str(), u).is_some() {
            e.push(
                at("name"),
                format!("\"{}\" is already the name of another upstream", u.name),
            );
        }
        let entra = u.kind == UpstreamKind::Entra;
        let templated = u.issuer.contains(TENANT_PLACEHOLDER);
        if entra && !templated {
            e.push(
                at("issuer"),
                "an entra issuer names the tenant as {tenantid}, e.g. \
                 \"https://login.microsoftonline.com/{tenantid}/v2.0\"; list the tenants in tenants",
            );
        } else if !entra && templated {
            e.push(at("issuer"), "{tenantid} is for entra upstreams only");
        } else if let Err(m) = check_public_url(&u.issuer.replace(TENANT_PLACEHOLDER, "t")) {
            e.push(at("issuer"), m);
        }
        match &u.issuer_v1 {
            Some(_) if !entra => {
                e.push(at("issuer_v1"), "issuer_v1 applies to entra upstreams only")
            }
            Some(v1) if !v1.contains(TENANT_PLACEHOLDER) => e.push(
                at("issuer_v1"),
                "name the tenant as {tenantid}, e.g. \"https://sts.windows.net/{tenantid}/\"",
            ),
            Some(v1) => {
                if let Err(m) = check_public_url(&v1.replace(TENANT_PLACEHOLDER, "t")) {
                    e.push(at("issuer_v1"), m);
                }
            }
            None => {}
        }
        for (j, t) in u.tenants.iter().enumerate() {
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                e.push(
                    at(&format!("tenants[{j}]")),
                    format!("\"{t}\" is not a tenant id (a GUID)"),
                );
            }
        }
        // An upstream that only issues ID-JAGs (addressed to our issuer)
        // needs no audience of its own.
        if (u.audiences.is_empty() && !u.issues_id_jag) || u.audiences.iter().any(String::is_empty)
        {
            e.push(
                at("audiences"),
                "list at least one accepted audience; empty values are not allowed",
            );
        }
        if u.algorithms.is_empty() {
            e.push(at("algorithms"), "list at least one algorithm");
        }
        if u.clock_skew > Span::from_secs(300) {
            e.push(
                at("clock_skew"),
                format!("{} is too lenient; at most 5m", u.clock_skew),
            );
        }
        match (u.kind, u.tenants.is_empty()) {
            (UpstreamKind::Entra, true) => e.push(
                at("tenants"),
                "an entra upstream needs its tenant allow-list (tenant ids, `tid`)",
            ),
            (UpstreamKind::Okta | UpstreamKind::Oidc, false) => {
                e.push(at("tenants"), "tenants apply to entra upstreams only")
            }
            _ => {}
        }
        if u.jwks_uri.is_some() && u.discovery_url.is_some() {
            e.push(at("jwks_uri"), "set jwks_uri or discovery_url, not both");
        }
        for (field, value) in [
            ("jwks_uri", &u.jwks_uri),
            ("discovery_url", &u.discovery_url),
        ] {
            if let Some(v) = value
                && let Err(m) = check_public_url(v)
            {
                e.push(at(field), m);
            }
        }
        let mode = u.introspect_mode();
        if let Err(m) = &mode {
            e.push(at("introspect"), m.clone());
        }
        let introspects = mode != Ok(IntrospectMode::Never);
        if u.is_okta_org_server() && mode != Ok(IntrospectMode::Always) {
            e.push(
                at("introspect"),
                "tokens of an Okta org authorization server cannot be verified locally; set introspect = \"always\"",
            );
        }
        if introspects && u.introspection.is_none() {
            e.push(
                at("introspection"),
                "introspect is on, so give the credentials: introspection = { client_id = …, client_secret = … }",
            );
        }
    }
    by_name
}

/// RFC 6749 §3.3 scope-token syntax, and no wildcard or over-broad scope:
/// an agent never asks for more than it declares.
pub fn check_scope(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("a scope cannot be empty".into());
    }
    if let Some(c) = s
        .chars()
        .find(|&c| !matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
    {
        return Err(format!(
            "\"{s}\" contains {c:?}, which RFC 6749 §3.3 does not allow in a scope"
        ));
    }
    if s.contains('*') {
        return Err(format!("\"{s}\" is a wildcard; declare the exact scopes"));
    }
    if !s.contains(':') || s.split(':').any(str::is_empty) {
        return Err(format!(
            "\"{s}\" is over-broad; name the system, object and action, e.g. \"zendesk:tickets:read\""
        ));
    }
    Ok(())
}

fn validate_agents(
    c: &Config,
    upstreams: &HashMap<&str, &UpstreamConfig>,
    declared: &Catalogue<'_>,
    e: &mut Errors,
) {
    let mut ids = HashSet::new();
    let mut clients = HashSet::new();
    for (i, a) in c.agents.iter().enumerate() {
        let at = |f: &str| format!("agents[{i}].{f}");
        if !is_name(&a.id) {
            e.push(
                at("id"),
                format!("\"{}\" must be 1-128 of A-Z a-z 0-9 - _ .", a.id),
            );
        } else if !ids.insert(a.id.as_str()) {
            e.push(
                at("id"),
                format!("\"{}\" is already the id of another agent", a.id),
            );
        }
        if a.patterns.is_empty() {
            e.push(
                at("patterns"),
                "list the patterns this agent may use: obo, workload, hybrid",
            );
        }
        if !clients.insert(a.client.id.as_str()) {
            e.push(
                at("client.id"),
                format!("\"{}\" is already another agent's client", a.client.id),
            );
        }
        validate_client(a, &at, e);
        if a.token_ttl < MIN_TOKEN_TTL || a.token_ttl > MAX_TOKEN_TTL {
            e.push(
                at("token_ttl"),
                format!("{} is outside 5m–15m", a.token_ttl),
            );
        }
        if let Some(w) = &a.workload {
            match upstreams.get(w.upstream.as_str()) {
                None => e.push(
                    at("workload.upstream"),
                    format!("\"{}\" is not a configured upstream", w.upstream),
                ),
                Some(u) if u.usage != UpstreamUse::Workload => e.push(
                    at("workload.upstream"),
                    format!(
                        "\"{}\" is not a workload upstream (set use = \"workload\" on it)",
                        w.upstream
                    ),
                ),
                Some(_) => {}
            }
            if w.subject.is_empty() {
                e.push(at("workload.subject"), "name the workload principal");
            }
        }
        if a.resources.is_empty() {
            e.push(at("resources"), "list the resources this agent may call");
        }
        for (j, name) in a.user_upstreams.iter().enumerate() {
            if upstreams
                .get(name.as_str())
                .is_none_or(|u| u.usage != UpstreamUse::User)
            {
                e.push(
                    at(&format!("user_upstreams[{j}]")),
                    format!("\"{name}\" is not a user upstream"),
                );
            }
        }
        for (j, g) in a.user_groups.iter().enumerate() {
            if let Err(m) = check_group(g, upstreams) {
                e.push(at(&format!("user_groups[{j}]")), m);
            }
        }
        for (j, r) in a.resources.iter().enumerate() {
            if !declared.uris.contains(r.as_str()) {
                e.push(
                    at(&format!("resources[{j}]")),
                    format!("\"{r}\" is not a declared resource"),
                );
            }
        }
        let user_facing = a
            .patterns
            .iter()
            .any(|p| matches!(p, Pattern::Obo | Pattern::Hybrid));
        let mut seen = HashSet::new();
        let scopes = a.required_scopes.iter().map(|s| ("required_scopes", s));
        let scopes = scopes.chain(a.optional_scopes.iter().map(|s| ("optional_scopes", s)));
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (field, s) in scopes {
            let j = index.entry(field).or_default();
            let path = at(&format!("{field}[{j}]"));
            *j += 1;
            if let Err(m) = check_scope(s) {
                e.push(path, m);
                continue;
            }
            if !seen.insert(s.as_str()) {
                e.push(path, format!("\"{s}\" is declared twice"));
                continue;
            }
            match declared.owners.get(s.as_str()) {
                None => {
                    e.push(path, format!("\"{s}\" is declared by no resource"));
                    continue;
                }
                Some(owners)
                    if !a
                        .resources
                        .iter()
                        .any(|r| declared.pairs.contains(&(s.as_str(), r.as_str()))) =>
                {
                    e.push(
                        path,
                        format!(
                            "\"{s}\" belongs to {}, which this agent may not call",
                            owners.join(", ")
                        ),
                    );
                    continue;
                }
                Some(_) => {}
            }
            if user_facing && c.scope_groups.get(s).is_none_or(Vec::is_empty) {
                e.push(
                    path,
                    format!("\"{s}\" can be held by nobody: add it to [scope_groups] with the groups that may hold it"),
                );
            }
        }
    }
}

fn validate_client(a: &AgentConfig, at: &dyn Fn(&str) -> String, e: &mut Errors) {
    check_client(&a.client, at, e);
}

fn check_client(cl: &ClientConfig, at: &dyn Fn(&str) -> String, e: &mut Errors) {
    // A public client may be named by the URL of its metadata document.
    let document = cl.auth == ClientAuthMethod::None && super::is_document_url(&cl.id);
    if !is_name(&cl.id) && !document {
        e.push(
            at("client.id"),
            format!("\"{}\" must be 1-128 of A-Z a-z 0-9 - _ .", cl.id),
        );
    }
    match cl.auth {
        ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
            match &cl.secret_sha256 {
                None => e.push(
                    at("client.secret_sha256"),
                    "a secret-based client needs secret_sha256 (`agent-sts clients new-secret` prints it)",
                ),
                Some(h) if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) => {
                    e.push(at("client.secret_sha256"), "must be 64 hex digits (a SHA-256)")
                }
                Some(_) => {}
            }
            if cl.jwks.is_some() || cl.jwks_uri.is_some() {
                e.push(
                    at("client.auth"),
                    "jwks/jwks_uri are for private_key_jwt clients",
                );
            }
        }
        ClientAuthMethod::PrivateKeyJwt => {
            match (&cl.jwks, &cl.jwks_uri) {
                (None, None) | (Some(_), Some(_)) => e.push(
                    at("client"),
                    "a private_key_jwt client needs exactly one of jwks or jwks_uri",
                ),
                (None, Some(uri)) => {
                    if let Err(m) = check_public_url(uri) {
                        e.push(at("client.jwks_uri"), m);
                    }
                }
                (Some(jwks), None) => {
                    if !jwks.get("keys").is_some_and(|k| k.is_array()) {
                        e.push(at("client.jwks"), "must be a JWK Set: { keys = [ … ] }");
                    }
                }
            }
            if cl.secret_sha256.is_some() {
                e.push(
                    at("client.secret_sha256"),
                    "a private_key_jwt client has no secret",
                );
            }
        }
        ClientAuthMethod::None => {
            if cl.secret_sha256.is_some() || cl.jwks.is_some() || cl.jwks_uri.is_some() {
                e.push(
                    at("client.auth"),
                    "a public client (auth = \"none\") has no secret and no keys",
                );
            }
        }
    }
}

fn validate_scope_groups(
    c: &Config,
    upstreams: &HashMap<&str, &UpstreamConfig>,
    declared: &Catalogue<'_>,
    e: &mut Errors,
) {
    for (scope, groups) in &c.scope_groups {
        let at = format!("scope_groups.\"{scope}\"");
        if !declared.owners.contains_key(scope.as_str()) {
            e.push(
                at.as_str(),
                format!("\"{scope}\" is declared by no resource"),
            );
        }
        if groups.is_empty() {
            e.push(
                &at,
                "list the groups that may hold this scope, or remove the entry",
            );
        }
        for (j, g) in groups.iter().enumerate() {
            if let Err(m) = check_group(g, upstreams) {
                e.push(format!("{at}[{j}]"), m);
            }
        }
    }
}

/// `"<upstream>:<group>"` naming a user upstream.
fn check_group(g: &str, upstreams: &HashMap<&str, &UpstreamConfig>) -> Result<(), String> {
    let Some((upstream, group)) = g
        .split_once(':')
        .filter(|(u, g)| !u.is_empty() && !g.is_empty())
    else {
        return Err(format!("\"{g}\" must be \"<upstream>:<group>\""));
    };
    match upstreams.get(upstream) {
        None => Err(format!(
            "\"{upstream}\" (in \"{group}\") is not a configured upstream"
        )),
        Some(u) if u.usage != UpstreamUse::User => Err(format!(
            "\"{upstream}\" is a workload upstream; groups come from user upstreams"
        )),
        Some(_) => Ok(()),
    }
}

fn validate_introspectors(c: &Config, declared: &Catalogue<'_>, e: &mut Errors) {
    let mut clients: HashSet<&str> = c.agents.iter().map(|a| a.client.id.as_str()).collect();
    for (i, r) in c.introspectors.iter().enumerate() {
        let at = |f: &str| format!("introspectors[{i}].{f}");
        if !clients.insert(r.client.id.as_str()) {
            e.push(
                at("client.id"),
                format!("\"{}\" is already another client", r.client.id),
            );
        }
        if r.client.auth == ClientAuthMethod::ClientSecretPost {
            e.push(
                at("client.auth"),
                "introspection clients use client_secret_basic or private_key_jwt",
            );
        }
        check_client(&r.client, &at, e);
        if r.resources.is_empty() {
            e.push(at("resources"), "list the resources this caller serves");
        }
        for (j, uri) in r.resources.iter().enumerate() {
            if !declared.uris.contains(uri.as_str()) {
                e.push(
                    at(&format!("resources[{j}]")),
                    format!("\"{uri}\" is not a declared resource"),
                );
            }
        }
    }
    if let Some(admin) = &c.admin
        && (admin.credential_sha256.len() != 64
            || !admin
                .credential_sha256
                .chars()
                .all(|c| c.is_ascii_hexdigit()))
    {
        e.push(
            "admin.credential_sha256",
            "must be 64 hex digits (a SHA-256)",
        );
    }
    if c.revocation.poll_interval_ms == 0 || c.revocation.poll_interval_ms > 10_000 {
        e.push("revocation.poll_interval_ms", "must be 1-10000");
    }
}
