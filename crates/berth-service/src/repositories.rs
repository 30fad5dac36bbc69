//! Namespaces and repositories as entities: the one resolution step every request that
//! names a repository goes through (with the access decision), create-on-push as a policy,
//! and the management use cases every API family shares.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use berth_core::{Action, Caller, Level, NamespaceName, RepoName, Resource, Scope};
use berth_meta::{
    Listed, MemberRow, Meta, NamespaceQuery, NamespaceRow, NamespaceUpdate, NewNamespace,
    NewRepository, RepositoryQuery, RepositoryRow, RepositoryUpdate,
};

use crate::access::{AccessService, Target};
use crate::audit::{AuditService, Outcome};
use crate::remotes::RemoteService;
use crate::{Entity, Field, Result, ServiceError};

/// Namespace names no one may create: they would collide with API families that share a
/// path prefix with the OCI routes (`/v2/manage/…` of SWR, `/api/repo/v1/repository/…` of
/// Docker Cloud).
pub const RESERVED_NAMESPACES: [&str; 2] = ["manage", "repository"];

/// How namespaces come to be.
#[derive(Clone, Debug)]
pub struct NamespacePolicy {
    /// A push into a namespace that does not exist creates it (else it is refused).
    pub create_on_push: bool,
    /// Whether namespaces created on push are public.
    pub public_on_push: bool,
    /// How long a resolved repository is reused before it is looked up again. Other
    /// replicas see a change of visibility or a deletion after at most this long; this
    /// replica sees its own changes at once. Zero looks up every time.
    pub resolve_ttl: Duration,
}

impl Default for NamespacePolicy {
    fn default() -> Self {
        NamespacePolicy {
            create_on_push: true,
            public_on_push: false,
            resolve_ttl: Duration::from_secs(1),
        }
    }
}

/// A namespace as a caller sees it: with the caller's level in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceView {
    pub namespace: NamespaceRow,
    pub level: Level,
}

/// What a caller asks a new namespace to be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceSpec {
    pub name: String,
    pub description: String,
    pub is_public: bool,
}

/// What a caller asks a new repository to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositorySpec {
    pub name: RepoName,
    pub category: String,
    pub description: String,
    pub is_public: Option<bool>,
}

/// Resolved repositories, kept for a short while: resolution is on every registry request.
struct ResolveCache {
    ttl: Duration,
    entries: RwLock<HashMap<RepoName, (Instant, Arc<RepositoryRow>)>>,
}

impl ResolveCache {
    /// More entries than this and the cache starts over (a bound, not an LRU).
    const MAX_ENTRIES: usize = 50_000;

    fn get(&self, name: &RepoName) -> Option<Arc<RepositoryRow>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(name) {
            Some((at, row)) if at.elapsed() < self.ttl => Some(row.clone()),
            _ => None,
        }
    }

    fn put(&self, row: Arc<RepositoryRow>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(row.name.clone(), (Instant::now(), row));
    }

    fn forget(&self, name: &RepoName) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(name);
    }

    fn forget_namespace(&self, namespace: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|name, _| name.namespace() != namespace);
    }
}

pub struct RepositoryService {
    meta: Meta,
    access: Arc<AccessService>,
    audit: Arc<AuditService>,
    remotes: Arc<RemoteService>,
    policy: NamespacePolicy,
    cache: ResolveCache,
}

/// A valid namespace name that is not reserved.
pub fn namespace_name(name: &str) -> Result<NamespaceName> {
    let parsed: NamespaceName = name.parse().map_err(|e: berth_core::NameError| {
        ServiceError::invalid(Field::Namespace, e.to_string())
    })?;
    if RESERVED_NAMESPACES.contains(&parsed.as_str()) {
        return Err(ServiceError::invalid(
            Field::Namespace,
            format!("namespace name {name:?} is reserved"),
        ));
    }
    Ok(parsed)
}

/// A member's user name: 1 to 128 printable characters (members may name users that do
/// not exist yet).
fn valid_member_name(username: &str) -> Result<()> {
    if username.is_empty() || username.len() > 128 || username.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            Field::param("username"),
            "a user name is 1 to 128 printable characters",
        ));
    }
    Ok(())
}

