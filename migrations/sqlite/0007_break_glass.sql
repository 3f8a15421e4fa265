-- Break-glass windows (the roll-out's fallback path): an agent may obtain
-- workload-pattern tokens for its declared scopes on the listed resources
-- (none listed: all of its resources) while a window is open, even where its
-- policy allows only user patterns. A window ends at expires_at (at most
-- 24 h after opened_at) or when closed. Every token issued under it is
-- recorded by jti so that closing it revokes them; tokens never outlive it.
CREATE TABLE break_glass_windows (
    id          TEXT PRIMARY KEY NOT NULL,
    agent       TEXT NOT NULL,
    resources   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    opened_by   TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    closed_at   BIGINT
);
CREATE INDEX break_glass_windows_agent ON break_glass_windows (agent, expires_at);

CREATE TABLE break_glass_tokens (
    window_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (window_id, jti)
);
