//! The audit trail end to end: one hash-chained record per decision on
//! `/token`, `/introspect`, `/revoke` and the admin API, with every field
//! asserted; tamper evidence through the real `audit verify`; `audit query`
//! and `GET /admin/audit`; fail-closed when the database is gone; and no
//! token, secret or assertion in any record.
//!
//! `/token`, `/revoke` and admin answer only after their record is
//! committed, so a record is queryable as soon as the response arrives;
//! introspection records are committed asynchronously, so those tests poll
//! (bounded) and end each burst with a marker record: the writer commits in
//! queue order, so once the marker is stored everything before it is too.

// The /token fixture, compiled here as well: `crate::token` keeps its
// modules private, and these tests reuse them unchanged.
#[allow(dead_code, unused_imports, clippy::duplicate_mod)]
#[path = "../token/fixture.rs"]
mod fixture;
#[allow(dead_code, unused_imports, clippy::duplicate_mod)]
#[path = "../token/request.rs"]
mod request;
#[allow(dead_code, unused_imports, clippy::duplicate_mod)]
#[path = "../token/support.rs"]
mod support;

mod authority;
mod introspect;
mod query;
mod report;
mod report_only;
mod retention;
mod revoke;
mod secrets;
mod token;
mod token_refusals;
mod unavailable;
mod verify;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_sts::audit::AuditRecord;
use agent_sts::audit::record::GENESIS;
use agent_sts::clock::rfc3339;
use agent_sts::store::{AuditFilter, AuditRow, SharedDatabase};
use serde_json::{Value, json};

use crate::helpers::TestApp;

const README: &str = include_str!("../../../README.md");

/// The fields every record has besides `chain`, `seq`, `time`, `prev_hash`
/// and `hash`: `event` and `request_id` set, the rest empty, client IP
/// loopback. Tests overwrite what their decision fills in.
pub fn blank(event: &str, request_id: &str) -> Value {
    json!({
        "request_id": request_id, "event": event, "decision": null, "reason": "", "detail": "",
        "subject": null, "idp": null, "tenant": null, "agent": null, "agent_principal": null,
        "client_id": null, "act": null, "pattern": null, "audience": null,
        "scopes_requested": null, "scopes_required": null, "scopes_granted": null,
        "jti": null, "expires_at": null, "client_ip": "127.0.0.1", "count": null,
    })
}

/// `base` with the members of `changes` (an object) set.
pub fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().expect("changes is an object") {
        assert!(base.get(k).is_some(), "unknown record field {k}");
        base[k] = v.clone();
    }
    base
}

/// The record as stored, without the chain fields (checked by `assert_chain`).
pub fn fields(record: &Value) -> Value {
    let mut v = record.clone();
    for k in ["chain", "seq", "time", "prev_hash", "hash"] {
        v.as_object_mut().expect("a record object").remove(k);
    }
    v
}

/// One stored record: its row and its JSON.
#[derive(Debug, Clone)]
pub struct Stored {
    pub row: AuditRow,
    pub json: Value,
}

impl Stored {
    /// Exactly `expected` (see [`blank`]), stamped at `now`.
    #[track_caller]
    pub fn assert(&self, expected: &Value, now: i64) {
        assert_eq!(fields(&self.json), *expected, "record {}", self.row.record);
        assert_eq!(self.json["time"], rfc3339(now));
        assert_eq!(self.row.at, now);
    }
}

/// New records since a point, read through `Database::audit_query`.
pub struct Trail {
    db: SharedDatabase,
    pub after: i64,
    /// Everything read so far, in id order.
    pub seen: Vec<Stored>,
}

impl Trail {
    /// From the database's current end.
    pub async fn start(db: &SharedDatabase) -> Self {
        let after = all(db).await.last().map_or(0, |s| s.row.id);
        Self {
            db: db.clone(),
            after,
            seen: Vec::new(),
        }
    }

    async fn take(&mut self) -> Vec<Stored> {
        let rows = records(&self.db, self.after).await;
        if let Some(last) = rows.last() {
            self.after = last.row.id;
        }
        self.seen.extend(rows.iter().cloned());
        rows
    }

    /// Move past every record committed so far; how many there were.
    pub async fn skip(&mut self) -> usize {
        self.take().await.len()
    }

    /// Exactly one new record, already committed (`/token`, `/revoke`, admin).
    pub async fn one(&mut self) -> Stored {
        let mut rows = self.take().await;
        assert_eq!(rows.len(), 1, "exactly one new record: {rows:#?}");
        rows.remove(0)
    }

