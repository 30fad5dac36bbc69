//! The OCI Distribution Specification v1.1 under `/v2/`. One dispatcher parses the path into
//! an [`OciRoute`], authorizes its scope once, and calls the handler for route and method.

pub mod error;
pub mod responses;
pub mod route;

use std::io;
use std::ops::Range;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use berth_core::{Digest, Reference, RepoName, Tag};
use berth_service::BodyStream;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::json;

pub use error::OciError;
pub(crate) use responses::upload_range;
use responses::{
    BlobCreated, Content, DOCKER_UPLOAD_UUID, ManifestCreated, OCI_FILTERS_APPLIED, UploadProgress,
    accepted, upload_location,
};
pub use route::OciRoute;

use crate::AppState;
use crate::auth::{Action, Caller, Scope};

/// Page size of the catalog when the client gives none. Tags come all at once unless the
/// client asks for pages, as distribution does, since many clients never follow `Link`.
const DEFAULT_CATALOG_PAGE: u32 = 1000;
const DEFAULT_TAGS_PAGE: u32 = MAX_PAGE;
/// The largest page a client may ask for.
const MAX_PAGE: u32 = 100_000;

type OciResult<T = Response> = Result<T, OciError>;

/// The single entry point for everything under `/v2`.
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let has_body = request.body().size_hint().exact() != Some(0);
    let mut response = match handle(&state, request).await {
        Ok(response) => response,
        Err(error) => {
            let mut response = error.into_response();
            if has_body {
                // The body may be unread: the connection cannot carry another request, so
                // say so rather than let the client's next request fail.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    };
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

/// The query string's pairs, decoded, in order (keys may repeat: `?tag=a&tag=b`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

async fn handle(state: &AppState, request: Request) -> OciResult {
    let (parts, body) = request.into_parts();
    let rest = parts.uri.path().strip_prefix("/v2").unwrap_or_default();
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let rest = percent_encoding::percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| OciError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", "path is not UTF-8"))?;
    let route = OciRoute::parse(&rest)?;
    let caller = Caller::default();
    state
        .authorizer
        .authorize(&caller, &route.scope(&parts.method))
        .await?;
    let query = Query::parse(parts.uri.query());
    let headers = &parts.headers;
    let head = parts.method == Method::HEAD;
    let registry = &state.registry;

    match (route, parts.method.clone()) {
        (OciRoute::Base, Method::GET | Method::HEAD) => {
            Ok((StatusCode::OK, axum::Json(json!({}))).into_response())
        }
        (OciRoute::Catalog, Method::GET) => {
            let (n, last) = pagination(&query, DEFAULT_CATALOG_PAGE)?;
            let repositories = registry.catalog(last, n).await?;
            let next = (repositories.len() as u32 == n).then(|| repositories.last().cloned());
            let link = next
                .flatten()
                .map(|last| next_link("/v2/_catalog", n, &last));
            Ok(with_link(json!({ "repositories": repositories }), link))
        }
        (OciRoute::Tags { name }, Method::GET) => {
            let (n, last) = pagination(&query, DEFAULT_TAGS_PAGE)?;
            let tags = registry.list_tags(&name, last, n).await?;
            let next = (tags.len() as u32 == n).then(|| tags.last().cloned());
            let base = format!("/v2/{name}/tags/list");
            let link = next.flatten().map(|last| next_link(&base, n, &last));
            Ok(with_link(
                json!({ "name": name.as_str(), "tags": tags }),
                link,
            ))
        }
        (OciRoute::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            get_manifest(state, &name, &reference, headers, head).await
        }
        (OciRoute::Manifest { name, reference }, Method::PUT) => {
            put_manifest(state, name, reference, headers, &query, body).await
        }
        (OciRoute::Manifest { name, reference }, Method::DELETE) => {
            registry.delete_manifest(&name, &reference).await?;
            Ok(accepted(StatusCode::ACCEPTED))
        }
        (OciRoute::Blob { name, digest }, Method::GET | Method::HEAD) => {
            get_blob(state, &name, digest, headers, head).await
        }
        (OciRoute::Blob { name, digest }, Method::DELETE) => {
            registry.delete_blob(&name, &digest).await?;
            Ok(accepted(StatusCode::ACCEPTED))
        }
        (OciRoute::UploadStart { name }, Method::POST) => {
            post_upload(state, &caller, name, headers, &query, body).await
        }
        (OciRoute::Upload { name, id }, Method::GET) => {
            let upload = registry.upload_status(&name, &id).await?;
            Ok(UploadProgress {
                upload,
                status: StatusCode::NO_CONTENT,
                chunk_min: None,
            }
            .into_response())
        }
        (OciRoute::Upload { name, id }, Method::PATCH) => {
            patch_upload(state, name, id, headers, body).await
        }
        (OciRoute::Upload { name, id }, Method::PUT) => {
            put_upload(state, name, id, headers, &query, body).await
        }
        (OciRoute::Upload { name, id }, Method::DELETE) => {
            registry.cancel_upload(&name, &id).await?;
            Ok(accepted(StatusCode::NO_CONTENT))
        }
        (OciRoute::Referrers { name, digest }, Method::GET) => {
            let filter = query.get("artifactType");
            let list = registry.referrers(&name, &digest, filter).await?;
            let index = json!({
                "schemaVersion": 2,
                "mediaType": berth_core::manifest::OCI_INDEX,
                "manifests": list.manifests,
            });
            let mut response = axum::Json(index).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(berth_core::manifest::OCI_INDEX),
            );
            if list.filtered {
                h.insert(
                    OCI_FILTERS_APPLIED,
                    HeaderValue::from_static("artifactType"),
                );
            }
            Ok(response)
        }
        (_, method) => Err(OciError::unsupported(format!(
            "{method} is not supported on this endpoint"
        ))),
    }
}

fn pagination(query: &Query, default: u32) -> OciResult<(u32, Option<&str>)> {
    let n = match query.get("n") {
        None | Some("") => default,
        Some(n) => n.parse::<u32>().map_err(|_| {
            OciError::new(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                format!("invalid page size {n:?}"),
            )
        })?,
    };
    Ok((n.min(MAX_PAGE), query.get("last").filter(|l| !l.is_empty())))
}

fn next_link(base: &str, n: u32, last: &str) -> HeaderValue {
    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
    HeaderValue::from_str(&format!("<{base}?n={n}&last={last}>; rel=\"next\""))
        .expect("encoded link is a valid header")
}

fn with_link(body: serde_json::Value, link: Option<HeaderValue>) -> Response {
    let mut response = axum::Json(body).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

fn content_length(headers: &HeaderMap) -> OciResult<Option<u64>> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| {
                OciError::new(
                    StatusCode::BAD_REQUEST,
                    "SIZE_INVALID",
                    "invalid Content-Length",
                )
            }),
    }
}

