//! Manifests and tags of a repository, referrers, the catalog, and the detail views built
//! from a manifest and its config blob.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_core::manifest::{self, ManifestError, ManifestKind, ParsedManifest};
use berth_core::{Caller, Descriptor, Digest, Reference, Tag};
use berth_meta::{
    Listed, ManifestInfo, ManifestQuery, ManifestRef, ManifestRow, NewManifest, RepoKind,
    RepositoryRow, TagQuery, TagRow, Visibility,
};
use bytes::Bytes;
use futures::TryStreamExt;

use super::image::{IMAGE_CONFIG_TYPES, ImageInfo};
use super::{DownloadCounter, ProxyService, Store};
use crate::audit::{AuditService, Outcome};
use crate::{Entity, Field, Result, ServiceError};

/// What storing a manifest produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestStored {
    pub digest: Digest,
    pub subject: Option<Digest>,
    /// Every tag that now points at it (the reference's, then `?tag=` ones, deduplicated).
    pub tags: Vec<Tag>,
}

/// The manifests referring to a subject, as an index's descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerList {
    pub manifests: Vec<Descriptor>,
    /// Whether an `artifactType` filter was applied.
    pub filtered: bool,
}

/// Whether a read of a manifest is a download (GET) or a look (HEAD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullKind {
    Get,
    Head,
}

/// One image manifest (or index) as a detail view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDetail {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// The manifest's bytes plus what it references.
    pub total_size: u64,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub annotations: BTreeMap<String, String>,
    /// From the config blob, for images.
    pub image: Option<ImageInfo>,
    /// An index entry's `platform`, for the images of a multi-platform index.
    pub platform: Option<serde_json::Value>,
    /// The manifest text as pushed.
    pub body: Bytes,
}

/// A tag with everything about what it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDetail {
    pub tag: TagRow,
    pub manifest: ManifestInfo,
    pub detail: ImageDetail,
    /// The images of a multi-platform index, each with its own detail.
    pub platforms: Vec<ImageDetail>,
}

pub struct ManifestService {
    store: Arc<Store>,
    downloads: Arc<DownloadCounter>,
    audit: Arc<AuditService>,
    proxy: Arc<ProxyService>,
}

/// Layers that clients fetch from elsewhere (Windows base layers): not required to be here.
fn is_foreign_layer(media_type: &str) -> bool {
    media_type.contains("foreign") || media_type.contains("nondistributable")
}

fn parse_stored(row: &ManifestRow) -> Result<ParsedManifest> {
    manifest::parse(Some(&row.media_type), &row.body)
        .map_err(|e| ServiceError::internal(format!("stored manifest {}: {e}", row.digest)))
}

impl ManifestService {
    pub(crate) fn new(
        store: Arc<Store>,
        downloads: Arc<DownloadCounter>,
        audit: Arc<AuditService>,
        proxy: Arc<ProxyService>,
    ) -> ManifestService {
        ManifestService {
            store,
            downloads,
            audit,
            proxy,
        }
    }

    pub fn max_manifest_bytes(&self) -> usize {
        self.store.limits.max_manifest_bytes
    }

    /// PUT a manifest under `reference`, with extra `tags` (`?tag=`). A Helm chart is
    /// recognised as one (its metadata read from its archive, once) and recorded with it.
    pub async fn put(
        &self,
        caller: &Caller,
        repo: &RepositoryRow,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
        tags: &[Tag],
    ) -> Result<ManifestStored> {
        self.put_inner(caller, repo, reference, content_type, body, tags, None)
            .await
    }

