-- Revocations: by token id (jti), or of every token issued at or before
-- revoked_at to a subject (optionally of one upstream, idp), an agent or a
-- client. A row is pruned once every token it covers has expired.
CREATE TABLE revocations (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('jti', 'subject', 'agent', 'client')),
    value       TEXT NOT NULL,
    idp         TEXT,
    revoked_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT
);
CREATE INDEX revocations_expires_at ON revocations (expires_at);