fn body_stream(body: Body) -> BodyStream {
    body.into_data_stream().map_err(io::Error::other).boxed()
}

fn parse_digest_param(value: Option<&str>) -> OciResult<Digest> {
    let value =
        value.ok_or_else(|| OciError::digest_invalid("the digest parameter is required"))?;
    value
        .parse()
        .map_err(|e: berth_core::DigestError| OciError::digest_invalid(e.to_string()))
}

// ---- manifests ----

/// Whether the client's `Accept` admits `media_type`. No `Accept` admits everything.
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let mut any = false;
    for value in headers.get_all(header::ACCEPT) {
        for item in value.to_str().unwrap_or("").split(',') {
            let item = berth_core::manifest::media_type_essence(item);
            if item.is_empty() {
                continue;
            }
            any = true;
            if item == media_type || item == "*/*" || item == "application/*" {
                return true;
            }
        }
    }
    !any
}

async fn get_manifest(
    state: &AppState,
    name: &RepoName,
    reference: &Reference,
    headers: &HeaderMap,
    head: bool,
) -> OciResult {
    let manifest = state.registry.get_manifest(name, reference).await?;
    // By tag, honour the client's Accept; a digest names exactly one thing, so it is served.
    if matches!(reference, Reference::Tag(_)) && !accepts(headers, &manifest.media_type) {
        return Err(OciError::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!(
                "manifest is {} which the Accept header does not admit",
                manifest.media_type
            ),
        ));
    }
    let length = manifest.body.len() as u64;
    Ok(Content {
        status: StatusCode::OK,
        media_type: HeaderValue::from_str(&manifest.media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        digest: manifest.digest,
        length,
        content_range: None,
        body: if head {
            Body::empty()
        } else {
            Body::from(manifest.body)
        },
    }
    .into_response())
}

