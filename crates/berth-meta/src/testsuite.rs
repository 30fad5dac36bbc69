//! The behaviour every [`MetaStore`] must have; each dialect's tests call [`run`] on a fresh
//! database.

use std::task::Poll;
use std::time::Duration;

use berth_core::{Digest, Reference, RepoName, Tag};
use bytes::Bytes;

use crate::{ManifestRef, MetaError, MetaStore, NewManifest, UploadRecord, now_ms};

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

fn manifest(body: &str, blobs: &[(&Digest, u64)], subject: Option<&Digest>) -> NewManifest {
    NewManifest {
        digest: Digest::sha256(body.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        body: Bytes::copy_from_slice(body.as_bytes()),
        artifact_type: Some("application/x-test".into()),
        subject: subject.cloned(),
        annotations: Some(r#"{"a":"b"}"#.into()),
        blobs: blobs
            .iter()
            .map(|(d, size)| ManifestRef {
                digest: (*d).clone(),
                size: *size,
            })
            .collect(),
        children: Vec::new(),
    }
}

/// Runs every check against `store`, which must be empty.
pub async fn run(store: &dyn MetaStore) {
    blobs(store).await;
    uploads(store).await;
    manifests_and_tags(store).await;
    referrers_and_indexes(store).await;
    catalog(store).await;
    leases(store).await;
    races(store).await;
}

/// Polls all `futures` together on the current task and returns their outputs in order.
/// Each holds its own connection while it waits, so the database sees them concurrently.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
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

/// What must hold when several replicas (or connections) do the same thing at once. On a
/// single-writer store these hold trivially; on a shared server they are the whole point.
async fn races(store: &dyn MetaStore) {
    // The same blob linked 8 times at once, into a repository that does not exist yet.
    let r = repo("suite/concurrent");
    let config = Digest::sha256(b"race-config");
    let results = join_all((0..8).map(|_| store.link_blob(&r, &config, 11)).collect()).await;
    for result in results {
        result.unwrap();
    }
    assert_eq!(store.repo_blob_size(&r, &config).await.unwrap(), Some(11));

    // The same manifest and tags pushed 8 times at once, tags listed in both orders.
    let m = manifest("race-manifest", &[(&config, 11)], None);
    let (forward, backward) = ([tag("race"), tag("latest")], [tag("latest"), tag("race")]);
    let pushes = (0..8)
        .map(|i| store.put_manifest(&r, &m, if i % 2 == 0 { &forward } else { &backward }))
        .collect();
    for result in join_all(pushes).await {
        result.unwrap();
    }
    let got = store
        .get_manifest(&r, &Reference::Tag(tag("race")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.digest, m.digest);

    // 8 different manifests moving the same two tags at once, in both orders: every push
    // succeeds (no deadlock surfaces as an error) and both tags end on some pushed manifest.
    let many: Vec<_> = (0..8)
        .map(|i| manifest(&format!("race-manifest-{i}"), &[(&config, 11)], None))
        .collect();
    let pushes = many
        .iter()
        .enumerate()
        .map(|(i, m)| store.put_manifest(&r, m, if i % 2 == 0 { &forward } else { &backward }))
        .collect();
    for result in join_all(pushes).await {
        result.unwrap();
    }
    for t in ["race", "latest"] {
        let got = store
            .get_manifest(&r, &Reference::Tag(tag(t)))
            .await
            .unwrap()
            .unwrap();
        assert!(many.iter().any(|m| m.digest == got.digest), "{t}");
    }

    // Appends racing from the same offset: exactly one moves the upload.
    let now = now_ms();
    let up = UploadRecord {
        id: "suite-upload-race".into(),
        repository: r.clone(),
        size: 0,
        hash_state: Vec::new(),
        storage_state: String::new(),
        created_at: now,
        updated_at: now,
    };
    store.create_upload(&up).await.unwrap();
    let states: Vec<String> = (0..8).map(|i| format!("{{\"append\":{i}}}")).collect();
    let hashes: Vec<[u8; 1]> = (0..8).map(|i| [i]).collect();
    let appends = states
        .iter()
        .zip(&hashes)
        .enumerate()
        .map(|(i, (state, hash))| store.advance_upload(&up.id, 0, 100 + i as u64, hash, state))
        .collect();
    let won: Vec<usize> = join_all(appends)
        .await
        .into_iter()
        .enumerate()
        .filter_map(|(i, moved)| moved.unwrap().then_some(i))
        .collect();
    assert_eq!(won.len(), 1, "{won:?}");
    let got = store.get_upload(&up.id).await.unwrap().unwrap();
    assert_eq!(got.size, 100 + won[0] as u64);
    assert_eq!(
        (got.hash_state, got.storage_state),
        (vec![won[0] as u8], states[won[0]].clone())
    );
    assert!(store.delete_upload(&up.id).await.unwrap());

    // Leases: 8 holders racing for a new job, then for one whose lease has run out.
    let ttl = Duration::from_secs(60);
    let holders: Vec<String> = (0..8).map(|i| format!("racer-{i}")).collect();
    let won = join_all(
        holders
            .iter()
            .map(|h| store.try_lease("suite-race", h, ttl))
            .collect(),
    )
    .await
    .into_iter()
    .filter(|got| *got.as_ref().unwrap())
    .count();
    assert_eq!(won, 1);
    assert!(
        store
            .try_lease("suite-race-expired", "old", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let won = join_all(
        holders
            .iter()
            .map(|h| store.try_lease("suite-race-expired", h, ttl))
            .collect(),
    )
    .await
    .into_iter()
    .filter(|got| *got.as_ref().unwrap())
    .count();
    assert_eq!(won, 1);
}

async fn blobs(store: &dyn MetaStore) {
    let r = repo("suite/blobs");
    let other = repo("suite/other");
    let d = Digest::sha256(b"blob-one");
    assert_eq!(store.blob_size(&d).await.unwrap(), None);
    store.link_blob(&r, &d, 8).await.unwrap();
    store.link_blob(&r, &d, 8).await.unwrap();
    assert_eq!(store.blob_size(&d).await.unwrap(), Some(8));
    assert_eq!(store.repo_blob_size(&r, &d).await.unwrap(), Some(8));
    assert_eq!(store.repo_blob_size(&other, &d).await.unwrap(), None);
    store.link_blob(&other, &d, 8).await.unwrap();
    assert!(store.unlink_blob(&r, &d).await.unwrap());
    assert!(!store.unlink_blob(&r, &d).await.unwrap());
    assert_eq!(store.repo_blob_size(&r, &d).await.unwrap(), None);
    assert_eq!(store.repo_blob_size(&other, &d).await.unwrap(), Some(8));
}

async fn uploads(store: &dyn MetaStore) {
    let now = now_ms();
    let up = UploadRecord {
        id: "suite-upload-1".into(),
        repository: repo("suite/uploads"),
        size: 0,
        hash_state: vec![1, 2, 3],
        storage_state: String::new(),
        created_at: now - 10_000,
        updated_at: now - 10_000,
    };
    store.create_upload(&up).await.unwrap();
    assert_eq!(store.get_upload(&up.id).await.unwrap(), Some(up.clone()));
    assert!(
        store
            .advance_upload(&up.id, 0, 10, &[4, 5], "{\"part\":1}")
            .await
            .unwrap()
    );
    // A second append racing from the same offset loses.
    assert!(!store.advance_upload(&up.id, 0, 20, &[6], "").await.unwrap());
    let got = store.get_upload(&up.id).await.unwrap().unwrap();
    assert_eq!((got.size, got.hash_state.as_slice()), (10, &[4u8, 5][..]));
    assert_eq!(got.storage_state, "{\"part\":1}");
    assert!(got.updated_at >= now);
    let old = UploadRecord {
        id: "suite-upload-old".into(),
        ..up.clone()
    };
    store.create_upload(&old).await.unwrap();
    let stale = store.stale_uploads(now - 1000, 10).await.unwrap();
    assert_eq!(
        stale.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        ["suite-upload-old"]
    );
    // `up` was advanced after the cut-off: a purge must leave it alone.
    assert!(!store.delete_stale_upload(&up.id, now - 1000).await.unwrap());
    assert!(
        store
            .delete_stale_upload(&old.id, now - 1000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_stale_upload(&old.id, now - 1000)
            .await
            .unwrap()
    );
    assert!(store.delete_upload(&up.id).await.unwrap());
    assert!(!store.delete_upload(&up.id).await.unwrap());

    // Completing an upload records the blob and forgets the session in one step.
    let done = UploadRecord {
        id: "suite-upload-done".into(),
        ..up.clone()
    };
    store.create_upload(&done).await.unwrap();
    let digest = Digest::sha256(b"completed");
    let r = repo("suite/completed");
    store
        .complete_upload(&done.id, &r, &digest, 9)
        .await
        .unwrap();
    assert_eq!(store.get_upload(&done.id).await.unwrap(), None);
    assert_eq!(store.repo_blob_size(&r, &digest).await.unwrap(), Some(9));
    assert_eq!(store.blob_size(&digest).await.unwrap(), Some(9));
    assert_eq!(store.get_upload(&up.id).await.unwrap(), None);
}

async fn manifests_and_tags(store: &dyn MetaStore) {
    let r = repo("suite/manifests");
    let config = Digest::sha256(b"config");
    let layer = Digest::sha256(b"layer");
    let m = manifest("manifest-one", &[(&config, 6), (&layer, 5)], None);

    // Blobs missing from the repository: refused, and nothing is stored, not even the
    // repository the push would have created.
    let never = repo("suite/x-never-created");
    let err = store
        .put_manifest(&never, &m, &[tag("v1")])
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::MissingBlob(_)), "{err:?}");
    assert_eq!(store.list_tags(&never, None, 10).await.unwrap(), None);
    store.link_blob(&never, &config, 6).await.unwrap();
    assert_eq!(
        store.list_tags(&never, None, 10).await.unwrap(),
        Some(vec![])
    );
    let err = store.put_manifest(&r, &m, &[tag("v1")]).await.unwrap_err();
    assert!(
        matches!(err, MetaError::MissingBlob(ref d) if *d == config),
        "{err:?}"
    );
    store.link_blob(&r, &config, 6).await.unwrap();
    store.link_blob(&r, &layer, 4).await.unwrap();
    let err = store.put_manifest(&r, &m, &[tag("v1")]).await.unwrap_err();
    assert!(matches!(err, MetaError::SizeMismatch { .. }), "{err:?}");
    let layer5 = Digest::sha256(b"layer5");
    store.link_blob(&r, &layer5, 5).await.unwrap();
    let m = manifest("manifest-one", &[(&config, 6), (&layer5, 5)], None);
    assert_eq!(store.list_tags(&r, None, 100).await.unwrap(), Some(vec![]));

    store
        .put_manifest(&r, &m, &[tag("v1"), tag("latest")])
        .await
        .unwrap();
    store.put_manifest(&r, &m, &[]).await.unwrap();
    let by_tag = store
        .get_manifest(&r, &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_tag.digest, m.digest);
    assert_eq!(by_tag.body, m.body);
    let by_digest = store
        .get_manifest(&r, &Reference::Digest(m.digest.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_digest, by_tag);
    assert_eq!(
        store
            .get_manifest(
                &repo("suite/elsewhere"),
                &Reference::Digest(m.digest.clone())
            )
            .await
            .unwrap(),
        None
    );

    // Retagging moves the tag.
    let m2 = manifest("manifest-two", &[(&config, 6)], None);
    store.put_manifest(&r, &m2, &[tag("latest")]).await.unwrap();
    let latest = store
        .get_manifest(&r, &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.digest, m2.digest);

    // Lexical order and pagination.
    for t in ["b", "a", "C", "a0", "_x"] {
        store.put_manifest(&r, &m2, &[tag(t)]).await.unwrap();
    }
    let all = store.list_tags(&r, None, 100).await.unwrap().unwrap();
    assert_eq!(all, ["C", "_x", "a", "a0", "b", "latest", "v1"]);
    let page = store.list_tags(&r, Some("a"), 2).await.unwrap().unwrap();
    assert_eq!(page, ["a0", "b"]);
    assert_eq!(
        store
            .list_tags(&repo("suite/none"), None, 10)
            .await
            .unwrap(),
        None
    );

    assert!(store.delete_tag(&r, &tag("v1")).await.unwrap());
    assert!(!store.delete_tag(&r, &tag("v1")).await.unwrap());
    assert!(
        store
            .get_manifest(&r, &Reference::Digest(m.digest.clone()))
            .await
            .unwrap()
            .is_some()
    );

    // Deleting a manifest takes its tags with it.
    assert!(store.delete_manifest(&r, &m2.digest).await.unwrap());
    assert!(!store.delete_manifest(&r, &m2.digest).await.unwrap());
    assert_eq!(
        store
            .get_manifest(&r, &Reference::Tag(tag("latest")))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.list_tags(&r, None, 100).await.unwrap(), Some(vec![]));
}

async fn referrers_and_indexes(store: &dyn MetaStore) {
    let r = repo("suite/referrers");
    let config = Digest::sha256(b"cfg");
    store.link_blob(&r, &config, 3).await.unwrap();
    // The subject need not exist.
    let subject = Digest::sha256(b"not pushed yet");
    let sig = manifest("signature", &[(&config, 3)], Some(&subject));
    store.put_manifest(&r, &sig, &[]).await.unwrap();
    let sbom = manifest("sbom", &[(&config, 3)], Some(&subject));
    store.put_manifest(&r, &sbom, &[]).await.unwrap();
    let found = store.referrers(&r, &subject).await.unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.iter().any(|f| f.digest == sig.digest));
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/x-test")
    );
    assert_eq!(found[0].annotations.as_deref(), Some(r#"{"a":"b"}"#));
    for f in &found {
        let expected = if f.digest == sig.digest { &sig } else { &sbom };
        assert_eq!(f.size, expected.body.len() as u64);
    }
    assert!(store.referrers(&r, &config).await.unwrap().is_empty());
    assert!(
        store
            .referrers(&repo("suite/other-refs"), &subject)
            .await
            .unwrap()
            .is_empty()
    );

    // An index needs its children in the repository.
    let child = manifest("child", &[(&config, 3)], None);
    let mut index = manifest("index", &[], None);
    index.media_type = "application/vnd.oci.image.index.v1+json".into();
    index.children = vec![ManifestRef {
        digest: child.digest.clone(),
        size: child.body.len() as u64,
    }];
    let err = store.put_manifest(&r, &index, &[]).await.unwrap_err();
    assert!(matches!(err, MetaError::MissingManifest(_)), "{err:?}");
    store.put_manifest(&r, &child, &[]).await.unwrap();
    store
        .put_manifest(&r, &index, &[tag("multi")])
        .await
        .unwrap();
    let got = store
        .get_manifest(&r, &Reference::Tag(tag("multi")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.media_type, "application/vnd.oci.image.index.v1+json");
}

async fn catalog(store: &dyn MetaStore) {
    let names = store.list_repositories(None, 1000).await.unwrap();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for n in [
        "suite/blobs",
        "suite/manifests",
        "suite/other",
        "suite/referrers",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    let page = store
        .list_repositories(Some("suite/manifests"), 1)
        .await
        .unwrap();
    assert_eq!(page, ["suite/other"]);
}

async fn leases(store: &dyn MetaStore) {
    let ttl = Duration::from_secs(60);
    assert!(
        store
            .try_lease("suite-job", "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_lease("suite-job", "replica-b", ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("suite-job", "replica-a", ttl)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_lease("suite-short", "replica-a", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        store
            .try_lease("suite-short", "replica-b", ttl)
            .await
            .unwrap()
    );
}
