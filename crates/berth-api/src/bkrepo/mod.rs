//! bk-repo's docker extension API (seed 001) under `/docker/ext/`: browse and manage images
//! by project (`projectId`, a berth namespace), repository (`repoName`, the second component
//! of the OCI name) and image name (the rest, slashes allowed): the OCI repository
//! `{projectId}/{repoName}/{name}`. Every answer is bk-repo's envelope `{"code", "message",
//! "data", "traceId"}` (`code` 0 on success; the trace id is berth's request id), except the
//! layer download, which streams the blob. Thin handlers over `berth_service`.

pub mod endpoint;
pub mod error;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use berth_core::{Action, Caller, Digest, RepoName, Tag};
use berth_service::{Direction, Page, RepositoryOrder, RepositoryQuery, TagOrder, TagQuery};
use http::{HeaderMap, HeaderValue, Method, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access_log::{RequestId, RouteTemplate};
use crate::{AppState, caller};
use endpoint::BkRoute;
pub use error::BkError;

/// The largest page asked for.
const MAX_PAGE_SIZE: u32 = 1000;
/// The page size when none is given.
const DEFAULT_PAGE_SIZE: u32 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/docker/ext", any(dispatch))
        .route("/docker/ext/{*rest}", any(dispatch))
}

type BkResult<T> = Result<T, BkError>;

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    let trace = parts
        .extensions
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    let route = BkRoute::parse(parts.uri.path());
    let template = route
        .as_ref()
        .map_or("/docker/ext/{*rest}", BkRoute::template);
    let answer = async {
        let route = route?;
        let caller = caller::authenticate(&state, &parts)
            .await
            .map_err(BkError::from)?;
        let query = parts.uri.query();
        let get = parts.method == Method::GET || parts.method == Method::HEAD;
        let s = &state;
        let c = &caller;
        let headers = &parts.headers;
        match route {
            BkRoute::Manifest { name, tag } if get => manifest(s, c, &name, &tag).await.map(Ok),
            BkRoute::Layer { name, digest } if get => layer(s, c, &name, &digest).await.map(Err),
            BkRoute::Images { project, repo } if get => {
                images(s, c, &project, &repo, query).await.map(Ok)
            }
            BkRoute::Tags { name } if get => tags(s, c, headers, &name, query).await.map(Ok),
            BkRoute::DeletePackage { project, repo } if parts.method == Method::DELETE => {
                delete_package(s, c, &project, &repo, query).await.map(Ok)
            }
            BkRoute::DeleteVersion { project, repo } if parts.method == Method::DELETE => {
                delete_version(s, c, &project, &repo, query).await.map(Ok)
            }
            BkRoute::VersionDetail { project, repo } if get => {
                version_detail(s, c, headers, &project, &repo, query)
                    .await
                    .map(Ok)
            }
            BkRoute::Addr if get => Ok(Ok(json!(s.config.registry_host(headers)))),
            _ => Err(BkError::method_not_allowed()),
        }
    }
    .await;
    let mut response = match answer {
        Ok(Ok(data)) => success(data, &trace),
        Ok(Err(streamed)) => streamed,
        Err(e) => e.render(&trace),
    };
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// A success in the envelope.
fn success(data: Value, trace: &str) -> Response {
    axum::Json(json!({"code": 0, "message": null, "data": data, "traceId": trace})).into_response()
}

// ---- parameters ----

/// The query parameters of every endpoint, all optional here and checked per endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    page_number: Option<String>,
    page_size: Option<String>,
    name: Option<String>,
    tag: Option<String>,
    package_key: Option<String>,
    version: Option<String>,
}

fn params(query: Option<&str>) -> BkResult<Params> {
    serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| BkError::invalid("query", format!("not a valid query string: {e}")))
}

/// bk-repo's paging: `pageNumber` counts from 1 (0 is page 1), `pageSize` at least 1.
fn page(p: &Params) -> BkResult<Page> {
    let number = match &p.page_number {
        None => 1,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| BkError::invalid("pageNumber", "a whole number from 0 up"))?
            .max(1),
    };
    let size = match &p.page_size {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => match s.parse::<u32>() {
            Ok(n @ 1..=MAX_PAGE_SIZE) => n,
            _ => {
                return Err(BkError::invalid(
                    "pageSize",
                    format!("a whole number from 1 to {MAX_PAGE_SIZE}"),
                ));
            }
        },
    };
    let offset = (number - 1)
        .checked_mul(u64::from(size))
        .ok_or_else(|| BkError::invalid("pageNumber", "too large"))?;
    Ok(Page {
        offset,
        limit: size,
    })
}

