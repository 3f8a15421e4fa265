//! `agent-sts audit report` and `GET /admin/audit/report`: exact figures
//! from a seeded audit table, the same from the store method, the admin
//! API and the CLI (table and `--json`); only token decisions in the
//! window count, a summary record counts as its `count`, the top refused
//! users stop at ten; the admin read is itself audited.

use agent_sts::store::{AuditRow, ReportFilter};
use serde_json::{Value, json};

use super::{Trail, cli};
use crate::helpers::json_body;
use crate::introspect::{ALICE, Fx, ZENDESK, start};

const OKTA: &str = "https://okta.example";
const ENTRA: &str = "https://entra.example";

/// A stored token decision (or `event`), seq `seq` of the seed chain.
#[allow(clippy::too_many_arguments)]
fn row(
    seq: i64,
    at: i64,
    event: &str,
    (agent, pattern): (Option<&str>, Option<&str>),
    (decision, reason): (&str, &str),
    subject: Option<&str>,
    (idp, tenant): (Option<&str>, Option<&str>),
    count: Option<i64>,
) -> AuditRow {
    let s = |v: Option<&str>| v.map(str::to_string);
    AuditRow {
        id: 0,
        chain: "seed.1".into(),
        seq,
        at,
        event: event.into(),
        decision: decision.into(),
        reason: reason.into(),
        subject: s(subject),
        agent: s(agent),
        pattern: s(pattern),
        idp: s(idp),
        tenant: s(tenant),
        count,
        prev_hash: format!("{:064}", seq - 1),
        hash: format!("{seq:064}"),
        record: format!("{{\"chain\":\"seed.1\",\"seq\":{seq}}}"),
    }
}

/// The seed, relative to `now`:
///
/// | agent / pattern | rows (1 h ago unless said) |
/// |---|---|
/// | pilot-bot / obo | allow u1 (okta), allow u2 (entra t1), allow u5 (okta, 3 h ago); would_deny missing_group u1 (okta), u3 (entra t2); would_deny pattern_not_allowed u3 (entra t2); deny rate_limited u3 as a summary of 5; deny expired u4 (okta) |
/// | pilot-bot / workload | allow spiffe-a |
/// | other-bot / obo | deny missing_group u1, and v00..v11 with 1..12 denies each |
/// | – / – | deny bad_client_secret, no subject |
///
/// Not counted: an introspection of pilot-bot, a pilot-bot allow 8 days
/// ago, a folded backlog record (token, allow, `active`, count 100).
async fn seed(fx: &Fx) {
    let now = fx.now();
    let hour = now - 3_600;
    let (pilot, work, other) = (
        (Some("pilot-bot"), Some("obo")),
        (Some("pilot-bot"), Some("workload")),
        (Some("other-bot"), Some("obo")),
    );
    let okta = (Some(OKTA), None);
    let entra = |t| (Some(ENTRA), Some(t));
    let mut rows = vec![
        (
            hour,
            "token",
            pilot,
            ("allow", "granted"),
            Some("u1"),
            okta,
            None,
        ),
        (
            hour,
            "token",
            pilot,
            ("allow", "granted"),
            Some("u2"),
            entra("t1"),
            None,
        ),
        (
            now - 3 * 3_600,
            "token",
            pilot,
            ("allow", "granted"),
            Some("u5"),
            okta,
            None,
        ),
        (
            hour,
            "token",
            pilot,
            ("would_deny", "missing_group"),
            Some("u1"),
            okta,
            None,
        ),
        (
            hour,
            "token",
            pilot,
            ("would_deny", "missing_group"),
            Some("u3"),
            entra("t2"),
            None,
        ),
        (
            hour,
            "token",
            pilot,
            ("would_deny", "pattern_not_allowed"),
            Some("u3"),
            entra("t2"),
            None,
        ),
        (
            hour,
            "token",
            pilot,
            ("deny", "rate_limited"),
            Some("u3"),
            (None, None),
            Some(5),
        ),
        (
            hour,
            "token",
            pilot,
            ("deny", "expired"),
            Some("u4"),
            okta,
            None,
        ),
        (
            hour,
            "token",
            work,
            ("allow", "granted"),
            Some("spiffe-a"),
            (None, None),
            None,
        ),
        (
            hour,
            "token",
            other,
            ("deny", "missing_group"),
            Some("u1"),
            okta,
            None,
        ),
        (
            hour,
            "token",
            (None, None),
            ("deny", "bad_client_secret"),
            None,
            (None, None),
            None,
        ),
        (
            hour,
            "introspect",
            pilot,
            ("allow", "active"),
            Some("u1"),
            okta,
            None,
        ),
        (
            now - 8 * 86_400,
            "token",
            pilot,
            ("allow", "granted"),
            Some("u6"),
            okta,
            None,
        ),
        (
            hour,
            "token",
            (None, None),
            ("allow", "active"),
            None,
            (None, None),
            Some(100),
        ),
    ];
    let users: Vec<String> = (0..12).map(|i| format!("v{i:02}")).collect();
    for (i, user) in users.iter().enumerate() {
        for _ in 0..=i {
            rows.push((
                hour,
                "token",
                other,
                ("deny", "missing_group"),
                Some(user.as_str()),
                okta,
                None,
            ));
        }
    }
    let rows: Vec<AuditRow> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (at, event, who, decided, subject, upstream, count))| {
            row(
                i as i64 + 1,
                at,
                event,
                who,
                decided,
                subject,
                upstream,
                count,
            )
        })
        .collect();
    fx.t.app.store.db.insert_audit(&rows).await.expect("seed");
}

