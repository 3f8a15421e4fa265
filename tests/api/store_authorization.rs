//! The storage contract of the authorization code grant (`OneTimeStore`,
//! `RefreshStore`), written once and run against the backend the tests use:
//! SQLite always, PostgreSQL when `AGENT_STS_TEST_DATABASE_URL` is set (a
//! fresh schema per test). What the grant relies on: a code or a refresh
//! token wins once, even under concurrency; a replay is recognised until
//! expiry; revocation reaches every token of a family and no family started
//! after it.

use agent_sts::config::SecretString;
use agent_sts::store::{RefreshRow, RefreshUse, SharedDatabase, Taken, connect_database};
use tokio::task::JoinSet;

use crate::helpers::database_url;

async fn fresh() -> (SharedDatabase, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = database_url(dir.path()).await;
    let db = connect_database(&SecretString::new(url))
        .await
        .expect("connect and migrate");
    (db, dir)
}

/// How many concurrent callers race for one record.
const RACERS: usize = 8;

/// A token of `family` (begun at 100, ending at 10_000) issued at
/// `issued_at`, idle after 1_000 s.
fn token(hash: &str, family: &str, issued_at: i64) -> RefreshRow {
    RefreshRow {
        hash: hash.into(),
        family: family.into(),
        client_id: "client-a".into(),
        agent: "agent-a".into(),
        subject: "alice".into(),
        idp: Some("https://okta".into()),
        resource: "https://mcp.example.com".into(),
        family_started_at: 100,
        issued_at,
        idle_expires_at: issued_at + 1_000,
        family_expires_at: 10_000,
        payload: format!("{{\"family\":\"{family}\",\"hash\":\"{hash}\"}}"),
    }
}

#[tokio::test]
async fn a_one_time_record_is_taken_first_then_again_then_missing_after_expiry() {
    let (db, _dir) = fresh().await;
    db.put_once("code", "k1", "payload-1", 200)
        .await
        .expect("put");
    db.put_once("login", "k1", "payload-login", 200)
        .await
        .expect("the same key under another kind is another record");

    assert_eq!(
        db.take_once("code", "k1", 100).await.expect("take"),
        Taken::First("payload-1".into())
    );
    assert_eq!(
        db.take_once("code", "k1", 101).await.expect("take"),
        Taken::Again("payload-1".into())
    );
    assert_eq!(
        db.take_once("code", "k1", 199).await.expect("take"),
        Taken::Again("payload-1".into()),
        "a replay is recognised until the last second of the lifetime"
    );
    assert_eq!(
        db.take_once("code", "k1", 200).await.expect("take"),
        Taken::Missing,
        "at expires_at the record has expired"
    );
    assert_eq!(
        db.take_once("code", "unknown", 100).await.expect("take"),
        Taken::Missing
    );
    assert_eq!(
        db.take_once("login", "k1", 150).await.expect("take"),
        Taken::First("payload-login".into()),
        "kinds are independent"
    );

    db.put_once("code", "late", "payload-late", 200)
        .await
        .expect("put");
    assert_eq!(
        db.take_once("code", "late", 200).await.expect("take"),
        Taken::Missing,
        "an expired record is never taken"
    );
    assert_eq!(
        db.take_once("code", "late", 150).await.expect("take"),
        Taken::First("payload-late".into()),
        "a late take does not spend it"
    );
}

