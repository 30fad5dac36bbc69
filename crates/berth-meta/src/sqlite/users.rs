//! Users, credentials, settings and the audit log on SQLite.

use async_trait::async_trait;

use super::{DIALECT, SqliteMetaStore, query_as};
use crate::rows::{
    AuditDbRow, CREDENTIAL_COLUMNS, CREDENTIAL_FROM, Counted, CredentialDbRow, USER_COLUMNS,
    UserDbRow, listed,
};
use crate::{
    AuditEntry, AuditQuery, AuditRow, AuditStore, CredentialChanges, CredentialRow, Listed,
    MetaError, NewCredential, NewUser, Page, Result, UserKind, UserRow, UserStore, UserUpdate,
    is_unique_violation, listing, now_ms,
};

#[async_trait]
impl UserStore for SqliteMetaStore {
    async fn create_user(&self, user: &NewUser) -> Result<UserRow> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO users (name, password_hash, admin, kind, robot_namespace, robot_level,
                                expires_at, credentials_changed_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.name)
        .bind(user.password_hash.as_deref())
        .bind(user.admin)
        .bind(user.kind.as_str())
        .bind(user.robot.as_ref().map(|(ns, _)| ns.as_str()))
        .bind(user.robot.as_ref().map(|(_, l)| l.as_i64()))
        .bind(user.expires_at)
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&self.writer)
        .await;
        match done {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(MetaError::AlreadyExists {
                    entity: "user",
                    name: user.name.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.get_user(&user.name)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("user {} vanished", user.name)))
    }

    async fn get_user(&self, name: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.name = ?");
        let row: Option<UserDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        row.map(UserRow::try_from).transpose()
    }

    async fn list_users(&self, kind: Option<UserKind>, page: Page) -> Result<Listed<UserRow>> {
        let sql = listing::users(DIALECT, kind, &page);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<UserDbRow>> = query_as(sql).fetch_all(&self.reader).await?;
        let total = self
            .fallback_total(rows.is_empty(), page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn update_user(&self, name: &str, u: &UserUpdate) -> Result<Option<UserRow>> {
        let now = now_ms();
        // Taking administration away ends logins too (granting it need not).
        let ends_logins =
            u.password_hash.is_some() || u.disabled == Some(true) || u.admin == Some(false);
        let done = sqlx::query(
            "UPDATE users SET password_hash = coalesce(?, password_hash),
                              admin = coalesce(?, admin), disabled = coalesce(?, disabled),
                              credentials_changed_at = CASE WHEN ? THEN ? ELSE credentials_changed_at END,
                              updated_at = ?
             WHERE name = ?",
        )
        .bind(u.password_hash.as_deref())
        .bind(u.admin)
        .bind(u.disabled)
        .bind(ends_logins)
        .bind(now)
        .bind(now)
        .bind(name)
        .execute(&self.writer)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.get_user(name).await
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_credential(&self, c: &NewCredential) -> Result<CredentialRow> {
        let done = sqlx::query(
            "INSERT INTO credentials (id, user_id, kind, name, secret_hash, secret_sealed,
                                      namespace, level, expires_at, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(c.user_id)
        .bind(c.kind.as_str())
        .bind(&c.name)
        .bind(c.secret_hash.as_deref())
        .bind(c.secret_sealed.as_deref())
        .bind(c.limit.as_ref().map(|(ns, _)| ns.as_str()))
        .bind(c.limit.as_ref().map(|(_, l)| l.as_i64()))
        .bind(c.expires_at)
        .bind(now_ms())
        .execute(&self.writer)
        .await;
        match done {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(MetaError::AlreadyExists {
                    entity: "credential",
                    name: c.id.clone(),
                });
            }
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Err(MetaError::NotFound {
                    entity: "user",
                    name: format!("#{}", c.user_id),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.get_credential(&c.id)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("credential {} vanished", c.id)))
    }

    async fn get_credential(&self, id: &str) -> Result<Option<CredentialRow>> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} {CREDENTIAL_FROM} WHERE c.id = ?");
        let row: Option<CredentialDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(CredentialRow::try_from).transpose()
    }

    async fn list_credentials(&self, user_id: i64) -> Result<Vec<CredentialRow>> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} {CREDENTIAL_FROM} WHERE c.user_id = ? ORDER BY c.created_at, c.id"
        );
        let rows: Vec<CredentialDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(CredentialRow::try_from).collect()
    }

    async fn revoke_credential(&self, id: &str, at: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE credentials SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn touch_credential(&self, id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE credentials SET last_used_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn credential_changes(&self, since: i64) -> Result<CredentialChanges> {
        let revoked: Vec<String> =
            sqlx::query_scalar("SELECT id FROM credentials WHERE revoked_at >= ?")
                .bind(since)
                .fetch_all(&self.reader)
                .await?;
        let users: Vec<(String, i64)> = sqlx::query_as(
            "SELECT name, credentials_changed_at FROM users WHERE credentials_changed_at >= ?",
        )
        .bind(since)
        .fetch_all(&self.reader)
        .await?;
        Ok(CredentialChanges { revoked, users })
    }

    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        sqlx::query(
            "INSERT INTO settings (name, value, created_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_one(&self.writer)
                .await?,
        )
    }
}

#[async_trait]
impl AuditStore for SqliteMetaStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, &str, &str, &str, &str, &str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e.at,
                    e.actor.as_str(),
                    e.action.as_str(),
                    e.resource.as_str(),
                    e.source.as_str(),
                    e.result.as_str(),
                    e.detail.as_str(),
                )
            })
            .collect();
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, resource, source, result, detail)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,
                    value ->> 6
             FROM json_each(?)",
        )
        .bind(super::json(&rows))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Listed<AuditRow>> {
        let sql = listing::audit(DIALECT, query);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<AuditDbRow>> = query_as(sql).fetch_all(&self.reader).await?;
        let total = self
            .fallback_total(rows.is_empty(), query.page.offset, fallback)
            .await?;
        listed(rows, total)
    }
}
