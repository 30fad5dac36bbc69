//! Users, their personal access tokens and their access keys. Secrets (a token, an access
//! key's secret) are in the answer that creates them, once, and never listed.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use berth_core::{Caller, Level, NamespaceName};
use berth_service::{CredentialKind, CredentialRow, Entity, ServiceError, UserChange, UserRow};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::{LevelName, Listing, time, time_opt};
use super::error::NativeError;
use super::extract::{JsonBody, OptionalJson, Params, PathParams};
use super::namespaces::PageQuery;
use super::{ErrorResponses, NativeResult};
use crate::{AppState, Authenticated};

/// A user (never its password).
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub name: String,
    pub admin: bool,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        User {
            name: u.name,
            admin: u.admin,
            disabled: u.disabled,
            created_at: time(u.created_at),
            updated_at: time(u.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

/// Fields left out keep their value. A user may change its own password; the rest is for
/// administrators. A new password or `disabled` ends the user's logins at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    password: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
}

/// A personal access token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    pub id: String,
    pub name: String,
    /// What it is limited to; without one it carries all of its user's rights.
    pub namespace: Option<String>,
    pub level: Option<LevelName>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<CredentialRow> for Token {
    fn from(c: CredentialRow) -> Self {
        Token {
            id: c.id,
            name: c.name,
            namespace: c.limit.as_ref().map(|(ns, _)| ns.clone()),
            level: c.limit.map(|(_, l)| l.into()),
            created_at: time(c.created_at),
            expires_at: time_opt(c.expires_at),
            last_used_at: time_opt(c.last_used_at),
            revoked_at: time_opt(c.revoked_at),
        }
    }
}

/// A token just created: `token` is its secret, shown this once. Log in with it as the
/// password of HTTP Basic (with the user's name) or as a Bearer token.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    pub token: String,
    pub namespace: Option<String>,
    pub level: Option<LevelName>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Default `api-key`.
    name: Option<String>,
    /// Seconds until it expires; left out: never.
    expires_in_secs: Option<u64>,
    /// Limit it to one namespace …
    namespace: Option<String>,
    /// … and at most this level there (default `read`).
    level: Option<LevelName>,
}

/// An access key (AK/SK) for SWR clients, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessKey {
    pub access_key: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<CredentialRow> for AccessKey {
    fn from(c: CredentialRow) -> Self {
        AccessKey {
            access_key: c.id,
            name: c.name,
            created_at: time(c.created_at),
            last_used_at: time_opt(c.last_used_at),
            revoked_at: time_opt(c.revoked_at),
        }
    }
}

/// An access key just created: `secret_key` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccessKey {
    pub access_key: String,
    pub secret_key: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccessKey {
    /// Default `access-key`.
    name: Option<String>,
}

/// List users (administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(PageQuery),
    responses((status = 200, body = Listing<User>), ErrorResponses))]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    Params(q): Params<PageQuery>,
) -> NativeResult<Json<Listing<User>>> {
    let page = q.page()?;
    let listed = state.services.auth.list_users(&auth.0, page).await?;
    Ok(Json(Listing::of(listed, page, User::from)))
}

/// Create a user (administrators).
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = NewUser,
    responses((status = 201, body = User), ErrorResponses))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    JsonBody(body): JsonBody<NewUser>,
) -> NativeResult<(StatusCode, Json<User>)> {
    let row = state
        .services
        .auth
        .create_user(&auth.0, &body.name, &body.password, body.admin)
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// A user (itself, or any for administrators).
#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path)),
    responses((status = 200, body = User), ErrorResponses))]
pub async fn get_user(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(name): PathParams<String>,
) -> NativeResult<Json<User>> {
    let row = state.services.auth.get_user(&auth.0, &name).await?;
    Ok(Json(row.into()))
}

/// Change a user: its password (itself or administrators), admin or disabled
/// (administrators).
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path)),
    request_body = UserPatch,
    responses((status = 200, body = User), ErrorResponses))]
pub async fn update_user(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<UserPatch>,
) -> NativeResult<Json<User>> {
    let change = UserChange {
        password: body.password,
        admin: body.admin,
        disabled: body.disabled,
    };
    let row = state
        .services
        .auth
        .update_user(&auth.0, &name, &change)
        .await?;
    Ok(Json(row.into()))
}

/// Delete a user with its tokens and keys (administrators).
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path)),
    responses((status = 204, description = "deleted"), ErrorResponses))]
