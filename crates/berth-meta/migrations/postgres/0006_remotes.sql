-- External registries and proxies. Mirrors migrations/sqlite/0006_remotes.sql.

CREATE TABLE remotes (
    id               BIGSERIAL PRIMARY KEY,
    namespace_id     BIGINT REFERENCES namespaces(id) ON DELETE CASCADE,
    name             TEXT COLLATE "C" NOT NULL,
    registry         TEXT COLLATE "C" NOT NULL,
    username         TEXT,
    password_sealed  BYTEA,
    creator          TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE UNIQUE INDEX remotes_by_name ON remotes ((coalesce(namespace_id, 0)), name);
CREATE INDEX remotes_by_registry ON remotes (registry, name);

CREATE TABLE proxies (
    id             BIGSERIAL PRIMARY KEY,
    prefix         TEXT COLLATE "C" NOT NULL UNIQUE,
    upstream_url   TEXT NOT NULL,
    upstream_host  TEXT COLLATE "C" NOT NULL,
    remote_id      BIGINT REFERENCES remotes(id) ON DELETE SET NULL,
    mode           TEXT NOT NULL DEFAULT 'upstream_first',
    ttl_secs       BIGINT NOT NULL DEFAULT 3600,
    creator        TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE INDEX proxies_by_host ON proxies (upstream_host, prefix);
CREATE INDEX proxies_by_remote ON proxies (remote_id) WHERE remote_id IS NOT NULL;
