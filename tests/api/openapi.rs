//! `openapi.yaml` and the router agree: the same (method, path) set, and,
//! live, every documented operation answers a documented status with the
//! documented headers and a body that fits the documented schema.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_dev_app};

const SPEC: &str = include_str!("../../openapi.yaml");
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn spec() -> Value {
    serde_yaml::from_str(SPEC).expect("openapi.yaml parses")
}

struct Operation {
    method: String,
    path: String,
    dev_only: bool,
    op: Value,
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push(Operation {
                    method: m.to_uppercase(),
                    path: path.clone(),
                    dev_only: op.get("x-start-dev-only") == Some(&json!(true)),
                    op: op.clone(),
                });
            }
        }
    }
    ops
}

fn table(routes: Vec<(&str, &str)>) -> BTreeSet<(String, String)> {
    routes
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

/// `$ref` → the object it points at (local references only).
fn deref<'a>(spec: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r.strip_prefix('#').expect("local $ref");
            deref(
                spec,
                spec.pointer(target)
                    .unwrap_or_else(|| panic!("dangling {r}")),
            )
        }
        None => v,
    }
}

/// A JSON Schema subset: enough for the schemas openapi.yaml uses
/// (`pattern` and `format` are not checked).
fn conforms(spec: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = deref(spec, schema);
    let fail = |what: &str| Err(format!("{at}: {what} (value {v})"));
    if let Some(c) = s.get("const")
        && c != v
    {
        return fail(&format!("is not {c}"));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return fail("is not in the enum");
    }
    let is = |t: &Value| match t.as_str() {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("boolean") => v.is_boolean(),
        Some("null") => v.is_null(),
        _ => panic!("{at}: schema type {t} is not handled"),
    };
    let type_ok = match s.get("type") {
        None => true,
        Some(Value::Array(any)) => any.iter().any(is),
        Some(t) => is(t),
    };
    if !type_ok {
        return fail(&format!("is not of type {}", s["type"]));
    }
    if let Some(n) = s.get("minimum").and_then(Value::as_i64)
        && v.as_i64().is_some_and(|x| x < n)
    {
        return fail("is below the minimum");
    }
    if let Some(n) = s.get("maxItems").and_then(Value::as_u64)
        && v.as_array().is_some_and(|a| a.len() as u64 > n)
    {
        return fail("has too many items");
    }
    if let Some(not) = s.get("not")
        && conforms(spec, not, v, at).is_ok()
    {
        return fail(&format!("matches the forbidden {not}"));
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(|a| conforms(spec, a, v, at).is_ok())
    {
        return fail("matches none of anyOf");
    }
    if let Some(items) = s.get("items") {
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            conforms(spec, items, item, &format!("{at}[{i}]"))?;
        }
    }
    let Some(obj) = v.as_object() else {
        return Ok(());
    };
    for r in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !obj.contains_key(r.as_str().unwrap()) {
            return fail(&format!("lacks required {r}"));
        }
    }
    let props = s.get("properties").and_then(Value::as_object);
    for (k, value) in obj {
        let at = format!("{at}.{k}");
        match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
            (Some(ps), _) => conforms(spec, ps, value, &at)?,
            (None, Some(Value::Bool(false))) => return Err(format!("{at}: not in the schema")),
            (None, Some(extra @ Value::Object(_))) => conforms(spec, extra, value, &at)?,
            (None, _) => {}
        }
    }
    Ok(())
}

#[test]
fn spec_and_router_list_the_same_routes() {
    let spec = spec();
    let ops = operations(&spec);
    let all: BTreeSet<_> = ops
        .iter()
        .map(|o| (o.method.clone(), o.path.clone()))
        .collect();
    assert_eq!(all.len(), ops.len());
    assert_eq!(
        all,
        table(agent_sts::http::route_table(true)),
        "start-dev routes"
    );
    let served: BTreeSet<_> = ops
        .iter()
        .filter(|o| !o.dev_only)
        .map(|o| (o.method.clone(), o.path.clone()))
        .collect();
    assert_eq!(
        served,
        table(agent_sts::http::route_table(false)),
        "serve routes"
    );
    for o in &ops {
        let tagged_dev = o.op["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("dev")));
        assert_eq!(
            o.dev_only, tagged_dev,
            "{} {}: x-start-dev-only and tag dev",
            o.method, o.path
        );
        assert_eq!(
            o.dev_only,
            o.path.starts_with("/dev/"),
            "{} {}",
            o.method,
            o.path
        );
    }
}

#[test]
fn spec_is_openapi_3_1_with_resolvable_references() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1."));
    fn walk(spec: &Value, v: &Value, refs: &mut usize) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let target = r
                        .strip_prefix('#')
                        .unwrap_or_else(|| panic!("{r} is not local"));
                    assert!(spec.pointer(target).is_some(), "dangling $ref {r}");
                    *refs += 1;
                }
                m.values().for_each(|x| walk(spec, x, refs));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(spec, x, refs)),
            _ => {}
        }
    }
    let mut refs = 0;
    walk(&spec, &spec, &mut refs);
    assert!(refs > 20, "the spec uses shared components ({refs} refs)");
    let mut ids = BTreeSet::new();
    for o in operations(&spec) {
        let id = o.op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
        assert!(o.op["responses"].as_object().is_some_and(|r| !r.is_empty()));
    }
}

/// A form from the request schema: each required field gets its first
/// enum value or a plain string.
fn sample_form(spec: &Value, op: &Value) -> Vec<(String, String)> {
    let body = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    let schema = deref(spec, body);
    let mut form = Vec::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        let prop = &schema["properties"][name];
        let value = match prop["enum"].get(0) {
            Some(v) => v.as_str().unwrap().to_string(),
            None => "alice@example.com".to_string(),
        };
        form.push((name.to_string(), value));
    }
    form
}

