-- Members of a single repository (SWR's repository permissions), next to the namespace's.
-- A caller's level on a repository is the larger of its namespace level and this one.
-- Mirrors migrations/sqlite/0007_repository_members.sql.

CREATE TABLE repository_members (
    repository_id  BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    username       TEXT COLLATE "C" NOT NULL,
    level          BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (repository_id, username)
);

CREATE INDEX repository_members_by_user ON repository_members (username, repository_id);
