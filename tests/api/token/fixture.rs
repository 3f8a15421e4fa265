//! The /token fixture: agent-sts with a fake Okta (users), a second fake
//! Okta standing in for a Kubernetes-style workload issuer, and a fake
//! Entra ID, under one policy holding every agent the tests need:
//!
//! | agent | patterns | client auth | notes |
//! |---|---|---|---|
//! | support-bot | obo, hybrid, workload | basic | workload `k8s` [`PRINCIPAL`]; zendesk + slack; serves tickets |
//! | triage-bot | obo | basic | no workload identity; serves zendesk (its gateway): the second agent of chains; zendesk + tickets |
//! | pilot-bot | obo | basic | `user_upstreams = okta`, `user_groups = okta:Pilot`; serves slack |
//! | rogue-bot | obo | basic | zendesk + tickets, serves nothing: may not chain others' tokens |
//! | shadow-bot | obo | basic | report-only, serves nothing |
//!
//! `gw-tickets` introspects for tickets; the admin credential is the
//! agents' secret ([`Sts::secret`]).
//! | batch-bot | workload | post | workload [`BATCH_PRINCIPAL`], `token_ttl = 5m` |
//! | signed-bot | workload | private_key_jwt | inline JWKS of [`Sts::signer`] |

use crate::fake_idp::{FakeEntra, FakeOkta, SigningKey};
use crate::helpers::{Options, TestApp, random_hex, sha256_hex, spawn_app_with};
use crate::upstream::{TENANT, entra_block, okta_block};

pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

pub const ZENDESK: &str = "https://mcp-zendesk.example.com";
pub const SLACK: &str = "https://mcp-slack.example.com";
pub const JIRA: &str = "https://mcp-jira.example.com";
/// A second resource with zendesk's scopes (a ticket back end).
pub const TICKETS: &str = "https://mcp-tickets.example.com";
pub const READ: &str = "zendesk:tickets:read";
pub const WRITE: &str = "zendesk:tickets:write";
pub const SLACK_READ: &str = "slack:channels:read";
pub const JIRA_READ: &str = "jira:issues:read";

/// The `may_act` of user tokens for `aud`: the agent that serves it.
pub fn may_act_for(aud: &str) -> Option<serde_json::Value> {
    let (sub, client) = match aud {
        ZENDESK => ("triage-bot", "triage-bot"),
        TICKETS => (PRINCIPAL, "support-bot"),
        SLACK => ("pilot-bot", "pilot-bot"),
        _ => return None,
    };
    Some(serde_json::json!({"sub": sub, "client_id": client}))
}

/// support-bot's workload principal (the `k8s` upstream's `sub`).
pub const PRINCIPAL: &str = "system:serviceaccount:agents:support-bot";
pub const BATCH_PRINCIPAL: &str = "system:serviceaccount:agents:batch-bot";
/// The `aud` workload tokens carry for agent-sts.
pub const WORKLOAD_AUD: &str = "agent-sts";
/// The kid of signed-bot's private_key_jwt key.
pub const SIGNED_KID: &str = "signed-bot-key-1";

/// Okta users and their groups.
pub const ALICE: &str = "alice@example.com"; // Support-Agents
pub const LEAD: &str = "lead@example.com"; // Support-Agents, Support-Leads
pub const BOB: &str = "bob@example.com"; // Everyone only
pub const ALICE_GROUPS: &[&str] = &["Everyone", "Support-Agents"];
pub const LEAD_GROUPS: &[&str] = &["Everyone", "Support-Agents", "Support-Leads"];

pub struct Sts {
    pub t: TestApp,
    /// The user IdP (`okta` upstream, custom authorization server).
    pub okta: FakeOkta,
    /// The workload issuer (`k8s` upstream, `kind = "oidc"`, `use = "workload"`).
    pub k8s: FakeOkta,
    pub entra: FakeEntra,
    /// The secret of every secret-authenticated agent.
    pub secret: String,
    /// signed-bot's private key (its public half is the agent's inline JWKS).
    pub signer: SigningKey,
}

pub async fn start() -> Sts {
    start_with(3).await
}

/// Like [`start`], with `[token_exchange] max_delegation_depth`.
pub async fn start_with(max_depth: usize) -> Sts {
    let okta = FakeOkta::start().await;
    let k8s = FakeOkta::start().await;
    let entra = FakeEntra::start(&[TENANT]).await;
    let secret = random_hex(32);
    let signer = SigningKey::ec(SIGNED_KID);
    let policy = policy(
        &okta,
        &k8s,
        &entra,
        &sha256_hex(secret.as_bytes()),
        &signer,
        max_depth,
    );
    let t = spawn_app_with(Options::default().policy(&policy)).await;
    Sts {
        t,
        okta,
        k8s,
        entra,
        secret,
        signer,
    }
}

