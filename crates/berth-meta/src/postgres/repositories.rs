//! Namespaces, members and repositories on PostgreSQL.

use async_trait::async_trait;
use berth_core::{Level, RepoName};

use super::{DIALECT, PostgresMetaStore, query_as};
use crate::rows::{
    Counted, MemberDbRow, NAMESPACE_COLUMNS, NamespaceDbRow, REPOSITORY_COLUMNS, REPOSITORY_FROM,
    RepositoryDbRow, listed,
};
use crate::{
    Listed, MemberRow, MetaError, NamespaceQuery, NamespaceRow, NamespaceUpdate, NewNamespace,
    NewRepository, RepoId, RepositoryQuery, RepositoryRow, RepositoryStore, RepositoryUpdate,
    Result, is_unique_violation, listing, now_ms,
};

/// Binds: name, description, is_public, creator, now.
const INSERT_NAMESPACE_SQL: &str = "INSERT INTO namespaces
    (name, description, is_public, creator, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $5)";

/// Into the namespace `$9`; inserts nothing without it.
const INSERT_REPOSITORY_SQL: &str = "INSERT INTO repositories
    (name, namespace_id, kind, category, description, is_public, creator, created_at, updated_at)
    SELECT $1, n.id, $2, $3, $4, $5, $6, $7, $8 FROM namespaces n WHERE n.name = $9";

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_namespace<'q>(query: Query<'q>, ns: &'q NewNamespace, now: i64) -> Query<'q> {
    query
        .bind(&ns.name)
        .bind(&ns.description)
        .bind(ns.is_public)
        .bind(&ns.creator)
        .bind(now)
}

fn bind_repository<'q>(query: Query<'q>, r: &'q NewRepository, now: i64) -> Query<'q> {
    query
        .bind(r.name.as_str())
        .bind(r.kind.as_str())
        .bind(&r.category)
        .bind(&r.description)
        .bind(r.is_public)
        .bind(&r.creator)
        .bind(now)
        .bind(now)
        .bind(r.name.namespace())
}

