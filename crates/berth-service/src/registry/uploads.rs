//! Blob uploads: sessions that survive restarts and move between replicas (the hash state
//! and storage state live in the database), and whole-blob uploads in one request.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use berth_core::{Algorithm, Digest, Hasher, RepoName, UploadId};
use berth_meta::{RepositoryRow, UploadRecord, now_ms};

use super::writer::{check_length, new_upload_id, verify, write_blob};
use super::{BodyStream, Store};
use crate::hashing::HashingStream;
use crate::{Entity, Field, Result, ServiceError};

/// An upload session as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: UploadId,
    pub repository: RepoName,
    /// Bytes received so far.
    pub size: u64,
}

impl From<&UploadRecord> for Upload {
    fn from(r: &UploadRecord) -> Upload {
        Upload {
            id: r.id.clone(),
            repository: r.repository.clone(),
            size: r.size,
        }
    }
}

/// What a finished upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFinished {
    pub digest: Digest,
    pub size: u64,
}

pub struct UploadService {
    store: Arc<Store>,
    /// Uploads a request of this process is writing to right now.
    busy: Mutex<HashSet<UploadId>>,
}

/// Marks an upload busy for as long as it lives.
struct BusyGuard<'a> {
    busy: &'a Mutex<HashSet<UploadId>>,
    id: UploadId,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

fn out_of_order(size: u64) -> ServiceError {
    ServiceError::invalid(
        Field::UploadRange { size },
        format!("chunk out of order: the upload has {size} bytes"),
    )
}

impl UploadService {
    pub(crate) fn new(store: Arc<Store>) -> UploadService {
        UploadService {
            store,
            busy: Mutex::new(HashSet::new()),
        }
    }

    /// The smallest chunk storage prefers (announced as `OCI-Chunk-Min-Length`).
    pub fn preferred_chunk_min(&self) -> Option<u64> {
        self.store.blobs.preferred_chunk_min()
    }

    pub async fn start(&self, repo: &RepositoryRow) -> Result<Upload> {
        let id = new_upload_id();
        let storage_state = self.store.blobs.begin_upload(id.as_str()).await?;
        let now = now_ms();
        let record = UploadRecord {
            id: id.clone(),
            repository: repo.name.clone(),
            size: 0,
            hash_state: Hasher::new(Algorithm::Sha256).save(),
            storage_state,
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = self.store.meta.uploads.create_upload(&record).await {
            let _ = self
                .store
                .blobs
                .abort(id.as_str(), &record.storage_state)
                .await;
            return Err(e.into());
        }
        Ok(Upload::from(&record))
    }

    async fn record(&self, repo: &RepositoryRow, id: &UploadId) -> Result<UploadRecord> {
        match self.store.meta.uploads.get_upload(id).await? {
            Some(record) if record.repository == repo.name => Ok(record),
            _ => Err(ServiceError::NotFound(Entity::Upload)),
        }
    }

    pub async fn status(&self, repo: &RepositoryRow, id: &UploadId) -> Result<Upload> {
        Ok(Upload::from(&self.record(repo, id).await?))
    }

    fn claim(&self, record: &UploadRecord) -> Result<BusyGuard<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if !busy.insert(record.id.clone()) {
            return Err(ServiceError::Busy(format!(
                "upload session is busy: another request is writing to it (it has {} bytes)",
                record.size
            )));
        }
        Ok(BusyGuard {
            busy: &self.busy,
            id: record.id.clone(),
        })
    }

    /// Appends a body to an upload and, when `persist`, records the new size and hash state
    /// (a last chunk that is committed at once needs no record). On any failure the upload
    /// stays as it was.
    async fn append_record(
        &self,
        record: UploadRecord,
        start: Option<u64>,
        len: Option<u64>,
        body: BodyStream,
        persist: bool,
    ) -> Result<UploadRecord> {
        if start.is_some_and(|start| start != record.size) {
            return Err(out_of_order(record.size));
        }
        let _guard = self.claim(&record)?;
        let hasher = Hasher::restore(&record.hash_state).ok_or_else(|| {
            ServiceError::internal(format!("upload {} has a bad hash state", record.id))
        })?;
        let mut hashing = HashingStream::new(body, hasher, len);
        let appended = self
            .store
            .blobs
            .append(
                record.id.as_str(),
                &record.storage_state,
                record.size,
                &mut hashing,
            )
            .await?;
        check_length(len, appended.written)?;
        let size = record.size + appended.written;
        let hash_state = hashing.hasher.save();
        if persist
            && !self
                .store
                .meta
                .uploads
                .advance_upload(&record.id, record.size, size, &hash_state, &appended.state)
                .await?
        {
            // Another request (on another replica) appended first.
            let now = self.store.meta.uploads.get_upload(&record.id).await?;
            return Err(match now {
                Some(now) => out_of_order(now.size),
                None => ServiceError::NotFound(Entity::Upload),
            });
        }
        Ok(UploadRecord {
            size,
            hash_state,
            storage_state: appended.state,
            updated_at: now_ms(),
            ..record
        })
    }

