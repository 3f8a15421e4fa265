//! Routes of the built-in dev IdP (start-dev only; see `crate::dev::idp`).

use axum::Json;
use axum::extract::{Form, State};
use axum::http::HeaderValue;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::Routes;
use crate::app::AppState;
use crate::dev::idp::{DevIdp, MintRequest, Shape};
use crate::error::{ErrorCode, OAuthError};

pub(super) fn add(r: Routes) -> Routes {
    r.get("/dev/idp", page)
        .post("/dev/idp/mint", mint)
        .get("/dev/idp/okta/oauth2/default/.well-known/openid-configuration", okta_discovery)
        .get("/dev/idp/okta/oauth2/default/v1/keys", keys)
        .get(
            "/dev/idp/entra/00000000-0000-4000-8000-0000000de0de/v2.0/.well-known/openid-configuration",
            entra_discovery,
        )
        .get("/dev/idp/entra/00000000-0000-4000-8000-0000000de0de/discovery/v2.0/keys", keys)
        .get("/dev/idp/k8s/.well-known/openid-configuration", k8s_discovery)
        .get("/dev/idp/k8s/openid/v1/jwks", keys)
}

fn idp(app: &AppState) -> Result<&DevIdp, OAuthError> {
    app.dev_idp.as_deref().ok_or_else(|| {
        OAuthError::new(
            ErrorCode::NotFound,
            "the dev IdP exists only under start-dev",
        )
    })
}

async fn discovery(app: AppState, shape: Shape) -> Result<Response, OAuthError> {
    Ok(Json(idp(&app)?.discovery(shape)).into_response())
}

async fn okta_discovery(State(app): State<AppState>) -> Result<Response, OAuthError> {
    discovery(app, Shape::Okta).await
}

async fn entra_discovery(State(app): State<AppState>) -> Result<Response, OAuthError> {
    discovery(app, Shape::Entra).await
}

async fn k8s_discovery(State(app): State<AppState>) -> Result<Response, OAuthError> {
    discovery(app, Shape::Workload).await
}

async fn keys(State(app): State<AppState>) -> Result<Response, OAuthError> {
    Ok(Json(idp(&app)?.jwks()).into_response())
}

async fn mint(
    State(app): State<AppState>,
    form: Result<Form<MintRequest>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let Form(req) = form.map_err(|e| OAuthError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let (token, claims) = idp(&app)?
        .mint(&req, app.clock.now())
        .map_err(|m| OAuthError::new(ErrorCode::InvalidRequest, m))?;
    let ttl = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    let mut res = Json(serde_json::json!({
        "token": token,
        "token_type": "urn:ietf:params:oauth:token-type:jwt",
        "expires_in": ttl,
        "claims": claims,
    }))
    .into_response();
    super::error::no_store(&mut res);
    Ok(res)
}

async fn page(State(app): State<AppState>) -> Result<Response, OAuthError> {
    idp(&app)?;
    let mut res = Html(PAGE).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agent-sts dev IdP</title></head>
<body>
<h1>agent-sts dev IdP</h1>
<p><strong>start-dev only.</strong> Every token minted here says so in its
<code>agent_sts_dev_idp</code> claim, and its key changes on every start.</p>
<form method="post" action="/dev/idp/mint">
  <label>Shape <select name="kind">
    <option value="okta">Okta user access token</option>
    <option value="entra">Entra ID v2 user access token</option>
    <option value="workload">Kubernetes service-account token (workload)</option>
  </select></label><br>
  <label>Subject <input name="sub" value="alice@example.com"></label><br>
  <label>Groups (comma-separated) <input name="groups" value="Support-Agents,Everyone"></label><br>
  <button type="submit">Mint</button>
</form>
</body></html>
"#;
