//! helm-registry's error body, `{"message", "reason", "data"}`, with the HTTP status of the
//! failure. `reason` is one of helm-registry's reason types: `ReasonRequest` for what is
//! wrong with the request (400, and berth's 401, 403, 405, 413), `ReasonInternal` for a
//! missing or conflicting resource (404, 409, as helm-registry classes them) and for
//! berth's own faults (500, whose cause is logged, never sent), `ResourceLocking` when
//! another request holds the resource (429). `data` names the offending parameter
//! (`{"name": "chartfile"}`) where there is one, else it is null.

use axum::response::{IntoResponse, Response};
use berth_service::{Field, ServiceError};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::caller::AuthError;

pub const REASON_REQUEST: &str = "ReasonRequest";
pub const REASON_INTERNAL: &str = "ReasonInternal";
pub const REASON_LOCKING: &str = "ResourceLocking";

/// A failure of the spaces surface, ready to render.
#[derive(Debug)]
pub struct SpacesError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub data: Value,
}

impl SpacesError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        SpacesError {
            status,
            reason,
            message: message.into(),
            data: Value::Null,
        }
    }

    fn named(mut self, name: &str) -> Self {
        self.data = json!({ "name": name });
        self
    }

    /// A required parameter (query, form field) is absent.
    pub fn missing(name: &str) -> Self {
        SpacesError::new(
            StatusCode::BAD_REQUEST,
            REASON_REQUEST,
            format!("can't find param {name} in request"),
        )
        .named(name)
    }

    /// A parameter of the wrong type (`start should be number, but got string`).
    pub fn wrong_type(name: &str, expected: &str, got: &str) -> Self {
        SpacesError::new(
            StatusCode::BAD_REQUEST,
            REASON_REQUEST,
            format!("{name} should be {expected}, but got {got}"),
        )
        .named(name)
    }

    /// A parameter whose value is not the one it must be.
    pub fn wrong_value(name: &str, expected: &str, got: &str) -> Self {
        SpacesError::new(
            StatusCode::BAD_REQUEST,
            REASON_REQUEST,
            format!("value of {name} should be {expected}, but got {got}"),
        )
        .named(name)
    }

    pub fn not_found(what: &str) -> Self {
        SpacesError::new(
            StatusCode::NOT_FOUND,
            REASON_INTERNAL,
            format!("{what} not found"),
        )
    }

    pub fn no_endpoint() -> Self {
        SpacesError::not_found("endpoint")
    }

    pub fn method_not_allowed() -> Self {
        SpacesError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            REASON_REQUEST,
            "the endpoint does not implement this method",
        )
    }

    pub fn too_large(what: &str, limit: usize) -> Self {
        SpacesError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            REASON_REQUEST,
            format!("{what} is larger than the limit of {limit} bytes"),
        )
    }
}

impl IntoResponse for SpacesError {
    fn into_response(self) -> Response {
        let body = json!({
            "message": self.message,
            "reason": self.reason,
            "data": self.data,
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

impl From<AuthError> for SpacesError {
    fn from(e: AuthError) -> Self {
        let (status, reason) = match e {
            AuthError::Invalid(_) => (StatusCode::UNAUTHORIZED, REASON_REQUEST),
            AuthError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, REASON_LOCKING),
            AuthError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, REASON_INTERNAL),
        };
        SpacesError::new(status, reason, e.message())
    }
}

impl From<ServiceError> for SpacesError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        e.log_internal("spaces");
        let message = e.to_string();
        let (status, reason) = match &e {
            E::NotFound(_) => (StatusCode::NOT_FOUND, REASON_INTERNAL),
            E::AlreadyExists(_) => {
                let message = format!("resource conflict because {message}");
                return SpacesError::new(StatusCode::CONFLICT, REASON_INTERNAL, message);
            }
            E::Conflict(_) => (StatusCode::CONFLICT, REASON_INTERNAL),
            E::Invalid { field, .. } => {
                let error = SpacesError::new(StatusCode::BAD_REQUEST, REASON_REQUEST, message);
                return match field {
                    Field::Param(name) => error.named(name),
                    _ => error,
                };
            }
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, REASON_REQUEST),
            E::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, REASON_LOCKING),
            E::Forbidden(_) | E::QuotaExceeded(_) => (StatusCode::FORBIDDEN, REASON_REQUEST),
            E::Unauthenticated => (StatusCode::UNAUTHORIZED, REASON_REQUEST),
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, REASON_INTERNAL),
            E::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, REASON_REQUEST),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, REASON_INTERNAL),
            E::Internal(_) => {
                return SpacesError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    REASON_INTERNAL,
                    "internal error",
                );
            }
        };
        SpacesError::new(status, reason, message)
    }
}

#[cfg(test)]
mod tests {
    use berth_service::Entity;
    use http_body_util::BodyExt;

    use super::*;

    async fn rendered(e: SpacesError) -> (u16, Option<String>, Value) {
        let response = e.into_response();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, challenge, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn errors_render_in_helm_registry_shape() {
        let (status, _, body) = rendered(SpacesError::missing("chartfile")).await;
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({"message": "can't find param chartfile in request", "reason": "ReasonRequest", "data": {"name": "chartfile"}})
        );
        let (status, _, body) =
            rendered(ServiceError::AlreadyExists(Entity::Chart("web-1.0.0".into())).into()).await;
        assert_eq!(status, 409);
        assert_eq!(body["reason"], "ReasonInternal");
        let (status, challenge, _) = rendered(ServiceError::Unauthenticated.into()).await;
        assert_eq!(status, 401);
        assert_eq!(challenge.as_deref(), Some("Basic realm=\"berth\""));
        let (status, _, body) = rendered(ServiceError::internal("secret=hunter2").into()).await;
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("hunter2"));
    }
}
