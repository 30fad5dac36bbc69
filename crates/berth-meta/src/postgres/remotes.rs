//! External repositories and proxies on PostgreSQL.

use async_trait::async_trait;

use super::{DIALECT, PostgresMetaStore, query_as};
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
impl RemoteStore for PostgresMetaStore {
    async fn create_remote(&self, r: &NewRemote) -> Result<RemoteRow> {
        let now = now_ms();
        // The namespace row is read with a key-share lock through the foreign key, so a
        // namespace being deleted meanwhile makes this fail (foreign key) rather than leave
        // an orphan.
        let id: std::result::Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO remotes (namespace_id, name, registry, username, password_sealed,
                                  creator, created_at, updated_at)
             SELECT n.id, $1, $2, $3, $4, $5, $6, $6
             FROM (SELECT 1) AS one LEFT JOIN namespaces n ON n.name = $7
             WHERE $7::text IS NULL OR n.id IS NOT NULL
             RETURNING id",
        )
        .bind(&r.name)
        .bind(&r.registry)
        .bind(r.username.as_deref())
        .bind(r.password_sealed.as_deref())
        .bind(&r.creator)
        .bind(now)
        .bind(r.namespace.as_deref())
        .fetch_optional(&self.pool)
        .await;
        let id = match id {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Err(missing(
                    "namespace",
                    r.namespace.clone().unwrap_or_default(),
                ));
            }
            Err(e) if is_unique_violation(&e) => return Err(taken("remote", &r.name)),
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(missing(
                    "namespace",
                    r.namespace.clone().unwrap_or_default(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.get_remote_by_id(id)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("remote {} vanished", r.name)))
    }

    async fn get_remote(&self, scope: &RemoteScope, name: &str) -> Result<Option<RemoteRow>> {
        let row: Option<RemoteDbRow> = query_as(listing::remote(DIALECT, scope, name))
            .fetch_optional(&self.pool)
            .await?;
        row.map(RemoteRow::try_from).transpose()
    }

    async fn get_remote_by_id(&self, id: i64) -> Result<Option<RemoteRow>> {
        let sql = format!("SELECT {REMOTE_COLUMNS} {REMOTE_FROM} WHERE m.id = $1");
        let row: Option<RemoteDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(RemoteRow::try_from).transpose()
    }

    async fn list_remotes(&self, query: &RemoteQuery) -> Result<Listed<RemoteRow>> {
        let sql = listing::remotes(DIALECT, query);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<RemoteDbRow>> = query_as(sql).fetch_all(&self.pool).await?;
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
            "UPDATE remotes SET username = $1, password_sealed = $2, updated_at = $3
             WHERE id = $4",
        )
        .bind(username)
        .bind(password_sealed)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_remote_by_id(id).await
    }

    async fn delete_remote(&self, id: i64, force: bool) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: a proxy being created with this entry holds a key-share lock on the
        // row (its foreign key) until it commits; we wait for it, and see it below. A proxy
        // created after this lock waits for us, and then fails on its foreign key.
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM remotes WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(name) = name else {
            return Ok(false);
        };
        let in_use: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM proxies WHERE remote_id = $1)")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if in_use && !force {
            return Err(MetaError::InUse {
                entity: "remote",
                name,
            });
        }
        // Proxies that used it go anonymous (ON DELETE SET NULL).
        sqlx::query("DELETE FROM remotes WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_proxy(&self, p: &NewProxy) -> Result<ProxyRow> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO proxies (prefix, upstream_url, upstream_host, remote_id, mode, ttl_secs,
                                  creator, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&p.prefix)
        .bind(&p.upstream_url)
        .bind(&p.upstream_host)
        .bind(p.remote_id)
        .bind(p.mode.as_str())
        .bind(i64::try_from(p.ttl_secs).unwrap_or(i64::MAX))
        .bind(&p.creator)
        .bind(now)
        .execute(&self.pool)
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
        let sql = format!("SELECT {PROXY_COLUMNS} FROM proxies x WHERE x.prefix = $1");
        let row: Option<ProxyDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ProxyRow::try_from).transpose()
    }

    async fn find_proxy(&self, name: &str) -> Result<Option<ProxyRow>> {
        let sql = format!(
            "SELECT {PROXY_COLUMNS} FROM proxies x
             WHERE x.prefix = $1 OR substr($1, 1, length(x.prefix) + 1) = x.prefix || '/'
             ORDER BY length(x.prefix) DESC LIMIT 1"
        );
        let row: Option<ProxyDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ProxyRow::try_from).transpose()
    }

    async fn proxies_for_host(&self, host: &str) -> Result<Vec<ProxyRow>> {
        let sql = format!(
            "SELECT {PROXY_COLUMNS} FROM proxies x WHERE x.upstream_host = $1 ORDER BY x.prefix"
        );
        let rows: Vec<ProxyDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(host)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(ProxyRow::try_from).collect()
    }

    async fn list_proxies(&self, page: Page) -> Result<Listed<ProxyRow>> {
        let sql = listing::proxies(DIALECT, &page);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<ProxyDbRow>> = query_as(sql).fetch_all(&self.pool).await?;
        let total = self
            .fallback_total(rows.is_empty(), page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn update_proxy(&self, prefix: &str, u: &ProxyUpdate) -> Result<Option<ProxyRow>> {
        let done = sqlx::query(
            "UPDATE proxies SET upstream_url = coalesce($1, upstream_url),
                                upstream_host = coalesce($2, upstream_host),
                                remote_id = CASE WHEN $3 THEN $4 ELSE remote_id END,
                                mode = coalesce($5, mode), ttl_secs = coalesce($6, ttl_secs),
                                updated_at = $7
             WHERE prefix = $8",
        )
        .bind(u.upstream_url.as_deref())
        .bind(u.upstream_host.as_deref())
        .bind(u.remote_id.is_some())
        .bind(u.remote_id.flatten())
        .bind(u.mode.map(|m| m.as_str()))
        .bind(u.ttl_secs.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
        .bind(now_ms())
        .bind(prefix)
        .execute(&self.pool)
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
        let done = sqlx::query("DELETE FROM proxies WHERE prefix = $1")
            .bind(prefix)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
