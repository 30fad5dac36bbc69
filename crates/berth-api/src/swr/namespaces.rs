//! Namespaces (组织) and their members' permissions (组织权限).

use axum::response::Response;
use berth_core::Level;
use berth_service::{
    Direction, MemberRow, NamespaceOrder, NamespaceQuery, NamespaceSpec, NamespaceView, Page,
    ServiceError,
};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{self, SwrError};
use super::{Ctx, SwrResult, created, json, no_content};

/// A page of namespaces when listing them all (SWR has no paging here).
const LIST_PAGE: u32 = 1000;
/// The most namespaces one list answers with.
const LIST_MAX: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    namespace: String,
}

/// One member's permission, as SWR writes it. berth's members are user names: `user_id` and
/// `user_name` are both the name (either one may be given).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserAuth {
    user_id: Option<String>,
    user_name: Option<String>,
    auth: i64,
}

/// The members and levels of a permission body, checked as a whole before anything changes.
pub(super) fn members(cx: &Ctx<'_>) -> SwrResult<Vec<(String, Level)>> {
    let body: Vec<UserAuth> = cx.json()?;
    body.into_iter()
        .map(|a| {
            let name = a
                .user_name
                .filter(|n| !n.is_empty())
                .or(a.user_id.filter(|n| !n.is_empty()))
                .ok_or_else(|| SwrError::missing("user_name"))?;
            let level = Level::from_i64(a.auth)
                .ok_or_else(|| SwrError::invalid("auth", "7 (manage), 3 (write) or 1 (read)"))?;
            Ok((name, level))
        })
        .collect()
}

/// The user names of a permission delete body (`["user_id", …]`).
pub(super) fn member_names(cx: &Ctx<'_>) -> SwrResult<Vec<String>> {
    let names: Vec<String> = cx.json()?;
    if names.iter().any(String::is_empty) {
        return Err(SwrError::invalid("body", "an empty user id"));
    }
    Ok(names)
}

/// `{user_id, user_name, auth}`.
pub(super) fn user_auth(name: &str, level: Level) -> Value {
    json!({"user_id": name, "user_name": name, "auth": level.as_i64()})
}

/// The members other than the caller, as `others_auths`.
pub(super) fn others_auths(members: &[MemberRow], me: &str) -> Vec<Value> {
    members
        .iter()
        .filter(|m| m.username != me)
        .map(|m| user_auth(&m.username, m.level))
        .collect()
}

fn item(view: &NamespaceView) -> Value {
    json!({
        "id": view.namespace.id,
        "name": view.namespace.name,
        "creator_name": view.namespace.creator,
        "auth": view.level.as_i64(),
    })
}

pub(super) async fn create(cx: &Ctx<'_>) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let body: CreateBody = cx.json()?;
    cx.state
        .services
        .repositories
        .create_namespace(
            &cx.caller,
            &NamespaceSpec {
                name: body.namespace,
                ..Default::default()
            },
        )
        .await?;
    Ok(created())
}

/// The namespaces the caller may see (`namespace` or `filter=namespace::…` for one by name;
/// `mode::visible` is what berth always lists: also those where the caller was given only a
/// repository).
pub(super) async fn list(cx: &Ctx<'_>) -> SwrResult<Response> {
    cx.query.allow(&["namespace"], &["namespace", "mode"])?;
    let name = cx.query.get("namespace").map(str::to_owned);
    let repositories = &cx.state.services.repositories;
    let mut items = Vec::new();
    loop {
        let listed = repositories
            .list_namespaces(
                &cx.caller,
                NamespaceQuery {
                    name: name.clone(),
                    page: Page {
                        offset: items.len() as u64,
                        limit: LIST_PAGE,
                    },
                    order: NamespaceOrder::Name,
                    direction: Direction::Asc,
                    ..Default::default()
                },
            )
            .await?;
        let done = listed.items.len() < LIST_PAGE as usize;
        items.extend(listed.items.iter().map(item));
        if done || items.len() >= LIST_MAX {
            break;
        }
    }
    Ok(json(StatusCode::OK, &json!({ "namespaces": items })))
}

pub(super) async fn show(cx: &Ctx<'_>, namespace: &str) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let view = cx
        .state
        .services
        .repositories
        .get_namespace(&cx.caller, namespace)
        .await?;
    Ok(json(StatusCode::OK, &item(&view)))
}

/// Deletes an empty namespace; one that still holds repositories is SWR's 406.
pub(super) async fn delete(cx: &Ctx<'_>, namespace: &str) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    match cx
        .state
        .services
        .repositories
        .delete_namespace(&cx.caller, namespace, false)
        .await
    {
        Ok(()) => Ok(no_content()),
        Err(ServiceError::Conflict(why)) => Err(SwrError::new(
            StatusCode::NOT_ACCEPTABLE,
            error::NOT_EMPTY,
            why,
        )),
        Err(e) => Err(e.into()),
    }
}

/// The caller's own level and the other members'.
pub(super) async fn show_access(cx: &Ctx<'_>, namespace: &str) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let repositories = &cx.state.services.repositories;
    let view = repositories.get_namespace(&cx.caller, namespace).await?;
    let members = repositories.list_members(&cx.caller, namespace).await?;
    let me = cx.caller.display_name();
    let others = others_auths(&members, me);
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": view.namespace.id,
            "name": view.namespace.name,
            "creator_name": view.namespace.creator,
            "self_auth": user_auth(me, view.level),
            "others_auths": others,
        }),
    ))
}

/// Grants (POST) or changes (PATCH) members' levels: both set the level given.
pub(super) async fn put_access(cx: &Ctx<'_>, namespace: &str) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let members = members(cx)?;
    let repositories = &cx.state.services.repositories;
    for (name, level) in members {
        repositories
            .put_member(&cx.caller, namespace, &name, level)
            .await?;
    }
    Ok(created())
}

pub(super) async fn delete_access(cx: &Ctx<'_>, namespace: &str) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let names = member_names(cx)?;
    let repositories = &cx.state.services.repositories;
    for name in names {
        repositories
            .delete_member(&cx.caller, namespace, &name)
            .await?;
    }
    Ok(no_content())
}
