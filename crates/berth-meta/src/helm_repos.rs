//! Helm repositories (seed 000): a named repository of charts, hosted in berth or mirrored
//! from an upstream URL into a namespace, with its sync state and the versions it mirrored.
//! The records and the trait ([`HelmRepoStore`]).

use async_trait::async_trait;

use crate::{Direction, Listed, Page, Result};

/// A repository to create. The password arrives sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHelmRepo {
    /// A UUID.
    pub id: String,
    pub name: String,
    /// The namespace its charts live in (fixed at creation; a rename keeps it).
    pub namespace: String,
    /// The upstream `index.yaml`'s directory; empty for a hosted repository.
    pub url: String,
    /// The seed's `type`: `internal` or `external`.
    pub kind: String,
    pub is_public: bool,
    pub username: Option<String>,
    pub password_sealed: Option<Vec<u8>>,
    /// `None`: the global interval.
    pub sync_interval_secs: Option<i64>,
    pub creator: String,
    /// Whether berth made the namespace for it (then deleting the repository deletes it).
    pub owns_namespace: bool,
}

/// How the last sync went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    pub last_sync_at: Option<i64>,
    /// `never`, `ok`, `failed`.
    pub status: String,
    pub error: Option<String>,
    /// Chart versions mirrored and still offered upstream.
    pub charts: i64,
    /// Versions mirrored earlier that the upstream no longer offers (kept, marked).
    pub vanished: i64,
    /// The upstream index's `ETag`.
    pub etag: Option<String>,
    /// Failures in a row (for the back-off).
    pub failures: i64,
    pub next_sync_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmRepoRow {
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub url: String,
    pub kind: String,
    pub is_public: bool,
    pub username: Option<String>,
    pub password_sealed: Option<Vec<u8>>,
    pub sync_interval_secs: Option<i64>,
    pub creator: String,
    pub owns_namespace: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub sync: SyncState,
}

/// Changes; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelmRepoUpdate {
    pub name: Option<String>,
    pub url: Option<String>,
    pub is_public: Option<bool>,
    /// `Some(None)`: back to the global interval.
    pub sync_interval_secs: Option<Option<i64>>,
    /// `Some((username, sealed password))`; `Some(None)`: anonymous again.
    pub credentials: Option<Option<(String, Vec<u8>)>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HelmRepoOrder {
    #[default]
    Name,
    Created,
    Updated,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HelmRepoQuery {
    pub kind: Option<String>,
    /// Names containing this (case-insensitive).
    pub search: Option<String>,
    /// Only public ones, or public ones and those of these namespaces (`None`: all).
    pub visible_namespaces: Option<Vec<String>>,
    pub page: Page,
    pub order: HelmRepoOrder,
    pub direction: Direction,
}

/// A chart version a sync mirrored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredVersion {
    pub chart: String,
    pub version: String,
    /// The upstream index's digest (sha256 hex of the .tgz).
    pub digest: String,
    pub vanished_at: Option<i64>,
}

#[async_trait]
pub trait HelmRepoStore: Send + Sync + 'static {
    /// Creates a repository; `AlreadyExists` if the name is taken.
    async fn create_helm_repo(&self, repo: &NewHelmRepo) -> Result<HelmRepoRow>;

    /// By id, or else by name.
    async fn get_helm_repo(&self, id_or_name: &str) -> Result<Option<HelmRepoRow>>;

    async fn list_helm_repos(&self, query: &HelmRepoQuery) -> Result<Listed<HelmRepoRow>>;

    /// `None` when it does not exist; `AlreadyExists` when the new name is taken.
    async fn update_helm_repo(
        &self,
        id: &str,
        update: &HelmRepoUpdate,
    ) -> Result<Option<HelmRepoRow>>;

    /// Deletes it with its mirrored versions' records; whether it existed.
    async fn delete_helm_repo(&self, id: &str) -> Result<bool>;

    /// Repositories with a URL whose next sync is due at `now`, soonest first.
    async fn due_helm_repos(&self, now: i64, limit: u32) -> Result<Vec<HelmRepoRow>>;

    /// Records how a sync went.
    async fn record_sync(&self, id: &str, state: &SyncState) -> Result<()>;

    async fn mirrored_versions(&self, id: &str) -> Result<Vec<MirroredVersion>>;

    /// Records a mirrored version as current (clearing a vanished mark).
    async fn put_mirrored_version(&self, id: &str, version: &MirroredVersion) -> Result<()>;

    /// Marks versions the upstream no longer offers (those not marked yet get `at`).
    async fn mark_vanished(&self, id: &str, versions: &[(String, String)], at: i64) -> Result<()>;
}
