//! Revocation across replicas: two apps sharing one database (and Redis
//! when the tests have it), a replica started after the revocation, one
//! that gets no Redis messages, one whose storage is gone (503), and the
//! `agent-sts revoke` CLI.
//!
//! The helper gives each replica its own issuer (its own base URL), so a
//! replica introspects the tokens it minted itself; revocations are shared.

use std::time::{Duration, Instant};

use super::*;
use crate::helpers::TEST_REDIS_ENV;

/// A replica of the fixture's app: same policy, database, keys and clock.
async fn replica(fx: &Fx, redis: bool) -> TestApp {
    let mut options = Options::default()
        .policy(&fx.policy)
        .replica_of(&fx.t)
        .clock(fx.t.clock.clone());
    if !redis {
        options = options.without_redis();
    }
    spawn_app_with(options).await
}

/// Ask `node` every 50 ms until `token` is inactive; how long it took.
/// Panics after `limit`, or on any answer but active/inactive.
async fn until_inactive(fx: &Fx, node: &TestApp, token: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let a = fx
            .introspect_raw(node, Some("gw-zendesk"), &[("token", token)], None)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body == INACTIVE {
            return started.elapsed();
        }
        assert_eq!(a.json(), active_answer(token));
        assert!(
            started.elapsed() < limit,
            "still active after {limit:?} on {}",
            node.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has_redis() -> bool {
    std::env::var(TEST_REDIS_ENV).is_ok()
}

/// The one test of this module with Redis (see the module doc of `mod.rs`).
#[tokio::test]
async fn every_replica_honours_a_revocation_made_on_another() {
    let fx = start_with(Setup {
        admin: true,
        redis: true,
    })
    .await;
    let b = replica(&fx, true).await;
    let on_b = fx.cc_on(&b, "support-bot", ZENDESK).await;
    fx.assert_active_on(&b, "gw-zendesk", &on_b).await;

    // Revoked on A; B learns it by pub/sub (Redis) or by its database poll.
    fx.admin_revoke(json!({"jti": jti_of(&on_b)})).await;
    let limit = if has_redis() { 1 } else { 3 };
    let took = until_inactive(&fx, &b, &on_b, Duration::from_secs(limit)).await;
    eprintln!("replica B saw the revocation after {took:?}");
    if has_redis() {
        // Measured in milliseconds from the publication: a real, sub-second
        // figure (whole seconds made every pub/sub lag 0).
        let text = b.get("/metrics").await.text().await.unwrap();
        let value = |suffix: &str| -> f64 {
            let prefix = format!(
                "agent_sts_revocation_propagation_lag_seconds_{suffix}{{path=\"pubsub\"}} "
            );
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let (sum, count) = (value("sum"), value("count"));
        assert!(count >= 1.0, "a pub/sub arrival was measured");
        assert!(
            sum > 0.0 && sum / count < 1.0,
            "pub/sub lag {sum} s over {count}"
        );
    }

    // "Alice quits" on A; B restarts (C) and knows it from its first
    // answer: her Okta token from before buys nothing new there either.
    let subject = fx
        .okta
        .access_token(ALICE)
        .groups(GROUPS)
        .issued_at(fx.now() - 60)
        .mint();
    fx.admin_revoke(json!({"subject": FakeOkta::uid_for(ALICE)}))
        .await;
    drop(b);
    let c = replica(&fx, true).await;
    let refused = c
        .client
        .post(c.url("/token"))
        .basic_auth("support-bot", Some(&fx.secret))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", subject.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", ZENDESK),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(refused.status(), 400);
    assert_eq!(
        json_body(refused).await,
        json!({"error": "invalid_request", "error_description": "subject_token: its user, \
               agent or client was revoked after it was issued; a token issued since is needed"})
    );
    let bob = fx.obo_on(&c, "support-bot", &fx.user(BOB), ZENDESK).await;
    fx.assert_active_on(&c, "gw-zendesk", &bob).await;

    // A replica that never hears Redis converges by polling the database.
    let d = replica(&fx, false).await;
    let triage = fx.cc_on(&d, "triage-host", ZENDESK).await;
    let support = fx.cc_on(&d, "support-bot", ZENDESK).await;
    fx.assert_active_on(&d, "gw-zendesk", &triage).await;
    fx.admin_revoke(json!({"agent": "triage-bot"})).await;
    let took = until_inactive(&fx, &d, &triage, Duration::from_secs(3)).await;
    eprintln!("replica D (no Redis) saw the revocation after {took:?}");
    fx.assert_active_on(&d, "gw-zendesk", &support).await;
    let on_c = fx.cc_on(&c, "triage-host", ZENDESK).await;
    until_inactive(&fx, &c, &on_c, Duration::from_secs(limit)).await;
}

#[tokio::test]
async fn a_replica_whose_view_is_stale_answers_503_never_active() {
    let fx = start().await;
    // B has a clock of its own: only B's time moves.
    let b = spawn_app_with(
        Options::default()
            .policy(&fx.policy)
            .replica_of(&fx.t)
            .without_redis(),
    )
    .await;
    let on_a = fx.cc("support-bot", ZENDESK).await;
    let on_b = fx.cc_on(&b, "support-bot", ZENDESK).await;
    fx.assert_active_on(&b, "gw-zendesk", &on_b).await;

    b.app.store.db.close().await;
    b.clock.advance(31);
    assert!(b.app.revocations.reload().await.is_err(), "storage is gone");
    for accept in [None, Some(JWT_MEDIA)] {
        let a = fx
            .introspect_raw(&b, Some("gw-zendesk"), &[("token", &on_b)], accept)
            .await;
        a.assert_error(
            503,
            "temporarily_unavailable",
            "revocation state is not current; try again shortly",
        );
        assert_eq!(a.header("retry-after"), "1");
    }
    // What is inactive whatever the revocations are is still answered.
    fx.assert_inactive_on(&b, "gw-zendesk", "garbage").await;
    fx.assert_inactive_on(&b, "gw-slack", &on_b).await;
    // At the bound itself B still answers; A, whose storage is fine, too.
    b.clock.advance(-1);
    fx.assert_active_on(&b, "gw-zendesk", &on_b).await;
    fx.assert_active("gw-zendesk", &on_a).await;

    // Nor can B take a revocation it cannot make durable.
    let unstored = "the revocation could not be stored; try again";
    let a = fx
        .admin_on(&b, Some(&fx.admin), Some(json!({"jti": jti_of(&on_b)})))
        .await;
    a.assert_error(503, "temporarily_unavailable", unstored);
    let res = b
        .client
        .post(b.url("/revoke"))
        .basic_auth("support-bot", Some(&fx.secret))
        .form(&[("token", &on_b)])
        .send()
        .await
        .expect("request must reach the test server");
    Answer::of(res)
        .await
        .assert_error(503, "temporarily_unavailable", unstored);
    fx.admin_on(&b, Some(&fx.admin), None).await.assert_error(
        503,
        "temporarily_unavailable",
        "storage is unavailable; try again",
    );
}

#[tokio::test]
async fn the_revoke_cli_reaches_a_running_app() {
    let fx = start().await;
    let alice = fx.obo("support-bot", ALICE, ZENDESK).await;
    let bob = fx.obo("support-bot", BOB, ZENDESK).await;
    fx.assert_active("gw-zendesk", &alice).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent-sts.toml");
    let text = format!(
        "issuer = \"{}\"\n[storage]\ndatabase_url = \"{}\"\n",
        fx.t.base, fx.t.database_url
    );
    std::fs::write(&config, text).expect("write the config");
    let uid = FakeOkta::uid_for(ALICE);
    let args: Vec<String> = [
        "revoke",
        "--config",
        config.to_str().expect("UTF-8 path"),
        "--subject",
        &uid,
        "--reason",
        "left the company",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::cli::run(&cwd, &args)
    })
    .await
    .expect("the CLI ran");
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    let expected =
        format!("revoked: subject {uid} (id 1); every token of user {uid} issued up to ");
    assert!(out.stdout.starts_with(&expected), "stdout: {}", out.stdout);
    // Audited like the admin API, on a chain of its own.
    let records = crate::audit::all(&fx.t.app.store.db).await;
    let cli = records
        .iter()
        .find(|s| {
            s.json["request_id"]
                .as_str()
                .unwrap_or("")
                .starts_with("cli-")
        })
        .expect("the CLI's audit record");
    assert_eq!(
        (
            &cli.json["event"],
            &cli.json["decision"],
            &cli.json["reason"],
            &cli.json["subject"]
        ),
        (
            &json!("admin"),
            &json!("allow"),
            &json!("revoked"),
            &json!(uid)
        )
    );
    assert!(
        cli.json["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("revoked subject {uid} with the agent-sts CLI")),
        "{}",
        cli.json["detail"]
    );
    assert!(cli.json["chain"].as_str().unwrap().starts_with("cli-"));

    let took = until_inactive(&fx, &fx.t, &alice, Duration::from_secs(3)).await;
    eprintln!("the app saw the CLI's revocation after {took:?}");
    fx.assert_active("gw-zendesk", &bob).await;
    let listed = fx.admin_on(&fx.t, Some(&fx.admin), None).await.json();
    assert_eq!(listed["revocations"][0]["actor"], "cli");
    assert_eq!(listed["revocations"][0]["reason"], "left the company");
}

/// Two deployments with their own databases that happen to share a Redis
/// must not apply each other's revocations, nor drop their own.
#[tokio::test]
async fn unrelated_deployments_sharing_redis_stay_apart() {
    if !has_redis() {
        return;
    }
    let redis = Setup {
        admin: true,
        redis: true,
    };
    let (x, y) = (start_with(redis).await, start_with(redis).await);
    let support = y.cc("support-bot", ZENDESK).await;
    let triage = y.cc("triage-host", ZENDESK).await;
    // X revokes support-bot in X's deployment (row id 1 of X's database),
    // at a time after Y's tokens were issued.
    x.advance(5).await;
    x.admin_revoke(json!({"agent": "support-bot"})).await;
    // For a second, Y's support-bot token must stay active.
    let started = Instant::now();
    let mut foreign_applied = false;
    while started.elapsed() < Duration::from_secs(1) && !foreign_applied {
        let a = y
            .introspect_raw(&y.t, Some("gw-zendesk"), &[("token", &support)], None)
            .await;
        foreign_applied = a.body == INACTIVE;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Y's own first revocation (row id 1 of Y's database) must apply.
    y.admin_revoke(json!({"jti": jti_of(&triage)})).await;
    let a = y
        .introspect_raw(&y.t, Some("gw-zendesk"), &[("token", &triage)], None)
        .await;
    let own_dropped = a.body != INACTIVE;
    assert_eq!(
        (foreign_applied, own_dropped),
        (false, false),
        "(X's revocation applied in Y, Y's own revocation dropped)"
    );
}