pub async fn delete_user(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(name): PathParams<String>,
) -> NativeResult<StatusCode> {
    state.services.auth.delete_user(&auth.0, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Credentials are created by their own user, logged in as itself (with a password or an
/// unlimited token).
fn own(caller: &Caller, user: &str, what: &str) -> Result<(), NativeError> {
    if caller.is_anonymous() {
        return Err(ServiceError::Unauthenticated.into());
    }
    if caller.name() != Some(user) {
        return Err(ServiceError::Forbidden(format!("{what} is created by its own user")).into());
    }
    Ok(())
}

/// The user's credentials of one kind (the user itself, or an administrator).
async fn credentials(
    state: &AppState,
    caller: &Caller,
    user: &str,
    kind: CredentialKind,
) -> Result<Vec<CredentialRow>, NativeError> {
    Ok(state
        .services
        .auth
        .list_credentials(caller, Some(user))
        .await?
        .into_iter()
        .filter(|c| c.kind == kind)
        .collect())
}

/// Revokes the user's credential `id` of `kind`; another's, or another kind, is not found.
async fn revoke(
    state: &AppState,
    caller: &Caller,
    user: &str,
    id: &str,
    kind: CredentialKind,
) -> NativeResult<StatusCode> {
    let owned = credentials(state, caller, user, kind)
        .await?
        .into_iter()
        .any(|c| c.id == id);
    if !owned {
        return Err(ServiceError::NotFound(Entity::Token(id.to_owned())).into());
    }
    state.services.auth.revoke_credential(caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a personal access token of the calling user (also a Docker Cloud API key); the
/// body may be left out.
#[utoipa::path(post, path = "/api/v1/users/{name}/tokens", tag = "tokens",
    params(("name" = String, Path)),
    request_body(content = Option<NewToken>),
    responses((status = 201, body = CreatedToken), ErrorResponses))]
pub async fn create_token(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(user): PathParams<String>,
    OptionalJson(body): OptionalJson<NewToken>,
) -> NativeResult<(StatusCode, Json<CreatedToken>)> {
    let caller = auth.0;
    let limit = match (body.namespace, body.level) {
        (None, None) => None,
        (Some(ns), level) => {
            let ns: NamespaceName = ns.parse().map_err(|e: berth_core::NameError| {
                NativeError::invalid("namespace", e.to_string())
            })?;
            Some((ns, level.map_or(Level::Read, Level::from)))
        }
        (None, Some(_)) => {
            return Err(NativeError::invalid("level", "a level needs a namespace"));
        }
    };
    if body.expires_in_secs == Some(0) {
        return Err(NativeError::invalid(
            "expires_in_secs",
            "expires_in_secs must be positive",
        ));
    }
    own(&caller, &user, "a token")?;
    let name = body.name.unwrap_or_else(|| "api-key".into());
    let created = state
        .services
        .auth
        .create_token(
            &caller,
            &name,
            limit,
            body.expires_in_secs.map(Duration::from_secs),
        )
        .await?;
    let token = Token::from(created.record);
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: token.id,
            name: token.name,
            token: created.secret,
            namespace: token.namespace,
            level: token.level,
            created_at: token.created_at,
            expires_at: token.expires_at,
        }),
    ))
}

/// A user's tokens, without their secrets (the user itself, or administrators).
#[utoipa::path(get, path = "/api/v1/users/{name}/tokens", tag = "tokens",
    params(("name" = String, Path), PageQuery),
    responses((status = 200, body = Listing<Token>), ErrorResponses))]
pub async fn list_tokens(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(user): PathParams<String>,
    Params(q): Params<PageQuery>,
) -> NativeResult<Json<Listing<Token>>> {
    let page = q.page()?;
    let all = credentials(&state, &auth.0, &user, CredentialKind::Token).await?;
    Ok(Json(Listing::slice(all, page, Token::from)))
}

/// Revoke a token: at once, on every replica.
#[utoipa::path(delete, path = "/api/v1/users/{name}/tokens/{id}", tag = "tokens",
    params(("name" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "revoked"), ErrorResponses))]
pub async fn revoke_token(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((user, id)): PathParams<(String, String)>,
) -> NativeResult<StatusCode> {
    revoke(&state, &auth.0, &user, &id, CredentialKind::Token).await
}

/// Create an access key (AK/SK) of the calling user, for SWR clients; needs `[auth]
/// encryption_key`.
#[utoipa::path(post, path = "/api/v1/users/{name}/keys", tag = "keys",
    params(("name" = String, Path)),
    request_body(content = Option<NewAccessKey>),
    responses((status = 201, body = CreatedAccessKey), ErrorResponses))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(user): PathParams<String>,
    OptionalJson(body): OptionalJson<NewAccessKey>,
) -> NativeResult<(StatusCode, Json<CreatedAccessKey>)> {
    let caller = auth.0;
    own(&caller, &user, "an access key")?;
    let name = body.name.unwrap_or_else(|| "access-key".into());
    if name.is_empty() || name.len() > 128 {
        return Err(NativeError::invalid(
            "name",
            "a key name has 1 to 128 characters",
        ));
    }
    let created = state
        .services
        .auth
        .create_access_key(&caller, &name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccessKey {
            access_key: created.record.id,
            secret_key: created.secret,
            name: created.record.name,
            created_at: time(created.record.created_at),
        }),
    ))
}

/// A user's access keys, without their secrets.
#[utoipa::path(get, path = "/api/v1/users/{name}/keys", tag = "keys",
    params(("name" = String, Path), PageQuery),
    responses((status = 200, body = Listing<AccessKey>), ErrorResponses))]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams(user): PathParams<String>,
    Params(q): Params<PageQuery>,
) -> NativeResult<Json<Listing<AccessKey>>> {
    let page = q.page()?;
    let all = credentials(&state, &auth.0, &user, CredentialKind::AccessKey).await?;
    Ok(Json(Listing::slice(all, page, AccessKey::from)))
}

/// Revoke an access key: at once, on every replica.
#[utoipa::path(delete, path = "/api/v1/users/{name}/keys/{access_key}", tag = "keys",
    params(("name" = String, Path), ("access_key" = String, Path)),
    responses((status = 204, description = "revoked"), ErrorResponses))]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: Authenticated<NativeError>,
    PathParams((user, id)): PathParams<(String, String)>,
) -> NativeResult<StatusCode> {
    revoke(&state, &auth.0, &user, &id, CredentialKind::AccessKey).await
}
