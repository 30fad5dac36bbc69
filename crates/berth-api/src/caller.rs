//! Who is calling: one authentication step for every API family. It turns a request's
//! credentials into a [`Caller`]; each family renders a failure as its own 401 (with its own
//! challenge). Until users and tokens exist every request is anonymous, and the access
//! service's open mode lets anonymous callers do everything.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::response::IntoResponse;
use berth_core::Caller;
use http::HeaderMap;
use http::request::Parts;

use crate::AppState;

/// Why credentials were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Credentials were sent and are wrong, expired or revoked.
    Invalid(&'static str),
}

/// Establishes the caller of a request from its headers.
pub async fn authenticate(_state: &AppState, _headers: &HeaderMap) -> Result<Caller, AuthError> {
    Ok(Caller::Anonymous)
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
        authenticate(state, &parts.headers)
            .await
            .map(|caller| Authenticated(caller, PhantomData))
            .map_err(E::from)
    }
}
