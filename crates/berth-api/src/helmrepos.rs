//! Helm repository management (seed 000, the `climc k8s-repo-*` API) under `/api/repos`:
//! create, list (`details`, `limit`, `offset`, `type`, `search`, `order_by`, `order`), get,
//! update (`PUT`, also `PATCH`), delete and sync, a repository addressed by its id (a UUID)
//! or its name; and the versions a mirror holds. Answers are the seed's objects (`id`,
//! `is_public`, `name`, `project_domain`, `release_count`, `type`, `url`) plus the sync state;
//! lists are `{"repos": […], "total", "limit", "offset"}`; failures are
//! `{"error": {"code", "class", "details"}}`. Thin handlers over `HelmRepoService`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_core::Secret;
use berth_service::{
    Direction, HelmRepoChange, HelmRepoOrder, HelmRepoQuery, HelmRepoRow, HelmRepoSpec, Page,
    ServiceError,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::access_log::RouteTemplate;
use crate::caller::{AuthError, Authenticated};

/// The largest body read.
const MAX_BODY: usize = 64 * 1024;
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 1000;

/// Every method and route template of the family; the permission matrix test has a row for
/// each.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/repos"),
    ("POST", "/api/repos"),
    ("GET", "/api/repos/{id_or_name}"),
    ("PUT", "/api/repos/{id_or_name}"),
    ("PATCH", "/api/repos/{id_or_name}"),
    ("DELETE", "/api/repos/{id_or_name}"),
    ("POST", "/api/repos/{id_or_name}/sync"),
    ("GET", "/api/repos/{id_or_name}/versions"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/repos", get(list).post(create))
        .route(
            "/api/repos/{id_or_name}",
            get(show).put(update).patch(update).delete(remove),
        )
        .route("/api/repos/{id_or_name}/sync", post(sync))
        .route("/api/repos/{id_or_name}/versions", get(versions))
}

/// A failure, in onecloud's error shape.
#[derive(Debug)]
pub struct RepoError {
    status: StatusCode,
    class: &'static str,
    details: String,
}

impl RepoError {
    fn new(status: StatusCode, class: &'static str, details: impl Into<String>) -> RepoError {
        RepoError {
            status,
            class,
            details: details.into(),
        }
    }

    fn invalid(details: impl Into<String>) -> RepoError {
        RepoError::new(StatusCode::BAD_REQUEST, "InputParameterError", details)
    }
}

impl IntoResponse for RepoError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "code": self.status.as_u16(),
            "class": self.class,
            "details": self.details,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

impl From<AuthError> for RepoError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(_) => {
                RepoError::new(StatusCode::UNAUTHORIZED, "UnauthorizedError", e.message())
            }
            AuthError::TooManyAttempts => RepoError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsError",
                e.message(),
            ),
            AuthError::Unavailable => RepoError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
                e.message(),
            ),
        }
    }
}

impl From<ServiceError> for RepoError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        e.log_internal("helm repositories");
        let details = e.to_string();
        let (status, class) = match e {
            E::NotFound(_) => (StatusCode::NOT_FOUND, "NotFoundError"),
            E::Invalid { .. } => (StatusCode::BAD_REQUEST, "InputParameterError"),
            E::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "InputParameterError"),
            E::AlreadyExists(_) => (StatusCode::CONFLICT, "DuplicateNameError"),
            E::Conflict(_) => (StatusCode::CONFLICT, "ConflictError"),
            E::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsError"),
            E::Forbidden(_) | E::QuotaExceeded(_) => (StatusCode::FORBIDDEN, "ForbiddenError"),
            E::Unauthenticated => (StatusCode::UNAUTHORIZED, "UnauthorizedError"),
            E::Upstream(_) => (StatusCode::BAD_GATEWAY, "BadGatewayError"),
            E::Unsupported(_) => (StatusCode::NOT_IMPLEMENTED, "NotImplementedError"),
            E::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableError"),
            E::Internal(_) => {
                return RepoError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "internal server error",
                );
            }
        };
        RepoError::new(status, class, details)
    }
}

type RepoResult = Result<Response, RepoError>;

