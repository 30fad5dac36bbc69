//! berth's configuration: one documented struct. Precedence, lowest first: built-in defaults,
//! the TOML file (`--config`), environment variables `BERTH__<SECTION>__<KEY>`, command-line
//! flags.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use berth_core::Secret;
use berth_storage::S3Config;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded backends keep their files: blobs under `blobs/`, uploads in
    /// progress under `uploads/`, the SQLite database as `berth.db`.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub database: DatabaseConfig,
    pub limits: LimitsConfig,
    pub namespaces: NamespacesConfig,
    pub auth: AuthSection,
    pub remotes: RemotesSection,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing directive
    /// such as `berth=debug,berth::access=warn`).
    pub log_level: String,
    /// `text`: one line per event, coloured only when stderr is a terminal; `json`: one
    /// JSON object per line, for log collectors.
    pub log_format: LogFormat,
    /// When berth answers an error before it has read the request body (a manifest too
    /// large, a chunk out of order), it reads and discards up to this many bytes of the
    /// rest, so that the client and any proxy in between see the answer instead of a
    /// connection closed mid-send. A longer rest is not read: the answer says
    /// `Connection: close`.
    pub drain_max_bytes: u64,
    /// Reading that rest stops after this many seconds (and the answer says
    /// `Connection: close`).
    pub drain_timeout_secs: u64,
    /// How clients reach berth, e.g. `https://registry.example.com` (behind a proxy or load
    /// balancer). Used where berth names itself: image addresses in listings (`path`,
    /// `registryUrl`), the registry address, login realms. Unset: the request's `Host`.
    pub external_url: Option<String>,
    /// Believe `X-Forwarded-For` (the client's address, for the audit log and login limits)
    /// and `X-Forwarded-Proto`: only behind a proxy that sets them.
    pub trust_forwarded: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Plain text, one line per event.
    Text,
    /// One JSON object per line.
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files on the local filesystem.
    #[default]
    Fs,
    /// Process memory (lost at exit; for trials and tests).
    Memory,
    /// An S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...).
    S3,
}

impl fmt::Display for StorageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageKind::Fs => "fs",
            StorageKind::Memory => "memory",
            StorageKind::S3 => "s3",
        })
    }
}

/// `[storage]`: `type`, `path`, and the keys of [`S3Config`] (`endpoint`, `bucket`, ...),
/// declared there once. Deserialized by hand, since serde's `flatten` would let unknown
/// keys through (it cannot be combined with `deny_unknown_fields`).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct StorageConfig {
    /// Which blob store: `fs`, `memory` or `s3`.
    #[serde(rename = "type")]
    pub kind: StorageKind,
    /// Root directory of the `fs` store (default: `data_dir`; it holds `blobs/` and
    /// `uploads/`, which should be on one filesystem so that commits are renames).
    pub path: Option<PathBuf>,
    /// `s3`: the bucket and how to reach it.
    #[serde(flatten)]
    pub s3: S3Config,
}