impl RepositoryService {
    pub fn new(
        meta: Meta,
        access: Arc<AccessService>,
        audit: Arc<AuditService>,
        remotes: Arc<RemoteService>,
        policy: NamespacePolicy,
    ) -> Self {
        RepositoryService {
            audit,
            remotes,
            cache: ResolveCache {
                ttl: policy.resolve_ttl,
                entries: RwLock::new(HashMap::new()),
            },
            meta,
            access,
            policy,
        }
    }

    pub fn access(&self) -> &AccessService {
        &self.access
    }

    async fn lookup(&self, name: &RepoName) -> Result<Option<Arc<RepositoryRow>>> {
        if let Some(row) = self.cache.get(name) {
            return Ok(Some(row));
        }
        let found = self.meta.repositories.get_repository(name).await?;
        Ok(found.map(|row| {
            let row = Arc::new(row);
            self.cache.put(row.clone());
            row
        }))
    }

    /// [`RepositoryService::open`], with a missing repository as "not found".
    pub async fn open_existing(
        &self,
        caller: &Caller,
        name: &RepoName,
        action: Action,
    ) -> Result<Arc<RepositoryRow>> {
        self.open(caller, name, action)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Repository(name.to_string())))
    }

    /// Resolves the repository a registry request names and decides whether the caller may
    /// do `action` to it. `None`: it does not exist (and the caller may know that).
    pub async fn open(
        &self,
        caller: &Caller,
        name: &RepoName,
        action: Action,
    ) -> Result<Option<Arc<RepositoryRow>>> {
        let mut repo = self.lookup(name).await?;
        if repo.is_none() && action == Action::Pull {
            repo = self.open_proxied(name).await?;
        }
        if !self.access.is_admin(caller) {
            let namespace = match repo {
                Some(_) => None,
                None => {
                    self.meta
                        .repositories
                        .get_namespace(name.namespace())
                        .await?
                }
            };
            let scope = Scope::repository(name.clone(), action);
            let target = Target::Repository(repo.as_deref(), namespace.as_ref());
            self.access.check(caller, &scope, target).await?;
        }
        Ok(repo)
    }

    /// Resolves the repository a push goes to, creating it (and its namespace) as the
    /// policy allows.
    pub async fn open_for_push(
        &self,
        caller: &Caller,
        name: &RepoName,
    ) -> Result<Arc<RepositoryRow>> {
        let scope = Scope::repository(name.clone(), Action::Push);
        let refused = |upstream: &str| {
            ServiceError::Forbidden(format!(
                "{name} is a pull-through cache of {upstream}: pushes into it are refused"
            ))
        };
        if let Some(repo) = self.lookup(name).await? {
            if repo.kind == berth_meta::RepoKind::Proxy {
                return Err(refused("an upstream registry"));
            }
            self.access
                .check(caller, &scope, Target::Repository(Some(&repo), None))
                .await?;
            return Ok(repo);
        }
        if let Some(proxy) = self.remotes.proxy_for(name).await? {
            return Err(refused(&proxy.upstream_url));
        }
        let ns = namespace_name(name.namespace())?;
        let new = NewRepository::hosted(name.clone(), caller.display_name());
        let row = match self.meta.repositories.get_namespace(ns.as_str()).await? {
            Some(namespace) => {
                self.access
                    .check(caller, &scope, Target::Repository(None, Some(&namespace)))
                    .await?;
                self.meta.repositories.ensure_repository(&new, None).await?
            }
            None if !self.policy.create_on_push => {
                return Err(ServiceError::NotFound(Entity::Namespace(ns.to_string())));
            }
            None => {
                let create = Scope::new(Resource::Namespace(ns.clone()), Level::Manage);
                self.access
                    .check(caller, &create, Target::Namespace(None))
                    .await?;
                let namespace = NewNamespace {
                    name: ns.to_string(),
                    description: String::new(),
                    is_public: self.policy.public_on_push,
                    creator: caller.display_name().to_owned(),
                };
                let row = self
                    .meta
                    .repositories
                    .ensure_repository(&new, Some(&namespace))
                    .await?;
                self.make_creator_manager(caller, row.namespace_id).await?;
                self.audit.record(
                    caller,
                    None,
                    "namespace.create",
                    ns.as_str(),
                    Outcome::Ok,
                    "on push",
                );
                row
            }
        };
        let row = Arc::new(row);
        self.cache.put(row.clone());
        Ok(row)
    }

    /// The repository of a pull-through cache, created on its first pull (with its
    /// namespace, private, when that is missing); `None` when no proxy serves the name.
    async fn open_proxied(&self, name: &RepoName) -> Result<Option<Arc<RepositoryRow>>> {
        let Some(proxy) = self.remotes.proxy_for(name).await? else {
            return Ok(None);
        };
        let namespace = NewNamespace {
            name: name.namespace().to_owned(),
            description: format!("pull-through cache of {}", proxy.upstream_url),
            is_public: false,
            creator: proxy.creator.clone(),
        };
        let new = NewRepository {
            kind: berth_meta::RepoKind::Proxy,
            description: format!("cache of {}", proxy.upstream_url),
            ..NewRepository::hosted(name.clone(), proxy.creator.clone())
        };
        let row = Arc::new(
            self.meta
                .repositories
                .ensure_repository(&new, Some(&namespace))
                .await?,
        );
        self.cache.put(row.clone());
        Ok(Some(row))
    }

    async fn make_creator_manager(&self, caller: &Caller, namespace_id: i64) -> Result<()> {
        if let Some(user) = caller.name() {
            self.meta
                .repositories
                .put_member(namespace_id, user, Level::Manage)
                .await?;
            self.access.forget_levels();
        }
        Ok(())
    }

    /// Forgets a resolved repository (after this replica changed or deleted it).
    pub fn forget(&self, name: &RepoName) {
        self.cache.forget(name);
    }

    // ---- namespaces ----

    async fn namespace_row(&self, name: &str) -> Result<NamespaceRow> {
        self.meta
            .repositories
            .get_namespace(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Namespace(name.to_owned())))
    }

    /// The namespace and the caller's level in it, if the caller has at least `level`.
    async fn namespace_for(
        &self,
        caller: &Caller,
        name: &str,
        level: Level,
    ) -> Result<NamespaceView> {
        let namespace = self.meta.repositories.get_namespace(name).await?;
        let ns: NamespaceName = name
            .parse()
            .map_err(|_| ServiceError::NotFound(Entity::Namespace(name.to_owned())))?;
        let scope = Scope::new(Resource::Namespace(ns), level);
        self.access
            .check(caller, &scope, Target::Namespace(namespace.as_ref()))
            .await?;
        let namespace =
            namespace.ok_or_else(|| ServiceError::NotFound(Entity::Namespace(name.to_owned())))?;
        let level = self
            .access
            .namespace_level(caller, &namespace)
            .await?
            .unwrap_or(Level::Read);
        Ok(NamespaceView { namespace, level })
    }

    pub async fn create_namespace(
        &self,
        caller: &Caller,
        spec: &NamespaceSpec,
    ) -> Result<NamespaceRow> {
        let name = namespace_name(&spec.name)?;
        let scope = Scope::new(Resource::Namespace(name.clone()), Level::Manage);
        let existing = self.meta.repositories.get_namespace(name.as_str()).await?;
        if existing.is_some() {
            return Err(ServiceError::AlreadyExists(Entity::Namespace(
                name.to_string(),
            )));
        }
        self.access
            .check(caller, &scope, Target::Namespace(None))
            .await?;
        let row = self
            .meta
            .repositories
            .create_namespace(&NewNamespace {
                name: name.to_string(),
                description: spec.description.clone(),
                is_public: spec.is_public,
                creator: caller.display_name().to_owned(),
            })
            .await?;
        self.make_creator_manager(caller, row.id).await?;
        self.audit.record(
            caller,
            None,
            "namespace.create",
            name.as_str(),
            Outcome::Ok,
            "",
        );
        Ok(row)
    }

    pub async fn get_namespace(&self, caller: &Caller, name: &str) -> Result<NamespaceView> {
        self.namespace_for(caller, name, Level::Read).await
    }

    /// Namespaces the caller may see, each with the caller's level.
    pub async fn list_namespaces(
        &self,
        caller: &Caller,
        mut query: NamespaceQuery,
    ) -> Result<Listed<NamespaceView>> {
        query.visibility = self.access.visibility(caller);
        let listed = self.meta.repositories.list_namespaces(&query).await?;
        let levels = self.access.namespace_levels(caller, &listed.items).await?;
        let items = listed
            .items
            .into_iter()
            .zip(levels)
            .map(|(namespace, level)| NamespaceView {
                namespace,
                level: level.unwrap_or(Level::Read),
            })
            .collect();
        Ok(Listed {
            items,
            total: listed.total,
        })
    }

    pub async fn update_namespace(
        &self,
        caller: &Caller,
        name: &str,
        update: &NamespaceUpdate,
    ) -> Result<NamespaceRow> {
        self.namespace_for(caller, name, Level::Manage).await?;
        let row = self
            .meta
            .repositories
            .update_namespace(name, update)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Namespace(name.to_owned())))?;
        self.cache.forget_namespace(name);
        self.audit
            .record(caller, None, "namespace.update", name, Outcome::Ok, "");
        Ok(row)
    }

    /// Deletes a namespace: refused while it holds repositories unless `force`.
    pub async fn delete_namespace(&self, caller: &Caller, name: &str, force: bool) -> Result<()> {
        self.namespace_for(caller, name, Level::Manage).await?;
        let deleted = self.meta.repositories.delete_namespace(name, force).await?;
        self.cache.forget_namespace(name);
        if !deleted {
            return Err(ServiceError::NotFound(Entity::Namespace(name.to_owned())));
        }
        let detail = if force { "force" } else { "" };
        self.audit
            .record(caller, None, "namespace.delete", name, Outcome::Ok, detail);
        Ok(())
    }

    pub async fn list_members(&self, caller: &Caller, namespace: &str) -> Result<Vec<MemberRow>> {
        let view = self.namespace_for(caller, namespace, Level::Read).await?;
        Ok(self
            .meta
            .repositories
            .list_members(view.namespace.id)
            .await?)
    }

    pub async fn put_member(
        &self,
        caller: &Caller,
        namespace: &str,
        username: &str,
        level: Level,
    ) -> Result<()> {
        valid_member_name(username)?;
        let view = self.namespace_for(caller, namespace, Level::Manage).await?;
        self.meta
            .repositories
            .put_member(view.namespace.id, username, level)
            .await?;
        self.access.forget_levels();
        let resource = format!("{namespace}:{username}");
        self.audit.record(
            caller,
            None,
            "member.put",
            &resource,
            Outcome::Ok,
            level.as_str(),
        );
        Ok(())
    }

    pub async fn delete_member(
        &self,
        caller: &Caller,
        namespace: &str,
        username: &str,
    ) -> Result<()> {
        let view = self.namespace_for(caller, namespace, Level::Manage).await?;
        if !self
            .meta
            .repositories
            .delete_member(view.namespace.id, username)
            .await?
        {
            return Err(ServiceError::NotFound(Entity::Member(username.to_owned())));
        }
        self.access.forget_levels();
        let resource = format!("{namespace}:{username}");
        self.audit
            .record(caller, None, "member.delete", &resource, Outcome::Ok, "");
        Ok(())
    }

    // ---- repositories ----

    /// A repository by name, fresh from the database (counters included), if the caller
    /// may read it.
    pub async fn get_repository(&self, caller: &Caller, name: &RepoName) -> Result<RepositoryRow> {
        let row = self.meta.repositories.get_repository(name).await?;
        if !self.access.is_admin(caller) {
            let namespace = match row {
                Some(_) => None,
                None => {
                    self.meta
                        .repositories
                        .get_namespace(name.namespace())
                        .await?
                }
            };
            let scope = Scope::repository(name.clone(), Action::Pull);
            self.access
                .check(
                    caller,
                    &scope,
                    Target::Repository(row.as_ref(), namespace.as_ref()),
                )
                .await?;
        }
        row.ok_or_else(|| ServiceError::NotFound(Entity::Repository(name.to_string())))
    }

    /// The repository for a change needing `level`.
    async fn repository_for(
        &self,
        caller: &Caller,
        name: &RepoName,
        level: Level,
    ) -> Result<RepositoryRow> {
        let row = self.get_repository(caller, name).await?;
        let scope = Scope::new(Resource::Repository(name.clone()), level);
        self.access
            .check(caller, &scope, Target::Repository(Some(&row), None))
            .await?;
        Ok(row)
    }

    pub async fn create_repository(
        &self,
        caller: &Caller,
        spec: &RepositorySpec,
    ) -> Result<RepositoryRow> {
        let namespace = self
            .namespace_row(spec.name.namespace())
            .await
            .map_err(|e| {
                // A namespace the caller cannot see is as missing as one that is.
                match e {
                    ServiceError::NotFound(_) => {
                        ServiceError::NotFound(Entity::Namespace(spec.name.namespace().to_owned()))
                    }
                    e => e,
                }
            })?;
        let scope = Scope::repository(spec.name.clone(), Action::Push);
        self.access
            .check(caller, &scope, Target::Repository(None, Some(&namespace)))
            .await?;
        let row = self
            .meta
            .repositories
            .create_repository(&NewRepository {
                name: spec.name.clone(),
                kind: berth_meta::RepoKind::Hosted,
                category: spec.category.clone(),
                description: spec.description.clone(),
                is_public: spec.is_public,
                creator: caller.display_name().to_owned(),
            })
            .await?;
        self.cache.forget(&spec.name);
        self.audit.record(
            caller,
            None,
            "repository.create",
            spec.name.as_str(),
            Outcome::Ok,
            "",
        );
        Ok(row)
    }

    /// Repositories the caller may see.
    pub async fn list_repositories(
        &self,
        caller: &Caller,
        mut query: RepositoryQuery,
    ) -> Result<Listed<RepositoryRow>> {
        query.visibility = self.access.visibility(caller);
        Ok(self.meta.repositories.list_repositories(&query).await?)
    }

    pub async fn update_repository(
        &self,
        caller: &Caller,
        name: &RepoName,
        update: &RepositoryUpdate,
    ) -> Result<RepositoryRow> {
        self.repository_for(caller, name, Level::Manage).await?;
        let row = self
            .meta
            .repositories
            .update_repository(name, update)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Repository(name.to_string())))?;
        self.cache.forget(name);
        self.audit.record(
            caller,
            None,
            "repository.update",
            name.as_str(),
            Outcome::Ok,
            "",
        );
        Ok(row)
    }

    /// The caller's level on a repository it may read (SWR's `self_auth`): the larger of its
    /// namespace level and its own membership of the repository.
    pub async fn repository_level(&self, caller: &Caller, repo: &RepositoryRow) -> Result<Level> {
        Ok(self
            .access
            .repository_level(caller, repo)
            .await?
            .unwrap_or(Level::Read))
    }

    /// The repository's own members (not its namespace's), if the caller may read it.
    pub async fn list_repository_members(
        &self,
        caller: &Caller,
        name: &RepoName,
    ) -> Result<(RepositoryRow, Vec<MemberRow>)> {
        let row = self.get_repository(caller, name).await?;
        let members = self
            .meta
            .repositories
            .list_repository_members(row.id)
            .await?;
        Ok((row, members))
    }

    /// Makes `username` a member of one repository with `level` (or changes its level); the
    /// caller must manage the repository.
    pub async fn put_repository_member(
        &self,
        caller: &Caller,
        name: &RepoName,
        username: &str,
        level: Level,
    ) -> Result<()> {
        valid_member_name(username)?;
        let row = self.repository_for(caller, name, Level::Manage).await?;
        self.meta
            .repositories
            .put_repository_member(row.id, username, level)
            .await?;
        let resource = format!("{name}:{username}");
        self.audit.record(
            caller,
            None,
            "repository_member.put",
            &resource,
            Outcome::Ok,
            level.as_str(),
        );
        Ok(())
    }

    pub async fn delete_repository_member(
        &self,
        caller: &Caller,
        name: &RepoName,
        username: &str,
    ) -> Result<()> {
        let row = self.repository_for(caller, name, Level::Manage).await?;
        if !self
            .meta
            .repositories
            .delete_repository_member(row.id, username)
            .await?
        {
            return Err(ServiceError::NotFound(Entity::Member(username.to_owned())));
        }
        let resource = format!("{name}:{username}");
        self.audit.record(
            caller,
            None,
            "repository_member.delete",
            &resource,
            Outcome::Ok,
            "",
        );
        Ok(())
    }

    /// Deletes a repository with its manifests and tags; blobs stay for GC.
    pub async fn delete_repository(&self, caller: &Caller, name: &RepoName) -> Result<()> {
        self.repository_for(caller, name, Level::Manage).await?;
        let deleted = self.meta.repositories.delete_repository(name).await?;
        self.cache.forget(name);
        if !deleted {
            return Err(ServiceError::NotFound(Entity::Repository(name.to_string())));
        }
        self.audit.record(
            caller,
            None,
            "repository.delete",
            name.as_str(),
            Outcome::Ok,
            "",
        );
        Ok(())
    }
}
