//! Routes of the built-in dev IdP (start-dev only; see `crate::dev::idp`).

use axum::Json;
use axum::extract::rejection::RawFormRejection;
use axum::extract::{Form, RawForm, RawQuery, State};
use axum::http::header;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::Routes;
use super::error::no_store;
use crate::app::AppState;
use crate::dev::idp::{Browser, DevIdp, MintRequest, Shape, error_page};
use crate::error::{ErrorCode, OAuthError};

pub(super) fn add(r: Routes) -> Routes {
    r.get("/dev/idp", page)
        .post("/dev/idp/mint", mint)
        .get("/dev/idp/authorize", authorize_page)
        .post("/dev/idp/authorize", authorize_submit)
        .post("/dev/idp/token", token)
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
    no_store(&mut res);
    Ok(res)
}

/// `GET /dev/idp/authorize`: the sign-in page, or why not.
async fn authorize_page(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, OAuthError> {
    Ok(browser(
        idp(&app)?.authorize_page(query.as_deref().unwrap_or("")),
    ))
}

/// `POST /dev/idp/authorize`: the page's form; back to the client.
async fn authorize_submit(
    State(app): State<AppState>,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, OAuthError> {
    let idp = idp(&app)?;
    let answer = match form {
        Ok(RawForm(body)) => idp.authorize_submit(&String::from_utf8_lossy(&body), app.clock.now()),
        Err(e) => Browser::ErrorPage(error_page(&e.body_text())),
    };
    Ok(browser(answer))
}

fn browser(answer: Browser) -> Response {
    let mut res = match answer {
        Browser::Page(html) => Html(html).into_response(),
        Browser::ErrorPage(html) => (StatusCode::BAD_REQUEST, Html(html)).into_response(),
        Browser::Redirect(to) => match HeaderValue::from_str(&to) {
            Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
            Err(_) => {
                let html = error_page("the redirect URI cannot be sent as a Location");
                (StatusCode::BAD_REQUEST, Html(html)).into_response()
            }
        },
    };
    no_store(&mut res);
    let h = res.headers_mut();
    // No script, no framing (the one button must not be clickjacked), and
    // the code in a Location never leaks as a Referer.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// `POST /dev/idp/token`: the code redeemed for the dev IdP's tokens.
async fn token(
    State(app): State<AppState>,
    headers: HeaderMap,
    form: Result<RawForm, RawFormRejection>,
) -> Result<Response, OAuthError> {
    let idp = idp(&app)?;
    let RawForm(body) =
        form.map_err(|e| OAuthError::new(ErrorCode::InvalidRequest, e.body_text()))?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match idp.redeem(
        authorization,
        &String::from_utf8_lossy(&body),
        app.clock.now(),
    ) {
        Ok(tokens) => {
            let mut res = Json(tokens).into_response();
            no_store(&mut res);
            Ok(res)
        }
        Err(e) => {
            let challenge = e.error == ErrorCode::InvalidClient;
            let mut res = e.into_response();
            if challenge {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"agent-sts dev IdP\""),
                );
            }
            Ok(res)
        }
    }
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
