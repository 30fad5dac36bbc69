//! The Docker token endpoint (`/auth/token`): clients that got a 401 with a `Bearer`
//! challenge ask here, with HTTP Basic credentials or none (anonymous pull), for a registry
//! token holding the scopes they may have. `GET` as the Docker token spec has it, and `POST`
//! with the OAuth2 password grant that containerd and docker try first.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_service::RegistryToken;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;

use crate::AppState;
use crate::caller::{AuthError, authenticate};

pub fn router() -> Router<AppState> {
    Router::new().route("/auth/token", get(get_token).post(post_token))
}

/// A refusal in the registry's error shape, with a Basic challenge so clients ask for a
/// user and password.
pub struct TokenError {
    status: StatusCode,
    message: String,
}

impl From<AuthError> for TokenError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Invalid(_) => StatusCode::UNAUTHORIZED,
            AuthError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        TokenError {
            status,
            message: e.message().to_owned(),
        }
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let code = match self.status {
            StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
            StatusCode::TOO_MANY_REQUESTS => "TOOMANYREQUESTS",
            StatusCode::BAD_REQUEST => "UNSUPPORTED",
            _ => "UNAVAILABLE",
        };
        let body = json!({"errors": [{"code": code, "message": self.message, "detail": null}]});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"berth\""),
            );
        }
        response
    }
}

#[derive(Serialize)]
struct TokenBody {
    token: String,
    access_token: String,
    expires_in: u64,
    issued_at: String,
}

fn render(t: RegistryToken) -> Response {
    let mut response = axum::Json(TokenBody {
        access_token: t.token.clone(),
        token: t.token,
        expires_in: t.expires_in,
        issued_at: berth_core::time::rfc3339_secs(t.issued_at * 1000),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Every `scope` parameter of the query (there may be several).
fn scopes(query: Option<&str>) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .collect()
}

async fn get_token(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, TokenError> {
    let (parts, _) = request.into_parts();
    let caller = authenticate(&state, &parts).await?;
    let credential = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(berth_service::auth::credential_of_authorization);
    let token = state
        .services
        .auth
        .issue_registry_token(&caller, credential.as_deref(), &scopes(parts.uri.query()))
        .await
        .map_err(|e| TokenError::from(AuthError::from(e)))?;
    Ok(render(token))
}

/// The fields of an OAuth2 token request (`application/x-www-form-urlencoded`).
#[derive(Default)]
struct PasswordGrant {
    grant_type: String,
    username: String,
    password: String,
    scope: String,
}

impl PasswordGrant {
    fn parse(body: &[u8]) -> PasswordGrant {
        let mut grant = PasswordGrant::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match &*k {
                "grant_type" => grant.grant_type = v,
                "username" => grant.username = v,
                "password" => grant.password = v,
                "scope" => grant.scope = v,
                _ => {}
            }
        }
        grant
    }
}

async fn post_token(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, TokenError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| TokenError {
            status: StatusCode::BAD_REQUEST,
            message: "the token request body is unreadable or larger than 64 KiB".into(),
        })?;
    let form = PasswordGrant::parse(&body);
    if form.grant_type != "password" {
        return Err(TokenError {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "grant_type {:?} is not supported; use password",
                form.grant_type
            ),
        });
    }
    let auth = &state.services.auth;
    let source = crate::caller::source_of(&state, &parts);
    let caller = if auth.enabled() {
        let identity = auth
            .basic(&form.username, &form.password, source)
            .await
            .map_err(|e| TokenError::from(AuthError::from(e)))?;
        berth_core::Caller::new(identity).with_source(source)
    } else {
        berth_core::Caller::anonymous().with_source(source)
    };
    let credential = berth_service::auth::credential_of(&form.username, &form.password);
    let scopes: Vec<String> = form.scope.split(' ').map(str::to_owned).collect();
    let token = auth
        .issue_registry_token(&caller, credential.as_deref(), &scopes)
        .await
        .map_err(|e| TokenError::from(AuthError::from(e)))?;
    Ok(render(token))
}
