//! The upstream client against small registries started here on 127.0.0.1: the Docker token
//! flow and Basic, manifests and blobs (through a redirect), and the safety rules: schemes,
//! refused networks (literal, resolved, redirected), redirect limits, size caps, timeouts,
//! and that a stalled upstream holds up no other request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_core::{Digest, Secret};
use berth_remote::policy::AddressPolicy;
use berth_remote::{ClientConfig, RemoteClient};
use berth_service::{Upstream, UpstreamCredentials, UpstreamError, UpstreamTarget};
use bytes::Bytes;
use futures::StreamExt;
use http::{StatusCode, header};

const USER: &str = "puller";
const PASSWORD: &str = "s3cret-pw";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// What a fake registry does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Open,
    Basic,
    Token,
}

struct Fake {
    auth: Auth,
    /// Its own address, for the token realm and redirects.
    base: String,
    /// Where blobs are redirected to: another server (another port), like object storage.
    storage: String,
    token_calls: AtomicUsize,
    /// Whether a request to the storage carried an Authorization header.
    storage_saw_authorization: Arc<std::sync::atomic::AtomicBool>,
    manifest: Bytes,
    blob: Bytes,
}

fn basic_value(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn authorization(request: &Request) -> &str {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn with(status: StatusCode, headers: &[(&str, String)], body: impl Into<Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

async fn fake_registry(State(fake): State<Arc<Fake>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    if path == "/token" {
        fake.token_calls.fetch_add(1, Ordering::SeqCst);
        if authorization(&request) != basic_value(USER, PASSWORD) {
            return with(StatusCode::UNAUTHORIZED, &[], "{\"details\":\"bad\"}");
        }
        let scope = form_scope(&query);
        let body = serde_json::json!({"token": format!("tok.{scope}"), "expires_in": 300});
        return with(StatusCode::OK, &[], body.to_string());
    }
    let scope = path
        .strip_prefix("/v2/")
        .and_then(|rest| {
            rest.split_once("/manifests/")
                .or(rest.split_once("/blobs/"))
        })
        .map(|(repo, _)| format!("repository:{repo}:pull"));
    let allowed = match fake.auth {
        Auth::Open => true,
        Auth::Basic => authorization(&request) == basic_value(USER, PASSWORD),
        Auth::Token => {
            let wanted = format!("Bearer tok.{}", scope.clone().unwrap_or_default());
            authorization(&request) == wanted
        }
    };
    if !allowed {
        let challenge = match fake.auth {
            Auth::Basic => "Basic realm=\"fake\"".to_owned(),
            _ => {
                let scope = scope
                    .as_ref()
                    .map(|s| format!(",scope=\"{s}\""))
                    .unwrap_or_default();
                format!(
                    "Bearer realm=\"{}/token\",service=\"fake\"{scope}",
                    fake.base
                )
            }
        };
        return with(
            StatusCode::UNAUTHORIZED,
            &[("www-authenticate", challenge)],
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
        );
    }
    if path == "/v2/" {
        return with(StatusCode::OK, &[], "{}");
    }
    let digest = Digest::sha256(&fake.manifest).to_string();
    if path.starts_with("/v2/lib/app/manifests/") {
        let reference = path.rsplit('/').next().unwrap();
        if reference != "v1" && reference != digest {
            return with(StatusCode::NOT_FOUND, &[], "{}");
        }
        let headers = [
            ("content-type", MANIFEST_TYPE.to_owned()),
            ("docker-content-digest", digest),
        ];
        let body = if request.method() == http::Method::HEAD {
            Bytes::new()
        } else {
            fake.manifest.clone()
        };
        let mut response = with(StatusCode::OK, &headers, body);
        if request.method() == http::Method::HEAD {
            response.headers_mut().insert(
                header::CONTENT_LENGTH,
                fake.manifest.len().to_string().parse().unwrap(),
            );
        }
        return response;
    }
    if path.starts_with("/v2/lib/lying/manifests/") {
        let headers = [
            ("content-type", MANIFEST_TYPE.to_owned()),
            (
                "docker-content-digest",
                Digest::sha256(b"other").to_string(),
            ),
        ];
        return with(StatusCode::OK, &headers, fake.manifest.clone());
    }
    if path.starts_with("/v2/lib/garbage/manifests/") {
        return with(
            StatusCode::OK,
            &[("content-type", MANIFEST_TYPE.into())],
            "<html>hi</html>",
        );
    }
    if path.starts_with("/v2/lib/huge/manifests/") {
        let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
        return with(
            StatusCode::OK,
            &[("content-type", MANIFEST_TYPE.into())],
            body,
        );
    }
    if path.starts_with("/v2/lib/huge-chunked/manifests/") {
        let chunks = futures::stream::iter(
            (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 64 * 1024]))),
        );
        return with(
            StatusCode::OK,
            &[("content-type", MANIFEST_TYPE.into())],
            Body::from_stream(chunks),
        );
    }
    if let Some(digest) = path.strip_prefix("/v2/lib/app/blobs/") {
        return with(
            StatusCode::TEMPORARY_REDIRECT,
            &[("location", format!("{}/storage/{digest}", fake.storage))],
            "",
        );
    }
    if path.starts_with("/v2/lib/stall/blobs/") {
        // Ten bytes, then nothing, ever.
        let first = futures::stream::once(async {
            Ok::<_, std::io::Error>(Bytes::from_static(b"0123456789"))
        });
        let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        return with(StatusCode::OK, &[], Body::from_stream(first.chain(never)));
    }
    with(StatusCode::NOT_FOUND, &[], "{}")
}

