-- Helm repositories (seed 000): hosted in berth, or mirrored from an upstream URL into a
-- namespace (fixed at creation: a rename keeps it), with the state of their last sync.
-- Mirrors migrations/sqlite/0010_helm_repos.sql.

CREATE TABLE helm_repos (
    id                  TEXT PRIMARY KEY,
    name                TEXT COLLATE "C" NOT NULL UNIQUE,
    namespace           TEXT COLLATE "C" NOT NULL,
    url                 TEXT NOT NULL,
    kind                TEXT NOT NULL,
    is_public           BOOLEAN NOT NULL,
    username            TEXT,
    password_sealed     BYTEA,
    sync_interval_secs  BIGINT,
    creator             TEXT NOT NULL,
    owns_namespace      BOOLEAN NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    last_sync_at        BIGINT,
    sync_status         TEXT NOT NULL DEFAULT 'never',
    sync_error          TEXT,
    chart_count         BIGINT NOT NULL DEFAULT 0,
    vanished_count      BIGINT NOT NULL DEFAULT 0,
    etag                TEXT,
    failures            BIGINT NOT NULL DEFAULT 0,
    next_sync_at        BIGINT NOT NULL
);

CREATE INDEX helm_repos_due ON helm_repos (next_sync_at);

-- What a sync mirrored: one row per chart version, marked when it vanished upstream.
CREATE TABLE helm_repo_versions (
    repo_id      TEXT NOT NULL REFERENCES helm_repos(id) ON DELETE CASCADE,
    chart        TEXT COLLATE "C" NOT NULL,
    version      TEXT COLLATE "C" NOT NULL,
    digest       TEXT NOT NULL,
    vanished_at  BIGINT,
    PRIMARY KEY (repo_id, chart, version)
);
