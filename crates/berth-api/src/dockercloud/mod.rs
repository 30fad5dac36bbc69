//! Docker Cloud's external repositories (`/api/repo/v1/[namespace/]repository/`), as the real
//! clients use them: `python-dockercloud` 1.0.12 and the `docker-cloud` CLI 1.0.9. Entries
//! are berth's external repositories ([`berth_service::RemoteService`]); without a namespace
//! in the path they are the global ones. The clients log in with HTTP Basic (user and API
//! key, which is a berth personal access token).
//!
//! What they rely on: the tastypie list envelope `{"meta": {...}, "objects": [...]}` with
//! `offset` and `limit` honoured (the client follows `meta.next` by adding them to its own
//! request), 201 with the object on create, 200 with it on PATCH, 204 on DELETE, a
//! `resource_uri` path in every object (PATCH and DELETE go there), a JSON object for every
//! other 2xx, and 401 only for berth's own login.

pub mod endpoint;
pub mod error;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use berth_core::{Caller, Secret};
use berth_service::{CredentialsChange, Page, RegistryInfo, RemoteInfo, RemoteSpec};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::access_log::RouteTemplate;
use crate::{AppState, Authenticated};
use endpoint::{DcPath, registry_uri, repositories_uri, repository_uri};
pub use error::DcError;

/// tastypie's default page size, and the most one page holds.
const DEFAULT_LIMIT: u32 = 25;
const MAX_LIMIT: u32 = 100;
/// The largest request body read (a name and credentials).
const MAX_BODY: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/repo/v1", any(dispatch))
        .route("/api/repo/v1/", any(dispatch))
        .route("/api/repo/v1/{*rest}", any(dispatch))
}

async fn dispatch(
    State(state): State<AppState>,
    auth: Authenticated<DcError>,
    request: Request,
) -> Response {
    let caller = auth.0;
    let (parts, body) = request.into_parts();
    let Some(path) = DcPath::parse(parts.uri.path()) else {
        return DcError::not_found().into_response();
    };
    let template = path.template();
    let query = parts.uri.query().unwrap_or("");
    let result = match (path, &parts.method) {
        (DcPath::Repositories { namespace }, &Method::GET | &Method::HEAD) => {
            list(&state, &caller, namespace.as_deref(), query).await
        }
        (DcPath::Repositories { namespace }, &Method::POST) => {
            create(&state, &caller, namespace.as_deref(), body).await
        }
        (DcPath::Repository { namespace, name }, &Method::GET | &Method::HEAD) => state
            .services
            .remotes
            .get(&caller, namespace.as_deref(), &name)
            .await
            .map(|info| axum::Json(object(&info)).into_response())
            .map_err(DcError::from),
        (DcPath::Repository { namespace, name }, &Method::PATCH) => {
            update(&state, &caller, namespace.as_deref(), &name, body).await
        }
        (DcPath::Repository { namespace, name }, &Method::DELETE) => {
            let force = form_urlencoded::parse(query.as_bytes())
                .any(|(k, v)| k == "force" && matches!(&*v, "true" | "1" | "yes"));
            state
                .services
                .remotes
                .remove(&caller, namespace.as_deref(), &name, force)
                .await
                .map(|()| StatusCode::NO_CONTENT.into_response())
                .map_err(DcError::from)
        }
        (DcPath::Registry { namespace, host }, &Method::GET | &Method::HEAD) => state
            .services
            .remotes
            .registry(&caller, namespace.as_deref(), &host)
            .await
            .map(|info| axum::Json(registry(&info)).into_response())
            .map_err(DcError::from),
        _ => Err(DcError::method_not_allowed()),
    };
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(RouteTemplate(template));
    response
}

/// An external repository as Docker Cloud showed one. Never its credentials (nor the
/// `username`: besides secrecy, the client would then send only what changed).
fn object(info: &RemoteInfo) -> Value {
    let namespace = info.namespace.as_deref();
    json!({
        "name": info.name,
        "in_use": info.in_use,
        "registry": registry_uri(namespace, &info.registry),
        "resource_uri": repository_uri(namespace, &info.name),
    })
}

/// A third-party registry, with go-dockercloud's fields.
fn registry(info: &RegistryInfo) -> Value {
    json!({
        "host": info.host,
        "name": info.host,
        "icon_url": "",
        "is_ssl": info.is_ssl,
        "is_tutum_registry": false,
        "resource_uri": registry_uri(info.namespace.as_deref(), &info.host),
    })
}

/// `offset` and `limit` of a listing query.
fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, DcError> {
    value.parse().map_err(|_| {
        DcError::bad_request(format!(
            "{key} must be a non-negative integer, not {value:?}"
        ))
    })
}

