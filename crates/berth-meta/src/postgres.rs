//! The scale-out metadata store: PostgreSQL, shared by every berth replica. Unlike SQLite
//! there is no single writer to serialise us, so every read-check-write below either runs in
//! one statement (compare-and-set, `ON CONFLICT`) or locks the rows it checked until commit.
//! All statements run at READ COMMITTED, where each statement sees the latest committed state
//! and a blocked `UPDATE`/`ON CONFLICT` re-checks its condition against the row it waited for.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{Digest, Reference, RepoName, Tag};
use bytes::Bytes;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};

use crate::{
    ManifestRow, MetaError, MetaStore, NewManifest, Referrer, Result, UploadRecord, check_sizes,
    now_ms, parse_digest, parse_repo,
};

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
            .connect_with(options)
            .await?;
        // On failure the pool is dropped with the connection that may still hold the
        // migration lock (sqlx does not unlock on error), which releases it for the others.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresMetaStore { pool })
    }

    /// Closes every connection; for tests and orderly shutdown.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The repository's id, creating the repository if needed. A concurrent transaction that is
/// creating the same name makes the insert wait for its outcome, so the select that follows
/// always finds the row.
async fn repo_id(tx: &mut Transaction<'_, Postgres>, repo: &RepoName) -> Result<i64> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(repo.as_str())
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = inserted {
        return Ok(id);
    }
    Ok(
        sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_one(&mut **tx)
            .await?,
    )
}