    /// Stores the manifest of a chart version the chart store built (its chart known).
    pub(crate) async fn put_chart(
        &self,
        caller: &Caller,
        repo: &RepositoryRow,
        tag: &Tag,
        body: Bytes,
        chart: berth_meta::NewChart,
    ) -> Result<ManifestStored> {
        let reference = Reference::Tag(tag.clone());
        self.put_inner(
            caller,
            repo,
            &reference,
            Some(manifest::OCI_MANIFEST),
            body,
            &[],
            Some(chart),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_inner(
        &self,
        caller: &Caller,
        repo: &RepositoryRow,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
        tags: &[Tag],
        chart: Option<berth_meta::NewChart>,
    ) -> Result<ManifestStored> {
        let limit = self.store.limits.max_manifest_bytes;
        if body.len() > limit {
            return Err(ServiceError::TooLarge {
                what: "manifest",
                limit: limit as u64,
            });
        }
        let digest = match reference {
            Reference::Digest(expected) => {
                let computed = Digest::compute(expected.algorithm(), &body);
                super::writer::verify(expected, &computed)?;
                computed
            }
            Reference::Tag(_) => Digest::sha256(&body),
        };
        let parsed = manifest::parse(content_type, &body).map_err(|e| match e {
            ManifestError::Json(_)
            | ManifestError::Invalid(_)
            | ManifestError::UnsupportedMediaType(_) => {
                ServiceError::invalid(Field::Manifest, e.to_string())
            }
        })?;
        let mut all_tags: Vec<Tag> = Vec::with_capacity(tags.len() + 1);
        if let Reference::Tag(tag) = reference {
            all_tags.push(tag.clone());
        }
        for tag in tags {
            if !all_tags.contains(tag) {
                all_tags.push(tag.clone());
            }
        }
        let as_ref = |d: &Descriptor| ManifestRef {
            digest: d.digest.clone(),
            size: d.size,
        };
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let referenced: u64 = parsed
            .blobs
            .iter()
            .chain(&parsed.children)
            .map(|d| d.size)
            .sum();
        let chart = match chart {
            Some(chart) => Some(chart),
            None => crate::charts::chart_of_manifest(&self.store, repo, &parsed, &all_tags).await?,
        };
        let new = NewManifest {
            chart,
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
            total_size: body.len() as u64 + referenced,
            config: match parsed.kind {
                ManifestKind::Image => parsed.blobs.first().map(|d| d.digest.clone()),
                ManifestKind::Index => None,
            },
            body,
            artifact_type: parsed.artifact_type.clone(),
            subject: subject.clone(),
            annotations: parsed
                .annotations
                .as_ref()
                .map(|a| serde_json::to_string(a).expect("string maps serialize")),
            blobs: parsed
                .blobs
                .iter()
                .filter(|d| !is_foreign_layer(&d.media_type))
                .map(as_ref)
                .collect(),
            children: parsed.children.iter().map(as_ref).collect(),
            pushed_by: caller.display_name().to_owned(),
            require_refs: true,
        };
        self.store
            .meta
            .artifacts
            .put_manifest(repo.id, &new, &all_tags)
            .await?;
        let tags: Vec<&str> = all_tags.iter().map(Tag::as_str).collect();
        self.audit.record(
            caller,
            None,
            "push",
            &format!("{}@{digest}", repo.name),
            Outcome::Ok,
            &tags.join(","),
        );
        Ok(ManifestStored {
            digest,
            subject,
            tags: all_tags,
        })
    }

    /// A manifest by tag or digest (of a pull-through cache: checked with or fetched from
    /// its upstream); a GET counts as a download.
    pub async fn get(
        &self,
        repo: &RepositoryRow,
        reference: &Reference,
        kind: PullKind,
    ) -> Result<ManifestRow> {
        let row = if repo.kind == RepoKind::Proxy {
            self.proxy.manifest(repo, reference).await?
        } else {
            self.store
                .meta
                .artifacts
                .get_manifest(repo.id, reference)
                .await?
                .ok_or_else(|| ServiceError::NotFound(Entity::Manifest(reference.to_string())))?
        };
        if kind == PullKind::Get {
            let tag = match reference {
                Reference::Tag(tag) => Some(tag),
                Reference::Digest(_) => None,
            };
            self.downloads.record(repo.id, &row.digest, tag);
        }
        Ok(row)
    }

    /// DELETE by digest removes the manifest and its tags; by tag, only the tag.
    pub async fn delete(
        &self,
        caller: &Caller,
        repo: &RepositoryRow,
        reference: &Reference,
    ) -> Result<()> {
        let artifacts = &self.store.meta.artifacts;
        let existed = match reference {
            Reference::Digest(d) => artifacts.delete_manifest(repo.id, d).await?,
            Reference::Tag(t) => artifacts.delete_tag(repo.id, t).await?,
        };
        if !existed {
            return Err(ServiceError::NotFound(Entity::Manifest(
                reference.to_string(),
            )));
        }
        let resource = match reference {
            Reference::Digest(d) => format!("{}@{d}", repo.name),
            Reference::Tag(t) => format!("{}:{t}", repo.name),
        };
        self.audit
            .record(caller, None, "delete", &resource, Outcome::Ok, "");
        Ok(())
    }

    /// Tag names after `last` in lexical order (the OCI listing).
    pub async fn tag_names(
        &self,
        repo: &RepositoryRow,
        last: Option<&str>,
        n: u32,
    ) -> Result<Vec<String>> {
        Ok(self
            .store
            .meta
            .artifacts
            .tag_names(repo.id, last, n)
            .await?)
    }

    /// Repository names with at least one manifest, of those `visibility` shows.
    pub async fn catalog(
        &self,
        visibility: &Visibility,
        last: Option<&str>,
        n: u32,
    ) -> Result<Vec<String>> {
        Ok(self
            .store
            .meta
            .artifacts
            .catalog(last, n, visibility)
            .await?)
    }

    pub async fn referrers(
        &self,
        repo: &RepositoryRow,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ReferrerList> {
        let found = self
            .store
            .meta
            .artifacts
            .referrers(repo.id, subject)
            .await?;
        let manifests = found
            .into_iter()
            .filter(|r| artifact_type.is_none() || r.artifact_type.as_deref() == artifact_type)
            .map(|r| {
                let annotations = match r.annotations {
                    Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                        ServiceError::internal(format!("stored annotations of {}: {e}", r.digest))
                    })?),
                    None => None,
                };
                Ok(Descriptor {
                    media_type: r.media_type,
                    digest: r.digest,
                    size: r.size,
                    artifact_type: r.artifact_type,
                    annotations,
                    platform: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ReferrerList {
            manifests,
            filtered: artifact_type.is_some(),
        })
    }

    // ---- browsing ----

    pub async fn list_tags(
        &self,
        repo: &RepositoryRow,
        query: &TagQuery,
    ) -> Result<Listed<TagRow>> {
        Ok(self.store.meta.artifacts.list_tags(repo.id, query).await?)
    }

    pub async fn get_tag(&self, repo: &RepositoryRow, tag: &Tag) -> Result<TagRow> {
        self.store
            .meta
            .artifacts
            .get_tag(repo.id, tag)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Tag(tag.to_string())))
    }

    pub async fn delete_tag(&self, caller: &Caller, repo: &RepositoryRow, tag: &Tag) -> Result<()> {
        if !self.store.meta.artifacts.delete_tag(repo.id, tag).await? {
            return Err(ServiceError::NotFound(Entity::Tag(tag.to_string())));
        }
        let resource = format!("{}:{tag}", repo.name);
        self.audit
            .record(caller, None, "delete", &resource, Outcome::Ok, "");
        Ok(())
    }

    pub async fn list_manifests(
        &self,
        repo: &RepositoryRow,
        query: &ManifestQuery,
    ) -> Result<Listed<ManifestInfo>> {
        Ok(self
            .store
            .meta
            .artifacts
            .list_manifests(repo.id, query)
            .await?)
    }

    pub async fn manifest_info(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
    ) -> Result<ManifestInfo> {
        self.store
            .meta
            .artifacts
            .manifest_info(repo.id, digest)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Manifest(digest.to_string())))
    }

    /// A tag, what it points at, and (for an index) each platform's image.
    pub async fn tag_detail(&self, repo: &RepositoryRow, tag: &Tag) -> Result<TagDetail> {
        let (tag_row, manifest, row) = self
            .store
            .meta
            .artifacts
            .tag_info_and_body(repo.id, tag)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Tag(tag.to_string())))?;
        let parsed = parse_stored(&row)?;
        let children = match parsed.kind {
            ManifestKind::Index => parsed.children.clone(),
            ManifestKind::Image => Vec::new(),
        };
        let detail = self
            .image_detail(repo, &manifest, row, parsed, None)
            .await?;
        let mut platforms = Vec::new();
        for child in &children {
            let Ok((info, row)) = self.info_and_row(repo, &child.digest).await else {
                continue;
            };
            let parsed = parse_stored(&row)?;
            platforms.push(
                self.image_detail(repo, &info, row, parsed, child.platform.clone())
                    .await?,
            );
        }
        Ok(TagDetail {
            tag: tag_row,
            manifest,
            detail,
            platforms,
        })
    }

    /// The detail of one manifest by digest.
    pub async fn manifest_detail(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
    ) -> Result<ImageDetail> {
        let (info, row) = self.info_and_row(repo, digest).await?;
        let parsed = parse_stored(&row)?;
        self.image_detail(repo, &info, row, parsed, None).await
    }

    /// A manifest's info and its bytes, in one trip to the database.
    async fn info_and_row(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
    ) -> Result<(ManifestInfo, ManifestRow)> {
        self.store
            .meta
            .artifacts
            .manifest_info_and_body(repo.id, digest)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Manifest(digest.to_string())))
    }

    async fn image_detail(
        &self,
        repo: &RepositoryRow,
        info: &ManifestInfo,
        row: ManifestRow,
        parsed: ParsedManifest,
        platform: Option<serde_json::Value>,
    ) -> Result<ImageDetail> {
        let (config, layers) = match parsed.kind {
            ManifestKind::Image => {
                let mut blobs = parsed.blobs.into_iter();
                (blobs.next(), blobs.collect())
            }
            ManifestKind::Index => (None, Vec::new()),
        };
        let image = match &config {
            Some(c) if IMAGE_CONFIG_TYPES.contains(&c.media_type.as_str()) => {
                Some(self.image_info(repo, info, c).await?)
            }
            _ => None,
        };
        Ok(ImageDetail {
            digest: info.digest.clone(),
            media_type: info.media_type.clone(),
            artifact_type: info.artifact_type.clone(),
            total_size: info.total_size,
            config,
            layers,
            annotations: parsed.annotations.unwrap_or_default(),
            image,
            platform,
            body: row.body,
        })
    }

    /// The config's image info: from the database once it was read, else read now (a
    /// config larger than the limit, or gone from storage, gives an empty info).
    async fn image_info(
        &self,
        repo: &RepositoryRow,
        info: &ManifestInfo,
        config: &Descriptor,
    ) -> Result<ImageInfo> {
        if let Some(stored) = &info.image_info
            && let Ok(parsed) = serde_json::from_str(stored)
        {
            return Ok(parsed);
        }
        if config.size > self.store.limits.max_config_bytes {
            return Ok(ImageInfo::default());
        }
        let bytes: Vec<u8> = match self.store.blobs.get(&config.digest, 0..config.size).await {
            Ok(stream) => stream
                .try_fold(Vec::new(), |mut all, chunk| async move {
                    all.extend_from_slice(&chunk);
                    Ok(all)
                })
                .await
                .map_err(ServiceError::internal)?,
            Err(berth_storage::StorageError::NotFound) => return Ok(ImageInfo::default()),
            Err(e) => return Err(e.into()),
        };
        let image = ImageInfo::from_config(&bytes);
        let json = serde_json::to_string(&image).map_err(ServiceError::internal)?;
        self.store
            .meta
            .artifacts
            .set_image_info(repo.id, &info.digest, &json)
            .await?;
        Ok(image)
    }
}
