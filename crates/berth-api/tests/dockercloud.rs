//! In-process tests of Docker Cloud's external repositories (`/api/repo/v1/...`) through the
//! real router, with authentication on, against a real upstream: a second berth (its Docker
//! token flow) serving on a 127.0.0.1 port. Every case runs on the embedded configuration
//! and on PostgreSQL + S3.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use base64::Engine;
use berth_api::AppState;
use berth_core::{Caller, Level};
use berth_meta::{Meta, PostgresMetaStore, RemoteScope, SqliteMetaStore};
use berth_remote::policy::AddressPolicy;
use berth_remote::{ClientConfig, RemoteClient};
use berth_service::{
    AuditQuery, AuthConfig, NamespaceSpec, ProxyMode, ProxySpec, RemotesConfig, ServiceConfig,
    Services,
};
use berth_storage::{BlobStore, FsBlobStore, S3BlobStore};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN_PASSWORD: &str = "berth-admin-pw";
const UPSTREAM_USER: &str = "admin";
const UPSTREAM_PASSWORD: &str = "upstream-admin-pw";
const KEY: [u8; 32] = [7; 32];

/// A berth with authentication on, serving on a real port: the upstream.
struct Upstream {
    host: String,
    _dir: tempfile::TempDir,
}

async fn upstream() -> Upstream {
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
            admin_password: Some(UPSTREAM_PASSWORD.into()),
            max_failures: 1000,
            ..Default::default()
        },
        ..Default::default()
    };
    let services = Arc::new(Services::start(blobs, meta, config).await.unwrap());
    let app = berth_api::router(AppState::new(services, Default::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Upstream { host, _dir: dir }
}

struct TestRegistry {
    app: Router,
    services: Arc<Services>,
    meta: Meta,
    upstream: Upstream,
    _dir: Option<tempfile::TempDir>,
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    #[track_caller]
    fn ok(&self, status: StatusCode) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        if status == StatusCode::NO_CONTENT {
            assert!(self.body.is_empty());
            return Value::Null;
        }
        self.json()
    }

    /// Asserts a Docker Cloud error and returns its message.
    #[track_caller]
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {body}"))
            .to_owned()
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn client(first_byte: Duration) -> Arc<RemoteClient> {
    Arc::new(
        RemoteClient::new(ClientConfig {
            policy: AddressPolicy {
                allow: vec!["127.0.0.0/8".parse().unwrap()],
                ..AddressPolicy::default()
            },
            connect_timeout: Duration::from_secs(2),
            first_byte_timeout: first_byte,
            idle_timeout: first_byte,
            request_timeout: Duration::from_secs(10),
            ..ClientConfig::default()
        })
        .unwrap(),
    )
}

async fn build(
    blobs: Arc<dyn BlobStore>,
    meta: Meta,
    dir: Option<tempfile::TempDir>,
) -> TestRegistry {
    let config = ServiceConfig {
        auth: AuthConfig {
            enabled: true,
            admin_password: Some(ADMIN_PASSWORD.into()),
            sealing_key: Some(KEY),
            max_failures: 1000,
            ..Default::default()
        },
        remotes: RemotesConfig {
            upstream: Some(client(Duration::from_millis(1500))),
            insecure_registries: vec!["127.0.0.1".into()],
        },
        ..Default::default()
    };
    let services = Arc::new(Services::start(blobs, meta.clone(), config).await.unwrap());
    let app = berth_api::router(AppState::new(services.clone(), Default::default()));
    TestRegistry {
        app,
        services,
        meta,
        upstream: upstream().await,
        _dir: dir,
    }
}

async fn embedded() -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap());
    let meta = Meta::new(Arc::new(
        SqliteMetaStore::open(&dir.path().join("berth.db"))
            .await
            .unwrap(),
    ));
    build(blobs, meta, Some(dir)).await
}

async fn scale_out<F, Fut>(test: &'static str, case: F)
where
    F: FnOnce(TestRegistry) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(s3) = berth_storage::testing::s3_config(test) else {
        return;
    };
    berth_meta::testing::with_fresh_database(test, move |url| async move {
        let blobs = Arc::new(S3BlobStore::new(&s3).unwrap());
        let meta = Meta::new(Arc::new(PostgresMetaStore::connect(&url, 8).await.unwrap()));
        case(build(blobs, meta, None).await).await;
    })
    .await;
}

macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::embedded().await).await;
                }
            )*
        }
        mod scale_out {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::scale_out(stringify!($case), super::$case).await;
                }
            )*
        }
    };
}

on_every_backend!(
    register_fetch_update_remove,
    wrong_upstream_credentials_store_nothing,
    lists_page_and_filter,
    namespaces_and_access,
    in_use_entries_need_force,
    refused_and_slow_upstreams,
    requests_the_clients_send,
);

impl TestRegistry {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        // What the Docker Cloud clients send on every request, GET and DELETE included.
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "berth.test")
            .header("content-type", "application/json")
            .header("accept", "*/*");
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        req = req.header("content-length", body.len());
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

    fn admin(&self) -> String {
        basic("admin", ADMIN_PASSWORD)
    }

    async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, Some(&self.admin()), None).await
    }

    /// `127.0.0.1:PORT/<path>` on the upstream.
    fn name(&self, path: &str) -> String {
        format!("{}/{path}", self.upstream.host)
    }

    async fn register(&self, base: &str, name: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            base,
            Some(&self.admin()),
            Some(json!({"name": name, "username": UPSTREAM_USER, "password": password})),
        )
        .await
    }

    async fn user(&self, name: &str) -> String {
        let password = format!("{name}-password");
        self.services
            .auth
            .create_user(&Caller::admin("admin"), name, &password, false)
            .await
            .unwrap();
        basic(name, &password)
    }
}

#[track_caller]
fn check_object(o: &Value, ns: Option<&str>, name: &str, host: &str, in_use: bool) {
    let scope = ns.map(|n| format!("{n}/")).unwrap_or_default();
    assert_eq!(o["name"], name, "{o}");
    assert_eq!(o["in_use"], in_use, "{o}");
    assert_eq!(
        o["resource_uri"],
        format!("/api/repo/v1/{scope}repository/{name}/"),
        "{o}"
    );
    assert_eq!(
        o["registry"],
        format!("/api/repo/v1/{scope}registry/{host}/"),
        "{o}"
    );
    let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        4,
        "exactly name, in_use, registry, resource_uri: {o}"
    );
}

