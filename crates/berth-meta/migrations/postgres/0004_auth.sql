-- Users (people and robot accounts), their credentials, shared settings, and the audit log.
-- Mirrors migrations/sqlite/0004_auth.sql.

CREATE TABLE users (
    id                      BIGSERIAL PRIMARY KEY,
    name                    TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash           TEXT,
    admin                   BOOLEAN NOT NULL DEFAULT FALSE,
    kind                    TEXT NOT NULL DEFAULT 'user',
    robot_namespace         TEXT COLLATE "C",
    robot_level             BIGINT,
    expires_at              BIGINT,
    disabled                BOOLEAN NOT NULL DEFAULT FALSE,
    credentials_changed_at  BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

CREATE TABLE credentials (
    id             TEXT COLLATE "C" PRIMARY KEY,
    user_id        BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    secret_hash    TEXT,
    secret_sealed  BYTEA,
    namespace      TEXT COLLATE "C",
    level          BIGINT,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    last_used_at   BIGINT,
    created_at     BIGINT NOT NULL
);

CREATE INDEX credentials_by_user ON credentials (user_id, created_at);
CREATE INDEX credentials_by_revocation ON credentials (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE settings (
    name        TEXT COLLATE "C" PRIMARY KEY,
    value       BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT COLLATE "C" NOT NULL,
    action    TEXT NOT NULL,
    resource  TEXT NOT NULL,
    source    TEXT NOT NULL,
    result    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_by_time ON audit_log (at, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);
