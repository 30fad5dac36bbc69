//! Helm repositories on PostgreSQL (the queries: `helm_repos_sql`).

use super::{DIALECT, PostgresMetaStore};

crate::helm_repos_sql::helm_repo_store!(PostgresMetaStore, pool, pool, DIALECT);