impl<'de> Deserialize<'de> for StorageConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StorageConfig, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        let kind = match table.remove("type") {
            Some(kind) => StorageKind::deserialize(kind).map_err(D::Error::custom)?,
            None => StorageKind::default(),
        };
        let path = match table.remove("path") {
            Some(path) => Some(PathBuf::deserialize(path).map_err(D::Error::custom)?),
            None => None,
        };
        // Every other key is S3Config's, which refuses unknown ones.
        let s3 = S3Config::deserialize(toml::Value::Table(table)).map_err(|e| {
            let e = e.to_string();
            let e = e.trim_end();
            match e.starts_with("unknown field") {
                true => D::Error::custom(format!("{e}, `type`, `path`")),
                false => D::Error::custom(e),
            }
        })?;
        Ok(StorageConfig { kind, path, s3 })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Metadata database. Default: the SQLite file `<data_dir>/berth.db`. `sqlite://PATH`
    /// selects another file; `postgres://USER:PASSWORD@HOST:PORT/DB` selects PostgreSQL
    /// (what several replicas share). The password is never logged.
    pub url: Option<Secret>,
    /// Connections each replica keeps to PostgreSQL at most.
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Upload sessions untouched for this many seconds are purged.
    pub upload_ttl_secs: u64,
    /// How often the purge of stale uploads (and the sweep of orphaned upload data) runs,
    /// in seconds.
    pub upload_purge_interval_secs: u64,
    /// Upload data in storage that no session knows (left by a crash during a one-request
    /// upload) is removed once it has been idle this many seconds. Keep it longer than any
    /// client may pause while sending.
    pub orphan_grace_secs: u64,
    /// Largest Helm chart archive (`.tgz`) accepted, in bytes, over every way in (the
    /// ChartMuseum API, `helm push`); it also bounds what one upload holds in memory.
    pub max_chart_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Whether credentials are required: anonymous callers may then only read public
    /// namespaces and repositories, and namespace members' levels decide the rest. Off,
    /// everyone may do everything (for trials on a closed machine).
    pub enabled: bool,
    /// The administrator created on first start.
    pub admin_user: String,
    /// Its password (better: `BERTH__AUTH__ADMIN_PASSWORD`). Unset: berth generates one on
    /// first start and prints it once. Only used when the administrator is created.
    pub admin_password: Option<Secret>,
    /// The service name in registry tokens and in the `WWW-Authenticate` challenge.
    pub service: String,
    /// How long a registry token (the Docker token flow's) lives, in seconds.
    pub token_ttl_secs: u64,
    /// 64 hex characters: the AES-256 key that seals secrets berth must read back (SWR
    /// secret keys, upstream credentials). Every replica needs the same one. Unset on the
    /// embedded default: generated on first start into `<data_dir>/berth.key`.
    pub encryption_key: Option<Secret>,
    /// Failed logins allowed per user and per source address within a minute; more are
    /// refused for the rest of it.
    pub max_failed_logins: u32,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            enabled: true,
            admin_user: "admin".into(),
            admin_password: None,
            service: "berth".into(),
            token_ttl_secs: 300,
            encryption_key: None,
            max_failed_logins: 10,
        }
    }
}

/// `[remotes]`: how berth reaches upstream registries (external repositories, the
/// pull-through cache). Upstream addresses are user input: only http and https, a bounded
/// number of redirects, capped answers and timeouts, and no connection into a refused
/// network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RemotesSection {
    /// Networks (`address/prefix`) berth connects to even when a refused network holds them,
    /// e.g. `["127.0.0.0/8"]` for an upstream on the same machine. In the environment: a
    /// comma-separated list.
    #[serde(deserialize_with = "list")]
    pub allow_networks: Vec<String>,
    /// Networks berth never connects to for an upstream (every address a host resolves to is
    /// checked, and every redirect). Default: loopback, link-local (169.254.0.0/16, which holds
    /// the cloud metadata services, and fe80::/10), 0.0.0.0/8, multicast and reserved ranges,
    /// 100.100.100.200 and fd00:ec2::254 (metadata services). Private networks are allowed.
    #[serde(deserialize_with = "list")]
    pub deny_networks: Vec<String>,
    /// Registries reached over plain HTTP instead of HTTPS, as `host` (any port) or
    /// `host:port`: Docker's "insecure registries".
    #[serde(deserialize_with = "list")]
    pub insecure_registries: Vec<String>,
    /// Redirects followed per request at most.
    pub max_redirects: usize,
    /// Connecting (name resolution, TCP, TLS) may take this many seconds.
    pub connect_timeout_secs: u64,
    /// An upstream's answer (status and headers) must start within this many seconds.
    pub first_byte_timeout_secs: u64,
    /// A body may stall this many seconds between two reads (blobs are streamed without a
    /// total limit).
    pub idle_timeout_secs: u64,
    /// An answer read at once (a ping, a token, a manifest, at most
    /// `limits.max_manifest_bytes`) must be complete within this many seconds.
    pub request_timeout_secs: u64,
    /// Seconds between two syncs of a mirrored Helm repository (`/api/repos`) that sets no
    /// interval of its own.
    pub helm_sync_interval_secs: u64,
}

impl Default for RemotesSection {
    fn default() -> Self {
        RemotesSection {
            allow_networks: Vec::new(),
            deny_networks: berth_remote::policy::DEFAULT_DENY
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
            insecure_registries: Vec::new(),
            max_redirects: 5,
            connect_timeout_secs: 10,
            first_byte_timeout_secs: 30,
            idle_timeout_secs: 30,
            request_timeout_secs: 60,
            helm_sync_interval_secs: 3600,
        }
    }
}

