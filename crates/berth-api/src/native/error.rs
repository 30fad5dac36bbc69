//! The native API's one error shape,
//! `{"error": {"code": "not_found", "message": "…", "target": "repository"}}`, and the
//! mapping of service errors by kind onto it. `code` is a stable word for programs, `message`
//! a sentence for people, `target` what the error is about: the kind of thing that is missing
//! or exists already, or the parameter or body field that is invalid.

use axum::response::{IntoResponse, Response};
use berth_service::{Field, ServiceError};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::caller::AuthError;

/// The stable error codes, each with the status it answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a parameter, a path segment or a body field is invalid (`target` names it).
    Invalid,
    /// 401: credentials are missing (where they would help) or wrong.
    Unauthenticated,
    /// 403: the caller may see the thing but not do this to it.
    Forbidden,
    /// 404: no such thing (or the caller may not know it exists), or no such endpoint.
    NotFound,
    /// 405: the endpoint exists, the method does not.
    MethodNotAllowed,
    /// 409: it exists already.
    AlreadyExists,
    /// 409: the current state forbids it (a namespace that still holds repositories).
    Conflict,
    /// 413: the request body is over the limit.
    TooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 429: too many failed logins, or another request is working on the same thing.
    TooManyRequests,
    /// 403: a quota would be exceeded.
    QuotaExceeded,
    /// 501: berth is not configured for this (access keys without an encryption key).
    Unsupported,
    /// 502: an upstream registry failed.
    Upstream,
    /// 503: the database cannot be reached right now (nor credentials checked); try again.
    Unavailable,
    /// 500: a fault of berth; the cause is in berth's log, never in the answer.
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Invalid => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::QuotaExceeded => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::AlreadyExists | ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unsupported => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::Upstream => StatusCode::BAD_GATEWAY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// What it is about: `repository`, `namespace`, `tag`, … for a missing or existing
    /// thing; the parameter or field (`limit`, `name`, `body`) for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// An error of the native API, ready to render.
#[derive(Debug)]
pub struct NativeError {
    pub code: ErrorCode,
    pub message: String,
    pub target: Option<String>,
}

impl NativeError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> NativeError {
        NativeError {
            code,
            message: message.into(),
            target: None,
        }
    }

    pub fn with_target(mut self, target: impl Into<String>) -> NativeError {
        self.target = Some(target.into());
        self
    }

    /// 400 naming the parameter or field.
    pub fn invalid(target: impl Into<String>, message: impl Into<String>) -> NativeError {
        NativeError::new(ErrorCode::Invalid, message).with_target(target)
    }

    /// 404 for a path no endpoint has.
    pub fn no_endpoint() -> NativeError {
        NativeError::new(
            ErrorCode::NotFound,
            "no such endpoint: see /api/v1/openapi.json",
        )
    }

    pub fn method_not_allowed() -> NativeError {
        NativeError::new(
            ErrorCode::MethodNotAllowed,
            "the endpoint does not implement this method",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                target: self.target,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

impl From<AuthError> for NativeError {
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Invalid(_) => ErrorCode::Unauthenticated,
            AuthError::TooManyAttempts => ErrorCode::TooManyRequests,
            AuthError::Unavailable => ErrorCode::Unavailable,
        };
        NativeError::new(code, e.message())
    }
}

/// The name of an invalid field, as the native API's clients spell it.
fn field_name(field: &Field) -> String {
    match field {
        Field::Name => "name".into(),
        Field::Namespace => "namespace".into(),
        Field::Tag => "tag".into(),
        Field::Digest => "digest".into(),
        Field::Size => "size".into(),
        Field::Manifest | Field::ManifestReference(_) => "manifest".into(),
        Field::UploadRange { .. } => "range".into(),
        Field::UploadBody => "body".into(),
        Field::Param(name) => name.clone(),
    }
}

impl From<ServiceError> for NativeError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let message = e.to_string();
        match e {
            E::NotFound(entity) => {
                NativeError::new(ErrorCode::NotFound, message).with_target(entity.kind())
            }
            E::AlreadyExists(entity) => {
                NativeError::new(ErrorCode::AlreadyExists, message).with_target(entity.kind())
            }
            E::Invalid { field, .. } => NativeError::invalid(field_name(&field), message),
            E::TooLarge { .. } => NativeError::new(ErrorCode::TooLarge, message),
            E::Conflict(_) => NativeError::new(ErrorCode::Conflict, message),
            E::Busy(_) => NativeError::new(ErrorCode::TooManyRequests, message),
            E::Forbidden(_) => NativeError::new(ErrorCode::Forbidden, message),
            E::Unauthenticated => NativeError::new(ErrorCode::Unauthenticated, message),
            E::QuotaExceeded(_) => NativeError::new(ErrorCode::QuotaExceeded, message),
            E::Upstream(_) => NativeError::new(ErrorCode::Upstream, message),
            E::Unsupported(_) => NativeError::new(ErrorCode::Unsupported, message),
            E::Unavailable(_) => {
                e.log_internal("native");
                NativeError::new(ErrorCode::Unavailable, message)
            }
            E::Internal(_) => {
                e.log_internal("native");
                NativeError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Snapshots of every error body the mapping can produce.

    use berth_core::Digest;
    use berth_service::Entity;
    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;

    async fn rendered(e: NativeError) -> serde_json::Value {
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
    async fn service_errors_render_in_the_one_shape() {
        let cases: Vec<(&str, NativeError)> = vec![
            (
                "repository_not_found",
                ServiceError::NotFound(Entity::Repository("team/app".into())).into(),
            ),
            (
                "tag_not_found",
                ServiceError::NotFound(Entity::Tag("v1".into())).into(),
            ),
            (
                "namespace_exists",
                ServiceError::AlreadyExists(Entity::Namespace("team".into())).into(),
            ),
            (
                "invalid_namespace",
                ServiceError::invalid(Field::Namespace, "namespace name \"manage\" is reserved")
                    .into(),
            ),
            (
                "invalid_param",
                ServiceError::invalid(
                    Field::param("username"),
                    "a user name is 1 to 128 printable characters",
                )
                .into(),
            ),
            (
                "invalid_manifest_reference",
                ServiceError::invalid(
                    Field::ManifestReference(Digest::sha256(b"x")),
                    "manifest references a blob unknown to the repository",
                )
                .into(),
            ),
            (
                "too_large",
                ServiceError::TooLarge {
                    what: "manifest",
                    limit: 4 << 20,
                }
                .into(),
            ),
            (
                "not_empty",
                ServiceError::Conflict(
                    "namespace \"team\" still holds repositories: delete them first, or delete \
                     it with force"
                        .into(),
                )
                .into(),
            ),
            (
                "busy",
                ServiceError::Busy("another upload is writing".into()).into(),
            ),
            (
                "forbidden",
                ServiceError::Forbidden("manage access needed".into()).into(),
            ),
            ("unauthenticated", ServiceError::Unauthenticated.into()),
            (
                "quota",
                ServiceError::QuotaExceeded("the namespace is full".into()).into(),
            ),
            (
                "upstream",
                ServiceError::Upstream("the upstream registry did not answer".into()).into(),
            ),
            (
                "unsupported",
                ServiceError::Unsupported("access keys need [auth] encryption_key".into()).into(),
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
            ("auth_unavailable", AuthError::Unavailable.into()),
            (
                "bad_limit",
                NativeError::invalid("limit", "limit must be from 1 to 1000"),
            ),
            ("no_endpoint", NativeError::no_endpoint()),
            ("method", NativeError::method_not_allowed()),
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
