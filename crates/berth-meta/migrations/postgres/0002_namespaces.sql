-- Namespaces, repositories as entities, and counters kept by triggers inside the same
-- transaction as every change. Mirrors migrations/sqlite/0002_namespaces.sql.
--
-- Row triggers of a statement fire at its end; the cascades of a delete are statements of
-- their own that run before the deleting statement's own AFTER triggers. So when a manifest
-- is deleted with tags still pointing at it, the tags' trigger finds the manifest gone and
-- only the manifest's trigger counts the image; when the tags are deleted first, the last
-- one counts it. Either way it is counted once.

CREATE TABLE namespaces (
    id                BIGSERIAL PRIMARY KEY,
    name              TEXT COLLATE "C" NOT NULL UNIQUE,
    description       TEXT NOT NULL DEFAULT '',
    is_public         BOOLEAN NOT NULL DEFAULT FALSE,
    creator           TEXT NOT NULL DEFAULT '',
    num_repositories  BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE namespace_members (
    namespace_id  BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    username      TEXT COLLATE "C" NOT NULL,
    level         BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, username)
);

CREATE INDEX namespace_members_by_user ON namespace_members (username, namespace_id);

ALTER TABLE repositories
    ADD COLUMN namespace_id BIGINT REFERENCES namespaces(id) ON DELETE CASCADE,
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'hosted',
    ADD COLUMN category TEXT NOT NULL DEFAULT '',
    ADD COLUMN description TEXT NOT NULL DEFAULT '',
    ADD COLUMN is_public BOOLEAN,
    ADD COLUMN creator TEXT NOT NULL DEFAULT '',
    ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN size BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN num_manifests BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN num_images BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN num_tags BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN num_downloads BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_pushed_at BIGINT,
    ADD COLUMN last_pulled_at BIGINT;

CREATE INDEX repositories_by_namespace ON repositories (namespace_id, name);

ALTER TABLE repository_blobs ADD COLUMN refs BIGINT NOT NULL DEFAULT 0;

ALTER TABLE manifests
    ADD COLUMN tag_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN downloads BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN total_size BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN config_digest TEXT COLLATE "C",
    ADD COLUMN pushed_by TEXT NOT NULL DEFAULT '',
    ADD COLUMN image_info TEXT;

ALTER TABLE tags
    ADD COLUMN pushed_by TEXT NOT NULL DEFAULT '',
    ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN downloads BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_pulled_at BIGINT;

DROP INDEX manifest_refs_by_child;
CREATE INDEX manifest_refs_by_child ON manifest_refs (repository_id, child);

-- ---- carry existing data over ----

INSERT INTO namespaces (name, created_at, updated_at)
    SELECT split_part(name, '/', 1) AS ns, min(created_at), min(created_at)
    FROM repositories GROUP BY ns;

UPDATE repositories r SET namespace_id = n.id, updated_at = r.created_at
    FROM namespaces n WHERE n.name = split_part(r.name, '/', 1);

UPDATE namespaces n SET num_repositories =
    (SELECT count(*) FROM repositories r WHERE r.namespace_id = n.id);

UPDATE repository_blobs rb SET refs =
    (SELECT count(*) FROM manifest_refs mr
     WHERE mr.repository_id = rb.repository_id AND mr.child = rb.digest AND mr.kind = 'blob');

UPDATE manifests m SET
    tag_count = (SELECT count(*) FROM tags t
                 WHERE t.repository_id = m.repository_id AND t.digest = m.digest),
    total_size = m.size
        + coalesce((SELECT sum(b.size) FROM manifest_refs mr JOIN blobs b ON b.digest = mr.child
                    WHERE mr.repository_id = m.repository_id AND mr.parent = m.digest), 0)
        + coalesce((SELECT sum(c.size) FROM manifest_refs mr JOIN manifests c
                      ON c.repository_id = mr.repository_id AND c.digest = mr.child
                    WHERE mr.repository_id = m.repository_id AND mr.parent = m.digest
                      AND mr.kind = 'manifest'), 0);

UPDATE tags SET created_at = updated_at;

UPDATE repositories r SET
    num_manifests = (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id),
    num_tags = (SELECT count(*) FROM tags t WHERE t.repository_id = r.id),
    num_images = (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id AND m.tag_count > 0),
    size = coalesce((SELECT sum(b.size) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                     WHERE rb.repository_id = r.id AND rb.refs > 0), 0),
    last_pushed_at = (SELECT max(m.created_at) FROM manifests m WHERE m.repository_id = r.id);

-- ---- counters, kept by the database itself ----

