//! The embedded metadata store: one SQLite file in WAL mode. Writes go through a single
//! connection (SQLite has one writer anyway, and this way no transaction ever waits on a
//! lock upgrade); reads use a small pool of their own.
//!
//! sqlx hands each query to SQLite's worker thread and back; under load those thread hops,
//! not SQLite, are the cost of a write. So a hot write is one query holding several
//! statements, `BEGIN` and `COMMIT` included, run by [`SqliteMetaStore::write`]. A batch uses
//! positional `?` only, bound in order across its statements (sqlx binds numbered parameters
//! that a statement skips as positional ones).

mod artifacts;
mod charts;
mod helm_repos;
mod remotes;
mod repositories;
mod uploads;
mod users;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection};

use crate::listing::{Arg, Dialect, Sql};
use crate::{LeaseStore, MetaBackend, MetaError, Result, now_ms};

pub(crate) const DIALECT: Dialect = Dialect::Sqlite;

pub struct SqliteMetaStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteMetaStore {
    /// Opens (creating and migrating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<SqliteMetaStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a crash of berth loses nothing committed; a power loss
            // may roll back the last transactions but never corrupts the database.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-4096");
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<SqliteMetaStore> {
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Ok(SqliteMetaStore { writer, reader })
    }

    /// Runs `work` on the writer connection to the end, even if the caller goes away (a
    /// half-run batch would leave its transaction open), and rolls back if it fails.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let pool = self.writer.clone();
        tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let result = work(&mut conn).await;
            if result.is_err() {
                // Harmless when no transaction is open ("no transaction is active").
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            }
            result
        })
        .await
        .map_err(|e| MetaError::Corrupt(format!("database write task failed: {e}")))?
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;
type SqliteQueryAs<'q, T> = sqlx::query::QueryAs<'q, Sqlite, T, SqliteArguments>;

/// A listing query with its arguments bound.
fn query_as<T>(sql: Sql) -> SqliteQueryAs<'static, T>
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow>,
{
    let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql.text));
    for arg in sql.args {
        query = match arg {
            Arg::Text(s) => query.bind(s),
            Arg::Int(n) => query.bind(n),
        };
    }
    query
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("strings and numbers serialize")
}

/// Long listings come back as one newline-joined value: sqlx hands SQLite rows over one by
/// one, which costs more than the query itself for thousands of names.
fn split_lines(joined: Option<String>) -> Vec<String> {
    crate::rows::split_lines(joined)
}

#[async_trait]
impl LeaseStore for SqliteMetaStore {
    async fn try_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO job_leases (name, holder, locked_until) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                                              locked_until = excluded.locked_until
             WHERE job_leases.locked_until < ? OR job_leases.holder = excluded.holder",
        )
        .bind(job)
        .bind(holder)
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}

impl MetaBackend for SqliteMetaStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn shared_suites_on_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            super::SqliteMetaStore::open(&dir.path().join("meta.db"))
                .await
                .unwrap(),
        );
        crate::testsuite::run(&store).await;
    }
}
