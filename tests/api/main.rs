//! The one integration-test binary (one binary builds and links once).
//! `helpers::spawn_app()` starts agent-sts on 127.0.0.1:0 with a fresh
//! database; `fake_idp` serves a fake Okta and a fake Entra ID over HTTP.

mod fake_idp;

mod architecture;
mod audit;
mod authorize;
mod break_glass;
mod cli;
mod cli_explain;
mod cli_keys;
mod dev_idp;
mod discovery;
mod fault_proxy;
mod faults;
mod health;
mod helpers;
mod hostile;
mod id_jag;
mod introspect;
mod keys;
mod limits;
mod openapi;
mod routing;
mod start_dev;
mod store;
mod store_authorization;
mod store_break_glass;
mod token;
mod upstream;
