//! The configuration file: defaults for uploads and the global options, under the
//! environment and the command line.
//!
//! Precedence, highest first: a flag, its `SEALDROP_*` variable, the file, the built-in
//! default. clap resolves the first two and says which it used (`ArgMatches::value_source`);
//! a value clap took from its default, or no value at all, is replaced by the file's.
//!
//! The file is `<user config dir>/sealdrop/config.toml` (`dirs::config_dir`: on Linux
//! `$XDG_CONFIG_HOME`, else `~/.config`), read only when it exists; `--config FILE` or
//! `SEALDROP_CONFIG` names another, which must exist; `--no-config` reads none. Its keys
//! are the long option names ([`SETTINGS`]). It never holds a secret: the keys of the
//! secret options are refused with the option to use instead, so a token or password
//! never sits in a file that is easy to share or commit. Every problem in it is one
//! sentence naming the file and the line, with the usage exit code; values are never
//! repeated in errors (a misplaced secret must not reach a terminal log).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::ValueEnum;
use clap::parser::ValueSource;
use sealdrop_protocol::link::canonical_base;
use toml::Spanned;

use crate::args::{Cli, Command, Global, Transport, UploadSettings, parse_expiry, parse_wait};
use crate::error::{Error, Result};

/// Which options a setting belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// An option of every command.
    Global,
    /// An option of `upload` (and `config`).
    Upload,
}

/// A setting the configuration file may hold.
#[derive(Debug)]
pub(crate) struct Setting {
    /// The key in the file, the long option's name.
    pub(crate) key: &'static str,
    /// The clap argument id.
    id: &'static str,
    /// The environment variable of the option.
    pub(crate) env: &'static str,
    pub(crate) scope: Scope,
}

const fn setting(key: &'static str, id: &'static str, env: &'static str, scope: Scope) -> Setting {
    Setting {
        key,
        id,
        env,
        scope,
    }
}

/// Every setting of the file, in the order `sealdrop config` shows them.
pub(crate) const SETTINGS: [Setting; 11] = [
    setting("host", "host", "SEALDROP_HOST", Scope::Upload),
    setting("expiry", "expiry", "SEALDROP_EXPIRY", Scope::Upload),
    setting(
        "downloads",
        "downloads",
        "SEALDROP_DOWNLOADS",
        Scope::Upload,
    ),
    setting(
        "token-file",
        "token_file",
        "SEALDROP_TOKEN_FILE",
        Scope::Upload,
    ),
    setting(
        "transport",
        "transport",
        "SEALDROP_TRANSPORT",
        Scope::Upload,
    ),
    setting("qr", "qr", "SEALDROP_QR", Scope::Upload),
    setting("history", "history", "SEALDROP_HISTORY", Scope::Global),
    setting(
        "no-history",
        "no_history",
        "SEALDROP_NO_HISTORY",
        Scope::Global,
    ),
    setting("max-wait", "max_wait", "SEALDROP_MAX_WAIT", Scope::Global),
    setting("no-wait", "no_wait", "SEALDROP_NO_WAIT", Scope::Global),
    setting(
        "no-progress",
        "no_progress",
        "SEALDROP_NO_PROGRESS",
        Scope::Global,
    ),
];

/// The keys of secrets, refused in the file, and what to use instead.
const SECRETS: [(&str, &str); 6] = [
    (
        "token",
        "put the token in a file only you can read and name it with token-file, or use SEALDROP_TOKEN",
    ),
    (
        "upload-token",
        "put the token in a file only you can read and name it with token-file, or use SEALDROP_TOKEN",
    ),
    ("basic-auth", "use SEALDROP_BASIC_AUTH or --basic-auth"),
    (
        "password",
        "use --password-file, SEALDROP_PASSWORD or the prompt",
    ),
    (
        "owner",
        "owner tokens are kept in the history file, or given with --owner or SEALDROP_OWNER",
    ),
    (
        "owner-token",
        "owner tokens are kept in the history file, or given with --owner or SEALDROP_OWNER",
    ),
];

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The command line.
    Flag,
    /// The option's environment variable.
    Env,
    /// The configuration file, at this line.
    File(usize),
    /// Nothing set it.
    Default,
}

/// Which configuration file was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileState {
    /// This file was read.
    Read(PathBuf),
    /// The default file, which does not exist.
    Absent(PathBuf),
    /// The platform has no user configuration directory.
    NoPlace,
    /// `--no-config`.
    Disabled,
}

/// Where the settings of this run come from.
#[derive(Debug)]
pub(crate) struct Provenance {
    pub(crate) file: FileState,
    sources: BTreeMap<&'static str, Source>,
    /// The file's token-file, unused because a token is given (flag or environment).
    pub(crate) unused_token_file: Option<PathBuf>,
}

