//! HTTP adapters: the route table and the layers, in one place. Handlers
//! extract, call one domain function, and map the result; no SQL, crypto or
//! policy lives here.

mod admin;
mod authorize;
mod break_glass;
mod context;
mod dev_idp;
mod discovery;
mod error;
mod form;
mod guard;
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
pub use guard::with_retry_after;

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

impl Routes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn merge(mut self, other: Routes) -> Self {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }
}

/// The three groups, which get different layers (`router`): health and
/// metrics (never shed, so probes see the truth under load), public
/// documents, and the endpoints that authenticate callers.
struct Groups {
    ops: Routes,
    public: Routes,
    authenticated: Routes,
}

fn groups(dev_mode: bool) -> Groups {
    let ops = Routes::new()
        .get("/healthz", health::healthz)
        .get("/readyz", health::readyz)
        .get("/metrics", health::metrics);
    let public = Routes::new()
        .get("/.well-known/jwks.json", discovery::jwks)
        .get(
            "/.well-known/oauth-authorization-server",
            discovery::metadata,
        )
        .get("/.well-known/openid-configuration", discovery::metadata);
    let public = if dev_mode {
        dev_idp::add(public)
    } else {
        public
    };
    let authenticated = Routes::new()
        .get("/authorize", authorize::authorize)
        .get("/authorize/callback", authorize::callback)
        .post("/token", token::token)
        .post("/introspect", introspect::introspect)
        .post("/revoke", revoke::revoke)
        .post("/admin/revocations", admin::create)
        .get("/admin/revocations", admin::list)
        .get("/admin/audit", admin::audit)
        .get("/admin/audit/report", admin::audit_report)
        .get("/admin/health", admin::health)
        .post("/admin/explain", admin::explain)
        .post("/admin/break-glass", break_glass::create)
        .get("/admin/break-glass", break_glass::index)
        .post("/admin/break-glass/{id}/close", break_glass::end);
    Groups {
        ops,
        public,
        authenticated,
    }
}

/// (method, path) of every route; `dev_mode` adds the dev IdP's.
pub fn route_table(dev_mode: bool) -> Vec<(&'static str, &'static str)> {
    let g = groups(dev_mode);
    g.ops.merge(g.public).merge(g.authenticated).table
}

/// The `endpoint` label of a request path: a route's own path, or
/// `unmatched` (so a label never carries a caller-chosen string).
pub fn endpoint_label(path: &str) -> &'static str {
    static PATHS: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| route_table(true).into_iter().map(|(_, p)| p).collect());
    PATHS.get(path).copied().unwrap_or("unmatched")
}

pub fn router(state: AppState) -> Router {
    let g = groups(state.dev_idp.is_some());
    let guard = guard::Guard {
        lifecycle: std::sync::Arc::clone(&state.lifecycle),
        timeout: state.config.server.request_timeout.duration(),
    };
    let limited = g
        .authenticated
        .router
        .layer(middleware::from_fn_with_state(state.clone(), guard::per_ip))
        .merge(g.public.router)
        .layer(middleware::from_fn_with_state(guard, guard::limit));
    g.ops
        .router
        .merge(limited)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(form::MAX_BODY_BYTES))
        .layer(middleware::from_fn(context::request_context))
        .with_state(state)
}

/// What every audited handler needs of its request: the app, the request
/// id and the peer address (the audit record's first fields).
pub struct Caller {
    pub app: crate::app::AppState,
    request_id: RequestId,
    peer: std::net::SocketAddr,
}

impl Caller {
    /// Who asked, for the audit record.
    pub fn request(&self) -> crate::audit::RequestContext {
        request_context(self.request_id.clone(), self.peer)
    }
}

impl axum::extract::FromRequestParts<crate::app::AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &crate::app::AppState,
    ) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or(RequestId {
                id: String::new(),
                client: None,
            });
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        Ok(Self {
            app: app.clone(),
            request_id,
            peer,
        })
    }
}

/// The audit record a request starts with: its id and the peer address.
fn request_context(
    request_id: RequestId,
    peer: std::net::SocketAddr,
) -> crate::audit::RequestContext {
    crate::audit::RequestContext {
        request_id: request_id.id,
        client_request_id: request_id.client,
        client_ip: Some(peer.ip().to_string()),
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
