//! The authorization seam. Every request is parsed into a [`Scope`] and checked once, before
//! any work; for now the only policy is [`AllowAll`].

use async_trait::async_trait;
use berth_core::RepoName;

/// What a request wants to do to a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    /// The name Docker token scopes use (`repository:<name>:<action>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// What a request touches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `GET /v2/`: only that the caller is someone the registry knows.
    Base,
    /// `GET /v2/_catalog` (Docker's `registry:catalog:*`).
    Catalog,
    Repository(RepoName, Action),
}

/// The caller's identity as established by authentication (none yet: anonymous).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No or bad credentials: answer 401 with a challenge.
    Unauthenticated,
    /// Known caller, not allowed: answer 403.
    Forbidden,
}

#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    async fn authorize(&self, caller: &Caller, scope: &Scope) -> Result<(), Denied>;
}

/// Everyone may do everything.
pub struct AllowAll;

#[async_trait]
impl Authorizer for AllowAll {
    async fn authorize(&self, _caller: &Caller, _scope: &Scope) -> Result<(), Denied> {
        Ok(())
    }
}
