//! Metadata: what exists. The database is the source of truth for namespaces, repositories,
//! blobs, manifests, tags and upload sessions; storage is never listed to find out. All SQL
//! lives in this crate, one folder per dialect, one file per aggregate.
//!
//! The store is split into small traits, one per aggregate ([`UploadStore`],
//! [`ArtifactStore`], [`RepositoryStore`], [`LeaseStore`], [`UserStore`], [`AuditStore`],
//! [`RemoteStore`], [`ChartStore`]), each
//! with its own shared test suite (feature `testsuite`). [`Meta`] bundles one implementation
//! of all of them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{Digest, Level, Reference, RepoName, Tag, UploadId};
use bytes::Bytes;

mod helm_repos;
mod helm_repos_sql;
mod listing;
mod postgres;
mod remotes;
mod rows;
mod sqlite;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
mod users;

pub use helm_repos::{
    HelmRepoOrder, HelmRepoQuery, HelmRepoRow, HelmRepoStore, HelmRepoUpdate, MirroredVersion,
    NewHelmRepo, SyncState,
};
pub use postgres::PostgresMetaStore;
pub use remotes::{
    NewProxy, NewRemote, ProxyMode, ProxyRow, ProxyUpdate, RemoteQuery, RemoteRow, RemoteScope,
    RemoteStore,
};
pub use sqlite::SqliteMetaStore;
pub use users::{
    AuditEntry, AuditQuery, AuditRow, AuditStore, CredentialChanges, CredentialKind, CredentialRow,
    NewCredential, NewUser, UserKind, UserRow, UserStore, UserUpdate,
};

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("blob {0} is not in the repository")]
    MissingBlob(Digest),
    #[error("manifest {0} is not in the repository")]
    MissingManifest(Digest),
    #[error("descriptor of {digest} declares {declared} bytes but the blob has {actual}")]
    SizeMismatch {
        digest: Digest,
        declared: u64,
        actual: u64,
    },
    #[error("{entity} {name:?} does not exist")]
    NotFound { entity: &'static str, name: String },
    #[error("{entity} {name:?} already exists")]
    AlreadyExists { entity: &'static str, name: String },
    #[error("namespace {0:?} still holds repositories")]
    NamespaceNotEmpty(String),
    /// Something still refers to it (a proxy to an external repository).
    #[error("{entity} {name:?} is in use")]
    InUse { entity: &'static str, name: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored metadata is invalid: {0}")]
    Corrupt(String),
}

pub type Result<T, E = MetaError> = std::result::Result<T, E>;

impl MetaError {
    /// Whether the database could not be reached or is shutting down, rather than refusing
    /// this request: the connection broke, no connection came free in time, or PostgreSQL
    /// answered with a connection exception (class 08), an operator intervention (57P01-03:
    /// shutdown, crash recovery, not accepting connections) or too many connections (53300).
    /// Another try, or another replica, may succeed.
    pub fn is_unavailable(&self) -> bool {
        let MetaError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
            }),
            _ => false,
        }
    }
}

// ---- shared values ----

/// A repository's row id. Ids are never reused (both dialects allocate them increasing), so a
/// stale id can only miss, never hit another repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoId(pub i64);

/// A page of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            offset: 0,
            limit: 100,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// One page of a listing and how many items match in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Which namespaces and repositories a listing may show: the access policy's answer for one
/// caller, pushed down into SQL so that pages and totals count only what the caller may see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Visibility {
    /// Everything (administrators; and everyone until authentication is configured).
    #[default]
    All,
    /// Public namespaces and repositories, those where `member` (if any) is a member, and
    /// those of `namespace` (if any: a robot's, or a token's limit).
    PublicOr {
        member: Option<String>,
        namespace: Option<String>,
    },
}

/// Hosted repositories hold what is pushed; proxy repositories cache an upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RepoKind {
    #[default]
    Hosted,
    Proxy,
}

impl RepoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RepoKind::Hosted => "hosted",
            RepoKind::Proxy => "proxy",
        }
    }

    pub fn parse(s: &str) -> Option<RepoKind> {
        match s {
            "hosted" => Some(RepoKind::Hosted),
            "proxy" => Some(RepoKind::Proxy),
            _ => None,
        }
    }
}

// ---- uploads ----

