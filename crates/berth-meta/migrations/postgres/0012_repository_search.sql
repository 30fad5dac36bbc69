-- Repository search (`?search=`: a substring anywhere in the name) otherwise reads every
-- name of the index. A trigram index finds the names holding a term of three or more
-- characters directly (10 matches among 1,000 repositories: a third of the cost). It needs
-- pg_trgm, a contrib extension that PostgreSQL 13 and later let a database's owner create;
-- where it is missing or not allowed, search keeps scanning the names, and this migration
-- only says so.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX IF NOT EXISTS repositories_name_trgm ON repositories USING gin (name gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm is not available (%): repository search scans the names', SQLERRM;
END
$$;
