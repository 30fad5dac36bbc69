-- The repository listings find their page on the ids alone, in name order (the default):
-- an index-only scan of this covers it, and a search's filter on the name too, without
-- reading the table. The table itself is rewritten on every push (its counters), so its
-- pages are many and mostly free space; a sequential scan of it costs far more than the
-- index.
CREATE INDEX repositories_by_name_with_id ON repositories (name) INCLUDE (id);
