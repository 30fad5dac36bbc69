//! Helm's HTTP surfaces over the one chart store: the classic chart repository of each
//! namespace at `/chartrepo/<namespace>` (`index.yaml`, `index.json`, `charts/<file>`), the
//! ChartMuseum API relative to it (`/chartrepo/<namespace>/api/…`) and under Harbor's old
//! path (`/api/chartrepo/<namespace>/charts…`), in ChartMuseum's shapes (`{"saved":true}`,
//! `{"deleted":true}`, `{"error":"…"}`). Reads need level 1 (read) on the namespace,
//! uploads and deletes level 3 (write). Thin handlers over `berth_service::ChartService`.

pub mod endpoint;
pub mod error;
pub mod multipart;

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_core::Level;
use berth_service::{ChartFile, ChartUpload, ChartVersion, IndexBody, IndexForm, RenderedIndex};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::caller::Authenticated;
pub use error::HelmError;

type Caller = Authenticated<HelmError>;
type HelmResult<T> = Result<T, HelmError>;

/// Room for the multipart framing around a chart and its provenance file.
const FORM_OVERHEAD: usize = 2 * 1024 * 1024;

/// Where Harbor's namespace-less upload (`POST /api/chartrepo/charts`) puts a chart: its
/// default project.
pub const DEFAULT_NAMESPACE: &str = "library";

/// Every method and route template of the family; the permission matrix test has a row for
/// each.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/chartrepo/{ns}/index.yaml"),
    ("GET", "/chartrepo/{ns}/index.json"),
    ("GET", "/chartrepo/{ns}/charts/{file}"),
    ("POST", "/chartrepo/{ns}/api/charts"),
    ("GET", "/chartrepo/{ns}/api/charts"),
    ("GET", "/chartrepo/{ns}/api/charts/{name}"),
    ("GET", "/chartrepo/{ns}/api/charts/{name}/{version}"),
    ("DELETE", "/chartrepo/{ns}/api/charts/{name}/{version}"),
    ("POST", "/chartrepo/{ns}/api/prov"),
    ("POST", "/api/chartrepo/{ns}/charts"),
    ("GET", "/api/chartrepo/{ns}/charts"),
    ("GET", "/api/chartrepo/{ns}/charts/{name}"),
    ("GET", "/api/chartrepo/{ns}/charts/{name}/{version}"),
    ("DELETE", "/api/chartrepo/{ns}/charts/{name}/{version}"),
    ("POST", "/api/chartrepo/{ns}/prov"),
    ("POST", "/api/chartrepo/charts"),
    ("GET", "/api/chartrepo/health"),
];

pub fn router() -> Router<AppState> {
    let museum = || {
        Router::new()
            .route("/charts", post(post_chart).get(list_charts))
            .route("/charts/{name}", get(chart_versions))
            .route(
                "/charts/{name}/{version}",
                get(chart_version).delete(delete_version),
            )
            .route("/prov", post(post_provenance))
    };
    Router::new()
        .route("/chartrepo/{ns}/index.yaml", get(index_yaml))
        .route("/chartrepo/{ns}/index.json", get(index_json))
        .route("/chartrepo/{ns}/charts/{file}", get(download))
        .nest("/chartrepo/{ns}/api", museum())
        // Harbor's old ChartMuseum paths: /api/chartrepo/<ns>/charts…, /api/chartrepo/<ns>/prov,
        // and Harbor 1.x's namespace-less upload (to `library`) and health check.
        .route("/api/chartrepo/charts", post(post_default_chart))
        .route("/api/chartrepo/health", get(chart_health))
        .nest("/api/chartrepo/{ns}", museum())
}

// ---- the classic repository ----

