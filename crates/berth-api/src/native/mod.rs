//! berth's own REST API under `/api/v1`: namespaces, members, repositories, artifacts, tags
//! and layers; users, tokens, robots, access keys and the audit log. Thin handlers over
//! `berth_service`, one JSON error shape ([`error`]), strict input ([`extract`]: unknown
//! fields and parameters refused, bodies capped, paging checked), listings as
//! `{"items", "total", "limit", "offset"}`, times in RFC 3339.
//!
//! The OpenAPI 3.1 document is generated from these handlers and DTOs (utoipa) and served
//! at `GET /api/v1/openapi.json`; the routes with plain path parameters are registered from
//! the same annotations (utoipa-axum), so they cannot drift apart. Repository names hold
//! slashes, so everything below `/api/v1/repositories/` is one dispatcher over a parsed
//! [`route::RepoRoute`] (`{name}/-/tags/{tag}`, see there); those operations are listed in
//! [`ApiDoc`] and a test checks that each one documented parses to its route.

pub mod artifacts;
pub mod audit;
pub mod charts;
pub mod dto;
pub mod error;
pub mod extract;
pub mod namespaces;
pub mod proxies;
pub mod repositories;
pub mod robots;
pub mod route;
pub mod users;

use std::sync::OnceLock;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::header;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
pub use error::{ErrorBody, ErrorCode, NativeError};

pub type NativeResult<T> = Result<T, NativeError>;

/// The error answers every operation may give, all in the one shape.
#[derive(utoipa::IntoResponses)]
pub enum ErrorResponses {
    /// Invalid input (400, `target` names the parameter or field), authentication needed or
    /// failed (401, with `WWW-Authenticate: Basic realm="berth"`), forbidden (403), not found
    /// or not visible to the caller (404), method not allowed (405), exists already or
    /// conflicting state (409), body too large (413), not JSON (415), too many failed logins
    /// (429).
    #[response(status = "4XX")]
    Client(ErrorBody),
    /// Not configured for this (501), an upstream failed (502), credentials cannot be checked
    /// now (503), or berth failed (500; the cause is in berth's log).
    #[response(status = "5XX")]
    Server(ErrorBody),
}

/// The parts of the document that are not an axum route of their own: the operations
/// below `/api/v1/repositories/{name}`, served by one dispatcher.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth",
        version = "1",
        description = "berth's native REST API. Authenticate with HTTP Basic (a user and its \
            password or personal access token; a robot and its token) or a Bearer personal \
            access token. Repository names contain slashes: write them as they are \
            (`/api/v1/repositories/team/app/-/tags`); what a repository holds comes after a \
            `-` segment, which no name can contain. Listings take `limit` (1 to 1000, default \
            20) and `offset` and answer `{\"items\", \"total\", \"limit\", \"offset\"}`. \
            Errors are `{\"error\": {\"code\", \"message\", \"target\"}}`."
    ),
    paths(
        repositories::get_repository,
        repositories::update_repository,
        repositories::delete_repository,
        artifacts::list_artifacts,
        artifacts::get_artifact,
        artifacts::delete_artifact,
        artifacts::list_layers,
        artifacts::list_tags,
        artifacts::get_tag,
        artifacts::delete_tag,
    ),
    components(schemas(ErrorBody, error::ErrorDetail, ErrorCode)),
    modifiers(&Security),
    tags(
        (name = "namespaces", description = "Namespaces: the first component of repository names"),
        (name = "members", description = "Who may do what in a namespace"),
        (name = "repositories", description = "Repositories and their counters"),
        (name = "artifacts", description = "Manifests stored in a repository, and their layers"),
        (name = "tags", description = "Tags and their detail"),
        (name = "users", description = "Users (administrators; a user may change its own password)"),
        (name = "tokens", description = "Personal access tokens"),
        (name = "robots", description = "Robot accounts of a namespace"),
        (name = "keys", description = "Access keys (AK/SK) for SWR clients"),
        (name = "audit", description = "The audit log"),
        (name = "proxies", description = "Pull-through caches of upstream registries (administrators)"),
        (name = "charts", description = "Helm charts of a namespace (the one chart store)"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // Either scheme, or none: anonymous callers see what is public.
        openapi.security = Some(vec![
            SecurityRequirement::new("basic", Vec::<String>::new()),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::default(),
        ]);
    }
}

