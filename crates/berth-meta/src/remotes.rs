//! External registries: repositories on third-party registries registered with credentials
//! (Docker Cloud's external repositories), and proxies (pull-through caches) that map a local
//! name prefix onto an upstream registry. The records and the trait ([`RemoteStore`]).

use async_trait::async_trait;

use crate::{Listed, Page, Result};

/// Which entries a lookup or listing addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RemoteScope {
    /// Entries of no namespace (administrators').
    #[default]
    Global,
    /// Entries of one namespace.
    Namespace(String),
    /// Every entry (listings only).
    All,
}

/// An external repository to register. The password arrives sealed: the store never sees
/// it in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRemote {
    /// `None`: a global entry; else the namespace (which must exist).
    pub namespace: Option<String>,
    /// `my.registry.com/myrepo`.
    pub name: String,
    /// `host[:port]` of `name`.
    pub registry: String,
    pub username: Option<String>,
    pub password_sealed: Option<Vec<u8>>,
    pub creator: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRow {
    pub id: i64,
    pub namespace_id: Option<i64>,
    pub namespace: Option<String>,
    pub name: String,
    pub registry: String,
    pub username: Option<String>,
    pub password_sealed: Option<Vec<u8>>,
    pub creator: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Whether a proxy refers to it (then it is only removed when forced).
    pub in_use: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteQuery {
    pub scope: RemoteScope,
    /// Exactly this name.
    pub name: Option<String>,
    /// Exactly this registry (`host[:port]`).
    pub registry: Option<String>,
    pub page: Page,
}

/// How a proxy answers a pull of something it may have cached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProxyMode {
    /// Ask the upstream first (a HEAD for tags), serve the cache when it fails.
    #[default]
    UpstreamFirst,
    /// Serve the cached copy while it is younger than the TTL.
    LocalFirst,
}

impl ProxyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::UpstreamFirst => "upstream_first",
            ProxyMode::LocalFirst => "local_first",
        }
    }

    pub fn parse(s: &str) -> Option<ProxyMode> {
        match s {
            "upstream_first" => Some(ProxyMode::UpstreamFirst),
            "local_first" => Some(ProxyMode::LocalFirst),
            _ => None,
        }
    }
}

/// A proxy to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProxy {
    /// The local name prefix (`hub`: `/v2/hub/library/nginx` is the upstream's
    /// `library/nginx`).
    pub prefix: String,
    /// `https://registry-1.docker.io`.
    pub upstream_url: String,
    /// The registry name clients use for the upstream (`docker.io`), what containerd's
    /// `?ns=` names.
    pub upstream_host: String,
    /// The external repository whose credentials it uses; `None`: anonymous.
    pub remote_id: Option<i64>,
    pub mode: ProxyMode,
    pub ttl_secs: u64,
    pub creator: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRow {
    pub id: i64,
    pub prefix: String,
    pub upstream_url: String,
    pub upstream_host: String,
    pub remote_id: Option<i64>,
    pub mode: ProxyMode,
    pub ttl_secs: u64,
    pub creator: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Changes to a proxy; `None` keeps a field, `remote_id: Some(None)` makes it anonymous.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyUpdate {
    pub upstream_url: Option<String>,
    pub upstream_host: Option<String>,
    pub remote_id: Option<Option<i64>>,
    pub mode: Option<ProxyMode>,
    pub ttl_secs: Option<u64>,
}

/// External repositories and proxies.
#[async_trait]
pub trait RemoteStore: Send + Sync + 'static {
    /// Registers an external repository: [`crate::MetaError::AlreadyExists`] if the name is
    /// taken in its scope, [`crate::MetaError::NotFound`] without its namespace.
    async fn create_remote(&self, remote: &NewRemote) -> Result<RemoteRow>;

    /// The entry `name` of `scope` (`Global` or `Namespace`; `All` finds nothing).
    async fn get_remote(&self, scope: &RemoteScope, name: &str) -> Result<Option<RemoteRow>>;

    async fn get_remote_by_id(&self, id: i64) -> Result<Option<RemoteRow>>;

    /// Entries by name.
    async fn list_remotes(&self, query: &RemoteQuery) -> Result<Listed<RemoteRow>>;

    /// Replaces the credentials (both; the service merges partial changes).
    async fn update_remote_credentials(
        &self,
        id: i64,
        username: Option<&str>,
        password_sealed: Option<&[u8]>,
    ) -> Result<Option<RemoteRow>>;

    /// Removes an entry: refused with [`crate::MetaError::InUse`] while a proxy refers to
    /// it, unless `force` (the proxies then go anonymous). Returns whether it existed.
    async fn delete_remote(&self, id: i64, force: bool) -> Result<bool>;

    /// Creates a proxy: [`crate::MetaError::AlreadyExists`] if the prefix is taken,
    /// [`crate::MetaError::NotFound`] if `remote_id` names no entry.
    async fn create_proxy(&self, proxy: &NewProxy) -> Result<ProxyRow>;

    async fn get_proxy(&self, prefix: &str) -> Result<Option<ProxyRow>>;

    /// The proxy serving repository `name`: the one with the longest prefix that is `name`
    /// or a leading run of its components.
    async fn find_proxy(&self, name: &str) -> Result<Option<ProxyRow>>;

    /// Proxies of the upstream registry `host` (what `?ns=<host>` selects), by prefix.
    async fn proxies_for_host(&self, host: &str) -> Result<Vec<ProxyRow>>;

    async fn list_proxies(&self, page: Page) -> Result<Listed<ProxyRow>>;

    async fn update_proxy(&self, prefix: &str, update: &ProxyUpdate) -> Result<Option<ProxyRow>>;

    async fn delete_proxy(&self, prefix: &str) -> Result<bool>;
}
