//! Blobs, manifests, tags, referrers, the catalog, counters and downloads.

use berth_core::{Digest, Reference};

use super::{ensure, join_all, manifest, repo_id, tag};
use crate::{
    Direction, DownloadCount, ManifestQuery, ManifestRef, Meta, MetaError, Page, RepoId,
    RepositoryRow, TagOrder, TagQuery, Visibility, now_ms,
};

pub(super) async fn run(meta: &Meta) {
    blobs(meta).await;
    manifests_and_tags(meta).await;
    counters(meta).await;
    referrers_and_indexes(meta).await;
    listings_and_downloads(meta).await;
    catalog(meta).await;
    replicas(std::slice::from_ref(meta)).await;
}

async fn counts(meta: &Meta, name: &str) -> RepositoryRow {
    meta.repositories
        .get_repository(&super::repo(name))
        .await
        .unwrap()
        .unwrap()
}

/// (manifests, images, tags, size) of the repository.
async fn counters_of(meta: &Meta, name: &str) -> (u64, u64, u64, u64) {
    let r = counts(meta, name).await;
    (r.num_manifests, r.num_images, r.num_tags, r.size)
}

async fn blobs(meta: &Meta) {
    let store = &*meta.artifacts;
    let r = repo_id(meta, "suite/blobs").await;
    let other = repo_id(meta, "suite/other").await;
    let d = Digest::sha256(b"blob-one");
    assert_eq!(store.blob_size(&d).await.unwrap(), None);
    store.link_blob(r, &d, 8).await.unwrap();
    store.link_blob(r, &d, 8).await.unwrap();
    assert_eq!(store.blob_size(&d).await.unwrap(), Some(8));
    assert_eq!(store.repo_blob_size(r, &d).await.unwrap(), Some(8));
    assert_eq!(store.repo_blob_size(other, &d).await.unwrap(), None);
    store.link_blob(other, &d, 8).await.unwrap();
    assert!(store.unlink_blob(r, &d).await.unwrap());
    assert!(!store.unlink_blob(r, &d).await.unwrap());
    assert_eq!(store.repo_blob_size(r, &d).await.unwrap(), None);
    assert_eq!(store.repo_blob_size(other, &d).await.unwrap(), Some(8));
    // Mounting without a source: any repository the caller may see that holds it.
    assert_eq!(
        store.visible_blob_size(&d, &Visibility::All).await.unwrap(),
        Some(8)
    );
    let private = Visibility::PublicOr {
        member: None,
        namespace: None,
    };
    assert_eq!(store.visible_blob_size(&d, &private).await.unwrap(), None);
    // A repository that is gone takes no blobs.
    let err = store.link_blob(RepoId(i64::MAX), &d, 8).await.unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
}

