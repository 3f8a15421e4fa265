//! agent-sts: an OAuth 2.0 Token Exchange (RFC 8693) security token service
//! for AI agents. See README.md and DESIGN.md for the contract.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::todo,
    clippy::await_holding_lock
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "tests fail loudly by design"
    )
)]

pub mod app;
pub mod audit;
pub mod authorization;
pub mod break_glass;
pub mod cli;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod dev;
pub mod digest;
pub mod error;
pub mod grants;
pub mod http;
pub mod introspection;
pub mod jose;
pub mod memory;
pub mod metadata;
pub mod metrics;
pub mod policy;
pub mod rate_limit;
pub mod reason;
pub mod resource;
pub mod revocation;
pub mod revocation_list;
pub mod server;
pub mod store;
pub mod token_cache;
pub mod tokens;
pub mod upstream;

use std::future::Future;
use tokio::net::TcpListener;

use crate::app::{App, AppState, StartError};
use crate::clock::SharedClock;
use crate::config::Config;

/// Build the app from `config` and serve on `listener` until `shutdown`
/// resolves. `main` and the integration tests both call this.
pub async fn run(
    config: Config,
    clock: SharedClock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let app = App::build(config, clock).await?;
    serve(app, listener, shutdown).await
}

/// Serve an already built app until `shutdown` resolves (no reloads).
pub async fn serve(
    app: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let (_reloads, never) = tokio::sync::mpsc::channel(1);
    server::serve(app, listener, shutdown, never).await
}
