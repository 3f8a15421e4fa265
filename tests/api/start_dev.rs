//! `agent-sts start-dev` end to end: the real binary on a free port, its
//! walkthrough, and the commands the walkthrough prints.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::BIN;
use crate::helpers::{header, json_body};

const STARTUP: Duration = Duration::from_secs(60);
const SERVING: &str = "agent-sts start-dev is serving ";

/// Kills the server however the test ends.
struct Server {
    child: Child,
    base: String,
    walkthrough: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the binary and read stdout until the walkthrough names its URL.
fn start(dir: &Path) -> Server {
    start_logging(dir, None)
}

/// [`start`] with `RUST_LOG` set (logs go to `stderr.log` in `dir`).
fn start_logging(dir: &Path, rust_log: Option<&str>) -> Server {
    let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let mut command = Command::new(BIN);
    match rust_log {
        Some(level) => command.env("RUST_LOG", level),
        None => command.env_remove("RUST_LOG"),
    };
    let mut child = command
        .args([
            "start-dev",
            "--port",
            "0",
            "--data-dir",
            "data",
            "--keys-dir",
            "keys",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn agent-sts start-dev");
    let stdout = child.stdout.take().unwrap();
    let mut server = Server {
        child,
        base: String::new(),
        walkthrough: Vec::new(),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + STARTUP;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(url) = line.strip_prefix(SERVING) {
                    server.base = url.trim().to_string();
                }
                let done = line.starts_with("Stop with Ctrl-C");
                server.walkthrough.push(line);
                if done {
                    break;
                }
            }
            Err(e) => {
                let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
                panic!(
                    "start-dev printed no full walkthrough ({e}); stdout so far: {:?}; stderr: {log}",
                    server.walkthrough
                );
            }
        }
    }
    assert!(!server.base.is_empty(), "{:?}", server.walkthrough);
    server
}

#[tokio::test]
async fn start_dev_serves_its_walkthrough() {
    let tmp = tempfile::tempdir().unwrap();
    let server = tokio::task::spawn_blocking({
        let dir = tmp.path().to_path_buf();
        move || start(&dir)
    })
    .await
    .unwrap();
    let base = &server.base;
    let port: u16 = base
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a loopback URL with a port: {base}"));
    assert_ne!(port, 0);
    let text = server.walkthrough.join("\n");
    for cmd in [
        format!("curl -s {base}/.well-known/jwks.json"),
        format!("curl -s {base}/.well-known/oauth-authorization-server"),
        format!("curl -s {base}/readyz"),
    ] {
        assert!(text.contains(&cmd), "walkthrough lacks {cmd:?}:\n{text}");
    }

    // The dev key was generated under --keys-dir, private to its owner.
    let keys: Vec<_> = std::fs::read_dir(tmp.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let kid = keys[0].file_stem().unwrap().to_str().unwrap().to_string();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(
        tmp.path().join("data/dev.db").exists(),
        "SQLite under --data-dir"
    );

    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let res = client
        .get(format!("{base}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "public, max-age=300");
    let jwks = json_body(res).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert!(jwks["keys"][0].get("d").is_none());

    let res = client
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let metadata = json_body(res).await;
    assert_eq!(metadata["issuer"], base.as_str());
    assert_eq!(
        metadata["jwks_uri"],
        format!("{base}/.well-known/jwks.json")
    );
    assert_eq!(metadata["token_endpoint"], format!("{base}/token"));

    let res = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json_body(res).await["status"], "ready");

    let res = client
        .post(format!("{base}/dev/idp/mint"))
        .form(&[
            ("kind", "okta"),
            ("sub", "alice@example.com"),
            ("groups", "Support-Agents,Everyone"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let minted = json_body(res).await;
    let claims = &minted["claims"];
    assert_eq!(
        claims["agent_sts_dev_idp"],
        "minted by agent-sts start-dev: not a real identity provider"
    );
    assert_eq!(claims["iss"], format!("{base}/dev/idp/okta/oauth2/default"));
    assert_eq!(claims["sub"], "alice@example.com");
    assert_eq!(
        claims["groups"],
        serde_json::json!(["Support-Agents", "Everyone"])
    );
    let token = minted["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let decoded: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(&decoded, claims, "the token carries the claims shown");

    drop(server);
}

/// The walkthrough's sign-in, as a user would follow it: open the printed
/// `/authorize` URL, pick alice at the dev IdP, take the code from where
/// the browser lands, and run the printed curl line's redemption.
#[tokio::test]
async fn the_walkthrough_sign_in_url_leads_to_an_interactive_token() {
    let tmp = tempfile::tempdir().unwrap();
    let server = tokio::task::spawn_blocking({
        let dir = tmp.path().to_path_buf();
        move || start(&dir)
    })
    .await
    .unwrap();
    let base = &server.base;
    let lines = &server.walkthrough;
    let at = lines
        .iter()
        .position(|l| l.contains("open this URL in your browser"))
        .unwrap_or_else(|| panic!("no sign-in URL in {lines:#?}"));
    let url = lines[at + 1].trim();
    assert!(url.starts_with(&format!("{base}/authorize?")), "{url}");
    let text = lines.join("\n");
    let word_after = |key: &str| -> String {
        let start = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
        text[start..].split_whitespace().next().unwrap().to_string()
    };
    let verifier = word_after("-d code_verifier=");
    let redirect_uri = word_after("-d redirect_uri=");
    let client_id = word_after("-d client_id=");
    let resource = word_after("-d resource=");
    assert!(text.contains(&format!(
        "curl -s {base}/token -d grant_type=authorization_code"
    )));

    let browser = crate::dev_idp::sign_in::browser();
    let back = crate::dev_idp::sign_in::sign_in(&browser, base, url, "alice").await;
    assert!(
        back.as_str().starts_with(&redirect_uri),
        "{back} is the printed redirect URI"
    );
    let code = crate::dev_idp::sign_in::query_of(&back)["code"].clone();
    let res = browser
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", resource.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = json_body(res).await;
    assert!(body["refresh_token"].is_string(), "{body}");
    let payload = body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["urn:agent"]["pattern"], "interactive");
    assert_eq!(claims["aud"], resource.as_str());
}

#[tokio::test]
async fn start_dev_keeps_its_key_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let first = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let s = start(&dir);
            let base = s.base.clone();
            drop(s);
            base
        }
    })
    .await
    .unwrap();
    let kid_of = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir.join("keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let before = kid_of(&dir);
    let server = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || start(&dir)
    })
    .await
    .unwrap();
    assert_eq!(kid_of(&dir), before, "the second start reuses the dev key");
    assert!(first.starts_with("http://127.0.0.1:"));
    let jwks: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        format!("{}.json", jwks["keys"][0]["kid"].as_str().unwrap()),
        before[0]
    );
}

