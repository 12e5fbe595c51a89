//! `sealdrop`, the command-line client of sealdrop: send and receive end-to-end-encrypted,
//! expiring files over the Firefox Send v3 protocol, against sealdrop-server or any Send
//! v3 server.
//!
//! The binary (`main.rs`) parses the command line and calls [`run`] with it, which reads
//! the configuration file and returns an [`Error`] whose [`Kind`] is the exit code.
//! Everything else is private.
//!
//! # Layout
//!
//! - `args`: the command line (clap derive), every option with its `SEALDROP_*` variable.
//! - `config`: the configuration file under the environment and the flags, and where each
//!   setting comes from (`sealdrop config`).
//! - `docs`: shell completions and manual pages from the clap definition.
//! - `desktop`: `--copy` and `--open`, the clipboard and the system's opener.
//! - `cmd/`: one file per subcommand, and the shared link and owner-token resolution.
//! - `client`: HTTP (reqwest) and WebSocket (tokio-tungstenite) speaking Send v3.
//! - `source`: what an upload reads (files, directories, stdin) and its encryption into
//!   frames, in bounded memory.
//! - `sink`: where a download goes; temporary files renamed only after verification.
//! - `output`: human, JSON and quiet output; cleaning of untrusted names.
//! - `history`: the 0600 record of uploaded shares and their owner tokens.
//! - `password`: passwords from a value, a file or a prompt (terminal only).
//! - `strength`: password strength estimates and generated passphrases (the web page's
//!   rules, on the same vendored lists).
//! - `credentials`: upload tokens and Basic credentials for servers that restrict uploads.
//! - `ratelimit`: waiting (or not) when a server answers 429 with `Retry-After`.
//! - `error`: the error type and the exit-code table.

mod args;
mod client;
mod cmd;
mod config;
mod credentials;
mod desktop;
mod docs;
mod error;
mod history;
mod output;
mod password;
mod ratelimit;
mod sink;
mod source;
mod strength;

pub use args::Cli;
pub use error::{Error, Kind};

/// The background processes the CLI starts itself, which are not commands of its
/// interface (so not in `--help`, completions or manual pages): `main` calls this with
/// the process's arguments before parsing them; `None` means an ordinary command line.
/// Today the one such process is `upload --copy`'s clipboard holder on X11.
pub fn helper_process(args: &[std::ffi::OsString]) -> Option<Result<(), Error>> {
    desktop::helper_process(args)
}

/// Runs a parsed command line to completion on its own runtime, with the configuration
/// file under the flags and environment variables `matches` says were given (`cli` is
/// parsed from `matches`). Ctrl-C stops it cleanly: temporary files are removed and
/// [`Kind::Interrupted`] is returned.
pub fn run(mut cli: Cli, matches: &clap::ArgMatches) -> Result<(), Error> {
    // Completions and manual pages are the same whatever the configuration says (and
    // work when it is broken).
    match &cli.command {
        args::Command::Completions(args) => return docs::completions(args.shell),
        args::Command::Man(args) => return docs::man(args.dir.as_deref()),
        _ => {}
    }
    let provenance = config::layer(&mut cli, matches)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", &e))?;
    let result = runtime.block_on(async {
        tokio::select! {
            result = cmd::dispatch(cli, &provenance) => result,
            _ = tokio::signal::ctrl_c() => Err(Error::new(Kind::Interrupted, "interrupted")),
        }
    });
    // Blocking threads notice their closed channels and end; a read of a silent standard
    // input would not, so do not wait for ever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}