/// A list from a TOML array, or from a comma-separated string (an environment variable).
fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NamespacesConfig {
    /// A push into a namespace that does not exist creates it (the pusher becomes its
    /// manager). When false, such a push is refused with NAME_UNKNOWN.
    pub create_on_push: bool,
    /// Whether namespaces created on push are public (anyone may pull).
    pub public_on_push: bool,
    /// Whether users who are not administrators may create namespaces.
    pub users_create: bool,
    /// How long, in milliseconds, a replica reuses a repository it resolved before looking
    /// it up again: how long other replicas may take to see a repository's visibility change
    /// or deletion. 0 looks up on every request.
    pub resolve_cache_ms: u64,
}

impl Default for NamespacesConfig {
    fn default() -> Self {
        NamespacesConfig {
            create_on_push: true,
            public_on_push: false,
            users_create: true,
            resolve_cache_ms: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            database: DatabaseConfig::default(),
            limits: LimitsConfig::default(),
            namespaces: NamespacesConfig::default(),
            auth: AuthSection::default(),
            remotes: RemotesSection::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5000".into(),
            log_level: "info".into(),
            log_format: LogFormat::Text,
            drain_max_bytes: 64 * 1024 * 1024,
            drain_timeout_secs: 30,
            external_url: None,
            trust_forwarded: false,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 16,
        }
    }
}

/// Which metadata database the configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_manifest_bytes: berth_core::manifest::MAX_MANIFEST_BYTES,
            upload_ttl_secs: 24 * 3600,
            upload_purge_interval_secs: 3600,
            orphan_grace_secs: 3600,
            max_chart_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The environment variable prefix; `__` separates the path (`BERTH__SERVER__LISTEN`).
const ENV_PREFIX: &str = "BERTH__";

