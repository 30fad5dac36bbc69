//! Who may do what: the one policy every surface's requests go through. A request names a
//! [`Scope`] (a resource and the level it needs); the policy weighs the caller against the
//! resource's namespace (members and their levels, visibility) and answers allow, or a denial
//! that does not leak what the caller may not see.

use berth_core::{Caller, Level, Resource, Scope};
use berth_meta::{Meta, NamespaceRow, RepositoryRow, Visibility};

use crate::{Entity, Result, ServiceError};

/// How requests are decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessMode {
    /// Everyone may do everything: every caller counts as an administrator. The default
    /// until authentication is configured.
    #[default]
    Open,
    /// Namespace members, levels and visibility decide.
    Enforced,
}

/// What the policy knows about the resource a scope names, as resolved for this request.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// The resource needs no lookup (the registry, administration).
    None,
    /// A namespace, or `None` when it does not exist.
    Namespace(Option<&'a NamespaceRow>),
    /// A repository, or `None` when it does not exist, in a namespace that may not either.
    Repository(Option<&'a RepositoryRow>, Option<&'a NamespaceRow>),
}

pub struct AccessService {
    meta: Meta,
    mode: AccessMode,
    /// Whether users who are not administrators may create namespaces.
    users_create_namespaces: bool,
}

impl AccessService {
    pub fn new(meta: Meta, mode: AccessMode, users_create_namespaces: bool) -> AccessService {
        AccessService {
            meta,
            mode,
            users_create_namespaces,
        }
    }

    pub fn mode(&self) -> AccessMode {
        self.mode
    }

    /// Whether the caller may do everything.
    pub fn is_admin(&self, caller: &Caller) -> bool {
        self.mode == AccessMode::Open || caller.is_admin()
    }

    /// Which namespaces and repositories the caller's listings may show.
    pub fn visibility(&self, caller: &Caller) -> Visibility {
        if self.is_admin(caller) {
            Visibility::All
        } else {
            Visibility::PublicOr {
                member: caller.name().map(str::to_owned),
            }
        }
    }

    /// The caller's level in a namespace: what SWR calls `auth`. `None` when the caller may
    /// not even read it.
    pub async fn namespace_level(
        &self,
        caller: &Caller,
        namespace: &NamespaceRow,
    ) -> Result<Option<Level>> {
        if self.is_admin(caller) {
            return Ok(Some(Level::Manage));
        }
        let member = match caller.name() {
            Some(user) => {
                self.meta
                    .repositories
                    .member_level(namespace.id, user)
                    .await?
            }
            None => None,
        };
        let level = match (member, namespace.is_public) {
            (Some(level), _) => Some(level),
            (None, true) => Some(Level::Read),
            (None, false) => None,
        };
        Ok(cap(caller, &namespace.name, level))
    }

    /// Decides `scope` for `caller`. A caller that may not read the resource gets "not
    /// found" (or, anonymous, "authentication required"); one that may read it but not do
    /// more gets "forbidden".
    pub async fn check(&self, caller: &Caller, scope: &Scope, target: Target<'_>) -> Result<()> {
        if self.is_admin(caller) {
            return Ok(());
        }
        let (readable, level) = match (&scope.resource, target) {
            (Resource::Registry, _) => (true, Some(Level::Read)),
            (Resource::Admin, _) => (true, None),
            (Resource::Namespace(_), Target::Namespace(Some(ns)))
            | (Resource::Repository(_), Target::Repository(None, Some(ns)))
            | (Resource::Remote(Some(_)), Target::Namespace(Some(ns))) => {
                let level = self.namespace_level(caller, ns).await?;
                (level.is_some(), level)
            }
            (Resource::Repository(_), Target::Repository(Some(repo), ns)) => {
                let mut level = match ns {
                    Some(ns) => self.namespace_level(caller, ns).await?,
                    None => self.level_in(caller, repo).await?,
                };
                if repo.effective_public() {
                    level = level.max(Some(Level::Read));
                }
                (level.is_some(), level)
            }
            // Creating a namespace (it does not exist yet).
            (Resource::Namespace(_), Target::Namespace(None))
            | (Resource::Repository(_), Target::Repository(None, None)) => {
                let allowed = self.users_create_namespaces && !caller.is_anonymous();
                (true, allowed.then_some(Level::Manage))
            }
            (Resource::Remote(None), _) => (true, None),
            _ => (false, None),
        };
        if level.is_some_and(|l| l >= scope.level) {
            return Ok(());
        }
        Err(self.denial(caller, scope, readable))
    }

    async fn level_in(&self, caller: &Caller, repo: &RepositoryRow) -> Result<Option<Level>> {
        let Some(user) = caller.name() else {
            return Ok(None);
        };
        let level = self
            .meta
            .repositories
            .member_level(repo.namespace_id, user)
            .await?;
        Ok(cap(caller, &repo.namespace, level))
    }

    fn denial(&self, caller: &Caller, scope: &Scope, readable: bool) -> ServiceError {
        if caller.is_anonymous() {
            return ServiceError::Unauthenticated;
        }
        if !readable {
            return ServiceError::NotFound(match &scope.resource {
                Resource::Repository(name) => Entity::Repository(name.to_string()),
                Resource::Namespace(ns) => Entity::Namespace(ns.to_string()),
                other => {
                    Entity::Namespace(other.namespace().map(|n| n.to_string()).unwrap_or_default())
                }
            });
        }
        ServiceError::Forbidden(format!(
            "requested access to the resource is denied: {} access needed",
            scope.level
        ))
    }
}

/// A token limited to one namespace and level caps what its user may do there, and gives
/// nothing elsewhere.
fn cap(caller: &Caller, namespace: &str, level: Option<Level>) -> Option<Level> {
    match caller {
        Caller::User {
            limit: Some((ns, max)),
            ..
        } => {
            if ns.as_str() == namespace {
                level.map(|l| l.min(*max))
            } else {
                None
            }
        }
        _ => level,
    }
}
