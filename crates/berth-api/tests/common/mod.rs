//! What the in-process API tests share: berth's real router over real stores (files and
//! SQLite in a temporary directory, or S3 and a fresh PostgreSQL database from the
//! environment), requests sent through it, and the answers. Each test file adds the
//! assertions of its own API family (`impl Reply`) and its helpers (`impl TestRegistry`).

#![allow(dead_code)] // not every test file uses every helper

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use berth_api::AppState;
use berth_meta::{Meta, PostgresMetaStore, SqliteMetaStore};
use berth_service::{ServiceConfig, Services};
use berth_storage::{BlobStore, FsBlobStore, S3BlobStore};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct TestRegistry {
    pub app: Router,
    pub services: Arc<Services>,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The route template a family recorded for the access log, if it did.
    pub template: Option<&'static str>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{}: body is not JSON ({e}): {:?}", self.status, self.text())
        })
    }
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub async fn registry(
    blobs: Arc<dyn BlobStore>,
    meta: Meta,
    config: ServiceConfig,
) -> TestRegistry {
    let services = Arc::new(Services::start(blobs, meta, config).await.unwrap());
    let app = berth_api::router(AppState::new(services.clone(), Default::default()));
    TestRegistry {
        app,
        services,
        _dir: None,
    }
}

/// The embedded default: files and SQLite in a temporary directory.
pub async fn embedded(config: ServiceConfig) -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(FsBlobStore::open(dir.path().join("blobs")).unwrap());
    let meta = Meta::new(Arc::new(
        SqliteMetaStore::open(&dir.path().join("berth.db"))
            .await
            .unwrap(),
    ));
    let mut reg = registry(blobs, meta, config).await;
    reg._dir = Some(dir);
    reg
}

/// S3 and a fresh PostgreSQL database from the environment; reports and returns when they
/// are not configured.
pub async fn scale_out<F, Fut>(test: &'static str, config: ServiceConfig, case: F)
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
        case(registry(blobs, meta, config).await).await;
    })
    .await;
}

/// Runs each case (an `async fn(TestRegistry)` of the calling file) on the embedded
/// configuration and on PostgreSQL + S3, with the file's `config()`.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::common::embedded(super::config()).await).await;
                }
            )*
        }
        mod scale_out {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::common::scale_out(stringify!($case), super::config(), super::$case)
                        .await;
                }
            )*
        }
    };
}

impl TestRegistry {
    /// A request through the router (as host `registry.test`); no answer may be a 5xx but
    /// a 501 (what berth is not configured for).
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "registry.test");
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
        let template = response
            .extensions()
            .get::<berth_api::access_log::RouteTemplate>()
            .map(|t| t.0);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            !status.is_server_error() || status == StatusCode::NOT_IMPLEMENTED,
            "{uri}: {status} {:?}",
            String::from_utf8_lossy(&body)
        );
        Reply {
            status,
            headers,
            body,
            template,
        }
    }
}
