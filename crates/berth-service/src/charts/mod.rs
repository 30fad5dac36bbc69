//! The one chart store. A chart version is the OCI artifact in repository
//! `<namespace>/<chart>` tagged with its version (Helm's media types); its metadata is read
//! once, when the artifact is stored (by [`ChartService::upload`] or by a manifest PUT over
//! `/v2`), and kept in the metadata database, so listings and `index.yaml` never open an
//! archive. Every surface (classic repository, ChartMuseum, the native API, seed 002's
//! spaces) goes through this service.

pub mod archive;
mod index;
pub mod orchestrate;

use std::sync::Arc;

use berth_core::manifest::{Descriptor, OCI_MANIFEST, ParsedManifest};
use berth_core::{Caller, Digest, Level, NamespaceName, Reference, RepoName, Resource, Scope, Tag};
use berth_meta::{
    ChartExpect, ChartRow, ManifestRef, Meta, NamespaceRow, NewChart, RepoKind, RepositoryRow,
};
use bytes::Bytes;
use futures::TryStreamExt;

pub use archive::{
    ArchiveError, ChartArchive, ChartLimits, HELM_CONFIG_TYPE, HELM_CONTENT_TYPE,
    HELM_PROVENANCE_TYPE, version_tag,
};
pub use index::{IndexBody, IndexForm, RenderedIndex};

use crate::access::Target;
use crate::registry::{ManifestService, Store};
use crate::{Entity, Field, RepositoryService, Result, ServiceError};

/// One chart version as every surface shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartVersion {
    pub repository: RepoName,
    pub name: String,
    pub version: String,
    pub tag: String,
    pub manifest: Digest,
    /// The `.tgz`.
    pub archive: ManifestRef,
    pub provenance: Option<ManifestRef>,
    /// Chart.yaml as a JSON object.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// RFC 3339.
    pub created: String,
}

impl ChartVersion {
    fn from_row(namespace: &str, row: ChartRow) -> Result<ChartVersion> {
        let metadata = match serde_json::from_str(&row.metadata) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => {
                return Err(ServiceError::internal(format!(
                    "stored metadata of chart {} {} is not an object",
                    row.name, row.version
                )));
            }
        };
        Ok(ChartVersion {
            repository: format!("{namespace}/{}", row.name)
                .parse()
                .map_err(ServiceError::internal)?,
            name: row.name,
            version: row.version,
            tag: row.tag,
            manifest: row.manifest,
            archive: row.archive,
            provenance: row.provenance,
            metadata,
            created: row.created,
        })
    }

    /// The version as an index entry (what `index.yaml` lists and ChartMuseum's API
    /// answers): Chart.yaml's fields plus `urls`, `created` and `digest`.
    pub fn entry(&self) -> serde_json::Map<String, serde_json::Value> {
        index::entry_of(
            self.metadata.clone(),
            &self.name,
            &self.version,
            &self.created,
            self.archive.digest.hex(),
        )
    }

    /// The archive's file name in a classic repository (`<name>-<version>.tgz`).
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }
}

/// What an upload brings.
#[derive(Clone, Debug, Default)]
pub struct ChartUpload {
    pub archive: Bytes,
    pub provenance: Option<Bytes>,
    /// Replace a version that exists (else it is refused as already existing).
    pub force: bool,
}

/// Which file of a chart version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartFile {
    Archive,
    Provenance,
}

pub struct ChartService {
    store: Arc<Store>,
    meta: Meta,
    repositories: Arc<RepositoryService>,
    manifests: Arc<ManifestService>,
    limits: ChartLimits,
    indexes: index::IndexCache,
}

impl ChartService {
    pub(crate) fn new(
        store: Arc<Store>,
        repositories: Arc<RepositoryService>,
        manifests: Arc<ManifestService>,
    ) -> ChartService {
        ChartService {
            meta: store.meta.clone(),
            limits: store.limits.charts.clone(),
            store,
            repositories,
            manifests,
            indexes: index::IndexCache::default(),
        }
    }

    pub fn limits(&self) -> &ChartLimits {
        &self.limits
    }

