-- Helm charts: one row per chart version, the metadata extracted once when its OCI artifact
-- was stored. Mirrors migrations/sqlite/0008_charts.sql (see there).

ALTER TABLE namespaces ADD COLUMN chart_generation BIGINT NOT NULL DEFAULT 0;

CREATE TABLE charts (
    repository_id    BIGINT NOT NULL,
    tag              TEXT COLLATE "C" NOT NULL,
    namespace_id     BIGINT NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    version          TEXT COLLATE "C" NOT NULL,
    manifest_digest  TEXT COLLATE "C" NOT NULL,
    chart_digest     TEXT COLLATE "C" NOT NULL,
    chart_size       BIGINT NOT NULL,
    prov_digest      TEXT COLLATE "C",
    prov_size        BIGINT,
    metadata         TEXT NOT NULL,
    created          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (repository_id, tag),
    FOREIGN KEY (repository_id, tag) REFERENCES tags(repository_id, name) ON DELETE CASCADE
);

CREATE INDEX charts_by_namespace ON charts (namespace_id, name, version);

CREATE FUNCTION berth_charts_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE namespaces SET chart_generation = chart_generation + 1 WHERE id = OLD.namespace_id;
    ELSE
        UPDATE namespaces SET chart_generation = chart_generation + 1 WHERE id = NEW.namespace_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER charts_generation AFTER INSERT OR UPDATE OR DELETE ON charts
    FOR EACH ROW EXECUTE FUNCTION berth_charts_generation();

CREATE FUNCTION berth_tags_off_chart() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.digest <> NEW.digest THEN
        DELETE FROM charts WHERE repository_id = NEW.repository_id AND tag = NEW.name;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER tags_moved_off_chart AFTER UPDATE OF digest ON tags
    FOR EACH ROW EXECUTE FUNCTION berth_tags_off_chart();
