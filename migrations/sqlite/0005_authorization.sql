-- The authorization code grant, shared by every replica.
--
-- One-time records: a pending login at the upstream IdP (kind 'login') or an
-- authorization code (kind 'code'), under a digest the caller chose, never
-- the value itself. taken_at is set by the one take that wins; the row stays
-- until it expires so that a replay is recognised (RFC 6749 §4.1.2: a code
-- used twice revokes what it issued), and is pruned after.
CREATE TABLE one_time_records (
    kind        TEXT NOT NULL CHECK (kind IN ('login', 'code')),
    digest      TEXT NOT NULL,
    payload     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    taken_at    INTEGER,
    PRIMARY KEY (kind, digest)
);
CREATE INDEX one_time_records_expires_at ON one_time_records (expires_at);

-- Refresh tokens, by SHA-256 (hex) only. Every token rotated from one login
-- shares a family; used_at marks the one use a token has (a second use is
-- reuse, RFC 6749 §10.4), revoked_at marks a revoked family (a family is
-- revoked when any of its rows is). The family's columns (client, agent,
-- subject, idp, family_started_at, family_expires_at) repeat on every row,
-- so revocation by subject, agent or client and pruning need no join.
CREATE TABLE refresh_tokens (
    hash               TEXT PRIMARY KEY NOT NULL,
    family             TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    agent              TEXT NOT NULL,
    subject            TEXT NOT NULL,
    idp                TEXT,
    resource           TEXT NOT NULL,
    family_started_at  INTEGER NOT NULL,
    issued_at          INTEGER NOT NULL,
    idle_expires_at    INTEGER NOT NULL,
    family_expires_at  INTEGER NOT NULL,
    payload            TEXT NOT NULL,
    used_at            INTEGER,
    revoked_at         INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject, idp);
CREATE INDEX refresh_tokens_agent ON refresh_tokens (agent);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_family_expires_at ON refresh_tokens (family_expires_at);