/// The host a `registry` filter names: the registry's resource URI (or a full URL of it, or
/// a bare `host[:port]`). `None` when it names another scope's registry or no registry at
/// all: the filter then matches nothing.
fn registry_filter(value: &str, namespace: Option<&str>) -> Option<String> {
    let path = match value.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => value,
    };
    match DcPath::parse(path) {
        Some(DcPath::Registry {
            namespace: ns,
            host,
        }) if ns.as_deref() == namespace => Some(host),
        Some(_) => None,
        None if berth_service::valid_registry_host(value) => Some(value.to_owned()),
        None => None,
    }
}

async fn list(
    state: &AppState,
    caller: &Caller,
    namespace: Option<&str>,
    query: &str,
) -> Result<Response, DcError> {
    let (mut name, mut registry, mut offset, mut limit) = (None, None, 0u64, DEFAULT_LIMIT);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "name" => name = Some(value.into_owned()),
            "registry" => registry = Some(value.into_owned()),
            "offset" => offset = number("offset", &value)?,
            "limit" => limit = number("limit", &value)?,
            _ => {}
        }
    }
    // tastypie: 0 is "as many as allowed".
    if limit == 0 || limit > MAX_LIMIT {
        limit = MAX_LIMIT;
    }
    // A filter naming no registry of this scope matches nothing (the empty host).
    let host = registry
        .as_deref()
        .map(|value| registry_filter(value, namespace).unwrap_or_default());
    let listed = state
        .services
        .remotes
        .list(
            caller,
            namespace,
            name.as_deref(),
            host.as_deref(),
            Page { offset, limit },
        )
        .await?;
    let objects: Vec<Value> = listed.items.iter().map(object).collect();
    Ok(envelope(
        namespace,
        &objects,
        listed.total,
        offset,
        limit,
        &name,
        &registry,
    ))
}

/// tastypie's list answer: `meta` (limit, next, offset, previous, total_count) and
/// `objects`. `next` and `previous` are relative paths with the same filters.
fn envelope(
    namespace: Option<&str>,
    objects: &[Value],
    total: u64,
    offset: u64,
    limit: u32,
    name: &Option<String>,
    registry: &Option<String>,
) -> Response {
    let link = |at: u64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &limit.to_string());
        query.append_pair("offset", &at.to_string());
        if let Some(name) = name {
            query.append_pair("name", name);
        }
        if let Some(registry) = registry {
            query.append_pair("registry", registry);
        }
        format!("{}?{}", repositories_uri(namespace), query.finish())
    };
    let end = offset.saturating_add(u64::from(limit));
    let next = (end < total).then(|| link(end));
    let previous = (offset > 0).then(|| link(offset.saturating_sub(u64::from(limit))));
    axum::Json(json!({
        "meta": {
            "limit": limit,
            "next": next,
            "offset": offset,
            "previous": previous,
            "total_count": total,
        },
        "objects": objects,
    }))
    .into_response()
}

/// A request body as a JSON object (an empty body is `{}`).
async fn json_body(body: Body) -> Result<serde_json::Map<String, Value>, DcError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        DcError::bad_request("the request body is unreadable or larger than 64 KiB")
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DcError::bad_request(
            "the request body must be a JSON object",
        )),
    }
}

/// A string field of a body; `null` is absent.
fn string_field(
    body: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, DcError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DcError::bad_request(format!("{key} must be a string"))),
    }
}

async fn create(
    state: &AppState,
    caller: &Caller,
    namespace: Option<&str>,
    body: Body,
) -> Result<Response, DcError> {
    let body = json_body(body).await?;
    let name = string_field(&body, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| DcError::bad_request("name is required: my.registry.com/myrepo"))?;
    let spec = RemoteSpec {
        namespace: namespace.map(str::to_owned),
        name,
        username: string_field(&body, "username")?.filter(|u| !u.is_empty()),
        password: string_field(&body, "password")?.map(Secret::new),
    };
    let info = state.services.remotes.register(caller, &spec).await?;
    Ok((StatusCode::CREATED, axum::Json(object(&info))).into_response())
}

async fn update(
    state: &AppState,
    caller: &Caller,
    namespace: Option<&str>,
    name: &str,
    body: Body,
) -> Result<Response, DcError> {
    let body = json_body(body).await?;
    if let Some(new_name) = string_field(&body, "name")?
        && new_name != name
    {
        return Err(DcError::bad_request(
            "name cannot be changed: register the new name and remove this one",
        ));
    }
    let change = CredentialsChange {
        username: string_field(&body, "username")?,
        password: string_field(&body, "password")?.map(Secret::new),
    };
    let info = state
        .services
        .remotes
        .update_credentials(caller, namespace, name, &change)
        .await?;
    Ok(axum::Json(object(&info)).into_response())
}
