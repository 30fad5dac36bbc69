//! External registries: repositories on third-party registries registered with credentials
//! (checked against the upstream on every change, sealed at rest, never shown again), and
//! the proxies of the pull-through cache that use them. Entries of a namespace need manage
//! on it; global entries and proxies need an administrator.

use std::sync::Arc;

use berth_core::{Caller, Level, NamespaceName, RepoName, Resource, Scope, Secret};
use berth_meta::{
    Listed, Meta, MetaError, NamespaceRow, NewProxy, NewRemote, Page, ProxyMode, ProxyRow,
    ProxyUpdate, RemoteQuery, RemoteRow, RemoteScope,
};

use crate::access::{AccessService, Target};
use crate::audit::{AuditService, Outcome};
use crate::auth::crypto;
use crate::upstream::{RemotesConfig, Upstream, UpstreamCredentials, UpstreamTarget};
use crate::{Entity, Field, Result, ServiceError};

/// The longest registered name: a registry address and a repository name.
const MAX_REMOTE_NAME: usize = 512;

/// An external repository to register.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteSpec {
    /// `None`: a global entry.
    pub namespace: Option<String>,
    /// `my.registry.com[:port]/path`.
    pub name: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// New credentials; `None` keeps the stored value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialsChange {
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// An external repository as every surface may show it: no credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteInfo {
    pub id: i64,
    pub namespace: Option<String>,
    pub name: String,
    /// `host[:port]`.
    pub registry: String,
    /// Whether credentials are stored (they are never returned).
    pub has_credentials: bool,
    pub creator: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// A proxy refers to it.
    pub in_use: bool,
}

impl From<RemoteRow> for RemoteInfo {
    fn from(r: RemoteRow) -> RemoteInfo {
        RemoteInfo {
            id: r.id,
            namespace: r.namespace,
            has_credentials: r.username.is_some(),
            name: r.name,
            registry: r.registry,
            creator: r.creator,
            created_at: r.created_at,
            updated_at: r.updated_at,
            in_use: r.in_use,
        }
    }
}

/// A registry that registered repositories live on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryInfo {
    pub namespace: Option<String>,
    /// `host[:port]`.
    pub host: String,
    /// Whether berth reaches it over HTTPS.
    pub is_ssl: bool,
    /// Registered repositories on it (in the scope asked).
    pub repositories: u64,
}

/// A proxy to create: a local prefix served from an upstream registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxySpec {
    pub prefix: String,
    /// `https://registry-1.docker.io`.
    pub upstream_url: String,
    /// The registry's name as clients write it (`docker.io`); default: the URL's host.
    pub upstream_host: Option<String>,
    /// The external repository whose credentials it uses: its namespace (`None`: global)
    /// and name.
    pub remote: Option<(Option<String>, String)>,
    pub mode: ProxyMode,
    pub ttl_secs: u64,
}

/// A registered name split: `registry` (`host[:port]`) and the repository on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteName {
    pub registry: String,
    pub repository: RepoName,
}

