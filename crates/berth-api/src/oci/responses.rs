//! Typed successful responses of the `/v2` surface, one per shape.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::{Digest, RepoName};
use berth_service::Upload;
use http::{HeaderValue, StatusCode, header};

pub const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
pub const DOCKER_UPLOAD_UUID: &str = "docker-upload-uuid";
pub const OCI_SUBJECT: &str = "oci-subject";
pub const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";
pub const OCI_CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("names, digests and ids are valid header values")
}

fn empty(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, "0")
}

fn build(builder: http::response::Builder, body: Body) -> Response {
    builder.body(body).expect("headers are valid")
}

/// The `Range` header of an upload: the inclusive span of bytes received.
pub fn upload_range(size: u64) -> HeaderValue {
    value(&format!("0-{}", size.saturating_sub(1)))
}

pub fn upload_location(name: &RepoName, id: &str) -> HeaderValue {
    value(&format!("/v2/{name}/blobs/uploads/{id}"))
}

/// 202 (or 204 for a status query): where an upload stands.
pub struct UploadProgress {
    pub upload: Upload,
    pub status: StatusCode,
    pub chunk_min: Option<u64>,
}

impl IntoResponse for UploadProgress {
    fn into_response(self) -> Response {
        let mut b = empty(self.status)
            .header(
                header::LOCATION,
                upload_location(&self.upload.repository, &self.upload.id),
            )
            .header(header::RANGE, upload_range(self.upload.size))
            .header(DOCKER_UPLOAD_UUID, value(&self.upload.id));
        if let Some(min) = self.chunk_min {
            b = b.header(OCI_CHUNK_MIN_LENGTH, min);
        }
        build(b, Body::empty())
    }
}

/// 201: a blob is in the repository.
pub struct BlobCreated {
    pub name: RepoName,
    pub digest: Digest,
}

impl IntoResponse for BlobCreated {
    fn into_response(self) -> Response {
        let b = empty(StatusCode::CREATED)
            .header(
                header::LOCATION,
                value(&format!("/v2/{}/blobs/{}", self.name, self.digest)),
            )
            .header(DOCKER_CONTENT_DIGEST, value(self.digest.as_str()));
        build(b, Body::empty())
    }
}

/// 201: a manifest is stored.
pub struct ManifestCreated {
    pub name: RepoName,
    pub digest: Digest,
    pub subject: Option<Digest>,
}

impl IntoResponse for ManifestCreated {
    fn into_response(self) -> Response {
        let mut b = empty(StatusCode::CREATED)
            .header(
                header::LOCATION,
                value(&format!("/v2/{}/manifests/{}", self.name, self.digest)),
            )
            .header(DOCKER_CONTENT_DIGEST, value(self.digest.as_str()));
        if let Some(subject) = self.subject {
            b = b.header(OCI_SUBJECT, value(subject.as_str()));
        }
        build(b, Body::empty())
    }
}

/// 200/206 with blob or manifest bytes (or only their headers, for HEAD).
pub struct Content {
    pub status: StatusCode,
    pub media_type: HeaderValue,
    pub digest: Digest,
    pub length: u64,
    pub content_range: Option<String>,
    pub body: Body,
}

impl IntoResponse for Content {
    fn into_response(self) -> Response {
        let mut b = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, self.media_type)
            .header(header::CONTENT_LENGTH, self.length)
            .header(DOCKER_CONTENT_DIGEST, value(self.digest.as_str()))
            .header(header::ETAG, value(&format!("\"{}\"", self.digest)));
        if let Some(range) = self.content_range {
            b = b.header(header::CONTENT_RANGE, value(&range));
        }
        build(b, self.body)
    }
}

/// 202 or 204 with nothing else to say.
pub fn accepted(status: StatusCode) -> Response {
    build(empty(status), Body::empty())
}
