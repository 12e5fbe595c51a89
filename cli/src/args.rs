//! The command line (clap derive). Every option has an environment variable
//! `SEALDROP_*`; a flag on the command line beats the variable, which beats the
//! configuration file (`config`).

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

/// The server used when neither `--host` nor `SEALDROP_HOST` names one.
pub(crate) const DEFAULT_HOST: &str = "http://127.0.0.1:8080";

/// The exit codes, the CLI's interface to scripts (`--help`, the manual page, README).
/// A line break continues the description.
pub(crate) const EXIT_CODES: [(u8, &str); 9] = [
    (
        0,
        "success (also when the reader of standard output goes away early)",
    ),
    (
        1,
        "usage: bad arguments, a malformed configuration file, or a value the server's\nlimits refuse",
    ),
    (
        2,
        "not found: the share expired, reached its download limit, was deleted or never existed",
    ),
    (
        3,
        "authentication: wrong or missing password or owner token, or no terminal to ask on",
    ),
    (4, "network or server failure"),
    (
        5,
        "local I/O: a file cannot be read or written, or exists already (see --force)",
    ),
    (
        6,
        "decryption or integrity failure: the data is corrupt, truncated or tampered with,\nor the share holds an unsafe file name; nothing is saved",
    ),
    (
        7,
        "rate limited: the server asks to wait longer than --max-wait (or --no-wait is set);\nthe sentence says when to try again",
    ),
    (130, "interrupted (Ctrl-C); temporary files are removed"),
];

/// What the configuration file is, for `--help` and the manual page.
pub(crate) const CONFIGURATION: &str = "Defaults for uploads (host, expiry, downloads, \
    token-file, transport, qr) and the global options (history, no-history, max-wait, \
    no-wait, no-progress) can live in a TOML file whose keys are the long option names: \
    <user config dir>/sealdrop/config.toml (on Linux $XDG_CONFIG_HOME/sealdrop/config.toml, \
    by default ~/.config/sealdrop/config.toml), or the file --config or SEALDROP_CONFIG \
    names. It never holds a secret: token, password and basic-auth are refused there. \
    Flags beat environment variables, which beat the file; sealdrop config shows the \
    effective settings and where each comes from.";

/// The end of `sealdrop --help`: the exit codes, the error format, the configuration.
fn after_long_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, what) in EXIT_CODES {
        let what = what.replace('\n', "\n       ");
        text.push_str(&format!("  {code:<4} {what}\n"));
    }
    text.push_str("\nErrors are one sentence on standard error, `sealdrop: <sentence>`.\n");
    text.push_str("\nConfiguration file:\n");
    text.push_str(CONFIGURATION);
    text
}