#[tokio::test]
async fn a_one_time_key_is_never_overwritten() {
    let (db, _dir) = fresh().await;
    db.put_once("code", "k1", "original", 200)
        .await
        .expect("put");
    let again = db.put_once("code", "k1", "intruder", 300).await;
    assert!(
        matches!(again, Err(agent_sts::store::StoreError::Query(_))),
        "a duplicate put is a query error: {again:?}"
    );
    assert_eq!(
        db.take_once("code", "k1", 250).await.expect("take"),
        Taken::Missing,
        "the expiry was not extended"
    );
    assert_eq!(
        db.take_once("code", "k1", 100).await.expect("take"),
        Taken::First("original".into()),
        "the payload was not replaced"
    );
    assert!(
        db.put_once("code", "k1", "after-take", 300).await.is_err(),
        "a taken key is still present"
    );
    assert!(
        db.put_once("other", "k2", "payload", 300).await.is_err(),
        "only the kinds login and code are stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_takes_give_exactly_one_first() {
    let (db, _dir) = fresh().await;
    db.put_once("code", "raced", "payload", 200)
        .await
        .expect("put");
    let mut takes = JoinSet::new();
    for _ in 0..RACERS {
        let db = db.clone();
        takes.spawn(async move { db.take_once("code", "raced", 100).await.expect("take") });
    }
    let mut outcomes = takes.join_all().await;
    outcomes.sort_by_key(|t| !matches!(t, Taken::First(_)));
    let mut expected = vec![Taken::Again("payload".into()); RACERS];
    expected[0] = Taken::First("payload".into());
    assert_eq!(outcomes, expected);
}

#[tokio::test]
async fn pruning_one_time_records_keeps_unexpired_taken_ones() {
    let (db, _dir) = fresh().await;
    db.put_once("code", "taken-live", "a", 200)
        .await
        .expect("put");
    db.put_once("code", "taken-expired", "b", 150)
        .await
        .expect("put");
    db.put_once("login", "untaken-expired", "c", 120)
        .await
        .expect("put");
    db.put_once("login", "untaken-live", "d", 300)
        .await
        .expect("put");
    for key in ["taken-live", "taken-expired"] {
        assert!(matches!(
            db.take_once("code", key, 100).await.expect("take"),
            Taken::First(_)
        ));
    }

    assert_eq!(db.prune_one_time(150).await.expect("prune"), 2);
    assert_eq!(db.prune_one_time(150).await.expect("prune"), 0);
    assert_eq!(
        db.take_once("code", "taken-live", 160).await.expect("take"),
        Taken::Again("a".into()),
        "a taken record outlives pruning until it expires"
    );
    assert_eq!(
        db.take_once("login", "untaken-live", 160)
            .await
            .expect("take"),
        Taken::First("d".into())
    );
    // A pruned key is free again: nothing remembers it.
    db.put_once("code", "taken-expired", "e", 400)
        .await
        .expect("put after prune");
    assert_eq!(db.prune_one_time(300).await.expect("prune"), 2);
}

#[tokio::test]
async fn a_refresh_token_is_fresh_once_then_reused() {
    let (db, _dir) = fresh().await;
    let t1 = token("h1", "f1", 100);
    db.insert_refresh(&t1).await.expect("insert");
    assert!(
        db.insert_refresh(&t1).await.is_err(),
        "a hash is stored once"
    );

    assert_eq!(
        db.use_refresh("h1", 500).await.expect("use"),
        RefreshUse::Fresh(t1.clone()),
        "every column round-trips"
    );
    assert_eq!(
        db.use_refresh("h1", 501).await.expect("use"),
        RefreshUse::Reused(t1.clone())
    );

    // Rotation: the next token of the family is fresh in its turn.
    let t2 = RefreshRow {
        idp: None,
        ..token("h2", "f1", 500)
    };
    db.insert_refresh(&t2).await.expect("insert");
    assert_eq!(
        db.use_refresh("h2", 600).await.expect("use"),
        RefreshUse::Fresh(t2.clone())
    );
    assert_eq!(
        db.use_refresh("unknown", 600).await.expect("use"),
        RefreshUse::Missing
    );
}

#[tokio::test]
async fn a_refresh_token_past_its_idle_expiry_is_missing() {
    let (db, _dir) = fresh().await;
    let unused = token("h1", "f1", 100);
    let used = token("h2", "f2", 100);
    db.insert_refresh(&unused).await.expect("insert");
    db.insert_refresh(&used).await.expect("insert");
    assert_eq!(
        db.use_refresh("h2", 1_099).await.expect("use"),
        RefreshUse::Fresh(used.clone()),
        "usable until the last second before idle_expires_at"
    );

    assert_eq!(
        db.use_refresh("h1", 1_100).await.expect("use"),
        RefreshUse::Missing,
        "at idle_expires_at the token is dead"
    );
    assert_eq!(
        db.use_refresh("h2", 1_100).await.expect("use"),
        RefreshUse::Missing,
        "a used token past its idle expiry is missing too"
    );
    assert_eq!(
        db.use_refresh("h1", 1_099).await.expect("use"),
        RefreshUse::Fresh(unused),
        "a use after expiry did not mark it used"
    );
}

#[tokio::test]
async fn a_refresh_token_past_its_family_expiry_is_missing() {
    let (db, _dir) = fresh().await;
    // Issued near the family's end: the idle lifetime outlasts the family.
    let late = token("h1", "f1", 9_500);
    db.insert_refresh(&late).await.expect("insert");
    assert_eq!(
        db.use_refresh("h1", 10_000).await.expect("use"),
        RefreshUse::Missing,
        "at family_expires_at the token is dead, whatever its idle lifetime"
    );
    assert_eq!(
        db.use_refresh("h1", 9_999).await.expect("use"),
        RefreshUse::Fresh(late)
    );
}

#[tokio::test]
async fn revoking_a_family_revokes_every_member() {
    let (db, _dir) = fresh().await;
    let old = token("h1", "f1", 100);
    let current = token("h2", "f1", 200);
    let other = token("h3", "f2", 100);
    for t in [&old, &current, &other] {
        db.insert_refresh(t).await.expect("insert");
    }
    assert!(matches!(
        db.use_refresh("h1", 200).await.expect("use"),
        RefreshUse::Fresh(_)
    ));

    assert_eq!(db.revoke_family("f1", 300).await.expect("revoke"), 2);
    assert_eq!(
        db.revoke_family("f1", 301).await.expect("revoke"),
        0,
        "rows already revoked are not marked again"
    );
    assert_eq!(
        db.use_refresh("h1", 400).await.expect("use"),
        RefreshUse::Revoked(old),
        "revocation outranks reuse"
    );
    assert_eq!(
        db.use_refresh("h2", 400).await.expect("use"),
        RefreshUse::Revoked(current.clone())
    );
    assert_eq!(
        db.use_refresh("h2", 401).await.expect("use"),
        RefreshUse::Revoked(current),
        "a revoked token is not marked used"
    );
    // A rotation that raced the revocation inserts into a revoked family.
    let raced = token("h4", "f1", 300);
    db.insert_refresh(&raced).await.expect("insert");
    assert_eq!(
        db.use_refresh("h4", 400).await.expect("use"),
        RefreshUse::Revoked(raced)
    );
    assert_eq!(
        db.use_refresh("h3", 400).await.expect("use"),
        RefreshUse::Fresh(other),
        "other families are untouched"
    );
}

#[tokio::test]
async fn families_are_revoked_by_subject_agent_or_client_up_to_at() {
    let (db, _dir) = fresh().await;
    // (hash, family, subject, idp, agent, client, family started at)
    let families = [
        (
            "h1",
            "alice-okta",
            "alice",
            Some("https://okta"),
            "agent-a",
            "client-a",
            100,
        ),
        (
            "h2",
            "alice-entra",
            "alice",
            Some("https://entra"),
            "agent-b",
            "client-b",
            100,
        ),
        (
            "h3",
            "alice-later",
            "alice",
            Some("https://okta"),
            "agent-a",
            "client-a",
            600,
        ),
        ("h4", "bob-a", "bob", None, "agent-a", "client-b", 100),
        ("h5", "bob-b", "bob", None, "agent-b", "client-a", 100),
        ("h6", "carol", "carol", None, "agent-c", "client-c", 100),
    ];
    let mut rows = Vec::new();
    for (hash, family, subject, idp, agent, client, started) in families {
        let row = RefreshRow {
            subject: subject.into(),
            idp: idp.map(Into::into),
            agent: agent.into(),
            client_id: client.into(),
            family_started_at: started,
            ..token(hash, family, started)
        };
        db.insert_refresh(&row).await.expect("insert");
        rows.push(row);
    }
    // A second token in alice-okta: revocation reaches it too.
    let rotated = RefreshRow {
        idp: Some("https://okta".into()),
        ..token("h1b", "alice-okta", 150)
    };
    db.insert_refresh(&rotated).await.expect("insert");
    let outcome = |hash: &'static str| {
        let db = db.clone();
        async move {
            match db.use_refresh(hash, 700).await.expect("use") {
                RefreshUse::Revoked(row) => format!("revoked {}", row.family),
                RefreshUse::Fresh(row) => format!("fresh {}", row.family),
                other => format!("{other:?}"),
            }
        }
    };

    assert_eq!(
        db.revoke_families_of(None, None, None, 500)
            .await
            .expect("revoke"),
        0,
        "no criterion revokes nothing"
    );
    assert_eq!(
        db.revoke_families_of(Some(("alice", Some("https://okta"))), None, None, 500)
            .await
            .expect("revoke"),
        1,
        "one family of two rows, and not the one started after `at`"
    );
    assert_eq!(outcome("h1").await, "revoked alice-okta");
    assert_eq!(outcome("h1b").await, "revoked alice-okta");
    assert_eq!(outcome("h3").await, "fresh alice-later");

    assert_eq!(
        db.revoke_families_of(Some(("alice", None)), None, None, 500)
            .await
            .expect("revoke"),
        1,
        "every idp's, but alice-okta is revoked already"
    );
    assert_eq!(outcome("h2").await, "revoked alice-entra");

    assert_eq!(
        db.revoke_families_of(None, Some("agent-a"), None, 500)
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(outcome("h4").await, "revoked bob-a");

    assert_eq!(
        db.revoke_families_of(None, None, Some("client-a"), 500)
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(outcome("h5").await, "revoked bob-b");

    assert_eq!(
        db.revoke_families_of(Some(("carol", None)), Some("agent-x"), None, 500)
            .await
            .expect("revoke"),
        0,
        "every criterion given must match"
    );
    assert_eq!(
        db.revoke_families_of(Some(("carol", None)), None, None, 99)
            .await
            .expect("revoke"),
        0,
        "a family started after `at` is untouched"
    );
    assert_eq!(outcome("h6").await, "fresh carol");
    assert_eq!(
        db.revoke_families_of(Some(("alice", None)), None, None, 10_000)
            .await
            .expect("revoke"),
        0,
        "a family past its absolute end is not live"
    );
    assert_eq!(
        db.revoke_families_of(Some(("alice", None)), None, None, 600)
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(outcome("h3").await, "revoked alice-later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_give_exactly_one_fresh() {
    let (db, _dir) = fresh().await;
    let t = token("raced", "f1", 100);
    db.insert_refresh(&t).await.expect("insert");
    let mut uses = JoinSet::new();
    for _ in 0..RACERS {
        let db = db.clone();
        uses.spawn(async move { db.use_refresh("raced", 500).await.expect("use") });
    }
    let mut outcomes = uses.join_all().await;
    outcomes.sort_by_key(|u| !matches!(u, RefreshUse::Fresh(_)));
    let mut expected = vec![RefreshUse::Reused(t.clone()); RACERS];
    expected[0] = RefreshUse::Fresh(t);
    assert_eq!(outcomes, expected);
}

#[tokio::test]
async fn pruning_refresh_tokens_drops_only_families_past_their_end() {
    let (db, _dir) = fresh().await;
    let ending = |hash: &str, family: &str, end: i64| RefreshRow {
        family_expires_at: end,
        ..token(hash, family, 100)
    };
    let kept = ending("h3", "f2", 5_001);
    for t in [
        ending("h1", "f1", 5_000),
        ending("h2", "f1", 5_000),
        kept.clone(),
    ] {
        db.insert_refresh(&t).await.expect("insert");
    }
    assert_eq!(db.revoke_family("f1", 200).await.expect("revoke"), 2);

    assert_eq!(db.prune_refresh(4_999).await.expect("prune"), 0);
    assert_eq!(
        db.prune_refresh(5_000).await.expect("prune"),
        2,
        "revoked or not, rows go at their family's end"
    );
    assert_eq!(db.prune_refresh(5_000).await.expect("prune"), 0);
    assert_eq!(
        db.use_refresh("h3", 1_000).await.expect("use"),
        RefreshUse::Fresh(kept)
    );
    assert_eq!(
        db.use_refresh("h1", 1_000).await.expect("use"),
        RefreshUse::Missing,
        "a pruned token is unknown"
    );
}