    /// The namespace, if the caller has `level` in it (else the policy's denial: not found
    /// where the caller may not see it, unauthenticated where logging in would help).
    pub async fn authorize(
        &self,
        caller: &Caller,
        namespace: &str,
        level: Level,
    ) -> Result<Option<NamespaceRow>> {
        let not_found = || ServiceError::NotFound(Entity::Namespace(namespace.to_owned()));
        let ns: NamespaceName = namespace.parse().map_err(|_| not_found())?;
        let row = self.meta.repositories.get_namespace(namespace).await?;
        let access = self.repositories.access();
        if !access.is_admin(caller) {
            let scope = Scope::new(Resource::Namespace(ns), level);
            access
                .check(caller, &scope, Target::Namespace(row.as_ref()))
                .await?;
        }
        Ok(row)
    }

    async fn readable(&self, caller: &Caller, namespace: &str) -> Result<NamespaceRow> {
        self.authorize(caller, namespace, Level::Read)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Namespace(namespace.to_owned())))
    }

    /// The classic repository index of a namespace, as of its current chart generation:
    /// cached, or brought up to date by re-reading only the charts changed since the cached
    /// generation (everything only when nothing is cached or the change log no longer
    /// reaches back to it).
    pub async fn index(&self, caller: &Caller, namespace: &str) -> Result<Arc<RenderedIndex>> {
        self.readable(caller, namespace).await?;
        let not_found = || ServiceError::NotFound(Entity::Namespace(namespace.to_owned()));
        let generation = self
            .meta
            .charts
            .chart_generation(namespace)
            .await?
            .ok_or_else(not_found)?;
        if let Some(hit) = self.indexes.get(namespace, generation) {
            return Ok(hit);
        }
        let base = self.indexes.current(namespace, generation.namespace_id);
        let changes = self
            .meta
            .charts
            .chart_changes(
                generation.namespace_id,
                base.as_ref().map(|b| b.generation()),
            )
            .await?
            .ok_or_else(not_found)?;
        Ok(self.indexes.apply(namespace, base.as_deref(), changes))
    }

    /// Every version of every chart in the namespace (of `name` only, if given), by name,
    /// newest version first.
    pub async fn list(
        &self,
        caller: &Caller,
        namespace: &str,
        name: Option<&str>,
    ) -> Result<Vec<ChartVersion>> {
        let ns = self.readable(caller, namespace).await?;
        let rows = self.meta.charts.list_charts(ns.id, name).await?;
        let mut versions = rows
            .into_iter()
            .map(|row| ChartVersion::from_row(namespace, row))
            .collect::<Result<Vec<_>>>()?;
        sort_versions(&mut versions, |v| (&v.name, &v.version));
        Ok(versions)
    }

    /// The (name, version) of every chart version in a namespace, for internal callers
    /// (a Helm repository's sync); empty when the namespace does not exist.
    pub async fn versions_of(&self, namespace: &str) -> Result<Vec<(String, String)>> {
        let Some(generation) = self.meta.charts.chart_generation(namespace).await? else {
            return Ok(Vec::new());
        };
        let rows = self
            .meta
            .charts
            .list_charts(generation.namespace_id, None)
            .await?;
        Ok(rows.into_iter().map(|r| (r.name, r.version)).collect())
    }

    pub async fn get(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<ChartVersion> {
        let ns = self.readable(caller, namespace).await?;
        self.version_in(&ns, name, version).await
    }

    async fn version_in(
        &self,
        ns: &NamespaceRow,
        name: &str,
        version: &str,
    ) -> Result<ChartVersion> {
        let row = self
            .meta
            .charts
            .get_chart(ns.id, name, version)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Chart(format!("{name}-{version}"))))?;
        ChartVersion::from_row(&ns.name, row)
    }

    /// The version's archive or provenance file: its size and its bytes as a stream.
    pub async fn open(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
        file: ChartFile,
    ) -> Result<(ChartVersion, u64, berth_storage::ByteStream)> {
        let found = self.get(caller, namespace, name, version).await?;
        let part = match file {
            ChartFile::Archive => found.archive.clone(),
            ChartFile::Provenance => found.provenance.clone().ok_or_else(|| {
                ServiceError::NotFound(Entity::Chart(format!("{name}-{version}.tgz.prov")))
            })?,
        };
        let stream = match self.store.blobs.get(&part.digest, 0..part.size).await {
            Ok(stream) => stream,
            Err(berth_storage::StorageError::NotFound) => {
                return Err(ServiceError::internal(format!(
                    "blob {} of chart {name}-{version} is missing from storage",
                    part.digest
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok((found, part.size, stream))
    }

    /// Stores a chart version (validated first; a refused upload stores nothing) as the OCI
    /// artifact `<namespace>/<name>:<version>`.
    pub async fn upload(
        &self,
        caller: &Caller,
        namespace: &str,
        upload: ChartUpload,
    ) -> Result<ChartVersion> {
        let chart = self.inspect(upload.archive.clone()).await?;
        if let Some(prov) = &upload.provenance
            && prov.len() as u64 > self.limits.max_provenance_bytes
        {
            return Err(ServiceError::TooLarge {
                what: "provenance file",
                limit: self.limits.max_provenance_bytes,
            });
        }
        let repo_name: RepoName =
            format!("{namespace}/{}", chart.name)
                .parse()
                .map_err(|e: berth_core::NameError| {
                    ServiceError::invalid(Field::Name, e.to_string())
                })?;
        let repo = self.repositories.open_for_push(caller, &repo_name).await?;
        if !upload.force
            && self
                .meta
                .charts
                .get_chart(repo.namespace_id, &chart.name, &chart.version)
                .await?
                .is_some()
        {
            return Err(ServiceError::AlreadyExists(Entity::Chart(format!(
                "{}-{}",
                chart.name, chart.version
            ))));
        }
        // The check above spares the blob writes; this one, in the transaction that writes
        // the version, is what makes two concurrent uploads of it end in one 409.
        let expect = if upload.force {
            ChartExpect::Any
        } else {
            ChartExpect::Absent
        };
        self.store_version(
            caller,
            &repo,
            &chart,
            upload.archive,
            upload.provenance,
            expect,
        )
        .await?;
        self.repositories.forget(&repo_name);
        let ns = self.readable(caller, namespace).await?;
        self.version_in(&ns, &chart.name, &chart.version).await
    }

    /// Adds the provenance file of a version that exists (replaces one only with `force`).
    /// The file names its chart: its signed block holds the chart's Chart.yaml.
    pub async fn upload_provenance(
        &self,
        caller: &Caller,
        namespace: &str,
        provenance: Bytes,
        force: bool,
    ) -> Result<ChartVersion> {
        if provenance.len() as u64 > self.limits.max_provenance_bytes {
            return Err(ServiceError::TooLarge {
                what: "provenance file",
                limit: self.limits.max_provenance_bytes,
            });
        }
        let (name, version) = provenance_names(&provenance).ok_or_else(|| {
            ServiceError::invalid(
                Field::param("prov"),
                "not a Helm provenance file (no chart name and version in its signed block)",
            )
        })?;
        self.authorize(caller, namespace, Level::Write).await?;
        let current = self.get(caller, namespace, &name, &version).await?;
        if current.provenance.is_some() && !force {
            return Err(ServiceError::AlreadyExists(Entity::Chart(format!(
                "{name}-{version}.tgz.prov"
            ))));
        }
        let repo = self
            .repositories
            .open_existing(caller, &current.repository, berth_core::Action::Push)
            .await?;
        let archive = self.read_blob(&current.archive).await?;
        let chart = self.inspect(archive.clone()).await?;
        // Without force, only onto the version as read (no provenance yet).
        let expect = if force {
            ChartExpect::Any
        } else {
            ChartExpect::Manifest(current.manifest.clone())
        };
        self.store_version(caller, &repo, &chart, archive, Some(provenance), expect)
            .await?;
        self.get(caller, namespace, &name, &version).await
    }

    /// Deletes a chart version (its manifest, and with it its tags).
    pub async fn delete(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<()> {
        self.authorize(caller, namespace, Level::Write).await?;
        let current = self.get(caller, namespace, name, version).await?;
        let repo = self
            .repositories
            .open_existing(caller, &current.repository, berth_core::Action::Push)
            .await?;
        self.manifests
            .delete(caller, &repo, &Reference::Digest(current.manifest))
            .await
    }

    async fn inspect(&self, archive: Bytes) -> Result<ChartArchive> {
        if archive.len() as u64 > self.limits.max_chart_bytes {
            return Err(ServiceError::TooLarge {
                what: "chart archive",
                limit: self.limits.max_chart_bytes,
            });
        }
        let limits = self.limits.clone();
        tokio::task::spawn_blocking(move || archive::inspect(&archive, &limits))
            .await
            .map_err(ServiceError::internal)?
            .map_err(|e| ServiceError::invalid(Field::param("chart"), e.to_string()))
    }

    async fn read_blob(&self, part: &ManifestRef) -> Result<Bytes> {
        read_small_blob(&self.store, &part.digest, part.size).await
    }

    /// Writes the config, archive and provenance blobs, then the manifest with its chart row
    /// (one transaction).
    async fn store_version(
        &self,
        caller: &Caller,
        repo: &RepositoryRow,
        chart: &ChartArchive,
        archive: Bytes,
        provenance: Option<Bytes>,
        expect: ChartExpect,
    ) -> Result<()> {
        let config =
            Bytes::from(serde_json::to_vec(&chart.metadata).map_err(ServiceError::internal)?);
        let mut layers = Vec::new();
        let config_ref = self.put_blob(repo, config).await?;
        let archive_ref = self.put_blob(repo, archive).await?;
        layers.push((HELM_CONTENT_TYPE, archive_ref.clone()));
        let provenance_ref = match provenance {
            Some(prov) => {
                let r = self.put_blob(repo, prov).await?;
                layers.push((HELM_PROVENANCE_TYPE, r.clone()));
                Some(r)
            }
            None => None,
        };
        let created = berth_core::time::rfc3339(berth_meta::now_ms());
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            "org.opencontainers.image.title".into(),
            chart.name.clone().into(),
        );
        annotations.insert(
            "org.opencontainers.image.version".into(),
            chart.version.clone().into(),
        );
        annotations.insert(
            "org.opencontainers.image.created".into(),
            created.clone().into(),
        );
        if let Some(serde_json::Value::String(d)) = chart.metadata.get("description") {
            annotations.insert(
                "org.opencontainers.image.description".into(),
                d.clone().into(),
            );
        }
        let descriptor = |media_type: &str, r: &ManifestRef| serde_json::json!({"mediaType": media_type, "digest": r.digest.as_str(), "size": r.size});
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(HELM_CONFIG_TYPE, &config_ref),
            "layers": layers.iter().map(|(t, r)| descriptor(t, r)).collect::<Vec<_>>(),
            "annotations": annotations,
        });
        let body = Bytes::from(serde_json::to_vec(&manifest).map_err(ServiceError::internal)?);
        let tag: Tag = chart
            .tag()
            .parse()
            .map_err(|e: berth_core::NameError| ServiceError::invalid(Field::Tag, e.to_string()))?;
        let new_chart = NewChart {
            tag: tag.clone(),
            name: chart.name.clone(),
            version: chart.version.clone(),
            archive: archive_ref,
            provenance: provenance_ref,
            metadata: serde_json::to_string(&chart.metadata).map_err(ServiceError::internal)?,
            created,
            expect,
        };
        self.manifests
            .put_chart(caller, repo, &tag, body, new_chart)
            .await?;
        Ok(())
    }

    async fn put_blob(&self, repo: &RepositoryRow, bytes: Bytes) -> Result<ManifestRef> {
        let digest = Digest::sha256(&bytes);
        let size = bytes.len() as u64;
        if self
            .meta
            .artifacts
            .repo_blob_size(repo.id, &digest)
            .await?
            .is_none()
        {
            let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes)]);
            crate::registry::writer::write_blob(&*self.store.blobs, body, &digest, Some(size))
                .await?;
            self.meta
                .artifacts
                .link_blob(repo.id, &digest, size)
                .await?;
        }
        Ok(ManifestRef { digest, size })
    }
}

