//! `sealdrop-server`: parse the configuration, set up logs, bind, run; or run an `admin`
//! command on the configured stores, or a `healthcheck` of the running server.

use anyhow::Context;
use clap::Parser;
use sealdrop_server::config::{Args, Command, Config, LogFormat};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = Args::parse();
    let command = args.command.take();
    let config = match Config::load(args) {
        Ok(config) => config,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "the one line a failed start prints")]
            {
                eprintln!("sealdrop-server: {e}");
            }
            return std::process::ExitCode::from(2);
        }
    };
    match command {
        Some(Command::Admin(admin)) => return sealdrop_server::admin::main(config, admin).await,
        Some(Command::Healthcheck(check)) => {
            return sealdrop_server::healthcheck::main(config, check).await;
        }
        None => {}
    }
    init_logs(config.log_format);
    match start(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn start(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        base_url = %config.base_url,
        tls = config.tls.is_some(),
        data_dir = %config.data_dir.display(),
        "sealdrop-server {} ready",
        env!("CARGO_PKG_VERSION")
    );
    let metrics = match config.metrics_listen {
        None => None,
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?;
            tracing::info!(
                metrics_listen = %listener.local_addr()?,
                "serving metrics at http://{}/metrics",
                listener.local_addr()?
            );
            Some(listener)
        }
    };
    if let Some(dir) = &config.web_dir {
        tracing::info!(
            web_dir = %dir.display(),
            "serving the web client from a directory, not the built-in copy"
        );
    }
    if config.base_url.contains("://0.0.0.0") || config.base_url.contains("://[::]") {
        tracing::warn!(
            "share links will point at {}: set --base-url to the public origin",
            config.base_url
        );
    }
    sealdrop_server::run(listener, metrics, config, shutdown_signal()).await
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