async fn put_manifest(
    state: &AppState,
    name: RepoName,
    reference: Reference,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> OciResult {
    let limit = state.registry.limits().max_manifest_bytes;
    let too_large = || {
        OciError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            format!("manifest is larger than the limit of {limit} bytes"),
        )
    };
    if content_length(headers)?.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let is_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if is_limit {
            too_large()
        } else {
            OciError::new(
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                "could not read the body",
            )
        }
    })?;
    let tags = query
        .all("tag")
        .map(|t| {
            t.parse::<Tag>().map_err(|_| {
                OciError::new(
                    StatusCode::BAD_REQUEST,
                    "TAG_INVALID",
                    format!("invalid tag {t:?}"),
                )
            })
        })
        .collect::<OciResult<Vec<_>>>()?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let stored = state
        .registry
        .put_manifest(&name, &reference, content_type, bytes, &tags)
        .await?;
    Ok(ManifestCreated {
        name,
        digest: stored.digest,
        subject: stored.subject,
    }
    .into_response())
}

// ---- blobs ----

/// Parses a `Range: bytes=...` request header against a blob of `size` bytes. `Ok(None)`
/// means serve the whole blob (no header, another unit, or several ranges).
fn parse_range(value: &str, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or(())?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: u64 = last.parse().map_err(|_| ())?;
        if suffix == 0 {
            return Err(());
        }
        size.saturating_sub(suffix)..size
    } else {
        let start: u64 = first.parse().map_err(|_| ())?;
        let end = if last.is_empty() {
            size
        } else {
            let last: u64 = last.parse().map_err(|_| ())?;
            if last < start {
                return Err(());
            }
            last.saturating_add(1).min(size)
        };
        start..end
    };
    if range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

async fn get_blob(
    state: &AppState,
    name: &RepoName,
    digest: Digest,
    headers: &HeaderMap,
    head: bool,
) -> OciResult {
    let size = state.registry.stat_blob(name, &digest).await?;
    let requested = match headers.get(header::RANGE) {
        None => None,
        Some(v) => parse_range(v.to_str().unwrap_or(""), size).map_err(|()| {
            OciError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_INVALID",
                format!("range {v:?} is not satisfiable for a blob of {size} bytes"),
            )
            .with_header(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("valid header"),
            )
        })?,
    };
    let content_range = requested
        .as_ref()
        .map(|r| format!("bytes {}-{}/{size}", r.start, r.end - 1));
    let (status, range) = match requested {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..size),
    };
    let body = if head || range.is_empty() {
        Body::empty()
    } else {
        Body::from_stream(state.registry.read_blob(&digest, range.clone()).await?)
    };
    Ok(Content {
        status,
        media_type: HeaderValue::from_static("application/octet-stream"),
        digest,
        length: range.end - range.start,
        content_range,
        body,
    }
    .into_response())
}

// ---- uploads ----