/// A blob upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: UploadId,
    pub repository: RepoName,
    /// Bytes received and stored so far.
    pub size: u64,
    /// The saved hasher state after `size` bytes (see `berth_core::Hasher::save`).
    pub hash_state: Vec<u8>,
    /// The storage backend's opaque state.
    pub storage_state: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// Upload sessions: enough to continue on any replica after any restart.
#[async_trait]
pub trait UploadStore: Send + Sync + 'static {
    async fn create_upload(&self, upload: &UploadRecord) -> Result<()>;

    async fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>>;

    /// Moves an upload from `from_size` to `to_size` with the new states, only if it is still
    /// at `from_size` (so two appends can never both win). Returns whether it moved.
    async fn advance_upload(
        &self,
        id: &UploadId,
        from_size: u64,
        to_size: u64,
        hash_state: &[u8],
        storage_state: &str,
    ) -> Result<bool>;

    /// Forgets an upload. Returns whether it existed.
    async fn delete_upload(&self, id: &UploadId) -> Result<bool>;

    /// Finishes an upload whose bytes are now the blob `digest`: in one transaction, records
    /// the blob (if new), lets `repo` serve it, and forgets the upload `id`.
    async fn complete_upload(
        &self,
        id: &UploadId,
        repo: RepoId,
        digest: &Digest,
        size: u64,
    ) -> Result<()>;

    /// Uploads untouched since `updated_before` (ms since epoch), oldest first.
    async fn stale_uploads(&self, updated_before: i64, limit: u32) -> Result<Vec<UploadRecord>>;

    /// Forgets an upload only if it is still untouched since `updated_before`, so a purge
    /// never removes a session a client resumed meanwhile. Returns whether it did.
    async fn delete_stale_upload(&self, id: &UploadId, updated_before: i64) -> Result<bool>;
}

// ---- artifacts: blobs, manifests, tags ----

/// A reference from a manifest to a blob or child manifest, with its declared size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRef {
    pub digest: Digest,
    pub size: u64,
}

/// A manifest to store, already parsed and validated by the service.
#[derive(Debug, Clone)]
pub struct NewManifest {
    pub digest: Digest,
    pub media_type: String,
    pub body: Bytes,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// The manifest's annotations as a JSON object, if any.
    pub annotations: Option<String>,
    /// The config blob of an image manifest.
    pub config: Option<Digest>,
    /// The manifest's bytes plus what its descriptors declare (config and layers, or the
    /// child manifests of an index): the size an image list shows.
    pub total_size: u64,
    pub blobs: Vec<ManifestRef>,
    pub children: Vec<ManifestRef>,
    /// Who pushed it (recorded on the manifest if new, and on every tag it gets).
    pub pushed_by: String,
    /// Whether every blob and child must be in the repository already. A pull-through
    /// cache stores a manifest before its blobs, which arrive when first pulled.
    pub require_refs: bool,
    /// The Helm chart version this manifest is, recorded in the same transaction (its
    /// `tag` must be one of the tags the manifest gets).
    pub chart: Option<NewChart>,
}

// ---- charts ----

/// A Helm chart version, as the service extracted it from the archive once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChart {
    /// The tag naming it (the version, `+` written `_` as OCI tags need).
    pub tag: Tag,
    pub name: String,
    pub version: String,
    /// The `.tgz` layer.
    pub archive: ManifestRef,
    /// The provenance layer, if any.
    pub provenance: Option<ManifestRef>,
    /// Chart.yaml as a JSON object.
    pub metadata: String,
    /// RFC 3339: when the version was first stored (the index's `created`).
    pub created: String,
    /// What must be stored under the version for the write to go ahead, checked in the
    /// transaction that writes it ([`MetaError::AlreadyExists`] if not).
    pub expect: ChartExpect,
}

/// What a chart write expects to find where it writes (so that two uploads of one version
/// cannot both pass a check made before the write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ChartExpect {
    /// Whatever is there is replaced (`?force`, and a push over `/v2`).
    #[default]
    Any,
    /// No chart under the version's tag yet.
    Absent,
    /// The version as stored with this manifest (a provenance file added to what was read).
    Manifest(Digest),
}

/// A stored chart version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRow {
    pub repository: RepoId,
    pub tag: String,
    pub name: String,
    pub version: String,
    pub manifest: Digest,
    pub archive: ManifestRef,
    pub provenance: Option<ManifestRef>,
    pub metadata: String,
    pub created: String,
    pub created_at: i64,
}

