//! What a repository holds: artifacts (manifests, with the tags pointing at them), tags with
//! their detail (image info, build history, layers, the platforms of an index), and the
//! layers of a manifest. Called by the repository dispatcher (see `route.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use berth_core::{Action, Caller, Descriptor, Digest, Reference, RepoName, Tag};
use berth_service::{
    ImageDetail, ImageInfo, ManifestInfo, ManifestOrder, ManifestQuery, RepositoryRow, TagOrder,
    TagQuery, TagRow,
};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::dto::{Listing, Order, time, time_opt};
use super::error::NativeError;
use super::extract::{page, search};
use super::{ErrorResponses, NativeResult};
use crate::AppState;

/// A blob or child manifest a manifest references.
#[derive(Debug, Serialize, ToSchema)]
pub struct Layer {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// An index entry's platform (`os`, `architecture`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub platform: Option<serde_json::Value>,
}

impl From<Descriptor> for Layer {
    fn from(d: Descriptor) -> Self {
        Layer {
            media_type: d.media_type,
            digest: d.digest.to_string(),
            size: d.size,
            artifact_type: d.artifact_type,
            annotations: d.annotations,
            platform: d.platform,
        }
    }
}

/// One step of an image's build history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryStep {
    pub created: Option<String>,
    pub created_by: Option<String>,
    pub author: Option<String>,
    pub comment: Option<String>,
    /// Whether the step made no layer.
    pub empty_layer: bool,
}

/// What an image's config tells.
#[derive(Debug, Serialize, ToSchema)]
pub struct Image {
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
    pub created: Option<String>,
    pub author: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub history: Vec<HistoryStep>,
}

impl From<ImageInfo> for Image {
    fn from(i: ImageInfo) -> Self {
        Image {
            os: i.os,
            architecture: i.architecture,
            variant: i.variant,
            created: i.created,
            author: i.author,
            labels: i.labels,
            history: i
                .history
                .into_iter()
                .map(|h| HistoryStep {
                    created: h.created,
                    created_by: h.created_by,
                    author: h.author,
                    comment: h.comment,
                    empty_layer: h.empty_layer,
                })
                .collect(),
        }
    }
}

/// An artifact (a stored manifest) as listings show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Artifact {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// Length of the manifest itself.
    pub size: u64,
    /// The manifest's bytes plus what it references.
    pub total_size: u64,
    pub config_digest: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// The tags pointing at it, in lexical order.
    pub tags: Vec<String>,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub pushed_by: String,
    pub created_at: String,
    pub downloads: u64,
}

impl From<ManifestInfo> for Artifact {
    fn from(m: ManifestInfo) -> Self {
        let annotations = m
            .annotations
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_default();
        let image: Option<ImageInfo> = m
            .image_info
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok());
        Artifact {
            digest: m.digest.to_string(),
            media_type: m.media_type,
            artifact_type: m.artifact_type,
            size: m.size,
            total_size: m.total_size,
            config_digest: m.config.map(|d| d.to_string()),
            annotations,
            tags: m.tags,
            os: image.as_ref().and_then(|i| i.os.clone()),
            architecture: image.and_then(|i| i.architecture),
            pushed_by: m.pushed_by,
            created_at: time(m.created_at),
            downloads: m.downloads,
        }
    }
}

/// One manifest in detail: its config, layers, annotations, the image its config describes,
/// and the manifest as pushed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub total_size: u64,
    /// For the images of an index: the index entry's platform.
    #[schema(value_type = Option<Object>)]
    pub platform: Option<serde_json::Value>,
    pub config: Option<Layer>,
    pub layers: Vec<Layer>,
    pub annotations: BTreeMap<String, String>,
    /// From the config blob, for images (not for indexes and other artifacts).
    pub image: Option<Image>,
    /// The manifest document.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
}