/// Reads a blob of at most a few MiB whole.
pub(crate) async fn read_small_blob(store: &Store, digest: &Digest, size: u64) -> Result<Bytes> {
    let stream = match store.blobs.get(digest, 0..size).await {
        Ok(stream) => stream,
        Err(berth_storage::StorageError::NotFound) => {
            return Err(ServiceError::invalid(
                Field::ManifestReference(digest.clone()),
                format!("blob {digest} is not in storage"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let all = stream
        .try_fold(
            Vec::with_capacity(size as usize),
            |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            },
        )
        .await
        .map_err(ServiceError::internal)?;
    Ok(Bytes::from(all))
}

/// For a manifest pushed over `/v2`: the chart version it is, if it is a Helm chart in a
/// repository `<namespace>/<chart>` tagged with its version. A Helm chart whose archive is
/// invalid is refused; one elsewhere (nested names, other tags) is stored as a plain
/// artifact.
pub(crate) async fn chart_of_manifest(
    store: &Store,
    repo: &RepositoryRow,
    parsed: &ParsedManifest,
    tags: &[Tag],
) -> Result<Option<NewChart>> {
    let Some(config) = parsed.blobs.first() else {
        return Ok(None);
    };
    if config.media_type != HELM_CONFIG_TYPE || repo.kind != RepoKind::Hosted || tags.is_empty() {
        return Ok(None);
    }
    let invalid = |reason: String| ServiceError::invalid(Field::Manifest, reason);
    let layer_of = |media_type: &str| -> Option<&Descriptor> {
        parsed.blobs[1..]
            .iter()
            .find(|d| d.media_type == media_type)
    };
    let content = layer_of(HELM_CONTENT_TYPE).ok_or_else(|| {
        invalid(format!(
            "a Helm chart manifest needs a {HELM_CONTENT_TYPE} layer"
        ))
    })?;
    let limits = &store.limits.charts;
    if content.size > limits.max_chart_bytes {
        return Err(ServiceError::TooLarge {
            what: "chart archive",
            limit: limits.max_chart_bytes,
        });
    }
    if store
        .meta
        .artifacts
        .repo_blob_size(repo.id, &content.digest)
        .await?
        .is_none()
    {
        // The manifest check reports the missing blob in the OCI way.
        return Ok(None);
    }
    let archive = read_small_blob(store, &content.digest, content.size).await?;
    let limits = limits.clone();
    let chart = tokio::task::spawn_blocking(move || archive::inspect(&archive, &limits))
        .await
        .map_err(ServiceError::internal)?
        .map_err(|e| invalid(format!("Helm chart: {e}")))?;
    let parts: Vec<&str> = repo.name.as_str().split('/').collect();
    if parts.len() != 2 || parts[1] != chart.name {
        return Ok(None);
    }
    let Some(tag) = tags.iter().find(|t| t.as_str() == chart.tag()) else {
        return Ok(None);
    };
    let created = parsed
        .annotations
        .as_ref()
        .and_then(|a| a.get("org.opencontainers.image.created"))
        .filter(|c| berth_core::time::parse_rfc3339(c).is_some())
        .cloned()
        .unwrap_or_else(|| berth_core::time::rfc3339(berth_meta::now_ms()));
    Ok(Some(NewChart {
        tag: tag.clone(),
        name: chart.name,
        version: chart.version,
        archive: ManifestRef {
            digest: content.digest.clone(),
            size: content.size,
        },
        provenance: layer_of(HELM_PROVENANCE_TYPE).map(|d| ManifestRef {
            digest: d.digest.clone(),
            size: d.size,
        }),
        metadata: serde_json::to_string(&chart.metadata).map_err(ServiceError::internal)?,
        created,
        // A push over /v2 moves the tag, as OCI does.
        expect: ChartExpect::Any,
    }))
}

/// Sorts by name, then version newest first (SemVer precedence; unparsable ones last, as
/// text).
pub(crate) fn sort_versions<T>(items: &mut [T], key: impl Fn(&T) -> (&String, &String)) {
    use std::cmp::{Ordering, Reverse};
    /// Newest first: a parsed version before any unparsable one, each group descending.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Newest {
        Parsed(Reverse<semver::Version>),
        Text(Reverse<String>),
    }
    // Each version parsed once, not at every comparison.
    let mut keyed: Vec<(String, Newest, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (name, version) = key(item);
            let newest = match semver::Version::parse(version) {
                Ok(v) => Newest::Parsed(Reverse(v)),
                Err(_) => Newest::Text(Reverse(version.clone())),
            };
            (name.clone(), newest, i)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| match a.0.cmp(&b.0) {
        Ordering::Equal => a.1.cmp(&b.1).then(a.2.cmp(&b.2)),
        other => other,
    });
    // Apply the permutation: position p takes the item that was at keyed[p].2.
    let mut order: Vec<usize> = keyed.into_iter().map(|(_, _, i)| i).collect();
    for p in 0..order.len() {
        let mut from = order[p];
        while from < p {
            from = order[from];
        }
        items.swap(p, from);
        order[p] = from;
    }
}

/// The chart name and version a provenance file's signed block names.
fn provenance_names(prov: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(prov).ok()?;
    let start = text.find("-----BEGIN PGP SIGNED MESSAGE-----")?;
    let rest = &text[start..];
    // The armor headers end at the first empty line.
    let body_start = rest.find("\n\n")? + 2;
    let body = &rest[body_start..];
    let end = body
        .find("-----BEGIN PGP SIGNATURE-----")
        .unwrap_or(body.len());
    let body = &body[..end];
    // Chart.yaml, then `...`, then the files block.
    let chart_yaml = body.split("\n...").next()?;
    let value: serde_json::Value = serde_yaml::from_str(chart_yaml).ok()?;
    let name = value.get("name")?.as_str()?.to_owned();
    let version = value.get("version")?.as_str()?.to_owned();
    Some((name, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_newest_first_by_semver() {
        let mut v: Vec<(String, String)> = [
            ("b", "1.0.0"),
            ("a", "1.10.0"),
            ("a", "1.9.0"),
            ("a", "2.0.0-rc.1"),
            ("a", "2.0.0"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        sort_versions(&mut v, |(n, v)| (n, v));
        let got: Vec<String> = v.iter().map(|(n, v)| format!("{n}-{v}")).collect();
        assert_eq!(
            got,
            ["a-2.0.0", "a-2.0.0-rc.1", "a-1.10.0", "a-1.9.0", "b-1.0.0"]
        );
    }

    #[test]
    fn sorting_matches_a_plain_comparison_sort() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for len in [0, 1, 2, 3, 10, 57, 300] {
            let items: Vec<(String, String)> = (0..len)
                .map(|_| {
                    let version = match next() % 4 {
                        0 => format!("{}.{}.0", next() % 5, next() % 12),
                        1 => format!("1.{}.0-rc.{}", next() % 3, next() % 3),
                        2 => format!("junk{}", next() % 4),
                        _ => format!("2.0.{}+b{}", next() % 3, next() % 2),
                    };
                    (format!("c{}", next() % 3), version)
                })
                .collect();
            let mut fast = items.clone();
            sort_versions(&mut fast, |(n, v)| (n, v));
            let mut slow = items.clone();
            slow.sort_by(|(an, av), (bn, bv)| {
                an.cmp(bn).then_with(|| {
                    match (semver::Version::parse(av), semver::Version::parse(bv)) {
                        (Ok(a), Ok(b)) => b.cmp(&a),
                        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
                        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
                        (Err(_), Err(_)) => bv.cmp(av),
                    }
                })
            });
            assert_eq!(fast, slow, "{items:?}");
        }
    }

    #[test]
    fn provenance_names_its_chart() {
        let prov = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: demo\nversion: 0.1.0\n\n...\nfiles:\n  demo-0.1.0.tgz: sha256:abc\n-----BEGIN PGP SIGNATURE-----\n\nxyz\n-----END PGP SIGNATURE-----\n";
        assert_eq!(
            provenance_names(prov.as_bytes()),
            Some(("demo".into(), "0.1.0".into()))
        );
        assert_eq!(provenance_names(b"nothing"), None);
    }
}
