//! Audit upkeep and retention (migration 0008, `audit::retention`):
//! partitions created ahead and the default partition's strays moved in
//! (PostgreSQL), retention dropping only partitions wholly past it
//! (PostgreSQL) or deleting in batches (SQLite), `audit verify` starting
//! each pruned chain at its anchor yet naming a deletion inside the
//! retention and a forged anchor, one replica pruning at a time, and the
//! configuration's refusals. The clock starts at noon ten days ahead, so
//! every record lands in a partition the upkeep made for it.

use agent_sts::audit::retention::plan;
use agent_sts::audit::verify::{Report, verify};
use agent_sts::clock::{Clock, FrozenClock, SystemClock, rfc3339};
use agent_sts::config::{Config, MIN_AUDIT_RETENTION, Span};
use agent_sts::store::{UPKEEP_LOCK, UpkeepDone, UpkeepPlan};
use sqlx::{Connection, Row};

use super::verify::{batch_policy, cc_as};
use super::{Stored, all, lit, sql};
use crate::helpers::{Options, TestApp, backend, spawn_app_with};

const DAY: i64 = 86_400;

/// Midnight UTC ten days from now: day 0 of these tests.
fn day0() -> i64 {
    (SystemClock.now() / DAY + 10) * DAY
}

/// An app at noon of day 0 keeping `retention` of audit trail, with the
/// workload agent `batch`; its secret.
async fn app(retention: &str, replica_of: Option<&TestApp>) -> (TestApp, String) {
    let (policy, secret) = batch_policy(&format!("\n[audit]\nretention = \"{retention}\"\n"));
    let mut options = Options::default()
        .policy(&policy)
        .clock(FrozenClock::at(day0() + 12 * 3_600));
    if let Some(other) = replica_of {
        options = options.replica_of(other);
    }
    (spawn_app_with(options).await, secret)
}

/// `n` allowed `client_credentials` requests at `at`.
async fn allows(t: &TestApp, secret: &str, at: i64, n: usize) {
    t.clock.set(at);
    for _ in 0..n {
        assert_eq!(cc_as(t, "batch", secret).await, 200);
    }
}