impl Provenance {
    /// Where the setting `key` comes from.
    pub(crate) fn source(&self, key: &str) -> Source {
        self.sources.get(key).copied().unwrap_or(Source::Default)
    }
}

/// A value of the file, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Host(String),
    Seconds(u64),
    Count(u32),
    Path(PathBuf),
    Transport(Transport),
    Flag(bool),
}

/// The values of one file, each with its line.
type Values = BTreeMap<&'static str, (Value, usize)>;

/// The default location of the configuration file, if the platform has a user
/// configuration directory.
pub(crate) fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("sealdrop").join("config.toml"))
}

/// Reads the configuration file the command line points at and fills in every setting
/// that neither a flag nor an environment variable gave; returns where each came from.
pub(crate) fn layer(cli: &mut Cli, matches: &ArgMatches) -> Result<Provenance> {
    let (file, values) = load(&cli.global)?;
    let Cli { global, command } = cli;
    // The upload settings of this command, their matches, and whether a token is given
    // (which a token-file of the file must not override).
    let mut upload: Option<(&mut UploadSettings, &ArgMatches, bool)> = match command {
        Command::Upload(args) => matches.subcommand_matches("upload").map(|m| {
            let token_given = given(m, "token").is_some();
            (&mut args.settings, m, token_given)
        }),
        Command::Config(args) => matches.subcommand_matches("config").map(|m| {
            let token_given = std::env::var_os("SEALDROP_TOKEN").is_some();
            (&mut args.settings, m, token_given)
        }),
        _ => None,
    };
    let mut sources = BTreeMap::new();
    let mut unused_token_file = None;
    for s in &SETTINGS {
        let from_args = match (s.scope, &upload) {
            (Scope::Global, _) => given(matches, s.id),
            (Scope::Upload, Some((_, m, _))) => given(m, s.id),
            (Scope::Upload, None) => continue,
        };
        let source = match (from_args, values.get(s.key)) {
            (Some(source), _) => source,
            (None, Some((Value::Path(path), line)))
                if s.key == "token-file" && upload.as_ref().is_some_and(|u| u.2) =>
            {
                unused_token_file = Some(path.clone());
                Source::File(*line)
            }
            (None, Some((value, line))) => {
                apply(global, upload.as_mut().map(|u| &mut *u.0), s.key, value);
                Source::File(*line)
            }
            (None, None) => Source::Default,
        };
        sources.insert(s.key, source);
    }
    Ok(Provenance {
        file,
        sources,
        unused_token_file,
    })
}

/// Whether clap took the argument `id` from the command line or the environment.
fn given(matches: &ArgMatches, id: &str) -> Option<Source> {
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => Some(Source::Flag),
        Some(ValueSource::EnvVariable) => Some(Source::Env),
        _ => None,
    }
}

/// Sets the option of `key` to the file's `value`.
fn apply(global: &mut Global, upload: Option<&mut UploadSettings>, key: &str, value: &Value) {
    match (key, value) {
        ("history", Value::Path(p)) => global.history = Some(p.clone()),
        ("no-history", Value::Flag(b)) => global.no_history = *b,
        ("max-wait", Value::Seconds(s)) => global.max_wait = *s,
        ("no-wait", Value::Flag(b)) => global.no_wait = *b,
        ("no-progress", Value::Flag(b)) => global.no_progress = *b,
        _ => {
            let Some(u) = upload else { return };
            match (key, value) {
                ("host", Value::Host(h)) => u.host = h.clone(),
                ("expiry", Value::Seconds(s)) => u.expiry = Some(*s),
                ("downloads", Value::Count(n)) => u.downloads = Some(*n),
                ("token-file", Value::Path(p)) => u.token_file = Some(p.clone()),
                ("transport", Value::Transport(t)) => u.transport = *t,
                ("qr", Value::Flag(b)) => u.qr = *b,
                _ => {}
            }
        }
    }
}

/// Finds and reads the configuration file.
fn load(global: &Global) -> Result<(FileState, Values)> {
    if global.no_config {
        return Ok((FileState::Disabled, Values::new()));
    }
    let (path, explicit) = match &global.config {
        Some(path) => (path.clone(), true),
        None => match default_path() {
            Some(path) => (path, false),
            None => return Ok((FileState::NoPlace, Values::new())),
        },
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((FileState::Absent(path), Values::new()));
        }
        Err(e) => {
            return Err(Error::io(
                format_args!("cannot read the configuration file {}", path.display()),
                &e,
            ));
        }
    };
    let values = parse(&path, &bytes)?;
    Ok((FileState::Read(path), values))
}

