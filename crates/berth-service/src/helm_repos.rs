//! Helm repositories (seed 000): a named repository of charts in a namespace of berth's one
//! chart store, hosted (no URL) or mirrored from an upstream Helm repository. A mirror's
//! `index.yaml` is fetched (with its credentials, conditional on its `ETag`), new chart
//! versions are downloaded, checked against the index's digest and stored like any chart;
//! versions that vanished upstream are marked, never silently kept as current. Syncs run on
//! creation, on demand, and every interval (per repository, else the global one), once across
//! replicas (a lease per repository), with back-off after failures; a failing upstream never
//! breaks what was already mirrored.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_core::{Caller, Identity, Level, NamespaceName, Secret};
use berth_meta::{
    HelmRepoQuery, HelmRepoRow, HelmRepoUpdate, Listed, Meta, MetaError, MirroredVersion,
    NamespaceQuery, NewHelmRepo, Page, SyncState, now_ms,
};
use serde::Deserialize;
use sha2::Digest as _;
use tokio::sync::Notify;

use crate::audit::{AuditService, Outcome};
use crate::charts::{ChartService, ChartUpload};
use crate::error::{Entity, Field, ServiceError};
use crate::remotes::RemoteService;
use crate::repositories::{NamespaceSpec, RepositoryService, namespace_name};
use crate::upstream::{Fetched, UpstreamCredentials};
use crate::{AccessService, Result};

/// How Helm repositories are synced.
#[derive(Clone, Debug)]
pub struct HelmRepoConfig {
    /// Between two syncs of a repository without its own interval (the seed: one hour).
    pub default_interval: Duration,
    /// The largest upstream `index.yaml` read.
    pub max_index_bytes: u64,
    /// The first wait after a failed sync; doubled per failure in a row, up to the interval.
    pub retry_after: Duration,
}

impl Default for HelmRepoConfig {
    fn default() -> Self {
        HelmRepoConfig {
            default_interval: Duration::from_secs(3600),
            max_index_bytes: 32 * 1024 * 1024,
            retry_after: Duration::from_secs(30),
        }
    }
}

/// What a caller asks a new repository to be.
#[derive(Clone, Debug, Default)]
pub struct HelmRepoSpec {
    pub name: String,
    /// Empty or absent: a hosted repository.
    pub url: Option<String>,
    /// `internal` or `external` (the default).
    pub kind: Option<String>,
    pub is_public: bool,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub sync_interval_secs: Option<i64>,
}

/// What a caller changes; `None` keeps a field.
#[derive(Clone, Debug, Default)]
pub struct HelmRepoChange {
    pub name: Option<String>,
    pub url: Option<String>,
    pub is_public: Option<bool>,
    pub sync_interval_secs: Option<Option<i64>>,
    /// `Some(None)`: anonymous again.
    pub credentials: Option<Option<(String, Secret)>>,
}

/// One entry of an upstream `index.yaml`.
#[derive(Deserialize)]
struct IndexEntry {
    version: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
}

#[derive(Deserialize)]
struct IndexFile {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

pub struct HelmRepoService {
    meta: Meta,
    access: Arc<AccessService>,
    audit: Arc<AuditService>,
    repositories: Arc<RepositoryService>,
    remotes: Arc<RemoteService>,
    config: HelmRepoConfig,
    /// Wakes the scheduler (a repository was created or changed).
    wake: Notify,
    /// This replica's name in sync leases.
    holder: String,
}

const KINDS: [&str; 2] = ["internal", "external"];
/// Repositories one replica syncs at the same time.
const SYNCS_AT_ONCE: usize = 4;
/// How long a sync may hold its repository's lease.
const SYNC_LEASE: Duration = Duration::from_secs(600);

fn valid_url(url: &str) -> Result<()> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            Field::param("url"),
            "an http:// or https:// URL of a Helm repository (the folder of its index.yaml)",
        ))
    }
}

fn valid_interval(secs: Option<i64>) -> Result<()> {
    match secs {
        Some(s) if !(60..=7 * 24 * 3600).contains(&s) => Err(ServiceError::invalid(
            Field::param("sync_interval_secs"),
            "from 60 (a minute) to 604800 (a week)",
        )),
        _ => Ok(()),
    }
}

