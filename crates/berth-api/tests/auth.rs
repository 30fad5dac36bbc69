//! In-process tests of authentication on `/v2` and the token endpoint: the Docker token
//! flow, Basic directly on `/v2`, personal access tokens, robots, revocation, failed logins.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use berth_api::AppState;
use berth_core::{Caller, Level};
use berth_meta::{Meta, SqliteMetaStore};
use berth_service::{AuthConfig, NamespaceSpec, ServiceConfig, Services};
use berth_storage::FsBlobStore;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_PASSWORD: &str = "admin-password-1";

struct Registry {
    app: Router,
    services: Arc<Services>,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn registry() -> Registry {
    registry_with(100).await
}

async fn registry_with(max_failures: u32) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap());
    let meta = Meta::new(Arc::new(
        SqliteMetaStore::open(&dir.path().join("berth.db"))
            .await
            .unwrap(),
    ));
    let config = ServiceConfig {
        auth: AuthConfig {
            enabled: true,
            admin_password: Some(ADMIN_PASSWORD.into()),
            max_failures,
            ..Default::default()
        },
        ..Default::default()
    };
    let services = Arc::new(Services::start(blobs, meta, config).await.unwrap());
    let app = berth_api::router(AppState::new(services.clone(), Default::default()));
    Registry {
        app,
        services,
        _dir: dir,
    }
}

impl Registry {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        auth: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "registry.test");
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let body: Bytes = body.into();
        if !body.is_empty() {
            req = req.header("content-length", body.len());
        }
        let response = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str, auth: Option<&str>) -> Reply {
        self.call(Method::GET, uri, auth, Bytes::new()).await
    }

    /// A registry token for `scope` as `auth` (None: anonymous).
    async fn token(&self, scope: &str, auth: Option<&str>) -> (String, Value) {
        let r = self
            .get(&format!("/auth/token?service=berth&scope={scope}"), auth)
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{:?}",
            String::from_utf8_lossy(&r.body)
        );
        let body = r.json();
        assert_eq!(body["token"], body["access_token"]);
        assert!(body["expires_in"].as_u64().unwrap() > 0);
        assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
        let token = body["token"].as_str().unwrap().to_owned();
        let claims = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        (format!("Bearer {token}"), claims)
    }

    /// Pushes a one-layer image as `auth`; returns the manifest PUT's status.
    async fn push(&self, repo: &str, tag: &str, auth: &str) -> StatusCode {
        let config = br#"{"architecture":"amd64","os":"linux"}"#;
        let layer = format!("layer of {repo}:{tag}");
        for blob in [&config[..], layer.as_bytes()] {
            let digest = berth_core::Digest::sha256(blob);
            let r = self
                .call(
                    Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                    Some(auth),
                    Bytes::copy_from_slice(blob),
                )
                .await;
            if r.status != StatusCode::CREATED {
                return r.status;
            }
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": berth_core::Digest::sha256(config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": berth_core::Digest::sha256(layer.as_bytes()), "size": layer.len()}],
        });
        let mut req = Request::builder()
            .method(Method::PUT)
            .uri(format!("/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .header("authorization", auth);
        req = req.header("host", "registry.test");
        let response = self
            .app
            .clone()
            .oneshot(
                req.body(Body::from(serde_json::to_vec(&manifest).unwrap()))
                    .unwrap(),
            )
            .await
            .unwrap();
        response.status()
    }
}

