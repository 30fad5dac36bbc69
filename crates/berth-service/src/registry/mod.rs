//! The OCI registry use cases, by concern: blobs, uploads, manifests (with tags, referrers
//! and the catalog). Every operation takes the repository already resolved (and the access
//! already decided) by [`crate::RepositoryService`].

mod blobs;
mod downloads;
pub mod image;
mod manifests;
mod proxy;
mod uploads;
pub(crate) mod writer;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use berth_core::manifest;
use berth_meta::Meta;
use berth_storage::BlobStore;
use bytes::Bytes;
use futures::stream::BoxStream;

pub use blobs::BlobService;
pub use downloads::DownloadCounter;
pub use manifests::{
    ImageDetail, ManifestService, ManifestStored, PullKind, ReferrerList, TagDetail,
};
pub use proxy::ProxyService;
pub use uploads::{Upload, UploadFinished, UploadService};

/// A request body on its way in.
pub type BodyStream = BoxStream<'static, io::Result<Bytes>>;

/// Limits that protect the registry from oversized or abandoned work.
#[derive(Debug, Clone)]
pub struct RegistryLimits {
    pub max_manifest_bytes: usize,
    /// Uploads untouched for this long are purged.
    pub upload_ttl: Duration,
    /// The largest config blob read for tag details.
    pub max_config_bytes: u64,
    /// Upload data in storage that no session knows is removed once it has been idle this
    /// long: longer than any single request may write without pause.
    pub orphan_grace: Duration,
    /// What a Helm chart may be.
    pub charts: crate::charts::ChartLimits,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_manifest_bytes: manifest::MAX_MANIFEST_BYTES,
            upload_ttl: Duration::from_secs(24 * 3600),
            max_config_bytes: 4 * 1024 * 1024,
            orphan_grace: Duration::from_secs(3600),
            charts: crate::charts::ChartLimits::default(),
        }
    }
}

/// What the registry's services share.
pub(crate) struct Store {
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) meta: Meta,
    pub(crate) limits: RegistryLimits,
}