async fn index_yaml(
    State(state): State<AppState>,
    auth: Caller,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> HelmResult<Response> {
    let caller = auth.0;
    let index = state.services.charts.index(&caller, &ns).await?;
    Ok(serve_index(&index, IndexForm::Yaml, &headers))
}

async fn index_json(
    State(state): State<AppState>,
    auth: Caller,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> HelmResult<Response> {
    let caller = auth.0;
    let index = state.services.charts.index(&caller, &ns).await?;
    Ok(serve_index(&index, IndexForm::Json, &headers))
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Whether `If-None-Match` names one of `tags` (or is `*`).
fn matches_etag(headers: &HeaderMap, tags: &[&str]) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || tags.contains(&t))
}

fn serve_index(index: &RenderedIndex, form: IndexForm, headers: &HeaderMap) -> Response {
    let gzip = accepts_gzip(headers);
    let base = index.etag.trim_end_matches('"');
    let (plain_tag, gzip_tag) = match form {
        IndexForm::Yaml => (format!("{base}-y\""), format!("{base}-y-gz\"")),
        IndexForm::Json => (format!("{base}-j\""), format!("{base}-j-gz\"")),
    };
    let etag = if gzip { &gzip_tag } else { &plain_tag };
    let mut response = if matches_etag(headers, &[&plain_tag, &gzip_tag]) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = index.body(form, gzip);
        let content_type = match form {
            IndexForm::Yaml => "application/x-yaml",
            IndexForm::Json => "application/json",
        };
        // The cached blocks in sequence, never joined; the exact length gives Content-Length.
        let mut response = Response::new(Body::new(ChunkBody::from(body)));
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A body of chunks already in memory (shared with the cache), of exactly known length.
struct ChunkBody {
    chunks: std::sync::Arc<[Bytes]>,
    next: usize,
    left: u64,
}

impl From<IndexBody> for ChunkBody {
    fn from(body: IndexBody) -> ChunkBody {
        ChunkBody {
            chunks: body.chunks,
            next: 0,
            left: body.len,
        }
    }
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let chunk = self.chunks.get(self.next).cloned();
        if let Some(chunk) = &chunk {
            self.next += 1;
            self.left -= chunk.len() as u64;
        }
        std::task::Poll::Ready(chunk.map(|c| Ok(http_body::Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.chunks.len()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
}

async fn download(
    State(state): State<AppState>,
    auth: Caller,
    Path((ns, file)): Path<(String, String)>,
) -> HelmResult<Response> {
    let caller = auth.0;
    let Some((name, version, kind)) = endpoint::parse_file_name(&file) else {
        return Err(HelmError::not_found(format!("no such file: {file}")));
    };
    let (found, size, stream) = state
        .services
        .charts
        .open(&caller, &ns, &name, &version, kind)
        .await?;
    let mut response = Response::new(Body::from_stream(stream));
    let h = response.headers_mut();
    let content_type = match kind {
        ChartFile::Archive => "application/x-tar",
        ChartFile::Provenance => "application/pgp-signature",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    let digest = match kind {
        ChartFile::Archive => Some(found.archive.digest),
        ChartFile::Provenance => found.provenance.map(|p| p.digest),
    };
    if let Some(digest) = digest
        && let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", digest.hex()))
    {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}

// ---- the ChartMuseum API ----

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    offset: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct UploadParams {
    force: Option<String>,
}

async fn list_charts(
    State(state): State<AppState>,
    auth: Caller,
    Path(ns): Path<String>,
    Query(params): Query<ListParams>,
) -> HelmResult<Response> {
    let caller = auth.0;
    let offset = match params.offset.as_deref() {
        None => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| HelmError::bad_request("offset is not a valid non-negative integer"))?,
    };
    let limit = match params.limit.as_deref() {
        None => None,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(HelmError::bad_request(
                    "limit is not a valid positive integer",
                ));
            }
        },
    };
    let versions = state.services.charts.list(&caller, &ns, None).await?;
    let mut by_name: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for v in &versions {
        by_name
            .entry(v.name.clone())
            .or_default()
            .push(Value::Object(v.entry()));
    }
    // ChartMuseum pages over chart names.
    let page: serde_json::Map<String, Value> = by_name
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(|(name, list)| (name, Value::Array(list)))
        .collect();
    Ok(axum::Json(Value::Object(page)).into_response())
}

async fn chart_versions(
    State(state): State<AppState>,
    auth: Caller,
    Path((ns, name)): Path<(String, String)>,
) -> HelmResult<Response> {
    let caller = auth.0;
    let versions = state
        .services
        .charts
        .list(&caller, &ns, Some(&name))
        .await?;
    if versions.is_empty() {
        return Err(HelmError::not_found("chart not found"));
    }
    let list: Vec<Value> = versions.iter().map(|v| Value::Object(v.entry())).collect();
    Ok(axum::Json(list).into_response())
}

async fn find_version(
    state: &AppState,
    caller: &berth_core::Caller,
    ns: &str,
    name: &str,
    version: &str,
) -> HelmResult<ChartVersion> {
    if version == "latest" {
        let versions = state.services.charts.list(caller, ns, Some(name)).await?;
        return versions
            .into_iter()
            .next()
            .ok_or_else(|| HelmError::not_found("chart not found"));
    }
    match state.services.charts.get(caller, ns, name, version).await {
        Err(berth_service::ServiceError::NotFound(berth_service::Entity::Chart(_))) => Err(
            HelmError::not_found(format!("no chart version found for {name}-{version}")),
        ),
        other => Ok(other?),
    }
}

/// GET (and HEAD, which axum answers from the GET without its body).
async fn chart_version(
    State(state): State<AppState>,
    auth: Caller,
    Path((ns, name, version)): Path<(String, String, String)>,
) -> HelmResult<Response> {
    let caller = auth.0;
    let found = find_version(&state, &caller, &ns, &name, &version).await?;
    Ok(axum::Json(Value::Object(found.entry())).into_response())
}

async fn delete_version(
    State(state): State<AppState>,
    auth: Caller,
    Path((ns, name, version)): Path<(String, String, String)>,
) -> HelmResult<Response> {
    let caller = auth.0;
    match state
        .services
        .charts
        .delete(&caller, &ns, &name, &version)
        .await
    {
        Err(berth_service::ServiceError::NotFound(berth_service::Entity::Chart(_))) => {
            return Err(HelmError::not_found(format!(
                "no chart version found for {name}-{version}"
            )));
        }
        other => other?,
    }
    Ok(axum::Json(json!({"deleted": true})).into_response())
}

/// Reads the whole body, up to `limit` bytes.
async fn read_body(request: Request, limit: usize) -> HelmResult<(HeaderMap, Bytes)> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        HelmError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes"),
        )
    })?;
    Ok((parts.headers, bytes))
}

