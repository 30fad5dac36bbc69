//! The `/v2` handlers: one per endpoint, each resolving its repository (with the access
//! decision) through the repository service, calling one service, and rendering.

use std::io;
use std::ops::Range;

use axum::body::{Body, HttpBody};
use axum::response::{IntoResponse, Response};
use berth_core::{Action, Caller, Digest, Identity, Reference, RepoName, Tag, UploadId};
use berth_service::{BodyStream, Entity, PullKind, RepositoryRow, ServiceError};
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use super::endpoint::{ListPage, OciEndpoint, UploadStart};
use super::error::{OciCode, OciError};
use super::responses::{
    BlobCreated, Catalog, Content, DOCKER_UPLOAD_UUID, ManifestCreated, Referrers, TagList,
    UploadProgress, accepted, upload_location, upload_uuid,
};
use crate::AppState;

type OciResult<T = Response> = Result<T, OciError>;

pub(super) async fn handle(
    state: &AppState,
    caller: &Caller,
    endpoint: OciEndpoint,
    headers: &HeaderMap,
    body: Body,
    upstream_host: Option<&str>,
) -> OciResult {
    let services = &state.services;
    let endpoint = match upstream_host {
        Some(host) => mirrored(state, endpoint, host).await?,
        None => endpoint,
    };
    match endpoint {
        OciEndpoint::Base => {
            // With authentication on, `/v2/` tells clients without credentials where to get
            // them (a 401 with the challenge); any token will do, an anonymous one too.
            if services.auth.enabled() && caller.identity == Identity::Anonymous {
                return Err(ServiceError::Unauthenticated.into());
            }
            Ok((StatusCode::OK, axum::Json(json!({}))).into_response())
        }
        OciEndpoint::Catalog { page } => {
            let visibility = services.access.visibility(caller);
            let repositories = services
                .manifests
                .catalog(&visibility, page.last.as_deref(), page.n)
                .await?;
            Ok(Catalog {
                repositories,
                n: page.n,
            }
            .into_response())
        }
        OciEndpoint::ListTags { name, page } => list_tags(state, caller, name, page).await,
        OciEndpoint::GetManifest {
            name,
            reference,
            head,
        } => get_manifest(state, caller, &name, &reference, headers, head).await,
        OciEndpoint::PutManifest {
            name,
            reference,
            tags,
        } => put_manifest(state, caller, name, reference, tags, headers, body).await,
        OciEndpoint::DeleteManifest { name, reference } => {
            let repo = open(state, caller, &name, Action::Delete)
                .await?
                .ok_or_else(|| ServiceError::NotFound(Entity::Manifest(reference.to_string())))?;
            services.manifests.delete(caller, &repo, &reference).await?;
            Ok(accepted(StatusCode::ACCEPTED))
        }
        OciEndpoint::GetBlob { name, digest, head } => {
            get_blob(state, caller, &name, digest, headers, head).await
        }
        OciEndpoint::DeleteBlob { name, digest } => {
            let repo = open(state, caller, &name, Action::Delete)
                .await?
                .ok_or_else(|| ServiceError::NotFound(Entity::Blob(digest.clone())))?;
            services.blobs.delete(&repo, &digest).await?;
            Ok(accepted(StatusCode::ACCEPTED))
        }
        OciEndpoint::StartUpload { name, start } => {
            post_upload(state, caller, name, start, headers, body).await
        }
        OciEndpoint::UploadStatus { name, id } => {
            let (repo, id) = session(state, caller, &name, id).await?;
            let upload = services.uploads.status(&repo, &id).await?;
            Ok(UploadProgress {
                upload,
                status: StatusCode::NO_CONTENT,
                chunk_min: None,
            }
            .into_response())
        }
        OciEndpoint::PatchUpload { name, id } => {
            patch_upload(state, caller, name, id, headers, body).await
        }
        OciEndpoint::FinishUpload { name, id, digest } => {
            put_upload(state, caller, name, id, digest, headers, body).await
        }
        OciEndpoint::CancelUpload { name, id } => {
            let (repo, id) = session(state, caller, &name, id).await?;
            services.uploads.cancel(&repo, &id).await?;
            Ok(accepted(StatusCode::NO_CONTENT))
        }
        OciEndpoint::Referrers {
            name,
            digest,
            artifact_type,
        } => {
            let filter = artifact_type.as_deref();
            let list = match open(state, caller, &name, Action::Pull).await? {
                Some(repo) => services.manifests.referrers(&repo, &digest, filter).await?,
                // Nothing refers to anything in a repository that does not exist.
                None => berth_service::ReferrerList {
                    manifests: Vec::new(),
                    filtered: filter.is_some(),
                },
            };
            Ok(Referrers {
                manifests: list.manifests,
                filtered: list.filtered,
            }
            .into_response())
        }
    }
}

