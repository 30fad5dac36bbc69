//! In-process tests of every `/v2` endpoint and error, through the real router.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use berth_api::AppState;
use berth_core::Digest;
use berth_meta::{Meta, PostgresMetaStore, SqliteMetaStore};
use berth_service::{RegistryLimits, ServiceConfig, Services};
use berth_storage::{BlobStore, FsBlobStore, S3BlobStore};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

struct TestRegistry {
    app: Router,
    _dir: Option<tempfile::TempDir>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts an OCI error reply and returns it.
    #[track_caller]
    fn error(&self, status: StatusCode, code: &str) -> &Reply {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        assert_eq!(body["errors"][0]["code"], code, "{body}");
        assert!(body["errors"][0]["message"].is_string(), "{body}");
        self
    }
}

async fn app(blobs: Arc<dyn BlobStore>, meta: Meta, limits: RegistryLimits) -> Router {
    let config = ServiceConfig {
        limits,
        ..Default::default()
    };
    berth_api::router(AppState::new(
        Arc::new(Services::start(blobs, meta, config).await.unwrap()),
        Default::default(),
    ))
}

/// The embedded default: files and SQLite in a temporary directory.
async fn embedded(limits: RegistryLimits) -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap());
    let meta = Meta::new(Arc::new(
        SqliteMetaStore::open(&dir.path().join("berth.db"))
            .await
            .unwrap(),
    ));
    TestRegistry {
        app: app(blobs, meta, limits).await,
        _dir: Some(dir),
    }
}

/// The scale-out configuration: the S3 server and a fresh PostgreSQL database from the
/// environment (see `.ci/run`). Reports and returns when they are not configured.
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
        case(TestRegistry {
            app: app(blobs, meta, RegistryLimits::default()).await,
            _dir: None,
        })
        .await;
    })
    .await;
}

/// Runs each named case on the embedded configuration and on S3 + PostgreSQL.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::embedded(Default::default()).await).await;
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
    base_endpoint,
    monolithic_blob_push_head_get_range_delete,
    monolithic_push_with_wrong_digest_or_length_is_refused,
    chunked_upload_with_status_out_of_order_and_finish,
    upload_finish_with_wrong_digest_cancel_and_foreign_sessions,
    sha512_blobs_monolithic_and_chunked,
    cross_repository_mount,
    manifests_by_tag_and_digest_with_negotiation,
    manifest_validation_errors,
    docker_manifests_indexes_and_multiple_tags,
    deleting_tags_and_manifests,
    referrers_with_filter_and_missing_subject,
    tag_and_catalog_pagination,
    malformed_requests_are_4xx,
    large_blob_in_odd_chunks,
    upload_ids_from_the_path_never_reach_a_header,
    encoded_names_and_deep_json_are_refused,
    push_by_digest_with_tags_names_the_tags,
    a_busy_upload_says_it_is_busy,
);

impl TestRegistry {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
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

