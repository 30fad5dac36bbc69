-- A bounded log of which charts changed at which generation of their namespace, written by
-- the same triggers (so the same transaction) that bump the generation. A replica whose
-- cached index is at generation g reads the chart names logged in (g, current] and re-reads
-- only those charts. Every bump logs at least one row, so a gap in the generations means the
-- log no longer reaches back that far (pruned, or older than this migration) and the replica
-- reads everything instead. Kept: the last 1000 generations of each namespace. The triggers
-- also record when the namespace's charts last changed (ms since the epoch), the index's
-- `generated`: the same on every replica, and later after a delete too. Mirrors
-- migrations/postgres/0011_chart_changes.sql.

ALTER TABLE namespaces ADD COLUMN chart_changed_at INTEGER NOT NULL DEFAULT 0;

CREATE TABLE chart_changes (
    namespace_id  INTEGER NOT NULL,
    generation    INTEGER NOT NULL,
    name          TEXT NOT NULL,
    PRIMARY KEY (namespace_id, generation, name)
) STRICT, WITHOUT ROWID;

DROP TRIGGER charts_added;
DROP TRIGGER charts_changed;
DROP TRIGGER charts_removed;

CREATE TRIGGER charts_added AFTER INSERT ON charts BEGIN
    UPDATE namespaces SET chart_generation = chart_generation + 1,
        chart_changed_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.namespace_id;
    INSERT INTO chart_changes (namespace_id, generation, name)
        SELECT id, chart_generation, NEW.name FROM namespaces WHERE id = NEW.namespace_id;
    DELETE FROM chart_changes WHERE namespace_id = NEW.namespace_id AND generation <=
        (SELECT chart_generation FROM namespaces WHERE id = NEW.namespace_id) - 1000;
END;

CREATE TRIGGER charts_changed AFTER UPDATE ON charts BEGIN
    UPDATE namespaces SET chart_generation = chart_generation + 1,
        chart_changed_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = NEW.namespace_id;
    INSERT INTO chart_changes (namespace_id, generation, name)
        SELECT id, chart_generation, NEW.name FROM namespaces WHERE id = NEW.namespace_id
        UNION
        SELECT id, chart_generation, OLD.name FROM namespaces WHERE id = NEW.namespace_id;
    DELETE FROM chart_changes WHERE namespace_id = NEW.namespace_id AND generation <=
        (SELECT chart_generation FROM namespaces WHERE id = NEW.namespace_id) - 1000;
END;

CREATE TRIGGER charts_removed AFTER DELETE ON charts BEGIN
    UPDATE namespaces SET chart_generation = chart_generation + 1,
        chart_changed_at = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) WHERE id = OLD.namespace_id;
    INSERT INTO chart_changes (namespace_id, generation, name)
        SELECT id, chart_generation, OLD.name FROM namespaces WHERE id = OLD.namespace_id;
    DELETE FROM chart_changes WHERE namespace_id = OLD.namespace_id AND generation <=
        (SELECT chart_generation FROM namespaces WHERE id = OLD.namespace_id) - 1000;
END;

CREATE TRIGGER namespaces_removed_chart_changes AFTER DELETE ON namespaces BEGIN
    DELETE FROM chart_changes WHERE namespace_id = OLD.id;
END;
