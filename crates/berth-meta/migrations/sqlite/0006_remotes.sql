-- External registries: repositories on third-party registries registered with credentials
-- (Docker Cloud's "external repositories"), and proxies (pull-through caches) that map a
-- local name prefix to an upstream registry, optionally with a registered entry's
-- credentials.

CREATE TABLE remotes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: a global entry (administrators); else the namespace that owns it.
    namespace_id     INTEGER REFERENCES namespaces(id) ON DELETE CASCADE,
    -- The repository as registered: `my.registry.com/myrepo`.
    name             TEXT NOT NULL,
    -- Its registry: `host[:port]`.
    registry         TEXT NOT NULL,
    username         TEXT,
    -- The password sealed with the configured key (AES-256-GCM: nonce, ciphertext, tag).
    password_sealed  BLOB,
    creator          TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

-- One entry per name in each namespace, and once globally (NULL counts as 0).
CREATE UNIQUE INDEX remotes_by_name ON remotes (coalesce(namespace_id, 0), name);
CREATE INDEX remotes_by_registry ON remotes (registry, name);

CREATE TABLE proxies (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The local name prefix it serves (`hub` for /v2/hub/library/nginx/...).
    prefix         TEXT NOT NULL UNIQUE,
    -- Where it fetches from: `https://registry-1.docker.io`.
    upstream_url   TEXT NOT NULL,
    -- The registry name clients use for it (`docker.io`: containerd's `?ns=`).
    upstream_host  TEXT NOT NULL,
    -- Whose credentials it uses; NULL: anonymous. A forced removal of the entry leaves
    -- the proxy anonymous.
    remote_id      INTEGER REFERENCES remotes(id) ON DELETE SET NULL,
    -- 'upstream_first' or 'local_first'.
    mode           TEXT NOT NULL DEFAULT 'upstream_first',
    -- How long a cached tag is served without asking the upstream (local_first).
    ttl_secs       INTEGER NOT NULL DEFAULT 3600,
    creator        TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX proxies_by_host ON proxies (upstream_host, prefix);
CREATE INDEX proxies_by_remote ON proxies (remote_id) WHERE remote_id IS NOT NULL;
