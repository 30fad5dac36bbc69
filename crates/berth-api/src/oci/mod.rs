//! The OCI Distribution Specification v1.1 under `/v2/`. One dispatcher parses every request
//! into an [`OciEndpoint`] (path, method and query), authenticates the caller, and runs the
//! endpoint's handler, which resolves the repository and the access decision in one step.

pub mod endpoint;
pub mod error;
mod handlers;
pub mod responses;

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

pub use endpoint::OciEndpoint;
pub use error::{OciCode, OciError};

use crate::AppState;
use crate::caller::{AuthError, authenticate};

/// The single entry point for everything under `/v2`.
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let has_body = request.body().size_hint().exact() != Some(0);
    let (parts, body) = request.into_parts();
    let result = async {
        let endpoint = OciEndpoint::parse(&parts.method, parts.uri.path(), parts.uri.query())?;
        let caller = authenticate(&state, &parts.headers)
            .await
            .map_err(OciError::from)?;
        handlers::handle(&state, &caller, endpoint, &parts.headers, body).await
    }
    .await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            let mut response = error.into_response();
            if has_body {
                // The body may be unread: the connection cannot carry another request, so
                // say so rather than let the client's next request fail.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    };
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
