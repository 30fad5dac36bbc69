//! berth's configuration: one documented struct. Precedence, lowest first: built-in defaults,
//! the TOML file (`--config`), environment variables `BERTH__<SECTION>__<KEY>`, command-line
//! flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded backends keep their files (blobs under `blobs/`, the SQLite
    /// database as `berth.db`).
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Which blob store: `fs` or `memory`.
    #[serde(rename = "type")]
    pub kind: StorageKind,
    /// Root directory of the `fs` store (default: `<data_dir>/blobs`).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// Metadata database. Default: the SQLite file `<data_dir>/berth.db`. A value
    /// `sqlite://PATH` selects another file.
    pub url: Option<String>,
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
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None }
    }
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
            && !url.starts_with("sqlite:")
        {
            bail!("database.url {url:?}: only sqlite:// URLs are supported");
        }
        Ok(())
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.storage
            .path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    pub fn sqlite_path(&self) -> PathBuf {
        match &self.database.url {
            Some(url) => PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            ),
            None => self.data_dir.join("berth.db"),
        }
    }

    /// The configuration as TOML, for the start-up log. (No secrets exist yet; when they
    /// do, they are redacted here.)
    pub fn redacted(&self) -> String {
        toml::to_string(self).unwrap_or_default()
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
        assert_eq!(c.blob_dir(), PathBuf::from("/srv/berth/blobs"));
        assert_eq!(c.sqlite_path(), PathBuf::from("/srv/berth/berth.db"));
        assert_eq!(Config::load(None, vec![]).unwrap(), Config::default());
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
