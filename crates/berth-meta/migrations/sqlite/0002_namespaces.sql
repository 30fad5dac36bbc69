-- Namespaces, repositories as entities, and counters kept by triggers inside the same
-- transaction as every change (never by scans). Existing data is carried over: a namespace
-- per first name component, counters computed once here.

CREATE TABLE namespaces (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL UNIQUE,
    description       TEXT NOT NULL DEFAULT '',
    is_public         INTEGER NOT NULL DEFAULT 0,
    creator           TEXT NOT NULL DEFAULT '',
    num_repositories  INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE namespace_members (
    namespace_id  INTEGER NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    username      TEXT NOT NULL,
    level         INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (namespace_id, username)
) STRICT, WITHOUT ROWID;

CREATE INDEX namespace_members_by_user ON namespace_members (username, namespace_id);

ALTER TABLE repositories ADD COLUMN namespace_id INTEGER REFERENCES namespaces(id) ON DELETE CASCADE;
ALTER TABLE repositories ADD COLUMN kind TEXT NOT NULL DEFAULT 'hosted';
ALTER TABLE repositories ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- NULL: the namespace's visibility.
ALTER TABLE repositories ADD COLUMN is_public INTEGER;
ALTER TABLE repositories ADD COLUMN creator TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
-- Distinct bytes of the blobs its manifests reference.
ALTER TABLE repositories ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN num_manifests INTEGER NOT NULL DEFAULT 0;
-- Manifests that at least one tag points at.
ALTER TABLE repositories ADD COLUMN num_images INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN num_tags INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN num_downloads INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN last_pushed_at INTEGER;
ALTER TABLE repositories ADD COLUMN last_pulled_at INTEGER;

CREATE INDEX repositories_by_namespace ON repositories (namespace_id, name);

-- How many manifests of the repository reference the blob.
ALTER TABLE repository_blobs ADD COLUMN refs INTEGER NOT NULL DEFAULT 0;

ALTER TABLE manifests ADD COLUMN tag_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN downloads INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN total_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE manifests ADD COLUMN config_digest TEXT;
ALTER TABLE manifests ADD COLUMN pushed_by TEXT NOT NULL DEFAULT '';
-- What the service read from the config blob (os, architecture, history, ...), as JSON.
ALTER TABLE manifests ADD COLUMN image_info TEXT;

ALTER TABLE tags ADD COLUMN pushed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE tags ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tags ADD COLUMN downloads INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tags ADD COLUMN last_pulled_at INTEGER;

DROP INDEX manifest_refs_by_child;
CREATE INDEX manifest_refs_by_child ON manifest_refs (repository_id, child);

-- ---- carry existing data over ----

INSERT INTO namespaces (name, created_at, updated_at)
    SELECT substr(name, 1, instr(name || '/', '/') - 1) AS ns, min(created_at), min(created_at)
    FROM repositories GROUP BY ns;

UPDATE repositories SET
    namespace_id = (SELECT n.id FROM namespaces n
                    WHERE n.name = substr(repositories.name, 1, instr(repositories.name || '/', '/') - 1)),
    updated_at = created_at;

UPDATE namespaces SET num_repositories =
    (SELECT count(*) FROM repositories r WHERE r.namespace_id = namespaces.id);

UPDATE repository_blobs SET refs =
    (SELECT count(*) FROM manifest_refs mr
     WHERE mr.repository_id = repository_blobs.repository_id AND mr.child = repository_blobs.digest
       AND mr.kind = 'blob');

UPDATE manifests SET
    tag_count = (SELECT count(*) FROM tags t
                 WHERE t.repository_id = manifests.repository_id AND t.digest = manifests.digest),
    total_size = size + coalesce((SELECT sum(b.size) FROM manifest_refs mr JOIN blobs b ON b.digest = mr.child
                                  WHERE mr.repository_id = manifests.repository_id
                                    AND mr.parent = manifests.digest), 0)
                      + coalesce((SELECT sum(c.size) FROM manifest_refs mr JOIN manifests c
                                    ON c.repository_id = mr.repository_id AND c.digest = mr.child
                                  WHERE mr.repository_id = manifests.repository_id
                                    AND mr.parent = manifests.digest AND mr.kind = 'manifest'), 0);

UPDATE tags SET created_at = updated_at;

UPDATE repositories SET
    num_manifests = (SELECT count(*) FROM manifests m WHERE m.repository_id = repositories.id),
    num_tags = (SELECT count(*) FROM tags t WHERE t.repository_id = repositories.id),
    num_images = (SELECT count(*) FROM manifests m
                  WHERE m.repository_id = repositories.id AND m.tag_count > 0),
    size = coalesce((SELECT sum(b.size) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
                     WHERE rb.repository_id = repositories.id AND rb.refs > 0), 0),
    last_pushed_at = (SELECT max(m.created_at) FROM manifests m WHERE m.repository_id = repositories.id);

-- ---- counters, kept by the database itself ----

CREATE TRIGGER repositories_counted_in_namespace AFTER INSERT ON repositories BEGIN
    UPDATE namespaces SET num_repositories = num_repositories + 1 WHERE id = NEW.namespace_id;
END;

CREATE TRIGGER repositories_uncounted_in_namespace AFTER DELETE ON repositories BEGIN
    UPDATE namespaces SET num_repositories = num_repositories - 1 WHERE id = OLD.namespace_id;
END;

CREATE TRIGGER manifests_counted AFTER INSERT ON manifests BEGIN
    UPDATE repositories SET num_manifests = num_manifests + 1 WHERE id = NEW.repository_id;
END;

-- A manifest deleted while tags still point at it (they go with it) was an image.
CREATE TRIGGER manifests_uncounted AFTER DELETE ON manifests BEGIN
    UPDATE repositories SET num_manifests = num_manifests - 1,
                            num_images = num_images - (OLD.tag_count > 0)
    WHERE id = OLD.repository_id;
END;

CREATE TRIGGER tags_counted AFTER INSERT ON tags BEGIN
    UPDATE manifests SET tag_count = tag_count + 1
    WHERE repository_id = NEW.repository_id AND digest = NEW.digest;
    UPDATE repositories SET
        num_tags = num_tags + 1,
        num_images = num_images + coalesce((SELECT tag_count = 1 FROM manifests
                                            WHERE repository_id = NEW.repository_id
                                              AND digest = NEW.digest), 0)
    WHERE id = NEW.repository_id;
END;

-- When the manifest is gone already (deleted with its tags), manifests_uncounted has
-- counted the image; here only the tag.
CREATE TRIGGER tags_uncounted AFTER DELETE ON tags BEGIN
    UPDATE manifests SET tag_count = tag_count - 1
    WHERE repository_id = OLD.repository_id AND digest = OLD.digest;
    UPDATE repositories SET
        num_tags = num_tags - 1,
        num_images = num_images - coalesce((SELECT tag_count = 0 FROM manifests
                                            WHERE repository_id = OLD.repository_id
                                              AND digest = OLD.digest), 0)
    WHERE id = OLD.repository_id;
END;

CREATE TRIGGER tags_moved AFTER UPDATE OF digest ON tags WHEN OLD.digest <> NEW.digest BEGIN
    UPDATE manifests SET tag_count = tag_count - 1
    WHERE repository_id = OLD.repository_id AND digest = OLD.digest;
    UPDATE manifests SET tag_count = tag_count + 1
    WHERE repository_id = NEW.repository_id AND digest = NEW.digest;
    UPDATE repositories SET
        num_images = num_images
            + coalesce((SELECT tag_count = 1 FROM manifests
                        WHERE repository_id = NEW.repository_id AND digest = NEW.digest), 0)
            - coalesce((SELECT tag_count = 0 FROM manifests
                        WHERE repository_id = OLD.repository_id AND digest = OLD.digest), 0)
    WHERE id = NEW.repository_id;
END;

-- Size: a blob counts while at least one manifest of the repository references it.
CREATE TRIGGER manifest_refs_counted AFTER INSERT ON manifest_refs WHEN NEW.kind = 'blob' BEGIN
    UPDATE repository_blobs SET refs = refs + 1
    WHERE repository_id = NEW.repository_id AND digest = NEW.child;
    UPDATE repositories SET size = size + coalesce(
        (SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
         WHERE rb.repository_id = NEW.repository_id AND rb.digest = NEW.child AND rb.refs = 1), 0)
    WHERE id = NEW.repository_id;
END;

CREATE TRIGGER manifest_refs_uncounted AFTER DELETE ON manifest_refs WHEN OLD.kind = 'blob' BEGIN
    UPDATE repository_blobs SET refs = refs - 1
    WHERE repository_id = OLD.repository_id AND digest = OLD.child;
    UPDATE repositories SET size = size - coalesce(
        (SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
         WHERE rb.repository_id = OLD.repository_id AND rb.digest = OLD.child AND rb.refs = 0), 0)
    WHERE id = OLD.repository_id;
END;

-- A blob linked again after it was deleted from the repository while manifests still
-- reference it: count those references (an indexed lookup).
CREATE TRIGGER repository_blobs_linked AFTER INSERT ON repository_blobs BEGIN
    UPDATE repository_blobs SET refs =
        (SELECT count(*) FROM manifest_refs mr
         WHERE mr.repository_id = NEW.repository_id AND mr.child = NEW.digest AND mr.kind = 'blob')
    WHERE repository_id = NEW.repository_id AND digest = NEW.digest;
    UPDATE repositories SET size = size + coalesce(
        (SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
         WHERE rb.repository_id = NEW.repository_id AND rb.digest = NEW.digest AND rb.refs > 0), 0)
    WHERE id = NEW.repository_id;
END;

CREATE TRIGGER repository_blobs_unlinked AFTER DELETE ON repository_blobs WHEN OLD.refs > 0 BEGIN
    UPDATE repositories SET size = size - coalesce(
        (SELECT size FROM blobs WHERE digest = OLD.digest), 0)
    WHERE id = OLD.repository_id;
END;
