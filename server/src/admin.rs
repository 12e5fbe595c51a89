//! `sealdrop-server admin`: the operator's commands on reported files.
//!
//! A report ([`crate::http::report`]) holds a file: it is served no more and does not
//! expire. The operator then decides with one of these commands, run with the server's
//! own configuration (so on the same stores) while the server runs:
//!
//! - `list-reported [--json]`: one line per held file, the oldest report first: id,
//!   report time, reason, ciphertext size, expiry, number of reports, details (tab
//!   separated); `--json` prints an array of objects instead.
//! - `takedown ID`: deletes the file now, held or not: its record, then its blob.
//! - `restore ID [--grace DURATION]`: serves a held file again, with the expiry it had,
//!   or, if that passed while it was held, for `--grace` (default 1 hour) from now, so
//!   the recipient can still fetch it; the downloads it had left are kept.
//!
//! `ID` may also be a whole share link: only its id is used (and never printed).
//!
//! And one command for deployments: `s3-setup` creates the bucket of
//! `--storage s3://BUCKET[/PREFIX]` if it is missing and puts sealdrop's lifecycle rules on
//! it ([`crate::storage::s3::setup`]); it needs no metadata store, and is idempotent.
//!
//! Errors are one sentence on standard error. Exit codes: 0 done, 1 no such (or no such
//! held) file, 2 bad usage or configuration (with SQLite, a data directory without a
//! database: the commands never create an empty store), 3 a store failed. A store that
//! cannot be opened is said as the server says it at start-up, naming the option to check
//! ([`crate::startup`]); `RUST_LOG=debug` adds the details on standard error.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealdrop_protocol::api::FileId;
use sealdrop_protocol::link;

use crate::clock::SystemClock;
use crate::config::{Config, MetaConfig, Seconds};
use crate::meta::{FileRecord, Millis};
use crate::state::AppState;

/// `sealdrop-server admin …`.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin commands.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// List the reported files, held until you take them down or restore them (oldest
    /// report first; tab-separated: id, reported at, reason, size, expiry, reports,
    /// details).
    ListReported,
    /// Delete a file now (reported or not): its record and its encrypted blob.
    Takedown {
        /// The file id (or its share link).
        id: String,
    },
    /// Serve a reported file again.
    Restore {
        /// The file id (or its share link).
        id: String,
        /// If its expiry passed while it was held, serve it this long from now.
        #[arg(long, value_name = "DURATION", default_value = "1h")]
        grace: Seconds,
    },
    /// Prepare the S3 bucket of --storage: create it if it is missing, and put sealdrop's
    /// lifecycle rules on it (expire each `<days>-` key prefix a day after its longest
    /// life, abort incomplete multipart uploads), keeping rules of others. Idempotent;
    /// needs no metadata store.
    S3Setup,
}

/// A failed admin command: one sentence, and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The configuration names no existing store (exit code 2).
    #[error("{0}")]
    Config(String),
    /// No such file, or not held (exit code 1).
    #[error("{0}")]
    NotFound(String),
    /// A store failed (exit code 3).
    #[error("{0:#}")]
    Store(#[from] anyhow::Error),
    /// A store could not be opened, or S3 refused the set-up (exit code 3): the sentence
    /// only (the outermost context), the details being in the error's chain.
    #[error("{0}")]
    Unavailable(anyhow::Error),
}

impl AdminError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotFound(_) => 1,
            Self::Config(_) => 2,
            Self::Store(_) | Self::Unavailable(_) => 3,
        }
    }
}