impl From<ImageDetail> for ImageView {
    fn from(d: ImageDetail) -> Self {
        ImageView {
            digest: d.digest.to_string(),
            media_type: d.media_type,
            artifact_type: d.artifact_type,
            total_size: d.total_size,
            platform: d.platform,
            config: d.config.map(Layer::from),
            layers: d.layers.into_iter().map(Layer::from).collect(),
            annotations: d.annotations,
            image: d.image.map(Image::from),
            manifest: serde_json::from_slice(&d.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// An artifact with its detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactDetail {
    pub artifact: Artifact,
    pub detail: ImageView,
}

/// A tag as listings show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagItem {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// What it points at: the manifest's bytes plus what it references.
    pub size: u64,
    /// When it was last pushed (moved) and by whom.
    pub pushed_at: String,
    pub pushed_by: String,
    pub created_at: String,
    pub downloads: u64,
    pub last_pulled_at: Option<String>,
}

impl From<TagRow> for TagItem {
    fn from(t: TagRow) -> Self {
        TagItem {
            name: t.name,
            digest: t.digest.to_string(),
            media_type: t.media_type,
            artifact_type: t.artifact_type,
            size: t.total_size,
            pushed_at: time(t.pushed_at),
            pushed_by: t.pushed_by,
            created_at: time(t.created_at),
            downloads: t.downloads,
            last_pulled_at: time_opt(t.last_pulled_at),
        }
    }
}

/// A tag and everything about what it points at; for a multi-platform index, each
/// platform's image too.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    pub tag: TagItem,
    pub artifact: Artifact,
    pub detail: ImageView,
    pub platforms: Vec<ImageView>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactOrderBy {
    #[default]
    Created,
    Size,
    Downloads,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArtifactListQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
    #[param(inline)]
    order_by: Option<ArtifactOrderBy>,
    /// Default `desc` (newest first).
    #[param(inline)]
    order: Option<Order>,
    /// Only artifacts that at least one tag points at.
    tagged: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagOrderBy {
    #[default]
    Name,
    Pushed,
    Downloads,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TagListQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
    /// Only tags containing this (case-insensitive).
    search: Option<String>,
    #[param(inline)]
    order_by: Option<TagOrderBy>,
    #[param(inline)]
    order: Option<Order>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LayerListQuery {
    /// Page size, 1 to 1000 (default 20).
    limit: Option<i64>,
    /// Items to skip (default 0).
    offset: Option<i64>,
}

/// The repository, if the caller may do `action` to it.
async fn open(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    action: Action,
) -> Result<Arc<RepositoryRow>, NativeError> {
    state
        .services
        .repositories
        .open_existing(caller, name, action)
        .await
        .map_err(Into::into)
}

/// List the artifacts (manifests) of a repository, each with its tags.
#[utoipa::path(get, path = "/api/v1/repositories/{name}/-/artifacts", tag = "artifacts",
    params(("name" = String, Path, description = "The full repository name"), ArtifactListQuery),
    responses((status = 200, body = Listing<Artifact>), ErrorResponses))]
pub async fn list_artifacts(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    q: ArtifactListQuery,
) -> NativeResult<Json<Listing<Artifact>>> {
    let page = page(q.limit, q.offset)?;
    let repo = open(state, caller, name, Action::Pull).await?;
    let query = ManifestQuery {
        tagged_only: q.tagged.unwrap_or(false),
        page,
        order: match q.order_by.unwrap_or_default() {
            ArtifactOrderBy::Created => ManifestOrder::Created,
            ArtifactOrderBy::Size => ManifestOrder::Size,
            ArtifactOrderBy::Downloads => ManifestOrder::Downloads,
        },
        direction: q.order.unwrap_or(Order::Desc).into(),
    };
    let listed = state
        .services
        .manifests
        .list_manifests(&repo, &query)
        .await?;
    Ok(Json(Listing::of(listed, page, Artifact::from)))
}

/// One artifact by digest, with its detail.
#[utoipa::path(get, path = "/api/v1/repositories/{name}/-/artifacts/{digest}", tag = "artifacts",
    params(("name" = String, Path, description = "The full repository name"), ("digest" = String, Path)),
    responses((status = 200, body = ArtifactDetail), ErrorResponses))]