/// Whether `s` is a registry address as Docker reads the first component of an image name:
/// with a `.` or a `:` (a port), or `localhost`; letters, digits, `-`, `.`, a port, or an
/// IPv6 address in brackets.
pub fn valid_registry_host(s: &str) -> bool {
    if s.is_empty() || s.len() > 255 {
        return false;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("[v6]", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(port) = port
        && !(port.parse::<u16>().is_ok_and(|p| p > 0) && port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if host == "[v6]" {
        return true;
    }
    let labels_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    labels_ok && (host.contains('.') || port.is_some() || host == "localhost")
}

/// Splits `my.registry.com[:port]/path` into its registry and repository.
pub fn parse_remote_name(name: &str) -> Result<RemoteName> {
    let invalid = |why: &str| ServiceError::invalid(Field::Name, why.to_owned());
    if name.is_empty() || name.len() > MAX_REMOTE_NAME {
        return Err(invalid("a name is 1 to 512 characters"));
    }
    let Some((host, path)) = name.split_once('/') else {
        return Err(invalid(
            "a name starts with the registry's address: my.registry.com[:port]/repository",
        ));
    };
    if !valid_registry_host(host) {
        return Err(invalid(
            "a name starts with the registry's address (a host with a '.' or a port, or \
             localhost): my.registry.com[:port]/repository",
        ));
    }
    let repository: RepoName = path
        .parse()
        .map_err(|e: berth_core::NameError| invalid(&e.to_string()))?;
    Ok(RemoteName {
        registry: host.to_ascii_lowercase(),
        repository,
    })
}

/// An upstream URL as proxies take it: `http(s)://host[:port]`, nothing else (a trailing
/// `/` is dropped). Returns it normalised and its `host[:port]`.
pub fn parse_upstream_url(url: &str) -> Result<(String, String)> {
    let invalid = |why: String| ServiceError::invalid(Field::param("upstream_url"), why);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid(format!("{url:?} is not a URL: use https://host[:port]")))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(invalid(format!(
            "the scheme {scheme:?} is refused: upstream registries are http or https"
        )));
    }
    let host = rest.strip_suffix('/').unwrap_or(rest);
    // A registry address, or a bare host name (`registry` on a private network).
    let bare = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !(valid_registry_host(host) || bare) {
        return Err(invalid(format!(
            "{url:?} is not https://host[:port] (no path, query or user)"
        )));
    }
    let host = host.to_ascii_lowercase();
    Ok((format!("{scheme}://{host}"), host))
}

fn valid_username(username: &str) -> Result<()> {
    if username.is_empty()
        || username.len() > 255
        || username.contains(':')
        || username.chars().any(char::is_control)
    {
        return Err(ServiceError::invalid(
            Field::param("username"),
            "a username is 1 to 255 characters, without ':' or control characters",
        ));
    }
    Ok(())
}

fn valid_password(password: &Secret) -> Result<()> {
    if password.expose().len() > 4096 {
        return Err(ServiceError::invalid(
            Field::param("password"),
            "a password has at most 4096 bytes",
        ));
    }
    Ok(())
}

fn scope_of(namespace: Option<&str>) -> RemoteScope {
    match namespace {
        Some(ns) => RemoteScope::Namespace(ns.to_owned()),
        None => RemoteScope::Global,
    }
}

/// `[ns/]name`, how the audit log names an entry.
fn resource_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

fn not_found(namespace: Option<&str>, name: &str) -> ServiceError {
    ServiceError::NotFound(Entity::Remote(resource_name(namespace, name)))
}

pub struct RemoteService {
    meta: Meta,
    access: Arc<AccessService>,
    audit: Arc<AuditService>,
    upstream: Option<Arc<dyn Upstream>>,
    insecure: Vec<String>,
    sealing_key: Option<[u8; 32]>,
}

impl RemoteService {
    pub(crate) fn new(
        meta: Meta,
        access: Arc<AccessService>,
        audit: Arc<AuditService>,
        config: RemotesConfig,
        sealing_key: Option<[u8; 32]>,
    ) -> RemoteService {
        RemoteService {
            meta,
            access,
            audit,
            upstream: config.upstream,
            insecure: config.insecure_registries,
            sealing_key,
        }
    }

    /// The upstream client (for the pull-through cache); `None` when none is configured.
    pub fn upstream(&self) -> Option<&Arc<dyn Upstream>> {
        self.upstream.as_ref()
    }

    fn client(&self) -> Result<&Arc<dyn Upstream>> {
        self.upstream.as_ref().ok_or_else(|| {
            ServiceError::Unsupported("this berth has no upstream registry client".into())
        })
    }

    /// Whether `registry` (`host[:port]`) is reached over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = match registry.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => registry,
        };
        self.insecure
            .iter()
            .any(|entry| entry.eq_ignore_ascii_case(registry) || entry.eq_ignore_ascii_case(host))
    }

    /// The base URL of a registry: `https://host[:port]` (`http` for insecure ones). Docker
    /// Hub's `docker.io` is served at `registry-1.docker.io`.
    pub fn registry_url(&self, registry: &str) -> String {
        let registry = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let scheme = if self.is_insecure(registry) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{registry}")
    }

    pub(crate) fn seal(&self, password: &Secret) -> Result<Vec<u8>> {
        let key = self.sealing_key.ok_or_else(|| {
            ServiceError::Unsupported(
                "storing upstream credentials needs [auth] encryption_key (the same on every \
                 replica)"
                    .into(),
            )
        })?;
        Ok(crypto::seal(&key, password.expose().as_bytes()))
    }

    pub(crate) fn unseal(&self, sealed: &[u8]) -> Option<Secret> {
        let key = self.sealing_key?;
        let plain = crypto::unseal(&key, sealed)?;
        String::from_utf8(plain).ok().map(Secret::new)
    }

    /// The stored credentials of an entry, unsealed (for the upstream client only).
    fn credentials_of(&self, row: &RemoteRow) -> Result<Option<UpstreamCredentials>> {
        let Some(username) = &row.username else {
            return Ok(None);
        };
        let password = match &row.password_sealed {
            Some(sealed) => self.unseal(sealed).ok_or_else(|| {
                ServiceError::internal(format!(
                    "the stored password of remote #{} cannot be unsealed (another encryption key?)",
                    row.id
                ))
            })?,
            None => Secret::default(),
        };
        Ok(Some(UpstreamCredentials {
            username: username.clone(),
            password,
        }))
    }

    /// Decides whether the caller may manage the entries of `namespace` (global: `None`)
    /// and returns the namespace.
    async fn authorize(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
    ) -> Result<Option<NamespaceRow>> {
        let Some(namespace) = namespace else {
            let scope = Scope::new(Resource::Remote(None), Level::Manage);
            self.access.check(caller, &scope, Target::None).await?;
            return Ok(None);
        };
        let name: NamespaceName = namespace.parse().map_err(|e: berth_core::NameError| {
            ServiceError::invalid(Field::Namespace, e.to_string())
        })?;
        let row = self.meta.repositories.get_namespace(name.as_str()).await?;
        let scope = Scope::new(Resource::Remote(Some(name.clone())), Level::Manage);
        self.access
            .check(caller, &scope, Target::Namespace(row.as_ref()))
            .await?;
        match row {
            Some(row) => Ok(Some(row)),
            None => Err(ServiceError::NotFound(Entity::Namespace(name.to_string()))),
        }
    }

    async fn authorize_audited(
        &self,
        caller: &Caller,
        action: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<()> {
        match self.authorize(caller, namespace).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if matches!(e, ServiceError::Forbidden(_)) {
                    let resource = resource_name(namespace, name);
                    self.audit
                        .record(caller, None, action, &resource, Outcome::Denied, "");
                }
                Err(e)
            }
        }
    }

    async fn find(&self, namespace: Option<&str>, name: &str) -> Result<RemoteRow> {
        self.meta
            .remotes
            .get_remote(&scope_of(namespace), name)
            .await?
            .ok_or_else(|| not_found(namespace, name))
    }

    /// Pings the registry with the credentials; a failure is audited and returned.
    async fn check_upstream(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        registry: &str,
        credentials: Option<UpstreamCredentials>,
    ) -> Result<()> {
        let target = UpstreamTarget {
            url: self.registry_url(registry),
            credentials,
        };
        if let Err(e) = self.client()?.ping(&target).await {
            tracing::info!(registry, error = %e, "upstream check failed");
            self.audit.record(
                caller,
                None,
                action,
                resource,
                Outcome::Failed,
                &e.to_string(),
            );
            return Err(e.into());
        }
        Ok(())
    }

    /// Registers an external repository after checking its credentials against the
    /// upstream; nothing is stored when they fail.
    pub async fn register(&self, caller: &Caller, spec: &RemoteSpec) -> Result<RemoteInfo> {
        let namespace = spec.namespace.as_deref();
        self.authorize_audited(caller, "remote.register", namespace, &spec.name)
            .await?;
        let parsed = parse_remote_name(&spec.name)?;
        let credentials = match (&spec.username, &spec.password) {
            (None, None) => None,
            (Some(username), password) => {
                valid_username(username)?;
                let password = password.clone().unwrap_or_default();
                valid_password(&password)?;
                Some(UpstreamCredentials {
                    username: username.clone(),
                    password,
                })
            }
            (None, Some(_)) => {
                return Err(ServiceError::invalid(
                    Field::param("username"),
                    "a password needs a username",
                ));
            }
        };
        let sealed = match &credentials {
            Some(c) => Some(self.seal(&c.password)?),
            None => None,
        };
        if self
            .meta
            .remotes
            .get_remote(&scope_of(namespace), &spec.name)
            .await?
            .is_some()
        {
            return Err(ServiceError::AlreadyExists(Entity::Remote(resource_name(
                namespace, &spec.name,
            ))));
        }
        let resource = resource_name(namespace, &spec.name);
        let username = credentials.as_ref().map(|c| c.username.clone());
        self.check_upstream(
            caller,
            "remote.register",
            &resource,
            &parsed.registry,
            credentials,
        )
        .await?;
        let row = self
            .meta
            .remotes
            .create_remote(&NewRemote {
                namespace: spec.namespace.clone(),
                name: spec.name.clone(),
                registry: parsed.registry.clone(),
                username,
                password_sealed: sealed,
                creator: caller.display_name().to_owned(),
            })
            .await
            .map_err(|e| match e {
                MetaError::AlreadyExists { .. } => {
                    ServiceError::AlreadyExists(Entity::Remote(resource.clone()))
                }
                other => other.into(),
            })?;
        self.audit.record(
            caller,
            None,
            "remote.register",
            &resource,
            Outcome::Ok,
            &parsed.registry,
        );
        Ok(row.into())
    }

    /// Entries of a namespace (global: `None`), by name, filtered by exact name and
    /// registry (`host[:port]`).
    pub async fn list(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: Option<&str>,
        registry: Option<&str>,
        page: Page,
    ) -> Result<Listed<RemoteInfo>> {
        self.authorize(caller, namespace).await?;
        let listed = self
            .meta
            .remotes
            .list_remotes(&RemoteQuery {
                scope: scope_of(namespace),
                name: name.map(str::to_owned),
                registry: registry.map(str::to_ascii_lowercase),
                page,
            })
            .await?;
        Ok(Listed {
            items: listed.items.into_iter().map(RemoteInfo::from).collect(),
            total: listed.total,
        })
    }

    pub async fn get(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<RemoteInfo> {
        self.authorize(caller, namespace).await?;
        Ok(self.find(namespace, name).await?.into())
    }

    /// The registry `host` as far as entries of the scope use it; not found when none does.
    pub async fn registry(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        host: &str,
    ) -> Result<RegistryInfo> {
        self.authorize(caller, namespace).await?;
        let host = host.to_ascii_lowercase();
        let listed = self
            .meta
            .remotes
            .list_remotes(&RemoteQuery {
                scope: scope_of(namespace),
                registry: Some(host.clone()),
                page: Page {
                    offset: 0,
                    limit: 1,
                },
                ..Default::default()
            })
            .await?;
        if listed.total == 0 {
            return Err(ServiceError::NotFound(Entity::Remote(format!(
                "registry {host}"
            ))));
        }
        Ok(RegistryInfo {
            namespace: namespace.map(str::to_owned),
            is_ssl: !self.is_insecure(&host),
            host,
            repositories: listed.total,
        })
    }

    /// New credentials, merged with the stored ones and checked against the upstream before
    /// anything is stored.
    pub async fn update_credentials(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        change: &CredentialsChange,
    ) -> Result<RemoteInfo> {
        self.authorize_audited(caller, "remote.update", namespace, name)
            .await?;
        let row = self.find(namespace, name).await?;
        if change.username.is_none() && change.password.is_none() {
            return Ok(row.into());
        }
        if let Some(username) = &change.username {
            valid_username(username)?;
        }
        if let Some(password) = &change.password {
            valid_password(password)?;
        }
        let username = change
            .username
            .clone()
            .or_else(|| row.username.clone())
            .ok_or_else(|| {
                ServiceError::invalid(Field::param("username"), "a password needs a username")
            })?;
        let password = match &change.password {
            Some(p) => p.clone(),
            None => match &row.password_sealed {
                None => Secret::default(),
                Some(sealed) => self.unseal(sealed).ok_or_else(|| {
                    ServiceError::invalid(
                        Field::param("password"),
                        "the stored password cannot be read (the encryption key changed): \
                         send the password too",
                    )
                })?,
            },
        };
        let sealed = self.seal(&password)?;
        let resource = resource_name(namespace, name);
        self.check_upstream(
            caller,
            "remote.update",
            &resource,
            &row.registry,
            Some(UpstreamCredentials {
                username: username.clone(),
                password,
            }),
        )
        .await?;
        let updated = self
            .meta
            .remotes
            .update_remote_credentials(row.id, Some(&username), Some(&sealed))
            .await?
            .ok_or_else(|| not_found(namespace, name))?;
        self.audit.record(
            caller,
            None,
            "remote.update",
            &resource,
            Outcome::Ok,
            &row.registry,
        );
        Ok(updated.into())
    }

    /// Removes an entry (not the repository upstream): refused while a proxy uses it,
    /// unless `force` (the proxy then pulls anonymously).
    pub async fn remove(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        force: bool,
    ) -> Result<()> {
        self.authorize_audited(caller, "remote.remove", namespace, name)
            .await?;
        let row = self.find(namespace, name).await?;
        let resource = resource_name(namespace, name);
        match self.meta.remotes.delete_remote(row.id, force).await {
            Ok(true) => {}
            Ok(false) => return Err(not_found(namespace, name)),
            Err(MetaError::InUse { .. }) => {
                return Err(ServiceError::Conflict(format!(
                    "{resource} is in use by a proxy: remove the proxy first, or remove it with force"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        let detail = if force { "forced" } else { "" };
        self.audit.record(
            caller,
            None,
            "remote.remove",
            &resource,
            Outcome::Ok,
            detail,
        );
        Ok(())
    }

    // ---- proxies (the pull-through cache builds on these) ----

    async fn require_admin(&self, caller: &Caller) -> Result<()> {
        self.access
            .check(
                caller,
                &Scope::new(Resource::Admin, Level::Manage),
                Target::None,
            )
            .await
    }

    /// Creates a proxy (administrators).
    pub async fn create_proxy(&self, caller: &Caller, spec: &ProxySpec) -> Result<ProxyRow> {
        self.require_admin(caller).await?;
        let prefix: RepoName = spec.prefix.parse().map_err(|e: berth_core::NameError| {
            ServiceError::invalid(Field::param("prefix"), e.to_string())
        })?;
        let (url, url_host) = parse_upstream_url(&spec.upstream_url)?;
        let upstream_host = match &spec.upstream_host {
            Some(h) if valid_registry_host(h) => h.to_ascii_lowercase(),
            Some(h) => {
                return Err(ServiceError::invalid(
                    Field::param("upstream_host"),
                    format!("{h:?} is not a registry address (host[:port])"),
                ));
            }
            None => url_host,
        };
        let remote_id = match &spec.remote {
            Some((ns, name)) => Some(self.find(ns.as_deref(), name).await?.id),
            None => None,
        };
        let row = self
            .meta
            .remotes
            .create_proxy(&NewProxy {
                prefix: prefix.to_string(),
                upstream_url: url,
                upstream_host,
                remote_id,
                mode: spec.mode,
                ttl_secs: spec.ttl_secs,
                creator: caller.display_name().to_owned(),
            })
            .await
            .map_err(|e| match e {
                MetaError::AlreadyExists { .. } => {
                    ServiceError::AlreadyExists(Entity::Remote(format!("proxy {prefix}")))
                }
                other => other.into(),
            })?;
        self.audit.record(
            caller,
            None,
            "proxy.create",
            prefix.as_str(),
            Outcome::Ok,
            &row.upstream_url,
        );
        Ok(row)
    }

    pub async fn list_proxies(&self, caller: &Caller, page: Page) -> Result<Listed<ProxyRow>> {
        self.require_admin(caller).await?;
        Ok(self.meta.remotes.list_proxies(page).await?)
    }

    /// One proxy (administrators).
    pub async fn get_proxy(&self, caller: &Caller, prefix: &str) -> Result<ProxyRow> {
        self.require_admin(caller).await?;
        self.meta
            .remotes
            .get_proxy(prefix)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Remote(format!("proxy {prefix}"))))
    }

    /// The external repository whose credentials a proxy uses (administrators).
    pub async fn remote_of(&self, caller: &Caller, proxy: &ProxyRow) -> Result<Option<RemoteInfo>> {
        self.require_admin(caller).await?;
        match proxy.remote_id {
            Some(id) => Ok(self
                .meta
                .remotes
                .get_remote_by_id(id)
                .await?
                .map(RemoteInfo::from)),
            None => Ok(None),
        }
    }

    pub async fn update_proxy(
        &self,
        caller: &Caller,
        prefix: &str,
        update: &ProxyUpdate,
    ) -> Result<ProxyRow> {
        self.require_admin(caller).await?;
        let mut update = update.clone();
        if let Some(url) = &update.upstream_url {
            update.upstream_url = Some(parse_upstream_url(url)?.0);
        }
        if let Some(host) = &update.upstream_host {
            if !valid_registry_host(host) {
                return Err(ServiceError::invalid(
                    Field::param("upstream_host"),
                    format!("{host:?} is not a registry address (host[:port])"),
                ));
            }
            update.upstream_host = Some(host.to_ascii_lowercase());
        }
        let row = self
            .meta
            .remotes
            .update_proxy(prefix, &update)
            .await?
            .ok_or_else(|| ServiceError::NotFound(Entity::Remote(format!("proxy {prefix}"))))?;
        self.audit
            .record(caller, None, "proxy.update", prefix, Outcome::Ok, "");
        Ok(row)
    }

    pub async fn delete_proxy(&self, caller: &Caller, prefix: &str) -> Result<()> {
        self.require_admin(caller).await?;
        if !self.meta.remotes.delete_proxy(prefix).await? {
            return Err(ServiceError::NotFound(Entity::Remote(format!(
                "proxy {prefix}"
            ))));
        }
        self.audit
            .record(caller, None, "proxy.delete", prefix, Outcome::Ok, "");
        Ok(())
    }

    /// The proxy serving repository `name`, if any (no access decision: the caller's access
    /// to the local repository is decided as for any repository).
    pub async fn proxy_for(&self, name: &RepoName) -> Result<Option<ProxyRow>> {
        Ok(self.meta.remotes.find_proxy(name.as_str()).await?)
    }

    /// The proxies of an upstream registry (what `?ns=<host>` selects).
    pub async fn proxies_for_host(&self, host: &str) -> Result<Vec<ProxyRow>> {
        Ok(self
            .meta
            .remotes
            .proxies_for_host(&host.to_ascii_lowercase())
            .await?)
    }

    /// Where a proxy fetches from, with its entry's credentials unsealed.
    pub async fn proxy_target(&self, proxy: &ProxyRow) -> Result<UpstreamTarget> {
        let credentials = match proxy.remote_id {
            Some(id) => match self.meta.remotes.get_remote_by_id(id).await? {
                Some(row) => self.credentials_of(&row)?,
                None => None,
            },
            None => None,
        };
        Ok(UpstreamTarget {
            url: proxy.upstream_url.clone(),
            credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        let n = parse_remote_name("127.0.0.1:5001/u/img").unwrap();
        assert_eq!(n.registry, "127.0.0.1:5001");
        assert_eq!(n.repository.as_str(), "u/img");
        let n = parse_remote_name("My.Registry.com/myrepo").unwrap();
        assert_eq!(n.registry, "my.registry.com");
        assert!(parse_remote_name("localhost/a").is_ok());
        assert!(parse_remote_name("[::1]:5000/a").is_ok());
        for bad in [
            "",
            "noslash.example",
            "library/nginx",
            "reg.example/",
            "reg.example/UPPER",
            "reg.example:99999/a",
            "reg.example:/a",
            "-bad.example/a",
            "reg..example/a",
            "user@reg.example/a",
            "reg.example/a b",
        ] {
            assert!(parse_remote_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_upstream_url("https://Registry-1.docker.io/").unwrap(),
            (
                "https://registry-1.docker.io".to_owned(),
                "registry-1.docker.io".to_owned()
            )
        );
        assert!(parse_upstream_url("http://127.0.0.1:5001").is_ok());
        for bad in [
            "ftp://x.example",
            "file:///etc/passwd",
            "registry.example",
            "https://",
            "https://u:p@x.example",
            "https://x.example/v2/",
            "https://x.example?a=b",
        ] {
            assert!(parse_upstream_url(bad).is_err(), "{bad:?}");
        }
    }
}
