//! The storage contract of break-glass windows (`BreakGlassStore`), run on
//! SQLite always and on PostgreSQL when `AGENT_STS_TEST_DATABASE_URL` is
//! set: a window is open from its start until its end or its closing, is
//! closed once, and its tokens are listed until they expire.

use agent_sts::config::SecretString;
use agent_sts::store::{BreakGlassWindow, SharedDatabase, connect_database};

use crate::helpers::database_url;

async fn fresh() -> (SharedDatabase, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = database_url(dir.path()).await;
    let db = connect_database(&SecretString::new(url))
        .await
        .expect("connect and migrate");
    (db, dir)
}

fn window(id: &str, agent: &str, opened_at: i64, expires_at: i64) -> BreakGlassWindow {
    BreakGlassWindow {
        id: id.into(),
        agent: agent.into(),
        resources: vec!["https://mcp.example.com".into()],
        reason: "IdP outage".into(),
        opened_by: "admin".into(),
        opened_at,
        expires_at,
        closed_at: None,
    }
}

#[tokio::test]
async fn windows_open_close_once_and_list_their_live_tokens() {
    let (db, _dir) = fresh().await;
    db.open_window(&window("bg-1", "desk", 100, 1_000))
        .await
        .unwrap();
    db.open_window(&window("bg-2", "other", 200, 300))
        .await
        .unwrap();
    assert!(
        db.open_window(&window("bg-1", "desk", 100, 1_000))
            .await
            .is_err(),
        "an id is used once"
    );
    let ids = |ws: Vec<BreakGlassWindow>| ws.into_iter().map(|w| w.id).collect::<Vec<_>>();
    assert_eq!(
        ids(db.open_windows(99).await.unwrap()),
        Vec::<String>::new(),
        "not yet"
    );
    assert_eq!(ids(db.open_windows(250).await.unwrap()), ["bg-1", "bg-2"]);
    assert_eq!(
        ids(db.open_windows(300).await.unwrap()),
        ["bg-1"],
        "bg-2 ended at 300"
    );
    assert_eq!(
        db.open_windows(250).await.unwrap()[0],
        window("bg-1", "desk", 100, 1_000),
        "read back whole"
    );

    db.record_window_token("bg-1", "jti-a", 400).await.unwrap();
    db.record_window_token("bg-1", "jti-b", 900).await.unwrap();
    db.record_window_token("bg-2", "jti-c", 290).await.unwrap();
    assert_eq!(
        db.window_tokens("bg-1", 500).await.unwrap(),
        [("jti-b".to_string(), 900)],
        "expired tokens need no revocation"
    );

    let closed = db
        .close_window("bg-1", 600)
        .await
        .unwrap()
        .expect("it was open");
    assert_eq!((closed.id.as_str(), closed.closed_at), ("bg-1", Some(600)));
    assert!(
        db.close_window("bg-1", 601).await.unwrap().is_none(),
        "closed once"
    );
    assert!(
        db.close_window("bg-2", 650).await.unwrap().is_none(),
        "an ended window is not closed"
    );
    assert!(db.close_window("bg-none", 650).await.unwrap().is_none());
    assert_eq!(
        ids(db.open_windows(601).await.unwrap()),
        Vec::<String>::new()
    );
}