/// Send and receive end-to-end-encrypted files that expire.
#[derive(Debug, Parser)]
#[command(
    name = "sealdrop",
    version,
    about = "Send and receive end-to-end-encrypted files that expire (Firefox Send v3 compatible).",
    long_about = "Send and receive end-to-end-encrypted files that expire.\n\n\
        Files are encrypted on this machine; the server only ever sees ciphertext. The link \
        carries the key after '#', which never reaches the server. sealdrop speaks the \
        Firefox Send v3 protocol: it works with sealdrop-server and with Send servers, and \
        its links open in ffsend and the Send web app.\n\n\
        Scripting: --json prints one JSON object on standard output, -q prints only the \
        link, nothing ever prompts when standard input is not a terminal, and every option \
        has an environment variable (shown in each command's --help).",
    after_long_help = after_long_help(),
    propagate_version = true
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Print one JSON object on standard output instead of text.
    #[arg(
        long,
        global = true,
        env = "SEALDROP_JSON",
        value_parser = BoolishValueParser::new()
    )]
    pub json: bool,

    /// Print only the share link (upload) and otherwise nothing but errors; no progress bars.
    #[arg(
        short,
        long,
        global = true,
        env = "SEALDROP_QUIET",
        value_parser = BoolishValueParser::new()
    )]
    pub quiet: bool,

    /// Never show progress bars (they only appear when standard error is a terminal).
    #[arg(
        long,
        global = true,
        env = "SEALDROP_NO_PROGRESS",
        value_parser = BoolishValueParser::new()
    )]
    pub no_progress: bool,

    /// The history file of shares uploaded from here
    /// [default: <user data dir>/sealdrop/history.json].
    #[arg(
        long,
        global = true,
        env = "SEALDROP_HISTORY",
        value_name = "FILE",
        value_hint = ValueHint::FilePath
    )]
    pub history: Option<PathBuf>,

    /// Do not record uploads in the history (owner commands then need --owner).
    #[arg(
        long,
        global = true,
        env = "SEALDROP_NO_HISTORY",
        value_parser = BoolishValueParser::new()
    )]
    pub no_history: bool,

    /// Longest wait accepted from a server that limits requests: when it answers 429
    /// with a Retry-After up to this long, sealdrop says so on standard error (not with
    /// -q), waits and tries again, at most 3 times per request; a longer wait fails at
    /// once with exit code 7. Seconds, or 30s, 2m; 0 never waits.
    #[arg(
        long,
        global = true,
        env = "SEALDROP_MAX_WAIT",
        value_name = "DURATION",
        default_value = "60",
        value_parser = parse_wait
    )]
    pub max_wait: u64,

    /// Never wait for a server that limits requests: fail at once with exit code 7,
    /// saying when to try again (like --max-wait 0).
    #[arg(
        long,
        global = true,
        env = "SEALDROP_NO_WAIT",
        value_parser = BoolishValueParser::new()
    )]
    pub no_wait: bool,

    /// The configuration file: defaults for uploads and the options above
    /// [default: <user config dir>/sealdrop/config.toml, when it exists].
    #[arg(
        long,
        global = true,
        env = "SEALDROP_CONFIG",
        value_name = "FILE",
        value_hint = ValueHint::FilePath
    )]
    pub config: Option<PathBuf>,

    /// Read no configuration file, not even --config's.
    #[arg(
        long,
        global = true,
        env = "SEALDROP_NO_CONFIG",
        value_parser = BoolishValueParser::new()
    )]
    pub no_config: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt and upload files, a directory or standard input; print the share link.
    #[command(
        visible_alias = "up",
        long_about = "Encrypt and upload one file, several files, a directory, or standard input \
            ('-'), and print the share link.\n\n\
            Several files and directories travel as one share (Send's archive: the files \
            concatenated, their names and sizes in the encrypted manifest); `sealdrop download` \
            rebuilds them. Standard input is first copied to a temporary file, since the size \
            must be known before the upload starts.\n\n\
            Before uploading, the server's limits (/config) are checked: a file too large, an \
            expiry too long or a download limit too high is refused with the allowed values."
    )]
    Upload(UploadArgs),

    /// Download, verify and decrypt a share into a file (or a directory for several files).
    #[command(
        visible_alias = "get",
        long_about = "Download, verify and decrypt a share.\n\n\
            The file is written under its original (sanitised) name into the current directory, \
            or where -o says; a share of several files is rebuilt as files under that \
            directory. Data is decrypted into a temporary file beside the target, which is \
            renamed only after the last record verified: on any error nothing is left behind. \
            Existing files are never overwritten without --force.\n\n\
            With -o - the plaintext streams to standard output as records verify; a failure \
            at the end (truncation) is then reported by a non-zero exit code only."
    )]
    Download(DownloadArgs),

    /// Show what is known about a share: existence, password, downloads, expiry, name.
    Info(InfoArgs),

    /// Check whether a share still exists (exit code 0 if so, 2 if not).
    Exists(LinkArgs),

    /// Delete a share now (owner).
    Delete(OwnerArgs),

    /// Change the download limit of a share (owner).
    Params(ParamsArgs),

    /// Set or change the password of a share (owner).
    Password(PasswordCommandArgs),

    /// List the shares uploaded from this machine that still exist.
    History(HistoryArgs),

    /// Show the effective settings and where each comes from (secrets masked).
    #[command(
        long_about = "Show the effective settings and where each comes from: a flag, \
        an environment variable, the configuration file (with its line) or the built-in \
        default. Flags beat environment variables, which beat the file.\n\n\
        The upload options given here are shown as an upload with them would use them. \
        Secrets (upload token, Basic credentials, password, owner token) are never \
        printed, only whether they are set; the configuration file cannot hold them."
    )]
    Config(ConfigArgs),

    /// Print the completion script of a shell on standard output.
    #[command(
        long_about = "Print the completion script of a shell on standard output. \
        Save it where the shell looks for completions, for example:\n\n\
        bash: sealdrop completions bash > ~/.local/share/bash-completion/completions/sealdrop\n\n\
        zsh: sealdrop completions zsh > ~/.zfunc/_sealdrop (with ~/.zfunc in fpath, \
        before compinit)\n\n\
        fish: sealdrop completions fish > ~/.config/fish/completions/sealdrop.fish\n\n\
        PowerShell: sealdrop completions powershell >> $PROFILE\n\n\
        elvish: sealdrop completions elvish >> ~/.config/elvish/rc.elv"
    )]
    Completions(CompletionsArgs),

    /// Print the manual page, or write every page (one per command) into a directory.
    #[command(
        long_about = "Print the manual page sealdrop(1) on standard output, or with \
        DIR write it and one page per command (sealdrop-upload(1), ...) into DIR, as \
        packages install them under /usr/share/man/man1."
    )]
    Man(ManArgs),
}

