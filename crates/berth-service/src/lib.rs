//! berth's use cases. Services take validated domain values, talk to the [`BlobStore`] and
//! the [`MetaStore`], and return typed errors; they know nothing of HTTP.
//!
//! [`BlobStore`]: berth_storage::BlobStore
//! [`MetaStore`]: berth_meta::MetaStore

mod error;
mod hashing;
pub mod jobs;
mod registry;

pub use error::ServiceError;
pub use registry::{
    BodyStream, ManifestStored, ReferrerList, Registry, RegistryLimits, Upload, UploadFinished,
};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
