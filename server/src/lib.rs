//! The sealdrop server: Send v3 compatible, end-to-end-encrypted, expiring file sharing.
//!
//! The binary (`main.rs`) parses the configuration, binds the listeners, opens the stores
//! ([`open_state`]) and calls [`run_with_state`], which logs that the server is ready;
//! tests bind `127.0.0.1:0` and run the same server in-process ([`run`], [`serve`]), or
//! call [`app`] to test routes without a socket.
//!
//! # Layout
//!
//! - [`config`]: layered configuration (defaults < TOML < `SEALDROP_*` < flags).
//! - [`conn`]: the accept loop, connection caps, timeouts of slow clients, TLS, HTTP/1.1
//!   and HTTP/2.
//! - [`http`]: the routes; uploads, downloads, owner operations, server info.
//! - [`error`]: the one API error type.
//! - [`storage`]: the [`storage::BlobStore`] trait; local directory and S3 implementations.
//! - [`meta`]: the [`meta::MetaStore`] trait; SQLite and Redis implementations.
//! - [`expiry`]: the sweeper that reclaims the space of expired and finished files.
//! - [`admin`]: the operator's commands on reported files and the S3 bucket's set-up
//!   (`sealdrop-server admin`).
//! - [`healthcheck`]: `sealdrop-server healthcheck`, a health probe for containers.
//! - [`upload_auth`]: who may upload (`--upload-auth`): users, tokens, daily quotas.
//! - [`metrics`]: the server's own metrics for Prometheus (`--metrics-listen`).
//! - [`clock`]: wall-clock time, injectable for tests.
//! - [`startup`]: start-up failures: one sentence naming the option to check, and the
//!   process's exit codes.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod clock;
pub mod config;
pub mod conn;
pub mod error;
pub mod expiry;
pub mod healthcheck;
pub mod http;
pub mod meta;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod storage;
pub mod upload_auth;

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::net::TcpListener;

pub use config::Config;
use config::{MetaConfig, StorageConfig};
pub use state::AppState;

use clock::{Clock, SystemClock};

/// The router of a server with this state (no socket needed: use `oneshot` in tests).
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// Opens the configured stores: by default the embedded ones under `config.data_dir`
/// (blobs in `blobs/`, metadata in `meta.sqlite`), else S3 and/or Redis, and checks that
/// they answer. Fails when a store is unreachable or unusable: the error's outermost
/// context (its `Display`) is one sentence naming the option to check, the details are
/// the rest of its chain (`{:#}`); see [`startup`].
pub async fn open_state(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    open_stores(config, clock, true).await
}

/// Like [`open_state`], for a process that works beside a running server (the `admin`
/// commands): it leaves pending uploads in the blob directory alone, since they may be
/// the server's uploads in progress.
pub async fn open_state_beside_server(
    config: Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    open_stores(config, clock, false).await
}

async fn open_stores(
    config: Config,
    clock: Arc<dyn Clock>,
    owns_blob_dir: bool,
) -> anyhow::Result<AppState> {
    let blobs: Arc<dyn storage::BlobStore> = match &config.storage {
        StorageConfig::Fs => {
            let blob_dir = config.data_dir.join("blobs");
            let use_dir = || format!("store blobs in {}", blob_dir.display());
            let blobs = startup::check_option(
                storage::fs::FsStore::open(&blob_dir).await,
                use_dir,
                "--data-dir",
            )?;
            // A process that owns the directory: anything pending is a leftover of a crash.
            if owns_blob_dir {
                let discarded = startup::check_option(
                    storage::BlobStore::discard_pending(&blobs, SystemTime::now()).await,
                    use_dir,
                    "--data-dir",
                )?;
                if discarded > 0 {
                    tracing::info!(
                        discarded,
                        "removed unfinished uploads left by an earlier run"
                    );
                }
            }
            Arc::new(blobs)
        }
        StorageConfig::S3(s3) => Arc::new(storage::s3::S3Store::connect(s3).await?),
    };
    let meta: Arc<dyn meta::MetaStore> = match &config.meta {
        MetaConfig::Sqlite => {
            let meta_path = config.data_dir.join("meta.sqlite");
            Arc::new(startup::check_option(
                meta::sqlite::SqliteStore::open(&meta_path),
                || format!("open the metadata database {}", meta_path.display()),
                "--data-dir",
            )?)
        }
        MetaConfig::Redis(url) => Arc::new(meta::redis::RedisStore::connect(url).await?),
    };
    let option = match config.upload_auth {
        config::UploadAuthMode::Basic => "--upload-users-file",
        config::UploadAuthMode::Token | config::UploadAuthMode::None => "--upload-tokens-file",
    };
    let upload_auth = Arc::new(startup::check_option(
        upload_auth::UploadAuth::load(&config),
        || "load the upload credentials".to_owned(),
        option,
    )?);
    Ok(AppState::new(config, meta, blobs, clock, upload_auth))
}

