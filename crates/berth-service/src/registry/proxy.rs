//! The pull-through cache: repositories under a proxy's prefix (`hub/library/nginx` for a
//! proxy `hub` of an upstream registry) are filled from the upstream on first pull and served
//! locally after. Manifests are checked upstream first (a `HEAD`, which spares rate limits) or
//! served from the cache within a TTL, as the proxy says; on any upstream failure the cached
//! copy is served. A blob missing locally is fetched once however many pull it at once: the
//! first pull streams it to its client while it is stored, the others wait and read the
//! stored copy.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use berth_core::manifest::{self, ManifestKind};
use berth_core::{Digest, Reference, RepoName, Tag};
use berth_meta::{
    ManifestRef, ManifestRow, NewManifest, ProxyMode, ProxyRow, RepositoryRow, now_ms,
};
use berth_storage::ByteStream;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::Store;
use super::writer::write_blob;
use crate::remotes::RemoteService;
use crate::upstream::{Upstream, UpstreamTarget};
use crate::{Entity, Result, ServiceError};

/// The manifest media types a proxy asks the upstream for.
const ACCEPT: [&str; 4] = [
    manifest::OCI_INDEX,
    manifest::OCI_MANIFEST,
    manifest::DOCKER_MANIFEST_LIST,
    manifest::DOCKER_MANIFEST,
];

/// The recorded pusher of what a proxy stored.
const PROXY_USER: &str = "proxy";

/// How a fetch in flight ended: `None` while running.
type FetchOutcome = Option<std::result::Result<(), String>>;

/// Blob fetches in flight, by digest: how each ends.
type Inflight = Arc<Mutex<HashMap<Digest, watch::Receiver<FetchOutcome>>>>;

pub struct ProxyService {
    store: Arc<Store>,
    remotes: Arc<RemoteService>,
    inflight: Inflight,
}

enum Fetched {
    /// It is in storage now.
    Stored,
    /// Its bytes as they arrive (while they are stored).
    Streaming { size: u64, body: ByteStream },
}

/// The upstream's name of a local proxy repository: the local name without the prefix.
fn upstream_name(local: &RepoName, prefix: &str) -> String {
    local
        .as_str()
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(local.as_str())
        .to_owned()
}

/// Waits until a fetch in flight ends; its failure is an upstream failure.
async fn wait(done: &mut watch::Receiver<FetchOutcome>) -> Result<()> {
    loop {
        if let Some(outcome) = done.borrow().clone() {
            return outcome.map_err(ServiceError::Upstream);
        }
        if done.changed().await.is_err() {
            return Err(ServiceError::Upstream("the fetch was abandoned".into()));
        }
    }
}

/// A proxy repository's upstream: the client, where to, and the upstream's name for it.
struct Source {
    client: Arc<dyn Upstream>,
    target: UpstreamTarget,
    proxy: ProxyRow,
    repository: String,
}