/// A filter given empty filters nothing.
fn filter(v: &Option<String>) -> Option<String> {
    v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The OCI name of `packageKey` (`docker://name` or `name`) in a project's repository.
fn package_name(project: &str, repo: &str, p: &Params) -> BkResult<RepoName> {
    let key = p
        .package_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| BkError::missing("packageKey"))?;
    let name = key.strip_prefix("docker://").unwrap_or(key);
    format!("{project}/{repo}/{name}")
        .parse()
        .map_err(|e: berth_core::NameError| BkError::invalid("packageKey", e))
}

fn version(p: &Params) -> BkResult<Tag> {
    let v = p
        .version
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| BkError::missing("version"))?;
    v.parse()
        .map_err(|e: berth_core::NameError| BkError::invalid("version", e))
}

/// bk-repo's dates: ISO 8601 local time without a zone, milliseconds (berth: UTC).
fn date(ms: i64) -> String {
    let s = berth_core::time::rfc3339(ms);
    s.strip_suffix('Z').map(str::to_owned).unwrap_or(s)
}

async fn open(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    action: Action,
) -> BkResult<std::sync::Arc<berth_service::RepositoryRow>> {
    state
        .services
        .repositories
        .open_existing(caller, name, action)
        .await
        .map_err(Into::into)
}

// ---- handlers ----

/// The manifest of a tag, as its text.
async fn manifest(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    tag: &str,
) -> BkResult<Value> {
    let tag: Tag = tag
        .parse()
        .map_err(|e: berth_core::NameError| BkError::invalid("tag", e))?;
    let repo = open(state, caller, name, Action::Pull).await?;
    let row = state
        .services
        .manifests
        .get(
            &repo,
            &berth_core::Reference::Tag(tag),
            berth_service::PullKind::Get,
        )
        .await?;
    Ok(Value::String(
        String::from_utf8_lossy(&row.body).into_owned(),
    ))
}