/// Runs `args` with `config`, printing to standard output: the binary's entry point for
/// `admin`.
pub async fn main(config: Config, args: AdminArgs) -> ExitCode {
    let stdout = std::io::stdout();
    let result = async {
        if let AdminCommand::S3Setup = args.command {
            return s3_setup(&config, args.json, &mut stdout.lock()).await;
        }
        // A wrong directory must not quietly get an empty store of its own.
        if config.meta == MetaConfig::Sqlite {
            let path = config.data_dir.join("meta.sqlite");
            if !path.is_file() {
                return Err(AdminError::Config(format!(
                    "there is no metadata database at {}: give admin the server's --data-dir \
                     or --config (before `admin`)",
                    path.display()
                )));
            }
        }
        let state = crate::open_state_beside_server(config, Arc::new(SystemClock))
            .await
            .map_err(AdminError::Unavailable)?;
        run(&state, &args, &mut stdout.lock()).await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let AdminError::Unavailable(e) = &e {
                tracing::debug!("the command failed: {e:#}");
            }
            #[allow(
                clippy::print_stderr,
                reason = "the one sentence a failed command prints"
            )]
            {
                eprintln!("sealdrop-server: {}", one_line(&e.to_string()));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one admin command on `state`'s stores, printing to `out`.
pub async fn run(
    state: &AppState,
    args: &AdminArgs,
    out: &mut dyn Write,
) -> Result<(), AdminError> {
    let write = |out: &mut dyn Write, text: &str| -> Result<(), AdminError> {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| AdminError::Store(anyhow::anyhow!("cannot write the output: {e}")))
    };
    match &args.command {
        AdminCommand::ListReported => {
            let records = state.meta.list_reported(usize::MAX).await?;
            let now = state.clock.now();
            let text = if args.json {
                let items: Vec<serde_json::Value> =
                    records.iter().map(|r| record_json(r, now)).collect();
                format!("{}\n", serde_json::Value::Array(items))
            } else {
                records.iter().map(|r| record_line(r, now)).collect()
            };
            write(out, &text)
        }
        AdminCommand::Takedown { id } => {
            let id = parse_id(id)?;
            let outcome = take_down(state, &id).await?;
            let text = if args.json {
                format!(
                    "{}\n",
                    serde_json::json!({
                        "id": id.as_str(),
                        "taken_down": true,
                        "blob_deleted": outcome.blob_deleted,
                    })
                )
            } else if outcome.blob_deleted {
                format!("took down {id}: its record and its encrypted blob are deleted\n")
            } else {
                format!(
                    "took down {id}: its record is deleted; deleting its blob failed and the \
                     server's sweeper will retry\n"
                )
            };
            write(out, &text)
        }
        AdminCommand::S3Setup => s3_setup(&state.config, args.json, out).await,
        AdminCommand::Restore { id, grace } => {
            let id = parse_id(id)?;
            let expires_at = restore(state, &id, Duration::from_secs(grace.0)).await?;
            let text = if args.json {
                format!(
                    "{}\n",
                    serde_json::json!({
                        "id": id.as_str(),
                        "restored": true,
                        "expires_at": rfc3339(expires_at),
                    })
                )
            } else {
                format!(
                    "restored {id}: served again until {}\n",
                    rfc3339(expires_at)
                )
            };
            write(out, &text)
        }
    }
}

/// `s3-setup`: the bucket and lifecycle rules of `config`'s S3 store.
pub async fn s3_setup(config: &Config, json: bool, out: &mut dyn Write) -> Result<(), AdminError> {
    use crate::storage::s3::setup;
    let crate::config::StorageConfig::S3(s3) = &config.storage else {
        return Err(AdminError::Config(
            "s3-setup needs an S3 store: set --storage s3://BUCKET[/PREFIX] (before `admin`)"
                .to_owned(),
        ));
    };
    let longest_upload = (config.min_upload_rate > 0).then(|| {
        (config.max_encrypted_size / config.min_upload_rate)
            .saturating_add(config.min_upload_rate_grace.as_secs())
    });
    let wanted = setup::wanted_rules(&s3.prefix, config.max_expiry, longest_upload)
        .map_err(AdminError::Config)?;
    let report = setup::setup(s3, &wanted)
        .await
        .map_err(AdminError::Unavailable)?;
    let text = if json {
        format!("{}\n", report.json())
    } else {
        report.text()
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| AdminError::Store(anyhow::anyhow!("cannot write the output: {e}")))
}

/// What [`take_down`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakenDown {
    /// Whether the blob is deleted too (else its tombstone stays for the sweeper).
    pub blob_deleted: bool,
}

