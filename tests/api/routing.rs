//! What every route shares: 404 and 405 as JSON, and an `X-Request-Id` on
//! every response.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{TestApp, header, json_body, spawn_app};

async fn send(app: &TestApp, method: Method, path: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .send()
        .await
        .unwrap()
}

fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let app = spawn_app().await;
    let res = app.get("/nope").await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(
        json_body(res).await,
        json!({"error": "not_found", "error_description": "no route for GET /nope"})
    );
}

#[tokio::test]
async fn a_404_names_the_method_and_never_echoes_the_query() {
    let app = spawn_app().await;
    let res = send(&app, Method::POST, "/oauth/authorize?code=secret-value").await;
    assert_eq!(res.status(), 404);
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(
        json_body(res).await,
        json!({"error": "not_found", "error_description": "no route for POST /oauth/authorize"})
    );
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_a_json_405_with_allow() {
    let app = spawn_app().await;
    let cases = [
        (Method::POST, "/healthz"),
        (Method::DELETE, "/.well-known/jwks.json"),
        (Method::PUT, "/.well-known/oauth-authorization-server"),
        (Method::POST, "/readyz"),
    ];
    for (method, path) in cases {
        let res = send(&app, method.clone(), path).await;
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(header(&res, "allow"), "GET,HEAD", "{method} {path}");
        assert_eq!(header(&res, "cache-control"), "no-store", "{method} {path}");
        assert_eq!(
            json_body(res).await,
            json!({
                "error": "method_not_allowed",
                "error_description": format!("{path} does not accept {method}"),
            })
        );
    }
}

#[tokio::test]
async fn dev_idp_routes_do_not_exist_outside_start_dev() {
    let app = spawn_app().await;
    for path in ["/dev/idp", "/dev/idp/okta/oauth2/default/v1/keys"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 404, "{path}");
        assert_eq!(
            json_body(res).await,
            json!({"error": "not_found", "error_description": format!("no route for GET {path}")})
        );
    }
    let res = app
        .post_form("/dev/idp/mint", &[("kind", "okta"), ("sub", "mallory")])
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let cases = [
        (Method::GET, "/healthz", 200),
        (Method::GET, "/readyz", 200),
        (Method::GET, "/.well-known/jwks.json", 200),
        (Method::GET, "/nope", 404),
        (Method::POST, "/healthz", 405),
    ];
    let mut seen = std::collections::HashSet::new();
    for (method, path, status) in cases {
        let res = send(&app, method.clone(), path).await;
        assert_eq!(res.status(), status, "{method} {path}");
        let id = header(&res, "x-request-id");
        assert!(is_plain_id(&id), "{method} {path}: request id {id:?}");
        assert!(seen.insert(id), "{method} {path}: request ids are unique");
    }
}

/// Our request id is always ours: a caller's, however plain, is not
/// echoed as it (it is kept beside ours in the log and the audit record).
#[tokio::test]
async fn an_incoming_request_id_never_becomes_ours() {
    let app = spawn_app().await;
    for id in ["abc-123_X.y", "0123456789abcdef", &"a".repeat(64)] {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let answered = header(&res, "x-request-id");
        assert_ne!(answered, id);
        assert!(is_plain_id(&answered), "{answered:?}");
    }
}

#[tokio::test]
async fn an_unsafe_incoming_request_id_is_replaced() {
    let app = spawn_app().await;
    let too_long = "a".repeat(65);
    for id in [
        "has space",
        too_long.as_str(),
        "quote\"d",
        "semi;colon",
        "new%0Aline",
    ] {
        let res = app
            .client
            .get(app.url("/nope"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        let answered = header(&res, "x-request-id");
        assert_ne!(answered, id, "{id:?} must not be echoed");
        assert!(is_plain_id(&answered), "{id:?} replaced by {answered:?}");
    }
}