CREATE FUNCTION berth_repositories_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE namespaces SET num_repositories = num_repositories + 1 WHERE id = NEW.namespace_id;
    ELSE
        UPDATE namespaces SET num_repositories = num_repositories - 1 WHERE id = OLD.namespace_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER repositories_counted AFTER INSERT OR DELETE ON repositories
    FOR EACH ROW EXECUTE FUNCTION berth_repositories_count();

CREATE FUNCTION berth_manifests_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE repositories SET num_manifests = num_manifests + 1 WHERE id = NEW.repository_id;
    ELSE
        UPDATE repositories SET num_manifests = num_manifests - 1,
            num_images = num_images - (CASE WHEN OLD.tag_count > 0 THEN 1 ELSE 0 END)
        WHERE id = OLD.repository_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER manifests_counted AFTER INSERT OR DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION berth_manifests_count();

-- Adds `delta` tags to a manifest; returns the change in the repository's images (+1 when
-- the manifest gains its first tag, -1 when it loses its last, 0 when it is gone).
CREATE FUNCTION berth_retag(repo BIGINT, manifest TEXT, delta BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    now_count BIGINT;
BEGIN
    UPDATE manifests SET tag_count = tag_count + delta
    WHERE repository_id = repo AND digest = manifest RETURNING tag_count INTO now_count;
    IF now_count IS NULL THEN
        RETURN 0;
    ELSIF delta > 0 AND now_count = delta THEN
        RETURN 1;
    ELSIF delta < 0 AND now_count = 0 THEN
        RETURN -1;
    END IF;
    RETURN 0;
END $$;

CREATE FUNCTION berth_tags_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE repositories SET num_tags = num_tags + 1,
            num_images = num_images + berth_retag(NEW.repository_id, NEW.digest, 1)
        WHERE id = NEW.repository_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE repositories SET num_tags = num_tags - 1,
            num_images = num_images + berth_retag(OLD.repository_id, OLD.digest, -1)
        WHERE id = OLD.repository_id;
    ELSIF OLD.digest <> NEW.digest THEN
        UPDATE repositories SET num_images = num_images
            + berth_retag(OLD.repository_id, OLD.digest, -1)
            + berth_retag(NEW.repository_id, NEW.digest, 1)
        WHERE id = NEW.repository_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tags_counted AFTER INSERT OR DELETE OR UPDATE OF digest ON tags
    FOR EACH ROW EXECUTE FUNCTION berth_tags_count();

-- Size: a blob counts while at least one manifest of the repository references it.
CREATE FUNCTION berth_manifest_refs_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_refs BIGINT;
    blob_size BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.kind <> 'blob' THEN RETURN NULL; END IF;
        UPDATE repository_blobs SET refs = refs + 1
        WHERE repository_id = NEW.repository_id AND digest = NEW.child RETURNING refs INTO now_refs;
        IF now_refs = 1 THEN
            SELECT size INTO blob_size FROM blobs WHERE digest = NEW.child;
            UPDATE repositories SET size = size + coalesce(blob_size, 0) WHERE id = NEW.repository_id;
        END IF;
    ELSE
        IF OLD.kind <> 'blob' THEN RETURN NULL; END IF;
        UPDATE repository_blobs SET refs = refs - 1
        WHERE repository_id = OLD.repository_id AND digest = OLD.child RETURNING refs INTO now_refs;
        IF now_refs = 0 THEN
            SELECT size INTO blob_size FROM blobs WHERE digest = OLD.child;
            UPDATE repositories SET size = size - coalesce(blob_size, 0) WHERE id = OLD.repository_id;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER manifest_refs_counted AFTER INSERT OR DELETE ON manifest_refs
    FOR EACH ROW EXECUTE FUNCTION berth_manifest_refs_count();

CREATE FUNCTION berth_repository_blobs_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    now_refs BIGINT;
    blob_size BIGINT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO now_refs FROM manifest_refs mr
        WHERE mr.repository_id = NEW.repository_id AND mr.child = NEW.digest AND mr.kind = 'blob';
        IF now_refs > 0 THEN
            UPDATE repository_blobs SET refs = now_refs
            WHERE repository_id = NEW.repository_id AND digest = NEW.digest;
            SELECT size INTO blob_size FROM blobs WHERE digest = NEW.digest;
            UPDATE repositories SET size = size + coalesce(blob_size, 0) WHERE id = NEW.repository_id;
        END IF;
    ELSIF OLD.refs > 0 THEN
        SELECT size INTO blob_size FROM blobs WHERE digest = OLD.digest;
        UPDATE repositories SET size = size - coalesce(blob_size, 0) WHERE id = OLD.repository_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER repository_blobs_counted AFTER INSERT OR DELETE ON repository_blobs
    FOR EACH ROW EXECUTE FUNCTION berth_repository_blobs_count();
