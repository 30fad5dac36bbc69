//! caicloud helm-registry's API (seed 002) under `/api/v1/spaces`: spaces (berth
//! namespaces), their charts and versions (the chart store's OCI artifacts
//! `<space>/<chart>:<version>`), version metadata, values and requirements, and chart
//! orchestration (`POST /api/v1/spaces/{space}/charts` with the seed's JSON config). Lists
//! are helm-registry's `{"metadata": {"total", "itemsLength"}, "items": […]}` paged with
//! `start` and `limit`; errors are its `{"message", "reason", "data"}`. Thin handlers over
//! [`berth_service::ChartService`] and [`berth_service::RepositoryService`].

pub mod endpoint;
pub mod error;
pub mod multipart;

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use berth_core::{Caller, Level};
use berth_service::charts::archive;
use berth_service::{
    ChartFile, ChartUpload, ChartVersion, NamespaceQuery, NamespaceSpec, Page, ServiceError,
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::access_log::RouteTemplate;
use crate::{AppState, caller};
pub use endpoint::{Operation, ROUTES, VersionPath};
pub use error::SpacesError;

/// helm-registry's default page size.
const DEFAULT_LIMIT: i64 = 10;
/// The largest page served (a larger `limit` is served as this many).
const MAX_LIMIT: i64 = 1000;
/// The largest JSON body (orchestration config, metadata, values).
const MAX_JSON_BYTES: usize = 1024 * 1024;
/// What a multipart form may add around the chart archive.
const FORM_OVERHEAD: usize = 64 * 1024;

type SpacesResult<T> = Result<T, SpacesError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/spaces", any(dispatch))
        .route("/api/v1/spaces/", any(dispatch))
        .route("/api/v1/spaces/{*rest}", any(dispatch))
}

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let op = Operation::parse(&parts.method, parts.uri.path());
    let template = op
        .as_ref()
        .map_or("/api/v1/spaces/{*rest}", Operation::template);
    let answer = async {
        let op = op?;
        let caller = caller::authenticate(&state, &parts)
            .await
            .map_err(SpacesError::from)?;
        let ctx = Ctx {
            state: &state,
            caller: &caller,
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
        };
        handle(&ctx, op, body).await
    }
    .await;
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// What every handler needs.
struct Ctx<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
}

impl Ctx<'_> {
    fn charts(&self) -> &berth_service::ChartService {
        &self.state.services.charts
    }

    fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    }

    /// `start` and `limit` as helm-registry reads them (defaults 0 and 10).
    fn paging(&self) -> SpacesResult<Paging> {
        let number = |name: &str, default: i64| -> SpacesResult<i64> {
            match self.param(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .map_err(|_| SpacesError::wrong_type(name, "number", "string")),
            }
        };
        Ok(Paging {
            start: number("start", 0)?,
            limit: number("limit", DEFAULT_LIMIT)?.min(MAX_LIMIT),
        })
    }

    /// Checks the caller's level in the space before anything else is read.
    async fn authorize(&self, space: &str, level: Level) -> SpacesResult<()> {
        self.charts()
            .authorize(self.caller, space, level)
            .await?
            .ok_or_else(|| SpacesError::not_found(space))?;
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
struct Paging {
    start: i64,
    limit: i64,
}

impl Paging {
    /// The range of `total` items to show (empty when out of range, as helm-registry).
    fn range(self, total: usize) -> std::ops::Range<usize> {
        if self.start < 0 || self.limit < 0 || self.start as u64 >= total as u64 {
            return 0..0;
        }
        let start = self.start as usize;
        start..start.saturating_add(self.limit as usize).min(total)
    }

    fn slice<T>(self, items: Vec<T>) -> (usize, Vec<T>) {
        let total = items.len();
        let range = self.range(total);
        let page = items
            .into_iter()
            .skip(range.start)
            .take(range.len())
            .collect();
        (total, page)
    }
}

/// helm-registry's list shape.
fn list_response(total: usize, items: Vec<Value>) -> Response {
    let body = json!({
        "metadata": {"total": total, "itemsLength": items.len()},
        "items": items,
    });
    axum::Json(body).into_response()
}

fn chart_link(space: &str, chart: &str, version: &str, link: String) -> Value {
    json!({"space": space, "chart": chart, "version": version, "link": link})
}

/// A version's metadata as helm-registry shows it: Chart.yaml's fields, with
/// `dependencies` always a list.
fn metadata_of(v: &ChartVersion) -> Value {
    let mut m = v.metadata.clone();
    if !matches!(m.get("dependencies"), Some(Value::Array(_))) {
        m.insert("dependencies".into(), Value::Array(Vec::new()));
    }
    Value::Object(m)
}

/// Versions oldest first (the last is the latest, as helm-registry lists them).
fn oldest_first(mut versions: Vec<ChartVersion>) -> Vec<ChartVersion> {
    // The store lists each chart newest first; keep the charts in name order.
    let mut out = Vec::with_capacity(versions.len());
    while !versions.is_empty() {
        let name = versions[0].name.clone();
        let n = versions.iter().take_while(|v| v.name == name).count();
        let mut chart: Vec<ChartVersion> = versions.drain(..n).collect();
        chart.reverse();
        out.extend(chart);
    }
    out
}

async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    what: &str,
) -> SpacesResult<Bytes> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(SpacesError::too_large(what, limit));
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| SpacesError::too_large(what, limit))
}