fn policy(
    okta: &FakeOkta,
    k8s: &FakeOkta,
    entra: &FakeEntra,
    hash: &str,
    signer: &SigningKey,
    max_depth: usize,
) -> String {
    let jwk: Vec<String> = signer
        .public_jwk()
        .as_object()
        .expect("jwk")
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let basic = |id: &str| {
        format!("{{ id = \"{id}\", auth = \"client_secret_basic\", secret_sha256 = \"{hash}\" }}")
    };
    let post = |id: &str| {
        format!("{{ id = \"{id}\", auth = \"client_secret_post\", secret_sha256 = \"{hash}\" }}")
    };
    let k8s_issuer = k8s.issuer();
    let (sa, sl) = (
        FakeEntra::group_id("support-agents"),
        FakeEntra::group_id("support-leads"),
    );
    format!(
        r#"[token_exchange]
max_delegation_depth = {max_depth}
{okta_block}{entra_block}
[[upstreams]]
name = "k8s"
kind = "oidc"
use = "workload"
issuer = "{k8s_issuer}"
audiences = ["{WORKLOAD_AUD}"]

[[resources]]
uri = "{ZENDESK}"
scopes = ["{READ}", "{WRITE}"]
[[resources]]
uri = "{SLACK}"
scopes = ["{SLACK_READ}"]
[[resources]]
uri = "{JIRA}"
scopes = ["{JIRA_READ}"]
[[resources]]
uri = "{TICKETS}"
scopes = ["{READ}", "{WRITE}"]

[[agents]]
id = "support-bot"
patterns = ["obo", "hybrid", "workload"]
client = {support}
workload = {{ upstream = "k8s", subject = "{PRINCIPAL}" }}
resources = ["{ZENDESK}", "{SLACK}"]
serves = ["{TICKETS}"]
required_scopes = ["{READ}"]
optional_scopes = ["{WRITE}", "{SLACK_READ}"]
token_ttl = "10m"

[[agents]]
id = "triage-bot"
patterns = ["obo"]
client = {triage}
resources = ["{ZENDESK}", "{TICKETS}"]
serves = ["{ZENDESK}"]
required_scopes = ["{READ}"]
optional_scopes = ["{WRITE}"]
token_ttl = "10m"

[[agents]]
id = "rogue-bot"
patterns = ["obo"]
client = {rogue}
resources = ["{ZENDESK}", "{TICKETS}"]
required_scopes = ["{READ}"]

[[agents]]
id = "shadow-bot"
patterns = ["obo"]
client = {shadow}
resources = ["{TICKETS}"]
required_scopes = ["{READ}"]
enforcement = "report-only"

[[agents]]
id = "pilot-bot"
patterns = ["obo"]
client = {pilot}
resources = ["{ZENDESK}"]
serves = ["{SLACK}"]
required_scopes = ["{READ}"]
user_upstreams = ["okta"]
user_groups = ["okta:Pilot"]

[[agents]]
id = "batch-bot"
patterns = ["workload"]
client = {batch}
workload = {{ upstream = "k8s", subject = "{BATCH_PRINCIPAL}" }}
resources = ["{ZENDESK}"]
required_scopes = ["{READ}"]
token_ttl = "5m"

[[agents]]
id = "signed-bot"
patterns = ["workload"]
client = {{ id = "signed-bot", auth = "private_key_jwt", jwks = {{ keys = [{{ {jwk} }}] }} }}
resources = ["{ZENDESK}"]
required_scopes = ["{READ}"]

[[introspectors]]
client = {gw_tickets}
resources = ["{TICKETS}"]

[admin]
credential_sha256 = "{hash}"

[scope_groups]
"{READ}" = ["okta:Support-Agents", "entra:{sa}"]
"{WRITE}" = ["okta:Support-Leads", "entra:{sl}"]
"{SLACK_READ}" = ["okta:Everyone"]
"{JIRA_READ}" = ["okta:Everyone"]
"#,
        okta_block = okta_block(okta, ""),
        entra_block = entra_block(entra, ""),
        support = basic("support-bot"),
        triage = basic("triage-bot"),
        pilot = basic("pilot-bot"),
        rogue = basic("rogue-bot"),
        shadow = basic("shadow-bot"),
        gw_tickets = basic("gw-tickets"),
        batch = post("batch-bot"),
        jwk = jwk.join(", "),
    )
}