/// Parses and checks the file at `path` holding `bytes`.
fn parse(path: &Path, bytes: &[u8]) -> Result<Values> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = line_of(bytes, e.valid_up_to());
        malformed(path, line, "it is not UTF-8 text")
    })?;
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |span| line_of(bytes, span.start));
            let first = e.message().lines().next().unwrap_or_default().trim();
            let first = first.strip_suffix('.').unwrap_or(first);
            malformed(path, line, &format!("it is not valid TOML ({first})"))
        })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut values = Values::new();
    for (key, value) in table {
        let key_line = line_of(bytes, key.span().start);
        let line = line_of(bytes, value.span().start);
        let key = key.into_inner();
        if let Some((_, instead)) = SECRETS.iter().find(|(k, _)| *k == key) {
            return Err(malformed(
                path,
                key_line,
                &format!(
                    "\"{key}\" would keep a secret in the file, which sealdrop never reads: {instead}"
                ),
            ));
        }
        let Some(setting) = SETTINGS.iter().find(|s| s.key == key) else {
            let keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
            return Err(malformed(
                path,
                key_line,
                &format!(
                    "\"{}\" is not a setting (the settings are {})",
                    printable_key(&key),
                    keys.join(", ")
                ),
            ));
        };
        let value = check(setting.key, value.into_inner(), dir)
            .map_err(|why| malformed(path, line, &format!("\"{key}\" {why}")))?;
        values.insert(setting.key, (value, line));
    }
    Ok(values)
}

/// Checks the value of `key`; the error completes the sentence `"<key>" ...`.
fn check(key: &str, value: toml::Value, dir: &Path) -> Result<Value, String> {
    use toml::Value as T;
    let flag = |v: T| match v {
        T::Boolean(b) => Ok(Value::Flag(b)),
        _ => Err("must be true or false".to_owned()),
    };
    match key {
        "host" => match value {
            T::String(s) if canonical_base(&s).is_ok() => Ok(Value::Host(s)),
            _ => Err("is not a server address like \"https://send.example.com\"".to_owned()),
        },
        "expiry" => {
            let secs = match value {
                T::Integer(n) => u64::try_from(n).ok().filter(|n| *n > 0),
                T::String(s) => parse_expiry(&s).ok(),
                _ => None,
            };
            secs.map(Value::Seconds).ok_or_else(|| {
                "is not a duration like \"5m\", \"1h\", \"1d\" or 300 (seconds)".to_owned()
            })
        }
        "max-wait" => {
            let secs = match value {
                T::Integer(n) => u64::try_from(n).ok(),
                T::String(s) => parse_wait(&s).ok(),
                _ => None,
            };
            secs.map(Value::Seconds)
                .ok_or_else(|| "is not a wait like \"30s\", \"2m\" or 60 (seconds)".to_owned())
        }
        "downloads" => match value {
            T::Integer(n) if n >= 1 => u32::try_from(n)
                .map(Value::Count)
                .map_err(|_| "is too large".to_owned()),
            _ => Err("must be a whole number from 1".to_owned()),
        },
        "token-file" | "history" => match value {
            T::String(s) if !s.is_empty() => Ok(Value::Path(resolve_path(&s, dir))),
            _ => Err("must be a file name".to_owned()),
        },
        "transport" => match value {
            T::String(s) => Transport::from_str(&s, true)
                .map(Value::Transport)
                .map_err(|_| "must be \"auto\", \"ws\" or \"http\"".to_owned()),
            _ => Err("must be \"auto\", \"ws\" or \"http\"".to_owned()),
        },
        _ => flag(value),
    }
}

/// A path of the file: `~/…` is under the home directory, a relative path is relative to
/// the file's directory (not to wherever sealdrop runs).
fn resolve_path(text: &str, dir: &Path) -> PathBuf {
    if let Some(rest) = text.strip_prefix("~/")
        && let Some(home) = dirs::home_dir()
    {
        return home.join(rest);
    }
    dir.join(text)
}

/// The 1-based line of byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    let end = offset.min(bytes.len());
    bytes
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

/// An unknown key as it may be shown: short, and without control characters.
fn printable_key(key: &str) -> String {
    let clean: String = key
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(40)
        .collect();
    clean
}

