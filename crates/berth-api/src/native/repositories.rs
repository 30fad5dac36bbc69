//! Repositories: listing (across namespaces or within one), create, and the
//! `/api/v1/repositories/{name}…` dispatcher, whose names hold slashes (see [`RepoRoute`]).

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use berth_core::{Caller, RepoName};
use berth_service::{
    RepoKind, RepositoryOrder, RepositoryQuery, RepositoryRow, RepositorySpec, RepositoryUpdate,
};
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::artifacts;
use super::dto::{Listing, Order, nullable, time, time_opt};
use super::error::NativeError;
use super::extract::{
    JsonBody, Params, PathParams, page, parse_query, read_body, required_json, search,
};
use super::route::RepoRoute;
use super::{ErrorResponses, NativeResult};
use crate::access_log::RouteTemplate;
use crate::{AppState, Authenticated};

/// A repository with its counters, which berth keeps right at every push, pull and delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct Repository {
    pub id: i64,
    /// The full OCI name (`team/app`, `team/group/app`).
    pub name: String,
    pub namespace: String,
    /// The name below the namespace (`app`); empty for a one-component name.
    pub path: String,
    /// `hosted` (holds what is pushed) or `proxy` (caches an upstream).
    pub kind: String,
    pub category: String,
    pub description: String,
    /// Whether anyone may read it: its own setting, else its namespace's.
    pub is_public: bool,
    /// Whether `is_public` comes from the namespace (the repository has no setting).
    pub inherits_visibility: bool,
    /// How clients pull it: `registry.example.com/team/app`.
    pub image: String,
    pub creator: String,
    pub created_at: String,
    pub updated_at: String,
    /// Distinct bytes of the blobs its manifests reference.
    pub size: u64,
    pub num_manifests: u64,
    /// Manifests that at least one tag points at.
    pub num_images: u64,
    pub num_tags: u64,
    /// Manifest pulls (GET) by tag or digest.
    pub num_downloads: u64,
    pub last_pushed_at: Option<String>,
    pub last_pulled_at: Option<String>,
}

