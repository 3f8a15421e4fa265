//! Policy: pure functions from (agent, subject, actor, request, now) to a
//! decision. No I/O; table-tested. The configuration's static rules (exact
//! scopes, no wildcards, resources that exist, scopes someone can hold) are
//! enforced at load by `config::validate` with `config::check_scope`.

pub use crate::config::check_scope;