async fn json_object(ctx: &Ctx<'_>, body: Body, name: &str) -> SpacesResult<Map<String, Value>> {
    let bytes = read_body(ctx.headers, body, MAX_JSON_BYTES, "request body").await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SpacesError::wrong_type(
            name,
            "a json object",
            "another json value",
        )),
        Err(_) => Err(SpacesError::wrong_type(name, "json", "unknown")),
    }
}

async fn handle(ctx: &Ctx<'_>, op: Operation, body: Body) -> SpacesResult<Response> {
    use Operation as O;
    match op {
        O::ListSpaces => list_spaces(ctx).await,
        O::CreateSpace => create_space(ctx).await,
        O::DeleteSpace { space } => delete_space(ctx, &space).await,
        O::ListCharts { space } => list_charts(ctx, &space).await,
        O::CreateChart { space } => create_chart(ctx, &space, body).await,
        O::DeleteChart { space, chart } => delete_chart(ctx, &space, &chart).await,
        O::ListVersions { space, chart } => list_versions(ctx, &space, &chart).await,
        O::DownloadVersion(v) => download_version(ctx, &v).await,
        O::UploadVersion(v) => put_version(ctx, &v, body, false).await,
        O::UpdateVersion(v) => put_version(ctx, &v, body, true).await,
        O::DeleteVersion(v) => delete_version(ctx, &v).await,
        O::ListSpaceMetadata { space } => list_space_metadata(ctx, &space, false).await,
        O::ListSpaceLatestMetadata { space } => list_space_metadata(ctx, &space, true).await,
        O::ListChartMetadata { space, chart } => list_chart_metadata(ctx, &space, &chart).await,
        O::GetChartLatestMetadata { space, chart } => {
            latest_chart_metadata(ctx, &space, &chart).await
        }
        O::GetMetadata(v) => get_metadata(ctx, &v).await,
        O::UpdateMetadata(v) => update_metadata(ctx, &v, body).await,
        O::GetValues(v) => get_values(ctx, &v).await,
        O::UpdateValues(v) => update_values(ctx, &v, body).await,
        O::GetRequirements(v) => get_requirements(ctx, &v).await,
    }
}

// ---- spaces ----

async fn list_spaces(ctx: &Ctx<'_>) -> SpacesResult<Response> {
    let paging = ctx.paging()?;
    let range = |total: u64| paging.range(usize::try_from(total).unwrap_or(usize::MAX));
    // Ask for the page itself (its total comes with it); out of range, just the total.
    let (offset, limit) = if paging.start < 0 || paging.limit <= 0 {
        (0, 1)
    } else {
        (paging.start as u64, paging.limit as u32)
    };
    let listed = ctx
        .state
        .services
        .repositories
        .list_namespaces(
            ctx.caller,
            NamespaceQuery {
                page: Page { offset, limit },
                ..Default::default()
            },
        )
        .await?;
    let shown = range(listed.total).len();
    let items: Vec<Value> = listed
        .items
        .into_iter()
        .take(shown)
        .map(|v| Value::String(v.namespace.name))
        .collect();
    Ok(list_response(listed.total as usize, items))
}

async fn create_space(ctx: &Ctx<'_>) -> SpacesResult<Response> {
    let name = ctx
        .param("space")
        .ok_or_else(|| SpacesError::missing("space"))?;
    let row = ctx
        .state
        .services
        .repositories
        .create_namespace(
            ctx.caller,
            &NamespaceSpec {
                name: name.clone(),
                description: String::new(),
                is_public: false,
            },
        )
        .await?;
    let link = format!("{}/{}", ctx.path.trim_end_matches('/'), row.name);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"name": row.name, "link": link})),
    )
        .into_response())
}

