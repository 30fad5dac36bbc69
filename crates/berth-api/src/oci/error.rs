//! The OCI error format: `{"errors":[{"code","message","detail"}]}` with the spec's codes.

use axum::response::{IntoResponse, Response};
use berth_service::ServiceError;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::route::RouteError;
use crate::auth::Denied;

/// An error on the `/v2` surface, ready to render.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub detail: serde_json::Value,
    /// Extra headers (the upload's `Range` on 416, a challenge on 401).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> OciError {
        OciError {
            status,
            code,
            message: message.into(),
            detail: serde_json::Value::Null,
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> OciError {
        self.detail = detail;
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> OciError {
        self.headers.push((name, value));
        self
    }

    pub fn digest_invalid(message: impl Into<String>) -> OciError {
        OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }

    pub fn unsupported(message: impl Into<String>) -> OciError {
        OciError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", message)
    }

    pub fn range_invalid(message: impl Into<String>) -> OciError {
        OciError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            message,
        )
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "code": self.code, "message": self.message, "detail": self.detail }]
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

impl From<RouteError> for OciError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NotFound => {
                OciError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint")
            }
            RouteError::Name(berth_core::NameError::InvalidTag(t)) => OciError::new(
                StatusCode::BAD_REQUEST,
                "TAG_INVALID",
                format!("invalid tag {t:?}"),
            ),
            RouteError::Name(e) => {
                OciError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", e.to_string())
            }
            RouteError::Digest(e) => OciError::digest_invalid(e.to_string()),
        }
    }
}

impl From<Denied> for OciError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Unauthenticated => OciError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            ),
            Denied::Forbidden => OciError::new(
                StatusCode::FORBIDDEN,
                "DENIED",
                "requested access to the resource is denied",
            ),
        }
    }
}

impl From<ServiceError> for OciError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        let message = e.to_string();
        match e {
            E::NameUnknown(name) => OciError::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", message)
                .with_detail(json!({ "name": name.as_str() })),
            E::BlobUnknown(d) => OciError::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", message)
                .with_detail(json!({ "digest": d })),
            E::BlobUploadUnknown => {
                OciError::new(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", message)
            }
            E::BlobUploadInvalid(_) => {
                OciError::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
            }
            E::RangeNotSatisfiable { size } => OciError::range_invalid(message)
                .with_header(header::RANGE, super::upload_range(size)),
            E::DigestInvalid(_) => OciError::digest_invalid(message),
            E::ManifestUnknown(reference) => {
                OciError::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", message)
                    .with_detail(json!({ "reference": reference }))
            }
            E::ManifestInvalid(_) => {
                OciError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
            }
            E::ManifestBlobUnknown(d) => {
                OciError::new(StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN", message)
                    .with_detail(json!({ "digest": d }))
            }
            E::ManifestTooLarge(_) => {
                OciError::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", message)
            }
            E::SizeInvalid(_) => OciError::new(StatusCode::BAD_REQUEST, "SIZE_INVALID", message),
            E::Unsupported(_) => OciError::unsupported(message),
            E::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                OciError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN",
                    "internal server error",
                )
            }
        }
    }
}
