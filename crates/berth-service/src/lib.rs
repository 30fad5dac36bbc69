//! berth's use cases. Services take validated domain values, talk to the blob store and the
//! metadata store, and return errors by kind; they know nothing of HTTP. Every API family
//! calls the same services.

mod access;
mod audit;
pub mod auth;
pub mod charts;
mod error;
mod hashing;
pub mod helm_repos;
pub mod jobs;
mod registry;
mod remotes;
mod repositories;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use berth_meta::Meta;
use berth_storage::BlobStore;
use tokio::sync::watch;

pub use access::{AccessMode, AccessService, Target};
pub use audit::{AuditService, Outcome};
pub use auth::{AuthConfig, AuthService, NewSecret, RegistryToken, UserChange};
pub use berth_meta::{AuditQuery, AuditRow, CredentialKind, CredentialRow, UserKind, UserRow};
pub use berth_meta::{
    Direction, Listed, ManifestInfo, ManifestOrder, ManifestQuery, ManifestRow, MemberRow,
    NamespaceOrder, NamespaceQuery, NamespaceRow, NamespaceUpdate, Page, RepoKind, RepositoryOrder,
    RepositoryQuery, RepositoryRow, RepositoryUpdate, TagOrder, TagQuery, TagRow, Visibility,
};
pub use berth_meta::{HelmRepoOrder, HelmRepoQuery, HelmRepoRow, MirroredVersion, SyncState};
pub use berth_meta::{NewProxy, ProxyMode, ProxyRow, ProxyUpdate, RemoteScope};
pub use charts::{
    ChartFile, ChartService, ChartUpload, ChartVersion, IndexBody, IndexForm, RenderedIndex,
};
pub use error::{Entity, Field, ServiceError};
pub use helm_repos::{HelmRepoChange, HelmRepoConfig, HelmRepoService, HelmRepoSpec};
pub use registry::image::{HistoryEntry, ImageInfo};
pub use registry::{
    BlobService, BodyStream, DownloadCounter, ImageDetail, ManifestService, ManifestStored,
    ProxyService, PullKind, ReferrerList, RegistryLimits, TagDetail, Upload, UploadFinished,
    UploadService,
};
pub use remotes::{
    CredentialsChange, ProxySpec, RegistryInfo, RemoteInfo, RemoteName, RemoteService, RemoteSpec,
    parse_remote_name, parse_upstream_url, valid_registry_host,
};
pub use repositories::{
    NamespacePolicy, NamespaceSpec, NamespaceView, RESERVED_NAMESPACES, RepositoryService,
    RepositorySpec, namespace_name,
};
pub use upstream::{
    Fetched, ManifestHead, RemotesConfig, Upstream, UpstreamBlob, UpstreamCredentials,
    UpstreamError, UpstreamManifest, UpstreamTarget,
};

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// How often the Helm repository scheduler looks for repositories due for a sync, at the
/// most (a shorter global interval: that); a created or changed repository wakes it at once.
const HELM_SYNC_TICK: Duration = Duration::from_secs(30);

/// How the services behave.
#[derive(Clone, Debug, Default)]
pub struct ServiceConfig {
    pub limits: RegistryLimits,
    pub namespaces: NamespacePolicy,
    /// Authentication; with it enabled the access policy is enforced, else everyone may do
    /// everything.
    pub auth: AuthConfig,
    /// Whether users who are not administrators may create namespaces.
    pub users_create_namespaces: bool,
    /// How often counted downloads are written.
    pub download_flush: Option<Duration>,
    /// External registries: the upstream client and which registries are plain HTTP.
    pub remotes: RemotesConfig,
    /// How Helm repositories are synced.
    pub helm_repos: HelmRepoConfig,
}

/// Every service, built over one blob store and one metadata backend: what the API
/// families hold (never the stores themselves).
pub struct Services {
    pub access: Arc<AccessService>,
    pub auth: AuthService,
    pub audit: Arc<AuditService>,
    pub repositories: Arc<RepositoryService>,
    pub blobs: BlobService,
    pub uploads: UploadService,
    pub manifests: Arc<ManifestService>,
    pub charts: ChartService,
    pub remotes: Arc<RemoteService>,
    pub helm_repos: HelmRepoService,
    downloads: Arc<DownloadCounter>,
    meta: Meta,
    download_flush: Duration,
    generated_admin_password: std::sync::Mutex<Option<String>>,
}

