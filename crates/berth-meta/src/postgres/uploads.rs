//! Upload sessions on PostgreSQL.

use async_trait::async_trait;
use berth_core::{Digest, UploadId};
use sqlx::{Postgres, Transaction};

use super::PostgresMetaStore;
use crate::rows::UploadDbRow;
use crate::{MetaError, RepoId, Result, UploadRecord, UploadStore, now_ms};

/// Records the blob if new and lets `repo` serve it. No lock on the repository: a row this
/// inserts is one no manifest references yet (a push checks its blobs first), so no counter
/// trigger fires; a repository deleted meanwhile fails the foreign key.
pub(super) async fn link(
    tx: &mut Transaction<'_, Postgres>,
    repo: RepoId,
    digest: &Digest,
    size: u64,
) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(digest.as_str())
    .bind(size as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let linked = sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(repo.0)
    .bind(digest.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await;
    match linked {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Err(MetaError::NotFound {
            entity: "repository",
            name: format!("#{}", repo.0),
        }),
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl UploadStore for PostgresMetaStore {
    async fn create_upload(&self, u: &UploadRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, size, hash_state, storage_state, created_at,
                                  updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(u.id.as_str())
        .bind(u.repository.as_str())
        .bind(u.size as i64)
        .bind(&u.hash_state)
        .bind(&u.storage_state)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>> {
        // Straight from the primary, no cache: another replica may have advanced it a moment ago.
        let row: Option<UploadDbRow> = sqlx::query_as("SELECT * FROM uploads WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
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
        // One statement: a racing UPDATE waits for the row lock, then re-evaluates
        // `size = $6` against the committed winner and matches nothing.
        let done = sqlx::query(
            "UPDATE uploads SET size = $1, hash_state = $2, storage_state = $3, updated_at = $4
             WHERE id = $5 AND size = $6",
        )
        .bind(to_size as i64)
        .bind(hash_state)
        .bind(storage_state)
        .bind(now_ms())
        .bind(id.as_str())
        .bind(from_size as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        link(&mut tx, repo, digest, size).await?;
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn stale_uploads(&self, updated_before: i64, limit: u32) -> Result<Vec<UploadRecord>> {
        let rows: Vec<UploadDbRow> = sqlx::query_as(
            "SELECT * FROM uploads WHERE updated_at < $1 ORDER BY updated_at, id LIMIT $2",
        )
        .bind(updated_before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(UploadRecord::try_from).collect()
    }

    async fn delete_stale_upload(&self, id: &UploadId, updated_before: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1 AND updated_at < $2")
            .bind(id.as_str())
            .bind(updated_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
