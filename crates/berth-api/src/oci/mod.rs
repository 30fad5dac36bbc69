//! The OCI Distribution Specification v1.1 under `/v2/`. One dispatcher parses every request
//! into an [`OciEndpoint`] (path, method and query), authenticates the caller, and runs the
//! endpoint's handler, which resolves the repository and the access decision in one step.

pub mod endpoint;
pub mod error;
mod handlers;
pub mod responses;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;

pub use endpoint::OciEndpoint;
pub use error::{OciCode, OciError};

use crate::AppState;
use crate::access_log::RouteTemplate;
use crate::caller::{AuthError, authenticate};

/// The single entry point for everything under `/v2`. (An error answered before the body
/// was read is drained by the router's drain layer.)
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut template = "/v2/{*rest}";
    let result = async {
        let endpoint = OciEndpoint::parse(&parts.method, parts.uri.path(), parts.uri.query())?;
        template = endpoint.template();
        let caller = authenticate(&state, &parts.headers)
            .await
            .map_err(OciError::from)?;
        handlers::handle(&state, &caller, endpoint, &parts.headers, body).await
    }
    .await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(RouteTemplate(template));
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

impl From<AuthError> for OciError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(why) => OciError::new(OciCode::Unauthorized, why),
        }
    }
}
