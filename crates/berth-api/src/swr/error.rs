//! SWR's error object, `{"error_code": "SVCSTG.SWR.…", "error_msg": "…"}`, for every failure
//! of the dialect. Huawei's SDK reads exactly this pair (it also understands nothing of the
//! array shape SWR's API reference shows, `[{"errorCode", "errorMessage"}]`, which would end
//! up as raw text in `error_msg`), and takes the request id from `X-Request-Id`, which every
//! berth answer carries.
//!
//! The codes are those of SWR's error-code table where it has one for the kind of failure
//! (`4000014` invalid parameter, `4010000` authentication failed, `4040010` does not exist,
//! `4060012` not empty, `4090006` already exists), in the same pattern where it has none.

use axum::response::{IntoResponse, Response};
use berth_service::ServiceError;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::caller::AuthError;

/// SWR's own content type for JSON answers.
pub const CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// A failure of the SWR surface, ready to render.
#[derive(Debug)]
pub struct SwrError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub const INVALID_PARAMETER: &str = "SVCSTG.SWR.4000014";
pub const AUTHENTICATION_FAILED: &str = "SVCSTG.SWR.4010000";
pub const FORBIDDEN: &str = "SVCSTG.SWR.4030000";
pub const NOT_FOUND: &str = "SVCSTG.SWR.4040010";
pub const METHOD_NOT_ALLOWED: &str = "SVCSTG.SWR.4050000";
pub const NOT_EMPTY: &str = "SVCSTG.SWR.4060012";
pub const ALREADY_EXISTS: &str = "SVCSTG.SWR.4090006";
pub const CONFLICT: &str = "SVCSTG.SWR.4090000";
pub const TOO_LARGE: &str = "SVCSTG.SWR.4130000";
pub const TOO_MANY_REQUESTS: &str = "SVCSTG.SWR.4290000";
pub const INTERNAL: &str = "SVCSTG.SWR.5000007";
pub const NOT_SUPPORTED: &str = "SVCSTG.SWR.5010000";
pub const UPSTREAM_FAILED: &str = "SVCSTG.SWR.5020000";
pub const UNAVAILABLE: &str = "SVCSTG.SWR.5030000";

impl SwrError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> SwrError {
        SwrError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(parameter: &str, why: impl std::fmt::Display) -> SwrError {
        SwrError::new(
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            format!("invalid parameter {parameter}: {why}"),
        )
    }

    pub fn missing(parameter: &str) -> SwrError {
        SwrError::new(
            StatusCode::BAD_REQUEST,
            INVALID_PARAMETER,
            format!("missing parameter {parameter}"),
        )
    }

    pub fn no_endpoint() -> SwrError {
        SwrError::new(
            StatusCode::NOT_FOUND,
            NOT_FOUND,
            "no such endpoint of the SWR management API",
        )
    }

    pub fn method_not_allowed() -> SwrError {
        SwrError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            METHOD_NOT_ALLOWED,
            "the endpoint does not implement this method",
        )
    }
}

impl IntoResponse for SwrError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.code, "error_msg": self.message});
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            body.to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

impl From<AuthError> for SwrError {
    fn from(e: AuthError) -> Self {
        let (status, code) = match e {
            AuthError::Invalid(_) => (StatusCode::UNAUTHORIZED, AUTHENTICATION_FAILED),
            AuthError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS),
            AuthError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        };
        SwrError::new(status, code, e.message())
    }
}

impl From<ServiceError> for SwrError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        e.log_internal("swr");
        let message = e.to_string();
        let (status, code) = match e {
            E::NotFound(_) => (StatusCode::NOT_FOUND, NOT_FOUND),
            E::Invalid { .. } => (StatusCode::BAD_REQUEST, INVALID_PARAMETER),
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE),
            E::AlreadyExists(_) => (StatusCode::CONFLICT, ALREADY_EXISTS),
            E::Conflict(_) => (StatusCode::CONFLICT, CONFLICT),
            E::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS),
            E::Forbidden(_) | E::QuotaExceeded(_) => (StatusCode::FORBIDDEN, FORBIDDEN),
            E::Unauthenticated => (StatusCode::UNAUTHORIZED, AUTHENTICATION_FAILED),
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, UPSTREAM_FAILED),
            E::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, NOT_SUPPORTED),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, INTERNAL),
            E::Internal(_) => {
                return SwrError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    INTERNAL,
                    "internal server error",
                );
            }
        };
        SwrError::new(status, code, message)
    }
}

#[cfg(test)]
mod tests {
    use berth_service::{Entity, Field};
    use http_body_util::BodyExt;

    use super::*;

    async fn rendered(e: SwrError) -> serde_json::Value {
        let response = e.into_response();
        let status = response.status().as_u16();
        let header = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let challenge = header(header::WWW_AUTHENTICATE);
        let content_type = header(header::CONTENT_TYPE);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        json!({
            "status": status,
            "content-type": content_type,
            "www-authenticate": challenge,
            "body": serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        })
    }

    #[tokio::test]
    async fn errors_render_as_swr_error_objects() {
        let cases: Vec<(&str, SwrError)> = vec![
            (
                "not_found",
                ServiceError::NotFound(Entity::Namespace("group".into())).into(),
            ),
            (
                "invalid",
                ServiceError::invalid(Field::param("namespace"), "bad name").into(),
            ),
            (
                "exists",
                ServiceError::AlreadyExists(Entity::Namespace("group".into())).into(),
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
            ("auth_invalid", AuthError::Invalid("bad signature").into()),
            ("missing", SwrError::missing("repository")),
            ("no_endpoint", SwrError::no_endpoint()),
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
