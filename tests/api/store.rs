//! The storage contract, written once and run against the backend the
//! tests use: SQLite always, PostgreSQL when `AGENT_STS_TEST_DATABASE_URL`
//! is set (a fresh schema per test). Every method of the storage traits
//! (`RevocationStore`, `AuditStore`, `ReplicaStore`, `Database`) is held to
//! what its callers rely on: order, bounds, expiry, all-or-none. The replay
//! cache is held to one contract in-process and, when
//! `AGENT_STS_TEST_REDIS_URL` is set, in Redis.

use agent_sts::config::SecretString;
use agent_sts::store::{
    AuditFilter, AuditRow, RedisStore, ReplayCache, Revocation, RevocationKind, SharedDatabase,
    connect_database,
};

use crate::helpers::{TEST_REDIS_ENV, backend, database_url};

async fn fresh() -> (SharedDatabase, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = database_url(dir.path()).await;
    let db = connect_database(&SecretString::new(url))
        .await
        .expect("connect and migrate");
    (db, dir)
}

fn revocation(kind: RevocationKind, value: &str, at: i64, expires: i64) -> Revocation {
    Revocation {
        id: 0,
        kind,
        value: value.into(),
        idp: (kind == RevocationKind::Subject).then(|| "https://okta".to_string()),
        revoked_at: at,
        expires_at: expires,
        actor: "admin".into(),
        reason: Some("test".into()),
    }
}

fn row(chain: &str, seq: i64, at: i64, decision: &str, subject: &str, agent: &str) -> AuditRow {
    AuditRow {
        id: 0,
        chain: chain.into(),
        seq,
        at,
        event: "token".into(),
        decision: decision.into(),
        reason: "granted".into(),
        subject: Some(subject.into()),
        agent: Some(agent.into()),
        pattern: Some("obo".into()),
        idp: None,
        tenant: None,
        count: None,
        prev_hash: format!("{:064}", seq - 1),
        hash: format!("{seq:064}"),
        record: format!("{{\"chain\":\"{chain}\",\"seq\":{seq}}}"),
    }
}

#[tokio::test]
async fn connects_migrates_answers_and_names_its_backend() {
    let (db, _dir) = fresh().await;
    assert_eq!(db.backend(), backend());
    db.ping().await.expect("ping");
    // Migrations are idempotent: a second connection to the same store.
    db.close().await;
    assert!(db.ping().await.is_err(), "a closed pool answers nothing");
}

#[tokio::test]
async fn revocations_come_back_in_id_order_unexpired_and_bounded() {
    let (db, _dir) = fresh().await;
    let mut stored = Vec::new();
    for (i, kind) in [
        RevocationKind::Jti,
        RevocationKind::Subject,
        RevocationKind::Agent,
        RevocationKind::Client,
    ]
    .into_iter()
    .enumerate()
    {
        let r = revocation(kind, &format!("v{i}"), 100, 1_000 + i as i64);
        let id = db.insert_revocation(&r).await.expect("insert");
        assert!(id > 0, "ids start above zero");
        stored.push(Revocation { id, ..r });
    }
    let ids: Vec<i64> = stored.iter().map(|r| r.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");

    let all = db.revocations_after(0, 500, 100).await.expect("read");
    assert_eq!(all, stored, "every field round-trips, in id order");
    let page = db.revocations_after(0, 500, 2).await.expect("read");
    assert_eq!(page, stored[..2]);
    let next = db
        .revocations_after(page[1].id, 500, 2)
        .await
        .expect("read");
    assert_eq!(next, stored[2..]);
    // Expired at `now` (expires_at <= now): not returned.
    let later = db.revocations_after(0, 1_001, 100).await.expect("read");
    assert_eq!(later, stored[2..]);

    // Pruning deletes exactly the expired rows.
    assert_eq!(db.prune_revocations(1_001).await.expect("prune"), 2);
    assert_eq!(
        db.revocations_after(0, 0, 100).await.expect("read"),
        stored[2..]
    );
    assert_eq!(db.prune_revocations(1_001).await.expect("prune"), 0);
}

#[tokio::test]
async fn the_deployment_id_is_made_once() {
    let (db, _dir) = fresh().await;
    assert_eq!(db.deployment_id("first").await.expect("id"), "first");
    assert_eq!(db.deployment_id("second").await.expect("id"), "first");
}

#[tokio::test]
async fn replicas_are_registered_and_refreshed() {
    let (db, _dir) = fresh().await;
    db.register_replica("a", "1.0", 100)
        .await
        .expect("register");
    db.register_replica("b", "1.0", 200)
        .await
        .expect("register");
    // A heartbeat refreshes last_seen (a replica id is one process: its
    // version is the one it registered with).
    db.register_replica("a", "1.0", 300).await.expect("refresh");
    let mut seen = db.replicas_since(150).await.expect("read");
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("a".into(), "1.0".into(), 300),
            ("b".into(), "1.0".into(), 200)
        ]
    );
    assert_eq!(db.replicas_since(250).await.expect("read").len(), 1);
}

