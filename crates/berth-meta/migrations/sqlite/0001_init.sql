-- berth metadata, SQLite dialect. The PostgreSQL dialect mirrors it.

CREATE TABLE repositories (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

-- Every blob stored once, shared by all repositories.
CREATE TABLE blobs (
    digest      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Which repositories may serve which blobs.
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
) STRICT, WITHOUT ROWID;

-- Manifests, with the exact bytes pushed.
CREATE TABLE manifests (
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT,
    subject        TEXT,
    annotations    TEXT,
    size           INTEGER NOT NULL,
    body           BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
) STRICT, WITHOUT ROWID;

CREATE INDEX manifests_by_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;

-- What each manifest needs: blobs (kind 'blob') and child manifests (kind 'manifest').
CREATE TABLE manifest_refs (
    repository_id  INTEGER NOT NULL,
    parent         TEXT NOT NULL,
    child          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    PRIMARY KEY (repository_id, parent, child),
    FOREIGN KEY (repository_id, parent) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX manifest_refs_by_child ON manifest_refs (child);

CREATE TABLE tags (
    repository_id  INTEGER NOT NULL,
    name           TEXT NOT NULL,
    digest         TEXT NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX tags_by_digest ON tags (repository_id, digest);

-- Upload sessions: enough to continue on any replica after any restart.
CREATE TABLE uploads (
    id             TEXT PRIMARY KEY,
    repository     TEXT NOT NULL,
    size           INTEGER NOT NULL,
    hash_state     BLOB NOT NULL,
    storage_state  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX uploads_by_age ON uploads (updated_at);

-- Leases for periodic jobs, so each runs once across replicas.
CREATE TABLE job_leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    locked_until  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