/// The answer with its route template for the access log.
fn answer(template: &'static str, result: RepoResult) -> Response {
    let mut response = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// The caller, authenticated once for every surface; a refusal renders in this family's
/// shape.
type Who = Authenticated<RepoError>;

/// A strict JSON body (an object, at most 64 KiB, no unknown fields).
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, RepoError> {
    if bytes.len() > MAX_BODY {
        return Err(RepoError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "InputParameterError",
            format!("the body is larger than {MAX_BODY} bytes"),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| RepoError::invalid(format!("body: {e}")))
}

/// The seed's fields, and with `details` the sync state and the rest.
fn render(row: &HelmRepoRow, details: bool) -> Value {
    let mut v = json!({
        "id": row.id,
        "name": row.name,
        "url": row.url,
        "type": row.kind,
        "is_public": row.is_public,
        "project_domain": "Default",
        "release_count": 0,
    });
    if details {
        let s = &row.sync;
        v["namespace"] = json!(row.namespace);
        v["username"] = json!(row.username);
        v["sync_interval_secs"] = json!(row.sync_interval_secs);
        v["created_at"] = json!(berth_core::time::rfc3339(row.created_at));
        v["updated_at"] = json!(berth_core::time::rfc3339(row.updated_at));
        v["creator"] = json!(row.creator);
        v["sync"] = json!({
            "status": if row.url.is_empty() { "hosted" } else { s.status.as_str() },
            "last_sync_at": s.last_sync_at.map(berth_core::time::rfc3339),
            "next_sync_at": (!row.url.is_empty()).then(|| berth_core::time::rfc3339(s.next_sync_at)),
            "error": s.error,
            "charts": s.charts,
            "vanished": s.vanished,
        });
    }
    v
}

fn ok_json(value: Value) -> RepoResult {
    Ok(axum::Json(value).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListParams {
    details: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    search: Option<String>,
    order_by: Option<String>,
    order: Option<String>,
}

fn flag(value: Option<&str>, name: &str) -> Result<bool, RepoError> {
    match value {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(v) => Err(RepoError::invalid(format!(
            "{name}: {v:?} is not true or false"
        ))),
    }
}

async fn list(State(state): State<AppState>, who: Who, RawQuery(query): RawQuery) -> Response {
    let caller = who.0;
    answer(
        "/api/repos",
        async {
            let p: ListParams = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
                .map_err(|e| RepoError::invalid(format!("query: {e}")))?;
            let details = flag(p.details.as_deref(), "details")?;
            let limit = match p.limit.as_deref() {
                None => DEFAULT_LIMIT,
                Some(v) => match v.parse::<u32>() {
                    Ok(n @ 1..=MAX_LIMIT) => n,
                    _ => return Err(RepoError::invalid(format!("limit: 1 to {MAX_LIMIT}"))),
                },
            };
            let offset = match p.offset.as_deref() {
                None => 0,
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| RepoError::invalid("offset: a whole number from 0"))?,
            };
            let kind = match p.kind.as_deref() {
                None | Some("") => None,
                Some(k @ ("internal" | "external")) => Some(k.to_owned()),
                Some(k) => {
                    return Err(RepoError::invalid(format!(
                        "type: {k:?} is not internal or external"
                    )));
                }
            };
            let order = match p.order_by.as_deref() {
                None | Some("name") => HelmRepoOrder::Name,
                Some("created_at") | Some("created") => HelmRepoOrder::Created,
                Some("updated_at") | Some("updated") => HelmRepoOrder::Updated,
                Some(v) => {
                    return Err(RepoError::invalid(format!(
                        "order_by: {v:?} is not name, created_at or updated_at"
                    )));
                }
            };
            let direction = match p.order.as_deref() {
                None | Some("asc") => Direction::Asc,
                Some("desc") => Direction::Desc,
                Some(v) => {
                    return Err(RepoError::invalid(format!(
                        "order: {v:?} is not asc or desc"
                    )));
                }
            };
            let listed = state
                .services
                .helm_repos
                .list(
                    &caller,
                    HelmRepoQuery {
                        kind,
                        search: p.search.filter(|s| !s.is_empty()),
                        page: Page { offset, limit },
                        order,
                        direction,
                        ..Default::default()
                    },
                )
                .await?;
            let repos: Vec<Value> = listed.items.iter().map(|r| render(r, details)).collect();
            ok_json(
                json!({"repos": repos, "total": listed.total, "limit": limit, "offset": offset}),
            )
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    is_public: bool,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    sync_interval_secs: Option<i64>,
}

async fn create(State(state): State<AppState>, who: Who, bytes: Bytes) -> Response {
    let caller = who.0;
    answer(
        "/api/repos",
        async {
            let b: CreateBody = body(&bytes)?;
            let row = state
                .services
                .helm_repos
                .create(
                    &caller,
                    HelmRepoSpec {
                        name: b.name,
                        url: b.url,
                        kind: b.kind,
                        is_public: b.is_public,
                        username: b.username,
                        password: b.password.map(Secret::new),
                        sync_interval_secs: b.sync_interval_secs,
                    },
                )
                .await?;
            ok_json(render(&row, true))
        }
        .await,
    )
}

async fn show(State(state): State<AppState>, who: Who, Path(id): Path<String>) -> Response {
    let caller = who.0;
    answer(
        "/api/repos/{id_or_name}",
        async {
            let row = state.services.helm_repos.get(&caller, &id).await?;
            ok_json(render(&row, true))
        }
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    is_public: Option<bool>,
    /// `null`: back to the global interval.
    #[serde(default, with = "double_option")]
    sync_interval_secs: Option<Option<i64>>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// A field that may be absent (`None`), null (`Some(None)`) or given.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn update(
    State(state): State<AppState>,
    who: Who,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let caller = who.0;
    answer(
        "/api/repos/{id_or_name}",
        async {
            let b: UpdateBody = body(&bytes)?;
            let credentials = match (b.username, b.password) {
                (None, None) => None,
                (Some(u), Some(p)) if u.is_empty() && p.is_empty() => Some(None),
                (Some(u), Some(p)) => Some(Some((u, Secret::new(p)))),
                _ => {
                    return Err(RepoError::invalid(
                        "username and password go together (both empty: anonymous)",
                    ));
                }
            };
            let row = state
                .services
                .helm_repos
                .update(
                    &caller,
                    &id,
                    HelmRepoChange {
                        name: b.name,
                        url: b.url,
                        is_public: b.is_public,
                        sync_interval_secs: b.sync_interval_secs,
                        credentials,
                    },
                )
                .await?;
            ok_json(render(&row, true))
        }
        .await,
    )
}

async fn remove(State(state): State<AppState>, who: Who, Path(id): Path<String>) -> Response {
    let caller = who.0;
    answer(
        "/api/repos/{id_or_name}",
        async {
            let row = state.services.helm_repos.get(&caller, &id).await?;
            state.services.helm_repos.delete(&caller, &row.id).await?;
            ok_json(render(&row, false))
        }
        .await,
    )
}

async fn sync(State(state): State<AppState>, who: Who, Path(id): Path<String>) -> Response {
    let caller = who.0;
    answer(
        "/api/repos/{id_or_name}/sync",
        async {
            let services = &state.services;
            let row = services
                .helm_repos
                .sync(&caller, &services.charts, &id)
                .await?;
            ok_json(render(&row, true))
        }
        .await,
    )
}

async fn versions(State(state): State<AppState>, who: Who, Path(id): Path<String>) -> Response {
    let caller = who.0;
    answer(
        "/api/repos/{id_or_name}/versions",
        async {
            let versions = state.services.helm_repos.mirrored(&caller, &id).await?;
            let items: Vec<Value> = versions
                .iter()
                .map(|v| {
                    json!({
                        "chart": v.chart,
                        "version": v.version,
                        "digest": format!("sha256:{}", v.digest),
                        "vanished": v.vanished_at.is_some(),
                        "vanished_at": v.vanished_at.map(berth_core::time::rfc3339),
                    })
                })
                .collect();
            ok_json(json!({"versions": items, "total": items.len()}))
        }
        .await,
    )
}
