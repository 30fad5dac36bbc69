//! Proxies: the pull-through cache's configuration. A proxy maps a local name prefix to an
//! upstream registry (`/v2/hub/library/nginx` pulls the upstream's `library/nginx`), with
//! the credentials of a registered external repository or anonymously. Administrators only.

use axum::Json;
use axum::extract::State;
use berth_core::Caller;
use berth_service::{Page, ProxyMode, ProxyRow, ProxySpec, ProxyUpdate};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::{Listing, nullable, time};
use super::error::NativeError;
use super::extract::{JsonBody, Params, PathParams};
use super::namespaces::PageQuery;
use super::{ErrorResponses, NativeResult};
use crate::{AppState, Authenticated};

/// How a proxy answers a pull by tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Ask the upstream for the tag's digest first (a HEAD); serve the cached copy when the
    /// upstream fails.
    #[default]
    UpstreamFirst,
    /// Serve the cached copy while it is younger than `ttl_secs`, then ask the upstream.
    LocalFirst,
}

impl From<Mode> for ProxyMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::UpstreamFirst => ProxyMode::UpstreamFirst,
            Mode::LocalFirst => ProxyMode::LocalFirst,
        }
    }
}

impl From<ProxyMode> for Mode {
    fn from(m: ProxyMode) -> Self {
        match m {
            ProxyMode::UpstreamFirst => Mode::UpstreamFirst,
            ProxyMode::LocalFirst => Mode::LocalFirst,
        }
    }
}

/// A registered external repository (`berth remote`), by its scope and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteRef {
    /// Its namespace; left out or null: a global entry.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `registry.example.com/library/app`.
    pub name: String,
}

/// A proxy.
#[derive(Debug, Serialize, ToSchema)]
pub struct Proxy {
    /// The local name prefix: `hub` serves `hub/...`.
    pub prefix: String,
    /// Where it pulls from: `https://registry-1.docker.io`.
    pub upstream_url: String,
    /// The upstream's name as clients write it (`docker.io`): what containerd's `?ns=`
    /// names.
    pub upstream_host: String,
    /// The external repository whose credentials it uses; null: anonymous.
    pub remote: Option<RemoteRef>,
    pub mode: Mode,
    /// How long a cached tag is served without asking the upstream (`local_first`).
    pub ttl_secs: u64,
    pub creator: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A proxy to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProxy {
    prefix: String,
    upstream_url: String,
    /// Default: the URL's host.
    #[serde(default)]
    upstream_host: Option<String>,
    /// Left out: anonymous pulls.
    #[serde(default)]
    remote: Option<RemoteRef>,
    #[serde(default)]
    mode: Mode,
    /// Default 300.
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// Changes to a proxy; a field left out keeps its value, `remote: null` makes it anonymous.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyPatch {
    #[serde(default)]
    upstream_url: Option<String>,
    #[serde(default)]
    upstream_host: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RemoteRef>)]
    remote: Option<Option<RemoteRef>>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// The TTL of a proxy created without one.
const DEFAULT_TTL_SECS: u64 = 300;

async fn render(state: &AppState, caller: &Caller, row: ProxyRow) -> NativeResult<Proxy> {
    let remote = state
        .services
        .remotes
        .remote_of(caller, &row)
        .await?
        .map(|r| RemoteRef {
            namespace: r.namespace,
            name: r.name,
        });
    Ok(Proxy {
        prefix: row.prefix,
        upstream_url: row.upstream_url,
        upstream_host: row.upstream_host,
        remote,
        mode: row.mode.into(),
        ttl_secs: row.ttl_secs,
        creator: row.creator,
        created_at: time(row.created_at),
        updated_at: time(row.updated_at),
    })
}

/// The proxies, by prefix (administrators).
#[utoipa::path(get, path = "/api/v1/proxies", tag = "proxies",
    params(PageQuery),
    responses((status = 200, body = Listing<Proxy>), ErrorResponses))]
pub async fn list_proxies(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    Params(q): Params<PageQuery>,
) -> NativeResult<Json<Listing<Proxy>>> {
    let page: Page = q.page()?;
    let listed = state.services.remotes.list_proxies(&auth.0, page).await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for row in listed.items {
        items.push(render(&state, &auth.0, row).await?);
    }
    Ok(Json(Listing {
        items,
        total: listed.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// Create a proxy (administrators). Pulls of `<prefix>/<name>` then come from the upstream's
/// `<name>` and are cached; pushes into the prefix are refused.
#[utoipa::path(post, path = "/api/v1/proxies", tag = "proxies",
    request_body = NewProxy,
    responses((status = 201, body = Proxy), ErrorResponses))]
pub async fn create_proxy(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    JsonBody(body): JsonBody<NewProxy>,
) -> NativeResult<(StatusCode, Json<Proxy>)> {
    let row = state
        .services
        .remotes
        .create_proxy(
            &auth.0,
            &ProxySpec {
                prefix: body.prefix,
                upstream_url: body.upstream_url,
                upstream_host: body.upstream_host,
                remote: body.remote.map(|r| (r.namespace, r.name)),
                mode: body.mode.into(),
                ttl_secs: body.ttl_secs.unwrap_or(DEFAULT_TTL_SECS),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(render(&state, &auth.0, row).await?),
    ))
}

/// One proxy (administrators).
#[utoipa::path(get, path = "/api/v1/proxies/{prefix}", tag = "proxies",
    params(("prefix" = String, Path, description = "The prefix; a slash in it as %2F")),
    responses((status = 200, body = Proxy), ErrorResponses))]
pub async fn get_proxy(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(prefix): PathParams<String>,
) -> NativeResult<Json<Proxy>> {
    let row = state.services.remotes.get_proxy(&auth.0, &prefix).await?;
    Ok(Json(render(&state, &auth.0, row).await?))
}

/// Change a proxy (administrators); what is cached stays.
#[utoipa::path(patch, path = "/api/v1/proxies/{prefix}", tag = "proxies",
    params(("prefix" = String, Path, description = "The prefix; a slash in it as %2F")),
    request_body = ProxyPatch,
    responses((status = 200, body = Proxy), ErrorResponses))]
pub async fn update_proxy(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(prefix): PathParams<String>,
    JsonBody(body): JsonBody<ProxyPatch>,
) -> NativeResult<Json<Proxy>> {
    let remotes = &state.services.remotes;
    let remote_id = match body.remote {
        None => None,
        Some(None) => Some(None),
        Some(Some(r)) => Some(Some(
            remotes
                .get(&auth.0, r.namespace.as_deref(), &r.name)
                .await?
                .id,
        )),
    };
    let update = ProxyUpdate {
        upstream_url: body.upstream_url,
        upstream_host: body.upstream_host,
        remote_id,
        mode: body.mode.map(Into::into),
        ttl_secs: body.ttl_secs,
    };
    let row = remotes.update_proxy(&auth.0, &prefix, &update).await?;
    Ok(Json(render(&state, &auth.0, row).await?))
}

/// Delete a proxy (administrators). The repositories it cached stay until deleted like any
/// other; without their proxy they serve only what is cached, by digest.
#[utoipa::path(delete, path = "/api/v1/proxies/{prefix}", tag = "proxies",
    params(("prefix" = String, Path, description = "The prefix; a slash in it as %2F")),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_proxy(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(prefix): PathParams<String>,
) -> NativeResult<StatusCode> {
    state
        .services
        .remotes
        .delete_proxy(&auth.0, &prefix)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