/// How an upload travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// WebSocket (`/api/ws`), falling back to HTTP when the server refuses the upgrade.
    Auto,
    /// WebSocket only.
    Ws,
    /// Plain HTTP (`POST /api/upload`) only.
    Http,
}

/// `sealdrop upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Files or directories to send, or - for standard input.
    #[arg(required = true, value_name = "FILE", value_hint = ValueHint::AnyPath)]
    pub files: Vec<PathBuf>,

    /// Where and how to upload (what the configuration file can set).
    #[command(flatten)]
    pub settings: UploadSettings,

    /// Protect the share with a password.
    #[command(flatten)]
    pub password: PasswordArgs,

    /// Protect the share with a generated passphrase: six words of the EFF large word
    /// list (77 bits), printed once on standard error.
    #[arg(
        long,
        env = "SEALDROP_GENERATE_PASSWORD",
        value_parser = BoolishValueParser::new(),
        conflicts_with_all = ["password", "password_file"]
    )]
    pub generate_password: bool,

    /// The name recipients see [default: the file's name; `stdin` for standard input].
    #[arg(long, env = "SEALDROP_NAME", value_name = "NAME")]
    pub name: Option<String>,

    /// Also put the link on the clipboard, where there is one (a desktop session); else
    /// a note on standard error says so and the upload still succeeds.
    #[arg(long, env = "SEALDROP_COPY", value_parser = BoolishValueParser::new())]
    pub copy: bool,

    /// Also open the link with the system's opener (the web browser), where there is a
    /// desktop session; else a note on standard error says so.
    #[arg(long, env = "SEALDROP_OPEN", value_parser = BoolishValueParser::new())]
    pub open: bool,

    /// The upload token of a server that requires one. Prefer SEALDROP_TOKEN or
    /// --token-file: a value on the command line is visible to other users of this machine.
    #[arg(
        long,
        env = "SEALDROP_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// User name and password of a server that requires HTTP Basic authentication to
    /// upload (ffsend's --basic-auth). Prefer SEALDROP_BASIC_AUTH: a value on the command
    /// line is visible to other users of this machine.
    #[arg(
        long,
        env = "SEALDROP_BASIC_AUTH",
        hide_env_values = true,
        value_name = "USER:PASSWORD"
    )]
    pub basic_auth: Option<String>,
}

/// The upload options a configuration file can set; `sealdrop config` takes them too.
#[derive(Debug, Args, Clone)]
pub struct UploadSettings {
    /// The server to upload to.
    #[arg(
        long,
        env = "SEALDROP_HOST",
        default_value = DEFAULT_HOST,
        value_name = "URL",
        value_hint = ValueHint::Url
    )]
    pub host: String,

    /// How long the share lives: 5m, 1h, 1d, 7d, or seconds [default: the server's default].
    #[arg(short, long, env = "SEALDROP_EXPIRY", value_name = "DURATION", value_parser = parse_expiry)]
    pub expiry: Option<u64>,

    /// How many downloads the share allows [default: the server's default].
    #[arg(
        short,
        long,
        env = "SEALDROP_DOWNLOADS",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub downloads: Option<u32>,

    /// Read the upload token from the first line of FILE (a token given by --token or
    /// SEALDROP_TOKEN is used instead of a token-file from the configuration file).
    #[arg(
        long,
        env = "SEALDROP_TOKEN_FILE",
        value_name = "FILE",
        value_hint = ValueHint::FilePath
    )]
    pub token_file: Option<PathBuf>,

    /// How to upload.
    #[arg(long, env = "SEALDROP_TRANSPORT", value_enum, default_value_t = Transport::Auto)]
    pub transport: Transport,

    /// Also print the link as a QR code (on standard error).
    #[arg(long, env = "SEALDROP_QR", value_parser = BoolishValueParser::new())]
    pub qr: bool,
}

/// `sealdrop config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The upload settings, to show what an upload with these options would use.
    #[command(flatten)]
    pub settings: UploadSettings,
}

/// `sealdrop completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `sealdrop man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write sealdrop.1 and one page per command into this directory (created if need
    /// be) instead of printing sealdrop.1.
    #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

/// The password options.
#[derive(Debug, Args, Clone)]
pub struct PasswordArgs {
    /// Use a password. Without a value it is asked for without echo (terminal only).
    /// Prefer the prompt, SEALDROP_PASSWORD or --password-file: a value on the command line
    /// is visible to other users of this machine.
    #[arg(
        long,
        env = "SEALDROP_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        num_args = 0..=1,
        require_equals = true
    )]
    pub password: Option<Option<String>>,

    /// Read the password from the first line of FILE.
    #[arg(
        long,
        env = "SEALDROP_PASSWORD_FILE",
        value_name = "FILE",
        value_hint = ValueHint::FilePath,
        conflicts_with = "password"
    )]
    pub password_file: Option<PathBuf>,
}