/// pilot-bot / obo over the last 7 days.
fn pilot_obo() -> Value {
    json!({
        "agent": "pilot-bot", "pattern": "obo",
        "allow": 3, "deny": 6, "would_deny": 3,
        "deny_reasons": { "expired": 1, "rate_limited": 5 },
        "would_deny_reasons": { "missing_group": 2, "pattern_not_allowed": 1 },
        "users": 5, "users_refused": 3, "upstreams": 2, "tenants": 2,
        "top_refused": [
            { "subject": "u3", "deny": 5, "would_deny": 2 },
            { "subject": "u1", "deny": 0, "would_deny": 1 },
            { "subject": "u4", "deny": 1, "would_deny": 0 },
        ],
    })
}

fn pilot_workload() -> Value {
    json!({
        "agent": "pilot-bot", "pattern": "workload",
        "allow": 1, "deny": 0, "would_deny": 0,
        "deny_reasons": {}, "would_deny_reasons": {},
        "users": 1, "users_refused": 0, "upstreams": 0, "tenants": 0,
        "top_refused": [],
    })
}

fn other_obo() -> Value {
    let top: Vec<Value> = (2..12)
        .rev()
        .map(|i| json!({ "subject": format!("v{i:02}"), "deny": i + 1, "would_deny": 0 }))
        .collect();
    json!({
        "agent": "other-bot", "pattern": "obo",
        "allow": 0, "deny": 79, "would_deny": 0,
        "deny_reasons": { "missing_group": 79 }, "would_deny_reasons": {},
        "users": 13, "users_refused": 13, "upstreams": 1, "tenants": 0,
        "top_refused": top,
    })
}

fn unattributed() -> Value {
    json!({
        "agent": null, "pattern": null,
        "allow": 0, "deny": 1, "would_deny": 0,
        "deny_reasons": { "bad_client_secret": 1 }, "would_deny_reasons": {},
        "users": 0, "users_refused": 0, "upstreams": 0, "tenants": 0,
        "top_refused": [],
    })
}

/// `GET /admin/audit/report?query` with the admin credential: (status, body).
async fn api(fx: &Fx, query: &[(&str, &str)]) -> (u16, Value) {
    let res =
        fx.t.client
            .get(fx.t.url("/admin/audit/report"))
            .bearer_auth(&fx.admin)
            .query(query)
            .send()
            .await
            .expect("request must reach the test server");
    let status = res.status().as_u16();
    if status == 200 {
        assert_eq!(crate::helpers::header(&res, "cache-control"), "no-store");
    }
    (status, json_body(res).await)
}

