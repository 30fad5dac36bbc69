//! The embedded metadata store: one SQLite file in WAL mode. Writes go through a single
//! connection (SQLite has one writer anyway, and this way no transaction ever waits on a
//! lock upgrade); reads use a small pool of their own.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{Digest, Reference, RepoName, Tag};
use bytes::Bytes;
use futures::future::BoxFuture;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::{
    ManifestRef, ManifestRow, MetaError, MetaStore, NewManifest, Referrer, Result, UploadRecord,
    check_sizes, now_ms, parse_digest, parse_repo,
};

pub struct SqliteMetaStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteMetaStore {
    /// Opens (creating and migrating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<SqliteMetaStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a crash of berth loses nothing committed; a power loss
            // may roll back the last transactions but never corrupts the database.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-4096");
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<SqliteMetaStore> {
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Ok(SqliteMetaStore { writer, reader })
    }

    /// Runs `work` on the writer connection to the end, even if the caller goes away (a
    /// half-run batch would leave its transaction open), and rolls back if it fails.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let pool = self.writer.clone();
        tokio::spawn(async move {
            let mut conn = pool.acquire().await?;
            let result = work(&mut conn).await;
            if result.is_err() {
                // Harmless when no transaction is open ("no transaction is active").
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            }
            result
        })
        .await
        .map_err(|e| MetaError::Corrupt(format!("database write task failed: {e}")))?
    }
}

// sqlx hands each query to SQLite's worker thread and back; under load those thread hops,
// not SQLite, are the cost of a write. So a write is one query holding several statements,
// `BEGIN` and `COMMIT` included, run by `SqliteMetaStore::write`. A batch uses positional
// `?` only, bound in order across its statements (sqlx binds numbered parameters that a
// statement skips as positional ones).

/// Creates a repository if needed, records a blob if new, and lets the repository serve it.
/// Binds: see [`bind_link`].
macro_rules! link_sql {
    () => {
        "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING;
         INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING;
         INSERT INTO repository_blobs (repository_id, digest, created_at)
             SELECT id, ?, ? FROM repositories WHERE name = ? ON CONFLICT DO NOTHING;"
    };
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_link(
    query: SqliteQuery<'static>,
    repo: &RepoName,
    digest: &Digest,
    size: u64,
) -> SqliteQuery<'static> {
    let now = now_ms();
    query
        .bind(repo.as_str().to_owned())
        .bind(now)
        .bind(digest.as_str().to_owned())
        .bind(size as i64)
        .bind(now)
        .bind(digest.as_str().to_owned())
        .bind(now)
        .bind(repo.as_str().to_owned())
}

/// Sizes of the manifest's blobs (`?2`, a JSON array) and children (`?3`) that repository
/// `?1` has, tagged `blob` or `manifest`.
macro_rules! manifest_refs_sql {
    () => {
        "SELECT 'blob', rb.digest, b.size FROM repositories r
        JOIN repository_blobs rb ON rb.repository_id = r.id
        JOIN blobs b ON b.digest = rb.digest
        WHERE r.name = ?1 AND rb.digest IN (SELECT value FROM json_each(?2))
    UNION ALL
    SELECT 'manifest', m.digest, m.size FROM repositories r
        JOIN manifests m ON m.repository_id = r.id
        WHERE r.name = ?1 AND m.digest IN (SELECT value FROM json_each(?3));"
    };
}

/// Stores a manifest in a repository (created if needed) with its references (JSON
/// `[[digest, kind], ...]`) and points tags (a JSON array) at it. A manifest that is already
/// there keeps its row; its references are the same, being derived from the same bytes.
macro_rules! put_manifest_sql {
    () => {
        "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING;
    INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject,
                           annotations, size, body, created_at)
        SELECT id, ?, ?, ?, ?, ?, ?, ?, ? FROM repositories WHERE name = ?
        ON CONFLICT DO NOTHING;
    INSERT INTO manifest_refs (repository_id, parent, child, kind)
        SELECT r.id, ?, j.value ->> 0, j.value ->> 1 FROM repositories r, json_each(?) j
        WHERE r.name = ? ON CONFLICT DO NOTHING;
    INSERT INTO tags (repository_id, name, digest, updated_at)
        SELECT r.id, j.value, ?, ? FROM repositories r, json_each(?) j WHERE r.name = ?
        ON CONFLICT (repository_id, name)
        DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at;"
    };
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("strings serialize")
}

