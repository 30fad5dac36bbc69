//! Repositories (镜像仓库): create (a JSON body as the SDK sends it, or the seed's query
//! parameters), the summary (概要信息), update, delete, the lists (v2 with offset paging and
//! `Content-Range`, v3 with a marker), and a repository's own members' permissions.

use axum::response::Response;
use berth_core::RepoName;
use berth_service::{
    Page, RepositoryOrder, RepositoryQuery, RepositoryRow, RepositorySpec, RepositoryUpdate,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::namespaces::{member_names, members, others_auths, user_auth};
use super::{Ctx, SwrError, SwrResult, created, json, no_content, ranged_list, short_name, time};

/// SWR's repository categories.
const CATEGORIES: [&str; 8] = [
    "app_server",
    "linux",
    "framework_app",
    "database",
    "lang",
    "other",
    "windows",
    "arm",
];
/// The page size of the v2 list when none is given, and the largest.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;
/// The most tag names a list item carries.
const MAX_ITEM_TAGS: u32 = 1000;
/// What SWR calls the tenant (berth has one).
pub(super) const DOMAIN: &str = "berth";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    repository: String,
    is_public: Option<bool>,
    category: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    is_public: Option<bool>,
    category: Option<String>,
    description: Option<String>,
}

fn category(value: Option<String>) -> SwrResult<Option<String>> {
    match value {
        Some(c) if !CATEGORIES.contains(&c.as_str()) => Err(SwrError::invalid(
            "category",
            format!("{c:?} is not one of {}", CATEGORIES.join(", ")),
        )),
        other => Ok(other),
    }
}

/// `<registry host>/<namespace>/<repository>`.
fn path(cx: &Ctx<'_>, name: &RepoName) -> String {
    format!("{}/{name}", cx.host())
}

/// The summary: every field of SWR's `ShowRepositoryResponse`.
fn summary(cx: &Ctx<'_>, row: &RepositoryRow) -> Value {
    let path = path(cx, &row.name);
    json!({
        "id": row.id.0,
        "ns_id": row.namespace_id,
        "name": short_name(&row.name),
        "category": row.category,
        "description": row.description,
        "creator_id": row.creator,
        "creator_name": row.creator,
        "size": row.size,
        "is_public": row.effective_public(),
        "num_images": row.num_images,
        "num_download": row.num_downloads,
        "url": "",
        "path": path,
        "internal_path": path,
        "created": time(row.created_at),
        "updated": time(row.updated_at),
        "domain_id": DOMAIN,
        "priority": 0,
    })
}

pub(super) async fn create(cx: &Ctx<'_>, namespace: &str) -> SwrResult<Response> {
    let body = if cx.body.iter().all(u8::is_ascii_whitespace) {
        // The seed's form: the fields as query parameters.
        cx.query
            .allow(&["repository", "category", "description", "is_public"], &[])?;
        CreateBody {
            repository: cx
                .query
                .get("repository")
                .ok_or_else(|| SwrError::missing("repository"))?
                .to_owned(),
            is_public: cx.query.boolean("is_public")?,
            category: cx.query.get("category").map(str::to_owned),
            description: cx.query.get("description").map(str::to_owned),
        }
    } else {
        cx.query.allow(&[], &[])?;
        cx.json()?
    };
    let name = super::repo_name(namespace, &body.repository)?;
    let spec = RepositorySpec {
        name,
        category: category(body.category)?.unwrap_or_else(|| "other".to_owned()),
        description: body.description.unwrap_or_default(),
        is_public: body.is_public,
    };
    cx.state
        .services
        .repositories
        .create_repository(&cx.caller, &spec)
        .await?;
    Ok(created())
}

pub(super) async fn show(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let row = cx
        .state
        .services
        .repositories
        .get_repository(&cx.caller, name)
        .await?;
    Ok(json(StatusCode::OK, &summary(cx, &row)))
}

/// Changes the fields given; an absent one stays.
pub(super) async fn update(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let body: UpdateBody = cx.json()?;
    let update = RepositoryUpdate {
        category: category(body.category)?,
        description: body.description,
        is_public: body.is_public.map(Some),
    };
    cx.state
        .services
        .repositories
        .update_repository(&cx.caller, name, &update)
        .await?;
    Ok(created())
}

pub(super) async fn delete(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    cx.state
        .services
        .repositories
        .delete_repository(&cx.caller, name)
        .await?;
    Ok(no_content())
}

/// The filters both list versions share: namespace, `name` (a part of the name inside the
/// namespace, `$` for `/`), category.
fn filters(cx: &Ctx<'_>, namespace: Option<&str>) -> RepositoryQuery {
    RepositoryQuery {
        namespace: namespace
            .or_else(|| cx.query.get("namespace"))
            .map(str::to_owned),
        name_search: cx.query.get("name").map(|n| n.replace('$', "/")),
        category: cx.query.get("category").map(str::to_owned),
        ..Default::default()
    }
}

