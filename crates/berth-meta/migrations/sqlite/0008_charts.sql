-- Helm charts: one row per chart version, the metadata extracted once when its OCI artifact
-- (repository <namespace>/<chart>, tagged with the version) was stored, so that no listing
-- opens an archive. A chart row hangs off its tag: deleting the tag, its manifest or the
-- repository removes it in the same transaction (cascade), and moving the tag elsewhere
-- drops it (trigger). Every change bumps the namespace's chart generation, which keys the
-- rendered index.yaml that the service caches. Mirrors migrations/postgres/0008_charts.sql.

ALTER TABLE namespaces ADD COLUMN chart_generation INTEGER NOT NULL DEFAULT 0;

CREATE TABLE charts (
    repository_id    INTEGER NOT NULL,
    tag              TEXT NOT NULL,
    namespace_id     INTEGER NOT NULL,
    name             TEXT NOT NULL,
    version          TEXT NOT NULL,
    manifest_digest  TEXT NOT NULL,
    -- The .tgz layer: its digest (sha256:...) and size.
    chart_digest     TEXT NOT NULL,
    chart_size       INTEGER NOT NULL,
    prov_digest      TEXT,
    prov_size        INTEGER,
    -- Chart.yaml as JSON.
    metadata         TEXT NOT NULL,
    -- RFC 3339, the index's `created`.
    created          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (repository_id, tag),
    FOREIGN KEY (repository_id, tag) REFERENCES tags(repository_id, name) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX charts_by_namespace ON charts (namespace_id, name, version);

CREATE TRIGGER charts_added AFTER INSERT ON charts BEGIN
    UPDATE namespaces SET chart_generation = chart_generation + 1 WHERE id = NEW.namespace_id;
END;

CREATE TRIGGER charts_changed AFTER UPDATE ON charts BEGIN
    UPDATE namespaces SET chart_generation = chart_generation + 1 WHERE id = NEW.namespace_id;
END;

CREATE TRIGGER charts_removed AFTER DELETE ON charts BEGIN
    UPDATE namespaces SET chart_generation = chart_generation + 1 WHERE id = OLD.namespace_id;
END;

-- A tag moved to another manifest no longer names that chart version (a push of a chart
-- puts the row back right after, in the same transaction).
CREATE TRIGGER tags_moved_off_chart AFTER UPDATE OF digest ON tags WHEN OLD.digest <> NEW.digest BEGIN
    DELETE FROM charts WHERE repository_id = NEW.repository_id AND tag = NEW.name;
END;
