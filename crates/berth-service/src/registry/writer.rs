//! The one way bytes become a blob: append to an upload in storage while hashing, check the
//! length and the digest, commit. A failure at any step aborts what storage holds.

use berth_core::{Digest, Hasher, UploadId};
use berth_storage::BlobStore;
use futures::Stream;

use crate::hashing::HashingStream;
use crate::{Field, Result, ServiceError};

/// A fresh id for an upload in storage.
pub(crate) fn new_upload_id() -> UploadId {
    uuid::Uuid::new_v4()
        .to_string()
        .parse()
        .expect("a UUID is a valid upload id")
}

/// Refuses `computed` unless it is `expected`.
pub(crate) fn verify(expected: &Digest, computed: &Digest) -> Result<()> {
    if computed != expected {
        return Err(ServiceError::invalid(
            Field::Digest,
            format!(
                "provided digest did not match uploaded content: expected {expected}, content is {computed}"
            ),
        ));
    }
    Ok(())
}

/// Refuses a body whose length is not the one declared.
pub(crate) fn check_length(declared: Option<u64>, received: u64) -> Result<()> {
    match declared {
        Some(len) if len != received => Err(ServiceError::invalid(
            Field::Size,
            format!(
                "provided length did not match content length: declared {len} bytes, received {received}"
            ),
        )),
        _ => Ok(()),
    }
}

/// Writes the whole of `body` as the new blob `digest` through a transient upload, whose
/// id is returned with the size. Nothing is visible unless it all succeeds.
pub(crate) async fn write_blob<S>(
    blobs: &dyn BlobStore,
    body: S,
    digest: &Digest,
    declared_len: Option<u64>,
) -> Result<u64>
where
    S: Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin,
{
    let id = new_upload_id();
    let state = blobs.begin_upload(id.as_str()).await?;
    let mut hashing = HashingStream::new(body, Hasher::new(digest.algorithm()), declared_len);
    let appended = match blobs.append(id.as_str(), &state, 0, &mut hashing).await {
        Ok(appended) => appended,
        Err(e) => {
            let _ = blobs.abort(id.as_str(), &state).await;
            return Err(e.into());
        }
    };
    let checked = check_length(declared_len, appended.written)
        .and_then(|()| verify(digest, &hashing.hasher.finish()));
    if let Err(e) = checked {
        let _ = blobs.abort(id.as_str(), &appended.state).await;
        return Err(e);
    }
    blobs
        .commit(id.as_str(), &appended.state, appended.written, digest)
        .await?;
    Ok(appended.written)
}
