use berth_core::{Digest, RepoName};

/// Everything a registry operation can refuse, in the terms of the OCI distribution spec.
/// Each API family maps these onto its own wire format.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("repository name not known to registry")]
    NameUnknown(RepoName),
    #[error("blob unknown to registry")]
    BlobUnknown(Digest),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// The chunk does not start where the upload stands; `size` is where it stands.
    #[error("chunk out of order: the upload has {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("provided digest did not match uploaded content: {0}")]
    DigestInvalid(String),
    #[error("manifest unknown to registry")]
    ManifestUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest references a manifest or blob unknown to the repository: {0}")]
    ManifestBlobUnknown(Digest),
    #[error("manifest is larger than the limit of {0} bytes")]
    ManifestTooLarge(usize),
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    /// A fault of berth or its backends; the message is for logs, never for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<berth_storage::StorageError> for ServiceError {
    fn from(e: berth_storage::StorageError) -> Self {
        use berth_storage::StorageError as S;
        match e {
            S::UploadNotFound | S::InvalidUploadId => ServiceError::BlobUploadUnknown,
            S::Body(e) => ServiceError::BlobUploadInvalid(format!("reading the body failed: {e}")),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<berth_meta::MetaError> for ServiceError {
    fn from(e: berth_meta::MetaError) -> Self {
        use berth_meta::MetaError as M;
        match e {
            M::MissingBlob(d) | M::MissingManifest(d) => ServiceError::ManifestBlobUnknown(d),
            M::SizeMismatch { .. } => ServiceError::ManifestInvalid(e.to_string()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}
