//! Typed successful responses of the `/v2` surface, one per shape. Every header value here
//! is built from validated values (names, digests, upload ids, tags, numbers), so building
//! one cannot fail on user input.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::{Descriptor, Digest, RepoName, Tag, UploadId};
use berth_service::Upload;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

pub const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
pub const DOCKER_UPLOAD_UUID: &str = "docker-upload-uuid";
pub const OCI_SUBJECT: &str = "oci-subject";
pub const OCI_TAG: &str = "oci-tag";
pub const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";
pub const OCI_CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

/// A header value of a validated name, digest, id or number: their grammars admit only
/// visible ASCII.
fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("validated names, digests and ids are valid header values")
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

pub fn upload_location(name: &RepoName, id: &UploadId) -> HeaderValue {
    value(&format!("/v2/{name}/blobs/uploads/{id}"))
}

pub fn upload_uuid(id: &UploadId) -> HeaderValue {
    value(id.as_str())
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
            .header(DOCKER_UPLOAD_UUID, upload_uuid(&self.upload.id));
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
    /// The tags applied by a push by digest with `?tag=` (one `OCI-Tag` each).
    pub tags: Vec<Tag>,
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
        for tag in &self.tags {
            b = b.header(OCI_TAG, value(tag.as_str()));
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

/// A JSON listing with the `Link` to its next page when the page is full.
fn listing(body: impl Serialize, link: Option<String>) -> Response {
    let mut response = axum::Json(body).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(
            header::LINK,
            HeaderValue::from_str(&link).expect("encoded link"),
        );
    }
    response
}

/// `<base?n=N&last=LAST>; rel="next"` with `last` encoded.
fn next_link(base: &str, n: u32, items: &[String]) -> Option<String> {
    if items.len() as u32 != n || n == 0 {
        return None;
    }
    let last = items.last()?;
    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
    Some(format!("<{base}?n={n}&last={last}>; rel=\"next\""))
}

/// `GET /v2/_catalog`.
pub struct Catalog {
    pub repositories: Vec<String>,
    pub n: u32,
}

impl IntoResponse for Catalog {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            repositories: Vec<String>,
        }
        let link = next_link("/v2/_catalog", self.n, &self.repositories);
        listing(
            Body {
                repositories: self.repositories,
            },
            link,
        )
    }
}

/// `GET /v2/<name>/tags/list`.
pub struct TagList {
    pub name: RepoName,
    pub tags: Vec<String>,
    pub n: u32,
}

impl IntoResponse for TagList {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            name: &'a str,
            tags: Vec<String>,
        }
        let link = next_link(&format!("/v2/{}/tags/list", self.name), self.n, &self.tags);
        listing(
            Body {
                name: self.name.as_str(),
                tags: self.tags,
            },
            link,
        )
    }
}

/// `GET /v2/<name>/referrers/<digest>`: an image index of the referrers.
pub struct Referrers {
    pub manifests: Vec<Descriptor>,
    pub filtered: bool,
}

impl IntoResponse for Referrers {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        // Keys in the order berth has always sent them.
        struct Index {
            manifests: Vec<Descriptor>,
            media_type: &'static str,
            schema_version: u8,
        }
        let mut response = axum::Json(Index {
            schema_version: 2,
            media_type: berth_core::manifest::OCI_INDEX,
            manifests: self.manifests,
        })
        .into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(berth_core::manifest::OCI_INDEX),
        );
        if self.filtered {
            h.insert(
                OCI_FILTERS_APPLIED,
                HeaderValue::from_static("artifactType"),
            );
        }
        response
    }
}
