//! `berth serve`: wire the configured backends into the service and the HTTP application.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use berth_api::{ApiConfig, AppState};
use berth_meta::{Meta, PostgresMetaStore, SqliteMetaStore};
use berth_service::Services;
use berth_storage::{BlobStore, FsBlobStore, MemoryBlobStore, S3BlobStore};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{Config, Database, LogFormat, StorageKind};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Data directory (overrides data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log filter (overrides server.log_level).
    #[arg(long)]
    log_level: Option<String>,
    /// Log format (overrides server.log_format).
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(
        args.config.map(crate::absolute).as_deref(),
        std::env::vars(),
    )?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(level) = args.log_level {
        config.server.log_level = level;
    }
    if let Some(format) = args.log_format {
        config.server.log_format = format;
    }
    let filter = EnvFilter::try_new(&config.server.log_level).context("invalid log level")?;
    let ansi = std::io::stderr().is_terminal();
    tracing::subscriber::set_global_default(log_subscriber(
        config.server.log_format,
        filter,
        std::io::stderr,
        ansi,
    ))
    .context("installing the logger")?;
    config.log_effective();

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let blobs: Arc<dyn BlobStore> = match config.storage.kind {
        StorageKind::Fs => Arc::new(
            FsBlobStore::open(config.blob_dir())
                .with_context(|| format!("opening blob store {}", config.blob_dir().display()))?,
        ),
        StorageKind::Memory => Arc::new(MemoryBlobStore::new()),
        StorageKind::S3 => {
            Arc::new(S3BlobStore::new(&config.storage.s3).context("configuring S3 storage")?)
        }
    };
    let meta = match config.database() {
        Database::Sqlite(path) => {
            Meta::new(Arc::new(SqliteMetaStore::open(&path).await.with_context(
                || format!("opening database {}", path.display()),
            )?))
        }
        Database::Postgres(url) => Meta::new(Arc::new(
            PostgresMetaStore::connect(&url, config.database.max_connections)
                .await
                .context("connecting to PostgreSQL")?,
        )),
    };
    let mut service_config = config.services();
    service_config.auth.sealing_key = sealing_key(&config)?;
    let upstream = berth_remote::RemoteClient::new(config.upstream_client_config()?)
        .map_err(|e| anyhow::anyhow!("building the upstream client: {e}"))?;
    service_config.remotes = berth_service::RemotesConfig {
        upstream: Some(Arc::new(upstream)),
        insecure_registries: config.remotes.insecure_registries.clone(),
    };
    let services = Arc::new(
        Services::start(blobs, meta, service_config)
            .await
            .map_err(|e| anyhow::anyhow!("starting the services: {e:?}"))?,
    );

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let jobs = services.spawn_background(
        Duration::from_secs(config.limits.upload_purge_interval_secs),
        shutdown_rx,
    );

    let api = ApiConfig {
        drain: berth_api::drain::DrainLimits {
            max_bytes: config.server.drain_max_bytes,
            timeout: Duration::from_secs(config.server.drain_timeout_secs),
        },
        external_url: config.server.external_url.clone(),
        trust_forwarded: config.server.trust_forwarded,
    };
    let generated_password = services.take_generated_admin_password();
    let app = berth_api::router(AppState::new(services, api));
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    // The first line on stdout says where berth listens (tests read it with port 0).
    println!("berth listening on http://{addr}");
    if let Some(password) = generated_password {
        // Shown this once; only its hash is kept.
        println!(
            "berth created the administrator {:?} with the password {password} (shown once; \
             change it with `berth user passwd`)",
            config.auth.admin_user
        );
    }
    if !config.auth.enabled {
        tracing::warn!(
            "authentication is off ([auth] enabled = false): everyone may do everything"
        );
    }
    tracing::info!(%addr, "listening");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    let _ = shutdown_tx.send(true);
    for job in jobs {
        let _ = job.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The logger: plain text (coloured only if `ansi`, which `serve` sets when stderr is a
/// terminal) or one JSON object per line, event fields at the top level and the current
/// span (the request's, with its id) under `span`.
pub fn log_subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// The key that seals secrets berth must read back: `[auth] encryption_key`, else on the
/// embedded default `<data_dir>/berth.key` (made on first start, readable by berth alone).
/// With PostgreSQL and no configured key there is none: every replica would need the same.
fn sealing_key(config: &Config) -> anyhow::Result<Option<[u8; 32]>> {
    if let Some(key) = &config.auth.encryption_key {
        return Ok(Some(crate::config::parse_key(key.expose())?));
    }
    if matches!(config.database(), Database::Postgres(_)) {
        tracing::warn!(
            "no [auth] encryption_key: SWR access keys cannot be issued (set the same key on every replica)"
        );
        return Ok(None);
    }
    let path = config.data_dir.join("berth.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return Ok(Some(
                crate::config::parse_key(&text)
                    .with_context(|| format!("reading {}", path.display()))?,
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let key = berth_service::auth::random_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write as _;
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(hex::encode(key).as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "created the sealing key");
    Ok(Some(key))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log writer that keeps what it is given.
    #[derive(Clone, Default)]
    pub struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;

        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    #[test]
    fn text_logs_have_no_colour_codes_unless_asked() {
        for ansi in [false, true] {
            let captured = Captured::default();
            let subscriber = log_subscriber(
                LogFormat::Text,
                EnvFilter::new("info"),
                captured.clone(),
                ansi,
            );
            tracing::subscriber::with_default(subscriber, || {
                tracing::warn!(answer = 42, "hello");
            });
            let text = captured.text();
            assert!(text.contains("hello") && text.contains("42"), "{text}");
            assert_eq!(text.contains('\x1b'), ansi, "{text:?}");
        }
    }
}
