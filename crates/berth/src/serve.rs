//! `berth serve`: wire the configured backends into the service and the HTTP application.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use berth_api::AppState;
use berth_meta::{Meta, PostgresMetaStore, SqliteMetaStore};
use berth_service::Services;
use berth_storage::{BlobStore, FsBlobStore, MemoryBlobStore, S3BlobStore};
use tokio::sync::watch;

use crate::config::{Config, Database, StorageKind};

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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.server.log_level)
                .context("invalid log level")?,
        )
        .with_writer(std::io::stderr)
        .init();
    tracing::info!(config = %config.redacted(), "effective configuration");

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let blobs: Arc<dyn BlobStore> = match config.storage.kind {
        StorageKind::Fs => Arc::new(
            FsBlobStore::open(config.blob_dir())
                .with_context(|| format!("opening blob store {}", config.blob_dir().display()))?,
        ),
        StorageKind::Memory => Arc::new(MemoryBlobStore::new()),
        StorageKind::S3 => {
            Arc::new(S3BlobStore::new(&config.storage.s3()).context("configuring S3 storage")?)
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
    let services = Arc::new(Services::new(blobs, meta, config.services()));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let jobs = services.spawn_background(
        Duration::from_secs(config.limits.upload_purge_interval_secs),
        shutdown_rx,
    );

    let app = berth_api::router(AppState::new(services));
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    // The first line on stdout says where berth listens (tests read it with port 0).
    println!("berth listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    let _ = shutdown_tx.send(true);
    for job in jobs {
        let _ = job.await;
    }
    tracing::info!("stopped");
    Ok(())
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
