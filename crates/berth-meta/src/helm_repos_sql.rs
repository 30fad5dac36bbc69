//! [`HelmRepoStore`](crate::HelmRepoStore) for both dialects: the queries are plain and
//! the same but for placeholders and case-insensitive matching, so one macro writes the
//! implementation inside each dialect's module (where its pools are).

use crate::listing::Dialect;

/// `?` placeholders as the dialect writes them, and `LIKE` as PostgreSQL's `ILIKE`.
pub(crate) fn sql(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Sqlite => text.to_owned(),
        Dialect::Postgres => {
            let mut out = String::with_capacity(text.len() + 8);
            let mut n = 0;
            for c in text.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out.replace(" LIKE ", " ILIKE ")
        }
    }
}

pub(crate) const HELM_REPO_COLUMNS: &str = "id, name, namespace, url, kind, is_public, username, \
     password_sealed, sync_interval_secs, creator, owns_namespace, created_at, updated_at, \
     last_sync_at, sync_status, sync_error, chart_count, vanished_count, etag, failures, \
     next_sync_at";

#[derive(sqlx::FromRow)]
pub(crate) struct HelmRepoDbRow {
    id: String,
    name: String,
    namespace: String,
    url: String,
    kind: String,
    is_public: bool,
    username: Option<String>,
    password_sealed: Option<Vec<u8>>,
    sync_interval_secs: Option<i64>,
    creator: String,
    owns_namespace: bool,
    created_at: i64,
    updated_at: i64,
    last_sync_at: Option<i64>,
    sync_status: String,
    sync_error: Option<String>,
    chart_count: i64,
    vanished_count: i64,
    etag: Option<String>,
    failures: i64,
    next_sync_at: i64,
}

