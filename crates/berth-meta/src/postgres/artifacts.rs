//! Blobs, manifests and tags on PostgreSQL. Counters (sizes, images, tags) are kept by the
//! triggers of migration 0002.

use std::collections::HashMap;

use async_trait::async_trait;
use berth_core::{Digest, Reference, Tag};
use bytes::Bytes;
use sqlx::{Postgres, Transaction};

use super::uploads::link;
use super::{DIALECT, PostgresMetaStore, lock_repository, query_as};
use crate::rows::{
    Counted, ManifestInfoBodyDbRow, ManifestInfoDbRow, TAG_COLUMNS, TAG_FROM, TagDbRow,
    TagInfoBodyDbRow, listed, parse_digest,
};
use crate::{
    ArtifactStore, ChartExpect, DownloadCount, Listed, ManifestInfo, ManifestQuery, ManifestRef,
    ManifestRow, MetaError, NewManifest, Referrer, RepoId, Result, TagQuery, TagRow, Visibility,
    check_chart_expect, check_sizes, listing, now_ms,
};

/// Digest to size of those `refs` that `query` (given the repository id and the digests)
/// finds, in one round trip; none when there is nothing to look for.
async fn locked_sizes(
    tx: &mut Transaction<'_, Postgres>,
    query: &'static str,
    repository_id: i64,
    refs: &[ManifestRef],
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

#[async_trait]
impl ArtifactStore for PostgresMetaStore {
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn repo_blob_size(&self, repo: RepoId, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
             WHERE rb.repository_id = $1 AND rb.digest = $2",
        )
        .bind(repo.0)
        .bind(digest.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn visible_blob_size(
        &self,
        digest: &Digest,
        visibility: &Visibility,
    ) -> Result<Option<u64>> {
        let sql = listing::visible_blob(DIALECT, digest.as_str(), visibility);
        let size: Option<(i64,)> = query_as(sql).fetch_optional(&self.pool).await?;
        Ok(size.map(|(s,)| s as u64))
    }

    async fn link_blob(&self, repo: RepoId, digest: &Digest, size: u64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        link(&mut tx, repo, digest, size).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unlink_blob(&self, repo: RepoId, digest: &Digest) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        lock_repository(&mut tx, repo).await?;
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
                .bind(repo.0)
                .bind(digest.as_str())
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_manifest(&self, repo: RepoId, m: &NewManifest, tags: &[Tag]) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let id = repo.0;
        lock_repository(&mut tx, repo).await?;
        // The repository row is locked: no other write of this chart version can run
        // between this check and the commit.
        if let Some(c) = m.chart.as_ref().filter(|c| c.expect != ChartExpect::Any) {
            let current: Option<String> = sqlx::query_scalar(
                "SELECT manifest_digest FROM charts WHERE repository_id = $1 AND tag = $2",
            )
            .bind(id)
            .bind(c.tag.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            check_chart_expect(c, current.as_deref())?;
        }

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
        if m.require_refs {
            check_sizes(&m.blobs, &blobs, MetaError::MissingBlob)?;
        }
        let children = locked_sizes(
            &mut tx,
            "SELECT digest, size FROM manifests WHERE repository_id = $1 AND digest = ANY($2)
             FOR KEY SHARE",
            id,
            &m.children,
        )
        .await?;
        if m.require_refs {
            check_sizes(&m.children, &children, MetaError::MissingManifest)?;
        }

        // The repository row is locked, so no delete of this manifest can run meanwhile:
        // either it is there already or we insert it.
        sqlx::query(
            "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject,
                                    annotations, size, body, created_at, total_size,
                                    config_digest, pushed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
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
        .bind(m.total_size as i64)
        .bind(m.config.as_ref().map(Digest::as_str))
        .bind(&m.pushed_by)
        .execute(&mut *tx)
        .await?;
        if !(m.blobs.is_empty() && m.children.is_empty()) {
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
        // same order.
        let mut tags: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        tags.sort_unstable();
        tags.dedup();
        if !tags.is_empty() {
            sqlx::query(
                "INSERT INTO tags (repository_id, name, digest, updated_at, pushed_by, created_at)
                 SELECT $1, t.name, $3, $4, $5, $4 FROM unnest($2::text[]) AS t(name)
                 ON CONFLICT (repository_id, name)
                 DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at,
                               pushed_by = excluded.pushed_by",
            )
            .bind(id)
            .bind(tags)
            .bind(m.digest.as_str())
            .bind(now)
            .bind(&m.pushed_by)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(c) = &m.chart {
            sqlx::query(
                "INSERT INTO charts (repository_id, tag, namespace_id, name, version,
                                     manifest_digest, chart_digest, chart_size, prov_digest,
                                     prov_size, metadata, created, created_at)
                 SELECT r.id, $2, r.namespace_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
                 FROM repositories r WHERE r.id = $1
                 ON CONFLICT (repository_id, tag)
                 DO UPDATE SET name = excluded.name, version = excluded.version,
                               manifest_digest = excluded.manifest_digest,
                               chart_digest = excluded.chart_digest,
                               chart_size = excluded.chart_size,
                               prov_digest = excluded.prov_digest,
                               prov_size = excluded.prov_size, metadata = excluded.metadata",
            )
            .bind(id)
            .bind(c.tag.as_str())
            .bind(&c.name)
            .bind(&c.version)
            .bind(m.digest.as_str())
            .bind(c.archive.digest.as_str())
            .bind(c.archive.size as i64)
            .bind(c.provenance.as_ref().map(|p| p.digest.as_str()))
            .bind(c.provenance.as_ref().map(|p| p.size as i64))
            .bind(&c.metadata)
            .bind(&c.created)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE repositories SET last_pushed_at = $1, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_manifest(
        &self,
        repo: RepoId,
        reference: &Reference,
    ) -> Result<Option<ManifestRow>> {
        let row: Option<(String, String, Vec<u8>)> = match reference {
            Reference::Digest(d) => {
                sqlx::query_as(
                    "SELECT digest, media_type, body FROM manifests
                     WHERE repository_id = $1 AND digest = $2",
                )
                .bind(repo.0)
                .bind(d.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
            Reference::Tag(t) => {
                sqlx::query_as(
                    "SELECT m.digest, m.media_type, m.body FROM tags t
                     JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
                     WHERE t.repository_id = $1 AND t.name = $2",
                )
                .bind(repo.0)
                .bind(t.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.map(|(digest, media_type, body)| {
            Ok(ManifestRow {
                digest: parse_digest(&digest)?,
                media_type,
                body: Bytes::from(body),
            })
        })
        .transpose()
    }

    async fn manifest_info(&self, repo: RepoId, digest: &Digest) -> Result<Option<ManifestInfo>> {
        let sql = listing::manifest_info(DIALECT, repo, digest.as_str(), false);
        let row: Option<ManifestInfoDbRow> = query_as(sql).fetch_optional(&self.pool).await?;
        row.map(ManifestInfo::try_from).transpose()
    }

    async fn manifest_info_and_body(
        &self,
        repo: RepoId,
        digest: &Digest,
    ) -> Result<Option<(ManifestInfo, ManifestRow)>> {
        let sql = listing::manifest_info(DIALECT, repo, digest.as_str(), true);
        let row: Option<ManifestInfoBodyDbRow> = query_as(sql).fetch_optional(&self.pool).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn tag_info_and_body(
        &self,
        repo: RepoId,
        tag: &Tag,
    ) -> Result<Option<(TagRow, ManifestInfo, ManifestRow)>> {
        let sql = listing::tag_info(DIALECT, repo, tag.as_str());
        let row: Option<TagInfoBodyDbRow> = query_as(sql).fetch_optional(&self.pool).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_manifests(
        &self,
        repo: RepoId,
        query: &ManifestQuery,
    ) -> Result<Listed<ManifestInfo>> {
        let sql = listing::manifests(DIALECT, repo, query);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<ManifestInfoDbRow>> = query_as(sql).fetch_all(&self.pool).await?;
        let total = self
            .fallback_total(rows.is_empty(), query.page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn set_image_info(&self, repo: RepoId, digest: &Digest, info: &str) -> Result<()> {
        sqlx::query(
            "UPDATE manifests SET image_info = $1 WHERE repository_id = $2 AND digest = $3",
        )
        .bind(info)
        .bind(repo.0)
        .bind(digest.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_manifest(&self, repo: RepoId, digest: &Digest) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        lock_repository(&mut tx, repo).await?;
        sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND digest = $2")
            .bind(repo.0)
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
            .bind(repo.0)
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_tag(&self, repo: RepoId, tag: &Tag) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        lock_repository(&mut tx, repo).await?;
        let done = sqlx::query("DELETE FROM tags WHERE repository_id = $1 AND name = $2")
            .bind(repo.0)
            .bind(tag.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn tag_names(&self, repo: RepoId, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        // A literal limit: see `listing::Sql::limit`.
        let sql = format!(
            "SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT {limit}"
        );
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(repo.0)
            .bind(last.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn get_tag(&self, repo: RepoId, tag: &Tag) -> Result<Option<TagRow>> {
        let sql =
            format!("SELECT {TAG_COLUMNS} {TAG_FROM} WHERE t.repository_id = $1 AND t.name = $2");
        let row: Option<TagDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(repo.0)
            .bind(tag.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(TagRow::try_from).transpose()
    }

    async fn list_tags(&self, repo: RepoId, query: &TagQuery) -> Result<Listed<TagRow>> {
        let (sql, count) = listing::tags(DIALECT, repo, query);
        let fallback = Some(count);
        let rows: Vec<Counted<TagDbRow>> = query_as(sql).fetch_all(&self.pool).await?;
        let total = self
            .fallback_total(rows.is_empty(), query.page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn referrers(&self, repo: RepoId, subject: &Digest) -> Result<Vec<Referrer>> {
        let rows: Vec<(String, String, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests
             WHERE repository_id = $1 AND subject = $2 ORDER BY created_at, digest",
        )
        .bind(repo.0)
        .bind(subject.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(digest, media_type, size, artifact_type, annotations)| {
                Ok(Referrer {
                    digest: parse_digest(&digest)?,
                    media_type,
                    size: size as u64,
                    artifact_type,
                    annotations,
                })
            })
            .collect()
    }

    async fn catalog(
        &self,
        last: Option<&str>,
        limit: u32,
        visibility: &Visibility,
    ) -> Result<Vec<String>> {
        let sql = listing::catalog(DIALECT, last, limit, visibility);
        let rows: Vec<(String,)> = query_as(sql).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(name,)| name).collect())
    }

    async fn record_downloads(&self, counts: &[DownloadCount]) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let repos: Vec<i64> = counts.iter().map(|c| c.repository.0).collect();
        let digests: Vec<&str> = counts.iter().map(|c| c.digest.as_str()).collect();
        let tags: Vec<Option<&str>> = counts
            .iter()
            .map(|c| c.tag.as_ref().map(Tag::as_str))
            .collect();
        let n: Vec<i64> = counts.iter().map(|c| c.count as i64).collect();
        let last: Vec<i64> = counts.iter().map(|c| c.last_at).collect();
        let mut tx = self.pool.begin().await?;
        // Flushes of several replicas take turns: each locks repository rows (the ones a push
        // locks first) before manifest and tag rows, never two flushes against each other.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('berth-record-downloads'))")
            .execute(&mut *tx)
            .await?;
        let unnest = "unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
                      AS c(repo, digest, tag, n, last)";
        for statement in [
            format!(
                "UPDATE repositories r SET num_downloads = r.num_downloads + s.n,
                     last_pulled_at = greatest(coalesce(r.last_pulled_at, 0), s.last)
                 FROM (SELECT repo, sum(n)::bigint AS n, max(last) AS last FROM {unnest}
                       GROUP BY repo ORDER BY repo) s
                 WHERE r.id = s.repo"
            ),
            format!(
                "UPDATE manifests m SET downloads = m.downloads + s.n
                 FROM (SELECT repo, digest, sum(n)::bigint AS n FROM {unnest}
                       GROUP BY repo, digest ORDER BY repo, digest) s
                 WHERE m.repository_id = s.repo AND m.digest = s.digest"
            ),
            format!(
                "UPDATE tags t SET downloads = t.downloads + s.n,
                     last_pulled_at = greatest(coalesce(t.last_pulled_at, 0), s.last)
                 FROM (SELECT repo, tag, sum(n)::bigint AS n, max(last) AS last FROM {unnest}
                       WHERE tag IS NOT NULL GROUP BY repo, tag ORDER BY repo, tag) s
                 WHERE t.repository_id = s.repo AND t.name = s.tag"
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(&repos)
                .bind(&digests)
                .bind(&tags)
                .bind(&n)
                .bind(&last)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
