//! berth's configuration: one documented struct. Precedence, lowest first: built-in defaults,
//! the TOML file (`--config`), environment variables `BERTH__<SECTION>__<KEY>`, command-line
//! flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing directive
    /// such as `berth=debug,tower_http=info`).
    pub log_level: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files on the local filesystem.
    Fs,
    /// Process memory (lost at exit; for trials and tests).
    Memory,
    /// An S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...).
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Which blob store: `fs`, `memory` or `s3`.
    #[serde(rename = "type")]
    pub kind: StorageKind,
    /// Root directory of the `fs` store (default: `data_dir`; it holds `blobs/` and
    /// `uploads/`, which should be on one filesystem so that commits are renames).
    pub path: Option<PathBuf>,
    /// `s3`: endpoint of an S3-compatible server (`https://minio.example:9000`); unset
    /// means AWS.
    pub endpoint: Option<String>,
    /// `s3`: the bucket (it must exist).
    pub bucket: String,
    /// `s3`: signing region.
    pub region: String,
    /// `s3`: access key id.
    pub access_key_id: String,
    /// `s3`: secret access key (prefer `BERTH__STORAGE__SECRET_ACCESS_KEY`; never logged).
    pub secret_access_key: String,
    /// `s3`: path-style requests (`endpoint/bucket/key`), as MinIO and Ceph expect.
    pub path_style: bool,
    /// `s3`: allow a plain-HTTP endpoint.
    pub allow_http: bool,
    /// `s3`: key prefix inside the bucket.
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Metadata database. Default: the SQLite file `<data_dir>/berth.db`. `sqlite://PATH`
    /// selects another file; `postgres://USER:PASSWORD@HOST:PORT/DB` selects PostgreSQL
    /// (what several replicas share). The password is never logged.
    pub url: Option<String>,
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
    /// How often the purge of stale uploads runs, in seconds.
    pub upload_purge_interval_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./data"),
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            database: DatabaseConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5000".into(),
            log_level: "info".into(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            kind: StorageKind::Fs,
            path: None,
            endpoint: None,
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: false,
            allow_http: false,
            prefix: None,
        }
    }
}

impl StorageConfig {
    pub fn s3(&self) -> berth_storage::S3Config {
        berth_storage::S3Config {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            path_style: self.path_style,
            allow_http: self.allow_http,
            prefix: self.prefix.clone(),
            ..berth_storage::S3Config::default()
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
        let mut value = toml::Value::try_from(Config::default())?;
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
        if self.limits.max_manifest_bytes == 0 {
            bail!("limits.max_manifest_bytes must be positive");
        }
        if self.limits.upload_purge_interval_secs == 0 {
            bail!("limits.upload_purge_interval_secs must be positive");
        }
        if let Some(url) = &self.database.url
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        {
            bail!("database.url must start with sqlite:, postgres:// or postgresql://");
        }
        if self.storage.kind == StorageKind::S3 && self.storage.bucket.is_empty() {
            bail!("storage.bucket is required with storage.type = \"s3\"");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be positive");
        }
        Ok(())
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
    }

    pub fn database(&self) -> Database {
        match &self.database.url {
            Some(url) if url.starts_with("postgres") => Database::Postgres(url.clone()),
            Some(url) => Database::Sqlite(PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            )),
            None => Database::Sqlite(self.data_dir.join("berth.db")),
        }
    }

    /// The configuration as TOML with every secret replaced, for the start-up log.
    pub fn redacted(&self) -> String {
        let mut shown = self.clone();
        if let Some(url) = &mut shown.database.url {
            *url = redact_url_password(url);
        }
        if !shown.storage.secret_access_key.is_empty() {
            shown.storage.secret_access_key = "***".into();
        }
        toml::to_string(&shown).unwrap_or_default()
    }
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
        let shown = c.redacted();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://berth:***@db.example:5432/berth"),
            "{shown}"
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
            "[storage]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"b\"\naccess_key_id = \"AK\"\npath_style = true\nallow_http = true\n",
        )
        .unwrap();
        let env = vec![(
            "BERTH__STORAGE__SECRET_ACCESS_KEY".to_string(),
            "topsecret".to_string(),
        )];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.storage.kind, StorageKind::S3);
        let s3 = c.storage.s3();
        assert_eq!(s3.secret_access_key, "topsecret");
        assert!(s3.path_style && s3.allow_http);
        assert!(!c.redacted().contains("topsecret"));
        assert!(!format!("{s3:?}").contains("topsecret"));
        let no_bucket = vec![("BERTH__STORAGE__TYPE".to_string(), "s3".to_string())];
        assert!(Config::load(None, no_bucket).is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.toml");
        std::fs::write(&file, "[server]\nlisten_addr = \"x\"\n").unwrap();
        assert!(Config::load(Some(&file), vec![]).is_err());
        let env = vec![("BERTH__STORAGE__TYPE".to_string(), "floppy".to_string())];
        assert!(Config::load(None, env).is_err());
    }
}
