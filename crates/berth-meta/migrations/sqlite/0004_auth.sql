-- Users (people and robot accounts), their credentials, shared settings, and the audit log.

CREATE TABLE users (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    name                    TEXT NOT NULL UNIQUE,
    -- argon2id in PHC form; NULL: no password login (robots).
    password_hash           TEXT,
    admin                   INTEGER NOT NULL DEFAULT 0,
    -- 'user' or 'robot'. A robot acts in one namespace with one level, until it expires.
    kind                    TEXT NOT NULL DEFAULT 'user',
    robot_namespace         TEXT,
    robot_level             INTEGER,
    expires_at              INTEGER,
    disabled                INTEGER NOT NULL DEFAULT 0,
    -- Login tokens issued before this are no longer honoured (password change, disable).
    credentials_changed_at  INTEGER NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
) STRICT;

-- Credentials other than passwords: personal access tokens, robot secrets, access keys.
CREATE TABLE credentials (
    -- The public part: a token's id, an access key's AK.
    id             TEXT PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    -- sha256 of a token's secret (tokens are random, so a fast hash is enough).
    secret_hash    TEXT,
    -- An access key's secret, sealed with the configured key (its HMAC needs it back).
    secret_sealed  BLOB,
    -- What the credential is limited to; NULL: all of its user's rights.
    namespace      TEXT,
    level          INTEGER,
    expires_at     INTEGER,
    revoked_at     INTEGER,
    last_used_at   INTEGER,
    created_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX credentials_by_user ON credentials (user_id, created_at);
CREATE INDEX credentials_by_revocation ON credentials (revoked_at) WHERE revoked_at IS NOT NULL;

-- Values every replica shares, created once (the token signing key).
CREATE TABLE settings (
    name        TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    resource  TEXT NOT NULL,
    source    TEXT NOT NULL,
    result    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);
