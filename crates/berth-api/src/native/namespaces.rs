//! Namespaces and their members.

use axum::Json;
use axum::extract::State;
use berth_service::{
    MemberRow, NamespaceOrder, NamespaceQuery, NamespaceSpec, NamespaceUpdate, NamespaceView,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{LevelName, Listing, Order, time};
use super::error::NativeError;
use super::extract::{JsonBody, Params, PathParams, page, search};
use super::{ErrorResponses, NativeResult};
use crate::{AppState, Authenticated};

/// A namespace: the first component of the names of the repositories in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Namespace {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Whether anyone (also anonymous) may read its repositories (each repository may
    /// override it).
    pub is_public: bool,
    pub creator: String,
    pub num_repositories: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The caller's own level in it.
    pub level: LevelName,
}

impl From<NamespaceView> for Namespace {
    fn from(view: NamespaceView) -> Self {
        let n = view.namespace;
        Namespace {
            id: n.id,
            name: n.name,
            description: n.description,
            is_public: n.is_public,
            creator: n.creator,
            num_repositories: n.num_repositories,
            created_at: time(n.created_at),
            updated_at: time(n.updated_at),
            level: view.level.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceOrderBy {
    #[default]
    Name,
    Created,
    Updated,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NamespaceListQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
    /// Only names containing this (case-insensitive).
    search: Option<String>,
    #[param(inline)]
    order_by: Option<NamespaceOrderBy>,
    #[param(inline)]
    order: Option<Order>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNamespace {
    /// One name component: lowercase letters, digits and separators, at most 64.
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    is_public: bool,
}

/// Fields left out keep their value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceChange {
    description: Option<String>,
    is_public: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteNamespaceQuery {
    /// Also delete the repositories it holds (else a namespace that holds any is refused
    /// with 409).
    force: Option<bool>,
}

/// A member of a namespace and its level.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub username: String,
    pub level: LevelName,
    pub created_at: String,
}

impl From<MemberRow> for Member {
    fn from(m: MemberRow) -> Self {
        Member {
            username: m.username,
            level: m.level.into(),
            created_at: time(m.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberLevel {
    level: LevelName,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<berth_service::Page, NativeError> {
        page(self.limit, self.offset)
    }
}

/// List the namespaces the caller may see, each with the caller's level.
#[utoipa::path(get, path = "/api/v1/namespaces", tag = "namespaces",
    params(NamespaceListQuery),
    responses((status = 200, body = Listing<Namespace>), ErrorResponses))]
pub async fn list_namespaces(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    Params(q): Params<NamespaceListQuery>,
) -> NativeResult<Json<Listing<Namespace>>> {
    let page = page(q.limit, q.offset)?;
    let query = NamespaceQuery {
        search: search(q.search)?,
        page,
        order: match q.order_by.unwrap_or_default() {
            NamespaceOrderBy::Name => NamespaceOrder::Name,
            NamespaceOrderBy::Created => NamespaceOrder::Created,
            NamespaceOrderBy::Updated => NamespaceOrder::Updated,
        },
        direction: q.order.unwrap_or_default().into(),
        ..Default::default()
    };
    let listed = state
        .services
        .repositories
        .list_namespaces(&auth.0, query)
        .await?;
    Ok(Json(Listing::of(listed, page, Namespace::from)))
}

/// Create a namespace (administrators, or every user when configured); the creator becomes
/// its manager.
#[utoipa::path(post, path = "/api/v1/namespaces", tag = "namespaces",
    request_body = NewNamespace,
    responses((status = 201, body = Namespace), ErrorResponses))]
pub async fn create_namespace(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    JsonBody(body): JsonBody<NewNamespace>,
) -> NativeResult<(StatusCode, Json<Namespace>)> {
    let repositories = &state.services.repositories;
    let spec = NamespaceSpec {
        name: body.name,
        description: body.description,
        is_public: body.is_public,
    };
    let row = repositories.create_namespace(&auth.0, &spec).await?;
    let view = repositories.get_namespace(&auth.0, &row.name).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// A namespace with the caller's level in it.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path)),
    responses((status = 200, body = Namespace), ErrorResponses))]
pub async fn get_namespace(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
) -> NativeResult<Json<Namespace>> {
    let view = state
        .services
        .repositories
        .get_namespace(&auth.0, &namespace)
        .await?;
    Ok(Json(view.into()))
}

/// Change a namespace's description or visibility (managers).
#[utoipa::path(patch, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path)),
    request_body = NamespaceChange,
    responses((status = 200, body = Namespace), ErrorResponses))]
pub async fn update_namespace(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
    JsonBody(body): JsonBody<NamespaceChange>,
) -> NativeResult<Json<Namespace>> {
    let repositories = &state.services.repositories;
    let update = NamespaceUpdate {
        description: body.description,
        is_public: body.is_public,
    };
    repositories
        .update_namespace(&auth.0, &namespace, &update)
        .await?;
    let view = repositories.get_namespace(&auth.0, &namespace).await?;
    Ok(Json(view.into()))
}

/// Delete a namespace (managers): refused while it holds repositories, unless `force`.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}", tag = "namespaces",
    params(("namespace" = String, Path), DeleteNamespaceQuery),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_namespace(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
    Params(q): Params<DeleteNamespaceQuery>,
) -> NativeResult<StatusCode> {
    state
        .services
        .repositories
        .delete_namespace(&auth.0, &namespace, q.force.unwrap_or(false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of a namespace and their levels.
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/members", tag = "members",
    params(("namespace" = String, Path), PageQuery),
    responses((status = 200, body = Listing<Member>), ErrorResponses))]
pub async fn list_members(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
    Params(q): Params<PageQuery>,
) -> NativeResult<Json<Listing<Member>>> {
    let page = q.page()?;
    let members = state
        .services
        .repositories
        .list_members(&auth.0, &namespace)
        .await?;
    Ok(Json(Listing::slice(members, page, Member::from)))
}

/// Make a user a member with a level, or change its level (managers).
#[utoipa::path(put, path = "/api/v1/namespaces/{namespace}/members/{username}", tag = "members",
    params(("namespace" = String, Path), ("username" = String, Path)),
    request_body = MemberLevel,
    responses((status = 200, body = Member), ErrorResponses))]
pub async fn put_member(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, username)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<MemberLevel>,
) -> NativeResult<Json<Member>> {
    let repositories = &state.services.repositories;
    repositories
        .put_member(&auth.0, &namespace, &username, body.level.into())
        .await?;
    let member = repositories
        .list_members(&auth.0, &namespace)
        .await?
        .into_iter()
        .find(|m| m.username == username)
        .ok_or_else(|| {
            berth_service::ServiceError::NotFound(berth_service::Entity::Member(username.clone()))
        })?;
    Ok(Json(member.into()))
}

/// Remove a member (managers).
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/members/{username}", tag = "members",
    params(("namespace" = String, Path), ("username" = String, Path)),
    responses((status = 204, description = "removed"), ErrorResponses))]
pub async fn delete_member(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, username)): PathParams<(String, String)>,
) -> NativeResult<StatusCode> {
    state
        .services
        .repositories
        .delete_member(&auth.0, &namespace, &username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