#[async_trait]
impl RepositoryStore for PostgresMetaStore {
    async fn create_namespace(&self, ns: &NewNamespace) -> Result<NamespaceRow> {
        let sql = format!(
            "{INSERT_NAMESPACE_SQL} RETURNING {}",
            NAMESPACE_COLUMNS.replace("n.", "")
        );
        let inserted: std::result::Result<NamespaceDbRow, _> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&ns.name)
                .bind(&ns.description)
                .bind(ns.is_public)
                .bind(&ns.creator)
                .bind(now_ms())
                .fetch_one(&self.pool)
                .await;
        match inserted {
            Ok(row) => NamespaceRow::try_from(row),
            Err(e) if is_unique_violation(&e) => Err(MetaError::AlreadyExists {
                entity: "namespace",
                name: ns.name.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_namespace(&self, name: &str) -> Result<Option<NamespaceRow>> {
        let sql = format!("SELECT {NAMESPACE_COLUMNS} FROM namespaces n WHERE n.name = $1");
        let row: Option<NamespaceDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(NamespaceRow::try_from).transpose()
    }

    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Listed<NamespaceRow>> {
        let sql = listing::namespaces(DIALECT, query);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<NamespaceDbRow>> = query_as(sql).fetch_all(&self.pool).await?;
        let total = self
            .fallback_total(rows.is_empty(), query.page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn update_namespace(
        &self,
        name: &str,
        update: &NamespaceUpdate,
    ) -> Result<Option<NamespaceRow>> {
        let done = sqlx::query(
            "UPDATE namespaces SET description = coalesce($1, description),
                                   is_public = coalesce($2, is_public), updated_at = $3
             WHERE name = $4",
        )
        .bind(update.description.as_deref())
        .bind(update.is_public)
        .bind(now_ms())
        .bind(name)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_namespace(name).await
    }

    async fn delete_namespace(&self, name: &str, force: bool) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: a push creating a repository in it (which reads the namespace row with
        // a key-share lock through the foreign key) waits for us, then fails cleanly.
        let repos: Option<i64> = sqlx::query_scalar(
            "SELECT num_repositories FROM namespaces WHERE name = $1 FOR UPDATE",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(repos) = repos else {
            return Ok(false);
        };
        if repos > 0 && !force {
            return Err(MetaError::NamespaceNotEmpty(name.to_owned()));
        }
        sqlx::query("DELETE FROM namespaces WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn put_member(&self, namespace_id: i64, username: &str, level: Level) -> Result<()> {
        sqlx::query(
            "INSERT INTO namespace_members (namespace_id, username, level, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (namespace_id, username) DO UPDATE SET level = excluded.level",
        )
        .bind(namespace_id)
        .bind(username)
        .bind(level.as_i64())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_member(&self, namespace_id: i64, username: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM namespace_members WHERE namespace_id = $1 AND username = $2")
                .bind(namespace_id)
                .bind(username)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_members(&self, namespace_id: i64) -> Result<Vec<MemberRow>> {
        let rows: Vec<MemberDbRow> = sqlx::query_as(
            "SELECT username, level, created_at FROM namespace_members
             WHERE namespace_id = $1 ORDER BY username",
        )
        .bind(namespace_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MemberRow::try_from).collect()
    }

    async fn member_level(&self, namespace_id: i64, username: &str) -> Result<Option<Level>> {
        let level: Option<i64> = sqlx::query_scalar(
            "SELECT level FROM namespace_members WHERE namespace_id = $1 AND username = $2",
        )
        .bind(namespace_id)
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(level.and_then(Level::from_i64))
    }

    async fn member_levels(&self, username: &str) -> Result<Vec<(i64, Level)>> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT namespace_id, level FROM namespace_members WHERE username = $1")
                .bind(username)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(ns, level)| Some((ns, Level::from_i64(level)?)))
            .collect())
    }

    async fn put_repository_member(
        &self,
        repo: RepoId,
        username: &str,
        level: Level,
    ) -> Result<()> {
        let done = sqlx::query(
            "INSERT INTO repository_members (repository_id, username, level, created_at)
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM repositories WHERE id = $1)
             ON CONFLICT (repository_id, username) DO UPDATE SET level = excluded.level",
        )
        .bind(repo.0)
        .bind(username)
        .bind(level.as_i64())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(MetaError::NotFound {
                entity: "repository",
                name: format!("#{}", repo.0),
            });
        }
        Ok(())
    }

    async fn delete_repository_member(&self, repo: RepoId, username: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM repository_members WHERE repository_id = $1 AND username = $2",
        )
        .bind(repo.0)
        .bind(username)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_repository_members(&self, repo: RepoId) -> Result<Vec<MemberRow>> {
        let rows: Vec<MemberDbRow> = sqlx::query_as(
            "SELECT username, level, created_at FROM repository_members
             WHERE repository_id = $1 ORDER BY username",
        )
        .bind(repo.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(MemberRow::try_from).collect()
    }

    async fn repository_member_level(&self, repo: RepoId, username: &str) -> Result<Option<Level>> {
        let level: Option<i64> = sqlx::query_scalar(
            "SELECT level FROM repository_members WHERE repository_id = $1 AND username = $2",
        )
        .bind(repo.0)
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(level.and_then(Level::from_i64))
    }

    async fn create_repository(&self, r: &NewRepository) -> Result<RepositoryRow> {
        match bind_repository(sqlx::query(INSERT_REPOSITORY_SQL), r, now_ms())
            .execute(&self.pool)
            .await
        {
            Ok(done) if done.rows_affected() == 0 => {
                return Err(MetaError::NotFound {
                    entity: "namespace",
                    name: r.name.namespace().to_owned(),
                });
            }
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(MetaError::AlreadyExists {
                    entity: "repository",
                    name: r.name.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.get_repository(&r.name)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("repository {} vanished", r.name)))
    }

    async fn ensure_repository(
        &self,
        r: &NewRepository,
        namespace: Option<&NewNamespace>,
    ) -> Result<RepositoryRow> {
        if let Some(found) = self.get_repository(&r.name).await? {
            return Ok(found);
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        if let Some(ns) = namespace {
            // A racing creator makes this wait for its outcome, then do nothing.
            let sql = format!("{INSERT_NAMESPACE_SQL} ON CONFLICT (name) DO NOTHING");
            bind_namespace(sqlx::query(sqlx::AssertSqlSafe(sql)), ns, now)
                .execute(&mut *tx)
                .await?;
        }
        let sql = format!("{INSERT_REPOSITORY_SQL} ON CONFLICT (name) DO NOTHING");
        bind_repository(sqlx::query(sqlx::AssertSqlSafe(sql)), r, now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.get_repository(&r.name)
            .await?
            .ok_or_else(|| MetaError::NotFound {
                entity: "namespace",
                name: r.name.namespace().to_owned(),
            })
    }

    async fn get_repository(&self, name: &RepoName) -> Result<Option<RepositoryRow>> {
        let sql = format!("SELECT {REPOSITORY_COLUMNS} {REPOSITORY_FROM} WHERE r.name = $1");
        let row: Option<RepositoryDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(RepositoryRow::try_from).transpose()
    }

    async fn list_repositories(&self, query: &RepositoryQuery) -> Result<Listed<RepositoryRow>> {
        let (sql, count) = listing::repositories(DIALECT, query);
        let fallback = Some(count);
        let rows: Vec<Counted<RepositoryDbRow>> = query_as(sql).fetch_all(&self.pool).await?;
        let total = self
            .fallback_total(rows.is_empty(), query.page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn update_repository(
        &self,
        name: &RepoName,
        update: &RepositoryUpdate,
    ) -> Result<Option<RepositoryRow>> {
        let done = sqlx::query(
            "UPDATE repositories SET category = coalesce($1, category),
                                     description = coalesce($2, description),
                                     is_public = CASE WHEN $3 THEN $4 ELSE is_public END,
                                     updated_at = $5
             WHERE name = $6",
        )
        .bind(update.category.as_deref())
        .bind(update.description.as_deref())
        .bind(update.is_public.is_some())
        .bind(update.is_public.flatten())
        .bind(now_ms())
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_repository(name).await
    }

    async fn delete_repository(&self, name: &RepoName) -> Result<bool> {
        let done = sqlx::query("DELETE FROM repositories WHERE name = $1")
            .bind(name.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
