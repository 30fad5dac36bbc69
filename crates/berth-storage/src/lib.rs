//! Blob storage. A [`BlobStore`] holds content-addressed blobs and the bytes of uploads in
//! progress. It never decides what exists: the metadata store does. It never hashes: the
//! service does, as the bytes pass. The key layout lives in [`paths`] alone.

use std::io;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_core::Digest;
use bytes::Bytes;
use futures::stream::BoxStream;

mod fs;
mod memory;
pub mod paths;
mod s3;
pub mod testing;
pub mod testsuite;

pub use fs::FsBlobStore;
pub use memory::MemoryBlobStore;
pub use s3::{S3BlobStore, S3Config};

/// A stream of blob bytes, as read from storage.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// A request body being appended to an upload. Borrowed, so that the caller keeps whatever
/// wraps it (the hasher) and can read it afterwards.
pub type BodyStream<'a> = &'a mut (dyn futures::Stream<Item = io::Result<Bytes>> + Send + Unpin);

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("blob not found in storage")]
    NotFound,
    #[error("upload data not found in storage")]
    UploadNotFound,
    #[error("invalid upload id")]
    InvalidUploadId,
    #[error("reading the request body failed: {0}")]
    Body(io::Error),
    #[error("stored upload has {found} bytes, expected {expected}")]
    SizeMismatch { expected: u64, found: u64 },
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("storage backend error: {0}")]
    Backend(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What an append did: the backend's new upload state (to persist) and the bytes it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub state: String,
    pub written: u64,
}

/// An upload whose bytes storage holds, as [`BlobStore::list_uploads`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpload {
    pub id: String,
    /// When its bytes were last written (the latest of its files or objects).
    pub modified: SystemTime,
}

/// Content-addressed blob storage with resumable uploads.
///
/// An upload is identified by an id chosen by the caller and carries an opaque `state`
/// string that the backend returns from [`BlobStore::begin_upload`] and
/// [`BlobStore::append`]; the caller persists it (with the offset) in the metadata store,
/// so any process can continue the upload. A failed append leaves the upload as it was at
/// `offset`: the next append at that offset overwrites whatever the failed one left.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A short name for logs (`fs`, `memory`, `s3`).
    fn kind(&self) -> &'static str;

    /// The smallest chunk this backend prefers to receive per append, if it has a preference
    /// (announced to clients as `OCI-Chunk-Min-Length`). Smaller chunks must still work.
    fn preferred_chunk_min(&self) -> Option<u64> {
        None
    }

    /// Reads `range` of a committed blob. The caller knows the blob's size and passes a
    /// range within it.
    async fn get(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream>;

    /// Removes a committed blob. Removing a missing blob is not an error.
    async fn delete(&self, digest: &Digest) -> Result<()>;

    /// Starts an upload and returns its initial state.
    async fn begin_upload(&self, id: &str) -> Result<String>;

    /// Appends the whole of `body` at `offset`, the size recorded so far. Returns once the
    /// bytes are durable.
    async fn append(
        &self,
        id: &str,
        state: &str,
        offset: u64,
        body: BodyStream<'_>,
    ) -> Result<Appended>;

    /// Makes the upload's `size` bytes the blob `digest` (already verified by the caller),
    /// atomically and durably, and forgets the upload. Committing a blob that already exists
    /// is not an error.
    async fn commit(&self, id: &str, state: &str, size: u64, digest: &Digest) -> Result<()>;

    /// Forgets an upload and its bytes. Aborting a missing upload is not an error.
    async fn abort(&self, id: &str, state: &str) -> Result<()>;

    /// The uploads whose bytes storage holds and that nothing wrote to since
    /// `modified_before`. For the orphan sweep: bytes of an upload the database does not
    /// know (a request killed before the upload had a row, a racing replica's leftovers)
    /// are removed with [`BlobStore::remove_orphan`] once they are older than a grace
    /// period. Lists storage: never on a request path.
    async fn list_uploads(&self, modified_before: SystemTime) -> Result<Vec<StoredUpload>>;

    /// Removes whatever storage holds for upload `id` without knowing its state: only for
    /// uploads the database does not know (any more). Removing nothing is not an error.
    async fn remove_orphan(&self, id: &str) -> Result<()>;
}