/// What a namespace's cached index needs to catch up with its charts, read in one snapshot
/// (see [`ChartStore::chart_changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartChanges {
    pub at: ChartGeneration,
    /// When the namespace's charts last changed (ms since the epoch; 0 if not since
    /// migration 0011).
    pub changed_at: i64,
    /// The names of the charts that changed since the generation asked about, each changed
    /// chart's versions (all of them, as of `at`) in `rows`; `None` when no generation was
    /// given or the change log no longer reaches back to it, and `rows` is then every
    /// version of the namespace.
    pub changed: Option<Vec<String>>,
    pub rows: Vec<ChartRow>,
}

/// Whether a chart write may go ahead, given the manifest stored under its tag now.
pub(crate) fn check_chart_expect(chart: &NewChart, current: Option<&str>) -> Result<()> {
    let fine = match (&chart.expect, current) {
        (ChartExpect::Any, _) | (ChartExpect::Absent, None) => true,
        (ChartExpect::Manifest(d), Some(current)) => d.as_str() == current,
        _ => false,
    };
    if fine {
        Ok(())
    } else {
        Err(MetaError::AlreadyExists {
            entity: "chart",
            name: format!("{}-{}", chart.name, chart.version),
        })
    }
}

/// How many generations of each namespace the change log keeps (migration 0011).
pub const CHART_LOG_GENERATIONS: i64 = 1000;

/// The chart names changed in `(since, at]`, from the log rows `(generation, name)` of that
/// range; `None` if a generation is missing from the log (every bump logs one at least).
pub(crate) fn changed_charts(since: i64, at: i64, log: Vec<(i64, String)>) -> Option<Vec<String>> {
    let generations: std::collections::BTreeSet<i64> = log.iter().map(|(g, _)| *g).collect();
    if since > at || generations.len() as i64 != at - since {
        return None;
    }
    let names: std::collections::BTreeSet<String> = log.into_iter().map(|(_, n)| n).collect();
    Some(names.into_iter().collect())
}

/// A namespace's charts as of one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartGeneration {
    pub namespace_id: i64,
    /// Bumped in the same transaction as every change to the namespace's charts.
    pub generation: i64,
}

/// The chart versions of each namespace (written with their manifests, see
/// [`NewManifest::chart`]; removed with their tags).
#[async_trait]
pub trait ChartStore: Send + Sync + 'static {
    /// The namespace's id and chart generation; `None` if the namespace does not exist.
    async fn chart_generation(&self, namespace: &str) -> Result<Option<ChartGeneration>>;

    /// Every chart version of the namespace (of chart `name` only, if given), by name then
    /// version as text (callers sort versions as SemVer).
    async fn list_charts(&self, namespace_id: i64, name: Option<&str>) -> Result<Vec<ChartRow>>;

    async fn get_chart(
        &self,
        namespace_id: i64,
        name: &str,
        version: &str,
    ) -> Result<Option<ChartRow>>;

    /// The namespace's generation and what changed since generation `since` (the charts named
    /// in the change log, with their versions), or every version when `since` is `None` or
    /// the log no longer reaches back to it. Read in one snapshot, so `rows` are exactly the
    /// charts as of `at`. `None` if the namespace does not exist.
    async fn chart_changes(
        &self,
        namespace_id: i64,
        since: Option<i64>,
    ) -> Result<Option<ChartChanges>>;
}

/// A stored manifest as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub digest: Digest,
    pub media_type: String,
    pub body: Bytes,
}

/// A stored manifest as listings and detail views show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// Length of the manifest itself.
    pub size: u64,
    pub total_size: u64,
    pub config: Option<Digest>,
    pub annotations: Option<String>,
    pub pushed_by: String,
    pub created_at: i64,
    pub downloads: u64,
    /// Tags pointing at it, in lexical order.
    pub tags: Vec<String>,
    /// What the service extracted from the config blob, once, as JSON (see
    /// [`ArtifactStore::set_image_info`]).
    pub image_info: Option<String>,
}

/// A tag with what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub name: String,
    pub digest: Digest,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub total_size: u64,
    /// When it was last pushed (moved), ms since the epoch.
    pub pushed_at: i64,
    pub pushed_by: String,
    pub created_at: i64,
    pub downloads: u64,
    pub last_pulled_at: Option<i64>,
}

/// A manifest whose `subject` is some other manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

