//! berth's HTTP surfaces. Handlers parse the request into typed values, authorize once, call
//! a service and render; there is no SQL and no storage key in here.

pub mod access_log;
pub mod auth;
pub mod drain;
pub mod oci;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{any, get};
use berth_service::Registry;
use http::StatusCode;

pub use auth::{Action, AllowAll, Authorizer, Scope};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub authorizer: Arc<dyn Authorizer>,
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
        .layer(access_log::layer())
}

/// Ready when the metadata database answers (for load balancers and Kubernetes probes).
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.registry.meta().list_repositories(None, 1).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
