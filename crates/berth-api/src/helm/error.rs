//! ChartMuseum's error shape, `{"error": "..."}` with the failure's status, for the classic
//! repository and the upload API alike. A 401 carries `WWW-Authenticate: Basic realm="berth"`:
//! what `helm repo add --username` and `helm cm-push` answer with credentials.

use axum::response::{IntoResponse, Response};
use berth_service::ServiceError;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::caller::AuthError;

#[derive(Debug)]
pub struct HelmError {
    pub status: StatusCode,
    pub message: String,
}

impl HelmError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> HelmError {
        HelmError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> HelmError {
        HelmError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> HelmError {
        HelmError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for HelmError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

impl From<AuthError> for HelmError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Invalid(_) => StatusCode::UNAUTHORIZED,
            AuthError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        HelmError::new(status, e.message())
    }
}

impl From<ServiceError> for HelmError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        e.log_internal("helm");
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Invalid { .. } => StatusCode::BAD_REQUEST,
            E::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            E::AlreadyExists(_) | E::Conflict(_) => StatusCode::CONFLICT,
            E::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            E::Forbidden(_) | E::QuotaExceeded(_) => StatusCode::FORBIDDEN,
            E::Unauthenticated => StatusCode::UNAUTHORIZED,
            E::Upstream(_) => StatusCode::BAD_GATEWAY,
            E::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => {
                return HelmError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        HelmError::new(status, e.to_string())
    }
}
