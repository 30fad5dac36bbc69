//! The scale-out metadata store: PostgreSQL, shared by every berth replica. Unlike SQLite
//! there is no single writer to serialise us, so every read-check-write below either runs in
//! one statement (compare-and-set, `ON CONFLICT`) or locks the rows it checked until commit.
//! All statements run at READ COMMITTED, where each statement sees the latest committed state
//! and a blocked `UPDATE`/`ON CONFLICT` re-checks its condition against the row it waited for.
//!
//! The counters' triggers update the repository row, so every transaction that may fire
//! them locks that row first ([`lock_repository`]): two writers of one repository then queue
//! on it instead of locking blob and tag rows in different orders and deadlocking.

mod artifacts;
mod charts;
mod helm_repos;
mod remotes;
mod repositories;
mod uploads;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};

use crate::listing::{Arg, Dialect, Sql};
use crate::{LeaseStore, MetaBackend, MetaError, RepoId, Result};

pub(crate) const DIALECT: Dialect = Dialect::Postgres;

pub struct PostgresMetaStore {
    pool: PgPool,
}

impl PostgresMetaStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=...`) and
    /// brings the schema up to date. Replicas may start together: sqlx holds a
    /// `pg_advisory_lock` on the database while it migrates, so exactly one applies each
    /// migration and the others wait for it.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PostgresMetaStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("berth");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        // On failure the pool is dropped with the connection that may still hold the
        // migration lock (sqlx does not unlock on error), which releases it for the others.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresMetaStore { pool })
    }

    /// Closes every connection; for tests and orderly shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The total of a listing whose page came back empty past its start.
    async fn fallback_total(
        &self,
        empty: bool,
        offset: u64,
        count: Option<Sql>,
    ) -> Result<Option<i64>> {
        match count {
            Some(count) if empty && offset > 0 => {
                let (n,): (i64,) = query_as(count).fetch_one(&self.pool).await?;
                Ok(Some(n))
            }
            _ => Ok(None),
        }
    }
}

type PgQueryAs<'q, T> = sqlx::query::QueryAs<'q, Postgres, T, PgArguments>;

/// A listing query with its arguments bound.
fn query_as<T>(sql: Sql) -> PgQueryAs<'static, T>
where
    T: for<'r> sqlx::FromRow<'r, PgRow>,
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

/// Locks the repository's row until commit (see the module comment); a repository that is
/// gone (deleted meanwhile) is [`MetaError::NotFound`].
async fn lock_repository(tx: &mut Transaction<'_, Postgres>, repo: RepoId) -> Result<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM repositories WHERE id = $1 FOR NO KEY UPDATE")
            .bind(repo.0)
            .fetch_optional(&mut **tx)
            .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(MetaError::NotFound {
            entity: "repository",
            name: format!("#{}", repo.0),
        }),
    }
}

#[async_trait]
impl LeaseStore for PostgresMetaStore {
    async fn try_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<bool> {
        // Expiry is measured on the database's clock, the one clock all replicas share.
        // `excluded.locked_until - $3` is that clock's now. When several replicas race, the
        // losers' ON CONFLICT waits for the winner's row and re-checks the WHERE against it,
        // so exactly one of them updates a row.
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let done = sqlx::query(
            "INSERT INTO job_leases (name, holder, locked_until)
             VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                                              locked_until = excluded.locked_until
             WHERE job_leases.locked_until < excluded.locked_until - $3
                OR job_leases.holder = excluded.holder",
        )
        .bind(job)
        .bind(holder)
        .bind(ttl_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

impl MetaBackend for PostgresMetaStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }
}

#[cfg(test)]
mod tests {
    //! These need a server: `TEST_DATABASE_URL` names a database the role may connect to
    //! (and the role needs CREATEDB). Each test creates `berth_test_<random>` next to it and
    //! drops it afterwards. `.ci/postgres.sh` provides all of that.

    use super::PostgresMetaStore;
    use crate::testing::with_fresh_database;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_suites() {
        with_fresh_database("shared_suites", |url| async move {
            let store = std::sync::Arc::new(PostgresMetaStore::connect(&url, 10).await.unwrap());
            crate::testsuite::run(&store).await;
            store.close().await;
        })
        .await;
    }

    /// Four replicas start against one new database at once and then race each other, each
    /// through its own pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_share_one_database() {
        with_fresh_database("replicas_share_one_database", |url| async move {
            // Migrations race; the advisory lock lets exactly one apply them.
            let mut starting = tokio::task::JoinSet::new();
            for _ in 0..4 {
                let url = url.clone();
                starting.spawn(async move { PostgresMetaStore::connect(&url, 4).await });
            }
            let replicas: Vec<std::sync::Arc<PostgresMetaStore>> = starting
                .join_all()
                .await
                .into_iter()
                .map(|r| std::sync::Arc::new(r.expect("replica start-up")))
                .collect();
            crate::testsuite::replicas(&replicas).await;
            for r in &replicas {
                r.close().await;
            }
        })
        .await;
    }
}