/// A layer (any blob of the image), streamed.
async fn layer(state: &AppState, caller: &Caller, name: &RepoName, id: &str) -> BkResult<Response> {
    let digest: Digest = if id.contains(':') {
        id.parse()
    } else {
        format!("sha256:{id}").parse()
    }
    .map_err(|e: berth_core::DigestError| BkError::invalid("Id", e))?;
    let repo = open(state, caller, name, Action::Pull).await?;
    let blobs = &state.services.blobs;
    let (size, stream) = match blobs.stream_uncached(&repo, &digest).await? {
        Some(streamed) => streamed,
        None => {
            let size = blobs.stat(&repo, &digest).await?;
            (size, blobs.open(&repo, &digest, 0..size).await?)
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        "docker-content-digest",
        HeaderValue::from_str(digest.as_str()).expect("a digest is a header value"),
    );
    Ok(response)
}

/// The images of a project's repository.
async fn images(
    state: &AppState,
    caller: &Caller,
    project: &str,
    repo: &str,
    query: Option<&str>,
) -> BkResult<Value> {
    let p = params(query)?;
    let page = page(&p)?;
    // The prefix must be a valid start of a name.
    let prefix: RepoName = format!("{project}/{repo}")
        .parse()
        .map_err(|e: berth_core::NameError| BkError::invalid("repoName", e))?;
    let prefix = format!("{prefix}/");
    let listed = state
        .services
        .repositories
        .list_repositories(
            caller,
            RepositoryQuery {
                prefix: Some(prefix.clone()),
                search: filter(&p.name),
                with_manifests: true,
                page,
                order: RepositoryOrder::Name,
                direction: Direction::Asc,
                ..Default::default()
            },
        )
        .await?;
    let records: Vec<Value> = listed
        .items
        .into_iter()
        .map(|r| {
            json!({
                "name": r.name.as_str().strip_prefix(&prefix).unwrap_or(r.name.as_str()),
                "lastModifiedBy": r.creator,
                "lastModifiedDate": date(r.last_pushed_at.unwrap_or(r.updated_at)),
                "downloadCount": r.num_downloads,
                "logoUrl": "",
                "description": r.description,
            })
        })
        .collect();
    Ok(json!({
        "totalRecords": listed.total,
        "toatalRecords": listed.total,
        "records": records,
    }))
}

/// The tags of an image.
async fn tags(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    name: &RepoName,
    query: Option<&str>,
) -> BkResult<Value> {
    let p = params(query)?;
    let page = page(&p)?;
    let repo = open(state, caller, name, Action::Pull).await?;
    let listed = state
        .services
        .manifests
        .list_tags(
            &repo,
            &TagQuery {
                search: filter(&p.tag),
                page,
                order: TagOrder::Name,
                direction: Direction::Asc,
            },
        )
        .await?;
    let host = state.config.registry_host(headers);
    let records: Vec<Value> = listed
        .items
        .into_iter()
        .map(|t| {
            json!({
                "tag": t.name,
                "stageTag": "",
                "size": t.total_size,
                "lastModifiedBy": t.pushed_by,
                "lastModifiedDate": date(t.pushed_at),
                "downloadCount": t.downloads,
                "registryUrl": format!("{host}/{name}:{}", t.name),
            })
        })
        .collect();
    Ok(json!({
        "totalRecords": listed.total,
        "toatalRecords": listed.total,
        "records": records,
    }))
}

/// Deletes an image: the repository with all its tags and manifests (blobs stay for GC).
async fn delete_package(
    state: &AppState,
    caller: &Caller,
    project: &str,
    repo: &str,
    query: Option<&str>,
) -> BkResult<Value> {
    let p = params(query)?;
    let name = package_name(project, repo, &p)?;
    state
        .services
        .repositories
        .delete_repository(caller, &name)
        .await?;
    Ok(Value::Bool(true))
}

/// Deletes one tag of an image (the manifest stays while other tags or digests name it).
async fn delete_version(
    state: &AppState,
    caller: &Caller,
    project: &str,
    repo: &str,
    query: Option<&str>,
) -> BkResult<Value> {
    let p = params(query)?;
    let name = package_name(project, repo, &p)?;
    let tag = version(&p)?;
    let repo = open(state, caller, &name, Action::Delete).await?;
    state
        .services
        .manifests
        .delete_tag(caller, &repo, &tag)
        .await?;
    Ok(Value::Bool(true))
}

/// A tag's detail: basic facts, build history, metadata (with the image's labels), layers.
/// For a multi-platform index, the image facts are those of its first platform.
async fn version_detail(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    project: &str,
    repo: &str,
    query: Option<&str>,
) -> BkResult<Value> {
    let p = params(query)?;
    let name = package_name(project, repo, &p)?;
    let tag = version(&p)?;
    let repo = open(state, caller, &name, Action::Pull).await?;
    let detail = state.services.manifests.tag_detail(&repo, &tag).await?;
    let image = if detail.detail.image.is_none() {
        detail.platforms.first().unwrap_or(&detail.detail)
    } else {
        &detail.detail
    };
    let info = image.image.clone().unwrap_or_default();
    let size: u64 = image.config.as_ref().map_or(0, |c| c.size)
        + image.layers.iter().map(|l| l.size).sum::<u64>();
    let domain = state.config.registry_host(headers);
    let manifest_digest = &detail.detail.digest;
    let basic = json!({
        "size": size,
        "createdDate": date(detail.tag.created_at),
        "createdBy": detail.tag.pushed_by,
        "version": tag.as_str(),
        "dockerDomain": domain,
        "domain": domain,
        "lastModifiedBy": detail.tag.pushed_by,
        "lastModifiedDate": date(detail.tag.pushed_at),
        "downloadCount": detail.tag.downloads,
        "stageTag": [],
        "sha256": image.config.as_ref().map(|c| c.digest.hex().to_owned()),
        "os": info.os,
        "architecture": info.architecture,
    });
    let history: Vec<Value> = info
        .history
        .iter()
        .map(|h| json!({"created": h.created, "created_by": h.created_by}))
        .collect();
    let mut metadata: BTreeMap<String, Value> = info
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    metadata.insert("sha256".into(), json!(manifest_digest.hex()));
    metadata.insert(
        "docker.manifest.digest".into(),
        json!(manifest_digest.as_str()),
    );
    metadata.insert("docker.manifest".into(), json!(tag.as_str()));
    metadata.insert(
        "docker.repoName".into(),
        json!(name.as_str().splitn(3, '/').nth(2).unwrap_or(name.as_str())),
    );
    metadata.insert(
        "docker.manifest.type".into(),
        json!(detail.detail.media_type),
    );
    let layers: Vec<Value> = image
        .layers
        .iter()
        .map(|l| json!({"mediaType": l.media_type, "size": l.size, "digest": l.digest.as_str()}))
        .collect();
    Ok(json!({
        "basic": basic,
        "history": history,
        "metadata": metadata,
        "layers": layers,
    }))
}