impl ProxyService {
    pub(crate) fn new(store: Arc<Store>, remotes: Arc<RemoteService>) -> ProxyService {
        ProxyService {
            store,
            remotes,
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    async fn source(&self, repo: &RepositoryRow) -> Result<Source> {
        let proxy = self
            .remotes
            .proxy_for(&repo.name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Repository(repo.name.to_string())))?;
        let client =
            self.remotes.upstream().cloned().ok_or_else(|| {
                ServiceError::Unsupported("this berth has no upstream client".into())
            })?;
        let target = self.remotes.proxy_target(&proxy).await?;
        let repository = upstream_name(&repo.name, &proxy.prefix);
        Ok(Source {
            client,
            target,
            proxy,
            repository,
        })
    }

    /// A manifest of a proxy repository, from the cache or the upstream (and then cached).
    pub async fn manifest(
        &self,
        repo: &RepositoryRow,
        reference: &Reference,
    ) -> Result<ManifestRow> {
        let artifacts = &self.store.meta.artifacts;
        let local = artifacts.get_manifest(repo.id, reference).await?;
        if let (Reference::Digest(_), Some(local)) = (reference, &local) {
            // A digest names exactly one thing: what is cached is it.
            return Ok(local.clone());
        }
        let source = self.source(repo).await?;
        if let (Reference::Tag(tag), Some(local)) = (reference, &local)
            && source.proxy.mode == ProxyMode::LocalFirst
            && let Some(row) = artifacts.get_tag(repo.id, tag).await?
            && now_ms() - row.pushed_at < (source.proxy.ttl_secs as i64) * 1000
        {
            return Ok(local.clone());
        }
        match self
            .fetch_manifest(repo, reference, &source, local.as_ref())
            .await
        {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(ServiceError::NotFound(Entity::Manifest(
                reference.to_string(),
            ))),
            Err(e) => match local {
                Some(local) => {
                    tracing::warn!(repository = %repo.name, %reference, error = %e,
                        "upstream failed; serving the cached manifest");
                    Ok(local)
                }
                None => Err(e),
            },
        }
    }

    async fn fetch_manifest(
        &self,
        repo: &RepositoryRow,
        reference: &Reference,
        source: &Source,
        local: Option<&ManifestRow>,
    ) -> Result<Option<ManifestRow>> {
        let name = reference.to_string();
        if let (Reference::Tag(tag), Some(local)) = (reference, local) {
            // Only the digest: a HEAD does not count against an upstream's pull limits.
            let head = source
                .client
                .head_manifest(&source.target, &source.repository, &name, &ACCEPT)
                .await?;
            let Some(head) = head else {
                return Ok(None);
            };
            if head.digest.as_ref() == Some(&local.digest) {
                // Still current: note when it was last confirmed (the local-first TTL).
                self.retag(repo, local, tag).await?;
                return Ok(Some(local.clone()));
            }
        }
        let Some(fetched) = source
            .client
            .get_manifest(&source.target, &source.repository, &name, &ACCEPT)
            .await?
        else {
            return Ok(None);
        };
        let parsed = manifest::parse(Some(&fetched.media_type), &fetched.body)
            .map_err(|e| ServiceError::Upstream(format!("the upstream's manifest: {e}")))?;
        let as_ref = |d: &berth_core::Descriptor| ManifestRef {
            digest: d.digest.clone(),
            size: d.size,
        };
        let referenced: u64 = parsed
            .blobs
            .iter()
            .chain(&parsed.children)
            .map(|d| d.size)
            .sum();
        let new = NewManifest {
            digest: fetched.digest.clone(),
            media_type: parsed.media_type.clone(),
            total_size: fetched.body.len() as u64 + referenced,
            config: match parsed.kind {
                ManifestKind::Image => parsed.blobs.first().map(|d| d.digest.clone()),
                ManifestKind::Index => None,
            },
            body: fetched.body.clone(),
            artifact_type: parsed.artifact_type.clone(),
            subject: parsed.subject.as_ref().map(|s| s.digest.clone()),
            annotations: parsed
                .annotations
                .as_ref()
                .map(|a| serde_json::to_string(a).expect("string maps serialize")),
            blobs: parsed.blobs.iter().map(as_ref).collect(),
            children: parsed.children.iter().map(as_ref).collect(),
            pushed_by: PROXY_USER.into(),
            // The blobs come when they are first pulled.
            require_refs: false,
            chart: None,
        };
        let tags: Vec<Tag> = match reference {
            Reference::Tag(tag) => vec![tag.clone()],
            Reference::Digest(_) => Vec::new(),
        };
        self.store
            .meta
            .artifacts
            .put_manifest(repo.id, &new, &tags)
            .await?;
        Ok(Some(ManifestRow {
            digest: fetched.digest,
            media_type: parsed.media_type,
            body: fetched.body,
        }))
    }

    /// Points the tag at the manifest again, which records when the cache was confirmed.
    async fn retag(&self, repo: &RepositoryRow, local: &ManifestRow, tag: &Tag) -> Result<()> {
        let parsed = manifest::parse(Some(&local.media_type), &local.body).map_err(|e| {
            ServiceError::internal(format!("cached manifest {}: {e}", local.digest))
        })?;
        let new = NewManifest {
            digest: local.digest.clone(),
            media_type: local.media_type.clone(),
            total_size: 0,
            config: None,
            body: local.body.clone(),
            artifact_type: parsed.artifact_type,
            subject: None,
            annotations: None,
            blobs: Vec::new(),
            children: Vec::new(),
            pushed_by: PROXY_USER.into(),
            require_refs: false,
            chart: None,
        };
        // The manifest is there: only the tag moves (to the same place, now).
        self.store
            .meta
            .artifacts
            .put_manifest(repo.id, &new, std::slice::from_ref(tag))
            .await?;
        Ok(())
    }

    /// The size of a blob of a proxy repository, fetching it first when it is not cached
    /// (and waiting for a fetch of it in flight).
    pub async fn blob_size(&self, repo: &RepositoryRow, digest: &Digest) -> Result<u64> {
        loop {
            if let Some(size) = self
                .store
                .meta
                .artifacts
                .repo_blob_size(repo.id, digest)
                .await?
            {
                return Ok(size);
            }
            if let Some(mut waiting) = self.in_flight(digest) {
                wait(&mut waiting).await?;
                continue;
            }
            match self.fetch(repo, digest, false).await? {
                Fetched::Stored => continue,
                Fetched::Streaming { .. } => unreachable!("not asked to stream"),
            }
        }
    }

    /// The whole of a blob that is not cached, streamed from the upstream while it is stored;
    /// `None` when it is cached or already being fetched (then read it as usual).
    pub async fn stream_blob(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
    ) -> Result<Option<(u64, ByteStream)>> {
        if self
            .store
            .meta
            .artifacts
            .repo_blob_size(repo.id, digest)
            .await?
            .is_some()
            || self.in_flight(digest).is_some()
        {
            return Ok(None);
        }
        match self.fetch(repo, digest, true).await? {
            Fetched::Streaming { size, body } => Ok(Some((size, body))),
            Fetched::Stored => Ok(None),
        }
    }

    fn in_flight(&self, digest: &Digest) -> Option<watch::Receiver<FetchOutcome>> {
        self.inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    /// Starts fetching a blob (unless someone else just did). With `stream` and a known
    /// size, the caller gets the bytes as they arrive; otherwise it waits until stored.
    async fn fetch(&self, repo: &RepositoryRow, digest: &Digest, stream: bool) -> Result<Fetched> {
        let (done_tx, done_rx) = watch::channel(None);
        let existing = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            match inflight.get(digest) {
                Some(existing) => Some(existing.clone()),
                None => {
                    inflight.insert(digest.clone(), done_rx.clone());
                    None
                }
            }
        };
        if let Some(mut existing) = existing {
            wait(&mut existing).await?;
            return Ok(Fetched::Stored);
        }
        let (size, mut upstream) = match self.start(repo, digest).await {
            Ok(started) => started,
            Err(e) => {
                self.inflight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(digest);
                let _ = done_tx.send(Some(Err(e.to_string())));
                return Err(e);
            }
        };
        let (client_tx, client_rx) = mpsc::channel::<io::Result<bytes::Bytes>>(8);
        let streaming = stream && size.is_some();
        let (store_tx, store_rx) = mpsc::channel::<io::Result<bytes::Bytes>>(8);
        let blobs = self.store.blobs.clone();
        let meta = self.store.meta.clone();
        let (repo_id, digest_owned) = (repo.id, digest.clone());
        let inflight = self.inflight.clone();
        tokio::spawn(async move {
            let storing = tokio::spawn({
                let digest = digest_owned.clone();
                async move {
                    let body = futures::stream::unfold(store_rx, |mut rx| async move {
                        rx.recv().await.map(|chunk| (chunk, rx))
                    })
                    .boxed();
                    write_blob(&*blobs, body, &digest, size).await
                }
            });
            while let Some(chunk) = upstream.next().await {
                match chunk {
                    Ok(bytes) => {
                        if store_tx.send(Ok(bytes.clone())).await.is_err() {
                            break;
                        }
                        if streaming {
                            // A client that went away does not stop the caching.
                            let _ = client_tx.send(Ok(bytes)).await;
                        }
                    }
                    Err(e) => {
                        let copy = || io::Error::new(e.kind(), e.to_string());
                        let _ = store_tx.send(Err(copy())).await;
                        let _ = client_tx.send(Err(copy())).await;
                        break;
                    }
                }
            }
            drop(store_tx);
            drop(client_tx);
            let outcome = match storing.await {
                Ok(Ok(stored)) => match meta
                    .artifacts
                    .link_blob(repo_id, &digest_owned, stored)
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.to_string()),
                },
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = &outcome {
                tracing::warn!(digest = %digest_owned, error = %e, "caching a proxied blob failed");
            }
            inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&digest_owned);
            let _ = done_tx.send(Some(outcome));
        });
        if streaming {
            let body = futures::stream::unfold(client_rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            })
            .boxed();
            return Ok(Fetched::Streaming {
                size: size.expect("checked above"),
                body,
            });
        }
        let mut done = done_rx;
        wait(&mut done).await?;
        Ok(Fetched::Stored)
    }

    /// The upstream's answer for a blob: its declared size and its bytes.
    async fn start(
        &self,
        repo: &RepositoryRow,
        digest: &Digest,
    ) -> Result<(Option<u64>, ByteStream)> {
        let source = self.source(repo).await?;
        let blob = source
            .client
            .get_blob(&source.target, &source.repository, digest)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Blob(digest.clone())))?;
        Ok((blob.size, blob.body))
    }
}
