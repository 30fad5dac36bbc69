//! Who is calling: one authentication step for every API family. It turns a request's
//! credentials (HTTP Basic with a password, token or SWR login; a Bearer registry token or
//! personal access token) into a [`Caller`]; each family renders a failure as its own 401
//! (with its own challenge). With authentication off, credentials are not looked at and the
//! access policy lets everyone do everything.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::IntoResponse;
use berth_core::Caller;
use berth_service::ServiceError;
use berth_service::auth::parse_basic;
use http::header;
use http::request::Parts;

use crate::AppState;

/// Why credentials were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Credentials were sent and are wrong, expired or revoked (or unreadable).
    Invalid(&'static str),
    /// Too many failed logins from this user or address: try again later.
    TooManyAttempts,
    /// berth could not check them (the database is down): the cause is logged.
    Unavailable,
}

impl AuthError {
    pub fn message(&self) -> &'static str {
        match self {
            AuthError::Invalid(why) => why,
            AuthError::TooManyAttempts => "too many failed logins: try again in a minute",
            AuthError::Unavailable => "authentication is unavailable",
        }
    }
}

impl From<ServiceError> for AuthError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Busy(_) => AuthError::TooManyAttempts,
            ServiceError::Unauthenticated => AuthError::Invalid("invalid credentials"),
            other => {
                other.log_internal("authentication");
                AuthError::Unavailable
            }
        }
    }
}

/// The client's address: the connection's peer, or with `trust_forwarded` the first
/// address of `X-Forwarded-For` (set it only behind a proxy that writes that header).
pub fn source_of(state: &AppState, parts: &Parts) -> Option<IpAddr> {
    if state.config.trust_forwarded
        && let Some(forwarded) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(forwarded);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Establishes the caller of a request from its `Authorization` header.
pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<Caller, AuthError> {
    let source = source_of(state, parts);
    let auth = &state.services.auth;
    let value = match parts.headers.get(header::AUTHORIZATION) {
        Some(value) if auth.enabled() => value,
        _ => return Ok(Caller::anonymous().with_source(source)),
    };
    let value = value
        .to_str()
        .map_err(|_| AuthError::Invalid("unreadable Authorization header"))?;
    let identity = if let Some((user, password)) = parse_basic(value) {
        auth.basic(&user, &password, source).await?
    } else if let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    {
        auth.bearer(token.trim(), source).await?
    } else {
        return Err(AuthError::Invalid("unsupported Authorization scheme"));
    };
    Ok(Caller::new(identity).with_source(source))
}

/// The authenticated caller, as an extractor for the routed API families. `E` is the
/// family's error type, which renders the refusal in the family's own shape (and challenge).
pub struct Authenticated<E>(pub Caller, PhantomData<fn() -> E>);

impl<E> FromRequestParts<AppState> for Authenticated<E>
where
    E: From<AuthError> + IntoResponse,
{
    type Rejection = E;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, E> {
        authenticate(state, parts)
            .await
            .map(|caller| Authenticated(caller, PhantomData))
            .map_err(E::from)
    }
}