#[tokio::test]
async fn audit_rows_are_appended_all_or_none_and_read_back_by_chain_and_filter() {
    let (db, _dir) = fresh().await;
    let rows = vec![
        row("r1.1", 1, 100, "allow", "alice", "bot"),
        row("r1.1", 2, 110, "deny", "bob", "bot"),
        row("r2.1", 1, 120, "allow", "alice", "other"),
        row("r1.1", 3, 130, "would_deny", "alice", "bot"),
    ];
    db.insert_audit(&rows).await.expect("insert");
    // A batch with a duplicate (chain, seq) is refused whole.
    let bad = vec![
        row("r3.1", 1, 140, "allow", "carol", "bot"),
        row("r1.1", 2, 150, "allow", "carol", "bot"),
    ];
    assert!(db.insert_audit(&bad).await.is_err());
    assert_eq!(
        db.audit_chains().await.expect("chains"),
        vec!["r1.1", "r2.1"]
    );

    let chain = db.audit_chain_rows("r1.1", 0, 100).await.expect("rows");
    assert_eq!(
        chain.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let tail = db.audit_chain_rows("r1.1", 1, 1).await.expect("rows");
    assert_eq!((tail.len(), tail[0].seq), (1, 2));
    let first = &chain[0];
    assert_eq!(
        AuditRow {
            id: 0,
            ..first.clone()
        },
        rows[0],
        "every column round-trips"
    );

    let query = |f: AuditFilter| {
        let db = db.clone();
        async move {
            db.audit_query(&AuditFilter { limit: 100, ..f })
                .await
                .expect("query")
                .into_iter()
                .map(|r| (r.chain, r.seq))
                .collect::<Vec<_>>()
        }
    };
    let all = query(AuditFilter::default()).await;
    assert_eq!(all.len(), 4, "in id order: {all:?}");
    let by = |subject: Option<&str>, agent: Option<&str>, decision: Option<&str>| AuditFilter {
        subject: subject.map(Into::into),
        agent: agent.map(Into::into),
        decision: decision.map(Into::into),
        ..AuditFilter::default()
    };
    assert_eq!(
        query(by(Some("alice"), None, None)).await,
        vec![("r1.1".into(), 1), ("r2.1".into(), 1), ("r1.1".into(), 3)]
    );
    assert_eq!(
        query(by(None, Some("other"), None)).await,
        vec![("r2.1".into(), 1)]
    );
    assert_eq!(
        query(by(None, None, Some("deny"))).await,
        vec![("r1.1".into(), 2)]
    );
    let window = AuditFilter {
        since: Some(110),
        until: Some(130),
        ..AuditFilter::default()
    };
    assert_eq!(
        query(window).await,
        vec![("r1.1".into(), 2), ("r2.1".into(), 1)],
        "since inclusive, until exclusive"
    );
    let ids: Vec<i64> = db
        .audit_query(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .expect("query")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids.len(), 2, "limit");
    let rest = query(AuditFilter {
        after: ids[1],
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(rest.len(), 2, "the cursor continues after the page");
}

/// The replay caches to hold to the contract: in-process always, Redis
/// when the tests have one.
/// With Redis, a second cache stands for another replica.
async fn replay_caches() -> Vec<(&'static str, ReplayCache, Option<ReplayCache>)> {
    let mut caches = vec![("memory", ReplayCache::new(None), None)];
    if let Ok(url) = std::env::var(TEST_REDIS_ENV) {
        let redis = RedisStore::connect(&SecretString::new(url))
            .await
            .expect("redis");
        let replica = ReplayCache::new(Some(&redis));
        caches.push(("redis", ReplayCache::new(Some(&redis)), Some(replica)));
    }
    caches
}

#[tokio::test]
async fn a_one_time_key_is_new_once_until_it_expires() {
    // Unique per run: a shared Redis remembers earlier runs' keys.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let (run, now) = (since_epoch.as_nanos(), since_epoch.as_secs() as i64);
    for (name, cache, replica) in replay_caches().await {
        let key = format!("contract-{run}-{name}");
        let other = format!("{key}-other");
        assert!(
            cache.first_use(&key, now + 60, now).await.expect("answer"),
            "{name}: first use"
        );
        assert!(
            !cache
                .first_use(&key, now + 60, now + 1)
                .await
                .expect("answer"),
            "{name}: a replay is refused"
        );
        assert!(
            !cache
                .first_use(&key, now + 120, now + 59)
                .await
                .expect("answer"),
            "{name}: still refused just before expiry, whatever the new expiry"
        );
        assert!(
            cache
                .first_use(&other, now + 60, now)
                .await
                .expect("answer"),
            "{name}: keys are independent"
        );
        if let Some(replica) = replica {
            assert!(
                !replica
                    .first_use(&other, now + 60, now)
                    .await
                    .expect("answer"),
                "{name}: a key one replica saw is refused at another"
            );
        }
    }
}
