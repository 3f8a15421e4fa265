//! URLs learned from discovery obey the configuration's URL rules (https
//! except on loopback, no user or password), and our introspection
//! credentials go only to an endpoint the operator named or one on the
//! issuer's own origin. A refused URL is logged and counted; keys already
//! cached keep verifying.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::*;
use crate::fake_idp::server::Server;

/// An IdP whose discovery document the test writes, on its own origin;
/// its keys are the fake Okta's (`jwks_uri` may point there).
struct Disco {
    server: Server,
    doc: Arc<Mutex<Value>>,
}

impl Disco {
    async fn start() -> Self {
        let doc = Arc::new(Mutex::new(json!({})));
        let shared = doc.clone();
        let server = Server::start(move |_| {
            Router::new()
                .route(
                    "/oauth2/default/.well-known/openid-configuration",
                    get(|State(d): State<Arc<Mutex<Value>>>| async move {
                        axum::Json(d.lock().unwrap().clone())
                    }),
                )
                .with_state(shared)
        })
        .await;
        Self { server, doc }
    }

    fn issuer(&self) -> String {
        format!("{}/oauth2/default", self.server.base_url())
    }

    fn publish(&self, jwks_uri: &str, introspection_endpoint: &str) {
        *self.doc.lock().unwrap() = json!({
            "issuer": self.issuer(), "jwks_uri": jwks_uri,
            "introspection_endpoint": introspection_endpoint,
        });
    }

    fn block(&self, name: &str, extra: &str) -> String {
        format!(
            "[[upstreams]]\nname = \"{name}\"\nkind = \"okta\"\nissuer = \"{}\"\n\
             audiences = [\"api://default\"]\nkeys_min_refetch = \"0s\"\n{extra}\n",
            self.issuer()
        )
    }
}

/// A server on another loopback origin that counts what is sent to it.
async fn sink() -> (Server, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = Server::start(move |_| {
        Router::new()
            .fallback(post(|State(h): State<Arc<AtomicUsize>>| async move {
                h.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"active": true}))
            }))
            .with_state(counter)
    })
    .await;
    (server, hits)
}

fn refused_count(upstream: &str) -> u64 {
    let text = agent_sts::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    let prefix = format!("agent_sts_upstream_discovery_refused_total{{upstream=\"{upstream}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn credentials_never_go_to_a_discovered_endpoint_off_the_issuers_origin() {
    agent_sts::metrics::handle();
    let okta = FakeOkta::start().await;
    let disco = Disco::start().await;
    let (evil, hits) = sink().await;
    disco.publish(&okta.jwks_uri(), &format!("{}/introspect", evil.base_url()));
    let reg = registry(&disco.block(
        "disco-creds",
        "introspect = \"always\"\nintrospection = { client_id = \"agent-sts\", client_secret = \"s3cret-value\" }",
    ));
    let token = okta
        .access_token("alice@example.com")
        .claim("iss", json!(disco.issuer()))
        .mint();
    let r = refused(&reg, &token).await;
    assert_eq!(
        (r.reason, r.detail.as_str()),
        (
            Reason::UpstreamIntrospectionUnavailable,
            "the identity provider's introspection endpoint could not be asked: no introspection endpoint is configured or discovered"
        )
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was sent there");
    assert!(refused_count("disco-creds") >= 1);
}

#[tokio::test]
async fn a_discovered_jwks_uri_that_breaks_the_url_rules_is_refused_and_cached_keys_stay() {
    agent_sts::metrics::handle();
    let okta = FakeOkta::start().await;
    let disco = Disco::start().await;
    let same_origin = format!("{}/introspect", disco.issuer());
    disco.publish(&okta.jwks_uri(), &same_origin);
    let reg = registry(&disco.block("disco-keys", ""));
    let token = okta
        .access_token("alice@example.com")
        .claim("iss", json!(disco.issuer()))
        .mint();
    verified(&reg, &token).await;

    // The document now names plain http on a host that is not loopback,
    // then a user and password (both reach the fake Okta's keys if
    // followed): never fetched; the keys fetched before keep verifying.
    let port = url::Url::parse(&okta.base_url()).unwrap().port().unwrap();
    for bad in [
        format!("http://0.0.0.0:{port}/oauth2/default/v1/keys"),
        format!("http://user:pw@127.0.0.1:{port}/oauth2/default/v1/keys"),
    ] {
        disco.publish(&bad, &same_origin);
        let rotated = okta.rotate_key_keep_old();
        let unknown = okta
            .access_token("alice@example.com")
            .claim("iss", json!(disco.issuer()))
            .mint();
        let r = refused(&reg, &unknown).await;
        assert_eq!(r.reason, Reason::UnknownKey, "{}: {}", rotated, r.detail);
        verified(&reg, &token).await;
    }
    assert!(refused_count("disco-keys") >= 2);
}
