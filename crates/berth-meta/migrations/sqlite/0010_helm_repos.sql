-- Helm repositories (seed 000): hosted in berth, or mirrored from an upstream URL into a
-- namespace (fixed at creation: a rename keeps it), with the state of their last sync.
-- Mirrors migrations/postgres/0010_helm_repos.sql.

CREATE TABLE helm_repos (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    namespace           TEXT NOT NULL,
    url                 TEXT NOT NULL,
    kind                TEXT NOT NULL,
    is_public           INTEGER NOT NULL,
    username            TEXT,
    password_sealed     BLOB,
    sync_interval_secs  INTEGER,
    creator             TEXT NOT NULL,
    owns_namespace      INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    last_sync_at        INTEGER,
    sync_status         TEXT NOT NULL DEFAULT 'never',
    sync_error          TEXT,
    chart_count         INTEGER NOT NULL DEFAULT 0,
    vanished_count      INTEGER NOT NULL DEFAULT 0,
    etag                TEXT,
    failures            INTEGER NOT NULL DEFAULT 0,
    next_sync_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX helm_repos_due ON helm_repos (next_sync_at);

-- What a sync mirrored: one row per chart version, marked when it vanished upstream.
CREATE TABLE helm_repo_versions (
    repo_id      TEXT NOT NULL REFERENCES helm_repos(id) ON DELETE CASCADE,
    chart        TEXT NOT NULL,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    vanished_at  INTEGER,
    PRIMARY KEY (repo_id, chart, version)
) STRICT, WITHOUT ROWID;