/// Records the blob if new and lets `repo` serve it.
async fn link(
    tx: &mut Transaction<'_, Postgres>,
    repo: &RepoName,
    digest: &Digest,
    size: u64,
) -> Result<()> {
    let now = now_ms();
    let id = repo_id(tx, repo).await?;
    sqlx::query(
        "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(digest.as_str())
    .bind(size as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(digest.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Digest to size of those `refs` that `query` (given the repository id and the digests)
/// finds, in one round trip; none when there is nothing to look for.
async fn locked_sizes(
    tx: &mut Transaction<'_, Postgres>,
    query: &'static str,
    repository_id: i64,
    refs: &[crate::ManifestRef],
) -> Result<HashMap<String, i64>> {
    if refs.is_empty() {
        return Ok(HashMap::new());
    }
    let digests: Vec<&str> = refs.iter().map(|r| r.digest.as_str()).collect();
    let rows: Vec<(String, i64)> = sqlx::query_as(query)
        .bind(repository_id)
        .bind(digests)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().collect())
}

fn upload_from_row(row: &PgRow) -> Result<UploadRecord> {
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
impl MetaStore for PostgresMetaStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn repo_blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repositories r
             JOIN repository_blobs rb ON rb.repository_id = r.id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = $1 AND rb.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        link(&mut tx, repo, digest, size).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM repository_blobs WHERE digest = $1
             AND repository_id = (SELECT id FROM repositories WHERE name = $2)",
        )
        .bind(digest.as_str())
        .bind(repo.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_upload(&self, u: &UploadRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, size, hash_state, storage_state, created_at,
                                  updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&u.id)
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

    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>> {
        // Straight from the primary, no cache: another replica may have advanced it a moment ago.
        let row = sqlx::query("SELECT * FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
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
        .bind(id)
        .bind(from_size as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        link(&mut tx, repo, digest, size).await?;
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_stale_upload(&self, id: &str, updated_before: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1 AND updated_at < $2")
            .bind(id)
            .bind(updated_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn stale_uploads(&self, updated_before: i64, limit: u32) -> Result<Vec<UploadRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM uploads WHERE updated_at < $1 ORDER BY updated_at, id LIMIT $2",
        )
        .bind(updated_before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(upload_from_row).collect()
    }

    async fn put_manifest(&self, repo: &RepoName, m: &NewManifest, tags: &[Tag]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let id = repo_id(&mut tx, repo).await?;

        // FOR KEY SHARE keeps the rows we checked from being deleted (unlink_blob,
        // delete_manifest) until we commit, without blocking anyone else who only reads or
        // links them.
        let blobs = locked_sizes(
            &mut tx,
            "SELECT rb.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
             WHERE rb.repository_id = $1 AND rb.digest = ANY($2)
             FOR KEY SHARE OF rb",
            id,
            &m.blobs,
        )
        .await?;
        check_sizes(&m.blobs, &blobs, MetaError::MissingBlob)?;
        let children = locked_sizes(
            &mut tx,
            "SELECT digest, size FROM manifests WHERE repository_id = $1 AND digest = ANY($2)
             FOR KEY SHARE",
            id,
            &m.children,
        )
        .await?;
        check_sizes(&m.children, &children, MetaError::MissingManifest)?;

        // Insert the manifest, or lock the copy that is already there so the tags below can
        // point at it. The loop only repeats if a delete of that copy commits in between.
        let mut attempts = 0;
        let inserted = loop {
            attempts += 1;
            let inserted = sqlx::query(
                "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject,
                                        annotations, size, body, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(m.digest.as_str())
            .bind(&m.media_type)
            .bind(m.artifact_type.as_deref())
            .bind(m.subject.as_ref().map(Digest::as_str))
            .bind(m.annotations.as_deref())
            .bind(m.body.len() as i64)
            .bind(&m.body[..])
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted > 0 {
                break true;
            }
            let present: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM manifests WHERE repository_id = $1 AND digest = $2 FOR KEY SHARE",
            )
            .bind(id)
            .bind(m.digest.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if present.is_some() {
                break false;
            }
            if attempts >= 3 {
                return Err(MetaError::Corrupt(format!(
                    "manifest {} keeps vanishing while it is stored",
                    m.digest
                )));
            }
        };
        if inserted && !(m.blobs.is_empty() && m.children.is_empty()) {
            let (children, kinds): (Vec<String>, Vec<&str>) = m
                .blobs
                .iter()
                .map(|r| (r.digest.as_str().to_owned(), "blob"))
                .chain(
                    m.children
                        .iter()
                        .map(|r| (r.digest.as_str().to_owned(), "manifest")),
                )
                .unzip();
            sqlx::query(
                "INSERT INTO manifest_refs (repository_id, parent, child, kind)
                 SELECT $1, $2, r.child, r.kind FROM unnest($3::text[], $4::text[]) AS r(child, kind)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(m.digest.as_str())
            .bind(children)
            .bind(kinds)
            .execute(&mut *tx)
            .await?;
        }

        // Tags in one fixed order, so two pushes that move the same tags lock them in the
        // same order and cannot deadlock.
        let mut tags: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        tags.sort_unstable();
        tags.dedup();
        for tag in tags {
            sqlx::query(
                "INSERT INTO tags (repository_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (repository_id, name)
                 DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
            )
            .bind(id)
            .bind(tag)
            .bind(m.digest.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
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
                     WHERE r.name = $1 AND m.digest = $2",
                )
                .bind(repo.as_str())
                .bind(d.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
            Reference::Tag(t) => {
                sqlx::query(
                    "SELECT m.digest, m.media_type, m.body FROM repositories r
                     JOIN tags t ON t.repository_id = r.id
                     JOIN manifests m ON m.repository_id = r.id AND m.digest = t.digest
                     WHERE r.name = $1 AND t.name = $2",
                )
                .bind(repo.as_str())
                .bind(t.as_str())
                .fetch_optional(&self.pool)
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
            "DELETE FROM manifests WHERE digest = $1
             AND repository_id = (SELECT id FROM repositories WHERE name = $2)",
        )
        .bind(digest.as_str())
        .bind(repo.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM tags WHERE name = $1
             AND repository_id = (SELECT id FROM repositories WHERE name = $2)",
        )
        .bind(tag.as_str())
        .bind(repo.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(id) = id else { return Ok(None) };
        let tags = sqlx::query_scalar(
            "SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(id)
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(tags))
    }

    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations
             FROM repositories r JOIN manifests m ON m.repository_id = r.id
             WHERE r.name = $1 AND m.subject = $2 ORDER BY m.created_at, m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.as_str())
        .fetch_all(&self.pool)
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
}

#[cfg(test)]
mod tests {
    //! These need a server: `TEST_DATABASE_URL` names a database the role may connect to
    //! (and the role needs CREATEDB). Each test creates `berth_test_<random>` next to it and
    //! drops it afterwards. `.ci/postgres.sh` provides all of that.

    use std::time::Duration;

    use berth_core::{Digest, Reference};
    use bytes::Bytes;

    use super::PostgresMetaStore;
    use crate::testing::with_fresh_database;
    use crate::{MetaStore, NewManifest, UploadRecord, now_ms};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_suite() {
        with_fresh_database("shared_suite", |url| async move {
            let store = PostgresMetaStore::connect(&url, 10).await.unwrap();
            assert_eq!(store.kind(), "postgres");
            crate::testsuite::run(&store).await;
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
            let [a, b, c, d] = [0, 1, 2, 3].map(|i| replicas[i].clone());

            // An upload advanced on one replica is seen at once by the others.
            let now = now_ms();
            let up = UploadRecord {
                id: "cross-replica".into(),
                repository: "replicas/up".parse().unwrap(),
                size: 0,
                hash_state: vec![0],
                storage_state: String::new(),
                created_at: now,
                updated_at: now,
            };
            a.create_upload(&up).await.unwrap();
            assert!(b.advance_upload(&up.id, 0, 5, &[1], "s1").await.unwrap());
            let seen = c.get_upload(&up.id).await.unwrap().unwrap();
            assert_eq!((seen.size, seen.storage_state.as_str()), (5, "s1"));
            // Appends from the same offset on every replica at once: one wins.
            let mut appends = tokio::task::JoinSet::new();
            for (i, r) in replicas.iter().enumerate() {
                let r = r.clone();
                appends.spawn(async move {
                    r.advance_upload("cross-replica", 5, 10 + i as u64, &[2], "s2")
                        .await
                        .unwrap()
                });
            }
            let won = appends.join_all().await.into_iter().filter(|w| *w).count();
            assert_eq!(won, 1);

            // Leases: one holder across replicas, also when the previous one has expired.
            for (job, ttl) in [("replicas-job", 60_000), ("replicas-expired", 1)] {
                if ttl == 1 {
                    assert!(
                        d.try_lease(job, "old", Duration::from_millis(1))
                            .await
                            .unwrap()
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let mut leases = tokio::task::JoinSet::new();
                for (i, r) in replicas.iter().enumerate() {
                    for h in 0..4 {
                        let r = r.clone();
                        leases.spawn(async move {
                            r.try_lease(job, &format!("r{i}-h{h}"), Duration::from_secs(60))
                                .await
                                .unwrap()
                        });
                    }
                }
                let holders = leases.join_all().await.into_iter().filter(|w| *w).count();
                assert_eq!(holders, 1, "{job}");
            }

            // The same push arriving at every replica, into a repository none has seen.
            let repo: berth_core::RepoName = "replicas/push".parse().unwrap();
            let body = Bytes::from_static(b"{\"schemaVersion\":2}");
            let m = NewManifest {
                digest: Digest::sha256(&body),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                body,
                artifact_type: None,
                subject: None,
                annotations: None,
                blobs: Vec::new(),
                children: Vec::new(),
            };
            let mut pushes = tokio::task::JoinSet::new();
            for r in replicas.iter().chain(replicas.iter()) {
                let (r, repo, m) = (r.clone(), repo.clone(), m.clone());
                pushes.spawn(async move {
                    let tags = ["latest".parse().unwrap(), "v1".parse().unwrap()];
                    r.put_manifest(&repo, &m, &tags).await
                });
            }
            for pushed in pushes.join_all().await {
                pushed.unwrap();
            }
            let got = a
                .get_manifest(&repo, &Reference::Tag("v1".parse().unwrap()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got.digest, m.digest);
            assert_eq!(
                b.list_repositories(Some("replicas/"), 10).await.unwrap(),
                ["replicas/push"]
            );

            for r in &replicas {
                r.close().await;
            }
        })
        .await;
    }
}