async fn delete_space(ctx: &Ctx<'_>, space: &str) -> SpacesResult<Response> {
    // A space goes with everything in it, as in helm-registry.
    ctx.state
        .services
        .repositories
        .delete_namespace(ctx.caller, space, true)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- charts ----

async fn list_charts(ctx: &Ctx<'_>, space: &str) -> SpacesResult<Response> {
    let paging = ctx.paging()?;
    let versions = ctx.charts().list(ctx.caller, space, None).await?;
    let names: BTreeSet<String> = versions.into_iter().map(|v| v.name).collect();
    let (total, page) = paging.slice(names.into_iter().map(Value::String).collect());
    Ok(list_response(total, page))
}

async fn create_chart(ctx: &Ctx<'_>, space: &str, body: Body) -> SpacesResult<Response> {
    ctx.authorize(space, Level::Write).await?;
    let config = read_body(ctx.headers, body, MAX_JSON_BYTES, "orchestration config").await?;
    let created = ctx.charts().orchestrate(ctx.caller, space, &config).await?;
    let link = format!(
        "{}/{}/versions/{}",
        ctx.path.trim_end_matches('/'),
        created.name,
        created.version
    );
    let body = chart_link(space, &created.name, &created.version, link);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The versions of a chart, oldest first; a chart without versions does not exist.
async fn versions_of(ctx: &Ctx<'_>, space: &str, chart: &str) -> SpacesResult<Vec<ChartVersion>> {
    let versions = ctx.charts().list(ctx.caller, space, Some(chart)).await?;
    if versions.is_empty() {
        return Err(SpacesError::not_found(&format!("{space}/{chart}")));
    }
    Ok(oldest_first(versions))
}

async fn delete_chart(ctx: &Ctx<'_>, space: &str, chart: &str) -> SpacesResult<Response> {
    ctx.authorize(space, Level::Write).await?;
    for v in versions_of(ctx, space, chart).await? {
        match ctx
            .charts()
            .delete(ctx.caller, space, chart, &v.version)
            .await
        {
            // Deleted meanwhile by someone else: gone is what was asked.
            Ok(()) | Err(ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- versions ----

async fn list_versions(ctx: &Ctx<'_>, space: &str, chart: &str) -> SpacesResult<Response> {
    let paging = ctx.paging()?;
    let versions = versions_of(ctx, space, chart).await?;
    let (total, page) = paging.slice(
        versions
            .into_iter()
            .map(|v| Value::String(v.version))
            .collect(),
    );
    Ok(list_response(total, page))
}

async fn download_version(ctx: &Ctx<'_>, v: &VersionPath) -> SpacesResult<Response> {
    let (found, size, stream) = ctx
        .charts()
        .open(
            ctx.caller,
            &v.space,
            &v.chart,
            &v.version,
            ChartFile::Archive,
        )
        .await?;
    let mut response = Response::new(Body::from_stream(stream));
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
    Ok(response)
}

/// Upload (POST: the version must not exist, 201) or update (PUT: it must, 200) of a
/// version, as the multipart field `chartfile`, whose Chart.yaml must name the path's chart
/// and version.
async fn put_version(
    ctx: &Ctx<'_>,
    v: &VersionPath,
    body: Body,
    update: bool,
) -> SpacesResult<Response> {
    ctx.authorize(&v.space, Level::Write).await?;
    let limits = ctx.charts().limits().clone();
    let max = usize::try_from(limits.max_chart_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(FORM_OVERHEAD);
    let content_type = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary =
        multipart::boundary(content_type).ok_or_else(|| SpacesError::missing("chartfile"))?;
    let form = read_body(ctx.headers, body, max, "chart upload").await?;
    let archive = multipart::field(&form, &boundary, "chartfile")
        .map_err(|()| SpacesError::wrong_type("chartfile", "multipart/form-data", "unknown"))?
        .ok_or_else(|| SpacesError::missing("chartfile"))?;
    let checked = {
        let archive = archive.clone();
        tokio::task::spawn_blocking(move || archive::inspect(&archive, &limits))
            .await
            .map_err(ServiceError::internal)?
    };
    let checked = checked.map_err(|e| {
        let mut error = SpacesError::wrong_type("chartfile", "chart", "unknown");
        error.message = format!("chartfile should be chart: {e}");
        error
    })?;
    if checked.name != v.chart {
        return Err(SpacesError::wrong_value("chart", &v.chart, &checked.name));
    }
    if checked.version != v.version {
        return Err(SpacesError::wrong_value(
            "version",
            &v.version,
            &checked.version,
        ));
    }
    if update {
        // Must exist (helm-registry: 404 otherwise).
        ctx.charts()
            .get(ctx.caller, &v.space, &v.chart, &v.version)
            .await?;
    }
    let stored = ctx
        .charts()
        .upload(
            ctx.caller,
            &v.space,
            ChartUpload {
                archive,
                provenance: None,
                force: update,
            },
        )
        .await?;
    let status = if update {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = chart_link(&v.space, &stored.name, &stored.version, ctx.path.to_owned());
    Ok((status, axum::Json(body)).into_response())
}

async fn delete_version(ctx: &Ctx<'_>, v: &VersionPath) -> SpacesResult<Response> {
    ctx.authorize(&v.space, Level::Write).await?;
    ctx.charts()
        .delete(ctx.caller, &v.space, &v.chart, &v.version)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- metadata, values, requirements ----

async fn list_space_metadata(ctx: &Ctx<'_>, space: &str, latest: bool) -> SpacesResult<Response> {
    let paging = ctx.paging()?;
    let versions = ctx.charts().list(ctx.caller, space, None).await?;
    let items: Vec<Value> = if latest {
        // Newest first per chart: the first of each name.
        let mut seen = BTreeSet::new();
        versions
            .iter()
            .filter(|v| seen.insert(v.name.clone()))
            .map(metadata_of)
            .collect()
    } else {
        oldest_first(versions).iter().map(metadata_of).collect()
    };
    let (total, page) = paging.slice(items);
    Ok(list_response(total, page))
}

async fn list_chart_metadata(ctx: &Ctx<'_>, space: &str, chart: &str) -> SpacesResult<Response> {
    let paging = ctx.paging()?;
    let versions = versions_of(ctx, space, chart).await?;
    let (total, page) = paging.slice(versions.iter().map(metadata_of).collect());
    Ok(list_response(total, page))
}

async fn latest_chart_metadata(ctx: &Ctx<'_>, space: &str, chart: &str) -> SpacesResult<Response> {
    let versions = versions_of(ctx, space, chart).await?;
    let latest = versions
        .last()
        .ok_or_else(|| SpacesError::not_found("metadata"))?;
    Ok(axum::Json(metadata_of(latest)).into_response())
}

async fn get_metadata(ctx: &Ctx<'_>, v: &VersionPath) -> SpacesResult<Response> {
    let found = ctx
        .charts()
        .get(ctx.caller, &v.space, &v.chart, &v.version)
        .await?;
    Ok(axum::Json(metadata_of(&found)).into_response())
}

async fn update_metadata(ctx: &Ctx<'_>, v: &VersionPath, body: Body) -> SpacesResult<Response> {
    ctx.authorize(&v.space, Level::Write).await?;
    let mut metadata = json_object(ctx, body, "body").await?;
    // The empty list the metadata endpoints show for a chart without dependencies.
    if metadata.get("dependencies") == Some(&Value::Array(Vec::new())) {
        metadata.remove("dependencies");
    }
    let stored = ctx
        .charts()
        .update_metadata(ctx.caller, &v.space, &v.chart, &v.version, metadata)
        .await?;
    Ok(axum::Json(metadata_of(&stored)).into_response())
}

async fn get_values(ctx: &Ctx<'_>, v: &VersionPath) -> SpacesResult<Response> {
    let (_, tree) = ctx
        .charts()
        .tree(ctx.caller, &v.space, &v.chart, &v.version)
        .await?;
    let values = tree
        .files
        .get("values.yaml")
        .map(|f| f.data.clone())
        .unwrap_or_default();
    Ok((
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        values,
    )
        .into_response())
}

async fn update_values(ctx: &Ctx<'_>, v: &VersionPath, body: Body) -> SpacesResult<Response> {
    ctx.authorize(&v.space, Level::Write).await?;
    let values = json_object(ctx, body, "values").await?;
    ctx.charts()
        .update_values(ctx.caller, &v.space, &v.chart, &v.version, values.clone())
        .await?;
    Ok(axum::Json(Value::Object(values)).into_response())
}

async fn get_requirements(ctx: &Ctx<'_>, v: &VersionPath) -> SpacesResult<Response> {
    let (_, tree) = ctx
        .charts()
        .tree(ctx.caller, &v.space, &v.chart, &v.version)
        .await?;
    let dependencies = tree.dependencies()?;
    Ok(axum::Json(json!({ "dependencies": dependencies })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_helm_registrys() {
        let p = |start, limit| Paging { start, limit };
        assert_eq!(p(0, 10).range(3), 0..3);
        assert_eq!(p(1, 1).range(3), 1..2);
        assert_eq!(p(3, 1).range(3), 0..0);
        assert_eq!(p(-1, 1).range(3), 0..0);
        assert_eq!(p(0, -1).range(3), 0..0);
        assert_eq!(p(2, 0).range(3), 2..2);
    }
}
