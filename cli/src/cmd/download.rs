//! `sealdrop download`: nonce, signed metadata, plan the output, signed download streamed
//! through the decryptor on a blocking thread, rename into place.

use sealdrop_protocol::{Metadata, ece, keys};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Ctx, resolve};
use crate::args::DownloadArgs;
use crate::client::IDLE_TIMEOUT;
use crate::desktop;
use crate::error::{Error, Result};
use crate::output::{Mode, format_size, printable};
use crate::password;
use crate::sink::{Msg, Plan};

/// Ciphertext chunks in flight between the network and the decrypting thread.
const CHUNKS_IN_FLIGHT: usize = 16;

pub(super) async fn run(ctx: &Ctx, args: DownloadArgs) -> Result<()> {
    let history = ctx.history().ok().flatten();
    let target = resolve(&args.link, history.as_ref())?;
    if !target.has_secret {
        return Err(Error::usage(
            "the link has no #secret part, without which the file cannot be decrypted",
        ));
    }
    let to_stdout = args.output.as_ref().is_some_and(|o| o.as_os_str() == "-");
    if to_stdout && ctx.out.mode == Mode::Json {
        return Err(Error::usage(
            "--json cannot be combined with -o -: standard output carries the file",
        ));
    }
    let link = target.link;
    let client = &ctx.client;
    let exists = client.exists(&link).await?;
    let key = if exists.requires_password {
        let password = password::require(&args.password, "this share needs a password", false)?;
        keys::password_auth_key(&password, &link.password_salt())
    } else {
        link.secret().auth_key()
    };
    let nonce = client.nonce(&link, exists.nonce).await?;
    let (answer, nonce) = client
        .metadata(&link, &key, &nonce, exists.requires_password)
        .await?;
    let metadata = Metadata::decrypt(&link.secret().metadata_key(), &answer.metadata).map_err(|_| {
        Error::integrity(
            "the share's metadata does not decrypt: the link's #secret is wrong or the data was tampered with",
        )
    })?;
    let plan = Plan::new(&metadata, args.output.as_deref(), args.force)?;
    let writer = plan.open(link.secret(), metadata.size)?;

    let mut response = client.download(&link, &key, &nonce).await?;
    let expected = response
        .content_length()
        .or_else(|| ece::encrypted_size(metadata.size))
        .unwrap_or(0);
    let progress = ctx.out.progress(expected, "Downloading");
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let task = tokio::task::spawn_blocking(move || writer.run(rx));
    let origin = link.base().to_owned();
    let received: Result<()> = async {
        loop {
            let chunk = tokio::time::timeout(IDLE_TIMEOUT, response.chunk())
                .await
                .map_err(|_| Error::network(format!("{origin} stopped sending the download")))?
                .map_err(|e| {
                    Error::network(format!(
                        "the download from {origin} was interrupted: {}",
                        crate::client::cause(&e)
                    ))
                })?;
            match chunk {
                Some(bytes) => {
                    progress.inc(bytes.len() as u64);
                    if tx.send(Msg::Data(bytes)).await.is_err() {
                        // The writer stopped; its error says why.
                        return Ok(());
                    }
                }
                None => {
                    let _ = tx.send(Msg::End).await;
                    return Ok(());
                }
            }
        }
    }
    .await;
    drop(tx);
    progress.finish_and_clear();
    let written = task
        .await
        .map_err(|_| Error::local("the download's writer stopped unexpectedly"))?;
    received?;
    let written = written?;
    let to_open = if args.open {
        let paths: Vec<_> = written.iter().map(|(path, _)| path.clone()).collect();
        if to_stdout {
            ctx.out
                .note("nothing was opened: the download went to standard output");
            None
        } else {
            desktop::what_to_open(&paths)
        }
    } else {
        None
    };

    match ctx.out.mode {
        Mode::Quiet => {}
        Mode::Json => {
            let files: Vec<_> = written
                .iter()
                .map(|(path, size)| json!({ "path": path.display().to_string(), "size": size }))
                .collect();
            ctx.out.json(&json!({
                "id": link.id(),
                "name": metadata.name,
                "size": metadata.size,
                "files": files,
            }))?;
        }
        Mode::Human => {
            if written.iter().any(|(p, _)| p.as_os_str() == "-") {
                return Ok(());
            }
            let mut text = String::new();
            for (path, size) in &written {
                text.push_str(&format!(
                    "saved {} ({})\n",
                    printable(&path.display().to_string()),
                    format_size(*size)
                ));
            }
            ctx.out.stdout(&text)?;
        }
    }
    if let Some(target) = to_open {
        if let [(file, _)] = written.as_slice()
            && *file != target
        {
            ctx.out.note(&format!(
                "{} was not opened, since opening a file of its type may run it: its folder is opened instead",
                printable(&file.display().to_string())
            ));
        }
        let what = printable(&target.display().to_string());
        if let Err(note) = desktop::open(target.as_os_str(), &what) {
            ctx.out.note(&note);
        }
    }
    Ok(())
}
