//! The pull-through cache, in process through the real router, against a real upstream: a
//! second berth with authentication on, serving on a 127.0.0.1 port, that the tests can stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use berth_api::AppState;
use berth_core::{Caller, Digest};
use berth_meta::{Meta, SqliteMetaStore};
use berth_remote::policy::AddressPolicy;
use berth_remote::{ClientConfig, RemoteClient};
use berth_service::{
    AuthConfig, ProxyMode, ProxySpec, RemoteSpec, RemotesConfig, ServiceConfig, Services,
};
use berth_storage::FsBlobStore;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

const UPSTREAM_PASSWORD: &str = "upstream-admin-pw";

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

async fn call(app: &Router, method: Method, uri: &str, auth: Option<&str>, body: Bytes) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "cache.test");
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    if !body.is_empty() {
        req = req.header("content-length", body.len());
    }
    let response = app
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

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The upstream: a berth with authentication on, on a port, counting blob GETs.
struct Upstream {
    app: Router,
    host: String,
    blob_gets: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
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
    let blob_gets = Arc::new(AtomicUsize::new(0));
    let counted = blob_gets.clone();
    let app = berth_api::router(AppState::new(services, Default::default())).layer(
        axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let counted = counted.clone();
                async move {
                    if req.method() == Method::GET && req.uri().path().contains("/blobs/sha256:") {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(req).await
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let serving = app.clone();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            serving.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Upstream {
        app,
        host,
        blob_gets,
        server,
        _dir: dir,
    }
}

impl Upstream {
    /// Pushes an image with a layer of `layer` bytes under `repo:tag`; returns the manifest's
    /// digest and the layer's.
    async fn push(&self, repo: &str, tag: &str, layer: &[u8]) -> (Digest, Digest) {
        let auth = basic("admin", UPSTREAM_PASSWORD);
        let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{tag}"}}"#);
        for blob in [config.as_bytes(), layer] {
            let digest = Digest::sha256(blob);
            let r = call(
                &self.app,
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                Some(&auth),
                Bytes::copy_from_slice(blob),
            )
            .await;
            assert_eq!(r.status, StatusCode::CREATED);
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256(config.as_bytes()), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::sha256(layer), "size": layer.len()}],
        }))
        .unwrap();
        let req = Request::builder()
            .method(Method::PUT)
            .uri(format!("/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .header("authorization", &auth)
            .body(Body::from(manifest.clone()))
            .unwrap();
        let r = self.app.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        (Digest::sha256(&manifest), Digest::sha256(layer))
    }
}

/// The cache: a berth with a proxy `hub` of the upstream, through registered credentials.
async fn cache(
    upstream: &Upstream,
    mode: ProxyMode,
    ttl_secs: u64,
) -> (Router, Arc<Services>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap());
    let meta = Meta::new(Arc::new(
        SqliteMetaStore::open(&dir.path().join("berth.db"))
            .await
            .unwrap(),
    ));
    let client = RemoteClient::new(ClientConfig {
        policy: AddressPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            ..AddressPolicy::default()
        },
        connect_timeout: Duration::from_secs(1),
        first_byte_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    })
    .unwrap();
    let config = ServiceConfig {
        auth: AuthConfig {
            sealing_key: Some([3; 32]),
            ..Default::default()
        },
        remotes: RemotesConfig {
            upstream: Some(Arc::new(client)),
            insecure_registries: vec!["127.0.0.1".into()],
        },
        ..Default::default()
    };
    let services = Arc::new(Services::start(blobs, meta, config).await.unwrap());
    let admin = Caller::admin("admin");
    services
        .remotes
        .register(
            &admin,
            &RemoteSpec {
                namespace: None,
                name: format!("{}/library/app", upstream.host),
                username: Some("admin".into()),
                password: Some(UPSTREAM_PASSWORD.into()),
            },
        )
        .await
        .unwrap();
    services
        .remotes
        .create_proxy(
            &admin,
            &ProxySpec {
                prefix: "hub".into(),
                upstream_url: format!("http://{}", upstream.host),
                upstream_host: Some("upstream.example".into()),
                remote: Some((None, format!("{}/library/app", upstream.host))),
                mode,
                ttl_secs,
            },
        )
        .await
        .unwrap();
    let app = berth_api::router(AppState::new(services.clone(), Default::default()));
    (app, services, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_through_cache_and_survive_the_upstream() {
    let upstream = upstream().await;
    let layer: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (manifest, layer_digest) = upstream.push("library/app", "v1", &layer).await;
    let (app, services, _dir) = cache(&upstream, ProxyMode::UpstreamFirst, 300).await;

    // First pull: from the upstream, byte for byte.
    let r = call(
        &app,
        Method::GET,
        "/v2/hub/library/app/manifests/v1",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.headers["docker-content-digest"], manifest.as_str());
    assert_eq!(Digest::sha256(&r.body), manifest);

    // Eight pulls of the uncached layer at once: one upstream fetch.
    let pulls: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            let uri = format!("/v2/hub/library/app/blobs/{layer_digest}");
            tokio::spawn(async move { call(&app, Method::GET, &uri, None, Bytes::new()).await })
        })
        .collect();
    for pull in pulls {
        let r = pull.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(Digest::sha256(&r.body), layer_digest);
    }
    assert_eq!(
        upstream.blob_gets.load(Ordering::SeqCst),
        1,
        "one upstream fetch"
    );
    // A HEAD of the config: fetched too, then local.
    let config = Digest::sha256(br#"{"architecture":"amd64","os":"linux","seed":"v1"}"#);
    let r = call(
        &app,
        Method::HEAD,
        &format!("/v2/hub/library/app/blobs/{config}"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // The cache is a repository like any other: listed, counted.
    let repo = services
        .repositories
        .get_repository(&Caller::admin("admin"), &"hub/library/app".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(repo.kind, berth_service::RepoKind::Proxy);
    assert_eq!((repo.num_manifests, repo.num_tags), (1, 1));
    assert_eq!(repo.size, layer.len() as u64 + config_len());

    // The tag moves upstream: upstream-first sees it.
    let (moved, _) = upstream.push("library/app", "v1", b"a new layer").await;
    let r = call(
        &app,
        Method::GET,
        "/v2/hub/library/app/manifests/v1",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(r.headers["docker-content-digest"], moved.as_str());

    // Pushing into the cache is refused.
    let r = call(
        &app,
        Method::POST,
        "/v2/hub/library/app/blobs/uploads/",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&r.body).contains("pull-through cache"));

    // The registry-proxying form: `?ns=<upstream host>` selects the proxy.
    let r = call(
        &app,
        Method::GET,
        "/v2/library/app/manifests/v1?ns=upstream.example",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["docker-content-digest"], moved.as_str());

    // The upstream goes away: what is cached is still served.
    upstream.server.abort();

    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = call(
        &app,
        Method::GET,
        "/v2/hub/library/app/manifests/v1",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.headers["docker-content-digest"], moved.as_str());
    let r = call(
        &app,
        Method::GET,
        &format!("/v2/hub/library/app/blobs/{layer_digest}"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), layer.len());
    // What is not cached fails as the upstream does.
    let r = call(
        &app,
        Method::GET,
        "/v2/hub/library/other/manifests/v1",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_GATEWAY,
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
}

fn config_len() -> u64 {
    br#"{"architecture":"amd64","os":"linux","seed":"v1"}"#.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_first_serves_the_cache_within_its_ttl() {
    let upstream = upstream().await;
    let (first, _) = upstream.push("library/app", "v1", b"first layer").await;
    let (app, _services, _dir) = cache(&upstream, ProxyMode::LocalFirst, 3600).await;
    let r = call(
        &app,
        Method::GET,
        "/v2/hub/library/app/manifests/v1",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(r.headers["docker-content-digest"], first.as_str());
    upstream.push("library/app", "v1", b"second layer").await;
    let r = call(
        &app,
        Method::GET,
        "/v2/hub/library/app/manifests/v1",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(
        r.headers["docker-content-digest"],
        first.as_str(),
        "within the TTL: the cached copy"
    );
    // A tag never pulled before comes from the upstream.
    let (other, _) = upstream.push("library/app", "v2", b"other layer").await;
    let r = call(
        &app,
        Method::GET,
        "/v2/hub/library/app/manifests/v2",
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(r.headers["docker-content-digest"], other.as_str());
}
