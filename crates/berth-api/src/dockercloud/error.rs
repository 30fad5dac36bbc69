//! Docker Cloud's error shape, `{"error": "Descriptive error message"}`, with its statuses:
//! 400 for a problem in the request (a wrong upstream password included: a 401 would read as
//! berth's own login failing), 401 only for berth's own authentication, 403, 404, 405, 409,
//! 429, 5xx.

use axum::response::{IntoResponse, Response};
use berth_service::ServiceError;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::caller::AuthError;

/// An error of the Docker Cloud surface, ready to render.
#[derive(Debug)]
pub struct DcError {
    pub status: StatusCode,
    pub message: String,
}

impl DcError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> DcError {
        DcError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> DcError {
        DcError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found() -> DcError {
        DcError::new(StatusCode::NOT_FOUND, "Not found")
    }

    pub fn method_not_allowed() -> DcError {
        DcError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "the endpoint does not implement this method",
        )
    }
}

impl IntoResponse for DcError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

impl From<AuthError> for DcError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Invalid(_) => StatusCode::UNAUTHORIZED,
            AuthError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        DcError::new(status, e.message())
    }
}

impl From<ServiceError> for DcError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        e.log_internal("dockercloud");
        let message = e.to_string();
        let status = match e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Invalid { .. } | E::TooLarge { .. } => StatusCode::BAD_REQUEST,
            E::AlreadyExists(_) | E::Conflict(_) => StatusCode::CONFLICT,
            E::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            E::Forbidden(_) | E::QuotaExceeded(_) => StatusCode::FORBIDDEN,
            E::Unauthenticated => StatusCode::UNAUTHORIZED,
            E::Upstream(_) => StatusCode::BAD_GATEWAY,
            E::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Internal(_) => {
                return DcError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "There was a server error while processing your request",
                );
            }
        };
        DcError::new(status, message)
    }
}

#[cfg(test)]
mod tests {
    //! Snapshots of every error body the mapping can produce.

    use berth_service::{Entity, Field};
    use http_body_util::BodyExt;

    use super::*;

    async fn rendered(e: DcError) -> serde_json::Value {
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
    async fn service_errors_render_as_docker_cloud_errors() {
        let cases: Vec<(&str, DcError)> = vec![
            (
                "not_found",
                ServiceError::NotFound(Entity::Remote("reg.example/a".into())).into(),
            ),
            (
                "namespace_not_found",
                ServiceError::NotFound(Entity::Namespace("team".into())).into(),
            ),
            (
                "exists",
                ServiceError::AlreadyExists(Entity::Remote("reg.example/a".into())).into(),
            ),
            (
                "wrong_upstream_password",
                ServiceError::invalid(
                    Field::param("password"),
                    "invalid credentials for the upstream registry",
                )
                .into(),
            ),
            (
                "refused_upstream",
                ServiceError::invalid(
                    Field::Name,
                    "the upstream registry is refused by berth's policy: the address \
                     169.254.169.254 is in the refused network 169.254.0.0/16",
                )
                .into(),
            ),
            (
                "in_use",
                ServiceError::Conflict("reg.example/a is in use by a proxy".into()).into(),
            ),
            (
                "forbidden",
                ServiceError::Forbidden("manage access needed".into()).into(),
            ),
            ("unauthenticated", ServiceError::Unauthenticated.into()),
            (
                "upstream",
                ServiceError::Upstream("the upstream registry did not answer in time".into())
                    .into(),
            ),
            (
                "unsupported",
                ServiceError::Unsupported("needs [auth] encryption_key".into()).into(),
            ),
            (
                "internal",
                ServiceError::internal("disk on fire at /srv/secret").into(),
            ),
            (
                "bad_login",
                AuthError::Invalid("invalid credentials").into(),
            ),
            ("too_many_logins", AuthError::TooManyAttempts.into()),
            ("method", DcError::method_not_allowed()),
        ];
        let mut all = serde_json::Map::new();
        for (name, e) in cases {
            all.insert(name.into(), rendered(e).await);
        }
        let all = serde_json::Value::Object(all);
        assert!(!all.to_string().contains("disk on fire"));
        insta::assert_json_snapshot!(all);
    }
}
