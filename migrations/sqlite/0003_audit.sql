-- The audit trail: one row per decision. `record` is the canonical JSON the
-- hash covers; the other columns repeat fields of it for querying, and
-- `agent-sts audit verify` checks that they agree. Each writer (replica
-- process) appends to its own chain: (chain, seq) is contiguous from 1 and
-- every record's prev_hash is the hash of the one before it.
CREATE TABLE audit_records (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    chain     TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    event     TEXT NOT NULL,
    decision  TEXT NOT NULL,
    reason    TEXT NOT NULL,
    subject   TEXT,
    agent     TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    record    TEXT NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX audit_records_at ON audit_records (at);
CREATE INDEX audit_records_subject ON audit_records (subject, at);
CREATE INDEX audit_records_agent ON audit_records (agent, at);