/// `url` resolved against the repository's URL (an index may list relative URLs).
fn resolve(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            url.trim_start_matches("./").trim_start_matches('/')
        )
    }
}

/// The scheme and authority of a URL (credentials go only there).
fn origin(url: &str) -> &str {
    let rest_at = url.find("://").map_or(0, |i| i + 3);
    let end = url[rest_at..].find('/').map_or(url.len(), |i| rest_at + i);
    &url[..end]
}

impl HelmRepoService {
    pub(crate) fn new(
        meta: Meta,
        access: Arc<AccessService>,
        audit: Arc<AuditService>,
        repositories: Arc<RepositoryService>,
        remotes: Arc<RemoteService>,
        config: HelmRepoConfig,
    ) -> HelmRepoService {
        HelmRepoService {
            meta,
            access,
            audit,
            repositories,
            remotes,
            config,
            wake: Notify::new(),
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4()),
        }
    }

    /// The interval of repositories without their own.
    pub fn default_interval(&self) -> Duration {
        self.config.default_interval
    }

    fn interval(&self, row: &HelmRepoRow) -> Duration {
        row.sync_interval_secs
            .map_or(self.config.default_interval, |s| {
                Duration::from_secs(s as u64)
            })
    }

    /// The repository, if the caller may read its namespace (public repositories: anyone).
    pub async fn get(&self, caller: &Caller, id_or_name: &str) -> Result<HelmRepoRow> {
        let row = self
            .meta
            .helm_repos
            .get_helm_repo(id_or_name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::HelmRepo(id_or_name.to_owned())))?;
        if row.is_public || self.access.is_admin(caller) {
            return Ok(row);
        }
        match self
            .repositories
            .get_namespace(caller, &row.namespace)
            .await
        {
            Ok(_) => Ok(row),
            Err(ServiceError::NotFound(_)) => Err(ServiceError::NotFound(Entity::HelmRepo(
                id_or_name.to_owned(),
            ))),
            Err(e) => Err(e),
        }
    }

    /// The repository, if the caller manages its namespace.
    async fn managed(&self, caller: &Caller, id_or_name: &str) -> Result<HelmRepoRow> {
        let row = self.get(caller, id_or_name).await?;
        if self.access.is_admin(caller) {
            return Ok(row);
        }
        match self
            .repositories
            .get_namespace(caller, &row.namespace)
            .await
        {
            Ok(view) if view.level == Level::Manage => Ok(row),
            Ok(_) => Err(ServiceError::Forbidden(format!(
                "managing Helm repository {} needs the manage level in namespace {}",
                row.name, row.namespace
            ))),
            Err(ServiceError::NotFound(_) | ServiceError::Unauthenticated)
                if caller.is_anonymous() =>
            {
                Err(ServiceError::Unauthenticated)
            }
            Err(ServiceError::NotFound(_)) => Err(ServiceError::Forbidden(format!(
                "managing Helm repository {} needs the manage level in namespace {}",
                row.name, row.namespace
            ))),
            Err(e) => Err(e),
        }
    }

    pub async fn create(&self, caller: &Caller, spec: HelmRepoSpec) -> Result<HelmRepoRow> {
        let namespace: NamespaceName = namespace_name(&spec.name)?;
        let url = spec
            .url
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        if !url.is_empty() {
            valid_url(&url)?;
        }
        let kind = spec.kind.unwrap_or_else(|| "external".to_owned());
        if !KINDS.contains(&kind.as_str()) {
            return Err(ServiceError::invalid(
                Field::param("type"),
                "internal or external",
            ));
        }
        valid_interval(spec.sync_interval_secs)?;
        if caller.is_anonymous() && self.access.is_enforced() {
            return Err(ServiceError::Unauthenticated);
        }
        if self
            .meta
            .helm_repos
            .get_helm_repo(&spec.name)
            .await?
            .is_some()
        {
            return Err(ServiceError::AlreadyExists(Entity::HelmRepo(spec.name)));
        }
        let password_sealed = match (&spec.username, &spec.password) {
            (Some(_), Some(password)) => Some(self.remotes.seal(password)?),
            (None, None) => None,
            _ => {
                return Err(ServiceError::invalid(
                    Field::param("password"),
                    "username and password go together",
                ));
            }
        };
        // Its namespace: made for it, or one the caller manages already.
        let owns_namespace = match self
            .repositories
            .get_namespace(caller, namespace.as_str())
            .await
        {
            Ok(view) if view.level == Level::Manage => false,
            Ok(_) => {
                return Err(ServiceError::Forbidden(format!(
                    "namespace {namespace} exists and the caller does not manage it"
                )));
            }
            Err(ServiceError::NotFound(_)) => {
                self.repositories
                    .create_namespace(
                        caller,
                        &NamespaceSpec {
                            name: namespace.to_string(),
                            description: format!("Helm repository {}", spec.name),
                            is_public: spec.is_public,
                        },
                    )
                    .await?;
                true
            }
            Err(e) => return Err(e),
        };
        let created = self
            .meta
            .helm_repos
            .create_helm_repo(&NewHelmRepo {
                id: uuid::Uuid::new_v4().to_string(),
                name: spec.name.clone(),
                namespace: namespace.to_string(),
                url,
                kind,
                is_public: spec.is_public,
                username: spec.username,
                password_sealed,
                sync_interval_secs: spec.sync_interval_secs,
                creator: caller.display_name().to_owned(),
                owns_namespace,
            })
            .await;
        let row = match created {
            Ok(row) => row,
            Err(e) => {
                if owns_namespace {
                    let _ = self
                        .repositories
                        .delete_namespace(caller, namespace.as_str(), true)
                        .await;
                }
                return Err(match e {
                    MetaError::AlreadyExists { .. } => {
                        ServiceError::AlreadyExists(Entity::HelmRepo(spec.name))
                    }
                    e => e.into(),
                });
            }
        };
        self.audit.record(
            caller,
            None,
            "helm_repo.create",
            &row.name,
            Outcome::Ok,
            &row.url,
        );
        self.wake.notify_one();
        Ok(row)
    }

    /// Repositories the caller may see: public ones, and those of namespaces it may read.
    pub async fn list(
        &self,
        caller: &Caller,
        mut query: HelmRepoQuery,
    ) -> Result<Listed<HelmRepoRow>> {
        if !self.access.is_admin(caller) {
            let visible = self
                .repositories
                .list_namespaces(
                    caller,
                    NamespaceQuery {
                        page: Page {
                            offset: 0,
                            limit: 10_000,
                        },
                        ..Default::default()
                    },
                )
                .await?;
            query.visible_namespaces = Some(
                visible
                    .items
                    .into_iter()
                    .map(|v| v.namespace.name)
                    .collect(),
            );
        }
        Ok(self.meta.helm_repos.list_helm_repos(&query).await?)
    }

    pub async fn update(
        &self,
        caller: &Caller,
        id_or_name: &str,
        change: HelmRepoChange,
    ) -> Result<HelmRepoRow> {
        let row = self.managed(caller, id_or_name).await?;
        if let Some(name) = &change.name {
            namespace_name(name)?;
        }
        let url = change
            .url
            .map(|u| u.trim_end_matches('/').to_owned())
            .filter(|u| *u != row.url);
        if let Some(u) = &url
            && !u.is_empty()
        {
            valid_url(u)?;
        }
        if let Some(interval) = change.sync_interval_secs {
            valid_interval(interval)?;
        }
        let credentials = match change.credentials {
            None => None,
            Some(None) => Some(None),
            Some(Some((user, password))) => Some(Some((user, self.remotes.seal(&password)?))),
        };
        let updated = self
            .meta
            .helm_repos
            .update_helm_repo(
                &row.id,
                &HelmRepoUpdate {
                    name: change.name.clone(),
                    url: url.clone(),
                    is_public: change.is_public,
                    sync_interval_secs: change.sync_interval_secs,
                    credentials,
                },
            )
            .await
            .map_err(|e| match e {
                MetaError::AlreadyExists { .. } => ServiceError::AlreadyExists(Entity::HelmRepo(
                    change.name.clone().unwrap_or_default(),
                )),
                e => e.into(),
            })?
            .ok_or_else(|| ServiceError::NotFound(Entity::HelmRepo(id_or_name.to_owned())))?;
        if url.is_some() {
            // A new upstream: sync from it soon.
            let mut state = updated.sync.clone();
            state.next_sync_at = now_ms();
            state.etag = None;
            self.meta.helm_repos.record_sync(&row.id, &state).await?;
            self.wake.notify_one();
        }
        self.audit.record(
            caller,
            None,
            "helm_repo.update",
            &updated.name,
            Outcome::Ok,
            "",
        );
        self.get(caller, &updated.id).await
    }

    /// Deletes the repository; the namespace made for it goes too (with its charts).
    pub async fn delete(&self, caller: &Caller, id_or_name: &str) -> Result<()> {
        let row = self.managed(caller, id_or_name).await?;
        self.meta.helm_repos.delete_helm_repo(&row.id).await?;
        if row.owns_namespace {
            match self
                .repositories
                .delete_namespace(caller, &row.namespace, true)
                .await
            {
                Ok(()) | Err(ServiceError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.audit
            .record(caller, None, "helm_repo.delete", &row.name, Outcome::Ok, "");
        Ok(())
    }

    /// Syncs now (writers of its namespace), and answers with the repository as it then is.
    pub async fn sync(
        &self,
        caller: &Caller,
        charts: &ChartService,
        id_or_name: &str,
    ) -> Result<HelmRepoRow> {
        let row = self.get(caller, id_or_name).await?;
        if !self.access.is_admin(caller) {
            let level = self
                .repositories
                .get_namespace(caller, &row.namespace)
                .await?
                .level;
            if level < Level::Write {
                return Err(ServiceError::Forbidden(format!(
                    "syncing Helm repository {} needs the write level in namespace {}",
                    row.name, row.namespace
                )));
            }
        }
        if row.url.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "Helm repository {} is hosted here: it has no URL to sync from",
                row.name
            )));
        }
        if !self.lease(&row.id).await? {
            return Err(ServiceError::Busy(format!(
                "Helm repository {} is being synced right now",
                row.name
            )));
        }
        let outcome = self.sync_locked(charts, &row).await;
        self.release(&row.id).await;
        outcome?;
        self.audit
            .record(caller, None, "helm_repo.sync", &row.name, Outcome::Ok, "");
        self.get(caller, &row.id).await
    }

    async fn lease(&self, id: &str) -> Result<bool> {
        Ok(self
            .meta
            .leases
            .try_lease(&format!("helm-sync:{id}"), &self.holder, SYNC_LEASE)
            .await?)
    }

    async fn release(&self, id: &str) {
        let _ = self
            .meta
            .leases
            .try_lease(&format!("helm-sync:{id}"), &self.holder, Duration::ZERO)
            .await;
    }

    /// Syncs every repository that is due (the scheduler's tick), several at a time so that
    /// a slow or broken upstream holds up only its own repository; how many it synced.
    pub async fn sync_due(&self, charts: &ChartService) -> Result<u64> {
        use futures::StreamExt;
        let due = self.meta.helm_repos.due_helm_repos(now_ms(), 64).await?;
        let synced = std::sync::atomic::AtomicU64::new(0);
        futures::stream::iter(due)
            .for_each_concurrent(SYNCS_AT_ONCE, |row| {
                let synced = &synced;
                async move {
                    match self.lease(&row.id).await {
                        Ok(true) => {}
                        Ok(false) => return, // another replica has it
                        Err(e) => {
                            tracing::warn!(error = %e, "taking a Helm repository sync lease failed");
                            return;
                        }
                    }
                    if let Err(e) = self.sync_locked(charts, &row).await {
                        tracing::warn!(repository = %row.name, error = %e, "Helm repository sync failed");
                    }
                    self.release(&row.id).await;
                    synced.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
            .await;
        Ok(synced.into_inner())
    }

    /// Waits for the next tick or a wake-up (a repository created or changed).
    pub async fn wait(&self, tick: Duration) {
        let _ = tokio::time::timeout(tick, self.wake.notified()).await;
    }

    /// One sync, under the repository's lease; records how it went (a failure keeps what
    /// was mirrored and retries with back-off).
    async fn sync_locked(&self, charts: &ChartService, row: &HelmRepoRow) -> Result<()> {
        let started = now_ms();
        let result = self.mirror(charts, row).await;
        let interval = self.interval(row).as_millis() as i64;
        let state = match &result {
            Ok((state, errors)) => SyncState {
                last_sync_at: Some(started),
                status: if errors.is_empty() { "ok" } else { "failed" }.to_owned(),
                error: (!errors.is_empty()).then(|| {
                    let shown: Vec<&str> = errors.iter().take(5).map(String::as_str).collect();
                    format!(
                        "{} chart versions failed: {}",
                        errors.len(),
                        shown.join("; ")
                    )
                }),
                failures: if errors.is_empty() {
                    0
                } else {
                    row.sync.failures + 1
                },
                next_sync_at: started + interval,
                ..state.clone()
            },
            Err(e) => {
                let failures = row.sync.failures + 1;
                let backoff = (self.config.retry_after.as_millis() as i64)
                    .saturating_mul(1 << failures.min(16))
                    .min(interval);
                SyncState {
                    last_sync_at: Some(started),
                    status: "failed".to_owned(),
                    error: Some(e.to_string()),
                    failures,
                    next_sync_at: started + backoff,
                    ..row.sync.clone()
                }
            }
        };
        self.meta.helm_repos.record_sync(&row.id, &state).await?;
        result.map(|_| ())
    }

    /// Fetches the index and mirrors what is new; the state to record (without the
    /// bookkeeping fields) and the versions that failed.
    async fn mirror(
        &self,
        charts: &ChartService,
        row: &HelmRepoRow,
    ) -> Result<(SyncState, Vec<String>)> {
        let client =
            self.remotes.upstream().cloned().ok_or_else(|| {
                ServiceError::Unsupported("this berth has no upstream client".into())
            })?;
        let credentials = match (&row.username, &row.password_sealed) {
            (Some(user), Some(sealed)) => Some(UpstreamCredentials {
                username: user.clone(),
                password: self.remotes.unseal(sealed).ok_or_else(|| {
                    ServiceError::internal(format!(
                        "the password of Helm repository {} cannot be unsealed",
                        row.name
                    ))
                })?,
            }),
            _ => None,
        };
        let index_url = format!("{}/index.yaml", row.url);
        let fetched = client
            .fetch(
                &index_url,
                credentials.as_ref(),
                row.sync.etag.as_deref(),
                self.config.max_index_bytes,
            )
            .await?;
        let (body, etag) = match fetched {
            Fetched::NotModified => return Ok((row.sync.clone(), Vec::new())),
            Fetched::NotFound => {
                return Err(ServiceError::Upstream(format!("{index_url} answered 404")));
            }
            Fetched::Body { body, etag } => (body, etag),
        };
        let index: IndexFile = serde_yaml::from_slice(&body).map_err(|e| {
            ServiceError::Upstream(format!("{index_url} is not a Helm repository index: {e}"))
        })?;
        let mirrored = self.meta.helm_repos.mirrored_versions(&row.id).await?;
        let stored: HashSet<(String, String)> = charts
            .versions_of(&row.namespace)
            .await?
            .into_iter()
            .collect();
        let sync_caller = Caller::new(Identity::Robot {
            name: format!("helm-sync:{}", row.name),
            namespace: namespace_name(&row.namespace)?,
            level: Level::Write,
        });
        let max_chart = charts.limits().max_chart_bytes;
        let mut upstream: HashSet<(String, String)> = HashSet::new();
        let mut errors = Vec::new();
        for (chart, entries) in &index.entries {
            for entry in entries {
                let key = (chart.clone(), entry.version.clone());
                upstream.insert(key.clone());
                let digest = entry
                    .digest
                    .clone()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let current = mirrored.iter().any(|m| {
                    m.chart == *chart
                        && m.version == entry.version
                        && m.vanished_at.is_none()
                        && (digest.is_empty() || m.digest == digest)
                }) && stored.contains(&key);
                if current {
                    continue;
                }
                let what = format!("{chart} {}", entry.version);
                let Some(url) = entry.urls.first() else {
                    errors.push(format!("{what}: no URL in the index"));
                    continue;
                };
                let url = resolve(&row.url, url);
                // Credentials only go to the repository's own server.
                let creds = credentials
                    .as_ref()
                    .filter(|_| origin(&url) == origin(&row.url));
                let archive = match client.fetch(&url, creds, None, max_chart).await {
                    Ok(Fetched::Body { body, .. }) => body,
                    Ok(_) => {
                        errors.push(format!("{what}: {url} answered 404"));
                        continue;
                    }
                    Err(e) => {
                        errors.push(format!("{what}: {e}"));
                        continue;
                    }
                };
                let actual = hex::encode(sha2::Sha256::digest(&archive));
                if !digest.is_empty() && actual != digest {
                    errors.push(format!(
                        "{what}: the archive's sha256 is {actual}, the index says {digest}"
                    ));
                    continue;
                }
                let upload = charts
                    .upload(
                        &sync_caller,
                        &row.namespace,
                        ChartUpload {
                            archive,
                            provenance: None,
                            force: true,
                        },
                    )
                    .await;
                match upload {
                    Ok(stored) if stored.name == *chart && stored.version == entry.version => {
                        self.meta
                            .helm_repos
                            .put_mirrored_version(
                                &row.id,
                                &MirroredVersion {
                                    chart: chart.clone(),
                                    version: entry.version.clone(),
                                    digest: actual,
                                    vanished_at: None,
                                },
                            )
                            .await?;
                    }
                    Ok(stored) => errors.push(format!(
                        "{what}: the archive holds {} {}",
                        stored.name, stored.version
                    )),
                    Err(e) => errors.push(format!("{what}: {e}")),
                }
            }
        }
        let gone: Vec<(String, String)> = mirrored
            .iter()
            .filter(|m| !upstream.contains(&(m.chart.clone(), m.version.clone())))
            .map(|m| (m.chart.clone(), m.version.clone()))
            .collect();
        self.meta
            .helm_repos
            .mark_vanished(&row.id, &gone, now_ms())
            .await?;
        let after = self.meta.helm_repos.mirrored_versions(&row.id).await?;
        let state = SyncState {
            charts: after.iter().filter(|m| m.vanished_at.is_none()).count() as i64,
            vanished: after.iter().filter(|m| m.vanished_at.is_some()).count() as i64,
            // A partial sync fetches the index again next time.
            etag: if errors.is_empty() { etag } else { None },
            ..row.sync.clone()
        };
        Ok((state, errors))
    }

    /// The mirrored versions of a repository the caller may read.
    pub async fn mirrored(
        &self,
        caller: &Caller,
        id_or_name: &str,
    ) -> Result<Vec<MirroredVersion>> {
        let row = self.get(caller, id_or_name).await?;
        Ok(self.meta.helm_repos.mirrored_versions(&row.id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            resolve("https://charts.example/x", "charts/a-1.0.0.tgz"),
            "https://charts.example/x/charts/a-1.0.0.tgz"
        );
        assert_eq!(
            resolve("https://charts.example/x", "https://cdn.example/a.tgz"),
            "https://cdn.example/a.tgz"
        );
        assert_eq!(origin("https://h:1/a/b"), "https://h:1");
        assert_eq!(origin("http://h"), "http://h");
        assert!(valid_url("https://charts.bitnami.com/bitnami").is_ok());
        assert!(valid_url("ftp://x").is_err());
        assert!(valid_url("https://a b").is_err());
        assert!(valid_interval(Some(59)).is_err());
        assert!(valid_interval(Some(3600)).is_ok());
    }
}
