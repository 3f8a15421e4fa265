//! Tamper evidence through the real `agent-sts audit verify`: after some
//! traffic every link holds; an edited, deleted or forged row, or a column
//! that disagrees with the hashed record, is named by chain and seq. Each
//! case gets a fresh app and database.

use agent_sts::audit::AuditRecord;

use super::{Stored, all, cli, lit, sql};
use crate::helpers::{Options, TestApp, random_hex, sha256_hex, spawn_app_with};

pub const RESOURCE: &str = "https://mcp-zendesk.example.com";
pub const READ: &str = "zendesk:tickets:read";

/// The policy of one workload agent, `batch`, with a fresh secret, then
/// `extra` TOML; the policy and the secret.
pub fn batch_policy(extra: &str) -> (String, String) {
    let secret = random_hex(32);
    let policy = format!(
        r#"
[[resources]]
uri = "{RESOURCE}"
scopes = ["{READ}"]

[[agents]]
id = "batch"
patterns = ["workload"]
client = {{ id = "batch", auth = "client_secret_basic", secret_sha256 = "{}" }}
resources = ["{RESOURCE}"]
required_scopes = ["{READ}"]
{extra}"#,
        sha256_hex(secret.as_bytes())
    );
    (policy, secret)
}

/// An app with one workload agent, `batch`, authenticating with `secret`.
pub async fn app() -> (TestApp, String) {
    let (policy, secret) = batch_policy("");
    (
        spawn_app_with(Options::default().policy(&policy)).await,
        secret,
    )
}

/// `client_credentials` as `client` with `secret`; the status.
pub async fn cc_as(t: &TestApp, client: &str, secret: &str) -> u16 {
    t.client
        .post(t.url("/token"))
        .basic_auth(client, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("resource", RESOURCE)])
        .send()
        .await
        .expect("request must reach the test server")
        .status()
        .as_u16()
}

/// An app after six decisions (four allows, two denials of different
/// reasons: the same one again from the same address would be counted
/// into a summary, not written): its records.
async fn with_traffic() -> (TestApp, Vec<Stored>) {
    let (t, secret) = app().await;
    for i in 0..6 {
        let (client, s, want) = match i {
            2 => ("batch", "wrong", 401),
            5 => ("nobody", "wrong", 401),
            _ => ("batch", secret.as_str(), 200),
        };
        assert_eq!(cc_as(&t, client, s).await, want);
    }
    let rows = all(&t.app.store.db).await;
    assert_eq!(rows.len(), 6);
    (t, rows)
}

/// `audit verify` fails and names `row` with `problem`.
async fn broken(t: &TestApp, row: &Stored, problem: &str) {
    let out = cli(t, &["audit", "verify"]).await;
    assert_eq!(
        out.code,
        Some(1),
        "stdout {} stderr {}",
        out.stdout,
        out.stderr
    );
    let named = format!(
        "chain {} seq {} (row id {}): {problem}",
        row.row.chain, row.row.seq, row.row.id
    );
    assert!(out.stderr.contains(&named), "{named:?} in {}", out.stderr);
    assert!(!out.stdout.contains("ok:"), "{}", out.stdout);
}

#[tokio::test]
async fn verify_passes_when_every_link_holds() {
    let (t, rows) = with_traffic().await;
    let out = cli(&t, &["audit", "verify"]).await;
    assert_eq!(out.code, Some(0), "stderr {}", out.stderr);
    assert_eq!(out.stdout, "ok: 6 records in 1 chains; every link holds\n");
    super::assert_chain(&rows, true);
}

#[tokio::test]
async fn an_edited_record_is_named() {
    let (t, rows) = with_traffic().await;
    let target = &rows[2];
    let mut rec: AuditRecord = serde_json::from_str(&target.row.record).expect("record");
    rec.detail = "nothing happened here".into();
    let json = serde_json::to_string(&rec).expect("json");
    let n = sql(
        &t.database_url,
        &format!(
            "UPDATE audit_records SET record = {} WHERE id = {}",
            lit(&json),
            target.row.id
        ),
    )
    .await;
    assert_eq!(n, 1);
    broken(&t, target, "the record does not match its hash (edited)").await;
}

#[tokio::test]
async fn an_edited_and_rehashed_record_breaks_the_next_link() {
    let (t, rows) = with_traffic().await;
    let target = &rows[1];
    let mut rec: AuditRecord = serde_json::from_str(&target.row.record).expect("record");
    rec.reason = "bad_client_secret".into();
    rec.hash = rec.compute_hash();
    let json = serde_json::to_string(&rec).expect("json");
    sql(
        &t.database_url,
        &format!(
            "UPDATE audit_records SET record = {}, hash = {}, reason = {} WHERE id = {}",
            lit(&json),
            lit(&rec.hash),
            lit(&rec.reason),
            target.row.id
        ),
    )
    .await;
    broken(
        &t,
        &rows[2],
        "prev_hash does not link to the record before it (inserted or deleted)",
    )
    .await;
}

#[tokio::test]
async fn a_deleted_record_is_named_as_a_gap() {
    let (t, rows) = with_traffic().await;
    let n = sql(
        &t.database_url,
        &format!("DELETE FROM audit_records WHERE id = {}", rows[2].row.id),
    )
    .await;
    assert_eq!(n, 1);
    let seq = rows[2].row.seq;
    broken(
        &t,
        &rows[3],
        &format!("records {seq}..{seq} are missing (deleted)"),
    )
    .await;
}

#[tokio::test]
async fn a_forged_record_with_a_wrong_link_is_named() {
    let (t, rows) = with_traffic().await;
    let last = rows.last().expect("a last record");
    let mut rec: AuditRecord = serde_json::from_str(&last.row.record).expect("record");
    rec.seq += 1;
    rec.prev_hash = "f".repeat(64);
    rec.detail = "a forged grant".into();
    rec.hash = rec.compute_hash();
    let json = serde_json::to_string(&rec).expect("json");
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "NULL".to_string(), lit);
    sql(
        &t.database_url,
        &format!(
            "INSERT INTO audit_records (chain, seq, at, event, decision, reason, subject, agent, \
             prev_hash, hash, record) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            lit(&rec.chain),
            rec.seq,
            last.row.at,
            lit(&last.row.event),
            lit(&last.row.decision),
            lit(&rec.reason),
            opt(&rec.subject),
            opt(&rec.agent),
            lit(&rec.prev_hash),
            lit(&rec.hash),
            lit(&json)
        ),
    )
    .await;
    let forged = all(&t.app.store.db).await.pop().expect("the forged row");
    assert_eq!(forged.row.seq, last.row.seq + 1);
    broken(
        &t,
        &forged,
        "prev_hash does not link to the record before it (inserted or deleted)",
    )
    .await;
}

#[tokio::test]
async fn a_column_that_disagrees_with_the_record_is_named() {
    let (t, rows) = with_traffic().await;
    let target = &rows[3];
    sql(
        &t.database_url,
        &format!(
            "UPDATE audit_records SET subject = 'mallory' WHERE id = {}",
            target.row.id
        ),
    )
    .await;
    broken(
        &t,
        target,
        "the queryable columns disagree with the hashed record (edited)",
    )
    .await;
}
