//! `POST /api/v1/users/{name}/tokens`: a personal access token for the calling user (which
//! is also a Docker Cloud API key), shown once. A minimal route for the Docker Cloud clients'
//! tests and operators until the native API (which will take it over) exists.
//!
//! Body (all optional): `{"name": "ci", "expires_in_secs": 86400, "namespace": "team",
//! "level": "read|write|manage"}`. Answer 201: `{"id", "name", "token", "created_at",
//! "expires_at", "namespace", "level"}`. Errors: `{"error": "..."}`.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use berth_core::{Level, NamespaceName};
use berth_service::ServiceError;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::caller::AuthError;
use crate::{AppState, Authenticated};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/users/{name}/tokens", post(create_token))
}

pub struct TokenError(StatusCode, String);

impl From<AuthError> for TokenError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Invalid(_) => StatusCode::UNAUTHORIZED,
            AuthError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        TokenError(status, e.message().to_owned())
    }
}

impl From<ServiceError> for TokenError {
    fn from(e: ServiceError) -> Self {
        e.log_internal("native_tokens");
        let status = match &e {
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ServiceError::AlreadyExists(_) | ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServiceError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ServiceError::Internal(_) => {
                return TokenError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into());
            }
            _ => StatusCode::BAD_REQUEST,
        };
        TokenError(status, e.to_string())
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let mut response = (self.0, axum::Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: Option<String>,
    expires_in_secs: Option<u64>,
    namespace: Option<String>,
    level: Option<String>,
}

async fn create_token(
    State(state): State<AppState>,
    auth: Authenticated<TokenError>,
    Path(user): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, TokenError> {
    let caller = auth.0;
    let bad = |m: String| TokenError(StatusCode::BAD_REQUEST, m);
    let spec: NewToken = if body.iter().all(u8::is_ascii_whitespace) {
        NewToken::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid body: {e}")))?
    };
    if caller.is_anonymous() {
        return Err(ServiceError::Unauthenticated.into());
    }
    if caller.name() != Some(user.as_str()) {
        return Err(TokenError(
            StatusCode::FORBIDDEN,
            "a token is created by its own user".into(),
        ));
    }
    let limit = match (spec.namespace, spec.level) {
        (None, None) => None,
        (Some(ns), level) => {
            let ns: NamespaceName = ns.parse().map_err(|e| bad(format!("{e}")))?;
            let level = match level {
                Some(l) => Level::parse(&l).ok_or_else(|| bad(format!("unknown level {l:?}")))?,
                None => Level::Read,
            };
            Some((ns, level))
        }
        (None, Some(_)) => return Err(bad("a level needs a namespace".into())),
    };
    let name = spec.name.unwrap_or_else(|| "api-key".into());
    let created = state
        .services
        .auth
        .create_token(
            &caller,
            &name,
            limit,
            spec.expires_in_secs.map(Duration::from_secs),
        )
        .await?;
    let record = created.record;
    let body = json!({
        "id": record.id,
        "name": record.name,
        "token": created.secret,
        "created_at": berth_core::time::rfc3339(record.created_at),
        "expires_at": record.expires_at.map(berth_core::time::rfc3339),
        "namespace": record.limit.as_ref().map(|(ns, _)| ns.clone()),
        "level": record.limit.as_ref().map(|(_, l)| l.as_str()),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}