impl Config {
    /// Loads defaults, then `file` (if any), then `BERTH__*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        // Every field has a serde default: an empty table is the default configuration.
        let mut value = toml::Value::Table(toml::Table::new());
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading config file {}", file.display()))?;
            let from_file: toml::Value = toml::from_str(&text)
                .with_context(|| format!("parsing config file {}", file.display()))?;
            merge(&mut value, from_file);
        }
        for (key, raw) in env {
            let Some(path) = key.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
            set_path(&mut value, &path, scalar(&raw))
                .with_context(|| format!("environment variable {key}"))?;
        }
        let config: Config = value.try_into().context("invalid configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.server.external_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("server.external_url must start with http:// or https://");
        }
        if let Some(key) = &self.auth.encryption_key {
            parse_key(key.expose())?;
        }
        if self.auth.token_ttl_secs == 0 || self.auth.max_failed_logins == 0 {
            bail!("auth.token_ttl_secs and auth.max_failed_logins must be positive");
        }
        if self.limits.max_manifest_bytes == 0 {
            bail!("limits.max_manifest_bytes must be positive");
        }
        if self.limits.max_chart_bytes == 0 {
            bail!("limits.max_chart_bytes must be positive");
        }
        if self.limits.upload_purge_interval_secs == 0 {
            bail!("limits.upload_purge_interval_secs must be positive");
        }
        if let Some(url) = &self.database.url
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.expose().starts_with(scheme))
        {
            bail!("database.url must start with sqlite:, postgres:// or postgresql://");
        }
        if self.storage.kind == StorageKind::S3 && self.storage.s3.bucket.is_empty() {
            bail!("storage.bucket is required with storage.type = \"s3\"");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be positive");
        }
        self.upstream_client_config()?;
        let r = &self.remotes;
        if [
            r.connect_timeout_secs,
            r.first_byte_timeout_secs,
            r.idle_timeout_secs,
            r.request_timeout_secs,
        ]
        .contains(&0)
        {
            bail!("the remotes.*_timeout_secs must be positive");
        }
        if r.helm_sync_interval_secs == 0 {
            bail!("remotes.helm_sync_interval_secs must be positive");
        }
        for registry in &r.insecure_registries {
            if !berth_service::valid_registry_host(registry)
                && !registry
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                bail!("remotes.insecure_registries: {registry:?} is not host or host:port");
            }
        }
        Ok(())
    }

    /// How the upstream client behaves, from `[remotes]` (and the manifest limit).
    pub fn upstream_client_config(&self) -> anyhow::Result<berth_remote::ClientConfig> {
        let networks = |key: &str, items: &[String]| -> anyhow::Result<Vec<_>> {
            items
                .iter()
                .map(|n| {
                    n.parse::<berth_remote::policy::Network>()
                        .map_err(|e| anyhow::anyhow!("remotes.{key}: {e}"))
                })
                .collect()
        };
        let r = &self.remotes;
        Ok(berth_remote::ClientConfig {
            policy: berth_remote::policy::AddressPolicy {
                allow: networks("allow_networks", &r.allow_networks)?,
                deny: networks("deny_networks", &r.deny_networks)?,
            },
            max_redirects: r.max_redirects,
            max_manifest_bytes: self.limits.max_manifest_bytes as u64,
            connect_timeout: Duration::from_secs(r.connect_timeout_secs),
            first_byte_timeout: Duration::from_secs(r.first_byte_timeout_secs),
            idle_timeout: Duration::from_secs(r.idle_timeout_secs),
            request_timeout: Duration::from_secs(r.request_timeout_secs),
        })
    }

    /// How the services behave, from this configuration.
    pub fn services(&self) -> berth_service::ServiceConfig {
        berth_service::ServiceConfig {
            limits: berth_service::RegistryLimits {
                max_manifest_bytes: self.limits.max_manifest_bytes,
                upload_ttl: Duration::from_secs(self.limits.upload_ttl_secs),
                orphan_grace: Duration::from_secs(self.limits.orphan_grace_secs),
                charts: berth_service::charts::ChartLimits {
                    max_chart_bytes: self.limits.max_chart_bytes,
                    ..Default::default()
                },
                ..Default::default()
            },
            namespaces: berth_service::NamespacePolicy {
                create_on_push: self.namespaces.create_on_push,
                public_on_push: self.namespaces.public_on_push,
                resolve_ttl: Duration::from_millis(self.namespaces.resolve_cache_ms),
            },
            users_create_namespaces: self.namespaces.users_create,
            auth: berth_service::AuthConfig {
                enabled: self.auth.enabled,
                admin_user: self.auth.admin_user.clone(),
                admin_password: self.auth.admin_password.clone(),
                service: self.auth.service.clone(),
                token_ttl: Duration::from_secs(self.auth.token_ttl_secs),
                max_failures: self.auth.max_failed_logins,
                ..Default::default()
            },
            helm_repos: berth_service::HelmRepoConfig {
                default_interval: Duration::from_secs(self.remotes.helm_sync_interval_secs),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
    }

    pub fn database(&self) -> Database {
        match self.database.url.as_ref().map(Secret::expose) {
            Some(url) if url.starts_with("postgres") => Database::Postgres(url.to_owned()),
            Some(url) => Database::Sqlite(PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            )),
            None => Database::Sqlite(self.data_dir.join("berth.db")),
        }
    }

    /// Logs the effective configuration as one event with a field per section (`server`,
    /// `storage`, ...) holding that section's keys as a JSON object, and `data_dir`. Secrets
    /// are redacted (a `Secret` serializes as `***`; the database URL keeps all but its
    /// password); unset options are left out.
    pub fn log_effective(&self) {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let (Some(url), Some(database)) = (&self.database.url, value.get_mut("database")) {
            database["url"] = serde_json::Value::String(redact_url_password(url.expose()));
        }
        let section = |name: &str| -> String {
            match value.get(name) {
                Some(serde_json::Value::Object(fields)) => {
                    let set: serde_json::Map<_, _> = fields
                        .iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    serde_json::Value::Object(set).to_string()
                }
                _ => "{}".to_owned(),
            }
        };
        tracing::info!(
            data_dir = %self.data_dir.display(),
            server = %section("server"),
            storage = %section("storage"),
            database = %section("database"),
            limits = %section("limits"),
            namespaces = %section("namespaces"),
            auth = %section("auth"),
            remotes = %section("remotes"),
            "effective configuration"
        );
    }
}

/// An AES-256 key from 64 hex characters.
pub fn parse_key(hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_key.trim()).context("auth.encryption_key is not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("auth.encryption_key must be 64 hex characters (32 bytes)"))
}

/// `scheme://user:password@host/...` with the password replaced by `***`.
fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}/{path}")
        }
        None => url.to_owned(),
    }
}

