//! Namespaces, members and repositories on SQLite.

use async_trait::async_trait;
use berth_core::{Level, RepoName};

use super::{DIALECT, SqliteMetaStore, query_as};
use crate::rows::{
    Counted, MemberDbRow, NAMESPACE_COLUMNS, NamespaceDbRow, REPOSITORY_COLUMNS, REPOSITORY_FROM,
    RepositoryDbRow, json_listed, listed,
};
use crate::{
    Listed, MemberRow, MetaError, NamespaceQuery, NamespaceRow, NamespaceUpdate, NewNamespace,
    NewRepository, RepoId, RepositoryQuery, RepositoryRow, RepositoryStore, RepositoryUpdate,
    Result, is_unique_violation, listing, now_ms,
};

/// Binds: see [`bind_namespace`].
macro_rules! insert_namespace_sql {
    () => {
        "INSERT INTO namespaces (name, description, is_public, creator, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)"
    };
}

/// Into the namespace of the name; inserts nothing without it. Binds: see [`bind_repository`].
macro_rules! insert_repository_sql {
    () => {
        "INSERT INTO repositories
         (name, namespace_id, kind, category, description, is_public, creator, created_at,
          updated_at)
         SELECT ?, n.id, ?, ?, ?, ?, ?, ?, ? FROM namespaces n WHERE n.name = ?"
    };
}

type Query = sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_namespace(query: Query, ns: &NewNamespace, now: i64) -> Query {
    query
        .bind(ns.name.clone())
        .bind(ns.description.clone())
        .bind(ns.is_public)
        .bind(ns.creator.clone())
        .bind(now)
        .bind(now)
}

fn bind_repository(query: Query, r: &NewRepository, now: i64) -> Query {
    query
        .bind(r.name.as_str().to_owned())
        .bind(r.kind.as_str())
        .bind(r.category.clone())
        .bind(r.description.clone())
        .bind(r.is_public)
        .bind(r.creator.clone())
        .bind(now)
        .bind(now)
        .bind(r.name.namespace().to_owned())
}

impl SqliteMetaStore {
    async fn repository_by_name(&self, name: &str) -> Result<Option<RepositoryRow>> {
        let sql = format!("SELECT {REPOSITORY_COLUMNS} {REPOSITORY_FROM} WHERE r.name = ?");
        let row: Option<RepositoryDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.map(RepositoryRow::try_from).transpose()
    }
}

#[async_trait]
impl RepositoryStore for SqliteMetaStore {
    async fn create_namespace(&self, ns: &NewNamespace) -> Result<NamespaceRow> {
        let query = bind_namespace(sqlx::query(insert_namespace_sql!()), ns, now_ms());
        match query.execute(&self.writer).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(MetaError::AlreadyExists {
                    entity: "namespace",
                    name: ns.name.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.get_namespace(&ns.name)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("namespace {} vanished", ns.name)))
    }

