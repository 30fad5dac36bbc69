//! Blobs of a repository: stat, read, delete, mount.

use std::ops::Range;
use std::sync::Arc;

use berth_core::Digest;
use berth_meta::{RepoKind, RepositoryRow, Visibility};
use berth_storage::{ByteStream, StorageError};

use super::{ProxyService, Store};
use crate::{Entity, Result, ServiceError};

pub struct BlobService {
    store: Arc<Store>,
    proxy: Arc<ProxyService>,
}

impl BlobService {
    pub(crate) fn new(store: Arc<Store>, proxy: Arc<ProxyService>) -> BlobService {
        BlobService { store, proxy }
    }

    /// The size of a blob `repo` may serve (for a pull-through cache: fetched into the cache
    /// first when it is not there yet).
    pub async fn stat(&self, repo: &RepositoryRow, digest: &Digest) -> Result<u64> {
        let size = self
            .store
            .meta
            .artifacts
            .repo_blob_size(repo.id, digest)
            .await?;
        match size {
            Some(size) => Ok(size),
            None if repo.kind == RepoKind::Proxy => self.proxy.blob_size(repo, digest).await,
            None => Err(ServiceError::NotFound(Entity::Blob(digest.clone()))),
        }
    }

    /// For a pull-through cache: the whole of a blob it does not hold yet, streamed from the
    /// upstream while it is cached. `None`: read it as usual ([`BlobService::stat`], then
    /// [`BlobService::open`]).
    pub async fn stream_uncached(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
    ) -> Result<Option<(u64, ByteStream)>> {
        if repo.kind != RepoKind::Proxy {
            return Ok(None);
        }
        self.proxy.stream_blob(repo, digest).await
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
