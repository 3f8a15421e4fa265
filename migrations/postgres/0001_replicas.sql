-- Every running agent-sts process registers itself here on start and
-- refreshes last_seen while it runs. Later tables (audit chains, revocations)
-- refer to a replica by this id.
CREATE TABLE replicas (
    id          TEXT PRIMARY KEY NOT NULL,
    version     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL
);