async fn post_upload(
    state: &AppState,
    caller: &Caller,
    name: RepoName,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> OciResult {
    let registry = &state.registry;
    if let Some(mount) = query.get("mount") {
        let digest = parse_digest_param(Some(mount))?;
        if let Some(from) = query.get("from") {
            let from: RepoName = from.parse().map_err(|e: berth_core::NameError| {
                OciError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", e.to_string())
            })?;
            // Mounting reads the source repository: the caller must be allowed to pull it.
            let source = Scope::Repository(from.clone(), Action::Pull);
            if state.authorizer.authorize(caller, &source).await.is_ok()
                && registry.mount_blob(&name, &digest, &from).await?
            {
                return Ok(BlobCreated { name, digest }.into_response());
            }
        }
        // Not mountable: fall back to an upload session, as the spec says.
    } else if let Some(digest) = query.get("digest") {
        let digest = parse_digest_param(Some(digest))?;
        let len = content_length(headers)?.or(body.size_hint().exact());
        registry
            .upload_whole(&name, &digest, len, body_stream(body))
            .await?;
        return Ok(BlobCreated { name, digest }.into_response());
    }
    let upload = registry.start_upload(&name).await?;
    Ok(UploadProgress {
        upload,
        status: StatusCode::ACCEPTED,
        chunk_min: registry.blob_store().preferred_chunk_min(),
    }
    .into_response())
}

/// Parses `Content-Range: <start>-<end>` (inclusive; `bytes ` prefix and `/total` suffix
/// tolerated). Returns the start and length.
fn parse_content_range(value: &HeaderValue) -> OciResult<(u64, u64)> {
    let invalid = || OciError::range_invalid(format!("invalid Content-Range {value:?}"));
    let s = value.to_str().map_err(|_| invalid())?.trim();
    let s = s
        .strip_prefix("bytes=")
        .or_else(|| s.strip_prefix("bytes "))
        .unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    let (start, end) = s.split_once('-').ok_or_else(invalid)?;
    let start: u64 = start.trim().parse().map_err(|_| invalid())?;
    let end: u64 = end.trim().parse().map_err(|_| invalid())?;
    if end < start {
        return Err(invalid());
    }
    Ok((start, end - start + 1))
}

/// The start offset and declared length of a chunk, from `Content-Range` and
/// `Content-Length`.
fn chunk_bounds(headers: &HeaderMap, body: &Body) -> OciResult<(Option<u64>, Option<u64>)> {
    let length = content_length(headers)?.or(body.size_hint().exact());
    match headers.get(header::CONTENT_RANGE) {
        None => Ok((None, length)),
        Some(v) => {
            let (start, range_len) = parse_content_range(v)?;
            if length.is_some_and(|l| l != range_len) {
                return Err(OciError::range_invalid(format!(
                    "Content-Range covers {range_len} bytes but Content-Length is {}",
                    length.unwrap_or_default()
                )));
            }
            Ok((Some(start), Some(range_len)))
        }
    }
}

/// Adds the session's `Location` and id to an error, as the spec asks for 416.
fn in_session(e: impl Into<OciError>, name: &RepoName, id: &str) -> OciError {
    let e: OciError = e.into();
    if e.status != StatusCode::RANGE_NOT_SATISFIABLE {
        return e;
    }
    let e = e.with_header(header::LOCATION, upload_location(name, id));
    match HeaderValue::from_str(id) {
        Ok(v) => e.with_header(http::HeaderName::from_static(DOCKER_UPLOAD_UUID), v),
        Err(_) => e,
    }
}

async fn patch_upload(
    state: &AppState,
    name: RepoName,
    id: String,
    headers: &HeaderMap,
    body: Body,
) -> OciResult {
    let (start, len) = chunk_bounds(headers, &body).map_err(|e| in_session(e, &name, &id))?;
    let upload = state
        .registry
        .append_upload(&name, &id, start, len, body_stream(body))
        .await
        .map_err(|e| in_session(e, &name, &id))?;
    Ok(UploadProgress {
        upload,
        status: StatusCode::ACCEPTED,
        chunk_min: None,
    }
    .into_response())
}

async fn put_upload(
    state: &AppState,
    name: RepoName,
    id: String,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> OciResult {
    let digest = parse_digest_param(query.get("digest"))?;
    let (start, len) = chunk_bounds(headers, &body).map_err(|e| in_session(e, &name, &id))?;
    let last_chunk = if len == Some(0) {
        None
    } else {
        if let Some(start) = start {
            // Checked here as PATCH would; the service re-checks under its lock.
            let upload = state.registry.upload_status(&name, &id).await?;
            if upload.size != start {
                return Err(in_session(
                    berth_service::ServiceError::RangeNotSatisfiable { size: upload.size },
                    &name,
                    &id,
                ));
            }
        }
        Some((body_stream(body), len))
    };
    state
        .registry
        .finish_upload(&name, &id, &digest, last_chunk)
        .await
        .map_err(|e| in_session(e, &name, &id))?;
    Ok(BlobCreated { name, digest }.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-4", 10), Ok(Some(0..5)));
        assert_eq!(parse_range("bytes=5-", 10), Ok(Some(5..10)));
        assert_eq!(parse_range("bytes=-3", 10), Ok(Some(7..10)));
        assert_eq!(parse_range("bytes=-30", 10), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=8-100", 10), Ok(Some(8..10)));
        assert_eq!(parse_range("bytes=10-", 10), Err(()));
        assert_eq!(parse_range("bytes=5-4", 10), Err(()));
        assert_eq!(parse_range("bytes=x-4", 10), Err(()));
        assert_eq!(parse_range("bytes=-0", 10), Err(()));
        assert_eq!(parse_range("bytes=0-1,3-4", 10), Ok(None));
        assert_eq!(parse_range("items=0-1", 10), Ok(None));
    }

    #[test]
    fn content_ranges() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(parse_content_range(&v("0-99")).unwrap(), (0, 100));
        assert_eq!(
            parse_content_range(&v("bytes 100-199/*")).unwrap(),
            (100, 100)
        );
        assert!(parse_content_range(&v("5-4")).is_err());
        assert!(parse_content_range(&v("abc")).is_err());
    }

    #[test]
    fn accept_negotiation() {
        let mut h = HeaderMap::new();
        assert!(accepts(&h, "application/vnd.oci.image.manifest.v1+json"));
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.docker.distribution.manifest.v2+json"),
        );
        assert!(!accepts(&h, "application/vnd.oci.image.manifest.v1+json"));
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json; q=0.5"),
        );
        assert!(accepts(&h, "application/vnd.oci.image.manifest.v1+json"));
        let mut any = HeaderMap::new();
        any.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(accepts(&any, "application/vnd.oci.image.index.v1+json"));
    }
}
