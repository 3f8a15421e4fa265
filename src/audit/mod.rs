//! Audit: one hash-chained record per decision on `/token`, `/introspect`,
//! `/revoke` and the admin API, written to the database and as a JSON line
//! on the `audit` log target. No token, secret or assertion ever appears in
//! a record: only `jti`s and hashes.

/// The tracing target of audit lines, for routing them to a SIEM.
pub const LOG_TARGET: &str = "audit";
