//! The OCI registry use cases: blobs, uploads, manifests, tags, referrers, catalog.

use std::collections::HashSet;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::manifest::{self, ManifestError};
use berth_core::{Descriptor, Digest, Hasher, Reference, RepoName, Tag};
use berth_meta::{ManifestRef, ManifestRow, MetaStore, NewManifest, UploadRecord, now_ms};
use berth_storage::{BlobStore, ByteStream, StorageError};
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::hashing::HashingStream;
use crate::{Result, ServiceError};

/// A request body on its way in.
pub type BodyStream = BoxStream<'static, io::Result<Bytes>>;

/// Limits that protect the registry from oversized or abandoned work.
#[derive(Debug, Clone)]
pub struct RegistryLimits {
    pub max_manifest_bytes: usize,
    /// Uploads untouched for this long are purged.
    pub upload_ttl: Duration,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_manifest_bytes: manifest::MAX_MANIFEST_BYTES,
            upload_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// An upload session as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub repository: RepoName,
    /// Bytes received so far.
    pub size: u64,
}

/// What a finished upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFinished {
    pub digest: Digest,
    pub size: u64,
}

/// What storing a manifest produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestStored {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

/// The manifests referring to a subject, as an index's descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerList {
    pub manifests: Vec<Descriptor>,
    /// Whether an `artifactType` filter was applied.
    pub filtered: bool,
}

pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    limits: RegistryLimits,
    /// Uploads a request of this process is writing to right now.
    busy: Mutex<HashSet<String>>,
}

/// Marks an upload busy for as long as it lives.
struct BusyGuard<'a> {
    busy: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.busy.lock().unwrap().remove(&self.id);
    }
}

fn new_upload_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Layers that clients fetch from elsewhere (Windows base layers): not required to be here.
fn is_foreign_layer(media_type: &str) -> bool {
    media_type.contains("foreign") || media_type.contains("nondistributable")
}

