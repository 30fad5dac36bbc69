//! Who may do what: the one policy every surface's requests go through. A request names a
//! [`Scope`] (a resource and the level it needs); the policy weighs the caller against the
//! resource's namespace (members and their levels, visibility), and for a repository also its
//! own members (the larger level wins), and answers allow, or a denial that does not leak
//! what the caller may not see.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_core::{Caller, Identity, Level, Resource, Scope};
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

/// A namespace id and a user name.
type MemberKey = (i64, String);

pub struct AccessService {
    meta: Meta,
    mode: AccessMode,
    /// Whether users who are not administrators may create namespaces.
    users_create_namespaces: bool,
    /// Member levels looked up recently, so that a user's pulls cost no database trip:
    /// (namespace id, user) → level and when it was read. Kept as long as resolved
    /// repositories are; this replica's own member changes clear it at once.
    levels: Mutex<HashMap<MemberKey, (Option<Level>, Instant)>>,
    levels_ttl: Duration,
}

/// A caller's level in a namespace given its membership level there (`member`, read only
/// for users): a token limited to another namespace has none, a robot has its own level in
/// its namespace, and anyone may read a public one.
fn level_of(
    caller: &Caller,
    namespace: &str,
    public: bool,
    member: Option<Level>,
) -> Option<Level> {
    let own = match &caller.identity {
        Identity::Anonymous | Identity::Granted { .. } => None,
        Identity::User { limit, .. } => match limit {
            Some((ns, _)) if ns.as_str() != namespace => None,
            Some((_, max)) => member.map(|l| l.min(*max)),
            None => member,
        },
        Identity::Robot {
            namespace: ns,
            level,
            ..
        } => (ns.as_str() == namespace).then_some(*level),
    };
    own.max(public.then_some(Level::Read))
}

impl AccessService {
    pub fn new(
        meta: Meta,
        mode: AccessMode,
        users_create_namespaces: bool,
        levels_ttl: Duration,
    ) -> AccessService {
        AccessService {
            meta,
            mode,
            users_create_namespaces,
            levels: Mutex::new(HashMap::new()),
            levels_ttl,
        }
    }

    /// A user's member level in a namespace (cached briefly).
    async fn member_level(&self, namespace_id: i64, user: &str) -> Result<Option<Level>> {
        let key = (namespace_id, user.to_owned());
        if !self.levels_ttl.is_zero()
            && let Some((level, at)) = self
                .levels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
            && at.elapsed() < self.levels_ttl
        {
            return Ok(*level);
        }
        let level = self
            .meta
            .repositories
            .member_level(namespace_id, user)
            .await?;
        let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
        if levels.len() > 50_000 {
            levels.clear();
        }
        levels.insert(key, (level, Instant::now()));
        Ok(level)
    }