    async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, &[], Bytes::new()).await
    }

    /// Pushes a blob monolithically and returns its digest.
    async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Digest::sha256(data);
        let r = self
            .call(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                &[],
                Bytes::copy_from_slice(data),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        digest
    }

    /// Pushes a config and one layer plus an image manifest; returns the manifest digest
    /// and bytes.
    async fn push_image(
        &self,
        repo: &str,
        tag: &str,
        seed: &str,
        extra: Value,
    ) -> (Digest, Vec<u8>) {
        let config = format!("{{\"seed\":\"{seed}\"}}");
        let layer = format!("layer of {seed}");
        let c = self.push_blob(repo, config.as_bytes()).await;
        let l = self.push_blob(repo, layer.as_bytes()).await;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l, "size": layer.len()}],
        });
        if let (Some(m), Some(extra)) = (manifest.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
        let r = self
            .call(
                Method::PUT,
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("content-type", OCI_MANIFEST)],
                bytes.clone(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let digest = Digest::sha256(&bytes);
        assert_eq!(r.header("docker-content-digest"), digest.as_str());
        assert_eq!(
            r.header("location"),
            format!("/v2/{repo}/manifests/{digest}")
        );
        (digest, bytes)
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn base_endpoint(reg: TestRegistry) {
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(reg.get(probe).await.status, StatusCode::OK, "{probe}");
    }
    for uri in ["/v2/", "/v2"] {
        let r = reg.get(uri).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    }
}

async fn monolithic_blob_push_head_get_range_delete(reg: TestRegistry) {
    let data = pattern(100_000);
    let digest = reg.push_blob("a/b", &data).await;

    let head = reg
        .call(
            Method::HEAD,
            &format!("/v2/a/b/blobs/{digest}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), "100000");
    assert_eq!(head.header("docker-content-digest"), digest.as_str());
    assert!(head.body.is_empty());

    let get = reg.get(&format!("/v2/a/b/blobs/{digest}")).await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(&get.body[..], &data[..]);

    let range = reg
        .call(
            Method::GET,
            &format!("/v2/a/b/blobs/{digest}"),
            &[("range", "bytes=10-19")],
            Bytes::new(),
        )
        .await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.header("content-range"), "bytes 10-19/100000");
    assert_eq!(&range.body[..], &data[10..20]);

    let suffix = reg
        .call(
            Method::GET,
            &format!("/v2/a/b/blobs/{digest}"),
            &[("range", "bytes=-5")],
            Bytes::new(),
        )
        .await;
    assert_eq!(&suffix.body[..], &data[data.len() - 5..]);

    let bad = reg
        .call(
            Method::GET,
            &format!("/v2/a/b/blobs/{digest}"),
            &[("range", "bytes=100000-")],
            Bytes::new(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(bad.header("content-range"), "bytes */100000");

    // The percent-encoded form of the digest names the same blob.
    let encoded = digest.as_str().replace(':', "%3A");
    assert_eq!(
        reg.get(&format!("/v2/a/b/blobs/{encoded}")).await.status,
        StatusCode::OK
    );

    // Another repository cannot read it.
    reg.get(&format!("/v2/other/blobs/{digest}"))
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");

    let del = reg
        .call(
            Method::DELETE,
            &format!("/v2/a/b/blobs/{digest}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(del.status, StatusCode::ACCEPTED);
    reg.get(&format!("/v2/a/b/blobs/{digest}"))
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    reg.call(
        Method::DELETE,
        &format!("/v2/a/b/blobs/{digest}"),
        &[],
        Bytes::new(),
    )
    .await
    .error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
}

async fn monolithic_push_with_wrong_digest_or_length_is_refused(reg: TestRegistry) {
    let wrong = Digest::sha256(b"something else");
    reg.call(
        Method::POST,
        &format!("/v2/r/blobs/uploads/?digest={wrong}"),
        &[],
        &b"data"[..],
    )
    .await
    .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    reg.get(&format!("/v2/r/blobs/{wrong}"))
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    reg.call(
        Method::POST,
        "/v2/r/blobs/uploads/?digest=sha256:1234",
        &[],
        &b"data"[..],
    )
    .await
    .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    reg.call(
        Method::POST,
        "/v2/r/blobs/uploads/?digest=md5:abcd",
        &[],
        &b"data"[..],
    )
    .await
    .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    // An empty blob is a blob.
    let empty = reg.push_blob("r", b"").await;
    let r = reg.get(&format!("/v2/r/blobs/{empty}")).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 0));
}

async fn chunked_upload_with_status_out_of_order_and_finish(reg: TestRegistry) {
    let data = pattern(300_000);
    let digest = Digest::sha256(&data);

    let start = reg
        .call(Method::POST, "/v2/ns/app/blobs/uploads/", &[], Bytes::new())
        .await;
    assert_eq!(start.status, StatusCode::ACCEPTED);
    let location = start.header("location").to_owned();
    assert!(
        location.starts_with("/v2/ns/app/blobs/uploads/"),
        "{location}"
    );
    assert_eq!(start.header("range"), "0-0");
    assert!(!start.header("docker-upload-uuid").is_empty());

    let first = reg
        .call(
            Method::PATCH,
            &location,
            &[("content-range", "0-99999")],
            data[..100_000].to_vec(),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.header("range"), "0-99999");
    let location = first.header("location").to_owned();

    // A chunk that does not start where the upload stands: 416 with the current range.
    let gap = reg
        .call(
            Method::PATCH,
            &location,
            &[("content-range", "150000-199999")],
            data[150_000..200_000].to_vec(),
        )
        .await;
    gap.error(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID");
    assert_eq!(gap.header("range"), "0-99999");
    assert_eq!(gap.header("location"), location);
    let overlap = reg
        .call(
            Method::PATCH,
            &location,
            &[("content-range", "50000-149999")],
            data[50_000..150_000].to_vec(),
        )
        .await;
    overlap.error(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID");
    // Content-Range and Content-Length disagree.
    reg.call(
        Method::PATCH,
        &location,
        &[("content-range", "100000-100009")],
        data[100_000..100_020].to_vec(),
    )
    .await
    .error(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID");

    let status = reg.get(&location).await;
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert_eq!(status.header("range"), "0-99999");

    // A streamed chunk (no Content-Range).
    let second = reg
        .call(
            Method::PATCH,
            &location,
            &[],
            data[100_000..250_000].to_vec(),
        )
        .await;
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert_eq!(second.header("range"), "0-249999");

    // Finish with the last chunk in the PUT body.
    let done = reg
        .call(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            &[],
            data[250_000..].to_vec(),
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{:?}", done.body);
    assert_eq!(
        done.header("location"),
        format!("/v2/ns/app/blobs/{digest}")
    );
    assert_eq!(done.header("docker-content-digest"), digest.as_str());
    let got = reg.get(&format!("/v2/ns/app/blobs/{digest}")).await;
    assert_eq!(&got.body[..], &data[..]);

    // The session is over.
    reg.get(&location)
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
}

async fn upload_finish_with_wrong_digest_cancel_and_foreign_sessions(reg: TestRegistry) {
    let start = reg
        .call(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new())
        .await;
    let location = start.header("location").to_owned();
    reg.call(Method::PATCH, &location, &[], &b"hello"[..]).await;
    // The session belongs to its repository.
    let foreign = location.replace("/v2/r/", "/v2/other/");
    reg.get(&foreign)
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    reg.call(Method::PUT, &location, &[], Bytes::new())
        .await
        .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    let wrong = Digest::sha256(b"olleh");
    reg.call(
        Method::PUT,
        &format!("{location}?digest={wrong}"),
        &[],
        Bytes::new(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    reg.get(&format!("/v2/r/blobs/{wrong}"))
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");

    let start = reg
        .call(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new())
        .await;
    let location = start.header("location").to_owned();
    let cancel = reg.call(Method::DELETE, &location, &[], Bytes::new()).await;
    assert_eq!(cancel.status, StatusCode::NO_CONTENT);
    reg.get(&location)
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    reg.call(Method::PATCH, &location, &[], &b"x"[..])
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    reg.get("/v2/r/blobs/uploads/not-a-session")
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
    reg.get("/v2/r/blobs/uploads/..%2F..%2Fetc")
        .await
        .error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
}

async fn sha512_blobs_monolithic_and_chunked(reg: TestRegistry) {
    let data = pattern(70_000);
    let digest = Digest::compute(berth_core::Algorithm::Sha512, &data);
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/r/blobs/uploads/?digest={digest}"),
            &[],
            data.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        &reg.get(&format!("/v2/r/blobs/{digest}")).await.body[..],
        &data[..]
    );

    let data2 = pattern(90_001);
    let digest2 = Digest::compute(berth_core::Algorithm::Sha512, &data2);
    let start = reg
        .call(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new())
        .await;
    let location = start.header("location").to_owned();
    reg.call(
        Method::PATCH,
        &location,
        &[("content-range", "0-49999")],
        data2[..50_000].to_vec(),
    )
    .await;
    let done = reg
        .call(
            Method::PUT,
            &format!("{location}?digest={digest2}"),
            &[],
            data2[50_000..].to_vec(),
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{:?}", done.body);
    assert_eq!(
        &reg.get(&format!("/v2/r/blobs/{digest2}")).await.body[..],
        &data2[..]
    );

    // A wrong sha512 on a chunked upload is still caught.
    let start = reg
        .call(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new())
        .await;
    let location = start.header("location").to_owned();
    reg.call(Method::PATCH, &location, &[], &b"abc"[..]).await;
    reg.call(
        Method::PUT,
        &format!("{location}?digest={digest2}"),
        &[],
        Bytes::new(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
}

async fn cross_repository_mount(reg: TestRegistry) {
    let digest = reg.push_blob("src/repo", b"shared layer").await;
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={digest}&from=src/repo"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), format!("/v2/dst/blobs/{digest}"));
    assert_eq!(
        &reg.get(&format!("/v2/dst/blobs/{digest}")).await.body[..],
        b"shared layer"
    );

    // Not in the source: fall back to a session.
    let missing = Digest::sha256(b"nowhere");
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/dst/blobs/uploads/?mount={missing}&from=src/repo"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.header("location").starts_with("/v2/dst/blobs/uploads/"));
    // No `from`: mounted from wherever the registry has it (and the caller may read it)...
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/dst2/blobs/uploads/?mount={digest}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), format!("/v2/dst2/blobs/{digest}"));
    assert_eq!(
        &reg.get(&format!("/v2/dst2/blobs/{digest}")).await.body[..],
        b"shared layer"
    );
    // ...and a session when it has it nowhere.
    let r = reg
        .call(
            Method::POST,
            &format!("/v2/dst2/blobs/uploads/?mount={missing}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    reg.call(
        Method::POST,
        &format!("/v2/dst/blobs/uploads/?mount={digest}&from=BAD"),
        &[],
        Bytes::new(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "NAME_INVALID");
}

async fn manifests_by_tag_and_digest_with_negotiation(reg: TestRegistry) {
    let (digest, bytes) = reg.push_image("lib/app", "v1", "one", json!({})).await;

    for uri in [
        "/v2/lib/app/manifests/v1".to_string(),
        format!("/v2/lib/app/manifests/{digest}"),
    ] {
        let r = reg
            .call(Method::GET, &uri, &[("accept", OCI_MANIFEST)], Bytes::new())
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), OCI_MANIFEST);
        assert_eq!(r.header("docker-content-digest"), digest.as_str());
        assert_eq!(&r.body[..], &bytes[..], "served byte for byte");
        let head = reg.call(Method::HEAD, &uri, &[], Bytes::new()).await;
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.header("content-length"), bytes.len().to_string());
        assert!(head.body.is_empty());
    }
    // By tag, a client that accepts only Docker manifests is not handed an OCI one.
    reg.call(
        Method::GET,
        "/v2/lib/app/manifests/v1",
        &[("accept", DOCKER_MANIFEST)],
        Bytes::new(),
    )
    .await
    .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    // Several Accept values, one of them matching.
    let r = reg
        .call(
            Method::GET,
            "/v2/lib/app/manifests/v1",
            &[("accept", &format!("{DOCKER_MANIFEST}, {OCI_MANIFEST}"))],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    reg.get("/v2/lib/app/manifests/nope")
        .await
        .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    reg.get("/v2/lib/nothing/manifests/v1")
        .await
        .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    // A read of a reference that cannot exist is "not found"; a write with it is invalid.
    reg.get("/v2/lib/app/manifests/-bad")
        .await
        .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    let head = reg
        .call(
            Method::HEAD,
            "/v2/lib/app/manifests/.INVALID_MANIFEST_NAME",
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    reg.get("/v2/lib/app/manifests/.INVALID_MANIFEST_NAME")
        .await
        .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    reg.call(
        Method::PUT,
        "/v2/lib/app/manifests/.INVALID_MANIFEST_NAME",
        &[("content-type", OCI_MANIFEST)],
        &b"{}"[..],
    )
    .await
    .error(StatusCode::BAD_REQUEST, "TAG_INVALID");
    reg.get("/v2/lib/app/manifests/sha256:abc")
        .await
        .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
}

async fn manifest_validation_errors(reg: TestRegistry) {
    let put = |uri: &'static str, ct: &'static str, body: Vec<u8>| {
        let reg = &reg;
        async move {
            reg.call(Method::PUT, uri, &[("content-type", ct)], body)
                .await
        }
    };
    put("/v2/r/manifests/t", OCI_MANIFEST, b"{not json".to_vec())
        .await
        .error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    put(
        "/v2/r/manifests/t",
        OCI_MANIFEST,
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.to_vec(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    put(
        "/v2/r/manifests/t",
        "text/plain",
        br#"{"schemaVersion":2}"#.to_vec(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    // Media type in the body and the Content-Type disagree.
    let missing = Digest::sha256(b"missing");
    let body = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": missing, "size": 7},
        "layers": [],
    });
    put(
        "/v2/r/manifests/t",
        DOCKER_MANIFEST,
        serde_json::to_vec(&body).unwrap(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    // Blobs it needs are not in the repository.
    let r = put(
        "/v2/r/manifests/t",
        OCI_MANIFEST,
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    r.error(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], missing.as_str());
    // Declared size differs from the blob's.
    let cfg = reg.push_blob("r", b"{}").await;
    let wrong_size = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 3},
        "layers": [],
    });
    put(
        "/v2/r/manifests/t",
        OCI_MANIFEST,
        serde_json::to_vec(&wrong_size).unwrap(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    // Pushed by digest: the digest must match the bytes.
    let good = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": 2},
        "layers": [],
    });
    let bytes = serde_json::to_vec(&good).unwrap();
    let wrong = Digest::sha256(b"other");
    reg.call(
        Method::PUT,
        &format!("/v2/r/manifests/{wrong}"),
        &[("content-type", OCI_MANIFEST)],
        bytes.clone(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    let right = Digest::sha256(&bytes);
    let r = reg
        .call(
            Method::PUT,
            &format!("/v2/r/manifests/{right}"),
            &[("content-type", OCI_MANIFEST)],
            bytes,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    reg.call(
        Method::PUT,
        "/v2/r/manifests/t?tag=ok&tag=-bad",
        &[("content-type", OCI_MANIFEST)],
        Bytes::new(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "TAG_INVALID");
    // Schema 1 is not supported.
    put(
        "/v2/r/manifests/t",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        br#"{"schemaVersion":1}"#.to_vec(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
}

#[tokio::test]
async fn manifest_size_limit() {
    let reg = embedded(RegistryLimits {
        max_manifest_bytes: 1000,
        ..RegistryLimits::default()
    })
    .await;
    let big = format!("{{\"schemaVersion\":2,\"x\":\"{}\"}}", "a".repeat(2000));
    reg.call(
        Method::PUT,
        "/v2/r/manifests/t",
        &[("content-type", OCI_MANIFEST)],
        big,
    )
    .await
    .error(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID");
}

async fn docker_manifests_indexes_and_multiple_tags(reg: TestRegistry) {
    let cfg = reg.push_blob("d", b"{\"architecture\":\"amd64\"}").await;
    let layer = reg.push_blob("d", b"layer-bytes").await;
    let docker = json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfg, "size": 24},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": layer, "size": 11}],
    });
    let docker_bytes = serde_json::to_vec(&docker).unwrap();
    let docker_digest = Digest::sha256(&docker_bytes);
    let r = reg
        .call(
            Method::PUT,
            &format!("/v2/d/manifests/{docker_digest}?tag=a&tag=b"),
            &[("content-type", DOCKER_MANIFEST)],
            docker_bytes.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let tags = reg.get("/v2/d/tags/list").await.json();
    assert_eq!(tags, json!({"name": "d", "tags": ["a", "b"]}));

    // A manifest list whose child is missing is refused; with the child present it is kept.
    let (oci_digest, oci_bytes) = reg.push_image("d", "oci", "x", json!({})).await;
    let missing = Digest::sha256(b"missing child");
    let list = |children: Value| {
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": children}),
        )
        .unwrap()
    };
    let bad = list(
        json!([{"mediaType": DOCKER_MANIFEST, "digest": missing, "size": 10, "platform": {"os": "linux", "architecture": "arm64"}}]),
    );
    reg.call(
        Method::PUT,
        "/v2/d/manifests/multi",
        &[("content-type", DOCKER_LIST)],
        bad,
    )
    .await
    .error(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN");
    let good = list(json!([
        {"mediaType": DOCKER_MANIFEST, "digest": docker_digest, "size": docker_bytes.len(), "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": oci_digest, "size": oci_bytes.len(), "platform": {"os": "linux", "architecture": "arm64"}},
    ]));
    let r = reg
        .call(
            Method::PUT,
            "/v2/d/manifests/multi",
            &[("content-type", DOCKER_LIST)],
            good.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let got = reg
        .call(
            Method::GET,
            "/v2/d/manifests/multi",
            &[("accept", DOCKER_LIST)],
            Bytes::new(),
        )
        .await;
    assert_eq!(got.header("content-type"), DOCKER_LIST);
    assert_eq!(&got.body[..], &good[..]);

    // An OCI index without mediaType in the body, typed by Content-Type.
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": oci_digest, "size": oci_bytes.len()}]}))
    .unwrap();
    let r = reg
        .call(
            Method::PUT,
            "/v2/d/manifests/idx",
            &[("content-type", OCI_INDEX)],
            index,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        reg.get("/v2/d/manifests/idx").await.header("content-type"),
        OCI_INDEX
    );
}

async fn deleting_tags_and_manifests(reg: TestRegistry) {
    let (digest, _) = reg.push_image("del", "v1", "one", json!({})).await;
    reg.call(
        Method::PUT,
        &format!("/v2/del/manifests/{digest}?tag=v2"),
        &[("content-type", OCI_MANIFEST)],
        reg.get(&format!("/v2/del/manifests/{digest}")).await.body,
    )
    .await;
    // Deleting a tag leaves the manifest and the other tag.
    let r = reg
        .call(Method::DELETE, "/v2/del/manifests/v1", &[], Bytes::new())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    reg.get("/v2/del/manifests/v1")
        .await
        .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    assert_eq!(reg.get("/v2/del/manifests/v2").await.status, StatusCode::OK);
    // Deleting by digest takes the remaining tags along.
    let r = reg
        .call(
            Method::DELETE,
            &format!("/v2/del/manifests/{digest}"),
            &[],
            Bytes::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    reg.get("/v2/del/manifests/v2")
        .await
        .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    reg.get(&format!("/v2/del/manifests/{digest}"))
        .await
        .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
    assert_eq!(reg.get("/v2/del/tags/list").await.json()["tags"], json!([]));
    reg.call(
        Method::DELETE,
        &format!("/v2/del/manifests/{digest}"),
        &[],
        Bytes::new(),
    )
    .await
    .error(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");
}

async fn referrers_with_filter_and_missing_subject(reg: TestRegistry) {
    let subject = Digest::sha256(b"an image pushed later");
    let subject_desc = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": 21});
    // The subject does not exist yet: accepted, answered with OCI-Subject.
    let cfg = reg.push_blob("s", b"{}").await;
    let empty_cfg =
        json!({"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2});
    let sig = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
        "config": empty_cfg, "layers": [], "subject": subject_desc,
        "annotations": {"org.example.signed-by": "me"},
    });
    let sig_bytes = serde_json::to_vec(&sig).unwrap();
    let sig_digest = Digest::sha256(&sig_bytes);
    let r = reg
        .call(
            Method::PUT,
            &format!("/v2/s/manifests/{sig_digest}"),
            &[("content-type", OCI_MANIFEST)],
            sig_bytes.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("oci-subject"), subject.as_str());
    let sbom = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.sbom", "digest": cfg, "size": 2},
        "layers": [], "subject": subject_desc,
    });
    let sbom_bytes = serde_json::to_vec(&sbom).unwrap();
    reg.call(
        Method::PUT,
        "/v2/s/manifests/sbom",
        &[("content-type", OCI_MANIFEST)],
        sbom_bytes.clone(),
    )
    .await;

    let all = reg.get(&format!("/v2/s/referrers/{subject}")).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.header("content-type"), OCI_INDEX);
    assert!(all.headers.get("oci-filters-applied").is_none());
    let index = all.json();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    let sig_entry = manifests
        .iter()
        .find(|m| m["digest"] == sig_digest.as_str())
        .unwrap();
    assert_eq!(sig_entry["artifactType"], "application/vnd.example.sig");
    assert_eq!(sig_entry["size"], sig_bytes.len());
    assert_eq!(sig_entry["mediaType"], OCI_MANIFEST);
    assert_eq!(sig_entry["annotations"]["org.example.signed-by"], "me");
    // Without artifactType, the config's media type stands in.
    let sbom_entry = manifests
        .iter()
        .find(|m| m["digest"] == Digest::sha256(&sbom_bytes).as_str())
        .unwrap();
    assert_eq!(sbom_entry["artifactType"], "application/vnd.example.sbom");

    let filtered = reg
        .get(&format!(
            "/v2/s/referrers/{subject}?artifactType=application/vnd.example.sig"
        ))
        .await;
    assert_eq!(filtered.header("oci-filters-applied"), "artifactType");
    assert_eq!(filtered.json()["manifests"].as_array().unwrap().len(), 1);

    let none = reg.get(&format!("/v2/s/referrers/{cfg}")).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["manifests"], json!([]));
    reg.get("/v2/s/referrers/sha256:bad")
        .await
        .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
}

async fn tag_and_catalog_pagination(reg: TestRegistry) {
    let (digest, bytes) = reg.push_image("p/q", "t00", "p", json!({})).await;
    for i in 1..12 {
        let r = reg
            .call(
                Method::PUT,
                &format!("/v2/p/q/manifests/t{i:02}"),
                &[("content-type", OCI_MANIFEST)],
                bytes.clone(),
            )
            .await;
        assert_eq!(r.header("docker-content-digest"), digest.as_str());
    }
    let page = reg.get("/v2/p/q/tags/list?n=5").await;
    assert_eq!(
        page.json()["tags"],
        json!(["t00", "t01", "t02", "t03", "t04"])
    );
    assert_eq!(
        page.header("link"),
        "</v2/p/q/tags/list?n=5&last=t04>; rel=\"next\""
    );
    let next = reg.get("/v2/p/q/tags/list?n=5&last=t04").await;
    assert_eq!(
        next.json()["tags"],
        json!(["t05", "t06", "t07", "t08", "t09"])
    );
    let last = reg.get("/v2/p/q/tags/list?n=5&last=t09").await;
    assert_eq!(last.json()["tags"], json!(["t10", "t11"]));
    assert!(last.headers.get("link").is_none());
    assert_eq!(
        reg.get("/v2/p/q/tags/list?n=0").await.json()["tags"],
        json!([])
    );
    reg.get("/v2/p/q/tags/list?n=x")
        .await
        .error(StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID");
    reg.get("/v2/p/none/tags/list")
        .await
        .error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");

    for name in ["c/b", "c/a", "b", "a/z"] {
        reg.push_image(name, "v1", name, json!({})).await;
    }
    // A repository that holds only blobs is not in the catalog.
    reg.push_blob("c/blobs-only", b"x").await;
    let all = reg.get("/v2/_catalog").await.json();
    assert_eq!(
        all["repositories"],
        json!(["a/z", "b", "c/a", "c/b", "p/q"])
    );
    let page = reg.get("/v2/_catalog?n=2&last=b").await;
    assert_eq!(page.json()["repositories"], json!(["c/a", "c/b"]));
    assert_eq!(
        page.header("link"),
        "</v2/_catalog?n=2&last=c%2Fb>; rel=\"next\""
    );
}

async fn malformed_requests_are_4xx(reg: TestRegistry) {
    reg.get("/v2/UPPER/tags/list")
        .await
        .error(StatusCode::BAD_REQUEST, "NAME_INVALID");
    reg.get("/v2/a//b/tags/list")
        .await
        .error(StatusCode::BAD_REQUEST, "NAME_INVALID");
    reg.get(&format!("/v2/{}/tags/list", "a".repeat(300)))
        .await
        .error(StatusCode::BAD_REQUEST, "NAME_INVALID");
    reg.get("/v2/a/blobs/sha256:XYZ")
        .await
        .error(StatusCode::BAD_REQUEST, "DIGEST_INVALID");
    reg.get("/v2/a/something")
        .await
        .error(StatusCode::NOT_FOUND, "NOT_FOUND");
    reg.call(Method::POST, "/v2/a/manifests/v1", &[], Bytes::new())
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED");
    reg.call(Method::PUT, "/v2/a/tags/list", &[], Bytes::new())
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED");
    let start = reg
        .call(Method::POST, "/v2/a/blobs/uploads/", &[], Bytes::new())
        .await;
    let location = start.header("location").to_owned();
    reg.call(
        Method::PATCH,
        &location,
        &[("content-range", "garbage")],
        &b"x"[..],
    )
    .await
    .error(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID");
    reg.call(
        Method::PATCH,
        &location,
        &[("content-length", "abc")],
        Bytes::new(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "SIZE_INVALID");
    let r = reg
        .get("/v2/a/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        .await;
    r.error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN");
    assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
}

/// Tens of MiB in chunks that straddle S3's 5 MiB part minimum, resumed chunk by chunk.
async fn large_blob_in_odd_chunks(reg: TestRegistry) {
    let data = pattern(23 * 1024 * 1024 + 7);
    let digest = Digest::sha256(&data);
    let start = reg
        .call(Method::POST, "/v2/big/blobs/uploads/", &[], Bytes::new())
        .await;
    let mut location = start.header("location").to_owned();
    let mut offset = 0;
    for size in [
        1,
        3 * 1024 * 1024,
        7 * 1024 * 1024 + 11,
        100,
        6 * 1024 * 1024,
    ] {
        let end = offset + size;
        let r = reg
            .call(
                Method::PATCH,
                &location,
                &[("content-range", &format!("{offset}-{}", end - 1))],
                data[offset..end].to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        assert_eq!(r.header("range"), format!("0-{}", end - 1));
        location = r.header("location").to_owned();
        offset = end;
    }
    let done = reg
        .call(
            Method::PUT,
            &format!("{location}?digest={digest}"),
            &[],
            data[offset..].to_vec(),
        )
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{:?}", done.body);
    let got = reg.get(&format!("/v2/big/blobs/{digest}")).await;
    assert_eq!(got.body.len(), data.len());
    assert!(got.body[..] == data[..], "content differs");
    let part = reg
        .call(
            Method::GET,
            &format!("/v2/big/blobs/{digest}"),
            &[("range", "bytes=5242870-5242889")],
            Bytes::new(),
        )
        .await;
    assert_eq!(&part.body[..], &data[5_242_870..5_242_890]);
}

/// Regression (issue 6): an upload id taken from the path went into the `Location` header
/// unchecked; `%0A` with a bad `Content-Range` reached an `expect` and became a 500.
async fn upload_ids_from_the_path_never_reach_a_header(reg: TestRegistry) {
    reg.push_blob("x", b"make the repository exist").await;
    let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    for (method, path) in [
        (Method::PATCH, "/v2/x/blobs/uploads/%0A".to_owned()),
        (
            Method::PUT,
            format!("/v2/x/blobs/uploads/%0A?digest={digest}"),
        ),
        // Well-formed but unknown: the session's absence, not a range error.
        (Method::PATCH, "/v2/x/blobs/uploads/0a-1".to_owned()),
        (
            Method::PUT,
            format!("/v2/x/blobs/uploads/0a-1?digest={digest}"),
        ),
    ] {
        {
            let path = path.as_str();
            let r = reg
                .call(
                    method.clone(),
                    path,
                    &[("content-range", "garbage")],
                    &b"x"[..],
                )
                .await;
            r.error(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN");
            assert!(r.headers.get("location").is_none(), "{path}");
        }
    }
}

/// Regression (issue 11): encoded slashes made `abuse1%2Ftarget` land in `abuse1/target`;
/// JSON nested without limit was accepted.
async fn encoded_names_and_deep_json_are_refused(reg: TestRegistry) {
    reg.call(
        Method::PUT,
        "/v2/abuse1%2Ftarget/manifests/t1",
        &[("content-type", OCI_MANIFEST)],
        &b"{}"[..],
    )
    .await
    .error(StatusCode::BAD_REQUEST, "NAME_INVALID");
    reg.get("/v2/a%62c/tags/list")
        .await
        .error(StatusCode::BAD_REQUEST, "NAME_INVALID");
    reg.get("/v2/_catalog").await.json()["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(|r| assert!(!r.as_str().unwrap().starts_with("abuse1")));
    let deep = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[],"x":{}{}}}"#,
        "[".repeat(10_001),
        "]".repeat(10_001)
    );
    reg.call(
        Method::PUT,
        "/v2/deep/manifests/v1",
        &[("content-type", OCI_INDEX)],
        deep,
    )
    .await
    .error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
}

/// Regression (issue 11): a push by digest with `?tag=` answers one `OCI-Tag` per tag.
async fn push_by_digest_with_tags_names_the_tags(reg: TestRegistry) {
    let (digest, bytes) = reg.push_image("tagged", "first", "tagged", json!({})).await;
    let r = reg
        .call(
            Method::PUT,
            &format!("/v2/tagged/manifests/{digest}?tag=a&tag=b&tag=a"),
            &[("content-type", OCI_MANIFEST)],
            bytes,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let tags: Vec<&str> = r
        .headers
        .get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(tags, ["a", "b"]);
    let by_tag = reg.get("/v2/tagged/manifests/b").await;
    assert_eq!(by_tag.header("docker-content-digest"), digest.as_str());
    // By tag: no OCI-Tag.
    let (_, bytes) = reg
        .push_image("tagged", "second", "tagged", json!({}))
        .await;
    let r = reg
        .call(
            Method::PUT,
            "/v2/tagged/manifests/third?tag=c",
            &[("content-type", OCI_MANIFEST)],
            bytes,
        )
        .await;
    assert!(r.headers.get("oci-tag").is_none());
}

/// Regression (issue 11): a second PATCH while the first is still writing said "chunk out
/// of order: the upload has 0 bytes"; it is busy, and says so.
async fn a_busy_upload_says_it_is_busy(reg: TestRegistry) {
    let start = reg
        .call(Method::POST, "/v2/busy/blobs/uploads/", &[], Bytes::new())
        .await;
    let location = start.header("location").to_owned();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let first = {
        let app = reg.app.clone();
        let location = location.clone();
        tokio::spawn(async move {
            let body = Body::from_stream(tokio_stream_from(rx));
            let req = Request::builder()
                .method(Method::PATCH)
                .uri(&location)
                .body(body)
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        })
    };
    // With room for one chunk in the channel, the second send returns only once the first
    // PATCH took the first chunk: it is writing, holding the session.
    tx.send(Ok(Bytes::from_static(b"first half")))
        .await
        .unwrap();
    tx.send(Ok(Bytes::from_static(b"second half")))
        .await
        .unwrap();
    let busy = reg
        .call(Method::PATCH, &location, &[], &b"second"[..])
        .await;
    busy.error(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS");
    assert_eq!(busy.header("retry-after"), "1");
    assert!(
        busy.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("busy")
    );
    drop(tx);
    assert_eq!(first.await.unwrap(), StatusCode::ACCEPTED);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// With `create_on_push = false`, a push into a namespace that does not exist is refused
/// with NAME_UNKNOWN saying why, and works once the namespace exists.
#[tokio::test]
async fn create_on_push_off_refuses_unknown_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap());
    let meta = Meta::new(Arc::new(
        SqliteMetaStore::open(&dir.path().join("berth.db"))
            .await
            .unwrap(),
    ));
    let mut config = ServiceConfig::default();
    config.namespaces.create_on_push = false;
    let services = Arc::new(Services::start(blobs, meta, config).await.unwrap());
    let reg = TestRegistry {
        app: berth_api::router(AppState::new(services.clone(), Default::default())),
        _dir: Some(dir),
    };
    let r = reg
        .call(
            Method::POST,
            "/v2/newns/app/blobs/uploads/",
            &[],
            Bytes::new(),
        )
        .await;
    r.error(StatusCode::NOT_FOUND, "NAME_UNKNOWN");
    let message = r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("create_on_push"), "{message}");
    services
        .repositories
        .create_namespace(
            &berth_core::Caller::anonymous(),
            &berth_service::NamespaceSpec {
                name: "newns".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    reg.push_image("newns/app", "v1", "x", json!({})).await;
    // Reserved names are never created.
    reg.call(
        Method::POST,
        "/v2/manage/x/blobs/uploads/",
        &[],
        Bytes::new(),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "NAME_INVALID");
}
