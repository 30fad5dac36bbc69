//! The OCI error format: `{"errors":[{"code","message","detail"}]}` with the spec's codes,
//! and the mapping of service errors by kind onto them.

use axum::response::{IntoResponse, Response};
use berth_service::{Entity, Field, ServiceError};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::responses::upload_range;

/// The error codes of the distribution spec (and the few distribution adds), each with the
/// status it answers with unless a case says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OciCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TagInvalid,
    PaginationNumberInvalid,
    RangeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    /// No endpoint has the path.
    NotFound,
    Unknown,
}

impl OciCode {
    pub fn as_str(self) -> &'static str {
        match self {
            OciCode::BlobUnknown => "BLOB_UNKNOWN",
            OciCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            OciCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            OciCode::DigestInvalid => "DIGEST_INVALID",
            OciCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            OciCode::ManifestInvalid => "MANIFEST_INVALID",
            OciCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            OciCode::NameInvalid => "NAME_INVALID",
            OciCode::NameUnknown => "NAME_UNKNOWN",
            OciCode::SizeInvalid => "SIZE_INVALID",
            OciCode::TagInvalid => "TAG_INVALID",
            OciCode::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            OciCode::RangeInvalid => "RANGE_INVALID",
            OciCode::Unauthorized => "UNAUTHORIZED",
            OciCode::Denied => "DENIED",
            OciCode::Unsupported => "UNSUPPORTED",
            OciCode::TooManyRequests => "TOOMANYREQUESTS",
            OciCode::NotFound => "NOT_FOUND",
            OciCode::Unknown => "UNKNOWN",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            OciCode::BlobUnknown
            | OciCode::BlobUploadUnknown
            | OciCode::ManifestUnknown
            | OciCode::NameUnknown
            | OciCode::NotFound => StatusCode::NOT_FOUND,
            OciCode::BlobUploadInvalid
            | OciCode::DigestInvalid
            | OciCode::ManifestBlobUnknown
            | OciCode::ManifestInvalid
            | OciCode::NameInvalid
            | OciCode::SizeInvalid
            | OciCode::TagInvalid
            | OciCode::PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            OciCode::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            OciCode::Unauthorized => StatusCode::UNAUTHORIZED,
            OciCode::Denied => StatusCode::FORBIDDEN,
            OciCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            OciCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            OciCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error on the `/v2` surface, ready to render.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: OciCode,
    pub message: String,
    pub detail: serde_json::Value,
    /// Extra headers (the upload's `Range` on 416, a challenge on 401).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(code: OciCode, message: impl Into<String>) -> OciError {
        OciError {
            status: code.status(),
            code,
            message: message.into(),
            detail: serde_json::Value::Null,
            headers: Vec::new(),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> OciError {
        self.status = status;
        self
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> OciError {
        self.detail = detail;
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> OciError {
        self.headers.push((name, value));
        self
    }

    /// 416 for a chunk that does not start where the upload stands (or a malformed range).
    pub fn range_invalid(message: impl Into<String>) -> OciError {
        OciError::new(OciCode::BlobUploadInvalid, message)
            .with_status(StatusCode::RANGE_NOT_SATISFIABLE)
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "code": self.code.as_str(), "message": self.message, "detail": self.detail }]
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

impl From<ServiceError> for OciError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        e.log_internal("oci");
        let message = e.to_string();
        match e {
            E::NotFound(entity) => match entity {
                Entity::Repository(name) => OciError::new(
                    OciCode::NameUnknown,
                    "repository name not known to registry",
                )
                .with_detail(json!({ "name": name })),
                Entity::Namespace(ns) => OciError::new(
                    OciCode::NameUnknown,
                    format!(
                        "namespace {ns:?} does not exist, and pushing creates namespaces only \
                         when [namespaces] create_on_push = true"
                    ),
                )
                .with_detail(json!({ "namespace": ns })),
                Entity::Blob(d) => OciError::new(OciCode::BlobUnknown, "blob unknown to registry")
                    .with_detail(json!({ "digest": d })),
                Entity::Upload => OciError::new(
                    OciCode::BlobUploadUnknown,
                    "blob upload unknown to registry",
                ),
                Entity::Manifest(reference) | Entity::Tag(reference) => {
                    OciError::new(OciCode::ManifestUnknown, "manifest unknown to registry")
                        .with_detail(json!({ "reference": reference }))
                }
                other => OciError::new(OciCode::NameUnknown, format!("{other} not found")),
            },
            E::Invalid { field, .. } => match field {
                Field::Digest => OciError::new(OciCode::DigestInvalid, message),
                Field::Size => OciError::new(OciCode::SizeInvalid, message),
                Field::Manifest => OciError::new(OciCode::ManifestInvalid, message),
                Field::ManifestReference(d) => OciError::new(OciCode::ManifestBlobUnknown, message)
                    .with_detail(json!({ "digest": d })),
                Field::UploadRange { size } => {
                    OciError::range_invalid(message).with_header(header::RANGE, upload_range(size))
                }
                Field::UploadBody => OciError::new(
                    OciCode::BlobUploadInvalid,
                    format!("blob upload invalid: {message}"),
                ),
                Field::Name | Field::Namespace => OciError::new(OciCode::NameInvalid, message),
                Field::Tag => OciError::new(OciCode::TagInvalid, message),
                Field::Param(_) => OciError::new(OciCode::Unsupported, message)
                    .with_status(StatusCode::BAD_REQUEST),
            },
            E::TooLarge { .. } => OciError::new(OciCode::SizeInvalid, message)
                .with_status(StatusCode::PAYLOAD_TOO_LARGE),
            E::Busy(_) => OciError::new(OciCode::TooManyRequests, message)
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            E::AlreadyExists(_) | E::Conflict(_) => {
                OciError::new(OciCode::Denied, message).with_status(StatusCode::CONFLICT)
            }
            E::Forbidden(_) | E::QuotaExceeded(_) => OciError::new(OciCode::Denied, message),
            E::Unauthenticated => OciError::new(OciCode::Unauthorized, "authentication required"),
            E::Upstream(_) => {
                OciError::new(OciCode::Unknown, message).with_status(StatusCode::BAD_GATEWAY)
            }
            E::Unsupported(_) => OciError::new(OciCode::Unsupported, message),
            E::Unavailable(_) => OciError::new(OciCode::Unknown, message)
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
            E::Internal(_) => OciError::new(OciCode::Unknown, "internal server error"),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Snapshots of every error body the mapping can produce, so that a change to one is a
    //! visible diff.

    use super::*;
    use http_body_util::BodyExt;

    async fn rendered(e: OciError) -> serde_json::Value {
        let response = e.into_response();
        let status = response.status().as_u16();
        let headers: serde_json::Map<String, serde_json::Value> = response
            .headers()
            .iter()
            .filter(|(k, _)| *k != header::CONTENT_TYPE)
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
            .collect();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        json!({
            "status": status,
            "headers": headers,
            "body": serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        })
    }

    #[tokio::test]
    async fn service_errors_render_as_oci_errors() {
        let d: berth_core::Digest =
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse()
                .unwrap();
        let cases: Vec<(&str, ServiceError)> = vec![
            (
                "repository",
                ServiceError::NotFound(Entity::Repository("a/b".into())),
            ),
            (
                "namespace",
                ServiceError::NotFound(Entity::Namespace("ns".into())),
            ),
            ("blob", ServiceError::NotFound(Entity::Blob(d.clone()))),
            ("upload", ServiceError::NotFound(Entity::Upload)),
            (
                "manifest",
                ServiceError::NotFound(Entity::Manifest("v1".into())),
            ),
            (
                "digest",
                ServiceError::invalid(
                    Field::Digest,
                    "provided digest did not match uploaded content",
                ),
            ),
            (
                "size",
                ServiceError::invalid(Field::Size, "provided length did not match content length"),
            ),
            (
                "manifest_invalid",
                ServiceError::invalid(Field::Manifest, "manifest invalid: schemaVersion must be 2"),
            ),
            (
                "manifest_reference",
                ServiceError::invalid(
                    Field::ManifestReference(d.clone()),
                    "manifest references a manifest or blob unknown to the repository",
                ),
            ),
            (
                "upload_range",
                ServiceError::invalid(
                    Field::UploadRange { size: 10 },
                    "chunk out of order: the upload has 10 bytes",
                ),
            ),
            (
                "upload_body",
                ServiceError::invalid(Field::UploadBody, "reading the request body failed"),
            ),
            (
                "too_large",
                ServiceError::TooLarge {
                    what: "manifest",
                    limit: 4,
                },
            ),
            ("busy", ServiceError::Busy("upload session is busy".into())),
            (
                "conflict",
                ServiceError::Conflict("namespace is not empty".into()),
            ),
            (
                "forbidden",
                ServiceError::Forbidden("requested access to the resource is denied".into()),
            ),
            ("unauthenticated", ServiceError::Unauthenticated),
            (
                "upstream",
                ServiceError::Upstream("registry-1 answered 503".into()),
            ),
            (
                "unavailable",
                ServiceError::Unavailable("connection refused by db.internal:5432".into()),
            ),
            (
                "internal",
                ServiceError::internal("disk on fire at /srv/secret/path"),
            ),
        ];
        let mut all = serde_json::Map::new();
        for (name, e) in cases {
            all.insert(name.into(), rendered(e.into()).await);
        }
        let all = serde_json::Value::Object(all);
        assert!(
            !all.to_string().contains("disk on fire") && !all.to_string().contains("db.internal"),
            "internal causes never reach a client"
        );
        insta::assert_json_snapshot!(all);
    }
}
