//! External repositories and proxies on SQLite.

use async_trait::async_trait;

use super::{DIALECT, SqliteMetaStore, query_as};
use crate::rows::{
    Counted, PROXY_COLUMNS, ProxyDbRow, REMOTE_COLUMNS, REMOTE_FROM, RemoteDbRow, listed,
};
use crate::{
    Listed, MetaError, NewProxy, NewRemote, Page, ProxyRow, ProxyUpdate, RemoteQuery, RemoteRow,
    RemoteScope, RemoteStore, Result, is_unique_violation, listing, now_ms,
};

fn taken(entity: &'static str, name: &str) -> MetaError {
    MetaError::AlreadyExists {
        entity,
        name: name.to_owned(),
    }
}

fn missing(entity: &'static str, name: impl Into<String>) -> MetaError {
    MetaError::NotFound {
        entity,
        name: name.into(),
    }
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

#[async_trait]
impl RemoteStore for SqliteMetaStore {
    async fn create_remote(&self, r: &NewRemote) -> Result<RemoteRow> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO remotes (namespace_id, name, registry, username, password_sealed,
                                  creator, created_at, updated_at)
             SELECT n.id, ?, ?, ?, ?, ?, ?, ?
             FROM (SELECT 1) AS one LEFT JOIN namespaces n ON n.name = ?
             WHERE ? IS NULL OR n.id IS NOT NULL",
        )
        .bind(&r.name)
        .bind(&r.registry)
        .bind(r.username.as_deref())
        .bind(r.password_sealed.as_deref())
        .bind(&r.creator)
        .bind(now)
        .bind(now)
        .bind(r.namespace.as_deref())
        .bind(r.namespace.as_deref())
        .execute(&self.writer)
        .await;
        let id = match done {
            Ok(done) if done.rows_affected() == 0 => {
                return Err(missing(
                    "namespace",
                    r.namespace.clone().unwrap_or_default(),
                ));
            }
            Ok(done) => done.last_insert_rowid(),
            Err(e) if is_unique_violation(&e) => return Err(taken("remote", &r.name)),
            Err(e) => return Err(e.into()),
        };
        self.get_remote_by_id(id)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("remote {} vanished", r.name)))
    }

    async fn get_remote(&self, scope: &RemoteScope, name: &str) -> Result<Option<RemoteRow>> {
        let row: Option<RemoteDbRow> = query_as(listing::remote(DIALECT, scope, name))
            .fetch_optional(&self.reader)
            .await?;
        row.map(RemoteRow::try_from).transpose()
    }

    async fn get_remote_by_id(&self, id: i64) -> Result<Option<RemoteRow>> {
        let sql = format!("SELECT {REMOTE_COLUMNS} {REMOTE_FROM} WHERE m.id = ?");
        let row: Option<RemoteDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(RemoteRow::try_from).transpose()
    }

    async fn list_remotes(&self, query: &RemoteQuery) -> Result<Listed<RemoteRow>> {
        let sql = listing::remotes(DIALECT, query);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<RemoteDbRow>> = query_as(sql).fetch_all(&self.reader).await?;
        let total = self
            .fallback_total(rows.is_empty(), query.page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn update_remote_credentials(
        &self,
        id: i64,
        username: Option<&str>,
        password_sealed: Option<&[u8]>,
    ) -> Result<Option<RemoteRow>> {
        let done = sqlx::query(
            "UPDATE remotes SET username = ?, password_sealed = ?, updated_at = ? WHERE id = ?",
        )
        .bind(username)
        .bind(password_sealed)
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_remote_by_id(id).await
    }

    async fn delete_remote(&self, id: i64, force: bool) -> Result<bool> {
        // One writer: nothing can refer to the entry between the check and the delete.
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("BEGIN").execute(&mut *conn).await?;
                let found: Option<(String, bool)> = sqlx::query_as(
                    "SELECT m.name, EXISTS (SELECT 1 FROM proxies p WHERE p.remote_id = m.id)
                     FROM remotes m WHERE m.id = ?",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some((name, in_use)) = found else {
                    sqlx::query("COMMIT").execute(&mut *conn).await?;
                    return Ok(false);
                };
                if in_use && !force {
                    return Err(MetaError::InUse {
                        entity: "remote",
                        name,
                    });
                }
                // Proxies that used it go anonymous (ON DELETE SET NULL).
                sqlx::query("DELETE FROM remotes WHERE id = ?")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn create_proxy(&self, p: &NewProxy) -> Result<ProxyRow> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO proxies (prefix, upstream_url, upstream_host, remote_id, mode, ttl_secs,
                                  creator, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.prefix)
        .bind(&p.upstream_url)
        .bind(&p.upstream_host)
        .bind(p.remote_id)
        .bind(p.mode.as_str())
        .bind(i64::try_from(p.ttl_secs).unwrap_or(i64::MAX))
        .bind(&p.creator)
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await;
        match done {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(taken("proxy", &p.prefix)),
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(missing("remote", format!("#{}", p.remote_id.unwrap_or(0))));
            }
            Err(e) => return Err(e.into()),
        }
        self.get_proxy(&p.prefix)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("proxy {} vanished", p.prefix)))
    }

    async fn get_proxy(&self, prefix: &str) -> Result<Option<ProxyRow>> {
        let sql = format!("SELECT {PROXY_COLUMNS} FROM proxies x WHERE x.prefix = ?");
        let row: Option<ProxyDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(prefix)
            .fetch_optional(&self.reader)
            .await?;
        row.map(ProxyRow::try_from).transpose()
    }

    async fn find_proxy(&self, name: &str) -> Result<Option<ProxyRow>> {
        let sql = format!(
            "SELECT {PROXY_COLUMNS} FROM proxies x
             WHERE x.prefix = ? OR substr(?, 1, length(x.prefix) + 1) = x.prefix || '/'
             ORDER BY length(x.prefix) DESC LIMIT 1"
        );
        let row: Option<ProxyDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.map(ProxyRow::try_from).transpose()
    }

    async fn proxies_for_host(&self, host: &str) -> Result<Vec<ProxyRow>> {
        let sql = format!(
            "SELECT {PROXY_COLUMNS} FROM proxies x WHERE x.upstream_host = ? ORDER BY x.prefix"
        );
        let rows: Vec<ProxyDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(host)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(ProxyRow::try_from).collect()
    }

    async fn list_proxies(&self, page: Page) -> Result<Listed<ProxyRow>> {
        let sql = listing::proxies(DIALECT, &page);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<ProxyDbRow>> = query_as(sql).fetch_all(&self.reader).await?;
        let total = self
            .fallback_total(rows.is_empty(), page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn update_proxy(&self, prefix: &str, u: &ProxyUpdate) -> Result<Option<ProxyRow>> {
        let done = sqlx::query(
            "UPDATE proxies SET upstream_url = coalesce(?, upstream_url),
                                upstream_host = coalesce(?, upstream_host),
                                remote_id = CASE WHEN ? THEN ? ELSE remote_id END,
                                mode = coalesce(?, mode), ttl_secs = coalesce(?, ttl_secs),
                                updated_at = ?
             WHERE prefix = ?",
        )
        .bind(u.upstream_url.as_deref())
        .bind(u.upstream_host.as_deref())
        .bind(u.remote_id.is_some())
        .bind(u.remote_id.flatten())
        .bind(u.mode.map(|m| m.as_str()))
        .bind(u.ttl_secs.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
        .bind(now_ms())
        .bind(prefix)
        .execute(&self.writer)
        .await;
        match done {
            Ok(done) if done.rows_affected() == 0 => return Ok(None),
            Ok(_) => {}
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(missing(
                    "remote",
                    format!("#{}", u.remote_id.flatten().unwrap_or(0)),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.get_proxy(prefix).await
    }

    async fn delete_proxy(&self, prefix: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM proxies WHERE prefix = ?")
            .bind(prefix)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
