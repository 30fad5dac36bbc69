//! Blobs, manifests and tags on SQLite. Counters (sizes, images, tags) are kept by the
//! triggers of migration 0002.

use std::collections::HashMap;

use async_trait::async_trait;
use berth_core::{Digest, Reference, Tag};
use bytes::Bytes;

use super::uploads::{bind_link, gone, link_sql};
use super::{DIALECT, SqliteMetaStore, json, query_as, split_lines};
use crate::rows::{
    Counted, ManifestInfoBodyDbRow, ManifestInfoDbRow, TAG_COLUMNS, TAG_FROM, TagDbRow,
    TagInfoBodyDbRow, json_listed, listed, parse_digest,
};
use crate::{
    ArtifactStore, ChartExpect, DownloadCount, Listed, ManifestInfo, ManifestQuery, ManifestRef,
    ManifestRow, MetaError, NewManifest, Referrer, RepoId, Result, TagQuery, TagRow, Visibility,
    check_chart_expect, check_sizes, listing, now_ms,
};

/// Sizes of the manifest's blobs (`?2`, a JSON array) and children (`?3`) that repository
/// `?1` has, tagged `blob` or `manifest`, a `repository` row if the repository exists, and
/// the manifest of the chart under tag `?4` if there is one (checked in this transaction,
/// on the one writer connection, so no other write comes between).
const MANIFEST_REFS_SQL: &str = "BEGIN;
    SELECT 'repository', '', 0 FROM repositories WHERE id = ?1
    UNION ALL
    SELECT 'blob', rb.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
        WHERE rb.repository_id = ?1 AND rb.digest IN (SELECT value FROM json_each(?2))
    UNION ALL
    SELECT 'manifest', m.digest, m.size FROM manifests m
        WHERE m.repository_id = ?1 AND m.digest IN (SELECT value FROM json_each(?3))
    UNION ALL
    SELECT 'chart', c.manifest_digest, 0 FROM charts c WHERE c.repository_id = ?1 AND c.tag = ?4;";

/// Stores a manifest with its references (JSON `[[digest, kind], ...]`) and points tags (a
/// JSON array) at it, and records the chart version it is (all NULL binds when it is none). A manifest that is already there keeps its row; its references are the
/// same, being derived from the same bytes, and conflict away without being counted twice.
const PUT_MANIFEST_SQL: &str = "
    INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject,
                           annotations, size, body, created_at, total_size, config_digest,
                           pushed_by)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING;
    INSERT INTO manifest_refs (repository_id, parent, child, kind)
        SELECT ?, ?, j.value ->> 0, j.value ->> 1 FROM json_each(?) j WHERE TRUE
        ON CONFLICT DO NOTHING;
    INSERT INTO tags (repository_id, name, digest, updated_at, pushed_by, created_at)
        SELECT ?, j.value, ?, ?, ?, ? FROM json_each(?) j WHERE TRUE
        ON CONFLICT (repository_id, name)
        DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at,
                      pushed_by = excluded.pushed_by;
    INSERT INTO charts (repository_id, tag, namespace_id, name, version, manifest_digest,
                        chart_digest, chart_size, prov_digest, prov_size, metadata, created,
                        created_at)
        SELECT r.id, ?, r.namespace_id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM repositories r
        WHERE r.id = ? AND ? IS NOT NULL
        ON CONFLICT (repository_id, tag)
        DO UPDATE SET name = excluded.name, version = excluded.version,
                      manifest_digest = excluded.manifest_digest,
                      chart_digest = excluded.chart_digest, chart_size = excluded.chart_size,
                      prov_digest = excluded.prov_digest, prov_size = excluded.prov_size,
                      metadata = excluded.metadata;
    UPDATE repositories SET last_pushed_at = ?, updated_at = ? WHERE id = ?;
    COMMIT;";