    /// Exactly `n` new records, polling up to 10 s (introspection; it
    /// returns as soon as they are there, so a busy machine only waits
    /// longer, never fails a correct run).
    pub async fn wait(&mut self, n: usize) -> Vec<Stored> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = records(&self.db, self.after).await;
            if rows.len() >= n || Instant::now() > deadline {
                assert_eq!(rows.len(), n, "new records: {rows:#?}");
                return self.take().await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn records(db: &SharedDatabase, after: i64) -> Vec<Stored> {
    let filter = AuditFilter {
        after,
        limit: 10_000,
        ..AuditFilter::default()
    };
    db.audit_query(&filter)
        .await
        .expect("audit_query")
        .into_iter()
        .map(|row| Stored {
            json: serde_json::from_str(&row.record).expect("the record is JSON"),
            row,
        })
        .collect()
}

/// Every record in the database, in id order.
pub async fn all(db: &SharedDatabase) -> Vec<Stored> {
    records(db, 0).await
}

/// `rows` are consecutive records of one chain (the first of them the
/// chain's first when `from_genesis`): seq contiguous, each `prev_hash` the
/// hash before it, each hash the record's, the columns equal to the JSON.
#[track_caller]
pub fn assert_chain(rows: &[Stored], from_genesis: bool) {
    assert!(!rows.is_empty(), "no records");
    for (i, s) in rows.iter().enumerate() {
        let r = &s.row;
        let rec: AuditRecord = serde_json::from_str(&r.record).expect("an AuditRecord");
        assert_eq!(rec.hash.len(), 64, "hash is SHA-256 hex");
        assert_eq!(rec.compute_hash(), rec.hash, "hash of {}", r.record);
        assert_eq!(
            (&rec.chain, rec.seq, &rec.prev_hash, &rec.hash),
            (&r.chain, r.seq, &r.prev_hash, &r.hash)
        );
        assert_eq!(
            (&r.event, &r.decision, &r.reason, &r.subject, &r.agent),
            (
                &s.json["event"].as_str().unwrap_or_default().to_string(),
                &s.json["decision"].as_str().unwrap_or_default().to_string(),
                &rec.reason,
                &rec.subject,
                &rec.agent
            )
        );
        match i {
            0 if from_genesis => assert_eq!((r.seq, r.prev_hash.as_str()), (1, GENESIS)),
            0 => {}
            _ => {
                let before = &rows[i - 1].row;
                assert_eq!(r.chain, before.chain, "one chain");
                assert_eq!(r.seq, before.seq + 1, "seq is contiguous");
                assert_eq!(r.prev_hash, before.hash, "prev_hash links");
            }
        }
    }
}

/// The codes the README's "Reason codes" section names in backticks (the
/// table, and the allow codes `granted`, `active`, `revoked` in its prose).
pub fn documented_reasons() -> BTreeSet<String> {
    let start = README
        .find("## Reason codes")
        .expect("a Reason codes section");
    let section = &README[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .map(str::to_string)
        .collect()
}

/// Every reason of `stored` is documented in the README.
#[track_caller]
pub fn assert_documented(stored: &[Stored]) {
    let documented = documented_reasons();
    for s in stored {
        assert!(
            documented.contains(&s.row.reason),
            "reason {:?} is not in README.md's reason table",
            s.row.reason
        );
    }
}

/// The first substring shaped like a JWT: three dot-separated base64url
/// segments (the first two non-empty), the first starting `eyJ`.
pub fn jwt_shaped(text: &str) -> Option<String> {
    let b64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut from = 0;
    while let Some(i) = text[from..].find("eyJ") {
        let start = from + i;
        let run: String = text[start..]
            .chars()
            .take_while(|&c| b64url(c) || c == '.')
            .collect();
        let parts: Vec<&str> = run.split('.').collect();
        if parts.len() >= 3 && !parts[1].is_empty() {
            return Some(parts[..3].join("."));
        }
        from = start + 3;
    }
    None
}

/// A config file for the CLI naming `t`'s database and keys.
pub fn cli_config(t: &TestApp) -> PathBuf {
    let path = t.dir.path().join("cli.toml");
    let text = format!(
        "issuer = \"http://127.0.0.1:9\"\nlisten = \"127.0.0.1:0\"\n\
         [storage]\ndatabase_url = \"{}\"\n[keys]\ndir = \"{}\"\n",
        t.database_url,
        t.keys_dir.display()
    );
    std::fs::write(&path, text).expect("write the CLI config");
    path
}

/// `agent-sts audit <args> --config <t's database>`, off the runtime.
pub async fn cli(t: &TestApp, args: &[&str]) -> crate::cli::Out {
    let config = cli_config(t);
    let cwd = t.dir.path().to_path_buf();
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--config".to_string(), config.display().to_string()]);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::cli::run(&cwd, &args)
    })
    .await
    .expect("the CLI ran")
}

/// Run one SQL statement on `url` behind the app's back; rows affected.
pub async fn sql(url: &str, statement: &str) -> u64 {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        let done = sqlx::query(statement).execute(&mut c).await;
        c.close().await.expect("close");
        done.expect(statement).rows_affected()
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        let done = sqlx::query(statement).execute(&mut c).await;
        c.close().await.expect("close");
        done.expect(statement).rows_affected()
    }
}

/// A SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[test]
fn the_jwt_scanner_finds_tokens_and_only_tokens() {
    let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_A";
    let found = jwt_shaped;
    assert_eq!(
        found(&format!("{{\"d\":\"Bearer {token}\"}}")).as_deref(),
        Some(token)
    );
    assert_eq!(found("x.eyJhbGc.eyJ.").as_deref(), Some("eyJhbGc.eyJ."));
    for clean in [
        "eyJhbGciOiJFUzI1NiJ9",
        "eyJa.",
        "eyJa..c",
        "a.b.c",
        "",
        "eyJ",
    ] {
        assert_eq!(found(clean), None, "{clean}");
    }
    let reasons = documented_reasons();
    for code in [
        "granted",
        "active",
        "revoked",
        "missing_group",
        "audit_unavailable",
    ] {
        assert!(reasons.contains(code), "{code}");
    }
}
