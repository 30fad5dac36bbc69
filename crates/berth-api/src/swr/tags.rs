//! The tags (镜像版本) of a repository: the v2 list (a bare array of items naming the tag
//! `Tag`), one tag (naming it `tag`), delete, retag, and the v3 list with a marker.

use std::sync::Arc;

use axum::response::Response;
use berth_core::{Action, Reference, RepoName, Tag};
use berth_service::{Page, PullKind, RepositoryRow, TagOrder, TagQuery, TagRow};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::repos::DOMAIN;
use super::{Ctx, SwrError, SwrResult, created, json, no_content, ranged_list, time};

/// The page size of a tag list when none is given, and the largest.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetagBody {
    source_tag: String,
    destination_tag: String,
    #[serde(default)]
    #[serde(rename = "override")]
    replace: bool,
}

fn tag_of(value: &str, what: &str) -> SwrResult<Tag> {
    value
        .parse()
        .map_err(|e: berth_core::NameError| SwrError::invalid(what, e))
}

async fn open(cx: &Ctx<'_>, name: &RepoName, action: Action) -> SwrResult<Arc<RepositoryRow>> {
    Ok(cx
        .state
        .services
        .repositories
        .open_existing(&cx.caller, name, action)
        .await?)
}

/// A stable integer id of a tag (berth keys tags by repository and name): the first 53 bits
/// of the SHA-256 of both, so that it survives a JSON double.
fn tag_id(repo: &RepositoryRow, tag: &str) -> u64 {
    let digest = berth_core::Digest::sha256(format!("{}\n{tag}", repo.id.0).as_bytes());
    let hex = digest.to_string();
    let hex = hex.split_once(':').map_or(hex.as_str(), |(_, hex)| hex);
    u64::from_str_radix(&hex[..14], 16).unwrap_or(0) >> 3
}

/// The fields a tag list item and a single tag share; `name_key` is `Tag` in lists and
/// `tag` for one tag (as the SDK's models have it).
async fn tag_json(
    cx: &Ctx<'_>,
    repo: &RepositoryRow,
    tag: &TagRow,
    name_key: &str,
) -> SwrResult<Value> {
    let manifest = cx
        .state
        .services
        .manifests
        .get(repo, &Reference::Digest(tag.digest.clone()), PullKind::Head)
        .await?;
    let parsed: Value = serde_json::from_slice(&manifest.body).unwrap_or(Value::Null);
    let image_id = parsed["config"]["digest"].as_str().unwrap_or("").to_owned();
    let schema = if parsed["schemaVersion"] == 1 { 1 } else { 2 };
    let is_list = manifest.media_type.contains("index") || manifest.media_type.contains("list");
    let path = format!("{}/{}:{}", cx.host(), repo.name, tag.name);
    let mut item = json!({
        "id": tag_id(repo, &tag.name),
        "repo_id": repo.id.0,
        "image_id": image_id,
        "manifest": String::from_utf8_lossy(&manifest.body),
        "digest": tag.digest.to_string(),
        "schema": schema,
        "path": path,
        "internal_path": path,
        "size": tag.total_size,
        "is_trusted": false,
        "created": time(tag.created_at),
        "updated": time(tag.pushed_at),
        "domain_id": DOMAIN,
        "tag_type": i32::from(is_list),
    });
    item[name_key] = json!(tag.name);
    Ok(item)
}

fn order(cx: &Ctx<'_>) -> SwrResult<TagOrder> {
    match cx.query.get("order_column") {
        None | Some("updated_at") => Ok(TagOrder::Pushed),
        Some("tag") => Ok(TagOrder::Name),
        Some(v) => Err(SwrError::invalid(
            "order_column",
            format!("{v:?} is not updated_at or tag"),
        )),
    }
}

/// The v2 list: a bare array with `Content-Range`, filtered by `tag` (a part of the name).
pub(super) async fn list(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    const KEYS: [&str; 5] = ["offset", "limit", "order_column", "order_type", "tag"];
    cx.query.allow(&KEYS, &KEYS)?;
    let offset = cx.query.number("offset", 0, u64::MAX)?;
    let limit = cx.query.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?.max(1) as u32;
    let query = TagQuery {
        search: cx.query.get("tag").map(str::to_owned),
        page: Page { offset, limit },
        order: order(cx)?,
        direction: cx.query.direction()?,
    };
    let repo = open(cx, name, Action::Pull).await?;
    let listed = cx.state.services.manifests.list_tags(&repo, &query).await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for tag in &listed.items {
        let mut item = tag_json(cx, &repo, tag, "Tag").await?;
        item["deleted"] = Value::Null;
        item["scanned"] = json!(false);
        items.push(item);
    }
    Ok(ranged_list(items, offset, listed.total))
}

