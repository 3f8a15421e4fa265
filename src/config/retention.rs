//! `[audit] retention` and `[audit] partition`: how long the audit trail is
//! kept and, on PostgreSQL, how it is cut into partitions.

use super::validate::Errors;
use super::{Config, Span};

/// Records younger than a day are never pruned: `audit verify` holds every
/// retention anchor to at least this.
pub const MIN_AUDIT_RETENTION: Span = Span::from_secs(86_400);
/// Partitions of an hour to a month: shorter ones make thousands of tables,
/// longer ones make retention coarse.
pub const MIN_AUDIT_PARTITION: Span = Span::from_secs(3_600);
pub const MAX_AUDIT_PARTITION: Span = Span::from_secs(31 * 86_400);

pub(super) fn validate(c: &Config, e: &mut Errors) {
    if let Some(retention) = c.audit.retention
        && retention < MIN_AUDIT_RETENTION
    {
        e.push(
            "audit.retention",
            format!(
                "{retention} is too short: keep the audit trail at least {MIN_AUDIT_RETENTION} \
                 (leave retention out to keep it forever)"
            ),
        );
    }
    let partition = c.audit.partition;
    if !(MIN_AUDIT_PARTITION..=MAX_AUDIT_PARTITION).contains(&partition)
        || !partition.as_secs().is_multiple_of(60)
        || partition.duration().subsec_nanos() != 0
    {
        e.push(
            "audit.partition",
            format!(
                "{partition} is out of range: whole minutes from {MIN_AUDIT_PARTITION} to {MAX_AUDIT_PARTITION}"
            ),
        );
    }
}