/// The routes with plain path parameters, each registered from its annotation.
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi_json))
        .routes(routes!(
            namespaces::list_namespaces,
            namespaces::create_namespace
        ))
        .routes(routes!(
            namespaces::get_namespace,
            namespaces::update_namespace,
            namespaces::delete_namespace
        ))
        .routes(routes!(namespaces::list_members))
        .routes(routes!(namespaces::put_member, namespaces::delete_member))
        .routes(routes!(repositories::list_namespace_repositories))
        .routes(routes!(
            repositories::list_repositories,
            repositories::create_repository
        ))
        .routes(routes!(robots::list_robots, robots::create_robot))
        .routes(routes!(robots::delete_robot))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(
            users::get_user,
            users::update_user,
            users::delete_user
        ))
        .routes(routes!(users::list_tokens, users::create_token))
        .routes(routes!(users::revoke_token))
        .routes(routes!(users::list_keys, users::create_key))
        .routes(routes!(users::revoke_key))
        .routes(routes!(audit::list_audit))
        .routes(routes!(proxies::list_proxies, proxies::create_proxy))
        .routes(routes!(
            proxies::get_proxy,
            proxies::update_proxy,
            proxies::delete_proxy
        ))
        .routes(routes!(charts::list_charts, charts::upload_chart))
        .routes(routes!(charts::list_versions, charts::delete_chart))
        .routes(routes!(charts::get_version, charts::delete_version))
        .routes(routes!(charts::download_version))
}

/// The OpenAPI document of the native API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = documented().split_for_parts().1;
    describe_successes(&mut document);
    document
}

/// Every response needs a description (OpenAPI requires one); the success answers say
/// what their status says.
fn describe_successes(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = match status.as_str() {
                        "200" => "OK",
                        "201" => "Created",
                        "204" => "No Content",
                        _ => "",
                    }
                    .to_owned();
                }
            }
        }
    }
}

/// The native API's routes.
pub fn router() -> Router<AppState> {
    let (router, _) = documented().split_for_parts();
    router
        .route("/api/v1/repositories/{*rest}", any(repositories::dispatch))
        .route("/api/v1", any(no_endpoint))
        .route("/api/v1/", any(no_endpoint))
        .route("/api/v1/{*rest}", any(no_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn no_endpoint() -> NativeError {
    NativeError::no_endpoint()
}

async fn method_not_allowed() -> NativeError {
    NativeError::method_not_allowed()
}

/// This document, as JSON.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")))]
async fn openapi_json() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| {
        openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document as served; a change to any handler, DTO or route shows up here.
    #[test]
    fn openapi_document_matches_the_code() {
        let document: serde_json::Value =
            serde_json::from_str(&openapi().to_pretty_json().unwrap()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        insta::assert_json_snapshot!("openapi", document);
    }

    /// Seed 002's spaces (another family's routes under `/api/v1`) merge with these
    /// without a conflict, and win over the catch-all.
    #[tokio::test]
    async fn router_leaves_room_for_spaces() {
        use tower::ServiceExt;
        let later = Router::new().route("/api/v1/spaces/{*rest}", any(|| async { "spaces" }));
        let dir = tempfile::tempdir().unwrap();
        let meta = berth_meta::SqliteMetaStore::open(&dir.path().join("berth.db"))
            .await
            .unwrap();
        let services = berth_service::Services::start(
            std::sync::Arc::new(berth_storage::MemoryBlobStore::new()),
            berth_meta::Meta::new(std::sync::Arc::new(meta)),
            Default::default(),
        )
        .await
        .unwrap();
        let app = router().merge(later).with_state(AppState::new(
            std::sync::Arc::new(services),
            Default::default(),
        ));
        for (uri, body) in [("/api/v1/spaces/team/charts", "spaces")] {
            let response = app
                .clone()
                .oneshot(
                    http::Request::get(uri)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            assert_eq!(&bytes[..], body.as_bytes(), "{uri}");
        }
    }

    /// Every documented operation below `/api/v1/repositories/{name}` reaches its route in
    /// the dispatcher's parser (the routes with plain parameters are registered from their
    /// annotations, so they cannot be missing).
    #[test]
    fn documented_repository_paths_parse_to_their_routes() {
        let document = openapi();
        let digest = berth_core::Digest::sha256(b"x").to_string();
        let mut seen = 0;
        for path in document.paths.paths.keys() {
            let Some(rest) = path.strip_prefix("/api/v1/repositories/") else {
                continue;
            };
            let concrete = rest
                .replace("{name}", "team/group/app")
                .replace("{digest}", &digest)
                .replace("{tag}", "v1");
            let route = route::RepoRoute::parse(&concrete)
                .unwrap_or_else(|e| panic!("{path} does not parse: {e:?}"));
            assert_eq!(route.template(), path.as_str());
            seen += 1;
        }
        assert_eq!(seen, 6, "one documented path per RepoRoute variant");
    }
}