impl From<HelmRepoDbRow> for crate::HelmRepoRow {
    fn from(r: HelmRepoDbRow) -> Self {
        crate::HelmRepoRow {
            id: r.id,
            name: r.name,
            namespace: r.namespace,
            url: r.url,
            kind: r.kind,
            is_public: r.is_public,
            username: r.username,
            password_sealed: r.password_sealed,
            sync_interval_secs: r.sync_interval_secs,
            creator: r.creator,
            owns_namespace: r.owns_namespace,
            created_at: r.created_at,
            updated_at: r.updated_at,
            sync: crate::SyncState {
                last_sync_at: r.last_sync_at,
                status: r.sync_status,
                error: r.sync_error,
                charts: r.chart_count,
                vanished: r.vanished_count,
                etag: r.etag,
                failures: r.failures,
                next_sync_at: r.next_sync_at,
            },
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MirroredDbRow {
    pub(crate) chart: String,
    pub(crate) version: String,
    pub(crate) digest: String,
    pub(crate) vanished_at: Option<i64>,
}

/// Writes `impl HelmRepoStore for $store` with its `$writer` and `$reader` pools.
macro_rules! helm_repo_store {
    ($store:ty, $writer:ident, $reader:ident, $dialect:expr) => {
        #[async_trait::async_trait]
        impl $crate::HelmRepoStore for $store {
            async fn create_helm_repo(
                &self,
                r: &$crate::NewHelmRepo,
            ) -> $crate::Result<$crate::HelmRepoRow> {
                use $crate::helm_repos_sql::{HELM_REPO_COLUMNS, sql};
                let now = $crate::now_ms();
                let done = sqlx::query(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    &format!(
                        "INSERT INTO helm_repos ({HELM_REPO_COLUMNS}) VALUES \
                         (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'never', NULL, 0, 0, \
                         NULL, 0, ?)"
                    ),
                )))
                .bind(&r.id)
                .bind(&r.name)
                .bind(&r.namespace)
                .bind(&r.url)
                .bind(&r.kind)
                .bind(r.is_public)
                .bind(r.username.as_deref())
                .bind(r.password_sealed.as_deref())
                .bind(r.sync_interval_secs)
                .bind(&r.creator)
                .bind(r.owns_namespace)
                .bind(now)
                .bind(now)
                .bind(now)
                .execute(&self.$writer)
                .await;
                match done {
                    Ok(_) => {}
                    Err(e) if $crate::is_unique_violation(&e) => {
                        return Err($crate::MetaError::AlreadyExists {
                            entity: "helm repository",
                            name: r.name.clone(),
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
                self.get_helm_repo(&r.id).await?.ok_or_else(|| {
                    $crate::MetaError::Corrupt(format!("helm repository {} vanished", r.name))
                })
            }

            async fn get_helm_repo(
                &self,
                id_or_name: &str,
            ) -> $crate::Result<Option<$crate::HelmRepoRow>> {
                use $crate::helm_repos_sql::{HELM_REPO_COLUMNS, HelmRepoDbRow, sql};
                let row: Option<HelmRepoDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    &format!(
                        "SELECT {HELM_REPO_COLUMNS} FROM helm_repos WHERE id = ? OR name = ? \
                         ORDER BY id = ? DESC LIMIT 1"
                    ),
                )))
                .bind(id_or_name)
                .bind(id_or_name)
                .bind(id_or_name)
                .fetch_optional(&self.$reader)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn list_helm_repos(
                &self,
                q: &$crate::HelmRepoQuery,
            ) -> $crate::Result<$crate::Listed<$crate::HelmRepoRow>> {
                use $crate::helm_repos_sql::{HELM_REPO_COLUMNS, HelmRepoDbRow, sql};
                let mut filter = String::from(" WHERE TRUE");
                let mut args: Vec<String> = Vec::new();
                if let Some(kind) = &q.kind {
                    filter.push_str(" AND kind = ?");
                    args.push(kind.clone());
                }
                if let Some(term) = &q.search {
                    filter.push_str(" AND name LIKE ? ESCAPE '\\'");
                    let escaped = term
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    args.push(format!("%{escaped}%"));
                }
                if let Some(namespaces) = &q.visible_namespaces {
                    filter.push_str(" AND (is_public");
                    for ns in namespaces {
                        filter.push_str(" OR namespace = ?");
                        args.push(ns.clone());
                    }
                    filter.push(')');
                }
                let column = match q.order {
                    $crate::HelmRepoOrder::Name => "name",
                    $crate::HelmRepoOrder::Created => "created_at",
                    $crate::HelmRepoOrder::Updated => "updated_at",
                };
                let direction = match q.direction {
                    $crate::Direction::Asc => "ASC",
                    $crate::Direction::Desc => "DESC",
                };
                let count_sql = sql($dialect, &format!("SELECT COUNT(*) FROM helm_repos{filter}"));
                let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
                for a in &args {
                    count = count.bind(a.clone());
                }
                let total = count.fetch_one(&self.$reader).await?;
                let list_sql = sql(
                    $dialect,
                    &format!(
                        "SELECT {HELM_REPO_COLUMNS} FROM helm_repos{filter} \
                         ORDER BY {column} {direction}, id {direction} LIMIT ? OFFSET ?"
                    ),
                );
                let mut list = sqlx::query_as::<_, HelmRepoDbRow>(sqlx::AssertSqlSafe(list_sql));
                for a in &args {
                    list = list.bind(a.clone());
                }
                let rows = list
                    .bind(i64::from(q.page.limit))
                    .bind(i64::try_from(q.page.offset).unwrap_or(i64::MAX))
                    .fetch_all(&self.$reader)
                    .await?;
                Ok($crate::Listed {
                    items: rows.into_iter().map(Into::into).collect(),
                    total: total as u64,
                })
            }

            async fn update_helm_repo(
                &self,
                id: &str,
                u: &$crate::HelmRepoUpdate,
            ) -> $crate::Result<Option<$crate::HelmRepoRow>> {
                use $crate::helm_repos_sql::sql;
                let (set_credentials, username, password) = match &u.credentials {
                    None => (false, None, None),
                    Some(None) => (true, None, None),
                    Some(Some((user, sealed))) => (true, Some(user.clone()), Some(sealed.clone())),
                };
                let (set_interval, interval) = match u.sync_interval_secs {
                    None => (false, None),
                    Some(v) => (true, v),
                };
                let done = sqlx::query(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    "UPDATE helm_repos SET name = COALESCE(?, name), url = COALESCE(?, url), \
                     is_public = COALESCE(?, is_public), \
                     sync_interval_secs = CASE WHEN ? THEN ? ELSE sync_interval_secs END, \
                     username = CASE WHEN ? THEN ? ELSE username END, \
                     password_sealed = CASE WHEN ? THEN ? ELSE password_sealed END, \
                     etag = CASE WHEN ? IS NULL THEN etag ELSE NULL END, \
                     updated_at = ? WHERE id = ?",
                )))
                .bind(u.name.as_deref())
                .bind(u.url.as_deref())
                .bind(u.is_public)
                .bind(set_interval)
                .bind(interval)
                .bind(set_credentials)
                .bind(username)
                .bind(set_credentials)
                .bind(password)
                .bind(u.url.as_deref())
                .bind($crate::now_ms())
                .bind(id)
                .execute(&self.$writer)
                .await;
                match done {
                    Ok(done) if done.rows_affected() == 0 => Ok(None),
                    Ok(_) => self.get_helm_repo(id).await,
                    Err(e) if $crate::is_unique_violation(&e) => {
                        Err($crate::MetaError::AlreadyExists {
                            entity: "helm repository",
                            name: u.name.clone().unwrap_or_default(),
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            }

            async fn delete_helm_repo(&self, id: &str) -> $crate::Result<bool> {
                use $crate::helm_repos_sql::sql;
                sqlx::query(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    "DELETE FROM helm_repo_versions WHERE repo_id = ?",
                )))
                .bind(id)
                .execute(&self.$writer)
                .await?;
                let done = sqlx::query(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    "DELETE FROM helm_repos WHERE id = ?",
                )))
                .bind(id)
                .execute(&self.$writer)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn due_helm_repos(
                &self,
                now: i64,
                limit: u32,
            ) -> $crate::Result<Vec<$crate::HelmRepoRow>> {
                use $crate::helm_repos_sql::{HELM_REPO_COLUMNS, HelmRepoDbRow, sql};
                let rows: Vec<HelmRepoDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    &format!(
                        "SELECT {HELM_REPO_COLUMNS} FROM helm_repos \
                         WHERE url <> '' AND next_sync_at <= ? ORDER BY next_sync_at LIMIT ?"
                    ),
                )))
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.$reader)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn record_sync(&self, id: &str, s: &$crate::SyncState) -> $crate::Result<()> {
                use $crate::helm_repos_sql::sql;
                sqlx::query(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    "UPDATE helm_repos SET last_sync_at = ?, sync_status = ?, sync_error = ?, \
                     chart_count = ?, vanished_count = ?, etag = ?, failures = ?, \
                     next_sync_at = ? WHERE id = ?",
                )))
                .bind(s.last_sync_at)
                .bind(&s.status)
                .bind(s.error.as_deref())
                .bind(s.charts)
                .bind(s.vanished)
                .bind(s.etag.as_deref())
                .bind(s.failures)
                .bind(s.next_sync_at)
                .bind(id)
                .execute(&self.$writer)
                .await?;
                Ok(())
            }

            async fn mirrored_versions(
                &self,
                id: &str,
            ) -> $crate::Result<Vec<$crate::MirroredVersion>> {
                use $crate::helm_repos_sql::{MirroredDbRow, sql};
                let rows: Vec<MirroredDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    "SELECT chart, version, digest, vanished_at FROM helm_repo_versions \
                     WHERE repo_id = ? ORDER BY chart, version",
                )))
                .bind(id)
                .fetch_all(&self.$reader)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| $crate::MirroredVersion {
                        chart: r.chart,
                        version: r.version,
                        digest: r.digest,
                        vanished_at: r.vanished_at,
                    })
                    .collect())
            }

            async fn put_mirrored_version(
                &self,
                id: &str,
                v: &$crate::MirroredVersion,
            ) -> $crate::Result<()> {
                use $crate::helm_repos_sql::sql;
                sqlx::query(sqlx::AssertSqlSafe(sql(
                    $dialect,
                    "INSERT INTO helm_repo_versions (repo_id, chart, version, digest, vanished_at) \
                     VALUES (?, ?, ?, ?, NULL) ON CONFLICT (repo_id, chart, version) \
                     DO UPDATE SET digest = excluded.digest, vanished_at = NULL",
                )))
                .bind(id)
                .bind(&v.chart)
                .bind(&v.version)
                .bind(&v.digest)
                .execute(&self.$writer)
                .await?;
                Ok(())
            }

            async fn mark_vanished(
                &self,
                id: &str,
                versions: &[(String, String)],
                at: i64,
            ) -> $crate::Result<()> {
                use $crate::helm_repos_sql::sql;
                for (chart, version) in versions {
                    sqlx::query(sqlx::AssertSqlSafe(sql(
                        $dialect,
                        "UPDATE helm_repo_versions SET vanished_at = ? \
                         WHERE repo_id = ? AND chart = ? AND version = ? AND vanished_at IS NULL",
                    )))
                    .bind(at)
                    .bind(id)
                    .bind(chart)
                    .bind(version)
                    .execute(&self.$writer)
                    .await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use helm_repo_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            sql(Dialect::Sqlite, "a = ? AND b LIKE ?"),
            "a = ? AND b LIKE ?"
        );
        assert_eq!(
            sql(Dialect::Postgres, "a = ? AND b LIKE ?"),
            "a = $1 AND b ILIKE $2"
        );
    }
}