impl Repository {
    pub fn new(row: RepositoryRow, registry_host: &str) -> Repository {
        Repository {
            id: row.id.0,
            image: format!("{registry_host}/{}", row.name),
            path: row.name.path_in_namespace().to_owned(),
            name: row.name.to_string(),
            is_public: row.effective_public(),
            inherits_visibility: row.is_public.is_none(),
            namespace: row.namespace,
            kind: row.kind.as_str().to_owned(),
            category: row.category,
            description: row.description,
            creator: row.creator,
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
            size: row.size,
            num_manifests: row.num_manifests,
            num_images: row.num_images,
            num_tags: row.num_tags,
            num_downloads: row.num_downloads,
            last_pushed_at: time_opt(row.last_pushed_at),
            last_pulled_at: time_opt(row.last_pulled_at),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepositoryOrderBy {
    #[default]
    Name,
    Created,
    Updated,
    Pushed,
    Pulled,
    Size,
    Downloads,
    Tags,
}

impl From<RepositoryOrderBy> for RepositoryOrder {
    fn from(o: RepositoryOrderBy) -> Self {
        match o {
            RepositoryOrderBy::Name => RepositoryOrder::Name,
            RepositoryOrderBy::Created => RepositoryOrder::Created,
            RepositoryOrderBy::Updated => RepositoryOrder::Updated,
            RepositoryOrderBy::Pushed => RepositoryOrder::Pushed,
            RepositoryOrderBy::Pulled => RepositoryOrder::Pulled,
            RepositoryOrderBy::Size => RepositoryOrder::Size,
            RepositoryOrderBy::Downloads => RepositoryOrder::Downloads,
            RepositoryOrderBy::Tags => RepositoryOrder::Tags,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RepositoryListQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
    /// Only names containing this (case-insensitive).
    search: Option<String>,
    #[param(inline)]
    order_by: Option<RepositoryOrderBy>,
    #[param(inline)]
    order: Option<Order>,
    /// Only repositories of this namespace (the cross-namespace listing only).
    namespace: Option<String>,
    /// Only repositories of this category.
    category: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRepository {
    /// The full name, in an existing namespace: `team/app`.
    name: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    description: String,
    /// Left out or null: as the namespace.
    is_public: Option<bool>,
}

/// Fields left out keep their value; `is_public: null` goes back to the namespace's
/// visibility.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryChange {
    category: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    is_public: Option<Option<bool>>,
}

fn repository_query(
    q: RepositoryListQuery,
    namespace: Option<String>,
) -> Result<(RepositoryQuery, berth_service::Page), NativeError> {
    let page = page(q.limit, q.offset)?;
    let query = RepositoryQuery {
        namespace: namespace.or(q.namespace),
        search: search(q.search)?,
        category: q.category,
        kind: None::<RepoKind>,
        page,
        order: q.order_by.unwrap_or_default().into(),
        direction: q.order.unwrap_or_default().into(),
        ..Default::default()
    };
    Ok((query, page))
}

async fn list(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    query: RepositoryQuery,
    page: berth_service::Page,
) -> NativeResult<Json<Listing<Repository>>> {
    let host = state.config.registry_host(headers);
    let listed = state
        .services
        .repositories
        .list_repositories(caller, query)
        .await?;
    Ok(Json(Listing::of(listed, page, |r| {
        Repository::new(r, &host)
    })))
}

/// List the repositories the caller may see, across namespaces.
#[utoipa::path(get, path = "/api/v1/repositories", tag = "repositories",
    params(RepositoryListQuery),
    responses((status = 200, body = Listing<Repository>), ErrorResponses))]
pub async fn list_repositories(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    headers: HeaderMap,
    Params(q): Params<RepositoryListQuery>,
) -> NativeResult<Json<Listing<Repository>>> {
    let (query, page) = repository_query(q, None)?;
    list(&state, &auth.0, &headers, query, page).await
}

/// List the repositories of one namespace.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/repositories", tag = "repositories",
    params(("namespace" = String, Path), RepositoryListQuery),
    responses((status = 200, body = Listing<Repository>), ErrorResponses))]
pub async fn list_namespace_repositories(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    headers: HeaderMap,
    PathParams(namespace): PathParams<String>,
    Params(q): Params<RepositoryListQuery>,
) -> NativeResult<Json<Listing<Repository>>> {
    if q.namespace.is_some() {
        return Err(NativeError::invalid(
            "namespace",
            "the namespace is in the path already",
        ));
    }
    // A namespace the caller may not see is as missing as one that does not exist.
    let view = state
        .services
        .repositories
        .get_namespace(&auth.0, &namespace)
        .await?;
    let (query, page) = repository_query(q, Some(view.namespace.name))?;
    list(&state, &auth.0, &headers, query, page).await
}

/// Create a repository in an existing namespace (writers); pushing creates one too.
#[utoipa::path(post, path = "/api/v1/repositories", tag = "repositories",
    request_body = NewRepository,
    responses((status = 201, body = Repository), ErrorResponses))]
pub async fn create_repository(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewRepository>,
) -> NativeResult<(StatusCode, Json<Repository>)> {
    let name: RepoName = body
        .name
        .parse()
        .map_err(|e: berth_core::NameError| NativeError::invalid("name", e.to_string()))?;
    let spec = RepositorySpec {
        name,
        category: body.category,
        description: body.description,
        is_public: body.is_public,
    };
    let row = state
        .services
        .repositories
        .create_repository(&auth.0, &spec)
        .await?;
    let host = state.config.registry_host(&headers);
    Ok((StatusCode::CREATED, Json(Repository::new(row, &host))))
}

/// One repository with all its counters.
#[utoipa::path(get, path = "/api/v1/repositories/{name}", tag = "repositories",
    params(("name" = String, Path, description = "The full name; its slashes as they are (or %2F)")),
    responses((status = 200, body = Repository), ErrorResponses))]
pub async fn get_repository(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    name: &RepoName,
) -> NativeResult<Json<Repository>> {
    let row = state
        .services
        .repositories
        .get_repository(caller, name)
        .await?;
    let host = state.config.registry_host(headers);
    Ok(Json(Repository::new(row, &host)))
}

