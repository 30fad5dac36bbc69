//! Blobs as files under a root directory. An upload is a file under `uploads/` that grows
//! with each append (synced before the append returns); commit renames it into `blobs/`
//! and syncs the directory, so a blob path only ever holds complete, durable content.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use async_trait::async_trait;
use berth_core::Digest;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::{
    Appended, BlobStore, BodyStream, ByteStream, Result, StorageError, StoredUpload, paths,
};

/// Size of each read when serving a blob.
const READ_CHUNK: usize = 256 * 1024;

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<FsBlobStore> {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBlobStore { root })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

/// Syncs what has been written so far on another thread while writing goes on, so that
/// the disk works while the network does and the final sync only has the tail left.
#[derive(Default)]
struct Flusher {
    running: Option<std::thread::JoinHandle<io::Result<()>>>,
    flushed_at: u64,
}

impl Flusher {
    /// Written bytes between background syncs.
    const EVERY: u64 = 8 * 1024 * 1024;

    fn maybe_start(&mut self, file: &File, written: u64) -> io::Result<()> {
        if written - self.flushed_at < Self::EVERY {
            return Ok(());
        }
        if let Some(running) = &self.running {
            if !running.is_finished() {
                return Ok(());
            }
            self.finish()?;
        }
        let handle = file.try_clone()?;
        self.flushed_at = written;
        self.running = Some(std::thread::spawn(move || handle.sync_data()));
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(running) => running
                .join()
                .map_err(|_| io::Error::other("flusher thread panicked"))?,
            None => Ok(()),
        }
    }
}

/// Streams a file region in chunks, each read on the blocking pool. The next chunk is read
/// while the previous one is being sent, and no thread is held while the client is slow.
struct BlobReader {
    file: Option<Arc<Mutex<File>>>,
    remaining: u64,
    pending: Option<tokio::task::JoinHandle<io::Result<Bytes>>>,
}

impl BlobReader {
    fn new(file: File, len: u64) -> BlobReader {
        let mut reader = BlobReader {
            file: Some(Arc::new(Mutex::new(file))),
            remaining: len,
            pending: None,
        };
        reader.read_ahead();
        reader
    }

    fn read_ahead(&mut self) {
        if self.remaining == 0 {
            self.file = None;
            return;
        }
        let Some(file) = self.file.clone() else {
            return;
        };
        let want = self.remaining.min(READ_CHUNK as u64);
        self.remaining -= want;
        // Allocated here, on the runtime thread that also frees it once it is sent, not on
        // a blocking-pool thread: what a thread that may then idle allocated stays in its
        // heap (mimalloc's), and sixteen concurrent pulls held 160 MiB instead of 60.
        // read_to_end fills spare capacity without zeroing it first.
        let mut buf = Vec::with_capacity(want as usize);
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let mut file = file.lock().expect("reader lock");
            (&mut *file).take(want).read_to_end(&mut buf)?;
            if (buf.len() as u64) < want {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob file is shorter than recorded",
                ));
            }
            Ok(Bytes::from(buf))
        }));
    }
}

impl futures::Stream for BlobReader {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(pending) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match Pin::new(pending).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(joined) => {
                joined.unwrap_or_else(|e| Err(io::Error::other(format!("read task failed: {e}"))))
            }
        };
        self.pending = None;
        match result {
            Ok(chunk) => {
                self.read_ahead();
                Poll::Ready(Some(Ok(chunk)))
            }
            Err(e) => {
                self.file = None;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))?
}