    /// PATCH: appends a chunk. `start` is the first byte's offset from `Content-Range`
    /// (None for a streamed upload), `len` the declared length if any.
    pub async fn append(
        &self,
        repo: &RepositoryRow,
        id: &UploadId,
        start: Option<u64>,
        len: Option<u64>,
        body: BodyStream,
    ) -> Result<Upload> {
        let record = self.record(repo, id).await?;
        let record = self.append_record(record, start, len, body, true).await?;
        Ok(Upload::from(&record))
    }

    /// PUT: appends an optional last chunk, verifies the digest, and makes the blob visible.
    pub async fn finish(
        &self,
        repo: &RepositoryRow,
        id: &UploadId,
        digest: &Digest,
        last_chunk: Option<(Option<u64>, Option<u64>, BodyStream)>,
    ) -> Result<UploadFinished> {
        let mut record = self.record(repo, id).await?;
        if let Some((start, len, body)) = last_chunk {
            record = self.append_record(record, start, len, body, false).await?;
        }
        let _guard = self.claim(&record)?;
        let result = self.commit(repo, &record, digest).await;
        if let Err(ServiceError::Invalid {
            field: Field::Digest,
            ..
        }) = result
        {
            // Refused for good: the session is over. (A commit forgets it itself.)
            self.store.meta.uploads.delete_upload(id).await?;
        }
        result
    }

    async fn commit(
        &self,
        repo: &RepositoryRow,
        record: &UploadRecord,
        digest: &Digest,
    ) -> Result<UploadFinished> {
        let blobs = &self.store.blobs;
        let id = record.id.as_str();
        let hasher = Hasher::restore(&record.hash_state).ok_or_else(|| {
            ServiceError::internal(format!("upload {} has a bad hash state", record.id))
        })?;
        if hasher.algorithm() == digest.algorithm() {
            if let Err(e) = verify(digest, &hasher.finish()) {
                let _ = blobs.abort(id, &record.storage_state).await;
                return Err(e);
            }
            blobs
                .commit(id, &record.storage_state, record.size, digest)
                .await?;
        } else {
            // Hashed as sha256 while it arrived, finished with another algorithm: store it
            // under the digest it was hashed with, then re-hash it into its final place.
            let interim = hasher.finish();
            blobs
                .commit(id, &record.storage_state, record.size, &interim)
                .await?;
            let stream = blobs.get(&interim, 0..record.size).await?;
            write_blob(&**blobs, stream, digest, Some(record.size)).await?;
        }
        self.store
            .meta
            .uploads
            .complete_upload(&record.id, repo.id, digest, record.size)
            .await?;
        Ok(UploadFinished {
            digest: digest.clone(),
            size: record.size,
        })
    }

    /// DELETE: abandons an upload.
    pub async fn cancel(&self, repo: &RepositoryRow, id: &UploadId) -> Result<()> {
        let record = self.record(repo, id).await?;
        let _guard = self.claim(&record)?;
        self.store.meta.uploads.delete_upload(id).await?;
        self.store
            .blobs
            .abort(id.as_str(), &record.storage_state)
            .await?;
        Ok(())
    }

    /// POST with `?digest=`: the whole blob in one request. No session is recorded: if
    /// berth dies midway, what storage holds of it is an orphan that
    /// [`UploadService::sweep_orphans`] removes after its grace period.
    pub async fn upload_whole(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
        len: Option<u64>,
        body: BodyStream,
    ) -> Result<UploadFinished> {
        let size = write_blob(&*self.store.blobs, body, digest, len).await?;
        self.store
            .meta
            .artifacts
            .link_blob(repo.id, digest, size)
            .await?;
        Ok(UploadFinished {
            digest: digest.clone(),
            size,
        })
    }

    /// Removes what storage holds for uploads the database does not know (a whole-blob
    /// upload or a racing append cut off by a crash) once it has not been written to for
    /// the orphan grace period. Returns how many.
    pub async fn sweep_orphans(&self) -> Result<u64> {
        let before = std::time::SystemTime::now() - self.store.limits.orphan_grace;
        let mut removed = 0;
        for stored in self.store.blobs.list_uploads(before).await? {
            let known = match stored.id.parse::<UploadId>() {
                Ok(id) => self.store.meta.uploads.get_upload(&id).await?.is_some(),
                Err(_) => false,
            };
            if !known {
                self.store.blobs.remove_orphan(&stored.id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Forgets uploads untouched for longer than the upload TTL. Returns how many.
    pub async fn purge_stale(&self) -> Result<u64> {
        let before = now_ms() - self.store.limits.upload_ttl.as_millis() as i64;
        let mut purged = 0;
        loop {
            let stale = self.store.meta.uploads.stale_uploads(before, 100).await?;
            if stale.is_empty() {
                return Ok(purged);
            }
            for upload in stale {
                // Forget the session first, and only if it is still stale: a client that
                // resumed it meanwhile keeps it.
                if self
                    .store
                    .meta
                    .uploads
                    .delete_stale_upload(&upload.id, before)
                    .await?
                {
                    self.store
                        .blobs
                        .abort(upload.id.as_str(), &upload.storage_state)
                        .await?;
                    purged += 1;
                }
            }
        }
    }
}