/// `sealdrop download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The share link, `<server>/download/<id>/#<secret>`.
    #[arg(value_name = "LINK")]
    pub link: String,

    /// Where to write: a file, a directory, or - for standard output
    /// [default: the original name in the current directory].
    #[arg(
        short,
        long,
        env = "SEALDROP_OUTPUT",
        value_name = "PATH",
        value_hint = ValueHint::AnyPath
    )]
    pub output: Option<PathBuf>,

    /// Overwrite existing files.
    #[arg(short, long, env = "SEALDROP_FORCE", value_parser = BoolishValueParser::new())]
    pub force: bool,

    /// Open what was received with the system's opener, where there is a desktop
    /// session: the file, or the directory of several files. A file of a type that runs
    /// code when opened (.exe, .sh, .desktop, .jar, ...) is not opened: its directory is.
    #[arg(long, env = "SEALDROP_OPEN", value_parser = BoolishValueParser::new())]
    pub open: bool,

    /// The share's password, if it has one.
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// A command that takes just a link.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The share link (the `#secret` part may be left out).
    #[arg(value_name = "LINK")]
    pub link: String,
}

/// A command that acts as the share's owner.
#[derive(Debug, Args)]
pub struct OwnerArgs {
    /// The share link (the `#secret` part may be left out), or the share's id if it is in
    /// the history.
    #[arg(value_name = "LINK")]
    pub link: String,

    /// The owner token [default: from the history].
    #[arg(
        long,
        env = "SEALDROP_OWNER",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub owner: Option<String>,
}

/// `sealdrop info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The share and, optionally, its owner token.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// The share's password, to show its name and size (never asked for).
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `sealdrop params`.
#[derive(Debug, Args)]
pub struct ParamsArgs {
    /// The share and its owner token.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// The new download limit (counting the downloads already made).
    #[arg(
        short,
        long,
        env = "SEALDROP_DOWNLOADS",
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub downloads: u32,
}

/// `sealdrop password`.
#[derive(Debug, Args)]
pub struct PasswordCommandArgs {
    /// The full share link (the password is salted with it) and the owner token.
    #[command(flatten)]
    pub owner: OwnerArgs,

    /// The new password [default: asked for twice without echo].
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// `sealdrop history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Forget every share (the shares themselves stay on their servers).
    #[arg(long)]
    pub clear: bool,
}

/// Parses `--expiry`: seconds, or a duration like `5m`, `1h`, `1d`, `7d`, `1w`.
pub(crate) fn parse_expiry(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let secs = match text.parse::<u64>() {
        Ok(n) => n,
        Err(_) => humantime::parse_duration(text)
            .map(|d| d.as_secs())
            .map_err(|_| format!("{text:?} is not a duration like 300, 5m, 1h, 1d or 7d"))?,
    };
    if secs == 0 {
        return Err("the expiry must be at least 1 second".to_owned());
    }
    Ok(secs)
}

/// Parses `--max-wait`: seconds, or a duration like `30s`, `2m`; 0 is allowed.
pub(crate) fn parse_wait(text: &str) -> Result<u64, String> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(n) => Ok(n),
        Err(_) => humantime::parse_duration(text)
            .map(|d| d.as_secs())
            .map_err(|_| format!("{text:?} is not a wait like 60, 30s or 2m")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn expiry_accepts_seconds_and_units() {
        assert_eq!(parse_expiry("300"), Ok(300));
        assert_eq!(parse_expiry("5m"), Ok(300));
        assert_eq!(parse_expiry("1h"), Ok(3600));
        assert_eq!(parse_expiry("1d"), Ok(86400));
        assert_eq!(parse_expiry("7d"), Ok(604_800));
        assert!(parse_expiry("0").is_err());
        assert!(parse_expiry("soon").is_err());
    }

    #[test]
    fn max_wait_accepts_seconds_units_and_zero() {
        assert_eq!(parse_wait("60"), Ok(60));
        assert_eq!(parse_wait("2m"), Ok(120));
        assert_eq!(parse_wait("0"), Ok(0));
        assert!(parse_wait("a while").is_err());
    }

    #[test]
    fn every_option_has_an_environment_variable() {
        fn check(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_positional() || matches!(id, "help" | "version" | "clear") {
                    continue;
                }
                assert!(
                    arg.get_env().is_some(),
                    "{path} --{id} has no environment variable"
                );
            }
            for sub in cmd.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        check(&Cli::command(), "sealdrop");
    }
}
