//! Helm repositories on SQLite (the queries: `helm_repos_sql`).

use super::{DIALECT, SqliteMetaStore};

crate::helm_repos_sql::helm_repo_store!(SqliteMetaStore, writer, reader, DIALECT);
