//! Blobs of a repository: stat, read, delete, mount.

use std::ops::Range;
use std::sync::Arc;

use berth_core::Digest;
use berth_meta::{RepositoryRow, Visibility};
use berth_storage::{ByteStream, StorageError};

use super::Store;
use crate::{Entity, Result, ServiceError};

pub struct BlobService {
    store: Arc<Store>,
}

impl BlobService {
    pub(crate) fn new(store: Arc<Store>) -> BlobService {
        BlobService { store }
    }

    /// The size of a blob `repo` may serve.
    pub async fn stat(&self, repo: &RepositoryRow, digest: &Digest) -> Result<u64> {
        self.store
            .meta
            .artifacts
            .repo_blob_size(repo.id, digest)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Blob(digest.clone())))
    }

    /// Streams `range` of a blob of `repo` already checked with [`BlobService::stat`].
    pub async fn open(
        &self,
        _repo: &RepositoryRow,
        digest: &Digest,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        match self.store.blobs.get(digest, range).await {
            Ok(stream) => Ok(stream),
            Err(StorageError::NotFound) => Err(ServiceError::internal(format!(
                "blob {digest} is recorded but missing from storage"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a blob from a repository (its bytes stay while others use them).
    pub async fn delete(&self, repo: &RepositoryRow, digest: &Digest) -> Result<()> {
        if self
            .store
            .meta
            .artifacts
            .unlink_blob(repo.id, digest)
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound(Entity::Blob(digest.clone())))
        }
    }

    /// Makes a blob of `from` available in `repo` without copying. Returns false when `from`
    /// does not have it (the client then uploads it).
    pub async fn mount(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
        from: &RepositoryRow,
    ) -> Result<bool> {
        let size = self
            .store
            .meta
            .artifacts
            .repo_blob_size(from.id, digest)
            .await?;
        self.link(repo, digest, size).await
    }

    /// Mounts a blob from wherever this registry holds it where `visibility` shows it (a
    /// mount without `from`). Returns false when there is no such blob.
    pub async fn mount_any(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
        visibility: &Visibility,
    ) -> Result<bool> {
        let size = self
            .store
            .meta
            .artifacts
            .visible_blob_size(digest, visibility)
            .await?;
        self.link(repo, digest, size).await
    }

    async fn link(&self, repo: &RepositoryRow, digest: &Digest, size: Option<u64>) -> Result<bool> {
        match size {
            Some(size) => {
                self.store
                    .meta
                    .artifacts
                    .link_blob(repo.id, digest, size)
                    .await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
