-- berth metadata, PostgreSQL dialect. Mirrors migrations/sqlite/0001_init.sql table for table.
--
-- Names and digests use COLLATE "C": the distribution spec wants tags/list and _catalog in
-- lexical (byte) order, which SQLite's BINARY collation gives and a database's default
-- locale collation (en_US.UTF-8 sorts "C" after "b") does not. Digests get it too, so both
-- sides of every foreign key share one collation and equality is a plain byte compare.
-- Times are milliseconds since the Unix epoch, as in SQLite.

CREATE TABLE repositories (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Every blob stored once, shared by all repositories.
CREATE TABLE blobs (
    digest      TEXT COLLATE "C" PRIMARY KEY,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Which repositories may serve which blobs.
CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT COLLATE "C" NOT NULL REFERENCES blobs(digest),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);

-- The foreign key above needs this to check deletes from blobs without a scan.
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

-- Manifests, with the exact bytes pushed.
CREATE TABLE manifests (
    repository_id  BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest         TEXT COLLATE "C" NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT,
    subject        TEXT COLLATE "C",
    annotations    TEXT,
    size           BIGINT NOT NULL,
    body           BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);

CREATE INDEX manifests_by_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;

-- What each manifest needs: blobs (kind 'blob') and child manifests (kind 'manifest').
CREATE TABLE manifest_refs (
    repository_id  BIGINT NOT NULL,
    parent         TEXT COLLATE "C" NOT NULL,
    child          TEXT COLLATE "C" NOT NULL,
    kind           TEXT NOT NULL,
    PRIMARY KEY (repository_id, parent, child),
    FOREIGN KEY (repository_id, parent) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);

CREATE INDEX manifest_refs_by_child ON manifest_refs (child);

CREATE TABLE tags (
    repository_id  BIGINT NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    digest         TEXT COLLATE "C" NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);

CREATE INDEX tags_by_digest ON tags (repository_id, digest);

-- Upload sessions: enough to continue on any replica after any restart.
CREATE TABLE uploads (
    id             TEXT COLLATE "C" PRIMARY KEY,
    repository     TEXT COLLATE "C" NOT NULL,
    size           BIGINT NOT NULL,
    hash_state     BYTEA NOT NULL,
    storage_state  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE INDEX uploads_by_age ON uploads (updated_at);

-- Leases for periodic jobs, so each runs once across replicas. locked_until is on the
-- database's clock (see PostgresMetaStore::try_lease), so replicas' clocks need not agree.
CREATE TABLE job_leases (
    name          TEXT COLLATE "C" PRIMARY KEY,
    holder        TEXT NOT NULL,
    locked_until  BIGINT NOT NULL
);
