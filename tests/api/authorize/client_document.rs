//! Clients named by the URL of their metadata document: fetched only when
//! the configuration names that URL, within 5 KiB and the outbound time
//! limit, never from a private address.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::*;
use crate::audit::Trail;

/// A document server on 127.0.0.1; counts the requests per path.
struct Documents {
    base: String,
    hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

async fn documents() -> Documents {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let doc = |path: &str| {
        serde_json::json!({
            "client_id": format!("{base}{path}"),
            "client_name": "An MCP client",
            "redirect_uris": [CB],
            "token_endpoint_auth_method": "none",
        })
        .to_string()
    };
    let (good, unlisted) = (doc("/client.json"), doc("/unlisted.json"));
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(10_000));
    let count = |hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
                 path: &'static str| {
        move || *hits.lock().expect("hits").entry(path.into()).or_default() += 1
    };
    let (c1, c2, c3, c4) = (
        count(hits.clone(), "/client.json"),
        count(hits.clone(), "/unlisted.json"),
        count(hits.clone(), "/huge.json"),
        count(hits.clone(), "/slow.json"),
    );
    let app = Router::new()
        .route(
            "/client.json",
            get(move || {
                c1();
                let b = good.clone();
                async move { b }
            }),
        )
        .route(
            "/unlisted.json",
            get(move || {
                c2();
                let b = unlisted.clone();
                async move { b }
            }),
        )
        .route(
            "/huge.json",
            get(move || {
                c3();
                let b = huge.clone();
                async move { b }
            }),
        )
        .route(
            "/slow.json",
            get(move || {
                c4();
                async move {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    "{}"
                }
            }),
        );
    tokio::spawn(async move {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            axum::serve(listener, app),
        )
        .await;
    });
    Documents { base, hits }
}

impl Documents {
    fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

/// An interactive public agent named by `url`, with no redirect URIs.
fn agent(id: &str, url: &str) -> String {
    format!(
        "[[agents]]\nid = \"{id}\"\npatterns = [\"interactive\"]\n\
         client = {{ id = \"{url}\", auth = \"none\" }}\n\
         resources = [\"{ZENDESK}\"]\nrequired_scopes = [\"{READ}\"]\n"
    )
}

async fn fixture(docs: &Documents) -> Fx {
    let b = &docs.base;
    let extra = [
        agent("doc-client", &format!("{b}/client.json")),
        agent("huge-client", &format!("{b}/huge.json")),
        agent("slow-client", &format!("{b}/slow.json")),
        agent("private-client", "https://10.255.255.1/client.json"),
        "[outbound]\ntimeout = \"1s\"\n".to_string(),
    ]
    .concat();
    start_with(&extra).await
}

#[tokio::test]
async fn a_client_named_by_its_document_signs_in() {
    let docs = documents().await;
    let fx = fixture(&docs).await;
    let client_id = format!("{}/client.json", docs.base);
    let back = fx.sign_in(&fx.with("client_id", Some(&client_id))).await;
    let code = query_of(&back)["code"].clone();
    let (status, body) = fx.redeem_as(&client_id, &code, &fx.verifier, CB).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(crate::fake_idp::claims_of(token)["client_id"], client_id);
    // Cached: a second sign-in does not fetch it again.
    fx.sign_in(&fx.with("client_id", Some(&client_id))).await;
    assert_eq!(docs.hits("/client.json"), 1);
}

#[tokio::test]
async fn documents_not_named_by_the_config_are_never_fetched() {
    let docs = documents().await;
    let fx = fixture(&docs).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let unlisted = format!("{}/unlisted.json", docs.base);
    let res = fx.authorize(&fx.with("client_id", Some(&unlisted))).await;
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("location").is_none());
    assert_eq!(docs.hits("/unlisted.json"), 0, "never fetched");
    assert_eq!(trail.one().await.json["reason"], "unknown_client");
}

#[tokio::test]
async fn huge_slow_or_private_documents_are_refused() {
    let docs = documents().await;
    let fx = fixture(&docs).await;
    let mut trail = Trail::start(&fx.t.app.store.db).await;
    let cases = [
        (
            format!("{}/huge.json", docs.base),
            "document larger than 5120 bytes",
        ),
        (format!("{}/slow.json", docs.base), "timed out"),
        (
            "https://10.255.255.1/client.json".to_string(),
            "its host resolves to a private address (10.255.255.1)",
        ),
    ];
    for (client_id, why) in cases {
        let res = fx.authorize(&fx.with("client_id", Some(&client_id))).await;
        assert_eq!(res.status().as_u16(), 400, "{client_id}");
        assert!(res.headers().get("location").is_none(), "{client_id}");
        let page = res.text().await.expect("a page");
        assert!(
            page.starts_with("invalid_client: the client's metadata document cannot be used: ")
                && page.contains(why),
            "{client_id}: {page}"
        );
        let r = trail.one().await.json;
        assert_eq!(
            (r["reason"].as_str(), r["client_id"].as_str()),
            (Some("client_metadata_invalid"), Some(client_id.as_str()))
        );
    }
}
