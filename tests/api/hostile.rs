//! Hostile upstreams cost nothing: the real binary (`agent-sts serve`)
//! against a key server that never stops answering. Every outbound answer
//! is read as a stream and dropped at its cap, so the server's memory stays
//! where it was. Loopback only; the endless server stops after 20 s.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cli::BIN;
use crate::helpers::{json_body, sha256_hex};

/// Kills the server however the test ends.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident memory of `pid` (`VmRSS`), or its peak so far (`VmHWM`), in kB.
fn memory_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("a memory line")
}

type Flag = std::sync::Arc<std::sync::atomic::AtomicBool>;
type Count = std::sync::Arc<std::sync::atomic::AtomicU64>;

/// An HTTP server on 127.0.0.1 that answers 503 until `on` is set, and
/// from then on a chunked JSON document that never ends (for at most 20 s,
/// then it stops by itself). Returns its port, the switch and a counter of
/// the bytes it managed to send.
async fn endless() -> (u16, Flag, Count) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let on = Flag::default();
    let sent = Count::default();
    let (counter, switch) = (sent.clone(), on.clone());
    tokio::spawn(async move {
        let stop = Instant::now() + Duration::from_secs(20);
        while let Ok(Ok((mut socket, _))) =
            tokio::time::timeout_at(stop.into(), listener.accept()).await
        {
            let counter = counter.clone();
            let on = switch.load(std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                if !on {
                    let refused = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
                    let _ = socket.write_all(refused.as_bytes()).await;
                    return;
                }
                let start = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             transfer-encoding: chunked\r\n\r\n";
                if socket.write_all(start.as_bytes()).await.is_err() {
                    return;
                }
                let filler = format!("{:x}\r\n{}\r\n", 65_536, " ".repeat(65_536));
                let first = "9\r\n{\"keys\":[\r\n";
                if socket.write_all(first.as_bytes()).await.is_err() {
                    return;
                }
                while Instant::now() < stop {
                    if socket.write_all(filler.as_bytes()).await.is_err() {
                        return;
                    }
                    counter.fetch_add(65_536, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    (port, on, sent)
}

/// A token naming `iss` and a `kid` the issuer has never served: verifying
/// it makes agent-sts fetch the issuer's JWKS.
fn token_for(iss: &str) -> String {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "kid": "never-served"})),
        part(
            json!({"iss": iss, "aud": "agent-sts", "sub": "alice", "scp": ["x"],
                    "iat": now, "exp": now + 600})
        ),
        URL_SAFE_NO_PAD.encode([7u8; 256])
    )
}

#[tokio::test]
async fn an_endless_jwks_is_cut_at_its_cap_and_costs_no_memory() {
    let (evil, on, sent) = endless().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let keys = dir.path().join("keys");
    let status = Command::new(BIN)
        .args(["keys", "generate", "--dir", keys.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let issuer = format!("http://127.0.0.1:{evil}/issuer");
    let secret = "hostile-test-secret-0123456789";
    let config = format!(
        r#"issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
[storage]
database_url = "sqlite://{db}?mode=rwc"
[keys]
dir = "{keys}"
[[upstreams]]
name = "endless"
kind = "oidc"
issuer = "{issuer}"
audiences = ["agent-sts"]
jwks_uri = "http://127.0.0.1:{evil}/jwks"
[[resources]]
uri = "https://mcp.example.com"
scopes = ["tickets:read"]
[[agents]]
id = "bot"
patterns = ["obo"]
resources = ["https://mcp.example.com"]
required_scopes = ["tickets:read"]
client = {{ id = "bot", auth = "client_secret_basic", secret_sha256 = "{hash}" }}
[scope_groups]
"tickets:read" = ["endless:*"]
"#,
        db = dir.path().join("db.sqlite").display(),
        keys = keys.display(),
        hash = sha256_hex(secret.as_bytes()),
    );
    let file = dir.path().join("agent-sts.toml");
    std::fs::write(&file, config).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config", file.to_str().unwrap()])
        .env_remove("AGENT_STS_DATABASE_URL")
        .env_remove("AGENT_STS_REDIS_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let server = Serving(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "agent-sts did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Start-up's key fetch was refused; from now on the IdP never stops.
    let before = memory_kb(server.0.id(), "VmRSS:");
    on.store(true, std::sync::atomic::Ordering::Relaxed);

    let res = client
        .post(format!("{base}/token"))
        .basic_auth("bot", Some(secret))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", token_for(&issuer).as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", "https://mcp.example.com"),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = json_body(res).await;
    let peak = memory_kb(server.0.id(), "VmHWM:");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let streamed = sent.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "endless JWKS: {} kB sent to agent-sts; its RSS {before} kB, peak {peak} kB",
        streamed / 1024
    );
    assert!(
        peak < before + 20 * 1024,
        "peak RSS {peak} kB against {before} kB before"
    );
}

/// 2,000 anonymous requests with a 60 KB `resource` each (120 MB sent):
/// the audit trail grows by one bounded record per reason and address, not
/// by what the requests carried.
#[tokio::test]
async fn an_anonymous_flood_writes_a_bounded_trail() {
    use futures_util::StreamExt;
    let t = crate::helpers::spawn_app().await;
    let size =
        |rows: &[crate::audit::Stored]| rows.iter().map(|s| s.row.record.len()).sum::<usize>();
    let before = size(&crate::audit::all(&t.app.store.db).await);
    let huge = "https://mcp.example.com/".to_string() + &"a".repeat(60_000);
    let statuses: Vec<u16> = futures_util::stream::iter(0..2_000)
        .map(|_| {
            let (client, url, huge) = (t.client.clone(), t.url("/token"), huge.clone());
            async move {
                client
                    .post(url)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("resource", huge.as_str()),
                        ("scope", "zendesk:tickets:read"),
                    ])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let rows = crate::audit::all(&t.app.store.db).await;
    let grown = size(&rows) - before;
    eprintln!(
        "2,000 anonymous 60 KB requests: {} records, {grown} bytes of audit",
        rows.len()
    );
    assert!(grown < 1024 * 1024, "the trail grew by {grown} bytes");
    assert!(rows.iter().all(|s| s.row.record.len() < 4_096));
}
