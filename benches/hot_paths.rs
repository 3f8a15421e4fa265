//! The in-process pieces of the hot paths that `benches/verify.rs` does not
//! cover: the policy decision of an OBO exchange, access-token minting,
//! introspection of one of our tokens (cache miss and hit), and sealing an
//! audit record.
//!
//!     cargo bench --bench hot_paths
//!
//! Everything is built from the public library API; setup (TOML parsing,
//! policy compilation, key generation, token minting for the cache-miss
//! case) is never inside the timed part.

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use agent_sts::app::App;
use agent_sts::audit::{AuditRecord, Decision, Event};
use agent_sts::clock::{Clock, FrozenClock, SharedClock, SystemClock, UnixTime, rfc3339};
use agent_sts::config::{Config, Pattern};
use agent_sts::introspection::{Outcome, introspect};
use agent_sts::policy::{Policy, User, decide_user_scopes};
use agent_sts::tokens::keys::{self, SigningAlg, SigningKey};
use agent_sts::tokens::own::{AccessClaims, TYP_AT_JWT};
use agent_sts::tokens::verified::VerifiedCache;
use agent_sts::tokens::{random_id, sign_jwt};
use agent_sts::upstream::Groups;
use common::TENANT;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;

const ISSUER: &str = "https://sts.example.com";
const ENTRA_ISSUER: &str =
    "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0";
const K8S_ISSUER: &str = "https://kubernetes.default.svc";
/// SHA-256 of "example-secret-do-not-use" (examples/agent-sts.toml).
const SECRET_SHA256: &str = "39be0ef9abd5084aa21a2102f81816bebe4d64a50f37790feebea011b644f844";
const GATEWAY: &str = "mcp-gateway";
const GATEWAY_RESOURCE: &str = "https://mcp-gateway.example.com";

/// Upstreams and storage shared by every generated policy.
fn config_head(database_url: &str, keys_dir: &str) -> String {
    let upstreams = common::upstreams(
        "https://example.okta.com/oauth2/default/v1/keys",
        "https://login.microsoftonline.com/common/discovery/v2.0/keys",
    );
    format!(
        r#"issuer = "{ISSUER}"
[storage]
database_url = "{database_url}"
[keys]
dir = "{keys_dir}"
{upstreams}[[upstreams]]
name = "k8s"
kind = "oidc"
use = "workload"
issuer = "{K8S_ISSUER}"
audiences = ["agent-sts"]
jwks_uri = "https://kubernetes.default.svc/openid/v1/jwks"
"#
    )
}

/// The scopes of agent `i` on its own resource: three required, one optional.
fn scopes(i: usize) -> [String; 4] {
    [
        format!("zendesk{i}:tickets:read"),
        format!("zendesk{i}:tickets:write"),
        format!("postgres{i}:support_db:read"),
        format!("slack{i}:channels:read"),
    ]
}