/// Manifest pulls counted in memory, flushed in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadCount {
    pub repository: RepoId,
    pub digest: Digest,
    /// The tag it was pulled by, if any.
    pub tag: Option<Tag>,
    pub count: u64,
    /// The last pull, ms since the epoch.
    pub last_at: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TagOrder {
    #[default]
    Name,
    Pushed,
    Downloads,
}

/// Which tags of a repository a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagQuery {
    /// Only tags whose name contains this (case-insensitive).
    pub search: Option<String>,
    pub page: Page,
    pub order: TagOrder,
    pub direction: Direction,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManifestOrder {
    #[default]
    Created,
    Size,
    Downloads,
}

/// Which manifests of a repository a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManifestQuery {
    /// Only manifests that have at least one tag.
    pub tagged_only: bool,
    pub page: Page,
    pub order: ManifestOrder,
    pub direction: Direction,
}

/// Blobs, manifests and tags of repositories. Repositories are addressed by id: the service
/// resolves names once per request.
#[async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Size of a blob if it is stored at all (in any repository).
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Size of a blob if `repo` may serve it.
    async fn repo_blob_size(&self, repo: RepoId, digest: &Digest) -> Result<Option<u64>>;

    /// Size of a blob if some repository that `visibility` shows holds it.
    async fn visible_blob_size(
        &self,
        digest: &Digest,
        visibility: &Visibility,
    ) -> Result<Option<u64>>;

    /// Records that the blob is stored (if it was not) and that `repo` may serve it.
    async fn link_blob(&self, repo: RepoId, digest: &Digest, size: u64) -> Result<()>;

    /// Removes the blob from `repo`. Returns whether it was there.
    async fn unlink_blob(&self, repo: RepoId, digest: &Digest) -> Result<bool>;

    /// Stores a manifest (if not already stored) and points `tags` at it, after checking in
    /// the same transaction that every blob and child it needs is in the repository; marks
    /// the repository pushed.
    async fn put_manifest(&self, repo: RepoId, manifest: &NewManifest, tags: &[Tag]) -> Result<()>;

    async fn get_manifest(
        &self,
        repo: RepoId,
        reference: &Reference,
    ) -> Result<Option<ManifestRow>>;

    async fn manifest_info(&self, repo: RepoId, digest: &Digest) -> Result<Option<ManifestInfo>>;

    /// [`ArtifactStore::manifest_info`] and the manifest's bytes, in one trip (the detail
    /// views need both).
    async fn manifest_info_and_body(
        &self,
        repo: RepoId,
        digest: &Digest,
    ) -> Result<Option<(ManifestInfo, ManifestRow)>>;

    /// A tag with its manifest's info and bytes, in one trip (the tag detail view).
    async fn tag_info_and_body(
        &self,
        repo: RepoId,
        tag: &Tag,
    ) -> Result<Option<(TagRow, ManifestInfo, ManifestRow)>>;

    async fn list_manifests(
        &self,
        repo: RepoId,
        query: &ManifestQuery,
    ) -> Result<Listed<ManifestInfo>>;

    /// Keeps what the service read from a manifest's config blob, so it is read once.
    async fn set_image_info(&self, repo: RepoId, digest: &Digest, info: &str) -> Result<()>;

    /// Deletes a manifest and the tags pointing at it. Returns whether it existed.
    async fn delete_manifest(&self, repo: RepoId, digest: &Digest) -> Result<bool>;

    /// Removes a tag (the manifest stays). Returns whether it existed.
    async fn delete_tag(&self, repo: RepoId, tag: &Tag) -> Result<bool>;

    /// Tag names after `last` in lexical order, at most `limit` (the OCI listing).
    async fn tag_names(&self, repo: RepoId, last: Option<&str>, limit: u32) -> Result<Vec<String>>;

    async fn get_tag(&self, repo: RepoId, tag: &Tag) -> Result<Option<TagRow>>;

    async fn list_tags(&self, repo: RepoId, query: &TagQuery) -> Result<Listed<TagRow>>;

    /// Manifests in `repo` whose subject is `subject`.
    async fn referrers(&self, repo: RepoId, subject: &Digest) -> Result<Vec<Referrer>>;

    /// Names of repositories that hold at least one manifest, after `last`, in lexical
    /// order, at most `limit`, of those `visibility` shows.
    async fn catalog(
        &self,
        last: Option<&str>,
        limit: u32,
        visibility: &Visibility,
    ) -> Result<Vec<String>>;

    /// Adds counted pulls to tags, manifests and repositories, in one transaction.
    async fn record_downloads(&self, counts: &[DownloadCount]) -> Result<()>;
}