/// Long listings come back as one newline-joined value: sqlx hands SQLite rows over one by
/// one, which costs more than the query itself for thousands of names. Names and tags never
/// contain a newline (their grammars forbid it).
fn split_lines(joined: Option<String>) -> Vec<String> {
    joined
        .map(|s| s.split('\n').map(str::to_owned).collect())
        .unwrap_or_default()
}

fn upload_from_row(row: &SqliteRow) -> Result<UploadRecord> {
    Ok(UploadRecord {
        id: row.try_get("id")?,
        repository: parse_repo(row.try_get("repository")?)?,
        size: row.try_get::<i64, _>("size")? as u64,
        hash_state: row.try_get("hash_state")?,
        storage_state: row.try_get("storage_state")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        let joined: Option<String> = sqlx::query_scalar(
            "SELECT group_concat(name, char(10) ORDER BY name) FROM
                (SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?)",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_one(&self.reader)
        .await?;
        Ok(split_lines(joined))
    }

    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = ?")
            .bind(digest.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn repo_blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repositories r
             JOIN repository_blobs rb ON rb.repository_id = r.id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = ? AND rb.digest = ?",
        )
        .bind(repo.as_str())
        .bind(digest.as_str())
        .fetch_optional(&self.reader)
        .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()> {
        let query = bind_link(
            sqlx::query(concat!("BEGIN;", link_sql!(), "COMMIT;")),
            repo,
            digest,
            size,
        );
        self.write(|conn| {
            Box::pin(async move {
                query.execute(conn).await?;
                Ok(())
            })
        })
        .await
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM repository_blobs WHERE digest = ?
             AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(digest.as_str())
        .bind(repo.as_str())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_upload(&self, u: &UploadRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, size, hash_state, storage_state, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&u.id)
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

    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>> {
        let row = sqlx::query("SELECT * FROM uploads WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn advance_upload(
        &self,
        id: &str,
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
        .bind(id)
        .bind(from_size as i64)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn complete_upload(
        &self,
        id: &str,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<()> {
        let sql = concat!(
            "BEGIN;",
            link_sql!(),
            "DELETE FROM uploads WHERE id = ?; COMMIT;"
        );
        let query = bind_link(sqlx::query(sql), repo, digest, size).bind(id.to_owned());
        self.write(|conn| {
            Box::pin(async move {
                query.execute(conn).await?;
                Ok(())
            })
        })
        .await
    }

    async fn delete_stale_upload(&self, id: &str, updated_before: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = ? AND updated_at < ?")
            .bind(id)
            .bind(updated_before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn stale_uploads(&self, updated_before: i64, limit: u32) -> Result<Vec<UploadRecord>> {
        let rows =
            sqlx::query("SELECT * FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?")
                .bind(updated_before)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn put_manifest(&self, repo: &RepoName, m: &NewManifest, tags: &[Tag]) -> Result<()> {
        let digests = |refs: &[ManifestRef]| {
            json(&refs.iter().map(|r| r.digest.as_str()).collect::<Vec<_>>())
        };
        // First trip: open the transaction and look up what the manifest needs.
        let check =
            sqlx::query_as::<_, (String, String, i64)>(concat!("BEGIN;", manifest_refs_sql!()))
                .bind(repo.as_str().to_owned())
                .bind(digests(&m.blobs))
                .bind(digests(&m.children));
        let refs: Vec<(&str, &str)> = m
            .blobs
            .iter()
            .map(|r| (r.digest.as_str(), "blob"))
            .chain(m.children.iter().map(|r| (r.digest.as_str(), "manifest")))
            .collect();
        let tags: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        let (name, digest, now) = (
            repo.as_str().to_owned(),
            m.digest.as_str().to_owned(),
            now_ms(),
        );
        // Second trip: store it all and commit.
        let store = sqlx::query(concat!(put_manifest_sql!(), "COMMIT;"))
            .bind(name.clone())
            .bind(now)
            .bind(digest.clone())
            .bind(m.media_type.clone())
            .bind(m.artifact_type.clone())
            .bind(m.subject.as_ref().map(|d| d.as_str().to_owned()))
            .bind(m.annotations.clone())
            .bind(m.body.len() as i64)
            .bind(m.body.to_vec())
            .bind(now)
            .bind(name.clone())
            .bind(digest.clone())
            .bind(json(&refs))
            .bind(name.clone())
            .bind(digest)
            .bind(now)
            .bind(json(&tags))
            .bind(name);
        let (blob_refs, child_refs) = (m.blobs.clone(), m.children.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let (mut blobs, mut children) = (HashMap::new(), HashMap::new());
                for (kind, digest, size) in check.fetch_all(&mut *conn).await? {
                    if kind == "blob" {
                        &mut blobs
                    } else {
                        &mut children
                    }
                    .insert(digest, size);
                }
                check_sizes(&blob_refs, &blobs, MetaError::MissingBlob)?;
                check_sizes(&child_refs, &children, MetaError::MissingManifest)?;
                store.execute(&mut *conn).await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<ManifestRow>> {
        let row = match reference {
            Reference::Digest(d) => {
                sqlx::query(
                    "SELECT m.digest, m.media_type, m.body FROM repositories r
                     JOIN manifests m ON m.repository_id = r.id
                     WHERE r.name = ? AND m.digest = ?",
                )
                .bind(repo.as_str())
                .bind(d.as_str())
                .fetch_optional(&self.reader)
                .await?
            }
            Reference::Tag(t) => {
                sqlx::query(
                    "SELECT m.digest, m.media_type, m.body FROM repositories r
                     JOIN tags t ON t.repository_id = r.id
                     JOIN manifests m ON m.repository_id = r.id AND m.digest = t.digest
                     WHERE r.name = ? AND t.name = ?",
                )
                .bind(repo.as_str())
                .bind(t.as_str())
                .fetch_optional(&self.reader)
                .await?
            }
        };
        row.map(|row| {
            Ok(ManifestRow {
                digest: parse_digest(row.try_get("digest")?)?,
                media_type: row.try_get("media_type")?,
                body: Bytes::from(row.try_get::<Vec<u8>, _>("body")?),
            })
        })
        .transpose()
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM manifests WHERE digest = ?
             AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(digest.as_str())
        .bind(repo.as_str())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM tags WHERE name = ?
             AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(tag.as_str())
        .bind(repo.as_str())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>> {
        let row: Option<(i64, Option<String>)> = sqlx::query_as(
            "SELECT r.id, (SELECT group_concat(name, char(10) ORDER BY name) FROM
                (SELECT name FROM tags WHERE repository_id = r.id AND name > ?
                 ORDER BY name LIMIT ?))
             FROM repositories r WHERE r.name = ?",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .bind(repo.as_str())
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(_, joined)| split_lines(joined)))
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
             FROM repositories r JOIN manifests m ON m.repository_id = r.id
             WHERE r.name = ? AND m.subject = ? ORDER BY m.created_at, m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Referrer {
                    digest: parse_digest(row.try_get("digest")?)?,
                    media_type: row.try_get("media_type")?,
                    size: row.try_get::<i64, _>("size")? as u64,
                    artifact_type: row.try_get("artifact_type")?,
                    annotations: row.try_get("annotations")?,
                })
            })
            .collect()
    }

    async fn try_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO job_leases (name, holder, locked_until) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                                              locked_until = excluded.locked_until
             WHERE job_leases.locked_until < ? OR job_leases.holder = excluded.holder",
        )
        .bind(job)
        .bind(holder)
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn shared_suite_on_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteMetaStore::open(&dir.path().join("meta.db"))
            .await
            .unwrap();
        crate::testsuite::run(&store).await;
    }
}