/// One pass of `plan`, waiting out the app's own background pass.
async fn pass_with(t: &TestApp, plan: &UpkeepPlan) -> UpkeepDone {
    for _ in 0..100 {
        if let Some(done) = t.app.store.db.audit_upkeep(plan).await.expect("upkeep") {
            return done;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the upkeep lock stayed taken");
}

/// One pass as the server runs it, at the app's clock.
async fn pass(t: &TestApp) -> UpkeepDone {
    pass_with(t, &plan(&t.app.config.audit, t.clock.now(), false)).await
}

/// `audit verify` as the CLI runs it (no retention configured there: the
/// one-day floor), at the app's clock.
async fn verified(t: &TestApp) -> Report {
    verify(&*t.app.store.db, MIN_AUDIT_RETENTION, t.clock.now())
        .await
        .expect("verify")
}

/// The partitions of `t`'s audit table with their bounds, by name.
async fn partitions(t: &TestApp) -> Vec<(String, String)> {
    let mut c = sqlx::PgConnection::connect(&t.database_url)
        .await
        .expect("connect");
    let rows = sqlx::query(
        "SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bound \
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'audit_records'::regclass ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .expect("partitions");
    rows.iter()
        .map(|r| (r.get("name"), r.get("bound")))
        .collect()
}

/// `audit_records_pYYYYMMDD` of day `d` after day 0, and its bounds.
fn day_partition(d: i64) -> (String, String) {
    let from = day0() + d * DAY;
    let date = rfc3339(from).replace('-', "");
    (
        format!("audit_records_p{}", &date[..8]),
        format!("FOR VALUES FROM ('{from}') TO ('{}')", from + DAY),
    )
}

/// Six records: three at noon of day 0, one at 10:00 and one at noon of
/// day 1, one at noon of day 2; then a pass at 11:00 on day 3 with a
/// two-day retention (the cut: 11:00 on day 1). PostgreSQL drops day 0's
/// partition and keeps day 1's, which holds a record older than the cut;
/// SQLite deletes every record older than the cut.
async fn pruned() -> (TestApp, Vec<Stored>, UpkeepDone, i64) {
    let (t, secret) = app("2d", None).await;
    let d0 = day0();
    allows(&t, &secret, d0 + 12 * 3_600, 3).await;
    allows(&t, &secret, d0 + DAY + 10 * 3_600, 1).await;
    allows(&t, &secret, d0 + DAY + 12 * 3_600, 1).await;
    allows(&t, &secret, d0 + 2 * DAY + 12 * 3_600, 1).await;
    let before = all(&t.app.store.db).await;
    assert_eq!(before.len(), 6);
    t.clock.set(d0 + 3 * DAY + 11 * 3_600);
    let done = pass(&t).await;
    let through = if backend() == "postgres" { 3 } else { 4 };
    (t, before, done, through)
}

#[tokio::test]
async fn retention_prunes_only_what_is_past_it_and_verify_starts_at_the_anchor() {
    let (t, before, done, through) = pruned().await;
    let chain = before[0].row.chain.clone();
    assert_eq!(done.anchors, vec![(chain.clone(), through)]);
    let left: Vec<i64> = all(&t.app.store.db)
        .await
        .iter()
        .map(|s| s.row.seq)
        .collect();
    assert_eq!(left, ((through + 1)..=6).collect::<Vec<_>>());
    if backend() == "postgres" {
        // Wholly older than the cut: day 0's and everything before it.
        assert!(done.dropped.contains(&day_partition(0).0), "{done:?}");
        assert!(!done.dropped.contains(&day_partition(1).0), "{done:?}");
        assert_eq!(done.deleted, 0);
        let mut expected = vec![("audit_records_default".to_string(), "DEFAULT".to_string())];
        expected.extend((1..=5).map(day_partition));
        assert_eq!(partitions(&t).await, expected);
    } else {
        assert_eq!((done.dropped.len(), done.deleted, done.batches), (0, 4, 1));
    }
    let report = verified(&t).await;
    assert_eq!(
        (report.chains, report.records, report.broken),
        (1, 6 - through as u64, None)
    );
    let lines: Vec<String> = report.pruned.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        vec![format!(
            "chain {chain}: records 1..{through} pruned by retention on {}",
            rfc3339(t.clock.now())
        )]
    );
    // A second pass finds nothing more to prune.
    let again = pass(&t).await;
    assert_eq!(
        (again.anchors, again.dropped, again.deleted),
        (vec![], vec![], 0)
    );
}

#[tokio::test]
async fn a_deletion_inside_the_retention_is_still_named() {
    let (t, before, _, through) = pruned().await;
    // The first record after the anchor.
    let victim = &before[through as usize];
    let n = sql(
        &t.database_url,
        &format!("DELETE FROM audit_records WHERE id = {}", victim.row.id),
    )
    .await;
    assert_eq!(n, 1);
    let broken = verified(&t).await.broken.expect("a broken chain");
    let seq = victim.row.seq;
    assert_eq!(
        (broken.seq, broken.problem),
        (
            seq + 1,
            format!("records {seq}..{seq} are missing (deleted)")
        )
    );
}

#[tokio::test]
async fn a_forged_anchor_is_named() {
    let (t, secret) = app("2d", None).await;
    allows(&t, &secret, day0() + 12 * 3_600, 4).await;
    let rows = all(&t.app.store.db).await;
    let last = &rows[2].row;
    let now = t.clock.now();
    // Records 1..3 deleted and "explained" by an anchor made up for them.
    sql(
        &t.database_url,
        &format!(
            "DELETE FROM audit_records WHERE seq <= 3 AND chain = {}",
            lit(&last.chain)
        ),
    )
    .await;
    let forge = |older_than: i64, pruned_at: i64, hash: &str| {
        format!(
            "INSERT INTO audit_pruned (chain, through_seq, through_hash, through_record, \
             pruned_at, older_than) VALUES ({}, 3, {}, {}, {pruned_at}, {older_than}) \
             ON CONFLICT (chain) DO UPDATE SET through_hash = excluded.through_hash, \
             pruned_at = excluded.pruned_at, older_than = excluded.older_than",
            lit(&last.chain),
            lit(hash),
            lit(&last.record)
        )
    };
    let cases = [
        // Cut after the record, the pruning "a day later": in the future.
        (
            forge(now + 1, now + DAY + 1, &last.hash),
            format!("is dated in the future ({})", rfc3339(now + DAY + 1)),
        ),
        // Dated now: the record is younger than the retention.
        (
            forge(now + 1, now, &last.hash),
            format!(
                "claims records newer than the retention of 1d: the last one is from {}, pruned on {}",
                rfc3339(now),
                rfc3339(now)
            ),
        ),
        // A hash that is not the record's.
        (
            forge(now - 2 * DAY, now, &"0".repeat(64)),
            "does not match its record".to_string(),
        ),
    ];
    for (statement, problem) in cases {
        sql(&t.database_url, &statement).await;
        let broken = verified(&t).await.broken.expect("a broken chain");
        assert_eq!(
            (broken.chain.as_str(), broken.seq, broken.problem),
            (
                last.chain.as_str(),
                3,
                format!("the retention anchor {problem} (forged or edited)")
            )
        );
    }
}

#[tokio::test]
async fn sqlite_deletes_in_bounded_batches() {
    if backend() != "sqlite" {
        return;
    }
    let (t, secret) = app("2d", None).await;
    allows(&t, &secret, day0() + 12 * 3_600, 5).await;
    allows(&t, &secret, day0() + 2 * DAY, 1).await;
    let chain = all(&t.app.store.db).await[0].row.chain.clone();
    t.clock.set(day0() + 3 * DAY);
    let mut dry = plan(&t.app.config.audit, t.clock.now(), true);
    dry.batch = 2;
    let would = pass_with(&t, &dry).await;
    assert_eq!(
        (would.deleted, would.batches, would.anchors),
        (5, 0, vec![])
    );
    assert_eq!(all(&t.app.store.db).await.len(), 6);
    let wet = UpkeepPlan {
        dry_run: false,
        ..dry
    };
    let done = pass_with(&t, &wet).await;
    assert_eq!(
        (done.deleted, done.batches, done.anchors),
        (5, 3, vec![(chain, 5)])
    );
    assert_eq!(all(&t.app.store.db).await.len(), 1);
    let report = verified(&t).await;
    assert_eq!((report.records, report.broken), (1, None));
}

#[tokio::test]
async fn partitions_are_made_ahead_and_the_default_partition_is_emptied() {
    if backend() != "postgres" {
        return;
    }
    let (t, secret) = app("400d", None).await;
    let parts = partitions(&t).await;
    // Made at start: day 0 and the two after it (and, before them, the
    // partition from the migration's moment up to day 0).
    for d in 0..=2 {
        assert!(parts.contains(&day_partition(d)), "day {d} in {parts:?}");
    }
    assert!(!parts.contains(&day_partition(3)), "{parts:?}");
    // Five days on, nothing made meanwhile: the record lands in the
    // default partition; the next pass moves it into its own.
    allows(&t, &secret, day0() + 5 * DAY + 3_600, 1).await;
    let in_default = sql(
        &t.database_url,
        "UPDATE audit_records_default SET seq = seq",
    )
    .await;
    assert_eq!(in_default, 1);
    let done = pass(&t).await;
    let d3 = day0() + 3 * DAY;
    assert_eq!(
        done.created,
        vec![
            day_partition(3).0,
            day_partition(5).0,
            day_partition(6).0,
            day_partition(7).0
        ]
    );
    assert_eq!((done.moved, done.dropped.len()), (1, 0));
    let parts = partitions(&t).await;
    assert!(parts.contains(&(
        day_partition(3).0,
        format!("FOR VALUES FROM ('{d3}') TO ('{}')", d3 + 2 * DAY)
    )));
    assert_eq!(
        sql(
            &t.database_url,
            "UPDATE audit_records_default SET seq = seq"
        )
        .await,
        0
    );
    let name = day_partition(5).0;
    assert_eq!(
        sql(&t.database_url, &format!("UPDATE {name} SET seq = seq")).await,
        1
    );
    assert_eq!(verified(&t).await.broken, None);
}

#[tokio::test]
async fn one_replica_prunes_at_a_time() {
    if backend() != "postgres" {
        return;
    }
    let (a, secret) = app("2d", None).await;
    let (b, _) = app("2d", Some(&a)).await;
    allows(&a, &secret, day0() + 12 * 3_600, 2).await;
    allows(&a, &secret, day0() + 2 * DAY, 1).await;
    for t in [&a, &b] {
        t.clock.set(day0() + 3 * DAY + 3_600);
    }
    // Another session holds the lock: a pass does nothing.
    let mut holder = sqlx::PgConnection::connect(&a.database_url)
        .await
        .expect("connect");
    let taken: bool = sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({UPKEEP_LOCK})"))
        .fetch_one(&mut holder)
        .await
        .expect("lock");
    assert!(taken);
    for t in [&a, &b] {
        let plan = plan(&t.app.config.audit, t.clock.now(), false);
        assert_eq!(
            t.app.store.db.audit_upkeep(&plan).await.expect("upkeep"),
            None
        );
    }
    holder.close().await.expect("close");
    // Both at once: whoever gets the lock prunes; nothing is done twice.
    let plan_a = plan(&a.app.config.audit, a.clock.now(), false);
    let plan_b = plan(&b.app.config.audit, b.clock.now(), false);
    let (ra, rb) = tokio::join!(
        a.app.store.db.audit_upkeep(&plan_a),
        b.app.store.db.audit_upkeep(&plan_b)
    );
    let done: Vec<UpkeepDone> = [ra, rb]
        .into_iter()
        .filter_map(|r| r.expect("upkeep"))
        .collect();
    let anchors: Vec<_> = done.iter().flat_map(|d| d.anchors.clone()).collect();
    let chain = all(&a.app.store.db).await[0].row.chain.clone();
    assert_eq!(anchors, vec![(chain, 2)]);
    let dropped: Vec<_> = done.iter().flat_map(|d| d.dropped.clone()).collect();
    let unique: std::collections::BTreeSet<_> = dropped.iter().collect();
    assert_eq!(dropped.len(), unique.len(), "{dropped:?}");
    assert!(dropped.contains(&day_partition(0).0), "{dropped:?}");
    assert_eq!(verified(&a).await.broken, None);
}

#[test]
fn retention_and_partition_are_checked() {
    let errors = |audit: &str| {
        let text = format!(
            "issuer = \"https://sts.example.com\"\n[storage]\ndatabase_url = \"sqlite://x\"\n[audit]\n{audit}\n"
        );
        Config::parse(&text, "t.toml")
            .expect("parses")
            .validate()
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        errors("retention = \"12h\""),
        vec![
            "audit.retention: 12h is too short: keep the audit trail at least 1d (leave retention out to keep it forever)"
        ]
    );
    assert_eq!(
        errors("partition = \"30m\""),
        vec!["audit.partition: 30m is out of range: whole minutes from 1h to 31d"]
    );
    assert_eq!(
        errors("partition = \"40d\""),
        vec!["audit.partition: 40d is out of range: whole minutes from 1h to 31d"]
    );
    assert_eq!(
        errors("retention = \"400d\"\npartition = \"7d\""),
        Vec::<String>::new()
    );
    let default = Config::parse(
        "issuer = \"https://sts.example.com\"\n[storage]\ndatabase_url = \"sqlite://x\"\n",
        "t.toml",
    )
    .expect("parses");
    assert_eq!(
        (default.audit.retention, default.audit.partition),
        (None, Span::from_secs(DAY as u64))
    );
}

#[tokio::test]
async fn audit_prune_runs_one_pass_from_the_command_line() {
    // The CLI's configuration sets no retention; the partitions for today
    // and the next two days exist since the app started.
    let t = crate::helpers::spawn_app().await;
    for args in [&["audit", "prune", "--dry-run"][..], &["audit", "prune"]] {
        let out = super::cli(&t, args).await;
        assert_eq!(out.code, Some(0), "stderr {}", out.stderr);
        assert_eq!(out.stdout, "retention off: every record is kept\n");
    }
}

#[tokio::test]
async fn the_upgrade_keeps_existing_records_in_the_legacy_partition() {
    if backend() != "postgres" {
        return;
    }
    // A database at migration 0007 with three records in it.
    let dir = tempfile::tempdir().expect("tempdir");
    let url = crate::helpers::database_url(dir.path()).await;
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).expect("mkdir");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for entry in std::fs::read_dir(&src).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.as_str() < "0008" {
            std::fs::copy(&path, old.join(&name)).expect("copy");
        }
    }
    let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("migrator")
        .run(&mut c)
        .await
        .expect("0001..0007");
    c.close().await.expect("close");
    let n = sql(
        &url,
        "INSERT INTO audit_records (chain, seq, at, event, decision, reason, prev_hash, hash, record) \
         SELECT 'r.1', g, 1700000000 + g, 'token', 'allow', 'granted', 'p', 'h', '{}' \
         FROM generate_series(1, 3) g",
    )
    .await;
    assert_eq!(n, 3);
    // Upgraded: the same rows, now in audit_records_legacy; ids go on.
    let db = agent_sts::store::connect_database(&agent_sts::config::SecretString::new(url.clone()))
        .await
        .expect("connect and migrate");
    let rows = db
        .audit_chain_rows("r.1", 0, 10)
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.id, r.seq, r.at))
        .collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![
            (1, 1, 1_700_000_001),
            (2, 2, 1_700_000_002),
            (3, 3, 1_700_000_003)
        ]
    );
    let legacy = sql(&url, "UPDATE audit_records_legacy SET seq = seq").await;
    assert_eq!(legacy, 3);
    let next = sql(
        &url,
        &format!(
            "INSERT INTO audit_records (chain, seq, at, event, decision, reason, prev_hash, hash, \
             record) VALUES ('r.2', 1, {}, 'token', 'allow', 'granted', 'p', 'h', '{{}}')",
            SystemClock.now() + 30 * DAY
        ),
    )
    .await;
    assert_eq!(next, 1);
    let ids: Vec<i64> = db
        .audit_chain_rows("r.2", 0, 10)
        .await
        .expect("rows")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![4]);
    db.close().await;
}