async fn register_fetch_update_remove(r: TestRegistry) {
    let name = r.name("u/img");
    let host = r.upstream.host.clone();
    let created = r
        .register("/api/repo/v1/repository/", &name, UPSTREAM_PASSWORD)
        .await
        .ok(StatusCode::CREATED);
    check_object(&created, None, &name, &host, false);
    let uri = created["resource_uri"].as_str().unwrap().to_owned();
    assert!(!created.to_string().contains(UPSTREAM_PASSWORD));

    // Fetch: with and without the trailing slash; the name unencoded or encoded.
    for path in [
        uri.clone(),
        uri.trim_end_matches('/').to_owned(),
        format!("/api/repo/v1/repository/{}/", name.replace(':', "%3A")),
    ] {
        let got = r.get(&path).await.ok(StatusCode::OK);
        check_object(&got, None, &name, &host, false);
    }
    let registry = r
        .get(created["registry"].as_str().unwrap())
        .await
        .ok(StatusCode::OK);
    assert_eq!(registry["resource_uri"], created["registry"]);
    assert_eq!(registry["host"], host);
    assert_eq!(registry["is_ssl"], false);
    r.get("/api/repo/v1/registry/other.example:5000/")
        .await
        .error(StatusCode::NOT_FOUND);

    // Credentials are sealed: the stored bytes are not the password.
    let row = r
        .meta
        .remotes
        .get_remote(&RemoteScope::Global, &name)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.password_sealed.unwrap();
    assert!(
        !sealed
            .windows(UPSTREAM_PASSWORD.len())
            .any(|w| w == UPSTREAM_PASSWORD.as_bytes())
    );
    assert_eq!(row.username.as_deref(), Some(UPSTREAM_USER));

    // Update: both, the password alone, the username alone (then checked with the stored
    // password), and nothing at all.
    let admin = r.admin();
    for body in [
        json!({"username": UPSTREAM_USER, "password": UPSTREAM_PASSWORD}),
        json!({"password": UPSTREAM_PASSWORD}),
        json!({"username": UPSTREAM_USER}),
        json!({}),
    ] {
        let updated = r
            .call(Method::PATCH, &uri, Some(&admin), Some(body))
            .await
            .ok(StatusCode::OK);
        check_object(&updated, None, &name, &host, false);
    }
    // Renaming is not an update.
    r.call(
        Method::PATCH,
        &uri,
        Some(&admin),
        Some(json!({"name": r.name("other")})),
    )
    .await
    .error(StatusCode::BAD_REQUEST);

    // Duplicate: 409.
    r.register("/api/repo/v1/repository/", &name, UPSTREAM_PASSWORD)
        .await
        .error(StatusCode::CONFLICT);

    // Remove: 204, then 404 everywhere.
    r.call(Method::DELETE, &uri, Some(&admin), None)
        .await
        .ok(StatusCode::NO_CONTENT);
    r.get(&uri).await.error(StatusCode::NOT_FOUND);
    r.call(Method::DELETE, &uri, Some(&admin), None)
        .await
        .error(StatusCode::NOT_FOUND);
    r.get(created["registry"].as_str().unwrap())
        .await
        .error(StatusCode::NOT_FOUND);

    // An anonymous entry (no credentials): a token registry hands out anonymous tokens
    // (as Docker Hub does), so the ping passes and nothing is sealed.
    let anonymous = r
        .call(
            Method::POST,
            "/api/repo/v1/repository/",
            Some(&admin),
            Some(json!({"name": r.name("anon")})),
        )
        .await
        .ok(StatusCode::CREATED);
    let row = r
        .meta
        .remotes
        .get_remote(&RemoteScope::Global, anonymous["name"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.username, row.password_sealed), (None, None));
    // A password without a user is not credentials.
    r.call(
        Method::POST,
        "/api/repo/v1/repository/",
        Some(&admin),
        Some(json!({"name": r.name("half"), "password": "p"})),
    )
    .await
    .error(StatusCode::BAD_REQUEST);

    // The audit log has every change, and never a password.
    r.services.audit.flush().await.unwrap();
    let log = r
        .services
        .audit
        .list(&Caller::admin("admin"), true, &AuditQuery::default())
        .await
        .unwrap();
    let actions: Vec<&str> = log.items.iter().map(|e| e.entry.action.as_str()).collect();
    for action in ["remote.register", "remote.update", "remote.remove"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    let text = format!("{:?}", log.items);
    assert!(!text.contains(UPSTREAM_PASSWORD), "{text}");
}

async fn wrong_upstream_credentials_store_nothing(r: TestRegistry) {
    let name = r.name("u/img");
    let wrong = "definitely-Wrong-pw";
    let message = r
        .register("/api/repo/v1/repository/", &name, wrong)
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(
        message.contains("invalid credentials for the upstream"),
        "{message}"
    );
    assert!(!message.contains(wrong));
    r.get(&format!("/api/repo/v1/repository/{name}/"))
        .await
        .error(StatusCode::NOT_FOUND);
    let list = r.get("/api/repo/v1/repository/").await.ok(StatusCode::OK);
    assert_eq!(list["meta"]["total_count"], 0);

    // Right after the right password worked (tokens are cached), a wrong one still fails,
    // and leaves the stored one in place.
    let uri = r
        .register("/api/repo/v1/repository/", &name, UPSTREAM_PASSWORD)
        .await
        .ok(StatusCode::CREATED)["resource_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = r
        .meta
        .remotes
        .get_remote(&RemoteScope::Global, &name)
        .await
        .unwrap()
        .unwrap();
    let reply = r
        .call(
            Method::PATCH,
            &uri,
            Some(&r.admin()),
            Some(json!({"username": UPSTREAM_USER, "password": wrong})),
        )
        .await;
    assert!(!String::from_utf8_lossy(&reply.body).contains(wrong));
    reply.error(StatusCode::BAD_REQUEST);
    r.call(
        Method::PATCH,
        &uri,
        Some(&r.admin()),
        Some(json!({"username": "nobody-there"})),
    )
    .await
    .error(StatusCode::BAD_REQUEST);
    let after = r
        .meta
        .remotes
        .get_remote(&RemoteScope::Global, &name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before, after, "a failed update stores nothing");
    // The stored password still works.
    r.call(
        Method::PATCH,
        &uri,
        Some(&r.admin()),
        Some(json!({"username": UPSTREAM_USER})),
    )
    .await
    .ok(StatusCode::OK);
}

async fn lists_page_and_filter(r: TestRegistry) {
    let names: Vec<String> = (0..27).map(|i| r.name(&format!("lib/app{i:02}"))).collect();
    for n in &names {
        r.register("/api/repo/v1/repository/", n, UPSTREAM_PASSWORD)
            .await
            .ok(StatusCode::CREATED);
    }
    // Another registry's entry (registered straight into the store: no upstream there).
    r.meta
        .remotes
        .create_remote(&berth_meta::NewRemote {
            namespace: None,
            name: "zz.example:5000/x".into(),
            registry: "zz.example:5000".into(),
            username: None,
            password_sealed: None,
            creator: "test".into(),
        })
        .await
        .unwrap();

    let first = r.get("/api/repo/v1/repository/").await.ok(StatusCode::OK);
    let meta = &first["meta"];
    assert_eq!(meta["limit"], 25);
    assert_eq!(meta["offset"], 0);
    assert_eq!(meta["total_count"], 28);
    assert_eq!(meta["previous"], Value::Null);
    assert_eq!(meta["next"], "/api/repo/v1/repository/?limit=25&offset=25");
    let objects = first["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 25);
    assert_eq!(objects[0]["name"], names[0]);
    // What the client does with `next`: its own request plus offset and limit.
    let second = r
        .get("/api/repo/v1/repository/?offset=25&limit=25")
        .await
        .ok(StatusCode::OK);
    assert_eq!(second["meta"]["next"], Value::Null);
    assert_eq!(
        second["meta"]["previous"],
        "/api/repo/v1/repository/?limit=25&offset=0"
    );
    let rest: Vec<&str> = second["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        rest,
        [names[25].as_str(), names[26].as_str(), "zz.example:5000/x"]
    );
    let one = r
        .get("/api/repo/v1/repository/?limit=1")
        .await
        .ok(StatusCode::OK);
    assert_eq!(one["meta"]["limit"], 1);
    assert_eq!(one["objects"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["meta"]["next"],
        "/api/repo/v1/repository/?limit=1&offset=1"
    );
    let big = r
        .get("/api/repo/v1/repository/?limit=0")
        .await
        .ok(StatusCode::OK);
    assert_eq!(big["meta"]["limit"], 100);
    assert_eq!(big["meta"]["next"], Value::Null);
    let past = r
        .get("/api/repo/v1/repository/?offset=500")
        .await
        .ok(StatusCode::OK);
    assert_eq!(past["meta"]["total_count"], 28);
    assert!(past["objects"].as_array().unwrap().is_empty());
    r.get("/api/repo/v1/repository/?offset=-1")
        .await
        .error(StatusCode::BAD_REQUEST);
    r.get("/api/repo/v1/repository/?limit=x")
        .await
        .error(StatusCode::BAD_REQUEST);

    // Filters: the name exactly, the registry by its resource URI (or bare host).
    let encoded: String = form_urlencoded::byte_serialize(names[3].as_bytes()).collect();
    let hit = r
        .get(&format!("/api/repo/v1/repository/?name={encoded}"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(hit["meta"]["total_count"], 1);
    assert_eq!(hit["objects"][0]["name"], names[3]);
    let partial: String = form_urlencoded::byte_serialize(r.name("lib/app0").as_bytes()).collect();
    let none = r
        .get(&format!("/api/repo/v1/repository/?name={partial}"))
        .await
        .ok(StatusCode::OK);
    assert_eq!(none["meta"]["total_count"], 0);
    let registry_uri = format!("/api/repo/v1/registry/{}/", r.upstream.host);
    for filter in [registry_uri.clone(), r.upstream.host.clone()] {
        let encoded: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let hits = r
            .get(&format!(
                "/api/repo/v1/repository/?registry={encoded}&limit=100"
            ))
            .await
            .ok(StatusCode::OK);
        assert_eq!(hits["meta"]["total_count"], 27, "{filter}");
        for o in hits["objects"].as_array().unwrap() {
            assert_eq!(o["registry"], registry_uri);
        }
    }
    for other in [
        "/api/repo/v1/registry/not-registered.invalid/",
        // The same registry in another scope is another registry.
        &format!("/api/repo/v1/team/registry/{}/", r.upstream.host),
        "nonsense",
    ] {
        let encoded: String = form_urlencoded::byte_serialize(other.as_bytes()).collect();
        let hits = r
            .get(&format!("/api/repo/v1/repository/?registry={encoded}"))
            .await
            .ok(StatusCode::OK);
        assert_eq!(hits["meta"]["total_count"], 0, "{other}");
        assert_eq!(hits["meta"]["next"], Value::Null);
    }
    // `next` keeps the filters.
    let encoded: String = form_urlencoded::byte_serialize(registry_uri.as_bytes()).collect();
    let paged = r
        .get(&format!(
            "/api/repo/v1/repository/?registry={encoded}&limit=10"
        ))
        .await
        .ok(StatusCode::OK);
    let next = paged["meta"]["next"].as_str().unwrap();
    assert!(
        next.contains("registry=%2Fapi%2Frepo%2Fv1%2Fregistry%2F"),
        "{next}"
    );
}

async fn namespaces_and_access(r: TestRegistry) {
    let admin = Caller::admin("admin");
    let alice = r.user("alice").await;
    let bob = r.user("bob").await;
    r.services
        .repositories
        .create_namespace(
            &admin,
            &NamespaceSpec {
                name: "team".into(),
                description: String::new(),
                is_public: true,
            },
        )
        .await
        .unwrap();
    r.services
        .repositories
        .put_member(&admin, "team", "alice", Level::Manage)
        .await
        .unwrap();
    r.services
        .repositories
        .put_member(&admin, "team", "bob", Level::Write)
        .await
        .unwrap();
    let name = r.name("team/app");
    let body = json!({"name": name, "username": UPSTREAM_USER, "password": UPSTREAM_PASSWORD});

    // Alice manages team: she may register there, with her API key (a personal access token).
    let token = r
        .services
        .auth
        .create_token(&Caller::user("alice"), "api-key", None, None)
        .await
        .unwrap()
        .secret;
    let api_key = basic("alice", &token);
    let created = r
        .call(
            Method::POST,
            "/api/repo/v1/team/repository/",
            Some(&api_key),
            Some(body.clone()),
        )
        .await
        .ok(StatusCode::CREATED);
    check_object(&created, Some("team"), &name, &r.upstream.host, false);
    let listed = r
        .call(
            Method::GET,
            "/api/repo/v1/team/repository/",
            Some(&alice),
            None,
        )
        .await
        .ok(StatusCode::OK);
    assert_eq!(listed["meta"]["total_count"], 1);
    assert_eq!(
        listed["objects"][0]["resource_uri"],
        created["resource_uri"]
    );
    // The global scope does not hold it.
    let global = r.get("/api/repo/v1/repository/").await.ok(StatusCode::OK);
    assert_eq!(global["meta"]["total_count"], 0);
    r.get(&format!("/api/repo/v1/repository/{name}/"))
        .await
        .error(StatusCode::NOT_FOUND);
    // The administrator reaches it in its namespace.
    r.get(created["resource_uri"].as_str().unwrap())
        .await
        .ok(StatusCode::OK);

    // Bob may write but not manage: forbidden. Global entries are for administrators.
    r.call(
        Method::GET,
        "/api/repo/v1/team/repository/",
        Some(&bob),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN);
    r.call(
        Method::DELETE,
        created["resource_uri"].as_str().unwrap(),
        Some(&bob),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN);
    r.call(Method::GET, "/api/repo/v1/repository/", Some(&alice), None)
        .await
        .error(StatusCode::FORBIDDEN);
    r.call(
        Method::POST,
        "/api/repo/v1/repository/",
        Some(&alice),
        Some(body.clone()),
    )
    .await
    .error(StatusCode::FORBIDDEN);
    // A namespace that does not exist.
    r.call(
        Method::POST,
        "/api/repo/v1/nowhere/repository/",
        Some(&r.admin()),
        Some(body.clone()),
    )
    .await
    .error(StatusCode::NOT_FOUND);
    r.call(
        Method::GET,
        "/api/repo/v1/nowhere/repository/",
        Some(&alice),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND);

    // berth's own login failing is the only 401, in the family's shape, with a challenge.
    for auth in [
        None,
        Some(basic("alice", "wrong-password")),
        Some(basic(
            "alice",
            "bth_0123456789abcdef_0123456789abcdef0123456789abcdef",
        )),
    ] {
        let reply = r
            .call(
                Method::GET,
                "/api/repo/v1/team/repository/",
                auth.as_deref(),
                None,
            )
            .await;
        reply.error(StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.headers.get("www-authenticate").unwrap(),
            "Basic realm=\"berth\""
        );
    }
    // A revoked API key stops at once.
    let id = token.split('_').nth(1).unwrap().to_owned();
    r.services
        .auth
        .revoke_credential(&Caller::user("alice"), &id)
        .await
        .unwrap();
    r.call(
        Method::GET,
        "/api/repo/v1/team/repository/",
        Some(&api_key),
        None,
    )
    .await
    .error(StatusCode::UNAUTHORIZED);

    // Alice removes it; deleting the namespace would have taken it too.
    r.call(
        Method::DELETE,
        created["resource_uri"].as_str().unwrap(),
        Some(&alice),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
}

async fn in_use_entries_need_force(r: TestRegistry) {
    let name = r.name("library/nginx");
    let uri = r
        .register("/api/repo/v1/repository/", &name, UPSTREAM_PASSWORD)
        .await
        .ok(StatusCode::CREATED)["resource_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = Caller::admin("admin");
    let proxy = r
        .services
        .remotes
        .create_proxy(
            &admin,
            &ProxySpec {
                prefix: "hub".into(),
                upstream_url: format!("http://{}", r.upstream.host),
                upstream_host: None,
                remote: Some((None, name.clone())),
                mode: ProxyMode::UpstreamFirst,
                ttl_secs: 60,
            },
        )
        .await
        .unwrap();
    assert_eq!(proxy.upstream_host, r.upstream.host);
    let got = r.get(&uri).await.ok(StatusCode::OK);
    assert_eq!(got["in_use"], true);
    let listed = r.get("/api/repo/v1/repository/").await.ok(StatusCode::OK);
    assert_eq!(listed["objects"][0]["in_use"], true);
    // The proxy's target carries the entry's credentials, unsealed.
    let target = r.services.remotes.proxy_target(&proxy).await.unwrap();
    assert_eq!(target.url, format!("http://{}", r.upstream.host));
    let credentials = target.credentials.unwrap();
    assert_eq!(credentials.username, UPSTREAM_USER);
    assert_eq!(credentials.password.expose(), UPSTREAM_PASSWORD);
    assert!(!format!("{credentials:?}").contains(UPSTREAM_PASSWORD));
    let found = r
        .services
        .remotes
        .proxy_for(&"hub/library/nginx".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.prefix, "hub");
    assert_eq!(
        r.services
            .remotes
            .proxies_for_host(&r.upstream.host)
            .await
            .unwrap()
            .len(),
        1
    );

    let message = r
        .call(Method::DELETE, &uri, Some(&r.admin()), None)
        .await
        .error(StatusCode::CONFLICT);
    assert!(message.contains("in use"), "{message}");
    r.get(&uri).await.ok(StatusCode::OK);
    r.call(
        Method::DELETE,
        &format!("{uri}?force=true"),
        Some(&r.admin()),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    r.get(&uri).await.error(StatusCode::NOT_FOUND);
    let proxies = r
        .services
        .remotes
        .list_proxies(&admin, Default::default())
        .await
        .unwrap();
    assert_eq!(proxies.items[0].remote_id, None, "the proxy goes anonymous");
    r.services
        .remotes
        .delete_proxy(&admin, "hub")
        .await
        .unwrap();
}

async fn refused_and_slow_upstreams(r: TestRegistry) {
    let admin = r.admin();
    // Link-local and metadata addresses: refused at once, 400, nothing stored.
    for name in [
        "169.254.169.254/latest/meta-data",
        "[fe80::1]:5000/x",
        "100.100.100.200/x",
    ] {
        let started = Instant::now();
        let message = r
            .call(
                Method::POST,
                "/api/repo/v1/repository/",
                Some(&admin),
                Some(json!({"name": name, "username": "u", "password": "p"})),
            )
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(message.contains("refused"), "{message}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    // Names that are not host/repository.
    for name in ["library/nginx", "noslash.example", "reg.example/UPPER", ""] {
        r.call(
            Method::POST,
            "/api/repo/v1/repository/",
            Some(&admin),
            Some(json!({"name": name})),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    }
    // Nothing listening: a clear upstream error (502), quickly.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        a
    };
    r.register("/api/repo/v1/repository/", &format!("{closed}/x"), "p")
        .await
        .error(StatusCode::BAD_GATEWAY);

    // An upstream that accepts and never answers: the registration gives up after the
    // first-byte timeout, while every other request is answered at once.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_host = silent.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let r = Arc::new(r);
    let started = Instant::now();
    let slow = {
        let r = r.clone();
        let name = format!("{silent_host}/slow/app");
        tokio::spawn(async move { r.register("/api/repo/v1/repository/", &name, "p").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..5 {
        let quick = Instant::now();
        r.get("/api/repo/v1/repository/").await.ok(StatusCode::OK);
        r.register(
            "/api/repo/v1/repository/",
            &r.name(&format!("fast/a{i}")),
            UPSTREAM_PASSWORD,
        )
        .await
        .ok(StatusCode::CREATED);
        assert!(
            quick.elapsed() < Duration::from_secs(1),
            "{:?}",
            quick.elapsed()
        );
    }
    let reply = slow.await.unwrap();
    let message = reply.error(StatusCode::BAD_GATEWAY);
    assert!(message.contains("in time"), "{message}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let all = r.get("/api/repo/v1/repository/").await.ok(StatusCode::OK);
    assert_eq!(all["meta"]["total_count"], 5, "the slow one stored nothing");
}

async fn requests_the_clients_send(r: TestRegistry) {
    let admin = r.admin();
    // Wrong methods, unknown paths, bodies that are not objects.
    r.call(Method::PUT, "/api/repo/v1/repository/", Some(&admin), None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED);
    r.call(
        Method::PUT,
        "/api/repo/v1/repository/reg.example/a/",
        Some(&admin),
        None,
    )
    .await
    .error(StatusCode::METHOD_NOT_ALLOWED);
    r.get("/api/repo/v1/").await.error(StatusCode::NOT_FOUND);
    r.get("/api/repo/v1/team/other/")
        .await
        .error(StatusCode::NOT_FOUND);
    for body in [json!([1, 2]), json!("x"), json!({"name": 5})] {
        r.call(
            Method::POST,
            "/api/repo/v1/repository/",
            Some(&admin),
            Some(body),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    }
    // The list is an object even when empty, on both slash forms.
    for path in ["/api/repo/v1/repository/", "/api/repo/v1/repository"] {
        let empty = r.get(path).await.ok(StatusCode::OK);
        assert_eq!(
            empty,
            json!({"meta": {"limit": 25, "next": null, "offset": 0, "previous": null,
                            "total_count": 0}, "objects": []})
        );
    }
    // Create without the trailing slash works too (and is never a redirect).
    let name = r.name("plain/app");
    let created = r
        .register("/api/repo/v1/repository", &name, UPSTREAM_PASSWORD)
        .await
        .ok(StatusCode::CREATED);
    // A DELETE with Content-Type: application/json and an empty body.
    r.call(
        Method::DELETE,
        created["resource_uri"].as_str().unwrap(),
        Some(&admin),
        None,
    )
    .await
    .ok(StatusCode::NO_CONTENT);
}