/// The error of a problem on `line` of the file at `path`.
fn malformed(path: &Path, line: usize, what: &str) -> Error {
    Error::usage(format!(
        "the configuration file {} has an error on line {line}: {what}",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse_text(text: &str) -> Result<Values> {
        parse(Path::new("/c/config.toml"), text.as_bytes())
    }

    fn error(text: &str) -> String {
        parse_text(text).unwrap_err().message().to_owned()
    }

    #[test]
    fn the_settings_are_the_options_of_the_same_name() {
        let cli = Cli::command();
        let upload = cli.find_subcommand("upload").unwrap().clone();
        let config = cli.find_subcommand("config").unwrap().clone();
        for s in &SETTINGS {
            let cmds: Vec<&clap::Command> = match s.scope {
                Scope::Global => vec![&cli],
                Scope::Upload => vec![&upload, &config],
            };
            for cmd in cmds {
                let arg = cmd
                    .get_arguments()
                    .find(|a| a.get_id() == s.id)
                    .unwrap_or_else(|| panic!("{} has no argument {}", cmd.get_name(), s.id));
                assert_eq!(arg.get_long(), Some(s.key));
                assert_eq!(arg.get_env().unwrap().to_str(), Some(s.env));
            }
        }
    }

    #[test]
    fn values_are_checked_and_paths_resolved() {
        let v = parse_text(
            "host = \"https://send.example.com\"\nexpiry = \"1d\"\ndownloads = 3\n\
             token-file = \"token\"\ntransport = \"ws\"\nqr = true\nmax-wait = 0\n\
             history = \"/h/history.json\"\n",
        )
        .unwrap();
        assert_eq!(
            v["host"],
            (Value::Host("https://send.example.com".into()), 1)
        );
        assert_eq!(v["expiry"], (Value::Seconds(86400), 2));
        assert_eq!(v["downloads"], (Value::Count(3), 3));
        assert_eq!(v["token-file"].0, Value::Path("/c/token".into()));
        assert_eq!(v["transport"].0, Value::Transport(Transport::Ws));
        assert_eq!(v["qr"].0, Value::Flag(true));
        assert_eq!(v["max-wait"].0, Value::Seconds(0));
        assert_eq!(v["history"].0, Value::Path("/h/history.json".into()));
        assert_eq!(
            parse_text("expiry = 300").unwrap()["expiry"].0,
            Value::Seconds(300)
        );
    }

    #[test]
    fn problems_name_the_file_and_line_and_never_the_value() {
        let e = error("host = \"https://a.example\"\n\nexpiry = \"s3cr3t-soon\"\n");
        assert_eq!(
            e,
            "the configuration file /c/config.toml has an error on line 3: \"expiry\" is not a duration like \"5m\", \"1h\", \"1d\" or 300 (seconds)"
        );
        assert!(!e.contains("s3cr3t"));
        let e = error("downloads = 0");
        assert!(
            e.ends_with("line 1: \"downloads\" must be a whole number from 1"),
            "{e}"
        );
        let e = error("\nhost = \"not a url s3cr3t\"");
        assert!(
            e.contains("line 2: \"host\" is not a server address"),
            "{e}"
        );
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = error("qr = \"yes\"");
        assert!(e.ends_with("\"qr\" must be true or false"), "{e}");
        let e = error("transport = \"carrier pigeon\"");
        assert!(e.ends_with("must be \"auto\", \"ws\" or \"http\""), "{e}");
    }

    #[test]
    fn secrets_are_refused_with_what_to_use_instead() {
        let e = error("# mine\ntoken = \"s3cr3t\"\n");
        assert_eq!(
            e,
            "the configuration file /c/config.toml has an error on line 2: \"token\" would keep a secret in the file, which sealdrop never reads: put the token in a file only you can read and name it with token-file, or use SEALDROP_TOKEN"
        );
        for key in ["password", "basic-auth", "owner"] {
            let e = error(&format!("{key} = \"s3cr3t\""));
            assert!(e.contains(&format!("\"{key}\" would keep a secret")), "{e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_one_sentence_with_the_line() {
        let e = error("host = \"https://a.example\"\nexpire = \"1d\"\n");
        assert!(
            e.starts_with("the configuration file /c/config.toml has an error on line 2: \"expire\" is not a setting (the settings are host, expiry,"),
            "{e}"
        );
        let e = error("host = \"https://a.example\"\ndownloads = = 2\n");
        assert!(
            e.starts_with("the configuration file /c/config.toml has an error on line 2: it is not valid TOML ("),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        let e = error("[upload]\nhost = \"https://a.example\"\n");
        assert!(e.contains("line 1: \"upload\" is not a setting"), "{e}");
        let e = parse(Path::new("/c/config.toml"), b"qr = true\n\xff = 1\n")
            .unwrap_err()
            .message()
            .to_owned();
        assert!(e.ends_with("line 2: it is not UTF-8 text"), "{e}");
    }
}