#[tokio::test]
async fn a_repeated_seq_is_refused_within_a_partition_and_named_across_them() {
    if backend() != "postgres" {
        return;
    }
    let (t, secret) = app("400d", None).await;
    allows(&t, &secret, day0() + 12 * 3_600, 2).await;
    let rows = all(&t.app.store.db).await;
    let copy = |at: i64| {
        format!(
            "INSERT INTO audit_records (chain, seq, at, event, decision, reason, prev_hash, hash, \
             record) SELECT chain, seq, {at}, event, decision, reason, prev_hash, hash, record \
             FROM audit_records WHERE id = {}",
            rows[1].row.id
        )
    };
    // The same day's partition refuses it (its own UNIQUE (chain, seq)).
    let mut c = sqlx::PgConnection::connect(&t.database_url)
        .await
        .expect("connect");
    let refused = sqlx::query(&copy(day0() + 13 * 3_600))
        .execute(&mut c)
        .await
        .expect_err("a repeat within a partition");
    assert!(refused.to_string().contains("duplicate key"), "{refused}");
    c.close().await.expect("close");
    // The next day's takes it; verify names it.
    assert_eq!(sql(&t.database_url, &copy(day0() + DAY + 60)).await, 1);
    let broken = verified(&t).await.broken.expect("a broken chain");
    assert_eq!(
        (broken.seq, broken.problem.as_str()),
        (2, "seq 2 appears again (an inserted record)")
    );
    assert_ne!(broken.id, rows[1].row.id);
}
