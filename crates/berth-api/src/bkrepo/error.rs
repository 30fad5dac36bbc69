//! bkrepo's envelope, `{"code", "message", "data", "traceId"}`, for failures too: `code` is
//! a non-zero integer and the HTTP status is the failure's own (bk-repo's docker module
//! answered every failure with a 404 and a registry error body; berth keeps the envelope the
//! seed documents and gives each failure its real status).
//!
//! The codes follow bk-repo's common message codes (`2500xx`): one per kind of failure.

use axum::response::{IntoResponse, Response};
use berth_service::ServiceError;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::caller::AuthError;

/// A failure of the bkrepo surface, ready to render (the trace id is added on the way out).
#[derive(Debug)]
pub struct BkError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

pub const SYSTEM_ERROR: u32 = 250001;
pub const PARAMETER_MISSING: u32 = 250002;
pub const PARAMETER_INVALID: u32 = 250003;
pub const RESOURCE_EXISTED: u32 = 250005;
pub const RESOURCE_NOT_FOUND: u32 = 250006;
pub const PERMISSION_DENIED: u32 = 250007;
pub const AUTHENTICATION_FAILED: u32 = 250008;
pub const METHOD_NOT_ALLOWED: u32 = 250009;
pub const TOO_MANY_REQUESTS: u32 = 250010;
pub const UPSTREAM_FAILED: u32 = 250011;
pub const NOT_SUPPORTED: u32 = 250012;

impl BkError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> BkError {
        BkError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn missing(parameter: &str) -> BkError {
        BkError::new(
            StatusCode::BAD_REQUEST,
            PARAMETER_MISSING,
            format!("parameter [{parameter}] is required"),
        )
    }

    pub fn invalid(parameter: &str, why: impl std::fmt::Display) -> BkError {
        BkError::new(
            StatusCode::BAD_REQUEST,
            PARAMETER_INVALID,
            format!("parameter [{parameter}] is invalid: {why}"),
        )
    }

    pub fn no_endpoint() -> BkError {
        BkError::new(
            StatusCode::NOT_FOUND,
            RESOURCE_NOT_FOUND,
            "no such endpoint of the docker extension API",
        )
    }

    pub fn method_not_allowed() -> BkError {
        BkError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            METHOD_NOT_ALLOWED,
            "the endpoint does not implement this method",
        )
    }
}

impl BkError {
    /// The envelope, with the request's trace id.
    pub fn render(self, trace: &str) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "data": null,
            "traceId": trace,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

impl IntoResponse for BkError {
    fn into_response(self) -> Response {
        self.render("")
    }
}

impl From<AuthError> for BkError {
    fn from(e: AuthError) -> Self {
        let (status, code) = match e {
            AuthError::Invalid(_) => (StatusCode::UNAUTHORIZED, AUTHENTICATION_FAILED),
            AuthError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS),
            AuthError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, SYSTEM_ERROR),
        };
        BkError::new(status, code, e.message())
    }
}

impl From<ServiceError> for BkError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        e.log_internal("bkrepo");
        let message = e.to_string();
        let (status, code) = match e {
            E::NotFound(_) => (StatusCode::NOT_FOUND, RESOURCE_NOT_FOUND),
            E::Invalid { .. } => (StatusCode::BAD_REQUEST, PARAMETER_INVALID),
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, PARAMETER_INVALID),
            E::AlreadyExists(_) | E::Conflict(_) => (StatusCode::CONFLICT, RESOURCE_EXISTED),
            E::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS),
            E::Forbidden(_) | E::QuotaExceeded(_) => (StatusCode::FORBIDDEN, PERMISSION_DENIED),
            E::Unauthenticated => (StatusCode::UNAUTHORIZED, AUTHENTICATION_FAILED),
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, UPSTREAM_FAILED),
            E::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, NOT_SUPPORTED),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, SYSTEM_ERROR),
            E::Internal(_) => {
                return BkError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    SYSTEM_ERROR,
                    "system error",
                );
            }
        };
        BkError::new(status, code, message)
    }
}

#[cfg(test)]
mod tests {
    use berth_service::{Entity, Field};
    use http_body_util::BodyExt;

    use super::*;

    async fn rendered(e: BkError) -> serde_json::Value {
        let response = e.into_response();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        json!({
            "status": status,
            "www-authenticate": challenge,
            "body": serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        })
    }

    #[tokio::test]
    async fn service_errors_render_in_the_envelope() {
        let cases: Vec<(&str, BkError)> = vec![
            (
                "not_found",
                ServiceError::NotFound(Entity::Repository("p/r/app".into())).into(),
            ),
            (
                "invalid",
                ServiceError::invalid(Field::param("version"), "bad tag").into(),
            ),
            (
                "forbidden",
                ServiceError::Forbidden("needs manage".into()).into(),
            ),
            ("unauthenticated", ServiceError::Unauthenticated.into()),
            (
                "internal",
                ServiceError::internal("disk on fire, secret=hunter2").into(),
            ),
            ("missing", BkError::missing("packageKey")),
            ("no_endpoint", BkError::no_endpoint()),
        ];
        let mut all = serde_json::Map::new();
        for (name, e) in cases {
            all.insert(name.to_owned(), rendered(e).await);
        }
        let all = serde_json::Value::Object(all);
        assert!(!all.to_string().contains("hunter2"));
        insta::assert_json_snapshot!(all);
    }
}
