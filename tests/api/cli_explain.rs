//! `agent-sts explain` as an operator runs it: exit 0 allow, 1 deny, 2 a
//! request it cannot explain; the human summary names the rules.

use std::path::Path;

use crate::cli::run;

const OKTA: &str = "https://acme.okta.com/oauth2/default";

fn setup(dir: &Path) -> String {
    let keys = dir.join("keys");
    let out = run(dir, &["keys", "generate", "--dir", keys.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let hash = "0".repeat(64);
    let config = format!(
        r#"issuer = "http://127.0.0.1:9"
listen = "127.0.0.1:0"
[storage]
database_url = "sqlite://{db}?mode=rwc"
[keys]
dir = "{keys}"
[[upstreams]]
name = "okta"
kind = "okta"
issuer = "{OKTA}"
audiences = ["api://default"]
jwks_uri = "http://127.0.0.1:9/keys"
[[resources]]
uri = "https://mcp.example.com"
scopes = ["tickets:read", "tickets:write"]
[[agents]]
id = "support-bot"
patterns = ["obo"]
client = {{ id = "support-bot", auth = "client_secret_basic", secret_sha256 = "{hash}" }}
resources = ["https://mcp.example.com"]
required_scopes = ["tickets:read"]
optional_scopes = ["tickets:write"]
[scope_groups]
"tickets:read" = ["okta:Support"]
"tickets:write" = ["okta:Leads"]
"#,
        db = dir.join("sts.db").display(),
        keys = keys.display(),
    );
    let path = dir.join("sts.toml");
    std::fs::write(&path, config).unwrap();
    path.to_str().unwrap().to_string()
}

fn claims(dir: &Path, groups: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let c = serde_json::json!({
        "iss": OKTA, "aud": "api://default", "sub": "alice@example.com", "uid": "00ualice",
        "cid": "0oaapp", "scp": ["openid"], "iat": now - 5, "exp": now + 3_600, "groups": groups,
    });
    let path = dir.join("claims.json");
    std::fs::write(&path, c.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn explain_exits_0_on_allow_1_on_deny_2_when_it_cannot_explain() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let args = |claims: &str| {
        vec![
            "explain",
            "--config",
            &config,
            "--agent",
            "support-bot",
            "--resource",
            "https://mcp.example.com",
            "--claims",
            claims,
            "--upstream",
            "okta",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    let go = |v: Vec<String>| {
        run(
            dir.path(),
            &v.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };

    let allowed = go(args(&claims(dir.path(), &["Support"])));
    assert_eq!(
        allowed.code,
        Some(0),
        "{}{}",
        allowed.stdout,
        allowed.stderr
    );
    let lines: Vec<&str> = allowed.stdout.lines().collect();
    assert_eq!(lines[0], "decision: allow");
    assert_eq!(
        lines[1],
        "verification: claims only: the signature was NOT checked"
    );
    assert!(
        allowed
            .stdout
            .contains("pattern: obo\nsub: 00ualice\nact: {\"sub\":\"support-bot\"}"),
        "{}",
        allowed.stdout
    );
    assert!(
        allowed.stdout.contains("tickets:read"),
        "{}",
        allowed.stdout
    );
    assert!(
        allowed
            .stdout
            .contains("required granted [scope_groups] \"okta:Support\""),
        "{}",
        allowed.stdout
    );
    assert!(
        allowed
            .stdout
            .contains("optional dropped held by none of the user's groups (holders: okta:Leads)"),
        "{}",
        allowed.stdout
    );
    assert!(
        allowed
            .stdout
            .ends_with("ttl: 600 s (set by the agent's token_ttl)\n"),
        "{}",
        allowed.stdout
    );

    let denied = go(args(&claims(dir.path(), &["Everyone"])));
    assert_eq!(denied.code, Some(1), "{}", denied.stderr);
    assert!(denied.stdout.starts_with("decision: deny (missing_group)\n  the user is in no group that may hold required scope tickets:read"), "{}", denied.stdout);

    let mut json = args(&claims(dir.path(), &["Support", "Leads"]));
    json.push("--json".into());
    let out = go(json);
    assert_eq!(out.code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["granted"],
        serde_json::json!(["tickets:read", "tickets:write"])
    );

    let mut nobody = args(&claims(dir.path(), &["Support"]));
    nobody[4] = "nobody".into();
    let out = go(nobody);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.stderr.trim(), "error: no agent nobody");
}

#[test]
fn break_glass_opens_lists_and_closes_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let go = |args: &[&str]| run(dir.path(), args);
    let out = go(&[
        "break-glass",
        "open",
        "--config",
        &config,
        "--agent",
        "support-bot",
        "--for",
        "2h",
        "--reason",
        "IdP outage INC-7",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let id = out.stdout.split_whitespace().nth(1).unwrap().to_string();
    assert!(id.starts_with("bg-"), "{}", out.stdout);
    assert!(
        out.stdout.contains("for agent support-bot until ")
            && out.stdout.ends_with("(IdP outage INC-7)\n"),
        "{}",
        out.stdout
    );

    let listed = go(&["break-glass", "list", "--config", &config]);
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .starts_with(&format!("{id}  agent support-bot  until ")),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.contains("resources all  opened by cli"),
        "{}",
        listed.stdout
    );

    let too_long = go(&[
        "break-glass",
        "open",
        "--config",
        &config,
        "--agent",
        "support-bot",
        "--for",
        "25h",
        "--reason",
        "x",
    ]);
    assert_eq!(
        too_long.one_error_line(),
        "error: a window lasts from 1s to 1d (break_glass.max_window); 25h was asked"
    );

    let closed = go(&["break-glass", "close", "--config", &config, &id]);
    assert_eq!(closed.code, Some(0), "{}", closed.stderr);
    assert_eq!(
        closed.stdout,
        format!("closed {id}; 0 token(s) issued under it revoked\n")
    );
    let listed = go(&["break-glass", "list", "--config", &config]);
    assert_eq!(listed.stdout, "no break-glass window is open\n");
}
