//! Upload sessions on SQLite.

use async_trait::async_trait;
use berth_core::{Digest, UploadId};

use super::{SqliteMetaStore, SqliteQuery};
use crate::rows::UploadDbRow;
use crate::{MetaError, RepoId, Result, UploadRecord, UploadStore, now_ms};

/// Records a blob if new and lets the repository serve it; a repository that is gone fails
/// the foreign key (see [`gone`]). Binds: see [`bind_link`].
macro_rules! link_sql {
    () => {
        "INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING;
         INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING;"
    };
}
pub(super) use link_sql;

pub(super) fn bind_link(
    query: SqliteQuery<'static>,
    repo: RepoId,
    digest: &Digest,
    size: u64,
) -> SqliteQuery<'static> {
    let now = now_ms();
    query
        .bind(digest.as_str().to_owned())
        .bind(size as i64)
        .bind(now)
        .bind(repo.0)
        .bind(digest.as_str().to_owned())
        .bind(now)
}

/// A failed link: a foreign key violation means the repository is gone.
pub(super) fn gone(repo: RepoId) -> impl FnOnce(sqlx::Error) -> MetaError {
    move |e| match e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => MetaError::NotFound {
            entity: "repository",
            name: format!("#{}", repo.0),
        },
        e => e.into(),
    }
}

#[async_trait]
impl UploadStore for SqliteMetaStore {
    async fn create_upload(&self, u: &UploadRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, size, hash_state, storage_state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(u.id.as_str())
        .bind(u.repository.as_str())
        .bind(u.size as i64)
        .bind(&u.hash_state)
        .bind(&u.storage_state)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>> {
        let row: Option<UploadDbRow> = sqlx::query_as("SELECT * FROM uploads WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.map(UploadRecord::try_from).transpose()
    }

    async fn advance_upload(
        &self,
        id: &UploadId,
        from_size: u64,
        to_size: u64,
        hash_state: &[u8],
        storage_state: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET size = ?, hash_state = ?, storage_state = ?, updated_at = ?
             WHERE id = ? AND size = ?",
        )
        .bind(to_size as i64)
        .bind(hash_state)
        .bind(storage_state)
        .bind(now_ms())
        .bind(id.as_str())
        .bind(from_size as i64)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id.as_str())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn complete_upload(
        &self,
        id: &UploadId,
        repo: RepoId,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let sql = concat!(
            "BEGIN;",
            link_sql!(),
            "DELETE FROM uploads WHERE id = ?; COMMIT;"
        );
        let query = bind_link(sqlx::query(sql), repo, digest, size).bind(id.as_str().to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                query.execute(conn).await.map_err(gone(repo))?;
                Ok(())
            })
        })
        .await
    }

    async fn stale_uploads(&self, updated_before: i64, limit: u32) -> Result<Vec<UploadRecord>> {
        let rows: Vec<UploadDbRow> = sqlx::query_as(
            "SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?",
        )
        .bind(updated_before)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(UploadRecord::try_from).collect()
    }

    async fn delete_stale_upload(&self, id: &UploadId, updated_before: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = ? AND updated_at < ?")
            .bind(id.as_str())
            .bind(updated_before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
