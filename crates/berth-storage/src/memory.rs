//! Blobs in memory: for tests, and for trying berth without a disk.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_core::Digest;
use bytes::Bytes;
use futures::StreamExt;

use crate::{
    Appended, BlobStore, BodyStream, ByteStream, Result, StorageError, StoredUpload, paths,
};

#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<HashMap<String, Bytes>>,
    uploads: Mutex<HashMap<String, Upload>>,
}

struct Upload {
    data: Vec<u8>,
    modified: SystemTime,
}

impl MemoryBlobStore {
    pub fn new() -> MemoryBlobStore {
        MemoryBlobStore::default()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        let blob = self
            .blobs
            .lock()
            .unwrap()
            .get(digest.as_str())
            .cloned()
            .ok_or(StorageError::NotFound)?;
        let end = (range.end as usize).min(blob.len());
        let start = (range.start as usize).min(end);
        Ok(futures::stream::once(async move { Ok(blob.slice(start..end)) }).boxed())
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        self.blobs.lock().unwrap().remove(digest.as_str());
        Ok(())
    }

    async fn begin_upload(&self, id: &str) -> Result<String> {
        paths::upload_key(id)?;
        self.uploads.lock().unwrap().insert(
            id.to_owned(),
            Upload {
                data: Vec::new(),
                modified: SystemTime::now(),
            },
        );
        Ok(String::new())
    }

    async fn append(
        &self,
        id: &str,
        _state: &str,
        offset: u64,
        body: BodyStream<'_>,
    ) -> Result<Appended> {
        let mut received = Vec::new();
        while let Some(chunk) = body.next().await {
            received.extend_from_slice(&chunk.map_err(StorageError::Body)?);
        }
        let mut uploads = self.uploads.lock().unwrap();
        let upload = uploads.get_mut(id).ok_or(StorageError::UploadNotFound)?;
        upload.modified = SystemTime::now();
        let data = &mut upload.data;
        if (data.len() as u64) < offset {
            return Err(StorageError::SizeMismatch {
                expected: offset,
                found: data.len() as u64,
            });
        }
        data.truncate(offset as usize);
        data.extend_from_slice(&received);
        Ok(Appended {
            state: String::new(),
            written: received.len() as u64,
        })
    }

    async fn commit(&self, id: &str, _state: &str, size: u64, digest: &Digest) -> Result<()> {
        let mut data = self
            .uploads
            .lock()
            .unwrap()
            .remove(id)
            .ok_or(StorageError::UploadNotFound)?
            .data;
        if (data.len() as u64) < size {
            return Err(StorageError::SizeMismatch {
                expected: size,
                found: data.len() as u64,
            });
        }
        data.truncate(size as usize);
        self.blobs
            .lock()
            .unwrap()
            .insert(digest.as_str().to_owned(), Bytes::from(data));
        Ok(())
    }

    async fn abort(&self, id: &str, _state: &str) -> Result<()> {
        self.uploads.lock().unwrap().remove(id);
        Ok(())
    }

    async fn list_uploads(&self, modified_before: SystemTime) -> Result<Vec<StoredUpload>> {
        Ok(self
            .uploads
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, upload)| upload.modified < modified_before)
            .map(|(id, upload)| StoredUpload {
                id: id.clone(),
                modified: upload.modified,
            })
            .collect())
    }

    async fn remove_orphan(&self, id: &str) -> Result<()> {
        paths::upload_key(id)?;
        self.uploads.lock().unwrap().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn shared_suite() {
        crate::testsuite::run(&super::MemoryBlobStore::new()).await;
    }
}