#[tokio::test]
async fn the_docker_token_flow() {
    let reg = registry().await;
    let admin = basic("admin", ADMIN_PASSWORD);

    // Without credentials, /v2/ says where to get them.
    let r = reg.get("/v2/", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers["www-authenticate"],
        "Bearer realm=\"http://registry.test/auth/token\",service=\"berth\""
    );
    assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED");

    // A push without a token names the scope it needs.
    let r = reg
        .call(
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            None,
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with(",scope=\"repository:team/app:pull,push\""),
        "{:?}",
        r.headers
    );

    // The administrator's token holds what was asked; an anonymous one nothing private.
    let (token, claims) = reg
        .token("repository:team/app:pull,push", Some(&admin))
        .await;
    assert_eq!(claims["sub"], "admin");
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}])
    );
    assert_eq!(reg.get("/v2/", Some(&token)).await.status, StatusCode::OK);
    assert_eq!(
        reg.push("team/app", "v1", &token).await,
        StatusCode::CREATED
    );
    // The token is for team/app only.
    assert_eq!(
        reg.push("team/other", "v1", &token).await,
        StatusCode::FORBIDDEN
    );

    let (anonymous, claims) = reg.token("repository:team/app:pull", None).await;
    assert_eq!(claims["sub"], "");
    assert_eq!(claims["access"], json!([]));
    assert_eq!(
        reg.get("/v2/", Some(&anonymous)).await.status,
        StatusCode::OK
    );
    // An anonymous token without the scope: a login would help.
    let r = reg.get("/v2/team/app/manifests/v1", Some(&anonymous)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.json());
    // A user's token without it: renew it with the scope the challenge names.
    let (pull_only, _) = reg.token("repository:team/app:pull", Some(&admin)).await;
    let r = reg
        .call(
            Method::DELETE,
            "/v2/team/app/manifests/v1",
            Some(&pull_only),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json());
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with("scope=\"repository:team/app:delete\",error=\"insufficient_scope\""),
        "{:?}",
        r.headers
    );

    // Once the namespace is public, anonymous pulls work, with a token or without.
    reg.services
        .repositories
        .update_namespace(
            &Caller::admin("admin"),
            "team",
            &berth_service::NamespaceUpdate {
                is_public: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (anonymous, claims) = reg.token("repository:team/app:pull,push", None).await;
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "team/app", "actions": ["pull"]}])
    );
    let r = reg.get("/v2/team/app/manifests/v1", Some(&anonymous)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?} {:?}", r.json(), r.headers);
    assert_eq!(
        reg.get("/v2/team/app/manifests/v1", None).await.status,
        StatusCode::OK
    );
    // But not pushes.
    assert_eq!(
        reg.push("team/app", "v2", &anonymous).await,
        StatusCode::UNAUTHORIZED
    );

    // Basic straight to /v2 works too; a forged token does not.
    assert_eq!(
        reg.push("team/app", "v3", &admin).await,
        StatusCode::CREATED
    );
    let forged = format!("{}x", token);
    assert_eq!(
        reg.get("/v2/", Some(&forged)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The OAuth2 form of the token request.
    let r = reg
        .call(
            Method::POST,
            "/auth/token",
            None,
            format!("grant_type=password&username=admin&password={ADMIN_PASSWORD}&service=berth&scope=repository:team/app:pull"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["access_token"].is_string());
}

#[tokio::test]
async fn members_tokens_robots_and_revocation() {
    let reg = registry().await;
    let admin_caller = Caller::admin("admin");
    let auth = &reg.services.auth;
    auth.create_user(&admin_caller, "alice", "alice-password", false)
        .await
        .unwrap();
    auth.create_user(&admin_caller, "bob", "bob-password-1", false)
        .await
        .unwrap();
    reg.services
        .repositories
        .create_namespace(
            &admin_caller,
            &NamespaceSpec {
                name: "team".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    reg.services
        .repositories
        .put_member(&admin_caller, "team", "alice", Level::Write)
        .await
        .unwrap();
    let alice = basic("alice", "alice-password");
    let bob = basic("bob", "bob-password-1");

    assert_eq!(
        reg.push("team/app", "v1", &alice).await,
        StatusCode::CREATED
    );
    // A stranger may not even see it: as if it did not exist.
    let r = reg.get("/v2/team/app/manifests/v1", Some(&bob)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json());
    assert_eq!(
        reg.push("team/app", "v2", &bob).await,
        StatusCode::NOT_FOUND
    );
    // A writer may not delete.
    let r = reg
        .call(
            Method::DELETE,
            "/v2/team/app/manifests/v1",
            Some(&alice),
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The catalog shows what the caller may see.
    let catalog = reg.get("/v2/_catalog", Some(&alice)).await.json();
    assert_eq!(catalog["repositories"], json!(["team/app"]));
    let catalog = reg.get("/v2/_catalog", Some(&bob)).await.json();
    assert_eq!(catalog["repositories"], json!([]));

    // A personal access token, as Basic password and as Bearer.
    let alice_caller = Caller::user("alice");
    let token = auth
        .create_token(&alice_caller, "ci", None, None)
        .await
        .unwrap();
    assert!(token.secret.starts_with("bth_"));
    let as_basic = basic("alice", &token.secret);
    let as_bearer = format!("Bearer {}", token.secret);
    assert_eq!(
        reg.push("team/app", "v2", &as_basic).await,
        StatusCode::CREATED
    );
    assert_eq!(
        reg.get("/v2/team/app/manifests/v2", Some(&as_bearer))
            .await
            .status,
        StatusCode::OK
    );
    // A registry token issued for it ends with it.
    let (jwt, _) = reg.token("repository:team/app:pull", Some(&as_basic)).await;
    assert_eq!(
        reg.get("/v2/team/app/manifests/v2", Some(&jwt))
            .await
            .status,
        StatusCode::OK
    );
    auth.revoke_credential(&alice_caller, &token.record.id)
        .await
        .unwrap();
    for (what, credential) in [("basic", &as_basic), ("bearer", &as_bearer), ("jwt", &jwt)] {
        let r = reg.get("/v2/team/app/manifests/v2", Some(credential)).await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{what} after revocation"
        );
    }
    // A token limited to read.
    let reader = auth
        .create_token(
            &alice_caller,
            "read",
            Some(("team".parse().unwrap(), Level::Read)),
            None,
        )
        .await
        .unwrap();
    let reader = basic("alice", &reader.secret);
    assert_eq!(
        reg.get("/v2/team/app/manifests/v2", Some(&reader))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        reg.push("team/app", "v3", &reader).await,
        StatusCode::FORBIDDEN
    );
    // An expired one.
    let expired = auth
        .create_token(
            &alice_caller,
            "old",
            None,
            Some(std::time::Duration::from_millis(1)),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let r = reg
        .get(
            "/v2/team/app/manifests/v2",
            Some(&basic("alice", &expired.secret)),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A robot of the namespace: its level there, nothing elsewhere.
    let robot = auth
        .create_robot(&admin_caller, "team", "ci", Level::Write, None)
        .await
        .unwrap();
    assert_eq!(robot.record.name, "robot$team+ci");
    let robot = basic("robot$team+ci", &robot.secret);
    assert_eq!(
        reg.push("team/app", "robot", &robot).await,
        StatusCode::CREATED
    );
    assert_eq!(
        reg.push("other/app", "robot", &robot).await,
        StatusCode::FORBIDDEN
    );

    // A password change ends the old password at once.
    auth.update_user(
        &alice_caller,
        "alice",
        &berth_service::UserChange {
            password: Some("alice-new-password".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        reg.get("/v2/", Some(&alice)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        reg.get("/v2/", Some(&basic("alice", "alice-new-password")))
            .await
            .status,
        StatusCode::OK
    );

    // The audit log saw it all.
    reg.services.audit.flush().await.unwrap();
    let log = reg
        .services
        .audit
        .list(&admin_caller, true, &Default::default())
        .await
        .unwrap();
    let actions: Vec<&str> = log.items.iter().map(|r| r.entry.action.as_str()).collect();
    for expected in [
        "push",
        "token.create",
        "token.revoke",
        "robot.create",
        "user.update",
        "member.put",
        "login",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(!format!("{log:?}").contains("alice-new-password"));
}

#[tokio::test]
async fn failed_logins_are_limited_and_say_nothing_about_who_exists() {
    let reg = registry_with(3).await;
    for (user, _) in [("admin", ()), ("nobody", ())] {
        for _ in 0..3 {
            let r = reg.get("/v2/", Some(&basic(user, "wrong-password"))).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}: {:?}", r.json());
            assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED");
        }
        // Locked for a while now, even with the right password.
        let r = reg.get("/v2/", Some(&basic(user, ADMIN_PASSWORD))).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{user}");
    }
    let r = reg
        .get("/auth/token?service=berth", Some(&basic("x", "y")))
        .await;
    assert!(matches!(
        r.status,
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
    ));
}
