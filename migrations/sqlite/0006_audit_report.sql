-- The audit report (`agent-sts audit report`, GET /admin/audit/report)
-- counts token decisions per agent and pattern, with the users, upstreams
-- and tenants behind them. Those fields were only inside `record`; they
-- become columns like subject and agent (the writer fills them, `audit
-- verify` checks that they agree with the hashed record), so the report is
-- aggregated in SQL without parsing JSON. `count` is how many decisions a
-- summary record stands for (NULL: one).
ALTER TABLE audit_records ADD COLUMN pattern TEXT;
ALTER TABLE audit_records ADD COLUMN idp TEXT;
ALTER TABLE audit_records ADD COLUMN tenant TEXT;
ALTER TABLE audit_records ADD COLUMN count INTEGER;

-- Token records written before this migration: the columns from the record.
-- (Only token records: the report reads nothing else.)
UPDATE audit_records
SET pattern = json_extract(record, '$.pattern'),
    idp     = json_extract(record, '$.idp'),
    tenant  = json_extract(record, '$.tenant'),
    count   = json_extract(record, '$.count')
WHERE event = 'token';

-- The report's only access path: token records by time, carrying every
-- column it reads (a covering index: no table lookups).
CREATE INDEX audit_records_report ON audit_records
    (at, agent, pattern, decision, reason, subject, idp, tenant, count)
    WHERE event = 'token';
