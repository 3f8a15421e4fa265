-- Retention's anchors (no partitions on SQLite: retention deletes old
-- records in batches): per chain, the last record removed (`through_seq`,
-- its hash and its canonical JSON), when, and the cut it was older than.
-- `audit verify` starts the chain there instead of at seq 1 and checks the
-- anchor itself (src/audit/verify.rs). Moved forward in the same
-- transaction as each batch it describes; one row per chain.
CREATE TABLE audit_pruned (
    chain          TEXT PRIMARY KEY,
    through_seq    INTEGER NOT NULL,
    through_hash   TEXT NOT NULL,
    through_record TEXT NOT NULL,
    pruned_at      INTEGER NOT NULL,
    older_than     INTEGER NOT NULL
);