    /// Forgets cached member levels (after this replica changed members).
    pub fn forget_levels(&self) {
        self.levels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn mode(&self) -> AccessMode {
        self.mode
    }

    /// Whether the caller may do everything.
    /// Whether the policy is enforced (authentication is on).
    pub fn is_enforced(&self) -> bool {
        self.mode == AccessMode::Enforced
    }

    pub fn is_admin(&self, caller: &Caller) -> bool {
        self.mode == AccessMode::Open || caller.is_admin()
    }

    /// Which namespaces and repositories the caller's listings may show.
    pub fn visibility(&self, caller: &Caller) -> Visibility {
        if self.is_admin(caller) {
            return Visibility::All;
        }
        match &caller.identity {
            Identity::Anonymous => Visibility::PublicOr {
                member: None,
                namespace: None,
            },
            Identity::User { name, limit, .. } => Visibility::PublicOr {
                member: limit.is_none().then(|| name.clone()),
                namespace: limit.as_ref().map(|(ns, _)| ns.to_string()),
            },
            Identity::Robot { namespace, .. } => Visibility::PublicOr {
                member: None,
                namespace: Some(namespace.to_string()),
            },
            Identity::Granted { subject, .. } => Visibility::PublicOr {
                member: subject.clone(),
                namespace: None,
            },
        }
    }

    /// The caller's own level in a namespace (membership, a robot's namespace, capped by a
    /// token's limit), raised to read when the namespace is public.
    async fn level_in(
        &self,
        caller: &Caller,
        namespace_id: i64,
        namespace: &str,
        public: bool,
    ) -> Result<Option<Level>> {
        let member = match &caller.identity {
            Identity::User { name, limit, .. }
                if limit
                    .as_ref()
                    .is_none_or(|(ns, _)| ns.as_str() == namespace) =>
            {
                self.member_level(namespace_id, name).await?
            }
            _ => None,
        };
        Ok(level_of(caller, namespace, public, member))
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
        self.level_in(caller, namespace.id, &namespace.name, namespace.is_public)
            .await
    }

    /// [`AccessService::namespace_level`] of each namespace, with one query at most (the
    /// caller's memberships), for listings.
    pub async fn namespace_levels(
        &self,
        caller: &Caller,
        namespaces: &[NamespaceRow],
    ) -> Result<Vec<Option<Level>>> {
        if self.is_admin(caller) {
            return Ok(vec![Some(Level::Manage); namespaces.len()]);
        }
        let members: HashMap<i64, Level> = match &caller.identity {
            Identity::User { name, .. } if !namespaces.is_empty() => self
                .meta
                .repositories
                .member_levels(name)
                .await?
                .into_iter()
                .collect(),
            _ => HashMap::new(),
        };
        Ok(namespaces
            .iter()
            .map(|ns| level_of(caller, &ns.name, ns.is_public, members.get(&ns.id).copied()))
            .collect())
    }

    /// The caller's level on a repository: the larger of its level in the namespace and
    /// its own membership of the repository (capped by a token's limit), raised to read when
    /// the repository is public. `None` when the caller may not even read it.
    pub async fn repository_level(
        &self,
        caller: &Caller,
        repo: &RepositoryRow,
    ) -> Result<Option<Level>> {
        if self.is_admin(caller) {
            return Ok(Some(Level::Manage));
        }
        let in_namespace = self
            .level_in(
                caller,
                repo.namespace_id,
                &repo.namespace,
                repo.effective_public(),
            )
            .await?;
        if in_namespace == Some(Level::Manage) {
            return Ok(in_namespace);
        }
        let own = match &caller.identity {
            Identity::User { name, limit, .. } => match limit {
                Some((ns, _)) if ns.as_str() != repo.namespace => None,
                _ => {
                    let level = self
                        .meta
                        .repositories
                        .repository_member_level(repo.id, name)
                        .await?;
                    match limit {
                        Some((_, max)) => level.map(|l| l.min(*max)),
                        None => level,
                    }
                }
            },
            Identity::Anonymous | Identity::Robot { .. } | Identity::Granted { .. } => None,
        };
        Ok(in_namespace.max(own))
    }

    /// Decides `scope` for `caller`. A caller that may not read the resource gets "not
    /// found" (or, anonymous, "authentication required"); one that may read it but not do
    /// more gets "forbidden". The bearer of a registry token may do exactly what it grants
    /// (anything else is forbidden, "insufficient_scope": the client asks for a new token).
    pub async fn check(&self, caller: &Caller, scope: &Scope, target: Target<'_>) -> Result<()> {
        if self.is_admin(caller) {
            return Ok(());
        }
        if let Identity::Granted { grants, subject } = &caller.identity {
            let covered = match (&scope.resource, target) {
                // Creating the namespace of a first push: what the token's push grant was
                // decided for when it was issued.
                (Resource::Namespace(ns), Target::Namespace(None)) => grants.iter().any(|g| {
                    g.repository
                        .as_ref()
                        .is_some_and(|r| r.namespace() == ns.as_str())
                        && g.actions.contains(&berth_core::Action::Push)
                }),
                _ => grants
                    .iter()
                    .any(|g| g.covers(&scope.resource, scope.level)),
            };
            if covered {
                return Ok(());
            }
            // A registry token without the scope: an anonymous one needs a login; a user's
            // should be renewed with the scope (the challenge of the answer names it).
            if subject.is_none() {
                return Err(ServiceError::Unauthenticated);
            }
            return Err(ServiceError::Forbidden(
                "insufficient_scope: the token does not grant this".into(),
            ));
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
            (Resource::Repository(_), Target::Repository(Some(repo), _)) => {
                let level = self.repository_level(caller, repo).await?;
                (level.is_some(), level)
            }
            // Creating a namespace (it does not exist yet): users may, when configured.
            (Resource::Namespace(_), Target::Namespace(None))
            | (Resource::Repository(_), Target::Repository(None, None)) => {
                let user = matches!(caller.identity, Identity::User { limit: None, .. });
                (
                    true,
                    (self.users_create_namespaces && user).then_some(Level::Manage),
                )
            }
            (Resource::Remote(None), _) => (true, None),
            _ => (false, None),
        };
        if level.is_some_and(|l| l >= scope.level) {
            return Ok(());
        }
        Err(self.denial(caller, scope, readable))
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
