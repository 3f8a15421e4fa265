-- The audit report (`agent-sts audit report`, GET /admin/audit/report)
-- counts token decisions per agent and pattern, with the users, upstreams
-- and tenants behind them. Those fields were only inside `record`; they
-- become columns like subject and agent (the writer fills them, `audit
-- verify` checks that they agree with the hashed record), so the report is
-- aggregated in SQL without parsing JSON. `count` is how many decisions a
-- summary record stands for (NULL: one).
ALTER TABLE audit_records
    ADD COLUMN pattern TEXT,
    ADD COLUMN idp     TEXT,
    ADD COLUMN tenant  TEXT,
    ADD COLUMN count   BIGINT;

-- Token records written before this migration: the columns from the record.
-- (Only token records: the report reads nothing else.)
UPDATE audit_records
SET pattern = j ->> 'pattern',
    idp     = j ->> 'idp',
    tenant  = j ->> 'tenant',
    count   = (j ->> 'count')::bigint
FROM (SELECT id AS jid, record::jsonb AS j FROM audit_records WHERE event = 'token') parsed
WHERE id = jid;

-- The report's only access path: token records by time, carrying every
-- column it reads, so a week of a 10-million-row table is an index-only
-- scan of the token records in that week (benches/README.md).
CREATE INDEX audit_records_report ON audit_records (at)
    INCLUDE (agent, pattern, decision, reason, subject, idp, tenant, count)
    WHERE event = 'token';
