//! The behaviour every [`MetaStore`] must have; each dialect's tests call [`run`] on a fresh
//! database.

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
    assert!(store
        .advance_upload(&up.id, 0, 10, &[4, 5], "{\"part\":1}")
        .await
        .unwrap());
    // A second append racing from the same offset loses.
    assert!(!store
        .advance_upload(&up.id, 0, 20, &[6], "")
        .await
        .unwrap());
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
    assert!(store.delete_upload(&up.id).await.unwrap());
    assert!(!store.delete_upload(&up.id).await.unwrap());
    assert!(store.delete_upload(&old.id).await.unwrap());
    assert_eq!(store.get_upload(&up.id).await.unwrap(), None);
}

async fn manifests_and_tags(store: &dyn MetaStore) {
    let r = repo("suite/manifests");
    let config = Digest::sha256(b"config");
    let layer = Digest::sha256(b"layer");
    let m = manifest("manifest-one", &[(&config, 6), (&layer, 5)], None);

    // Blobs missing from the repository: refused, and nothing is stored.
    let err = store.put_manifest(&r, &m, &[tag("v1")]).await.unwrap_err();
    assert!(matches!(err, MetaError::MissingBlob(ref d) if *d == config), "{err:?}");
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
            .get_manifest(&repo("suite/elsewhere"), &Reference::Digest(m.digest.clone()))
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
    assert_eq!(store.list_tags(&repo("suite/none"), None, 10).await.unwrap(), None);

    assert!(store.delete_tag(&r, &tag("v1")).await.unwrap());
    assert!(!store.delete_tag(&r, &tag("v1")).await.unwrap());
    assert!(store
        .get_manifest(&r, &Reference::Digest(m.digest.clone()))
        .await
        .unwrap()
        .is_some());

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
    assert_eq!(found[0].artifact_type.as_deref(), Some("application/x-test"));
    assert_eq!(found[0].annotations.as_deref(), Some(r#"{"a":"b"}"#));
    for f in &found {
        let expected = if f.digest == sig.digest { &sig } else { &sbom };
        assert_eq!(f.size, expected.body.len() as u64);
    }
    assert!(store.referrers(&r, &config).await.unwrap().is_empty());
    assert!(store
        .referrers(&repo("suite/other-refs"), &subject)
        .await
        .unwrap()
        .is_empty());

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
    store.put_manifest(&r, &index, &[tag("multi")]).await.unwrap();
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
    for n in ["suite/blobs", "suite/manifests", "suite/other", "suite/referrers"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    let page = store.list_repositories(Some("suite/manifests"), 1).await.unwrap();
    assert_eq!(page, ["suite/other"]);
}

async fn leases(store: &dyn MetaStore) {
    let ttl = Duration::from_secs(60);
    assert!(store.try_lease("suite-job", "replica-a", ttl).await.unwrap());
    assert!(!store.try_lease("suite-job", "replica-b", ttl).await.unwrap());
    assert!(store.try_lease("suite-job", "replica-a", ttl).await.unwrap());
    assert!(store
        .try_lease("suite-short", "replica-a", Duration::from_millis(1))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store
        .try_lease("suite-short", "replica-b", ttl)
        .await
        .unwrap());
}