fn form_scope(query: &str) -> String {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("scope="))
        .map(|s| s.replace("%3A", ":").replace("%2F", "/"))
        .unwrap_or_default()
}

/// Serves `router` on a free 127.0.0.1 port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

async fn start(auth: Auth) -> (String, Arc<Fake>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let blob = Bytes::from_static(b"layer bytes, many of them");
    let saw = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let storage = {
        let (blob, saw) = (blob.clone(), saw.clone());
        serve(Router::new().fallback(move |request: Request| async move {
            if request.headers().contains_key(header::AUTHORIZATION) {
                saw.store(true, Ordering::SeqCst);
            }
            blob
        }))
        .await
    };
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256(b"{}").to_string(), "size": 2},
        "layers": [],
    }))
    .unwrap();
    let fake = Arc::new(Fake {
        auth,
        base: base.clone(),
        storage,
        token_calls: AtomicUsize::new(0),
        storage_saw_authorization: saw,
        manifest: Bytes::from(manifest),
        blob,
    });
    let router = Router::new()
        .fallback(fake_registry)
        .with_state(fake.clone());
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (base, fake)
}

/// Loopback allowed (these upstreams are on 127.0.0.1), short timeouts.
fn test_config() -> ClientConfig {
    ClientConfig {
        policy: AddressPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            ..AddressPolicy::default()
        },
        max_manifest_bytes: 1024 * 1024,
        connect_timeout: Duration::from_secs(2),
        first_byte_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(800),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

fn client() -> RemoteClient {
    RemoteClient::new(test_config()).unwrap()
}

fn target(url: &str, password: Option<&str>) -> UpstreamTarget {
    UpstreamTarget {
        url: url.to_owned(),
        credentials: password.map(|p| UpstreamCredentials {
            username: USER.into(),
            password: Secret::new(p),
        }),
    }
}

#[tokio::test]
async fn token_flow_with_tokens_cached_per_scope() {
    let (url, fake) = start(Auth::Token).await;
    let client = client();
    let good = target(&url, Some(PASSWORD));
    client.ping(&good).await.unwrap();
    client.ping(&good).await.unwrap();
    assert_eq!(
        fake.token_calls.load(Ordering::SeqCst),
        1,
        "the /v2/ token is reused"
    );

    let m = client
        .get_manifest(&good, "lib/app", "v1", &[MANIFEST_TYPE])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, fake.manifest);
    assert_eq!(m.digest, Digest::sha256(&fake.manifest));
    assert_eq!(m.media_type, MANIFEST_TYPE);
    let by_digest = client
        .get_manifest(&good, "lib/app", m.digest.as_str(), &[MANIFEST_TYPE])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_digest.digest, m.digest);
    let head = client
        .head_manifest(&good, "lib/app", "v1", &[MANIFEST_TYPE])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.digest, Some(m.digest.clone()));
    assert_eq!(head.media_type.as_deref(), Some(MANIFEST_TYPE));
    assert_eq!(head.size, Some(fake.manifest.len() as u64));
    assert_eq!(
        fake.token_calls.load(Ordering::SeqCst),
        2,
        "one more token, for repository:lib/app:pull, reused for every call on it"
    );
    assert!(
        client
            .get_manifest(&good, "lib/app", "missing", &[MANIFEST_TYPE])
            .await
            .unwrap()
            .is_none()
    );

    // Blobs: through the registry's redirect to its storage.
    let blob = client
        .get_blob(&good, "lib/app", &Digest::sha256(&fake.blob))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(blob.size, Some(fake.blob.len() as u64));
    let bytes: Vec<u8> = blob.body.map(|c| c.unwrap().to_vec()).concat().await;
    assert_eq!(bytes, fake.blob);
    assert!(
        !fake.storage_saw_authorization.load(Ordering::SeqCst),
        "the registry's token must not follow the redirect to another host"
    );

    // Wrong or no credentials: the token endpoint refuses.
    let wrong = target(&url, Some("wrong"));
    assert_eq!(
        client.ping(&wrong).await.unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    assert_eq!(
        client.ping(&target(&url, None)).await.unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    // The good user's cached tokens are not another user's.
    client.ping(&good).await.unwrap();
}

#[tokio::test]
async fn basic_and_open_registries() {
    let (url, _) = start(Auth::Basic).await;
    let client = client();
    client.ping(&target(&url, Some(PASSWORD))).await.unwrap();
    assert_eq!(
        client.ping(&target(&url, Some("nope"))).await.unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    assert_eq!(
        client.ping(&target(&url, None)).await.unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    let m = client
        .get_manifest(&target(&url, Some(PASSWORD)), "lib/app", "v1", &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.media_type, MANIFEST_TYPE);

    let (open, _) = start(Auth::Open).await;
    client.ping(&target(&open, None)).await.unwrap();
    client.ping(&target(&open, Some("anything"))).await.unwrap();
}

#[tokio::test]
async fn answers_that_make_no_sense_are_errors() {
    let (url, _) = start(Auth::Open).await;
    let client = client();
    let t = target(&url, None);
    let e = client
        .get_manifest(&t, "lib/lying", "v1", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Invalid(_)), "{e:?}");
    let e = client
        .get_manifest(&t, "lib/lying", Digest::sha256(b"other").as_str(), &[])
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Invalid(_)), "{e:?}");
    let e = client
        .get_manifest(&t, "lib/garbage", "v1", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Invalid(_)), "{e:?}");
    // Larger than the cap: with a Content-Length, and streamed without one.
    for repo in ["lib/huge", "lib/huge-chunked"] {
        let e = client.get_manifest(&t, repo, "v1", &[]).await.unwrap_err();
        assert_eq!(e, UpstreamError::TooLarge { limit: 1024 * 1024 }, "{repo}");
    }
    // A server that is not a registry.
    let plain = serve(Router::new()).await;
    let e = client.ping(&target(&plain, None)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Invalid(_)), "{e:?}");
    // Names that could leave the repository's path are refused before any request.
    let e = client
        .get_manifest(&t, "../../etc", "v1", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Refused(_)), "{e:?}");
}