/// Adds download counts (`?`, JSON `[[repository, digest, tag or null, count, last], ...]`)
/// to manifests, tags and repositories. The same JSON is bound three times.
const RECORD_DOWNLOADS_SQL: &str = "BEGIN;
    UPDATE repositories SET num_downloads = num_downloads + c.n,
                            last_pulled_at = max(coalesce(last_pulled_at, 0), c.last)
        FROM (SELECT value ->> 0 AS repo, sum(value ->> 3) AS n, max(value ->> 4) AS last
              FROM json_each(?) GROUP BY 1) c
        WHERE repositories.id = c.repo;
    UPDATE manifests SET downloads = downloads + c.n
        FROM (SELECT value ->> 0 AS repo, value ->> 1 AS digest, sum(value ->> 3) AS n
              FROM json_each(?) GROUP BY 1, 2) c
        WHERE manifests.repository_id = c.repo AND manifests.digest = c.digest;
    UPDATE tags SET downloads = downloads + c.n,
                    last_pulled_at = max(coalesce(last_pulled_at, 0), c.last)
        FROM (SELECT value ->> 0 AS repo, value ->> 2 AS tag, sum(value ->> 3) AS n,
                     max(value ->> 4) AS last
              FROM json_each(?) WHERE value ->> 2 IS NOT NULL GROUP BY 1, 2) c
        WHERE tags.repository_id = c.repo AND tags.name = c.tag;
    COMMIT;";