/// Change a repository's category, description or visibility (managers).
#[utoipa::path(patch, path = "/api/v1/repositories/{name}", tag = "repositories",
    params(("name" = String, Path, description = "The full name; its slashes as they are (or %2F)")),
    request_body = RepositoryChange,
    responses((status = 200, body = Repository), ErrorResponses))]
pub async fn update_repository(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    name: &RepoName,
    body: RepositoryChange,
) -> NativeResult<Json<Repository>> {
    let update = RepositoryUpdate {
        category: body.category,
        description: body.description,
        is_public: body.is_public,
    };
    state
        .services
        .repositories
        .update_repository(caller, name, &update)
        .await?;
    get_repository(state, caller, headers, name).await
}

/// Delete a repository with its manifests and tags (managers). Blobs still used elsewhere
/// stay; `/v2` answers 404 for it at once.
#[utoipa::path(delete, path = "/api/v1/repositories/{name}", tag = "repositories",
    params(("name" = String, Path, description = "The full name; its slashes as they are (or %2F)")),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_repository(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
) -> NativeResult<StatusCode> {
    state
        .services
        .repositories
        .delete_repository(caller, name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `/api/v1/repositories/{*rest}`: parses the path into a [`RepoRoute`], then calls the
/// one handler for it and the method.
pub async fn dispatch(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    request: Request,
) -> Response {
    let caller = auth.0;
    let (parts, body) = request.into_parts();
    let rest = parts
        .uri
        .path()
        .strip_prefix("/api/v1/repositories/")
        .unwrap_or("");
    let route = match RepoRoute::parse(rest) {
        Ok(route) => route,
        Err(e) => return e.into_response(),
    };
    let template = route.template();
    let query = parts.uri.query();
    let headers = &parts.headers;
    let get = parts.method == Method::GET || parts.method == Method::HEAD;
    let s = &state;
    let c = &caller;
    let result = async {
        Ok::<Response, NativeError>(match (route, parts.method.clone()) {
            (RepoRoute::Repository(name), _) if get => {
                no_query(query)?;
                get_repository(s, c, headers, &name).await.into_response()
            }
            (RepoRoute::Repository(name), Method::PATCH) => {
                no_query(query)?;
                let bytes = read_body(headers, body).await?;
                let change: RepositoryChange = required_json(&bytes)?;
                update_repository(s, c, headers, &name, change)
                    .await
                    .into_response()
            }
            (RepoRoute::Repository(name), Method::DELETE) => {
                no_query(query)?;
                delete_repository(s, c, &name).await.into_response()
            }
            (RepoRoute::Artifacts(name), _) if get => {
                artifacts::list_artifacts(s, c, &name, parse_query(query)?)
                    .await
                    .into_response()
            }
            (RepoRoute::Artifact(name, digest), _) if get => {
                no_query(query)?;
                artifacts::get_artifact(s, c, &name, &digest)
                    .await
                    .into_response()
            }
            (RepoRoute::Artifact(name, digest), Method::DELETE) => {
                no_query(query)?;
                artifacts::delete_artifact(s, c, &name, &digest)
                    .await
                    .into_response()
            }
            (RepoRoute::ArtifactLayers(name, digest), _) if get => {
                artifacts::list_layers(s, c, &name, &digest, parse_query(query)?)
                    .await
                    .into_response()
            }
            (RepoRoute::Tags(name), _) if get => {
                artifacts::list_tags(s, c, &name, parse_query(query)?)
                    .await
                    .into_response()
            }
            (RepoRoute::Tag(name, tag), _) if get => {
                no_query(query)?;
                artifacts::get_tag(s, c, &name, &tag).await.into_response()
            }
            (RepoRoute::Tag(name, tag), Method::DELETE) => {
                no_query(query)?;
                artifacts::delete_tag(s, c, &name, &tag)
                    .await
                    .into_response()
            }
            _ => return Err(NativeError::method_not_allowed()),
        })
    }
    .await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// Endpoints without parameters refuse any, as the others refuse unknown ones.
fn no_query(query: Option<&str>) -> Result<(), NativeError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct None {}
    parse_query::<None>(query).map(|_| ())
}
