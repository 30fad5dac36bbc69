//! Helm charts of a namespace: the one chart store as berth's own API (the same versions
//! `/v2`, `/chartrepo` and the ChartMuseum API serve). Upload a `.tgz` (validated: a refused
//! archive stores nothing), list versions, show one with its Chart.yaml, download its
//! archive, delete a version or a whole chart.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_service::charts::{ChartFile, ChartUpload, ChartVersion};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::Listing;
use super::error::{ErrorCode, NativeError};
use super::extract::{Params, PathParams, page};
use super::{ErrorResponses, NativeResult};
use crate::{AppState, Authenticated};

/// One chart version.
#[derive(Debug, Serialize, ToSchema)]
pub struct Chart {
    pub name: String,
    pub version: String,
    /// Chart.yaml's `appVersion`, if any.
    pub app_version: Option<String>,
    pub description: Option<String>,
    pub deprecated: bool,
    /// The OCI repository holding it (`<namespace>/<name>`), tagged with the version.
    pub repository: String,
    /// The `.tgz`'s digest (`sha256:…`) and size.
    pub digest: String,
    pub size: u64,
    pub has_provenance: bool,
    /// When it was stored, RFC 3339.
    pub created: String,
    /// Chart.yaml as JSON.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl From<ChartVersion> for Chart {
    fn from(v: ChartVersion) -> Self {
        let text = |key: &str| {
            v.metadata
                .get(key)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
        };
        Chart {
            app_version: text("appVersion"),
            description: text("description"),
            deprecated: v.metadata.get("deprecated").and_then(|d| d.as_bool()) == Some(true),
            repository: v.repository.to_string(),
            digest: v.archive.digest.to_string(),
            size: v.archive.size,
            has_provenance: v.provenance.is_some(),
            created: v.created,
            name: v.name,
            version: v.version,
            metadata: v.metadata,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChartListQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Replace a version that exists (else 409).
    force: Option<bool>,
}

/// The chart versions of a namespace, by name, newest version first.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/charts", tag = "charts",
    params(("namespace" = String, Path), ChartListQuery),
    responses((status = 200, body = Listing<Chart>), ErrorResponses))]
pub async fn list_charts(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
    Params(q): Params<ChartListQuery>,
) -> NativeResult<Json<Listing<Chart>>> {
    let page = page(q.limit, q.offset)?;
    let all = state
        .services
        .charts
        .list(&auth.0, &namespace, None)
        .await?;
    Ok(Json(Listing::slice(all, page, Chart::from)))
}

/// Upload a chart (the `.tgz` as the body; writers). Its name and version come from its
/// Chart.yaml; it is stored as the OCI artifact `<namespace>/<name>:<version>`.
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/charts", tag = "charts",
    params(("namespace" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/gzip", description = "The chart archive"),
    responses((status = 201, body = Chart), ErrorResponses))]
pub async fn upload_chart(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
    Params(q): Params<UploadQuery>,
    body: Body,
) -> NativeResult<(StatusCode, Json<Chart>)> {
    let charts = &state.services.charts;
    let limit = charts.limits().max_chart_bytes;
    let archive = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| {
            NativeError::new(
                ErrorCode::TooLarge,
                format!("a chart archive is at most {limit} bytes"),
            )
        })?;
    if archive.is_empty() {
        return Err(NativeError::invalid(
            "body",
            "the body must be the chart's .tgz",
        ));
    }
    let stored = charts
        .upload(
            &auth.0,
            &namespace,
            ChartUpload {
                archive,
                provenance: None,
                force: q.force.unwrap_or(false),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

/// The versions of one chart, newest first.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/charts/{chart}", tag = "charts",
    params(("namespace" = String, Path), ("chart" = String, Path), ChartListQuery),
    responses((status = 200, body = Listing<Chart>), ErrorResponses))]
pub async fn list_versions(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, chart)): PathParams<(String, String)>,
    Params(q): Params<ChartListQuery>,
) -> NativeResult<Json<Listing<Chart>>> {
    let page = page(q.limit, q.offset)?;
    let all = state
        .services
        .charts
        .list(&auth.0, &namespace, Some(&chart))
        .await?;
    if all.is_empty() {
        return Err(
            berth_service::ServiceError::NotFound(berth_service::Entity::Chart(chart)).into(),
        );
    }
    Ok(Json(Listing::slice(all, page, Chart::from)))
}

/// Delete every version of a chart (writers).
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/charts/{chart}", tag = "charts",
    params(("namespace" = String, Path), ("chart" = String, Path)),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_chart(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, chart)): PathParams<(String, String)>,
) -> NativeResult<StatusCode> {
    let charts = &state.services.charts;
    let versions = charts.list(&auth.0, &namespace, Some(&chart)).await?;
    if versions.is_empty() {
        return Err(
            berth_service::ServiceError::NotFound(berth_service::Entity::Chart(chart)).into(),
        );
    }
    for v in versions {
        charts
            .delete(&auth.0, &namespace, &v.name, &v.version)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One chart version with its Chart.yaml.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/charts/{chart}/{version}", tag = "charts",
    params(("namespace" = String, Path), ("chart" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = Chart), ErrorResponses))]
pub async fn get_version(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, chart, version)): PathParams<(String, String, String)>,
) -> NativeResult<Json<Chart>> {
    let found = state
        .services
        .charts
        .get(&auth.0, &namespace, &chart, &version)
        .await?;
    Ok(Json(found.into()))
}

/// Delete one chart version (writers).
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/charts/{chart}/{version}", tag = "charts",
    params(("namespace" = String, Path), ("chart" = String, Path), ("version" = String, Path)),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_version(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, chart, version)): PathParams<(String, String, String)>,
) -> NativeResult<StatusCode> {
    state
        .services
        .charts
        .delete(&auth.0, &namespace, &chart, &version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The chart version's `.tgz`, streamed.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/charts/{chart}/{version}/archive", tag = "charts",
    params(("namespace" = String, Path), ("chart" = String, Path), ("version" = String, Path)),
    responses((status = 200, content_type = "application/gzip", body = Vec<u8>, description = "the archive"), ErrorResponses))]
pub async fn download_version(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, chart, version)): PathParams<(String, String, String)>,
) -> NativeResult<Response> {
    let (found, size, stream) = state
        .services
        .charts
        .open(&auth.0, &namespace, &chart, &version, ChartFile::Archive)
        .await?;
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", found.file_name()))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(found.archive.digest.as_str()) {
        headers.insert("docker-content-digest", value);
    }
    Ok(response)
}