#[tokio::test]
async fn schemes_and_refused_networks() {
    let (url, _) = start(Auth::Open).await;
    let strict = RemoteClient::new(ClientConfig::default()).unwrap();
    let refused = |e: UpstreamError| assert!(matches!(e, UpstreamError::Refused(_)), "{e:?}");
    // Only http and https.
    for bad in [
        "ftp://127.0.0.1:21",
        "file:///etc/passwd",
        "gopher://example.com",
    ] {
        refused(client().ping(&target(bad, None)).await.unwrap_err());
    }
    // Loopback is refused by default: as an address and as a name resolving to it.
    refused(strict.ping(&target(&url, None)).await.unwrap_err());
    let port = url.rsplit(':').next().unwrap();
    refused(
        strict
            .ping(&target(&format!("http://localhost:{port}"), None))
            .await
            .unwrap_err(),
    );
    // Link-local (cloud metadata) and its IPv4-mapped spelling: refused at once, without
    // trying to connect, even with loopback allowed.
    let started = Instant::now();
    for metadata in [
        "http://169.254.169.254",
        "http://[::ffff:169.254.169.254]",
        "http://[fe80::1]:5000",
        "http://100.100.100.200",
    ] {
        refused(client().ping(&target(metadata, None)).await.unwrap_err());
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    // A configured deny list wins over the defaults; an allow list beats it.
    let custom = RemoteClient::new(ClientConfig {
        policy: AddressPolicy {
            allow: vec!["127.0.0.1/32".parse().unwrap()],
            deny: vec!["127.0.0.0/8".parse().unwrap()],
        },
        ..test_config()
    })
    .unwrap();
    custom.ping(&target(&url, None)).await.unwrap();
    refused(
        custom
            .ping(&target(&url.replace("127.0.0.1", "127.0.0.2"), None))
            .await
            .unwrap_err(),
    );
}

async fn redirector(State(base): State<Arc<String>>, request: Request) -> Response {
    let to = match request.uri().path() {
        "/metadata/v2/" => "http://169.254.169.254/latest/meta-data/".to_owned(),
        "/ftp/v2/" => "ftp://127.0.0.1/x".to_owned(),
        "/loop/v2/" => format!("{base}/loop/v2/"),
        "/three/v2/" => format!("{base}/two/v2/"),
        "/two/v2/" => format!("{base}/one/v2/"),
        "/one/v2/" => format!("{base}/zero/v2/"),
        _ => return with(StatusCode::OK, &[], "{}"),
    };
    with(StatusCode::FOUND, &[("location", to)], "")
}

#[tokio::test]
async fn redirects_are_limited_and_checked() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .fallback(redirector)
        .with_state(Arc::new(base.clone()));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = client();
    let refused = |e: UpstreamError, what: &str| {
        assert!(
            matches!(&e, UpstreamError::Refused(why) if why.contains(what)),
            "{e:?}"
        )
    };
    refused(
        client
            .ping(&target(&format!("{base}/metadata"), None))
            .await
            .unwrap_err(),
        "169.254.169.254",
    );
    refused(
        client
            .ping(&target(&format!("{base}/ftp"), None))
            .await
            .unwrap_err(),
        "scheme",
    );
    refused(
        client
            .ping(&target(&format!("{base}/loop"), None))
            .await
            .unwrap_err(),
        "redirects",
    );
    // Three redirects are within the default of five.
    client
        .ping(&target(&format!("{base}/three"), None))
        .await
        .unwrap();
    let strict = RemoteClient::new(ClientConfig {
        max_redirects: 2,
        ..test_config()
    })
    .unwrap();
    refused(
        strict
            .ping(&target(&format!("{base}/three"), None))
            .await
            .unwrap_err(),
        "more than 2 redirects",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upstream_times_out_and_blocks_nobody() {
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (good, _) = start(Auth::Open).await;
    let client = Arc::new(client());

    let started = Instant::now();
    let stalled = {
        let client = client.clone();
        let t = target(&silent_url, None);
        tokio::spawn(async move { client.ping(&t).await })
    };
    // Meanwhile the good upstream answers many requests, quickly.
    for _ in 0..20 {
        let quick = Instant::now();
        client.ping(&target(&good, None)).await.unwrap();
        assert!(quick.elapsed() < Duration::from_millis(500));
    }
    let e = stalled.await.unwrap().unwrap_err();
    assert!(matches!(e, UpstreamError::Timeout(_)), "{e:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A blob that stalls mid-body: the stream fails after the idle timeout.
    let blob = client
        .get_blob(&target(&good, None), "lib/stall", &Digest::sha256(b"x"))
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let mut body = blob.body;
    let first = body.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"0123456789");
    let e = body.next().await.unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Nothing listens: unreachable, quickly.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        url
    };
    let e = client.ping(&target(&closed, None)).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable(_)), "{e:?}");
}

#[tokio::test]
async fn no_secret_in_any_error_message() {
    let (url, _) = start(Auth::Token).await;
    let client = client();
    let password = "sekrit-Passw0rd";
    let e = client
        .ping(&target(&url, Some(password)))
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!text.contains(password), "{text}");
    let t = target(&url, Some(password));
    assert!(!format!("{t:?}").contains(password));
}
