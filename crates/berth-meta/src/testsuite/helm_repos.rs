//! Helm repositories: create, find by id or name, list with filters and paging, update
//! (rename, URL, credentials), sync state, mirrored versions marked when they vanish,
//! delete.

use crate::{
    Direction, HelmRepoOrder, HelmRepoQuery, HelmRepoUpdate, Meta, MetaError, MirroredVersion,
    NewHelmRepo, Page, SyncState,
};

fn new(id: &str, name: &str, url: &str, kind: &str, public: bool) -> NewHelmRepo {
    NewHelmRepo {
        id: id.into(),
        name: name.into(),
        namespace: name.into(),
        url: url.into(),
        kind: kind.into(),
        is_public: public,
        username: Some("u".into()),
        password_sealed: Some(vec![1, 2, 3]),
        sync_interval_secs: None,
        creator: "admin".into(),
        owns_namespace: true,
    }
}

pub(super) async fn run(meta: &Meta) {
    let store = &*meta.helm_repos;
    let a = store
        .create_helm_repo(&new("id-a", "bitnami", "https://up/a", "external", true))
        .await
        .unwrap();
    assert_eq!(
        (a.name.as_str(), a.sync.status.as_str()),
        ("bitnami", "never")
    );
    assert_eq!(a.password_sealed.as_deref(), Some(&[1u8, 2, 3][..]));
    assert!(a.is_public && a.owns_namespace);
    store
        .create_helm_repo(&new("id-b", "apps", "", "internal", false))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_helm_repo(&new("id-c", "bitnami", "", "internal", false))
            .await,
        Err(MetaError::AlreadyExists { .. })
    ));
    // By id or by name.
    assert_eq!(
        store.get_helm_repo("id-a").await.unwrap().unwrap().name,
        "bitnami"
    );
    assert_eq!(
        store.get_helm_repo("apps").await.unwrap().unwrap().id,
        "id-b"
    );
    assert!(store.get_helm_repo("nope").await.unwrap().is_none());

    // Listing: filters, order, paging, visibility.
    let all = |q: HelmRepoQuery| async move { store.list_helm_repos(&q).await.unwrap() };
    let listed = all(HelmRepoQuery::default()).await;
    assert_eq!(listed.total, 2);
    assert_eq!(listed.items[0].name, "apps");
    let external = all(HelmRepoQuery {
        kind: Some("external".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        (external.total, external.items[0].name.as_str()),
        (1, "bitnami")
    );
    let searched = all(HelmRepoQuery {
        search: Some("NAM".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(searched.total, 1);
    let paged = all(HelmRepoQuery {
        page: Page {
            offset: 1,
            limit: 1,
        },
        order: HelmRepoOrder::Name,
        direction: Direction::Desc,
        ..Default::default()
    })
    .await;
    assert_eq!((paged.total, paged.items[0].name.as_str()), (2, "apps"));
    let public_only = all(HelmRepoQuery {
        visible_namespaces: Some(vec![]),
        ..Default::default()
    })
    .await;
    assert_eq!(public_only.total, 1);
    let with_apps = all(HelmRepoQuery {
        visible_namespaces: Some(vec!["apps".into()]),
        ..Default::default()
    })
    .await;
    assert_eq!(with_apps.total, 2);

    // Update: rename (the namespace stays), URL, credentials, interval.
    let u = store
        .update_helm_repo(
            "id-a",
            &HelmRepoUpdate {
                name: Some("bitnami-new".into()),
                url: Some("https://up/b".into()),
                sync_interval_secs: Some(Some(600)),
                credentials: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.name.as_str(), u.namespace.as_str(), u.url.as_str()),
        ("bitnami-new", "bitnami", "https://up/b")
    );
    assert_eq!(
        (u.username, u.password_sealed, u.sync_interval_secs),
        (None, None, Some(600))
    );
    assert!(u.is_public, "what is not given stays");
    assert!(matches!(
        store
            .update_helm_repo(
                "id-a",
                &HelmRepoUpdate {
                    name: Some("apps".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(MetaError::AlreadyExists { .. })
    ));
    assert!(
        store
            .update_helm_repo("nope", &HelmRepoUpdate::default())
            .await
            .unwrap()
            .is_none()
    );

    // Due repositories: only those with a URL.
    let due = store.due_helm_repos(i64::MAX, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["id-a"]
    );
    let state = SyncState {
        last_sync_at: Some(5),
        status: "ok".into(),
        error: None,
        charts: 2,
        vanished: 1,
        etag: Some("\"e1\"".into()),
        failures: 0,
        next_sync_at: 1_000,
    };
    store.record_sync("id-a", &state).await.unwrap();
    assert_eq!(
        store.get_helm_repo("id-a").await.unwrap().unwrap().sync,
        state
    );
    assert!(store.due_helm_repos(999, 10).await.unwrap().is_empty());

    // Mirrored versions: put, mark vanished, put again clears the mark.
    let v = |chart: &str, version: &str, digest: &str| MirroredVersion {
        chart: chart.into(),
        version: version.into(),
        digest: digest.into(),
        vanished_at: None,
    };
    store
        .put_mirrored_version("id-a", &v("redis", "1.0.0", "d1"))
        .await
        .unwrap();
    store
        .put_mirrored_version("id-a", &v("redis", "2.0.0", "d2"))
        .await
        .unwrap();
    store
        .mark_vanished("id-a", &[("redis".into(), "1.0.0".into())], 77)
        .await
        .unwrap();
    store
        .mark_vanished("id-a", &[("redis".into(), "1.0.0".into())], 88)
        .await
        .unwrap();
    let versions = store.mirrored_versions("id-a").await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].vanished_at, Some(77), "the first mark stays");
    assert_eq!(versions[1].vanished_at, None);
    store
        .put_mirrored_version("id-a", &v("redis", "1.0.0", "d1"))
        .await
        .unwrap();
    assert_eq!(
        store.mirrored_versions("id-a").await.unwrap()[0].vanished_at,
        None
    );

    // Delete takes its versions along.
    assert!(store.delete_helm_repo("id-a").await.unwrap());
    assert!(!store.delete_helm_repo("id-a").await.unwrap());
    assert!(store.mirrored_versions("id-a").await.unwrap().is_empty());
    assert!(store.delete_helm_repo("id-b").await.unwrap());
}