#[async_trait]
impl ArtifactStore for SqliteMetaStore {
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = ?")
            .bind(digest.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn repo_blob_size(&self, repo: RepoId, digest: &Digest) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
             WHERE rb.repository_id = ? AND rb.digest = ?",
        )
        .bind(repo.0)
        .bind(digest.as_str())
        .fetch_optional(&self.reader)
        .await?;
        Ok(size.map(|s| s as u64))
    }

    async fn visible_blob_size(
        &self,
        digest: &Digest,
        visibility: &Visibility,
    ) -> Result<Option<u64>> {
        let sql = listing::visible_blob(DIALECT, digest.as_str(), visibility);
        let size: Option<(i64,)> = query_as(sql).fetch_optional(&self.reader).await?;
        Ok(size.map(|(s,)| s as u64))
    }

    async fn link_blob(&self, repo: RepoId, digest: &Digest, size: u64) -> Result<()> {
        let query = bind_link(
            sqlx::query(concat!("BEGIN;", link_sql!(), "COMMIT;")),
            repo,
            digest,
            size,
        );
        self.write(move |conn| {
            Box::pin(async move {
                query.execute(conn).await.map_err(gone(repo))?;
                Ok(())
            })
        })
        .await
    }

    async fn unlink_blob(&self, repo: RepoId, digest: &Digest) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?")
                .bind(repo.0)
                .bind(digest.as_str())
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_manifest(&self, repo: RepoId, m: &NewManifest, tags: &[Tag]) -> Result<()> {
        let digests = |refs: &[ManifestRef]| {
            json(&refs.iter().map(|r| r.digest.as_str()).collect::<Vec<_>>())
        };
        // First trip: open the transaction and look up what the manifest needs.
        let check = sqlx::query_as::<_, (String, String, i64)>(MANIFEST_REFS_SQL)
            .bind(repo.0)
            .bind(digests(&m.blobs))
            .bind(digests(&m.children))
            .bind(
                m.chart
                    .as_ref()
                    .filter(|c| c.expect != ChartExpect::Any)
                    .map(|c| c.tag.as_str().to_owned()),
            );
        let new_chart = m.chart.clone();
        let refs: Vec<(&str, &str)> = m
            .blobs
            .iter()
            .map(|r| (r.digest.as_str(), "blob"))
            .chain(m.children.iter().map(|r| (r.digest.as_str(), "manifest")))
            .collect();
        let tags: Vec<&str> = tags.iter().map(Tag::as_str).collect();
        let (digest, now) = (m.digest.as_str().to_owned(), now_ms());
        // Second trip: store it all and commit.
        let store = sqlx::query(PUT_MANIFEST_SQL)
            .bind(repo.0)
            .bind(digest.clone())
            .bind(m.media_type.clone())
            .bind(m.artifact_type.clone())
            .bind(m.subject.as_ref().map(|d| d.as_str().to_owned()))
            .bind(m.annotations.clone())
            .bind(m.body.len() as i64)
            .bind(m.body.to_vec())
            .bind(now)
            .bind(m.total_size as i64)
            .bind(m.config.as_ref().map(|d| d.as_str().to_owned()))
            .bind(m.pushed_by.clone())
            .bind(repo.0)
            .bind(digest.clone())
            .bind(json(&refs))
            .bind(repo.0)
            .bind(digest)
            .bind(now)
            .bind(m.pushed_by.clone())
            .bind(now)
            .bind(json(&tags));
        let chart = m.chart.as_ref();
        let store = store
            .bind(chart.map(|c| c.tag.as_str().to_owned()))
            .bind(chart.map(|c| c.name.clone()))
            .bind(chart.map(|c| c.version.clone()))
            .bind(chart.map(|_| m.digest.as_str().to_owned()))
            .bind(chart.map(|c| c.archive.digest.as_str().to_owned()))
            .bind(chart.map(|c| c.archive.size as i64))
            .bind(chart.and_then(|c| c.provenance.as_ref().map(|p| p.digest.as_str().to_owned())))
            .bind(chart.and_then(|c| c.provenance.as_ref().map(|p| p.size as i64)))
            .bind(chart.map(|c| c.metadata.clone()))
            .bind(chart.map(|c| c.created.clone()))
            .bind(now)
            .bind(repo.0)
            .bind(chart.map(|c| c.tag.as_str().to_owned()))
            .bind(now)
            .bind(now)
            .bind(repo.0);
        let (blob_refs, child_refs) = (m.blobs.clone(), m.children.clone());
        let require_refs = m.require_refs;
        self.write(move |conn| {
            Box::pin(async move {
                let (mut blobs, mut children) = (HashMap::new(), HashMap::new());
                let mut repository_exists = false;
                let mut chart_manifest = None;
                for (kind, digest, size) in check.fetch_all(&mut *conn).await? {
                    match kind.as_str() {
                        "repository" => repository_exists = true,
                        "chart" => chart_manifest = Some(digest),
                        "blob" => {
                            blobs.insert(digest, size);
                        }
                        _ => {
                            children.insert(digest, size);
                        }
                    }
                }
                if !repository_exists {
                    return Err(MetaError::NotFound {
                        entity: "repository",
                        name: format!("#{}", repo.0),
                    });
                }
                if require_refs {
                    check_sizes(&blob_refs, &blobs, MetaError::MissingBlob)?;
                    check_sizes(&child_refs, &children, MetaError::MissingManifest)?;
                }
                if let Some(chart) = &new_chart {
                    check_chart_expect(chart, chart_manifest.as_deref())?;
                }
                store.execute(&mut *conn).await?;
                Ok(())
            })
        })
        .await
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
                     WHERE repository_id = ? AND digest = ?",
                )
                .bind(repo.0)
                .bind(d.as_str())
                .fetch_optional(&self.reader)
                .await?
            }
            Reference::Tag(t) => {
                sqlx::query_as(
                    "SELECT m.digest, m.media_type, m.body FROM tags t
                     JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
                     WHERE t.repository_id = ? AND t.name = ?",
                )
                .bind(repo.0)
                .bind(t.as_str())
                .fetch_optional(&self.reader)
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
        let row: Option<ManifestInfoDbRow> = query_as(sql).fetch_optional(&self.reader).await?;
        row.map(ManifestInfo::try_from).transpose()
    }

    async fn manifest_info_and_body(
        &self,
        repo: RepoId,
        digest: &Digest,
    ) -> Result<Option<(ManifestInfo, ManifestRow)>> {
        let sql = listing::manifest_info(DIALECT, repo, digest.as_str(), true);
        let row: Option<ManifestInfoBodyDbRow> = query_as(sql).fetch_optional(&self.reader).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn tag_info_and_body(
        &self,
        repo: RepoId,
        tag: &Tag,
    ) -> Result<Option<(TagRow, ManifestInfo, ManifestRow)>> {
        let sql = listing::tag_info(DIALECT, repo, tag.as_str());
        let row: Option<TagInfoBodyDbRow> = query_as(sql).fetch_optional(&self.reader).await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_manifests(
        &self,
        repo: RepoId,
        query: &ManifestQuery,
    ) -> Result<Listed<ManifestInfo>> {
        let sql = listing::manifests(DIALECT, repo, query);
        let fallback = listing::count_of(&sql);
        let rows: Vec<Counted<ManifestInfoDbRow>> = query_as(sql).fetch_all(&self.reader).await?;
        let total = self
            .fallback_total(rows.is_empty(), query.page.offset, fallback)
            .await?;
        listed(rows, total)
    }

    async fn set_image_info(&self, repo: RepoId, digest: &Digest, info: &str) -> Result<()> {
        sqlx::query("UPDATE manifests SET image_info = ? WHERE repository_id = ? AND digest = ?")
            .bind(info)
            .bind(repo.0)
            .bind(digest.as_str())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_manifest(&self, repo: RepoId, digest: &Digest) -> Result<bool> {
        let digest = digest.as_str().to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("BEGIN").execute(&mut *conn).await?;
                // Tags first, so their trigger counts the image while the manifest is there.
                sqlx::query("DELETE FROM tags WHERE repository_id = ? AND digest = ?")
                    .bind(repo.0)
                    .bind(&digest)
                    .execute(&mut *conn)
                    .await?;
                let done =
                    sqlx::query("DELETE FROM manifests WHERE repository_id = ? AND digest = ?")
                        .bind(repo.0)
                        .bind(&digest)
                        .execute(&mut *conn)
                        .await?;
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await
    }

    async fn delete_tag(&self, repo: RepoId, tag: &Tag) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tags WHERE repository_id = ? AND name = ?")
            .bind(repo.0)
            .bind(tag.as_str())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn tag_names(&self, repo: RepoId, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        let joined: Option<String> = sqlx::query_scalar(
            "SELECT group_concat(name, char(10) ORDER BY name) FROM
                (SELECT name FROM tags WHERE repository_id = ? AND name > ?
                 ORDER BY name LIMIT CAST(? AS INTEGER))",
        )
        .bind(repo.0)
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_one(&self.reader)
        .await?;
        Ok(split_lines(joined))
    }

    async fn get_tag(&self, repo: RepoId, tag: &Tag) -> Result<Option<TagRow>> {
        let sql =
            format!("SELECT {TAG_COLUMNS} {TAG_FROM} WHERE t.repository_id = ? AND t.name = ?");
        let row: Option<TagDbRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(repo.0)
            .bind(tag.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.map(TagRow::try_from).transpose()
    }

    async fn list_tags(&self, repo: RepoId, query: &TagQuery) -> Result<Listed<TagRow>> {
        // One row: the page as JSON and the total (see listing::page_select).
        let (sql, _) = listing::tags(DIALECT, repo, query);
        let (rows, total): (String, i64) = query_as(sql).fetch_one(&self.reader).await?;
        json_listed::<TagDbRow, _>(&rows, total)
    }

    async fn referrers(&self, repo: RepoId, subject: &Digest) -> Result<Vec<Referrer>> {
        let rows: Vec<(String, String, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests
             WHERE repository_id = ? AND subject = ? ORDER BY created_at, digest",
        )
        .bind(repo.0)
        .bind(subject.as_str())
        .fetch_all(&self.reader)
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
        let mut sql = listing::catalog(DIALECT, last, limit, visibility);
        // One joined value instead of a row per name (see split_lines).
        sql.text = format!(
            "SELECT group_concat(name, char(10) ORDER BY name) FROM ({})",
            sql.text
        );
        let (joined,): (Option<String>,) = query_as(sql).fetch_one(&self.reader).await?;
        Ok(split_lines(joined))
    }

    async fn record_downloads(&self, counts: &[DownloadCount]) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, &str, Option<&str>, u64, i64)> = counts
            .iter()
            .map(|c| {
                (
                    c.repository.0,
                    c.digest.as_str(),
                    c.tag.as_ref().map(Tag::as_str),
                    c.count,
                    c.last_at,
                )
            })
            .collect();
        let rows = json(&rows);
        let query = sqlx::query(RECORD_DOWNLOADS_SQL)
            .bind(rows.clone())
            .bind(rows.clone())
            .bind(rows);
        self.write(|conn| {
            Box::pin(async move {
                query.execute(conn).await?;
                Ok(())
            })
        })
        .await
    }
}

impl SqliteMetaStore {
    /// The total of a listing whose page came back empty: counted only when the page was
    /// past the start (an empty first page means there is nothing).
    pub(super) async fn fallback_total(
        &self,
        empty: bool,
        offset: u64,
        count: Option<listing::Sql>,
    ) -> Result<Option<i64>> {
        match count {
            Some(count) if empty && offset > 0 => {
                let (n,): (i64,) = query_as(count).fetch_one(&self.reader).await?;
                Ok(Some(n))
            }
            _ => Ok(None),
        }
    }
}
