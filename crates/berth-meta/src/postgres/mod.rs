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

/// A pooled connection idle for longer than this is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

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
            // sqlx pings every connection it hands out by default: a round trip to the
            // server before each query, a third of what a short query costs both sides.
            // A connection that has just been used is alive as far as a ping can tell, so
            // only one that has idled in the pool is checked.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        // On failure the pool is dropped with the connection that may still hold the
        // migration lock (sqlx does not unlock on error), which releases it for the others.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        if let Err(e) = ensure_search_index(&pool).await {
            tracing::warn!(
                error = %e,
                "could not create the trigram index of repository search (it needs the \
                 pg_trgm extension): searches read every repository name"
            );
        }
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

/// Repository search (`?search=`: a substring anywhere in the name) otherwise reads every
/// name; a trigram index finds the names holding a term of three or more characters directly
/// (10 matches among 1,000 repositories: a third of the database's work). It needs pg_trgm,
/// a contrib extension that PostgreSQL lets a database's owner create and managed services
/// offer. Not a migration: where the extension is missing, the index appears at the first
/// start after it is installed. One transaction under an advisory lock, so replicas starting
/// together do not race, and a failure leaves nothing behind.
async fn ensure_search_index(pool: &PgPool) -> Result<()> {
    let present: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() \
         AND indexname = 'repositories_name_trgm'",
    )
    .fetch_optional(pool)
    .await?;
    if present.is_some() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    // A key of this job's own.
    sqlx::query("SELECT pg_advisory_xact_lock(7308604921451226477)")
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "CREATE INDEX IF NOT EXISTS repositories_name_trgm ON repositories \
         USING gin (name gin_trgm_ops) WITH (fastupdate = off)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
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

    /// Repository search has a trigram index where pg_trgm can be created, and still works,
    /// scanning, where it cannot (here: the role may not create extensions); the index
    /// appears at the first start that can create it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn search_with_and_without_trigram_index() {
        with_fresh_database("search_trigram_index", |url| async move {
            let has_index = |store: &PostgresMetaStore| {
                let pool = store.pool.clone();
                async move {
                    sqlx::query_scalar::<_, i64>(
                        "SELECT count(*) FROM pg_indexes WHERE indexname = 'repositories_name_trgm'",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap()
                        == 1
                }
            };
            let search = |store: std::sync::Arc<PostgresMetaStore>| async move {
                let meta = crate::Meta::new(store);
                crate::testsuite::search_repositories(&meta).await;
            };
            let store = PostgresMetaStore::connect(&url, 2).await.unwrap();
            sqlx::raw_sql(
                "DROP INDEX repositories_name_trgm; DROP EXTENSION pg_trgm; \
                 DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM CURRENT_USER', \
                 current_database()); END $$",
            )
            .execute(&store.pool)
            .await
            .unwrap();
            store.close().await;
            let store = std::sync::Arc::new(PostgresMetaStore::connect(&url, 2).await.unwrap());
            assert!(!has_index(&store).await);
            search(store.clone()).await;
            sqlx::raw_sql(
                "DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO CURRENT_USER', \
                 current_database()); END $$",
            )
            .execute(&store.pool)
            .await
            .unwrap();
            store.close().await;
            let store = std::sync::Arc::new(PostgresMetaStore::connect(&url, 2).await.unwrap());
            assert!(has_index(&store).await);
            search(store.clone()).await;
            store.close().await;
        })
        .await;
    }

    /// A connection PostgreSQL dropped (here: terminated, as at a server restart) fails the
    /// query that finds it out as "unavailable" (answered 503), and the pool replaces it:
    /// the next query works. Connections in steady use are not pinged first. (The timeout
    /// makes `pg_terminate_backend` wait until the backend is gone.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_connections_are_unavailable_once() {
        with_fresh_database("dropped_connections", |url| async move {
            use crate::RepositoryStore;
            let store = PostgresMetaStore::connect(&url, 1).await.unwrap();
            store.get_namespace("nobody").await.unwrap();
            let killer = PostgresMetaStore::connect(&url, 1).await.unwrap();
            let killed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
            )
            .fetch_one(&killer.pool)
            .await
            .unwrap();
            assert!(killed >= 1, "the store's connection was terminated");
            let err = store.get_namespace("nobody").await.unwrap_err();
            assert!(err.is_unavailable(), "{err:?}");
            assert!(store.get_namespace("nobody").await.unwrap().is_none());
            killer.close().await;
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