#[tokio::test]
async fn the_store_the_admin_api_and_the_cli_count_the_same_seeded_decisions() {
    let fx = start().await;
    seed(&fx).await;
    let now = fx.now();

    // The store method: the raw aggregates.
    let filter = ReportFilter {
        since: now - 7 * 86_400,
        until: now + 1,
        agent: Some("pilot-bot".into()),
    };
    let rows =
        fx.t.app
            .store
            .db
            .audit_report(&filter)
            .await
            .expect("report");
    let mut decisions: Vec<_> = rows
        .decisions
        .iter()
        .map(|c| {
            (
                c.pattern.as_deref(),
                c.decision.as_str(),
                c.reason.as_str(),
                c.count,
            )
        })
        .collect();
    decisions.sort();
    assert_eq!(
        decisions,
        vec![
            (Some("obo"), "allow", "granted", 3),
            (Some("obo"), "deny", "expired", 1),
            (Some("obo"), "deny", "rate_limited", 5),
            (Some("obo"), "would_deny", "missing_group", 2),
            (Some("obo"), "would_deny", "pattern_not_allowed", 1),
            (Some("workload"), "allow", "granted", 1),
        ]
    );

    // The admin API: everything over the default week, and by agent.
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let (status, all) = api(&fx, &[]).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        (all["since"].as_i64(), all["until"].as_i64()),
        (Some(now - 7 * 86_400), Some(now + 1))
    );
    assert_eq!(all["agent"], Value::Null);
    assert_eq!(
        all["groups"],
        json!([unattributed(), other_obo(), pilot_obo(), pilot_workload()])
    );
    let read = trail.one().await;
    assert_eq!(
        (
            read.row.event.as_str(),
            read.row.decision.as_str(),
            read.row.reason.as_str()
        ),
        ("admin", "allow", "done")
    );
    assert_eq!(read.json["detail"], "read the audit report");

    let (status, pilot) = api(&fx, &[("agent", "pilot-bot")]).await;
    assert_eq!(status, 200, "{pilot}");
    assert_eq!(pilot["agent"], "pilot-bot");
    assert_eq!(pilot["groups"], json!([pilot_obo(), pilot_workload()]));

    // Two hours back leaves out u5's allow (3 h ago).
    let (_, recent) = api(&fx, &[("agent", "pilot-bot"), ("since", "2h")]).await;
    let obo = &recent["groups"][0];
    assert_eq!(
        (obo["allow"].as_i64(), obo["users"].as_i64()),
        (Some(2), Some(4))
    );

    // The CLI: the same groups as JSON, and the table.
    let out = cli(&fx.t, &["audit", "report", "--json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let printed: Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
    assert_eq!(printed["groups"], all["groups"]);
    let out = cli(
        &fx.t,
        &["audit", "report", "--agent", "pilot-bot", "--since", "7d"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        out.stdout.starts_with("token decisions from "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .next()
            .unwrap_or("")
            .ends_with("(agent pilot-bot)")
    );
    assert_eq!(
        lines[1],
        [
            "AGENT",
            "PATTERN",
            "ALLOW",
            "DENY",
            "WOULD_DENY",
            "USERS",
            "REFUSED_USERS",
            "UPSTREAMS",
            "TENANTS"
        ]
    );
    assert_eq!(
        lines[2],
        ["pilot-bot", "obo", "3", "6", "3", "5", "3", "2", "2"]
    );
    assert_eq!(
        out.stdout.lines().nth(3),
        Some("    deny:        rate_limited 5, expired 1")
    );
    assert_eq!(
        out.stdout.lines().nth(4),
        Some("    would_deny:  missing_group 2, pattern_not_allowed 1")
    );
    assert_eq!(
        out.stdout.lines().nth(5),
        Some("    top refused (deny/would_deny): u3 (5/2), u1 (0/1), u4 (1/0)")
    );
    assert_eq!(
        lines[6],
        ["pilot-bot", "workload", "1", "0", "0", "1", "0", "0", "0"]
    );
    assert_eq!(lines.len(), 7, "{}", out.stdout);
}

#[tokio::test]
async fn a_real_grant_is_counted_with_its_pattern_and_upstream() {
    let fx = start().await;
    fx.obo("support-bot", ALICE, ZENDESK).await;
    let granted = super::all(&fx.t.app.store.db)
        .await
        .into_iter()
        .find(|s| s.row.event == "token")
        .expect("the grant's record");
    // The writer fills the report's columns from the record.
    assert_eq!(
        (&granted.row.pattern, &granted.row.idp, granted.row.count),
        (
            &granted.json["pattern"].as_str().map(str::to_string),
            &granted.json["idp"].as_str().map(str::to_string),
            None
        )
    );
    assert!(granted.row.pattern.is_some() && granted.row.idp.is_some());
    let (status, report) = api(&fx, &[("agent", "support-bot")]).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["groups"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let g = &report["groups"][0];
    assert_eq!(g["pattern"], granted.json["pattern"]);
    assert_eq!(
        (
            g["allow"].as_i64(),
            g["users"].as_i64(),
            g["upstreams"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
}

#[tokio::test]
async fn bad_requests_are_refused_and_usage_errors_exit_2() {
    let fx = start().await;
    let (status, body) = api(&fx, &[("since", "a week")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = api(&fx, &[("agents", "x")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let res =
        fx.t.client
            .get(fx.t.url("/admin/audit/report"))
            .send()
            .await
            .expect("request must reach the test server");
    assert_eq!(res.status().as_u16(), 401);

    let out = cli(&fx.t, &["audit", "report", "--since", "soon"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.starts_with("error: --since: "), "{}", out.stderr);
    let missing = fx.t.dir.path().join("missing.toml");
    let out = crate::cli::run(
        fx.t.dir.path(),
        &[
            "audit",
            "report",
            "--config",
            &missing.display().to_string(),
        ],
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = cli(&fx.t, &["audit", "report"]).await;
    assert_eq!(
        (out.code, out.stdout.lines().nth(1)),
        (Some(0), Some("no token decisions in this window"))
    );
}