/// Deletes the file `id` now, whatever its state: its row (tombstoning its blob), then
/// its blob.
pub async fn take_down(state: &AppState, id: &FileId) -> Result<TakenDown, AdminError> {
    let blob_key = state
        .meta
        .take_down(id, state.clock.now())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no file {id} is stored")))?;
    let blob_deleted = match state.blobs.delete(&blob_key).await {
        Ok(()) => {
            state.meta.clear_tombstone(&blob_key).await?;
            true
        }
        Err(_) => false,
    };
    Ok(TakenDown { blob_deleted })
}

/// Serves the held file `id` again; returns its expiry, which is at least `grace` from
/// now if its own passed while it was held.
pub async fn restore(state: &AppState, id: &FileId, grace: Duration) -> Result<Millis, AdminError> {
    let now = state.clock.now();
    let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
    if let Some(expires_at) = state
        .meta
        .restore(id, now, now.saturating_add(grace_ms))
        .await?
    {
        // The sweeper may sleep past the new deadline otherwise (same process only).
        state.sweeper.notify_one();
        return Ok(expires_at);
    }
    match state.meta.find(id, now).await? {
        Some(_) => Err(AdminError::NotFound(format!(
            "file {id} is not reported, so there is nothing to restore"
        ))),
        None => Err(AdminError::NotFound(format!("no file {id} is stored"))),
    }
}

/// A file id, or the id of a share link (whose `#secret` is ignored and never printed).
pub fn parse_id(text: &str) -> Result<FileId, AdminError> {
    let text = text.trim();
    let candidate = if text.contains("/download/") {
        link::id_in_url(text).unwrap_or_default()
    } else {
        text
    };
    FileId::parse(candidate).ok_or_else(|| {
        AdminError::NotFound(format!(
            "{} is not a file id",
            one_line(&format!("{candidate:?}"))
        ))
    })
}

/// One text line of `list-reported`.
fn record_line(record: &FileRecord, now: Millis) -> String {
    let (reported_at, reason, count, details) = report_fields(record);
    let expires = record.file.expires_at;
    let expiry = if expires > now {
        format!("expires {}", rfc3339(expires))
    } else {
        format!("expired {}", rfc3339(expires))
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
        record.file.id,
        rfc3339(reported_at),
        reason,
        bytesize::ByteSize(record.file.size),
        expiry,
        if count == 1 {
            "1 report".to_owned()
        } else {
            format!("{count} reports")
        },
        one_line(&details),
    )
}

/// One object of `list-reported --json`.
fn record_json(record: &FileRecord, now: Millis) -> serde_json::Value {
    let (reported_at, reason, count, details) = report_fields(record);
    serde_json::json!({
        "id": record.file.id.as_str(),
        "reported_at": rfc3339(reported_at),
        "reason": reason,
        "details": details,
        "reports": count,
        "size": record.file.size,
        "expires_at": rfc3339(record.file.expires_at),
        "expired": record.file.expires_at <= now,
        "downloads": record.downloads,
        "dlimit": record.file.dlimit,
        "password": record.password,
    })
}

fn report_fields(record: &FileRecord) -> (Millis, &'static str, u32, String) {
    match &record.report {
        Some(r) => (r.reported_at, r.reason.as_str(), r.count, r.details.clone()),
        None => (0, "", 0, String::new()),
    }
}

/// A time as RFC 3339 UTC, to the second.
pub fn rfc3339(ms: Millis) -> String {
    let time = UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `text` with control and bidirectional formatting characters replaced by spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if sealdrop_protocol::names::unsafe_char(c) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_links() {
        assert_eq!(
            parse_id(" 0123456789abcdef ").unwrap().as_str(),
            "0123456789abcdef"
        );
        assert_eq!(
            parse_id("https://send.example.com/download/0123456789abcdef/#c2VjcmV0")
                .unwrap()
                .as_str(),
            "0123456789abcdef"
        );
        let err = parse_id("http://x/download/nope\u{202e}/#secretpart").unwrap_err();
        let text = err.to_string();
        assert!(
            !text.contains("secretpart") && !text.contains('\u{202e}'),
            "{text}"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20Z");
    }
}
