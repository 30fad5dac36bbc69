//! External repositories and proxies.

use super::join_all;
use crate::{
    Meta, MetaError, NewNamespace, NewProxy, NewRemote, Page, ProxyMode, ProxyUpdate, RemoteQuery,
    RemoteScope,
};

fn remote(namespace: Option<&str>, name: &str) -> NewRemote {
    NewRemote {
        namespace: namespace.map(str::to_owned),
        name: name.into(),
        registry: name.split('/').next().unwrap().into(),
        username: Some("user".into()),
        password_sealed: Some(vec![1, 2, 3, 0, 255]),
        creator: "tester".into(),
    }
}

fn proxy(prefix: &str, remote_id: Option<i64>) -> NewProxy {
    NewProxy {
        prefix: prefix.into(),
        upstream_url: "https://registry-1.docker.io".into(),
        upstream_host: "docker.io".into(),
        remote_id,
        mode: ProxyMode::UpstreamFirst,
        ttl_secs: 600,
        creator: "tester".into(),
    }
}

fn ns(scope: &str) -> RemoteScope {
    RemoteScope::Namespace(scope.into())
}

pub(super) async fn run(meta: &Meta) {
    let store = &*meta.remotes;
    meta.repositories
        .create_namespace(&NewNamespace {
            name: "rteam".into(),
            description: String::new(),
            is_public: false,
            creator: "tester".into(),
        })
        .await
        .unwrap();

    // Global and namespaced entries; the same name may be in both, once each.
    let global = store
        .create_remote(&remote(None, "reg.example:5001/u/img"))
        .await
        .unwrap();
    assert_eq!(global.namespace, None);
    assert_eq!(global.namespace_id, None);
    assert_eq!(global.registry, "reg.example:5001");
    assert_eq!(global.username.as_deref(), Some("user"));
    assert_eq!(
        global.password_sealed.as_deref(),
        Some(&[1u8, 2, 3, 0, 255][..])
    );
    assert!(!global.in_use);
    assert!(global.created_at > 0 && global.updated_at == global.created_at);
    let err = store
        .create_remote(&remote(None, "reg.example:5001/u/img"))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let team = store
        .create_remote(&remote(Some("rteam"), "reg.example:5001/u/img"))
        .await
        .unwrap();
    assert_eq!(team.namespace.as_deref(), Some("rteam"));
    assert_ne!(team.id, global.id);
    let err = store
        .create_remote(&remote(Some("rteam"), "reg.example:5001/u/img"))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let err = store
        .create_remote(&remote(Some("nowhere"), "reg.example/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            MetaError::NotFound {
                entity: "namespace",
                ..
            }
        ),
        "{err:?}"
    );
    let anonymous = store
        .create_remote(&NewRemote {
            username: None,
            password_sealed: None,
            ..remote(None, "other.example/lib/app")
        })
        .await
        .unwrap();
    assert_eq!(
        (anonymous.username, anonymous.password_sealed),
        (None, None)
    );
    for i in 0..3 {
        store
            .create_remote(&remote(Some("rteam"), &format!("other.example/t/p{i}")))
            .await
            .unwrap();
    }

    // Lookups by scope.
    let got = store
        .get_remote(&RemoteScope::Global, "reg.example:5001/u/img")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, global.id);
    let got = store
        .get_remote(&ns("rteam"), "reg.example:5001/u/img")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, team.id);
    assert!(
        store
            .get_remote(&ns("rteam"), "other.example/lib/app")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_remote(&RemoteScope::All, "reg.example:5001/u/img")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.get_remote_by_id(team.id).await.unwrap().unwrap(),
        team
    );
    assert!(store.get_remote_by_id(-1).await.unwrap().is_none());

    // Listings: scope, exact filters, pages and totals.
    let names = |l: &crate::Listed<crate::RemoteRow>| -> Vec<String> {
        l.items.iter().map(|r| r.name.clone()).collect()
    };
    let listed = store.list_remotes(&RemoteQuery::default()).await.unwrap();
    assert_eq!(
        (listed.total, names(&listed)),
        (
            2,
            vec![
                "other.example/lib/app".into(),
                "reg.example:5001/u/img".into()
            ]
        )
    );
    let listed = store
        .list_remotes(&RemoteQuery {
            scope: ns("rteam"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.total, 4);
    assert_eq!(listed.items[0].name, "other.example/t/p0");
    let page = store
        .list_remotes(&RemoteQuery {
            scope: ns("rteam"),
            page: Page {
                offset: 1,
                limit: 2,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (page.total, names(&page)),
        (
            4,
            vec!["other.example/t/p1".into(), "other.example/t/p2".into()]
        )
    );
    let past = store
        .list_remotes(&RemoteQuery {
            scope: ns("rteam"),
            page: Page {
                offset: 10,
                limit: 2,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((past.total, past.items.len()), (4, 0));
    let by_registry = store
        .list_remotes(&RemoteQuery {
            scope: ns("rteam"),
            registry: Some("reg.example:5001".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        names(&by_registry),
        vec!["reg.example:5001/u/img".to_owned()]
    );
    let by_name = store
        .list_remotes(&RemoteQuery {
            scope: RemoteScope::All,
            name: Some("reg.example:5001/u/img".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_name.total, 2);
    let none = store
        .list_remotes(&RemoteQuery {
            name: Some("reg.example:5001/u".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((none.total, none.items.len()), (0, 0));
    let everything = store
        .list_remotes(&RemoteQuery {
            scope: RemoteScope::All,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(everything.total, 6);

    // New credentials replace both.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let updated = store
        .update_remote_credentials(global.id, Some("other"), Some(&[9, 9]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.username.as_deref(), Some("other"));
    assert_eq!(updated.password_sealed.as_deref(), Some(&[9u8, 9][..]));
    assert!(updated.updated_at > global.updated_at);
    let cleared = store
        .update_remote_credentials(anonymous.id, None, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.username, None);
    assert!(
        store
            .update_remote_credentials(-5, None, None)
            .await
            .unwrap()
            .is_none()
    );

    // Proxies: a prefix each; one using the global entry makes it in use.
    let hub = store
        .create_proxy(&proxy("hub", Some(global.id)))
        .await
        .unwrap();
    assert_eq!(hub.prefix, "hub");
    assert_eq!(hub.remote_id, Some(global.id));
    assert_eq!((hub.mode, hub.ttl_secs), (ProxyMode::UpstreamFirst, 600));
    let err = store.create_proxy(&proxy("hub", None)).await.unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let err = store
        .create_proxy(&proxy("dangling", Some(-7)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            MetaError::NotFound {
                entity: "remote",
                ..
            }
        ),
        "{err:?}"
    );
    store
        .create_proxy(&NewProxy {
            upstream_url: "http://127.0.0.1:5001".into(),
            upstream_host: "127.0.0.1:5001".into(),
            mode: ProxyMode::LocalFirst,
            ..proxy("hub/deep", None)
        })
        .await
        .unwrap();
    assert!(
        store
            .get_remote_by_id(global.id)
            .await
            .unwrap()
            .unwrap()
            .in_use
    );
    let listed = store.list_remotes(&RemoteQuery::default()).await.unwrap();
    let in_use: Vec<bool> = listed.items.iter().map(|r| r.in_use).collect();
    assert_eq!(in_use, vec![false, true]);

    // The longest prefix serves a name; a prefix is whole components only.
    let find =
        |name: &'static str| async move { store.find_proxy(name).await.unwrap().map(|p| p.prefix) };
    assert_eq!(find("hub/library/nginx").await.as_deref(), Some("hub"));
    assert_eq!(find("hub").await.as_deref(), Some("hub"));
    assert_eq!(find("hub/deep/x").await.as_deref(), Some("hub/deep"));
    assert_eq!(find("hub/deeper/x").await.as_deref(), Some("hub"));
    assert_eq!(find("hubx/library/nginx").await, None);
    assert_eq!(find("other/x").await, None);
    let for_host = store.proxies_for_host("docker.io").await.unwrap();
    assert_eq!(for_host.len(), 1);
    assert_eq!(for_host[0].prefix, "hub");
    assert!(store.proxies_for_host("quay.io").await.unwrap().is_empty());
    let all = store.list_proxies(Page::default()).await.unwrap();
    assert_eq!(all.total, 2);
    assert_eq!(all.items[1].prefix, "hub/deep");

    let changed = store
        .update_proxy(
            "hub/deep",
            &ProxyUpdate {
                mode: Some(ProxyMode::UpstreamFirst),
                ttl_secs: Some(5),
                remote_id: Some(Some(team.id)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (changed.mode, changed.ttl_secs, changed.remote_id),
        (ProxyMode::UpstreamFirst, 5, Some(team.id))
    );
    assert_eq!(changed.upstream_url, "http://127.0.0.1:5001");
    let err = store
        .update_proxy(
            "hub/deep",
            &ProxyUpdate {
                remote_id: Some(Some(-3)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
    let anonymous_again = store
        .update_proxy(
            "hub/deep",
            &ProxyUpdate {
                remote_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(anonymous_again.remote_id, None);
    assert!(
        store
            .update_proxy("nope", &ProxyUpdate::default())
            .await
            .unwrap()
            .is_none()
    );

    // Removal: refused while in use, forced leaves the proxy anonymous.
    let err = store.delete_remote(global.id, false).await.unwrap_err();
    assert!(matches!(err, MetaError::InUse { .. }), "{err:?}");
    assert!(store.get_remote_by_id(global.id).await.unwrap().is_some());
    assert!(store.delete_remote(global.id, true).await.unwrap());
    assert!(store.get_remote_by_id(global.id).await.unwrap().is_none());
    assert_eq!(
        store.get_proxy("hub").await.unwrap().unwrap().remote_id,
        None
    );
    assert!(!store.delete_remote(global.id, true).await.unwrap());
    assert!(store.delete_remote(anonymous.id, false).await.unwrap());
    assert!(store.delete_proxy("hub/deep").await.unwrap());
    assert!(!store.delete_proxy("hub/deep").await.unwrap());
    assert!(store.get_proxy("hub/deep").await.unwrap().is_none());

    // A namespace takes its entries with it.
    assert!(
        meta.repositories
            .delete_namespace("rteam", true)
            .await
            .unwrap()
    );
    assert!(store.get_remote_by_id(team.id).await.unwrap().is_none());
    let left = store
        .list_remotes(&RemoteQuery {
            scope: RemoteScope::All,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.total, 0);
    assert!(store.delete_proxy("hub").await.unwrap());
}

/// Replicas racing to register one name: exactly one wins; a removal racing a proxy that
/// refers to the entry either refuses (in use) or wins before the proxy exists (which then
/// fails on its missing entry), never leaves a proxy on a removed entry.
pub(super) async fn replicas(metas: &[Meta]) {
    let name = "race.example/app";
    let new = remote(None, name);
    let results = join_all(
        metas
            .iter()
            .map(|m| m.remotes.create_remote(&new))
            .collect(),
    )
    .await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, MetaError::AlreadyExists { .. }), "{e:?}");
        }
    }
    let id = results.into_iter().find_map(|r| r.ok()).unwrap().id;
    for round in 0..5 {
        let prefix = format!("race{round}");
        let (a, b) = (&metas[0], &metas[1 % metas.len()]);
        let new = proxy(&prefix, Some(id));
        let (created, removed) = tokio::join!(
            a.remotes.create_proxy(&new),
            b.remotes.delete_remote(id, false)
        );
        match (&created, &removed) {
            (Ok(p), Err(MetaError::InUse { .. })) => assert_eq!(p.remote_id, Some(id)),
            (Err(MetaError::NotFound { .. }), Ok(true)) => {
                assert!(a.remotes.get_remote_by_id(id).await.unwrap().is_none());
                return;
            }
            other => panic!("round {round}: {other:?}"),
        }
        assert!(a.remotes.delete_proxy(&prefix).await.unwrap());
    }
    assert!(metas[0].remotes.delete_remote(id, false).await.unwrap());
}