/// The registry-proxying form (`?ns=<upstream host>`, what containerd sends to a mirror):
/// reads of `library/nginx` for `docker.io` go to the pull-through cache of that host
/// (`hub/library/nginx` for a proxy `hub`). Other operations, and hosts no proxy serves, are
/// left as they are.
async fn mirrored(state: &AppState, endpoint: OciEndpoint, host: &str) -> OciResult<OciEndpoint> {
    if endpoint.action() != Action::Pull || endpoint.repository().is_none() {
        return Ok(endpoint);
    }
    let proxies = state.services.remotes.proxies_for_host(host).await?;
    let Some(proxy) = proxies.first() else {
        return Ok(endpoint);
    };
    let local = |name: RepoName| -> OciResult<RepoName> {
        format!("{}/{name}", proxy.prefix)
            .parse()
            .map_err(|e: berth_core::NameError| OciError::new(OciCode::NameInvalid, e.to_string()))
    };
    Ok(match endpoint {
        OciEndpoint::ListTags { name, page } => OciEndpoint::ListTags {
            name: local(name)?,
            page,
        },
        OciEndpoint::GetManifest {
            name,
            reference,
            head,
        } => OciEndpoint::GetManifest {
            name: local(name)?,
            reference,
            head,
        },
        OciEndpoint::GetBlob { name, digest, head } => OciEndpoint::GetBlob {
            name: local(name)?,
            digest,
            head,
        },
        OciEndpoint::Referrers {
            name,
            digest,
            artifact_type,
        } => OciEndpoint::Referrers {
            name: local(name)?,
            digest,
            artifact_type,
        },
        other => other,
    })
}

/// Resolves the repository and decides the access (`None`: it does not exist).
async fn open(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    action: Action,
) -> OciResult<Option<std::sync::Arc<RepositoryRow>>> {
    Ok(state
        .services
        .repositories
        .open(caller, name, action)
        .await?)
}

/// The repository and upload of a session request: both must exist.
async fn session(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    id: Option<UploadId>,
) -> OciResult<(std::sync::Arc<RepositoryRow>, UploadId)> {
    let repo = open(state, caller, name, Action::Push).await?;
    match (repo, id) {
        (Some(repo), Some(id)) => Ok((repo, id)),
        _ => Err(ServiceError::NotFound(Entity::Upload).into()),
    }
}

async fn list_tags(state: &AppState, caller: &Caller, name: RepoName, page: ListPage) -> OciResult {
    let repo = open(state, caller, &name, Action::Pull)
        .await?
        .ok_or_else(|| ServiceError::NotFound(Entity::Repository(name.to_string())))?;
    let tags = state
        .services
        .manifests
        .tag_names(&repo, page.last.as_deref(), page.n)
        .await?;
    Ok(TagList {
        name,
        tags,
        n: page.n,
    }
    .into_response())
}

fn content_length(headers: &HeaderMap) -> OciResult<Option<u64>> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Some)
            .ok_or_else(|| OciError::new(OciCode::SizeInvalid, "invalid Content-Length")),
    }
}