pub async fn get_artifact(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    digest: &Digest,
) -> NativeResult<Json<ArtifactDetail>> {
    let repo = open(state, caller, name, Action::Pull).await?;
    let manifests = &state.services.manifests;
    let artifact = manifests.manifest_info(&repo, digest).await?;
    let detail = manifests.manifest_detail(&repo, digest).await?;
    Ok(Json(ArtifactDetail {
        artifact: artifact.into(),
        detail: detail.into(),
    }))
}

/// Delete an artifact and the tags pointing at it (managers). Its blobs stay while others
/// use them; `/v2` answers 404 for it at once.
#[utoipa::path(delete, path = "/api/v1/repositories/{name}/-/artifacts/{digest}", tag = "artifacts",
    params(("name" = String, Path, description = "The full repository name"), ("digest" = String, Path)),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_artifact(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    digest: &Digest,
) -> NativeResult<StatusCode> {
    let repo = open(state, caller, name, Action::Delete).await?;
    state
        .services
        .manifests
        .delete(caller, &repo, &Reference::Digest(digest.clone()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The layers (and config) a manifest references; an index has none (see its platforms in
/// the tag detail).
#[utoipa::path(get, path = "/api/v1/repositories/{name}/-/artifacts/{digest}/layers", tag = "artifacts",
    params(("name" = String, Path, description = "The full repository name"), ("digest" = String, Path), LayerListQuery),
    responses((status = 200, body = Listing<Layer>), ErrorResponses))]
pub async fn list_layers(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    digest: &Digest,
    q: LayerListQuery,
) -> NativeResult<Json<Listing<Layer>>> {
    let page = page(q.limit, q.offset)?;
    let repo = open(state, caller, name, Action::Pull).await?;
    let detail = state
        .services
        .manifests
        .manifest_detail(&repo, digest)
        .await?;
    Ok(Json(Listing::slice(detail.layers, page, Layer::from)))
}

/// List the tags of a repository.
#[utoipa::path(get, path = "/api/v1/repositories/{name}/-/tags", tag = "tags",
    params(("name" = String, Path, description = "The full repository name"), TagListQuery),
    responses((status = 200, body = Listing<TagItem>), ErrorResponses))]
pub async fn list_tags(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    q: TagListQuery,
) -> NativeResult<Json<Listing<TagItem>>> {
    let page = page(q.limit, q.offset)?;
    let query = TagQuery {
        search: search(q.search)?,
        page,
        order: match q.order_by.unwrap_or_default() {
            TagOrderBy::Name => TagOrder::Name,
            TagOrderBy::Pushed => TagOrder::Pushed,
            TagOrderBy::Downloads => TagOrder::Downloads,
        },
        direction: q.order.unwrap_or_default().into(),
    };
    let repo = open(state, caller, name, Action::Pull).await?;
    let listed = state.services.manifests.list_tags(&repo, &query).await?;
    Ok(Json(Listing::of(listed, page, TagItem::from)))
}

/// A tag with its detail: image info, build history, layers, and the platforms of an
/// index.
#[utoipa::path(get, path = "/api/v1/repositories/{name}/-/tags/{tag}", tag = "tags",
    params(("name" = String, Path, description = "The full repository name"), ("tag" = String, Path)),
    responses((status = 200, body = TagView), ErrorResponses))]
pub async fn get_tag(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    tag: &Tag,
) -> NativeResult<Json<TagView>> {
    let repo = open(state, caller, name, Action::Pull).await?;
    let detail = state.services.manifests.tag_detail(&repo, tag).await?;
    Ok(Json(TagView {
        tag: detail.tag.into(),
        artifact: detail.manifest.into(),
        detail: detail.detail.into(),
        platforms: detail.platforms.into_iter().map(ImageView::from).collect(),
    }))
}

/// Delete a tag (managers); the artifact stays.
#[utoipa::path(delete, path = "/api/v1/repositories/{name}/-/tags/{tag}", tag = "tags",
    params(("name" = String, Path, description = "The full repository name"), ("tag" = String, Path)),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_tag(
    state: &AppState,
    caller: &Caller,
    name: &RepoName,
    tag: &Tag,
) -> NativeResult<StatusCode> {
    let repo = open(state, caller, name, Action::Delete).await?;
    state
        .services
        .manifests
        .delete_tag(caller, &repo, tag)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
