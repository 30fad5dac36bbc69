//! berth's HTTP surfaces, one folder per API family. Handlers parse the request into typed
//! values, authenticate the caller, call a service (which resolves the repository and
//! decides the access in one step) and render in the family's own shape; there is no SQL
//! and no storage key in here, and families never import each other.

pub mod access_log;
pub mod bkrepo;
pub mod caller;
pub mod dockercloud;
pub mod drain;
pub mod helm;
pub mod helmrepos;
pub mod native;
pub mod oci;
pub mod spaces;
pub mod swr;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{any, get};
use berth_service::Services;
use http::StatusCode;

pub use caller::{AuthError, Authenticated};

/// How the HTTP surfaces behave.
#[derive(Clone, Debug, Default)]
pub struct ApiConfig {
    /// How much of an unread request body an error answer waits for.
    pub drain: drain::DrainLimits,
    /// How clients reach berth (`https://registry.example.com`); unset: the request's Host.
    pub external_url: Option<String>,
    /// Whether `X-Forwarded-For` and `X-Forwarded-Proto` are believed (behind a proxy that
    /// sets them).
    pub trust_forwarded: bool,
}

impl ApiConfig {
    /// berth's base URL as clients reach it (`https://registry.example.com`), for links and
    /// the token realm: `external_url`, else the request's scheme and Host.
    pub fn base_url(&self, headers: &http::HeaderMap) -> String {
        if let Some(url) = &self.external_url {
            return url.trim_end_matches('/').to_owned();
        }
        let scheme = headers
            .get("x-forwarded-proto")
            .filter(|_| self.trust_forwarded)
            .and_then(|v| v.to_str().ok())
            .filter(|p| *p == "https" || *p == "http")
            .unwrap_or("http");
        format!("{scheme}://{}", self.registry_host(headers))
    }

    /// The registry's address as image references write it (`registry.example.com`,
    /// `127.0.0.1:5000`): from `external_url`, else the request's `Host`.
    pub fn registry_host(&self, headers: &http::HeaderMap) -> String {
        if let Some(url) = &self.external_url {
            let host = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            return host.trim_end_matches('/').to_owned();
        }
        headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or("localhost")
            .to_owned()
    }
}

/// What every handler can reach: the services, and how the surfaces are configured.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub config: Arc<ApiConfig>,
}

impl AppState {
    pub fn new(services: Arc<Services>, config: ApiConfig) -> AppState {
        AppState {
            services,
            config: Arc::new(config),
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let drain = state.config.drain;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*rest}", any(oci::dispatch))
        .route("/v2/manage/{*rest}", any(manage_or_oci))
        .merge(token::router())
        .merge(dockercloud::router())
        .merge(bkrepo::router())
        .merge(helm::router())
        .merge(helmrepos::router())
        .merge(swr::router())
        .merge(spaces::router())
        .merge(native::router())
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        // Outside the handlers: an error answer waits for the rest of the request body.
        .layer(drain::layer(drain))
        .layer(access_log::layer())
}

/// `/v2/manage/…` is SWR's management API where it names one of its endpoints; anything
/// else there is an OCI request for the reserved namespace `manage`, which the OCI surface
/// refuses in its own shape.
async fn manage_or_oci(state: State<AppState>, request: axum::extract::Request) -> Response {
    if swr::endpoint::SwrPath::parse(request.uri().path()).is_some() {
        swr::dispatch(state, request).await
    } else {
        oci::dispatch(state, request).await
    }
}

/// Ready when the metadata database answers (for load balancers and Kubernetes probes).
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.services.ready().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
