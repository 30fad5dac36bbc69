//! berth's HTTP surfaces, one folder per API family. Handlers parse the request into typed
//! values, authenticate the caller, call a service (which resolves the repository and
//! decides the access in one step) and render in the family's own shape; there is no SQL
//! and no storage key in here, and families never import each other.

pub mod caller;
pub mod oci;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{any, get};
use berth_service::Services;
use http::StatusCode;

pub use caller::{AuthError, Authenticated};

/// What every handler can reach: the services, and how berth is seen from outside.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
}

impl AppState {
    pub fn new(services: Arc<Services>) -> AppState {
        AppState { services }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/v2", any(oci::dispatch))
        .route("/v2/", any(oci::dispatch))
        .route("/v2/{*rest}", any(oci::dispatch))
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(tower_http::trace::TraceLayer::new_for_http())
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