impl Registry {
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetaStore>,
        limits: RegistryLimits,
    ) -> Registry {
        Registry {
            blobs,
            meta,
            limits,
            busy: Mutex::new(HashSet::new()),
        }
    }

    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }

    pub fn blob_store(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    pub fn limits(&self) -> &RegistryLimits {
        &self.limits
    }

    // ---- blobs ----

    /// The size of a blob `repo` may serve.
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        self.meta
            .repo_blob_size(repo, digest)
            .await?
            .ok_or_else(|| ServiceError::BlobUnknown(digest.clone()))
    }

    /// Streams `range` of a blob already checked with [`Registry::stat_blob`].
    pub async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        match self.blobs.get(digest, range).await {
            Ok(stream) => Ok(stream),
            Err(StorageError::NotFound) => Err(ServiceError::Internal(format!(
                "blob {digest} is recorded but missing from storage"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a blob from a repository (its bytes stay while others use them).
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(repo, digest).await? {
            Ok(())
        } else {
            Err(ServiceError::BlobUnknown(digest.clone()))
        }
    }

    /// Makes a blob of `from` available in `repo` without copying. Returns false when `from`
    /// does not have it (the client then uploads it).
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<bool> {
        match self.meta.repo_blob_size(from, digest).await? {
            Some(size) => {
                self.meta.link_blob(repo, digest, size).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    // ---- uploads ----

    pub async fn start_upload(&self, repo: &RepoName) -> Result<Upload> {
        let id = new_upload_id();
        let storage_state = self.blobs.begin_upload(&id).await?;
        let now = now_ms();
        let record = UploadRecord {
            id: id.clone(),
            repository: repo.clone(),
            size: 0,
            hash_state: Hasher::new(berth_core::Algorithm::Sha256).save(),
            storage_state,
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = self.meta.create_upload(&record).await {
            let _ = self.blobs.abort(&id, &record.storage_state).await;
            return Err(e.into());
        }
        Ok(Upload {
            id,
            repository: repo.clone(),
            size: 0,
        })
    }

    async fn upload_record(&self, repo: &RepoName, id: &str) -> Result<UploadRecord> {
        match self.meta.get_upload(id).await? {
            Some(record) if record.repository == *repo => Ok(record),
            _ => Err(ServiceError::BlobUploadUnknown),
        }
    }

    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<Upload> {
        let record = self.upload_record(repo, id).await?;
        Ok(Upload {
            id: record.id,
            repository: record.repository,
            size: record.size,
        })
    }

    fn claim(&self, record: &UploadRecord) -> Result<BusyGuard<'_>> {
        if !self.busy.lock().unwrap().insert(record.id.clone()) {
            return Err(ServiceError::RangeNotSatisfiable { size: record.size });
        }
        Ok(BusyGuard {
            busy: &self.busy,
            id: record.id.clone(),
        })
    }

    /// Appends a body to an upload and, when `persist`, records the new size and hash state
    /// (a last chunk that is committed at once needs no record). On any failure the upload
    /// stays as it was.
    async fn append(
        &self,
        record: UploadRecord,
        start: Option<u64>,
        len: Option<u64>,
        body: BodyStream,
        persist: bool,
    ) -> Result<UploadRecord> {
        if start.is_some_and(|start| start != record.size) {
            return Err(ServiceError::RangeNotSatisfiable { size: record.size });
        }
        let _guard = self.claim(&record)?;
        let hasher = Hasher::restore(&record.hash_state).ok_or_else(|| {
            ServiceError::Internal(format!("upload {} has a bad hash state", record.id))
        })?;
        let mut hashing = HashingStream::new(body, hasher, len);
        let appended = self
            .blobs
            .append(&record.id, &record.storage_state, record.size, &mut hashing)
            .await?;
        if let Some(len) = len
            && appended.written != len
        {
            return Err(ServiceError::SizeInvalid(format!(
                "declared {len} bytes, received {}",
                appended.written
            )));
        }
        let size = record.size + appended.written;
        let hash_state = hashing.hasher.save();
        if persist
            && !self
                .meta
                .advance_upload(&record.id, record.size, size, &hash_state, &appended.state)
                .await?
        {
            let now = self.upload_record(&record.repository, &record.id).await?;
            return Err(ServiceError::RangeNotSatisfiable { size: now.size });
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
    pub async fn append_upload(
        &self,
        repo: &RepoName,
        id: &str,
        start: Option<u64>,
        len: Option<u64>,
        body: BodyStream,
    ) -> Result<Upload> {
        let record = self.upload_record(repo, id).await?;
        let record = self.append(record, start, len, body, true).await?;
        Ok(Upload {
            id: record.id,
            repository: record.repository,
            size: record.size,
        })
    }

    /// PUT: appends an optional last chunk, verifies the digest, and makes the blob visible.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        last_chunk: Option<(BodyStream, Option<u64>)>,
    ) -> Result<UploadFinished> {
        let mut record = self.upload_record(repo, id).await?;
        if let Some((body, len)) = last_chunk {
            record = self.append(record, None, len, body, false).await?;
        }
        let _guard = self.claim(&record)?;
        let result = self.commit(&record, digest).await;
        if let Err(ServiceError::DigestInvalid(_)) = result {
            // Refused for good: the session is over. (A commit forgets it itself.)
            self.meta.delete_upload(id).await?;
        }
        result
    }

    async fn commit(&self, record: &UploadRecord, digest: &Digest) -> Result<UploadFinished> {
        let hasher = Hasher::restore(&record.hash_state).ok_or_else(|| {
            ServiceError::Internal(format!("upload {} has a bad hash state", record.id))
        })?;
        if hasher.algorithm() == digest.algorithm() {
            let computed = hasher.finish();
            if computed != *digest {
                let _ = self.blobs.abort(&record.id, &record.storage_state).await;
                return Err(ServiceError::DigestInvalid(format!(
                    "expected {digest}, content is {computed}"
                )));
            }
            self.blobs
                .commit(&record.id, &record.storage_state, record.size, digest)
                .await?;
        } else {
            // Hashed as sha256 while it arrived, finished with another algorithm: store it
            // under the digest it was hashed with, then re-hash it into its final place.
            let interim = hasher.finish();
            self.blobs
                .commit(&record.id, &record.storage_state, record.size, &interim)
                .await?;
            self.rehash_into(&interim, record.size, digest).await?;
        }
        self.meta
            .complete_upload(&record.id, &record.repository, digest, record.size)
            .await?;
        Ok(UploadFinished {
            digest: digest.clone(),
            size: record.size,
        })
    }

    async fn rehash_into(&self, source: &Digest, size: u64, digest: &Digest) -> Result<()> {
        let id = new_upload_id();
        let state = self.blobs.begin_upload(&id).await?;
        let stream = self.blobs.get(source, 0..size).await?;
        let mut hashing = HashingStream::new(stream, Hasher::new(digest.algorithm()), None);
        let appended = match self.blobs.append(&id, &state, 0, &mut hashing).await {
            Ok(a) => a,
            Err(e) => {
                let _ = self.blobs.abort(&id, &state).await;
                return Err(e.into());
            }
        };
        let computed = hashing.hasher.finish();
        if computed != *digest {
            let _ = self.blobs.abort(&id, &appended.state).await;
            return Err(ServiceError::DigestInvalid(format!(
                "expected {digest}, content is {computed}"
            )));
        }
        self.blobs
            .commit(&id, &appended.state, size, digest)
            .await?;
        Ok(())
    }

    /// DELETE: abandons an upload.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        let record = self.upload_record(repo, id).await?;
        let _guard = self.claim(&record)?;
        self.meta.delete_upload(id).await?;
        self.blobs.abort(id, &record.storage_state).await?;
        Ok(())
    }

    /// POST with `?digest=`: the whole blob in one request. No session is recorded; if
    /// berth dies midway the partial upload is invisible and is swept with stale uploads.
    pub async fn upload_whole(
        &self,
        repo: &RepoName,
        digest: &Digest,
        len: Option<u64>,
        body: BodyStream,
    ) -> Result<UploadFinished> {
        let id = new_upload_id();
        let state = self.blobs.begin_upload(&id).await?;
        let mut hashing = HashingStream::new(body, Hasher::new(digest.algorithm()), len);
        let appended = match self.blobs.append(&id, &state, 0, &mut hashing).await {
            Ok(a) => a,
            Err(e) => {
                let _ = self.blobs.abort(&id, &state).await;
                return Err(e.into());
            }
        };
        let fail = |e: ServiceError| async {
            let _ = self.blobs.abort(&id, &appended.state).await;
            Err(e)
        };
        if let Some(len) = len
            && appended.written != len
        {
            return fail(ServiceError::SizeInvalid(format!(
                "declared {len} bytes, received {}",
                appended.written
            )))
            .await;
        }
        let computed = hashing.hasher.finish();
        if computed != *digest {
            return fail(ServiceError::DigestInvalid(format!(
                "expected {digest}, content is {computed}"
            )))
            .await;
        }
        self.blobs
            .commit(&id, &appended.state, appended.written, digest)
            .await?;
        self.meta.link_blob(repo, digest, appended.written).await?;
        Ok(UploadFinished {
            digest: digest.clone(),
            size: appended.written,
        })
    }

    /// Forgets uploads untouched for longer than the upload TTL. Returns how many.
    pub async fn purge_stale_uploads(&self) -> Result<u64> {
        let before = now_ms() - self.limits.upload_ttl.as_millis() as i64;
        let mut purged = 0;
        loop {
            let stale = self.meta.stale_uploads(before, 100).await?;
            if stale.is_empty() {
                return Ok(purged);
            }
            for upload in stale {
                // Forget the session first, and only if it is still stale: a client that
                // resumed it meanwhile keeps it.
                if self.meta.delete_stale_upload(&upload.id, before).await? {
                    self.blobs.abort(&upload.id, &upload.storage_state).await?;
                    purged += 1;
                }
            }
        }
    }

    // ---- manifests ----

    /// PUT a manifest under `reference`, with extra `tags` (`?tag=`).
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
        tags: &[Tag],
    ) -> Result<ManifestStored> {
        if body.len() > self.limits.max_manifest_bytes {
            return Err(ServiceError::ManifestTooLarge(
                self.limits.max_manifest_bytes,
            ));
        }
        let digest = match reference {
            Reference::Digest(expected) => {
                let computed = Digest::compute(expected.algorithm(), &body);
                if computed != *expected {
                    return Err(ServiceError::DigestInvalid(format!(
                        "expected {expected}, manifest is {computed}"
                    )));
                }
                computed
            }
            Reference::Tag(_) => Digest::sha256(&body),
        };
        let parsed = manifest::parse(content_type, &body).map_err(|e| match e {
            ManifestError::Json(_) | ManifestError::Invalid(_) => {
                ServiceError::ManifestInvalid(e.to_string())
            }
            ManifestError::UnsupportedMediaType(_) => ServiceError::ManifestInvalid(e.to_string()),
        })?;
        let mut all_tags: Vec<Tag> = tags.to_vec();
        if let Reference::Tag(tag) = reference {
            all_tags.push(tag.clone());
        }
        let as_ref = |d: &Descriptor| ManifestRef {
            digest: d.digest.clone(),
            size: d.size,
        };
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let new = NewManifest {
            digest: digest.clone(),
            media_type: parsed.media_type.clone(),
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
        };
        self.meta.put_manifest(repo, &new, &all_tags).await?;
        Ok(ManifestStored { digest, subject })
    }

    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestRow> {
        self.meta
            .get_manifest(repo, reference)
            .await?
            .ok_or_else(|| ServiceError::ManifestUnknown(reference.to_string()))
    }

    /// DELETE by digest removes the manifest and its tags; by tag, only the tag.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        let existed = match reference {
            Reference::Digest(d) => self.meta.delete_manifest(repo, d).await?,
            Reference::Tag(t) => self.meta.delete_tag(repo, t).await?,
        };
        if existed {
            Ok(())
        } else {
            Err(ServiceError::ManifestUnknown(reference.to_string()))
        }
    }

    pub async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<&str>,
        n: u32,
    ) -> Result<Vec<String>> {
        self.meta
            .list_tags(repo, last, n)
            .await?
            .ok_or_else(|| ServiceError::NameUnknown(repo.clone()))
    }

    pub async fn catalog(&self, last: Option<&str>, n: u32) -> Result<Vec<String>> {
        Ok(self.meta.list_repositories(last, n).await?)
    }

    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ReferrerList> {
        let found = self.meta.referrers(repo, subject).await?;
        let manifests = found
            .into_iter()
            .filter(|r| artifact_type.is_none() || r.artifact_type.as_deref() == artifact_type)
            .map(|r| {
                let annotations = match r.annotations {
                    Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                        ServiceError::Internal(format!("stored annotations of {}: {e}", r.digest))
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
}