async fn manifests_and_tags(meta: &Meta) {
    let store = &*meta.artifacts;
    let r = repo_id(meta, "suite/manifests").await;
    let config = Digest::sha256(b"config");
    let layer = Digest::sha256(b"layer");
    let m = manifest("manifest-one", &[(&config, 6), (&layer, 5)], None);

    // Blobs missing from the repository: refused, and nothing is stored.
    let err = store.put_manifest(r, &m, &[tag("v1")]).await.unwrap_err();
    assert!(
        matches!(err, MetaError::MissingBlob(ref d) if *d == config),
        "{err:?}"
    );
    store.link_blob(r, &config, 6).await.unwrap();
    store.link_blob(r, &layer, 4).await.unwrap();
    let err = store.put_manifest(r, &m, &[tag("v1")]).await.unwrap_err();
    assert!(matches!(err, MetaError::SizeMismatch { .. }), "{err:?}");
    assert_eq!(counters_of(meta, "suite/manifests").await, (0, 0, 0, 0));
    let layer5 = Digest::sha256(b"layer5");
    store.link_blob(r, &layer5, 5).await.unwrap();
    let m = manifest("manifest-one", &[(&config, 6), (&layer5, 5)], None);
    assert!(store.tag_names(r, None, 100).await.unwrap().is_empty());
    // Into a repository that is gone: refused.
    let err = store
        .put_manifest(RepoId(i64::MAX), &m, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");

    store
        .put_manifest(r, &m, &[tag("v1"), tag("latest")])
        .await
        .unwrap();
    store.put_manifest(r, &m, &[]).await.unwrap();
    let by_tag = store
        .get_manifest(r, &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_tag.digest, m.digest);
    assert_eq!(by_tag.body, m.body);
    let by_digest = store
        .get_manifest(r, &Reference::Digest(m.digest.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_digest, by_tag);
    let elsewhere = repo_id(meta, "suite/elsewhere").await;
    assert_eq!(
        store
            .get_manifest(elsewhere, &Reference::Digest(m.digest.clone()))
            .await
            .unwrap(),
        None
    );
    let row = counts(meta, "suite/manifests").await;
    assert!(row.last_pushed_at.is_some());

    // Retagging moves the tag.
    let m2 = manifest("manifest-two", &[(&config, 6)], None);
    store.put_manifest(r, &m2, &[tag("latest")]).await.unwrap();
    let latest = store
        .get_manifest(r, &Reference::Tag(tag("latest")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.digest, m2.digest);

    // Lexical order and pagination.
    for t in ["b", "a", "C", "a0", "_x"] {
        store.put_manifest(r, &m2, &[tag(t)]).await.unwrap();
    }
    let all = store.tag_names(r, None, 100).await.unwrap();
    assert_eq!(all, ["C", "_x", "a", "a0", "b", "latest", "v1"]);
    assert_eq!(store.tag_names(r, Some("a"), 2).await.unwrap(), ["a0", "b"]);

    let v1 = store.get_tag(r, &tag("v1")).await.unwrap().unwrap();
    assert_eq!(v1.digest, m.digest);
    assert_eq!(v1.pushed_by, "tester");
    assert_eq!(v1.total_size, m.total_size);
    assert!(store.get_tag(r, &tag("nope")).await.unwrap().is_none());
    let info = store.manifest_info(r, &m2.digest).await.unwrap().unwrap();
    assert_eq!(info.tags, ["C", "_x", "a", "a0", "b", "latest"]);
    assert_eq!(info.config.as_ref(), Some(&config));
    assert_eq!(info.image_info, None);
    store
        .set_image_info(r, &m2.digest, r#"{"os":"linux"}"#)
        .await
        .unwrap();
    let info = store.manifest_info(r, &m2.digest).await.unwrap().unwrap();
    assert_eq!(info.image_info.as_deref(), Some(r#"{"os":"linux"}"#));

    assert!(store.delete_tag(r, &tag("v1")).await.unwrap());
    assert!(!store.delete_tag(r, &tag("v1")).await.unwrap());
    assert!(
        store
            .get_manifest(r, &Reference::Digest(m.digest.clone()))
            .await
            .unwrap()
            .is_some()
    );

    // Deleting a manifest takes its tags with it.
    assert!(store.delete_manifest(r, &m2.digest).await.unwrap());
    assert!(!store.delete_manifest(r, &m2.digest).await.unwrap());
    assert_eq!(
        store
            .get_manifest(r, &Reference::Tag(tag("latest")))
            .await
            .unwrap(),
        None
    );
    assert!(store.tag_names(r, None, 100).await.unwrap().is_empty());
}

/// Counters follow every change, whatever its path: pushes, retags, tag and manifest
/// deletes, blob unlinks and relinks, repository deletes.
async fn counters(meta: &Meta) {
    let store = &*meta.artifacts;
    let name = "suite/counters";
    let r = repo_id(meta, name).await;
    let (a, b, c) = (
        Digest::sha256(b"count-a"),
        Digest::sha256(b"count-b"),
        Digest::sha256(b"count-c"),
    );
    for (d, size) in [(&a, 100), (&b, 20), (&c, 3)] {
        store.link_blob(r, d, size).await.unwrap();
    }
    assert_eq!(counters_of(meta, name).await, (0, 0, 0, 0));
    let m1 = manifest("count-1", &[(&a, 100), (&b, 20)], None);
    let m2 = manifest("count-2", &[(&a, 100), (&c, 3)], None);
    store
        .put_manifest(r, &m1, &[tag("one"), tag("latest")])
        .await
        .unwrap();
    assert_eq!(counters_of(meta, name).await, (1, 1, 2, 120));
    // The same push again changes nothing.
    store
        .put_manifest(r, &m1, &[tag("one"), tag("latest")])
        .await
        .unwrap();
    assert_eq!(counters_of(meta, name).await, (1, 1, 2, 120));
    // `latest` moves to m2: two images, a shared blob counted once.
    store.put_manifest(r, &m2, &[tag("latest")]).await.unwrap();
    assert_eq!(counters_of(meta, name).await, (2, 2, 2, 123));
    // `one` goes: m1 is no longer an image, but its blobs still count (it is stored).
    assert!(store.delete_tag(r, &tag("one")).await.unwrap());
    assert_eq!(counters_of(meta, name).await, (2, 1, 1, 123));
    // An untagged manifest deleted.
    assert!(store.delete_manifest(r, &m1.digest).await.unwrap());
    assert_eq!(counters_of(meta, name).await, (1, 1, 1, 103));
    // A blob deleted from the repository while a manifest references it stops counting,
    // and counts again when it is linked again.
    assert!(store.unlink_blob(r, &c).await.unwrap());
    assert_eq!(counters_of(meta, name).await.3, 100);
    store.link_blob(r, &c, 3).await.unwrap();
    assert_eq!(counters_of(meta, name).await.3, 103);
    // A tagged manifest deleted takes its tags and its image.
    assert!(store.delete_manifest(r, &m2.digest).await.unwrap());
    assert_eq!(counters_of(meta, name).await, (0, 0, 0, 0));

    // Concurrent pushes of manifests sharing blobs, listing them in opposite orders.
    let shared: Vec<_> = (0..8)
        .map(|i| {
            let blobs: Vec<(&Digest, u64)> = if i % 2 == 0 {
                vec![(&a, 100), (&b, 20), (&c, 3)]
            } else {
                vec![(&c, 3), (&b, 20), (&a, 100)]
            };
            manifest(&format!("count-shared-{i}"), &blobs, None)
        })
        .collect();
    let tags: Vec<_> = (0..8)
        .map(|i| [tag(&format!("s{i}")), tag("top")])
        .collect();
    let pushes = shared
        .iter()
        .zip(&tags)
        .map(|(m, t)| store.put_manifest(r, m, t))
        .collect();
    for pushed in join_all(pushes).await {
        pushed.unwrap();
    }
    assert_eq!(counters_of(meta, name).await, (8, 8, 9, 123));
    let deletes = shared
        .iter()
        .map(|m| store.delete_manifest(r, &m.digest))
        .collect();
    for deleted in join_all(deletes).await {
        assert!(deleted.unwrap());
    }
    assert_eq!(counters_of(meta, name).await, (0, 0, 0, 0));
}

async fn referrers_and_indexes(meta: &Meta) {
    let store = &*meta.artifacts;
    let r = repo_id(meta, "suite/referrers").await;
    let config = Digest::sha256(b"cfg");
    store.link_blob(r, &config, 3).await.unwrap();
    // The subject need not exist.
    let subject = Digest::sha256(b"not pushed yet");
    let sig = manifest("signature", &[(&config, 3)], Some(&subject));
    store.put_manifest(r, &sig, &[]).await.unwrap();
    let sbom = manifest("sbom", &[(&config, 3)], Some(&subject));
    store.put_manifest(r, &sbom, &[]).await.unwrap();
    let found = store.referrers(r, &subject).await.unwrap();
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
    assert!(store.referrers(r, &config).await.unwrap().is_empty());
    let other = repo_id(meta, "suite/other-refs").await;
    assert!(store.referrers(other, &subject).await.unwrap().is_empty());

    // An index needs its children in the repository.
    let child = manifest("child", &[(&config, 3)], None);
    let mut index = manifest("index", &[], None);
    index.media_type = "application/vnd.oci.image.index.v1+json".into();
    index.children = vec![ManifestRef {
        digest: child.digest.clone(),
        size: child.body.len() as u64,
    }];
    let err = store.put_manifest(r, &index, &[]).await.unwrap_err();
    assert!(matches!(err, MetaError::MissingManifest(_)), "{err:?}");
    store.put_manifest(r, &child, &[]).await.unwrap();
    store
        .put_manifest(r, &index, &[tag("multi")])
        .await
        .unwrap();
    let got = store
        .get_manifest(r, &Reference::Tag(tag("multi")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.media_type, "application/vnd.oci.image.index.v1+json");
}

async fn listings_and_downloads(meta: &Meta) {
    let store = &*meta.artifacts;
    let name = "suite/listing";
    let r = repo_id(meta, name).await;
    let config = Digest::sha256(b"listing-config");
    store.link_blob(r, &config, 10).await.unwrap();
    let ms: Vec<_> = (0..5)
        .map(|i| manifest(&format!("listing-{i}"), &[(&config, 10)], None))
        .collect();
    for (i, m) in ms.iter().enumerate() {
        store
            .put_manifest(r, m, &[tag(&format!("v{i}")), tag(&format!("Release-{i}"))])
            .await
            .unwrap();
    }
    let q = |search: Option<&str>, offset, limit| TagQuery {
        search: search.map(str::to_owned),
        page: Page { offset, limit },
        ..Default::default()
    };
    let all = store.list_tags(r, &q(None, 0, 100)).await.unwrap();
    assert_eq!(all.total, 10);
    assert_eq!(all.items[0].name, "Release-0");
    let page = store.list_tags(r, &q(None, 8, 5)).await.unwrap();
    assert_eq!((page.total, page.items.len()), (10, 2));
    // Past the end: no items, but the total is still told.
    let past = store.list_tags(r, &q(None, 50, 5)).await.unwrap();
    assert_eq!((past.total, past.items.len()), (10, 0));
    // Search is case-insensitive, and its wildcards are literal.
    let found = store
        .list_tags(r, &q(Some("release"), 0, 100))
        .await
        .unwrap();
    assert_eq!(found.total, 5);
    assert_eq!(
        store
            .list_tags(r, &q(Some("_"), 0, 100))
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        store
            .list_tags(r, &q(Some("%"), 0, 100))
            .await
            .unwrap()
            .total,
        0
    );
    let newest = store
        .list_tags(
            r,
            &TagQuery {
                order: TagOrder::Pushed,
                direction: Direction::Desc,
                page: Page {
                    offset: 0,
                    limit: 1,
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let latest = all.items.iter().map(|t| t.pushed_at).max().unwrap();
    assert_eq!(newest.items[0].pushed_at, latest, "{:?}", newest.items);
    let manifests = store
        .list_manifests(r, &ManifestQuery::default())
        .await
        .unwrap();
    assert_eq!(manifests.total, 5);
    assert_eq!(manifests.items[0].tags.len(), 2);

    // The detail views read a manifest's info and bytes in one trip: the same as apart.
    let (info, body) = store
        .manifest_info_and_body(r, &ms[1].digest)
        .await
        .unwrap()
        .unwrap();
    let alone = store
        .manifest_info(r, &ms[1].digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info, alone);
    let stored = store
        .get_manifest(r, &Reference::Digest(ms[1].digest.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (body.digest, body.media_type, body.body),
        (stored.digest, stored.media_type, stored.body)
    );
    let missing = Digest::sha256(b"no such manifest");
    assert!(
        store
            .manifest_info_and_body(r, &missing)
            .await
            .unwrap()
            .is_none()
    );
    // And the tag detail reads the tag with them, in one trip: the same as apart.
    let some_tag = all.items[0].clone();
    let (tag_row, info, body) = store
        .tag_info_and_body(r, &tag(&some_tag.name))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tag_row, some_tag);
    let (alone, alone_body) = store
        .manifest_info_and_body(r, &some_tag.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info, alone);
    assert_eq!(body.body, alone_body.body);
    assert!(
        store
            .tag_info_and_body(r, &tag("no-such-tag"))
            .await
            .unwrap()
            .is_none()
    );

    // Totals (the tag counter, the repository count) follow deletes, on a page and past
    // the end.
    let scratch = "suite/listing-totals";
    let s = repo_id(meta, scratch).await;
    store.link_blob(s, &config, 10).await.unwrap();
    for m in &ms[..2] {
        store
            .put_manifest(
                s,
                m,
                &[
                    tag(&format!("a-{}", &m.digest.as_str()[7..12])),
                    tag(&format!("b-{}", &m.digest.as_str()[7..12])),
                ],
            )
            .await
            .unwrap();
    }
    let totals = |search: Option<&'static str>| async move {
        let page = store.list_tags(s, &q(search, 1, 1)).await.unwrap().total;
        let past = store.list_tags(s, &q(search, 99, 1)).await.unwrap().total;
        assert_eq!(page, past);
        page
    };
    assert_eq!((totals(None).await, totals(Some("a-")).await), (4, 2));
    let first = format!("a-{}", &ms[0].digest.as_str()[7..12]);
    assert!(store.delete_tag(s, &tag(&first)).await.unwrap());
    assert_eq!((totals(None).await, totals(Some("a-")).await), (3, 1));
    assert!(store.delete_manifest(s, &ms[1].digest).await.unwrap());
    assert_eq!(totals(None).await, 1);
    let repos = |offset| crate::RepositoryQuery {
        page: Page { offset, limit: 1 },
        ..Default::default()
    };
    let before = meta
        .repositories
        .list_repositories(&repos(0))
        .await
        .unwrap()
        .total;
    let past = meta
        .repositories
        .list_repositories(&repos(100_000))
        .await
        .unwrap();
    assert_eq!((past.total, past.items.len()), (before, 0));
    assert!(
        meta.repositories
            .delete_repository(&super::repo(scratch))
            .await
            .unwrap()
    );
    let after = meta
        .repositories
        .list_repositories(&repos(0))
        .await
        .unwrap()
        .total;
    assert_eq!(after, before - 1);

    // Pulls counted in memory arrive in a batch.
    let now = now_ms();
    let pulls = [
        DownloadCount {
            repository: r,
            digest: ms[0].digest.clone(),
            tag: Some(tag("v0")),
            count: 3,
            last_at: now,
        },
        DownloadCount {
            repository: r,
            digest: ms[0].digest.clone(),
            tag: None,
            count: 2,
            last_at: now - 5,
        },
        DownloadCount {
            repository: r,
            digest: ms[1].digest.clone(),
            tag: Some(tag("v1")),
            count: 1,
            last_at: now,
        },
    ];
    store.record_downloads(&pulls).await.unwrap();
    store.record_downloads(&pulls[2..]).await.unwrap();
    let row = counts(meta, name).await;
    assert_eq!(row.num_downloads, 7);
    assert_eq!(row.last_pulled_at, Some(now));
    let v0 = store.get_tag(r, &tag("v0")).await.unwrap().unwrap();
    assert_eq!((v0.downloads, v0.last_pulled_at), (3, Some(now)));
    let info = store
        .manifest_info(r, &ms[0].digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.downloads, 5);
    let by_downloads = store
        .list_tags(
            r,
            &TagQuery {
                order: TagOrder::Downloads,
                direction: Direction::Desc,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_downloads.items[0].name, "v0");
    store.record_downloads(&[]).await.unwrap();
}

async fn catalog(meta: &Meta) {
    let store = &*meta.artifacts;
    let names = store.catalog(None, 1000, &Visibility::All).await.unwrap();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Only repositories that hold a manifest.
    for n in ["suite/manifests", "suite/referrers", "suite/listing"] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    for n in ["suite/blobs", "suite/other", "suite/counters"] {
        assert!(!names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    let page = store
        .catalog(Some("suite/listing"), 1, &Visibility::All)
        .await
        .unwrap();
    assert_eq!(page, ["suite/manifests"]);
    // Private namespaces are hidden from strangers.
    let stranger = Visibility::PublicOr {
        member: Some("stranger".into()),
        namespace: None,
    };
    assert!(
        store
            .catalog(None, 1000, &stranger)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Pushes arriving at every replica at once.
pub(super) async fn replicas(metas: &[Meta]) {
    let r = ensure(&metas[0], "suite/concurrent").await.id;
    let config = Digest::sha256(b"race-config");
    // The same blob linked 8 times at once.
    let links = (0..8)
        .map(|i| metas[i % metas.len()].artifacts.link_blob(r, &config, 11))
        .collect();
    for linked in join_all(links).await {
        linked.unwrap();
    }
    assert_eq!(
        metas[0].artifacts.repo_blob_size(r, &config).await.unwrap(),
        Some(11)
    );

    // The same manifest and tags pushed 8 times at once, tags listed in both orders.
    let m = manifest("race-manifest", &[(&config, 11)], None);
    let (forward, backward) = ([tag("race"), tag("latest")], [tag("latest"), tag("race")]);
    let pushes = (0..8)
        .map(|i| {
            metas[i % metas.len()].artifacts.put_manifest(
                r,
                &m,
                if i % 2 == 0 { &forward } else { &backward },
            )
        })
        .collect();
    for pushed in join_all(pushes).await {
        pushed.unwrap();
    }
    let got = metas[0]
        .artifacts
        .get_manifest(r, &Reference::Tag(tag("race")))
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
        .map(|(i, m)| {
            metas[i % metas.len()].artifacts.put_manifest(
                r,
                m,
                if i % 2 == 0 { &forward } else { &backward },
            )
        })
        .collect();
    for pushed in join_all(pushes).await {
        pushed.unwrap();
    }
    for t in ["race", "latest"] {
        let got = metas[0]
            .artifacts
            .get_manifest(r, &Reference::Tag(tag(t)))
            .await
            .unwrap()
            .unwrap();
        assert!(many.iter().any(|m| m.digest == got.digest), "{t}");
    }
    // Counters agree with what is there: 9 manifests, the two tags on at most two of them.
    let row = counts(&metas[0], "suite/concurrent").await;
    assert_eq!((row.num_manifests, row.num_tags, row.size), (9, 2, 11));
    assert!((1..=2).contains(&row.num_images), "{row:?}");

    // Downloads flushed by every replica at once add up.
    let pulls = [DownloadCount {
        repository: r,
        digest: m.digest.clone(),
        tag: None,
        count: 1,
        last_at: now_ms(),
    }];
    let flushes = (0..8)
        .map(|i| metas[i % metas.len()].artifacts.record_downloads(&pulls))
        .collect();
    for flushed in join_all(flushes).await {
        flushed.unwrap();
    }
    assert_eq!(counts(&metas[0], "suite/concurrent").await.num_downloads, 8);
}
