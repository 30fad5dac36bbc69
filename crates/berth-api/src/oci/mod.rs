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
    let mut challenge_scope = None;
    let result = async {
        let endpoint = OciEndpoint::parse(&parts.method, parts.uri.path(), parts.uri.query())?;
        template = endpoint.template();
        challenge_scope = endpoint.challenge_scope();
        let caller = authenticate(&state, &parts).await.map_err(OciError::from)?;
        let upstream_host = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "ns")
            .map(|(_, v)| v.into_owned());
        handlers::handle(
            &state,
            &caller,
            endpoint,
            &parts.headers,
            body,
            upstream_host.as_deref(),
        )
        .await
    }
    .await;
    let mut response = match result {
        Ok(response) => response,
        Err(mut error) => {
            // Where to get (another) token: on 401, and on 403 with authentication on, as
            // clients that hold a token without the scope (oras) refresh it on a 403.
            let insufficient =
                error.status == http::StatusCode::FORBIDDEN && state.services.auth.enabled();
            if error.status == http::StatusCode::UNAUTHORIZED || insufficient {
                error = error.with_header(
                    http::header::WWW_AUTHENTICATE,
                    challenge(
                        &state,
                        &parts.headers,
                        challenge_scope.as_deref(),
                        insufficient,
                    ),
                );
            }
            error.into_response()
        }
    };
    response.extensions_mut().insert(RouteTemplate(template));
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

/// `Bearer realm="<base>/auth/token",service="berth",scope="repository:ns/app:pull"`: where
/// to get a registry token for what the request needs.
fn challenge(
    state: &AppState,
    headers: &http::HeaderMap,
    scope: Option<&str>,
    insufficient: bool,
) -> HeaderValue {
    let realm = format!("{}/auth/token", state.config.base_url(headers));
    let service = state.services.auth.service_name();
    let mut value = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
    if let Some(scope) = scope {
        value.push_str(&format!(",scope=\"{scope}\""));
    }
    if insufficient {
        value.push_str(",error=\"insufficient_scope\"");
    }
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer"))
}

impl From<AuthError> for OciError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(why) => OciError::new(OciCode::Unauthorized, why),
            AuthError::TooManyAttempts => OciError::new(OciCode::TooManyRequests, e.message())
                .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("60")),
            AuthError::Unavailable => OciError::new(OciCode::Unknown, e.message())
                .with_status(http::StatusCode::SERVICE_UNAVAILABLE),
        }
    }
}
