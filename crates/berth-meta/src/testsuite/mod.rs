//! The behaviour every metadata backend must have, one suite per aggregate; each dialect's
//! tests call [`run`] on a fresh database. Built with the `testsuite` feature (and in this
//! crate's own tests), so production builds do not carry it.

mod artifacts;
mod charts;
mod helm_repos;
mod leases;
mod remotes;
mod repositories;
mod uploads;
mod users;

use std::sync::Arc;
use std::task::Poll;

use berth_core::{Digest, RepoName, Tag};
use bytes::Bytes;

use crate::{ManifestRef, Meta, MetaBackend, NewManifest, NewRepository, RepoId};

/// Runs every suite against `backend`, which must be empty.
pub async fn run<B: MetaBackend>(backend: &Arc<B>) {
    let meta = Meta::new(backend.clone());
    uploads::run(&meta).await;
    repositories::run(&meta).await;
    artifacts::run(&meta).await;
    leases::run(&meta).await;
    users::run(&meta).await;
    remotes::run(&meta).await;
    charts::run(&meta).await;
    helm_repos::run(&meta).await;
    search_repositories(&meta).await;
}

/// What must hold when several replicas share one database: each is its own backend (own
/// pool) on the same, empty database.
pub async fn replicas<B: MetaBackend>(replicas: &[Arc<B>]) {
    let metas: Vec<Meta> = replicas.iter().map(|b| Meta::new(b.clone())).collect();
    uploads::replicas(&metas).await;
    leases::replicas(&metas).await;
    artifacts::replicas(&metas).await;
    repositories::replicas(&metas).await;
    remotes::replicas(&metas).await;
}

pub use repositories::search_repositories;

pub(crate) fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

pub(crate) fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

/// A manifest whose body is `body` (not real JSON: the store does not read it).
pub(crate) fn manifest(
    body: &str,
    blobs: &[(&Digest, u64)],
    subject: Option<&Digest>,
) -> NewManifest {
    let body = Bytes::copy_from_slice(body.as_bytes());
    NewManifest {
        digest: Digest::sha256(&body),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        artifact_type: Some("application/x-test".into()),
        subject: subject.cloned(),
        annotations: Some(r#"{"a":"b"}"#.into()),
        config: blobs.first().map(|(d, _)| (*d).clone()),
        total_size: body.len() as u64 + blobs.iter().map(|(_, s)| s).sum::<u64>(),
        blobs: blobs
            .iter()
            .map(|(d, size)| ManifestRef {
                digest: (*d).clone(),
                size: *size,
            })
            .collect(),
        children: Vec::new(),
        pushed_by: "tester".into(),
        require_refs: true,
        chart: None,
        body,
    }
}

/// The id of `name`, created (with its namespace) if needed.
pub(crate) async fn repo_id(meta: &Meta, name: &str) -> RepoId {
    ensure(meta, name).await.id
}

pub(crate) async fn ensure(meta: &Meta, name: &str) -> crate::RepositoryRow {
    let name = repo(name);
    let ns = crate::NewNamespace {
        name: name.namespace().to_owned(),
        description: String::new(),
        is_public: false,
        creator: "tester".into(),
    };
    meta.repositories
        .ensure_repository(&NewRepository::hosted(name, "tester"), Some(&ns))
        .await
        .unwrap()
}

/// Polls all `futures` together on the current task and returns their outputs in order.
/// Each holds its own connection while it waits, so the database sees them concurrently.
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("polled to completion"))
        .collect()
}
