-- A bounded log of which charts changed at which generation of their namespace, written by
-- the trigger (so the transaction) that bumps the generation. See
-- migrations/sqlite/0011_chart_changes.sql. The UPDATE of the namespace row holds its lock
-- to the commit, so generations commit in order: whoever sees generation g sees every log
-- row up to g. The trigger also records when the namespace's charts last changed (ms since
-- the epoch), the index's `generated`.

ALTER TABLE namespaces ADD COLUMN chart_changed_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE chart_changes (
    namespace_id  BIGINT NOT NULL,
    generation    BIGINT NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (namespace_id, generation, name)
);

CREATE OR REPLACE FUNCTION berth_charts_generation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ns BIGINT;
    g BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        ns := OLD.namespace_id;
    ELSE
        ns := NEW.namespace_id;
    END IF;
    UPDATE namespaces SET chart_generation = chart_generation + 1,
            chart_changed_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
        WHERE id = ns
        RETURNING chart_generation INTO g;
    IF FOUND THEN
        IF TG_OP <> 'INSERT' THEN
            INSERT INTO chart_changes (namespace_id, generation, name)
                VALUES (ns, g, OLD.name) ON CONFLICT DO NOTHING;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO chart_changes (namespace_id, generation, name)
                VALUES (ns, g, NEW.name) ON CONFLICT DO NOTHING;
        END IF;
        DELETE FROM chart_changes WHERE namespace_id = ns AND generation <= g - 1000;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION berth_namespaces_chart_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chart_changes WHERE namespace_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER namespaces_removed_chart_changes AFTER DELETE ON namespaces
    FOR EACH ROW EXECUTE FUNCTION berth_namespaces_chart_changes();
