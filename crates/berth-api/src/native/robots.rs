//! Robot accounts of a namespace: `robot$<namespace>+<name>`, acting with one level in that
//! namespace only. Managed by the namespace's managers; the secret is shown once.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use berth_service::UserRow;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::{LevelName, Listing, time, time_opt};
use super::error::NativeError;
use super::extract::{JsonBody, Params, PathParams};
use super::namespaces::PageQuery;
use super::{ErrorResponses, NativeResult};
use crate::{AppState, Authenticated};

/// A robot account (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Robot {
    /// The name it logs in with: `robot$team+ci`.
    pub name: String,
    pub namespace: String,
    pub level: LevelName,
    pub disabled: bool,
    pub created_at: String,
    pub expires_at: Option<String>,
}

impl Robot {
    fn new(row: UserRow, namespace: &str) -> Robot {
        Robot {
            level: row
                .robot
                .as_ref()
                .map_or(LevelName::Read, |(_, l)| (*l).into()),
            namespace: row.robot.map_or_else(|| namespace.to_owned(), |(ns, _)| ns),
            name: row.name,
            disabled: row.disabled,
            created_at: time(row.created_at),
            expires_at: time_opt(row.expires_at),
        }
    }
}

/// A robot just created: log in with `name` and `token` (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRobot {
    #[serde(flatten)]
    pub robot: Robot,
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRobot {
    /// Its short name (`ci`); it logs in as `robot$<namespace>+<name>`.
    name: String,
    level: LevelName,
    /// Seconds until it expires; left out: never.
    expires_in_secs: Option<u64>,
}

/// The short name of a robot, given short or in full (`robot$team+ci`).
fn short_name<'a>(namespace: &str, name: &'a str) -> &'a str {
    name.strip_prefix("robot$")
        .and_then(|rest| rest.strip_prefix(namespace))
        .and_then(|rest| rest.strip_prefix('+'))
        .unwrap_or(name)
}

/// The robots of a namespace (managers).
#[utoipa::path(get, path = "/api/v1/namespaces/{namespace}/robots", tag = "robots",
    params(("namespace" = String, Path), PageQuery),
    responses((status = 200, body = Listing<Robot>), ErrorResponses))]
pub async fn list_robots(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
    Params(q): Params<PageQuery>,
) -> NativeResult<Json<Listing<Robot>>> {
    let page = q.page()?;
    let all = state.services.auth.list_robots(&auth.0, &namespace).await?;
    Ok(Json(Listing::slice(all, page, |r| {
        Robot::new(r, &namespace)
    })))
}

/// Create a robot in a namespace (managers).
#[utoipa::path(post, path = "/api/v1/namespaces/{namespace}/robots", tag = "robots",
    params(("namespace" = String, Path)),
    request_body = NewRobot,
    responses((status = 201, body = CreatedRobot), ErrorResponses))]
pub async fn create_robot(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(namespace): PathParams<String>,
    JsonBody(body): JsonBody<NewRobot>,
) -> NativeResult<(StatusCode, Json<CreatedRobot>)> {
    if body.expires_in_secs == Some(0) {
        return Err(NativeError::invalid(
            "expires_in_secs",
            "expires_in_secs must be positive",
        ));
    }
    let created = state
        .services
        .auth
        .create_robot(
            &auth.0,
            &namespace,
            &body.name,
            body.level.into(),
            body.expires_in_secs.map(Duration::from_secs),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedRobot {
            robot: Robot::new(created.record, &namespace),
            token: created.secret,
        }),
    ))
}

/// Delete a robot (managers): its logins end at once.
#[utoipa::path(delete, path = "/api/v1/namespaces/{namespace}/robots/{name}", tag = "robots",
    params(("namespace" = String, Path), ("name" = String, Path, description = "Short (`ci`) or full (`robot$team+ci`)")),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_robot(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((namespace, name)): PathParams<(String, String)>,
) -> NativeResult<StatusCode> {
    let name = short_name(&namespace, &name);
    state
        .services
        .auth
        .delete_robot(&auth.0, &namespace, name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