fn saved() -> Response {
    (StatusCode::CREATED, axum::Json(json!({"saved": true}))).into_response()
}

fn force_of(params: &UploadParams) -> bool {
    // ChartMuseum: `?force` present, whatever its value.
    params.force.is_some()
}

/// POST a chart: the `.tgz` as the body (whatever its Content-Type: `curl --data-binary`
/// sends `application/x-www-form-urlencoded`), or a `multipart/form-data` form with fields
/// `chart` and optionally `prov`.
async fn post_chart(
    State(state): State<AppState>,
    auth: Caller,
    Path(ns): Path<String>,
    Query(params): Query<UploadParams>,
    request: Request,
) -> HelmResult<Response> {
    store_chart(&state, &auth.0, &ns, &params, request).await
}

/// Harbor 1.x's `POST /api/chartrepo/charts`: an upload (multipart `chart` and optionally
/// `prov`, or the bare `.tgz`) to the default project, `library`.
async fn post_default_chart(
    State(state): State<AppState>,
    auth: Caller,
    Query(params): Query<UploadParams>,
    request: Request,
) -> HelmResult<Response> {
    store_chart(&state, &auth.0, DEFAULT_NAMESPACE, &params, request).await
}

/// Harbor 1.x's `GET /api/chartrepo/health`: the chart service answers (to anyone; wrong
/// credentials are refused as everywhere).
async fn chart_health(_auth: Caller) -> Response {
    axum::Json(json!({"healthy": true})).into_response()
}