/// An environment value as TOML if it reads as a number or boolean, else as a string.
fn scalar(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

fn set_path(value: &mut toml::Value, path: &[String], new: toml::Value) -> anyhow::Result<()> {
    let (last, parents) = path.split_last().context("empty key")?;
    let mut table = value.as_table_mut().context("config is not a table")?;
    for p in parents {
        table = table
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .with_context(|| format!("{p} is not a section"))?;
    }
    table.insert(last.clone(), new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_env_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/berth\"\n[server]\nlisten = \"0.0.0.0:80\"\nlog_level = \"debug\"\n",
        )
        .unwrap();
        let env = vec![
            (
                "BERTH__SERVER__LISTEN".to_string(),
                "127.0.0.1:9999".to_string(),
            ),
            (
                "BERTH__LIMITS__MAX_MANIFEST_BYTES".to_string(),
                "1000".to_string(),
            ),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/berth"));
        assert_eq!(c.server.listen, "127.0.0.1:9999");
        assert_eq!(c.server.log_level, "debug");
        assert_eq!(c.limits.max_manifest_bytes, 1000);
        assert_eq!(c.blob_dir(), PathBuf::from("/srv/berth"));
        assert_eq!(
            c.database(),
            Database::Sqlite(PathBuf::from("/srv/berth/berth.db"))
        );
        assert_eq!(Config::load(None, vec![]).unwrap(), Config::default());
    }

    /// What [`Config::log_effective`] writes as a JSON line, as `berth serve --log-format
    /// json` would.
    fn logged(config: &Config) -> serde_json::Map<String, serde_json::Value> {
        let captured = crate::serve::tests::Captured::default();
        let subscriber = crate::serve::log_subscriber(
            LogFormat::Json,
            tracing_subscriber::EnvFilter::new("info"),
            captured.clone(),
            false,
        );
        tracing::subscriber::with_default(subscriber, || config.log_effective());
        let text = captured.text();
        assert_eq!(text.lines().count(), 1, "one event: {text}");
        let event: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).unwrap();
        assert_eq!(event["message"], "effective configuration");
        // Flatten: each section field is a JSON object of its keys.
        let mut line = serde_json::Map::new();
        for (field, value) in event {
            if ["timestamp", "level", "target", "message"].contains(&field.as_str()) {
                continue;
            }
            match value.as_str().and_then(|s| serde_json::from_str(s).ok()) {
                Some(serde_json::Value::Object(keys)) => {
                    for (key, v) in keys {
                        line.insert(format!("{field}.{key}"), v);
                    }
                }
                _ => {
                    line.insert(field, value);
                }
            }
        }
        line
    }

    /// Every key of a configuration, dotted (`server.listen`), with its value as shown.
    fn keys(value: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(table) => {
                for (key, value) in table {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    keys(value, &path, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    #[test]
    fn the_effective_configuration_is_one_event_with_every_key_and_no_secret() {
        let env = [
            ("BERTH__STORAGE__TYPE", "s3"),
            ("BERTH__STORAGE__PATH", "/srv/blobs"),
            ("BERTH__STORAGE__ENDPOINT", "http://127.0.0.1:9000"),
            ("BERTH__STORAGE__BUCKET", "b"),
            ("BERTH__STORAGE__PREFIX", "reg/"),
            ("BERTH__STORAGE__SECRET_ACCESS_KEY", "topsecret"),
            (
                "BERTH__DATABASE__URL",
                "postgres://berth:s3cret@db:5432/berth",
            ),
        ];
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let config = Config::load(None, env).unwrap();
        let line = logged(&config);
        let text = serde_json::to_string(&line).unwrap();
        assert!(
            !text.contains("topsecret") && !text.contains("s3cret"),
            "{text}"
        );
        assert_eq!(line["storage.secret_access_key"], "***");
        assert_eq!(line["database.url"], "postgres://berth:***@db:5432/berth");
        assert_eq!(line["storage.type"], "s3");
        assert_eq!(line["server.log_format"], "text");
        assert_eq!(line["storage.max_retries"], 5);
        assert_eq!(line["auth.enabled"], true);
        // Every configuration key is a field, and nothing else is.
        let mut expected = Vec::new();
        keys(&toml::Value::try_from(&config).unwrap(), "", &mut expected);
        expected.sort();
        let mut found: Vec<String> = line.keys().cloned().collect();
        found.sort();
        assert_eq!(found, expected);
        // Unset options are left out.
        assert!(!logged(&Config::default()).contains_key("storage.endpoint"));
    }

    #[test]
    fn postgres_url_is_selected_and_its_password_never_shown() {
        let env = vec![(
            "BERTH__DATABASE__URL".to_string(),
            "postgres://berth:s3cret@db.example:5432/berth".to_string(),
        )];
        let c = Config::load(None, env).unwrap();
        assert_eq!(
            c.database(),
            Database::Postgres("postgres://berth:s3cret@db.example:5432/berth".into())
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            logged(&c)["database.url"],
            "postgres://berth:***@db.example:5432/berth"
        );
        let bad = vec![("BERTH__DATABASE__URL".to_string(), "mysql://x".to_string())];
        assert!(Config::load(None, bad).is_err());
    }

    #[test]
    fn s3_storage_from_file_and_env_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(
            &file,
            "[storage]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"b\"\n\
             access_key_id = \"AK\"\npath_style = true\nallow_http = true\nmax_retries = 2\n",
        )
        .unwrap();
        let env = vec![(
            "BERTH__STORAGE__SECRET_ACCESS_KEY".to_string(),
            "topsecret".to_string(),
        )];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.storage.kind, StorageKind::S3);
        let s3 = &c.storage.s3;
        assert_eq!(s3.secret_access_key.expose(), "topsecret");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(s3.path_style && s3.allow_http);
        assert_eq!(s3.max_retries, 2);
        assert_eq!(
            s3.retry_timeout_secs,
            S3Config::default().retry_timeout_secs
        );
        assert!(!format!("{c:?}").contains("topsecret"));
        let no_bucket = vec![("BERTH__STORAGE__TYPE".to_string(), "s3".to_string())];
        assert!(Config::load(None, no_bucket).is_err());
    }

    #[test]
    fn remotes_networks_from_file_and_env() {
        let defaults = Config::default().upstream_client_config().unwrap();
        assert!(defaults.policy.allow.is_empty());
        let metadata: std::net::IpAddr = "169.254.169.254".parse().unwrap();
        assert!(defaults.policy.refusal(metadata).is_some());
        let env = vec![
            (
                "BERTH__REMOTES__ALLOW_NETWORKS".to_string(),
                "127.0.0.0/8, ::1".to_string(),
            ),
            (
                "BERTH__REMOTES__INSECURE_REGISTRIES".to_string(),
                "127.0.0.1".to_string(),
            ),
            (
                "BERTH__REMOTES__FIRST_BYTE_TIMEOUT_SECS".to_string(),
                "3".to_string(),
            ),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.remotes.allow_networks, ["127.0.0.0/8", "::1"]);
        assert_eq!(c.remotes.insecure_registries, ["127.0.0.1"]);
        let client = c.upstream_client_config().unwrap();
        assert!(
            client
                .policy
                .refusal("127.0.0.1".parse().unwrap())
                .is_none()
        );
        assert!(client.policy.refusal(metadata).is_some());
        assert_eq!(client.first_byte_timeout, Duration::from_secs(3));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(
            &file,
            "[remotes]\ndeny_networks = [\"10.0.0.0/8\"]\nmax_redirects = 1\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), vec![]).unwrap();
        let client = c.upstream_client_config().unwrap();
        assert!(
            client.policy.refusal(metadata).is_none(),
            "the list replaces the defaults"
        );
        assert!(client.policy.refusal("10.1.1.1".parse().unwrap()).is_some());
        assert_eq!(client.max_redirects, 1);
        for bad in [
            ("BERTH__REMOTES__DENY_NETWORKS", "169.254.0.0/99"),
            ("BERTH__REMOTES__ALLOW_NETWORKS", "example.com"),
            ("BERTH__REMOTES__IDLE_TIMEOUT_SECS", "0"),
            ("BERTH__REMOTES__INSECURE_REGISTRIES", "http://x"),
        ] {
            let env = vec![(bad.0.to_string(), bad.1.to_string())];
            assert!(Config::load(None, env).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        for bad in [
            "[server]\nlisten_addr = \"x\"\n",
            "[storage]\nbukcet = \"x\"\n",
            "[storage]\ntype = \"s3\"\nbucket = \"b\"\nsecret_key = \"x\"\n",
            "[server]\nlog_format = \"xml\"\n",
        ] {
            std::fs::write(&file, bad).unwrap();
            let err = Config::load(Some(&file), vec![]).unwrap_err();
            eprintln!("{bad:?}: {err:#}");
        }
        std::fs::write(&file, "[storage]\nbukcet = \"x\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&file), vec![]).unwrap_err());
        assert!(err.contains("bukcet") && err.contains("`bucket`"), "{err}");
        let env = vec![("BERTH__STORAGE__TYPE".to_string(), "floppy".to_string())];
        assert!(Config::load(None, env).is_err());
        let env = vec![("BERTH__STORAGE__EXTRA".to_string(), "1".to_string())];
        assert!(Config::load(None, env).is_err());
    }
}