impl Services {
    /// Builds every service; on first start this creates the token signing key and the
    /// administrator (see [`Services::take_generated_admin_password`]).
    pub async fn start(
        blob_store: Arc<dyn BlobStore>,
        meta: Meta,
        config: ServiceConfig,
    ) -> Result<Services> {
        let mode = if config.auth.enabled {
            AccessMode::Enforced
        } else {
            AccessMode::Open
        };
        let access = Arc::new(AccessService::new(
            meta.clone(),
            mode,
            config.users_create_namespaces,
            config.namespaces.resolve_ttl,
        ));
        let audit = Arc::new(AuditService::new(meta.clone()));
        let remotes = Arc::new(RemoteService::new(
            meta.clone(),
            access.clone(),
            audit.clone(),
            config.remotes,
            config.auth.sealing_key,
        ));
        let repositories = Arc::new(RepositoryService::new(
            meta.clone(),
            access.clone(),
            audit.clone(),
            remotes.clone(),
            config.namespaces,
        ));
        let store = Arc::new(registry::Store {
            blobs: blob_store,
            meta: meta.clone(),
            limits: config.limits,
        });
        let downloads = Arc::new(DownloadCounter::default());
        let proxy = Arc::new(ProxyService::new(store.clone(), remotes.clone()));
        let (auth, generated) = AuthService::start(
            meta.clone(),
            repositories.clone(),
            audit.clone(),
            config.auth,
        )
        .await?;
        let manifests = Arc::new(ManifestService::new(
            store.clone(),
            downloads.clone(),
            audit.clone(),
            proxy.clone(),
        ));
        let charts = ChartService::new(store.clone(), repositories.clone(), manifests.clone());
        let helm_repos = HelmRepoService::new(
            meta.clone(),
            access.clone(),
            audit.clone(),
            repositories.clone(),
            remotes.clone(),
            config.helm_repos,
        );
        Ok(Services {
            access,
            auth,
            audit,
            repositories,
            blobs: BlobService::new(store.clone(), proxy.clone()),
            uploads: UploadService::new(store.clone()),
            manifests,
            charts,
            remotes,
            helm_repos,
            downloads,
            meta,
            download_flush: config.download_flush.unwrap_or(Duration::from_secs(1)),
            generated_admin_password: std::sync::Mutex::new(generated),
        })
    }

    /// The administrator password generated on this first start, once (to be shown to the
    /// operator once; only its hash is stored).
    pub fn take_generated_admin_password(&self) -> Option<String> {
        self.generated_admin_password
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
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
    /// `purge_every` (each once across replicas, by lease), and every second the download
    /// and audit flush and the revocation refresh. They stop when `shutdown` turns true,
    /// after a last flush.
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
        let shutdown_helm = shutdown.clone();
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
                    if let Err(e) = services.audit.flush().await {
                        tracing::warn!(error = %e, "writing the audit log failed; kept for the next try");
                    }
                    if let Err(e) = services.auth.refresh().await {
                        tracing::warn!(error = %e, "reading revoked credentials failed");
                    }
                    if stopping {
                        return;
                    }
                }
            })
        };
        let helm_sync = {
            let services = self.clone();
            let tick = HELM_SYNC_TICK.min(services.helm_repos.default_interval());
            let mut shutdown = shutdown_helm;
            tokio::spawn(async move {
                loop {
                    if *shutdown.borrow() {
                        return;
                    }
                    if let Err(e) = services.helm_repos.sync_due(&services.charts).await {
                        tracing::warn!(error = %e, "syncing Helm repositories failed");
                    }
                    tokio::select! {
                        _ = services.helm_repos.wait(tick) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            })
        };
        vec![purge, sweep, flush, helm_sync]
    }
}