fn not_found_as(err: io::Error, as_: StorageError) -> StorageError {
    if err.kind() == io::ErrorKind::NotFound {
        as_
    } else {
        StorageError::Io(err)
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn get(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        let path = self.path(&paths::blob_key(digest));
        let start = range.start;
        let file = blocking(move || {
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(start))?;
            Ok(file)
        })
        .await
        .map_err(|e| not_found_as(e, StorageError::NotFound))?;
        Ok(BlobReader::new(file, range.end - range.start).boxed())
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        let path = self.path(&paths::blob_key(digest));
        match blocking(move || std::fs::remove_file(path)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn begin_upload(&self, id: &str) -> Result<String> {
        // The file appears with the first append; nothing to do until then.
        paths::upload_key(id)?;
        Ok(String::new())
    }

    async fn append(
        &self,
        id: &str,
        _state: &str,
        offset: u64,
        body: BodyStream<'_>,
    ) -> Result<Appended> {
        let path = self.path(&paths::upload_key(id)?);
        // The body is pulled (and hashed by the caller's wrapper) on this task while a
        // blocking thread writes, so hashing and disk writes overlap.
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let writer = tokio::task::spawn_blocking(move || -> Result<u64> {
            // Only the first append may create the file: a later one whose file is gone
            // belongs to an upload that was aborted.
            let mut file = OpenOptions::new()
                .write(true)
                .create(offset == 0)
                .open(&path)
                .map_err(|e| not_found_as(e, StorageError::UploadNotFound))?;
            let len = file.metadata()?.len();
            if len < offset {
                return Err(StorageError::SizeMismatch {
                    expected: offset,
                    found: len,
                });
            }
            if len > offset {
                // Left over from an append that failed: not part of the upload.
                file.set_len(offset)?;
            }
            let mut written = 0u64;
            let mut pos = offset;
            let mut flusher = Flusher::default();
            while let Some(chunk) = rx.blocking_recv() {
                file.write_all_at(&chunk, pos)?;
                pos += chunk.len() as u64;
                written += chunk.len() as u64;
                flusher.maybe_start(&file, written)?;
            }
            file.flush()?;
            flusher.finish()?;
            file.sync_data()?;
            Ok(written)
        });
        let mut body_error = None;
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) if chunk.is_empty() => {}
                Ok(chunk) => {
                    if tx.send(chunk).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| StorageError::Backend(format!("writer task failed: {e}")))??;
        if let Some(e) = body_error {
            return Err(StorageError::Body(e));
        }
        Ok(Appended {
            state: String::new(),
            written,
        })
    }

    async fn commit(&self, id: &str, _state: &str, size: u64, digest: &Digest) -> Result<()> {
        let from = self.path(&paths::upload_key(id)?);
        let to = self.path(&paths::blob_key(digest));
        blocking(move || -> io::Result<Result<()>> {
            let len = match std::fs::metadata(&from) {
                Ok(m) => m.len(),
                // An empty upload has no file yet.
                Err(e) if e.kind() == io::ErrorKind::NotFound && size == 0 => {
                    File::create(&from)?;
                    0
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Ok(Err(StorageError::UploadNotFound));
                }
                Err(e) => return Err(e),
            };
            if len != size {
                if len > size {
                    // Left over from a failed append: cut it before the file becomes a blob.
                    OpenOptions::new().write(true).open(&from)?.set_len(size)?;
                } else {
                    return Ok(Err(StorageError::SizeMismatch {
                        expected: size,
                        found: len,
                    }));
                }
            }
            let dir = to.parent().expect("blob keys have a parent");
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&from, &to)?;
            sync_dir(dir)?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn abort(&self, id: &str, _state: &str) -> Result<()> {
        let path = self.path(&paths::upload_key(id)?);
        match blocking(move || std::fs::remove_file(path)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn list_uploads(&self, modified_before: SystemTime) -> Result<Vec<StoredUpload>> {
        let dir = self.path("uploads");
        let found = blocking(move || {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name();
                // Only what an upload id can name; anything else is not ours to sweep.
                let Some(id) = name.to_str().filter(|id| paths::upload_key(id).is_ok()) else {
                    continue;
                };
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    // Committed or aborted since read_dir saw it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                let modified = meta.modified()?;
                if meta.is_file() && modified < modified_before {
                    found.push(StoredUpload {
                        id: id.to_owned(),
                        modified,
                    });
                }
            }
            Ok(found)
        })
        .await?;
        Ok(found)
    }

    async fn remove_orphan(&self, id: &str) -> Result<()> {
        // An upload is one file: what abort removes.
        self.abort(id, "").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shared_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        crate::testsuite::run(&store).await;
    }
}