    async fn get_namespace(&self, name: &str) -> Result<Option<NamespaceRow>> {
        let sql = format!("SELECT {NAMESPACE_COLUMNS} FROM namespaces n WHERE n.name = ?");
        let row: Option<NamespaceDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.map(NamespaceRow::try_from).transpose()
    }

    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Listed<NamespaceRow>> {
        let sql = listing::namespaces(DIALECT, query);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<NamespaceDbRow>> = query_as(sql).fetch_all(&self.reader).await?;
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
            "UPDATE namespaces SET description = coalesce(?, description),
                                   is_public = coalesce(?, is_public), updated_at = ?
             WHERE name = ?",
        )
        .bind(update.description.as_deref())
        .bind(update.is_public)
        .bind(now_ms())
        .bind(name)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_namespace(name).await
    }

    async fn delete_namespace(&self, name: &str, force: bool) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("BEGIN").execute(&mut *conn).await?;
                let repos: Option<i64> =
                    sqlx::query_scalar("SELECT num_repositories FROM namespaces WHERE name = ?")
                        .bind(&name)
                        .fetch_optional(&mut *conn)
                        .await?;
                let Some(repos) = repos else {
                    sqlx::query("COMMIT").execute(&mut *conn).await?;
                    return Ok(false);
                };
                if repos > 0 && !force {
                    return Err(MetaError::NamespaceNotEmpty(name));
                }
                // Repositories, manifests, tags and members go with it (ON DELETE CASCADE).
                sqlx::query("DELETE FROM namespaces WHERE name = ?")
                    .bind(&name)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn put_member(&self, namespace_id: i64, username: &str, level: Level) -> Result<()> {
        sqlx::query(
            "INSERT INTO namespace_members (namespace_id, username, level, created_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (namespace_id, username) DO UPDATE SET level = excluded.level",
        )
        .bind(namespace_id)
        .bind(username)
        .bind(level.as_i64())
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn delete_member(&self, namespace_id: i64, username: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM namespace_members WHERE namespace_id = ? AND username = ?")
                .bind(namespace_id)
                .bind(username)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_members(&self, namespace_id: i64) -> Result<Vec<MemberRow>> {
        let rows: Vec<MemberDbRow> = sqlx::query_as(
            "SELECT username, level, created_at FROM namespace_members
             WHERE namespace_id = ? ORDER BY username",
        )
        .bind(namespace_id)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(MemberRow::try_from).collect()
    }

    async fn member_level(&self, namespace_id: i64, username: &str) -> Result<Option<Level>> {
        let level: Option<i64> = sqlx::query_scalar(
            "SELECT level FROM namespace_members WHERE namespace_id = ? AND username = ?",
        )
        .bind(namespace_id)
        .bind(username)
        .fetch_optional(&self.reader)
        .await?;
        Ok(level.and_then(Level::from_i64))
    }

    async fn member_levels(&self, username: &str) -> Result<Vec<(i64, Level)>> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT namespace_id, level FROM namespace_members WHERE username = ?")
                .bind(username)
                .fetch_all(&self.reader)
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
             SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM repositories WHERE id = ?)
             ON CONFLICT (repository_id, username) DO UPDATE SET level = excluded.level",
        )
        .bind(repo.0)
        .bind(username)
        .bind(level.as_i64())
        .bind(now_ms())
        .bind(repo.0)
        .execute(&self.writer)
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
        let done =
            sqlx::query("DELETE FROM repository_members WHERE repository_id = ? AND username = ?")
                .bind(repo.0)
                .bind(username)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_repository_members(&self, repo: RepoId) -> Result<Vec<MemberRow>> {
        let rows: Vec<MemberDbRow> = sqlx::query_as(
            "SELECT username, level, created_at FROM repository_members
             WHERE repository_id = ? ORDER BY username",
        )
        .bind(repo.0)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(MemberRow::try_from).collect()
    }

    async fn repository_member_level(&self, repo: RepoId, username: &str) -> Result<Option<Level>> {
        let level: Option<i64> = sqlx::query_scalar(
            "SELECT level FROM repository_members WHERE repository_id = ? AND username = ?",
        )
        .bind(repo.0)
        .bind(username)
        .fetch_optional(&self.reader)
        .await?;
        Ok(level.and_then(Level::from_i64))
    }

    async fn create_repository(&self, r: &NewRepository) -> Result<RepositoryRow> {
        let query = bind_repository(sqlx::query(insert_repository_sql!()), r, now_ms());
        match query.execute(&self.writer).await {
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
        let now = now_ms();
        let namespace_query = namespace.map(|ns| {
            bind_namespace(
                sqlx::query(concat!(
                    insert_namespace_sql!(),
                    " ON CONFLICT (name) DO NOTHING"
                )),
                ns,
                now,
            )
        });
        let repository_query = bind_repository(
            sqlx::query(concat!(
                insert_repository_sql!(),
                " ON CONFLICT (name) DO NOTHING"
            )),
            r,
            now,
        );
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("BEGIN").execute(&mut *conn).await?;
                if let Some(q) = namespace_query {
                    q.execute(&mut *conn).await?;
                }
                repository_query.execute(&mut *conn).await?;
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(())
            })
        })
        .await?;
        self.get_repository(&r.name)
            .await?
            .ok_or_else(|| MetaError::NotFound {
                entity: "namespace",
                name: r.name.namespace().to_owned(),
            })
    }

    async fn get_repository(&self, name: &RepoName) -> Result<Option<RepositoryRow>> {
        self.repository_by_name(name.as_str()).await
    }

    async fn list_repositories(&self, query: &RepositoryQuery) -> Result<Listed<RepositoryRow>> {
        // One row: the page as JSON and the total (see listing::page_select).
        let (sql, count) = listing::repositories(DIALECT, query);
        let (rows, total): (String, Option<i64>) = query_as(sql).fetch_one(&self.reader).await?;
        let total = match total {
            Some(total) => total,
            None => self
                .fallback_total(true, query.page.offset, Some(count))
                .await?
                .unwrap_or(0),
        };
        json_listed::<RepositoryDbRow, _>(&rows, total)
    }

    async fn update_repository(
        &self,
        name: &RepoName,
        update: &RepositoryUpdate,
    ) -> Result<Option<RepositoryRow>> {
        let done = sqlx::query(
            "UPDATE repositories SET category = coalesce(?, category),
                                     description = coalesce(?, description),
                                     is_public = CASE WHEN ? THEN ? ELSE is_public END,
                                     updated_at = ?
             WHERE name = ?",
        )
        .bind(update.category.as_deref())
        .bind(update.description.as_deref())
        .bind(update.is_public.is_some())
        .bind(update.is_public.flatten())
        .bind(now_ms())
        .bind(name.as_str())
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_repository(name).await
    }

    async fn delete_repository(&self, name: &RepoName) -> Result<bool> {
        let done = sqlx::query("DELETE FROM repositories WHERE name = ?")
            .bind(name.as_str())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
