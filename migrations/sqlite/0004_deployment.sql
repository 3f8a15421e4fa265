-- One row: this deployment's random id. Every replica sharing the database
-- shares it; it scopes what they publish on a Redis that other deployments
-- may share too.
CREATE TABLE deployment (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL
);
