//! The subcommands, one file each, and what they share: the context (printer, client,
//! history location) and the resolution of a link or id to a share and its owner token.

mod config;
mod delete;
mod download;
mod exists;
mod history;
mod info;
mod params;
mod password;
mod upload;

use std::path::PathBuf;

use sealdrop_protocol::link::ShareLink;
use sealdrop_protocol::{Secret, api::ConfigResponse};

use crate::args::{Cli, Command, OwnerArgs};
use crate::client::Client;
use crate::config::Provenance;
use crate::error::{Error, Result};
use crate::history::History;
use crate::output::{Output, format_duration};
use crate::ratelimit::Patience;

/// What every command gets.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) out: Output,
    pub(crate) client: Client,
    /// The history file, if there is a place for one.
    history_path: Option<PathBuf>,
    /// Whether uploads are recorded.
    record: bool,
}

impl Ctx {
    /// The history, if there is a place for one.
    pub(crate) fn history(&self) -> Result<Option<History>> {
        self.history_path.as_deref().map(History::load).transpose()
    }

    /// Where the history lives, if there is a place for one.
    pub(crate) fn history_path(&self) -> Option<&std::path::Path> {
        self.history_path.as_deref()
    }

    /// The history to record a new upload in, unless recording is off.
    pub(crate) fn history_for_recording(&self) -> Result<Option<History>> {
        if self.record {
            self.history()
        } else {
            Ok(None)
        }
    }
}

/// Runs the command line, whose settings come from `provenance`.
pub(crate) async fn dispatch(cli: Cli, provenance: &Provenance) -> Result<()> {
    let g = cli.global;
    let ctx = Ctx {
        out: Output::new(g.json, g.quiet, g.no_progress),
        client: Client::new(Patience::new(g.max_wait, g.no_wait, g.quiet))?,
        history_path: g.history.clone().or_else(crate::history::default_path),
        record: !g.no_history,
    };
    match cli.command {
        Command::Upload(args) => upload::run(&ctx, args).await,
        Command::Download(args) => download::run(&ctx, args).await,
        Command::Info(args) => info::run(&ctx, args).await,
        Command::Exists(args) => exists::run(&ctx, args).await,
        Command::Delete(args) => delete::run(&ctx, args).await,
        Command::Params(args) => params::run(&ctx, args).await,
        Command::Password(args) => password::run(&ctx, args).await,
        Command::History(args) => history::run(&ctx, args).await,
        Command::Config(args) => config::run(&ctx, &g, &args, provenance),
        // `run` answers these before reading any configuration.
        Command::Completions(args) => crate::docs::completions(args.shell),
        Command::Man(args) => crate::docs::man(args.dir.as_deref()),
    }
}

/// A share named on the command line.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) link: ShareLink,
    /// Whether the link carried its `#secret` (without it `link.secret()` is a stand-in
    /// that must not be used).
    pub(crate) has_secret: bool,
}

/// Resolves a share link, a link without its `#secret`, or an id from the history.
pub(crate) fn resolve(text: &str, history: Option<&History>) -> Result<Target> {
    let text = text.trim();
    if text.contains('#') {
        let link = ShareLink::parse(text).map_err(bad_link)?;
        return Ok(Target {
            link,
            has_secret: true,
        });
    }
    if text.contains("://") {
        // Only the origin and id are needed; the stand-in secret is never used.
        let link =
            ShareLink::from_download_url(text, Secret::from_bytes([0; 16])).map_err(bad_link)?;
        return Ok(Target {
            link,
            has_secret: false,
        });
    }
    match history.and_then(|h| h.find_id(text)) {
        Some(entry) => Ok(Target {
            link: ShareLink::parse(&entry.link).map_err(bad_link)?,
            has_secret: true,
        }),
        None => Err(Error::usage(
            "that is neither a share link nor the id of a share in this machine's history",
        )),
    }
}

/// The error of an unparsable link. The link itself is not repeated: it may hold a secret.
fn bad_link(err: sealdrop_protocol::Error) -> Error {
    match err {
        sealdrop_protocol::Error::BadLink(why) => {
            Error::usage(format!("that is not a share link: {why}"))
        }
        sealdrop_protocol::Error::BadSecret => {
            Error::usage("that is not a share link: its #secret part is malformed")
        }
        other => Error::usage(format!("that is not a share link: {other}")),
    }
}

/// The owner token of `target`: `--owner`, or the history's.
pub(crate) fn owner_token(
    args: &OwnerArgs,
    target: &Target,
    history: Option<&History>,
) -> Result<String> {
    if let Some(token) = &args.owner {
        return Ok(token.trim().to_owned());
    }
    history
        .and_then(|h| h.find(target.link.base(), target.link.id()))
        .map(|e| e.owner_token.clone())
        .ok_or_else(|| {
            Error::auth(
                "no owner token for this share: it was not uploaded from this machine's history; pass --owner TOKEN",
            )
        })
}

/// Refuses a download limit above the server's maximum, stating the allowed values.
pub(crate) fn check_downloads(config: Option<&ConfigResponse>, downloads: u32) -> Result<()> {
    if let Some(c) = config
        && downloads > c.limits.MAX_DOWNLOADS
    {
        return Err(Error::usage(format!(
            "a download limit of {downloads} is more than this server allows: choose 1 to {}",
            c.limits.MAX_DOWNLOADS
        )));
    }
    Ok(())
}

/// Refuses an expiry above the server's maximum, stating the allowed values.
pub(crate) fn check_expiry(config: Option<&ConfigResponse>, secs: u64) -> Result<()> {
    if let Some(c) = config
        && secs > c.limits.MAX_EXPIRE_SECONDS
    {
        let max = c.limits.MAX_EXPIRE_SECONDS;
        return Err(Error::usage(format!(
            "an expiry of {} is longer than this server allows: choose 1 second to {} ({max} seconds)",
            format_duration(secs),
            format_duration(max),
        )));
    }
    Ok(())
}

/// `ttl` in milliseconds as whole seconds, rounded up.
pub(crate) fn ttl_secs(ttl_ms: u64) -> u64 {
    ttl_ms.div_ceil(1000)
}