fn body_stream(body: Body) -> BodyStream {
    body.into_data_stream().map_err(io::Error::other).boxed()
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
    caller: &Caller,
    name: &RepoName,
    reference: &Reference,
    headers: &HeaderMap,
    head: bool,
) -> OciResult {
    let repo = open(state, caller, name, Action::Pull)
        .await?
        .ok_or_else(|| ServiceError::NotFound(Entity::Manifest(reference.to_string())))?;
    let kind = if head { PullKind::Head } else { PullKind::Get };
    let manifest = state.services.manifests.get(&repo, reference, kind).await?;
    // By tag, honour the client's Accept; a digest names exactly one thing, so it is served.
    if matches!(reference, Reference::Tag(_)) && !accepts(headers, &manifest.media_type) {
        return Err(OciError::new(
            OciCode::ManifestUnknown,
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
    caller: &Caller,
    name: RepoName,
    reference: Reference,
    tags: Vec<Tag>,
    headers: &HeaderMap,
    body: Body,
) -> OciResult {
    let limit = state.services.manifests.max_manifest_bytes();
    let too_large = || ServiceError::TooLarge {
        what: "manifest",
        limit: limit as u64,
    };
    if content_length(headers)?.is_some_and(|len| len > limit as u64) {
        return Err(too_large().into());
    }
    let repo = state
        .services
        .repositories
        .open_for_push(caller, &name)
        .await?;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let is_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if is_limit {
            too_large().into()
        } else {
            OciError::new(OciCode::ManifestInvalid, "could not read the body")
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let stored = state
        .services
        .manifests
        .put(caller, &repo, &reference, content_type, bytes, &tags)
        .await?;
    Ok(ManifestCreated {
        name,
        digest: stored.digest,
        subject: stored.subject,
        tags: match reference {
            // Pushed by digest with tags: tell the client which ones it got.
            Reference::Digest(_) => stored.tags,
            Reference::Tag(_) => Vec::new(),
        },
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
    caller: &Caller,
    name: &RepoName,
    digest: Digest,
    headers: &HeaderMap,
    head: bool,
) -> OciResult {
    let repo = open(state, caller, name, Action::Pull)
        .await?
        .ok_or_else(|| ServiceError::NotFound(Entity::Blob(digest.clone())))?;
    let blobs = &state.services.blobs;
    if !head && headers.get(header::RANGE).is_none() {
        // A pull-through cache streams a blob it does not hold yet while it caches it.
        if let Some((size, body)) = blobs.stream_uncached(&repo, &digest).await? {
            return Ok(Content {
                status: StatusCode::OK,
                media_type: HeaderValue::from_static("application/octet-stream"),
                digest,
                length: size,
                content_range: None,
                body: Body::from_stream(body),
            }
            .into_response());
        }
    }
    let size = blobs.stat(&repo, &digest).await?;
    let requested = match headers.get(header::RANGE) {
        None => None,
        Some(v) => parse_range(v.to_str().unwrap_or(""), size).map_err(|()| {
            OciError::new(
                OciCode::RangeInvalid,
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
        Body::from_stream(blobs.open(&repo, &digest, range.clone()).await?)
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
    start: UploadStart,
    headers: &HeaderMap,
    body: Body,
) -> OciResult {
    let services = &state.services;
    let repo = services.repositories.open_for_push(caller, &name).await?;
    match start {
        UploadStart::Mount { digest, from } => {
            let mounted = match from {
                // Mounting reads the source repository: the caller must be allowed to pull
                // it; if not (or it lacks the blob), the client uploads instead.
                Some(from) => match services
                    .repositories
                    .open(caller, &from, Action::Pull)
                    .await
                {
                    Ok(Some(source)) => services.blobs.mount(&repo, &digest, &source).await?,
                    Ok(None) | Err(_) => false,
                },
                None => {
                    let visibility = services.access.visibility(caller);
                    services
                        .blobs
                        .mount_any(&repo, &digest, &visibility)
                        .await?
                }
            };
            if mounted {
                return Ok(BlobCreated { name, digest }.into_response());
            }
            // Not mountable: fall back to an upload session, as the spec says.
        }
        UploadStart::Whole(digest) => {
            let len = content_length(headers)?.or(body.size_hint().exact());
            services
                .uploads
                .upload_whole(&repo, &digest, len, body_stream(body))
                .await?;
            return Ok(BlobCreated { name, digest }.into_response());
        }
        UploadStart::Session => {}
    }
    let upload = services.uploads.start(&repo).await?;
    Ok(UploadProgress {
        upload,
        status: StatusCode::ACCEPTED,
        chunk_min: services.uploads.preferred_chunk_min(),
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
fn chunk_bounds(
    headers: &HeaderMap,
    body_len: Option<u64>,
) -> OciResult<(Option<u64>, Option<u64>)> {
    let length = content_length(headers)?.or(body_len);
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

/// The chunk bounds of a request on an existing session: a malformed range on a session
/// that does not exist is the session's absence, not a range error.
async fn session_chunk(
    state: &AppState,
    repo: &RepositoryRow,
    id: &UploadId,
    headers: &HeaderMap,
    body_len: Option<u64>,
) -> OciResult<(Option<u64>, Option<u64>)> {
    match chunk_bounds(headers, body_len) {
        Ok(bounds) => Ok(bounds),
        Err(e) => {
            state.services.uploads.status(repo, id).await?;
            Err(in_session(e, &repo.name, id))
        }
    }
}

/// Adds the session's `Location` and id to an error, as the spec asks for 416.
fn in_session(e: impl Into<OciError>, name: &RepoName, id: &UploadId) -> OciError {
    let e: OciError = e.into();
    if e.status != StatusCode::RANGE_NOT_SATISFIABLE {
        return e;
    }
    e.with_header(header::LOCATION, upload_location(name, id))
        .with_header(
            http::HeaderName::from_static(DOCKER_UPLOAD_UUID),
            upload_uuid(id),
        )
}

async fn patch_upload(
    state: &AppState,
    caller: &Caller,
    name: RepoName,
    id: Option<UploadId>,
    headers: &HeaderMap,
    body: Body,
) -> OciResult {
    let (repo, id) = session(state, caller, &name, id).await?;
    let (start, len) = session_chunk(state, &repo, &id, headers, body.size_hint().exact()).await?;
    let upload = state
        .services
        .uploads
        .append(&repo, &id, start, len, body_stream(body))
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
    caller: &Caller,
    name: RepoName,
    id: Option<UploadId>,
    digest: Digest,
    headers: &HeaderMap,
    body: Body,
) -> OciResult {
    let (repo, id) = session(state, caller, &name, id).await?;
    let (start, len) = session_chunk(state, &repo, &id, headers, body.size_hint().exact()).await?;
    let last_chunk = (len != Some(0)).then(|| (start, len, body_stream(body)));
    state
        .services
        .uploads
        .finish(&repo, &id, &digest, last_chunk)
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