/// Opens the stores ([`open_state`]), then runs the server on `listener` until `shutdown`
/// resolves ([`run_with_state`]).
pub async fn run(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = open_state(config, Arc::new(SystemClock)).await?;
    run_with_state(listener, metrics_listener, state, shutdown).await
}

/// Logs `sealdrop-server VERSION ready` (the stores of `state` answered already), then runs
/// the server on `listener` until `shutdown` resolves: stops accepting, lets running
/// transfers finish for `config.shutdown_grace`, and cuts the rest (their pending uploads
/// are discarded). With a `metrics_listener`, the metrics are answered there (see
/// [`metrics`]) until the server has stopped. SIGHUP reloads the upload credentials.
pub async fn run_with_state(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = &state.config;
    tracing::info!(
        listen = %listener.local_addr()?,
        base_url = %config.base_url,
        tls = config.tls.is_some(),
        data_dir = %config.data_dir.display(),
        "sealdrop-server {} ready",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(metrics) = &metrics_listener {
        let addr = metrics.local_addr()?;
        tracing::info!(metrics_listen = %addr, "serving metrics at http://{addr}/metrics");
    }
    let reloader = tokio::spawn(reload_on_hangup(Arc::clone(&state.upload_auth)));
    let result = serve_with_metrics(listener, metrics_listener, state, shutdown).await;
    reloader.abort();
    result
}

/// Re-reads the upload credentials file on every SIGHUP (when upload authentication is
/// on; otherwise SIGHUP keeps its default action).
async fn reload_on_hangup(auth: Arc<upload_auth::UploadAuth>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if auth.mode() == config::UploadAuthMode::None {
            return;
        }
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: restart to reload upload credentials");
            return;
        };
        while hangups.recv().await.is_some() {
            match auth.reload() {
                Ok(count) => tracing::info!(count, "upload credentials reloaded"),
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "reloading the upload credentials failed; the previous ones stay in force"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = auth;
}

/// Like [`run`], with stores and clock already made, and no metrics listener. The
/// connection layer (caps, timeouts, TLS, HTTP versions) is described in [`conn`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_metrics(listener, None, state, shutdown).await
}

/// Like [`serve`], with the metrics answered on `metrics_listener` (see [`metrics`]):
/// through the graceful shutdown, so the running transfers can be watched draining, and
/// closed once the server has stopped.
pub async fn serve_with_metrics(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let grace = state.config.shutdown_grace;
    let transfers = state.transfers.clone();
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = metrics_listener.map(|listener| {
        let registry = state.metrics.clone();
        let config = state.config.clone();
        tokio::spawn(async move {
            let stopped = async {
                let _ = metrics_stopped.await;
            };
            metrics::serve(listener, registry, &config, stopped).await;
        })
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Reads never depend on the sweeper: an instance may leave it to another one.
    let sweeper = state
        .config
        .sweeper
        .then(|| tokio::spawn(expiry::run(state.clone(), wait_for(stop_rx))));
    let config = state.config.clone();
    let counted = Some(state.metrics.clone());
    let connections = conn::serve(listener, app(state), &config, shutdown, counted).await;
    tracing::info!("shutting down: no new connections");
    let _ = stop_tx.send(true);
    let drained = async {
        connections.finished().await;
        // HTTP transfers are done; WebSocket uploads may still run.
        transfers.close();
        transfers.wait().await;
    };
    tokio::select! {
        () = drained => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("shutdown grace period over: cutting the remaining transfers");
            connections.cut().await;
        }
    }
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    let _ = metrics_stop.send(());
    if let Some(server) = metrics_server {
        let _ = server.await;
    }
    Ok(())
}

async fn wait_for(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
