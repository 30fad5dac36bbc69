-- PostgreSQL's 0009 adds a covering index (name, id) for the repository listings. SQLite's
-- index on the unique name holds the rowid (the id) already, so there is nothing to add;
-- this file keeps the two dialects' migration numbers in step.
SELECT 1;