/// The v3 list: `{"tags": […], "nextMarker": "…", "has_more": bool}`; the marker (opaque to
/// clients) is where the next page starts.
pub(super) async fn list_v3(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(
        &[
            "limit",
            "marker",
            "tag",
            "order_column",
            "order_type",
            "with_manifest",
        ],
        &[],
    )?;
    let offset = cx.query.number("marker", 0, u64::MAX)?;
    let limit = cx.query.number("limit", DEFAULT_LIMIT, MAX_LIMIT)?.max(1) as u32;
    let with_manifest = cx.query.boolean("with_manifest")?.unwrap_or(true);
    let query = TagQuery {
        search: cx.query.get("tag").map(str::to_owned),
        page: Page { offset, limit },
        order: order(cx)?,
        direction: cx.query.direction()?,
    };
    let repo = open(cx, name, Action::Pull).await?;
    let listed = cx.state.services.manifests.list_tags(&repo, &query).await?;
    let mut tags = Vec::with_capacity(listed.items.len());
    for tag in &listed.items {
        let mut item = tag_json(cx, &repo, tag, "tag").await?;
        if !with_manifest {
            item["manifest"] = json!("");
        }
        tags.push(item);
    }
    let next = offset + listed.items.len() as u64;
    let has_more = next < listed.total;
    let mut body = json!({ "tags": tags, "has_more": has_more });
    if has_more {
        body["nextMarker"] = json!(next.to_string());
    }
    Ok(json(StatusCode::OK, &body))
}

pub(super) async fn show(cx: &Ctx<'_>, name: &RepoName, tag: &str) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let tag = tag_of(tag, "tag")?;
    let repo = open(cx, name, Action::Pull).await?;
    let row = cx.state.services.manifests.get_tag(&repo, &tag).await?;
    Ok(json(
        StatusCode::OK,
        &tag_json(cx, &repo, &row, "tag").await?,
    ))
}

pub(super) async fn delete(cx: &Ctx<'_>, name: &RepoName, tag: &str) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let tag = tag_of(tag, "tag")?;
    let repo = open(cx, name, Action::Delete).await?;
    cx.state
        .services
        .manifests
        .delete_tag(&cx.caller, &repo, &tag)
        .await?;
    Ok(no_content())
}

/// Retag (`create_repo_tag`): `destination_tag` names what `source_tag` names; an existing
/// destination is replaced only with `override`.
pub(super) async fn retag(cx: &Ctx<'_>, name: &RepoName) -> SwrResult<Response> {
    cx.query.allow(&[], &[])?;
    let body: RetagBody = cx.json()?;
    let source = tag_of(&body.source_tag, "source_tag")?;
    let destination = tag_of(&body.destination_tag, "destination_tag")?;
    let repo = open(cx, name, Action::Push).await?;
    let manifests = &cx.state.services.manifests;
    let manifest = manifests
        .get(&repo, &Reference::Tag(source), PullKind::Head)
        .await?;
    if !body.replace {
        match manifests.get_tag(&repo, &destination).await {
            Ok(_) => {
                return Err(SwrError::new(
                    StatusCode::CONFLICT,
                    super::error::ALREADY_EXISTS,
                    format!("tag {destination} already exists (set override to replace it)"),
                ));
            }
            Err(berth_service::ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    manifests
        .put(
            &cx.caller,
            &repo,
            &Reference::Tag(destination),
            Some(&manifest.media_type),
            manifest.body,
            &[],
        )
        .await?;
    Ok(created())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_ids_are_stable_and_fit_a_double() {
        let repo = |id| RepositoryRow {
            id: berth_meta::RepoId(id),
            ..test_row()
        };
        let a = tag_id(&repo(1), "v1");
        assert_eq!(a, tag_id(&repo(1), "v1"));
        assert_ne!(a, tag_id(&repo(2), "v1"));
        assert_ne!(a, tag_id(&repo(1), "v2"));
        assert!(a < 1 << 53);
    }

    fn test_row() -> RepositoryRow {
        RepositoryRow {
            id: berth_meta::RepoId(0),
            name: "ns/app".parse().unwrap(),
            namespace_id: 1,
            namespace: "ns".into(),
            namespace_public: false,
            kind: berth_service::RepoKind::Hosted,
            category: String::new(),
            description: String::new(),
            is_public: None,
            creator: String::new(),
            created_at: 0,
            updated_at: 0,
            size: 0,
            num_manifests: 0,
            num_images: 0,
            num_tags: 0,
            num_downloads: 0,
            last_pushed_at: None,
            last_pulled_at: None,
        }
    }
}
