//! Things that exist only under `agent-sts start-dev`.

pub mod idp;
pub mod setup;