// ---- namespaces and repositories ----

/// A namespace to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNamespace {
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub creator: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub is_public: bool,
    pub creator: String,
    pub num_repositories: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Changes to a namespace; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceUpdate {
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NamespaceOrder {
    #[default]
    Name,
    Created,
    Updated,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceQuery {
    /// Exactly this name.
    pub name: Option<String>,
    /// Names containing this (case-insensitive).
    pub search: Option<String>,
    pub visibility: Visibility,
    pub page: Page,
    pub order: NamespaceOrder,
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub username: String,
    pub level: Level,
    pub created_at: i64,
}

/// A repository to create; its namespace is its name's first component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRepository {
    pub name: RepoName,
    pub kind: RepoKind,
    pub category: String,
    pub description: String,
    /// `None` inherits the namespace's visibility.
    pub is_public: Option<bool>,
    pub creator: String,
}

impl NewRepository {
    /// A hosted repository with nothing set but its name and creator.
    pub fn hosted(name: RepoName, creator: impl Into<String>) -> NewRepository {
        NewRepository {
            name,
            kind: RepoKind::Hosted,
            category: String::new(),
            description: String::new(),
            is_public: None,
            creator: creator.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRow {
    pub id: RepoId,
    pub name: RepoName,
    pub namespace_id: i64,
    pub namespace: String,
    pub namespace_public: bool,
    pub kind: RepoKind,
    pub category: String,
    pub description: String,
    /// The repository's own setting; `None` inherits the namespace's.
    pub is_public: Option<bool>,
    pub creator: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Distinct blob bytes referenced by its manifests.
    pub size: u64,
    pub num_manifests: u64,
    /// Manifests that at least one tag points at.
    pub num_images: u64,
    pub num_tags: u64,
    pub num_downloads: u64,
    pub last_pushed_at: Option<i64>,
    pub last_pulled_at: Option<i64>,
}

impl RepositoryRow {
    /// Whether anyone may read it: its own setting, else its namespace's.
    pub fn effective_public(&self) -> bool {
        self.is_public.unwrap_or(self.namespace_public)
    }
}

/// Changes to a repository; `None` keeps a field. `is_public: Some(None)` goes back to
/// inheriting the namespace's visibility.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryUpdate {
    pub category: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<Option<bool>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RepositoryOrder {
    #[default]
    Name,
    Created,
    Updated,
    Pushed,
    Pulled,
    Size,
    Downloads,
    Tags,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryQuery {
    /// Only repositories of this namespace.
    pub namespace: Option<String>,
    /// Only names starting with this (`proj/repo/` for the images of a bkrepo repo).
    pub prefix: Option<String>,
    /// Only names containing this (case-insensitive).
    pub search: Option<String>,
    /// Only repositories whose name inside the namespace (after `<namespace>/`) contains
    /// this (case-insensitive).
    pub name_search: Option<String>,
    pub kind: Option<RepoKind>,
    pub category: Option<String>,
    /// Only repositories that hold at least one manifest.
    pub with_manifests: bool,
    /// Only public (or only private) repositories, by their effective visibility.
    pub is_public: Option<bool>,
    pub visibility: Visibility,
    pub page: Page,
    pub order: RepositoryOrder,
    pub direction: Direction,
}

/// Namespaces, their members, and repositories as entities.
#[async_trait]
pub trait RepositoryStore: Send + Sync + 'static {
    /// Creates a namespace; [`MetaError::AlreadyExists`] if the name is taken.
    async fn create_namespace(&self, namespace: &NewNamespace) -> Result<NamespaceRow>;

    async fn get_namespace(&self, name: &str) -> Result<Option<NamespaceRow>>;

    async fn list_namespaces(&self, query: &NamespaceQuery) -> Result<Listed<NamespaceRow>>;

    async fn update_namespace(
        &self,
        name: &str,
        update: &NamespaceUpdate,
    ) -> Result<Option<NamespaceRow>>;

    /// Deletes a namespace: refused with [`MetaError::NamespaceNotEmpty`] while it holds
    /// repositories, unless `force`, which deletes them with it. Returns whether it existed.
    async fn delete_namespace(&self, name: &str, force: bool) -> Result<bool>;

    /// Adds a member or changes its level.
    async fn put_member(&self, namespace_id: i64, username: &str, level: Level) -> Result<()>;

    async fn delete_member(&self, namespace_id: i64, username: &str) -> Result<bool>;

    async fn list_members(&self, namespace_id: i64) -> Result<Vec<MemberRow>>;

    async fn member_level(&self, namespace_id: i64, username: &str) -> Result<Option<Level>>;

    /// Every namespace a user is a member of, with its level (by namespace id).
    async fn member_levels(&self, username: &str) -> Result<Vec<(i64, Level)>>;

    /// Adds a member of one repository or changes its level; [`MetaError::NotFound`] when
    /// the repository is gone.
    async fn put_repository_member(&self, repo: RepoId, username: &str, level: Level)
    -> Result<()>;

    async fn delete_repository_member(&self, repo: RepoId, username: &str) -> Result<bool>;

    /// The repository's own members, by name.
    async fn list_repository_members(&self, repo: RepoId) -> Result<Vec<MemberRow>>;

    async fn repository_member_level(&self, repo: RepoId, username: &str) -> Result<Option<Level>>;

    /// Creates a repository in its existing namespace: [`MetaError::AlreadyExists`] if the
    /// name is taken, [`MetaError::NotFound`] without the namespace.
    async fn create_repository(&self, repository: &NewRepository) -> Result<RepositoryRow>;

    /// The repository, created if missing, and its namespace too when `namespace` is given
    /// (else a missing namespace is [`MetaError::NotFound`]). Safe to race.
    async fn ensure_repository(
        &self,
        repository: &NewRepository,
        namespace: Option<&NewNamespace>,
    ) -> Result<RepositoryRow>;

    async fn get_repository(&self, name: &RepoName) -> Result<Option<RepositoryRow>>;

    async fn list_repositories(&self, query: &RepositoryQuery) -> Result<Listed<RepositoryRow>>;

    async fn update_repository(
        &self,
        name: &RepoName,
        update: &RepositoryUpdate,
    ) -> Result<Option<RepositoryRow>>;

    /// Deletes a repository with its manifests and tags (blobs stay for GC). Returns whether
    /// it existed.
    async fn delete_repository(&self, name: &RepoName) -> Result<bool>;
}

// ---- leases ----

/// Leases for periodic jobs, so each runs once across replicas; and the health probe.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes or renews the lease on a periodic job for `ttl`. Returns whether `holder` has it.
    async fn try_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<bool>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;
}

/// Everything a metadata backend implements.
pub trait MetaBackend:
    UploadStore
    + ArtifactStore
    + RepositoryStore
    + LeaseStore
    + UserStore
    + AuditStore
    + RemoteStore
    + ChartStore
    + HelmRepoStore
{
    /// A short name for logs (`sqlite`, `postgres`).
    fn kind(&self) -> &'static str;
}

/// One backend, seen through each aggregate's trait: what the services hold.
#[derive(Clone)]
pub struct Meta {
    pub kind: &'static str,
    pub uploads: Arc<dyn UploadStore>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub repositories: Arc<dyn RepositoryStore>,
    pub leases: Arc<dyn LeaseStore>,
    pub users: Arc<dyn UserStore>,
    pub audit: Arc<dyn AuditStore>,
    pub remotes: Arc<dyn RemoteStore>,
    pub charts: Arc<dyn ChartStore>,
    pub helm_repos: Arc<dyn HelmRepoStore>,
}

impl Meta {
    pub fn new<B: MetaBackend>(backend: Arc<B>) -> Meta {
        Meta {
            kind: backend.kind(),
            uploads: backend.clone(),
            artifacts: backend.clone(),
            repositories: backend.clone(),
            leases: backend.clone(),
            users: backend.clone(),
            audit: backend.clone(),
            remotes: backend.clone(),
            charts: backend.clone(),
            helm_repos: backend,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Checks that every reference has a size in `found`, equal to the one it declares, in the
/// order of `refs` so that every dialect names the same digest in its error.
pub(crate) fn check_sizes(
    refs: &[ManifestRef],
    found: &std::collections::HashMap<String, i64>,
    missing: fn(Digest) -> MetaError,
) -> Result<()> {
    for r in refs {
        match found.get(r.digest.as_str()) {
            None => return Err(missing(r.digest.clone())),
            Some(&actual) if actual as u64 != r.size => {
                return Err(MetaError::SizeMismatch {
                    digest: r.digest.clone(),
                    declared: r.size,
                    actual: actual as u64,
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Whether a database error is a unique-constraint violation (a name already taken).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
