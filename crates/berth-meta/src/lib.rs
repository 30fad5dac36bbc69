//! Metadata: what exists. The database is the source of truth for repositories, blobs,
//! manifests, tags and upload sessions; storage is never listed to find out. All SQL lives
//! in this crate, one module per dialect.

use std::time::Duration;

use async_trait::async_trait;
use berth_core::{Digest, Reference, RepoName, Tag};
use bytes::Bytes;

mod postgres;
mod sqlite;
pub mod testing;
pub mod testsuite;

pub use postgres::PostgresMetaStore;
pub use sqlite::SqliteMetaStore;

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
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored metadata is invalid: {0}")]
    Corrupt(String),
}

pub type Result<T, E = MetaError> = std::result::Result<T, E>;

/// A blob upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
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
    pub blobs: Vec<ManifestRef>,
    pub children: Vec<ManifestRef>,
}

/// A stored manifest as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub digest: Digest,
    pub media_type: String,
    pub body: Bytes,
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

/// The metadata store. Object safe; one implementation per database dialect, all passing
/// [`testsuite::run`].
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// A short name for logs (`sqlite`, `postgres`).
    fn kind(&self) -> &'static str;

    /// Repository names after `last`, in lexical order, at most `limit`.
    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>>;

    /// Size of a blob if it is stored at all (in any repository).
    async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Size of a blob if `repo` may serve it.
    async fn repo_blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>>;

    /// Records that the blob is stored (if it was not) and that `repo` may serve it.
    async fn link_blob(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()>;

    /// Removes the blob from `repo`. Returns whether it was there.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    async fn create_upload(&self, upload: &UploadRecord) -> Result<()>;

    async fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>>;

    /// Moves an upload from `from_size` to `to_size` with the new states, only if it is still
    /// at `from_size` (so two appends can never both win). Returns whether it moved.
    async fn advance_upload(
        &self,
        id: &str,
        from_size: u64,
        to_size: u64,
        hash_state: &[u8],
        storage_state: &str,
    ) -> Result<bool>;

    /// Forgets an upload. Returns whether it existed.
    async fn delete_upload(&self, id: &str) -> Result<bool>;

    /// Finishes an upload whose bytes are now the blob `digest`: in one transaction, records
    /// the blob (if new), lets `repo` serve it, and forgets the upload `id`.
    async fn complete_upload(
        &self,
        id: &str,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
    ) -> Result<()>;

    /// Uploads untouched since `updated_before` (ms since epoch), oldest first.
    async fn stale_uploads(&self, updated_before: i64, limit: u32) -> Result<Vec<UploadRecord>>;

    /// Forgets an upload only if it is still untouched since `updated_before`, so a purge
    /// never removes a session a client resumed meanwhile. Returns whether it did.
    async fn delete_stale_upload(&self, id: &str, updated_before: i64) -> Result<bool>;

    /// Stores a manifest (if not already stored) and points `tags` at it, after checking in
    /// the same transaction that every blob and child it needs is in the repository.
    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &NewManifest,
        tags: &[Tag],
    ) -> Result<()>;

    async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<Option<ManifestRow>>;

    /// Deletes a manifest and the tags pointing at it. Returns whether it existed.
    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> Result<bool>;

    /// Removes a tag (the manifest stays). Returns whether it existed.
    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool>;

    /// Tags after `last` in lexical order, at most `limit`; `None` when the repository does
    /// not exist.
    async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>>;

    /// Manifests in `repo` whose subject is `subject`.
    async fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Referrer>>;

    /// Takes or renews the lease on a periodic job for `ttl`. Returns whether `holder` has it.
    async fn try_lease(&self, job: &str, holder: &str, ttl: Duration) -> Result<bool>;
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

pub(crate) fn parse_digest(s: &str) -> Result<Digest> {
    s.parse()
        .map_err(|e| MetaError::Corrupt(format!("digest {s:?}: {e}")))
}

pub(crate) fn parse_repo(s: &str) -> Result<RepoName> {
    s.parse()
        .map_err(|e| MetaError::Corrupt(format!("repository {s:?}: {e}")))
}
