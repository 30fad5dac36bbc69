//! berth's use cases. Services take validated domain values, talk to the blob store and the
//! metadata store, and return errors by kind; they know nothing of HTTP. Every API family
//! calls the same services.

mod access;
mod error;
mod hashing;
pub mod jobs;
mod registry;
mod repositories;

use std::sync::Arc;
use std::time::Duration;

use berth_meta::Meta;
use berth_storage::BlobStore;
use tokio::sync::watch;

pub use access::{AccessMode, AccessService, Target};
pub use berth_meta::{
    Direction, Listed, ManifestInfo, ManifestOrder, ManifestQuery, ManifestRow, MemberRow,
    NamespaceOrder, NamespaceQuery, NamespaceRow, NamespaceUpdate, Page, RepoKind, RepositoryOrder,
    RepositoryQuery, RepositoryRow, RepositoryUpdate, TagOrder, TagQuery, TagRow, Visibility,
};
pub use error::{Entity, Field, ServiceError};
pub use registry::image::{HistoryEntry, ImageInfo};
pub use registry::{
    BlobService, BodyStream, DownloadCounter, ImageDetail, ManifestService, ManifestStored,
    PullKind, ReferrerList, RegistryLimits, TagDetail, Upload, UploadFinished, UploadService,
};
pub use repositories::{
    NamespacePolicy, NamespaceSpec, NamespaceView, RESERVED_NAMESPACES, RepositoryService,
    RepositorySpec, namespace_name,
};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// How the services behave.
#[derive(Clone, Debug, Default)]
pub struct ServiceConfig {
    pub limits: RegistryLimits,
    pub namespaces: NamespacePolicy,
    pub access: AccessMode,
    /// Whether users who are not administrators may create namespaces.
    pub users_create_namespaces: bool,
    /// How often counted downloads are written.
    pub download_flush: Option<Duration>,
}

/// Every service, built over one blob store and one metadata backend: what the API
/// families hold (never the stores themselves).
pub struct Services {
    pub access: Arc<AccessService>,
    pub repositories: Arc<RepositoryService>,
    pub blobs: BlobService,
    pub uploads: UploadService,
    pub manifests: ManifestService,
    downloads: Arc<DownloadCounter>,
    meta: Meta,
    download_flush: Duration,
}

impl Services {
    pub fn new(blob_store: Arc<dyn BlobStore>, meta: Meta, config: ServiceConfig) -> Services {
        let access = Arc::new(AccessService::new(
            meta.clone(),
            config.access,
            config.users_create_namespaces,
        ));
        let repositories = Arc::new(RepositoryService::new(
            meta.clone(),
            access.clone(),
            config.namespaces,
        ));
        let store = Arc::new(registry::Store {
            blobs: blob_store,
            meta: meta.clone(),
            limits: config.limits,
        });
        let downloads = Arc::new(DownloadCounter::default());
        Services {
            access,
            repositories,
            blobs: BlobService::new(store.clone()),
            uploads: UploadService::new(store.clone()),
            manifests: ManifestService::new(store, downloads.clone()),
            downloads,
            meta,
            download_flush: config.download_flush.unwrap_or(Duration::from_secs(1)),
        }
    }

    /// Whether the metadata database answers (the readiness probe).
    pub async fn ready(&self) -> Result<()> {
        Ok(self.meta.leases.ping().await?)
    }

    /// Writes counted downloads now (also what shutdown does).
    pub async fn flush_downloads(&self) -> Result<u64> {
        self.downloads.flush(&*self.meta.artifacts).await
    }

    /// Starts the background jobs: the stale-upload purge and the orphan sweep every
    /// `purge_every` (each once across replicas, by lease), and the download flush. They
    /// stop when `shutdown` turns true, after a last flush.
    pub fn spawn_background(
        self: &Arc<Self>,
        purge_every: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let purge = {
            let services = self.clone();
            tokio::spawn(jobs::run_periodic(
                "upload-purge",
                self.meta.leases.clone(),
                holder.clone(),
                purge_every,
                shutdown.clone(),
                move || {
                    let services = services.clone();
                    async move { services.uploads.purge_stale().await }
                },
            ))
        };
        let sweep = {
            let services = self.clone();
            tokio::spawn(jobs::run_periodic(
                "orphan-sweep",
                self.meta.leases.clone(),
                holder,
                purge_every,
                shutdown.clone(),
                move || {
                    let services = services.clone();
                    async move { services.uploads.sweep_orphans().await }
                },
            ))
        };
        let flush = {
            let services = self.clone();
            let every = self.download_flush;
            let mut shutdown = shutdown;
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(every);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    let stopping = tokio::select! {
                        _ = ticker.tick() => false,
                        _ = shutdown.changed() => true,
                    } || *shutdown.borrow();
                    if let Err(e) = services.flush_downloads().await {
                        tracing::warn!(error = %e, "writing download counts failed; kept for the next try");
                    }
                    if stopping {
                        return;
                    }
                }
            })
        };
        vec![purge, sweep, flush]
    }
}