async fn call(app: &TestApp, spec: &Value, o: &Operation) -> reqwest::Response {
    let url = app.url(&o.path);
    let req = match o.method.as_str() {
        "GET" => app.client.get(url),
        "POST" => app.client.post(url).form(&sample_form(spec, &o.op)),
        other => panic!("no sample request for {other}"),
    };
    req.send().await.unwrap()
}

/// The response matches `documented` (a response object of the spec).
async fn assert_documented(spec: &Value, documented: &Value, res: reqwest::Response, what: &str) {
    let documented = deref(spec, documented);
    for (name, h) in documented["headers"].as_object().into_iter().flatten() {
        let value = res
            .headers()
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{what}: documented header {name} is missing"));
        let schema = deref(spec, h)["schema"].clone();
        let value = json!(value.to_str().unwrap());
        conforms(spec, &schema, &value, &format!("{what} header {name}")).unwrap();
    }
    let content = documented["content"]
        .as_object()
        .expect("documented content");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    let (media, body_doc) = content
        .iter()
        .find(|(m, _)| content_type.starts_with(m.as_str()))
        .unwrap_or_else(|| panic!("{what}: content-type {content_type} is not documented"));
    let text = res.text().await.unwrap();
    if media == "application/json" {
        let body: Value = serde_json::from_str(&text).unwrap();
        conforms(spec, &body_doc["schema"], &body, what).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented_under_start_dev() {
    let spec = spec();
    let app = spawn_dev_app().await;
    for o in operations(&spec) {
        let what = format!("{} {}", o.method, o.path);
        let res = call(&app, &spec, &o).await;
        let status = res.status().as_u16();
        assert!(status != 404 && status != 405, "{what}: {status}");
        let documented = &o.op["responses"][status.to_string()];
        assert!(
            !documented.is_null(),
            "{what}: status {status} is not documented"
        );
        assert_documented(&spec, documented, res, &what).await;
    }
}

#[tokio::test]
async fn serve_answers_documented_operations_and_404_for_start_dev_ones() {
    let spec = spec();
    let app = spawn_app().await;
    let not_found = &spec["components"]["responses"]["NotFound"];
    for o in operations(&spec) {
        let what = format!("{} {}", o.method, o.path);
        let res = call(&app, &spec, &o).await;
        let status = res.status().as_u16();
        if o.dev_only {
            assert_eq!(status, 404, "{what}");
            assert_documented(&spec, not_found, res, &what).await;
        } else {
            let documented = &o.op["responses"][status.to_string()];
            assert!(
                !documented.is_null(),
                "{what}: status {status} is not documented"
            );
            assert_documented(&spec, documented, res, &what).await;
        }
    }
}

#[tokio::test]
async fn documented_error_answers_match_their_schemas() {
    let spec = spec();
    let app = spawn_dev_app().await;
    let responses = &spec["components"]["responses"];
    let res = app.get("/nope").await;
    assert_eq!(res.status(), 404);
    assert_documented(&spec, &responses["NotFound"], res, "GET /nope").await;
    let res = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_documented(&spec, &responses["MethodNotAllowed"], res, "POST /healthz").await;
    let res = app.post_form("/dev/idp/mint", &[("kind", "okta")]).await;
    assert_eq!(res.status(), 400);
    let mint = &spec["paths"]["/dev/idp/mint"]["post"]["responses"]["400"];
    assert_documented(&spec, mint, res, "POST /dev/idp/mint without sub").await;
}

#[test]
fn the_schema_checker_refuses_what_it_should() {
    // The checker above is only as good as its refusals.
    let spec = spec();
    let jwks = json!({"$ref": "#/components/schemas/JwkSet"});
    let public = json!({"keys": [{"kty": "EC", "kid": "k", "alg": "ES256", "use": "sig"}]});
    assert_eq!(conforms(&spec, &jwks, &public, "jwks"), Ok(()));
    let private =
        json!({"keys": [{"kty": "EC", "kid": "k", "alg": "ES256", "use": "sig", "d": "x"}]});
    assert!(conforms(&spec, &jwks, &private, "jwks").is_err());
    let err = json!({"$ref": "#/components/schemas/OAuthError"});
    assert!(conforms(&spec, &err, &json!({"error": "nope"}), "e").is_err());
    assert!(conforms(&spec, &err, &json!({"error": "not_found", "x": 1}), "e").is_err());
    assert!(conforms(&spec, &err, &json!({"error_description": "no code"}), "e").is_err());
    let ready = json!({"$ref": "#/components/schemas/Readiness"});
    let ready_with = |checks: Value| {
        conforms(
            &spec,
            &ready,
            &json!({"status": "ready", "checks": checks}),
            "r",
        )
    };
    let db = json!({"status": "ok", "detail": "sqlite"});
    let checks = json!({"database": db, "signing_key": db, "upstreams": {}});
    assert_eq!(ready_with(checks), Ok(()));
    assert!(ready_with(json!({"database": db, "upstreams": {}})).is_err());
    let up =
        |age: Value| json!({"okta": {"state": "ok", "keys": 1, "age_seconds": age, "error": null}});
    let checks = json!({"database": db, "signing_key": db, "upstreams": up(json!(3))});
    assert_eq!(ready_with(checks), Ok(()));
    let checks = json!({"database": db, "signing_key": db, "upstreams": up(json!(null))});
    assert_eq!(ready_with(checks), Ok(()));
    let checks = json!({"database": db, "signing_key": db, "upstreams": up(json!("3"))});
    assert!(ready_with(checks).is_err());
}