/// The v2 list (`/v2/manage/repos`, across namespaces or in one): a bare array of
/// `ShowReposResp`, paged with `limit`/`offset`, with `Content-Range`.
pub(super) async fn list(cx: &Ctx<'_>, namespace: Option<&str>) -> SwrResult<Response> {
    const KEYS: [&str; 7] = [
        "namespace",
        "name",
        "category",
        "limit",
        "offset",
        "order_column",
        "order_type",
    ];
    cx.query.allow(&KEYS, &KEYS)?;
    let offset = cx.query.number("offset", 0, u64::MAX)?;
    let limit = cx.query.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?.max(1) as u32;
    let order = match cx.query.get("order_column") {
        None | Some("updated_at") | Some("updated_time") => RepositoryOrder::Updated,
        Some("created_at") => RepositoryOrder::Created,
        Some("name") => RepositoryOrder::Name,
        Some("tag_count") => RepositoryOrder::Tags,
        Some(v) => {
            return Err(SwrError::invalid(
                "order_column",
                format!("{v:?} is not updated_at, updated_time, created_at, name or tag_count"),
            ));
        }
    };
    let query = RepositoryQuery {
        page: Page { offset, limit },
        order,
        direction: cx.query.direction()?,
        ..filters(cx, namespace)
    };
    let services = &cx.state.services;
    let listed = services
        .repositories
        .list_repositories(&cx.caller, query)
        .await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for row in &listed.items {
        let tags = services
            .manifests
            .tag_names(row, None, MAX_ITEM_TAGS)
            .await?;
        let path = path(cx, &row.name);
        items.push(json!({
            "name": short_name(&row.name),
            "category": row.category,
            "description": row.description,
            "size": row.size,
            "is_public": row.effective_public(),
            "num_images": row.num_images,
            "num_download": row.num_downloads,
            "created_at": super::time(row.created_at),
            "updated_at": super::time(row.updated_at),
            "logo": "",
            "url": "",
            "path": path,
            "internal_path": path,
            "domain_name": DOMAIN,
            "namespace": row.namespace,
            "tags": tags,
            "status": false,
            "total_range": listed.total,
        }));
    }
    Ok(ranged_list(items, offset, listed.total))
}

/// The v3 list (`/v3/manage/repos`): `{"repos": […], "nextMarker": n}`, by name, where the
/// marker (opaque to clients) is where the next page starts; no marker on the last page.
pub(super) async fn list_v3(cx: &Ctx<'_>) -> SwrResult<Response> {
    cx.query.allow(
        &[
            "namespace",
            "name",
            "category",
            "limit",
            "marker",
            "is_public",
        ],
        &[],
    )?;
    let offset = cx.query.number("marker", 0, i64::MAX as u64)?;
    let limit = cx.query.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?.max(1) as u32;
    let query = RepositoryQuery {
        page: Page { offset, limit },
        order: RepositoryOrder::Name,
        direction: berth_service::Direction::Asc,
        is_public: cx.query.boolean("is_public")?,
        ..filters(cx, None)
    };
    let listed = cx
        .state
        .services
        .repositories
        .list_repositories(&cx.caller, query)
        .await?;
    let next = offset + listed.items.len() as u64;
    let repos: Vec<Value> = listed
        .items
        .iter()
        .map(|row| {
            json!({
                "id": row.id.0,
                "name": short_name(&row.name),
                "category": row.category,
                "description": row.description,
                "size": row.size,
                "is_public": row.effective_public(),
                "num_images": row.num_images,
                "num_download": row.num_downloads,
                "created_at": time(row.created_at),
                "updated_at": time(row.updated_at),
                "domain_name": DOMAIN,
                "namespace_name": row.namespace,
                "status": false,
            })
        })
        .collect();
    let mut body = json!({ "repos": repos });
    if next < listed.total {
        body["nextMarker"] = json!(next);
    }
    Ok(json(StatusCode::OK, &body))
}

/// The caller's level on the repository and the repository's own members (not its
/// namespace's).
pub(super) async fn show_access(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let repositories = &cx.state.services.repositories;
    let (row, members) = repositories
        .list_repository_members(&cx.caller, name)
        .await?;
    let level = repositories.repository_level(&cx.caller, &row).await?;
    let me = cx.caller.display_name();
    let others = others_auths(&members, me);
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": row.id.0,
            "name": short_name(&row.name),
            "self_auth": user_auth(me, level),
            "others_auths": others,
        }),
    ))
}

pub(super) async fn put_access(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let members = members(cx)?;
    let repositories = &cx.state.services.repositories;
    for (user, level) in members {
        repositories
            .put_repository_member(&cx.caller, name, &user, level)
            .await?;
    }
    Ok(created())
}

pub(super) async fn delete_access(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let names = member_names(cx)?;
    let repositories = &cx.state.services.repositories;
    for user in names {
        repositories
            .delete_repository_member(&cx.caller, name, &user)
            .await?;
    }
    Ok(no_content())
}
