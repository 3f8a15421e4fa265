//! HTTP adapters: the route table and the layers, in one place. Handlers
//! extract, call one domain function, and map the result; no SQL, crypto or
//! policy lives here.

mod admin;
mod context;
mod dev_idp;
mod discovery;
mod error;
mod form;
mod health;
mod introspect;
mod revoke;
mod token;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::{get, post};

use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError};

pub use context::RequestId;

/// The router and, built alongside it by the same calls, the table of
/// (method, path) it serves. `openapi.yaml` is tested against the table.
struct Routes {
    router: Router<AppState>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn get<H: Handler<T, AppState>, T: 'static>(mut self, path: &'static str, h: H) -> Self {
        self.table.push(("GET", path));
        self.router = self.router.route(path, get(h));
        self
    }

    fn post<H: Handler<T, AppState>, T: 'static>(mut self, path: &'static str, h: H) -> Self {
        self.table.push(("POST", path));
        self.router = self.router.route(path, post(h));
        self
    }
}

fn routes(dev_mode: bool) -> Routes {
    let r = Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .get("/.well-known/jwks.json", discovery::jwks)
    .get(
        "/.well-known/oauth-authorization-server",
        discovery::metadata,
    )
    .get("/.well-known/openid-configuration", discovery::metadata)
    .get("/healthz", health::healthz)
    .get("/readyz", health::readyz)
    .post("/token", token::token)
    .post("/introspect", introspect::introspect)
    .post("/revoke", revoke::revoke)
    .post("/admin/revocations", admin::create)
    .get("/admin/revocations", admin::list)
    .get("/admin/audit", admin::audit);
    if dev_mode { dev_idp::add(r) } else { r }
}

/// (method, path) of every route; `dev_mode` adds the dev IdP's.
pub fn route_table(dev_mode: bool) -> Vec<(&'static str, &'static str)> {
    routes(dev_mode).table
}

pub fn router(state: AppState) -> Router {
    routes(state.dev_idp.is_some())
        .router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(form::MAX_BODY_BYTES))
        .layer(middleware::from_fn(context::request_context))
        .with_state(state)
}

/// The audit record a request starts with: its id and the peer address.
fn trail(
    event: Option<crate::audit::Event>,
    request_id: RequestId,
    peer: std::net::SocketAddr,
) -> crate::audit::AuditRecord {
    crate::audit::AuditRecord {
        event,
        request_id: request_id.0,
        client_ip: Some(peer.ip().to_string()),
        ..Default::default()
    }
}

async fn not_found(method: Method, uri: Uri) -> OAuthError {
    OAuthError::new(
        ErrorCode::NotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> OAuthError {
    OAuthError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not accept {method}", uri.path()),
    )
}