/// Issue 8's secrets hygiene: a whole cycle (the walkthrough's own
/// exchanges, then exchange, introspect, revoke, an admin revocation and
/// refusals) with every crate logging at trace level, and not one token,
/// secret or assertion on the log.
#[tokio::test]
async fn trace_level_logs_hold_no_token_or_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let server = tokio::task::spawn_blocking({
        let dir = tmp.path().to_path_buf();
        move || start_logging(&dir, Some("trace"))
    })
    .await
    .unwrap();
    let base = &server.base;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let post = |path: &str, form: &[(&str, &str)]| {
        client.post(format!("{base}{path}")).form(&form.to_vec())
    };
    const AGENT: (&str, &str) = ("support-bot", "dev-secret-support-bot");
    const GATEWAY: (&str, &str) = ("mcp-gateway", "dev-secret-mcp-gateway");
    const ADMIN: &str = "dev-admin-credential";
    const WRONG: &str = "wrong-secret-0f3a9c";

    let minted = json_body(
        post(
            "/dev/idp/mint",
            &[
                ("kind", "okta"),
                ("sub", "alice@example.com"),
                ("groups", "Support-Agents,Everyone"),
            ],
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let user = minted["token"].as_str().unwrap().to_string();
    let exchange = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", user.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("resource", "https://mcp-gateway.example.com"),
    ];
    let res = post("/token", &exchange)
        .basic_auth(AGENT.0, Some(AGENT.1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let access = json_body(res).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = post("/token", &exchange)
        .basic_auth(AGENT.0, Some(WRONG))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let res = post("/introspect", &[("token", access.as_str())])
        .basic_auth(GATEWAY.0, Some(GATEWAY.1))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(res).await["active"], true);
    let res = post("/revoke", &[("token", access.as_str())])
        .basic_auth(AGENT.0, Some(AGENT.1))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = post("/introspect", &[("token", access.as_str())])
        .basic_auth(GATEWAY.0, Some(GATEWAY.1))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(res).await["active"], false);
    let res = client
        .post(format!("{base}/admin/revocations"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"subject": "00u-someone-else"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let res = client
        .get(format!("{base}/admin/audit"))
        .bearer_auth(WRONG)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // An interactive sign-in: the dev IdP's code, agent-sts's relying-party
    // secret, the client's code and refresh token stay off the log too.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CLIENT_CB: &str = "http://127.0.0.1:8976/callback";
    let mut authorize = url::Url::parse(&format!("{base}/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "mcp-inspector"),
        ("redirect_uri", CLIENT_CB),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
        ("resource", "https://mcp-gateway.example.com"),
    ]);
    let browser = crate::dev_idp::sign_in::browser();
    let back = crate::dev_idp::sign_in::sign_in(&browser, base, authorize.as_str(), "alice").await;
    let code = crate::dev_idp::sign_in::query_of(&back)["code"].clone();
    let res = post(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "mcp-inspector"),
            ("code", &code),
            ("redirect_uri", CLIENT_CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let signed_in = json_body(res).await;
    let refresh = signed_in["refresh_token"].as_str().unwrap().to_string();
    const RP_SECRET: &str = "dev-secret-agent-sts-login";

    drop(server); // flushes nothing more: the log is complete once it exits
    let log = std::fs::read_to_string(tmp.path().join("stderr.log")).unwrap();
    assert!(log.contains("TRACE"), "the run logged at trace level");
    assert!(log.contains("INFO audit:"), "audit lines are on the log");
    if let Some(jwt) = crate::audit::jwt_shaped(&log) {
        panic!(
            "a JWT-shaped string is on the log: {}...",
            &jwt[..jwt.len().min(40)]
        );
    }
    for secret in [
        AGENT.1, GATEWAY.1, ADMIN, WRONG, &user, &access, RP_SECRET, VERIFIER, &code, &refresh,
    ] {
        assert!(!log.contains(secret), "a secret or token is on the log");
    }
}

/// Send `signal` (a `kill` name such as `HUP`) to the server process.
fn signal(server: &Server, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal}");
}

/// Wait (bounded) until the log holds `line`.
async fn log_shows(dir: &Path, line: &str) -> String {
    for _ in 0..200 {
        let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        if log.contains(line) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
    panic!("the log never showed {line:?}:\n{log}");
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_drains_flushes_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_logging(dir.path(), Some("info"));
    let client = reqwest::Client::new();
    let ready = |c: &reqwest::Client| c.get(format!("{}/readyz", server.base)).send();
    assert_eq!(ready(&client).await.unwrap().status().as_u16(), 200);

    signal(&server, "HUP");
    log_shows(
        dir.path(),
        "configuration reloaded: policy, upstreams, introspectors, rate limits",
    )
    .await;
    assert_eq!(ready(&client).await.unwrap().status().as_u16(), 200);

    signal(&server, "TERM");
    let mut exit = None;
    for _ in 0..300 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exit = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exit = exit.expect("the process exits after SIGTERM");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(exit.success(), "{exit:?}:\n{log}");
    let steps = [
        "shutting down: /readyz is now 503",
        "listener closed; finishing in-flight requests",
        "audit queue flushed",
        "stopped",
    ];
    let at: Vec<usize> = steps
        .iter()
        .map(|s| log.find(s).unwrap_or_else(|| panic!("{s:?} in\n{log}")))
        .collect();
    assert!(at.is_sorted(), "in this order: {steps:?}\n{log}");
}
