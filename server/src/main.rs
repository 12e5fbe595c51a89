//! `sealdrop-server`: parse the configuration, set up logs, bind, open the stores, run;
//! or run an `admin` command on the configured stores, or a `healthcheck` of the running
//! server; or print the manual pages (`man`, which needs no configuration). A failed start
//! logs one sentence and exits with the code of [`sealdrop_server::startup`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches};
use sealdrop_server::config::{Args, Command, Config, LogFormat};
use sealdrop_server::startup::{EXIT_CONFIG, EXIT_FAILURE, EXIT_STORE};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[tokio::main]
async fn main() -> ExitCode {
    let matches = command().get_matches();
    if let Some(("man", man_args)) = matches.subcommand() {
        return man(man_args.get_one::<PathBuf>("dir").map(PathBuf::as_path));
    }
    let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let command = args.command.take();
    let config = match Config::load(args) {
        Ok(config) => config,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "the one line a failed start prints")]
            {
                eprintln!("sealdrop-server: {e}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match command {
        Some(Command::Admin(admin)) => {
            init_admin_logs();
            return sealdrop_server::admin::main(config, admin).await;
        }
        Some(Command::Healthcheck(check)) => {
            return sealdrop_server::healthcheck::main(config, check).await;
        }
        None => {}
    }
    init_logs(config.log_format);
    match start(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            // The sentence names the option to check; the SDK's or the OS's details only
            // with RUST_LOG=debug.
            tracing::debug!("the start failed: {e:#}");
            tracing::error!("{e}");
            ExitCode::from(code)
        }
    }
}

/// The command line: the configuration's [`Args`], and `man`, which is answered before
/// any configuration is read (a packager runs it where no configuration exists).
fn command() -> clap::Command {
    let man = clap::Command::new("man")
        .about("Print the manual page, or write every page (one per command) into a directory")
        .long_about(
            "Print the manual page sealdrop-server(1) on standard output, or with DIR \
             write it and one page per command (sealdrop-server-admin(1), ...) into DIR, \
             as packages install them under /usr/share/man/man1.",
        )
        .arg(
            clap::Arg::new("dir")
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .value_hint(clap::ValueHint::DirPath)
                .help("Write every page into this directory (created if need be)"),
        );
    Args::command().subcommand(man)
}

/// `sealdrop-server man [DIR]`.
fn man(dir: Option<&Path>) -> ExitCode {
    let written = match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command().disable_help_subcommand(true))
                .render(&mut page)
                .and_then(|()| std::io::stdout().lock().write_all(&page))
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(command(), dir))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "the one line a failed command prints")]
            {
                eprintln!("sealdrop-server: cannot write the manual pages: {e}");
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Binds, opens the stores, then runs until SIGTERM or Ctrl-C. An error comes with the
/// process's exit code.
async fn start(config: Config) -> Result<(), (u8, anyhow::Error)> {
    let failed = |code| move |e| (code, e);
    let listen = sealdrop_server::startup::listen;
    let listener = listen(config.listen, "--listen")
        .await
        .map_err(failed(EXIT_FAILURE))?;
    let metrics = match config.metrics_listen {
        None => None,
        Some(addr) => Some(
            listen(addr, "--metrics-listen")
                .await
                .map_err(failed(EXIT_FAILURE))?,
        ),
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
    let clock = Arc::new(sealdrop_server::clock::SystemClock);
    let state = sealdrop_server::open_state(config, clock)
        .await
        .map_err(failed(EXIT_STORE))?;
    sealdrop_server::run_with_state(listener, metrics, state, shutdown_signal())
        .await
        .map_err(failed(EXIT_FAILURE))
}

/// `admin` prints its results on standard output and one sentence on failure: logs go to
/// standard error, and only when `RUST_LOG` asks for them (`RUST_LOG=debug` shows why a
/// store could not be opened).
fn init_admin_logs() {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        let layer = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(false)
            .with_writer(std::io::stderr);
        tracing_subscriber::registry()
            .with(layer.with_filter(filter).with_filter(payload_safe()))
            .init();
    }
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(ansi);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter).with_filter(payload_safe()))
        .init();
}

/// Whatever `RUST_LOG` asks for, the crates that write message contents into their trace
/// lines stay at debug: the WebSocket library logs every received message and frame, and
/// an upload's first message holds the file's auth key and maybe an upload token.
/// (`tests/tests/secrets.rs` runs every route at `RUST_LOG=trace` and searches the log
/// for each secret.)
fn payload_safe() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("tungstenite", LevelFilter::DEBUG)
        .with_target("tokio_tungstenite", LevelFilter::DEBUG)
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
