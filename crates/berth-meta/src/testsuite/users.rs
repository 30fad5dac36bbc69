//! Users, credentials, settings and the audit log.

use berth_core::Level;

use super::join_all;
use crate::{
    AuditEntry, AuditQuery, CredentialKind, Meta, MetaError, NewCredential, NewUser, Page,
    UserKind, UserUpdate, now_ms,
};

fn user(name: &str) -> NewUser {
    NewUser {
        name: name.into(),
        password_hash: Some(format!("hash-of-{name}")),
        admin: false,
        kind: UserKind::User,
        robot: None,
        expires_at: None,
    }
}

fn credential(id: &str, user_id: i64, kind: CredentialKind) -> NewCredential {
    NewCredential {
        id: id.into(),
        user_id,
        kind,
        name: format!("name of {id}"),
        secret_hash: Some(format!("sha of {id}")),
        secret_sealed: None,
        limit: None,
        expires_at: None,
    }
}

pub(super) async fn run(meta: &Meta) {
    let store = &*meta.users;
    let alice = store.create_user(&user("alice")).await.unwrap();
    assert_eq!(alice.name, "alice");
    assert_eq!(alice.password_hash.as_deref(), Some("hash-of-alice"));
    assert!(!alice.admin && !alice.disabled);
    let err = store.create_user(&user("alice")).await.unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let robot = store
        .create_user(&NewUser {
            name: "robot$team+ci".into(),
            password_hash: None,
            admin: false,
            kind: UserKind::Robot,
            robot: Some(("team".into(), Level::Write)),
            expires_at: Some(now_ms() + 60_000),
        })
        .await
        .unwrap();
    assert_eq!(robot.robot, Some(("team".into(), Level::Write)));
    store.create_user(&user("bob")).await.unwrap();
    let all = store.list_users(None, Page::default()).await.unwrap();
    assert_eq!(all.total, 3);
    let robots = store
        .list_users(Some(UserKind::Robot), Page::default())
        .await
        .unwrap();
    assert_eq!(robots.items.len(), 1);
    let page = store
        .list_users(
            None,
            Page {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((page.total, page.items[0].name.as_str()), (3, "bob"));

    // A new password ends earlier logins; making someone admin does not, unmaking does.
    let before = alice.credentials_changed_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let promoted = store
        .update_user(
            "alice",
            &UserUpdate {
                admin: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(promoted.admin);
    assert_eq!(promoted.credentials_changed_at, before);
    // Taking it away does end them (the user must not stay an administrator anywhere).
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let demoted = store
        .update_user(
            "alice",
            &UserUpdate {
                admin: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!demoted.admin);
    assert!(demoted.credentials_changed_at > before);
    let before = demoted.credentials_changed_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let since = now_ms();
    let changed = store
        .update_user(
            "alice",
            &UserUpdate {
                password_hash: Some("new".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(changed.credentials_changed_at > before);
    assert_eq!(changed.password_hash.as_deref(), Some("new"));
    assert!(
        store
            .update_user("nobody", &UserUpdate::default())
            .await
            .unwrap()
            .is_none()
    );

    // Credentials.
    let token = store
        .create_credential(&NewCredential {
            limit: Some(("team".into(), Level::Read)),
            expires_at: Some(now_ms() + 1000),
            ..credential("tok1", alice.id, CredentialKind::Token)
        })
        .await
        .unwrap();
    assert_eq!(token.user_name, "alice");
    assert_eq!(token.limit, Some(("team".into(), Level::Read)));
    let key = store
        .create_credential(&NewCredential {
            secret_hash: None,
            secret_sealed: Some(vec![1, 2, 3]),
            ..credential("AKEXAMPLE", alice.id, CredentialKind::AccessKey)
        })
        .await
        .unwrap();
    assert_eq!(key.secret_sealed.as_deref(), Some(&[1u8, 2, 3][..]));
    let err = store
        .create_credential(&credential("tok1", alice.id, CredentialKind::Token))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let err = store
        .create_credential(&credential("orphan", i64::MAX, CredentialKind::Token))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
    assert_eq!(store.list_credentials(alice.id).await.unwrap().len(), 2);
    store.touch_credential("tok1", 42).await.unwrap();
    assert_eq!(
        store
            .get_credential("tok1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(42)
    );
    let at = now_ms();
    assert!(store.revoke_credential("tok1", at).await.unwrap());
    assert!(!store.revoke_credential("tok1", at + 5).await.unwrap());
    assert_eq!(
        store
            .get_credential("tok1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at)
    );
    let changes = store.credential_changes(since).await.unwrap();
    assert_eq!(changes.revoked, ["tok1"]);
    assert_eq!(changes.users.len(), 1);
    assert_eq!(changes.users[0].0, "alice");

    // Deleting a user takes its credentials.
    assert!(store.delete_user("alice").await.unwrap());
    assert!(!store.delete_user("alice").await.unwrap());
    assert!(store.get_credential("AKEXAMPLE").await.unwrap().is_none());

    // Settings: the first value wins, also when replicas race.
    let values: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 4]).collect();
    let settings = values
        .iter()
        .map(|v| store.setting_or_insert("suite-key", v))
        .collect();
    let got: Vec<Vec<u8>> = join_all(settings)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert!(got.iter().all(|v| *v == got[0]));
    assert_eq!(
        store.setting_or_insert("suite-key", b"x").await.unwrap(),
        got[0]
    );

    audit(meta).await;
}

async fn audit(meta: &Meta) {
    let store = &*meta.audit;
    let entry = |at: i64, actor: &str, action: &str, resource: &str| AuditEntry {
        at,
        actor: actor.into(),
        action: action.into(),
        resource: resource.into(),
        source: "127.0.0.1".into(),
        result: "ok".into(),
        detail: String::new(),
    };
    store
        .append_audit(&[
            entry(1, "alice", "login", "registry"),
            entry(2, "alice", "push", "team/app:v1"),
            entry(3, "bob", "delete", "team/app:v1"),
            entry(4, "bob", "push", "other/x:1"),
        ])
        .await
        .unwrap();
    store.append_audit(&[]).await.unwrap();
    let all = store.list_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(all.items[0].entry.at, 4, "newest first");
    let bob = store
        .list_audit(&AuditQuery {
            actor: Some("bob".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(bob.total, 2);
    let pushes_to_team = store
        .list_audit(&AuditQuery {
            action: Some("push".into()),
            resource: Some("team/".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(pushes_to_team.items.len(), 1);
    let window = store
        .list_audit(&AuditQuery {
            since: Some(2),
            until: Some(4),
            page: Page {
                offset: 1,
                limit: 1,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((window.total, window.items[0].entry.at), (2, 2));
}