async fn store_chart(
    state: &AppState,
    caller: &berth_core::Caller,
    ns: &str,
    params: &UploadParams,
    request: Request,
) -> HelmResult<Response> {
    let charts = &state.services.charts;
    // Refuse before reading what would be refused anyway.
    charts.authorize(caller, ns, Level::Write).await?;
    let max = charts.limits().max_chart_bytes as usize;
    let (headers, body) = read_body(request, max + FORM_OVERHEAD).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let upload = match multipart::boundary(content_type) {
        Some(boundary) => {
            let fields = multipart::fields(&body, &boundary)
                .ok_or_else(|| HelmError::bad_request("malformed multipart/form-data body"))?;
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            let provenance = field("prov");
            match field("chart") {
                Some(archive) => ChartUpload {
                    archive,
                    provenance,
                    force: force_of(params),
                },
                None => match provenance {
                    Some(prov) => {
                        return match charts
                            .upload_provenance(caller, ns, prov, force_of(params))
                            .await
                        {
                            Err(berth_service::ServiceError::AlreadyExists(_)) => {
                                Err(HelmError::new(StatusCode::CONFLICT, "file already exists"))
                            }
                            Err(e) => Err(e.into()),
                            Ok(_) => Ok(saved()),
                        };
                    }
                    None => {
                        return Err(HelmError::bad_request(
                            "no package or provenance file found in form fields chart and prov",
                        ));
                    }
                },
            }
        }
        None => ChartUpload {
            archive: body,
            provenance: None,
            force: force_of(params),
        },
    };
    if upload.archive.len() > max {
        return Err(HelmError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("chart archive is larger than the limit of {max} bytes"),
        ));
    }
    let multipart = multipart::boundary(content_type).is_some();
    match charts.upload(caller, ns, upload).await {
        // ChartMuseum's words for each kind of upload.
        Err(berth_service::ServiceError::AlreadyExists(_)) => Err(HelmError::new(
            StatusCode::CONFLICT,
            if multipart {
                "chart already exists"
            } else {
                "file already exists"
            },
        )),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(saved()),
    }
}

/// POST a provenance file (the body, or a form field `prov`) for a version that exists; 409
/// if it has one, unless `?force`.
async fn post_provenance(
    State(state): State<AppState>,
    auth: Caller,
    Path(ns): Path<String>,
    Query(params): Query<UploadParams>,
    request: Request,
) -> HelmResult<Response> {
    let caller = auth.0;
    let charts = &state.services.charts;
    charts.authorize(&caller, &ns, Level::Write).await?;
    let max = charts.limits().max_provenance_bytes as usize;
    let (headers, body) = read_body(request, max + FORM_OVERHEAD).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let prov = match multipart::boundary(content_type) {
        Some(boundary) => multipart::fields(&body, &boundary)
            .and_then(|f| f.into_iter().find(|(n, _)| n == "prov").map(|(_, v)| v))
            .ok_or_else(|| HelmError::bad_request("no provenance file found in form field prov"))?,
        None => body,
    };
    match charts
        .upload_provenance(&caller, &ns, prov, force_of(&params))
        .await
    {
        Err(berth_service::ServiceError::AlreadyExists(_)) => {
            Err(HelmError::new(StatusCode::CONFLICT, "file already exists"))
        }
        Err(e) => Err(e.into()),
        Ok(_) => Ok(saved()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation_and_etags() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.5"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"1-2-y\""),
        );
        assert!(matches_etag(&h, &["\"1-2-y\""]));
        assert!(!matches_etag(&h, &["\"1-3-y\""]));
    }
}
