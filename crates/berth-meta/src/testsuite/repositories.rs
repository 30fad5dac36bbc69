//! Namespaces, members and repositories.

use berth_core::{Digest, Level};

use super::{join_all, manifest, repo, tag};
use crate::{
    Direction, Meta, MetaError, NamespaceQuery, NamespaceUpdate, NewNamespace, NewRepository, Page,
    RepoKind, RepositoryOrder, RepositoryQuery, RepositoryUpdate, Visibility,
};

fn namespace(name: &str, is_public: bool) -> NewNamespace {
    NewNamespace {
        name: name.into(),
        description: format!("about {name}"),
        is_public,
        creator: "alice".into(),
    }
}

pub(super) async fn run(meta: &Meta) {
    namespaces_and_members(meta).await;
    repositories(meta).await;
    visibility(meta).await;
    repository_members(meta).await;
    deletes(meta).await;
}

async fn namespaces_and_members(meta: &Meta) {
    let store = &*meta.repositories;
    let created = store
        .create_namespace(&namespace("nsone", false))
        .await
        .unwrap();
    assert_eq!(
        (created.name.as_str(), created.description.as_str()),
        ("nsone", "about nsone")
    );
    assert!(!created.is_public);
    assert_eq!(created.creator, "alice");
    assert_eq!(created.num_repositories, 0);
    let err = store
        .create_namespace(&namespace("nsone", true))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(
        store.get_namespace("nsone").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.get_namespace("nsnone").await.unwrap(), None);

    let updated = store
        .update_namespace(
            "nsone",
            &NamespaceUpdate {
                description: Some("new".into()),
                is_public: None,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.description, "new");
    assert!(!updated.is_public);
    assert!(updated.updated_at >= created.updated_at);
    assert!(
        store
            .update_namespace("nsnone", &NamespaceUpdate::default())
            .await
            .unwrap()
            .is_none()
    );

    store
        .put_member(created.id, "bob", Level::Read)
        .await
        .unwrap();
    store
        .put_member(created.id, "bob", Level::Write)
        .await
        .unwrap();
    store
        .put_member(created.id, "carol", Level::Manage)
        .await
        .unwrap();
    assert_eq!(
        store.member_level(created.id, "bob").await.unwrap(),
        Some(Level::Write)
    );
    assert_eq!(store.member_level(created.id, "dave").await.unwrap(), None);
    let other = store
        .create_namespace(&namespace("nsother", false))
        .await
        .unwrap();
    store
        .put_member(other.id, "bob", Level::Read)
        .await
        .unwrap();
    let mut levels = store.member_levels("bob").await.unwrap();
    levels.sort();
    assert_eq!(
        levels,
        [(created.id, Level::Write), (other.id, Level::Read)]
    );
    assert_eq!(store.member_levels("dave").await.unwrap(), []);
    assert!(store.delete_namespace("nsother", false).await.unwrap());
    assert_eq!(
        store.member_levels("bob").await.unwrap(),
        [(created.id, Level::Write)]
    );
    let members = store.list_members(created.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.username.as_str(), m.level))
            .collect::<Vec<_>>(),
        [("bob", Level::Write), ("carol", Level::Manage)]
    );
    assert!(store.delete_member(created.id, "bob").await.unwrap());
    assert!(!store.delete_member(created.id, "bob").await.unwrap());

    for name in ["nstwo", "nsthree", "other"] {
        store
            .create_namespace(&namespace(name, name == "nstwo"))
            .await
            .unwrap();
    }
    let q = |search: &str| NamespaceQuery {
        search: Some(search.into()),
        ..Default::default()
    };
    let found = store.list_namespaces(&q("NS")).await.unwrap();
    assert_eq!(found.total, 3);
    assert_eq!(
        found
            .items
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        ["nsone", "nsthree", "nstwo"]
    );
    let exact = store
        .list_namespaces(&NamespaceQuery {
            name: Some("nstwo".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 1);
    let page = store
        .list_namespaces(&NamespaceQuery {
            search: Some("ns".into()),
            page: Page {
                offset: 1,
                limit: 1,
            },
            direction: Direction::Desc,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.total, page.items[0].name.as_str()), (3, "nsthree"));
    // Visibility: a stranger sees the public one, a member also theirs.
    let as_user = |member: Option<&str>| NamespaceQuery {
        search: Some("ns".into()),
        visibility: Visibility::PublicOr {
            member: member.map(str::to_owned),
            namespace: None,
        },
        ..Default::default()
    };
    let seen = store.list_namespaces(&as_user(None)).await.unwrap();
    assert_eq!((seen.total, seen.items[0].name.as_str()), (1, "nstwo"));
    let seen = store
        .list_namespaces(&as_user(Some("carol")))
        .await
        .unwrap();
    assert_eq!(seen.total, 2);
}

async fn repositories(meta: &Meta) {
    let store = &*meta.repositories;
    let mut new = NewRepository::hosted(repo("nsone/team/app"), "alice");
    new.category = "linux".into();
    new.description = "the app".into();
    let created = store.create_repository(&new).await.unwrap();
    assert_eq!(created.name.as_str(), "nsone/team/app");
    assert_eq!(created.namespace, "nsone");
    assert_eq!(created.kind, RepoKind::Hosted);
    assert_eq!(
        (created.category.as_str(), created.is_public),
        ("linux", None)
    );
    assert!(!created.effective_public());
    assert_eq!(created.creator, "alice");
    assert_eq!(
        (created.size, created.num_tags, created.num_downloads),
        (0, 0, 0)
    );
    let err = store.create_repository(&new).await.unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let orphan = NewRepository::hosted(repo("nowhere/app"), "alice");
    let err = store.create_repository(&orphan).await.unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
    let err = store.ensure_repository(&orphan, None).await.unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
    assert_eq!(
        store
            .get_namespace("nsone")
            .await
            .unwrap()
            .unwrap()
            .num_repositories,
        1
    );

    // Create-on-push: idempotent, racing, with its namespace.
    let pushed = NewRepository::hosted(repo("pushed/app"), "bob");
    let ns = namespace("pushed", false);
    let ensures = (0..8)
        .map(|_| store.ensure_repository(&pushed, Some(&ns)))
        .collect();
    let ids: Vec<_> = join_all(ensures)
        .await
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(
        store
            .get_namespace("pushed")
            .await
            .unwrap()
            .unwrap()
            .num_repositories,
        1
    );

    let updated = store
        .update_repository(
            &created.name,
            &RepositoryUpdate {
                description: Some("changed".into()),
                is_public: Some(Some(true)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.description.as_str(), updated.category.as_str()),
        ("changed", "linux")
    );
    assert!(updated.effective_public());
    let back = store
        .update_repository(
            &created.name,
            &RepositoryUpdate {
                is_public: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.is_public, None);
    assert!(
        store
            .update_repository(&repo("nsone/none"), &RepositoryUpdate::default())
            .await
            .unwrap()
            .is_none()
    );

    for name in ["nsone/b", "nsone/a", "nsone/team/web", "nstwo/x"] {
        store
            .create_repository(&NewRepository::hosted(repo(name), "alice"))
            .await
            .unwrap();
    }
    let q = |f: fn(&mut RepositoryQuery)| {
        let mut q = RepositoryQuery::default();
        f(&mut q);
        q
    };
    let names = |listed: crate::Listed<crate::RepositoryRow>| {
        listed
            .items
            .into_iter()
            .map(|r| r.name.to_string())
            .collect::<Vec<_>>()
    };
    let in_ns = store
        .list_repositories(&q(|q| q.namespace = Some("nsone".into())))
        .await
        .unwrap();
    assert_eq!(in_ns.total, 4);
    assert_eq!(
        names(in_ns),
        ["nsone/a", "nsone/b", "nsone/team/app", "nsone/team/web"]
    );
    let prefixed = store
        .list_repositories(&q(|q| q.prefix = Some("nsone/team/".into())))
        .await
        .unwrap();
    assert_eq!(names(prefixed), ["nsone/team/app", "nsone/team/web"]);
    let searched = store
        .list_repositories(&q(|q| q.search = Some("TEAM/W".into())))
        .await
        .unwrap();
    assert_eq!(names(searched), ["nsone/team/web"]);
    // The name inside the namespace: `ns` is in every full name, in none of these.
    let inside = store
        .list_repositories(&q(|q| q.name_search = Some("ns".into())))
        .await
        .unwrap();
    assert!(inside.items.is_empty(), "{inside:?}");
    let inside = store
        .list_repositories(&q(|q| {
            q.namespace = Some("nsone".into());
            q.name_search = Some("TEAM".into());
        }))
        .await
        .unwrap();
    assert_eq!(names(inside), ["nsone/team/app", "nsone/team/web"]);
    let by_category = store
        .list_repositories(&q(|q| q.category = Some("linux".into())))
        .await
        .unwrap();
    assert_eq!(names(by_category), ["nsone/team/app"]);
    let paged = store
        .list_repositories(&q(|q| {
            q.namespace = Some("nsone".into());
            q.order = RepositoryOrder::Name;
            q.direction = Direction::Desc;
            q.page = Page {
                offset: 1,
                limit: 2,
            };
        }))
        .await
        .unwrap();
    assert_eq!(paged.total, 4);
    assert_eq!(names(paged), ["nsone/team/app", "nsone/b"]);
    let empty = store
        .list_repositories(&q(|q| q.with_manifests = true))
        .await
        .unwrap();
    assert!(empty.items.iter().all(|r| r.num_manifests > 0), "{empty:?}");
}

async fn visibility(meta: &Meta) {
    let store = &*meta.repositories;
    // nsone is private (members: carol), nstwo is public; nsone/team/app made public.
    store
        .update_repository(
            &repo("nsone/team/app"),
            &RepositoryUpdate {
                is_public: Some(Some(true)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .update_repository(
            &repo("nstwo/x"),
            &RepositoryUpdate {
                is_public: Some(Some(false)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let seen = |member: Option<&str>| RepositoryQuery {
        search: Some("ns".into()),
        visibility: Visibility::PublicOr {
            member: member.map(str::to_owned),
            namespace: None,
        },
        ..Default::default()
    };
    let stranger = store.list_repositories(&seen(None)).await.unwrap();
    assert_eq!(
        stranger
            .items
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["nsone/team/app"]
    );
    assert_eq!(stranger.total, 1);
    let carol = store.list_repositories(&seen(Some("carol"))).await.unwrap();
    assert_eq!(carol.total, 4);
    // Filtering by effective visibility: the repository's own setting, else its namespace's.
    let by_visibility = |public| RepositoryQuery {
        search: Some("ns".into()),
        is_public: Some(public),
        ..Default::default()
    };
    let public = store.list_repositories(&by_visibility(true)).await.unwrap();
    let private = store
        .list_repositories(&by_visibility(false))
        .await
        .unwrap();
    let all = store
        .list_repositories(&RepositoryQuery {
            search: Some("ns".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(public.items.iter().all(|r| r.effective_public()));
    assert!(private.items.iter().all(|r| !r.effective_public()));
    assert!(
        public
            .items
            .iter()
            .any(|r| r.name.as_str() == "nsone/team/app")
    );
    assert!(private.items.iter().any(|r| r.name.as_str() == "nstwo/x"));
    assert_eq!(public.total + private.total, all.total);
    // A private namespace with a public repository shows in a stranger's namespace list.
    let namespaces = store
        .list_namespaces(&NamespaceQuery {
            search: Some("ns".into()),
            visibility: Visibility::PublicOr {
                member: None,
                namespace: None,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(namespaces.total, 2);
}

/// Members of one repository: their own rows, what listings show them, and that they go
/// with the repository.
async fn repository_members(meta: &Meta) {
    let store = &*meta.repositories;
    let app = store
        .ensure_repository(
            &NewRepository::hosted(repo("rmembers/app"), "alice"),
            Some(&namespace("rmembers", false)),
        )
        .await
        .unwrap();
    let other = store
        .create_repository(&NewRepository::hosted(repo("rmembers/other"), "alice"))
        .await
        .unwrap();
    assert!(
        store
            .list_repository_members(app.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.repository_member_level(app.id, "erin").await.unwrap(),
        None
    );
    store
        .put_repository_member(app.id, "erin", Level::Read)
        .await
        .unwrap();
    store
        .put_repository_member(app.id, "erin", Level::Manage)
        .await
        .unwrap();
    store
        .put_repository_member(app.id, "frank", Level::Write)
        .await
        .unwrap();
    let members = store.list_repository_members(app.id).await.unwrap();
    assert_eq!(
        members
            .iter()
            .map(|m| (m.username.as_str(), m.level))
            .collect::<Vec<_>>(),
        [("erin", Level::Manage), ("frank", Level::Write)]
    );
    assert!(members.iter().all(|m| m.created_at > 0));
    assert_eq!(
        store.repository_member_level(app.id, "erin").await.unwrap(),
        Some(Level::Manage)
    );
    // A repository member is no namespace member, nor a member of the next repository.
    assert_eq!(
        store.member_level(app.namespace_id, "erin").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .repository_member_level(other.id, "erin")
            .await
            .unwrap(),
        None
    );

    // Listings show a private repository to its members, and its namespace with it.
    let for_user = |member: &str| Visibility::PublicOr {
        member: Some(member.to_owned()),
        namespace: None,
    };
    let seen = store
        .list_repositories(&RepositoryQuery {
            namespace: Some("rmembers".into()),
            visibility: for_user("erin"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        seen.items
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["rmembers/app"]
    );
    assert_eq!(seen.total, 1);
    let stranger = store
        .list_repositories(&RepositoryQuery {
            namespace: Some("rmembers".into()),
            visibility: for_user("gina"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stranger.total, 0);
    let namespaces = |member: &str| NamespaceQuery {
        name: Some("rmembers".into()),
        visibility: for_user(member),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_namespaces(&namespaces("erin"))
            .await
            .unwrap()
            .total,
        1
    );
    assert_eq!(
        store
            .list_namespaces(&namespaces("gina"))
            .await
            .unwrap()
            .total,
        0
    );

    assert!(
        store
            .delete_repository_member(app.id, "frank")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_repository_member(app.id, "frank")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_repository_member(other.id, "erin")
            .await
            .unwrap()
    );
    // Deleting the repository takes its members; a member of a repository gone is refused.
    assert!(store.delete_repository(&app.name).await.unwrap());
    assert!(
        store
            .list_repository_members(app.id)
            .await
            .unwrap()
            .is_empty()
    );
    let err = store
        .put_repository_member(app.id, "erin", Level::Read)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
    assert!(store.delete_namespace("rmembers", true).await.unwrap());
}

async fn deletes(meta: &Meta) {
    let store = &*meta.repositories;
    let r = store
        .ensure_repository(
            &NewRepository::hosted(repo("doomed/app"), "alice"),
            Some(&namespace("doomed", false)),
        )
        .await
        .unwrap();
    let config = Digest::sha256(b"doomed-config");
    meta.artifacts.link_blob(r.id, &config, 4).await.unwrap();
    let m = manifest("doomed-manifest", &[(&config, 4)], None);
    meta.artifacts
        .put_manifest(r.id, &m, &[tag("v1")])
        .await
        .unwrap();
    let err = store.delete_namespace("doomed", false).await.unwrap_err();
    assert!(matches!(err, MetaError::NamespaceNotEmpty(_)), "{err:?}");
    assert!(store.delete_repository(&r.name).await.unwrap());
    assert!(!store.delete_repository(&r.name).await.unwrap());
    // The repository's manifests went with it; its blob stays for GC.
    assert_eq!(
        meta.artifacts
            .get_manifest(r.id, &berth_core::Reference::Digest(m.digest.clone()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(meta.artifacts.blob_size(&config).await.unwrap(), Some(4));
    assert!(store.delete_namespace("doomed", false).await.unwrap());
    assert!(!store.delete_namespace("doomed", false).await.unwrap());

    // Forced: repositories, manifests, tags and members go with the namespace.
    let r = store
        .ensure_repository(
            &NewRepository::hosted(repo("forced/app"), "alice"),
            Some(&namespace("forced", false)),
        )
        .await
        .unwrap();
    meta.artifacts.link_blob(r.id, &config, 4).await.unwrap();
    meta.artifacts
        .put_manifest(r.id, &m, &[tag("v1")])
        .await
        .unwrap();
    store
        .put_member(r.namespace_id, "bob", Level::Read)
        .await
        .unwrap();
    assert!(store.delete_namespace("forced", true).await.unwrap());
    assert_eq!(store.get_repository(&r.name).await.unwrap(), None);
    assert!(store.list_members(r.namespace_id).await.unwrap().is_empty());
    // A push into a repository deleted meanwhile is refused.
    let err = meta
        .artifacts
        .put_manifest(r.id, &m, &[tag("v1")])
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
}

/// Replicas creating the same repository and namespace on first push, all at once.
pub(super) async fn replicas(metas: &[Meta]) {
    let pushed = NewRepository::hosted(repo("replicas/push"), "bob");
    let ns = namespace("replicas", false);
    let ensures = (0..8)
        .map(|i| {
            metas[i % metas.len()]
                .repositories
                .ensure_repository(&pushed, Some(&ns))
        })
        .collect();
    let ids: Vec<_> = join_all(ensures)
        .await
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let listed = metas[1]
        .repositories
        .list_repositories(&RepositoryQuery {
            namespace: Some("replicas".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.total, 1);
}

/// Repository search finds a substring anywhere in the name, in any case, with the term's
/// wildcards taken literally, also for terms too short for a trigram index. Idempotent, so
/// that it can run again on the same database (with and without that index).
pub async fn search_repositories(meta: &Meta) {
    let store = &*meta.repositories;
    let ns = namespace("searchns", false);
    for name in [
        "searchns/team/web",
        "searchns/team/web-api",
        "searchns/axb",
        "searchns/a_b",
        "searchns/other",
    ] {
        store
            .ensure_repository(&NewRepository::hosted(repo(name), "alice"), Some(&ns))
            .await
            .unwrap();
    }
    let search = |term: &'static str| async move {
        let q = RepositoryQuery {
            namespace: Some("searchns".into()),
            search: Some(term.into()),
            ..Default::default()
        };
        let listed = store.list_repositories(&q).await.unwrap();
        let names: Vec<String> = listed.items.iter().map(|r| r.name.to_string()).collect();
        (names, listed.total)
    };
    let web = (
        vec![
            "searchns/team/web".to_owned(),
            "searchns/team/web-api".to_owned(),
        ],
        2,
    );
    assert_eq!(search("web").await, web);
    assert_eq!(search("TEAM/WE").await, web);
    assert_eq!(search("m/w").await, web);
    assert_eq!(search("a_b").await, (vec!["searchns/a_b".to_owned()], 1));
    assert_eq!(
        search("b-a").await,
        (vec!["searchns/team/web-api".to_owned()], 1)
    );
    assert_eq!(search("nothing-like-it").await, (vec![], 0));
}
