-- The audit trail partitioned by time (`at`, unix seconds), so retention
-- drops whole partitions instead of deleting rows one by one: at 10,000
-- exchanges/s a day is 860 million rows (issue 21). The server's upkeep
-- (src/audit/retention.rs) creates the partitions ahead of time and drops
-- the ones wholly older than `[audit] retention`.
--
-- Existing rows are kept and not rewritten: the old table becomes the
-- partition `audit_records_legacy`, covering every `at` below the moment
-- of this migration (or above its newest row, if a clock ran ahead). What
-- that costs on a big table: ATTACH PARTITION reads the whole old table
-- once to check that every row is inside that bound (a sequential scan, no
-- writes, no index builds), while this migration holds an ACCESS
-- EXCLUSIVE lock on the audit table, so /token waits for it (and answers
-- 503 once the audit queue is full): on a table of hundreds of millions of
-- rows, run the upgrade in a quiet hour. The old table's indexes are
-- adopted by the new parent's (same definitions), so none is rebuilt.
--
-- Unique constraints on a partitioned table must contain the partition
-- key, so `PRIMARY KEY (id)` and `UNIQUE (chain, seq)` cannot stay on the
-- table as a whole. Each partition carries its own instead (the legacy one
-- keeps its originals; the upkeep creates every new one with both): the
-- database still refuses a repeated id or (chain, seq) within a partition.
-- Across partitions nothing in the database refuses them, and the
-- guarantee is the writer's (src/audit/writer.rs): one writer per process
-- appends to its own chain `<random replica id>.<n>`, assigns `seq` itself
-- in memory, never retries a batch, and starts a new chain after a failed
-- commit. `id` comes from one sequence. `agent-sts audit verify` walks
-- each chain in seq order and names a repeated seq as an inserted record.
ALTER TABLE audit_records RENAME TO audit_records_legacy;
ALTER TABLE audit_records_legacy RENAME CONSTRAINT audit_records_pkey TO audit_records_legacy_pkey;
ALTER TABLE audit_records_legacy RENAME CONSTRAINT audit_records_chain_seq_key TO audit_records_legacy_chain_seq_key;
ALTER INDEX audit_records_at RENAME TO audit_records_legacy_at;
ALTER INDEX audit_records_subject RENAME TO audit_records_legacy_subject;
ALTER INDEX audit_records_agent RENAME TO audit_records_legacy_agent;
ALTER INDEX audit_records_report RENAME TO audit_records_legacy_report;

-- Same columns, same order, same defaults (`id` still draws on
-- audit_records_id_seq, which the new table now owns, so dropping the
-- legacy partition one day keeps the sequence).
CREATE TABLE audit_records (LIKE audit_records_legacy INCLUDING DEFAULTS)
    PARTITION BY RANGE (at);
ALTER SEQUENCE audit_records_id_seq OWNED BY audit_records.id;

DO $$
DECLARE
    bound BIGINT;
BEGIN
    SELECT GREATEST(EXTRACT(EPOCH FROM now())::BIGINT, COALESCE(MAX(at) + 1, 0))
        INTO bound FROM audit_records_legacy;
    EXECUTE format(
        'ALTER TABLE audit_records ATTACH PARTITION audit_records_legacy FOR VALUES FROM (MINVALUE) TO (%s)',
        bound);
END $$;

-- A safety net: should the upkeep fall behind (no replica ran it for the
-- periods created ahead), records land here instead of failing /token. The
-- upkeep moves them into their partition when it creates it.
CREATE TABLE audit_records_default PARTITION OF audit_records
    (PRIMARY KEY (id), UNIQUE (chain, seq)) DEFAULT;

-- The indexes of 0003 and 0006 on the whole table: the legacy partition's
-- own are adopted, every new partition gets them.
CREATE INDEX audit_records_at ON audit_records (at);
CREATE INDEX audit_records_subject ON audit_records (subject, at);
CREATE INDEX audit_records_agent ON audit_records (agent, at);
CREATE INDEX audit_records_report ON audit_records (at)
    INCLUDE (agent, pattern, decision, reason, subject, idp, tenant, count)
    WHERE event = 'token';

-- Retention's anchors: per chain, the last record removed (`through_seq`,
-- its hash and its canonical JSON), when, and the cut it was older than.
-- `audit verify` starts the chain there instead of at seq 1 and checks the
-- anchor itself (see src/audit/verify.rs). Written in the same transaction
-- as the drop or delete it describes; one row per chain, moved forward by
-- each pruning.
CREATE TABLE audit_pruned (
    chain          TEXT PRIMARY KEY,
    through_seq    BIGINT NOT NULL,
    through_hash   TEXT NOT NULL,
    through_record TEXT NOT NULL,
    pruned_at      BIGINT NOT NULL,
    older_than     BIGINT NOT NULL
);