/// A policy of `n` agents shaped like the article's `support-bot` (obo and
/// hybrid, a workload identity, user population rules), each with its own
/// resource, and `[scope_groups]` for all their scopes.
fn policy_toml(n: usize) -> String {
    let mut t = config_head("sqlite://unused", "keys/unused");
    t.reserve(n * 1_300);
    for i in 0..n {
        let [r, w, db, slack] = scopes(i);
        let _ = write!(
            t,
            r#"[[resources]]
uri = "https://mcp-{i}.example.com"
scopes = ["{r}", "{w}", "{db}", "{slack}"]
"#
        );
    }
    for i in 0..n {
        let [r, w, db, slack] = scopes(i);
        let _ = write!(
            t,
            r#"[[agents]]
id = "agent-{i}"
patterns = ["obo", "hybrid"]
resources = ["https://mcp-{i}.example.com"]
required_scopes = ["{r}", "{w}", "{db}"]
optional_scopes = ["{slack}"]
token_ttl = "10m"
workload = {{ upstream = "k8s", subject = "system:serviceaccount:agents:agent-{i}" }}
user_upstreams = ["okta", "entra"]
user_groups = ["okta:Support-Agents-{i}", "entra:5b0e0000-0000-4000-8000-{i:012}"]
client = {{ id = "agent-{i}", auth = "client_secret_basic", secret_sha256 = "{SECRET_SHA256}" }}
"#
        );
    }
    t.push_str("[scope_groups]\n");
    for i in 0..n {
        let [r, w, db, slack] = scopes(i);
        let team =
            format!(r#"["okta:Support-Agents-{i}", "entra:5b0e0000-0000-4000-8000-{i:012}"]"#);
        let _ = writeln!(t, r#""{r}" = {team}"#);
        let _ = writeln!(t, r#""{w}" = {team}"#);
        let _ = writeln!(t, r#""{db}" = {team}"#);
        let _ = writeln!(t, r#""{slack}" = ["okta:Everyone"]"#);
    }
    t
}

/// Policy lookup + OBO scope decision at 10 and 100,000 agents (lookups are O(1)): `cargo bench --bench hot_paths`
fn policy_decision(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy_decision");
    for n in [10usize, 100_000] {
        let policy = {
            let text = policy_toml(n);
            let config = Config::parse(&text, "bench").expect("bench policy parses");
            // `validate` scans every resource for each agent's resource
            // (config/validate.rs), quadratic at 100,000; the 10-agent
            // policy, of the same shape, proves the shape valid.
            if n <= 1_000 {
                config.validate().expect("bench policy is valid");
            }
            Policy::new(&config)
        };
        let i = n / 2;
        let client_id = format!("agent-{i}");
        let target = format!("https://mcp-{i}.example.com");
        // An Okta user in a realistic handful of groups, one of them the
        // team that may hold the agent's required scopes.
        let groups = Groups::Known(
            [
                "Everyone",
                "Engineering",
                "VPN-Users",
                "Confluence-Readers",
                "Jira-Users",
                "Slack-Members",
                "GitHub-Org",
                "Okta-MFA-Enrolled",
                "Building-3",
                "All-Hands",
            ]
            .into_iter()
            .map(str::to_string)
            .chain([format!("Support-Agents-{i}")])
            .collect(),
        );
        let user = User {
            upstream: "okta",
            groups: &groups,
        };
        let decide = || {
            let agent = policy
                .agent_by_client(black_box(&client_id))
                .expect("the agent exists");
            agent.allows(Pattern::Obo).expect("obo is allowed");
            decide_user_scopes(&policy, agent, user, black_box(&target), None)
                .expect("the user is granted")
        };
        let (granted, would_deny) = decide();
        assert_eq!(granted, scopes(i), "every scope granted, optional included");
        assert!(would_deny.is_none(), "an enforced allow");
        g.bench_with_input(BenchmarkId::new("agents", n), &n, |b, _| b.iter(&decide));
    }
    g.finish();
}

/// RFC 9068 claims of a hybrid exchange for an Entra user.
fn access_claims(iss: &str, aud: &str, now: UnixTime) -> AccessClaims {
    AccessClaims {
        iss: iss.to_string(),
        sub: "6f1c2a8e-4b7d-4c1e-9a0f-3d5e7b9c1a24".into(),
        aud: aud.to_string(),
        exp: now + 600,
        iat: now,
        jti: random_id().expect("the system RNG"),
        client_id: "support-bot".into(),
        scope: "zendesk:tickets:read zendesk:tickets:write postgres:support_db:read slack:channels:read"
            .into(),
        act: Some(json!({
            "sub": "system:serviceaccount:agents:support-bot",
            "iss": K8S_ISSUER,
        })),
        may_act: None,
        agent: json!({ "id": "support-bot", "pattern": "hybrid" }),
        idp: Some(ENTRA_ISSUER.into()),
        tid: Some(TENANT.into()),
    }
}

/// Access-token minting (claims to JSON, sign, encode) per signing algorithm: `cargo bench --bench hot_paths`
fn mint_access_token(c: &mut Criterion) {
    let now = SystemClock.now();
    let claims = access_claims(ISSUER, GATEWAY_RESOURCE, now);
    let mut g = c.benchmark_group("mint_access_token");
    for alg in [SigningAlg::Es256, SigningAlg::EdDsa, SigningAlg::Rs256] {
        let key = SigningKey::generate(alg, now, now).expect("signing key");
        g.bench_function(alg.as_str(), |b| {
            b.iter(|| sign_jwt(&key, TYP_AT_JWT, &claims.to_json()).expect("signs"))
        });
    }
    g.finish();
}

/// Introspection of one of our ES256 tokens, first seen (full verification) vs. verification-cache hit: `cargo bench --bench hot_paths`
fn introspect_own_token(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    // A frozen clock keeps the revocation view fresh (no poller runs here)
    // and our tokens unexpired, however long the run.
    let clock = FrozenClock::at(SystemClock.now());
    let now = clock.now();
    let keys_dir = dir.path().join("keys");
    keys::generate_first(&keys_dir, SigningAlg::Es256, now).expect("first signing key");
    let text = format!(
        r#"{}[[resources]]
uri = "{GATEWAY_RESOURCE}"
scopes = ["zendesk:tickets:read", "zendesk:tickets:write", "postgres:support_db:read", "slack:channels:read"]
[[introspectors]]
resources = ["{GATEWAY_RESOURCE}"]
client = {{ id = "{GATEWAY}", auth = "client_secret_basic", secret_sha256 = "{SECRET_SHA256}" }}
"#,
        config_head(
            &format!("sqlite://{}/agent-sts.db?mode=rwc", dir.path().display()),
            &keys_dir.display().to_string(),
        )
    );
    let config = Config::parse(&text, "bench").expect("bench config parses");
    config.validate().expect("bench config is valid");
    let shared: SharedClock = Arc::new(clock);
    let mut app = rt.block_on(App::build(config, shared)).expect("App::build");
    let mint = |app: &App| {
        let ring = app.keys.current();
        let key = ring.signer(now).expect("an active key");
        let claims = access_claims(&app.config.issuer, GATEWAY_RESOURCE, now);
        sign_jwt(key, TYP_AT_JWT, &claims.to_json()).expect("signs")
    };
    let active = |o: &Outcome| matches!(o, Outcome::Active(_));

    let mut g = c.benchmark_group("introspect_own_token");
    g.bench_function("uncached", |b| {
        b.iter_custom(|iters| {
            // Only the memory is bounded by emptying the cache: every token
            // below is fresh, so each introspection is a miss regardless.
            if let Some(a) = Arc::get_mut(&mut app) {
                a.verified = VerifiedCache::default();
            }
            let tokens: Vec<String> = (0..iters).map(|_| mint(&app)).collect();
            let caller = app
                .policy
                .introspector_by_client(GATEWAY)
                .expect("the gateway introspects");
            let start = Instant::now();
            for t in &tokens {
                let o = introspect(&app.introspection(), caller, black_box(t), now)
                    .expect("fresh view");
                assert!(active(&o), "a fresh token is active");
            }
            start.elapsed()
        })
    });
    let token = mint(&app);
    let caller = app
        .policy
        .introspector_by_client(GATEWAY)
        .expect("the gateway introspects");
    let first = introspect(&app.introspection(), caller, &token, now).expect("fresh view");
    assert!(active(&first), "the token is active (and now cached)");
    let before = app.verified.len();
    g.bench_function("cached", |b| {
        b.iter(|| {
            let o = introspect(&app.introspection(), caller, black_box(&token), now)
                .expect("fresh view");
            assert!(active(&o), "the cached token is active");
            o
        })
    });
    assert_eq!(app.verified.len(), before, "every cached call was a hit");
    g.finish();
}

/// Sealing (canonical JSON + SHA-256 chain link) of a token-exchange allow record: `cargo bench --bench hot_paths`
fn audit_seal(c: &mut Criterion) {
    let now = SystemClock.now();
    let principal = "system:serviceaccount:agents:support-bot";
    let required: Vec<String> = [
        "zendesk:tickets:read",
        "zendesk:tickets:write",
        "postgres:support_db:read",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    let mut requested = required.clone();
    requested.push("slack:channels:read".into());
    // As `grants::token_recorded` leaves an OBO allow by an
    // Entra user. `count` stays empty: it is for introspection summaries.
    let mut record = AuditRecord {
        time: rfc3339(now),
        request_id: random_id().expect("the system RNG"),
        event: Some(Event::Token),
        decision: Some(Decision::Allow),
        reason: "granted".into(),
        detail: String::new(),
        subject: Some("6f1c2a8e-4b7d-4c1e-9a0f-3d5e7b9c1a24".into()),
        idp: Some(ENTRA_ISSUER.into()),
        tenant: Some(TENANT.into()),
        agent: Some("support-bot".into()),
        agent_principal: Some(principal.into()),
        client_id: Some("support-bot".into()),
        act: Some(json!({ "sub": principal })),
        pattern: Some("obo".into()),
        audience: Some(GATEWAY_RESOURCE.into()),
        scopes_requested: Some(requested.clone()),
        scopes_required: Some(required),
        scopes_granted: Some(requested),
        jti: Some(random_id().expect("the system RNG")),
        expires_at: Some(now + 600),
        client_ip: Some("10.42.7.19".into()),
        ..AuditRecord::default()
    };
    let chain = format!("{}.1", random_id().expect("the system RNG"));
    let mut seq = 0i64;
    let mut prev = agent_sts::audit::record::GENESIS.to_string();

    let mut g = c.benchmark_group("audit_seal");
    g.bench_function("token_exchange_allow", |b| {
        b.iter(|| {
            seq += 1;
            let json = record.seal(&chain, seq, &prev);
            prev.clone_from(&record.hash);
            json
        })
    });
    g.finish();
    assert_eq!(record.compute_hash(), record.hash, "the seal verifies");
}

criterion_group!(
    benches,
    policy_decision,
    mint_access_token,
    introspect_own_token,
    audit_seal
);
criterion_main!(benches);
